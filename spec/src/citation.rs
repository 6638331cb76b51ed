//! Finding requirement citations in a source tree.
//!
//! A citation is a link comment followed by quote comments, in the style the `duvet` tool reads:
//!
//! ```text
//! //= spec/device-channel.md#CHAN-7
//! //= type=test
//! //# The server MUST NOT deliver a notification whose id is at or below the cursor.
//! ```
//!
//! Files with `#` comments write `#=` and `##`; `;` and `--` comments work the same way.

use std::fs;
use std::path::Path;

use crate::{Location, Problem};

/// Whether a citation claims that the code implements the requirement or tests it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CitationKind {
    /// Code that implements the requirement.
    Implementation,
    /// A test, transcript or model property that checks the requirement.
    Test,
}

/// One citation of a requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Citation {
    /// The cited document, for example `imap-push.md`.
    pub document: String,
    /// The cited ID.
    pub id: String,
    /// The quote lines joined with spaces.
    pub quote: String,
    /// Implementation or test.
    pub kind: CitationKind,
    /// Where the link line stands.
    pub at: Location,
}

/// Comment leaders that can carry citations; longest first so `--` is not read as something else.
const LEADERS: [&str; 4] = ["//", "--", "#", ";"];

/// Directories never scanned: build output, VCS data, fuzzing inputs and outputs.
const SKIPPED_DIRS: [&str; 7] = [
    "target",
    ".git",
    "corpus",
    "artifacts",
    "coverage",
    "node_modules",
    ".cargo",
];

/// Files larger than this are data, not source, and are not scanned.
const MAX_SCANNED_FILE: u64 = 4 * 1024 * 1024;

/// Splits a comment line into (leader, marker, rest) where the marker is `=` (link or metadata)
/// or `#` (quote).
fn comment(line: &str) -> Option<(&'static str, char, &str)> {
    let line = line.trim_start();
    for leader in LEADERS {
        if let Some(rest) = line.strip_prefix(leader) {
            let mut chars = rest.chars();
            return match chars.next() {
                Some('=') => Some((leader, '=', chars.as_str().trim())),
                Some('#') => Some((leader, '#', chars.as_str())),
                _ => None,
            };
        }
    }
    None
}

/// Scans one file's text. `path` is relative to the tree root and decides whether citations count
/// as tests by location (`tests/`, `benches/`, `conformance/`, `model/`).
pub fn scan_text(path: &str, text: &str) -> (Vec<Citation>, Vec<Problem>) {
    let by_location = path
        .split('/')
        .any(|part| part == "tests" || part == "benches")
        || path.starts_with("conformance/")
        || path.starts_with("model/");
    let mut citations = Vec::new();
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        index += 1;
        let Some((leader, '=', target)) = comment(line) else {
            continue;
        };
        let Some(target) = target.strip_prefix("spec/") else {
            continue;
        };
        let at = Location {
            path: path.to_owned(),
            line: index,
        };
        let Some((document, id)) = target.split_once('#') else {
            problems.push(Problem::MalformedCitation {
                line: line.trim().to_owned(),
                why: "the link must be spec/<document>.md#<ID>",
                at,
            });
            continue;
        };
        if !document.ends_with(".md") || document.contains('/') || id.is_empty() {
            problems.push(Problem::MalformedCitation {
                line: line.trim().to_owned(),
                why: "the link must be spec/<document>.md#<ID>",
                at,
            });
            continue;
        }
        let mut kind = if by_location {
            CitationKind::Test
        } else {
            CitationKind::Implementation
        };
        let mut quote = Vec::new();
        while index < lines.len() {
            match comment(lines[index]) {
                Some((l, '=', meta)) if l == leader && meta.starts_with("type=") => {
                    if meta == "type=test" {
                        kind = CitationKind::Test;
                    }
                }
                Some((l, '#', text)) if l == leader => quote.push(text.trim()),
                _ => break,
            }
            index += 1;
        }
        citations.push(Citation {
            document: document.to_owned(),
            id: id.to_owned(),
            quote: quote.join(" "),
            kind,
            at,
        });
    }
    (citations, problems)
}

/// Scans every text file below `root`, except build output, VCS data, fuzz corpora and Markdown
/// (Markdown documents the citation syntax; it does not cite).
pub fn scan_citations(root: &Path) -> (Vec<Citation>, Vec<Problem>) {
    let mut citations = Vec::new();
    let mut problems = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) => {
                problems.push(Problem::Io {
                    path: dir,
                    message: error.to_string(),
                });
                continue;
            }
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_str()) {
                    pending.push(path);
                }
                continue;
            }
            if !file_type.is_file() || name.ends_with(".md") || name.ends_with(".snap") {
                continue;
            }
            if entry
                .metadata()
                .map(|m| m.len() > MAX_SCANNED_FILE)
                .unwrap_or(true)
            {
                continue;
            }
            // Binary files hold no citations; skipping what is not UTF-8 is the point.
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let (found, trouble) = scan_text(&relative, &text);
            citations.extend(found);
            problems.extend(trouble);
        }
    }
    citations.sort_by(|a, b| a.at.cmp(&b.at));
    (citations, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_link_type_and_quote_lines() {
        let text = "fn x() {}\n    //= spec/a.md#ABC-1\n    //= type=test\n    //# The server MUST\n    //# reply.\nfn y() {}\n";
        let (citations, problems) = scan_text("src/lib.rs", text);
        assert!(problems.is_empty());
        assert_eq!(citations.len(), 1);
        let c = &citations[0];
        assert_eq!((c.document.as_str(), c.id.as_str()), ("a.md", "ABC-1"));
        assert_eq!(c.quote, "The server MUST reply.");
        assert_eq!(c.kind, CitationKind::Test);
        assert_eq!(c.at.line, 2);
    }

    #[test]
    fn hash_comments_and_location_decide_the_kind() {
        let text = "#= spec/b.md#XYZ-2\n## You MAY.\necho\n";
        let (citations, _) = scan_text("conformance/t.txt", text);
        assert_eq!(citations[0].kind, CitationKind::Test);
        assert_eq!(citations[0].quote, "You MAY.");
        let (citations, _) = scan_text("reference/x/src/a.sh", text);
        assert_eq!(citations[0].kind, CitationKind::Implementation);
        let (citations, _) = scan_text("reference/x/tests/a.rs", "//= spec/b.md#XYZ-2\n//# q\n");
        assert_eq!(citations[0].kind, CitationKind::Test);
    }

    #[test]
    fn malformed_links_are_reported() {
        for bad in [
            "//= spec/a.md",
            "//= spec/a#ABC-1",
            "//= spec/x/a.md#ABC-1",
            "//= spec/a.md#",
        ] {
            let (citations, problems) = scan_text("src/lib.rs", bad);
            assert!(citations.is_empty(), "{bad}");
            assert!(
                matches!(problems.as_slice(), [Problem::MalformedCitation { .. }]),
                "{bad}"
            );
        }
    }

    #[test]
    fn unrelated_comments_are_ignored() {
        let (citations, problems) = scan_text(
            "src/lib.rs",
            "// = not a link\n//= other/a.md#X-1\n#[derive(Debug)]\n",
        );
        assert!(citations.is_empty() && problems.is_empty());
    }
}
