//! Commands (client → server), RFC 3501 §6 / RFC 9051 §6 and extensions.

use std::num::NonZeroU32;

use crate::types::{
    Atom, Capability, Date, DateTime, Flag, IString, Mailbox, SequenceSet, Tag, Vec1,
};
use crate::xaps::XapsRegistration;

/// `command = tag SP (command-any / command-auth / command-nonauth /
/// command-select) CRLF` (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The client's tag.
    pub tag: Tag,
    /// What is asked.
    pub body: CommandBody,
}

impl Command {
    /// A command.
    pub fn new(tag: Tag, body: CommandBody) -> Self {
        Command { tag, body }
    }
}

/// The body of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    /// `CAPABILITY`
    Capability,
    /// `NOOP`
    Noop,
    /// `LOGOUT`
    Logout,
    /// `STARTTLS`
    StartTls,
    /// `AUTHENTICATE mechanism [initial-response]` (RFC 3501, RFC 4959
    /// SASL-IR). `initial_response` is the decoded octets; `Some(empty)`
    /// is sent as `=`.
    Authenticate {
        /// SASL mechanism, e.g. `PLAIN`.
        mechanism: Atom,
        /// SASL-IR initial response, decoded.
        initial_response: Option<Vec<u8>>,
    },
    /// `LOGIN userid password`
    Login {
        /// `userid = astring`
        username: IString,
        /// `password = astring`
        password: IString,
    },
    /// `ENABLE 1*(SP capability)` (RFC 5161).
    Enable(Vec1<Capability>),
    /// `SELECT` / `EXAMINE` with optional parameters (RFC 7162 §3.1.2,
    /// §3.2.5).
    Select {
        /// EXAMINE (read-only) rather than SELECT.
        examine: bool,
        /// The mailbox.
        mailbox: Mailbox,
        /// Parameters in order; empty means none were given.
        params: Vec<SelectParam>,
    },
    /// `CREATE mailbox`
    Create(Mailbox),
    /// `DELETE mailbox`
    Delete(Mailbox),
    /// `RENAME mailbox mailbox`
    Rename {
        /// Existing name.
        from: Mailbox,
        /// New name.
        to: Mailbox,
    },
    /// `SUBSCRIBE mailbox`
    Subscribe(Mailbox),
    /// `UNSUBSCRIBE mailbox`
    Unsubscribe(Mailbox),
    /// `LIST mailbox list-mailbox`
    List {
        /// Reference name.
        reference: Mailbox,
        /// `list-mailbox = 1*list-char / string`
        pattern: IString,
    },
    /// `STATUS mailbox (status-att ...)`
    Status {
        /// The mailbox.
        mailbox: Mailbox,
        /// Requested items.
        items: Vec1<StatusAttribute>,
    },
    /// `APPEND mailbox [flag-list] [date-time] literal`
    Append {
        /// Destination.
        mailbox: Mailbox,
        /// `flag-list`, when given (may be the empty list).
        flags: Option<Vec<Flag>>,
        /// Internal date, when given.
        date: Option<DateTime>,
        /// The message octets.
        message: Vec<u8>,
        /// `{n}` (true) or the non-synchronizing `{n+}` (RFC 7888).
        synchronizing: bool,
    },
    /// `CHECK`
    Check,
    /// `CLOSE`
    Close,
    /// `UNSELECT` (RFC 3691)
    Unselect,
    /// `EXPUNGE`
    Expunge,
    /// `UID EXPUNGE sequence-set` (RFC 4315)
    UidExpunge(SequenceSet),
    /// `[UID] SEARCH [CHARSET astring] search-key...`
    Search {
        /// UID SEARCH.
        uid: bool,
        /// `CHARSET astring`.
        charset: Option<IString>,
        /// The keys (ANDed).
        criteria: Vec1<SearchKey>,
    },
    /// `[UID] FETCH sequence-set atts [modifiers]`
    Fetch {
        /// UID FETCH.
        uid: bool,
        /// Which messages.
        set: SequenceSet,
        /// What to fetch.
        attributes: FetchAttributes,
        /// `CHANGEDSINCE n` (RFC 7162 §3.1.4.1).
        changed_since: Option<u64>,
        /// `VANISHED` (RFC 7162 §3.2.6).
        vanished: bool,
    },
    /// `[UID] STORE sequence-set [(UNCHANGEDSINCE n)] store-att-flags`
    Store {
        /// UID STORE.
        uid: bool,
        /// Which messages.
        set: SequenceSet,
        /// `UNCHANGEDSINCE n` (RFC 7162 §3.1.3).
        unchanged_since: Option<u64>,
        /// Replace, add or remove.
        kind: StoreKind,
        /// `.SILENT`
        silent: bool,
        /// The flags.
        flags: Vec<Flag>,
    },
    /// `[UID] COPY sequence-set mailbox`
    Copy {
        /// UID COPY.
        uid: bool,
        /// Which messages.
        set: SequenceSet,
        /// Destination.
        mailbox: Mailbox,
    },
    /// `[UID] MOVE sequence-set mailbox` (RFC 6851)
    Move {
        /// UID MOVE.
        uid: bool,
        /// Which messages.
        set: SequenceSet,
        /// Destination.
        mailbox: Mailbox,
    },
    /// `IDLE` (RFC 2177); the client ends it with a `DONE` line
    /// ([`crate::IdleDone`]).
    Idle,
    /// `XAPPLEPUSHSERVICE` registration (`spec/imap-push.md`).
    XApplePushService(XapsRegistration),
}

/// `select-param` (RFC 7162 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectParam {
    /// `CONDSTORE`
    CondStore,
    /// `QRESYNC (uidvalidity modseq [known-uids [seq-match-data]])`
    QResync(QResync),
}

/// The QRESYNC parameter (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    /// Last known UIDVALIDITY.
    pub uid_validity: NonZeroU32,
    /// Last known HIGHESTMODSEQ.
    pub mod_seq: u64,
    /// UIDs the client knows (`*` not allowed).
    pub known_uids: Option<SequenceSet>,
    /// `(known-sequence-set known-uid-set)`.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// `status-att` (RFC 3501 §9, RFC 7162 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusAttribute {
    /// MESSAGES
    Messages,
    /// RECENT
    Recent,
    /// UIDNEXT
    UidNext,
    /// UIDVALIDITY
    UidValidity,
    /// UNSEEN
    Unseen,
    /// HIGHESTMODSEQ (RFC 7162)
    HighestModSeq,
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// `FLAGS`
    Replace,
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
}

/// What FETCH asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttributes {
    /// `ALL` macro.
    All,
    /// `FULL` macro.
    Full,
    /// `FAST` macro.
    Fast,
    /// One attribute (sent bare) or several (sent parenthesised).
    List(Vec1<FetchAttribute>),
}

/// `fetch-att` (RFC 3501 §9, RFC 7162 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttribute {
    /// ENVELOPE
    Envelope,
    /// FLAGS
    Flags,
    /// INTERNALDATE
    InternalDate,
    /// RFC822
    Rfc822,
    /// RFC822.HEADER
    Rfc822Header,
    /// RFC822.SIZE
    Rfc822Size,
    /// RFC822.TEXT
    Rfc822Text,
    /// BODY (non-extensible structure)
    Body,
    /// BODYSTRUCTURE
    BodyStructure,
    /// UID
    Uid,
    /// MODSEQ (RFC 7162)
    ModSeq,
    /// `BODY[section]<partial>` / `BODY.PEEK[section]<partial>`
    BodySection {
        /// BODY.PEEK (does not set \Seen).
        peek: bool,
        /// Which part.
        section: Section,
        /// `<origin.length>`
        partial: Option<(u32, NonZeroU32)>,
    },
}

/// `section-spec` (RFC 3501 §9); [`Section::Full`] is `[]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Section {
    /// `[]`: the whole message.
    Full,
    /// A top-level `section-msgtext`.
    Text(SectionText),
    /// `section-part ["." section-text]`.
    Part {
        /// `nz-number *("." nz-number)`.
        part: Vec1<NonZeroU32>,
        /// What of the part.
        text: Option<PartText>,
    },
}

/// `section-msgtext` (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SectionText {
    /// HEADER
    Header,
    /// `HEADER.FIELDS (…)` / `HEADER.FIELDS.NOT (…)`
    HeaderFields {
        /// `.NOT`
        not: bool,
        /// `header-fld-name = astring`
        fields: Vec1<IString>,
    },
    /// TEXT
    Text,
}

/// `section-text = section-msgtext / "MIME"` (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PartText {
    /// A `section-msgtext`.
    Msg(SectionText),
    /// MIME
    Mime,
}

/// `search-key` (RFC 3501 §9, RFC 7162 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// ALL
    All,
    /// ANSWERED
    Answered,
    /// BCC string
    Bcc(IString),
    /// BEFORE date
    Before(Date),
    /// BODY string
    Body(IString),
    /// CC string
    Cc(IString),
    /// DELETED
    Deleted,
    /// DRAFT
    Draft,
    /// FLAGGED
    Flagged,
    /// FROM string
    From(IString),
    /// HEADER field value
    Header(IString, IString),
    /// KEYWORD flag-keyword
    Keyword(Atom),
    /// LARGER n
    Larger(u32),
    /// NEW
    New,
    /// NOT key
    Not(Box<SearchKey>),
    /// OLD
    Old,
    /// ON date
    On(Date),
    /// OR key key
    Or(Box<SearchKey>, Box<SearchKey>),
    /// RECENT
    Recent,
    /// SEEN
    Seen,
    /// SENTBEFORE date
    SentBefore(Date),
    /// SENTON date
    SentOn(Date),
    /// SENTSINCE date
    SentSince(Date),
    /// SINCE date
    Since(Date),
    /// SMALLER n
    Smaller(u32),
    /// SUBJECT string
    Subject(IString),
    /// TEXT string
    Text(IString),
    /// TO string
    To(IString),
    /// UID sequence-set
    Uid(SequenceSet),
    /// UNANSWERED
    Unanswered,
    /// UNDELETED
    Undeleted,
    /// UNDRAFT
    Undraft,
    /// UNFLAGGED
    Unflagged,
    /// UNKEYWORD flag-keyword
    Unkeyword(Atom),
    /// UNSEEN
    Unseen,
    /// A message sequence set.
    SequenceSet(SequenceSet),
    /// `"(" search-key *(SP search-key) ")"`
    And(Vec1<SearchKey>),
    /// `MODSEQ [entry-name entry-type-req] mod-sequence-valzer` (RFC 7162)
    ModSeq {
        /// `entry-name SP entry-type-req`.
        entry: Option<(IString, EntryType)>,
        /// The modseq.
        mod_seq: u64,
    },
}

/// `entry-type-req` (RFC 7162 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// priv
    Private,
    /// shared
    Shared,
    /// all
    All,
}

/// A line of an AUTHENTICATE exchange from the client
/// (`authenticate = ... *(CRLF base64)`, RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthenticateData {
    /// Decoded response octets.
    Continue(Vec<u8>),
    /// `*`: the client cancels.
    Cancel,
}

/// The `DONE` line that ends IDLE (RFC 2177 §3: `idle = "IDLE" CRLF
/// "DONE"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleDone;
