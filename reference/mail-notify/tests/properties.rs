#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Properties of the notifier over random change streams and push-service answers, on virtual
//! time.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use mailpush_mail_notify::{
    Change, ChangeKind, Config, Event, Notifier, Outcome, PushRequest, RegistrationKey,
};
use mailpush_provider_api::{AccountId, DeviceToken, MailboxDigest};
use quickcheck::{Arbitrary, Gen, QuickCheck};

type Key = RegistrationKey<&'static str>;

const MAILBOXES: [&str; 5] = ["INBOX", "inbox", "Notes", "Archive", "Sent Messages"];

fn registration(i: u8) -> Key {
    // Three registrations on two devices: a device token shared by two accounts.
    let (account, token) = [("a1", 1), ("a2", 1), ("a1", 2)][usize::from(i % 3)];
    RegistrationKey {
        user: "u",
        account_id: AccountId::new(account).unwrap(),
        device_token: DeviceToken::from_octets([token; 32]),
    }
}

#[derive(Debug, Clone)]
struct Step {
    after_ms: u16,
    registration: u8,
    mailbox: u8,
    kind: u8,
}

impl Arbitrary for Step {
    fn arbitrary(g: &mut Gen) -> Self {
        Step {
            after_ms: u16::arbitrary(g) % 1500,
            registration: u8::arbitrary(g),
            mailbox: u8::arbitrary(g),
            kind: u8::arbitrary(g),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Answer {
    Created,
    Unavailable { retry_after_s: Option<u8> },
    TooMany,
    NoConnection,
    Gone,
}

impl Arbitrary for Answer {
    fn arbitrary(g: &mut Gen) -> Self {
        match u8::arbitrary(g) % 8 {
            0..=3 => Answer::Created,
            4 => Answer::Unavailable {
                retry_after_s: Option::<u8>::arbitrary(g).map(|s| s % 20),
            },
            5 => Answer::TooMany,
            6 => Answer::NoConnection,
            _ => Answer::Gone,
        }
    }
}

impl Answer {
    fn outcome(self) -> Outcome {
        let status = |status| Outcome::Status {
            status,
            retry_after: None,
        };
        match self {
            Answer::Created => status(201),
            Answer::Unavailable { retry_after_s } => Outcome::Status {
                status: 503,
                retry_after: retry_after_s.map(|s| Duration::from_secs(u64::from(s))),
            },
            Answer::TooMany => status(429),
            Answer::NoConnection => Outcome::ConnectionFailed,
            Answer::Gone => status(410),
        }
    }
}

struct Sent {
    at: Instant,
    request: PushRequest<&'static str>,
    accepted: bool,
}

struct Run {
    changes: Vec<(Instant, Key, String)>,
    sent: Vec<Sent>,
    /// Device token → times it was reported gone.
    gone: HashMap<DeviceToken, Vec<Instant>>,
}

/// Drives a notifier through `steps`; the push service answers each request `latency` later
/// with the next of `answers`, then with 201 once they run out.
fn simulate(config: &Config, steps: &[Step], answers: &[Answer], latency_ms: u64) -> Run {
    let t0 = Instant::now();
    let mut notifier: Notifier<&str> = Notifier::new(config.clone()).unwrap();
    let mut run = Run {
        changes: Vec::new(),
        sent: Vec::new(),
        gone: HashMap::new(),
    };
    let mut answers = answers.iter().copied();
    let mut now = t0;
    let mut next_change = 0;
    let mut change_at = steps
        .first()
        .map(|s| t0 + Duration::from_millis(u64::from(s.after_ms)));
    // (when, index into run.sent, outcome)
    let mut responses: Vec<(Instant, usize, Answer)> = Vec::new();
    for _ in 0..100_000 {
        let response_at = responses.iter().map(|r| r.0).min();
        let Some(at) = [change_at, notifier.poll_timeout(), response_at]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        assert!(at >= now);
        now = at;
        // Timers first, then answers, then changes: a change at the instant a set is due starts
        // the next set.
        if notifier.poll_timeout().is_some_and(|t| t <= now) {
            notifier.handle_timeout(now);
        }
        if let Some(pos) = responses.iter().position(|r| r.0 == now) {
            let (_, index, answer) = responses.remove(pos);
            run.sent[index].accepted = matches!(answer, Answer::Created);
            notifier.handle_response(now, run.sent[index].request.id, answer.outcome());
        } else if change_at == Some(now) {
            let step = &steps[next_change];
            let key = registration(step.registration);
            let mailbox = MAILBOXES[usize::from(step.mailbox) % MAILBOXES.len()].to_owned();
            let kind = [
                ChangeKind::NewMessage,
                ChangeKind::Flags,
                ChangeKind::Expunge,
            ][usize::from(step.kind % 3)];
            run.changes.push((now, key.clone(), mailbox.clone()));
            notifier.handle_change(
                now,
                Change {
                    registration: key,
                    mailbox,
                    kind,
                    expires_in: Duration::from_secs(86_400),
                },
            );
            next_change += 1;
            change_at = steps
                .get(next_change)
                .map(|s| now + Duration::from_millis(u64::from(s.after_ms)));
        }
        while let Some(request) = notifier.poll_request() {
            let answer = answers.next().unwrap_or(Answer::Created);
            responses.push((
                now + Duration::from_millis(latency_ms),
                run.sent.len(),
                answer,
            ));
            run.sent.push(Sent {
                at: now,
                request,
                accepted: false,
            });
        }
        while let Some(event) = notifier.poll_event() {
            if let Event::DeleteDevice { device_token } = event {
                run.gone.entry(device_token).or_default().push(now);
            }
        }
    }
    assert!(
        notifier.poll_timeout().is_none() && responses.is_empty(),
        "simulation did not settle"
    );
    run
}

fn mailbox_hashes(request: &PushRequest<&'static str>) -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_slice(request.message.payload.as_bytes()).unwrap();
    json["aps"]["m"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Every payload names each mailbox once, ascending, within 4096 octets, and carries its
/// registration's account ID.
fn well_formed(run: &Run) -> bool {
    run.sent.iter().all(|s| {
        let m = mailbox_hashes(&s.request);
        let octets = s.request.message.payload.as_bytes();
        let json: serde_json::Value = serde_json::from_slice(octets).unwrap();
        octets.len() <= 4096
            && !m.is_empty()
            && m.windows(2).all(|w| w[0] < w[1])
            && json["aps"]["account-id"] == s.request.registration.account_id.as_str()
    })
}

fn eventually_delivered(steps: Vec<Step>, answers: Vec<Answer>, latency: u8) -> bool {
    let run = simulate(
        &Config::default(),
        &steps,
        &answers,
        u64::from(latency) * 10,
    );
    if !well_formed(&run) {
        return false;
    }
    // Every change reaches the push service in an accepted request sent no earlier than the
    // change, unless the device was reported gone after the change.
    run.changes.iter().all(|(at, key, mailbox)| {
        let hash = MailboxDigest::of(mailbox.as_bytes()).to_string();
        let delivered = run.sent.iter().any(|s| {
            s.accepted
                && s.at >= *at
                && s.request.registration == *key
                && mailbox_hashes(&s.request).contains(&hash)
        });
        let dropped = run
            .gone
            .get(&key.device_token)
            .is_some_and(|times| times.iter().any(|t| t >= at));
        delivered || dropped
    })
}

#[test]
fn every_change_is_eventually_sent_unless_its_device_is_gone() {
    //= spec/provider-api.md#PROV-18
    //# the mail server
    //# MUST request a push when a registered mailbox of that registration changes
    QuickCheck::new()
        .tests(300)
        .quickcheck(eventually_delivered as fn(Vec<Step>, Vec<Answer>, u8) -> bool);
}

fn debounced_exactly(
    steps: Vec<Step>,
    quiet_ms: u16,
    max_delay_ms: u16,
    burst: u8,
    latency: u8,
) -> bool {
    let quiet = Duration::from_millis(u64::from(quiet_ms % 2000) + 1);
    let max_delay = Duration::from_millis(u64::from(max_delay_ms % 10_000) + 1);
    // Mostly small allowances, which a random stream exhausts; now and then the largest.
    let burst = match burst % 8 {
        7 => mailpush_mail_notify::MAX_BURST,
        b => u32::from(b) + 1,
    };
    let config = Config {
        quiet,
        max_delay,
        burst,
        ..Config::default()
    };
    let run = simulate(&config, &steps, &[], u64::from(latency) * 10);
    if !well_formed(&run) {
        return false;
    }
    // Replay PROV-19 by hand: per registration, the time of its latest change and the sets made
    // leading since its latest isolated change, and its pending set's first and last change
    // times, the time it became leading (if it did) and its mailboxes; each set must go exactly
    // when it is due (at once when leading, else at min(last + quiet, first + max-delay)), in
    // one flush that holds each of its mailboxes once.
    type Set = (Instant, Instant, Option<Instant>, Vec<String>);
    let due = |(first, last, leading, _): &Set| {
        leading.unwrap_or_else(|| (*last + quiet).min(*first + max_delay))
    };
    let mut expected: BTreeMap<(Instant, Key), Vec<String>> = BTreeMap::new();
    let mut pending: BTreeMap<Key, Set> = BTreeMap::new();
    let mut latest: BTreeMap<Key, Instant> = BTreeMap::new();
    let mut eager: BTreeMap<Key, u32> = BTreeMap::new();
    let mut close_due = |pending: &mut BTreeMap<Key, Set>, now: Option<Instant>| {
        let closing: Vec<Key> = pending
            .iter()
            .filter(|(_, set)| now.is_none_or(|now| due(set) <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in closing {
            let set = pending.remove(&key).unwrap();
            let at = due(&set);
            let mut mailboxes = set.3;
            mailboxes.sort();
            mailboxes.dedup();
            expected.entry((at, key)).or_default().extend(mailboxes);
        }
    };
    for (at, key, mailbox) in &run.changes {
        close_due(&mut pending, Some(*at));
        let isolated = latest.get(key).is_none_or(|l| *at - *l >= quiet);
        latest.insert(key.clone(), *at);
        let made_leading = eager.entry(key.clone()).or_insert(0);
        if isolated {
            *made_leading = 0;
        }
        let entry = pending
            .entry(key.clone())
            .or_insert((*at, *at, None, Vec::new()));
        entry.1 = *at;
        if entry.2.is_none() && *made_leading < burst {
            entry.2 = Some(*at);
            *made_leading += 1;
        }
        entry.3.push(mailbox.clone());
    }
    close_due(&mut pending, None);
    let expected: Vec<(Instant, Key, Vec<String>)> = expected
        .into_iter()
        .map(|((at, key), mut mailboxes)| {
            mailboxes.sort();
            (at, key, mailboxes)
        })
        .collect();

    let mut actual: BTreeMap<(Instant, Key), Vec<String>> = BTreeMap::new();
    for sent in &run.sent {
        actual
            .entry((sent.at, sent.request.registration.clone()))
            .or_default()
            .extend(sent.request.mailboxes.iter().cloned());
    }
    let actual: Vec<(Instant, Key, Vec<String>)> = actual
        .into_iter()
        .map(|((at, key), mut mailboxes)| {
            mailboxes.sort();
            (at, key, mailboxes)
        })
        .collect();
    // The rate bound: no burst + 2 sends of a registration within less than
    // min(quiet, max-delay). Every request counts, those of one instant each on its own (five
    // short mailbox names never split a payload, so a request is a set).
    let bound = quiet.min(max_delay);
    let mut sends: BTreeMap<Key, Vec<Instant>> = BTreeMap::new();
    for sent in &run.sent {
        sends
            .entry(sent.request.registration.clone())
            .or_default()
            .push(sent.at);
    }
    let window = burst as usize + 2;
    if sends
        .values()
        .any(|times| times.windows(window).any(|w| w[window - 1] - w[0] < bound))
    {
        return false;
    }

    actual == expected
}

#[test]
fn sets_go_exactly_when_prov_19_says_and_never_after_first_plus_max_delay() {
    //= spec/provider-api.md#PROV-19
    //# The mail server MUST coalesce changes per
    //# registration as follows.
    //= spec/provider-api.md#PROV-19
    //# while the push service accepts every request, no `burst + 2` sends of a registration fall within
    //# an interval shorter than `quiet` and `max-delay`
    QuickCheck::new()
        .tests(300)
        .quickcheck(debounced_exactly as fn(Vec<Step>, u16, u16, u8, u8) -> bool);
}
