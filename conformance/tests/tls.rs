//! The runner over TLS against the reference servers configured with a certificate of a private
//! certificate authority: IMAPS trusting the authority (`--ca`), the provider API and the device
//! channel trusting the one certificate (`--trust-cert`), the binary's flags end to end, and a
//! runner that trusts something else refusing the server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use mailpush_conformance::runner::net::{TlsClient, Trust, read_certificates};
use mailpush_conformance::runner::{self, Verdict, http::PushService, report};
use mailpush_conformance::transcript::Role;
use mailpush_mail_server::driver::Settings;
use mailpush_mail_store::{Config as StoreConfig, Store};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

/// A private authority and a server certificate it signed for `127.0.0.1`, as PEM files.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", ca.pem()),
        cert: write("cert.pem", leaf.pem()),
        key: write("key.pem", leaf_key.serialize_pem()),
        _dir: dir,
    }
}

fn trust_ca(pki: &Pki) -> TlsClient {
    TlsClient::new(
        Trust::Authorities(read_certificates(&pki.ca).unwrap()),
        None,
        &[],
    )
    .unwrap()
}

fn trust_cert(pki: &Pki) -> TlsClient {
    let cert = read_certificates(&pki.cert).unwrap().remove(0);
    TlsClient::new(Trust::Certificate(cert), None, &[]).unwrap()
}

/// The reference mail server with IMAPS only, its certificate from `pki`.
async fn imaps_server(
    pki: &Pki,
    push: SocketAddr,
) -> (
    mailpush_mail_server::driver::RunningMailServer,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("mail.db"), StoreConfig::for_tests()).unwrap();
    store
        .add_user(common::USER, common::PASSWORD.as_bytes())
        .unwrap();
    let settings = Settings {
        imap_listen: None,
        imaps_listen: Some(common::loopback()),
        tls: Some((pki.cert.clone(), pki.key.clone())),
        push: Some(common::push_settings(push)),
        ..Settings::default()
    };
    let server = mailpush_mail_server::driver::start(settings, Arc::new(store))
        .await
        .unwrap();
    (server, dir)
}

/// The reference push server with TLS on both listeners.
async fn tls_push_server(pki: &Pki) -> mailpush_push_server::RunningServer {
    mailpush_push_server::start(
        mailpush_push_server::Settings {
            device_listen: common::loopback(),
            http_listen: common::loopback(),
            database: None,
            tls: Some((pki.cert.clone(), pki.key.clone())),
            plain_loopback: false,
            provider_tokens: vec![common::PROVIDER.into()],
            registration_tokens: vec![common::REGISTRATION.into()],
            ..mailpush_push_server::Settings::default()
        },
        Arc::new(mailpush_push_server::MemoryStore::new()),
    )
    .await
    .unwrap()
}

/// Four cases at a time: TLS is per connection, and most of a case's time is its own deadlines.
const FOUR_JOBS: common::Play = common::Play {
    jobs: 4,
    fail_fast: false,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_imap_server_case_passes_over_imaps_trusting_the_authority() {
    let pki = pki();
    let cases = common::corpus_over_tls(Role::ImapServer);
    let listener = tokio::net::TcpListener::bind(common::loopback())
        .await
        .unwrap();
    let push = Arc::new(PushService::start(listener).unwrap());
    let (server, _dir) = imaps_server(&pki, push.addr).await;
    let mut target = common::imap_target(server.imaps_addr.unwrap());
    target.tls = Some(trust_ca(&pki));
    let outcomes = common::play(&cases, &target, Some(push), FOUR_JOBS).await;
    server.shutdown().await;
    common::assert_all_pass(&cases, &outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_push_server_case_passes_over_tls_trusting_the_certificate() {
    let pki = pki();
    let cases = common::corpus_over_tls(Role::PushServer);
    let server = tls_push_server(&pki).await;
    let mut target = common::push_target(server.http_addr, server.device_addr);
    target.tls = Some(trust_cert(&pki));
    let outcomes = common::play(&cases, &target, None, FOUR_JOBS).await;
    server.shutdown().await;
    common::assert_all_pass(&cases, &outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_the_runner_does_not_trust_is_refused() {
    let pki = pki();
    let other = pki_other();
    let mut cases = common::corpus(Role::PushServer);
    cases.retain(|c| c.header.id == "prov-9.accepted-and-delivered");
    assert_eq!(cases.len(), 1);
    let server = tls_push_server(&pki).await;
    for tls in [
        trust_ca(&other),
        trust_cert(&other),
        TlsClient::new(Trust::PublicRoots, None, &[]).unwrap(),
        // The right authority, but a name the certificate does not carry.
        TlsClient::new(
            Trust::Authorities(read_certificates(&pki.ca).unwrap()),
            Some("mail.example"),
            &[],
        )
        .unwrap(),
    ] {
        let mut target = common::push_target(server.http_addr, server.device_addr);
        target.tls = Some(tls.clone());
        let outcomes = runner::run_suite(&cases, &target, None, &[], |_| {}).await;
        let report = report::human(&cases, &outcomes);
        assert_ne!(outcomes[0].verdict, Verdict::Pass, "{tls:?}:\n{report}");
        assert!(report.contains("TLS handshake"), "{tls:?}:\n{report}");
    }
    server.shutdown().await;
}

fn pki_other() -> Pki {
    pki()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_over_tls_with_ca_and_trust_cert() {
    let pki = pki();
    let server = tls_push_server(&pki).await;
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let (api, device) = (server.http_addr.to_string(), server.device_addr.to_string());
    for trust in [
        ["--ca", pki.ca.to_str().unwrap()],
        ["--trust-cert", pki.cert.to_str().unwrap()],
    ] {
        let args: Vec<String> = [
            "--role",
            "push-server",
            "--cases",
            cases.to_str().unwrap(),
            "--api",
            &api,
            "--device",
            &device,
            "--provider-token",
            common::PROVIDER,
            "--registration-token",
            common::REGISTRATION,
            "--case",
            "prov-9.*",
            "--case",
            "chan-14.*",
            trust[0],
            trust[1],
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_mailpush-conform"))
                .args(&args)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{trust:?}:\n{stdout}");
        assert!(stdout.contains("2 cases: 2 PASS"), "{trust:?}:\n{stdout}");
    }
    server.shutdown().await;
}

/// A push server that serves the provider API and the device channel in the clear fails every
/// case that speaks to it in the clear: the `cleartext` step sees an HTTP response and a frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_server_serving_cleartext_fails_the_cleartext_cases() {
    let pki = pki();
    let mut cases = common::corpus_over_tls(Role::PushServer);
    cases.retain(|c| c.header.harness.iter().any(|h| h == "tls"));
    assert!(cases.len() >= 3, "{} cleartext cases", cases.len());
    let server = common::push_server().await;
    let mut target = common::push_target(server.http_addr, server.device_addr);
    // The run is over TLS as far as the runner knows; the server answers in the clear.
    target.tls = Some(trust_cert(&pki));
    let outcomes = common::play(&cases, &target, None, FOUR_JOBS).await;
    server.shutdown().await;
    let report = report::human(&cases, &outcomes);
    assert!(
        outcomes.iter().all(|o| o.verdict == Verdict::Fail),
        "not every cleartext case failed:\n{report}"
    );
    // Without TLS there is no TLS address: the cases do not apply.
    let plain = common::push_server().await;
    let target = common::push_target(plain.http_addr, plain.device_addr);
    let outcomes = common::play(&cases, &target, None, FOUR_JOBS).await;
    plain.shutdown().await;
    assert!(
        outcomes.iter().all(|o| o.verdict == Verdict::Unsupported),
        "{}",
        report::human(&cases, &outcomes)
    );
}
