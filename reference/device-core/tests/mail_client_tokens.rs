//! The token table: one token per mailbox, stored before it is given, never given twice,
//! restarts and crashes included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};

use mailpush_device_core::mail_client::{
    MAX_MAILBOXES_PER_ACCOUNT, MailboxName, RegisterError, RequestId,
};
use mailpush_device_core::{AccountId, Token};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};
use support::{Disk, World, account, account_config, config, mailbox};

fn world() -> World {
    let accounts = vec![account_config("A0", 900), account_config("A1", 900)];
    World::new(config(accounts, 1), Disk::default())
}

//= spec/device-local.md#LOCAL-2
//= type=test
//# A registration request names an account and one or more mailboxes.
//# The mail client MUST answer it with exactly one token for each named mailbox. Registering a mailbox
//# that is already registered for the same account MUST return the token it already has.
#[test]
fn one_token_per_named_mailbox_and_the_same_token_again() {
    let mut world = world();
    let first = world.register("A0", &["Notes", "Work", "Notes"]);
    assert_eq!(first.len(), 3);
    assert_eq!(first[0], first[2]);
    assert_ne!(first[0], first[1]);
    let again = world.register("A0", &["Work", "Notes"]);
    assert_eq!(again, [first[1].clone(), first[0].clone()]);
    // Another account's mailbox of the same name is another pair.
    let other = world.register("A1", &["Notes"]);
    assert_ne!(other[0], first[0]);
    // INBOX is spelled as listed: two spellings are two registrations.
    let inbox = world.register("A0", &["INBOX", "inbox"]);
    assert_ne!(inbox[0], inbox[1]);
}

//= spec/device-local.md#LOCAL-3
//= type=test
//# A token MUST match the `token` rule, MUST identify exactly one
//# (account, mailbox) pair on the device
//= spec/device-local.md#LOCAL-3
//= type=test
//# The DA MUST treat a
//# token as opaque: it MUST NOT derive a mailbox name or an account from it.
#[test]
fn tokens_follow_the_rule_and_say_nothing_of_their_mailbox() {
    let mut world = world();
    let tokens = world.register("A0", &["Notes", "Work"]);
    for token in &tokens {
        assert!(Token::new(token.as_str()).is_ok());
        assert!(!token.as_str().contains("Notes") && !token.as_str().contains("A0"));
        let (random, serial) = token.as_str().split_once('-').unwrap();
        assert_eq!(random.len(), 16);
        assert!(serial.parse::<u64>().is_ok());
    }
}

//= spec/device-local.md#LOCAL-18
//= type=test
//# The mail client MUST store a new token durably,
//# together with whatever it needs never to issue that token again, before it answers the
//# registration with it, and MUST NOT raise the token's local notification or name its mailbox in a
//# push registration before then.
#[test]
fn a_token_is_answered_only_once_it_is_stored() {
    let mut world = world();
    world.hold_writes = true;
    let names = [mailbox("Notes")];
    let request = world
        .client
        .register(&account("A0"), &names, world.now)
        .unwrap();
    world.run();
    assert!(world.answers.is_empty());
    assert!(world.client.tokens().next().is_none());
    // A second request for the same mailbox waits for the same write.
    let again = world
        .client
        .register(&account("A0"), &names, world.now)
        .unwrap();
    world.run();
    assert!(world.answers.is_empty());
    // Not polled, not woken: nobody has it yet.
    world.advance(60 * 60 * 1000);
    assert!(world.take_wakes().is_empty());
    world.write();
    let token = world.answers[&request][0].1.clone();
    assert_eq!(world.answers[&again][0].1, token);
    assert_eq!(world.disk.tokens[&token].mailbox, mailbox("Notes"));
    assert!(world.disk.next_serial > 1);
    // A registration of stored tokens only is answered at once.
    world.hold_writes = true;
    assert_eq!(world.register("A0", &["Notes"]), [token]);
    assert!(world.unwritten.is_empty());
}

//= spec/device-local.md#LOCAL-6
//= type=test
//# After unregistering, the mail client MUST NOT raise
//# local notifications for them
#[test]
fn unregistered_tokens_are_not_woken_and_never_come_back() {
    let mut world = world();
    let old = world.register("A0", &["Notes"])[0].clone();
    world.take_wakes();
    assert_eq!(
        world
            .client
            .unregister(std::slice::from_ref(&old), world.now),
        1
    );
    assert_eq!(
        world
            .client
            .unregister(std::slice::from_ref(&old), world.now),
        0
    );
    world.run();
    world.advance(60 * 60 * 1000);
    assert!(!world.take_wakes().contains(&old));
    assert!(world.polled().is_empty());
    let new = world.register("A0", &["Notes"])[0].clone();
    assert_ne!(new, old);
    world.crash_and_restart();
    let after = world.register("A0", &["Work"])[0].clone();
    assert!(after != old && after != new);
}

#[test]
fn bad_registrations_are_refused() {
    let mut world = world();
    let now = world.now;
    assert_eq!(
        world.client.register(&account("A9"), &[mailbox("x")], now),
        Err(RegisterError::UnknownAccount(account("A9")))
    );
    assert_eq!(
        world.client.register(&account("A0"), &[], now),
        Err(RegisterError::NoMailboxes)
    );
    let many: Vec<MailboxName> = (0..=MAX_MAILBOXES_PER_ACCOUNT)
        .map(|n| mailbox(&format!("m{n}")))
        .collect();
    assert_eq!(
        world.client.register(&account("A0"), &many, now),
        Err(RegisterError::TooManyMailboxes {
            account: account("A0"),
            limit: MAX_MAILBOXES_PER_ACCOUNT
        })
    );
    assert!(
        world
            .client
            .register(&account("A0"), &many[..MAX_MAILBOXES_PER_ACCOUNT], now)
            .is_ok()
    );
}

#[derive(Clone, Debug)]
enum Op {
    Register(u8, Vec<u8>),
    Unregister(u8),
    Write,
    Crash,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        match u8::arbitrary(g) % 8 {
            0..=2 => Op::Register(
                u8::arbitrary(g) % 2,
                (0..1 + usize::arbitrary(g) % 3)
                    .map(|_| u8::arbitrary(g) % 5)
                    .collect(),
            ),
            3 | 4 => Op::Unregister(u8::arbitrary(g)),
            5 | 6 => Op::Write,
            _ => Op::Crash,
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        match self {
            Op::Register(a, m) if m.len() > 1 => {
                Box::new(std::iter::once(Op::Register(*a, m[..1].to_vec())))
            }
            _ => Box::new(std::iter::empty()),
        }
    }
}

/// Every answer ever given, and every check LOCAL-3 asks of it.
#[derive(Default)]
struct Model {
    /// Every token ever answered, with its pair.
    ever: HashMap<Token, (AccountId, MailboxName)>,
    /// Tokens unregistered durably: no request made after that may be answered with them.
    retired: HashSet<Token>,
    /// Each request's account, and the tokens unregistered (and not undone by a crash) when it
    /// was made.
    requests: BTreeMap<RequestId, (AccountId, HashSet<Token>)>,
    seen: HashSet<RequestId>,
}

impl Model {
    fn check_answers(&mut self, world: &World) -> Result<(), String> {
        for (request, tokens) in &world.answers {
            if !self.seen.insert(*request) {
                continue;
            }
            let (account, gone) = self.requests[request].clone();
            for (mailbox, token) in tokens {
                let pair = (account.clone(), mailbox.clone());
                if let Some(earlier) = self.ever.insert(token.clone(), pair.clone())
                    && earlier != pair
                {
                    return Err(format!("{token:?} given to {earlier:?} and {pair:?}"));
                }
                if gone.contains(token) {
                    return Err(format!("{token:?} came back after unregistering"));
                }
                // The table holds it for this pair (unless unregistered since the request).
                if world.client.token_of(&account, mailbox) != Some(token)
                    && world.client.tokens().any(|(t, _, _)| t == token)
                {
                    return Err(format!("{pair:?} answered {token:?} but the table differs"));
                }
            }
        }
        let mut pairs = HashSet::new();
        for (token, account, mailbox) in world.client.tokens() {
            if !pairs.insert((account.clone(), mailbox.clone())) {
                return Err(format!("two tokens for {account:?} {mailbox:?}"));
            }
            if self.ever.get(token) != Some(&(account.clone(), mailbox.clone())) {
                return Err(format!(
                    "{token:?} in the table was never answered for its pair"
                ));
            }
        }
        Ok(())
    }
}

fn tokens_are_never_reused(ops: Vec<Op>) -> TestResult {
    let mut world = world();
    world.hold_writes = true;
    let mut model = Model::default();
    let mut unstored_removals = Vec::new();
    for op in ops {
        match op {
            Op::Register(a, names) => {
                let account = account(&format!("A{a}"));
                let names: Vec<MailboxName> =
                    names.iter().map(|n| mailbox(&format!("m{n}"))).collect();
                let request = world.client.register(&account, &names, world.now).unwrap();
                let gone = model
                    .retired
                    .iter()
                    .chain(&unstored_removals)
                    .cloned()
                    .collect();
                model.requests.insert(request, (account, gone));
                world.run();
            }
            Op::Unregister(pick) => {
                let registered: Vec<Token> =
                    world.client.tokens().map(|(t, _, _)| t.clone()).collect();
                if registered.is_empty() {
                    continue;
                }
                let token = registered[usize::from(pick) % registered.len()].clone();
                world
                    .client
                    .unregister(std::slice::from_ref(&token), world.now);
                world.run();
                unstored_removals.push(token);
            }
            Op::Write => {
                world.write();
                // Retired for good once the removal is stored.
                model.retired.extend(unstored_removals.drain(..));
            }
            Op::Crash => {
                // A removal not stored is undone: the token is registered again, for its pair.
                unstored_removals.clear();
                // Request ids are per run; unanswered requests die with the process.
                model.seen.clear();
                model.requests.clear();
                world.crash_and_restart();
            }
        }
        if let Err(e) = model.check_answers(&world) {
            return TestResult::error(e);
        }
    }
    TestResult::passed()
}

//= spec/device-local.md#LOCAL-3
//= type=test
//# MUST NOT be given to another (account, mailbox) pair
//# while it is registered or afterwards, restarts of the mail client included.
#[test]
fn tokens_are_never_given_twice_across_crashes_and_restarts() {
    QuickCheck::new()
        .tests(300)
        .quickcheck(tokens_are_never_reused as fn(Vec<Op>) -> TestResult);
}
