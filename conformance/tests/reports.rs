//! The JUnit XML and HTML reports: structure, and the escaping of whatever a peer sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use mailpush_conformance::runner::{Finding, Outcome, Verdict, report};
use mailpush_conformance::transcript::{Role, Transcript};

/// What a hostile peer can put in a reply: markup, a CDATA end, a NUL, another control
/// character, a right-to-left override, and octets that are not UTF-8 (the runner's readers decode them lossily, as
/// here).
fn hostile() -> String {
    let mut octets = b"<b>&amp; ]]> \"q\" 'a' nul\0 bell\x07 rlo\xe2\x80\xae ".to_vec();
    octets.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    octets.extend_from_slice(b" end");
    String::from_utf8_lossy(&octets).into_owned()
}

/// Three push-server cases (PASS, FAIL with a hostile reply, UNSUPPORTED) and one imap-server
/// case (ERROR), with outcomes made up as the runner makes them.
fn run() -> (Vec<Transcript>, Vec<Outcome>) {
    let push = common::corpus(Role::PushServer);
    let imap = common::corpus(Role::ImapServer);
    let cases = vec![
        push[0].clone(),
        push[1].clone(),
        push[2].clone(),
        imap[0].clone(),
    ];
    let outcome = |case: &Transcript, verdict, finding: Option<Finding>| Outcome {
        id: case.header.id.clone(),
        verdict,
        finding,
        vars: Vec::new(),
        log: Vec::new(),
        elapsed: Duration::from_millis(1234),
    };
    let mut fail = outcome(
        &cases[1],
        Verdict::Fail,
        Some(Finding {
            line: 3,
            message: format!("status 400, expected 201 {}", hostile()),
            expected: Some("201".into()),
            actual: Some(format!("400\n  body {}", hostile())),
        }),
    );
    fail.vars = vec![("token".into(), hostile())];
    fail.log = vec![format!("api S: 400\n  body {}", hostile())];
    let outcomes = vec![
        outcome(&cases[0], Verdict::Pass, None),
        fail,
        outcome(
            &cases[2],
            Verdict::Unsupported,
            Some(Finding {
                line: 1,
                message: "the runner lacks the harness ability `restart`".into(),
                expected: None,
                actual: None,
            }),
        ),
        outcome(
            &cases[3],
            Verdict::Error,
            Some(Finding {
                line: 2,
                message: "connecting: refused".into(),
                expected: None,
                actual: None,
            }),
        ),
    ];
    (cases, outcomes)
}

/// The escaped form of `hostile()` a reader sees once the markup is parsed: the same text,
/// with the characters XML 1.0 forbids spelled out.
fn hostile_as_read() -> String {
    hostile()
        .replace('\0', "\\x00")
        .replace('\x07', "\\x07")
        .replace('\u{202e}', "\\u{202e}")
}

#[test]
fn junit_report_parses_and_carries_every_verdict_and_the_hostile_reply() {
    let (cases, outcomes) = run();
    let xml = report::junit(&cases, &outcomes);
    assert!(!xml.contains('\0'), "{xml}");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("4"));
    assert_eq!(root.attribute("failures"), Some("1"));
    assert_eq!(root.attribute("errors"), Some("1"));
    assert_eq!(root.attribute("skipped"), Some("1"));
    assert_eq!(root.attribute("time"), Some("4.936"));

    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    let names: Vec<_> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap())
        .collect();
    assert_eq!(names, ["push-server", "imap-server"]);
    let push = suites[0];
    assert_eq!(push.tag_name().name(), "testsuite");
    for (attribute, value) in [
        ("tests", "3"),
        ("failures", "1"),
        ("errors", "0"),
        ("skipped", "1"),
        ("time", "3.702"),
    ] {
        assert_eq!(push.attribute(attribute), Some(value), "{attribute}");
    }

    let testcases: Vec<_> = push.children().filter(|n| n.is_element()).collect();
    let ids: Vec<_> = testcases
        .iter()
        .map(|t| t.attribute("name").unwrap())
        .collect();
    let expected_ids: Vec<_> = cases[..3].iter().map(|c| c.header.id.as_str()).collect();
    assert_eq!(ids, expected_ids);
    assert!(
        testcases
            .iter()
            .all(|t| t.attribute("classname") == Some("push-server"))
    );
    assert_eq!(testcases[0].attribute("time"), Some("1.234"));
    assert_eq!(
        testcases[0].children().filter(|n| n.is_element()).count(),
        0
    );

    let failure = testcases[1].first_element_child().unwrap();
    assert_eq!(failure.tag_name().name(), "failure");
    let message = failure.attribute("message").unwrap();
    assert!(message.starts_with("FAIL: line 3: status 400"), "{message}");
    assert!(message.ends_with(&hostile_as_read()), "{message}");
    let body = failure.text().unwrap();
    let requirement = &cases[1].header.requirements[0];
    assert!(
        body.contains(&format!(
            "requirement {}#{}: {}",
            requirement.document, requirement.id, requirement.quote
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!("line 3: {}", cases[1].line(3).trim())),
        "{body}"
    );
    assert!(body.contains("expected: 201"), "{body}");
    assert!(
        body.contains(&format!(
            "closest:  400\n              body {}",
            hostile_as_read()
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!("variables: $token={}", hostile_as_read())),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "wire log:\n    api S: 400\n          body {}",
            hostile_as_read()
        )),
        "{body}"
    );
    assert!(body.contains('\u{fffd}'), "{body}");

    let skipped = testcases[2].first_element_child().unwrap();
    assert_eq!(skipped.tag_name().name(), "skipped");
    assert_eq!(
        skipped.attribute("message"),
        Some("UNSUPPORTED: line 1: the runner lacks the harness ability `restart`")
    );

    let error = suites[1]
        .first_element_child()
        .unwrap()
        .first_element_child()
        .unwrap();
    assert_eq!(error.tag_name().name(), "error");
    assert_eq!(
        error.attribute("message"),
        Some("ERROR: line 2: connecting: refused")
    );
}

#[test]
fn known_failures_and_non_strict_cases_are_skipped_with_the_reason() {
    let (cases, mut outcomes) = run();
    outcomes[1].verdict = Verdict::KnownFail;
    outcomes[2].verdict = Verdict::NonStrict;
    let xml = report::junit(&cases, &outcomes);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let skipped: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("skipped"))
        .map(|n| n.attribute("message").unwrap().to_owned())
        .collect();
    assert_eq!(skipped.len(), 2, "{xml}");
    assert!(
        skipped[0].starts_with(
            "KNOWN-FAIL: listed as a known failure (--expectations); line 3: status 400"
        ),
        "{skipped:?}"
    );
    assert!(
        skipped[1].starts_with(&format!(
            "NON-STRICT: a {} case failed and the run is not --strict; line 1:",
            cases[2].header.level.as_str()
        )),
        "{skipped:?}"
    );
    assert_eq!(doc.root_element().attribute("skipped"), Some("2"));
    assert_eq!(doc.root_element().attribute("failures"), Some("0"));
}

/// The text of every element child of `node` named `name`.
fn texts(node: roxmltree::Node, name: &str) -> Vec<String> {
    node.descendants()
        .filter(|n| n.has_tag_name(name))
        .map(|n| {
            n.descendants()
                .filter(|t| t.is_text())
                .filter_map(|t| t.text())
                .collect()
        })
        .collect()
}

#[test]
fn html_report_lists_every_case_and_escapes_the_hostile_reply() {
    let (cases, outcomes) = run();
    let html = report::html(&cases, &outcomes);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(!html.contains('\0'), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    // Self-contained: no script, nothing loaded, every link within the page.
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("src="), "{html}");
    assert!(!html.contains("<link"), "{html}");
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..roxmltree::ParsingOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{html}"));
    let body = doc.descendants().find(|n| n.has_tag_name("body")).unwrap();
    let summary = body
        .descendants()
        .find(|n| n.attribute("class") == Some("summary"))
        .unwrap();
    assert_eq!(
        summary.text(),
        Some("4 cases: 1 PASS, 1 FAIL, 1 UNSUPPORTED, 1 ERROR")
    );

    let tbody = body
        .descendants()
        .find(|n| n.has_tag_name("tbody"))
        .unwrap();
    let rows: Vec<Vec<String>> = tbody
        .children()
        .filter(|n| n.has_tag_name("tr"))
        .map(|row| texts(row, "td"))
        .collect();
    assert_eq!(rows.len(), 4);
    for (row, (case, outcome)) in rows.iter().zip(cases.iter().zip(&outcomes)) {
        let requirements: Vec<String> = case
            .header
            .requirements
            .iter()
            .map(|r| format!("{}#{}", r.document, r.id))
            .collect();
        assert_eq!(
            row,
            &[
                case.header.id.clone(),
                outcome.verdict.as_str().to_owned(),
                case.header.level.as_str().to_owned(),
                case.header.role.name().to_owned(),
                requirements.concat(),
                "1.234".to_owned(),
            ]
        );
    }
    let links: Vec<&str> = tbody
        .descendants()
        .filter_map(|n| n.attribute("href"))
        .collect();
    assert_eq!(links, ["#case-1", "#case-2", "#case-3"]);

    let sections: Vec<_> = body
        .descendants()
        .filter(|n| n.has_tag_name("section"))
        .collect();
    let anchors: Vec<_> = sections
        .iter()
        .map(|s| s.attribute("id").unwrap())
        .collect();
    assert_eq!(anchors, ["case-1", "case-2", "case-3"]);
    let heading = texts(sections[0], "h3").concat();
    assert_eq!(heading, format!("FAIL {}", cases[1].header.id));
    let reason = texts(sections[0], "p").concat();
    assert!(reason.contains(&hostile_as_read()), "{reason}");
    let pre = texts(sections[0], "pre").concat();
    assert!(
        pre.contains(&format!(
            "closest:  400\n              body {}",
            hostile_as_read()
        )),
        "{pre}"
    );
    assert!(
        pre.contains(&format!(
            "wire log:\n    api S: 400\n          body {}",
            hostile_as_read()
        )),
        "{pre}"
    );
    assert!(
        texts(sections[1], "p")
            .concat()
            .contains("UNSUPPORTED: line 1: the runner lacks")
    );
    assert!(
        texts(sections[2], "p")
            .concat()
            .contains("ERROR: line 2: connecting: refused")
    );
}

// Debian's headless Chromium, driven as the trace chart's tests drive it.
#[path = "../../reference/cli/tests/browser/mod.rs"]
mod browser;

/// A browser builds from the HTML report the page the report means: every case a row, a
/// section per case that did not pass, and the hostile reply as text, not as markup.
#[test]
fn a_browser_reads_the_html_report_as_written() {
    let Some(chromium) = browser::chromium() else {
        return;
    };
    let (cases, outcomes) = run();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, report::html(&cases, &outcomes)).unwrap();
    let out = browser::run_chromium(
        &chromium,
        &dir.path().join("profile"),
        &["--dump-dom".into()],
        &page,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    assert_eq!(dom.matches("<tr>").count(), 1 + outcomes.len(), "{dom}");
    assert_eq!(dom.matches("<section ").count(), 3, "{dom}");
    assert!(!dom.contains("<b>"), "{dom}");
    assert!(dom.contains("&lt;b&gt;&amp;amp; ]]&gt;"), "{dom}");
    assert!(dom.contains("\\x00"), "{dom}");
    assert!(!dom.contains("<script"), "{dom}");
}
