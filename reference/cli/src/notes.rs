//! `mailpush notes list|show|add|edit|rm|watch`: the notes application over a running device
//! daemon's local API. Every command first asks the daemon to synchronize the notes mailbox
//! (the patent's automatic sync when the application starts).

mod client;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mailpush_message::DateTime;
use mailpush_notes::{AppError, Author, NoteChange, NoteId, NotesApp, NotesConfig};

pub use client::{ClientError, DaemonAccess};

/// `mailpush notes …`
#[derive(Debug, Args)]
pub struct NotesArgs {
    /// The device daemon's configuration (its socket is `data_dir/device.sock`).
    #[arg(long, global = true, conflicts_with = "socket")]
    config: Option<PathBuf>,
    /// The device daemon's socket.
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    /// The account (default: the daemon's first).
    #[arg(long, global = true)]
    account: Option<String>,
    /// The notes mailbox.
    #[arg(long, global = true, default_value = "Notes")]
    mailbox: String,
    /// The address written as the notes' author.
    #[arg(long, global = true, default_value = "notes@mailpush.invalid")]
    author: String,
    #[command(subcommand)]
    command: NotesCommand,
}

#[derive(Debug, Subcommand)]
enum NotesCommand {
    /// List the notes: identity, modification date, title.
    List,
    /// Print one note's text.
    Show {
        /// The note's identity (a UUID).
        id: String,
    },
    /// Add a note with this text.
    Add {
        /// The text.
        text: String,
    },
    /// Replace a note's text.
    Edit {
        /// The note's identity.
        id: String,
        /// The new text.
        text: String,
    },
    /// Delete a note.
    Rm {
        /// The note's identity.
        id: String,
    },
    /// Print changes to the notes as they arrive, until interrupted.
    Watch,
}

/// Why a notes command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotesCliError {
    /// Neither `--config` nor `--socket` was given.
    #[error("name the device daemon with --config device.toml or --socket PATH")]
    NoDaemon,
    /// The configuration could not be read.
    #[error(transparent)]
    Config(#[from] mailpush_device::ConfigError),
    /// The note identity is not a UUID.
    #[error(
        "{0:?} is not a note identity (a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e): {1}"
    )]
    BadId(String, mailpush_notes::NoteIdError),
    /// A configuration value of the application is refused.
    #[error(transparent)]
    App(#[from] mailpush_notes::ConfigError),
    /// The system clock is not a date a note can carry.
    #[error("the system clock is not a usable date")]
    Clock,
    /// The daemon could not be reached or refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The notes application failed.
    #[error(transparent)]
    Notes(#[from] AppError<ClientError>),
}

pub(crate) fn now() -> Result<DateTime, NotesCliError> {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok());
    seconds
        .and_then(|s| DateTime::from_unix_seconds(s, 0))
        .ok_or(NotesCliError::Clock)
}

fn parse_id(text: &str) -> Result<NoteId, NotesCliError> {
    NoteId::parse(text).map_err(|e| NotesCliError::BadId(text.to_owned(), e))
}

fn warn<E: std::fmt::Display>(what: &str, error: Option<E>) {
    if let Some(error) = error {
        eprintln!("warning: {what}: {error}");
    }
}

/// Runs a notes command against the daemon.
pub fn run(args: NotesArgs) -> Result<(), NotesCliError> {
    let socket = match (&args.socket, &args.config) {
        (Some(socket), _) => socket.clone(),
        (None, Some(config)) => mailpush_device::DeviceConfig::load(config)?.socket_path(),
        (None, None) => return Err(NotesCliError::NoDaemon),
    };
    let access = DaemonAccess::connect(&socket, args.account.as_deref())?;
    let config = NotesConfig::new(Author::new(None, &args.author)?).with_mailbox(&args.mailbox)?;
    let mut app = NotesApp::new(access, config, rand::rngs::OsRng);
    // Launching the application synchronizes the notes mailbox (and removes lost versions).
    let opened = app.open()?;
    warn("sync", opened.sync_error);
    warn("removing older versions", opened.cleanup_error);
    match args.command {
        NotesCommand::List => {
            for note in &opened.listing.notes {
                println!(
                    "{}  {}  {}",
                    note.id(),
                    note.read.note.modified(),
                    note.read.title()
                );
            }
            for unreadable in &opened.listing.unreadable {
                let id = unreadable.id.map(|i| i.to_string()).unwrap_or_default();
                println!("{id}  (unreadable: {})", unreadable.reason);
            }
        }
        NotesCommand::Show { id } => {
            let note = app.show(parse_id(&id)?)?;
            println!("{}", note.read.note.text());
        }
        NotesCommand::Add { text } => {
            let written = app.add(&text, now()?)?;
            warn("sync", written.sync_error);
            println!("{}", written.note.id());
        }
        NotesCommand::Edit { id, text } => {
            let written = app.edit(parse_id(&id)?, &text, now()?)?;
            warn("sync", written.sync_error);
            warn("removing older versions", written.cleanup_error);
            println!("{}", written.note.id());
        }
        NotesCommand::Rm { id } => {
            let deleted = app.delete(parse_id(&id)?)?;
            warn("sync", deleted.sync_error);
        }
        NotesCommand::Watch => {
            let watch = app.watch()?;
            // Said once subscribed: every change from here on is printed.
            println!("watching {}", args.mailbox);
            for changes in watch {
                for change in changes? {
                    match change {
                        NoteChange::Added(n) => println!("added {}  {}", n.id(), n.read.title()),
                        NoteChange::Changed(n) => {
                            println!("changed {}  {}", n.id(), n.read.title())
                        }
                        NoteChange::Removed(id) => println!("removed {id}"),
                    }
                }
            }
        }
    }
    Ok(())
}
