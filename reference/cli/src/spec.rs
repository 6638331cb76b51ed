//! `mailpush spec`: the specification compiled into the binary, and the traceability check.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use mailpush_spec::{Level, check_tree, embedded_documents};

/// Arguments of `mailpush spec`.
#[derive(Debug, Args)]
pub struct SpecArgs {
    #[command(subcommand)]
    action: Option<SpecAction>,
}

#[derive(Debug, Subcommand)]
enum SpecAction {
    /// List the documents and their requirements (the default).
    Index,
    /// Print one requirement, for example `mailpush spec show XAPS-11`.
    Show {
        /// The requirement ID.
        id: String,
    },
    /// Check a checkout: IDs well formed and unique, every citation defined and quoted exactly,
    /// and every MUST requirement tested unless spec/pending.toml lists it as not implemented;
    /// then, per conformance role, the MUST requirements observable on the wire (spec/wire.toml)
    /// that no conformance case cites.
    Check {
        /// The root of the checkout.
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

/// What can go wrong in `mailpush spec`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// No document defines the requested ID.
    #[error("no requirement {0} in the specification (try `mailpush spec` for the index)")]
    UnknownId(String),
    /// The traceability check failed; the report has been printed.
    #[error(
        "traceability check failed: {problems} problem(s), {untested} MUST requirement(s) without a test citation and not pending"
    )]
    CheckFailed {
        /// Problems with the spec, the citations or the pending list.
        problems: usize,
        /// MUST requirements without a test citation that are not pending.
        untested: usize,
    },
}

/// Runs `mailpush spec`.
pub fn run(args: SpecArgs) -> Result<(), SpecError> {
    match args.action.unwrap_or(SpecAction::Index) {
        SpecAction::Index => {
            print!("{}", index());
            Ok(())
        }
        SpecAction::Show { id } => {
            let wanted = id.to_ascii_uppercase();
            let documents = embedded_documents();
            let found = documents
                .iter()
                .flat_map(|d| d.requirements.iter())
                .find(|r| r.id == wanted)
                .ok_or(SpecError::UnknownId(id))?;
            println!(
                "{} (spec/{}:{})\n\n{}",
                found.id, found.document, found.line, found.text
            );
            Ok(())
        }
        SpecAction::Check { root } => {
            let report = check_tree(&root);
            print!("{report}");
            if report.passed() {
                Ok(())
            } else {
                Err(SpecError::CheckFailed {
                    problems: report.problems.len(),
                    untested: report.untested.len(),
                })
            }
        }
    }
}

/// The specification's index: each document with its title and requirement counts.
pub fn index() -> String {
    let documents = embedded_documents();
    let mut out = String::from("mailpush protocol specification, version 1\n\n");
    for doc in &documents {
        // The ID prefixes the document owns, in order of first use.
        let mut prefixes: Vec<&str> = Vec::new();
        for r in &doc.requirements {
            let prefix = r.id.split_once('-').map_or(r.id.as_str(), |(p, _)| p);
            if !prefixes.contains(&prefix) {
                prefixes.push(prefix);
            }
        }
        let ids = prefixes.join(" ");
        let _ = writeln!(
            out,
            "  spec/{:<20} {:>3} MUST {:>3} SHOULD {:>3} MAY  {:<19} {}",
            doc.name,
            doc.count(Level::Must),
            doc.count(Level::Should),
            doc.count(Level::May),
            ids,
            doc.title
        );
    }
    out.push_str("\n`mailpush spec show <ID>` prints a requirement; `mailpush spec check` checks a checkout.\n");
    out
}
