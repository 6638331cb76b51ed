//! Runs the load tool with the flags of `mailpush bench push`, for manual runs.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: mailpush_bench::BenchPushArgs,
}

#[tokio::main]
async fn main() -> Result<(), mailpush_bench::BenchError> {
    mailpush_bench::push::run_bench(Cli::parse().args).await
}
