//! The runner's harness abilities against the reference servers: the push service it plays
//! for a mail server over HTTPS (`--push-tls`), and the `restart` step (`--restart-cmd`), here
//! a hook that stops an in-process reference server and starts it again on the same addresses
//! and the same database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailpush_conformance::runner::push_service::{CA_FILE, PushTls};
use mailpush_conformance::runner::restart::{Restart, RestartFuture};
use mailpush_conformance::runner::{self, Outcome, Verdict, http::PushService, report};
use mailpush_conformance::transcript::{Role, Transcript};
use mailpush_mail_server::driver::{PushSettings, RunningMailServer, Settings};
use mailpush_mail_store::{Config as StoreConfig, Store};
use tokio::sync::Mutex;

fn all_pass(cases: &[Transcript], outcomes: &[Outcome]) {
    let report = report::human(cases, outcomes);
    println!("{report}");
    assert_eq!(outcomes.len(), cases.len());
    assert!(
        outcomes.iter().all(|o| o.verdict == Verdict::Pass),
        "not every case passed:\n{report}"
    );
}

/// The cases of `role` that need the runner to restart the implementation.
fn restart_cases(role: Role) -> Vec<Transcript> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let cases: Vec<Transcript> = runner::load_dir(&dir)
        .unwrap()
        .into_iter()
        .filter(|c| c.header.role == role && c.header.harness.iter().any(|h| h == "restart"))
        .collect();
    assert!(!cases.is_empty(), "no {role} restart case in the corpus");
    cases
}

/// The reference mail server on `imap` (port 0 the first time), its store in `db`.
async fn start_mail_server(db: &Path, imap: SocketAddr, push: PushSettings) -> RunningMailServer {
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

/// The `imap-server` corpus with the runner's push service over HTTPS: the certificate the
/// runner generates into a directory, its authority given to the mail server as its push CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_imap_server_corpus_passes_with_the_push_service_over_https() {
    let certs = tempfile::tempdir().unwrap();
    let names = vec!["127.0.0.1".to_owned()];
    let tls = PushTls::in_dir(certs.path(), &names).unwrap();
    let ca: PathBuf = tls.ca.clone().unwrap();
    assert_eq!(ca, certs.path().join(CA_FILE));
    let ca_pem = std::fs::read(&ca).unwrap();
    // A second run with the same directory keeps the authority the server was told to trust.
    let tls = PushTls::in_dir(certs.path(), &names).unwrap();
    assert_eq!(std::fs::read(&ca).unwrap(), ca_pem);

    let listener = tokio::net::TcpListener::bind(common::loopback())
        .await
        .unwrap();
    let push = PushService::start_tls(listener, tls).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("mail.db"), StoreConfig::for_tests()).unwrap();
    store
        .add_user(common::USER, common::PASSWORD.as_bytes())
        .unwrap();
    let mut push_settings = common::push_settings(push.addr);
    push_settings.url = format!("https://{}", push.addr);
    push_settings.trust = Some(ca);
    let settings = Settings {
        imap_listen: Some(common::loopback()),
        allow_plaintext_loopback: true,
        push: Some(push_settings),
        ..Settings::default()
    };
    let server = mailpush_mail_server::driver::start(settings, Arc::new(store))
        .await
        .unwrap();
    let cases = common::corpus(Role::ImapServer);
    let target = common::imap_target(server.imap_addr.unwrap());
    let outcomes = runner::run_suite(&cases, &target, Some(&push), &[], |_| {}).await;
    server.shutdown().await;
    all_pass(&cases, &outcomes);
}

/// A mail server that does not trust the push service's authority sends it nothing: the
/// cases that wait for a push fail, so the run above passed over HTTPS, not around it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_without_the_push_ca_gets_no_push_through() {
    let certs = tempfile::tempdir().unwrap();
    let tls = PushTls::in_dir(certs.path(), &["127.0.0.1".to_owned()]).unwrap();
    let listener = tokio::net::TcpListener::bind(common::loopback())
        .await
        .unwrap();
    let push = PushService::start_tls(listener, tls).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("mail.db"), StoreConfig::for_tests()).unwrap();
    store
        .add_user(common::USER, common::PASSWORD.as_bytes())
        .unwrap();
    let mut push_settings = common::push_settings(push.addr);
    push_settings.url = format!("https://{}", push.addr);
    let settings = Settings {
        imap_listen: Some(common::loopback()),
        allow_plaintext_loopback: true,
        push: Some(push_settings),
        ..Settings::default()
    };
    let server = mailpush_mail_server::driver::start(settings, Arc::new(store))
        .await
        .unwrap();
    let cases: Vec<Transcript> = common::corpus(Role::ImapServer)
        .into_iter()
        .filter(|c| c.header.id == "prov-20.append-pushes-md5")
        .collect();
    assert_eq!(cases.len(), 1);
    let target = common::imap_target(server.imap_addr.unwrap());
    let outcomes = runner::run_suite(&cases, &target, Some(&push), &[], |_| {}).await;
    server.shutdown().await;
    assert!(
        matches!(outcomes[0].verdict, Verdict::Fail | Verdict::Timeout),
        "{}",
        report::human(&cases, &outcomes)
    );
}

/// The `imap-server` restart cases against the reference mail server, restarted on its address
/// and its SQLite database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_imap_server_restart_cases_pass_against_the_reference_mail_server() {
    let cases = restart_cases(Role::ImapServer);
    let listener = tokio::net::TcpListener::bind(common::loopback())
        .await
        .unwrap();
    let push = PushService::start(listener).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mail.db");
    Store::open(&db, StoreConfig::for_tests())
        .unwrap()
        .add_user(common::USER, common::PASSWORD.as_bytes())
        .unwrap();
    let settings = common::push_settings(push.addr);
    let server = start_mail_server(&db, common::loopback(), settings.clone()).await;
    let imap = server.imap_addr.unwrap();
    let running = Arc::new(Mutex::new(Some(server)));
    let hook = {
        let running = Arc::clone(&running);
        move || -> RestartFuture {
            let (running, db, settings) = (Arc::clone(&running), db.clone(), settings.clone());
            Box::pin(async move {
                let mut slot = running.lock().await;
                if let Some(old) = slot.take() {
                    old.shutdown().await;
                }
                *slot = Some(start_mail_server(&db, imap, settings).await);
                Ok(())
            })
        }
    };
    let mut target = common::imap_target(imap);
    target.restart = Some(Restart::Hook(Arc::new(hook)));
    let outcomes = runner::run_suite(&cases, &target, Some(&push), &[], |_| {}).await;
    if let Some(server) = running.lock().await.take() {
        server.shutdown().await;
    }
    all_pass(&cases, &outcomes);
}

/// The reference push server on the given addresses (port 0 the first time), its state in the
/// SQLite database `db`.
async fn start_push_server(
    db: &Path,
    http: SocketAddr,
    device: SocketAddr,
) -> mailpush_push_server::RunningServer {
    let settings = mailpush_push_server::Settings {
        device_listen: device,
        http_listen: http,
        database: Some(db.to_owned()),
        plain_loopback: true,
        provider_tokens: vec![common::PROVIDER.into()],
        registration_tokens: vec![common::REGISTRATION.into()],
        ..mailpush_push_server::Settings::default()
    };
    let store = mailpush_push_server::open_store(&settings).unwrap();
    mailpush_push_server::start(settings, store).await.unwrap()
}

/// The `push-server` restart cases against the reference push server, restarted on its
/// addresses and its SQLite database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_server_restart_cases_pass_against_the_reference_push_server() {
    let cases = restart_cases(Role::PushServer);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("push.db");
    let server = start_push_server(&db, common::loopback(), common::loopback()).await;
    let (http, device) = (server.http_addr, server.device_addr);
    let running = Arc::new(Mutex::new(Some(server)));
    let hook = {
        let running = Arc::clone(&running);
        move || -> RestartFuture {
            let (running, db) = (Arc::clone(&running), db.clone());
            Box::pin(async move {
                let mut slot = running.lock().await;
                if let Some(old) = slot.take() {
                    old.shutdown().await;
                }
                *slot = Some(start_push_server(&db, http, device).await);
                Ok(())
            })
        }
    };
    let mut target = common::push_target(http, device);
    target.restart = Some(Restart::Hook(Arc::new(hook)));
    let outcomes = runner::run_suite(&cases, &target, None, &[], |_| {}).await;
    if let Some(server) = running.lock().await.take() {
        server.shutdown().await;
    }
    all_pass(&cases, &outcomes);
}

/// Without a way to restart, the restart cases are UNSUPPORTED, not failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_cases_are_unsupported_without_a_way_to_restart() {
    let cases = restart_cases(Role::PushServer);
    let server = common::push_server().await;
    let target = common::push_target(server.http_addr, server.device_addr);
    let outcomes = runner::run_suite(&cases, &target, None, &[], |_| {}).await;
    server.shutdown().await;
    assert!(
        outcomes.iter().all(|o| o.verdict == Verdict::Unsupported),
        "{}",
        report::human(&cases, &outcomes)
    );
}

/// The `imap-server` corpus with four jobs against one reference mail server: every case passes,
/// as with one job (`tests/reference.rs`), though the cases' pushes all arrive at one push
/// service, and the outcomes come back in the corpus order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_imap_server_corpus_passes_with_four_jobs() {
    let cases = common::corpus(Role::ImapServer);
    let listener = tokio::net::TcpListener::bind(common::loopback())
        .await
        .unwrap();
    let push = Arc::new(PushService::start(listener).unwrap());
    let (server, _dir) = common::mail_server(push.addr).await;
    let target = common::imap_target(server.imap_addr.unwrap());
    let mut finished = Vec::new();
    let outcomes = runner::run_suite_parallel_with_push(&cases, &target, Some(push), &[], 4, |o| {
        finished.push(o.id.clone());
    })
    .await
    .unwrap();
    server.shutdown().await;
    all_pass(&cases, &outcomes);
    let ids: Vec<&str> = outcomes.iter().map(|o| o.id.as_str()).collect();
    let corpus: Vec<&str> = cases.iter().map(|c| c.header.id.as_str()).collect();
    assert_eq!(ids, corpus);
    assert_eq!(finished.len(), corpus.len());
}
