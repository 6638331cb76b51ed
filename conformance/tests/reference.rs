//! The whole corpus against the reference implementation, over loopback sockets: the mail
//! server (with the runner as its push service) and the push server. Every case must pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mailpush_conformance::runner::{
    self, Outcome, Selection, Target, Verdict, http::PushService, report,
};
use mailpush_conformance::transcript::{Role, Transcript};
use mailpush_mail_server::driver::{PushSettings, Settings};
use mailpush_mail_store::{Config as StoreConfig, Store};

const PROVIDER: &str = "conformance-provider";
const REGISTRATION: &str = "conformance-registration";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn corpus(role: Role) -> Vec<Transcript> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut cases = runner::load_dir(&dir).unwrap();
    let selection = Selection {
        role: Some(role),
        strict: true,
        ..Selection::default()
    };
    cases.retain(|c| selection.selects(c));
    assert!(!cases.is_empty(), "no {role} case in the corpus");
    cases
}

fn judge(cases: &[Transcript], outcomes: &[Outcome]) {
    let report = report::human(cases, outcomes);
    println!("{report}");
    assert_eq!(outcomes.len(), cases.len());
    assert!(
        outcomes.iter().all(|o| o.verdict == Verdict::Pass),
        "not every case passed:\n{report}"
    );
}

/// A mail server on loopback whose push service is the runner.
async fn mail_server(
    push: SocketAddr,
) -> (
    mailpush_mail_server::driver::RunningMailServer,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("mail.db"), StoreConfig::for_tests()).unwrap();
    store.add_user("fred", b"secret").unwrap();
    let mut push = PushSettings::new(&format!("http://{push}"), Some(PROVIDER.to_owned()));
    push.notifier.quiet = Duration::from_millis(20);
    push.notifier.max_delay = Duration::from_millis(100);
    let settings = Settings {
        imap_listen: Some(loopback()),
        imaps_listen: None,
        allow_plaintext_loopback: true,
        push: Some(push),
        ..Settings::default()
    };
    let server = mailpush_mail_server::driver::start(settings, Arc::new(store))
        .await
        .unwrap();
    (server, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_imap_server_case_passes_against_the_reference_mail_server() {
    let cases = corpus(Role::ImapServer);
    let push =
        PushService::start(tokio::net::TcpListener::bind(loopback()).await.unwrap()).unwrap();
    let (server, _dir) = mail_server(push.addr).await;
    let target = Target {
        imap: server.imap_addr,
        user: "fred".into(),
        password: "secret".into(),
        connect_timeout: Duration::from_secs(10),
        strict: true,
        ..Target::default()
    };
    let outcomes = runner::run_suite(&cases, &target, Some(&push), &[], |_| {}).await;
    server.shutdown().await;
    judge(&cases, &outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_push_server_case_passes_against_the_reference_push_server() {
    let cases = corpus(Role::PushServer);
    let server = mailpush_push_server::start(
        mailpush_push_server::Settings {
            device_listen: loopback(),
            http_listen: loopback(),
            database: None,
            plain_loopback: true,
            provider_tokens: vec![PROVIDER.into()],
            registration_tokens: vec![REGISTRATION.into()],
            ..mailpush_push_server::Settings::default()
        },
        Arc::new(mailpush_push_server::MemoryStore::new()),
    )
    .await
    .unwrap();
    let target = Target {
        api: Some(server.http_addr),
        device: Some(server.device_addr),
        provider_token: PROVIDER.into(),
        registration_token: REGISTRATION.into(),
        connect_timeout: Duration::from_secs(10),
        strict: true,
        ..Target::default()
    };
    let outcomes = runner::run_suite(&cases, &target, None, &[], |_| {}).await;
    server.shutdown().await;
    judge(&cases, &outcomes);
}
