//! The reference servers on loopback, the corpus, and a fault-injecting proxy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub mod device;
pub mod proxy;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mailpush_conformance::runner::{self, Selection, Target};
use mailpush_conformance::transcript::{Role, Transcript};
use mailpush_mail_server::driver::{PushSettings, RunningMailServer, Settings};
use mailpush_mail_store::{Config as StoreConfig, Store};

pub const PROVIDER: &str = "conformance-provider";
pub const REGISTRATION: &str = "conformance-registration";
pub const USER: &str = "fred";
pub const PASSWORD: &str = "secret";

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Every case of `role` in `conformance/cases`, SHOULD and MAY ones included, but those that
/// restart the implementation.
pub fn corpus(role: Role) -> Vec<Transcript> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut cases = runner::load_dir(&dir).unwrap();
    let selection = Selection {
        role: Some(role),
        strict: true,
        ..Selection::default()
    };
    // The restart cases need a server the test can restart: tests/harness.rs plays them. The
    // cases that need a configuration or a second user need servers set up for them:
    // tests/configured.rs plays those.
    cases.retain(|c| selection.selects(c) && !c.header.harness.iter().any(|h| h == "restart"));
    cases.retain(|c| !needs_configured_server(c));
    assert!(!cases.is_empty(), "no {role} case in the corpus");
    // The cases that speak in the clear to a TLS address need a run over TLS: corpus_over_tls.
    cases.retain(|c| !c.header.harness.iter().any(|h| h == "tls"));
    cases
}

/// The corpus of `role` that a run over TLS plays: [`corpus`] and the cases that need TLS.
pub fn corpus_over_tls(role: Role) -> Vec<Transcript> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut cases = corpus(role);
    cases.extend(
        runner::load_dir(&dir)
            .unwrap()
            .into_iter()
            .filter(|c| c.header.role == role && c.header.harness.iter().any(|h| h == "tls")),
    );
    cases
}

/// Whether `case` needs a configured value (`config:`) or a second user, which the servers of
/// this module do not have.
pub fn needs_configured_server(case: &Transcript) -> bool {
    !case.header.config.is_empty() || case.header.harness.iter().any(|h| h == "second-user")
}

/// Pushing to the runner's push service at `push` with little debounce.
pub fn push_settings(push: SocketAddr) -> PushSettings {
    let mut push = PushSettings::new(&format!("http://{push}"), Some(PROVIDER.to_owned()));
    push.notifier.quiet = Duration::from_millis(20);
    push.notifier.max_delay = Duration::from_millis(100);
    push
}

/// How a corpus is played: how many cases at a time, and whether the run stops at the first
/// case that fails it.
#[derive(Clone, Copy, Debug)]
pub struct Play {
    pub jobs: usize,
    pub fail_fast: bool,
}

/// One case after another, every case played.
pub const SERIAL: Play = Play {
    jobs: 1,
    fail_fast: false,
};

/// Plays `cases` against `target` as `how` says; the imap-server cases get `push`.
pub async fn play(
    cases: &[Transcript],
    target: &Target,
    push: Option<Arc<runner::http::PushService>>,
    how: Play,
) -> Vec<runner::Outcome> {
    let target = Target {
        fail_fast: how.fail_fast,
        ..target.clone()
    };
    if how.jobs > 1 {
        runner::run_suite_parallel_with_push(cases, &target, push, &[], how.jobs, |_| {})
            .await
            .unwrap()
    } else {
        runner::run_suite(cases, &target, push.as_deref(), &[], |_| {}).await
    }
}

/// The whole `imap-server` corpus against a fresh reference mail server.
pub async fn run_imap_corpus() -> (Vec<Transcript>, Vec<runner::Outcome>) {
    run_imap_corpus_as(SERIAL).await
}

/// The whole `imap-server` corpus against a fresh reference mail server, played as `how` says.
pub async fn run_imap_corpus_as(how: Play) -> (Vec<Transcript>, Vec<runner::Outcome>) {
    let cases = corpus(Role::ImapServer);
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let push = Arc::new(runner::http::PushService::start(listener).unwrap());
    let (server, _dir) = mail_server(push.addr).await;
    let target = imap_target(server.imap_addr.unwrap());
    let outcomes = play(&cases, &target, Some(push), how).await;
    server.shutdown().await;
    (cases, outcomes)
}

/// The whole `push-server` corpus against a fresh reference push server.
pub async fn run_push_corpus() -> (Vec<Transcript>, Vec<runner::Outcome>) {
    run_push_corpus_as(SERIAL).await
}

/// The whole `push-server` corpus against a fresh reference push server, played as `how` says.
pub async fn run_push_corpus_as(how: Play) -> (Vec<Transcript>, Vec<runner::Outcome>) {
    let cases = corpus(Role::PushServer);
    let server = push_server().await;
    let target = push_target(server.http_addr, server.device_addr);
    let outcomes = play(&cases, &target, None, how).await;
    server.shutdown().await;
    (cases, outcomes)
}

/// The whole `push-server` corpus against a fresh reference push server, `jobs` cases at a
/// time; also the ids in the order the cases finished.
pub async fn run_push_corpus_parallel(
    jobs: usize,
) -> (Vec<Transcript>, Vec<runner::Outcome>, Vec<String>) {
    let cases = corpus(Role::PushServer);
    let server = push_server().await;
    let target = push_target(server.http_addr, server.device_addr);
    let mut finished = Vec::new();
    let outcomes = runner::run_suite_parallel(&cases, &target, &[], jobs, |o| {
        finished.push(o.id.clone());
    })
    .await
    .unwrap();
    server.shutdown().await;
    (cases, outcomes, finished)
}

/// The reference mail server on loopback, pushing to `push` quickly.
pub async fn mail_server(push: SocketAddr) -> (RunningMailServer, tempfile::TempDir) {
    mail_server_with(push_settings(push)).await
}

/// The reference mail server on loopback, pushing as `push` says, its store (`mail.db`, with
/// the test user) in a fresh directory.
pub async fn mail_server_with(push: PushSettings) -> (RunningMailServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mail.db");
    Store::open(&db, StoreConfig::for_tests())
        .unwrap()
        .add_user(USER, PASSWORD.as_bytes())
        .unwrap();
    (start_mail_server(&db, loopback(), push).await, dir)
}

/// The reference mail server on `imap` (port 0 the first time), its store in `db`.
pub async fn start_mail_server(
    db: &Path,
    imap: SocketAddr,
    push: PushSettings,
) -> RunningMailServer {
    let store = Store::open(db, StoreConfig::for_tests()).unwrap();
    let settings = Settings {
        imap_listen: Some(imap),
        imaps_listen: None,
        allow_plaintext_loopback: true,
        push: Some(push),
        ..Settings::default()
    };
    mailpush_mail_server::driver::start(settings, Arc::new(store))
        .await
        .unwrap()
}

/// The reference push server on loopback, plain, in memory.
pub async fn push_server() -> mailpush_push_server::RunningServer {
    start_push_server(None, loopback(), loopback()).await
}

/// The reference push server on the given addresses (port 0 the first time), its state in the
/// SQLite database `db`, or in memory.
pub async fn start_push_server(
    db: Option<&Path>,
    http: SocketAddr,
    device: SocketAddr,
) -> mailpush_push_server::RunningServer {
    let settings = mailpush_push_server::Settings {
        device_listen: device,
        http_listen: http,
        database: db.map(Path::to_owned),
        plain_loopback: true,
        provider_tokens: vec![PROVIDER.into()],
        registration_tokens: vec![REGISTRATION.into()],
        ..mailpush_push_server::Settings::default()
    };
    let store = mailpush_push_server::open_store(&settings).unwrap();
    mailpush_push_server::start(settings, store).await.unwrap()
}

/// Every case was played and passed; the report is printed either way.
pub fn assert_all_pass(cases: &[Transcript], outcomes: &[runner::Outcome]) {
    let report = runner::report::human(cases, outcomes);
    println!("{report}");
    assert_eq!(outcomes.len(), cases.len());
    assert!(
        outcomes.iter().all(|o| o.verdict == runner::Verdict::Pass),
        "not every case passed:\n{report}"
    );
}

/// Prints the report of `outcomes` and checks that every verdict is one of `want`.
pub fn assert_verdicts(
    cases: &[Transcript],
    outcomes: &[runner::Outcome],
    want: &[runner::Verdict],
) {
    let report = runner::report::human(cases, outcomes);
    println!("{report}");
    assert_eq!(outcomes.len(), cases.len());
    for o in outcomes {
        assert!(
            want.contains(&o.verdict),
            "{}: {:?}\n{report}",
            o.id,
            o.verdict
        );
    }
}

/// What the runner needs to play the `imap-server` cases against `imap`.
pub fn imap_target(imap: SocketAddr) -> Target {
    Target {
        imap: Some(imap),
        user: USER.into(),
        password: PASSWORD.into(),
        connect_timeout: Duration::from_secs(10),
        strict: true,
        ..Target::default()
    }
}

/// What the runner needs to play the `push-server` cases.
pub fn push_target(api: SocketAddr, device: SocketAddr) -> Target {
    Target {
        api: Some(api),
        device: Some(device),
        provider_token: PROVIDER.into(),
        registration_token: REGISTRATION.into(),
        connect_timeout: Duration::from_secs(10),
        strict: true,
        ..Target::default()
    }
}
