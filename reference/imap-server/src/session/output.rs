//! What goes out: tagged replies, untagged data, events, and the conversions between the
//! store's values and IMAP's.

use std::num::NonZeroU32;

use mailpush_imap::{
    Atom, Code, Data, Encode, FetchItem, Flag as ImapFlag, Mailbox, OtherCode, RespText, Response,
    SeqNo, SeqRange, SequenceSet, Status, StatusKind, Tag, Text, UidRange, UidSet as ImapUidSet,
    Vec1,
};

use super::{Context, Event};
use crate::store::{Flag, Flags, StoreError, Uid, UidSet};

/// A tagged reply.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) kind: StatusKind,
    pub(super) code: Option<Code>,
    pub(super) text: String,
}

impl Reply {
    pub(super) fn ok(text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::Ok,
            code: None,
            text: text.into(),
        }
    }
    pub(super) fn no(text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::No,
            code: None,
            text: text.into(),
        }
    }
    pub(super) fn bad(text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::Bad,
            code: None,
            text: text.into(),
        }
    }
    pub(super) fn code(mut self, code: Option<Code>) -> Self {
        self.code = code;
        self
    }
}

/// A store failure as a tagged reply, with the RFC 5530 code that says what kind it is.
impl From<StoreError> for Reply {
    fn from(e: StoreError) -> Self {
        let msg = e.to_string();
        match e {
            StoreError::NoSuchMailbox(_) => Reply::no(msg).code(other_code("NONEXISTENT")),
            StoreError::MailboxExists(_) => Reply::no(msg).code(other_code("ALREADYEXISTS")),
            StoreError::MessageTooLarge { .. } => Reply::no(msg).code(other_code("TOOBIG")),
            StoreError::TooManyMailboxes { .. }
            | StoreError::RegistrationLimit { .. }
            | StoreError::UidsExhausted => Reply::no(msg).code(other_code("LIMIT")),
            StoreError::InvalidFlag(_) | StoreError::InvalidRegistration(_) => Reply::bad(msg),
            StoreError::InvalidMailboxName(_)
            | StoreError::CannotDeleteInbox
            | StoreError::RenameBelowItself => Reply::no(msg).code(other_code("CANNOT")),
            StoreError::Storage(_)
            | StoreError::CommitFailed(_)
            | StoreError::SchemaVersion { .. }
            | StoreError::Corrupt(_)
            | StoreError::PasswordHash(_)
            | StoreError::InvalidUserName(_)
            | StoreError::PasswordTooLong { .. }
            | StoreError::UserExists(_)
            | StoreError::NoSuchUser => {
                Reply::no(format!("server failure: {msg}")).code(other_code("SERVERBUG"))
            }
        }
    }
}

/// A response code this codec does not model (RFC 5530 and others).
pub(super) fn other_code(name: &str) -> Option<Code> {
    let atom = Atom::new(name).ok()?;
    OtherCode::new(atom, None).ok().map(Code::Other)
}

/// Text safe for `resp-text`: control characters become spaces.
pub(super) fn text(s: &str) -> Text {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    Text::new(if clean.is_empty() { "error" } else { clean })
        .or_else(|_| Text::new("error"))
        .unwrap_or_default()
}

/// The tag at the start of a message the parser refused, if it is a valid one.
pub(super) fn tag_of(bytes: &[u8]) -> Option<Tag> {
    let end = bytes
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')?;
    let tag = std::str::from_utf8(&bytes[..end]).ok()?;
    Tag::new(tag).ok()
}

/// The store's name for a mailbox the client named; RFC 3501 names are modified UTF-7 (ASCII),
/// RFC 9051 ones UTF-8, and the store keeps UTF-8.
pub(super) fn mailbox_name(m: &Mailbox) -> Result<String, Reply> {
    match m {
        Mailbox::Inbox => Ok("INBOX".to_owned()),
        Mailbox::Other(_) => std::str::from_utf8(m.as_wire())
            .map(str::to_owned)
            .map_err(|_| Reply::bad("mailbox name is not valid UTF-8")),
    }
}

pub(super) fn wire_mailbox(name: &str) -> Mailbox {
    Mailbox::from_wire(name.as_bytes().to_vec())
}

pub(super) fn imap_flags(flags: &Flags) -> Vec<ImapFlag> {
    flags
        .iter()
        .filter_map(|f| ImapFlag::new(f.as_str()).ok())
        .collect()
}

pub(super) fn store_flags(flags: &[ImapFlag]) -> Result<Flags, Reply> {
    flags
        .iter()
        .map(|f| {
            Flag::parse(&f.as_str())
                .map_err(|_| Reply::bad(format!("flag {} cannot be stored", f.as_str())))
        })
        .collect()
}

/// A UID, count or number that IMAP writes as `nz-number`; the values passed are never 0
/// (UIDs, UIDVALIDITY and message numbers start at 1).
pub(super) fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// A store UID set as IMAP writes it, or `None` when empty.
pub(super) fn imap_uid_set(uids: impl IntoIterator<Item = Uid>) -> Option<ImapUidSet> {
    let set: UidSet = uids.into_iter().collect();
    let ranges: Vec<UidRange> = set
        .ranges()
        .iter()
        .map(|r| {
            if r.start() == r.end() {
                UidRange::Single(nz(*r.start()))
            } else {
                UidRange::Range(nz(*r.start()), nz(*r.end()))
            }
        })
        .collect();
    ImapUidSet::new(ranges).ok()
}

/// Message numbers as a sequence set (for `MODIFIED`), or `None` when empty.
pub(super) fn sequence_set(numbers: impl IntoIterator<Item = u32>) -> Option<SequenceSet> {
    let set = imap_uid_set(numbers)?;
    let ranges = set
        .ranges()
        .iter()
        .map(|r| match *r {
            UidRange::Single(a) => SeqRange::Single(SeqNo::Value(a)),
            UidRange::Range(a, b) => SeqRange::Range(SeqNo::Value(a), SeqNo::Value(b)),
        })
        .collect();
    SequenceSet::new(ranges).ok()
}

impl<B> Context<B> {
    pub(super) fn respond(&mut self, r: Response) {
        self.output.extend_from_slice(&r.to_bytes());
    }

    pub(super) fn untagged(&mut self, d: Data) {
        self.respond(Response::Data(d));
    }

    pub(super) fn untagged_ok(&mut self, code: Option<Code>, t: &str) {
        self.untagged(Data::Status(Status {
            kind: StatusKind::Ok,
            text: RespText {
                code,
                text: text(t),
            },
        }));
    }

    pub(super) fn tagged(&mut self, tag: Tag, reply: Reply) {
        self.respond(Response::Tagged {
            tag,
            status: Status {
                kind: reply.kind,
                text: RespText {
                    code: reply.code,
                    text: text(&reply.text),
                },
            },
        });
    }

    pub(super) fn fetch_data(&mut self, seq: u32, items: Vec<FetchItem>) {
        if let Ok(items) = Vec1::new(items) {
            self.untagged(Data::Fetch {
                seq: nz(seq),
                items,
            });
        }
    }

    /// The session is over: nothing more is read or sent after what is queued.
    pub(super) fn close_session(&mut self) {
        self.closing = true;
        self.events.push_back(Event::Closed);
    }

    /// `* BYE`, and the session is over.
    pub(super) fn bye(&mut self, t: &str) {
        self.untagged(Data::Bye(RespText::plain(text(t))));
        self.close_session();
    }

    /// `BAD` for input that is not a command: tagged when the tag is readable.
    pub(super) fn bad_input(&mut self, head: &[u8], t: &str) {
        match tag_of(head) {
            Some(tag) => self.tagged(tag, Reply::bad(t)),
            None => self.untagged(Data::Status(Status {
                kind: StatusKind::Bad,
                text: RespText::plain(text(t)),
            })),
        }
    }
}
