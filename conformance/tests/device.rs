//! The `device` corpus against the reference device, started by the runner with `--exec` (this
//! binary's `device_child`) on fresh loopback ports per case. Every case must pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use mailpush_conformance::runner::{Verdict, report};

#[test]
#[ignore = "started by the runner as the implementation under test"]
fn device_child() {
    common::device::device_child();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_case_passes_against_the_reference_device() {
    let (cases, outcomes) = common::device::run_device_corpus().await;
    let report = report::human(&cases, &outcomes);
    println!("{report}");
    assert_eq!(outcomes.len(), cases.len());
    assert!(
        outcomes.iter().all(|o| o.verdict == Verdict::Pass),
        "not every case passed:\n{report}"
    );
}
