//! `mailpush-conform` as a third party runs it: flags, exit codes, reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn conform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailpush-conform"))
        .args(args)
        .output()
        .unwrap()
}

fn cases_dir() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("cases")
        .display()
        .to_string()
}

#[test]
fn configuration_errors_name_the_flag_and_exit_2() {
    let cases = cases_dir();
    let checks: [(&[&str], &str); 7] = [
        (
            &["--role", "imap-server", "--cases", &cases, "--jobs", "2"],
            "--push-listen",
        ),
        (
            &["--role", "push-server", "--cases", &cases, "--jobs", "0"],
            "--jobs 0",
        ),
        (
            &["--role", "push-server", "--cases", &cases, "--jobs", "65"],
            "--jobs 65",
        ),
        (
            &["--role", "mail-server", "--cases", &cases],
            "--role mail-server",
        ),
        (&["--role", "imap-server", "--cases", &cases], "--imap"),
        (
            &[
                "--role",
                "imap-server",
                "--cases",
                &cases,
                "--imap",
                "127.0.0.1:1",
            ],
            "--user",
        ),
        (
            &["--role", "push-server", "--cases", "no/such/dir"],
            "no/such/dir",
        ),
    ];
    for (args, named) in checks {
        let out = conform(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

#[test]
fn list_selects_by_glob_and_an_empty_selection_exits_3() {
    let cases = cases_dir();
    let out = conform(&[
        "--role",
        "imap-server",
        "--cases",
        &cases,
        "--list",
        "--case",
        "xaps-1*",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("xaps-1.capability-after-auth"), "{stdout}");
    assert!(stdout.contains("xaps-11.reply-form"), "{stdout}");
    assert!(!stdout.contains("xaps-2."), "{stdout}");
    // SHOULD cases only with --strict.
    let plain = conform(&["--role", "imap-server", "--cases", &cases, "--list"]);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("arch-1.idle"));
    let strict = conform(&[
        "--role",
        "imap-server",
        "--cases",
        &cases,
        "--list",
        "--strict",
    ]);
    assert!(String::from_utf8_lossy(&strict.stdout).contains("arch-1.idle"));
    let none = conform(&[
        "--role",
        "imap-server",
        "--cases",
        &cases,
        "--list",
        "--case",
        "nothing-*",
    ]);
    assert_eq!(none.status.code(), Some(3));
}

/// Runs the binary against a fresh reference push server with `provider` as the provider
/// token and `extra` flags.
async fn against_push_server(provider: &'static str, extra: Vec<String>) -> Output {
    let server = common::push_server().await;
    let mut args: Vec<String> = [
        "--role",
        "push-server",
        "--cases",
        &cases_dir(),
        "--api",
        &server.http_addr.to_string(),
        "--device",
        &server.device_addr.to_string(),
        "--provider-token",
        provider,
        "--registration-token",
        common::REGISTRATION,
        // An in-process server cannot be restarted by a command: tests/harness.rs plays those.
        "--exclude",
        "*restart*",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // Those that need a configured server (tests/configured.rs plays them) or a run over TLS
    // (tests/tls.rs).
    for case in mailpush_conformance::runner::load_dir(Path::new(&cases_dir())).unwrap() {
        if common::needs_configured_server(&case) || case.header.harness.iter().any(|h| h == "tls")
        {
            args.extend(["--exclude".to_owned(), case.header.id]);
        }
    }
    args.extend(extra);
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        conform(&args)
    })
    .await
    .unwrap();
    server.shutdown().await;
    out
}

/// The binary against the reference push server, with one job and with four: exit 0, a JSON
/// report in which every case passes, the same verdicts with four jobs as with one, every case
/// reported in the order of the corpus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_jobs_give_the_verdicts_of_one_in_the_corpus_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for jobs in ["1", "4"] {
        let json = dir.path().join(format!("report-{jobs}.json"));
        let out = against_push_server(
            common::PROVIDER,
            vec![
                "--jobs".into(),
                jobs.into(),
                "--json".into(),
                json.display().to_string(),
            ],
        )
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "--jobs {jobs}: {stderr}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(report["schema"], 1);
        let results = report["results"].as_array().unwrap();
        assert_eq!(
            results.len(),
            common::corpus(mailpush_conformance::transcript::Role::PushServer).len()
        );
        assert!(results.iter().all(|r| r["verdict"] == "PASS"), "{report}");
        let verdicts: Vec<(String, String)> = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_owned(),
                    r["verdict"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        runs.push(verdicts);
    }
    let corpus: Vec<String> = common::corpus(mailpush_conformance::transcript::Role::PushServer)
        .iter()
        .filter(|c| c.header.level == mailpush_conformance::transcript::Level::Must)
        .map(|c| c.header.id.clone())
        .collect();
    let ids: Vec<&String> = runs[1].iter().map(|(id, _)| id).collect();
    assert_eq!(ids, corpus.iter().collect::<Vec<_>>());
    assert_eq!(runs[0], runs[1]);
}

/// A wrong provider token makes cases fail, and the run exits 1 with the requirement quoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_exit_1_and_the_summary_quotes_the_requirement() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let html = dir.path().join("report.html");
    let out = against_push_server(
        "wrong",
        vec![
            "--case".into(),
            "prov-9.*".into(),
            "--junit".into(),
            junit.display().to_string(),
            "--html".into(),
            html.display().to_string(),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL prov-9.accepted-and-delivered"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "requirement provider-api.md#PROV-9: The server MUST answer an accepted push"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("closest:  401"), "{stdout}");
    // The JUnit report carries the same failure.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap_or_else(|| panic!("{xml}"));
    assert_eq!(
        failure.parent().unwrap().attribute("name"),
        Some("prov-9.accepted-and-delivered")
    );
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .contains("status 401, expected 201"),
        "{xml}"
    );
    assert!(failure.text().unwrap().contains("closest:  401"), "{xml}");
    // So does the HTML report.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<p class=\"summary\">1 cases: 1 FAIL</p>"),
        "{page}"
    );
    assert!(
        page.contains("<h3><span class=\"FAIL\">FAIL</span> prov-9.accepted-and-delivered</h3>"),
        "{page}"
    );
    assert!(page.contains("closest:  401"), "{page}");
}

/// `--fail-fast`: with a wrong provider token the first case (prov-9, before the ring-* ones)
/// fails, and no case starts after it; the run exits 1 and the summary counts the cases not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_ends_the_run_at_the_first_failure() {
    let out = against_push_server(
        "wrong",
        vec![
            "--case".into(),
            "prov-9.*".into(),
            "--case".into(),
            "ring-*".into(),
            "--fail-fast".into(),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("1 cases: 1 FAIL"), "{stdout}");
    assert!(stdout.contains("cases not run"), "{stdout}");
}
