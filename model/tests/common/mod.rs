//! Helpers shared by the test files; each test file uses a part of them.
#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};

use mailpush_model::{Config, MailpushModel, Schedule, State};
use stateright::Model;

/// Every reachable state of `config` under `schedule`, found without the checker and its
/// symmetry reduction.
pub fn reachable(config: Config, schedule: Schedule) -> Vec<State> {
    let model = MailpushModel::new(Config { schedule, ..config });
    let mut seen: HashSet<State> = HashSet::new();
    let mut queue: VecDeque<State> = model.init_states().into();
    let mut out = Vec::new();
    while let Some(state) = queue.pop_front() {
        if !seen.insert(state) {
            continue;
        }
        out.push(state);
        queue.extend(model.next_states(&state));
    }
    out
}

/// A document of the workspace, by its path from the workspace root.
pub fn document(path: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    std::fs::read_to_string(format!("{root}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The rows of the first table after `heading` in a Markdown document, as trimmed cells.
pub fn table_after(document: &str, heading: &str) -> Vec<Vec<String>> {
    let start = document
        .find(heading)
        .unwrap_or_else(|| panic!("{heading} is in the document"));
    document[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}
