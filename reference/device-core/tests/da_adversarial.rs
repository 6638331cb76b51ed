#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hostile and malformed server replies: no panic, a clear error, the connection closed, the
//! view unchanged.

mod da_support;

use da_support::scripted::{CONDSTORE, QRESYNC, Scripted};
use mailpush_device_core::da::fuzzing::fuzz_device_imap;
use mailpush_device_core::da::{Error, Event, Security};
use mailpush_device_core::imap_client::CloseReason;
use mailpush_imap::Mailbox;
use quickcheck::{QuickCheck, TestResult};

#[test]
fn garbage_instead_of_a_greeting() {
    let mut s = Scripted::connect(Security::Plaintext);
    s.reply("HTTP/1.1 400 Bad Request\r\n");
    s.assert_refused(|e| matches!(e, Error::Malformed(m) if m.contains("greeting")));
}

#[test]
fn a_bye_greeting_is_a_refusal() {
    let mut s = Scripted::connect(Security::Plaintext);
    s.reply("* BYE too busy\r\n");
    s.assert_refused(|e| *e == Error::Connection(CloseReason::Refused("too busy".into())));
}

#[test]
fn starttls_is_required_when_configured() {
    let mut s = Scripted::connect(Security::StartTls);
    s.reply("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n");
    s.assert_refused(|e| *e == Error::Connection(CloseReason::StartTlsUnavailable));
    let mut s = Scripted::connect(Security::StartTls);
    s.reply("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n");
    s.assert_refused(|e| *e == Error::Connection(CloseReason::StartTlsUnavailable));
}

#[test]
fn starttls_then_capabilities_again_then_authentication() {
    let mut s = Scripted::connect(Security::StartTls);
    s.reply("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\r\n");
    assert!(s.sent.ends_with("d1 STARTTLS\r\n"), "{}", s.sent);
    // Injected plaintext after the OK is discarded.
    s.reply("d1 OK go\r\n* BYE injected\r\n");
    assert_eq!(s.events.last(), Some(&Event::StartTls));
    s.engine.handle_tls_established(s.now);
    s.drain();
    // Tags count on across STARTTLS: no tag is used twice on one connection.
    assert!(s.sent.ends_with("d2 CAPABILITY\r\n"), "{}", s.sent);
    s.reply("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nd2 OK\r\n");
    // No SASL-IR: the response follows the server's continuation request.
    assert!(s.sent.ends_with("d3 AUTHENTICATE PLAIN\r\n"), "{}", s.sent);
    s.reply("+ \r\n");
    assert!(s.sent.ends_with("AGZyZWQAc2VjcmV0\r\n"), "{}", s.sent);
    s.reply("d3 NO [AUTHENTICATIONFAILED] wrong\r\n");
    s.assert_refused(
        |e| matches!(e, Error::Connection(CloseReason::AuthenticationFailed(t)) if t.contains("wrong")),
    );
}

#[test]
fn a_completion_for_a_tag_never_sent() {
    let mut s = Scripted::syncing(QRESYNC);
    s.reply("zz9 OK what\r\n");
    s.assert_refused(|e| matches!(e, Error::Protocol(m) if m.contains("zz9")));
}

#[test]
fn a_continuation_nobody_asked_for() {
    let mut s = Scripted::syncing(QRESYNC);
    s.reply("+ send more\r\n");
    s.assert_refused(|e| matches!(e, Error::Protocol(m) if m.contains("continuation")));
}

#[test]
fn a_literal_over_the_limit() {
    let mut s = Scripted::syncing(QRESYNC);
    s.reply("* 1 FETCH (UID 9 BODY[]<0> {999999999}\r\n");
    s.assert_refused(|e| matches!(e, Error::Limit(_)));
}

#[test]
fn a_line_over_the_limit() {
    let mut s = Scripted::syncing(QRESYNC);
    s.reply(&format!("* OK {}\r\n", "x".repeat(5000)));
    s.assert_refused(|e| matches!(e, Error::Limit(_)));
}

#[test]
fn a_mailbox_over_the_message_limit() {
    let mut s = Scripted::syncing(QRESYNC);
    s.reply("* 4294967295 EXISTS\r\n");
    s.assert_refused(|e| matches!(e, Error::Limit(m) if m.contains("4294967295")));
}

#[test]
fn a_malformed_fetch() {
    let mut s = Scripted::syncing(QRESYNC);
    s.reply("* 1 FETCH (UID 0 FLAGS (\\Seen))\r\n");
    s.assert_refused(|e| matches!(e, Error::Malformed(_)));
}

#[test]
fn an_examine_without_uidvalidity() {
    let mut s = Scripted::syncing(QRESYNC);
    s.reply("* 3 EXISTS\r\nd4 OK [READ-ONLY] done\r\nd5 OK fetched\r\n");
    let e = s.failure().unwrap();
    assert!(
        matches!(&e, Error::Protocol(m) if m.contains("UIDVALIDITY")),
        "{e:?}"
    );
    assert!(s.view_unchanged());
}

#[test]
fn a_search_that_never_answers() {
    let mut s = Scripted::syncing(CONDSTORE);
    s.reply(
        "* 4 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 6] n\r\n\
         * OK [HIGHESTMODSEQ 105] h\r\nd3 OK [READ-ONLY] done\r\n",
    );
    assert!(s.sent.contains("d5 UID SEARCH ALL"), "{}", s.sent);
    s.reply("d4 OK fetched\r\nd5 OK searched\r\n");
    let e = s.failure().unwrap();
    assert!(
        matches!(&e, Error::Protocol(m) if m.contains("SEARCH")),
        "{e:?}"
    );
    assert!(s.view_unchanged());
}

#[test]
fn content_that_never_arrives() {
    let mut s = Scripted::syncing(QRESYNC);
    s.reply(
        "* 4 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 6] n\r\n\
         * OK [HIGHESTMODSEQ 105] h\r\n* 4 FETCH (UID 5 FLAGS () MODSEQ (105))\r\n\
         d4 OK [READ-ONLY] done\r\n",
    );
    // The range fetched with the open (SYNC-25) did not return UID 5 either: reported by the
    // open, it is asked for by its UID.
    s.reply("d5 OK fetched nothing\r\n");
    assert!(
        s.sent
            .contains("d6 UID FETCH 5 (FLAGS MODSEQ BODY.PEEK[]<0.101>)"),
        "{}",
        s.sent
    );
    s.reply("d6 OK fetched nothing\r\n");
    assert_eq!(s.failure(), Some(Error::ContentMissing(5)));
    assert!(s.view_unchanged());
}

#[test]
fn bye_during_a_sync() {
    let mut s = Scripted::syncing(QRESYNC);
    s.reply("* BYE shutting down\r\n");
    s.assert_refused(|e| *e == Error::Bye("shutting down".into()));
}

/// The server names four billion UIDs in a few octets: handled without walking them. The sync
/// looks at each message of the view, each message number and each range at most once per
/// `VANISHED`, so the work is bounded by what the DA holds, not by the UIDs the ranges name.
#[test]
fn vanished_of_every_uid_is_cheap() {
    let mut s = Scripted::syncing(QRESYNC);
    s.reply(
        // UIDNEXT is the view's: nothing was added, so the open is the whole sync.
        "* 0 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 5] n\r\n\
         * OK [HIGHESTMODSEQ 105] h\r\n* VANISHED (EARLIER) 1:4294967295\r\n\
         * VANISHED 1:4294967295\r\n* VANISHED 1:4294967295\r\nd4 OK [READ-ONLY] done\r\n\
         d5 OK fetched\r\n",
    );
    let report = s
        .events
        .iter()
        .find_map(|e| match e {
            Event::SyncCompleted { report, .. } => Some(report.clone()),
            _ => None,
        })
        .expect("completed");
    let held = da_support::scripted::view().messages.len() as u64;
    // Three VANISHED of one range each: per VANISHED the range and the view's messages (the
    // mailbox has no message numbers: 0 EXISTS).
    assert!(
        report.uids_examined <= 3 * (1 + held),
        "{} entries examined for a view of {held}: {report:?}",
        report.uids_examined
    );
    assert!(report.uids_examined >= held, "{report:?}");
    assert_eq!(report.removed as u64, held);
    assert_eq!(report.round_trips, 1, "{report:?}");
    let view = s.engine.view(&Mailbox::from("Notes")).unwrap();
    assert!(view.messages.is_empty());
    assert_eq!(view.highest_modseq, Some(105));
}

#[test]
fn oversize_content_is_kept_as_too_large() {
    let mut s = Scripted::syncing(QRESYNC);
    s.reply(
        "* 4 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 7] n\r\n\
         * OK [HIGHESTMODSEQ 105] h\r\n* 4 FETCH (UID 5 FLAGS () MODSEQ (104))\r\n\
         * 5 FETCH (UID 6 FLAGS () MODSEQ (105))\r\nd4 OK [READ-ONLY] done\r\n",
    );
    let big = "x".repeat(101);
    s.reply(&format!(
        "* 4 FETCH (UID 5 FLAGS (\\Seen) MODSEQ (104) BODY[]<0> {{101}}\r\n{big})\r\n\
         * 5 FETCH (UID 6 FLAGS () MODSEQ (105) BODY[]<0> {{5}}\r\nsmall)\r\nd5 OK\r\n"
    ));
    let update = s
        .events
        .iter()
        .find_map(|e| match e {
            Event::SyncCompleted { update, report } => {
                assert_eq!(report.too_large, 1);
                Some(update.clone())
            }
            _ => None,
        })
        .expect("completed");
    //= spec/sync.md#SYNC-14
    //= type=test
    //# whose content arrives longer than the limit
    //# is kept in the view by its UID, flags and mod-sequence, marked too large, without content
    use mailpush_device_core::da::ContentState;
    assert_eq!(update.added.len(), 2);
    assert_eq!(update.added[0].content, ContentState::TooLarge);
    assert!(
        update.added[0]
            .meta
            .flags
            .contains(&mailpush_imap::Flag::Seen)
    );
    assert_eq!(
        update.added[1].content,
        ContentState::Downloaded { octets: 5 }
    );
    let contents: Vec<_> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Content(c) => Some(c.uid.get()),
            _ => None,
        })
        .collect();
    assert_eq!(contents, [6]);
}

//= spec/sync.md#SYNC-13
//= type=test
//# The DA SHOULD publish the result of a sync to applications atomically: an
//# application sees either the view before the sync or the view after it.
#[test]
fn arbitrary_octets_never_panic_and_publish_nothing_partial() {
    fn prop(data: Vec<u8>) -> TestResult {
        fuzz_device_imap(&data);
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(3000)
        .quickcheck(prop as fn(Vec<u8>) -> TestResult);
}

/// A valid QRESYNC reply with one octet changed or cut, at every position.
#[test]
fn every_single_octet_change_of_a_valid_reply() {
    let reply: &[u8] = b"* 4 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 6] n\r\n\
        * OK [HIGHESTMODSEQ 105] h\r\n* VANISHED (EARLIER) 2\r\n\
        * 1 FETCH (UID 1 FLAGS () MODSEQ (101))\r\n* 3 FETCH (UID 5 FLAGS (\\Seen) MODSEQ (105))\r\n\
        d4 OK [READ-ONLY] done\r\n* 3 FETCH (UID 5 FLAGS (\\Seen) MODSEQ (105) BODY[]<0> {4}\r\nnote)\r\n\
        d5 OK fetched\r\n";
    // Point::Sync (pick 9 is 0 mod 3 and 3 mod 4 when divided by 3), pieces of 7 octets.
    for i in 0..reply.len() {
        for replacement in [b'X', b'{', b'\r', b'9', b')'] {
            let mut data = vec![9, 6];
            data.extend_from_slice(reply);
            data[2 + i] = replacement;
            fuzz_device_imap(&data);
        }
        let mut cut = vec![9, 6];
        cut.extend_from_slice(&reply[..i]);
        fuzz_device_imap(&cut);
    }
    // And unchanged, the sync completes.
    let mut data = vec![9, 6];
    data.extend_from_slice(reply);
    let outcome = mailpush_device_core::da::fuzzing::run(&data);
    assert_eq!(outcome.completed, 1, "{outcome:?}");
}

/// Inputs kept in the fuzz corpus and those a fuzzer found failing.
#[test]
fn fuzz_corpus_and_regressions() {
    use mailpush_testkit::fuzz_inputs::{assert_target_passes, corpus_dir, input_files};
    assert_target_passes(env!("CARGO_MANIFEST_DIR"), "device_imap", fuzz_device_imap);
    // The seeds that answer a whole sync complete it.
    let mut syncs = 0;
    for path in input_files(&corpus_dir("device_imap")) {
        if !path.to_string_lossy().ends_with("_sync") {
            continue;
        }
        let outcome = mailpush_device_core::da::fuzzing::run(&std::fs::read(&path).unwrap());
        assert_eq!(outcome.completed, 1, "{}: {outcome:?}", path.display());
        assert!(outcome.errors.is_empty(), "{}: {outcome:?}", path.display());
        syncs += 1;
    }
    assert!(syncs > 0, "no sync seeds");
}

/// Found while building the engine on the codec's framer: in a server's reply stream a literal is
/// always sent, `{n}` or not (servers do not wait for `+`), but the framer, written for commands,
/// treats an oversize `{n}` as never sent and reads its octets as the next message. A client that
/// wanted to skip an oversize literal and go on would mis-frame everything after it; the engine
/// closes the connection at the first rejected frame instead, so it is not affected. The framer
/// would need to know which way the stream flows.
#[test]
#[ignore = "codec limitation: FramerConfig cannot frame a server's stream after an oversize {n} literal"]
fn framer_skips_an_oversize_literal_in_a_servers_reply() {
    use mailpush_imap::framer::{Frame, Framer, FramerConfig};
    let mut f = Framer::new(FramerConfig {
        max_line: 1024,
        max_literal: 4,
        max_message: 2048,
    });
    f.push(b"* 1 FETCH (BODY[] {10}\r\n0123456789)\r\n* 2 EXISTS\r\n");
    let frames: Vec<Frame> = std::iter::from_fn(|| f.next_frame()).collect();
    assert!(matches!(frames[0], Frame::Rejected { .. }));
    assert_eq!(frames[1..], [Frame::Message(b"* 2 EXISTS\r\n".to_vec())]);
}

//= spec/sync.md#SYNC-25
//= type=test
//# Messages it
//# returns with a UID at or above the UIDNEXT that the `SELECT` reported were added after the
//# `SELECT` and are left to the next sync
#[test]
fn the_range_fetched_with_the_open_keeps_only_what_the_open_counted() {
    let mut s = Scripted::syncing(QRESYNC);
    assert!(
        s.sent
            .contains("d5 UID FETCH 5:* (FLAGS MODSEQ BODY.PEEK[]<0.101>) (CHANGEDSINCE 100)"),
        "{}",
        s.sent
    );
    s.reply(
        "* 4 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 6] n\r\n\
         * OK [HIGHESTMODSEQ 105] h\r\nd4 OK [READ-ONLY] done\r\n",
    );
    // UID 6 was appended between the open and the fetch.
    s.reply(
        "* 4 FETCH (UID 5 FLAGS () MODSEQ (105) BODY[]<0> {5}\r\nfirst)\r\n\
         * 5 FETCH (UID 6 FLAGS () MODSEQ (106) BODY[]<0> {5}\r\nlater)\r\nd5 OK\r\n",
    );
    let (update, report) = s.completed().expect("completed");
    assert_eq!(report.round_trips, 1, "{report:?}");
    assert!(!s.sent.contains("d6 "), "{}", s.sent);
    let added: Vec<u32> = update.added.iter().map(|m| m.uid.get()).collect();
    assert_eq!(added, [5]);
    let view = s.engine.view(&Mailbox::from("Notes")).unwrap();
    assert_eq!(view.uid_next.map(|u| u.get()), Some(6));
    assert_eq!(view.highest_modseq, Some(105));
}

//= spec/sync.md#SYNC-25
//= type=test
//# otherwise a failure of the fetch fails the sync
#[test]
fn a_failed_range_fetch_with_a_confirmed_open_fails_the_sync() {
    let mut s = Scripted::syncing(QRESYNC);
    s.reply(
        "* 4 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 6] n\r\n\
         * OK [HIGHESTMODSEQ 105] h\r\nd4 OK [READ-ONLY] done\r\nd5 NO try later\r\n",
    );
    let e = s.failure().unwrap();
    assert!(
        matches!(&e, Error::CommandFailed { text, .. } if text.contains("try later")),
        "{e:?}"
    );
    assert!(s.view_unchanged());
}
