//! Where events go. A sans-IO core keeps a [`TraceBuffer`] and hands [`Record`]s out; its driver
//! drains them into a [`Tracer`], which stamps time and component and writes one line per event.
//! Both do nothing when tracing is off (TRACE-9): the closure that would build a record is never
//! called, so nothing is allocated, formatted or read from a clock.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::codec::encode_into;
use crate::event::{Component, Event, Label, Record};

/// A core's outbox of trace records: off (the default) or bounded.
#[derive(Debug, Default)]
pub struct TraceBuffer {
    /// `None` when off; the capacity when on.
    capacity: Option<usize>,
    records: VecDeque<Record>,
    lost: u64,
}

impl TraceBuffer {
    /// A buffer that records nothing.
    pub const fn off() -> Self {
        Self {
            capacity: None,
            records: VecDeque::new(),
            lost: 0,
        }
    }

    /// A buffer that keeps at most `capacity` records until they are polled; beyond, new records
    /// are counted in [`TraceBuffer::lost`] and left out.
    pub fn on(capacity: usize) -> Self {
        Self {
            capacity: Some(capacity),
            records: VecDeque::new(),
            lost: 0,
        }
    }

    /// Whether records are kept.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.capacity.is_some()
    }

    /// Records what `make` builds, if tracing is on; `make` is not called otherwise.
    #[inline]
    pub fn record(&mut self, make: impl FnOnce() -> Record) {
        if let Some(capacity) = self.capacity {
            self.push(capacity, make());
        }
    }

    #[cold]
    fn push(&mut self, capacity: usize, record: Record) {
        if self.records.len() < capacity {
            self.records.push_back(record);
        } else {
            self.lost = self.lost.saturating_add(1);
        }
    }

    /// The oldest record not yet polled.
    pub fn poll(&mut self) -> Option<Record> {
        self.records.pop_front()
    }

    /// How many records were left out because the buffer was full.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

/// The clock a tracer stamps events with: microseconds since the Unix epoch.
pub type Clock = fn() -> u64;

/// The system clock in microseconds since the Unix epoch (0 before it).
pub fn system_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

struct Output {
    writer: Box<dyn Write + Send>,
    line: Vec<u8>,
    error: Option<io::Error>,
    /// The device of every tracer sharing this output; `None` until known.
    device: Option<Label>,
    /// Events of a device's components written before its label was known (TRACE-3), kept
    /// with their time until [`Tracer::set_device`].
    pending: Vec<Event>,
}

/// The most events kept while a device's label is unknown; beyond, they are left out.
pub const MAX_PENDING: usize = 65_536;

struct Shared {
    component: Component,
    clock: Clock,
    output: Arc<Mutex<Output>>,
}

/// A driver's trace writer: off, or writing the events of one component (and, on a device, one
/// device) to one output. Cheap to clone; clones write to the same output.
#[derive(Clone, Default)]
pub struct Tracer {
    shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.shared {
            None => f.write_str("Tracer(off)"),
            Some(s) => write!(f, "Tracer({}, {:?})", s.component, lock(&s.output).device),
        }
    }
}

impl Tracer {
    /// A tracer that writes nothing.
    pub const fn off() -> Self {
        //= spec/trace.md#TRACE-9
        //# A component MUST NOT write a trace unless it was configured to.
        Self { shared: None }
    }

    /// A tracer for `component` (of `device`, if on a device) writing to `writer` with `clock`.
    ///
    /// Each event is one `write_all` of one line, so that a writer without a buffer (a file) loses
    /// at most the event being written when the process is killed.
    pub fn new(
        component: Component,
        device: Option<Label>,
        writer: Box<dyn Write + Send>,
        clock: Clock,
    ) -> Self {
        Self {
            shared: Some(Arc::new(Shared {
                component,
                clock,
                output: Arc::new(Mutex::new(Output {
                    writer,
                    line: Vec::with_capacity(256),
                    error: None,
                    device,
                    pending: Vec::new(),
                })),
            })),
        }
    }

    /// A tracer for another component of the same process (and device) writing to the same
    /// output, so that the lines of all of them are in one time order (TRACE-7). Off when this
    /// one is off.
    pub fn with_component(&self, component: Component) -> Self {
        Self {
            shared: self.shared.as_ref().map(|s| {
                Arc::new(Shared {
                    component,
                    clock: s.clock,
                    output: Arc::clone(&s.output),
                })
            }),
        }
    }

    /// Names the device of this tracer and of every tracer sharing its output, if none was named
    /// yet, and writes the events that waited for it. A device learns the label servers give it
    /// ([`Label::of_device_token`]) only once it has a device token; until then its events wait.
    pub fn set_device(&self, device: &Label) {
        let Some(shared) = &self.shared else {
            return;
        };
        let mut output = lock(&shared.output);
        if output.device.is_some() {
            return;
        }
        output.device = Some(device.clone());
        for mut event in std::mem::take(&mut output.pending) {
            event.record.device = Some(device.clone());
            output.write(&event);
        }
    }

    /// Whether the device of this tracer is named.
    pub fn has_device(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| lock(&s.output).device.is_some())
    }

    /// A tracer appending to the file at `path` (created if missing) with the system clock.
    pub fn append_to_file(
        component: Component,
        device: Option<Label>,
        path: &Path,
    ) -> io::Result<Self> {
        let file: File = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self::new(component, device, Box::new(file), system_clock))
    }

    /// Whether events are written.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.shared.is_some()
    }

    /// Writes the event `make` builds, if tracing is on; `make` is not called otherwise.
    #[inline]
    pub fn emit(&self, make: impl FnOnce() -> Record) {
        if let Some(shared) = &self.shared {
            shared.write(make());
        }
    }

    /// Writes every record a core's buffer holds (the buffer is drained even when off, so that a
    /// core switched on by mistake cannot grow).
    pub fn drain(&self, buffer: &mut TraceBuffer) {
        while let Some(record) = buffer.poll() {
            if let Some(shared) = &self.shared {
                shared.write(record);
            }
        }
    }

    /// Flushes the output and reports the first write error, if any; after a write error the
    /// tracer writes nothing more, since a trace with a hole would mislead.
    pub fn flush(&self) -> io::Result<()> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let mut output = lock(&shared.output);
        if let Some(error) = output.error.take() {
            output.error = Some(io::Error::new(error.kind(), error.to_string()));
            return Err(error);
        }
        output.writer.flush()
    }
}

// A poisoned lock only means another thread panicked while writing a line; the output is
// still usable.
fn lock(output: &Mutex<Output>) -> std::sync::MutexGuard<'_, Output> {
    output
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Output {
    fn write(&mut self, event: &Event) {
        if self.error.is_some() {
            return;
        }
        let Output {
            writer,
            line,
            error,
            ..
        } = self;
        line.clear();
        encode_into(event, line);
        if let Err(e) = writer.write_all(line) {
            *error = Some(e);
        }
    }
}

impl Shared {
    #[cold]
    fn write(&self, mut record: Record) {
        let mut output = lock(&self.output);
        if output.error.is_some() {
            return;
        }
        if record.device.is_none() {
            record.device.clone_from(&output.device);
        }
        //= spec/trace.md#TRACE-7
        //# One writer MUST write
        //# its events in non-decreasing `time_us` order.
        // Stamped under the lock, so that the lines of one output are in time order (TRACE-7).
        let event = Event {
            time_us: (self.clock)(),
            component: self.component,
            record,
        };
        if event.record.device.is_none() && self.component.on_device() {
            if output.pending.len() < MAX_PENDING {
                output.pending.push(event);
            }
            return;
        }
        output.write(&event);
    }
}
