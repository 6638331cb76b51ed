//! The traceability check over a whole tree.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::fs;
use std::path::Path;

use crate::{
    CASES_DIR, Citation, CitationKind, Document, Level, Location, Observability, PENDING_PATH,
    PendingEntry, PendingTarget, Problem, Requirement, Role, WIRE_PATH, WireEntry, case_role,
    normalize, parse_document, parse_index, parse_pending, parse_wire, scan_citations,
};

/// An entry of the pending list and the MUST requirements it excuses from the gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Excused {
    /// The entry.
    pub entry: PendingEntry,
    /// The IDs it excuses, in document order.
    pub ids: Vec<String>,
}

/// The outcome of checking a tree against its spec.
#[derive(Debug, Default)]
pub struct Report {
    /// The documents in index order.
    pub documents: Vec<Document>,
    /// Every citation found.
    pub citations: Vec<Citation>,
    /// Everything wrong with the spec, the citations and the pending list.
    pub problems: Vec<Problem>,
    /// The gate's failures: MUST requirements without a test citation that are not pending
    /// ([`Problem::Untested`]).
    pub untested: Vec<Problem>,
    /// The pending list, each entry with what it excuses.
    pub pending: Vec<Excused>,
    /// The wire classification, in file order; empty when the tree has none.
    pub wire: Vec<WireEntry>,
    /// Per role, the MUST requirements observable on the wire for it that no conformance case of
    /// that role cites, in role then document order. Reported, not a failure.
    pub uncovered: Vec<Uncovered>,
}

/// A MUST requirement observable on the wire for a role that no conformance case of the role
/// cites.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uncovered {
    /// The role that has no case for it.
    pub role: Role,
    /// The requirement.
    pub id: String,
    /// Where it is defined.
    pub at: Location,
}

impl Report {
    /// Whether the spec, every citation and the pending list are in order, and every MUST
    /// requirement is tested or pending.
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.untested.is_empty()
    }

    /// All requirements in document order.
    pub fn requirements(&self) -> impl Iterator<Item = &Requirement> {
        self.documents.iter().flat_map(|d| d.requirements.iter())
    }

    /// The citations of one requirement.
    pub fn citations_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Citation> + 'a {
        self.citations.iter().filter(move |c| c.id == id)
    }

    /// MUST requirements that no test cites yet, pending or not.
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

    /// The requirements observable on the wire for `role` that no case of that role cites.
    pub fn uncovered_for(&self, role: Role) -> impl Iterator<Item = &Uncovered> {
        self.uncovered.iter().filter(move |u| u.role == role)
    }

    /// A summary for people: per document, requirement counts by level and how many are
    /// implemented and tested; then the untested MUSTs, the wire coverage and the problems.
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
        let excused: usize = self.pending.iter().map(|p| p.ids.len()).sum();
        let _ = writeln!(
            out,
            "\npending ({PENDING_PATH}): {excused} MUST requirements not implemented yet"
        );
        for pending in &self.pending {
            let _ = writeln!(
                out,
                "  {:<16} {}",
                pending.entry.target.to_string(),
                pending.entry.reason
            );
            if matches!(pending.entry.target, PendingTarget::Document(_)) {
                let _ = writeln!(out, "  {:<16} {}", "", pending.ids.join(" "));
            }
        }
        let _ = writeln!(
            out,
            "\nMUST requirements without a test citation, not pending: {}",
            self.untested.len()
        );
        if !self.untested.is_empty() {
            let _ = writeln!(
                out,
                "  (each fails the check: cite it from a test, or list it in {PENDING_PATH} \
                 while it is not implemented)"
            );
        }
        for failure in &self.untested {
            let _ = writeln!(out, "  {failure}");
        }
        self.render_wire(&mut out);
        if self.passed() {
            let _ = writeln!(
                out,
                "\ntraceability: ok ({} citations)",
                self.citations.len()
            );
        } else {
            let _ = writeln!(
                out,
                "\ntraceability: failed ({} problem(s), {} untested MUST requirement(s))",
                self.problems.len(),
                self.untested.len()
            );
            for p in &self.problems {
                let _ = writeln!(out, "  {p}");
            }
        }
        out
    }
}

impl Report {
    fn render_wire(&self, out: &mut String) {
        if self.wire.is_empty() {
            let _ = writeln!(out, "\nwire coverage: no {WIRE_PATH}, nothing classified");
            return;
        }
        let wire_of = |role: Role| {
            self.wire
                .iter()
                .filter(|e| matches!(&e.observability, Observability::Wire(roles) if roles.contains(&role)))
                .count()
        };
        let local = self
            .wire
            .iter()
            .filter(|e| matches!(e.observability, Observability::Local(_)))
            .count();
        let _ = writeln!(
            out,
            "\nwire coverage ({WIRE_PATH}): {} MUST requirements observable on the wire, {local} not",
            self.wire.len() - local
        );
        let _ = writeln!(
            out,
            "  {:<12} {:>10} {:>11} {:>8}",
            "role", "wire MUST", "with a case", "without"
        );
        for role in Role::ALL {
            let total = wire_of(role);
            let without = self.uncovered_for(role).count();
            let _ = writeln!(
                out,
                "  {:<12} {:>10} {:>11} {:>8}",
                role.name(),
                total,
                total.saturating_sub(without),
                without
            );
        }
        let _ = writeln!(
            out,
            "\nMUST requirements observable on the wire that no conformance case cites: {} \
             (reported, not a failure)",
            self.uncovered.len()
        );
        for role in Role::ALL {
            let ids: Vec<&str> = self.uncovered_for(role).map(|u| u.id.as_str()).collect();
            if ids.is_empty() {
                continue;
            }
            let _ = writeln!(out, "  {} ({}):", role.name(), ids.len());
            for chunk in ids.chunks(10) {
                let _ = writeln!(out, "    {}", chunk.join(" "));
            }
        }
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

    let entries = match fs::read_to_string(root.join(PENDING_PATH)) {
        Ok(text) => {
            let (entries, problems) = parse_pending(&text);
            report.problems.extend(problems);
            entries
        }
        // No pending list: nothing is pending.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            report.problems.push(Problem::Io {
                path: root.join(PENDING_PATH),
                message: error.to_string(),
            });
            Vec::new()
        }
    };
    apply_gate(&mut report, entries);

    match fs::read_to_string(root.join(WIRE_PATH)) {
        Ok(text) => {
            let (entries, problems) = parse_wire(&text);
            report.problems.extend(problems);
            apply_wire(&mut report, root, entries);
        }
        // No classification: nothing to report coverage against.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => report.problems.push(Problem::Io {
            path: root.join(WIRE_PATH),
            message: error.to_string(),
        }),
    }
    report
}

/// Checks the wire classification against the spec and the conformance cases, and finds, per
/// role, the wire requirements that no case of that role cites.
fn apply_wire(report: &mut Report, root: &Path, entries: Vec<WireEntry>) {
    let mut problems = Vec::new();
    let problem = |entry: &str, why: String, at: &Location| Problem::Wire {
        entry: entry.to_owned(),
        why,
        at: at.clone(),
    };
    let requirement_at = |r: &Requirement| Location {
        path: format!("spec/{}", r.document),
        line: r.line,
    };
    let mut classified: BTreeMap<&str, &WireEntry> = BTreeMap::new();
    for entry in &entries {
        match report.requirements().find(|r| r.id == entry.id) {
            None => problems.push(problem(
                &entry.id,
                format!("no document defines {}", entry.id),
                &entry.at,
            )),
            Some(r) if r.level != Some(Level::Must) => problems.push(problem(
                &entry.id,
                format!(
                    "{} is not a MUST requirement; only MUST requirements are classified",
                    entry.id
                ),
                &entry.at,
            )),
            Some(_) => match classified.get(entry.id.as_str()) {
                Some(first) => problems.push(problem(
                    &entry.id,
                    format!("{} is classified twice (first at {})", entry.id, first.at),
                    &entry.at,
                )),
                None => {
                    classified.insert(&entry.id, entry);
                }
            },
        }
    }
    for r in report.requirements() {
        if r.level == Some(Level::Must) && !classified.contains_key(r.id.as_str()) {
            problems.push(problem(
                &r.id,
                format!(
                    "the MUST requirement {} is in neither table of {WIRE_PATH}: say whether the \
                     wire shows it, and to which role",
                    r.id
                ),
                &requirement_at(r),
            ));
        }
    }

    // The role of each case comes from its own header, so a case filed in another role's
    // directory still counts for the role it is played as.
    let mut roles: BTreeMap<&str, Option<Role>> = BTreeMap::new();
    let mut covered: BTreeSet<(Role, &str)> = BTreeSet::new();
    for c in &report.citations {
        if !c.at.path.starts_with(CASES_DIR) || !c.at.path.ends_with(".case") {
            continue;
        }
        let role = *roles.entry(c.at.path.as_str()).or_insert_with(|| {
            fs::read_to_string(root.join(&c.at.path))
                .ok()
                .and_then(|text| case_role(&text).and_then(Role::from_name))
        });
        // A case without a known role is the transcript parser's problem to report.
        let Some(role) = role else { continue };
        covered.insert((role, c.id.as_str()));
        let Some(entry) = classified.get(c.id.as_str()) else {
            continue;
        };
        let given = match &entry.observability {
            Observability::Wire(roles) => roles.contains(&role),
            Observability::Local(_) => false,
        };
        if !given {
            problems.push(problem(
                &c.id,
                format!(
                    "the {role} case at {} cites {}, which this entry does not give to {role}",
                    c.at, c.id
                ),
                &entry.at,
            ));
        }
    }

    let mut uncovered = Vec::new();
    for role in Role::ALL {
        for r in report.requirements() {
            let Some(entry) = classified.get(r.id.as_str()) else {
                continue;
            };
            let wire_for_role =
                matches!(&entry.observability, Observability::Wire(roles) if roles.contains(&role));
            if wire_for_role && !covered.contains(&(role, r.id.as_str())) {
                uncovered.push(Uncovered {
                    role,
                    id: r.id.clone(),
                    at: requirement_at(r),
                });
            }
        }
    }
    report.problems.extend(problems);
    report.uncovered = uncovered;
    report.wire = entries;
}

/// Decides what each pending entry excuses, reports entries that excuse nothing, and fails every
/// MUST requirement that is neither tested nor excused.
fn apply_gate(report: &mut Report, entries: Vec<PendingEntry>) {
    let citations = &report.citations;
    let cited = |id: &str, kind| citations.iter().find(|c| c.id == id && c.kind == kind);
    let tested = |id: &str| cited(id, CitationKind::Test).is_some();
    let implemented_at = |id: &str| cited(id, CitationKind::Implementation).map(|c| c.at.clone());
    let pending_documents: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| match &e.target {
            PendingTarget::Document(name) => Some(name.clone()),
            PendingTarget::Requirement(_) => None,
        })
        .collect();
    // A pending document excuses its MUST requirements that nothing cites: not implemented yet.
    let unstarted = |r: &&Requirement| {
        r.level == Some(Level::Must) && !tested(&r.id) && implemented_at(&r.id).is_none()
    };
    let mut problems = Vec::new();
    let mut pending = Vec::new();
    for entry in entries {
        let problem = |why: String| Problem::Pending {
            entry: entry.target.to_string(),
            why,
            at: entry.at.clone(),
        };
        let ids: Vec<String> = match &entry.target {
            PendingTarget::Document(name) => {
                match report.documents.iter().find(|d| &d.name == name) {
                    None => {
                        problems.push(problem(format!(
                            "{name} is not a document of the index (spec/README.md)"
                        )));
                        Vec::new()
                    }
                    Some(doc) => {
                        let ids: Vec<String> = doc
                            .requirements
                            .iter()
                            .filter(unstarted)
                            .map(|r| r.id.clone())
                            .collect();
                        if ids.is_empty() {
                            problems.push(problem(format!(
                                "every MUST requirement of {name} is now tested or implemented: \
                                 remove it from the pending list (list by ID what is still pending)"
                            )));
                        }
                        ids
                    }
                }
            }
            PendingTarget::Requirement(id) => match report.requirements().find(|r| &r.id == id) {
                None => {
                    problems.push(problem(format!("no document defines {id}")));
                    Vec::new()
                }
                Some(r) if r.level != Some(Level::Must) => {
                    problems.push(problem(format!(
                        "{id} is not a MUST requirement; only MUST requirements are gated"
                    )));
                    Vec::new()
                }
                Some(_) if tested(id) => {
                    problems.push(problem(format!(
                        "{id} now has a test citation: remove it from the pending list"
                    )));
                    Vec::new()
                }
                Some(r) if pending_documents.contains(&r.document) && unstarted(&r) => {
                    problems.push(problem(format!(
                        "{id} is already pending through {}",
                        r.document
                    )));
                    Vec::new()
                }
                Some(_) => vec![id.clone()],
            },
        };
        pending.push(Excused { entry, ids });
    }
    let excused: BTreeSet<&str> = pending
        .iter()
        .flat_map(|p| p.ids.iter().map(String::as_str))
        .collect();
    let untested: Vec<Problem> = report
        .requirements()
        .filter(|r| r.level == Some(Level::Must) && !tested(&r.id))
        .filter(|r| !excused.contains(r.id.as_str()))
        .map(|r| Problem::Untested {
            id: r.id.clone(),
            at: Location {
                path: format!("spec/{}", r.document),
                line: r.line,
            },
            implemented_at: implemented_at(&r.id),
        })
        .collect();
    report.problems.extend(problems);
    report.untested = untested;
    report.pending = pending;
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
