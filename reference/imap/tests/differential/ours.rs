//! mailpush-imap's values in the common form.

use mailpush_imap::*;

use crate::common_form::{
    Node, b, envelope_projection, l, n, opt, simple_code, simple_search_key, tagged, w,
};

/// Outside the shared subset: something only this codec models.
pub type Proj = Result<Node, &'static str>;

pub fn command(c: &Command) -> Proj {
    Ok(l![w("COMMAND"), b(c.tag.as_str()), command_body(&c.body)?])
}

fn uid(u: bool) -> Node {
    w(if u { "UID" } else { "SEQ" })
}

fn command_body(c: &CommandBody) -> Proj {
    Ok(match c {
        CommandBody::Capability => tagged("CAPABILITY", []),
        CommandBody::Noop => tagged("NOOP", []),
        CommandBody::Logout => tagged("LOGOUT", []),
        CommandBody::StartTls => tagged("STARTTLS", []),
        CommandBody::Authenticate {
            mechanism,
            initial_response,
        } => l![
            w("AUTHENTICATE"),
            w(mechanism.as_str()),
            opt(initial_response.as_ref(), b)
        ],
        CommandBody::Login { username, password } => {
            l![w("LOGIN"), b(username.as_bytes()), b(password.as_bytes())]
        }
        CommandBody::Enable(caps) => tagged("ENABLE", caps.iter().map(|c| w(c.as_str()))),
        CommandBody::Select {
            examine,
            mailbox: m,
            params,
        } => l![
            w(if *examine { "EXAMINE" } else { "SELECT" }),
            mailbox(m),
            tagged("PARAMS", params.iter().map(select_param))
        ],
        CommandBody::Create(m) => l![w("CREATE"), mailbox(m)],
        CommandBody::Delete(m) => l![w("DELETE"), mailbox(m)],
        CommandBody::Rename { from, to } => l![w("RENAME"), mailbox(from), mailbox(to)],
        CommandBody::Subscribe(m) => l![w("SUBSCRIBE"), mailbox(m)],
        CommandBody::Unsubscribe(m) => l![w("UNSUBSCRIBE"), mailbox(m)],
        CommandBody::List { reference, pattern } => {
            l![w("LIST"), mailbox(reference), b(pattern.as_bytes())]
        }
        CommandBody::Status { mailbox: m, items } => l![
            w("STATUS"),
            mailbox(m),
            tagged("ATTRS", items.iter().map(status_attribute))
        ],
        CommandBody::Append {
            mailbox: m,
            flags,
            date,
            message,
            synchronizing,
        } => l![
            w("APPEND"),
            mailbox(m),
            flag_list(flags.as_deref().unwrap_or_default()),
            opt(date.as_ref(), date_time),
            b(message),
            w(if *synchronizing { "SYNC" } else { "NONSYNC" })
        ],
        CommandBody::Check => tagged("CHECK", []),
        CommandBody::Close => tagged("CLOSE", []),
        CommandBody::Unselect => tagged("UNSELECT", []),
        CommandBody::Expunge => tagged("EXPUNGE", []),
        CommandBody::UidExpunge(s) => l![w("UIDEXPUNGE"), sequence_set(s)],
        CommandBody::Search {
            uid: u,
            charset,
            criteria,
        } => l![
            w("SEARCH"),
            uid(*u),
            opt(charset.as_ref(), |c| b(c.as_bytes())),
            tagged("KEYS", criteria.iter().map(search_key))
        ],
        CommandBody::Fetch {
            uid: u,
            set,
            attributes,
            changed_since,
            vanished,
        } => {
            let mut mods = Vec::new();
            if let Some(m) = changed_since {
                mods.push(l![w("CHANGEDSINCE"), n(*m)]);
            }
            if *vanished {
                mods.push(w("VANISHED"));
            }
            l![
                w("FETCH"),
                uid(*u),
                sequence_set(set),
                match attributes {
                    FetchAttributes::All => w("ALL"),
                    FetchAttributes::Full => w("FULL"),
                    FetchAttributes::Fast => w("FAST"),
                    FetchAttributes::List(v) => tagged("ATTS", v.iter().map(fetch_attribute)),
                },
                tagged("MODS", mods)
            ]
        }
        CommandBody::Store {
            uid: u,
            set,
            unchanged_since,
            kind,
            silent,
            flags,
        } => l![
            w("STORE"),
            uid(*u),
            sequence_set(set),
            w(match kind {
                StoreKind::Replace => "REPLACE",
                StoreKind::Add => "ADD",
                StoreKind::Remove => "REMOVE",
            }),
            w(if *silent { "SILENT" } else { "ANSWER" }),
            flag_list(flags),
            opt(*unchanged_since, n)
        ],
        CommandBody::Copy {
            uid: u,
            set,
            mailbox: m,
        } => {
            l![w("COPY"), uid(*u), sequence_set(set), mailbox(m)]
        }
        CommandBody::Move {
            uid: u,
            set,
            mailbox: m,
        } => {
            l![w("MOVE"), uid(*u), sequence_set(set), mailbox(m)]
        }
        CommandBody::Idle => tagged("IDLE", []),
        CommandBody::XApplePushService(_) => return Err("XAPPLEPUSHSERVICE"),
    })
}

pub fn authenticate_data(a: &AuthenticateData) -> Proj {
    Ok(match a {
        AuthenticateData::Continue(d) => l![w("AUTHDATA"), b(d)],
        AuthenticateData::Cancel => tagged("CANCEL", []),
    })
}

pub fn idle_done(_: &IdleDone) -> Proj {
    Ok(tagged("DONE", []))
}

pub fn mailbox(m: &Mailbox) -> Node {
    match m {
        Mailbox::Inbox => w("INBOX"),
        Mailbox::Other(o) => b(o.as_bytes()),
    }
}

fn select_param(p: &SelectParam) -> Node {
    match p {
        SelectParam::CondStore => tagged("CONDSTORE", []),
        SelectParam::QResync(q) => l![
            w("QRESYNC"),
            n(q.uid_validity.get()),
            n(q.mod_seq),
            opt(q.known_uids.as_ref(), sequence_set),
            opt(q.seq_match.as_ref(), |(a, c)| l![
                sequence_set(a),
                sequence_set(c)
            ])
        ],
    }
}

fn status_attribute(a: &StatusAttribute) -> Node {
    w(match a {
        StatusAttribute::Messages => "MESSAGES",
        StatusAttribute::Recent => "RECENT",
        StatusAttribute::UidNext => "UIDNEXT",
        StatusAttribute::UidValidity => "UIDVALIDITY",
        StatusAttribute::Unseen => "UNSEEN",
        StatusAttribute::HighestModSeq => "HIGHESTMODSEQ",
    })
}

pub fn flag(f: &Flag) -> Node {
    w(f.as_str())
}

fn flag_list(f: &[Flag]) -> Node {
    tagged("FLAGS", f.iter().map(flag))
}

/// `(DATETIME year month day hour minute second ±hhmm)`.
pub fn date_time(d: &DateTime) -> Node {
    let (h, m, s) = d.time();
    let z = d.zone();
    l![
        w("DATETIME"),
        n(d.year()),
        n(d.month()),
        n(d.day()),
        n(h),
        n(m),
        n(s),
        w(format!(
            "{}{:04}",
            if z < 0 { '-' } else { '+' },
            z.unsigned_abs()
        ))
    ]
}

fn date(d: &Date) -> Node {
    let (y, m, day) = d.ymd();
    l![w("DATE"), n(y), n(m), n(day)]
}

fn seq_no(s: SeqNo) -> Node {
    match s {
        SeqNo::Value(v) => n(v.get()),
        SeqNo::Largest => w("*"),
    }
}

pub fn sequence_set(s: &SequenceSet) -> Node {
    tagged(
        "SET",
        s.ranges().iter().map(|r| match *r {
            SeqRange::Single(a) => seq_no(a),
            SeqRange::Range(a, c) => l![w("RANGE"), seq_no(a), seq_no(c)],
        }),
    )
}

fn uid_set(s: &UidSet) -> Node {
    tagged(
        "SET",
        s.ranges().iter().map(|r| match *r {
            UidRange::Single(a) => n(a.get()),
            UidRange::Range(a, c) => l![w("RANGE"), n(a.get()), n(c.get())],
        }),
    )
}

fn search_key(k: &SearchKey) -> Node {
    if let Some(node) = simple_search_key!(k, IString::as_bytes, date) {
        return node;
    }
    match k {
        SearchKey::Header(f, v) => l![w("HEADER"), b(f.as_bytes()), b(v.as_bytes())],
        SearchKey::Keyword(a) => l![w("KEYWORD"), w(a.as_str())],
        SearchKey::Not(k) => l![w("NOT"), search_key(k)],
        SearchKey::Or(a, c) => l![w("OR"), search_key(a), search_key(c)],
        SearchKey::Uid(v) => l![w("UID"), sequence_set(v)],
        SearchKey::Unkeyword(a) => l![w("UNKEYWORD"), w(a.as_str())],
        SearchKey::SequenceSet(v) => l![w("SEQUENCESET"), sequence_set(v)],
        SearchKey::And(v) => tagged("AND", v.iter().map(search_key)),
        SearchKey::ModSeq { entry, mod_seq } => l![
            w("MODSEQ"),
            opt(entry.as_ref(), |(name, t)| l![
                b(name.as_bytes().to_ascii_lowercase()),
                w(match t {
                    EntryType::Private => "PRIV",
                    EntryType::Shared => "SHARED",
                    EntryType::All => "ALL",
                })
            ]),
            n(*mod_seq)
        ],
        // The keys `simple_search_key` projects.
        _ => unreachable!("{k:?}"),
    }
}

fn fetch_attribute(a: &FetchAttribute) -> Node {
    match a {
        FetchAttribute::Envelope => w("ENVELOPE"),
        FetchAttribute::Flags => w("FLAGS"),
        FetchAttribute::InternalDate => w("INTERNALDATE"),
        FetchAttribute::Rfc822 => w("RFC822"),
        FetchAttribute::Rfc822Header => w("RFC822.HEADER"),
        FetchAttribute::Rfc822Size => w("RFC822.SIZE"),
        FetchAttribute::Rfc822Text => w("RFC822.TEXT"),
        FetchAttribute::Body => w("BODY"),
        FetchAttribute::BodyStructure => w("BODYSTRUCTURE"),
        FetchAttribute::Uid => w("UID"),
        FetchAttribute::ModSeq => w("MODSEQ"),
        FetchAttribute::BodySection {
            peek,
            section: s,
            partial,
        } => l![
            w("BODYSECTION"),
            w(if *peek { "PEEK" } else { "READ" }),
            section(s),
            opt(partial.as_ref(), |(o, len)| l![n(*o), n(len.get())])
        ],
    }
}

fn section_text(t: &SectionText) -> Node {
    match t {
        SectionText::Header => w("HEADER"),
        SectionText::Text => w("TEXT"),
        SectionText::HeaderFields { not, fields } => tagged(
            if *not {
                "HEADER.FIELDS.NOT"
            } else {
                "HEADER.FIELDS"
            },
            fields.iter().map(|f| b(f.as_bytes())),
        ),
    }
}

/// `(SECTION (PART n...) spec)`, `NIL` for what is absent.
pub fn section(s: &Section) -> Node {
    let part = |p: &[std::num::NonZeroU32]| tagged("PART", p.iter().map(|x| n(x.get())));
    match s {
        Section::Full => l![w("SECTION"), Node::Nil, Node::Nil],
        Section::Text(t) => l![w("SECTION"), Node::Nil, section_text(t)],
        Section::Part { part: p, text } => l![
            w("SECTION"),
            part(p),
            match text {
                None => Node::Nil,
                Some(PartText::Mime) => w("MIME"),
                Some(PartText::Msg(t)) => section_text(t),
            }
        ],
    }
}

pub fn greeting(g: &Greeting) -> Proj {
    let kind = match g.kind {
        GreetingKind::Ok => "OK",
        GreetingKind::PreAuth => "PREAUTH",
        GreetingKind::Bye => "BYE",
    };
    let mut v = vec![w("GREETING"), w(kind)];
    v.extend(resp_text(&g.text));
    Ok(Node::List(v))
}

fn resp_text(t: &RespText) -> [Node; 2] {
    [
        opt(t.code.as_ref(), code),
        l![w("TEXT"), b(t.text.as_str())],
    ]
}

fn status_kind(k: StatusKind) -> Node {
    w(match k {
        StatusKind::Ok => "OK",
        StatusKind::No => "NO",
        StatusKind::Bad => "BAD",
    })
}

pub fn response(r: &Response) -> Proj {
    Ok(match r {
        Response::Tagged { tag, status } => {
            let mut v = vec![w("TAGGED"), b(tag.as_str()), status_kind(status.kind)];
            v.extend(resp_text(&status.text));
            Node::List(v)
        }
        Response::Continue(t) => {
            let mut v = vec![w("CONTINUE")];
            v.extend(resp_text(t));
            Node::List(v)
        }
        Response::Data(d) => data(d)?,
    })
}

fn data(d: &Data) -> Proj {
    Ok(match d {
        Data::Status(s) => {
            let mut v = vec![w("UNTAGGED"), status_kind(s.kind)];
            v.extend(resp_text(&s.text));
            Node::List(v)
        }
        Data::Bye(t) => {
            let mut v = vec![w("BYE")];
            v.extend(resp_text(t));
            Node::List(v)
        }
        Data::PreAuth(_) => return Err("an untagged PREAUTH after the greeting"),
        Data::Capability(c) => tagged("CAPABILITY", c.iter().map(|c| w(c.as_str()))),
        Data::Enabled(c) => tagged("ENABLED", c.iter().map(|c| w(c.as_str()))),
        Data::Flags(f) => flag_list(f),
        Data::List {
            attributes,
            delimiter,
            mailbox: m,
        } => l![
            w("LIST"),
            tagged(
                "ATTRS",
                attributes.iter().map(|a| w(format!("\\{}", a.as_str())))
            ),
            opt(*delimiter, n),
            mailbox(m)
        ],
        Data::MailboxStatus { mailbox: m, items } => l![
            w("STATUS"),
            mailbox(m),
            tagged(
                "ITEMS",
                items.iter().map(|i| match *i {
                    StatusItem::Messages(v) => l![w("MESSAGES"), n(v)],
                    StatusItem::Recent(v) => l![w("RECENT"), n(v)],
                    StatusItem::UidNext(v) => l![w("UIDNEXT"), n(v)],
                    StatusItem::UidValidity(v) => l![w("UIDVALIDITY"), n(v)],
                    StatusItem::Unseen(v) => l![w("UNSEEN"), n(v)],
                    StatusItem::HighestModSeq(v) => l![w("HIGHESTMODSEQ"), n(v)],
                })
            )
        ],
        Data::Search { ids, mod_seq } => l![
            w("SEARCH"),
            tagged("IDS", ids.iter().map(|i| n(i.get()))),
            opt(*mod_seq, n)
        ],
        Data::Exists(v) => l![w("EXISTS"), n(*v)],
        Data::Recent(v) => l![w("RECENT"), n(*v)],
        Data::Expunge(v) => l![w("EXPUNGE"), n(v.get())],
        Data::Fetch { seq, items } => {
            let mut v = vec![w("FETCH"), n(seq.get())];
            v.extend(items.iter().map(fetch_item));
            Node::List(v)
        }
        Data::Vanished { earlier, uids } => l![
            w("VANISHED"),
            w(if *earlier { "EARLIER" } else { "NOW" }),
            uid_set(uids)
        ],
        Data::XApplePushService(_) => return Err("XAPPLEPUSHSERVICE"),
    })
}

fn nstring(s: &NString) -> Node {
    opt(s.as_ref(), |s| b(s.as_bytes()))
}

fn fetch_item(i: &FetchItem) -> Node {
    match i {
        FetchItem::Flags(f) => flag_list(f),
        FetchItem::Envelope(e) => l![w("ENVELOPE"), envelope(e)],
        FetchItem::InternalDate(d) => l![w("INTERNALDATE"), date_time(d)],
        FetchItem::Rfc822(s) => l![w("RFC822"), nstring(s)],
        FetchItem::Rfc822Header(s) => l![w("RFC822.HEADER"), nstring(s)],
        FetchItem::Rfc822Text(s) => l![w("RFC822.TEXT"), nstring(s)],
        FetchItem::Rfc822Size(v) => l![w("RFC822.SIZE"), n(*v)],
        FetchItem::Body(x) => l![w("BODY"), body(x)],
        FetchItem::BodyStructure(x) => l![w("BODYSTRUCTURE"), body(x)],
        FetchItem::BodySection {
            section: s,
            origin,
            data,
        } => l![w("BODYSECTION"), section(s), opt(*origin, n), nstring(data)],
        FetchItem::Uid(v) => l![w("UID"), n(v.get())],
        FetchItem::ModSeq(v) => l![w("MODSEQ"), n(*v)],
    }
}

envelope_projection!();

fn params(p: &[(IString, IString)]) -> Node {
    tagged(
        "PARAMS",
        p.iter().map(|(k, v)| l![b(k.as_bytes()), b(v.as_bytes())]),
    )
}

fn body_extension(x: &BodyExtension) -> Node {
    match x {
        BodyExtension::NString(s) => nstring(s),
        BodyExtension::Number(v) => n(*v),
        BodyExtension::List(v) => tagged("BEXT", v.iter().map(body_extension)),
    }
}

fn ext_tail(t: &Option<ExtTail>) -> Node {
    opt(t.as_ref(), |t| {
        l![
            w("DSP"),
            opt(t.disposition.as_ref(), |(s, p)| l![
                b(s.as_bytes()),
                params(p)
            ]),
            opt(t.lang.as_ref(), |lang| {
                let langs: Vec<Node> = match &lang.lang {
                    Lang::Single(None) => vec![],
                    Lang::Single(Some(s)) => vec![b(s.as_bytes())],
                    Lang::List(v) => v.iter().map(|s| b(s.as_bytes())).collect(),
                };
                l![
                    w("LANG"),
                    Node::List(langs),
                    opt(lang.location.as_ref(), |(loc, exts)| l![
                        w("LOC"),
                        nstring(loc),
                        tagged("EXTS", exts.iter().map(body_extension))
                    ])
                ]
            })
        ]
    })
}

fn body(x: &Body) -> Node {
    match x {
        Body::Single { kind, fields, ext } => l![
            w("SINGLE"),
            match kind {
                SingleKind::Basic {
                    media_type,
                    subtype,
                } => l![w("BASIC"), b(media_type.as_bytes()), b(subtype.as_bytes())],
                SingleKind::Message {
                    subtype,
                    envelope: e,
                    body: inner,
                    lines,
                } => l![
                    w("MESSAGE"),
                    w(String::from_utf8_lossy(subtype.as_bytes())),
                    envelope(e),
                    body(inner),
                    n(*lines)
                ],
                SingleKind::Text { subtype, lines } => {
                    l![w("TEXTPART"), b(subtype.as_bytes()), n(*lines)]
                }
            },
            l![
                w("FIELDS"),
                params(&fields.params),
                nstring(&fields.id),
                nstring(&fields.description),
                b(fields.encoding.as_bytes()),
                n(fields.octets)
            ],
            opt(ext.as_ref(), |x| l![
                w("EXT1"),
                nstring(&x.md5),
                ext_tail(&x.tail)
            ])
        ],
        Body::Multi {
            parts,
            subtype,
            ext,
        } => l![
            w("MULTI"),
            tagged("PARTS", parts.iter().map(body)),
            b(subtype.as_bytes()),
            opt(ext.as_ref(), |x| l![
                w("EXTM"),
                params(&x.params),
                ext_tail(&x.tail)
            ])
        ],
    }
}

fn code(c: &Code) -> Node {
    if let Some(node) = simple_code!(c) {
        return node;
    }
    match c {
        Code::BadCharset(v) => tagged("BADCHARSET", v.iter().map(|s| b(s.as_bytes()))),
        Code::Capability(v) => tagged("CAPABILITY", v.iter().map(|c| w(c.as_str()))),
        Code::PermanentFlags(v) => tagged(
            "PERMANENTFLAGS",
            v.iter().map(|f| match f {
                FlagPerm::Flag(f) => flag(f),
                FlagPerm::Wildcard => w("\\*"),
            }),
        ),
        Code::HighestModSeq(v) => l![w("HIGHESTMODSEQ"), n(*v)],
        Code::Modified(s) => l![w("MODIFIED"), sequence_set(s)],
        Code::AppendUid { uid_validity, uids } => {
            l![w("APPENDUID"), n(uid_validity.get()), uid_set(uids)]
        }
        Code::CopyUid {
            uid_validity,
            source,
            destination,
        } => l![
            w("COPYUID"),
            n(uid_validity.get()),
            uid_set(source),
            uid_set(destination)
        ],
        Code::Other(o) => l![w("OTHER"), w(o.atom().as_str()), opt(o.text(), b)],
        // The codes `simple_code` projects.
        _ => unreachable!("{c:?}"),
    }
}
