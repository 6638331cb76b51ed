#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The traceability check: run over this repository (it must pass), and over small trees built
//! here to prove that it catches each kind of mistake.

use std::fs;
use std::path::{Path, PathBuf};

use mailpush_spec::{Problem, check_tree};

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
        "//= spec/b.md#XYZ-1\n//# The client MUST\n//# retry.\n",
    );
    let report = check_tree(&tree.0);
    assert!(report.passed(), "{report}");
    let untested: Vec<_> = report
        .untested_musts()
        .iter()
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(
        untested,
        ["ABC-1"],
        "ABC-1 is implemented but not tested; ABC-2 is only a MAY"
    );
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
