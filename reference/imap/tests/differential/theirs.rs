//! imap-codec's values (imap-types) in the common form.

use chrono::{Datelike, Offset, Timelike};
use imap_codec::imap_types::{
    auth::AuthenticateData,
    body::{BodyExtension, BodyStructure, Disposition, SpecificFields},
    command::{Command, CommandBody, FetchModifier, SelectParameter, StoreModifier},
    core::{IString, LiteralMode, NString},
    datetime::{DateTime, NaiveDate},
    envelope::{Address, Envelope},
    extensions::{
        binary::LiteralOrLiteral8,
        condstore_qresync::{AttributeFlag, EntryTypeReq},
        idle::IdleDone,
        uidplus::{UidElement, UidSet},
    },
    fetch::{Macro, MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section},
    flag::{Flag, FlagFetch, FlagPerm, StoreResponse, StoreType},
    mailbox::{ListMailbox, Mailbox},
    response::{
        Code, CommandContinuationRequest, Data, Greeting, GreetingKind, Response, Status,
        StatusKind,
    },
    search::SearchKey,
    sequence::{SeqOrUid, Sequence, SequenceSet},
    status::{StatusDataItem, StatusDataItemName},
};

use crate::common_form::{
    Node, b, envelope_projection, l, n, opt, simple_code, simple_search_key, tagged, w,
};

/// Outside the shared subset: something only imap-codec models.
pub type Proj = Result<Node, &'static str>;

fn uid(u: bool) -> Node {
    w(if u { "UID" } else { "SEQ" })
}

fn istring(s: &IString) -> Node {
    b(s.as_ref())
}

fn nstring(s: &NString) -> Node {
    opt(s.0.as_ref(), istring)
}

pub fn command(c: &Command) -> Proj {
    Ok(l![w("COMMAND"), b(c.tag.inner()), command_body(&c.body)?])
}

fn command_body(c: &CommandBody) -> Proj {
    Ok(match c {
        CommandBody::Capability => tagged("CAPABILITY", []),
        CommandBody::Noop => tagged("NOOP", []),
        CommandBody::Logout => tagged("LOGOUT", []),
        CommandBody::StartTLS => tagged("STARTTLS", []),
        CommandBody::Authenticate {
            mechanism,
            initial_response,
        } => l![
            w("AUTHENTICATE"),
            w(mechanism.as_ref()),
            opt(initial_response.as_ref(), |s| b(s.declassify()))
        ],
        CommandBody::Login { username, password } => l![
            w("LOGIN"),
            b(username.as_ref()),
            b(password.declassify().as_ref())
        ],
        CommandBody::Enable { capabilities } => tagged(
            "ENABLE",
            capabilities.as_ref().iter().map(|c| w(c.to_string())),
        ),
        CommandBody::Select {
            mailbox: m,
            parameters,
        } => l![
            w("SELECT"),
            mailbox(m),
            tagged("PARAMS", parameters.iter().map(select_param))
        ],
        CommandBody::Examine {
            mailbox: m,
            parameters,
        } => l![
            w("EXAMINE"),
            mailbox(m),
            tagged("PARAMS", parameters.iter().map(select_param))
        ],
        CommandBody::Create { mailbox: m } => l![w("CREATE"), mailbox(m)],
        CommandBody::Delete { mailbox: m } => l![w("DELETE"), mailbox(m)],
        CommandBody::Rename { from, to } => l![w("RENAME"), mailbox(from), mailbox(to)],
        CommandBody::Subscribe { mailbox: m } => l![w("SUBSCRIBE"), mailbox(m)],
        CommandBody::Unsubscribe { mailbox: m } => l![w("UNSUBSCRIBE"), mailbox(m)],
        CommandBody::List {
            reference,
            mailbox_wildcard,
        } => l![
            w("LIST"),
            mailbox(reference),
            match mailbox_wildcard {
                ListMailbox::Token(t) => b(t.as_ref()),
                ListMailbox::String(s) => istring(s),
            }
        ],
        CommandBody::Status {
            mailbox: m,
            item_names,
        } => l![
            w("STATUS"),
            mailbox(m),
            tagged(
                "ATTRS",
                item_names
                    .iter()
                    .map(status_attribute)
                    .collect::<Result<Vec<_>, _>>()?
            )
        ],
        CommandBody::Append {
            mailbox: m,
            flags,
            date,
            message,
        } => {
            let LiteralOrLiteral8::Literal(lit) = message else {
                return Err("APPEND with literal8 (BINARY)");
            };
            l![
                w("APPEND"),
                mailbox(m),
                flag_list(flags),
                opt(date.as_ref(), date_time),
                b(lit.data()),
                w(match lit.mode() {
                    LiteralMode::Sync => "SYNC",
                    LiteralMode::NonSync => "NONSYNC",
                })
            ]
        }
        CommandBody::Check => tagged("CHECK", []),
        CommandBody::Close => tagged("CLOSE", []),
        CommandBody::Unselect => tagged("UNSELECT", []),
        CommandBody::Expunge => tagged("EXPUNGE", []),
        CommandBody::ExpungeUid { sequence_set: s } => l![w("UIDEXPUNGE"), sequence_set(s)],
        CommandBody::Search {
            charset,
            criteria,
            uid: u,
        } => l![
            w("SEARCH"),
            uid(*u),
            opt(charset.as_ref(), |c| b(AsRef::<str>::as_ref(c))),
            tagged("KEYS", collect(criteria.as_ref().iter().map(search_key))?)
        ],
        CommandBody::Fetch {
            sequence_set: s,
            macro_or_item_names,
            uid: u,
            modifiers,
        } => {
            // Order-insensitive, as the modifiers are.
            let mut mods: Vec<Node> = modifiers
                .iter()
                .map(|m| match m {
                    FetchModifier::ChangedSince(v) => l![w("CHANGEDSINCE"), n(v.get())],
                    FetchModifier::Vanished => w("VANISHED"),
                })
                .collect();
            mods.sort_by_key(|m| matches!(m, Node::Word(_)));
            l![
                w("FETCH"),
                uid(*u),
                sequence_set(s),
                match macro_or_item_names {
                    MacroOrMessageDataItemNames::Macro(Macro::All) => w("ALL"),
                    MacroOrMessageDataItemNames::Macro(Macro::Full) => w("FULL"),
                    MacroOrMessageDataItemNames::Macro(Macro::Fast) => w("FAST"),
                    MacroOrMessageDataItemNames::Macro(_) => return Err("a fetch macro"),
                    MacroOrMessageDataItemNames::MessageDataItemNames(v) => {
                        tagged("ATTS", collect(v.iter().map(fetch_attribute))?)
                    }
                },
                tagged("MODS", mods)
            ]
        }
        CommandBody::Store {
            sequence_set: s,
            kind,
            response,
            flags,
            uid: u,
            modifiers,
        } => {
            let unchanged = match modifiers.as_slice() {
                [] => Node::Nil,
                [StoreModifier::UnchangedSince(v)] => n(*v),
                _ => return Err("several STORE modifiers"),
            };
            l![
                w("STORE"),
                uid(*u),
                sequence_set(s),
                w(match kind {
                    StoreType::Replace => "REPLACE",
                    StoreType::Add => "ADD",
                    StoreType::Remove => "REMOVE",
                }),
                w(match response {
                    StoreResponse::Silent => "SILENT",
                    StoreResponse::Answer => "ANSWER",
                }),
                flag_list(flags),
                unchanged
            ]
        }
        CommandBody::Copy {
            sequence_set: s,
            mailbox: m,
            uid: u,
        } => l![w("COPY"), uid(*u), sequence_set(s), mailbox(m)],
        CommandBody::Move {
            sequence_set: s,
            mailbox: m,
            uid: u,
        } => l![w("MOVE"), uid(*u), sequence_set(s), mailbox(m)],
        CommandBody::Idle => tagged("IDLE", []),
        CommandBody::Lsub { .. } => return Err("LSUB"),
        CommandBody::Compress { .. } => return Err("COMPRESS"),
        CommandBody::GetQuota { .. }
        | CommandBody::GetQuotaRoot { .. }
        | CommandBody::SetQuota { .. } => return Err("QUOTA"),
        CommandBody::Sort { .. } => return Err("SORT"),
        CommandBody::Thread { .. } => return Err("THREAD"),
        #[allow(unreachable_patterns)]
        _ => return Err("a command outside RFC 3501 and the extensions both implement"),
    })
}

fn collect(v: impl Iterator<Item = Proj>) -> Result<Vec<Node>, &'static str> {
    v.collect()
}

pub fn authenticate_data(a: &AuthenticateData) -> Proj {
    Ok(match a {
        AuthenticateData::Continue(d) => l![w("AUTHDATA"), b(d.declassify())],
        AuthenticateData::Cancel => tagged("CANCEL", []),
    })
}

pub fn idle_done(_: &IdleDone) -> Proj {
    Ok(tagged("DONE", []))
}

fn mailbox(m: &Mailbox) -> Node {
    match m {
        Mailbox::Inbox => w("INBOX"),
        Mailbox::Other(o) => b(o.as_ref()),
    }
}

fn select_param(p: &SelectParameter) -> Node {
    match p {
        SelectParameter::CondStore => tagged("CONDSTORE", []),
        SelectParameter::QResync {
            uid_validity,
            mod_sequence_value,
            known_uids,
            seq_match_data,
        } => l![
            w("QRESYNC"),
            n(uid_validity.get()),
            n(mod_sequence_value.get()),
            opt(known_uids.as_ref(), sequence_set),
            opt(seq_match_data.as_ref(), |(a, c)| l![
                sequence_set(a),
                sequence_set(c)
            ])
        ],
    }
}

fn status_attribute(a: &StatusDataItemName) -> Proj {
    Ok(w(match a {
        StatusDataItemName::Messages => "MESSAGES",
        StatusDataItemName::Recent => "RECENT",
        StatusDataItemName::UidNext => "UIDNEXT",
        StatusDataItemName::UidValidity => "UIDVALIDITY",
        StatusDataItemName::Unseen => "UNSEEN",
        StatusDataItemName::HighestModSeq => "HIGHESTMODSEQ",
        _ => return Err("a STATUS item of RFC 9051 or RFC 8438"),
    }))
}

fn flag(f: &Flag) -> Node {
    w(f.to_string())
}

fn flag_list(f: &[Flag]) -> Node {
    tagged("FLAGS", f.iter().map(flag))
}

fn date_time(d: &DateTime) -> Node {
    let d = d.as_ref();
    let minutes = d.offset().fix().local_minus_utc() / 60;
    l![
        w("DATETIME"),
        n(u64::try_from(d.year()).unwrap_or(u64::MAX)),
        n(d.month()),
        n(d.day()),
        n(d.hour()),
        n(d.minute()),
        n(d.second()),
        w(format!(
            "{}{:02}{:02}",
            if minutes < 0 { '-' } else { '+' },
            minutes.unsigned_abs() / 60,
            minutes.unsigned_abs() % 60
        ))
    ]
}

fn date(d: &NaiveDate) -> Node {
    let d = d.as_ref();
    l![
        w("DATE"),
        n(u64::try_from(d.year()).unwrap_or(u64::MAX)),
        n(d.month()),
        n(d.day())
    ]
}

fn seq_no(s: &SeqOrUid) -> Node {
    match s {
        SeqOrUid::Value(v) => n(v.get()),
        SeqOrUid::Asterisk => w("*"),
    }
}

fn sequence_set(s: &SequenceSet) -> Node {
    tagged(
        "SET",
        s.0.as_ref().iter().map(|r| match r {
            Sequence::Single(a) => seq_no(a),
            Sequence::Range(a, c) => l![w("RANGE"), seq_no(a), seq_no(c)],
        }),
    )
}

fn uid_set(s: &UidSet) -> Node {
    tagged(
        "SET",
        s.0.as_ref().iter().map(|r| match r {
            UidElement::Single(a) => n(a.get()),
            UidElement::Range(a, c) => l![w("RANGE"), n(a.get()), n(c.get())],
        }),
    )
}

fn attribute_flag(f: &AttributeFlag) -> Vec<u8> {
    // The entry name is "/flags/" and the flag as the quoted string holds it,
    // unescaped: one backslash before a system or extension flag.
    let name = match f {
        AttributeFlag::Answered => "\\answered".to_owned(),
        AttributeFlag::Deleted => "\\deleted".to_owned(),
        AttributeFlag::Draft => "\\draft".to_owned(),
        AttributeFlag::Flagged => "\\flagged".to_owned(),
        AttributeFlag::Seen => "\\seen".to_owned(),
        AttributeFlag::Keyword(a) => a.inner().to_owned(),
        // Display writes the escaped form, `\\x`.
        AttributeFlag::Extension(_) => f.to_string().replacen("\\\\", "\\", 1),
    };
    format!("/flags/{name}").to_ascii_lowercase().into_bytes()
}

fn search_key(k: &SearchKey) -> Proj {
    if let Some(node) = simple_search_key!(k, <_ as AsRef<[u8]>>::as_ref, date) {
        return Ok(node);
    }
    Ok(match k {
        SearchKey::Header(f, v) => l![w("HEADER"), b(f.as_ref()), b(v.as_ref())],
        SearchKey::Keyword(a) => l![w("KEYWORD"), w(a.inner())],
        SearchKey::Not(k) => l![w("NOT"), search_key(k)?],
        SearchKey::Or(a, c) => l![w("OR"), search_key(a)?, search_key(c)?],
        SearchKey::Uid(v) => l![w("UID"), sequence_set(v)],
        SearchKey::Unkeyword(a) => l![w("UNKEYWORD"), w(a.inner())],
        SearchKey::SequenceSet(v) => l![w("SEQUENCESET"), sequence_set(v)],
        SearchKey::And(v) => tagged("AND", collect(v.as_ref().iter().map(search_key))?),
        SearchKey::ModSequence { entry, modseq } => l![
            w("MODSEQ"),
            opt(entry.as_ref(), |(f, t)| l![
                b(attribute_flag(f)),
                w(match t {
                    EntryTypeReq::Private => "PRIV",
                    EntryTypeReq::Shared => "SHARED",
                    EntryTypeReq::All => "ALL",
                })
            ]),
            n(*modseq)
        ],
        #[allow(unreachable_patterns)]
        _ => return Err("a search key of RFC 5032"),
    })
}

fn fetch_attribute(a: &MessageDataItemName) -> Proj {
    Ok(match a {
        MessageDataItemName::Envelope => w("ENVELOPE"),
        MessageDataItemName::Flags => w("FLAGS"),
        MessageDataItemName::InternalDate => w("INTERNALDATE"),
        MessageDataItemName::Rfc822 => w("RFC822"),
        MessageDataItemName::Rfc822Header => w("RFC822.HEADER"),
        MessageDataItemName::Rfc822Size => w("RFC822.SIZE"),
        MessageDataItemName::Rfc822Text => w("RFC822.TEXT"),
        MessageDataItemName::Body => w("BODY"),
        MessageDataItemName::BodyStructure => w("BODYSTRUCTURE"),
        MessageDataItemName::Uid => w("UID"),
        MessageDataItemName::ModSeq => w("MODSEQ"),
        MessageDataItemName::BodyExt {
            section: s,
            partial,
            peek,
        } => l![
            w("BODYSECTION"),
            w(if *peek { "PEEK" } else { "READ" }),
            section(s.as_ref()),
            opt(partial.as_ref(), |(o, len)| l![n(*o), n(len.get())])
        ],
        MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. } => {
            return Err("BINARY (RFC 3516)");
        }
    })
}

fn section(s: Option<&Section>) -> Node {
    let part = |p: &imap_codec::imap_types::fetch::Part| {
        tagged("PART", p.0.as_ref().iter().map(|x| n(x.get())))
    };
    let fields = |name: &str, f: &imap_codec::imap_types::core::Vec1<_>| {
        tagged(
            name,
            f.as_ref()
                .iter()
                .map(|s: &imap_codec::imap_types::core::AString| b(s.as_ref())),
        )
    };
    let (p, spec) = match s {
        None => (Node::Nil, Node::Nil),
        Some(Section::Part(p)) => (part(p), Node::Nil),
        Some(Section::Header(p)) => (opt(p.as_ref(), part), w("HEADER")),
        Some(Section::HeaderFields(p, f)) => (opt(p.as_ref(), part), fields("HEADER.FIELDS", f)),
        Some(Section::HeaderFieldsNot(p, f)) => {
            (opt(p.as_ref(), part), fields("HEADER.FIELDS.NOT", f))
        }
        Some(Section::Text(p)) => (opt(p.as_ref(), part), w("TEXT")),
        Some(Section::Mime(p)) => (part(p), w("MIME")),
    };
    l![w("SECTION"), p, spec]
}

pub fn greeting(g: &Greeting) -> Proj {
    Ok(l![
        w("GREETING"),
        w(match g.kind {
            GreetingKind::Ok => "OK",
            GreetingKind::PreAuth => "PREAUTH",
            GreetingKind::Bye => "BYE",
        }),
        opt(g.code.as_ref(), code),
        l![w("TEXT"), b(g.text.inner())]
    ])
}

fn status_kind(k: &StatusKind) -> Node {
    w(match k {
        StatusKind::Ok => "OK",
        StatusKind::No => "NO",
        StatusKind::Bad => "BAD",
    })
}

pub fn response(r: &Response) -> Proj {
    Ok(match r {
        Response::Status(Status::Tagged(t)) => l![
            w("TAGGED"),
            b(t.tag.inner()),
            status_kind(&t.body.kind),
            opt(t.body.code.as_ref(), code),
            l![w("TEXT"), b(t.body.text.inner())]
        ],
        Response::Status(Status::Untagged(s)) => l![
            w("UNTAGGED"),
            status_kind(&s.kind),
            opt(s.code.as_ref(), code),
            l![w("TEXT"), b(s.text.inner())]
        ],
        Response::Status(Status::Bye(s)) => l![
            w("BYE"),
            opt(s.code.as_ref(), code),
            l![w("TEXT"), b(s.text.inner())]
        ],
        Response::CommandContinuationRequest(CommandContinuationRequest::Basic(c)) => l![
            w("CONTINUE"),
            opt(c.code(), code),
            l![w("TEXT"), b(c.text().inner())]
        ],
        Response::CommandContinuationRequest(CommandContinuationRequest::Base64(d)) => {
            use base64::Engine;
            let text = base64::engine::general_purpose::STANDARD.encode(d);
            l![w("CONTINUE"), Node::Nil, l![w("TEXT"), b(text)]]
        }
        Response::Data(d) => data(d)?,
    })
}

fn data(d: &Data) -> Proj {
    Ok(match d {
        Data::Capability(c) => tagged("CAPABILITY", c.as_ref().iter().map(|c| w(c.to_string()))),
        Data::Enabled { capabilities } => {
            tagged("ENABLED", capabilities.iter().map(|c| w(c.to_string())))
        }
        Data::Flags(f) => flag_list(f),
        Data::List {
            items,
            delimiter,
            mailbox: m,
        } => l![
            w("LIST"),
            tagged("ATTRS", items.iter().map(|a| w(a.to_string()))),
            opt(delimiter.as_ref(), |c| n(u32::from(c.inner()))),
            mailbox(m)
        ],
        Data::Status { mailbox: m, items } => l![
            w("STATUS"),
            mailbox(m),
            tagged(
                "ITEMS",
                collect(items.iter().map(|i| Ok(match i {
                    StatusDataItem::Messages(v) => l![w("MESSAGES"), n(*v)],
                    StatusDataItem::Recent(v) => l![w("RECENT"), n(*v)],
                    StatusDataItem::UidNext(v) => l![w("UIDNEXT"), n(v.get())],
                    StatusDataItem::UidValidity(v) => l![w("UIDVALIDITY"), n(v.get())],
                    StatusDataItem::Unseen(v) => l![w("UNSEEN"), n(*v)],
                    StatusDataItem::HighestModSeq(v) => l![w("HIGHESTMODSEQ"), n(*v)],
                    _ => return Err("a STATUS item of RFC 9051 or RFC 8438"),
                })))?
            )
        ],
        Data::Search(ids, mod_seq) => l![
            w("SEARCH"),
            tagged("IDS", ids.iter().map(|i| n(i.get()))),
            opt(mod_seq.as_ref(), |m| n(m.get()))
        ],
        Data::Exists(v) => l![w("EXISTS"), n(*v)],
        Data::Recent(v) => l![w("RECENT"), n(*v)],
        Data::Expunge(v) => l![w("EXPUNGE"), n(v.get())],
        Data::Fetch { seq, items } => {
            let mut v = vec![w("FETCH"), n(seq.get())];
            v.extend(collect(items.as_ref().iter().map(fetch_item))?);
            Node::List(v)
        }
        Data::Vanished {
            earlier,
            known_uids,
        } => l![
            w("VANISHED"),
            w(if *earlier { "EARLIER" } else { "NOW" }),
            sequence_set(known_uids)
        ],
        Data::Lsub { .. } => return Err("LSUB"),
        Data::Sort(..) => return Err("SORT"),
        Data::Thread(..) => return Err("THREAD"),
        Data::Quota { .. } | Data::QuotaRoot { .. } => return Err("QUOTA"),
        #[allow(unreachable_patterns)]
        _ => return Err("response data of an extension only imap-codec implements"),
    })
}

fn fetch_item(i: &MessageDataItem) -> Proj {
    Ok(match i {
        MessageDataItem::Flags(f) => tagged(
            "FLAGS",
            f.iter().map(|f| match f {
                FlagFetch::Flag(f) => flag(f),
                FlagFetch::Recent => w("\\Recent"),
            }),
        ),
        MessageDataItem::Envelope(e) => l![w("ENVELOPE"), envelope(e)],
        MessageDataItem::InternalDate(d) => l![w("INTERNALDATE"), date_time(d)],
        MessageDataItem::Rfc822(s) => l![w("RFC822"), nstring(s)],
        MessageDataItem::Rfc822Header(s) => l![w("RFC822.HEADER"), nstring(s)],
        MessageDataItem::Rfc822Text(s) => l![w("RFC822.TEXT"), nstring(s)],
        MessageDataItem::Rfc822Size(v) => l![w("RFC822.SIZE"), n(*v)],
        MessageDataItem::Body(x) => l![w("BODY"), body(x)],
        MessageDataItem::BodyStructure(x) => l![w("BODYSTRUCTURE"), body(x)],
        MessageDataItem::BodyExt {
            section: s,
            origin,
            data,
        } => l![
            w("BODYSECTION"),
            section(s.as_ref()),
            opt(*origin, n),
            nstring(data)
        ],
        MessageDataItem::Uid(v) => l![w("UID"), n(v.get())],
        MessageDataItem::ModSeq(v) => l![w("MODSEQ"), n(v.get())],
        MessageDataItem::Binary { .. } | MessageDataItem::BinarySize { .. } => {
            return Err("BINARY (RFC 3516)");
        }
    })
}

envelope_projection!();

fn params(p: &[(IString, IString)]) -> Node {
    tagged("PARAMS", p.iter().map(|(k, v)| l![istring(k), istring(v)]))
}

fn body_extension(x: &BodyExtension) -> Node {
    match x {
        BodyExtension::NString(s) => nstring(s),
        BodyExtension::Number(v) => n(*v),
        BodyExtension::List(v) => tagged("BEXT", v.as_ref().iter().map(body_extension)),
    }
}

fn ext_tail(t: &Option<Disposition>) -> Node {
    opt(t.as_ref(), |t| {
        l![
            w("DSP"),
            opt(t.disposition.as_ref(), |(s, p)| l![istring(s), params(p)]),
            opt(t.tail.as_ref(), |lang| l![
                w("LANG"),
                Node::List(lang.language.iter().map(istring).collect()),
                opt(lang.tail.as_ref(), |loc| l![
                    w("LOC"),
                    nstring(&loc.location),
                    tagged("EXTS", loc.extensions.iter().map(body_extension))
                ])
            ])
        ]
    })
}

fn body(x: &BodyStructure) -> Node {
    match x {
        BodyStructure::Single {
            body: single,
            extension_data,
        } => {
            let f = &single.basic;
            l![
                w("SINGLE"),
                match &single.specific {
                    SpecificFields::Basic { r#type, subtype } => {
                        l![w("BASIC"), istring(r#type), istring(subtype)]
                    }
                    SpecificFields::Message {
                        envelope: e,
                        body_structure,
                        number_of_lines,
                    } => l![
                        w("MESSAGE"),
                        w("RFC822"),
                        envelope(e),
                        body(body_structure),
                        n(*number_of_lines)
                    ],
                    SpecificFields::Text {
                        subtype,
                        number_of_lines,
                    } => l![w("TEXTPART"), istring(subtype), n(*number_of_lines)],
                },
                l![
                    w("FIELDS"),
                    params(&f.parameter_list),
                    nstring(&f.id),
                    nstring(&f.description),
                    istring(&f.content_transfer_encoding),
                    n(f.size)
                ],
                opt(extension_data.as_ref(), |x| l![
                    w("EXT1"),
                    nstring(&x.md5),
                    ext_tail(&x.tail)
                ])
            ]
        }
        BodyStructure::Multi {
            bodies,
            subtype,
            extension_data,
        } => l![
            w("MULTI"),
            tagged("PARTS", bodies.as_ref().iter().map(body)),
            istring(subtype),
            opt(extension_data.as_ref(), |x| l![
                w("EXTM"),
                params(&x.parameter_list),
                ext_tail(&x.tail)
            ])
        ],
    }
}

fn code(c: &Code) -> Node {
    if let Some(node) = simple_code!(c) {
        return node;
    }
    let other = |name: &str| l![w("OTHER"), w(name), Node::Nil];
    match c {
        Code::BadCharset { allowed } => tagged(
            "BADCHARSET",
            allowed.iter().map(|s| b(AsRef::<str>::as_ref(s))),
        ),
        Code::Capability(v) => tagged("CAPABILITY", v.as_ref().iter().map(|c| w(c.to_string()))),
        Code::PermanentFlags(v) => tagged(
            "PERMANENTFLAGS",
            v.iter().map(|f| match f {
                FlagPerm::Flag(f) => flag(f),
                FlagPerm::Asterisk => w("\\*"),
            }),
        ),
        Code::HighestModSeq(v) => l![w("HIGHESTMODSEQ"), n(v.get())],
        Code::Modified(s) => l![w("MODIFIED"), sequence_set(s)],
        Code::AppendUid { uid_validity, uid } => l![
            w("APPENDUID"),
            n(uid_validity.get()),
            tagged("SET", [n(uid.get())])
        ],
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
        // Codes imap-codec models and this codec keeps verbatim.
        Code::CompressionActive => other("COMPRESSIONACTIVE"),
        Code::OverQuota => other("OVERQUOTA"),
        Code::TooBig => other("TOOBIG"),
        Code::UnknownCte => other("UNKNOWN-CTE"),
        Code::Other(o) => {
            let raw = o.inner();
            match raw.iter().position(|&c| c == b' ') {
                Some(sp) => l![
                    w("OTHER"),
                    w(String::from_utf8_lossy(&raw[..sp])),
                    b(&raw[sp + 1..])
                ],
                None => l![w("OTHER"), w(String::from_utf8_lossy(raw)), Node::Nil],
            }
        }
        #[allow(unreachable_patterns)]
        _ => l![w("OTHER"), w("(an imap-codec extension code)"), Node::Nil],
    }
}
