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
        /// Append a protocol trace (JSON lines, spec/trace.md) of the device's notes, DA and
        /// mail client to this file; off by default.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// The device's name in the trace (1 to 64 of A-Z a-z 0-9 . _ - :); by default the
        /// name servers give it, `d-` and the start of its device token.
        #[arg(long, value_name = "LABEL", requires = "trace", value_parser = parse_label)]
        trace_label: Option<mailpush_trace::Label>,
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
    /// The trace file could not be opened.
    #[error("cannot open the trace {path}: {source}")]
    Trace {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Waiting for Ctrl-C failed.
    #[error("cannot wait for Ctrl-C: {0}")]
    Signal(std::io::Error),
}

fn parse_label(text: &str) -> Result<mailpush_trace::Label, String> {
    mailpush_trace::Label::new(text).map_err(|e| e.to_string())
}

/// Runs a device subcommand.
pub async fn run_cli(args: DeviceArgs) -> Result<(), DeviceCliError> {
    match args.command {
        DeviceCommand::Run {
            config,
            trace,
            trace_label,
        } => {
            let mut config = DeviceConfig::load(&config)?;
            if let Some(path) = &trace {
                config.trace = mailpush_trace::Tracer::append_to_file(
                    mailpush_trace::Component::Da,
                    None,
                    path,
                )
                .map_err(|source| DeviceCliError::Trace {
                    path: path.clone(),
                    source,
                })?;
                config.trace_label = trace_label;
            }
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
