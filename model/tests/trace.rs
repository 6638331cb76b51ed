#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The trace format: a counterexample reads as numbered steps in spec vocabulary, each followed
//! by the facts it changed.

use mailpush_model::{Action, Broken, Config, Deviation, MailpushModel, Schedule, trace};
use stateright::{Model, Path};

/// One device, two mailboxes with push, N = 1: a DA that skips fan-out wakes loses B's change.
#[test]
fn counterexample_trace_of_a_da_skipping_fan_out_wakes() {
    let config = Config {
        devices: 1,
        poll_mailboxes: 0,
        schedule: Schedule::Interleaved,
        broken: Broken::NONE.with(Deviation::DaIgnoresRetained),
        ..Config::CI
    };
    let model = MailpushModel::new(config);
    let actions = [
        Action::ListAndRegister(0, 0),
        Action::RequestPush(0, 0),
        Action::ServerRepliesPushSubset(0, 0),
        Action::DaSync(0, 0),
        Action::DaSync(0, 1),
        Action::Disconnect(0),
        Action::MailboxChange(1),
        Action::PushRequest(0, 0),
        Action::MailboxChange(0),
        Action::PushRequest(0, 0),
        Action::Reconnect(0),
        Action::Deliver(0),
        Action::Acknowledge(0),
        Action::DaSync(0, 0),
        Action::DaSync(0, 1),
    ];
    let path = Path::from_actions(&model, model.init_states().remove(0), &actions).unwrap();
    let last = path.last_state();
    assert!(last.quiescent() && !last.consistent());
    insta::assert_snapshot!(trace::render(&model, &path));
}
