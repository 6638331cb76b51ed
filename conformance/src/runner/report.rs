//! Reports: the human summary and the versioned JSON report (schema in `conformance/README.md`).

use std::fmt::Write as _;

use serde_json::json;

use super::{Outcome, Verdict};
use crate::transcript::Transcript;

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
    for outcome in outcomes.iter().filter(|o| o.verdict != Verdict::Pass) {
        let Some(case) = cases.iter().find(|c| c.header.id == outcome.id) else {
            continue;
        };
        let _ = writeln!(
            out,
            "\n{} {}  ({})",
            outcome.verdict.as_str(),
            outcome.id,
            case.file
        );
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
            for l in outcome.log.iter().rev().take(40).rev() {
                let _ = writeln!(out, "    {}", indent(l, 8));
            }
        }
    }
    let counts: Vec<String> = ORDER
        .iter()
        .map(|v| (v, outcomes.iter().filter(|o| o.verdict == *v).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(v, n)| format!("{n} {}", v.as_str()))
        .collect();
    let _ = writeln!(out, "\n{} cases: {}", outcomes.len(), counts.join(", "));
    out
}

/// Continuation lines of a multi-line value, indented under its first.
fn indent(text: &str, pad: usize) -> String {
    let text = text.replace("\r\n", "\n");
    let text = text.trim_end();
    text.replace('\n', &format!("\n{}", " ".repeat(pad)))
}

/// The JSON report.
pub fn json(cases: &[Transcript], outcomes: &[Outcome]) -> serde_json::Value {
    let results: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let case = cases.iter().find(|c| c.header.id == o.id);
            json!({
                "id": o.id,
                "verdict": o.verdict.as_str(),
                "file": case.map(|c| c.file.clone()),
                "level": case.map(|c| c.header.level.as_str()),
                "role": case.map(|c| c.header.role.as_str()),
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
    } else if outcomes
        .iter()
        .any(|o| matches!(o.verdict, Verdict::Fail | Verdict::Timeout))
    {
        1
    } else if outcomes.iter().any(|o| o.verdict == Verdict::Error) {
        2
    } else {
        0
    }
}
