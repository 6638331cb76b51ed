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

/// A case against the reference push server that FAILs at once (it expects `200` where PROV-2
/// requires `401`) or passes.
fn push_without_token(id: &str, fails: bool) -> Transcript {
    let status = if fails { 200 } else { 401 };
    mailpush_conformance::transcript::parse(
        &format!("{id}.case"),
        &format!(
            "case: {id}\ntitle: t\n#= spec/provider-api.md#PROV-2\n## A missing token MUST be answered `401`\n\
             level: MUST\nrole: push-server\nstate: registered\n\n\
             api -> POST /v1/push/$token\n  TTL: 60\n  Content-Type: application/json\n  body {{}}\n\
             api <- {status}\n"
        ),
    )
    .unwrap()
}

async fn ids_played(cases: &[Transcript], jobs: usize, fail_fast: bool) -> Vec<(String, Verdict)> {
    let server = common::push_server().await;
    let target = runner::Target {
        fail_fast,
        ..common::push_target(server.http_addr, server.device_addr)
    };
    let outcomes = if jobs > 1 {
        runner::run_suite_parallel(cases, &target, &[], jobs, |_| {})
            .await
            .unwrap()
    } else {
        runner::run_suite(cases, &target, None, &[], |_| {}).await
    };
    server.shutdown().await;
    let report = runner::report::human(cases, &outcomes);
    let not_run = cases.len() - outcomes.len();
    assert_eq!(
        report.contains(&format!("{not_run} cases not run")),
        not_run > 0,
        "{report}"
    );
    outcomes.into_iter().map(|o| (o.id, o.verdict)).collect()
}

/// `--fail-fast` one case at a time: the run ends with the first failure; without it every case
/// is played.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_stops_at_the_first_failure() {
    let cases = vec![
        push_without_token("a", false),
        push_without_token("b", true),
        push_without_token("c", false),
        push_without_token("d", true),
    ];
    let played = ids_played(&cases, 1, true).await;
    assert_eq!(
        played,
        [("a".into(), Verdict::Pass), ("b".into(), Verdict::Fail)]
    );
    let played = ids_played(&cases, 1, false).await;
    let verdicts: Vec<Verdict> = played.into_iter().map(|(_, v)| v).collect();
    assert_eq!(
        verdicts,
        [Verdict::Pass, Verdict::Fail, Verdict::Pass, Verdict::Fail]
    );
}

/// `--fail-fast` with two jobs: the two first cases start together and both fail, so no other
/// starts; the one still running when the first failed finishes and is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_with_jobs_starts_nothing_after_a_failure() {
    let cases = vec![
        push_without_token("a", true),
        push_without_token("b", true),
        push_without_token("c", false),
        push_without_token("d", false),
    ];
    let played = ids_played(&cases, 2, true).await;
    assert_eq!(
        played,
        [("a".into(), Verdict::Fail), ("b".into(), Verdict::Fail)]
    );
    assert_eq!(ids_played(&cases, 2, false).await.len(), 4);
}
