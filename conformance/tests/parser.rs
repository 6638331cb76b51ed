//! The transcript parser over the corpus and over arbitrary and damaged text: it never panics,
//! and its errors point inside the text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use mailpush_conformance::runner::load_dir;
use quickcheck::{QuickCheck, TestResult};

fn corpus_texts() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut texts = Vec::new();
    for role in std::fs::read_dir(dir).unwrap() {
        for file in std::fs::read_dir(role.unwrap().path()).unwrap() {
            texts.push(std::fs::read_to_string(file.unwrap().path()).unwrap());
        }
    }
    texts
}

#[test]
fn the_corpus_parses_and_case_ids_are_unique() {
    let cases = load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")).unwrap();
    assert!(cases.len() >= 20);
    let mut ids: Vec<&str> = cases.iter().map(|c| c.header.id.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "a case id is used twice");
    for case in &cases {
        let name = Path::new(&case.file).file_name().unwrap().to_string_lossy();
        assert_eq!(
            name,
            format!("{}.case", case.header.id),
            "file named after its id"
        );
    }
}

fn error_is_inside(text: &str) -> bool {
    mailpush_conformance::fuzzing::check_transcript(text.as_bytes()).is_ok()
}

#[test]
fn arbitrary_text_never_panics() {
    fn property(text: String) -> bool {
        error_is_inside(&text)
    }
    QuickCheck::new()
        .tests(2000)
        .quickcheck(property as fn(String) -> bool);
}

static TEXTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

fn damaged(which: usize, at: usize, cut: usize, insert: String) -> TestResult {
    let texts = TEXTS.get_or_init(corpus_texts);
    let text = &texts[which % texts.len()];
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let mut end = (at + cut % 16).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let damaged = format!("{}{insert}{}", &text[..at], &text[end.max(at)..]);
    TestResult::from_bool(error_is_inside(&damaged))
}

#[test]
fn damaged_corpus_files_never_panic() {
    QuickCheck::new()
        .tests(3000)
        .quickcheck(damaged as fn(usize, usize, usize, String) -> TestResult);
}

/// The device role's `imap` channel: parsed in device cases, refused elsewhere and when
/// malformed, with the line and column of the problem.
#[test]
fn imap_steps_of_device_cases_parse_and_misuse_is_located() {
    use mailpush_conformance::transcript::{DeviceImapStep, StepKind, parse};
    let header = |role: &str| {
        format!(
            "case: c\ntitle: t\n#= spec/device-local.md#LOCAL-1\n## **Listing.**\nlevel: MUST\nrole: {role}\n\n"
        )
    };
    let device = format!(
        "{}imap <- within 5s LIST $*\nimap -> $tag OK done\n",
        header("device")
    );
    let t = parse("d.case", &device).unwrap();
    assert!(matches!(
        t.steps[0].kind,
        StepKind::DeviceImap(DeviceImapStep::Expect(..))
    ));
    assert!(matches!(
        t.steps[1].kind,
        StepKind::DeviceImap(DeviceImapStep::Send(_))
    ));
    let push = format!("{}imap <- LIST $*\n", header("push-server"));
    let e = parse("p.case", &push).unwrap_err();
    assert_eq!((e.error.line, e.error.column), (8, 1), "{e}");
    assert!(e.to_string().starts_with("p.case:8:1: "), "{e}");
    let empty = format!("{}imap <- within 5s\n", header("device"));
    let e = parse("e.case", &empty).unwrap_err();
    assert_eq!(e.error.line, 8, "{e}");
    let neither = format!("{}imap LIST\n", header("device"));
    let e = parse("n.case", &neither).unwrap_err();
    assert_eq!((e.error.line, e.error.column), (8, 6), "{e}");
}

/// `imap <- may`: the `imap ->` lines right after it are its answer, not steps of their own; a
/// deadline on it is an error at its column.
#[test]
fn optional_device_commands_own_the_lines_after_them() {
    use mailpush_conformance::transcript::{DeviceImapStep, StepKind, parse};
    let header = "case: c\ntitle: t\n#= spec/device-local.md#LOCAL-1\n## **Listing.**\nlevel: MUST\nrole: device\n\n";
    let text = format!(
        "{header}imap <- EXAMINE|SELECT $mailbox1 $*\nimap -> $tag OK done\nimap <- may UID FETCH $*\nimap -> * 1 FETCH (UID 1 FLAGS ())\nimap -> $tag OK done\nwait 1s\nimap -> * 2 EXISTS\n"
    );
    let t = parse("m.case", &text).unwrap();
    let kinds: Vec<_> = t.steps.iter().map(|s| &s.kind).collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    let StepKind::DeviceImap(DeviceImapStep::May(pattern, answer)) = kinds[2] else {
        panic!("{:?}", kinds[2]);
    };
    assert_eq!(pattern.to_string(), "UID FETCH $*");
    let answer: Vec<String> = answer.iter().map(|t| t.source()).collect();
    assert_eq!(answer, ["* 1 FETCH (UID 1 FLAGS ())", "$tag OK done"]);
    // After another step, `imap ->` is a step again.
    assert!(matches!(
        kinds[4],
        StepKind::DeviceImap(DeviceImapStep::Send(_))
    ));
    // A comment indented inside `repeat` is a comment.
    let looped = format!(
        "{header}repeat 2\n  imap <- EXAMINE $mailbox1\n  # the open's answer\n  imap -> $tag OK done\nend\n"
    );
    parse("r.case", &looped).unwrap();
    for deadline in ["within 5s", "not within 2s", "within  5s"] {
        let timed = format!("{header}imap <- may {deadline} UID FETCH $*\n");
        let e = parse("t.case", &timed).unwrap_err();
        assert_eq!((e.error.line, e.error.column), (8, 13), "{e}");
    }
}

/// `$!unordered` opens a list or is an error at its own column; an unordered list with more
/// element patterns than the bound is an error at the list's opening parenthesis.
#[test]
fn unordered_lists_parse_and_misuse_is_located() {
    use mailpush_conformance::transcript::imap_pattern::MAX_UNORDERED;
    use mailpush_conformance::transcript::parse;
    let header = "case: c\ntitle: t\n#= spec/device-local.md#LOCAL-1\n## **Listing.**\nlevel: MUST\nrole: device\n\n";
    let step = "imap <- within 5s XAPPLEPUSHSERVICE $* mailboxes (";
    let good = format!("{header}{step}$!unordered $mailbox1 $mailbox2)\n");
    parse("u.case", &good).unwrap();
    let misplaced = format!("{header}{step}$mailbox1 $!unordered $mailbox2)\n");
    let e = parse("m.case", &misplaced).unwrap_err();
    let column = step.len() + "$mailbox1 ".len() + 1;
    assert_eq!((e.error.line, e.error.column), (8, column), "{e}");
    assert!(
        e.to_string().starts_with(&format!("m.case:8:{column}: ")),
        "{e}"
    );
    let names: Vec<String> = (0..=MAX_UNORDERED).map(|i| format!("m{i}")).collect();
    let long = format!("{header}{step}$!unordered {})\n", names.join(" "));
    let e = parse("l.case", &long).unwrap_err();
    assert_eq!((e.error.line, e.error.column), (8, step.len()), "{e}");
    assert!(e.to_string().contains("at most 16"), "{e}");
    let at_limit = format!(
        "{header}{step}$!unordered {} $*)\n",
        names[..MAX_UNORDERED].join(" ")
    );
    parse("a.case", &at_limit).unwrap();
}

/// A `config:` need names a known value with a unit fitting its kind; a wrong one is an error
/// at the value's line and column, and a good one is kept for the runner.
#[test]
fn config_needs_are_checked_where_they_are_written() {
    let case = |config: &str| {
        format!(
            "case: x\n#= spec/device-channel.md#CHAN-24\n## quoted\nlevel: MUST\nrole: push-server\nconfig: {config}\n\ndev1 connect\n"
        )
    };
    let parsed =
        mailpush_conformance::transcript::parse("x.case", &case("keepalive<=3s, rate-burst>=2"))
            .unwrap();
    let needs: Vec<String> = parsed
        .header
        .config
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(needs, ["keepalive<=3000ms", "rate-burst>=2"]);
    for bad in [
        "keepalive<=3",
        "rate-burst=2s",
        "keep-alive=3s",
        "keepalive",
    ] {
        let error = mailpush_conformance::transcript::parse("x.case", &case(bad)).unwrap_err();
        assert_eq!(
            (error.error.line, error.error.column),
            (6, 9),
            "{bad}: {error}"
        );
    }
}

#[test]
fn an_optional_header_tells_requests_apart_whether_sent_or_not() {
    use mailpush_conformance::transcript::http_pattern::HttpMessage;
    use mailpush_conformance::transcript::{HttpStep, StepKind, Vars, parse};
    let text = "case: c\ntitle: t\n#= spec/provider-api.md#PROV-23\n## it MUST NOT retry the same request unchanged.\nlevel: MUST\nrole: imap-server\n\npush <- POST /v1/push/$token\n  ?Urgency: $urgency\n  body $body\n";
    let t = parse("o.case", text).unwrap();
    let StepKind::Http(_, HttpStep::Expect(_, pattern)) = &t.steps[0].kind else {
        panic!("not a push expectation: {:?}", t.steps[0].kind);
    };
    let request = |urgency: Option<&str>| HttpMessage {
        request: Some(("POST".into(), "/v1/push/abc".into())),
        status: 0,
        headers: urgency
            .map(|u| vec![("Urgency".to_owned(), u.to_owned())])
            .unwrap_or_default(),
        body: b"{}".to_vec(),
    };
    let after = |first: Option<&str>| {
        let mut bound = Vec::new();
        pattern
            .matches(&request(first), &Vars::new(), &mut bound)
            .unwrap();
        bound.into_iter().collect::<Vars>()
    };
    let mut second = Vec::new();
    // Sent both times: equal values match, a changed value does not.
    let low = after(Some("low"));
    assert!(
        pattern
            .matches(&request(Some("low")), &low, &mut second)
            .is_ok()
    );
    assert!(
        pattern
            .matches(&request(Some("normal")), &low, &mut second)
            .is_err()
    );
    assert!(pattern.matches(&request(None), &low, &mut second).is_err());
    // Never sent: absent again matches, present now does not.
    let absent = after(None);
    assert_eq!(absent.get("urgency"), Some(&serde_json::Value::from("")));
    assert!(
        pattern
            .matches(&request(None), &absent, &mut second)
            .is_ok()
    );
    assert!(
        pattern
            .matches(&request(Some("low")), &absent, &mut second)
            .is_err()
    );
}
