//! The oracle of the `trace_reader` fuzz target: test equipment, not API.

use crate::codec::{Limits, Reader, encode};

/// Reads `data` as a trace with small limits and checks what the reader promises: it never
/// panics, stops at the first fault, and every event it accepts is written as a line it reads back
/// as the same event.
pub fn check_reader(data: &[u8]) -> Result<(), String> {
    let limits = Limits {
        max_line: 4096,
        max_events: 64,
    };
    let mut accepted = 0usize;
    let mut failed = false;
    for item in Reader::with_limits(data, limits) {
        if failed {
            return Err("the reader went on after an error".into());
        }
        match item {
            Ok(event) => {
                accepted += 1;
                let line = encode(&event);
                let again: Vec<_> = Reader::new(line.as_slice()).collect();
                match again.as_slice() {
                    [Ok(back)] if *back == event => {}
                    other => {
                        return Err(format!(
                            "{event:?} was written as {:?} and read back as {other:?}",
                            String::from_utf8_lossy(&line)
                        ));
                    }
                }
            }
            Err(_) => failed = true,
        }
    }
    if accepted > limits.max_events {
        return Err(format!("{accepted} events read past the limit"));
    }
    Ok(())
}
