//! Responses (RFC 3501 §7 / RFC 9051 §7 and extensions) as the encoder
//! writes them.

use super::command::section;
use super::{Encode, Encoder};
use crate::response::*;
use crate::types::{Capability, FlagPerm, IString};
use crate::xaps;

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

fn caps(e: &mut Encoder, c: &[Capability]) {
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
            e.number(n.get())
        }
        Code::UidValidity(n) => {
            e.raw(b"UIDVALIDITY ");
            e.number(n.get())
        }
        Code::Unseen(n) => {
            e.raw(b"UNSEEN ");
            e.number(n.get())
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
            e.number(uid_validity.get());
            e.sp();
            e.uid_set(uids);
        }
        Code::CopyUid {
            uid_validity,
            source,
            destination,
        } => {
            e.raw(b"COPYUID ");
            e.number(uid_validity.get());
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
                    StatusItem::Messages(n) => (b"MESSAGES ", u64::from(n)),
                    StatusItem::Recent(n) => (b"RECENT ", u64::from(n)),
                    StatusItem::UidNext(n) => (b"UIDNEXT ", u64::from(n)),
                    StatusItem::UidValidity(n) => (b"UIDVALIDITY ", u64::from(n)),
                    StatusItem::Unseen(n) => (b"UNSEEN ", u64::from(n)),
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
                e.number(n.get());
            }
            if let Some(m) = mod_seq {
                e.raw(b" (MODSEQ ");
                e.number(*m);
                e.raw(b")");
            }
        }
        Data::Exists(n) => {
            e.number(*n);
            e.raw(b" EXISTS")
        }
        Data::Recent(n) => {
            e.number(*n);
            e.raw(b" RECENT")
        }
        Data::Expunge(n) => {
            e.number(n.get());
            e.raw(b" EXPUNGE")
        }
        Data::Fetch { seq, items } => {
            e.number(seq.get());
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
            e.number(*n)
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
                e.number(*o);
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
            e.number(n.get())
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

fn envelope(e: &mut Encoder, env: &Envelope) {
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

fn params(e: &mut Encoder, p: &[(IString, IString)]) {
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
        BodyExtension::Number(n) => e.number(*n),
        BodyExtension::List(v) => e.list(v, body_extension),
    }
}

fn body(e: &mut Encoder, b: &Body) {
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
            e.number(fields.octets);
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
                    e.number(*lines);
                }
                SingleKind::Text { lines, .. } => {
                    e.sp();
                    e.number(*lines);
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
