//! The device-by-device schedule, and how its behaviours read as interleaved ones.
//!
//! Devices share nothing but the mail server's content: every other part of the state (a
//! device's registrations and pending sets at the mail server, its ring and mark at the push
//! server, its mail client and its DA) belongs to one device, and every step but a mail server
//! event reads and writes the parts of one device only. A device's steps therefore commute with
//! every other device's steps, and what a device does depends only on where the mail server's
//! events fall among its own steps. The device-by-device schedule chooses the events first,
//! lets each device take each of them in at a step of its own ([`crate::Action::TakeIn`]), and
//! runs the devices one after the other: the first device with a possible step is the only one
//! that moves. Every combination of per-device behaviours is still explored, so every property
//! about one device's steps or states, every state in which all devices are done, and every
//! terminal state is reached exactly as in the interleaved schedule; model/README.md gives the
//! argument, and a test compares the two schedules state by state.

use stateright::{Model, Path};

use crate::config::Schedule;
use crate::model::{Action, MailpushModel};
use crate::state::{DeviceId, State};

/// The actions the checker explores in `state` under the configured schedule.
pub(crate) fn actions(model: &MailpushModel, state: &State, out: &mut Vec<Action>) {
    match model.config.schedule {
        Schedule::Interleaved => model.all_actions(state, out),
        Schedule::DeviceByDevice => {
            model.server_actions(state, out);
            if !out.is_empty() {
                return;
            }
            for id in 0..model.config.devices {
                model.device_actions(state, id, out);
                if !out.is_empty() {
                    return;
                }
            }
        }
    }
}

/// The actions of a device-by-device path in an order the interleaved schedule can take: each
/// mail server event at the point where the devices take it in. The path ends with the same
/// steps of the device that took the last step, so a property that fails at the end of `path`
/// fails at the end of this one.
pub fn interleaved_actions(path: &Path<State, Action>) -> Vec<Action> {
    let actions = path.clone().into_actions();
    let devices = path.last_state().shape.devices;
    let last = actions.iter().rev().find_map(Action::device);
    let mut events = Vec::new();
    // segments[device][k]: the device's steps after it took in k events.
    let mut segments: Vec<Vec<Vec<Action>>> = vec![vec![Vec::new()]; usize::from(devices)];
    for action in &actions {
        match action.device() {
            None => events.push(*action),
            Some(d) => {
                let Some(own) = segments.get_mut(usize::from(d)) else {
                    continue;
                };
                if matches!(action, Action::TakeIn(_)) {
                    own.push(Vec::new());
                } else if let Some(segment) = own.last_mut() {
                    segment.push(*action);
                }
            }
        }
    }
    let Some(last) = last else {
        return events;
    };
    let taken_by_last = segments.get(usize::from(last)).map_or(0, |s| s.len() - 1);
    let mut out = Vec::new();
    for k in 0..=taken_by_last {
        let order = (0..devices).filter(|d| *d != last).chain([last]);
        for d in order {
            out.extend(segment(&segments, d, k));
        }
        if k < taken_by_last {
            out.extend(events.get(k).copied());
        }
    }
    out
}

fn segment(segments: &[Vec<Vec<Action>>], d: DeviceId, k: usize) -> Vec<Action> {
    segments
        .get(usize::from(d))
        .and_then(|s| s.get(k))
        .cloned()
        .unwrap_or_default()
}

/// A device-by-device path replayed in the interleaved schedule; `None` if `model` is not
/// device-by-device or the replay fails (which the commutation argument rules out).
pub fn interleaved(
    model: &MailpushModel,
    path: &Path<State, Action>,
) -> Option<Path<State, Action>> {
    if model.config.schedule != Schedule::DeviceByDevice {
        return None;
    }
    let plain = MailpushModel::new(crate::Config {
        schedule: Schedule::Interleaved,
        ..model.config
    });
    let init = plain.init_states().into_iter().next()?;
    Path::from_actions(&plain, init, &interleaved_actions(path))
}
