//! The IMAP load tool (`mailpush bench imap`) against the in-process server: a tiny workload,
//! so that the tool keeps working. It checks counts, not speed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailpush_bench::imap::{BenchImapArgs, Op, run};
use mailpush_mail_server::driver::{Settings, start};
use mailpush_mail_store::Store;

async fn tiny_workload(shared_mailbox: bool) {
    // fred / secret, the cheapest argon2 cost: the tool logs in once per client.
    let store = Arc::new(Store::for_tests(&[("fred", "secret")]).unwrap());
    let server = start(
        Settings {
            imap_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            allow_plaintext_loopback: true,
            ..Settings::default()
        },
        Arc::clone(&store),
    )
    .await
    .unwrap();
    let mut args = BenchImapArgs::new(server.imap_addr.unwrap(), "fred", "secret");
    args.clients = 4;
    args.idlers = 2;
    args.ops = Some(60);
    args.duration = 60;
    args.shared_mailbox = shared_mailbox;
    let report = tokio::time::timeout(Duration::from_secs(60), run(&args))
        .await
        .expect("the workload finishes")
        .unwrap();
    assert_eq!(report.total_errors, 0, "{}", report.table());
    for op in [Op::Append, Op::FetchFlags, Op::StoreAdd, Op::StoreRemove] {
        let row = report.get(op).unwrap();
        assert!(row.count > 0, "no {}: {}", op.name(), report.table());
        assert!(row.ops_per_sec > 0.0);
        assert!(row.p50 <= row.p99 && row.p99 <= row.max);
    }
    let appends = report.get(Op::Append).unwrap().count;
    let wakeups = report.get(Op::IdleWakeup).unwrap();
    assert_eq!(
        wakeups.errors,
        0,
        "an idler missed a message: {}",
        report.table()
    );
    assert!(wakeups.count > 0, "{}", report.table());
    if shared_mailbox {
        // Both idlers watch the one mailbox and are told of every message.
        assert_eq!(wakeups.count, 2 * appends, "{}", report.table());
    }
    // The tool stops at --ops commands; every APPEND it counted is in the store.
    let commands: u64 = [Op::Append, Op::FetchFlags, Op::StoreAdd, Op::StoreRemove]
        .iter()
        .map(|op| report.get(*op).unwrap().count)
        .sum();
    assert!(commands <= 60, "{commands}");
    let user = store.user_id("fred").unwrap().unwrap();
    let stored: usize = store
        .mailboxes(user)
        .unwrap()
        .iter()
        .filter(|m| m.name.starts_with("bench"))
        .map(|m| store.uids(m.id).unwrap().len())
        .sum();
    assert_eq!(stored as u64, appends);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_workload_on_one_mailbox_per_client_runs_without_errors() {
    tiny_workload(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_workload_on_a_shared_mailbox_runs_without_errors() {
    tiny_workload(true).await;
}
