//! From a mailbox view to the notes it holds: every message recognised or left alone
//! (NOTE-4), versions grouped by identity (NOTE-5), one version shown per note (NOTE-7,
//! NOTE-11), messages that cannot be read set apart without stopping the rest (NOTE-10).

use std::collections::BTreeMap;

use mailpush_message::DateTime;

use crate::access::{Content, MailboxView, Uid, UidValidity};
use crate::error::ReadError;
use crate::id::NoteId;
use crate::note::Limits;
use crate::read::{ReadNote, Recognition, read_note, recognise};

/// The notes of a mailbox view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The UIDVALIDITY every UID here belongs to.
    pub uidvalidity: Option<UidValidity>,
    /// The notes, latest `Date` first.
    pub notes: Vec<ListedNote>,
    /// Note messages that cannot be shown, and the notes whose latest version is one of them.
    pub unreadable: Vec<Unreadable>,
}

/// A note as shown: its latest version, and the UIDs of every version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedNote {
    /// The version shown (NOTE-7).
    pub read: ReadNote,
    /// Its UID.
    pub uid: Uid,
    /// The UIDs of the other versions, which lost to it: a writer expunges them (NOTE-7).
    pub losers: Vec<Uid>,
}

impl ListedNote {
    /// The note's identity.
    pub fn id(&self) -> NoteId {
        self.read.note.id()
    }
}

/// A note message that is not shown, or a note whose latest version is such a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The message (the latest version, for a note with several).
    pub uid: Uid,
    /// The identity, when its header has one.
    pub id: Option<NoteId>,
    /// Why it is not shown.
    pub reason: ReadError,
    /// The UIDs of every version with this identity, this one included (only `uid` when the
    /// identity is unknown).
    pub versions: Vec<Uid>,
}

/// How versions of one note are ordered: by `Date` as an instant, a version without a
/// readable `Date` before every version with one, then by UID (NOTE-7, NOTE-11).
//= spec/notes.md#NOTE-11
//# Versions MUST be ordered by the instant their `Date` field names (not by its text), a version whose
//# `Date` is missing or cannot be read ordering before every version whose `Date` can be read
pub fn version_order(date: Option<&DateTime>, uid: Uid) -> (Option<i64>, Uid) {
    (date.map(DateTime::unix_seconds), uid)
}

/// One version of a note as the view holds it.
struct Version {
    uid: Uid,
    date: Option<DateTime>,
    body: Result<ReadNote, ReadError>,
}

/// The notes of `view`. Messages that are not notes are not looked at further (NOTE-4).
pub fn list(view: &MailboxView, limits: &Limits) -> Listing {
    let mut by_id: BTreeMap<NoteId, Vec<Version>> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for message in &view.messages {
        let (header, body): (&[u8], Option<&[u8]>) = match &message.content {
            Content::Full(raw) => (raw, Some(raw)),
            Content::HeaderOnly { header, .. } => (header, None),
        };
        let note_header = match recognise(header) {
            Recognition::NotANote => continue,
            Recognition::Unidentified(reason) => {
                unreadable.push(Unreadable {
                    uid: message.uid,
                    id: None,
                    reason,
                    versions: vec![message.uid],
                });
                continue;
            }
            Recognition::Note(h) => h,
        };
        let body = match (body, &message.content) {
            (Some(raw), _) => read_note(raw, limits),
            (None, Content::HeaderOnly { size, .. }) => Err(ReadError::TooLarge {
                size: *size,
                limit: limits.max_message_octets(),
            }),
            (None, Content::Full(_)) => Err(ReadError::NoTextBody),
        };
        by_id.entry(note_header.id).or_default().push(Version {
            uid: message.uid,
            date: note_header.date,
            body,
        });
    }
    let mut notes = Vec::new();
    for (id, mut versions) in by_id {
        //= spec/notes.md#NOTE-7
        //# a reader MUST present one note: the version
        //# with the latest `Date`, and of those the one with the highest UID.
        versions.sort_by_key(|v| version_order(v.date.as_ref(), v.uid));
        let uids: Vec<Uid> = versions.iter().map(|v| v.uid).collect();
        let Some(latest) = versions.pop() else {
            continue;
        };
        match latest.body {
            Ok(read) => notes.push(ListedNote {
                read,
                uid: latest.uid,
                losers: versions.iter().map(|v| v.uid).collect(),
            }),
            //= spec/notes.md#NOTE-19
            //# When the latest version of a note cannot be read, a reader MUST NOT show an older version
            //# in its place
            Err(reason) => unreadable.push(Unreadable {
                uid: latest.uid,
                id: Some(id),
                reason,
                versions: uids,
            }),
        }
    }
    notes.sort_by_key(|n| std::cmp::Reverse(version_order(n.read.header.date.as_ref(), n.uid)));
    unreadable.sort_by_key(|u| u.uid);
    Listing {
        uidvalidity: view.uidvalidity,
        notes,
        unreadable,
    }
}

impl Listing {
    /// The note with identity `id`.
    pub fn note(&self, id: NoteId) -> Option<&ListedNote> {
        self.notes.iter().find(|n| n.id() == id)
    }

    /// Every UID that carries identity `id`, read or not.
    pub fn versions_of(&self, id: NoteId) -> Vec<Uid> {
        if let Some(n) = self.note(id) {
            let mut all = n.losers.clone();
            all.push(n.uid);
            return all;
        }
        self.unreadable
            .iter()
            .find(|u| u.id == Some(id))
            .map(|u| u.versions.clone())
            .unwrap_or_default()
    }
}
