//! Merging the traces of several components.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mailpush_trace::{
    Component, Event, EventKind, Label, Limits, MergeError, NamingError, Record, encode, merge,
    name_devices,
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

fn on(time_us: u64, component: Component, kind: EventKind, device: &str) -> Event {
    Event {
        time_us,
        component,
        record: Record::new(kind).device(&Label::new(device).unwrap()),
    }
}

fn label(text: &str) -> Label {
    Label::new(text).unwrap()
}

fn devices_of(events: &[Event]) -> Vec<Option<&str>> {
    events
        .iter()
        .map(|e| e.record.device.as_ref().map(Label::as_str))
        .collect()
}

//= spec/trace.md#TRACE-12
//= type=test
//# In a merged trace, each device MUST have exactly one label.
//= spec/trace.md#TRACE-12
//= type=test
//# MUST, when it merges their traces, put its own name of a device
//# in place of the servers' label in every event that carries it, the servers' events included.
#[test]
fn each_device_takes_its_name_in_every_event_the_servers_included() {
    let a = vec![
        on(1, Component::Da, EventKind::ListMailboxes, "d-aaaa1111"),
        on(5, Component::MailClient, EventKind::Ack, "d-aaaa1111"),
    ];
    let b = vec![on(2, Component::Da, EventKind::ListMailboxes, "d-bbbb2222")];
    let mut merged = vec![
        a[0].clone(),
        b[0].clone(),
        on(
            3,
            Component::MailServer,
            EventKind::PushRequest,
            "d-bbbb2222",
        ),
        on(4, Component::PushServer, EventKind::Deliver, "d-aaaa1111"),
        // A device the caller did not run keeps the servers' label.
        on(4, Component::PushServer, EventKind::Deliver, "d-cccc3333"),
        a[1].clone(),
    ];
    name_devices(
        &mut merged,
        [
            (label("A"), a.as_slice()),
            (label("B"), b.as_slice()),
            (label("C"), &[][..]),
        ],
    )
    .unwrap();
    assert_eq!(
        devices_of(&merged),
        [
            Some("A"),
            Some("B"),
            Some("B"),
            Some("A"),
            Some("d-cccc3333"),
            Some("A")
        ]
    );
}

#[test]
fn a_device_trace_that_names_two_devices_or_a_label_shared_is_an_error() {
    let mixed = vec![
        on(1, Component::Da, EventKind::ListMailboxes, "d-aaaa1111"),
        on(2, Component::Da, EventKind::ListMailboxes, "d-bbbb2222"),
    ];
    let error = name_devices(&mut [], [(label("A"), mixed.as_slice())]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the trace of device A names two devices, d-aaaa1111 and d-bbbb2222"
    );

    let one = vec![on(1, Component::Da, EventKind::ListMailboxes, "d-aaaa1111")];
    let error = name_devices(
        &mut [],
        [(label("A"), one.as_slice()), (label("B"), one.as_slice())],
    )
    .unwrap_err();
    assert!(matches!(error, NamingError::SameLabel { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "devices A and B both write their events as d-aaaa1111"
    );

    // A name that is the label of a device left as it is would make two devices one.
    let mut merged = vec![
        one[0].clone(),
        on(2, Component::PushServer, EventKind::Deliver, "B"),
    ];
    let before = merged.clone();
    let error = name_devices(&mut merged, [(label("B"), one.as_slice())]).unwrap_err();
    assert_eq!(error.to_string(), "the name B would stand for two devices");
    assert_eq!(merged, before, "nothing is renamed when naming fails");
}
