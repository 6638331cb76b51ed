//! Responses (server → client), RFC 3501 §7 / RFC 9051 §7 and extensions.

use std::num::NonZeroU32;

use crate::command::Section;
use crate::types::{
    Atom, Capability, DateTime, Flag, FlagPerm, IString, Mailbox, NString, SequenceSet, Tag, Text,
    TypeError, UidSet, Vec1,
};
use crate::xaps::XapsResponse;

/// `greeting = "*" SP (resp-cond-auth / resp-cond-bye) CRLF`
/// (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// OK, PREAUTH or BYE.
    pub kind: GreetingKind,
    /// Code and text.
    pub text: RespText,
}

/// The condition of a greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GreetingKind {
    /// `OK`: not yet authenticated.
    Ok,
    /// `PREAUTH`: already authenticated.
    PreAuth,
    /// `BYE`: rejected.
    Bye,
}

/// `response = *(continue-req / response-data) response-done`
/// (RFC 3501 §9): one line (with its literals) of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `response-tagged = tag SP resp-cond-state CRLF`
    Tagged {
        /// The command's tag.
        tag: Tag,
        /// OK, NO or BAD with code and text.
        status: Status,
    },
    /// `response-data` and `response-fatal`.
    Data(Data),
    /// `continue-req = "+" SP (resp-text / base64) CRLF`.
    Continue(RespText),
}

/// `resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text` (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// OK, NO or BAD.
    pub kind: StatusKind,
    /// Code and text.
    pub text: RespText,
}

/// OK, NO or BAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusKind {
    /// OK
    Ok,
    /// NO
    No,
    /// BAD
    Bad,
}

/// `resp-text = ["[" resp-text-code "]" SP] text` (RFC 3501 §9; text may
/// be empty as in RFC 9051).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RespText {
    /// Response code.
    pub code: Option<Code>,
    /// Human-readable text.
    pub text: Text,
}

impl RespText {
    /// Text without a code.
    pub fn plain(text: Text) -> Self {
        RespText { code: None, text }
    }
    /// Text with a code.
    pub fn with_code(code: Code, text: Text) -> Self {
        RespText {
            code: Some(code),
            text,
        }
    }
}

/// Untagged data: `response-data` (RFC 3501 §9) and extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// Untagged OK/NO/BAD.
    Status(Status),
    /// `* PREAUTH` (only in greetings in practice).
    PreAuth(RespText),
    /// `resp-cond-bye = "BYE" SP resp-text`.
    Bye(RespText),
    /// `capability-data = "CAPABILITY" *(SP capability) SP "IMAP4rev1" ...`.
    Capability(Vec1<Capability>),
    /// `enable-data = "ENABLED" *(SP capability)` (RFC 5161).
    Enabled(Vec<Capability>),
    /// `"FLAGS" SP flag-list`.
    Flags(Vec<Flag>),
    /// `"LIST" SP mailbox-list`.
    List {
        /// `mbx-list-flags`: the atoms after the backslashes.
        attributes: Vec<Atom>,
        /// Hierarchy delimiter (`QUOTED-CHAR`), or NIL. CR, LF and NUL are
        /// not `QUOTED-CHAR`s and encode as NIL.
        delimiter: Option<u8>,
        /// The mailbox.
        mailbox: Mailbox,
    },
    /// `"STATUS" SP mailbox SP "(" [status-att-list] ")"`.
    MailboxStatus {
        /// The mailbox.
        mailbox: Mailbox,
        /// The values.
        items: Vec<StatusItem>,
    },
    /// `"SEARCH" *(SP nz-number) [SP search-sort-mod-seq]` (RFC 7162).
    Search {
        /// Matching numbers.
        ids: Vec<NonZeroU32>,
        /// `(MODSEQ n)`.
        mod_seq: Option<u64>,
    },
    /// `number SP "EXISTS"`.
    Exists(u32),
    /// `number SP "RECENT"`.
    Recent(u32),
    /// `nz-number SP "EXPUNGE"`.
    Expunge(NonZeroU32),
    /// `nz-number SP "FETCH" SP msg-att`.
    Fetch {
        /// Message sequence number.
        seq: NonZeroU32,
        /// Attributes.
        items: Vec1<FetchItem>,
    },
    /// `"VANISHED" [SP "(EARLIER)"] SP known-uids` (RFC 7162 §3.2.10).
    Vanished {
        /// `(EARLIER)`.
        earlier: bool,
        /// Expunged UIDs.
        uids: UidSet,
    },
    /// `* XAPPLEPUSHSERVICE ...` (`spec/imap-push.md`).
    XApplePushService(XapsResponse),
}

/// `status-att-val` (RFC 3501 §9, RFC 7162 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    /// MESSAGES n
    Messages(u32),
    /// RECENT n
    Recent(u32),
    /// UIDNEXT n
    UidNext(u32),
    /// UIDVALIDITY n
    UidValidity(u32),
    /// UNSEEN n
    Unseen(u32),
    /// HIGHESTMODSEQ n
    HighestModSeq(u64),
}

/// `resp-text-code` (RFC 3501 §9, RFC 4315, RFC 7162, RFC 5530).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// ALERT
    Alert,
    /// `BADCHARSET [(astring ...)]`
    BadCharset(Vec<IString>),
    /// `CAPABILITY ...`
    Capability(Vec1<Capability>),
    /// PARSE
    Parse,
    /// `PERMANENTFLAGS (flag-perm ...)`
    PermanentFlags(Vec<FlagPerm>),
    /// READ-ONLY
    ReadOnly,
    /// READ-WRITE
    ReadWrite,
    /// TRYCREATE
    TryCreate,
    /// `UIDNEXT nz-number`
    UidNext(NonZeroU32),
    /// `UIDVALIDITY nz-number`
    UidValidity(NonZeroU32),
    /// `UNSEEN nz-number`
    Unseen(NonZeroU32),
    /// `HIGHESTMODSEQ mod-sequence-value` (RFC 7162)
    HighestModSeq(u64),
    /// NOMODSEQ (RFC 7162)
    NoModSeq,
    /// `MODIFIED sequence-set` (RFC 7162)
    Modified(SequenceSet),
    /// `APPENDUID nz-number append-uid` (RFC 4315)
    AppendUid {
        /// UIDVALIDITY of the destination.
        uid_validity: NonZeroU32,
        /// Assigned UID(s).
        uids: UidSet,
    },
    /// `COPYUID nz-number uid-set uid-set` (RFC 4315)
    CopyUid {
        /// UIDVALIDITY of the destination.
        uid_validity: NonZeroU32,
        /// Source UIDs.
        source: UidSet,
        /// Destination UIDs.
        destination: UidSet,
    },
    /// CLOSED (RFC 7162)
    Closed,
    /// UIDNOTSTICKY (RFC 4315)
    UidNotSticky,
    /// `atom [SP 1*<any TEXT-CHAR except "]">]`: any other code.
    Other(OtherCode),
}

/// A response code this crate does not model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherCode {
    pub(crate) atom: Atom,
    pub(crate) text: Option<String>,
}

impl OtherCode {
    /// Builds an unmodelled code; refuses the names of modelled codes and
    /// text with `]`, CR, LF or NUL.
    pub fn new(atom: Atom, text: Option<String>) -> Result<Self, TypeError> {
        const KNOWN: [&str; 19] = [
            "ALERT",
            "BADCHARSET",
            "CAPABILITY",
            "PARSE",
            "PERMANENTFLAGS",
            "READ-ONLY",
            "READ-WRITE",
            "TRYCREATE",
            "UIDNEXT",
            "UIDVALIDITY",
            "UNSEEN",
            "HIGHESTMODSEQ",
            "NOMODSEQ",
            "MODIFIED",
            "APPENDUID",
            "COPYUID",
            "CLOSED",
            "UIDNOTSTICKY",
            "",
        ];
        if KNOWN.iter().any(|k| atom.eq_ignore_case(k)) {
            return Err(TypeError {
                what: "response code",
                reason: "name of a modelled code",
            });
        }
        if atom.as_str().contains(']') {
            return Err(TypeError {
                what: "response code",
                reason: "']' in atom",
            });
        }
        if let Some(t) = &text
            && (t.is_empty()
                || t.bytes()
                    .any(|b| b == b']' || !crate::types::is_text_char(b)))
        {
            return Err(TypeError {
                what: "response code",
                reason: "text",
            });
        }
        Ok(OtherCode { atom, text })
    }
    /// The code's name.
    pub fn atom(&self) -> &Atom {
        &self.atom
    }
    /// The code's argument text.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }
}

/// `msg-att` items (RFC 3501 §9, RFC 7162 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    /// `FLAGS (flag-fetch ...)`
    Flags(Vec<Flag>),
    /// `ENVELOPE envelope`
    Envelope(Box<Envelope>),
    /// `INTERNALDATE date-time`
    InternalDate(DateTime),
    /// `RFC822 nstring`
    Rfc822(NString),
    /// `RFC822.HEADER nstring`
    Rfc822Header(NString),
    /// `RFC822.TEXT nstring`
    Rfc822Text(NString),
    /// `RFC822.SIZE number`
    Rfc822Size(u32),
    /// `BODY body` (the non-extensible form)
    Body(Box<Body>),
    /// `BODYSTRUCTURE body`
    BodyStructure(Box<Body>),
    /// `BODY[section]<origin> nstring`
    BodySection {
        /// The section.
        section: Section,
        /// `<origin>`
        origin: Option<u32>,
        /// The data.
        data: NString,
    },
    /// `UID uniqueid`
    Uid(NonZeroU32),
    /// `MODSEQ (mod-sequence-value)` (RFC 7162)
    ModSeq(u64),
}

/// `envelope` (RFC 3501 §9). Address lists are empty for NIL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// env-date
    pub date: NString,
    /// env-subject
    pub subject: NString,
    /// env-from
    pub from: Vec<Address>,
    /// env-sender
    pub sender: Vec<Address>,
    /// env-reply-to
    pub reply_to: Vec<Address>,
    /// env-to
    pub to: Vec<Address>,
    /// env-cc
    pub cc: Vec<Address>,
    /// env-bcc
    pub bcc: Vec<Address>,
    /// env-in-reply-to
    pub in_reply_to: NString,
    /// env-message-id
    pub message_id: NString,
}

/// `address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// addr-name
    pub name: NString,
    /// addr-adl
    pub adl: NString,
    /// addr-mailbox
    pub mailbox: NString,
    /// addr-host
    pub host: NString,
}

/// `body` (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `body-type-1part`
    Single {
        /// Type-specific part.
        kind: SingleKind,
        /// `body-fields`
        fields: BodyFields,
        /// `body-ext-1part`
        ext: Option<SingleExt>,
    },
    /// `body-type-mpart`
    Multi {
        /// The parts.
        parts: Vec1<Body>,
        /// `media-subtype`
        subtype: IString,
        /// `body-ext-mpart`
        ext: Option<MultiExt>,
    },
}

/// The kind of a one-part body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleKind {
    /// `body-type-basic`: media type and subtype.
    ///
    /// A type of `TEXT` (or `MESSAGE`/`RFC822`) here encodes without the
    /// line count and so still parses back as `Basic`.
    Basic {
        /// Media type.
        media_type: IString,
        /// Subtype.
        subtype: IString,
    },
    /// `body-type-msg`: MESSAGE/RFC822 (or GLOBAL, RFC 9051).
    Message {
        /// Subtype (`RFC822` or `GLOBAL`).
        subtype: IString,
        /// The enclosed envelope.
        envelope: Box<Envelope>,
        /// The enclosed body.
        body: Box<Body>,
        /// body-fld-lines
        lines: u32,
    },
    /// `body-type-text`: TEXT/subtype with line count.
    Text {
        /// Subtype.
        subtype: IString,
        /// body-fld-lines
        lines: u32,
    },
}

/// `body-fields` (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFields {
    /// `body-fld-param` (empty for NIL).
    pub params: Vec<(IString, IString)>,
    /// body-fld-id
    pub id: NString,
    /// body-fld-desc
    pub description: NString,
    /// body-fld-enc
    pub encoding: IString,
    /// body-fld-octets
    pub octets: u32,
}

/// `body-ext-1part = body-fld-md5 [SP body-fld-dsp ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleExt {
    /// body-fld-md5
    pub md5: NString,
    /// The rest.
    pub tail: Option<ExtTail>,
}

/// `body-ext-mpart = body-fld-param [SP body-fld-dsp ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiExt {
    /// body-fld-param (empty for NIL)
    pub params: Vec<(IString, IString)>,
    /// The rest.
    pub tail: Option<ExtTail>,
}

/// `body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtTail {
    /// `body-fld-dsp = "(" string SP body-fld-param ")" / nil`.
    pub disposition: Option<(IString, Vec<(IString, IString)>)>,
    /// Language and the rest.
    pub lang: Option<LangTail>,
}

/// `body-fld-lang [SP body-fld-loc *(SP body-extension)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LangTail {
    /// body-fld-lang
    pub lang: Lang,
    /// `body-fld-loc *(SP body-extension)`.
    pub location: Option<(NString, Vec<BodyExtension>)>,
}

/// `body-fld-lang = nstring / "(" string *(SP string) ")"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lang {
    /// One (or NIL).
    Single(NString),
    /// A list.
    List(Vec1<IString>),
}

/// `body-extension = nstring / number / "(" body-extension *(SP
/// body-extension) ")"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyExtension {
    /// nstring
    NString(NString),
    /// number
    Number(u32),
    /// list
    List(Vec1<BodyExtension>),
}
