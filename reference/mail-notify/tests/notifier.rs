#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Behaviour of the notifier on virtual time.

use std::time::{Duration, Instant};

use mailpush_mail_notify::{
    Change, ChangeKind, Config, Error, Event, MAX_TTL, Notifier, Outcome, PushRequest, PushService,
    RegistrationKey,
};
use mailpush_provider_api::{AccountId, DeviceToken, MailboxDigest, Topic, Ttl, Urgency, header};

type Key = RegistrationKey<&'static str>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The device token that `name` stands for in these tests.
fn device(name: &str) -> DeviceToken {
    DeviceToken::parse_any_case(&MailboxDigest::of(name.as_bytes()).to_string().repeat(2)).unwrap()
}

fn key(account: &str, token: &str) -> Key {
    RegistrationKey {
        user: "alice",
        account_id: AccountId::new(account).unwrap(),
        device_token: device(token),
    }
}

fn change(registration: &Key, mailbox: &str, kind: ChangeKind) -> Change<&'static str> {
    Change {
        registration: registration.clone(),
        mailbox: mailbox.into(),
        kind,
        expires_in: Duration::from_secs(86_400),
    }
}

fn notifier() -> Notifier<&'static str> {
    Notifier::new(Config::default()).unwrap()
}

/// A notifier that sends at once only a change that follows no other within `quiet`.
fn without_burst() -> Notifier<&'static str> {
    Notifier::new(Config {
        burst: 1,
        ..Config::default()
    })
    .unwrap()
}

fn drain(notifier: &mut Notifier<&'static str>) -> Vec<PushRequest<&'static str>> {
    std::iter::from_fn(|| notifier.poll_request()).collect()
}

fn events(notifier: &mut Notifier<&'static str>) -> Vec<Event<&'static str>> {
    std::iter::from_fn(|| notifier.poll_event()).collect()
}

fn octets<'a>(request: &'a PushRequest<&'static str>) -> &'a [u8] {
    request.message.payload.as_bytes()
}

fn payload(request: &PushRequest<&'static str>) -> serde_json::Value {
    serde_json::from_slice(octets(request)).unwrap()
}

fn status(code: u16) -> Outcome {
    Outcome::Status {
        status: code,
        retry_after: None,
    }
}

/// Drives `n` through changes of `k` at the given offsets from `t0` (one mailbox each, in
/// turn), firing every timer when it is due, and returns each send: its offset and mailboxes.
fn run_changes(
    n: &mut Notifier<&'static str>,
    t0: Instant,
    k: &Key,
    at: &[u64],
    until: u64,
) -> Vec<(Duration, Vec<String>)> {
    let mut sent = Vec::new();
    let mut changes = at.iter().copied().peekable();
    loop {
        let next_change = changes.peek().map(|&a| t0 + ms(a));
        let Some(now) = [next_change, n.poll_timeout()].into_iter().flatten().min() else {
            break;
        };
        if now > t0 + ms(until) {
            break;
        }
        n.handle_timeout(now);
        if next_change == Some(now) {
            let offset = changes.next().unwrap();
            let mailbox = ["INBOX", "Notes", "Archive"][(offset / 10 % 3) as usize];
            n.handle_change(now, change(k, mailbox, ChangeKind::NewMessage));
            n.handle_timeout(now);
        }
        for request in drain(n) {
            n.handle_response(now, request.id, status(201));
            sent.push((now - t0, request.mailboxes));
        }
    }
    sent
}

#[test]
fn an_isolated_change_is_sent_at_once() {
    //= spec/provider-api.md#PROV-19
    //# A change makes the set *leading* when the set is not leading yet and `eager` is
    //# below `burst`, and then adds one to `eager`: the mail server MUST send a leading set at `t`,
    //# without waiting for a timer or for further changes
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    n.handle_change(t0, change(&k, "Notes", ChangeKind::NewMessage));
    assert_eq!(n.poll_timeout(), Some(t0));
    n.handle_timeout(t0);
    let sent = drain(&mut n);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].mailboxes, ["Notes"]);
    // A change `quiet` after the previous one is isolated again.
    n.handle_change(t0 + ms(250), change(&k, "INBOX", ChangeKind::Flags));
    n.handle_timeout(t0 + ms(250));
    assert_eq!(drain(&mut n)[0].mailboxes, ["INBOX"]);
}

#[test]
fn changes_recorded_before_a_leading_set_goes_go_with_it() {
    //= spec/provider-api.md#PROV-19
    //# (changes recorded
    //# before it goes, such as the other changes of the same command, go with it)
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    n.handle_change(t0, change(&k, "Notes", ChangeKind::NewMessage));
    n.handle_change(t0, change(&k, "INBOX", ChangeKind::Expunge));
    n.handle_timeout(t0);
    let sent = drain(&mut n);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].mailboxes.len(), 2);
    assert_eq!(sent[0].message.urgency, Urgency::Normal);
}

#[test]
fn a_burst_costs_its_first_changes_and_one_trailing_send() {
    //= spec/provider-api.md#PROV-19
    //# The mail server MUST send a set that is not
    //# leading when the current time reaches `last + quiet` or `first + max-delay`, whichever is
    //# earlier.
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    let mut sent = run_changes(&mut n, t0, &k, &[0, 10, 100, 120, 200], 5000);
    sent.iter_mut().for_each(|(_, mailboxes)| mailboxes.sort());
    // The first three changes go at once; the rest go together 250 ms after the last of them.
    assert_eq!(
        sent,
        [
            (ms(0), vec!["INBOX".to_owned()]),
            (ms(10), vec!["Notes".to_owned()]),
            (ms(100), vec!["Notes".to_owned()]),
            (ms(450), vec!["Archive".to_owned(), "INBOX".to_owned()]),
        ]
    );
    assert_eq!(n.poll_timeout(), None);
    assert_eq!(n.pending_registrations(), 0);

    // With a burst allowance of 1, only the first change goes at once.
    let mut n = without_burst();
    let sent: Vec<Duration> = run_changes(&mut n, t0, &k, &[0, 10, 100, 120, 200], 5000)
        .into_iter()
        .map(|(at, _)| at)
        .collect();
    assert_eq!(sent, [ms(0), ms(450)]);
}

#[test]
fn the_three_commands_of_a_note_edit_are_each_pushed_at_once() {
    //= spec/provider-api.md#PROV-19
    //# in a burst
    //# (changes each within `quiet` of the previous one) the first `burst` changes are each pushed at
    //# once, so that the commands of one note edit (`APPEND` of the new version, `STORE \Deleted` and
    //# `EXPUNGE` of the old one) reach the other devices without a wait
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    let edit = [
        (0, ChangeKind::NewMessage),
        (1, ChangeKind::Flags),
        (2, ChangeKind::Expunge),
    ];
    for (at, kind) in edit {
        let now = t0 + ms(at);
        n.handle_change(now, change(&k, "Notes", kind));
        n.handle_timeout(now);
        let sent = drain(&mut n);
        assert_eq!(sent.len(), 1, "change at {at} ms not sent at once");
        n.handle_response(now, sent[0].id, status(201));
    }
    // A fourth change within `quiet` is beyond the allowance: it waits for the trailing send.
    n.handle_change(t0 + ms(3), change(&k, "Notes", ChangeKind::NewMessage));
    n.handle_timeout(t0 + ms(3));
    assert!(drain(&mut n).is_empty());
    assert_eq!(n.poll_timeout(), Some(t0 + ms(253)));
    // After `quiet` without a change the allowance is whole again.
    n.handle_timeout(t0 + ms(253));
    assert_eq!(drain(&mut n).len(), 1);
    for at in [503, 504, 505] {
        n.handle_change(t0 + ms(at), change(&k, "Notes", ChangeKind::Flags));
        n.handle_timeout(t0 + ms(at));
        assert_eq!(drain(&mut n).len(), 1, "change at {at} ms not sent at once");
    }
}

#[test]
fn a_steady_stream_is_sent_once_per_max_delay() {
    //= spec/provider-api.md#PROV-19
    //# the rest of the burst costs one
    //# send per `max-delay` at most while it lasts, the last one `quiet` after its last change
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    let at: Vec<u64> = (0..=12).map(|i| i * 200).collect();
    let sent: Vec<Duration> = run_changes(&mut n, t0, &k, &at, 10_000)
        .into_iter()
        .map(|(at, _)| at)
        .collect();
    // Changes every 200 ms never leave 250 ms of quiet: after the three leading sends, each set
    // goes at first + 1 s (the change at 1600 ms comes after that instant's send and starts the
    // next set); the last goes at min(2400 + 250, 1600 + 1000).
    assert_eq!(sent, [ms(0), ms(200), ms(400), ms(1600), ms(2600)]);
    // Without the allowance, the stream costs one leading send and then one per `max-delay`.
    let mut n = without_burst();
    let sent: Vec<Duration> = run_changes(&mut n, t0, &k, &at, 10_000)
        .into_iter()
        .map(|(at, _)| at)
        .collect();
    assert_eq!(sent, [ms(0), ms(1200), ms(2200), ms(2650)]);
}

#[test]
fn a_change_within_quiet_of_a_sent_one_is_coalesced() {
    //= spec/provider-api.md#PROV-19
    //# A change at
    //# time `t` is *isolated* when the registration had no change before, or its `latest` is at least
    //# `quiet` before `t`
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    let sent = run_changes(&mut n, t0, &k, &[0, 249, 498, 747, 996, 1500], 5000);
    assert_eq!(
        sent.iter().map(|(at, _)| *at).collect::<Vec<_>>(),
        // Each change up to 996 is within quiet of the previous one: the burst's first three go
        // at once, 747 and 996 together at 996 + 250; 1500 is isolated and goes at once.
        [ms(0), ms(249), ms(498), ms(1246), ms(1500)]
    );
}

#[test]
fn debounce_delays_are_configurable_up_to_ten_seconds() {
    let config = Config {
        quiet: ms(50),
        max_delay: Duration::from_secs(10),
        burst: 1,
        ..Config::default()
    };
    let mut n: Notifier<&str> = Notifier::new(config.clone()).unwrap();
    let t0 = Instant::now();
    let k = key("a", "t");
    n.handle_change(t0, change(&k, "INBOX", ChangeKind::Flags));
    n.handle_timeout(t0);
    n.handle_change(t0 + ms(10), change(&k, "INBOX", ChangeKind::Flags));
    assert_eq!(n.poll_timeout(), Some(t0 + ms(60)));
    let too_long = Config {
        max_delay: Duration::from_secs(11),
        ..config
    };
    assert_eq!(
        Notifier::<&str>::new(too_long).unwrap_err(),
        Error::MaxDelayTooLong(Duration::from_secs(11))
    );
    //= spec/provider-api.md#PROV-19
    //# `quiet` defaults
    //# to 250 milliseconds and `max-delay` to 1 second; both are configurable, and `max-delay` MUST NOT
    //# exceed 10 seconds.
    assert_eq!(Config::default().quiet, ms(250));
    assert_eq!(Config::default().max_delay, ms(1000));
    //= spec/provider-api.md#PROV-19
    //# `burst` defaults to 3 and MUST be between 1 and 16
    assert_eq!(Config::default().burst, 3);
    for burst in [1, 16] {
        assert!(
            Notifier::<&str>::new(Config {
                burst,
                ..Config::default()
            })
            .is_ok()
        );
    }
    for burst in [0, 17, u32::MAX] {
        let error = Notifier::<&str>::new(Config {
            burst,
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(error, Error::BadBurst(burst));
        assert!(error.to_string().contains("1..=16"), "{error}");
    }
    for bad in [
        Config {
            quiet: Duration::ZERO,
            ..Config::default()
        },
        Config {
            backoff_initial: Duration::from_secs(600),
            ..Config::default()
        },
        Config {
            max_payload: 5000,
            ..Config::default()
        },
    ] {
        assert!(Notifier::<&str>::new(bad).is_err());
    }
}

#[test]
fn registrations_are_debounced_independently() {
    let t0 = Instant::now();
    let mut n = without_burst();
    let a = key("a", "tok");
    let b = key("b", "tok");
    n.handle_change(t0, change(&a, "INBOX", ChangeKind::NewMessage));
    n.handle_timeout(t0);
    let sent = drain(&mut n);
    assert_eq!(
        (&sent[0].registration, &sent[0].mailboxes[..]),
        (&a, &["INBOX".to_owned()][..])
    );
    n.handle_change(t0 + ms(10), change(&a, "Notes", ChangeKind::NewMessage));
    // b's first change is isolated although a changed just before.
    n.handle_change(t0 + ms(200), change(&b, "INBOX", ChangeKind::NewMessage));
    n.handle_timeout(t0 + ms(200));
    let sent = drain(&mut n);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].registration, b);
    assert_eq!(n.poll_timeout(), Some(t0 + ms(260)));
    n.handle_timeout(t0 + ms(260));
    let trailing = drain(&mut n);
    assert_eq!(
        (&trailing[0].registration, &trailing[0].mailboxes[..]),
        (&a, &["Notes".to_owned()][..])
    );
}

#[test]
fn a_change_during_an_outstanding_request_starts_a_new_set() {
    //= spec/provider-api.md#PROV-19
    //# A change that happens while a request for the same registration is outstanding
    //# goes into the (new) pending set.
    let t0 = Instant::now();
    let mut n = without_burst();
    let k = key("acct", "tok");
    n.handle_change(t0, change(&k, "INBOX", ChangeKind::NewMessage));
    n.handle_timeout(t0);
    let first = drain(&mut n).remove(0);
    n.handle_change(t0 + ms(100), change(&k, "Notes", ChangeKind::Flags));
    n.handle_timeout(t0 + ms(100));
    assert!(drain(&mut n).is_empty());
    assert_eq!(n.poll_timeout(), Some(t0 + ms(350)));
    n.handle_timeout(t0 + ms(350));
    let second = drain(&mut n).remove(0);
    assert_eq!(second.mailboxes, ["Notes"]);
    n.handle_response(t0 + ms(400), first.id, status(201));
    n.handle_response(t0 + ms(450), second.id, status(201));
    assert_eq!(n.poll_timeout(), None);
    assert_eq!(n.pending_registrations(), 0);

    // Within the burst allowance the new set goes at once, beside the outstanding request.
    let mut n = notifier();
    n.handle_change(t0, change(&k, "INBOX", ChangeKind::NewMessage));
    n.handle_timeout(t0);
    let first = drain(&mut n).remove(0);
    n.handle_change(t0 + ms(100), change(&k, "Notes", ChangeKind::Flags));
    n.handle_timeout(t0 + ms(100));
    let second = drain(&mut n).remove(0);
    assert_eq!(
        (first.mailboxes, second.mailboxes),
        (vec!["INBOX".to_owned()], vec!["Notes".to_owned()])
    );
}

#[test]
fn payload_names_each_mailbox_once_by_md5_of_its_spelling_in_ascending_order() {
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("0715A26B-CA09-4730-A419-793000CA982E", "tok");
    for mailbox in ["Notes", "inbox", "Archive", "Notes", "inbox"] {
        n.handle_change(t0, change(&k, mailbox, ChangeKind::Flags));
    }
    n.handle_timeout(t0 + ms(250));
    let request = drain(&mut n).remove(0);
    let json = payload(&request);
    assert_eq!(
        json["aps"]["account-id"],
        "0715A26B-CA09-4730-A419-793000CA982E"
    );
    let m: Vec<String> = json["aps"]["m"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = ["Notes", "inbox", "Archive"]
        .iter()
        .map(|s| MailboxDigest::of(s.as_bytes()).to_string())
        .collect();
    expected.sort();
    assert_eq!(m, expected);
    // The spelling matters: "inbox" is not "INBOX".
    assert!(!m.contains(&MailboxDigest::of(b"INBOX").to_string()));
    insta::assert_snapshot!(
        "payload_three_mailboxes",
        String::from_utf8(octets(&request).to_vec()).unwrap()
    );
}

#[test]
fn large_sets_are_split_into_payloads_of_at_most_4096_octets() {
    //= spec/provider-api.md#PROV-20
    //# When the payload would exceed 4096 octets, the mail
    //# server MUST split the set over several requests.
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    let names: Vec<String> = (0..300).map(|i| format!("Folder {i}")).collect();
    for name in &names {
        let kind = if name == "Folder 7" {
            ChangeKind::NewMessage
        } else {
            ChangeKind::Expunge
        };
        n.handle_change(t0, change(&k, name, kind));
    }
    n.handle_timeout(t0 + ms(250));
    let requests = drain(&mut n);
    let mut all: Vec<String> = Vec::new();
    let mut summary = Vec::new();
    for request in &requests {
        assert!(octets(request).len() <= 4096);
        let m: Vec<String> = payload(request)["aps"]["m"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert!(m.windows(2).all(|w| w[0] < w[1]));
        let from_names: Vec<String> = request
            .mailboxes
            .iter()
            .map(|m| MailboxDigest::of(m.as_bytes()).to_string())
            .collect();
        assert_eq!(m, from_names);
        // Only the part holding the new message is urgent (PROV-24).
        let urgent = request.mailboxes.iter().any(|m| m == "Folder 7");
        assert_eq!(
            request.message.urgency,
            if urgent {
                Urgency::Normal
            } else {
                Urgency::Low
            }
        );
        summary.push(format!(
            "{} octets, {} mailboxes, {:?}",
            octets(request).len(),
            m.len(),
            request.message.urgency
        ));
        all.extend(m);
    }
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 300);
    assert_eq!(
        all, sorted,
        "parts are disjoint and continue in ascending order"
    );
    insta::assert_snapshot!("split_300_mailboxes", summary.join("\n"));
}

#[test]
fn topic_is_the_md5_of_the_account_id_unless_disabled() {
    //= spec/provider-api.md#PROV-21
    //# The mail server SHOULD send a `Topic` equal to the lowercase hexadecimal MD5
    //# of the account id
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    n.handle_change(t0, change(&k, "INBOX", ChangeKind::NewMessage));
    n.handle_timeout(t0 + ms(250));
    let request = drain(&mut n).remove(0);
    assert_eq!(
        request.message.topic,
        Some(Topic::new(MailboxDigest::of(b"acct").to_string()).unwrap())
    );
    let service = PushService::mailpush("https://push.example").unwrap();
    let http = request.to_http(&service, None);
    let head: Vec<String> = std::iter::once(format!("{} {}", http.method(), http.uri()))
        .chain(
            http.headers()
                .iter()
                .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap())),
        )
        .collect();
    insta::assert_debug_snapshot!("headers_new_message", head);

    let mut n: Notifier<&str> = Notifier::new(Config {
        topic_per_account: false,
        ..Config::default()
    })
    .unwrap();
    n.handle_change(t0, change(&k, "INBOX", ChangeKind::NewMessage));
    n.handle_timeout(t0 + ms(250));
    let request = drain(&mut n).remove(0);
    assert_eq!(request.message.topic, None);
    assert!(
        !request
            .to_http(&service, None)
            .headers()
            .contains_key(header::TOPIC)
    );
}

#[test]
fn urgency_is_normal_for_new_messages_and_low_otherwise() {
    //= spec/provider-api.md#PROV-24
    //# The mail server SHOULD send `Urgency: normal` for new messages and
    //# `Urgency: low` for flag changes and expunges alone.
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    let cases = [
        (vec![ChangeKind::Flags], Urgency::Low),
        (vec![ChangeKind::Expunge, ChangeKind::Flags], Urgency::Low),
        (
            vec![
                ChangeKind::Flags,
                ChangeKind::NewMessage,
                ChangeKind::Expunge,
            ],
            Urgency::Normal,
        ),
    ];
    let mut now = t0;
    for (kinds, urgency) in cases {
        for kind in kinds {
            n.handle_change(now, change(&k, "INBOX", kind));
        }
        now += ms(250);
        n.handle_timeout(now);
        let request = drain(&mut n).remove(0);
        assert_eq!(request.message.urgency, urgency);
        n.handle_response(now, request.id, status(201));
    }
}

#[test]
fn ttl_is_the_remaining_lifetime_of_the_registration() {
    //= spec/provider-api.md#PROV-22
    //# The mail server MUST send a `TTL`; it SHOULD use the remaining lifetime of the
    //# registration (at most 30 days)
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    let mut c = change(&k, "INBOX", ChangeKind::Flags);
    c.expires_in = Duration::from_secs(100);
    n.handle_change(t0, c.clone());
    n.handle_timeout(t0 + ms(250));
    assert_eq!(drain(&mut n)[0].message.ttl, Ttl::from_secs(99));
    c.expires_in = Duration::from_secs(90 * 86_400);
    n.handle_change(t0 + ms(300), c);
    n.handle_timeout(t0 + ms(550));
    assert_eq!(drain(&mut n)[0].message.ttl.as_duration(), MAX_TTL);
}

#[test]
fn an_expired_registration_sends_nothing() {
    //= spec/imap-push.md#XAPS-16
    //# An expired registration
    //# MUST NOT cause any push request
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    let mut c = change(&k, "INBOX", ChangeKind::Flags);
    c.expires_in = ms(100);
    n.handle_change(t0, c);
    n.handle_timeout(t0 + ms(250));
    assert!(n.poll_request().is_none());
    assert_eq!(events(&mut n), [Event::Expired { registration: k }]);
    assert_eq!(n.poll_timeout(), None);
}

#[test]
fn retryable_failures_back_off_exponentially_and_merge_into_the_pending_set() {
    //= spec/provider-api.md#PROV-23
    //# On `429`, `500`, `503` or a connection failure, the mail server SHOULD retry with
    //# exponential backoff (honouring `Retry-After`), merging the failed set into the pending set.
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    n.handle_change(t0, change(&k, "INBOX", ChangeKind::NewMessage));
    n.handle_timeout(t0 + ms(250));
    let mut request = drain(&mut n).remove(0);
    let mut now = t0 + ms(300);
    let failures = [
        status(503),
        status(500),
        Outcome::ConnectionFailed,
        status(429),
    ];
    let mut waits = Vec::new();
    for (i, outcome) in failures.into_iter().enumerate() {
        n.handle_response(now, request.id, outcome);
        if i == 1 {
            // A change during the backoff joins the retried set, and does not hasten it.
            n.handle_change(now + ms(10), change(&k, "Notes", ChangeKind::Flags));
        }
        let at = n.poll_timeout().unwrap();
        waits.push(at - now);
        n.handle_timeout(at - ms(1));
        assert!(n.poll_request().is_none());
        n.handle_timeout(at);
        request = drain(&mut n).remove(0);
        assert!(request.mailboxes.contains(&"INBOX".to_owned()));
        // The new message keeps the retried request urgent.
        assert_eq!(request.message.urgency, Urgency::Normal);
        now = at + ms(50);
    }
    assert_eq!(waits, [ms(1000), ms(2000), ms(4000), ms(8000)]);
    assert_eq!(request.mailboxes, ["INBOX", "Notes"]);
    // Success resets the backoff.
    n.handle_response(now, request.id, status(201));
    assert_eq!(n.pending_registrations(), 0);
    n.handle_change(now, change(&k, "INBOX", ChangeKind::Flags));
    n.handle_timeout(now + ms(250));
    let request = drain(&mut n).remove(0);
    n.handle_response(now + ms(300), request.id, status(503));
    assert_eq!(n.poll_timeout(), Some(now + ms(1300)));
}

#[test]
fn retry_after_is_honoured() {
    let t0 = Instant::now();
    let mut n = notifier();
    let k = key("acct", "tok");
    n.handle_change(t0, change(&k, "INBOX", ChangeKind::NewMessage));
    n.handle_timeout(t0 + ms(250));
    let request = drain(&mut n).remove(0);
    let outcome = Outcome::Status {
        status: 429,
        retry_after: Some(Duration::from_secs(30)),
    };
    n.handle_response(t0 + ms(300), request.id, outcome);
    assert_eq!(
        n.poll_timeout(),
        Some(t0 + ms(300) + Duration::from_secs(30))
    );
    // An absurd Retry-After is capped.
    n.handle_timeout(t0 + ms(300) + Duration::from_secs(30));
    let request = drain(&mut n).remove(0);
    let outcome = Outcome::Status {
        status: 503,
        retry_after: Some(Duration::from_secs(1 << 40)),
    };
    let now = t0 + Duration::from_secs(40);
    n.handle_response(now, request.id, outcome);
    assert_eq!(
        n.poll_timeout(),
        Some(now + Config::default().max_retry_after)
    );
}

#[test]
fn gone_devices_are_reported_and_forgotten() {
    //= spec/provider-api.md#PROV-23
    //# On
    //# `404` or `410` it MUST delete every registration of that device token.
    for code in [404, 410] {
        let t0 = Instant::now();
        let mut n = notifier();
        let a = key("a", "gone");
        let b = key("b", "gone");
        let other = key("a", "fine");
        n.handle_change(t0, change(&a, "INBOX", ChangeKind::NewMessage));
        n.handle_change(t0, change(&b, "INBOX", ChangeKind::NewMessage));
        n.handle_timeout(t0 + ms(250));
        let sent = drain(&mut n);
        assert_eq!(sent.len(), 2);
        n.handle_change(t0 + ms(260), change(&b, "Notes", ChangeKind::Flags));
        n.handle_change(t0 + ms(260), change(&other, "INBOX", ChangeKind::Flags));
        n.handle_response(t0 + ms(300), sent[0].id, status(code));
        assert_eq!(
            events(&mut n),
            [Event::DeleteDevice {
                device_token: device("gone")
            }]
        );
        // The other request of that device is void, and its pending set dropped.
        n.handle_response(t0 + ms(310), sent[1].id, status(503));
        n.handle_timeout(t0 + ms(600));
        let left = drain(&mut n);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].registration, other);
        assert_eq!(n.poll_timeout(), None);
    }
}

#[test]
fn rejected_requests_are_not_retried() {
    for code in [400, 401, 413] {
        let t0 = Instant::now();
        let mut n = notifier();
        let k = key("acct", "tok");
        n.handle_change(t0, change(&k, "INBOX", ChangeKind::NewMessage));
        n.handle_timeout(t0 + ms(250));
        let request = drain(&mut n).remove(0);
        n.handle_response(t0 + ms(300), request.id, status(code));
        assert_eq!(
            events(&mut n),
            [Event::Rejected {
                id: request.id,
                registration: k.clone(),
                status: code
            }]
        );
        assert_eq!(n.poll_timeout(), None);
        assert_eq!(n.pending_registrations(), 0);
        // Unknown or repeated answers are ignored.
        n.handle_response(t0 + ms(400), request.id, status(503));
        assert_eq!(n.poll_timeout(), None);
    }
}

//= spec/provider-api.md#PROV-27
//= type=test
//# The mail server MUST send the pushes of a registration to
//# the push resource that its device token names: the mail server's configured push resource
//# template with `{token}` replaced by the token in lowercase.
#[test]
fn push_resource_templates() {
    let token = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";
    let lower = token.to_ascii_lowercase();
    let token = DeviceToken::parse_any_case(token).unwrap();
    let default =
        PushService::from_template(&PushService::default_template("https://push.example:8443/"))
            .unwrap();
    assert_eq!(
        default.resource(&token).to_string(),
        format!("https://push.example:8443/v1/push/{lower}")
    );
    assert_eq!(
        default,
        PushService::mailpush("https://push.example:8443").unwrap()
    );
    let other =
        PushService::from_template("http://127.0.0.1:8080/wpush/{token}/notify?x=1").unwrap();
    assert_eq!(
        other.resource(&token).to_string(),
        format!("http://127.0.0.1:8080/wpush/{lower}/notify?x=1")
    );
    // IPv6 literals, upper-case hosts and default ports, as a URL parser reads them.
    let v6 = PushService::mailpush("http://[::1]:8080/").unwrap();
    let resource = v6.resource(&token);
    assert_eq!(resource.host(), Some("[::1]"));
    assert_eq!(resource.port_u16(), Some(8080));
    assert_eq!(resource.path(), format!("/v1/push/{lower}"));
    assert_eq!(
        PushService::mailpush("HTTPS://Push.Example:443")
            .unwrap()
            .template(),
        "https://push.example/v1/push/{token}"
    );
    for bad in [
        "https://push.example/v1/push/",
        "https://push.example/{token}/{token}",
        "ftp://push.example/{token}",
        "push.example/{token}",
        "https://{token}/x",
        "https://{token}",
        "https://push.example/x?t={token}",
        "https://push.example/{token}#frag",
        "https://user:pw@push.example/{token}",
        "http://[::1/{token}",
        "http://push.example:99999/{token}",
        "http://push.example:port/{token}",
        "http:///{token}",
    ] {
        assert!(
            matches!(PushService::from_template(bad), Err(Error::BadTemplate(_))),
            "{bad} accepted"
        );
    }
    let message = PushService::from_template("https://push.example/x")
        .unwrap_err()
        .to_string();
    assert!(message.contains("{token}"), "{message}");
    let message = PushService::mailpush("http://[::1")
        .unwrap_err()
        .to_string();
    assert!(message.contains("not a URL"), "{message}");
}
