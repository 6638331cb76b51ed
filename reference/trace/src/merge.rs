//! Merging the traces of several components into one, in time order (TRACE-7), and giving its
//! devices the names whoever ran them chose (TRACE-12).

use std::io::BufRead;

use crate::codec::{Limits, ReadError, ReadErrorKind, Reader};
use crate::event::{Event, Label};

/// Why traces could not be merged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// One of the traces is malformed or could not be read.
    #[error("{name}: {source}")]
    Read {
        /// The name of the trace (a file name).
        name: String,
        /// The fault.
        #[source]
        source: ReadError,
    },
    /// The traces hold more events together than the limit.
    #[error("more than {limit} events in all the traces")]
    TooManyEvents {
        /// The limit.
        limit: usize,
    },
}

/// Reads every trace and returns all their events ordered by time. Events with the same time keep
/// the order of the inputs, then of their lines, so merging is deterministic. `limits.max_events`
/// bounds the events of all inputs together.
pub fn merge<R: BufRead>(
    inputs: impl IntoIterator<Item = (String, R)>,
    limits: Limits,
) -> Result<Vec<Event>, MergeError> {
    let mut events: Vec<Event> = Vec::new();
    for (name, input) in inputs {
        let remaining = Limits {
            max_events: limits.max_events.saturating_sub(events.len()),
            ..limits
        };
        for event in Reader::with_limits(input, remaining) {
            match event {
                Ok(event) => events.push(event),
                Err(ReadError {
                    kind: ReadErrorKind::TooManyEvents { .. },
                    ..
                }) => {
                    return Err(MergeError::TooManyEvents {
                        limit: limits.max_events,
                    });
                }
                Err(source) => return Err(MergeError::Read { name, source }),
            }
        }
    }
    // A stable sort: equal times keep input order.
    events.sort_by_key(|e| e.time_us);
    Ok(events)
}

/// Why the devices of a merged trace could not be given their names (TRACE-12).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamingError {
    /// One device's own trace names more than one device.
    #[error("the trace of device {name} names two devices, {first} and {second}")]
    SeveralLabels {
        /// The name the device was to get.
        name: Label,
        /// The first label its trace holds.
        first: Label,
        /// Another label in it.
        second: Label,
    },
    /// Two devices' traces name the same device.
    #[error("devices {first} and {second} both write their events as {label}")]
    SameLabel {
        /// The label both traces hold.
        label: Label,
        /// The first device's name.
        first: Label,
        /// The second device's name.
        second: Label,
    },
    /// A name is given to two devices, or is already the label of a device that keeps its label.
    #[error("the name {name} would stand for two devices")]
    NameTaken {
        /// The name.
        name: Label,
    },
}

/// Puts each device's own name in place of the label it wrote its events under, in every event of
/// `merged` that carries that label, the servers' events included, so that one device has one
/// label in the merged trace (TRACE-12). `devices` pairs each name with the events of that
/// device's own trace, written without a label of its own and so under the label servers give it
/// (TRACE-3); a device whose trace is empty keeps whatever label the servers gave it.
pub fn name_devices<'a>(
    merged: &mut [Event],
    devices: impl IntoIterator<Item = (Label, &'a [Event])>,
) -> Result<(), NamingError> {
    //= spec/trace.md#TRACE-12
    //# In a merged trace, each device MUST have exactly one label.
    let mut renames: Vec<(Label, Label)> = Vec::new();
    for (name, own) in devices {
        let mut labels = own.iter().filter_map(|e| e.record.device.as_ref());
        let Some(label) = labels.next() else {
            continue;
        };
        if let Some(other) = labels.find(|l| *l != label) {
            return Err(NamingError::SeveralLabels {
                name,
                first: label.clone(),
                second: other.clone(),
            });
        }
        if let Some((_, first)) = renames.iter().find(|(from, _)| from == label) {
            return Err(NamingError::SameLabel {
                label: label.clone(),
                first: first.clone(),
                second: name,
            });
        }
        if renames.iter().any(|(_, to)| *to == name) {
            return Err(NamingError::NameTaken { name });
        }
        renames.push((label.clone(), name));
    }
    // A name must not be the label of a device that is not renamed, or two devices would merge.
    for (_, name) in &renames {
        let kept = merged
            .iter()
            .filter_map(|e| e.record.device.as_ref())
            .any(|l| l == name && !renames.iter().any(|(from, _)| from == l));
        if kept {
            return Err(NamingError::NameTaken { name: name.clone() });
        }
    }
    //= spec/trace.md#TRACE-12
    //# MUST, when it merges their traces, put its own name of a device
    //# in place of the servers' label in every event that carries it, the servers' events included.
    for event in merged.iter_mut() {
        if let Some(device) = &mut event.record.device
            && let Some((_, name)) = renames.iter().find(|(from, _)| from == device)
        {
            *device = name.clone();
        }
    }
    Ok(())
}
