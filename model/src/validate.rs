//! Trace validation: an implementation's protocol trace (spec/trace.md) replayed as steps of the
//! model's push-server and mail-client state (the ring, the mark, the session, the token table,
//! the registration), reporting the first event that is not a legal step from the state reached.
//!
//! The abstraction (model/README.md, "Trace validation"): a device is its trace label; a
//! device's ring is the ids the push server holds for it, each with the digests of its payload;
//! the mark, the session and the token table are the model's `mark`, `online` and `tokens`. An
//! event is one of the model's actions or a part of one ([`mailpush_trace::EventKind::model_action`]):
//! `push-accepted` opens a `PushRequest` step that the `push-dropped`, `push-coalesced` and
//! `mark-set` of the same device right after it complete; `deliver`, its `forward`s and
//! `fan-out`s and the `ack` that covers it are one `Deliver`. The properties checked along the
//! trace are the model's duties that a trace can show: RING-1/2 (the ring holds at most N and
//! drops the oldest), RING-5 (the mark is set by a push taken while the device is away, a drop, a
//! replacement or an expiry), RING-6 (every `notify` sent while the mark is set carries
//! `retained`, and none other), SM-4 (nothing is delivered to a device without a session),
//! LOCAL-10 (a `retained` notification wakes every registered token before it is acknowledged),
//! XAPS-10 (the acknowledged subset is a subset of what the registration named) and CHAN-15
//! (ids grow by one).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use mailpush_trace::{Event, EventKind};

/// The first event of a trace that is not a legal step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The event's line in the trace, from 1.
    pub line: usize,
    /// The event, as a trace line.
    pub event: String,
    /// What is wrong.
    pub problem: String,
    /// The requirements the step breaks.
    pub spec: Vec<&'static str>,
    /// The state of the device the event is about, before it.
    pub state: String,
    /// The model actions enabled for that device in that state.
    pub enabled: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "line {}: {} ({})",
            self.line,
            self.problem,
            self.spec.join(", ")
        )?;
        writeln!(f, "  event:   {}", self.event.trim_end())?;
        writeln!(f, "  state:   {}", self.state)?;
        write!(f, "  enabled: {}", self.enabled.join(", "))
    }
}

/// What a valid trace showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Events replayed.
    pub events: usize,
    /// Model steps taken, by action.
    pub steps: BTreeMap<&'static str, usize>,
    /// Devices seen.
    pub devices: usize,
}

#[derive(Debug, Default, Clone)]
struct Device {
    online: bool,
    /// Held ids, oldest first, with their payload's digests (empty for a marker).
    ring: VecDeque<(u64, Vec<String>)>,
    last_id: Option<u64>,
    mark: bool,
    /// The first `retained` notify sent since the mark was last set.
    carrier: Option<u64>,
    sent_upto: u64,
    /// A `PushRequest` step under way: the mark must be set before it ends.
    step_needs_mark: bool,
    step_open: bool,
    tokens: BTreeMap<String, String>,
    requested: Option<BTreeSet<String>>,
    /// Each `retained` notification's id and the tokens it has not woken yet.
    fan_out_due: BTreeMap<u64, BTreeSet<String>>,
}

impl Device {
    fn describe(&self) -> String {
        let ring: Vec<String> = self.ring.iter().map(|(id, _)| id.to_string()).collect();
        format!(
            "{} ring [{}] mark {} retained-carrier {:?} sent-upto {} tokens {} wake-due {:?}",
            if self.online { "ONLINE" } else { "OFFLINE" },
            ring.join(","),
            if self.mark { "set" } else { "clear" },
            self.carrier,
            self.sent_upto,
            self.tokens.len(),
            self.fan_out_due
                .iter()
                .map(|(id, t)| (id, t.len()))
                .collect::<Vec<_>>(),
        )
    }

    fn enabled(&self, label: &str) -> Vec<String> {
        let mut out = vec![format!("PushRequest({label})"), "MailboxChange".to_owned()];
        if self.online {
            let unsent = self.ring.iter().any(|(id, _)| *id > self.sent_upto);
            if unsent || (self.mark && self.carrier.is_none()) {
                out.push(format!("Deliver({label})"));
            }
            out.push(format!("Disconnect({label})"));
        } else {
            out.push(format!("Reconnect({label})"));
        }
        if !self.tokens.is_empty() {
            out.push(format!("DaSync({label}, t)"));
        }
        out
    }
}

/// Replays traces against the model's abstraction.
#[derive(Debug)]
pub struct Validator {
    capacity: usize,
    devices: BTreeMap<String, Device>,
    summary: Summary,
}

type Check = Result<Option<&'static str>, (String, Vec<&'static str>)>;

fn fail(problem: impl Into<String>, spec: &[&'static str]) -> Check {
    Err((problem.into(), spec.to_vec()))
}

impl Validator {
    /// A validator for a push server whose rings hold `capacity` notifications (its N).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            devices: BTreeMap::new(),
            summary: Summary::default(),
        }
    }

    /// Replays `events` (a merged trace, in time order); the first illegal step is the error.
    pub fn validate(mut self, events: &[Event]) -> Result<Summary, Box<Violation>> {
        for (i, event) in events.iter().enumerate() {
            self.step(i + 1, event)?;
        }
        let labels: Vec<String> = self.devices.keys().cloned().collect();
        for label in labels {
            self.end_push_step(&label, events.len(), None)?;
        }
        self.summary.events = events.len();
        self.summary.devices = self.devices.len();
        Ok(self.summary)
    }

    fn violation(
        &self,
        line: usize,
        event: Option<&Event>,
        label: &str,
        (problem, spec): (String, Vec<&'static str>),
    ) -> Box<Violation> {
        let device = self.devices.get(label).cloned().unwrap_or_default();
        Box::new(Violation {
            line,
            event: event.map_or_else(
                || "(end of trace)".to_owned(),
                |e| String::from_utf8_lossy(&mailpush_trace::encode(e)).into_owned(),
            ),
            problem,
            spec,
            state: format!("{label}: {}", device.describe()),
            enabled: device.enabled(label),
        })
    }

    /// Ends a device's `PushRequest` step: the ring within N, the mark set if it had to be.
    fn end_push_step(
        &mut self,
        label: &str,
        line: usize,
        event: Option<&Event>,
    ) -> Result<(), Box<Violation>> {
        let capacity = self.capacity;
        let Some(device) = self.devices.get_mut(label) else {
            return Ok(());
        };
        if !device.step_open {
            return Ok(());
        }
        device.step_open = false;
        let result = if device.ring.len() > capacity {
            Err((
                format!(
                    "the ring holds {} notifications, more than N = {capacity}",
                    device.ring.len()
                ),
                vec!["RING-1", "RING-2"],
            ))
        } else if device.step_needs_mark && !device.mark {
            Err((
                "the push step did not set the mark".to_owned(),
                vec!["RING-5"],
            ))
        } else {
            Ok(())
        };
        device.step_needs_mark = false;
        result.map_err(|e| self.violation(line, event, label, e))
    }

    fn step(&mut self, line: usize, event: &Event) -> Result<(), Box<Violation>> {
        let kind = event.record.kind;
        let Some(label) = event.record.device.as_ref().map(|l| l.as_str().to_owned()) else {
            if kind.model_action().is_some() {
                *self
                    .summary
                    .steps
                    .entry(kind.model_action().unwrap_or(""))
                    .or_default() += 1;
            }
            return Ok(());
        };
        let part_of_push_step = matches!(
            kind,
            EventKind::PushDropped
                | EventKind::PushCoalesced
                | EventKind::MarkSet
                | EventKind::PushExpired
        );
        if event.component == mailpush_trace::Component::PushServer && !part_of_push_step {
            self.end_push_step(&label, line, Some(event))?;
        }
        let before = self.devices.get(&label).cloned().unwrap_or_default();
        let capacity = self.capacity;
        let device = self.devices.entry(label.clone()).or_default();
        let result = apply(device, event, capacity);
        match result {
            Ok(Some(action)) => {
                *self.summary.steps.entry(action).or_default() += 1;
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                self.devices.insert(label.clone(), before);
                Err(self.violation(line, Some(event), &label, e))
            }
        }
    }
}

fn apply(d: &mut Device, event: &Event, capacity: usize) -> Check {
    let r = &event.record;
    let id = r.id.unwrap_or(0);
    match r.kind {
        EventKind::Token => {
            if let (Some(token), Some(mailbox)) = (&r.token, &r.mailbox) {
                d.tokens.insert(token.clone(), mailbox.clone());
            }
            Ok(Some("RegisterWithMailClient"))
        }
        EventKind::RequestPush => {
            d.requested = r.mailboxes.as_ref().map(|m| m.iter().cloned().collect());
            Ok(Some("RequestPush"))
        }
        EventKind::PushSubset => {
            if let (Some(requested), Some(acked)) = (&d.requested, &r.mailboxes)
                && let Some(extra) = acked.iter().find(|m| !requested.contains(*m))
            {
                return fail(
                    format!(
                        "the server acknowledged {extra:?}, which the registration did not name"
                    ),
                    &["XAPS-10"],
                );
            }
            Ok(Some("ServerRepliesPushSubset"))
        }
        EventKind::PushAccepted => {
            if let Some(last) = d.last_id
                && id != last + 1
            {
                return fail(format!("notification id {id} after {last}"), &["CHAN-15"]);
            }
            d.last_id = Some(id);
            d.ring
                .push_back((id, r.mailboxes.clone().unwrap_or_default()));
            d.step_open = true;
            d.step_needs_mark = !d.online;
            if !d.online {
                d.carrier = None;
            }
            Ok(Some("PushRequest"))
        }
        EventKind::PushDropped => {
            if d.ring.len() <= capacity {
                return fail(
                    format!(
                        "dropped {id} from a ring that holds {} of N = {capacity}",
                        d.ring.len()
                    ),
                    &["RING-1", "RING-2"],
                );
            }
            match d.ring.front() {
                Some((oldest, _)) if *oldest == id => {
                    d.ring.pop_front();
                }
                Some((oldest, _)) => {
                    return fail(
                        format!("dropped {id}, not the oldest held notification {oldest}"),
                        &["RING-2"],
                    );
                }
                None => return fail(format!("dropped {id} from an empty ring"), &["RING-2"]),
            }
            d.step_needs_mark = true;
            d.carrier = None;
            Ok(None)
        }
        EventKind::PushCoalesced | EventKind::PushExpired => {
            d.ring.retain(|(held, _)| *held != id);
            if r.kind == EventKind::PushExpired && !d.step_open {
                d.step_open = true;
            }
            d.step_needs_mark = true;
            d.carrier = None;
            Ok(if r.kind == EventKind::PushExpired {
                Some("NotificationExpires")
            } else {
                None
            })
        }
        EventKind::MarkSet => {
            if d.mark {
                return fail("mark-set while the mark is set", &["RING-5"]);
            }
            d.mark = true;
            d.carrier = None;
            Ok(None)
        }
        EventKind::Connect => {
            d.online = true;
            d.sent_upto = r.cursor.unwrap_or(0);
            d.carrier = None;
            Ok(Some("Reconnect"))
        }
        EventKind::Disconnect => {
            if let Some((due, tokens)) = d.fan_out_due.iter().find(|(_, t)| !t.is_empty()) {
                return fail(
                    format!(
                        "the session ended before notification {due} woke every token ({} left)",
                        tokens.len()
                    ),
                    &["LOCAL-10"],
                );
            }
            d.online = false;
            d.carrier = None;
            Ok(Some("Disconnect"))
        }
        EventKind::Deliver => {
            if !d.online {
                return fail(
                    "a notification delivered to a device without a session",
                    &["SM-4"],
                );
            }
            let marker = r.mailboxes.as_ref().is_none_or(Vec::is_empty)
                && !d.ring.iter().any(|(h, _)| *h == id);
            if marker {
                if !d.mark || d.last_id.is_some_and(|l| id != l + 1) {
                    return fail(
                        format!("marker {id} while the mark is clear or out of order"),
                        &["RING-7"],
                    );
                }
                d.last_id = Some(id);
                d.ring.push_back((id, Vec::new()));
            } else {
                let next = d
                    .ring
                    .iter()
                    .find(|(h, _)| *h > d.sent_upto)
                    .map(|(h, _)| *h);
                if next != Some(id) {
                    return fail(
                        format!("sent {id}, but the oldest unsent held notification is {next:?}"),
                        &["CHAN-16", "RING-1"],
                    );
                }
            }
            let retained = r.retained.unwrap_or(false);
            if retained != d.mark {
                return fail(
                    if d.mark {
                        "a notify sent while the mark is set lacks `retained`"
                    } else {
                        "`retained` on a notify sent while the mark is clear"
                    },
                    &["RING-6"],
                );
            }
            d.sent_upto = id;
            if retained {
                if d.carrier.is_none() {
                    d.carrier = Some(id);
                }
                d.fan_out_due.insert(id, d.tokens.keys().cloned().collect());
            }
            Ok(Some("Deliver"))
        }
        EventKind::Forward | EventKind::FanOut => {
            if let Some(token) = &r.token {
                if !d.tokens.is_empty() && !d.tokens.contains_key(token) {
                    return fail(
                        format!("woke {token:?}, which the mail client never gave out"),
                        &["LOCAL-7", "LOCAL-13"],
                    );
                }
                if let Some(tokens) = r.id.and_then(|id| d.fan_out_due.get_mut(&id)) {
                    tokens.remove(token);
                }
            }
            Ok(None)
        }
        EventKind::Ack => {
            let upto = r.cursor.unwrap_or(0);
            if let Some((due, tokens)) = d.fan_out_due.range(..=upto).find(|(_, t)| !t.is_empty()) {
                return fail(
                    format!(
                        "notification {due} carried `retained` but {} registered token(s) were not woken",
                        tokens.len()
                    ),
                    &["LOCAL-10", "RING-12"],
                );
            }
            d.fan_out_due.retain(|id, _| *id > upto);
            while d.ring.front().is_some_and(|(h, _)| *h <= upto) {
                d.ring.pop_front();
            }
            if d.carrier.is_some_and(|c| c <= upto) {
                d.mark = false;
                d.carrier = None;
            }
            Ok(None)
        }
        EventKind::ScheduledPoll => Ok(Some("ScheduledPoll")),
        EventKind::Sync => Ok(Some("DaSync")),
        EventKind::ListMailboxes => Ok(Some("ListMailboxes")),
        _ => Ok(None),
    }
}

/// The report of a valid trace: its steps and the properties checked along it.
pub fn report(summary: &Summary) -> String {
    let mut out = format!(
        "{} events, {} devices: valid\n",
        summary.events, summary.devices
    );
    for (action, n) in &summary.steps {
        let _ = writeln!(out, "  {action:<24} {n}");
    }
    out.push_str("  checked along the trace: RING-1, RING-2, RING-5, RING-6, RING-7, SM-4, LOCAL-7, LOCAL-10, XAPS-10, CHAN-15\n");
    out
}
