#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Known-answer tests from the RFC examples, and replays of complete RFC
//! example sessions: every client line decodes as a command (or as the
//! DONE / AUTHENTICATE continuation it is), every server line as a
//! greeting or response, consuming exactly the bytes of the session, and
//! every decoded value survives encode → decode and the split-input
//! property.

use std::num::NonZeroU32;

use mailpush_imap::fuzzing::split_property;
use mailpush_imap::*;

mod common;
use common::transcripts::{self, Sides};

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn cmd(s: &str) -> Command {
    match Command::decode(s.as_bytes()) {
        Decoded::Complete(c, n) => {
            assert_eq!(n, s.len(), "trailing bytes in {s:?}");
            c
        }
        other => panic!("{s:?} → {other:?}"),
    }
}

fn check<T: Decode + Encode + PartialEq + std::fmt::Debug>(msg: &[u8], v: &T) {
    split_property::<T>(msg, v);
    let enc = v.to_bytes();
    match T::decode(&enc) {
        Decoded::Complete(w, n) => {
            assert_eq!(n, enc.len());
            assert_eq!(&w, v);
        }
        other => panic!("re-encoded {:?} → {other:?}", String::from_utf8_lossy(&enc)),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum ClientMode {
    Commands,
    Idle,
    Authenticate,
}

/// Replays a transcript (see `tests/transcripts/README.md`): every client
/// message decodes as a command (or as the DONE / AUTHENTICATE line it is),
/// every server message as a greeting or response, consuming exactly the
/// octets of the transcript.
fn replay(transcript: &str) -> (Vec<Command>, Vec<Response>) {
    let Sides {
        client,
        server,
        server_first,
    } = transcripts::sides(transcript);

    let mut commands = Vec::new();
    let mut mode = ClientMode::Commands;
    let mut at = 0;
    while at < client.len() {
        let rest = &client[at..];
        let used = match mode {
            ClientMode::Commands => {
                let Decoded::Complete(c, n) = Command::decode(rest) else {
                    panic!(
                        "client bytes at {at}: {:?} → {:?}",
                        String::from_utf8_lossy(rest),
                        Command::decode(rest)
                    );
                };
                check(&rest[..n], &c);
                mode = match &c.body {
                    CommandBody::Idle => ClientMode::Idle,
                    CommandBody::Authenticate {
                        initial_response: None,
                        ..
                    } => ClientMode::Authenticate,
                    _ => ClientMode::Commands,
                };
                commands.push(c);
                n
            }
            ClientMode::Idle => {
                let Decoded::Complete(d, n) = IdleDone::decode(rest) else {
                    panic!("expected DONE at {at}")
                };
                check(&rest[..n], &d);
                mode = ClientMode::Commands;
                n
            }
            ClientMode::Authenticate => {
                let Decoded::Complete(d, n) = AuthenticateData::decode(rest) else {
                    panic!("expected SASL line at {at}")
                };
                check(&rest[..n], &d);
                mode = ClientMode::Commands;
                n
            }
        };
        at += used;
    }

    let mut responses = Vec::new();
    let mut at = 0;
    if server_first {
        let Decoded::Complete(g, n) = Greeting::decode(&server) else {
            panic!("greeting")
        };
        check(&server[..n], &g);
        at = n;
    }
    while at < server.len() {
        let rest = &server[at..];
        let Decoded::Complete(r, n) = Response::decode(rest) else {
            panic!(
                "server bytes at {at}: {:?} → {:?}",
                String::from_utf8_lossy(rest),
                Response::decode(rest)
            );
        };
        check(&rest[..n], &r);
        responses.push(r);
        at += n;
    }
    (commands, responses)
}

/// RFC 3501 §8: the sample IMAP4rev1 connection.
#[test]
fn rfc3501_sample_session() {
    let header = "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\nFrom: Terry Gray <gray@cac.washington.edu>\r\nSubject: IMAP4rev1 WG mtg summary and minutes\r\n\r\n";
    let (commands, responses) = replay(&transcripts::load("rfc3501-sample-session.txt"));
    assert_eq!(commands.len(), 6);
    assert_eq!(
        commands[0].body,
        CommandBody::Login {
            username: "mrc".into(),
            password: "secret".into()
        }
    );
    assert_eq!(
        commands[1].body,
        CommandBody::Select {
            examine: false,
            mailbox: Mailbox::Inbox,
            params: vec![]
        }
    );
    assert!(matches!(
        commands[2].body,
        CommandBody::Fetch {
            attributes: FetchAttributes::Full,
            ..
        }
    ));
    assert_eq!(
        commands[4].body,
        CommandBody::Store {
            uid: false,
            set: SequenceSet::single(nz(12)),
            unchanged_since: None,
            kind: StoreKind::Add,
            silent: false,
            flags: vec![Flag::Deleted],
        }
    );
    let Response::Data(Data::Fetch { seq, items }) = &responses[7] else {
        panic!("{:?}", responses[7])
    };
    assert_eq!(*seq, nz(12));
    let FetchItem::Envelope(env) = &items[3] else {
        panic!()
    };
    assert_eq!(
        env.subject.as_ref().unwrap().as_bytes(),
        b"IMAP4rev1 WG mtg summary and minutes"
    );
    assert_eq!(env.cc.len(), 2);
    assert_eq!(env.cc[1].name.as_ref().unwrap().as_bytes(), b"John Klensin");
    let FetchItem::Body(body) = &items[4] else {
        panic!()
    };
    assert!(matches!(
        **body,
        Body::Single {
            kind: SingleKind::Text { lines: 92, .. },
            ext: None,
            ..
        }
    ));
    let Response::Data(Data::Fetch { items, .. }) = &responses[9] else {
        panic!()
    };
    let FetchItem::BodySection {
        section: Section::Text(SectionText::Header),
        data: Some(d),
        origin: None,
    } = &items[0]
    else {
        panic!("{:?}", items[0])
    };
    assert_eq!(d.as_bytes(), header.as_bytes());
    assert!(matches!(
        &responses[6],
        Response::Tagged {
            status: Status {
                kind: StatusKind::Ok,
                text: RespText {
                    code: Some(Code::ReadWrite),
                    ..
                }
            },
            ..
        }
    ));
}

/// RFC 7162 §3.2.5.2 and §3.2.6: QRESYNC resynchronisation, VANISHED
/// (EARLIER), CHANGEDSINCE … VANISHED.
#[test]
fn rfc7162_qresync_session() {
    let (commands, responses) = replay(&transcripts::load("rfc7162-qresync.txt"));
    let CommandBody::Select { params, .. } = &commands[1].body else {
        panic!()
    };
    let [SelectParam::QResync(q)] = params.as_slice() else {
        panic!("{params:?}")
    };
    assert_eq!(q.uid_validity, nz(67890007));
    assert_eq!(q.mod_seq, 20050715194045000);
    assert_eq!(q.known_uids.as_ref().unwrap().ranges().len(), 3);
    assert!(q.seq_match.is_none());
    let CommandBody::Select { params, .. } = &commands[2].body else {
        panic!()
    };
    let [SelectParam::QResync(q)] = params.as_slice() else {
        panic!()
    };
    let (seqs, uids) = q.seq_match.as_ref().unwrap();
    assert_eq!(seqs.ranges().len(), 4);
    assert_eq!(uids.ranges().len(), 6);
    assert_eq!(
        commands[3].body,
        CommandBody::Fetch {
            uid: true,
            set: SequenceSet::range(nz(300), nz(500)),
            attributes: FetchAttributes::List(Vec1::one(FetchAttribute::Flags)),
            changed_since: Some(12345),
            vanished: true,
        }
    );
    assert_eq!(
        responses[0],
        Response::Data(Data::Enabled(vec![Capability::new("QRESYNC").unwrap()]))
    );
    assert!(matches!(
        &responses[2],
        Response::Data(Data::Status(Status {
            text: RespText {
                code: Some(Code::Closed),
                ..
            },
            ..
        }))
    ));
    let Response::Data(Data::Vanished {
        earlier: true,
        uids,
    }) = &responses[10]
    else {
        panic!("{:?}", responses[10])
    };
    let all: Vec<u32> = uids.uids_at_most(1000).unwrap();
    assert_eq!(all.len(), 1 + 74 + 1 + 92 + 327);
    assert_eq!(all[..3], [41, 43, 44]);
    assert_eq!(
        responses[11],
        Response::Data(Data::Fetch {
            seq: nz(49),
            items: Vec1::new(vec![
                FetchItem::Uid(nz(117)),
                FetchItem::Flags(vec![Flag::Seen, Flag::Answered]),
                FetchItem::ModSeq(20060115194045000),
            ])
            .unwrap(),
        })
    );
    assert!(matches!(
        &responses[9],
        Response::Data(Data::Status(Status {
            text: RespText {
                code: Some(Code::HighestModSeq(20060128194045007)),
                ..
            },
            ..
        }))
    ));
    assert!(matches!(
        &responses[21],
        Response::Data(Data::Vanished { earlier: false, .. })
    ));
}

/// RFC 7162 §3.1.3 (conditional STORE), §3.1.5 (SEARCH MODSEQ), §3.1.2.2
/// (NOMODSEQ), STATUS HIGHESTMODSEQ (§3.1.6).
#[test]
fn rfc7162_condstore_examples() {
    let (commands, responses) = replay(&transcripts::load("rfc7162-condstore.txt"));
    assert_eq!(
        commands[0].body,
        CommandBody::Select {
            examine: false,
            mailbox: Mailbox::from("Notes"),
            params: vec![SelectParam::CondStore]
        }
    );
    let CommandBody::Store {
        unchanged_since: Some(320162338),
        kind: StoreKind::Add,
        silent: true,
        flags,
        ..
    } = &commands[1].body
    else {
        panic!("{:?}", commands[1])
    };
    assert_eq!(flags, &vec![Flag::Deleted]);
    let CommandBody::Search { criteria, .. } = &commands[2].body else {
        panic!()
    };
    assert_eq!(
        criteria.first(),
        &SearchKey::ModSeq {
            entry: Some(("/flags/\\draft".into(), EntryType::All)),
            mod_seq: 620162338
        }
    );
    let CommandBody::Search { criteria, .. } = &commands[3].body else {
        panic!()
    };
    assert_eq!(
        criteria.first(),
        &SearchKey::Or(
            Box::new(SearchKey::Not(Box::new(SearchKey::ModSeq {
                entry: None,
                mod_seq: 720162338
            }))),
            Box::new(SearchKey::Larger(50000))
        )
    );
    assert!(matches!(
        &responses[0],
        Response::Data(Data::Status(Status {
            text: RespText {
                code: Some(Code::NoModSeq),
                ..
            },
            ..
        }))
    ));
    let Response::Tagged { status, .. } = &responses[3] else {
        panic!()
    };
    let Some(Code::Modified(set)) = &status.text.code else {
        panic!()
    };
    assert!(set.contains(7, 100) && set.contains(9, 100) && !set.contains(5, 100));
    let Response::Data(Data::Search {
        ids,
        mod_seq: Some(917162500),
    }) = &responses[4]
    else {
        panic!()
    };
    assert_eq!(ids.len(), 10);
    assert_eq!(
        responses[6],
        Response::Data(Data::Search {
            ids: vec![],
            mod_seq: None
        })
    );
    assert_eq!(
        responses[8],
        Response::Data(Data::MailboxStatus {
            mailbox: Mailbox::from("blurdybloop"),
            items: vec![
                StatusItem::Messages(231),
                StatusItem::UidNext(7500),
                StatusItem::HighestModSeq(7011231777)
            ],
        })
    );
}

/// RFC 2177 IDLE, RFC 4959 SASL-IR, RFC 3501 AUTHENTICATE with a
/// continuation, RFC 7888 LITERAL+, RFC 4315 UIDPLUS, RFC 6851 MOVE,
/// RFC 3691 UNSELECT.
#[test]
fn extension_sessions() {
    let (commands, responses) = replay(&transcripts::load("extensions.txt"));
    assert_eq!(
        commands[0].body,
        CommandBody::Authenticate {
            mechanism: Atom::new("PLAIN").unwrap(),
            initial_response: Some(b"test\0test\0test".to_vec())
        }
    );
    assert_eq!(
        commands[2].body,
        CommandBody::Login {
            username: "FRED FOOBAR".into(),
            password: "fat man".into()
        }
    );
    let CommandBody::Append {
        mailbox,
        flags: Some(flags),
        date: None,
        message,
        synchronizing: true,
    } = &commands[4].body
    else {
        panic!("{:?}", commands[4])
    };
    assert_eq!(mailbox, &Mailbox::from("saved-messages"));
    assert_eq!(flags, &vec![Flag::Seen]);
    assert_eq!(message, b"Hello Joe!");
    assert_eq!(
        commands[7].body,
        CommandBody::Move {
            uid: true,
            set: SequenceSet::range(nz(42), nz(69)),
            mailbox: "foo".into()
        }
    );
    let Response::Tagged { status, .. } = &responses[8] else {
        panic!()
    };
    assert_eq!(
        status.text.code,
        Some(Code::AppendUid {
            uid_validity: nz(38505),
            uids: UidSet::single(nz(3955))
        })
    );
    let Response::Tagged { status, .. } = &responses[9] else {
        panic!()
    };
    let Some(Code::CopyUid {
        source,
        destination,
        ..
    }) = &status.text.code
    else {
        panic!()
    };
    assert_eq!(source.uids_at_most(3).unwrap(), vec![304, 319, 320]);
    assert_eq!(destination.uids_at_most(3).unwrap(), vec![3956, 3957, 3958]);
    assert_eq!(responses[1], Response::Continue(RespText::default()));
}

/// spec/imap-push.md: the example exchange.
#[test]
fn xapplepushservice_example() {
    //= spec/imap-push.md#XAPS-11
    //# Under version 2 the server MUST send, before the tagged `OK`, one untagged
    //# `* XAPPLEPUSHSERVICE "mailbox" <name>` line per acknowledged mailbox
    let (commands, responses) = replay(&transcripts::load("xapplepushservice.txt"));
    let CommandBody::XApplePushService(reg) = &commands[0].body else {
        panic!()
    };
    let req = reg.interpret(xaps::XapsLimits::default()).unwrap();
    assert_eq!(req.negotiated_version(), nz(2));
    assert_eq!(req.account_id, b"0715A26B-CA09-4730-A419-793000CA982E");
    assert_eq!(req.subtopic.as_deref(), Some(&b"com.apple.mobilemail"[..]));
    assert_eq!(
        req.requested_mailboxes(),
        vec![
            IString::from("INBOX"),
            IString::from("Notes"),
            IString::from("Archive")
        ]
    );
    assert_eq!(req.to_registration(), *reg);
    assert_eq!(
        responses[0],
        Response::Data(Data::XApplePushService(XapsResponse::Mailbox(
            "INBOX".into()
        )))
    );
    let version = Response::Data(Data::XApplePushService(XapsResponse::Version {
        version: nz(2),
        topic: "com.mailpush.mail".into(),
    }));
    assert_eq!(responses[2], version);
    assert_eq!(
        String::from_utf8(version.to_bytes()).unwrap(),
        "* XAPPLEPUSHSERVICE \"aps-version\" \"2\" \"aps-topic\" \"com.mailpush.mail\"\r\n"
    );
    //= spec/imap-push.md#XAPS-12
    //# A client MUST accept both response forms of the grammar
    assert_eq!(
        responses[4],
        Response::Data(Data::XApplePushService(XapsResponse::Mailbox(
            "INBOX".into()
        )))
    );
    assert!(matches!(
        &responses[5],
        Response::Data(Data::XApplePushService(XapsResponse::Version { .. }))
    ));
}

/// spec/imap-push.md XAPS-3 to XAPS-9: the registration's interpretation.
#[test]
fn xapplepushservice_interpretation() {
    use xaps::{XapsLimits, XapsRefusal};
    let interp = |s: &str| {
        let c = cmd(&format!("a {s}\r\n"));
        let CommandBody::XApplePushService(r) = c.body else {
            panic!()
        };
        r.interpret(XapsLimits::default())
    };
    //= spec/imap-push.md#XAPS-3
    //# A server MUST accept every key and every value as an atom, a quoted string or
    //# a literal (`astring`), in any order, and MUST compare key names case-insensitively.
    let r = interp("XAPPLEPUSHSERVICE \"MAILBOXES\" (\"Notes\") {16}\r\naps-device-token tok APS-Account-ID \"acct\" aps-version \"2\"")
        .unwrap();
    assert_eq!(r.device_token, b"tok");
    assert_eq!(r.requested_mailboxes(), vec![IString::from("Notes")]);
    //= spec/imap-push.md#XAPS-4
    //# A server MUST ignore a key it does not know, together with its value (an
    //# `astring` or an `xaps-list`), and MUST still process the rest of the command.
    let r =
        interp("XAPPLEPUSHSERVICE x-future (a b) aps-account-id a aps-device-token t x-other v")
            .unwrap();
    assert_eq!(r.account_id, b"a");
    //= spec/imap-push.md#XAPS-5
    //# when a key appears more than once, when
    //# the value of `mailboxes` is not an `xaps-list`, or when the value of any other known key is an
    //# `xaps-list`.
    assert!(matches!(
        interp("XAPPLEPUSHSERVICE aps-account-id a APS-ACCOUNT-ID b aps-device-token t"),
        Err(XapsRefusal::Bad(_))
    ));
    assert!(matches!(
        interp("XAPPLEPUSHSERVICE aps-account-id a aps-device-token t mailboxes INBOX"),
        Err(XapsRefusal::Bad(_))
    ));
    assert!(matches!(
        interp("XAPPLEPUSHSERVICE aps-account-id (a) aps-device-token t"),
        Err(XapsRefusal::Bad(_))
    ));
    //= spec/imap-push.md#XAPS-6
    //# A server MUST reply `NO` and record nothing when `aps-account-id` or
    //# `aps-device-token` is absent or empty.
    assert!(matches!(
        interp("XAPPLEPUSHSERVICE aps-device-token t"),
        Err(XapsRefusal::No(_))
    ));
    assert!(matches!(
        interp("XAPPLEPUSHSERVICE aps-account-id \"\" aps-device-token t"),
        Err(XapsRefusal::No(_))
    ));
    //= spec/imap-push.md#XAPS-7
    //# A server MUST reply `BAD` and record nothing when the account ID, the device token or the
    //# subtopic is longer than 256 octets
    let long = "x".repeat(257);
    assert!(matches!(
        interp(&format!(
            "XAPPLEPUSHSERVICE aps-account-id a aps-device-token {long}"
        )),
        Err(XapsRefusal::Bad(_))
    ));
    //= spec/imap-push.md#XAPS-8
    //# The value of `aps-version` MUST be an `nz-number`; otherwise the server
    //# MUST reply `BAD`. The server MUST use the smaller of the client's version and 2, the highest version
    //# this document defines. When `aps-version` is absent the server MUST use version 1.
    assert!(matches!(
        interp("XAPPLEPUSHSERVICE aps-version 0 aps-account-id a aps-device-token t"),
        Err(XapsRefusal::Bad(_))
    ));
    assert!(matches!(
        interp("XAPPLEPUSHSERVICE aps-version two aps-account-id a aps-device-token t"),
        Err(XapsRefusal::Bad(_))
    ));
    let r = interp(
        "XAPPLEPUSHSERVICE aps-version 7 aps-account-id a aps-device-token t mailboxes (Notes)",
    )
    .unwrap();
    assert_eq!(r.negotiated_version(), nz(2));
    //= spec/imap-push.md#XAPS-9
    //# Under version 1 the server MUST ignore any `mailboxes` value and treat
    //# the request as a request for `INBOX` alone.
    let r =
        interp("XAPPLEPUSHSERVICE aps-account-id a aps-device-token t mailboxes (Notes)").unwrap();
    assert_eq!(r.negotiated_version(), nz(1));
    assert_eq!(r.requested_mailboxes(), vec![IString::from("INBOX")]);
    let r = interp("XAPPLEPUSHSERVICE aps-version 2 aps-account-id a aps-device-token t").unwrap();
    assert_eq!(r.requested_mailboxes(), vec![IString::from("INBOX")]);
    //= spec/imap-push.md#XAPS-13
    //# The server MUST remember every acknowledged mailbox under the name exactly
    //# as the client sent it
    let r = interp("XAPPLEPUSHSERVICE aps-version 2 aps-account-id a aps-device-token t mailboxes (inbox \"Notes\" {6}\r\nN&AOk-)").unwrap();
    assert_eq!(
        r.requested_mailboxes(),
        vec![
            IString::from("inbox"),
            IString::from("Notes"),
            IString::from("N&AOk-")
        ]
    );
    let reply = Response::Data(Data::XApplePushService(XapsResponse::Mailbox(
        r.requested_mailboxes()[0].clone(),
    )));
    assert_eq!(
        reply.to_bytes(),
        b"* XAPPLEPUSHSERVICE \"mailbox\" \"inbox\"\r\n"
    );
}

/// RFC 3501 §6 examples of commands not in the sessions above.
#[test]
fn rfc3501_command_examples() {
    let (commands, _) = replay(&transcripts::load("rfc3501-examples.txt"));
    assert_eq!(commands.len(), 20);
    let c = cmd("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n");
    let CommandBody::Fetch {
        attributes: FetchAttributes::List(l),
        ..
    } = c.body
    else {
        panic!()
    };
    assert_eq!(
        l[1],
        FetchAttribute::BodySection {
            peek: false,
            section: Section::Text(SectionText::HeaderFields {
                not: false,
                fields: Vec1::new(vec!["DATE".into(), "FROM".into()]).unwrap()
            }),
            partial: None
        }
    );
    let c = cmd("A003 APPEND Notes (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {5+}\r\nhello\r\n");
    let CommandBody::Append {
        date: Some(d),
        synchronizing: false,
        ..
    } = c.body
    else {
        panic!()
    };
    assert_eq!(
        (d.year(), d.month(), d.day(), d.time(), d.zone()),
        (1994, 2, 7, (21, 52, 25), -800)
    );
}

/// RFC 3501 §7 response examples, including a multipart BODYSTRUCTURE
/// with every extension field.
#[test]
fn rfc3501_response_examples() {
    let (_, responses) = replay(&transcripts::load("rfc3501-examples.txt"));
    assert_eq!(responses.len(), 14);
    let Response::Data(Data::Fetch { items, .. }) = &responses[13] else {
        panic!()
    };
    let FetchItem::BodyStructure(b) = items.first() else {
        panic!()
    };
    let Body::Multi {
        parts,
        subtype,
        ext: Some(ext),
    } = &**b
    else {
        panic!()
    };
    assert_eq!(parts.len(), 2);
    assert_eq!(subtype.as_bytes(), b"MIXED");
    assert_eq!(ext.params, vec![("BOUNDARY".into(), "x".into())]);
    let Body::Single {
        ext: Some(x),
        fields,
        ..
    } = &parts[1]
    else {
        panic!()
    };
    assert_eq!(fields.octets, 4554);
    let tail = x.tail.as_ref().unwrap();
    assert_eq!(
        tail.disposition.as_ref().unwrap().0.as_bytes(),
        b"attachment"
    );
    let lang = tail.lang.as_ref().unwrap();
    assert!(matches!(&lang.lang, Lang::List(l) if l.len() == 2));
    assert_eq!(lang.location.as_ref().unwrap().1.len(), 2);
}

/// The example mailbox name of RFC 3501 §5.1.3 survives the codec.
#[test]
fn modified_utf7_mailbox() {
    let c = cmd("a SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-\r\n");
    let CommandBody::Select { mailbox, .. } = c.body else {
        panic!()
    };
    assert_eq!(
        mailbox.to_unicode().as_deref(),
        Some("~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}")
    );
    assert_eq!(
        Mailbox::from_unicode("~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}"),
        mailbox
    );
}

/// Literals announce themselves before their octets arrive.
#[test]
fn literal_found() {
    assert_eq!(
        Command::decode(b"A001 LOGIN {11}\r\n"),
        Decoded::LiteralFound {
            length: 11,
            synchronizing: true
        }
    );
    assert_eq!(
        Command::decode(b"A001 LOGIN {11+}\r\nFRED"),
        Decoded::LiteralFound {
            length: 11,
            synchronizing: false
        }
    );
    assert_eq!(Command::decode(b"A001 LOGIN {11}"), Decoded::Incomplete);
    assert_eq!(
        Response::decode(b"* 1 FETCH (BODY[] {1600}\r\n"),
        Decoded::LiteralFound {
            length: 1600,
            synchronizing: true
        }
    );
    // A client encoding a synchronizing literal learns where to wait.
    let c = cmd("a LOGIN {2}\r\n\u{e9} {2}\r\nxy\r\n");
    let e = c.encode();
    assert_eq!(
        e.chunks(),
        vec!["a LOGIN {2}\r\n".as_bytes(), "\u{e9} xy\r\n".as_bytes()]
    );
    let e = c.encode_with(EncodeOptions { literal_plus: true });
    assert_eq!(e.bytes, "a LOGIN {2+}\r\n\u{e9} xy\r\n".as_bytes());
    assert!(e.sync_points.is_empty());
}

/// Every transcript of `tests/transcripts/` replays: each message decodes,
/// survives encode → decode, and satisfies the split-input property.
#[test]
fn every_transcript_replays() {
    let all = transcripts::all();
    assert!(all.len() >= 10, "{} transcripts", all.len());
    for (name, text) in all {
        let (commands, responses) = replay(&text);
        assert!(
            !commands.is_empty() || !responses.is_empty(),
            "{name} has no messages"
        );
    }
}
