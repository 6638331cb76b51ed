//! The traceability check over a whole tree.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::fs;
use std::path::Path;

use crate::{
    Citation, CitationKind, Document, Level, Location, Problem, Requirement, normalize,
    parse_document, parse_index, scan_citations,
};

/// The outcome of checking a tree against its spec.
#[derive(Debug, Default)]
pub struct Report {
    /// The documents in index order.
    pub documents: Vec<Document>,
    /// Every citation found.
    pub citations: Vec<Citation>,
    /// Everything wrong; the check passes when this is empty.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether the spec and every citation are in order.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// All requirements in document order.
    pub fn requirements(&self) -> impl Iterator<Item = &Requirement> {
        self.documents.iter().flat_map(|d| d.requirements.iter())
    }

    /// The citations of one requirement.
    pub fn citations_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Citation> + 'a {
        self.citations.iter().filter(move |c| c.id == id)
    }

    /// MUST requirements that no test cites yet.
    pub fn untested_musts(&self) -> Vec<&Requirement> {
        self.requirements()
            .filter(|r| r.level == Some(Level::Must))
            .filter(|r| {
                !self
                    .citations_of(&r.id)
                    .any(|c| c.kind == CitationKind::Test)
            })
            .collect()
    }

    /// A summary for people: per document, requirement counts by level and how many are
    /// implemented and tested; then the problems and the untested MUSTs.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<22} {:>5} {:>5} {:>5} {:>11} {:>7}",
            "document", "MUST", "SHOULD", "MAY", "implemented", "tested"
        );
        for doc in &self.documents {
            let cited = |kind| {
                doc.requirements
                    .iter()
                    .filter(|r| self.citations_of(&r.id).any(|c| c.kind == kind))
                    .count()
            };
            let _ = writeln!(
                out,
                "{:<22} {:>5} {:>5} {:>5} {:>11} {:>7}",
                doc.name,
                doc.count(Level::Must),
                doc.count(Level::Should),
                doc.count(Level::May),
                cited(CitationKind::Implementation),
                cited(CitationKind::Test)
            );
        }
        let untested = self.untested_musts();
        let _ = writeln!(
            out,
            "\nMUST requirements without a test citation: {}",
            untested.len()
        );
        for r in untested {
            let _ = writeln!(out, "  {:<10} spec/{}:{}", r.id, r.document, r.line);
        }
        if self.problems.is_empty() {
            let _ = writeln!(
                out,
                "\ntraceability: ok ({} citations)",
                self.citations.len()
            );
        } else {
            let _ = writeln!(out, "\ntraceability: {} problem(s)", self.problems.len());
            for p in &self.problems {
                let _ = writeln!(out, "  {p}");
            }
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Checks the tree at `root`: the spec in `root/spec` and every citation below `root`.
pub fn check_tree(root: &Path) -> Report {
    let mut report = Report::default();
    let spec_dir = root.join("spec");
    let read = |name: &str, report: &mut Report| -> Option<String> {
        let path = spec_dir.join(name);
        match fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(error) => {
                report.problems.push(Problem::Io {
                    path,
                    message: error.to_string(),
                });
                None
            }
        }
    };

    let Some(index_text) = read("README.md", &mut report) else {
        return report;
    };
    let index = match parse_index(&index_text) {
        Ok(index) => index,
        Err(problem) => {
            report.problems.push(problem);
            return report;
        }
    };
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for entry in &index {
        for prefix in &entry.prefixes {
            if let Some(other) = owners.insert(prefix.clone(), entry.document.clone()) {
                report.problems.push(Problem::Index(format!(
                    "prefix {prefix} is given to both {other} and {}",
                    entry.document
                )));
            }
        }
    }
    if let Ok(entries) = fs::read_dir(&spec_dir) {
        let mut unindexed: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".md") && n != "README.md")
            .filter(|n| !index.iter().any(|e| &e.document == n))
            .collect();
        unindexed.sort();
        for name in unindexed {
            report.problems.push(Problem::Index(format!(
                "{name} is not in the document table"
            )));
        }
    }

    let owner = |prefix: &str| owners.get(prefix).cloned();
    let mut defined: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for entry in &index {
        let Some(text) = read(&entry.document, &mut report) else {
            continue;
        };
        let (doc, problems) = parse_document(&entry.document, &text, &owner);
        report.problems.extend(problems);
        for r in &doc.requirements {
            if let Some((first_doc, first_line)) = defined.get(&r.id) {
                report.problems.push(Problem::DuplicateId {
                    id: r.id.clone(),
                    first: Location {
                        path: format!("spec/{first_doc}"),
                        line: *first_line,
                    },
                    second: Location {
                        path: format!("spec/{}", r.document),
                        line: r.line,
                    },
                });
            } else {
                defined.insert(r.id.clone(), (r.document.clone(), r.line));
            }
        }
        report.documents.push(doc);
    }

    // Cross-references inside the spec (the patent-step table, "see XAPS-12") must resolve too.
    for entry in &index {
        let Some(text) = read(&entry.document, &mut report) else {
            continue;
        };
        for (line, id) in mentioned_ids(&text, &owners) {
            if !defined.contains_key(&id) {
                report.problems.push(Problem::Undefined {
                    target: id,
                    at: Location {
                        path: format!("spec/{}", entry.document),
                        line,
                    },
                });
            }
        }
    }

    let (citations, problems) = scan_citations(root);
    report.problems.extend(problems);
    let texts: BTreeMap<&str, String> = report
        .requirements()
        .map(|r| (r.id.as_str(), normalize(&r.text)))
        .collect();
    let mut citation_problems = Vec::new();
    for c in &citations {
        match defined.get(&c.id) {
            None => citation_problems.push(Problem::Undefined {
                target: format!("spec/{}#{}", c.document, c.id),
                at: c.at.clone(),
            }),
            Some((doc, _)) if doc != &c.document => {
                citation_problems.push(Problem::WrongDocument {
                    id: c.id.clone(),
                    cited: c.document.clone(),
                    defined: doc.clone(),
                    at: c.at.clone(),
                })
            }
            Some(_) => {
                let quote = normalize(&c.quote);
                let matches = texts
                    .get(c.id.as_str())
                    .is_some_and(|t| !quote.is_empty() && t.contains(&quote));
                if !matches {
                    citation_problems.push(Problem::QuoteMismatch {
                        id: c.id.clone(),
                        quote,
                        at: c.at.clone(),
                    });
                }
            }
        }
    }
    report.problems.extend(citation_problems);
    report.citations = citations;
    report
}

/// Every `PREFIX-N` mentioned in `text` whose prefix the index knows, with its line number.
fn mentioned_ids(text: &str, owners: &BTreeMap<String, String>) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        // Headings define IDs; parse_document already judged them.
        if line.starts_with('#') {
            continue;
        }
        let words = line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
        for word in words {
            let Some((prefix, number)) = word.split_once('-') else {
                continue;
            };
            if owners.contains_key(prefix)
                && !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit())
            {
                found.push((index + 1, word.to_owned()));
            }
        }
    }
    found
}
