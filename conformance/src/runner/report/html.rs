//! The HTML report (`--html`): one static, self-contained page (inline CSS, no script, nothing
//! fetched) that a browser opens from disk or a CI system publishes as an artifact. It is also
//! well-formed XML (empty elements closed with `/>`), so that tools can read it back.

use std::fmt::Write as _;

use super::{case_of, counts, detail, escape_markup, not_passed, reason, seconds};
use crate::runner::{Outcome, Verdict};
use crate::transcript::Transcript;

/// The style sheet, inline so that the page needs nothing else.
const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse}\
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}\
td.elapsed{text-align:right}\
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap}\
.PASS{color:#176f2c}.FAIL,.TIMEOUT,.ERROR{color:#b00020;font-weight:bold}\
.NON-STRICT,.UNSUPPORTED,.KNOWN-FAIL{color:#8a6100}";

/// The report: the counts per verdict, a table of every case in the order of the run (id,
/// verdict, level, role, requirements, elapsed), and for each case that did not pass the
/// summary's detail, wire log included, in a `pre`.
pub fn html(cases: &[Transcript], outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <title>mailpush conformance report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>mailpush conformance report</h1>\n<p class=\"summary\">{} cases: {}</p>\n",
        outcomes.len(),
        escape_markup(&counts(outcomes), false)
    );
    out.push_str(
        "<table>\n<thead><tr><th>Case</th><th>Verdict</th><th>Level</th><th>Role</th>\
         <th>Requirements</th><th>Elapsed (s)</th></tr></thead>\n<tbody>\n",
    );
    for (index, outcome) in outcomes.iter().enumerate() {
        let case = case_of(cases, outcome);
        let verdict = outcome.verdict.as_str();
        let id = escape_markup(&outcome.id, false);
        // Anchors are numbered, not named after the id, so no id can break out of them.
        let name = if outcome.verdict == Verdict::Pass {
            id
        } else {
            format!("<a href=\"#case-{index}\">{id}</a>")
        };
        let requirements: Vec<String> = case
            .map(|c| {
                c.header
                    .requirements
                    .iter()
                    .map(|r| escape_markup(&format!("{}#{}", r.document, r.id), false))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td>{name}</td><td class=\"{verdict}\">{verdict}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td class=\"elapsed\">{}</td></tr>",
            case.map_or("", |c| c.header.level.as_str()),
            case.map_or("", |c| c.header.role.name()),
            requirements.join("<br/>"),
            seconds(outcome.elapsed)
        );
    }
    out.push_str("</tbody>\n</table>\n");
    let mut failed = not_passed(cases, outcomes).peekable();
    if failed.peek().is_some() {
        out.push_str("<h2>Cases that did not pass</h2>\n");
    }
    for (case, outcome) in failed {
        let index = outcomes
            .iter()
            .position(|o| std::ptr::eq(o, outcome))
            .unwrap_or_default();
        let verdict = outcome.verdict.as_str();
        let _ = writeln!(
            out,
            "<section id=\"case-{index}\">\n<h3><span class=\"{verdict}\">{verdict}</span> {}</h3>\n\
             <p>{}</p>\n<p class=\"reason\">{}</p>\n<pre>{}</pre>\n</section>",
            escape_markup(&outcome.id, false),
            escape_markup(&case.file, false),
            escape_markup(&reason(case, outcome), false),
            escape_markup(&detail(case, outcome), false)
        );
    }
    out.push_str("</body>\n</html>\n");
    out
}
