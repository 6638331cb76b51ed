//! The JUnit XML report (`--junit`), the format CI systems read: one `testsuite` per role, one
//! `testcase` per case, in the order the cases were selected.

use std::fmt::Write as _;
use std::time::Duration;

use super::{case_of, detail, escape_markup, reason, seconds};
use crate::runner::{Outcome, Verdict};
use crate::transcript::Transcript;

/// The report. FAIL and TIMEOUT are `failure`s, ERROR an `error`, UNSUPPORTED, KNOWN-FAIL and
/// NON-STRICT `skipped`; each carries the one-line reason as its `message` and the detail of
/// the human summary (requirements, transcript line, expected, closest, variables, wire log)
/// as its text.
pub fn junit(cases: &[Transcript], outcomes: &[Outcome]) -> String {
    let mut roles: Vec<&str> = Vec::new();
    for outcome in outcomes {
        let role = role_of(cases, outcome);
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let all = Counts::of(outcomes.iter());
    let _ = writeln!(
        out,
        "<testsuites name=\"mailpush-conform\" {}>",
        all.attributes()
    );
    for role in roles {
        let members = || outcomes.iter().filter(move |o| role_of(cases, o) == role);
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" {}>",
            escape_markup(role, true),
            Counts::of(members()).attributes()
        );
        for outcome in members() {
            testcase(&mut out, cases, outcome, role);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// The role of an outcome's case, which names its suite.
fn role_of<'a>(cases: &'a [Transcript], outcome: &Outcome) -> &'a str {
    case_of(cases, outcome).map_or("unknown", |c| c.header.role.name())
}

fn testcase(out: &mut String, cases: &[Transcript], outcome: &Outcome, role: &str) {
    let case = case_of(cases, outcome);
    let _ = write!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
        escape_markup(&outcome.id, true),
        escape_markup(role, true),
        seconds(outcome.elapsed)
    );
    if let Some(case) = case {
        let _ = write!(out, " file=\"{}\"", escape_markup(&case.file, true));
    }
    let element = match outcome.verdict {
        Verdict::Pass => None,
        Verdict::Fail | Verdict::Timeout => Some("failure"),
        Verdict::Error => Some("error"),
        Verdict::Unsupported | Verdict::KnownFail | Verdict::NonStrict => Some("skipped"),
    };
    let Some(element) = element else {
        out.push_str("/>\n");
        return;
    };
    // An outcome without its transcript still keeps its verdict, with what little is known.
    let (message, body) = match case {
        Some(case) => (reason(case, outcome), detail(case, outcome)),
        None => (
            format!(
                "{}: the case's transcript is not loaded",
                outcome.verdict.as_str()
            ),
            String::new(),
        ),
    };
    let _ = writeln!(
        out,
        ">\n      <{element} message=\"{}\" type=\"{}\">{}</{element}>\n    </testcase>",
        escape_markup(&message, true),
        outcome.verdict.as_str(),
        escape_markup(&body, false),
    );
}

/// The counts of a `testsuite` or `testsuites` element.
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    time: Duration,
}

impl Counts {
    fn of<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> Counts {
        let mut counts = Counts {
            tests: 0,
            failures: 0,
            errors: 0,
            skipped: 0,
            time: Duration::ZERO,
        };
        for o in outcomes {
            counts.tests += 1;
            counts.time += o.elapsed;
            match o.verdict {
                Verdict::Pass => {}
                Verdict::Fail | Verdict::Timeout => counts.failures += 1,
                Verdict::Error => counts.errors += 1,
                Verdict::Unsupported | Verdict::KnownFail | Verdict::NonStrict => {
                    counts.skipped += 1;
                }
            }
        }
        counts
    }

    fn attributes(&self) -> String {
        format!(
            "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\"",
            self.tests,
            self.failures,
            self.errors,
            self.skipped,
            seconds(self.time)
        )
    }
}
