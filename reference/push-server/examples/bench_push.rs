//! Runs the load tool with the flags of `mailpush bench push`, for manual runs.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: mailpush_push_server::BenchPushArgs,
}

#[tokio::main]
async fn main() -> Result<(), mailpush_push_server::PushServerError> {
    mailpush_push_server::run_bench(Cli::parse().args).await
}
