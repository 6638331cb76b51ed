//! The sequence chart: lanes, arrows and marks of a small hand-written trace (snapshots), and
//! text from a trace escaped wherever it lands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mailpush_trace::render::{RenderOptions, escape, render_html, render_svg};
use mailpush_trace::{Component, Event, EventKind, Label, Limits, Record, read_all};

const TWO_DEVICES: &str = include_str!("data/two-devices.jsonl");

fn two_devices() -> Vec<Event> {
    read_all(TWO_DEVICES.as_bytes(), Limits::default()).unwrap()
}

#[test]
fn two_devices_chart() {
    let svg = render_svg(&two_devices(), &RenderOptions::default());
    insta::assert_snapshot!(svg);
}

#[test]
fn lanes_are_the_patents_order_generalised_to_n_devices() {
    let lanes = |devices: &[&str]| -> Vec<String> {
        let events: Vec<Event> = devices
            .iter()
            .map(|d| Event {
                time_us: 0,
                component: Component::Da,
                record: Record::new(EventKind::ListMailboxes).device(&Label::new(d).unwrap()),
            })
            .collect();
        let svg = render_svg(&events, &RenderOptions::default());
        svg.match_indices("<g class=\"lane\" data-component=\"")
            .map(|(at, m)| {
                let rest = &svg[at + m.len()..];
                let end = rest.find('>').unwrap();
                rest[..end]
                    .replace("\" data-device=\"", " ")
                    .replace('"', "")
            })
            .collect()
    };
    assert_eq!(
        lanes(&["A", "B"]),
        [
            "notes A",
            "da A",
            "mail-client A",
            "mail-server",
            "push-server",
            "mail-client B",
            "da B",
            "notes B"
        ]
    );
    assert_eq!(
        lanes(&["A", "B", "C"]),
        [
            "notes A",
            "da A",
            "mail-client A",
            "notes B",
            "da B",
            "mail-client B",
            "mail-server",
            "push-server",
            "mail-client C",
            "da C",
            "notes C"
        ]
    );
    assert_eq!(
        lanes(&["solo"]),
        [
            "notes solo",
            "da solo",
            "mail-client solo",
            "mail-server",
            "push-server"
        ]
    );
    assert_eq!(lanes(&[]), ["mail-server", "push-server"]);
}

#[test]
fn every_event_is_drawn_with_its_spec_ids() {
    let events = two_devices();
    let svg = render_svg(&events, &RenderOptions::default());
    let arrows = events
        .iter()
        .filter(|e| e.record.kind.receiver().is_some())
        .count();
    assert_eq!(svg.matches("<g class=\"event arrow").count(), arrows);
    assert_eq!(
        svg.matches("<g class=\"event mark").count(),
        events.len() - arrows
    );
    assert_eq!(svg.matches("<title>").count(), events.len());
    assert_eq!(svg.matches("class=\"event arrow retained\"").count(), 1);
    assert_eq!(svg.matches("class=\"event mark drop\"").count(), 1);
    assert!(svg.contains("spec: CHAN-16, RING-6"));
}

#[test]
fn text_from_a_trace_is_escaped_everywhere() {
    //= spec/trace.md#TRACE-10
    //# A tool that draws a trace as a document (HTML, SVG) MUST escape every string
    //# it takes from the trace, since mailbox names, tokens and details can be chosen by a peer, and
    //# MUST NOT make the document load anything from the network.
    let hostile = "</title><script>alert(1)</script><image href=\"http://x/\"/>&'\u{202E}\u{7}";
    let event = Event {
        time_us: 1,
        component: Component::Da,
        record: Record::new(EventKind::Sync)
            .device(&Label::new("A").unwrap())
            .mailbox(hostile)
            .token(hostile)
            .detail(hostile),
    };
    let options = RenderOptions {
        title: hostile.to_owned(),
        ..RenderOptions::default()
    };
    let html = render_html(&[event], &options);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<image"), "{html}");
    assert!(!html.contains("\u{202E}") && !html.contains('\u{7}'));
    assert!(html.contains("&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    // Nothing in the page points anywhere but at itself: no link or source attribute, and every
    // `url(` is a reference within the document.
    assert!(
        !html.contains("href=\"") && !html.contains("src=\""),
        "{html}"
    );
    assert!(
        html.match_indices("url(")
            .all(|(at, _)| html[at..].starts_with("url(#"))
    );
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
}

#[test]
fn a_long_trace_is_cut_and_says_so() {
    let events = two_devices();
    let options = RenderOptions {
        max_events: 5,
        ..RenderOptions::default()
    };
    let svg = render_svg(&events, &options);
    assert_eq!(svg.matches("<title>").count(), 5);
    assert!(svg.contains(&format!("the first 5 of {} events", events.len())));
}

#[test]
fn chosen_devices_are_drawn_in_their_order_and_the_others_left_out() {
    let devices =
        |labels: &[&str]| -> Vec<Label> { labels.iter().map(|l| Label::new(l).unwrap()).collect() };
    let event = |time_us: u64, component: Component, kind: EventKind, device: Option<&str>| {
        let record = Record::new(kind);
        Event {
            time_us,
            component,
            record: match device {
                Some(d) => record.device(&Label::new(d).unwrap()),
                None => record.mailbox("Notes"),
            },
        }
    };
    let events = [
        event(1, Component::Da, EventKind::ListMailboxes, Some("A")),
        event(2, Component::Da, EventKind::ListMailboxes, Some("B")),
        event(3, Component::Da, EventKind::ListMailboxes, Some("C")),
        event(4, Component::MailServer, EventKind::MailboxChange, None),
        event(5, Component::PushServer, EventKind::PushAccepted, Some("B")),
    ];
    let options = RenderOptions {
        devices: devices(&["C", "A"]),
        ..RenderOptions::default()
    };
    let svg = render_svg(&events, &options);
    let lane_devices: Vec<&str> = svg
        .match_indices("data-device=\"")
        .map(|(at, m)| {
            let rest = &svg[at + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    // C first, on the left; A on the right; B nowhere, not even in the servers' events.
    assert_eq!(lane_devices, ["C", "C", "C", "A", "A", "A"]);
    assert_eq!(svg.matches("<title>").count(), 3, "{svg}");
    assert!(!svg.contains("push-accepted"), "{svg}");
    assert!(svg.contains("data-event=\"mailbox-change\""));
    let html = render_html(&events, &options);
    assert!(html.contains("<p>3 events."), "{html}");
}
