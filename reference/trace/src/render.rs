//! A message sequence chart of a trace: a self-contained HTML file with inline SVG (TRACE-10).
//!
//! One lane per component: the first half of the devices on the left (notes, DA, mail client),
//! the servers in the middle, the other devices mirrored on the right. One row per event, in the
//! order of the trace. Messages are arrows from the emitter's lane to the receiver's; local events
//! are marks on the emitter's lane. Every event has hover text (`<title>`) with its time, its
//! fields and its spec IDs. Nothing is loaded from the network and no script runs.

use std::fmt::Write as _;

use crate::event::{Component, Event, EventKind, Label};

/// Width of a lane, in SVG units.
const LANE: u32 = 120;
/// Width of the time column on the left.
const LEFT: u32 = 96;
/// Height of the lane headers.
const HEADER: u32 = 64;
/// Height of one event row.
const ROW: u32 = 30;
/// Longest label written on an arrow, in characters; the hover text has everything.
const LABEL_CHARS: usize = 34;

/// What to draw.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// The heading of the page (the trace's file name, say).
    pub title: String,
    /// The most events drawn; a longer trace is cut, and the chart says so.
    pub max_events: usize,
    /// The devices drawn, in this order: the first half on the left of the servers, the others
    /// on the right. Events about any other device are left out. Empty: every device, in order
    /// of first appearance.
    pub devices: Vec<Label>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            title: "mailpush protocol trace".into(),
            max_events: 5000,
            devices: Vec::new(),
        }
    }
}

/// Text safe inside an XML element or attribute: markup characters escaped, and control and
/// bidirectional formatting characters, which could hide or reorder what a reader sees, replaced
/// by U+FFFD.
pub fn escape(text: &str) -> String {
    //= spec/trace.md#TRACE-10
    //# A tool that draws a trace as a document (HTML, SVG) MUST escape every string
    //# it takes from the trace
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control()
                || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') =>
            {
                out.push('\u{FFFD}');
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Lane {
    component: Component,
    device: Option<Label>,
}

/// The lanes of a chart for these devices (in order of first appearance).
fn lanes(devices: &[Label]) -> Vec<Lane> {
    let left = devices.len().div_ceil(2);
    let device_lane = |component, device: &Label| Lane {
        component,
        device: Some(device.clone()),
    };
    let mut out = Vec::new();
    for d in &devices[..left] {
        for c in [Component::Notes, Component::Da, Component::MailClient] {
            out.push(device_lane(c, d));
        }
    }
    for c in [Component::MailServer, Component::PushServer] {
        out.push(Lane {
            component: c,
            device: None,
        });
    }
    for d in &devices[left..] {
        for c in [Component::MailClient, Component::Da, Component::Notes] {
            out.push(device_lane(c, d));
        }
    }
    out
}

fn lane_of(lanes: &[Lane], component: Component, device: Option<&Label>) -> Option<usize> {
    lanes.iter().position(|l| {
        l.component == component && (!component.on_device() || l.device.as_ref() == device)
    })
}

fn lane_x(index: usize) -> u32 {
    let i = u32::try_from(index).unwrap_or(u32::MAX / LANE / 2);
    LEFT + i * LANE + LANE / 2
}

/// The short text written on an arrow or beside a mark.
fn summary(event: &Event) -> String {
    let r = &event.record;
    let mut text = String::from(r.kind.as_str());
    if let Some(id) = r.id {
        let _ = write!(text, " #{id}");
    }
    if r.retained == Some(true) {
        text.push_str(" retained");
    }
    if r.kind == EventKind::Deliver && r.mailboxes.as_ref().is_none_or(Vec::is_empty) {
        text.push_str(" (marker)");
    }
    if let Some(cursor) = r.cursor {
        let _ = write!(text, " cursor {cursor}");
    }
    if let Some(mailbox) = &r.mailbox {
        let _ = write!(text, " {mailbox}");
    } else if let Some(mailboxes) = &r.mailboxes {
        let _ = write!(text, " {{{}}}", mailboxes.join(","));
    }
    if let Some(v) = r.versions.and_then(|v| v.after) {
        let _ = write!(text, " v{v}");
    }
    shorten(&text, LABEL_CHARS)
}

/// The hover text: everything the event carries, one fact per line, escaped.
fn hover(event: &Event, start_us: u64, receiver: Option<&str>) -> String {
    let r = &event.record;
    let ms = event.time_us.saturating_sub(start_us) as f64 / 1000.0;
    let emitter = match &r.device {
        Some(d) if event.component.on_device() => format!("{} {d}", event.component.title()),
        _ => event.component.title().to_owned(),
    };
    let mut lines = vec![format!("+{ms:.3} ms  {emitter}")];
    match receiver {
        Some(to) => lines.push(format!("{} → {to}", r.kind)),
        None => lines.push(r.kind.as_str().to_owned()),
    }
    if let Some(d) = &r.device {
        lines.push(format!("device: {d}"));
    }
    if let Some(m) = &r.mailbox {
        lines.push(format!("mailbox: {m}"));
    }
    if let Some(ms) = &r.mailboxes {
        lines.push(format!("mailboxes: {}", ms.join(", ")));
    }
    if let Some(t) = &r.token {
        lines.push(format!("token: {t}"));
    }
    if let Some(id) = r.id {
        lines.push(format!("notification id: {id}"));
    }
    if let Some(retained) = r.retained {
        lines.push(format!("retained: {retained}"));
    }
    if let Some(c) = r.cursor {
        lines.push(format!("cursor: {c}"));
    }
    if let Some(v) = r.versions {
        let show = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
        lines.push(format!("versions: {} → {}", show(v.before), show(v.after)));
    }
    if let Some(d) = &r.detail {
        lines.push(format!("detail: {d}"));
    }
    let ids: Vec<&str> = r.spec.iter().map(|s| s.as_str()).collect();
    lines.push(format!("spec: {}", ids.join(", ")));
    if let Some(action) = r.kind.model_action() {
        lines.push(format!("model action: {action}"));
    }
    lines
        .iter()
        .map(|l| escape(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The CSS class of an event's drawing, beyond `event`.
fn style_class(event: &Event) -> &'static str {
    match event.record.kind {
        EventKind::Deliver if event.record.retained == Some(true) => "retained",
        EventKind::MarkSet => "retained",
        EventKind::Forward
        | EventKind::FanOut
        | EventKind::ScheduledPoll
        | EventKind::InitialWake => "local-notification",
        EventKind::Sync => "sync",
        EventKind::PushDropped | EventKind::PushExpired => "drop",
        EventKind::PushCoalesced => "coalesce",
        EventKind::Disconnect => "disconnect",
        EventKind::MailboxChange => "change",
        _ => "message",
    }
}

const STYLE: &str = "\
text{font-family:sans-serif;font-size:11px;fill:#222}\
.lane-head rect{fill:#eef2f7;stroke:#5b6b82}\
.lane-head text{font-weight:bold;text-anchor:middle}\
.lane-line{stroke:#9aa5b5;stroke-dasharray:4 3}\
.time{fill:#667;font-size:10px}\
.event line{stroke:#334;stroke-width:1.4}\
.event text{font-size:10px;text-anchor:middle}\
.retained line{stroke:#d9480f;stroke-width:2.4}\
.retained text{fill:#d9480f;font-weight:bold}\
.local-notification line{stroke:#7048e8;stroke-dasharray:5 3}\
.sync line{stroke:#2b8a3e;stroke-width:2.4}\
.drop line{stroke:#e03131;stroke-width:2.4}\
.coalesce .glyph{fill:#f59f00}\
.change .glyph{fill:#1971c2}\
.disconnect line{stroke:#e03131;stroke-dasharray:2 2;stroke-width:2}\
.glyph{fill:#334}\
.retained .glyph{fill:#d9480f}\
.local-notification .glyph{fill:#7048e8}\
.sync .glyph{fill:#2b8a3e}\
.event:hover text{font-weight:bold}";

/// The events a chart with `options` draws, before the cut at `max_events`: those of the devices
/// chosen, and those about no device.
pub fn selected<'a>(events: &'a [Event], options: &RenderOptions) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| {
            options.devices.is_empty()
                || e.record
                    .device
                    .as_ref()
                    .is_none_or(|d| options.devices.contains(d))
        })
        .collect()
}

/// The chart as an SVG element.
pub fn render_svg(events: &[Event], options: &RenderOptions) -> String {
    let selected = selected(events, options);
    let shown = &selected[..selected.len().min(options.max_events)];
    let mut devices: Vec<Label> = options.devices.clone();
    for event in shown {
        if let Some(d) = &event.record.device
            && !devices.contains(d)
        {
            devices.push(d.clone());
        }
    }
    let lanes = lanes(&devices);
    let rows = u32::try_from(shown.len()).unwrap_or(u32::MAX / ROW / 2);
    let lane_count = u32::try_from(lanes.len()).unwrap_or(1);
    let width = LEFT + lane_count * LANE + 16;
    let height = HEADER + (rows + 1) * ROW + 24;
    let start_us = shown.first().map_or(0, |e| e.time_us);

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sequence-chart\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n<style>{STYLE}</style>\n\
         <defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"9\" \
         markerHeight=\"9\" markerUnits=\"userSpaceOnUse\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" \
         fill=\"context-stroke\"/></marker></defs>\n"
    );

    let bottom = height - 16;
    for (i, lane) in lanes.iter().enumerate() {
        let x = lane_x(i);
        let device = lane.device.as_ref().map(|d| escape(d.as_str()));
        let _ = write!(
            svg,
            "<g class=\"lane\" data-component=\"{}\"{}>",
            lane.component.as_str(),
            device
                .as_ref()
                .map(|d| format!(" data-device=\"{d}\""))
                .unwrap_or_default()
        );
        let _ = write!(
            svg,
            "<g class=\"lane-head\"><rect x=\"{}\" y=\"8\" width=\"{}\" height=\"40\" rx=\"6\"/>\
             <text x=\"{x}\" y=\"25\">{}</text>",
            x - LANE / 2 + 6,
            LANE - 12,
            lane.component.title()
        );
        if let Some(d) = &device {
            let _ = write!(svg, "<text x=\"{x}\" y=\"40\">{}</text>", shorten(d, 16));
        }
        let _ = writeln!(
            svg,
            "</g><line class=\"lane-line\" x1=\"{x}\" y1=\"48\" x2=\"{x}\" y2=\"{bottom}\"/></g>"
        );
    }

    for (row, event) in shown.iter().enumerate() {
        let row = u32::try_from(row).unwrap_or(rows);
        let y = HEADER + row * ROW + ROW / 2;
        let r = &event.record;
        let device = r.device.as_ref();
        let from = lane_of(&lanes, event.component, device);
        let to = r.kind.receiver().and_then(|c| lane_of(&lanes, c, device));
        let receiver_name = r.kind.receiver().map(|c| match device {
            Some(d) if c.on_device() => format!("{} {d}", c.title()),
            _ => c.title().to_owned(),
        });
        let ms = event.time_us.saturating_sub(start_us) as f64 / 1000.0;
        let _ = write!(
            svg,
            "<text class=\"time\" x=\"6\" y=\"{}\">+{ms:.3} ms</text>",
            y + 4
        );
        let shape = if to.is_some() { "arrow" } else { "mark" };
        let _ = write!(
            svg,
            "<g class=\"event {shape} {}\" data-event=\"{}\"><title>{}</title>",
            style_class(event),
            r.kind.as_str(),
            hover(event, start_us, receiver_name.as_deref())
        );
        let label = escape(&summary(event));
        let Some(from) = from else {
            // Every event names the device its lane needs (TRACE-3), so this is not reached for
            // a trace that was read; an event built by hand without one is listed unplaced.
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\">{label}</text></g>",
                LEFT + 60,
                y + 4
            );
            continue;
        };
        let x1 = lane_x(from);
        match to {
            Some(to) => {
                let x2 = lane_x(to);
                let start = if r.kind == EventKind::Sync {
                    " marker-start=\"url(#head)\""
                } else {
                    ""
                };
                let _ = write!(
                    svg,
                    "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" marker-end=\"url(#head)\"{start}/>\
                     <text x=\"{}\" y=\"{}\">{label}</text>",
                    x1.midpoint(x2),
                    y - 4
                );
                match style_class(event) {
                    "retained" => {
                        let _ = write!(
                            svg,
                            "<circle class=\"glyph\" cx=\"{x1}\" cy=\"{y}\" r=\"7\"/>\
                             <text x=\"{x1}\" y=\"{}\" style=\"fill:#fff;font-weight:bold\">R</text>",
                            y + 4
                        );
                    }
                    "local-notification" => {
                        let _ = write!(
                            svg,
                            "<circle class=\"glyph\" cx=\"{x2}\" cy=\"{y}\" r=\"4\"/>"
                        );
                    }
                    "sync" => {
                        let _ = write!(
                            svg,
                            "<rect class=\"glyph\" x=\"{}\" y=\"{}\" width=\"8\" height=\"8\"/>",
                            x1 - 4,
                            y - 4
                        );
                    }
                    _ => {}
                }
            }
            None => {
                match style_class(event) {
                    "drop" => {
                        let _ = write!(
                            svg,
                            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\
                             <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
                            x1 - 6,
                            y - 6,
                            x1 + 6,
                            y + 6,
                            x1 - 6,
                            y + 6,
                            x1 + 6,
                            y - 6
                        );
                    }
                    "disconnect" => {
                        let other =
                            lane_of(&lanes, Component::MailClient, device).map_or(x1, lane_x);
                        let _ = write!(
                            svg,
                            "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{other}\" y2=\"{y}\"/>"
                        );
                    }
                    "coalesce" => {
                        let _ = write!(
                            svg,
                            "<path class=\"glyph\" d=\"M{x1},{} l6,6 l-6,6 l-6,-6 z\"/>",
                            y - 6
                        );
                    }
                    _ => {
                        let _ = write!(
                            svg,
                            "<circle class=\"glyph\" cx=\"{x1}\" cy=\"{y}\" r=\"5\"/>"
                        );
                    }
                }
                let _ = write!(
                    svg,
                    "<text x=\"{}\" y=\"{}\" style=\"text-anchor:start\">{label}</text>",
                    x1 + 10,
                    y - 4
                );
            }
        }
        svg.push_str("</g>\n");
    }

    if shown.len() < selected.len() {
        let _ = writeln!(
            svg,
            "<text class=\"cut\" x=\"6\" y=\"{}\">the first {} of {} events</text>",
            bottom + 12,
            shown.len(),
            selected.len()
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// What the colours and marks mean.
const LEGEND: &str = "<p class=\"legend\"><b>&#8594;</b> message &#160; \
<span style=\"color:#7048e8\">&#8674; &#9679;</span> local notification (wake) &#160; \
<span style=\"color:#2b8a3e\">&#8596; &#9632;</span> sync &#160; \
<span style=\"color:#d9480f\"><b>R &#8594;</b></span> notification carrying retained &#160; \
<span style=\"color:#e03131\">&#10005;</span> dropped or expired &#160; \
<span style=\"color:#f59f00\">&#9670;</span> coalesced &#160; \
<span style=\"color:#1971c2\">&#9679;</span> mailbox change &#160; \
&#9679; accepted into the ring &#160; \
<span style=\"color:#e03131\">&#8943;</span> disconnect</p>";

/// The chart as a whole HTML page: a heading and the SVG, nothing fetched, no script.
pub fn render_html(events: &[Event], options: &RenderOptions) -> String {
    let title = escape(&options.title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{title}</title>\n\
         <style>body{{margin:16px;font-family:sans-serif;background:#fff}}h1{{font-size:16px}}.legend{{font-size:12px}}</style>\n\
         </head>\n<body>\n<h1>{title}</h1>\n<p>{} events. Hover over an arrow or a mark for its \
         fields and spec IDs.</p>\n{LEGEND}\n{}</body>\n</html>\n",
        selected(events, options).len(),
        render_svg(events, options)
    )
}
