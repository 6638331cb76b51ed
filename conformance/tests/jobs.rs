//! `--jobs`: cases really run side by side, and an `exclusive:` case runs alone. A provider API
//! that holds every request until a second one is open, or until a bound passes, shows how
//! many cases were setting up at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mailpush_conformance::runner::{self, Verdict};
use mailpush_conformance::transcript::{Role, Transcript};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

/// The most requests that were open at the same time.
struct Peak {
    open: AtomicUsize,
    peak: AtomicUsize,
    second: Notify,
}

/// A provider API that answers every request `500`, but only once two are open or after
/// `hold` (so a run that never opens two still ends).
async fn holding_api(hold: Duration) -> (std::net::SocketAddr, Arc<Peak>) {
    let listener = tokio::net::TcpListener::bind(common::loopback())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let peak = Arc::new(Peak {
        open: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        second: Notify::new(),
    });
    let shared = Arc::clone(&peak);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let peak = Arc::clone(&shared);
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let now = peak.open.fetch_add(1, Ordering::SeqCst) + 1;
                peak.peak.fetch_max(now, Ordering::SeqCst);
                if now >= 2 {
                    peak.second.notify_waiters();
                } else {
                    let _ = tokio::time::timeout(hold, peak.second.notified()).await;
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
                    .await;
                peak.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, peak)
}

/// Two cases that register a device first, so that each opens a request to the API at once.
fn two_registering_cases() -> Vec<Transcript> {
    let cases: Vec<Transcript> = common::corpus(Role::PushServer)
        .into_iter()
        .filter(|c| c.header.state == "registered")
        .take(2)
        .collect();
    assert_eq!(cases.len(), 2);
    cases
}

async fn peak_of(cases: &[Transcript], jobs: usize) -> usize {
    let (api, peak) = holding_api(Duration::from_secs(3)).await;
    let target = common::push_target(api, api);
    let outcomes = runner::run_suite_parallel(cases, &target, &[], jobs, |_| {})
        .await
        .unwrap();
    // Registering against an API that answers 500 cannot set a case up.
    assert!(
        outcomes.iter().all(|o| o.verdict == Verdict::Error),
        "{outcomes:?}"
    );
    peak.peak.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_set_two_cases_up_at_once() {
    assert_eq!(peak_of(&two_registering_cases(), 2).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusive_case_runs_alone_whatever_the_jobs() {
    let mut cases = two_registering_cases();
    cases[1].header.exclusive = true;
    assert_eq!(peak_of(&cases, 2).await, 1);
}
