//! Helpers shared by the test files.

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
