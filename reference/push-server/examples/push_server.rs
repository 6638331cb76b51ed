//! Runs the push server with the flags of `mailpush push-server`, for manual runs.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: mailpush_push_server::PushServerArgs,
}

#[tokio::main]
async fn main() -> Result<(), mailpush_push_server::PushServerError> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    mailpush_push_server::run_cli(Cli::parse().args).await
}
