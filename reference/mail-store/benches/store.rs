#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Cost of the store operations an IMAP session does most, on a file store in WAL mode with
//! `synchronous=FULL` (so `append` and `store_flags` include a commit to disk).

use criterion::{Criterion, criterion_group, criterion_main};
use mailpush_mail_store::{Config, FlagOp, Flags, InternalDate, Store, UidSet};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("mail.db"), Config::default()).unwrap();
    let user = store.add_user("bench", b"password").unwrap();
    let inbox = store.mailbox(user, "INBOX").unwrap().id;
    let body = vec![b'x'; 4096];
    for _ in 0..1000 {
        store
            .append(inbox, &body, &Flags::new(), InternalDate::utc(0))
            .unwrap();
    }
    let seen = Flags::parse(["\\Seen"]).unwrap();
    let mark = store.mailbox_by_id(inbox).unwrap().highest_modseq;

    c.bench_function("append 4 KiB", |b| {
        b.iter(|| {
            store
                .append(inbox, &body, &Flags::new(), InternalDate::utc(0))
                .unwrap()
        })
    });
    c.bench_function("append 4 KiB, 8 concurrent sessions (per append)", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for thread in 0..8 {
                    let (store, body) = (&store, &body);
                    scope.spawn(move || {
                        for _ in (0..iters).filter(|i| i % 8 == thread) {
                            store
                                .append(inbox, body, &Flags::new(), InternalDate::utc(0))
                                .unwrap();
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    let mut toggle = false;
    c.bench_function("store_flags one message", |b| {
        b.iter(|| {
            toggle = !toggle;
            let op = if toggle { FlagOp::Add } else { FlagOp::Remove };
            store
                .store_flags(inbox, &UidSet::from_iter([500]), op, &seen, None)
                .unwrap()
        })
    });
    c.bench_function("messages 1:* (flags of every message)", |b| {
        b.iter(|| store.messages(inbox, &UidSet::all()).unwrap())
    });
    c.bench_function("changed_since + expunged_since", |b| {
        b.iter(|| {
            (
                store.changed_since(inbox, mark).unwrap(),
                store.expunged_since(inbox, mark).unwrap(),
            )
        })
    });
    c.bench_function("message by UID (4 KiB)", |b| {
        b.iter(|| store.message(inbox, 700).unwrap())
    });
    c.bench_function("verify_password (default argon2id cost)", |b| {
        b.iter(|| store.verify_password("bench", b"password").unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
