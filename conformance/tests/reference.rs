//! The whole corpus against the reference implementation, over loopback sockets: the mail
//! server (with the runner as its push service) and the push server. Every case must pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use mailpush_conformance::runner::{self, Outcome, Verdict, http::PushService, report};
use mailpush_conformance::transcript::{Role, Transcript};

fn judge(cases: &[Transcript], outcomes: &[Outcome]) {
    let report = report::human(cases, outcomes);
    println!("{report}");
    assert_eq!(outcomes.len(), cases.len());
    assert!(
        outcomes.iter().all(|o| o.verdict == Verdict::Pass),
        "not every case passed:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_imap_server_case_passes_against_the_reference_mail_server() {
    let cases = common::corpus(Role::ImapServer);
    let listener = tokio::net::TcpListener::bind(common::loopback())
        .await
        .unwrap();
    let push = PushService::start(listener).unwrap();
    let (server, _dir) = common::mail_server(push.addr).await;
    let target = common::imap_target(server.imap_addr.unwrap());
    let outcomes = runner::run_suite(&cases, &target, Some(&push), &[], |_| {}).await;
    server.shutdown().await;
    judge(&cases, &outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_push_server_case_passes_against_the_reference_push_server() {
    let cases = common::corpus(Role::PushServer);
    let server = common::push_server().await;
    let target = common::push_target(server.http_addr, server.device_addr);
    let outcomes = runner::run_suite(&cases, &target, None, &[], |_| {}).await;
    server.shutdown().await;
    judge(&cases, &outcomes);
}
