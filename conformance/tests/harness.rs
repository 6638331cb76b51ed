//! The runner's harness abilities against the reference servers: the push service it plays
//! for a mail server over HTTPS (`--push-tls`), and the `restart` step (`--restart-cmd`), here
//! a hook that stops an in-process reference server and starts it again on the same addresses
//! and the same database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailpush_conformance::runner::push_service::{CA_FILE, PushTls};
use mailpush_conformance::runner::restart::{Restart, RestartFuture};
use mailpush_conformance::runner::{self, Verdict, http::PushService, report};
use mailpush_conformance::transcript::{Role, Transcript};
use tokio::sync::Mutex;

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

/// The `imap-server` corpus with the runner's push service over HTTPS: the certificate the
/// runner generates into a directory, its authority given to the mail server as its push CA.
/// Four jobs against one mail server: every case passes, as with one job (`tests/reference.rs`),
/// though the cases' pushes all arrive at one push service, and the outcomes come back in the
/// corpus order.
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
    let mut push_settings = common::push_settings(push.addr);
    push_settings.url = format!("https://{}", push.addr);
    push_settings.trust = Some(ca);
    let (server, _dir) = common::mail_server_with(push_settings).await;
    let cases = common::corpus(Role::ImapServer);
    let target = common::imap_target(server.imap_addr.unwrap());
    let mut finished = Vec::new();
    let outcomes =
        runner::run_suite_parallel_with_push(&cases, &target, Some(Arc::new(push)), &[], 4, |o| {
            finished.push(o.id.clone());
        })
        .await
        .unwrap();
    server.shutdown().await;
    common::assert_all_pass(&cases, &outcomes);
    let ids: Vec<&str> = outcomes.iter().map(|o| o.id.as_str()).collect();
    let corpus: Vec<&str> = cases.iter().map(|c| c.header.id.as_str()).collect();
    assert_eq!(ids, corpus);
    assert_eq!(finished.len(), corpus.len());
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
    let mut push_settings = common::push_settings(push.addr);
    push_settings.url = format!("https://{}", push.addr);
    let (server, _dir) = common::mail_server_with(push_settings).await;
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
    let settings = common::push_settings(push.addr);
    let (server, dir) = common::mail_server_with(settings.clone()).await;
    let db = dir.path().join("mail.db");
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
                *slot = Some(common::start_mail_server(&db, imap, settings).await);
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
    common::assert_all_pass(&cases, &outcomes);
}

/// The `push-server` restart cases against the reference push server, restarted on its
/// addresses and its SQLite database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_server_restart_cases_pass_against_the_reference_push_server() {
    let cases = restart_cases(Role::PushServer);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("push.db");
    let server = common::start_push_server(Some(&db), common::loopback(), common::loopback()).await;
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
                *slot = Some(common::start_push_server(Some(&db), http, device).await);
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
    common::assert_all_pass(&cases, &outcomes);
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
