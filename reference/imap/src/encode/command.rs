//! Commands (RFC 3501 §6 / RFC 9051 §6 and extensions) as the encoder
//! writes them.

use super::{Encode, Encoder};
use crate::command::*;
use crate::types::IString;
use crate::xaps;

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
                            e.number(q.uid_validity.get());
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
                e.number(*a);
                e.raw(b".");
                e.number(b.get());
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

pub(super) fn section(e: &mut Encoder, s: &Section) {
    e.raw(b"[");
    match s {
        Section::Full => {}
        Section::Text(t) => section_text(e, t),
        Section::Part { part, text } => {
            for (n, p) in part.iter().enumerate() {
                if n > 0 {
                    e.raw(b".");
                }
                e.number(p.get());
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
    let s1 = |e: &mut Encoder, name: &[u8], s: &IString| {
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
            e.number(*n)
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
            e.number(*n)
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
