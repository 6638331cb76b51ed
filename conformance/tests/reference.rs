//! The whole corpus against the reference implementation, over loopback sockets: the mail
//! server (with the runner as its push service) and the push server. Every case must pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use mailpush_conformance::runner::{Outcome, Verdict, report};
use mailpush_conformance::transcript::Transcript;

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
    let (cases, outcomes) = common::run_imap_corpus().await;
    judge(&cases, &outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_push_server_case_passes_against_the_reference_push_server() {
    let (cases, outcomes) = common::run_push_corpus().await;
    judge(&cases, &outcomes);
}
