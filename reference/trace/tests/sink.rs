//! Writers: off by default and free when off, and one time-ordered line per event when on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::Cell;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mailpush_trace::{Component, EventKind, Label, Limits, Record, TraceBuffer, Tracer, read_all};

/// A writer the test can read afterwards.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

static TICKS: AtomicU64 = AtomicU64::new(0);

/// A clock that counts how often it is read and goes up by 10 µs each time.
fn counting_clock() -> u64 {
    TICKS.fetch_add(1, Ordering::SeqCst) * 10
}

#[test]
fn off_does_no_work() {
    //= spec/trace.md#TRACE-9
    //# A component MUST NOT write a trace unless it was configured to.
    // Off is the default of both the driver's tracer and a core's buffer, and when off the
    // closure that would allocate and format the record is never called.
    let called = Cell::new(0);
    let tracer = Tracer::default();
    assert!(!tracer.is_on());
    let mut buffer = TraceBuffer::default();
    assert!(!buffer.is_on());
    for _ in 0..1000 {
        tracer.emit(|| {
            called.set(called.get() + 1);
            Record::new(EventKind::Deliver)
        });
        buffer.record(|| {
            called.set(called.get() + 1);
            Record::new(EventKind::Deliver)
        });
    }
    assert_eq!(called.get(), 0);
    assert_eq!(buffer.poll(), None);
    assert_eq!(buffer.lost(), 0);
    assert!(tracer.flush().is_ok());
    // An off tracer holds nothing: the same size as a null pointer.
    assert_eq!(std::mem::size_of::<Tracer>(), std::mem::size_of::<usize>());
}

#[test]
fn on_writes_stamped_lines_in_time_order() {
    //= spec/trace.md#TRACE-7
    //# One writer MUST write
    //# its events in non-decreasing `time_us` order.
    let out = Shared::default();
    let device = Label::new("A").unwrap();
    let tracer = Tracer::new(
        Component::MailClient,
        Some(device.clone()),
        Box::new(out.clone()),
        counting_clock,
    );
    let before = TICKS.load(Ordering::SeqCst);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let tracer = tracer.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    tracer.emit(|| Record::new(EventKind::Ack).cursor(t * 100 + i));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // A core's records, drained by the driver, get the driver's component and device.
    let mut buffer = TraceBuffer::on(8);
    buffer.record(|| Record::new(EventKind::Forward).token("t1"));
    tracer.drain(&mut buffer);
    tracer.flush().unwrap();
    assert_eq!(
        TICKS.load(Ordering::SeqCst) - before,
        201,
        "one clock read per event"
    );

    let bytes = out.0.lock().unwrap().clone();
    let events = read_all(bytes.as_slice(), Limits::default()).unwrap();
    assert_eq!(events.len(), 201);
    assert!(events.windows(2).all(|w| w[0].time_us <= w[1].time_us));
    assert!(
        events
            .iter()
            .all(|e| e.component == Component::MailClient
                && e.record.device.as_ref() == Some(&device))
    );
    assert_eq!(events[200].record.kind, EventKind::Forward);
}

#[test]
fn a_core_buffer_is_bounded() {
    let mut buffer = TraceBuffer::on(2);
    for cursor in 0..5 {
        buffer.record(|| Record::new(EventKind::Ack).cursor(cursor));
    }
    assert_eq!(buffer.lost(), 3);
    assert_eq!(buffer.poll().unwrap().cursor, Some(0));
    assert_eq!(buffer.poll().unwrap().cursor, Some(1));
    assert_eq!(buffer.poll(), None);
}

struct Failing;

impl Write for Failing {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("disk full"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_write_error_is_reported_and_stops_the_trace() {
    let tracer = Tracer::new(
        Component::MailServer,
        None,
        Box::new(Failing),
        counting_clock,
    );
    tracer.emit(|| Record::new(EventKind::MailboxChange).mailbox("Notes"));
    tracer.emit(|| Record::new(EventKind::MailboxChange).mailbox("Notes"));
    let error = tracer.flush().unwrap_err();
    assert_eq!(error.to_string(), "disk full");
    // Reported again: the trace stays broken.
    assert!(tracer.flush().is_err());
}

#[test]
fn a_file_tracer_appends() {
    let dir = std::env::temp_dir().join(format!("mailpush-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("push.jsonl");
    let _ = std::fs::remove_file(&path);
    for id in 1..=2 {
        let tracer =
            Tracer::append_to_file(Component::PushServer, Some(Label::new("B").unwrap()), &path)
                .unwrap();
        tracer.emit(|| Record::new(EventKind::PushAccepted).id(id));
    }
    let bytes = std::fs::read(&path).unwrap();
    let events = read_all(bytes.as_slice(), Limits::default()).unwrap();
    assert_eq!(
        events.iter().map(|e| e.record.id).collect::<Vec<_>>(),
        [Some(1), Some(2)]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
