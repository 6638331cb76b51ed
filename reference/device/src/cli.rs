//! `mailpush device …`: run the daemon, or ask a running one for its status.

use std::path::PathBuf;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::config::{ConfigError, DeviceConfig};
use crate::daemon::DaemonError;

/// `mailpush device`.
#[derive(Debug, clap::Args)]
pub struct DeviceArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DeviceCommand,
}

/// The device subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DeviceCommand {
    /// Run the device daemon (mail client, data-access daemon, local API) until Ctrl-C.
    Run {
        /// The configuration file (see the device crate's README).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print the status of a running daemon (the local API's `status` request) as JSON.
    Status {
        /// The configuration file of the daemon.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

/// Why a device subcommand failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceCliError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The daemon failed.
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    /// The daemon's socket could not be used.
    #[error("cannot talk to the daemon at {path}: {source}")]
    Socket {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Waiting for Ctrl-C failed.
    #[error("cannot wait for Ctrl-C: {0}")]
    Signal(std::io::Error),
}

/// Runs a device subcommand.
pub async fn run_cli(args: DeviceArgs) -> Result<(), DeviceCliError> {
    match args.command {
        DeviceCommand::Run { config } => {
            let config = DeviceConfig::load(&config)?;
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let signal = tokio::spawn(async move {
                let result = tokio::signal::ctrl_c().await;
                let _ = stop_tx.send(());
                result
            });
            crate::daemon::run(config, async move {
                let _ = stop_rx.await;
            })
            .await?;
            signal.abort();
            Ok(())
        }
        DeviceCommand::Status { config } => {
            let config = DeviceConfig::load(&config)?;
            let path = config.socket_path();
            let socket = |source| DeviceCliError::Socket {
                path: path.clone(),
                source,
            };
            let mut stream = UnixStream::connect(&path).await.map_err(socket)?;
            stream
                .write_all(b"{\"v\":1,\"id\":1,\"op\":\"status\"}\n")
                .await
                .map_err(socket)?;
            let mut line = String::new();
            BufReader::new(stream)
                .read_line(&mut line)
                .await
                .map_err(socket)?;
            print!("{line}");
            Ok(())
        }
    }
}
