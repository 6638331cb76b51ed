#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A `kill -9` at any moment loses no acknowledged append.
//!
//! The test re-runs its own binary as a child in which several threads (sessions) append in a
//! loop, sharing commits, and print the UID of each append once the call has returned (the moment
//! the server would send its tagged `OK`). The parent kills the child with SIGKILL at a random
//! point, three times, reopens the store and checks that every acknowledged UID is there with its
//! exact bytes and that no UID was handed out twice.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mailpush_mail_store::{Config, Flags, InternalDate, Store};
use rand::Rng;

const CHILD_ENV: &str = "MAILPUSH_MAIL_STORE_DURABILITY_CHILD";
const TEST_NAME: &str = "acknowledged_appends_survive_kill_9";
/// The child's threads stop by themselves after this many appends each, should nobody kill it.
const CHILD_MAX_APPENDS: u64 = 5_000;
/// Appending threads in the child.
const CHILD_THREADS: u64 = 4;
const ROUNDS: u64 = 3;

/// (UID, round, thread, append number)
type Ack = (u32, u64, u64, u64);

/// The content of append `n` of `thread`: distinct, of varying size, with binary octets.
fn body(round: u64, thread: u64, n: u64) -> Vec<u8> {
    let mut out =
        format!("Subject: round {round} thread {thread} message {n}\r\n\r\n").into_bytes();
    let len = (n * 7919 + round * 104_729 + thread * 13) % 20_000;
    out.extend((0..len).map(|i| (i.wrapping_mul(31).wrapping_add(n)) as u8));
    out
}

fn child(path: &Path, round: u64) {
    let store = Store::open(path, Config::for_tests()).unwrap();
    let user = store.user_id("alice").unwrap().unwrap();
    let inbox = store.mailbox(user, "INBOX").unwrap().id;
    std::thread::scope(|scope| {
        for thread in 0..CHILD_THREADS {
            let store = &store;
            scope.spawn(move || {
                for n in 0..CHILD_MAX_APPENDS {
                    let body = body(round, thread, n);
                    let appended = store
                        .append(inbox, &body, &Flags::new(), InternalDate::utc(0))
                        .unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {} {round} {thread} {n}", appended.value.uid).unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

/// Parses one line of the child; a line cut off by the kill has no newline and does not count.
fn parse(line: &str) -> Option<Ack> {
    let rest = line.strip_prefix("ACK ")?.strip_suffix('\n')?;
    let fields: Vec<u64> = rest.split(' ').map(|f| f.parse().unwrap()).collect();
    Some((
        u32::try_from(fields[0]).unwrap(),
        fields[1],
        fields[2],
        fields[3],
    ))
}

#[test]
fn acknowledged_appends_survive_kill_9() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (round, path) = spec.split_once(':').unwrap();
        child(Path::new(path), round.parse().unwrap());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.db");
    Store::open(&path, Config::for_tests())
        .unwrap()
        .add_user("alice", b"pw")
        .unwrap();

    let mut rng = rand::thread_rng();
    let mut acknowledged: Vec<Ack> = Vec::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, format!("{round}:{}", path.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let kill_after = rng.gen_range(20..300);
        let mut seen = 0;
        let mut line = String::new();
        while seen < kill_after {
            line.clear();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "child ended early"
            );
            if let Some(ack) = parse(&line) {
                acknowledged.push(ack);
                seen += 1;
            }
        }
        // Land the kill anywhere in the next appends, commits included.
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..3000)));
        child.kill().unwrap();
        child.wait().unwrap();
        // What the child printed before it died was acknowledged too.
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            acknowledged.extend(parse(&line));
        }
    }

    let store = Store::open(&path, Config::for_tests()).unwrap();
    let user = store.user_id("alice").unwrap().unwrap();
    let inbox = store.mailbox(user, "INBOX").unwrap();
    assert!(acknowledged.len() >= 60);
    for (uid, round, thread, n) in &acknowledged {
        let message = store.message(inbox.id, *uid).unwrap();
        let message = message.unwrap_or_else(|| panic!("acknowledged UID {uid} lost"));
        assert!(
            message.raw == body(*round, *thread, *n),
            "UID {uid} has other bytes"
        );
    }
    // No UID was handed out twice, and each round (after a crash) continued above the last.
    let mut uids: Vec<u32> = acknowledged.iter().map(|a| a.0).collect();
    uids.sort_unstable();
    let count = uids.len();
    uids.dedup();
    assert_eq!(uids.len(), count, "a UID was acknowledged twice");
    for round in 1..ROUNDS {
        let before = acknowledged
            .iter()
            .filter(|a| a.1 < round)
            .map(|a| a.0)
            .max();
        let after = acknowledged
            .iter()
            .filter(|a| a.1 == round)
            .map(|a| a.0)
            .min();
        if let (Some(before), Some(after)) = (before, after) {
            assert!(before < after, "round {round} reused UIDs");
        }
    }
    assert!(inbox.uid_next > *uids.last().unwrap());
    assert_eq!(inbox.messages as usize, store.uids(inbox.id).unwrap().len());
}
