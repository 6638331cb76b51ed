//! Merging the traces of several components into one, in time order (TRACE-7).

use std::io::BufRead;

use crate::codec::{Limits, ReadError, ReadErrorKind, Reader};
use crate::event::Event;

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
