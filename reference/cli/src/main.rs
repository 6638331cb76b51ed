//! `mailpush`: the reference system's command line.
#![forbid(unsafe_code)]

mod demo;
mod notes;
mod spec;
mod trace;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// mailpush: data synchronization through an IMAP mail server and a push notification server.
#[derive(Debug, Parser)]
#[command(name = "mailpush", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read the protocol specification and check a checkout's traceability.
    Spec(spec::SpecArgs),
    /// Run the push notification server (provider API and device channel) until Ctrl-C.
    PushServer(mailpush_push_server::PushServerArgs),
    /// Run the IMAP mail server (IMAP with STARTTLS, IMAPS, pushes) until Ctrl-C.
    MailServer(mailpush_mail_server::driver::MailServerArgs),
    /// Run the device daemon, or ask a running one for its status (`device run|status`).
    Device(mailpush_device::cli::DeviceArgs),
    /// Read and write notes through a running device daemon (`notes list|show|add|edit|rm|watch`).
    Notes(notes::NotesArgs),
    /// Add, change or delete a mail server user (`user add|passwd|del`).
    User(mailpush_mail_server::driver::UserArgs),
    /// Run the whole system on loopback and walk the patent's story, checking every step.
    Demo(demo::DemoArgs),
    /// Check, merge, draw and validate protocol traces (spec/trace.md).
    Trace(trace::TraceArgs),
    /// Kill, cut and stall the real servers and devices under a seeded schedule; check convergence.
    Chaos(mailpush_chaos::ChaosArgs),
    /// Measure a component under load.
    Bench {
        #[command(subcommand)]
        target: BenchTarget,
    },
}

#[derive(Debug, Subcommand)]
enum BenchTarget {
    /// Open K device connections on loopback and push at rate R through the provider API.
    Push(mailpush_bench::BenchPushArgs),
    /// Run K IMAP clients (APPEND, UID FETCH FLAGS, UID STORE, IDLE wake-ups) against a server.
    Imap(mailpush_bench::BenchImapArgs),
    /// Sync a mailbox of notes by QRESYNC, CONDSTORE and plain IMAP, next to mbsync.
    Sync(mailpush_bench::BenchSyncArgs),
    /// A note appended on one device until another has synced it: push vs IMAP IDLE (Dovecot).
    E2e(mailpush_bench::BenchE2eArgs),
}

/// Why a subcommand failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
enum CliError {
    /// `mailpush spec` failed.
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    /// `mailpush trace` failed.
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
    /// The push server failed.
    #[error(transparent)]
    Push(#[from] mailpush_push_server::PushServerError),
    /// The mail server or its user tool failed.
    #[error(transparent)]
    Mail(#[from] mailpush_mail_server::driver::MailServerError),
    /// The device daemon or its status request failed.
    #[error(transparent)]
    Device(#[from] mailpush_device::cli::DeviceCliError),
    /// A notes command failed.
    #[error(transparent)]
    Notes(#[from] notes::NotesCliError),
    /// `mailpush demo` failed.
    #[error(transparent)]
    Demo(#[from] demo::DemoError),
    /// A load tool failed.
    #[error(transparent)]
    Bench(#[from] mailpush_bench::BenchError),
    /// `mailpush chaos` found runs that did not converge.
    #[error(transparent)]
    Chaos(#[from] mailpush_chaos::ChaosError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs a server or tool on a multi-threaded runtime, with logs on stderr filtered by `RUST_LOG`
/// (default `info`).
fn run_async<F, E>(future: F) -> Result<(), CliError>
where
    F: std::future::Future<Output = Result<(), E>>,
    CliError: From<E>,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(future).map_err(CliError::from)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Spec(args)) => spec::run(args).map_err(CliError::from),
        Some(Command::Trace(args)) => trace::run(args).map_err(CliError::from),
        Some(Command::PushServer(args)) => run_async(mailpush_push_server::run_cli(args)),
        Some(Command::MailServer(args)) => run_async(mailpush_mail_server::driver::run_cli(args)),
        Some(Command::Device(args)) => run_async(mailpush_device::cli::run_cli(args)),
        Some(Command::Demo(args)) => demo::run(args).map_err(CliError::from),
        Some(Command::Notes(args)) => notes::run(args).map_err(CliError::from),
        Some(Command::Chaos(args)) => run_async(mailpush_chaos::run_cli(args)),
        Some(Command::User(args)) => {
            mailpush_mail_server::driver::run_user(args).map_err(CliError::from)
        }
        Some(Command::Bench {
            target: BenchTarget::Push(args),
        }) => run_async(mailpush_bench::push::run_bench(args)),
        Some(Command::Bench {
            target: BenchTarget::Imap(args),
        }) => run_async(mailpush_bench::imap::run_cli(args)),
        Some(Command::Bench {
            target: BenchTarget::Sync(args),
        }) => run_async(mailpush_bench::sync::run_cli(args)),
        Some(Command::Bench {
            target: BenchTarget::E2e(args),
        }) => run_async(mailpush_bench::e2e::run_bench(args)),
        None => {
            // With no subcommand, show what the system is made of and what can be run.
            print!("{}", spec::index());
            println!();
            let mut command = Cli::command();
            println!("{}", command.render_help());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mailpush: {error}");
            match &error {
                CliError::Trace(trace) => ExitCode::from(trace.exit_code()),
                _ => ExitCode::FAILURE,
            }
        }
    }
}
