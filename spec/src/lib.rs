//! The mailpush protocol specification as data, and the traceability check.
//!
//! The normative text lives in the Markdown files beside this crate (see `spec/README.md`). This
//! crate embeds them, parses their requirements (`### PREFIX-N` headings), and checks citations of
//! those requirements across a source tree: every cited ID must exist in the document the
//! citation names, every quote must match the requirement's text, and IDs must be well formed and
//! unique. It is also a gate: a MUST requirement with no test citing it fails the check unless
//! the pending list (`spec/pending.toml`) says it is not implemented yet, and an entry of that
//! list that no longer excuses anything fails it too. Finally it reads the wire classification
//! (`spec/wire.toml`), which says of every MUST requirement whether a conformance runner can
//! observe it in the traffic and for which role, and reports per role the wire requirements that
//! no conformance case cites.
#![forbid(unsafe_code)]

mod citation;
mod document;
mod pending;
mod report;
mod wire;

pub use citation::{Citation, CitationKind, scan_citations, scan_text};
pub use document::{Document, IndexEntry, Level, Requirement, parse_document, parse_index};
pub use pending::{PENDING_PATH, PendingEntry, PendingTarget, parse_pending};
pub use report::{Excused, Report, Uncovered, check_tree};
pub use wire::{CASES_DIR, Observability, Role, WIRE_PATH, WireEntry, case_role, parse_wire};

use std::fmt;
use std::path::PathBuf;

/// The spec documents compiled into this crate: `(file name, Markdown text)`, index first.
pub const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The embedded documents, parsed, in index order (the index itself excluded). Problems are not
/// reported here; `check_tree` reports them for a checkout.
pub fn embedded_documents() -> Vec<Document> {
    let index = EMBEDDED
        .iter()
        .find(|(name, _)| *name == "README.md")
        .and_then(|(_, text)| parse_index(text).ok())
        .unwrap_or_default();
    let owner = |prefix: &str| {
        index
            .iter()
            .find(|e| e.prefixes.iter().any(|p| p == prefix))
            .map(|e| e.document.clone())
    };
    index
        .iter()
        .filter_map(|entry| {
            let (_, text) = EMBEDDED.iter().find(|(name, _)| *name == entry.document)?;
            Some(parse_document(&entry.document, text, &owner).0)
        })
        .collect()
}

/// A place in a file, for messages.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// Path relative to the root of the checked tree, with `/` separators.
    pub path: String,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path, self.line)
    }
}

/// Something wrong with the specification or with a citation of it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The same requirement ID is defined by two headings.
    #[error("{second}: requirement {id} is defined twice (first at {first})")]
    DuplicateId {
        /// The repeated ID.
        id: String,
        /// The first definition.
        first: Location,
        /// The repeated definition.
        second: Location,
    },
    /// A heading looks like a requirement ID but does not follow the ID grammar.
    #[error("{at}: malformed requirement heading {heading:?}: {why}")]
    MalformedId {
        /// The heading text.
        heading: String,
        /// What rule it breaks.
        why: &'static str,
        /// Where it stands.
        at: Location,
    },
    /// An ID's prefix belongs to another document, or to none.
    #[error("{at}: {id} uses prefix {prefix}, which the index assigns to {owner}")]
    ForeignPrefix {
        /// The ID.
        id: String,
        /// Its prefix.
        prefix: String,
        /// The document the index gives the prefix to, or "no document".
        owner: String,
        /// Where it is defined.
        at: Location,
    },
    /// A requirement contains no BCP 14 keyword.
    #[error("{at}: requirement {id} has no BCP 14 keyword (MUST, SHOULD, MAY, ...)")]
    NoKeyword {
        /// The ID.
        id: String,
        /// Where it is defined.
        at: Location,
    },
    /// The index names a document that does not exist, or a document is missing from the index.
    #[error("spec/README.md: {0}")]
    Index(String),
    /// A citation line does not follow the citation syntax.
    #[error("{at}: malformed citation {line:?}: {why}")]
    MalformedCitation {
        /// The offending line, trimmed.
        line: String,
        /// What is wrong with it.
        why: &'static str,
        /// Where it stands.
        at: Location,
    },
    /// A citation names a requirement that no document defines.
    #[error("{at}: cites {target}, which is not defined")]
    Undefined {
        /// The citation target as written.
        target: String,
        /// Where the citation stands.
        at: Location,
    },
    /// A citation names a requirement in the wrong document.
    #[error("{at}: cites {id} in {cited}, but it is defined in {defined}")]
    WrongDocument {
        /// The ID.
        id: String,
        /// The document the citation names.
        cited: String,
        /// The document that defines the ID.
        defined: String,
        /// Where the citation stands.
        at: Location,
    },
    /// A citation has no quote, or its quote is not part of the requirement's text.
    #[error("{at}: quote for {id} does not match the requirement text: {quote:?}")]
    QuoteMismatch {
        /// The cited ID.
        id: String,
        /// The quote as normalised for comparison (empty when there is none).
        quote: String,
        /// Where the citation stands.
        at: Location,
    },
    /// An entry of the pending list (`spec/pending.toml`) is wrong: it names nothing the spec
    /// defines, excuses nothing any more, or the file is not the documented TOML.
    #[error("{at}: pending entry {entry:?}: {why}")]
    Pending {
        /// The document or ID the entry names (empty when the file does not parse).
        entry: String,
        /// What is wrong with it.
        why: String,
        /// Where it stands.
        at: Location,
    },
    /// The wire classification (`spec/wire.toml`) is wrong: an entry names nothing the spec
    /// defines or no MUST requirement, names a requirement twice or an unknown role, a MUST
    /// requirement is missing from it, a conformance case cites a requirement the classification
    /// does not give to the case's role, or the file is not the documented TOML.
    #[error("{at}: wire classification of {entry:?}: {why}")]
    Wire {
        /// The requirement ID concerned (empty when the file does not parse).
        entry: String,
        /// What is wrong.
        why: String,
        /// Where it stands.
        at: Location,
    },
    /// A MUST requirement has no test citation and is not pending.
    #[error("{at}: {id} is a MUST requirement without a test citation{}", implemented_note(.implemented_at))]
    Untested {
        /// The requirement.
        id: String,
        /// Where it is defined.
        at: Location,
        /// The first implementation citation, if the requirement has one.
        implemented_at: Option<Location>,
    },
    /// A file or directory could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
}

fn implemented_note(implemented_at: &Option<Location>) -> String {
    match implemented_at {
        Some(at) => format!(" (implemented at {at})"),
        None => String::new(),
    }
}

/// Normalises text for quote comparison: Markdown emphasis, code marks and link targets are
/// dropped and runs of white space become one space, so a quote may be re-wrapped freely.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_link_target = false;
    let mut last_space = true;
    while let Some(c) = chars.next() {
        if in_link_target {
            if c == ')' {
                in_link_target = false;
            }
            continue;
        }
        match c {
            '*' | '`' | '[' => {}
            ']' if chars.peek() == Some(&'(') => {
                chars.next();
                in_link_target = true;
            }
            c if c.is_whitespace() => {
                if !last_space {
                    out.push(' ');
                    last_space = true;
                }
            }
            c => {
                out.push(c);
                last_space = false;
            }
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_drops_markup_and_folds_space() {
        assert_eq!(
            normalize("**Resume.** The `server`\n  MUST  see [RFC 8030](https://x/y)."),
            "Resume. The server MUST see RFC 8030."
        );
    }

    #[test]
    fn embedded_documents_include_the_index_first() {
        assert_eq!(EMBEDDED.first().map(|d| d.0), Some("README.md"));
        assert!(EMBEDDED.iter().any(|d| d.0 == "imap-push.md"));
    }
}
