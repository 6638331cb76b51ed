//! Reports: the human summary and the versioned JSON report (schema in `conformance/README.md`).

mod html;
mod junit;

use std::fmt::Write as _;

use serde_json::json;

use super::{Outcome, Verdict};

use crate::transcript::Transcript;
pub use html::html;
pub use junit::junit;

/// The version of the JSON report's schema.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The verdicts in the order summaries list them.
const ORDER: [Verdict; 7] = [
    Verdict::Pass,
    Verdict::Fail,
    Verdict::NonStrict,
    Verdict::Unsupported,
    Verdict::Timeout,
    Verdict::Error,
    Verdict::KnownFail,
];

/// One line per case as it finishes.
pub fn progress_line(outcome: &Outcome) -> String {
    format!(
        "{:<11} {} ({} ms)",
        outcome.verdict.as_str(),
        outcome.id,
        outcome.elapsed.as_millis()
    )
}

/// The summary people read: for each case that did not pass, the requirement it checks, the
/// transcript line, what was expected and what arrived, the variables and the wire log; then
/// the counts.
pub fn human(cases: &[Transcript], outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    for (case, outcome) in not_passed(cases, outcomes) {
        let _ = writeln!(
            out,
            "\n{} {}  ({})",
            outcome.verdict.as_str(),
            outcome.id,
            case.file
        );
        out.push_str(&detail(case, outcome));
    }
    let _ = writeln!(out, "\n{} cases: {}", outcomes.len(), counts(outcomes));
    if let Some(not_run) = cases.len().checked_sub(outcomes.len()).filter(|n| *n > 0) {
        let _ = writeln!(
            out,
            "{not_run} cases not run: the run stopped at its first failure (--fail-fast)"
        );
    }
    out
}

/// Each case that did not pass, with its transcript.
fn not_passed<'a>(
    cases: &'a [Transcript],
    outcomes: &'a [Outcome],
) -> impl Iterator<Item = (&'a Transcript, &'a Outcome)> {
    outcomes
        .iter()
        .filter(|o| o.verdict != Verdict::Pass)
        .filter_map(|o| Some((case_of(cases, o)?, o)))
}

/// The transcript an outcome is the result of.
fn case_of<'a>(cases: &'a [Transcript], outcome: &Outcome) -> Option<&'a Transcript> {
    cases.iter().find(|c| c.header.id == outcome.id)
}

/// The counts per verdict, in the summary's order, leaving out the verdicts no case got.
fn counts(outcomes: &[Outcome]) -> String {
    let counts: Vec<String> = ORDER
        .iter()
        .map(|v| (v, outcomes.iter().filter(|o| o.verdict == *v).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(v, n)| format!("{n} {}", v.as_str()))
        .collect();
    counts.join(", ")
}

/// Why a case did not pass, as every report shows it: the requirements it checks, the
/// transcript line, the problem, what was expected and the closest reply, the variables and
/// the end of the wire log; one item a line, indented by two.
fn detail(case: &Transcript, outcome: &Outcome) -> String {
    let mut out = String::new();
    for r in &case.header.requirements {
        let _ = writeln!(out, "  requirement {}#{}: {}", r.document, r.id, r.quote);
    }
    if let Some(f) = &outcome.finding {
        let _ = writeln!(out, "  line {}: {}", f.line, case.line(f.line).trim());
        let _ = writeln!(out, "  problem: {}", f.message);
        if let Some(e) = &f.expected {
            let _ = writeln!(out, "  expected: {}", indent(e, 12));
        }
        if let Some(a) = &f.actual {
            let _ = writeln!(out, "  closest:  {}", indent(a, 12));
        }
    }
    if !outcome.vars.is_empty() {
        let vars: Vec<String> = outcome
            .vars
            .iter()
            .map(|(k, v)| format!("${k}={v}"))
            .collect();
        let _ = writeln!(out, "  variables: {}", vars.join(" "));
    }
    if !outcome.log.is_empty() {
        let _ = writeln!(out, "  wire log:");
        for l in outcome.log.iter().rev().take(WIRE_LOG_LINES).rev() {
            let _ = writeln!(out, "    {}", indent(l, 8));
        }
    }
    out
}

/// How many wire log entries (the last ones) the reports show for a case.
const WIRE_LOG_LINES: usize = 40;

/// Continuation lines of a multi-line value, indented under its first.
fn indent(text: &str, pad: usize) -> String {
    let text = text.replace("\r\n", "\n");
    let text = text.trim_end();
    text.replace('\n', &format!("\n{}", " ".repeat(pad)))
}

/// `text` made safe as XML 1.0 or HTML character data, or as a quoted attribute value. The
/// markup characters become references (quotes only in attributes, where they end the value),
/// so nothing a peer sent (`<`, `&`, `]]>`, quotes) can open or close markup. Characters
/// neither language may carry (controls other than tab, line feed and carriage return, C1
/// controls, U+FFFE, U+FFFF) are written as `\xNN` or `\u{NNNN}`: XML 1.0 forbids them even
/// as references, and a reader should still see what was sent. The bidirectional formatting
/// characters are spelled out the same way, since a browser would otherwise let them reorder
/// the text around them. In an attribute, tab and line breaks become references too, which
/// attribute normalisation would otherwise turn into spaces.
fn escape_markup(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&#39;"),
            '\t' | '\n' | '\r' if attribute => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            '\t' | '\n' | '\r' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            '\u{fffe}'
            | '\u{ffff}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// A case's elapsed time in seconds, as JUnit's `time` attributes and the HTML report show it.
fn seconds(elapsed: std::time::Duration) -> String {
    format!("{:.3}", elapsed.as_secs_f64())
}

/// The one-line reason a report gives for a verdict other than PASS: the verdict, why cases
/// get it where the finding alone does not say, and the finding's problem.
fn reason(case: &Transcript, outcome: &Outcome) -> String {
    let problem = outcome
        .finding
        .as_ref()
        .map_or("no finding recorded", |f| f.message.as_str());
    let why = match outcome.verdict {
        Verdict::KnownFail => "listed as a known failure (--expectations); ".to_owned(),
        Verdict::NonStrict => format!(
            "a {} case failed and the run is not --strict; ",
            case.header.level.as_str()
        ),
        _ => String::new(),
    };
    match &outcome.finding {
        Some(f) => format!(
            "{}: {why}line {}: {problem}",
            outcome.verdict.as_str(),
            f.line
        ),
        None => format!("{}: {why}{problem}", outcome.verdict.as_str()),
    }
}

/// The JSON report.
pub fn json(cases: &[Transcript], outcomes: &[Outcome]) -> serde_json::Value {
    let results: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let case = case_of(cases, o);
            json!({
                "id": o.id,
                "verdict": o.verdict.as_str(),
                "file": case.map(|c| c.file.clone()),
                "level": case.map(|c| c.header.level.as_str()),
                "role": case.map(|c| c.header.role.name()),
                "requirements": case.map(|c| c.header.requirements.iter().map(|r| format!("{}#{}", r.document, r.id)).collect::<Vec<_>>()),
                "elapsed_ms": u64::try_from(o.elapsed.as_millis()).unwrap_or(u64::MAX),
                "finding": o.finding.as_ref().map(|f| json!({
                    "line": f.line,
                    "message": f.message,
                    "expected": f.expected,
                    "actual": f.actual,
                })),
                "log": if o.verdict == Verdict::Pass { Vec::new() } else { o.log.clone() },
            })
        })
        .collect();
    json!({
        "schema": JSON_SCHEMA_VERSION,
        "results": results,
    })
}

/// The exit code of a run: 0 nothing failed (known failures, NON-STRICT and UNSUPPORTED
/// allowed), 1 a FAIL or TIMEOUT, 2 otherwise a harness error, 3 nothing selected.
pub fn exit_code(outcomes: &[Outcome]) -> u8 {
    if outcomes.is_empty() {
        3
    } else if outcomes.iter().any(|o| o.verdict.fails_run()) {
        1
    } else if outcomes.iter().any(|o| o.verdict == Verdict::Error) {
        2
    } else {
        0
    }
}
