//! The pending list, `spec/pending.toml`: what is not implemented yet, and so not yet required to
//! have a test.
//!
//! ```toml
//! [documents]
//! "sync.md" = "the data-access daemon is not built yet"
//!
//! [requirements]
//! ARCH-3 = "the device is not built yet"
//! ```
//!
//! Every key names a document of the index or a requirement ID; every value is a one-line reason.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::{Location, Problem};

/// The pending list's path, relative to the root of the checked tree.
pub const PENDING_PATH: &str = "spec/pending.toml";

/// What a pending entry names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PendingTarget {
    /// A whole document (file name within `spec/`): its MUST requirements that nothing cites
    /// yet, neither code nor test.
    Document(String),
    /// One requirement ID.
    Requirement(String),
}

impl std::fmt::Display for PendingTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PendingTarget::Document(name) | PendingTarget::Requirement(name) => f.write_str(name),
        }
    }
}

/// One entry of the pending list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    /// The document or requirement it names.
    pub target: PendingTarget,
    /// Why it is not implemented yet.
    pub reason: String,
    /// Where the entry stands.
    pub at: Location,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingFile {
    #[serde(default)]
    documents: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    requirements: BTreeMap<String, Spanned<String>>,
}

/// The 1-based line of a byte offset, for the TOML files of `spec/`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// Whether a reason is what the TOML files of `spec/` ask for: one line, not empty.
pub(crate) fn is_one_line(reason: &str) -> bool {
    !reason.trim().is_empty() && !reason.contains('\n')
}

/// Reads the pending list. The entries come in file order; a reason that is empty or runs over
/// more than one line is a problem, and so is text that is not the documented TOML.
pub fn parse_pending(text: &str) -> (Vec<PendingEntry>, Vec<Problem>) {
    let at = |line| Location {
        path: PENDING_PATH.to_owned(),
        line,
    };
    let file: PendingFile = match toml::from_str(text) {
        Ok(file) => file,
        Err(error) => {
            let line = error.span().map_or(1, |span| line_of(text, span.start));
            let why = error.message().to_owned();
            return (
                Vec::new(),
                vec![Problem::Pending {
                    entry: String::new(),
                    why,
                    at: at(line),
                }],
            );
        }
    };
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let documents = file
        .documents
        .into_iter()
        .map(|(name, reason)| (PendingTarget::Document(name), reason));
    let requirements = file
        .requirements
        .into_iter()
        .map(|(id, reason)| (PendingTarget::Requirement(id), reason));
    for (target, reason) in documents.chain(requirements) {
        let location = at(line_of(text, reason.span().start));
        let reason = reason.into_inner();
        if !is_one_line(&reason) {
            problems.push(Problem::Pending {
                entry: target.to_string(),
                why: "the reason must be one non-empty line".to_owned(),
                at: location.clone(),
            });
        }
        entries.push(PendingEntry {
            target,
            reason: reason.trim().to_owned(),
            at: location,
        });
    }
    entries.sort_by(|a, b| a.at.cmp(&b.at));
    (entries, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_tables_in_file_order_with_lines() {
        let text = "# why\n[requirements]\nXYZ-2 = \"later\"\nABC-1 = \"b\"\n\n[documents]\n\"b.md\" = \"c\"\n";
        let (entries, problems) = parse_pending(text);
        assert!(problems.is_empty(), "{problems:?}");
        let read: Vec<_> = entries
            .iter()
            .map(|e| (e.target.to_string(), e.at.line))
            .collect();
        assert_eq!(
            read,
            [("XYZ-2".into(), 3), ("ABC-1".into(), 4), ("b.md".into(), 7)]
        );
    }

    #[test]
    fn bad_text_and_empty_reasons_are_problems() {
        let (_, problems) = parse_pending("[elsewhere]\nX = \"y\"\n");
        assert!(matches!(problems.as_slice(), [Problem::Pending { .. }]));
        let (_, problems) =
            parse_pending("[requirements]\nABC-1 = \" \"\nABC-2 = \"\"\"\ntwo\nlines\"\"\"\n");
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
