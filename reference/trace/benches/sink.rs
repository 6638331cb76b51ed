//! The cost of tracing in a driver's hot path: an event emitted while tracing is off (the
//! default) against one written to a sink that discards the bytes.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use mailpush_trace::{Component, EventKind, Label, Record, TraceBuffer, Tracer};

fn record(id: u64) -> Record {
    Record::new(EventKind::Deliver)
        .id(id)
        .retained(false)
        .mailboxes(["Notes"])
}

fn sink(c: &mut Criterion) {
    let off = Tracer::off();
    c.bench_function("tracer off: emit", |b| {
        let mut id = 0u64;
        b.iter(|| {
            id += 1;
            off.emit(|| record(black_box(id)));
        });
    });
    let mut buffer = TraceBuffer::off();
    c.bench_function("core buffer off: record", |b| {
        let mut id = 0u64;
        b.iter(|| {
            id += 1;
            buffer.record(|| record(black_box(id)));
        });
    });
    let device = Label::new("A").ok();
    let on = Tracer::new(
        Component::PushServer,
        device,
        Box::new(std::io::sink()),
        mailpush_trace::system_clock,
    );
    c.bench_function("tracer on: emit to io::sink", |b| {
        let mut id = 0u64;
        b.iter(|| {
            id += 1;
            on.emit(|| record(black_box(id)));
        });
    });
}

criterion_group!(benches, sink);
criterion_main!(benches);
