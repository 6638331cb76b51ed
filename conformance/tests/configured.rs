//! The cases that need the implementation configured for them (`config:`: a short keepalive,
//! small caps, a long debounce) or a second IMAP user, against reference servers set up so and
//! declared so (`Target::config`, `--config` on the command line). Each push-server case gets
//! a fresh server: the registration-limit case leaves the cap full. Without the declaration the
//! cases are UNSUPPORTED, and against a server that lacks the configuration they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mailpush_conformance::runner::{self, Outcome, Target, Verdict, http::PushService, report};
use mailpush_conformance::transcript::config::parse_declaration;
use mailpush_conformance::transcript::{Role, Transcript};
use mailpush_mail_server::driver::Settings;
use mailpush_mail_store::{Config as StoreConfig, Store};
use mailpush_push_server::{PushServerArgs, RunningServer};

const USER2: &str = "wilma";
const PASSWORD2: &str = "other-secret";

/// The reference push server's configuration for these cases, as its operator writes it.
const PUSH_CONFIG: &str = r#"
keepalive-secs = 1
max-devices = 4
max-connections-per-ip = 4
rate-per-sec = 1
rate-burst = 3
"#;

/// What the run declares of that configuration.
const PUSH_DECLARED: [&str; 5] = [
    "keepalive=1s",
    "registration-limit=4",
    "connections-per-address=4",
    "rate-per-second=1",
    "rate-burst=3",
];

/// The reference mail server's debounce for these cases.
const QUIET: Duration = Duration::from_millis(1000);
const MAX_DELAY: Duration = Duration::from_millis(1500);
const BURST: u32 = 2;
const MAIL_DECLARED: [&str; 3] = [
    "debounce-quiet=1000ms",
    "debounce-max-delay=1500ms",
    "debounce-burst=2",
];

/// The cases of `role` that need a configured server.
fn configured_cases(role: Role) -> Vec<Transcript> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let cases: Vec<Transcript> = runner::load_dir(&dir)
        .unwrap()
        .into_iter()
        .filter(|c| c.header.role == role && common::needs_configured_server(c))
        .collect();
    assert!(!cases.is_empty(), "no configured {role} case");
    cases
}

fn declared(values: &[&str]) -> Vec<mailpush_conformance::transcript::ConfigNeed> {
    values
        .iter()
        .map(|v| parse_declaration(v).unwrap())
        .collect()
}

/// The reference push server started from a TOML configuration file, as its operator would.
async fn push_server_from_file(config: &str) -> (RunningServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("push.toml");
    std::fs::write(&file, config).unwrap();
    let args = PushServerArgs {
        config: Some(file),
        device_listen: Some(common::loopback()),
        http_listen: Some(common::loopback()),
        // In memory: each case starts from an empty server.
        database: Some(":memory:".into()),
        plain_loopback: true,
        provider_tokens: vec![common::PROVIDER.into()],
        registration_tokens: vec![common::REGISTRATION.into()],
        ..PushServerArgs::default()
    };
    let settings = mailpush_push_server::Settings::from_args(&args).unwrap();
    let store = mailpush_push_server::open_store(&settings).unwrap();
    let server = mailpush_push_server::start(settings, store).await.unwrap();
    (server, dir)
}

/// Each configured push-server case on a fresh server configured by `config`, the run declaring
/// `declared`.
async fn run_push_cases(config: &str, declared_values: &[&str]) -> (Vec<Transcript>, Vec<Outcome>) {
    let cases = configured_cases(Role::PushServer);
    let mut outcomes = Vec::new();
    for case in &cases {
        let (server, _dir) = push_server_from_file(config).await;
        let mut target = common::push_target(server.http_addr, server.device_addr);
        target.config = declared(declared_values);
        outcomes.extend(
            runner::run_suite(std::slice::from_ref(case), &target, None, &[], |_| {}).await,
        );
        server.shutdown().await;
    }
    (cases, outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_push_server_cases_pass_against_a_push_server_configured_for_them() {
    let (cases, outcomes) = run_push_cases(PUSH_CONFIG, &PUSH_DECLARED).await;
    common::assert_verdicts(&cases, &outcomes, &[Verdict::Pass]);
}

/// Without a declaration, or with one the case's need does not accept, a case is UNSUPPORTED,
/// never failed: the server may not be configurable so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_cases_are_unsupported_without_the_declaration() {
    let (cases, outcomes) = run_push_cases("", &[]).await;
    common::assert_verdicts(&cases, &outcomes, &[Verdict::Unsupported]);
    let defaults = [
        "keepalive=60s",
        "registration-limit=1000000",
        "connections-per-address=256",
        "rate-per-second=100",
        "rate-burst=200",
    ];
    let (cases, outcomes) = run_push_cases("", &defaults).await;
    common::assert_verdicts(&cases, &outcomes, &[Verdict::Unsupported]);
}

/// A server that lacks the limits the run declares (here the defaults: a cap of one million,
/// 256 connections per address, a burst of 200) fails the cases of those limits: they can fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_server_without_the_declared_limits_fails_their_cases() {
    let (cases, outcomes) = run_push_cases("", &PUSH_DECLARED).await;
    for (case, outcome) in cases.iter().zip(&outcomes) {
        let id = case.header.id.as_str();
        if id.starts_with("prov-17") || id.starts_with("chan-28") || id.starts_with("prov-12") {
            assert!(
                matches!(outcome.verdict, Verdict::Fail | Verdict::Timeout),
                "{id}: {:?}\n{}",
                outcome.verdict,
                report::human(std::slice::from_ref(case), std::slice::from_ref(outcome))
            );
        }
    }
}

/// How long a registration lives on the mail server of the expiry case.
const LIFETIME: Duration = Duration::from_secs(2);

/// The reference mail server with two users, a long debounce and registrations that live
/// `lifetime`, pushing to `push`.
async fn configured_mail_server(
    push: std::net::SocketAddr,
    quiet: Duration,
    lifetime: Duration,
) -> (
    mailpush_mail_server::driver::RunningMailServer,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::for_tests();
    config.limits.registration_lifetime = lifetime;
    let store = Store::open(dir.path().join("mail.db"), config).unwrap();
    store
        .add_user(common::USER, common::PASSWORD.as_bytes())
        .unwrap();
    store.add_user(USER2, PASSWORD2.as_bytes()).unwrap();
    let mut push_settings = common::push_settings(push);
    push_settings.notifier.quiet = quiet;
    push_settings.notifier.max_delay = MAX_DELAY;
    push_settings.notifier.burst = BURST;
    let settings = Settings {
        imap_listen: Some(common::loopback()),
        allow_plaintext_loopback: true,
        push: Some(push_settings),
        ..Settings::default()
    };
    let server = mailpush_mail_server::driver::start(settings, Arc::new(store))
        .await
        .unwrap();
    (server, dir)
}

/// Each configured imap-server case on a fresh mail server with the debounce `quiet`, the
/// declared debounce, a second user if `second_user`, and, for a case that needs a short
/// registration lifetime, registrations that live `lifetime` (declared as 2 s).
async fn run_imap_cases(
    quiet: Duration,
    lifetime: Duration,
    second_user: bool,
) -> (Vec<Transcript>, Vec<Outcome>) {
    let cases = configured_cases(Role::ImapServer);
    let mut outcomes = Vec::new();
    for case in &cases {
        let expiry = case
            .header
            .config
            .iter()
            .any(|n| n.name == "registration-expiry");
        let listener = tokio::net::TcpListener::bind(common::loopback())
            .await
            .unwrap();
        let push = PushService::start(listener).unwrap();
        let (server, _dir) = configured_mail_server(
            push.addr,
            quiet,
            if expiry {
                lifetime
            } else {
                mailpush_mail_store::REGISTRATION_LIFETIME
            },
        )
        .await;
        let mut config = declared(&MAIL_DECLARED);
        if expiry {
            config.push(parse_declaration("registration-expiry=2s").unwrap());
        }
        let target = Target {
            second_user: second_user.then(|| (USER2.to_owned(), PASSWORD2.to_owned())),
            config,
            ..common::imap_target(server.imap_addr.unwrap())
        };
        outcomes.extend(
            runner::run_suite(
                std::slice::from_ref(case),
                &target,
                Some(&push),
                &[],
                |_| {},
            )
            .await,
        );
        server.shutdown().await;
    }
    (cases, outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_imap_server_cases_pass_against_a_mail_server_configured_for_them() {
    let (cases, outcomes) = run_imap_cases(QUIET, LIFETIME, true).await;
    common::assert_verdicts(&cases, &outcomes, &[Verdict::Pass]);
}

/// A mail server whose quiet period is not the one declared (it pushes every change of the
/// burst at once) fails the debounce case, and one whose registrations live 30 days, not the
/// 2 s declared, fails the expiry case; without a second user that case is UNSUPPORTED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debounce_and_expiry_cases_fail_a_server_configured_otherwise() {
    let (cases, outcomes) = run_imap_cases(
        Duration::from_millis(1),
        mailpush_mail_store::REGISTRATION_LIFETIME,
        false,
    )
    .await;
    for (case, outcome) in cases.iter().zip(&outcomes) {
        let id = case.header.id.as_str();
        let want: &[Verdict] = if id.starts_with("prov-19") || id.starts_with("xaps-16") {
            &[Verdict::Fail, Verdict::Timeout]
        } else {
            &[Verdict::Unsupported]
        };
        assert!(
            want.contains(&outcome.verdict),
            "{id}: {:?}\n{}",
            outcome.verdict,
            report::human(std::slice::from_ref(case), std::slice::from_ref(outcome))
        );
    }
}
