//! `mailpush`: the reference system's command line.
#![forbid(unsafe_code)]

mod spec;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Spec(args)) => spec::run(args),
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
            ExitCode::FAILURE
        }
    }
}
