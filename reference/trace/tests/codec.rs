//! The trace format: what is written reads back, and what breaks the format is refused with the
//! line and the field named.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mailpush_trace::event::{MAX_MAILBOXES, MAX_TEXT};
use mailpush_trace::{
    Component, Event, EventKind, Label, Limits, ReadErrorKind, Reader, Record, SpecId, encode,
    read_all, write_events,
};
use quickcheck::{Arbitrary, Gen, QuickCheck};

fn label(text: &str) -> Label {
    Label::new(text).unwrap()
}

fn deliver() -> Event {
    Event {
        time_us: 1_764_777_600_000_123,
        component: Component::PushServer,
        record: Record::new(EventKind::Deliver)
            .device(&label("B"))
            .cite(SpecId::new("RING-6").unwrap())
            .mailboxes(["Notes"])
            .id(7)
            .retained(true),
    }
}

/// The first error of reading `text`, as (line, message).
fn first_error(text: &str) -> (u64, String) {
    let error = read_all(text.as_bytes(), Limits::default()).unwrap_err();
    (error.line, error.kind.to_string())
}

#[test]
fn the_example_of_the_spec_is_what_is_written() {
    //= spec/trace.md#TRACE-1
    //# A trace MUST be a sequence of lines, each one JSON object (RFC 8259) in UTF-8 that
    //# describes one event, ended by a line feed
    let line = String::from_utf8(encode(&deliver())).unwrap();
    assert_eq!(
        line,
        "{\"time_us\":1764777600000123,\"component\":\"push-server\",\"device\":\"B\",\"event\":\"deliver\",\"spec\":[\"CHAN-16\",\"RING-6\"],\"mailboxes\":[\"Notes\"],\"id\":7,\"retained\":true}\n"
    );
    let spec = include_str!("../../../spec/trace.md");
    assert!(spec.contains(line.trim_end()), "spec/trace.md's example");
}

#[test]
fn every_field_round_trips() {
    let mut events = vec![deliver()];
    events.push(Event {
        time_us: 5,
        component: Component::Da,
        record: Record::new(EventKind::Sync)
            .device(&label("A-1.x:y"))
            .mailbox("Notes/\"quoted\" \u{e9}\u{1F600}")
            .token("t-1")
            .versions(Some(3), Some(9))
            .detail("QRESYNC <b>&amp;</b>"),
    });
    events.push(Event {
        time_us: 6,
        component: Component::MailClient,
        record: Record::new(EventKind::Connect)
            .device(&label("A"))
            .cursor(u64::MAX)
            .versions(None, Some(1)),
    });
    let mut out = Vec::new();
    write_events(&mut out, &events).unwrap();
    assert_eq!(read_all(out.as_slice(), Limits::default()).unwrap(), events);
}

#[test]
fn the_last_line_may_lack_its_line_feed() {
    let line = encode(&deliver());
    let without = &line[..line.len() - 1];
    assert_eq!(
        read_all(without, Limits::default()).unwrap(),
        vec![deliver()]
    );
}

#[test]
fn unknown_repeated_and_missing_fields_are_refused() {
    //= spec/trace.md#TRACE-2
    //# An event object MUST have the fields `time_us`, `component`, `event` and `spec`, MAY
    //# have the other fields of this table, and MUST NOT have any other field or the same field twice.
    let ok = String::from_utf8(encode(&deliver())).unwrap();
    let unknown = ok.replacen("{", "{\"colour\":1,", 1);
    let (line, message) = first_error(&format!("{ok}{unknown}"));
    assert_eq!(line, 2);
    assert!(message.contains("unknown field `colour`"), "{message}");

    let twice = ok.replacen("{", "{\"id\":8,", 1);
    let (_, message) = first_error(&twice);
    assert!(message.contains("duplicate field `id`"), "{message}");

    for field in ["time_us", "component", "event", "spec"] {
        let mut value: serde_json::Value = serde_json::from_str(&ok).unwrap();
        value.as_object_mut().unwrap().remove(field);
        let (line, message) = first_error(&value.to_string());
        assert_eq!(line, 1);
        assert_eq!(message, format!("field `{field}`: missing"));
    }

    let null = ok.replace("\"id\":7", "\"id\":null");
    assert_eq!(
        first_error(&null).1,
        "field `id`: expected an unsigned integer"
    );
}

#[test]
fn wrong_types_name_their_field() {
    //= spec/trace.md#TRACE-5
    //# `spec` MUST hold 1 to 16 requirement IDs, each well formed
    let ok = String::from_utf8(encode(&deliver())).unwrap();
    let cases = [
        (
            "\"id\":7",
            "\"id\":-7",
            "field `id`: expected an unsigned integer",
        ),
        (
            "\"id\":7",
            "\"id\":\"7\"",
            "field `id`: expected an unsigned integer",
        ),
        (
            "\"retained\":true",
            "\"retained\":1",
            "field `retained`: expected true or false",
        ),
        (
            "\"time_us\":1764777600000123",
            "\"time_us\":1.5",
            "field `time_us`: expected an unsigned integer",
        ),
        (
            "\"mailboxes\":[\"Notes\"]",
            "\"mailboxes\":\"Notes\"",
            "field `mailboxes`: expected an array",
        ),
        (
            "\"mailboxes\":[\"Notes\"]",
            "\"mailboxes\":[1]",
            "field `mailboxes`: expected a string",
        ),
        (
            "\"spec\":[\"CHAN-16\",\"RING-6\"]",
            "\"spec\":[]",
            "field `spec`: must cite 1 to 16 requirement IDs",
        ),
        (
            "\"spec\":[\"CHAN-16\",\"RING-6\"]",
            "\"spec\":[\"chan-16\"]",
            "field `spec`: a spec ID is PREFIX-N: 2 to 8 capital letters, `-`, a number without leading zeros",
        ),
        (
            "\"spec\":[\"CHAN-16\",\"RING-6\"]",
            "\"spec\":[\"CHAN-016\"]",
            "field `spec`: a spec ID is PREFIX-N: 2 to 8 capital letters, `-`, a number without leading zeros",
        ),
        (
            "\"event\":\"deliver\"",
            "\"event\":\"teleport\"",
            "field `event`: not an event of the vocabulary",
        ),
        (
            "\"component\":\"push-server\"",
            "\"component\":\"kernel\"",
            "field `component`: not a component of the system",
        ),
        (
            "\"id\":7",
            "\"id\":7,\"versions\":{}",
            "field `versions`: needs `before`, `after` or both",
        ),
        (
            "\"id\":7",
            "\"id\":7,\"versions\":{\"now\":1}",
            "field `versions`: only `before` and `after` are allowed",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(ok.contains(from), "{from}");
        let (line, message) = first_error(&ok.replace(from, to));
        assert_eq!((line, message.as_str()), (1, expected), "{to}");
    }
    let (_, message) = first_error("not json\n");
    assert!(
        message.starts_with("expected ident at line 1 column 2"),
        "{message}"
    );
}

#[test]
fn components_and_devices_follow_the_rules() {
    //= spec/trace.md#TRACE-3
    //# An event of `notes`,
    //# `da` or `mail-client` MUST carry `device`, and so MUST every event whose row in [TRACE-4](#TRACE-4)
    //# says "yes" under "device".
    let ok = String::from_utf8(encode(&deliver())).unwrap();
    let (_, message) = first_error(&ok.replace("\"device\":\"B\",", ""));
    assert_eq!(
        message,
        "field `device`: event `deliver` must name its device"
    );
    for bad in ["", "a b", "<script>", "é"] {
        let (_, message) =
            first_error(&ok.replace("\"device\":\"B\"", &format!("\"device\":{bad:?}")));
        assert!(
            message.starts_with("field `device`: a device label"),
            "{bad}: {message}"
        );
    }
    let long = "x".repeat(65);
    assert!(Label::new(&long).is_err());
    assert!(Label::new(&long[..64]).is_ok());
    // A server event about no device needs none.
    let change = Event {
        time_us: 1,
        component: Component::MailServer,
        record: Record::new(EventKind::MailboxChange).mailbox("Notes"),
    };
    assert_eq!(change.check(), Ok(()));
    for kind in EventKind::ALL {
        let needs = kind.emitter().on_device()
            || kind.receiver().is_some_and(Component::on_device)
            || kind.emitter() == Component::PushServer
            || *kind == EventKind::PushRequest;
        assert_eq!(kind.names_device(), needs, "{kind}");
    }
}

#[test]
fn an_event_comes_only_from_its_emitter() {
    //= spec/trace.md#TRACE-4
    //# `event` MUST be one of the names of this table, and an event MUST be written only
    //# by the component its row names under "by".
    let ok = String::from_utf8(encode(&deliver())).unwrap();
    let (_, message) = first_error(&ok.replace("push-server", "mail-server"));
    assert_eq!(
        message,
        "field `component`: event `deliver` is emitted by `push-server`, not `mail-server`"
    );
}

#[test]
fn the_vocabulary_table_of_the_spec_is_the_code() {
    // Each row of TRACE-4's table, as the code sees it, must be in the spec word for word.
    let spec = include_str!("../../../spec/trace.md");
    for kind in EventKind::ALL {
        let to = kind
            .receiver()
            .map(|c| format!("`{}`", c.as_str()))
            .unwrap_or_default();
        let device = if kind.names_device() { "yes" } else { "no" };
        let requires: Vec<String> = kind
            .required()
            .iter()
            .map(|f| format!("`{}`", f.as_str()))
            .collect();
        let prefix = format!(
            "| `{}` | `{}` | {to} | {device} | {} | ",
            kind.as_str(),
            kind.emitter().as_str(),
            requires.join(", ")
        )
        .replace("|  |", "| |");
        let row = spec
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no row `{prefix}` in spec/trace.md"));
        let model = kind
            .model_action()
            .map_or("—".to_owned(), |a| format!("`{a}`"));
        assert!(row.contains(&model), "{row}: model action {model}");
        assert!(
            row.trim_end_matches(" |")
                .ends_with(&kind.default_spec().join(", ")),
            "{row}: default spec {:?}",
            kind.default_spec()
        );
    }
    let rows = spec
        .lines()
        .filter(|l| {
            l.starts_with("| `") && !l.starts_with("| `event`") && l.matches('|').count() == 8
        })
        .count();
    assert_eq!(rows, EventKind::ALL.len(), "rows of the vocabulary table");
}

#[test]
fn every_kind_requires_its_fields() {
    //= spec/trace.md#TRACE-6
    //# An event MUST carry the fields its row of [TRACE-4](#TRACE-4)
    //# requires.
    let ok = String::from_utf8(encode(&deliver())).unwrap();
    let (_, message) = first_error(&ok.replace(",\"retained\":true", ""));
    assert_eq!(message, "field `retained`: event `deliver` requires it");
    for kind in EventKind::ALL {
        for field in kind.required() {
            let mut record = Record::new(*kind)
                .device(&label("A"))
                .mailbox("M")
                .mailboxes(["M"])
                .token("t")
                .id(1)
                .retained(false)
                .cursor(0);
            let event_ok = Event {
                time_us: 0,
                component: kind.emitter(),
                record: record.clone(),
            };
            assert_eq!(event_ok.check(), Ok(()), "{kind}");
            match field.as_str() {
                "mailbox" => record.mailbox = None,
                "mailboxes" => record.mailboxes = None,
                "token" => record.token = None,
                "id" => record.id = None,
                "retained" => record.retained = None,
                "cursor" => record.cursor = None,
                other => panic!("{other}"),
            }
            let event = Event {
                time_us: 0,
                component: kind.emitter(),
                record,
            };
            assert_eq!(event.check().unwrap_err().field, field.as_str(), "{kind}");
        }
    }
}

#[test]
fn sizes_are_bounded_on_both_sides() {
    //= spec/trace.md#TRACE-6
    //# A string value MUST NOT be longer than 1024 octets, and `mailboxes` MUST NOT hold more
    //# than 64 names
    let long = "é".repeat(MAX_TEXT); // 2 octets each
    let record = Record::new(EventKind::MailboxChange)
        .mailbox(&long)
        .detail(&long)
        .mailboxes((0..MAX_MAILBOXES + 10).map(|_| long.as_str()));
    assert_eq!(record.mailbox.as_ref().unwrap().len(), MAX_TEXT);
    assert_eq!(record.mailboxes.as_ref().unwrap().len(), MAX_MAILBOXES);
    let event = Event {
        time_us: 0,
        component: Component::MailServer,
        record,
    };
    let line = encode(&event);
    assert_eq!(
        read_all(line.as_slice(), Limits::default()).unwrap(),
        vec![event]
    );

    let ok = String::from_utf8(encode(&deliver())).unwrap();
    let too_long = ok.replace("\"Notes\"", &format!("\"{}\"", "n".repeat(MAX_TEXT + 1)));
    assert_eq!(
        first_error(&too_long).1,
        "field `mailboxes`: longer than 1024 octets"
    );
    let names = vec!["\"n\""; MAX_MAILBOXES + 1].join(",");
    let too_many = ok.replace("\"Notes\"", &names);
    assert_eq!(
        first_error(&too_many).1,
        "field `mailboxes`: more than 64 names"
    );
}

#[test]
fn the_largest_event_fits_in_a_line() {
    //= spec/trace.md#TRACE-1
    //# A writer MUST NOT write an
    //# empty line or a line longer than 1048576 octets (1 MiB, line feed excluded)
    // Control characters are written as six-octet escapes: the worst case for every string.
    let worst = "\u{1}".repeat(MAX_TEXT);
    let event = Event {
        time_us: u64::MAX,
        component: Component::MailClient,
        record: Record::new(EventKind::Token)
            .device(&label(&"d".repeat(64)))
            .mailbox(&worst)
            .mailboxes((0..MAX_MAILBOXES).map(|_| worst.as_str()))
            .token(&worst)
            .detail(&worst)
            .id(u64::MAX)
            .retained(true)
            .cursor(u64::MAX)
            .versions(Some(u64::MAX), Some(u64::MAX)),
    };
    let line = encode(&event);
    assert!(
        line.len() - 1 <= mailpush_trace::codec::MAX_LINE,
        "{}",
        line.len()
    );
    assert_eq!(
        read_all(line.as_slice(), Limits::default()).unwrap(),
        vec![event]
    );
}

#[test]
fn readers_are_strict_and_bounded() {
    //= spec/trace.md#TRACE-8
    //# A tool that reads a trace MUST reject one that breaks
    //# [TRACE-1](#TRACE-1) to [TRACE-6](#TRACE-6), naming the line (counting from 1) and, where there is
    //# one, the field at fault. It MUST bound the length of a line it reads and the number of events it
    //# keeps, and report a trace beyond either bound as an error rather than read it in part.
    let ok = String::from_utf8(encode(&deliver())).unwrap();
    let three = ok.repeat(3);

    // The line feed does not count: a line of exactly the limit is read, one octet more is not.
    let content = ok.len() - 1;
    let exact = Limits {
        max_line: content,
        max_events: 10,
    };
    assert_eq!(read_all(three.as_bytes(), exact).unwrap().len(), 3);
    let short = Limits {
        max_line: content - 1,
        max_events: 10,
    };
    let error = read_all(three.as_bytes(), short).unwrap_err();
    assert_eq!(error.line, 1);
    assert!(matches!(error.kind, ReadErrorKind::LineTooLong { .. }));
    assert_eq!(
        error.to_string(),
        format!("line 1: line longer than {} octets", content - 1)
    );

    let two = Limits {
        max_line: 4096,
        max_events: 2,
    };
    let error = read_all(three.as_bytes(), two).unwrap_err();
    assert_eq!(error.to_string(), "line 3: more than 2 events");

    let (line, message) = first_error(&format!("{ok}\n{ok}"));
    assert_eq!(
        (line, message.as_str()),
        (2, "empty line (every line is one event)")
    );
    let mut bytes = ok.clone().into_bytes();
    bytes.extend_from_slice(b"{\"x\":\"\xff\"}\n");
    let error = read_all(bytes.as_slice(), Limits::default()).unwrap_err();
    assert_eq!(error.to_string(), "line 2: not UTF-8");

    // The reader stops at the first fault.
    let input = format!("{ok}garbage\n{ok}");
    let items: Vec<_> = Reader::new(input.as_bytes()).collect();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].as_ref().unwrap_err().line, 2);
}

#[derive(Clone, Debug)]
struct AnyEvent(Event);

fn text(g: &mut Gen) -> String {
    let s = String::arbitrary(g);
    s.chars().take(40).collect()
}

impl Arbitrary for AnyEvent {
    fn arbitrary(g: &mut Gen) -> Self {
        let kind = *g.choose(EventKind::ALL).unwrap();
        let mut record = Record::new(kind)
            .device(&label(g.choose(&["A", "B", "dev-3"]).unwrap()))
            .mailbox(&text(g))
            .mailboxes([text(g), text(g)].iter().map(String::as_str))
            .token(&text(g))
            .id(u64::arbitrary(g))
            .retained(bool::arbitrary(g))
            .cursor(u64::arbitrary(g));
        if bool::arbitrary(g) {
            record = record.versions(Option::arbitrary(g), Some(u64::arbitrary(g)));
        }
        if bool::arbitrary(g) {
            record = record.detail(&text(g));
        }
        if bool::arbitrary(g) {
            record = record.cite(SpecId::new("ARCH-7").unwrap());
        }
        Self(Event {
            time_us: u64::arbitrary(g),
            component: kind.emitter(),
            record,
        })
    }
}

#[test]
fn whatever_is_written_reads_back() {
    fn property(events: Vec<AnyEvent>) -> bool {
        let events: Vec<Event> = events.into_iter().map(|e| e.0).collect();
        let mut out = Vec::new();
        write_events(&mut out, &events).unwrap();
        read_all(out.as_slice(), Limits::default()).unwrap() == events
    }
    QuickCheck::new()
        .tests(300)
        .quickcheck(property as fn(Vec<AnyEvent>) -> bool);
}
