//! Value types of the store as the session sees it: flags, UID sets, internal dates,
//! identifiers, mailbox and message summaries, the change feed, and push registrations.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::RangeInclusive;

use super::StoreError;

/// A message UID (RFC 3501 §2.3.1.1). Never 0.
pub type Uid = u32;

/// A mod-sequence (RFC 7162 §3.1.1). Never 0 for a stored message.
pub type ModSeq = u64;

/// The hierarchy delimiter of every mailbox name in this store.
pub const HIERARCHY_DELIMITER: char = '/';

/// The name of the primary mailbox; matched case-insensitively (RFC 3501 §5.1).
pub const INBOX: &str = "INBOX";

/// Identifies a user of the store. Only valid for the store that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(i64);

impl UserId {
    /// The id a backend gives the user it keys `raw` (for backends: sessions only compare ids).
    pub const fn from_raw(raw: i64) -> Self {
        UserId(raw)
    }

    /// The backend's key.
    pub const fn raw(self) -> i64 {
        self.0
    }
}

/// Identifies a mailbox for as long as it exists. A renamed mailbox keeps its id; a deleted and
/// re-created name gets a new one (and a new UIDVALIDITY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxId(i64);

impl MailboxId {
    /// The id a backend gives the mailbox it keys `raw` (for backends).
    pub const fn from_raw(raw: i64) -> Self {
        MailboxId(raw)
    }

    /// The backend's key.
    pub const fn raw(self) -> i64 {
        self.0
    }
}

/// A keyword flag (RFC 3501 `flag-keyword`): an atom, compared case-insensitively but kept in
/// the spelling it was first stored with.
#[derive(Debug, Clone)]
pub struct Keyword(String);

impl Keyword {
    /// Longest keyword accepted, in octets.
    pub const MAX_LEN: usize = 128;

    /// Validates `text` as an IMAP atom of at most [`Keyword::MAX_LEN`] octets.
    pub fn new(text: &str) -> Result<Self, StoreError> {
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(StoreError::InvalidFlag(text.to_owned()));
        }
        let atom = text.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        });
        if !atom {
            return Err(StoreError::InvalidFlag(text.to_owned()));
        }
        Ok(Self(text.to_owned()))
    }

    /// The keyword as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Keyword {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for Keyword {}

impl Ord for Keyword {
    fn cmp(&self, other: &Self) -> Ordering {
        let lower = |s: &str| {
            s.bytes()
                .map(|b| b.to_ascii_lowercase())
                .collect::<Vec<_>>()
        };
        lower(&self.0).cmp(&lower(&other.0))
    }
}

impl PartialOrd for Keyword {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Keyword {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

/// A flag that can be stored on a message. `\Recent` is not one: it belongs to sessions, and
/// clients may not set it (RFC 3501 §2.3.2).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    /// `\Seen`
    Seen,
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Draft`
    Draft,
    /// A keyword such as `$Forwarded`.
    Keyword(Keyword),
}

impl Flag {
    /// Parses a flag as IMAP spells it (`\Seen`, case-insensitive, or a keyword atom).
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let system = [
            ("\\Seen", Flag::Seen),
            ("\\Answered", Flag::Answered),
            ("\\Flagged", Flag::Flagged),
            ("\\Deleted", Flag::Deleted),
            ("\\Draft", Flag::Draft),
        ];
        for (name, flag) in system {
            if text.eq_ignore_ascii_case(name) {
                return Ok(flag);
            }
        }
        if text.starts_with('\\') {
            // \Recent and unknown system flags cannot be stored.
            return Err(StoreError::InvalidFlag(text.to_owned()));
        }
        Keyword::new(text).map(Flag::Keyword)
    }

    /// The flag as IMAP spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Flag::Seen => "\\Seen",
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Draft => "\\Draft",
            Flag::Keyword(k) => k.as_str(),
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of flags of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Flags(BTreeSet<Flag>);

impl Flags {
    /// Most flags a message may carry.
    pub const MAX: usize = 64;

    /// No flags.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a list of flags as IMAP spells them.
    pub fn parse<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Self, StoreError> {
        texts.into_iter().map(Flag::parse).collect()
    }

    /// Whether `flag` is set.
    pub fn contains(&self, flag: &Flag) -> bool {
        self.0.contains(flag)
    }

    /// Sets `flag`; returns whether it was new.
    pub fn insert(&mut self, flag: Flag) -> bool {
        self.0.insert(flag)
    }

    /// Clears `flag`; returns whether it was set.
    pub fn remove(&mut self, flag: &Flag) -> bool {
        self.0.remove(flag)
    }

    /// The flags in a stable order (system flags first, then keywords case-insensitively).
    pub fn iter(&self) -> impl Iterator<Item = &Flag> {
        self.0.iter()
    }

    /// Number of flags.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no flag is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The flags after `op`.
    pub fn apply(&self, op: FlagOp, flags: &Flags) -> Flags {
        match op {
            FlagOp::Replace => flags.clone(),
            FlagOp::Add => {
                let mut out = self.clone();
                for flag in flags.iter() {
                    out.insert(flag.clone());
                }
                out
            }
            FlagOp::Remove => {
                let mut out = self.clone();
                for flag in flags.iter() {
                    out.remove(flag);
                }
                out
            }
        }
    }

    /// The flags separated by single spaces, as inside an IMAP flag list; [`Flags::parse`] of
    /// its words gives them back.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for flag in self.iter() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(flag.as_str());
        }
        out
    }
}

impl FromIterator<Flag> for Flags {
    fn from_iter<I: IntoIterator<Item = Flag>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        f.write_str(&self.to_text())?;
        f.write_str(")")
    }
}

/// How `STORE` changes flags (RFC 3501 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
    /// `FLAGS`
    Replace,
}

/// A set of UIDs as sorted, disjoint, non-adjacent inclusive ranges, as IMAP sequence sets
/// name them (`1:4,7,9:*` once `*` is resolved by the session).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UidSet(Vec<RangeInclusive<Uid>>);

impl UidSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every UID from `start` to `end` (either order, like `5:3`). UID 0 is left out.
    pub fn range(start: Uid, end: Uid) -> Self {
        let mut set = Self::new();
        set.insert_range(start, end);
        set
    }

    /// Every UID: `1:*`.
    pub fn all() -> Self {
        Self::range(1, Uid::MAX)
    }

    /// Adds every UID from `start` to `end` (either order). UID 0 is left out.
    pub fn insert_range(&mut self, start: Uid, end: Uid) {
        let (lo, hi) = if start <= end {
            (start, end)
        } else {
            (end, start)
        };
        let lo = lo.max(1);
        if hi < lo {
            return;
        }
        self.0.push(lo..=hi);
        self.0.sort_by_key(|r| *r.start());
        let mut merged: Vec<RangeInclusive<Uid>> = Vec::with_capacity(self.0.len());
        for r in self.0.drain(..) {
            match merged.last_mut() {
                Some(last) if u64::from(*r.start()) <= u64::from(*last.end()) + 1 => {
                    let end = (*last.end()).max(*r.end());
                    *last = *last.start()..=end;
                }
                _ => merged.push(r),
            }
        }
        self.0 = merged;
    }

    /// Adds one UID.
    pub fn insert(&mut self, uid: Uid) {
        self.insert_range(uid, uid);
    }

    /// Whether `uid` is in the set.
    pub fn contains(&self, uid: Uid) -> bool {
        self.0.iter().any(|r| r.contains(&uid))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ranges, ascending.
    pub fn ranges(&self) -> &[RangeInclusive<Uid>] {
        &self.0
    }

    /// The lowest and the highest UID, unless the set is empty.
    pub fn bounds(&self) -> Option<(Uid, Uid)> {
        Some((*self.0.first()?.start(), *self.0.last()?.end()))
    }
}

impl FromIterator<Uid> for UidSet {
    fn from_iter<I: IntoIterator<Item = Uid>>(iter: I) -> Self {
        let mut set = Self::new();
        for uid in iter {
            set.insert(uid);
        }
        set
    }
}

/// The internal date of a message (RFC 3501 §2.3.3): an instant with the zone it was given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InternalDate {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix_seconds: i64,
    /// Offset of the zone it was given in, in minutes east of UTC (`+0200` is 120).
    pub utc_offset_minutes: i16,
}

impl InternalDate {
    /// A date in UTC.
    pub fn utc(unix_seconds: i64) -> Self {
        Self {
            unix_seconds,
            utc_offset_minutes: 0,
        }
    }
}

/// Summary of a mailbox: what `SELECT`, `STATUS` and `LIST` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// Stable while the mailbox exists.
    pub id: MailboxId,
    /// Its owner.
    pub user: UserId,
    /// Its name (`INBOX` always spelled so).
    pub name: String,
    /// UIDVALIDITY: different for every mailbox ever created in this store.
    pub uid_validity: u32,
    /// The UID the next message will get.
    pub uid_next: Uid,
    /// HIGHESTMODSEQ (RFC 7162): raised by every change, expunges included. At least 1.
    pub highest_modseq: ModSeq,
    /// Number of messages.
    pub messages: u32,
    /// Number of messages without `\Seen`.
    pub unseen: u32,
    /// Whether the user subscribed to the name.
    pub subscribed: bool,
}

/// A message's metadata, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// Its UID.
    pub uid: Uid,
    /// Its flags.
    pub flags: Flags,
    /// MODSEQ of its last change (RFC 7162).
    pub modseq: ModSeq,
    /// Its internal date.
    pub internal_date: InternalDate,
    /// RFC822.SIZE: octets of the message.
    pub size: u64,
}

/// A message with its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its metadata.
    pub meta: MessageMeta,
    /// The message exactly as appended.
    pub raw: Vec<u8>,
}

/// What a mutating call changed, for IDLE sessions and the push notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Owner of the mailbox.
    pub user: UserId,
    /// The mailbox.
    pub mailbox: MailboxId,
    /// Its name after the change.
    pub mailbox_name: String,
    /// What happened.
    pub kind: ChangeKind,
    /// The mailbox's HIGHESTMODSEQ after the change.
    pub highest_modseq: ModSeq,
}

/// Kinds of [`Change`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeKind {
    /// The mailbox was created.
    Created,
    /// The mailbox was deleted with its messages.
    Deleted,
    /// The mailbox was renamed from `from` (or, for `INBOX`, its messages moved to a new name).
    Renamed {
        /// The old name.
        from: String,
    },
    /// New messages (APPEND, COPY, MOVE into it), ascending UIDs.
    Appended {
        /// Their UIDs.
        uids: Vec<Uid>,
    },
    /// Flags changed on these messages, ascending UIDs.
    FlagsChanged {
        /// Their UIDs.
        uids: Vec<Uid>,
    },
    /// These messages were expunged, ascending UIDs.
    Expunged {
        /// Their UIDs.
        uids: Vec<Uid>,
    },
}

impl ChangeKind {
    /// Whether a push registration for the mailbox must be told: a new message, a flag change, an
    /// expunge, or the mailbox deleted, renamed or created (a registration that still holds the
    /// name of a mailbox created again under it is told, XAPS-18; one that does not hold it is
    /// not, since only registered names push).
    //= spec/provider-api.md#PROV-18
    //# the mail server
    //# MUST request a push when a registered mailbox of that registration changes by: a new message (a
    //# delivery, `APPEND`, `COPY` or `MOVE` into it), a flag change (`STORE`, including `\Deleted` and
    //# `\Seen`), or an expunge
    pub fn pushes(&self) -> bool {
        matches!(
            self,
            ChangeKind::Appended { .. }
                | ChangeKind::FlagsChanged { .. }
                | ChangeKind::Expunged { .. }
                | ChangeKind::Created
                | ChangeKind::Deleted
                | ChangeKind::Renamed { .. }
        )
    }

    /// The names under which a registration must be told of this change of the mailbox now
    /// called `name`: a renamed mailbox under its old name and its new one, any other under
    /// `name`; none for a change that does not push.
    //= spec/provider-api.md#PROV-18
    //# It MUST also request a
    //# push, naming the mailbox under the name the registration holds, when a registered mailbox is deleted,
    //# renamed (the push names its old name) or created again under that name
    pub fn pushed_names<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        match self {
            ChangeKind::Renamed { from } => vec![from.as_str(), name],
            kind if kind.pushes() => vec![name],
            _ => Vec::new(),
        }
    }
}

/// The result of a mutating call: its value and what it changed, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied<T> {
    /// What the call returns.
    pub value: T,
    /// The changes it made, for IDLE sessions and the notifier.
    pub changes: Vec<Change>,
}

/// Result of `APPEND` (the `APPENDUID` response code of RFC 4315).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// UIDVALIDITY of the mailbox.
    pub uid_validity: u32,
    /// UID of the new message.
    pub uid: Uid,
    /// Its MODSEQ.
    pub modseq: ModSeq,
}

/// Result of `COPY` or `MOVE` (the `COPYUID` response code of RFC 4315).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// UIDVALIDITY of the destination.
    pub uid_validity: u32,
    /// (source UID, destination UID) for each message copied, ascending source UIDs.
    pub mapping: Vec<(Uid, Uid)>,
}

/// Result of `STORE` (RFC 3501, with the `UNCHANGEDSINCE` modifier of RFC 7162).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stored {
    /// Messages whose flags changed, with their new flags and MODSEQ, ascending UIDs.
    pub updated: Vec<MessageMeta>,
    /// Messages left alone because their MODSEQ was above `UNCHANGEDSINCE` (the `MODIFIED`
    /// response code), ascending.
    pub modified: Vec<Uid>,
}

/// What a client asked for in `XAPPLEPUSHSERVICE`, after the session applied the version rules
/// (XAPS-8, XAPS-9: under version 1, `mailboxes` is just `INBOX`): the registration to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRequest {
    /// `aps-account-id`.
    pub account_id: String,
    /// `aps-device-token`.
    pub device_token: String,
    /// `aps-subtopic`, when sent.
    pub subtopic: Option<String>,
    /// The negotiated version.
    pub version: u32,
    /// The requested mailboxes, spelled as the client sent them, in request order.
    pub mailboxes: Vec<String>,
}
