//! The `imap-server` corpus against other implementations, over IMAPS trusting the fixture's
//! certificate authority: Debian's Dovecot (no XAPPLEPUSHSERVICE: the registration cases must
//! come out UNSUPPORTED and nothing may be a harness error) and Cyrus imapd configured with an
//! `aps_topic` (the registration cases run). Each prints its results table; README.md records
//! them with, for every failure, whether the implementation or the case is wrong. Skipped with
//! `MAILPUSH_SKIP_INTEROP=1` when a server is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use mailpush_conformance::runner::net::{TlsClient, Trust};
use mailpush_conformance::runner::{self, Outcome, Target, Verdict, http::PushService, report};
use mailpush_conformance::transcript::{Role, Transcript};
use mailpush_testkit::interop::{
    Credentials, Cyrus, CyrusOptions, Dovecot, DovecotOptions, InteropError, RunningServer,
    unless_skipped,
};

fn started<T>(result: Result<T, InteropError>) -> Option<T> {
    unless_skipped(result).unwrap_or_else(|e| panic!("{e}"))
}

/// The `imap-server` corpus but the restart cases (the fixtures cannot be restarted by the
/// runner), the second-user case included; the cases that need a declared configuration are
/// played too, and come out UNSUPPORTED.
fn interop_corpus() -> Vec<Transcript> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut cases = runner::load_dir(&dir).unwrap();
    cases.retain(|c| {
        c.header.role == Role::ImapServer && !c.header.harness.iter().any(|h| h == "restart")
    });
    cases
}

/// Two users: the second for the case of XAPS-19.
fn two_users() -> Vec<Credentials> {
    vec![
        Credentials::new("alice", "alice-password"),
        Credentials::new("bob", "bob-password"),
    ]
}

async fn run(server: &RunningServer) -> (Vec<Transcript>, Vec<Outcome>) {
    let cases = interop_corpus();
    let listener = tokio::net::TcpListener::bind(common::loopback())
        .await
        .unwrap();
    let push = PushService::start(listener).unwrap();
    let user = &server.users()[0];
    let target = Target {
        imap: Some(server.imaps_addr()),
        user: user.user.clone(),
        password: user.password.clone(),
        connect_timeout: Duration::from_secs(10),
        second_user: server
            .users()
            .get(1)
            .map(|u| (u.user.clone(), u.password.clone())),
        strict: true,
        tls: Some(
            TlsClient::new(Trust::Authorities(vec![server.tls().ca.clone()]), None, &[]).unwrap(),
        ),
        ..Target::default()
    };
    let outcomes = runner::run_suite(&cases, &target, Some(&push), &[], |_| {}).await;
    println!("{}", report::human(&cases, &outcomes));
    println!("| Case | Verdict |\n|------|---------|");
    for o in &outcomes {
        println!("| {} | {} |", o.id, o.verdict.as_str());
    }
    (cases, outcomes)
}

fn needs_xaps(case: &Transcript) -> bool {
    case.header
        .requires
        .iter()
        .any(|c| c.eq_ignore_ascii_case("XAPPLEPUSHSERVICE"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_plain_imap_cases_run_and_registration_cases_are_unsupported() {
    let options = DovecotOptions {
        users: two_users(),
        ..DovecotOptions::default()
    };
    let Some(server) = started(Dovecot::start(options).await) else {
        return;
    };
    let (cases, outcomes) = run(&server).await;
    for (case, outcome) in cases.iter().zip(&outcomes) {
        assert_ne!(
            outcome.verdict,
            Verdict::Error,
            "{}: harness error",
            case.header.id
        );
        if needs_xaps(case) {
            assert_eq!(outcome.verdict, Verdict::Unsupported, "{}", case.header.id);
        }
    }
    assert!(
        cases.iter().any(|c| !needs_xaps(c)),
        "no plain IMAP case in the corpus"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cyrus_registration_cases_run() {
    let options = CyrusOptions {
        users: two_users(),
        ..CyrusOptions::default()
    };
    let Some(server) = started(Cyrus::start(options).await) else {
        return;
    };
    let (cases, outcomes) = run(&server).await;
    for (case, outcome) in cases.iter().zip(&outcomes) {
        assert_ne!(
            outcome.verdict,
            Verdict::Error,
            "{}: harness error",
            case.header.id
        );
        if needs_xaps(case) && case.header.config.is_empty() {
            assert_ne!(
                outcome.verdict,
                Verdict::Unsupported,
                "{}: Cyrus does not offer XAPPLEPUSHSERVICE",
                case.header.id
            );
        }
    }
}
