//! Merging the traces of several components.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mailpush_trace::{
    Component, Event, EventKind, Label, Limits, MergeError, Record, encode, merge,
};

fn event(time_us: u64, component: Component, kind: EventKind) -> Event {
    let device = Label::new("A").unwrap();
    Event {
        time_us,
        component,
        record: Record::new(kind)
            .device(&device)
            .mailbox("Notes")
            .mailboxes(["Notes"])
            .token("t")
            .id(1)
            .retained(false)
            .cursor(1),
    }
}

fn trace(events: &[Event]) -> Vec<u8> {
    events.iter().flat_map(encode).collect()
}

#[test]
fn merged_events_are_in_time_order_and_ties_keep_input_order() {
    //= spec/trace.md#TRACE-7
    //# A merged trace orders the events of all its inputs
    //# by `time_us`, keeping the input order among equal times
    let server = trace(&[
        event(10, Component::MailServer, EventKind::MailboxChange),
        event(30, Component::MailServer, EventKind::PushRequest),
    ]);
    let push = trace(&[
        event(10, Component::PushServer, EventKind::PushAccepted),
        event(20, Component::PushServer, EventKind::Deliver),
    ]);
    let merged = merge(
        [
            ("server".to_owned(), server.as_slice()),
            ("push".to_owned(), push.as_slice()),
        ],
        Limits::default(),
    )
    .unwrap();
    let order: Vec<(u64, EventKind)> = merged.iter().map(|e| (e.time_us, e.record.kind)).collect();
    assert_eq!(
        order,
        [
            (10, EventKind::MailboxChange),
            (10, EventKind::PushAccepted),
            (20, EventKind::Deliver),
            (30, EventKind::PushRequest),
        ]
    );
}

#[test]
fn a_bad_input_is_named_and_the_limit_covers_all_inputs() {
    let one = trace(&[event(1, Component::Da, EventKind::Sync)]);
    let error = merge(
        [
            ("a.jsonl".to_owned(), one.as_slice()),
            ("b.jsonl".to_owned(), b"{}\n".as_slice()),
        ],
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "b.jsonl: line 1: field `time_us`: missing"
    );
    let error = merge(
        [
            ("a.jsonl".to_owned(), one.as_slice()),
            ("b.jsonl".to_owned(), one.as_slice()),
        ],
        Limits {
            max_events: 1,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(matches!(error, MergeError::TooManyEvents { limit: 1 }));
    assert_eq!(error.to_string(), "more than 1 events in all the traces");
}
