//! `quickcheck::Arbitrary` for every command and response type (feature
//! `quickcheck`). Generated values are valid by construction and lean
//! towards the awkward cases: empty strings, octets that force literals,
//! `INBOX` in odd case, system-flag look-alikes.

// Generators pick from non-empty constant tables; indexing cannot fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroU32;

use quickcheck::{Arbitrary, Gen};

use crate::command::*;
use crate::response::*;
use crate::types::*;
use crate::xaps::*;

fn pick<T: Clone>(g: &mut Gen, v: &[T]) -> T {
    g.choose(v).unwrap().clone()
}

fn small(g: &mut Gen, max: usize) -> usize {
    usize::arbitrary(g) % (max + 1)
}

fn nz(g: &mut Gen) -> NonZeroU32 {
    let v = match small(g, 3) {
        0 => 1,
        1 => u32::MAX,
        _ => u32::arbitrary(g),
    };
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

/// A mod-sequence: 63 bits (RFC 7162 §7), zero included.
fn u64v(g: &mut Gen) -> u64 {
    match small(g, 3) {
        0 => 0,
        1 => MAX_MOD_SEQUENCE,
        _ => u64::arbitrary(g) & MAX_MOD_SEQUENCE,
    }
}

const ATOMS: &[&str] = &[
    "a",
    "X",
    "NIL",
    "Seen",
    "Recent",
    "INBOX",
    "$Forwarded",
    "Junk",
    "A001",
    "foo.bar",
    "x-y",
    "AUTH=PLAIN",
    "IMAP4rev1",
    "CONDSTORE",
    "QRESYNC",
    "[weird",
    "1",
    "0",
];

fn atom(g: &mut Gen) -> Atom {
    if bool::arbitrary(g) {
        return Atom::new(pick(g, ATOMS)).unwrap();
    }
    let len = 1 + small(g, 8);
    let s: String = (0..len)
        .map(|_| {
            let mut b = u8::arbitrary(g) % 0x7f;
            if !is_atom_char(b) {
                b = b'a' + b % 26;
            }
            b as char
        })
        .collect();
    Atom::new(s).unwrap()
}

fn istring(g: &mut Gen) -> IString {
    const SAMPLES: &[&[u8]] = &[
        b"",
        b"NIL",
        b"hello world",
        b"quote\"back\\slash",
        b"line\r\nbreak",
        b"\xc3\xa9t\xc3\xa9",
        b"{5}",
        b"]",
        b"INBOX",
        b"\x00nul",
        b"a(b)c",
    ];
    if bool::arbitrary(g) {
        return IString::new(pick(g, SAMPLES));
    }
    let len = small(g, 20);
    IString::new((0..len).map(|_| u8::arbitrary(g)).collect::<Vec<u8>>())
}

fn nstring(g: &mut Gen) -> NString {
    if small(g, 3) == 0 {
        None
    } else {
        Some(istring(g))
    }
}

fn text(g: &mut Gen) -> Text {
    const SAMPLES: &[&str] = &[
        "",
        "done",
        "SELECT completed",
        "é ünïcode",
        "a ] b",
        "{5}x",
        "+",
    ];
    if bool::arbitrary(g) {
        return Text::new(pick(g, SAMPLES)).unwrap();
    }
    let s: String = String::arbitrary(g)
        .chars()
        .filter(|&c| c != '\r' && c != '\n' && c != '\0')
        .take(30)
        .collect();
    let s = s.trim_start_matches('[').to_string();
    Text::new(s).unwrap()
}

fn mailbox(g: &mut Gen) -> Mailbox {
    const NAMES: &[&str] = &[
        "INBOX",
        "inbox",
        "Notes",
        "Sent Items",
        "a\"b",
        "日本語",
        "&",
        "",
        "x]",
    ];
    match small(g, 2) {
        0 => Mailbox::from_unicode(pick(g, NAMES)),
        1 => Mailbox::from(pick(g, NAMES)),
        _ => Mailbox::from_wire(istring(g).into_bytes()),
    }
}

fn seq_no(g: &mut Gen) -> SeqNo {
    if small(g, 4) == 0 {
        SeqNo::Largest
    } else {
        SeqNo::Value(nz(g))
    }
}

fn sequence_set(g: &mut Gen) -> SequenceSet {
    let n = 1 + small(g, 3);
    SequenceSet::new(
        (0..n)
            .map(|_| {
                if bool::arbitrary(g) {
                    SeqRange::Single(seq_no(g))
                } else {
                    SeqRange::Range(seq_no(g), seq_no(g))
                }
            })
            .collect(),
    )
    .unwrap()
}

fn uid_set(g: &mut Gen) -> UidSet {
    let n = 1 + small(g, 3);
    UidSet::new(
        (0..n)
            .map(|_| {
                if bool::arbitrary(g) {
                    UidRange::Single(nz(g))
                } else {
                    UidRange::Range(nz(g), nz(g))
                }
            })
            .collect(),
    )
    .unwrap()
}

fn flag(g: &mut Gen) -> Flag {
    match small(g, 8) {
        0 => Flag::Answered,
        1 => Flag::Flagged,
        2 => Flag::Deleted,
        3 => Flag::Seen,
        4 => Flag::Draft,
        5 => Flag::Recent,
        6 => Flag::Keyword(atom(g)),
        _ => Flag::system_or_extension(atom(g)),
    }
}

fn flags(g: &mut Gen) -> Vec<Flag> {
    (0..small(g, 4)).map(|_| flag(g)).collect()
}

fn capability(g: &mut Gen) -> Capability {
    Capability::from_atom(atom(g))
}

fn caps1(g: &mut Gen) -> Vec1<Capability> {
    Vec1::new((0..1 + small(g, 3)).map(|_| capability(g)).collect()).unwrap()
}

fn date_time(g: &mut Gen) -> DateTime {
    let zone = (small(g, 14) as i16 * 100 + (small(g, 1) as i16) * 30)
        * if bool::arbitrary(g) { -1 } else { 1 };
    let (year, month) = (small(g, 9999) as u16, 1 + small(g, 11) as u8);
    let day = 1 + small(g, usize::from(days_in_month(year, month)) - 1) as u8;
    DateTime::new(
        year,
        month,
        day,
        small(g, 23) as u8,
        small(g, 59) as u8,
        small(g, 60) as u8,
        zone,
    )
    .unwrap()
}

fn date(g: &mut Gen) -> Date {
    let (year, month) = (small(g, 9999) as u16, 1 + small(g, 11) as u8);
    let day = 1 + small(g, usize::from(days_in_month(year, month)) - 1) as u8;
    Date::new(year, month, day).unwrap()
}

fn vec1<T>(g: &mut Gen, max: usize, mut f: impl FnMut(&mut Gen) -> T) -> Vec1<T> {
    Vec1::new((0..1 + small(g, max)).map(|_| f(g)).collect()).unwrap()
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

fn section_text(g: &mut Gen) -> SectionText {
    match small(g, 2) {
        0 => SectionText::Header,
        1 => SectionText::Text,
        _ => SectionText::HeaderFields {
            not: bool::arbitrary(g),
            fields: vec1(g, 3, istring),
        },
    }
}

fn section(g: &mut Gen) -> Section {
    match small(g, 2) {
        0 => Section::Full,
        1 => Section::Text(section_text(g)),
        _ => Section::Part {
            part: vec1(g, 3, nz),
            text: match small(g, 2) {
                0 => None,
                1 => Some(PartText::Mime),
                _ => Some(PartText::Msg(section_text(g))),
            },
        },
    }
}

fn fetch_attribute(g: &mut Gen) -> FetchAttribute {
    match small(g, 11) {
        0 => FetchAttribute::Envelope,
        1 => FetchAttribute::Flags,
        2 => FetchAttribute::InternalDate,
        3 => FetchAttribute::Rfc822,
        4 => FetchAttribute::Rfc822Header,
        5 => FetchAttribute::Rfc822Size,
        6 => FetchAttribute::Rfc822Text,
        7 => FetchAttribute::Body,
        8 => FetchAttribute::BodyStructure,
        9 => FetchAttribute::Uid,
        10 => FetchAttribute::ModSeq,
        _ => FetchAttribute::BodySection {
            peek: bool::arbitrary(g),
            section: section(g),
            partial: if bool::arbitrary(g) {
                Some((u32::arbitrary(g), nz(g)))
            } else {
                None
            },
        },
    }
}

fn search_key(g: &mut Gen, depth: usize) -> SearchKey {
    let max = if depth >= 3 { 33 } else { 37 };
    match small(g, max) {
        0 => SearchKey::All,
        1 => SearchKey::Answered,
        2 => SearchKey::Bcc(istring(g)),
        3 => SearchKey::Before(date(g)),
        4 => SearchKey::Body(istring(g)),
        5 => SearchKey::Cc(istring(g)),
        6 => SearchKey::Deleted,
        7 => SearchKey::Draft,
        8 => SearchKey::Flagged,
        9 => SearchKey::From(istring(g)),
        10 => SearchKey::Header(istring(g), istring(g)),
        11 => SearchKey::Keyword(atom(g)),
        12 => SearchKey::Larger(u32::arbitrary(g)),
        13 => SearchKey::New,
        14 => SearchKey::Old,
        15 => SearchKey::On(date(g)),
        16 => SearchKey::Recent,
        17 => SearchKey::Seen,
        18 => SearchKey::SentBefore(date(g)),
        19 => SearchKey::SentOn(date(g)),
        20 => SearchKey::SentSince(date(g)),
        21 => SearchKey::Since(date(g)),
        22 => SearchKey::Smaller(u32::arbitrary(g)),
        23 => SearchKey::Subject(istring(g)),
        24 => SearchKey::Text(istring(g)),
        25 => SearchKey::To(istring(g)),
        26 => SearchKey::Uid(sequence_set(g)),
        27 => SearchKey::Unanswered,
        28 => SearchKey::Undeleted,
        29 => SearchKey::Undraft,
        30 => SearchKey::Unflagged,
        31 => SearchKey::Unkeyword(atom(g)),
        32 => SearchKey::SequenceSet(sequence_set(g)),
        33 => SearchKey::ModSeq {
            entry: if bool::arbitrary(g) {
                Some((
                    istring(g),
                    pick(g, &[EntryType::Private, EntryType::Shared, EntryType::All]),
                ))
            } else {
                None
            },
            mod_seq: u64v(g),
        },
        34 => SearchKey::Not(Box::new(search_key(g, depth + 1))),
        35 => SearchKey::Or(
            Box::new(search_key(g, depth + 1)),
            Box::new(search_key(g, depth + 1)),
        ),
        36 => SearchKey::And(vec1(g, 2, |g| search_key(g, depth + 1))),
        _ => SearchKey::Unseen,
    }
}

fn xaps_registration(g: &mut Gen) -> XapsRegistration {
    const KEYS: &[&str] = &[
        "aps-version",
        "APS-ACCOUNT-ID",
        "aps-device-token",
        "aps-subtopic",
        "mailboxes",
        "x-new",
    ];
    XapsRegistration {
        params: vec1(g, 5, |g| XapsParam {
            key: if bool::arbitrary(g) {
                IString::from(pick(g, KEYS))
            } else {
                istring(g)
            },
            value: if bool::arbitrary(g) {
                XapsValue::String(istring(g))
            } else {
                XapsValue::List((0..small(g, 3)).map(|_| istring(g)).collect())
            },
        }),
    }
}

fn command_body(g: &mut Gen) -> CommandBody {
    let uid = bool::arbitrary(g);
    match small(g, 30) {
        0 => CommandBody::Capability,
        1 => CommandBody::Noop,
        2 => CommandBody::Logout,
        3 => CommandBody::StartTls,
        4 => CommandBody::Authenticate {
            mechanism: atom(g),
            initial_response: if bool::arbitrary(g) {
                Some(istring(g).into_bytes())
            } else {
                None
            },
        },
        5 => CommandBody::Login {
            username: istring(g),
            password: istring(g),
        },
        6 => CommandBody::Enable(caps1(g)),
        7 => CommandBody::Select {
            examine: bool::arbitrary(g),
            mailbox: mailbox(g),
            params: (0..small(g, 2))
                .map(|_| {
                    if bool::arbitrary(g) {
                        SelectParam::CondStore
                    } else {
                        SelectParam::QResync(QResync {
                            uid_validity: nz(g),
                            mod_seq: u64v(g),
                            known_uids: if bool::arbitrary(g) {
                                Some(sequence_set(g))
                            } else {
                                None
                            },
                            seq_match: if bool::arbitrary(g) {
                                Some((sequence_set(g), sequence_set(g)))
                            } else {
                                None
                            },
                        })
                    }
                })
                .collect(),
        },
        8 => CommandBody::Create(mailbox(g)),
        9 => CommandBody::Delete(mailbox(g)),
        10 => CommandBody::Rename {
            from: mailbox(g),
            to: mailbox(g),
        },
        11 => CommandBody::Subscribe(mailbox(g)),
        12 => CommandBody::Unsubscribe(mailbox(g)),
        13 => CommandBody::List {
            reference: mailbox(g),
            pattern: if bool::arbitrary(g) {
                IString::from(pick(g, &["*", "%", "Notes/%", ""]))
            } else {
                istring(g)
            },
        },
        14 => CommandBody::Status {
            mailbox: mailbox(g),
            items: vec1(g, 5, |g| {
                pick(
                    g,
                    &[
                        StatusAttribute::Messages,
                        StatusAttribute::Recent,
                        StatusAttribute::UidNext,
                        StatusAttribute::UidValidity,
                        StatusAttribute::Unseen,
                        StatusAttribute::HighestModSeq,
                    ],
                )
            }),
        },
        15 => CommandBody::Append {
            mailbox: mailbox(g),
            flags: if bool::arbitrary(g) {
                Some(flags(g))
            } else {
                None
            },
            date: if bool::arbitrary(g) {
                Some(date_time(g))
            } else {
                None
            },
            message: istring(g).into_bytes(),
            synchronizing: bool::arbitrary(g),
        },
        16 => CommandBody::Check,
        17 => CommandBody::Close,
        18 => CommandBody::Unselect,
        19 => CommandBody::Expunge,
        20 => CommandBody::UidExpunge(sequence_set(g)),
        21 => CommandBody::Search {
            uid,
            charset: if bool::arbitrary(g) {
                Some(istring(g))
            } else {
                None
            },
            criteria: vec1(g, 3, |g| search_key(g, 0)),
        },
        22 => CommandBody::Fetch {
            uid,
            set: sequence_set(g),
            attributes: match small(g, 3) {
                0 => FetchAttributes::All,
                1 => FetchAttributes::Fast,
                2 => FetchAttributes::Full,
                _ => FetchAttributes::List(vec1(g, 4, fetch_attribute)),
            },
            changed_since: if bool::arbitrary(g) {
                Some(u64v(g))
            } else {
                None
            },
            vanished: bool::arbitrary(g),
        },
        23 => CommandBody::Store {
            uid,
            set: sequence_set(g),
            unchanged_since: if bool::arbitrary(g) {
                Some(u64v(g))
            } else {
                None
            },
            kind: pick(g, &[StoreKind::Replace, StoreKind::Add, StoreKind::Remove]),
            silent: bool::arbitrary(g),
            flags: flags(g),
        },
        24 => CommandBody::Copy {
            uid,
            set: sequence_set(g),
            mailbox: mailbox(g),
        },
        25 => CommandBody::Move {
            uid,
            set: sequence_set(g),
            mailbox: mailbox(g),
        },
        26 => CommandBody::Idle,
        _ => CommandBody::XApplePushService(xaps_registration(g)),
    }
}

fn tag(g: &mut Gen) -> Tag {
    const TAGS: &[&str] = &["a1", "A001", "x]", "*tag", "1", "abc.def"];
    let t = pick(g, TAGS);
    Tag::new(t.trim_start_matches('*')).unwrap()
}

impl Arbitrary for Command {
    fn arbitrary(g: &mut Gen) -> Self {
        Command {
            tag: tag(g),
            body: command_body(g),
        }
    }
}

impl Arbitrary for AuthenticateData {
    fn arbitrary(g: &mut Gen) -> Self {
        if small(g, 4) == 0 {
            AuthenticateData::Cancel
        } else {
            AuthenticateData::Continue(istring(g).into_bytes())
        }
    }
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

fn code(g: &mut Gen) -> Code {
    match small(g, 18) {
        0 => Code::Alert,
        1 => Code::BadCharset((0..small(g, 2)).map(|_| istring(g)).collect()),
        2 => Code::Capability(caps1(g)),
        3 => Code::Parse,
        4 => Code::PermanentFlags(
            (0..small(g, 3))
                .map(|_| {
                    if small(g, 3) == 0 {
                        FlagPerm::Wildcard
                    } else {
                        FlagPerm::Flag(flag(g))
                    }
                })
                .collect(),
        ),
        5 => Code::ReadOnly,
        6 => Code::ReadWrite,
        7 => Code::TryCreate,
        8 => Code::UidNext(nz(g)),
        9 => Code::UidValidity(nz(g)),
        10 => Code::Unseen(nz(g)),
        11 => Code::HighestModSeq(u64v(g)),
        12 => Code::NoModSeq,
        13 => Code::Modified(sequence_set(g)),
        14 => Code::AppendUid {
            uid_validity: nz(g),
            uids: uid_set(g),
        },
        15 => Code::CopyUid {
            uid_validity: nz(g),
            source: uid_set(g),
            destination: uid_set(g),
        },
        16 => Code::Closed,
        17 => Code::UidNotSticky,
        _ => {
            let name = pick(g, &["LIMIT", "X-FOO", "OVERQUOTA", "REFERRAL"]);
            let t = if bool::arbitrary(g) {
                Some(pick(g, &["some text", "x", "[a"]).to_string())
            } else {
                None
            };
            Code::Other(OtherCode::new(Atom::new(name).unwrap(), t).unwrap())
        }
    }
}

fn resp_text(g: &mut Gen) -> RespText {
    RespText {
        code: if bool::arbitrary(g) {
            Some(code(g))
        } else {
            None
        },
        text: text(g),
    }
}

fn status(g: &mut Gen) -> Status {
    Status {
        kind: pick(g, &[StatusKind::Ok, StatusKind::No, StatusKind::Bad]),
        text: resp_text(g),
    }
}

fn address(g: &mut Gen) -> Address {
    Address {
        name: nstring(g),
        adl: nstring(g),
        mailbox: nstring(g),
        host: nstring(g),
    }
}

fn addresses(g: &mut Gen) -> Vec<Address> {
    (0..small(g, 2)).map(|_| address(g)).collect()
}

fn envelope(g: &mut Gen) -> Envelope {
    Envelope {
        date: nstring(g),
        subject: nstring(g),
        from: addresses(g),
        sender: addresses(g),
        reply_to: addresses(g),
        to: addresses(g),
        cc: addresses(g),
        bcc: addresses(g),
        in_reply_to: nstring(g),
        message_id: nstring(g),
    }
}

fn params(g: &mut Gen) -> Vec<(IString, IString)> {
    (0..small(g, 2)).map(|_| (istring(g), istring(g))).collect()
}

fn body_extension(g: &mut Gen, depth: usize) -> BodyExtension {
    match small(g, if depth > 2 { 1 } else { 2 }) {
        0 => BodyExtension::NString(nstring(g)),
        1 => BodyExtension::Number(u32::arbitrary(g)),
        _ => BodyExtension::List(vec1(g, 2, |g| body_extension(g, depth + 1))),
    }
}

fn ext_tail(g: &mut Gen) -> Option<ExtTail> {
    if bool::arbitrary(g) {
        return None;
    }
    Some(ExtTail {
        disposition: if bool::arbitrary(g) {
            Some((istring(g), params(g)))
        } else {
            None
        },
        lang: if bool::arbitrary(g) {
            None
        } else {
            Some(LangTail {
                lang: if bool::arbitrary(g) {
                    Lang::Single(nstring(g))
                } else {
                    Lang::List(vec1(g, 2, istring))
                },
                location: if bool::arbitrary(g) {
                    None
                } else {
                    Some((
                        nstring(g),
                        (0..small(g, 2)).map(|_| body_extension(g, 0)).collect(),
                    ))
                },
            })
        },
    })
}

fn body(g: &mut Gen, depth: usize) -> Body {
    if depth < 2 && small(g, 3) == 0 {
        return Body::Multi {
            parts: vec1(g, 2, |g| body(g, depth + 1)),
            subtype: IString::from(pick(g, &["MIXED", "alternative", ""])),
            ext: if bool::arbitrary(g) {
                Some(MultiExt {
                    params: params(g),
                    tail: ext_tail(g),
                })
            } else {
                None
            },
        };
    }
    let kind = match small(g, if depth < 2 { 2 } else { 1 }) {
        0 => SingleKind::Basic {
            media_type: IString::from(pick(g, &["APPLICATION", "image", "TEXT", "MESSAGE", "x"])),
            subtype: IString::from(pick(g, &["PDF", "png", "RFC822", "plain"])),
        },
        1 => SingleKind::Text {
            subtype: IString::from(pick(g, &["PLAIN", "html"])),
            lines: u32::arbitrary(g),
        },
        _ => SingleKind::Message {
            subtype: IString::from(pick(g, &["RFC822", "global"])),
            envelope: Box::new(envelope(g)),
            body: Box::new(body(g, depth + 1)),
            lines: u32::arbitrary(g),
        },
    };
    Body::Single {
        kind,
        fields: BodyFields {
            params: params(g),
            id: nstring(g),
            description: nstring(g),
            encoding: IString::from(pick(g, &["7BIT", "base64", "QUOTED-PRINTABLE"])),
            octets: u32::arbitrary(g),
        },
        ext: if bool::arbitrary(g) {
            Some(SingleExt {
                md5: nstring(g),
                tail: ext_tail(g),
            })
        } else {
            None
        },
    }
}

fn fetch_item(g: &mut Gen) -> FetchItem {
    match small(g, 11) {
        0 => FetchItem::Flags(flags(g)),
        1 => FetchItem::Envelope(Box::new(envelope(g))),
        2 => FetchItem::InternalDate(date_time(g)),
        3 => FetchItem::Rfc822(nstring(g)),
        4 => FetchItem::Rfc822Header(nstring(g)),
        5 => FetchItem::Rfc822Text(nstring(g)),
        6 => FetchItem::Rfc822Size(u32::arbitrary(g)),
        7 => FetchItem::Body(Box::new(body(g, 0))),
        8 => FetchItem::BodyStructure(Box::new(body(g, 0))),
        9 => FetchItem::BodySection {
            section: section(g),
            origin: if bool::arbitrary(g) {
                Some(u32::arbitrary(g))
            } else {
                None
            },
            data: nstring(g),
        },
        10 => FetchItem::Uid(nz(g)),
        _ => FetchItem::ModSeq(u64v(g)),
    }
}

fn data(g: &mut Gen) -> Data {
    match small(g, 16) {
        0 => Data::Status(status(g)),
        1 => Data::PreAuth(resp_text(g)),
        2 => Data::Bye(resp_text(g)),
        3 => Data::Capability(caps1(g)),
        4 => Data::Enabled((0..small(g, 2)).map(|_| capability(g)).collect()),
        5 => Data::Flags(flags(g)),
        6 => Data::List {
            attributes: (0..small(g, 3)).map(|_| atom(g)).collect(),
            delimiter: pick(g, &[None, Some(b'/'), Some(b'.'), Some(b'"'), Some(b'\\')]),
            mailbox: mailbox(g),
        },
        7 => Data::MailboxStatus {
            mailbox: mailbox(g),
            items: (0..small(g, 4))
                .map(|_| match small(g, 5) {
                    0 => StatusItem::Messages(u32::arbitrary(g)),
                    1 => StatusItem::Recent(u32::arbitrary(g)),
                    2 => StatusItem::UidNext(u32::arbitrary(g)),
                    3 => StatusItem::UidValidity(u32::arbitrary(g)),
                    4 => StatusItem::Unseen(u32::arbitrary(g)),
                    _ => StatusItem::HighestModSeq(u64v(g)),
                })
                .collect(),
        },
        8 => Data::Search {
            ids: (0..small(g, 4)).map(|_| nz(g)).collect(),
            mod_seq: if bool::arbitrary(g) {
                Some(u64v(g))
            } else {
                None
            },
        },
        9 => Data::Exists(u32::arbitrary(g)),
        10 => Data::Recent(u32::arbitrary(g)),
        11 => Data::Expunge(nz(g)),
        12 | 13 => Data::Fetch {
            seq: nz(g),
            items: vec1(g, 4, fetch_item),
        },
        14 => Data::Vanished {
            earlier: bool::arbitrary(g),
            uids: uid_set(g),
        },
        15 => Data::XApplePushService(XapsResponse::Mailbox(istring(g))),
        _ => Data::XApplePushService(XapsResponse::Version {
            version: NonZeroU32::new(1 + small(g, 3) as u32).unwrap_or(NonZeroU32::MIN),
            topic: istring(g),
        }),
    }
}

impl Arbitrary for Response {
    fn arbitrary(g: &mut Gen) -> Self {
        match small(g, 5) {
            0 => Response::Tagged {
                tag: tag(g),
                status: status(g),
            },
            1 => Response::Continue(resp_text(g)),
            _ => Response::Data(data(g)),
        }
    }
}

impl Arbitrary for Greeting {
    fn arbitrary(g: &mut Gen) -> Self {
        Greeting {
            kind: pick(
                g,
                &[GreetingKind::Ok, GreetingKind::PreAuth, GreetingKind::Bye],
            ),
            text: resp_text(g),
        }
    }
}

impl Arbitrary for Mailbox {
    fn arbitrary(g: &mut Gen) -> Self {
        mailbox(g)
    }
}

impl Arbitrary for SequenceSet {
    fn arbitrary(g: &mut Gen) -> Self {
        sequence_set(g)
    }
}
