//! The notes application: what `mailpush notes list|show|add|edit|rm|watch` does, over the
//! data-access daemon's API ([`MailboxAccess`]). It keeps no state of its own between calls:
//! every answer comes from the DA's view, every change is a request to the DA.
//!
//! Time comes in as `now` and randomness from the `rng` the application is made with, so the
//! logic is deterministic under test.

use mailpush_message::DateTime;
use rand::RngCore;

use crate::access::{MailboxAccess, SEEN, Uid};
use crate::error::{AppError, ConfigError};
use crate::id::NoteId;
use crate::listing::{ListedNote, Listing, list};
use crate::note::{Limits, Note};
use crate::write::{Author, write_note};

/// The mailbox notes are kept in unless configured (NOTE-1).
pub const DEFAULT_MAILBOX: &str = "Notes";

/// How the notes application is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotesConfig {
    mailbox: String,
    author: Author,
    limits: Limits,
}

impl NotesConfig {
    /// Notes written by `author` in the mailbox `Notes`, with the default size limit.
    //= spec/notes.md#NOTE-1
    //# Notes MUST be stored in the mailbox named `Notes` unless the user configures another
    //# name.
    pub fn new(author: Author) -> Self {
        NotesConfig {
            mailbox: DEFAULT_MAILBOX.to_owned(),
            author,
            limits: Limits::default(),
        }
    }

    /// Notes kept in `mailbox` (1 to 1000 octets, no CR, LF or NUL) instead.
    pub fn with_mailbox(mut self, mailbox: &str) -> Result<Self, ConfigError> {
        if mailbox.is_empty() || mailbox.len() > 1000 || mailbox.contains(['\r', '\n', '\0']) {
            return Err(ConfigError::MailboxName(mailbox.to_owned()));
        }
        self.mailbox = mailbox.to_owned();
        Ok(self)
    }

    /// Notes limited to `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The notes mailbox.
    pub fn mailbox(&self) -> &str {
        &self.mailbox
    }

    /// The size limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// What opening the application found.
#[derive(Debug)]
pub struct Opened<E> {
    /// The notes after the launch sync (or the DA's last view, when it failed).
    pub listing: Listing,
    /// Why the launch sync failed, when it did: the listing is then the last view the DA had.
    pub sync_error: Option<E>,
    /// How many superseded versions were expunged (NOTE-23).
    pub removed: usize,
    /// Why expunging superseded versions failed, when it did (they stay; nothing is lost).
    pub cleanup_error: Option<E>,
}

/// What a change stored.
#[derive(Debug)]
pub struct Written<E> {
    /// The note as written.
    pub note: Note,
    /// How many earlier versions were expunged.
    pub removed: usize,
    /// Why expunging the earlier versions failed, when it did: the new version is stored, the
    /// earlier ones stay as duplicates that lose to it (NOTE-6, NOTE-20).
    pub cleanup_error: Option<E>,
    /// Why the sync after the change failed, when it did: the view shows the change after the
    /// next sync.
    pub sync_error: Option<E>,
}

/// What a deletion did.
#[derive(Debug)]
pub struct Deleted<E> {
    /// How many messages were expunged.
    pub removed: usize,
    /// Why the sync after the deletion failed, when it did.
    pub sync_error: Option<E>,
}

/// A change between two listings, as `watch` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteChange {
    /// A note that was not there.
    Added(ListedNote),
    /// A note shown with another version or another text.
    Changed(ListedNote),
    /// A note no longer there.
    Removed(NoteId),
}

/// The notes application over a data-access daemon.
pub struct NotesApp<A, R> {
    access: A,
    config: NotesConfig,
    rng: R,
}

type AppResult<T, A> = Result<T, AppError<<A as MailboxAccess>::Error>>;

impl<A: MailboxAccess, R: RngCore> NotesApp<A, R> {
    /// The application with `config`, talking to the DA through `access`, drawing identities
    /// from `rng`.
    pub fn new(access: A, config: NotesConfig, rng: R) -> Self {
        NotesApp {
            access,
            config,
            rng,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NotesConfig {
        &self.config
    }

    /// The DA access, to hand it back.
    pub fn into_access(self) -> A {
        self.access
    }

    /// Launches the application: when the notes mailbox exists, has the DA monitor it and
    /// synchronize it, then lists it and expunges the versions that lost to a newer one. A
    /// failed sync does not stop the listing: the DA's last view is shown and the error said.
    //= spec/notes.md#NOTE-22
    //# When the notes application is launched it MUST ask the data-access daemon to synchronize the
    //# notes mailbox and MUST present the view that sync leaves
    pub fn open(&mut self) -> AppResult<Opened<A::Error>, A> {
        if !self.mailbox_exists()? {
            return Ok(Opened {
                listing: list(&Default::default(), &self.config.limits),
                sync_error: None,
                removed: 0,
                cleanup_error: None,
            });
        }
        let mailbox = self.config.mailbox.clone();
        self.access.monitor(&mailbox).map_err(AppError::Access)?;
        let sync_error = self.access.sync(&mailbox).err();
        let listing = self.list()?;
        let (mut removed, mut cleanup_error) = (0, None);
        //= spec/notes.md#NOTE-23
        //# only after a sync of the notes mailbox has succeeded
        if sync_error.is_none() {
            let losers: Vec<Uid> = listing
                .notes
                .iter()
                .flat_map(|n| n.losers.iter().copied())
                .collect();
            if let (Some(validity), false) = (listing.uidvalidity, losers.is_empty()) {
                match self.access.expunge(&mailbox, validity, &losers) {
                    Ok(()) => removed = losers.len(),
                    Err(e) => cleanup_error = Some(e),
                }
            }
        }
        Ok(Opened {
            listing,
            sync_error,
            removed,
            cleanup_error,
        })
    }

    /// The notes of the DA's current view (no sync, no change).
    pub fn list(&mut self) -> AppResult<Listing, A> {
        let view = self
            .access
            .view(&self.config.mailbox)
            .map_err(AppError::Access)?;
        Ok(list(&view, &self.config.limits))
    }

    /// The note `id` as the DA's view shows it.
    pub fn show(&mut self, id: NoteId) -> AppResult<ListedNote, A> {
        let listing = self.list()?;
        found(&listing, id).cloned()
    }

    /// Stores a new note with `text`, created at `now`, under a fresh random identity
    /// (NOTE-5), creating the notes mailbox first when there is none (NOTE-1).
    pub fn add(&mut self, text: &str, now: DateTime) -> AppResult<Written<A::Error>, A> {
        let note = Note::from_text(NoteId::random(&mut self.rng), text, now, now)?;
        let raw = write_note(
            &note,
            &self.config.author,
            NoteId::random(&mut self.rng),
            &[],
            &self.config.limits,
        )?;
        let mailbox = self.config.mailbox.clone();
        //= spec/notes.md#NOTE-1
        //# An application that finds no such mailbox MUST create it before it stores its first note.
        if !self.mailbox_exists()? {
            self.access
                .create_mailbox(&mailbox)
                .map_err(AppError::Access)?;
        }
        self.access.monitor(&mailbox).map_err(AppError::Access)?;
        self.append(&raw)?;
        let sync_error = self.access.sync(&mailbox).err();
        Ok(Written {
            note,
            removed: 0,
            cleanup_error: None,
            sync_error,
        })
    }

    /// Stores `text` as the new version of note `id`, written at `now` (or just after the
    /// version it replaces, when the clock is behind it), then expunges every earlier version
    /// (NOTE-6).
    pub fn edit(
        &mut self,
        id: NoteId,
        text: &str,
        now: DateTime,
    ) -> AppResult<Written<A::Error>, A> {
        let listing = self.list()?;
        let current = found(&listing, id)?;
        //= spec/notes.md#NOTE-18
        //# A writer that cannot carry every attachment of the version it
        //# replaces into the new version, with its `Content-Id`, and keep the `<object>` elements that show
        //# them, MUST NOT store a new version of such a note
        if current.read.attachments > 0 {
            return Err(AppError::HasAttachments(id));
        }
        let modified = later_than(now, current.read.header.date);
        //= spec/notes.md#NOTE-24
        //# A writer that stores a
        //# new version MUST write the creation time the reader took from the version it replaces.
        let note = current.read.note.edited(text, modified)?;
        let raw = write_note(
            &note,
            &self.config.author,
            NoteId::random(&mut self.rng),
            //= spec/notes.md#NOTE-16
            //# A writer that stores a new version of a note MUST write again every extension field
            &current.read.header.preserved,
            &self.config.limits,
        )?;
        //= spec/notes.md#NOTE-6
        //# To store a new version of a note, a writer MUST first `APPEND` the new version, with
        //# the same UUID and `X-Mail-Created-Date` and a new `Date`, and only after the `APPEND` succeeds
        //# expunge the previous version
        self.append(&raw)?;
        let earlier = listing.versions_of(id);
        let (removed, cleanup_error) = self.expunge(&listing, &earlier);
        let sync_error = self.access.sync(&self.config.mailbox).err();
        Ok(Written {
            note,
            removed,
            cleanup_error,
            sync_error,
        })
    }

    /// Deletes note `id`: expunges every message that carries its identity (NOTE-8), readable
    /// or not.
    pub fn delete(&mut self, id: NoteId) -> AppResult<Deleted<A::Error>, A> {
        let listing = self.list()?;
        //= spec/notes.md#NOTE-8
        //# To delete a note a writer MUST expunge every message that carries its UUID.
        let versions = listing.versions_of(id);
        let Some(validity) = listing.uidvalidity.filter(|_| !versions.is_empty()) else {
            return Err(AppError::NotFound(id));
        };
        self.access
            .expunge(&self.config.mailbox, validity, &versions)
            .map_err(AppError::Access)?;
        let sync_error = self.access.sync(&self.config.mailbox).err();
        Ok(Deleted {
            removed: versions.len(),
            sync_error,
        })
    }

    /// The changes of the notes as the DA announces new views: subscribes, lists, then yields
    /// the differences each announcement brings (announcements that change no note are
    /// skipped).
    pub fn watch(&mut self) -> AppResult<Watch<'_, A, R>, A> {
        let changes = self
            .access
            .subscribe(&self.config.mailbox)
            .map_err(AppError::Access)?;
        let last = self.list()?;
        Ok(Watch {
            app: self,
            changes,
            last,
        })
    }

    fn mailbox_exists(&mut self) -> AppResult<bool, A> {
        let mailbox = &self.config.mailbox;
        let inbox = mailbox.eq_ignore_ascii_case("INBOX");
        Ok(self
            .access
            .mailboxes()
            .map_err(AppError::Access)?
            .iter()
            .any(|m| m == mailbox || (inbox && m.eq_ignore_ascii_case("INBOX"))))
    }

    //= spec/notes.md#NOTE-9
    //# A writer SHOULD append notes with the `\Seen` flag
    fn append(&mut self, raw: &[u8]) -> AppResult<Option<Uid>, A> {
        self.access
            .append(&self.config.mailbox, &[SEEN], raw)
            .map_err(AppError::Access)
    }

    /// Expunges `uids` of the listing's UIDVALIDITY; a failure is reported, not raised, since
    /// what it leaves are duplicates that lose.
    fn expunge(&mut self, listing: &Listing, uids: &[Uid]) -> (usize, Option<A::Error>) {
        match listing.uidvalidity {
            Some(validity) if !uids.is_empty() => {
                match self.access.expunge(&self.config.mailbox, validity, uids) {
                    Ok(()) => (uids.len(), None),
                    Err(e) => (0, Some(e)),
                }
            }
            _ => (0, None),
        }
    }
}

/// The note `id` of a listing, or why it cannot be had.
fn found<E: std::error::Error>(listing: &Listing, id: NoteId) -> Result<&ListedNote, AppError<E>> {
    if let Some(note) = listing.note(id) {
        return Ok(note);
    }
    match listing.unreadable.iter().find(|u| u.id == Some(id)) {
        Some(u) => Err(AppError::Unreadable {
            id,
            reason: u.reason.clone(),
        }),
        None => Err(AppError::NotFound(id)),
    }
}

/// `now`, or one second after `latest` when `now` is not after it.
//= spec/notes.md#NOTE-20
//# The `Date` of a new version MUST be later than the `Date` of every version it replaces
fn later_than(now: DateTime, latest: Option<DateTime>) -> DateTime {
    match latest {
        Some(l) if now.unix_seconds() <= l.unix_seconds() => {
            DateTime::from_unix_seconds(l.unix_seconds() + 1, now.offset_minutes()).unwrap_or(now)
        }
        _ => now,
    }
}

/// What changed from `before` to `after`.
pub fn diff(before: &Listing, after: &Listing) -> Vec<NoteChange> {
    let mut changes = Vec::new();
    for note in &after.notes {
        match before.note(note.id()) {
            None => changes.push(NoteChange::Added(note.clone())),
            Some(old) if old.uid != note.uid || old.read.note != note.read.note => {
                changes.push(NoteChange::Changed(note.clone()));
            }
            Some(_) => {}
        }
    }
    for note in &before.notes {
        if after.note(note.id()).is_none() {
            changes.push(NoteChange::Removed(note.id()));
        }
    }
    changes
}

/// The changes of the notes, one batch per announcement that changed any ([`NotesApp::watch`]).
pub struct Watch<'a, A: MailboxAccess, R> {
    app: &'a mut NotesApp<A, R>,
    changes: A::Changes,
    last: Listing,
}

impl<A: MailboxAccess, R: RngCore> Iterator for Watch<'_, A, R> {
    type Item = AppResult<Vec<NoteChange>, A>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.changes.next()? {
                Err(e) => return Some(Err(AppError::Access(e))),
                Ok(change) if change.mailbox != self.app.config.mailbox => continue,
                Ok(_) => {}
            }
            let listing = match self.app.list() {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            let changes = diff(&self.last, &listing);
            self.last = listing;
            if !changes.is_empty() {
                return Some(Ok(changes));
            }
        }
    }
}
