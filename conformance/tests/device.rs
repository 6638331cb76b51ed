//! The `device` corpus against the reference device, started by the runner with `--exec` (this
//! binary's `device_child`) on fresh loopback ports per case. Every case must pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use mailpush_conformance::runner::Verdict;

#[test]
#[ignore = "started by the runner as the implementation under test"]
fn device_child() {
    common::device::device_child();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_case_passes_against_the_reference_device() {
    let (cases, outcomes) = common::device::run_device_corpus().await;
    common::assert_all_pass(&cases, &outcomes);
}

/// A device that takes the choices the specification leaves open otherwise than the reference
/// does (it opens mailboxes with `SELECT`, not `EXAMINE`, and pipelines no fetch with the open:
/// SYNC-9's and SYNC-25's SHOULDs not followed) passes every MUST case; the SHOULD cases about
/// those two choices are NON-STRICT for it, and it shows on the wire that it took them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_must_case_passes_against_a_device_that_takes_the_other_choices() {
    let (cases, outcomes) = common::device::run_device_corpus_with(
        mailpush_mutants::Alternative::DaSelectsWithoutPrefetch,
        common::Play {
            jobs: 4,
            fail_fast: false,
        },
    )
    .await;
    let report = mailpush_conformance::runner::report::human(&cases, &outcomes);
    println!("{report}");
    assert_eq!(outcomes.len(), cases.len());
    let mut wrong = Vec::new();
    for (case, outcome) in cases.iter().zip(&outcomes) {
        // The SHOULD cases of the two choices fail it (not strict: NON-STRICT), which shows
        // that it took them.
        let expected = match case.header.id.as_str() {
            "sync-9.opens-with-examine" | "sync-25.range-fetched-with-the-examine" => {
                Verdict::NonStrict
            }
            _ if !case.header.config.is_empty() => Verdict::Unsupported,
            _ => Verdict::Pass,
        };
        if outcome.verdict != expected {
            wrong.push(format!(
                "{} {:?}, not {expected:?}",
                case.header.id, outcome.verdict
            ));
        }
    }
    assert!(wrong.is_empty(), "{}\n{report}", wrong.join("\n"));
}

/// The runner hands the declared renewal period to the device (`{config_registration_renewal}`),
/// whose configuration then renews that often: the renewal case passes.
//= spec/imap-push.md#XAPS-16
//= type=test
//# A client MUST register again at
//# least once in every 30-day period while it wants push
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_device_cases_pass_against_a_device_configured_for_them() {
    let (cases, outcomes) =
        common::device::run_configured_device_cases("", &[common::device::RENEWAL_DECLARED]).await;
    common::assert_verdicts(&cases, &outcomes, &[Verdict::Pass]);
}

/// A device that keeps its daily renewal though the run declares 2 s (the declaration does not
/// reach it), and one that never renews (the mutant `no-registration-renewal`), renew nothing
/// within the case: the case fails both. Without the declaration the case
/// is UNSUPPORTED, never failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_does_not_renew_fails_the_renewal_case() {
    for prefix in [
        "unset MAILPUSH_CONFORM_CONFIG_REGISTRATION_RENEWAL; ".to_owned(),
        format!(
            "{}={} ",
            mailpush_mutants::VARIABLE,
            mailpush_mutants::Mutant::NoRegistrationRenewal.name()
        ),
    ] {
        let (cases, outcomes) = common::device::run_configured_device_cases(
            &prefix,
            &[common::device::RENEWAL_DECLARED],
        )
        .await;
        common::assert_verdicts(&cases, &outcomes, &[Verdict::Fail, Verdict::Timeout]);
    }
    let (cases, outcomes) = common::device::run_configured_device_cases("", &[]).await;
    common::assert_verdicts(&cases, &outcomes, &[Verdict::Unsupported]);
}

/// What `--exec` gets and what happens to it: the placeholders replaced in the command equal the
/// environment variables, and at the end of the case the whole process group dies, a
/// background grandchild included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_gets_its_placeholders_and_its_whole_group_is_killed() {
    use mailpush_conformance::runner::client::DeviceExec;
    use mailpush_conformance::runner::{Target, run_case};
    use mailpush_conformance::transcript::parse;

    let out = tempfile::tempdir().unwrap();
    let seen = out.path().join("seen");
    let pid = out.path().join("pid");
    let command = format!(
        "echo {{account}} \"$MAILPUSH_CONFORM_ACCOUNT\" {{dir}} > '{}'; sleep 300 & echo $! > '{}'; wait",
        seen.display(),
        pid.display()
    );
    let target = Target {
        connect_timeout: std::time::Duration::from_secs(10),
        exec: Some(DeviceExec::new(command, 1000).unwrap()),
        ..Target::default()
    };
    let case = parse(
        "k.case",
        "case: k\ntitle: t\n#= spec/device-local.md#LOCAL-1\n## **Listing.**\nlevel: MUST\nrole: device\n\nwait 500ms\n",
    )
    .unwrap();
    let outcome = run_case(&case, &target, None).await;
    assert_eq!(outcome.verdict, Verdict::Pass, "{:?}", outcome.finding);
    let account = outcome
        .vars
        .iter()
        .find(|(k, _)| k == "account")
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .unwrap();
    let seen = std::fs::read_to_string(&seen).unwrap();
    let words: Vec<&str> = seen.split_whitespace().collect();
    assert_eq!(
        words.get(..2),
        Some(&[account.as_str(), account.as_str()][..])
    );
    let scratch = std::path::Path::new(words[2]);
    assert!(!scratch.exists(), "the scratch directory is removed");
    let pid = std::fs::read_to_string(&pid).unwrap().trim().to_owned();
    // Killed by the signal to the group, the orphan is reaped by init; /proc may still show it
    // for the moment that takes, as a zombie, never as a running `sleep`.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .next();
    assert!(
        matches!(state, None | Some("Z" | "X")),
        "the grandchild {pid} still runs: {stat}"
    );
}
