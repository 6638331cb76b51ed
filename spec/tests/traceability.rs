#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The traceability check: run over this repository (it must pass), and over small trees built
//! here to prove that it catches each kind of mistake.

use std::fs;
use std::path::{Path, PathBuf};

use mailpush_spec::{Problem, Role, check_tree};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The real check: fails on any problem and prints the MUST requirements still without tests.
#[test]
fn repository_is_traceable() {
    let report = check_tree(&repository_root());
    println!("{report}");
    assert!(
        report.documents.len() >= 8,
        "every spec document is indexed and parsed"
    );
    assert!(report.passed(), "traceability problems:\n{report}");
}

struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Tree {
        let dir =
            std::env::temp_dir().join(format!("mailpush-trace-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("spec")).unwrap();
        let tree = Tree(dir);
        tree.write(
            "spec/README.md",
            "| § | Document | Prefixes | What |\n|---|---|---|---|\n\
             | a | [a.md](a.md) | `ABC` | x |\n| b | [b.md](b.md) | `XYZ` | y |\n",
        );
        tree.write(
            "spec/a.md",
            "# A\n\n### ABC-1\n\nThe server **MUST** reply `OK`.\n\n### ABC-2\n\nIt MAY wait.\n",
        );
        tree.write("spec/b.md", "# B\n\n### XYZ-1\n\nThe client MUST retry.\n");
        tree
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.0.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn problems(&self) -> Vec<Problem> {
        check_tree(&self.0).problems
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_clean_tree_passes_and_counts_tests() {
    let tree = Tree::new("clean");
    tree.write(
        "src/lib.rs",
        "//= spec/a.md#ABC-1\n//# The server MUST reply OK.\nfn f() {}\n",
    );
    tree.write(
        "tests/t.rs",
        "//= spec/b.md#XYZ-1\n//# The client MUST\n//# retry.\n//= spec/a.md#ABC-1\n//# MUST reply\n",
    );
    let report = check_tree(&tree.0);
    assert!(report.passed(), "{report}");
    assert!(report.untested_musts().is_empty());
}

#[test]
fn an_implemented_must_without_a_test_fails_the_gate() {
    let tree = Tree::new("untested");
    tree.write(
        "src/lib.rs",
        "//= spec/a.md#ABC-1\n//# The server MUST reply OK.\nfn f() {}\n",
    );
    tree.write(
        "tests/t.rs",
        "//= spec/b.md#XYZ-1\n//# The client MUST\n//# retry.\n",
    );
    let report = check_tree(&tree.0);
    assert!(report.problems.is_empty(), "{report}");
    assert!(!report.passed());
    // ABC-2 is only a MAY: not gated.
    assert!(
        matches!(report.untested.as_slice(), [Problem::Untested { id, implemented_at: Some(at), .. }]
            if id == "ABC-1" && at.path == "src/lib.rs"),
        "{report}"
    );
    let text = report.render();
    assert!(text.contains("spec/a.md:3: ABC-1 is a MUST requirement without a test citation (implemented at src/lib.rs:1)"), "{text}");
    assert!(text.contains("traceability: failed"), "{text}");
}

#[test]
fn pending_entries_excuse_what_is_not_implemented() {
    let tree = Tree::new("pending");
    tree.write(
        "spec/pending.toml",
        "[documents]\n\"b.md\" = \"the client is not built\"\n\n[requirements]\nABC-1 = \"later\"\n",
    );
    let report = check_tree(&tree.0);
    assert!(report.passed(), "{report}");
    let excused: Vec<(String, Vec<String>)> = report
        .pending
        .iter()
        .map(|p| (p.entry.target.to_string(), p.ids.clone()))
        .collect();
    assert_eq!(
        excused,
        [
            ("b.md".to_owned(), vec!["XYZ-1".to_owned()]),
            ("ABC-1".to_owned(), vec!["ABC-1".to_owned()])
        ]
    );
    // The pending list is printed apart from the failures.
    let text = report.render();
    let pending = text.find("pending (spec/pending.toml): 2 MUST").unwrap();
    let failures = text
        .find("without a test citation, not pending: 0")
        .unwrap();
    assert!(pending < failures, "{text}");
    assert!(text.contains("the client is not built"), "{text}");
}

#[test]
fn a_pending_entry_that_excuses_nothing_fails() {
    let tree = Tree::new("stale");
    tree.write(
        "spec/pending.toml",
        "[documents]\n\"b.md\" = \"x\"\n[requirements]\nABC-1 = \"y\"\n",
    );
    tree.write(
        "tests/t.rs",
        "//= spec/b.md#XYZ-1\n//# The client MUST retry.\n//= spec/a.md#ABC-1\n//# MUST reply\n",
    );
    let problems = tree.problems();
    let whys: Vec<(String, usize)> = problems
        .iter()
        .map(|p| match p {
            Problem::Pending { entry, why, at } => {
                assert_eq!(at.path, "spec/pending.toml");
                assert!(why.contains("remove it from the pending list"), "{why}");
                (entry.clone(), at.line)
            }
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(whys, [("b.md".to_owned(), 2), ("ABC-1".to_owned(), 4)]);
}

#[test]
fn an_implemented_requirement_of_a_pending_document_must_be_tested() {
    let tree = Tree::new("partly");
    tree.write("spec/pending.toml", "[documents]\n\"b.md\" = \"x\"\n");
    tree.write(
        "spec/b.md",
        "# B\n\n### XYZ-1\n\nThe client MUST retry.\n\n### XYZ-2\n\nThe client MUST wait.\n",
    );
    tree.write("src/c.rs", "//= spec/b.md#XYZ-1\n//# MUST retry\n");
    tree.write("tests/t.rs", "//= spec/a.md#ABC-1\n//# MUST reply\n");
    let report = check_tree(&tree.0);
    assert!(report.problems.is_empty(), "{report}");
    assert!(
        matches!(report.untested.as_slice(), [Problem::Untested { id, .. }] if id == "XYZ-1"),
        "{report}"
    );
    assert_eq!(report.pending[0].ids, ["XYZ-2"]);
    // Listed by ID, the implemented one is excused too.
    tree.write(
        "spec/pending.toml",
        "[documents]\n\"b.md\" = \"x\"\n[requirements]\nXYZ-1 = \"its test comes with the client\"\n",
    );
    assert!(check_tree(&tree.0).passed());
}

#[test]
fn pending_entries_must_name_musts_the_spec_defines() {
    let tree = Tree::new("badpending");
    tree.write(
        "spec/pending.toml",
        "[documents]\n\"c.md\" = \"x\"\n\"b.md\" = \"x\"\n\n[requirements]\nABC-9 = \"x\"\nABC-2 = \"x\"\nXYZ-1 = \"x\"\nABC-1 = \"\"\n",
    );
    let problems = tree.problems();
    let whys: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(whys.len(), 5, "{whys:#?}");
    for (needle, line) in [
        ("c.md is not a document of the index", 2),
        ("no document defines ABC-9", 6),
        ("ABC-2 is not a MUST requirement", 7),
        ("XYZ-1 is already pending through b.md", 8),
        ("one non-empty line", 9),
    ] {
        let at = format!("spec/pending.toml:{line}:");
        assert!(
            whys.iter()
                .any(|w| w.contains(needle) && w.starts_with(&at)),
            "{needle} at {at}: {whys:#?}"
        );
    }
}

#[test]
fn a_pending_list_that_is_not_toml_fails() {
    let tree = Tree::new("nottoml");
    tree.write("spec/pending.toml", "[requirements]\nABC-1 = later\n");
    assert!(matches!(
        tree.problems().as_slice(),
        [Problem::Pending { at, .. }] if at.line == 2
    ));
}

#[test]
fn an_id_defined_twice_fails() {
    let tree = Tree::new("dup");
    tree.write(
        "spec/a.md",
        "# A\n\n### ABC-1\n\nMUST a.\n\n### ABC-1\n\nMUST b.\n",
    );
    assert!(
        matches!(tree.problems().as_slice(), [Problem::DuplicateId { id, .. }] if id == "ABC-1")
    );
}

#[test]
fn a_malformed_id_fails() {
    let tree = Tree::new("malformed");
    tree.write("spec/a.md", "# A\n\n### ABC-01\n\nMUST a.\n");
    assert!(matches!(
        tree.problems().as_slice(),
        [Problem::MalformedId { .. }]
    ));
}

#[test]
fn a_citation_of_an_undefined_id_fails() {
    let tree = Tree::new("undefined");
    tree.write("src/x.rs", "    //= spec/a.md#ABC-9\n    //# anything\n");
    assert!(
        matches!(tree.problems().as_slice(), [Problem::Undefined { target, .. }] if target == "spec/a.md#ABC-9")
    );
}

#[test]
fn a_citation_naming_the_wrong_document_fails() {
    let tree = Tree::new("wrongdoc");
    tree.write(
        "src/x.rs",
        "//= spec/b.md#ABC-1\n//# The server MUST reply\n",
    );
    assert!(matches!(
        tree.problems().as_slice(),
        [Problem::WrongDocument { .. }]
    ));
}

#[test]
fn a_quote_that_drifted_from_the_text_fails() {
    let tree = Tree::new("drift");
    tree.write(
        "src/x.rs",
        "//= spec/a.md#ABC-1\n//# The server SHOULD reply\n",
    );
    tree.write("src/y.rs", "//= spec/a.md#ABC-1\nfn no_quote() {}\n");
    let problems = tree.problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems
            .iter()
            .all(|p| matches!(p, Problem::QuoteMismatch { .. }))
    );
}

#[test]
fn a_mention_of_an_undefined_id_in_the_spec_fails() {
    let tree = Tree::new("mention");
    tree.write(
        "spec/b.md",
        "# B\n\nSee ABC-2 and ABC-3; UTF-8 is no ID.\n\n### XYZ-1\n\nThe client MUST retry.\n",
    );
    let problems = tree.problems();
    assert!(
        matches!(problems.as_slice(), [Problem::Undefined { target, .. }] if target == "ABC-3"),
        "{problems:?}"
    );
}

#[test]
fn a_document_missing_from_the_index_fails() {
    let tree = Tree::new("unindexed");
    tree.write("spec/c.md", "# C\n");
    assert!(matches!(tree.problems().as_slice(), [Problem::Index(m)] if m.contains("c.md")));
}

#[test]
fn build_output_and_markdown_are_not_scanned() {
    let tree = Tree::new("skipped");
    tree.write("target/debug/x.rs", "//= spec/a.md#ABC-9\n");
    tree.write("notes.md", "//= spec/a.md#ABC-9\n");
    tree.write("fuzz/corpus/t/seed", "//= spec/a.md#ABC-9\n");
    assert!(tree.problems().is_empty());
}

/// A transcript of `role` citing `link` with `quote`, as the conformance suite writes them.
fn case(role: &str, link: &str, quote: &str) -> String {
    format!("case: c\nrole: {role}\nlevel: MUST\n#= {link}\n## {quote}\n\n1 ok NOOP\n")
}

#[test]
fn wire_coverage_lists_per_role_what_no_case_cites() {
    let tree = Tree::new("wire-coverage");
    tree.write(
        "spec/wire.toml",
        "[wire]\nABC-1 = [\"imap-server\"]\nXYZ-1 = [\"push-server\", \"device\"]\n",
    );
    tree.write(
        "conformance/cases/imap-server/abc-1.case",
        &case("imap-server", "spec/a.md#ABC-1", "The server MUST reply"),
    );
    // A test that is not a transcript makes XYZ-1 tested, but covers no role.
    tree.write(
        "tests/t.rs",
        "//= spec/b.md#XYZ-1\n//# The client MUST retry.\n",
    );
    let report = check_tree(&tree.0);
    assert!(report.passed(), "{report}");
    let uncovered: Vec<(Role, &str, String)> = report
        .uncovered
        .iter()
        .map(|u| (u.role, u.id.as_str(), u.at.to_string()))
        .collect();
    assert_eq!(
        uncovered,
        [
            (Role::PushServer, "XYZ-1", "spec/b.md:3".to_owned()),
            (Role::Device, "XYZ-1", "spec/b.md:3".to_owned())
        ]
    );
    let text = report.render();
    assert!(
        text.contains("that no conformance case cites: 2 (reported, not a failure)"),
        "{text}"
    );
    assert!(text.contains("  push-server (1):\n    XYZ-1\n"), "{text}");
    assert!(!text.contains("imap-server (1)"), "{text}");

    // The header decides the role, not the directory: a push-server case filed elsewhere covers
    // XYZ-1 for push-server.
    tree.write(
        "conformance/cases/imap-server/xyz-1.case",
        &case("push-server", "spec/b.md#XYZ-1", "The client MUST retry."),
    );
    let report = check_tree(&tree.0);
    assert!(report.passed(), "{report}");
    let roles: Vec<Role> = report.uncovered.iter().map(|u| u.role).collect();
    assert_eq!(roles, [Role::Device]);
}

#[test]
fn a_wrong_or_incomplete_wire_classification_fails() {
    let tree = Tree::new("wire-wrong");
    tree.write(
        "spec/wire.toml",
        "[wire]\nABC-1 = [\"imap-server\"]\nABC-2 = [\"device\"]\nNOPE-9 = [\"device\"]\n\n\
         [local]\nABC-1 = \"twice\"\n",
    );
    tree.write(
        "conformance/cases/push-server/abc-1.case",
        &case("push-server", "spec/a.md#ABC-1", "The server MUST reply"),
    );
    tree.write(
        "tests/t.rs",
        "//= spec/b.md#XYZ-1\n//# The client MUST retry.\n",
    );
    let report = check_tree(&tree.0);
    assert!(!report.passed());
    let mut found: Vec<String> = report
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::Wire { entry, why, at } => Some(format!("{at} {entry}: {why}")),
            _ => None,
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "spec/b.md:3 XYZ-1: the MUST requirement XYZ-1 is in neither table of spec/wire.toml: \
             say whether the wire shows it, and to which role",
            "spec/wire.toml:2 ABC-1: the push-server case at \
             conformance/cases/push-server/abc-1.case:4 cites ABC-1, which this entry does not \
             give to push-server",
            "spec/wire.toml:3 ABC-2: ABC-2 is not a MUST requirement; only MUST requirements are \
             classified",
            "spec/wire.toml:4 NOPE-9: no document defines NOPE-9",
            "spec/wire.toml:7 ABC-1: ABC-1 is classified twice (first at spec/wire.toml:2)",
        ],
        "{report}"
    );
}

#[test]
fn a_tree_without_a_wire_classification_reports_none() {
    let tree = Tree::new("wire-none");
    tree.write(
        "tests/t.rs",
        "//= spec/b.md#XYZ-1\n//# The client MUST retry.\n//= spec/a.md#ABC-1\n//# MUST reply\n",
    );
    let report = check_tree(&tree.0);
    assert!(report.passed(), "{report}");
    assert!(report.uncovered.is_empty());
    assert!(report.render().contains("wire coverage: no spec/wire.toml"));
}
