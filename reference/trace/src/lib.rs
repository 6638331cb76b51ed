//! # mailpush-trace
//!
//! The protocol trace of spec/trace.md: every component can write the protocol events it takes
//! part in, in the spec's vocabulary, as JSON lines.
//!
//! * [`event`]: the event ([`Event`], [`Record`]) and its vocabulary ([`EventKind`], which also
//!   names the model action each event is part of).
//! * [`codec`]: one event per line, and a strict, bounded [`Reader`].
//! * [`sink`]: off by default and free when off. A sans-IO core keeps a [`TraceBuffer`] and records
//!   with a closure; its driver owns a [`Tracer`], which stamps time and component and writes.
//! * [`merge()`]: the traces of several components as one, in time order; [`name_devices`] gives
//!   each device of a merged trace one name.
//! * [`render`]: a message sequence chart, a self-contained HTML file with inline SVG.
#![forbid(unsafe_code)]

pub mod codec;
pub mod event;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod merge;
pub mod render;
pub mod sink;

pub use codec::{
    Limits, ReadError, ReadErrorKind, Reader, decode_line, encode, read_all, write_events,
};
pub use event::{Component, Event, EventKind, Field, Label, Record, SpecId, ValueError, Versions};
pub use merge::{MergeError, NamingError, merge, name_devices};
pub use sink::{TraceBuffer, Tracer, system_clock};
