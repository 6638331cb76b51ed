//! The encoder: values to wire bytes the parser accepts.
//!
//! Strings are written as an atom where the grammar allows one and the
//! content fits, else as a quoted string when every octet is a 7-bit
//! `QUOTED-CHAR`, else as a literal.

use base64::Engine;

use crate::command::*;
use crate::response::*;
use crate::types::{
    DateTime, Flag, FlagPerm, MONTHS, SeqNo, SeqRange, SequenceSet, UidRange, UidSet,
    is_astring_char, is_list_char, is_quotable,
};
use crate::xaps;

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncodeOptions {
    /// Write literals that the encoder chooses as non-synchronizing
    /// `{n+}` (only when the server announced LITERAL+, RFC 7888).
    pub literal_plus: bool,
}

/// Encoded bytes plus where a client must wait for a continuation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoded {
    /// The complete message.
    pub bytes: Vec<u8>,
    /// Offsets just after each synchronizing literal's `{n}` CRLF: a
    /// client sends `bytes[..offset]`, waits for `+`, then goes on.
    pub sync_points: Vec<usize>,
}

impl Encoded {
    /// The pieces a client sends between continuation requests.
    pub fn chunks(&self) -> Vec<&[u8]> {
        let mut out = Vec::with_capacity(self.sync_points.len() + 1);
        let mut start = 0;
        for &p in &self.sync_points {
            out.push(&self.bytes[start..p]);
            start = p;
        }
        out.push(&self.bytes[start..]);
        out
    }
}

/// Something the encoder writes.
pub trait Encode {
    /// Writes the value.
    fn encode_into(&self, e: &mut Encoder);
    /// Encodes with default options.
    fn encode(&self) -> Encoded {
        self.encode_with(EncodeOptions::default())
    }
    /// Encodes with the given options.
    fn encode_with(&self, options: EncodeOptions) -> Encoded {
        let mut e = Encoder::new(options);
        self.encode_into(&mut e);
        e.finish()
    }
    /// The complete bytes (all literals inline).
    fn to_bytes(&self) -> Vec<u8> {
        self.encode().bytes
    }
}

/// Writes IMAP syntax.
#[derive(Debug, Default)]
pub struct Encoder {
    out: Vec<u8>,
    sync_points: Vec<usize>,
    options: EncodeOptions,
}

impl Encoder {
    /// An empty encoder.
    pub fn new(options: EncodeOptions) -> Self {
        Encoder {
            out: Vec::with_capacity(64),
            sync_points: Vec::new(),
            options,
        }
    }
    /// The result.
    pub fn finish(self) -> Encoded {
        Encoded {
            bytes: self.out,
            sync_points: self.sync_points,
        }
    }
    #[inline]
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }
    #[inline]
    pub(crate) fn sp(&mut self) {
        self.out.push(b' ');
    }
    #[inline]
    pub(crate) fn number(&mut self, mut n: u64) {
        let mut buf = [0u8; 20];
        let mut p = buf.len();
        loop {
            p -= 1;
            buf[p] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.out.extend_from_slice(&buf[p..]);
    }
    /// `literal`, synchronizing or not.
    pub(crate) fn literal(&mut self, data: &[u8], synchronizing: bool) {
        self.out.push(b'{');
        self.number(data.len() as u64);
        if !synchronizing {
            self.out.push(b'+');
        }
        self.out.extend_from_slice(b"}\r\n");
        if synchronizing {
            self.sync_points.push(self.out.len());
        }
        self.out.extend_from_slice(data);
    }
    fn auto_literal(&mut self, data: &[u8]) {
        let sync = !self.options.literal_plus;
        self.literal(data, sync);
    }
    pub(crate) fn quoted(&mut self, s: &[u8]) {
        self.out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                self.out.push(b'\\');
            }
            self.out.push(b);
        }
        self.out.push(b'"');
    }
    /// `string = quoted / literal`.
    pub(crate) fn string(&mut self, s: &[u8]) {
        if is_quotable(s) {
            self.quoted(s)
        } else {
            self.auto_literal(s)
        }
    }
    /// `astring = 1*ASTRING-CHAR / string`.
    pub(crate) fn astring(&mut self, s: &[u8]) {
        if !s.is_empty() && s.len() < 1024 && s.iter().all(|&b| is_astring_char(b)) {
            self.raw(s)
        } else {
            self.string(s)
        }
    }
    /// `nstring = string / nil`.
    pub(crate) fn nstring(&mut self, s: &Option<crate::types::IString>) {
        match s {
            None => self.raw(b"NIL"),
            Some(s) => self.string(s.as_bytes()),
        }
    }
    pub(crate) fn mailbox(&mut self, m: &crate::types::Mailbox) {
        self.astring(m.as_wire())
    }
    fn list_mailbox(&mut self, s: &[u8]) {
        if !s.is_empty() && s.len() < 1024 && s.iter().all(|&b| is_list_char(b)) {
            self.raw(s)
        } else {
            self.string(s)
        }
    }
    pub(crate) fn flag(&mut self, f: &Flag) {
        match f {
            Flag::Answered => self.raw(b"\\Answered"),
            Flag::Flagged => self.raw(b"\\Flagged"),
            Flag::Deleted => self.raw(b"\\Deleted"),
            Flag::Seen => self.raw(b"\\Seen"),
            Flag::Draft => self.raw(b"\\Draft"),
            Flag::Recent => self.raw(b"\\Recent"),
            Flag::Keyword(a) => self.raw(a.as_str().as_bytes()),
            Flag::Extension(x) => {
                self.raw(b"\\");
                self.raw(x.as_str().as_bytes())
            }
        }
    }
    fn flag_list(&mut self, f: &[Flag]) {
        self.list(f, |e, f| e.flag(f));
    }
    fn list<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.out.push(b'(');
        for (n, x) in items.iter().enumerate() {
            if n > 0 {
                self.out.push(b' ');
            }
            f(self, x);
        }
        self.out.push(b')');
    }
    fn seq_no(&mut self, s: SeqNo) {
        match s {
            SeqNo::Value(n) => self.number(n.get() as u64),
            SeqNo::Largest => self.out.push(b'*'),
        }
    }
    pub(crate) fn sequence_set(&mut self, s: &SequenceSet) {
        for (n, r) in s.ranges().iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            match *r {
                SeqRange::Single(a) => self.seq_no(a),
                SeqRange::Range(a, b) => {
                    self.seq_no(a);
                    self.out.push(b':');
                    self.seq_no(b);
                }
            }
        }
    }
    fn uid_set(&mut self, s: &UidSet) {
        for (n, r) in s.ranges().iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            match *r {
                UidRange::Single(a) => self.number(a.get() as u64),
                UidRange::Range(a, b) => {
                    self.number(a.get() as u64);
                    self.out.push(b':');
                    self.number(b.get() as u64);
                }
            }
        }
    }
    fn two(&mut self, n: u8) {
        self.out.push(b'0' + n / 10);
        self.out.push(b'0' + n % 10);
    }
    fn four(&mut self, n: u16) {
        self.two((n / 100) as u8);
        self.two((n % 100) as u8);
    }
    fn month(&mut self, m: u8) {
        let name = MONTHS
            .get((m as usize).wrapping_sub(1))
            .copied()
            .unwrap_or("Jan");
        self.raw(name.as_bytes());
    }
    pub(crate) fn date_time(&mut self, d: &DateTime) {
        self.out.push(b'"');
        if d.day() < 10 {
            self.out.push(b' ');
            self.out.push(b'0' + d.day());
        } else {
            self.two(d.day());
        }
        self.out.push(b'-');
        self.month(d.month());
        self.out.push(b'-');
        self.four(d.year());
        self.out.push(b' ');
        let (h, m, s) = d.time();
        self.two(h);
        self.out.push(b':');
        self.two(m);
        self.out.push(b':');
        self.two(s);
        self.out.push(b' ');
        self.out.push(if d.zone() < 0 { b'-' } else { b'+' });
        self.four(d.zone().unsigned_abs());
        self.out.push(b'"');
    }
    fn date(&mut self, d: &crate::types::Date) {
        let (y, m, day) = d.ymd();
        self.number(day as u64);
        self.out.push(b'-');
        self.month(m);
        self.out.push(b'-');
        self.four(y);
    }
    fn base64(&mut self, data: &[u8]) {
        let s = base64::engine::general_purpose::STANDARD.encode(data);
        self.raw(s.as_bytes());
    }
    fn text(&mut self, t: &crate::types::Text) {
        self.raw(t.as_str().as_bytes())
    }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

impl Encode for Command {
    fn encode_into(&self, e: &mut Encoder) {
        e.raw(self.tag.as_str().as_bytes());
        e.sp();
        self.body.encode_into(e);
        e.raw(b"\r\n");
    }
}

fn uid_prefix(e: &mut Encoder, uid: bool) {
    if uid {
        e.raw(b"UID ");
    }
}

impl Encode for CommandBody {
    fn encode_into(&self, e: &mut Encoder) {
        match self {
            CommandBody::Capability => e.raw(b"CAPABILITY"),
            CommandBody::Noop => e.raw(b"NOOP"),
            CommandBody::Logout => e.raw(b"LOGOUT"),
            CommandBody::StartTls => e.raw(b"STARTTLS"),
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                e.raw(b"AUTHENTICATE ");
                e.raw(mechanism.as_str().as_bytes());
                match initial_response {
                    None => {}
                    Some(ir) if ir.is_empty() => e.raw(b" ="),
                    Some(ir) => {
                        e.sp();
                        e.base64(ir);
                    }
                }
            }
            CommandBody::Login { username, password } => {
                e.raw(b"LOGIN ");
                e.astring(username.as_bytes());
                e.sp();
                e.astring(password.as_bytes());
            }
            CommandBody::Enable(caps) => {
                e.raw(b"ENABLE");
                for c in caps.iter() {
                    e.sp();
                    e.raw(c.as_str().as_bytes());
                }
            }
            CommandBody::Select {
                examine,
                mailbox,
                params,
            } => {
                e.raw(if *examine { b"EXAMINE " } else { b"SELECT " });
                e.mailbox(mailbox);
                if !params.is_empty() {
                    e.sp();
                    e.list(params, |e, p| match p {
                        SelectParam::CondStore => e.raw(b"CONDSTORE"),
                        SelectParam::QResync(q) => {
                            e.raw(b"QRESYNC (");
                            e.number(q.uid_validity.get() as u64);
                            e.sp();
                            e.number(q.mod_seq);
                            if let Some(k) = &q.known_uids {
                                e.sp();
                                e.sequence_set(k);
                            }
                            if let Some((a, b)) = &q.seq_match {
                                e.raw(b" (");
                                e.sequence_set(a);
                                e.sp();
                                e.sequence_set(b);
                                e.raw(b")");
                            }
                            e.raw(b")");
                        }
                    });
                }
            }
            CommandBody::Create(m) => {
                e.raw(b"CREATE ");
                e.mailbox(m);
            }
            CommandBody::Delete(m) => {
                e.raw(b"DELETE ");
                e.mailbox(m);
            }
            CommandBody::Rename { from, to } => {
                e.raw(b"RENAME ");
                e.mailbox(from);
                e.sp();
                e.mailbox(to);
            }
            CommandBody::Subscribe(m) => {
                e.raw(b"SUBSCRIBE ");
                e.mailbox(m);
            }
            CommandBody::Unsubscribe(m) => {
                e.raw(b"UNSUBSCRIBE ");
                e.mailbox(m);
            }
            CommandBody::List { reference, pattern } => {
                e.raw(b"LIST ");
                e.mailbox(reference);
                e.sp();
                e.list_mailbox(pattern.as_bytes());
            }
            CommandBody::Status { mailbox, items } => {
                e.raw(b"STATUS ");
                e.mailbox(mailbox);
                e.sp();
                e.list(items, |e, a| {
                    e.raw(match a {
                        StatusAttribute::Messages => b"MESSAGES",
                        StatusAttribute::Recent => b"RECENT",
                        StatusAttribute::UidNext => b"UIDNEXT",
                        StatusAttribute::UidValidity => b"UIDVALIDITY",
                        StatusAttribute::Unseen => b"UNSEEN",
                        StatusAttribute::HighestModSeq => b"HIGHESTMODSEQ",
                    })
                });
            }
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
                synchronizing,
            } => {
                e.raw(b"APPEND ");
                e.mailbox(mailbox);
                e.sp();
                if let Some(f) = flags {
                    e.flag_list(f);
                    e.sp();
                }
                if let Some(d) = date {
                    e.date_time(d);
                    e.sp();
                }
                e.literal(message, *synchronizing);
            }
            CommandBody::Check => e.raw(b"CHECK"),
            CommandBody::Close => e.raw(b"CLOSE"),
            CommandBody::Unselect => e.raw(b"UNSELECT"),
            CommandBody::Expunge => e.raw(b"EXPUNGE"),
            CommandBody::UidExpunge(s) => {
                e.raw(b"UID EXPUNGE ");
                e.sequence_set(s);
            }
            CommandBody::Search {
                uid,
                charset,
                criteria,
            } => {
                uid_prefix(e, *uid);
                e.raw(b"SEARCH");
                if let Some(cs) = charset {
                    e.raw(b" CHARSET ");
                    e.astring(cs.as_bytes());
                }
                for k in criteria.iter() {
                    e.sp();
                    search_key(e, k);
                }
            }
            CommandBody::Fetch {
                uid,
                set,
                attributes,
                changed_since,
                vanished,
            } => {
                uid_prefix(e, *uid);
                e.raw(b"FETCH ");
                e.sequence_set(set);
                e.sp();
                match attributes {
                    FetchAttributes::All => e.raw(b"ALL"),
                    FetchAttributes::Full => e.raw(b"FULL"),
                    FetchAttributes::Fast => e.raw(b"FAST"),
                    FetchAttributes::List(l) if l.len() == 1 => fetch_att(e, l.first()),
                    FetchAttributes::List(l) => e.list(l, fetch_att),
                }
                if changed_since.is_some() || *vanished {
                    e.raw(b" (");
                    if let Some(n) = changed_since {
                        e.raw(b"CHANGEDSINCE ");
                        e.number(*n);
                        if *vanished {
                            e.sp();
                        }
                    }
                    if *vanished {
                        e.raw(b"VANISHED");
                    }
                    e.raw(b")");
                }
            }
            CommandBody::Store {
                uid,
                set,
                unchanged_since,
                kind,
                silent,
                flags,
            } => {
                uid_prefix(e, *uid);
                e.raw(b"STORE ");
                e.sequence_set(set);
                e.sp();
                if let Some(n) = unchanged_since {
                    e.raw(b"(UNCHANGEDSINCE ");
                    e.number(*n);
                    e.raw(b") ");
                }
                e.raw(match kind {
                    StoreKind::Replace => b"",
                    StoreKind::Add => b"+",
                    StoreKind::Remove => b"-",
                });
                e.raw(if *silent { b"FLAGS.SILENT " } else { b"FLAGS " });
                e.flag_list(flags);
            }
            CommandBody::Copy { uid, set, mailbox } => {
                uid_prefix(e, *uid);
                e.raw(b"COPY ");
                e.sequence_set(set);
                e.sp();
                e.mailbox(mailbox);
            }
            CommandBody::Move { uid, set, mailbox } => {
                uid_prefix(e, *uid);
                e.raw(b"MOVE ");
                e.sequence_set(set);
                e.sp();
                e.mailbox(mailbox);
            }
            CommandBody::Idle => e.raw(b"IDLE"),
            CommandBody::XApplePushService(x) => xaps::encode_registration(e, x),
        }
    }
}

fn fetch_att(e: &mut Encoder, a: &FetchAttribute) {
    match a {
        FetchAttribute::Envelope => e.raw(b"ENVELOPE"),
        FetchAttribute::Flags => e.raw(b"FLAGS"),
        FetchAttribute::InternalDate => e.raw(b"INTERNALDATE"),
        FetchAttribute::Rfc822 => e.raw(b"RFC822"),
        FetchAttribute::Rfc822Header => e.raw(b"RFC822.HEADER"),
        FetchAttribute::Rfc822Size => e.raw(b"RFC822.SIZE"),
        FetchAttribute::Rfc822Text => e.raw(b"RFC822.TEXT"),
        FetchAttribute::Body => e.raw(b"BODY"),
        FetchAttribute::BodyStructure => e.raw(b"BODYSTRUCTURE"),
        FetchAttribute::Uid => e.raw(b"UID"),
        FetchAttribute::ModSeq => e.raw(b"MODSEQ"),
        FetchAttribute::BodySection {
            peek,
            section: s,
            partial,
        } => {
            e.raw(if *peek { b"BODY.PEEK" } else { b"BODY" });
            section(e, s);
            if let Some((a, b)) = partial {
                e.raw(b"<");
                e.number(*a as u64);
                e.raw(b".");
                e.number(b.get() as u64);
                e.raw(b">");
            }
        }
    }
}

fn section_text(e: &mut Encoder, t: &SectionText) {
    match t {
        SectionText::Header => e.raw(b"HEADER"),
        SectionText::Text => e.raw(b"TEXT"),
        SectionText::HeaderFields { not, fields } => {
            e.raw(if *not {
                b"HEADER.FIELDS.NOT "
            } else {
                b"HEADER.FIELDS "
            });
            e.list(fields, |e, f| e.astring(f.as_bytes()));
        }
    }
}

pub(crate) fn section(e: &mut Encoder, s: &Section) {
    e.raw(b"[");
    match s {
        Section::Full => {}
        Section::Text(t) => section_text(e, t),
        Section::Part { part, text } => {
            for (n, p) in part.iter().enumerate() {
                if n > 0 {
                    e.raw(b".");
                }
                e.number(p.get() as u64);
            }
            match text {
                None => {}
                Some(PartText::Mime) => e.raw(b".MIME"),
                Some(PartText::Msg(t)) => {
                    e.raw(b".");
                    section_text(e, t);
                }
            }
        }
    }
    e.raw(b"]");
}

fn search_key(e: &mut Encoder, k: &SearchKey) {
    let s1 = |e: &mut Encoder, name: &[u8], s: &crate::types::IString| {
        e.raw(name);
        e.sp();
        e.astring(s.as_bytes());
    };
    match k {
        SearchKey::All => e.raw(b"ALL"),
        SearchKey::Answered => e.raw(b"ANSWERED"),
        SearchKey::Bcc(s) => s1(e, b"BCC", s),
        SearchKey::Before(d) => {
            e.raw(b"BEFORE ");
            e.date(d)
        }
        SearchKey::Body(s) => s1(e, b"BODY", s),
        SearchKey::Cc(s) => s1(e, b"CC", s),
        SearchKey::Deleted => e.raw(b"DELETED"),
        SearchKey::Draft => e.raw(b"DRAFT"),
        SearchKey::Flagged => e.raw(b"FLAGGED"),
        SearchKey::From(s) => s1(e, b"FROM", s),
        SearchKey::Header(f, v) => {
            s1(e, b"HEADER", f);
            e.sp();
            e.astring(v.as_bytes());
        }
        SearchKey::Keyword(a) => {
            e.raw(b"KEYWORD ");
            e.raw(a.as_str().as_bytes())
        }
        SearchKey::Larger(n) => {
            e.raw(b"LARGER ");
            e.number(*n as u64)
        }
        SearchKey::New => e.raw(b"NEW"),
        SearchKey::Not(k) => {
            e.raw(b"NOT ");
            search_key(e, k)
        }
        SearchKey::Old => e.raw(b"OLD"),
        SearchKey::On(d) => {
            e.raw(b"ON ");
            e.date(d)
        }
        SearchKey::Or(a, b) => {
            e.raw(b"OR ");
            search_key(e, a);
            e.sp();
            search_key(e, b)
        }
        SearchKey::Recent => e.raw(b"RECENT"),
        SearchKey::Seen => e.raw(b"SEEN"),
        SearchKey::SentBefore(d) => {
            e.raw(b"SENTBEFORE ");
            e.date(d)
        }
        SearchKey::SentOn(d) => {
            e.raw(b"SENTON ");
            e.date(d)
        }
        SearchKey::SentSince(d) => {
            e.raw(b"SENTSINCE ");
            e.date(d)
        }
        SearchKey::Since(d) => {
            e.raw(b"SINCE ");
            e.date(d)
        }
        SearchKey::Smaller(n) => {
            e.raw(b"SMALLER ");
            e.number(*n as u64)
        }
        SearchKey::Subject(s) => s1(e, b"SUBJECT", s),
        SearchKey::Text(s) => s1(e, b"TEXT", s),
        SearchKey::To(s) => s1(e, b"TO", s),
        SearchKey::Uid(s) => {
            e.raw(b"UID ");
            e.sequence_set(s)
        }
        SearchKey::Unanswered => e.raw(b"UNANSWERED"),
        SearchKey::Undeleted => e.raw(b"UNDELETED"),
        SearchKey::Undraft => e.raw(b"UNDRAFT"),
        SearchKey::Unflagged => e.raw(b"UNFLAGGED"),
        SearchKey::Unkeyword(a) => {
            e.raw(b"UNKEYWORD ");
            e.raw(a.as_str().as_bytes())
        }
        SearchKey::Unseen => e.raw(b"UNSEEN"),
        SearchKey::SequenceSet(s) => e.sequence_set(s),
        SearchKey::And(keys) => e.list(keys, search_key),
        SearchKey::ModSeq { entry, mod_seq } => {
            e.raw(b"MODSEQ ");
            if let Some((name, t)) = entry {
                // entry-name = entry-flag-name, a quoted string
                e.string(name.as_bytes());
                e.raw(match t {
                    EntryType::Private => b" priv ",
                    EntryType::Shared => b" shared ",
                    EntryType::All => b" all ",
                });
            }
            e.number(*mod_seq);
        }
    }
}

impl Encode for AuthenticateData {
    fn encode_into(&self, e: &mut Encoder) {
        match self {
            AuthenticateData::Cancel => e.raw(b"*"),
            AuthenticateData::Continue(d) => e.base64(d),
        }
        e.raw(b"\r\n");
    }
}

impl Encode for IdleDone {
    fn encode_into(&self, e: &mut Encoder) {
        e.raw(b"DONE\r\n");
    }
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

impl Encode for Greeting {
    fn encode_into(&self, e: &mut Encoder) {
        e.raw(match self.kind {
            GreetingKind::Ok => b"* OK",
            GreetingKind::PreAuth => b"* PREAUTH",
            GreetingKind::Bye => b"* BYE",
        });
        resp_text(e, &self.text);
        e.raw(b"\r\n");
    }
}

/// ` [code] text` (with the leading SP).
fn resp_text(e: &mut Encoder, t: &RespText) {
    e.sp();
    if let Some(c) = &t.code {
        e.raw(b"[");
        code(e, c);
        e.raw(b"]");
        if t.text.as_str().is_empty() {
            return;
        }
        e.sp();
    }
    e.text(&t.text);
}

fn caps(e: &mut Encoder, c: &[crate::types::Capability]) {
    for c in c {
        e.sp();
        e.raw(c.as_str().as_bytes());
    }
}

fn code(e: &mut Encoder, c: &Code) {
    match c {
        Code::Alert => e.raw(b"ALERT"),
        Code::BadCharset(v) => {
            e.raw(b"BADCHARSET");
            if !v.is_empty() {
                e.sp();
                e.list(v, |e, s| e.astring(s.as_bytes()));
            }
        }
        Code::Capability(c) => {
            e.raw(b"CAPABILITY");
            caps(e, c);
        }
        Code::Parse => e.raw(b"PARSE"),
        Code::PermanentFlags(f) => {
            e.raw(b"PERMANENTFLAGS ");
            e.list(f, |e, f| match f {
                FlagPerm::Flag(f) => e.flag(f),
                FlagPerm::Wildcard => e.raw(b"\\*"),
            });
        }
        Code::ReadOnly => e.raw(b"READ-ONLY"),
        Code::ReadWrite => e.raw(b"READ-WRITE"),
        Code::TryCreate => e.raw(b"TRYCREATE"),
        Code::UidNext(n) => {
            e.raw(b"UIDNEXT ");
            e.number(n.get() as u64)
        }
        Code::UidValidity(n) => {
            e.raw(b"UIDVALIDITY ");
            e.number(n.get() as u64)
        }
        Code::Unseen(n) => {
            e.raw(b"UNSEEN ");
            e.number(n.get() as u64)
        }
        Code::HighestModSeq(n) => {
            e.raw(b"HIGHESTMODSEQ ");
            e.number(*n)
        }
        Code::NoModSeq => e.raw(b"NOMODSEQ"),
        Code::Modified(s) => {
            e.raw(b"MODIFIED ");
            e.sequence_set(s)
        }
        Code::AppendUid { uid_validity, uids } => {
            e.raw(b"APPENDUID ");
            e.number(uid_validity.get() as u64);
            e.sp();
            e.uid_set(uids);
        }
        Code::CopyUid {
            uid_validity,
            source,
            destination,
        } => {
            e.raw(b"COPYUID ");
            e.number(uid_validity.get() as u64);
            e.sp();
            e.uid_set(source);
            e.sp();
            e.uid_set(destination);
        }
        Code::Closed => e.raw(b"CLOSED"),
        Code::UidNotSticky => e.raw(b"UIDNOTSTICKY"),
        Code::Other(o) => {
            e.raw(o.atom.as_str().as_bytes());
            if let Some(t) = &o.text {
                e.sp();
                e.raw(t.as_bytes());
            }
        }
    }
}

fn status(e: &mut Encoder, s: &Status) {
    e.raw(match s.kind {
        StatusKind::Ok => b"OK",
        StatusKind::No => b"NO",
        StatusKind::Bad => b"BAD",
    });
    resp_text(e, &s.text);
}

impl Encode for Response {
    fn encode_into(&self, e: &mut Encoder) {
        match self {
            Response::Tagged { tag, status: s } => {
                e.raw(tag.as_str().as_bytes());
                e.sp();
                status(e, s);
            }
            Response::Continue(t) => {
                e.raw(b"+");
                resp_text(e, t);
            }
            Response::Data(d) => {
                e.raw(b"* ");
                data(e, d);
            }
        }
        e.raw(b"\r\n");
    }
}

impl Encode for Data {
    /// `* ...` CRLF, like the untagged response it is.
    fn encode_into(&self, e: &mut Encoder) {
        e.raw(b"* ");
        data(e, self);
        e.raw(b"\r\n");
    }
}

fn data(e: &mut Encoder, d: &Data) {
    match d {
        Data::Status(s) => status(e, s),
        Data::PreAuth(t) => {
            e.raw(b"PREAUTH");
            resp_text(e, t)
        }
        Data::Bye(t) => {
            e.raw(b"BYE");
            resp_text(e, t)
        }
        Data::Capability(c) => {
            e.raw(b"CAPABILITY");
            caps(e, c)
        }
        Data::Enabled(c) => {
            e.raw(b"ENABLED");
            caps(e, c)
        }
        Data::Flags(f) => {
            e.raw(b"FLAGS ");
            e.flag_list(f)
        }
        Data::List {
            attributes,
            delimiter,
            mailbox,
        } => {
            e.raw(b"LIST ");
            e.list(attributes, |e, a| {
                e.raw(b"\\");
                e.raw(a.as_str().as_bytes())
            });
            e.sp();
            match delimiter {
                // CR, LF and NUL cannot be quoted: such a delimiter has no
                // spelling and goes out as NIL.
                Some(c) if !matches!(c, 0 | b'\r' | b'\n') => e.quoted(&[*c]),
                _ => e.raw(b"NIL"),
            }
            e.sp();
            e.mailbox(mailbox);
        }
        Data::MailboxStatus { mailbox, items } => {
            e.raw(b"STATUS ");
            e.mailbox(mailbox);
            e.sp();
            e.list(items, |e, i| {
                let (name, v): (&[u8], u64) = match *i {
                    StatusItem::Messages(n) => (b"MESSAGES ", n as u64),
                    StatusItem::Recent(n) => (b"RECENT ", n as u64),
                    StatusItem::UidNext(n) => (b"UIDNEXT ", n as u64),
                    StatusItem::UidValidity(n) => (b"UIDVALIDITY ", n as u64),
                    StatusItem::Unseen(n) => (b"UNSEEN ", n as u64),
                    StatusItem::HighestModSeq(n) => (b"HIGHESTMODSEQ ", n),
                };
                e.raw(name);
                e.number(v);
            });
        }
        Data::Search { ids, mod_seq } => {
            e.raw(b"SEARCH");
            for n in ids {
                e.sp();
                e.number(n.get() as u64);
            }
            if let Some(m) = mod_seq {
                e.raw(b" (MODSEQ ");
                e.number(*m);
                e.raw(b")");
            }
        }
        Data::Exists(n) => {
            e.number(*n as u64);
            e.raw(b" EXISTS")
        }
        Data::Recent(n) => {
            e.number(*n as u64);
            e.raw(b" RECENT")
        }
        Data::Expunge(n) => {
            e.number(n.get() as u64);
            e.raw(b" EXPUNGE")
        }
        Data::Fetch { seq, items } => {
            e.number(seq.get() as u64);
            e.raw(b" FETCH ");
            e.list(items, fetch_item);
        }
        Data::Vanished { earlier, uids } => {
            e.raw(if *earlier {
                b"VANISHED (EARLIER) "
            } else {
                b"VANISHED "
            });
            e.uid_set(uids);
        }
        Data::XApplePushService(x) => xaps::encode_response(e, x),
    }
}

fn fetch_item(e: &mut Encoder, i: &FetchItem) {
    match i {
        FetchItem::Flags(f) => {
            e.raw(b"FLAGS ");
            e.flag_list(f)
        }
        FetchItem::Envelope(env) => {
            e.raw(b"ENVELOPE ");
            envelope(e, env)
        }
        FetchItem::InternalDate(d) => {
            e.raw(b"INTERNALDATE ");
            e.date_time(d)
        }
        FetchItem::Rfc822(s) => {
            e.raw(b"RFC822 ");
            e.nstring(s)
        }
        FetchItem::Rfc822Header(s) => {
            e.raw(b"RFC822.HEADER ");
            e.nstring(s)
        }
        FetchItem::Rfc822Text(s) => {
            e.raw(b"RFC822.TEXT ");
            e.nstring(s)
        }
        FetchItem::Rfc822Size(n) => {
            e.raw(b"RFC822.SIZE ");
            e.number(*n as u64)
        }
        FetchItem::Body(b) => {
            e.raw(b"BODY ");
            body(e, b)
        }
        FetchItem::BodyStructure(b) => {
            e.raw(b"BODYSTRUCTURE ");
            body(e, b)
        }
        FetchItem::BodySection {
            section: s,
            origin,
            data,
        } => {
            e.raw(b"BODY");
            section(e, s);
            if let Some(o) = origin {
                e.raw(b"<");
                e.number(*o as u64);
                e.raw(b">");
            }
            e.sp();
            // Message data goes as a literal unless it is short and quotable.
            match data {
                Some(d) if d.as_bytes().len() > 64 => e.literal(d.as_bytes(), true),
                _ => e.nstring(data),
            }
        }
        FetchItem::Uid(n) => {
            e.raw(b"UID ");
            e.number(n.get() as u64)
        }
        FetchItem::ModSeq(n) => {
            e.raw(b"MODSEQ (");
            e.number(*n);
            e.raw(b")")
        }
    }
}

fn addresses(e: &mut Encoder, a: &[Address]) {
    if a.is_empty() {
        return e.raw(b"NIL");
    }
    e.raw(b"(");
    for a in a {
        e.raw(b"(");
        e.nstring(&a.name);
        e.sp();
        e.nstring(&a.adl);
        e.sp();
        e.nstring(&a.mailbox);
        e.sp();
        e.nstring(&a.host);
        e.raw(b")");
    }
    e.raw(b")");
}

pub(crate) fn envelope(e: &mut Encoder, env: &Envelope) {
    e.raw(b"(");
    e.nstring(&env.date);
    e.sp();
    e.nstring(&env.subject);
    e.sp();
    addresses(e, &env.from);
    e.sp();
    addresses(e, &env.sender);
    e.sp();
    addresses(e, &env.reply_to);
    e.sp();
    addresses(e, &env.to);
    e.sp();
    addresses(e, &env.cc);
    e.sp();
    addresses(e, &env.bcc);
    e.sp();
    e.nstring(&env.in_reply_to);
    e.sp();
    e.nstring(&env.message_id);
    e.raw(b")");
}

fn params(e: &mut Encoder, p: &[(crate::types::IString, crate::types::IString)]) {
    if p.is_empty() {
        return e.raw(b"NIL");
    }
    e.list(p, |e, (k, v)| {
        e.string(k.as_bytes());
        e.sp();
        e.string(v.as_bytes());
    });
}

fn ext_tail(e: &mut Encoder, t: &Option<ExtTail>) {
    let Some(t) = t else { return };
    e.sp();
    match &t.disposition {
        None => e.raw(b"NIL"),
        Some((s, p)) => {
            e.raw(b"(");
            e.string(s.as_bytes());
            e.sp();
            params(e, p);
            e.raw(b")");
        }
    }
    let Some(l) = &t.lang else { return };
    e.sp();
    match &l.lang {
        Lang::Single(s) => e.nstring(s),
        Lang::List(v) => e.list(v, |e, s| e.string(s.as_bytes())),
    }
    let Some((loc, exts)) = &l.location else {
        return;
    };
    e.sp();
    e.nstring(loc);
    for x in exts {
        e.sp();
        body_extension(e, x);
    }
}

fn body_extension(e: &mut Encoder, x: &BodyExtension) {
    match x {
        BodyExtension::NString(s) => e.nstring(s),
        BodyExtension::Number(n) => e.number(*n as u64),
        BodyExtension::List(v) => e.list(v, body_extension),
    }
}

pub(crate) fn body(e: &mut Encoder, b: &Body) {
    e.raw(b"(");
    match b {
        Body::Single { kind, fields, ext } => {
            match kind {
                SingleKind::Basic {
                    media_type,
                    subtype,
                } => {
                    e.string(media_type.as_bytes());
                    e.sp();
                    e.string(subtype.as_bytes());
                }
                SingleKind::Message { subtype, .. } => {
                    e.raw(b"\"MESSAGE\" ");
                    e.string(subtype.as_bytes());
                }
                SingleKind::Text { subtype, .. } => {
                    e.raw(b"\"TEXT\" ");
                    e.string(subtype.as_bytes());
                }
            }
            e.sp();
            params(e, &fields.params);
            e.sp();
            e.nstring(&fields.id);
            e.sp();
            e.nstring(&fields.description);
            e.sp();
            e.string(fields.encoding.as_bytes());
            e.sp();
            e.number(fields.octets as u64);
            match kind {
                SingleKind::Basic { .. } => {}
                SingleKind::Message {
                    envelope: env,
                    body: b,
                    lines,
                    ..
                } => {
                    e.sp();
                    envelope(e, env);
                    e.sp();
                    body(e, b);
                    e.sp();
                    e.number(*lines as u64);
                }
                SingleKind::Text { lines, .. } => {
                    e.sp();
                    e.number(*lines as u64);
                }
            }
            if let Some(x) = ext {
                e.sp();
                e.nstring(&x.md5);
                ext_tail(e, &x.tail);
            }
        }
        Body::Multi {
            parts,
            subtype,
            ext,
        } => {
            for p in parts.iter() {
                body(e, p);
            }
            e.sp();
            e.string(subtype.as_bytes());
            if let Some(x) = ext {
                e.sp();
                params(e, &x.params);
                ext_tail(e, &x.tail);
            }
        }
    }
    e.raw(b")");
}
