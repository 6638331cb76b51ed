//! The application hook of the device role (`--app`, `harness: app`): `app` steps parse in device
//! cases and are refused elsewhere, with the place of the problem; a case that needs the hook is
//! UNSUPPORTED without it; with it, the command gets its placeholders, and its exit status and
//! output lines are judged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mailpush_conformance::runner::client::DeviceExec;
use mailpush_conformance::runner::{Target, Verdict, run_case};
use mailpush_conformance::transcript::{AppAction, AppStep, StepKind, parse};

fn header(role: &str, harness: &str) -> String {
    format!(
        "case: c\ntitle: t\n#= spec/notes.md#NOTE-1\n## **Mailbox.**\nlevel: MUST\nrole: {role}\n{harness}\n"
    )
}

#[test]
fn app_steps_parse_and_misuse_is_located() {
    let text = format!(
        "{}app -> edit $id \"new\\ntext\"\napp <- within 5s ok\n* $id Shopping\n! $ Other\n$!ordered\napp -> list\napp <- fail\n",
        header("device", "harness: app\n")
    );
    let t = parse("a.case", &text).unwrap();
    let StepKind::App(AppStep::Run { action, id, text }) = &t.steps[0].kind else {
        panic!("{:?}", t.steps[0]);
    };
    assert_eq!(*action, AppAction::Edit);
    assert!(id.is_some() && text.is_some());
    let StepKind::App(AppStep::Finish(finish)) = &t.steps[1].kind else {
        panic!("{:?}", t.steps[1]);
    };
    assert!(finish.success && finish.ordered && !finish.exact);
    assert_eq!(finish.expectations.len(), 2);
    let StepKind::App(AppStep::Finish(last)) = &t.steps[3].kind else {
        panic!("{:?}", t.steps[3]);
    };
    assert!(!last.success);

    let located = |body: &str, harness: &str, role: &str| {
        let e = parse("e.case", &format!("{}{body}\n", header(role, harness))).unwrap_err();
        (e.error.line, e.error.column)
    };
    // The body starts on line 8 without `harness:`, on line 9 with it.
    assert_eq!(
        located("app -> list", "", "device"),
        (8, 1),
        "no harness: app"
    );
    assert_eq!(
        located("app -> list", "harness: app\n", "push-server"),
        (9, 1)
    );
    assert_eq!(
        located("app -> rename $id", "harness: app\n", "device"),
        (9, 8)
    );
    assert_eq!(
        located("app -> edit $id", "harness: app\n", "device"),
        (9, 16)
    );
    assert_eq!(
        located("app -> list now", "harness: app\n", "device"),
        (9, 13)
    );
    assert_eq!(located("app <- maybe", "harness: app\n", "device"), (9, 8));
    assert_eq!(
        located("imap <- LIST $*\n* $ Notes", "harness: app\n", "device"),
        (10, 1),
        "an expectation after `imap <-`"
    );
}

fn target(app: Option<String>) -> Target {
    Target {
        connect_timeout: Duration::from_secs(10),
        // The device does nothing here: the case only drives the application command.
        exec: Some(DeviceExec::new("exec sleep 300".into(), 1000).unwrap()),
        app,
        ..Target::default()
    }
}

const CASE: &str = "app -> edit \"0F8FAD5B-D9CB-469F-A165-70867728950E\" \"Shopping\\nmilk\"
app <- within 10s ok
* edit 0F8FAD5B-D9CB-469F-A165-70867728950E $title
! $ secret
check title == \"Shopping\"
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_hook_a_case_that_needs_it_is_unsupported() {
    let case = parse(
        "u.case",
        &format!("{}{CASE}", header("device", "harness: app\n")),
    )
    .unwrap();
    let outcome = run_case(&case, &target(None), None).await;
    assert_eq!(
        outcome.verdict,
        Verdict::Unsupported,
        "{:?}",
        outcome.finding
    );
}

/// The command sees `{action}`, `{id}` and `{text}` in its line and in the environment; what it
/// prints is matched line by line; a wrong exit status or a forbidden line fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_gets_the_action_and_its_output_is_judged() {
    let case = parse(
        "p.case",
        &format!("{}{CASE}", header("device", "harness: app\n")),
    )
    .unwrap();
    // The first line of the text is the title; the command prints the action, the id, the title.
    let app = r#"first=$(printf '%s\n' {text} | head -n 1); [ "$MAILPUSH_CONFORM_TEXT" = "$(printf 'Shopping\nmilk')" ] && echo {action} "$MAILPUSH_CONFORM_ID" "$first""#;
    let outcome = run_case(&case, &target(Some(app.into())), None).await;
    assert_eq!(outcome.verdict, Verdict::Pass, "{:?}", outcome.finding);

    let refuses = run_case(&case, &target(Some("echo edit; exit 3".into())), None).await;
    assert_eq!(refuses.verdict, Verdict::Fail, "{:?}", refuses.finding);
    assert_eq!(refuses.finding.unwrap().line, 10);

    let leaks = "echo edit 0F8FAD5B-D9CB-469F-A165-70867728950E Shopping; echo a secret";
    let forbidden = run_case(&case, &target(Some(leaks.into())), None).await;
    assert_eq!(forbidden.verdict, Verdict::Fail, "{:?}", forbidden.finding);
    assert_eq!(forbidden.finding.unwrap().line, 12);

    let slow = run_case(&case, &target(Some("sleep 30".into())), None).await;
    assert_eq!(slow.verdict, Verdict::Fail, "{:?}", slow.finding);
}
