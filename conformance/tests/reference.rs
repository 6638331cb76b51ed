//! The whole corpus against the reference implementation, over loopback sockets: the mail
//! server (with the runner as its push service) and the push server. Every case must pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_imap_server_case_passes_against_the_reference_mail_server() {
    let (cases, outcomes) = common::run_imap_corpus().await;
    common::assert_all_pass(&cases, &outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_push_server_case_passes_against_the_reference_push_server() {
    let (cases, outcomes) = common::run_push_corpus().await;
    common::assert_all_pass(&cases, &outcomes);
}

/// Four jobs against the reference push server: every case passes, as with one, and the
/// outcomes come back in the corpus order whatever order the cases finished in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_server_corpus_passes_with_four_jobs_in_the_corpus_order() {
    let (cases, outcomes, mut finished) = common::run_push_corpus_parallel(4).await;
    common::assert_all_pass(&cases, &outcomes);
    let ids: Vec<&str> = outcomes.iter().map(|o| o.id.as_str()).collect();
    let corpus: Vec<&str> = cases.iter().map(|c| c.header.id.as_str()).collect();
    assert_eq!(ids, corpus);
    finished.sort();
    let mut sorted = corpus.clone();
    sorted.sort_unstable();
    assert_eq!(finished, sorted, "each case reported once as it finished");
}

/// Without the runner's push service, which keeps each case's push requests apart, more than
/// one job of imap-server cases is refused, naming why.
#[tokio::test]
async fn imap_server_cases_are_not_run_in_parallel() {
    let cases = common::corpus(mailpush_conformance::transcript::Role::ImapServer);
    let target = common::imap_target(common::loopback());
    let error = mailpush_conformance::runner::run_suite_parallel(&cases, &target, &[], 2, |_| {})
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("imap-server"), "{message}");
    assert!(message.contains("--push-listen"), "{message}");
}
