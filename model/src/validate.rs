//! Trace validation: an implementation's protocol trace (spec/trace.md) replayed as steps of the
//! model's push-server and mail-client state (the ring, the mark, the session, the token table,
//! the registration), reporting the first event that is not a legal step from the state reached.
//!
//! The abstraction (model/README.md, "Trace validation"): a device is its trace label; a
//! device's ring is the ids the push server holds for it, each with the digests of its payload;
//! the mark, the session and the token table are the model's `mark`, `online` and `tokens`. An
//! event is one of the model's actions or a part of one
//! ([`mailpush_trace::EventKind::model_action`]): `push-accepted` opens a `PushRequest` step that
//! the `push-dropped`, `push-coalesced` and `mark-set` of the same device right after it complete;
//! `deliver`, its `forward`s and `fan-out`s and the `ack` that covers it are one `Deliver`.
//!
//! A trace shows what each component did, not what its peer received: an `ack` is written when
//! it is sent and may arrive after the push server's next steps, or never (the session ends
//! first); a `connect` is written when `hello` is sent and may establish a session that replaces
//! an older one (CHAN-19), or none; a component killed and started again (a [`Restart`]) comes
//! back on what it had made durable. Where the trace cannot tell which happened, the validator's
//! state holds the uncertainty ([`Session`], [`Mark`], the possibly held ids) and accepts every
//! step that one of the possibilities allows, narrowing it again when a step decides it. So a
//! real run's races are legal, and a step that no possibility allows is still caught.
//!
//! The properties checked along the trace are the model's duties that a trace can show: RING-1/2
//! (the ring holds at most N and drops the oldest), RING-5 (the mark is set by a push taken while
//! the device is away, a drop, a replacement or an expiry), RING-6 (every `notify` sent while the
//! mark is set carries `retained`, and none other), SM-4 (nothing is delivered to a device without
//! a session), LOCAL-10 (a `retained` notification wakes every registered token before it is
//! acknowledged), XAPS-10 (the acknowledged subset is a subset of what the registrations named)
//! and CHAN-15 (ids grow by one).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use mailpush_trace::{Component, Event, EventKind, Label};

pub use crate::replay::{MAX_CANDIDATES, ModelReplay};

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
    /// Restarts applied.
    pub restarts: usize,
}

/// A component killed and started again while the trace was written: every event it wrote
/// before `time_us` happened before it died, every later one after it came back on its durable
/// state. The trace itself does not show restarts; whoever killed the component knows when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restart {
    /// When it was dead: after its last event before the restart, before its first after.
    pub time_us: u64,
    /// The component: `push-server`, `mail-server`, or a device's `mail-client`, `da` or
    /// `notes` (one process on a device: any of the three restarts the device).
    pub component: Component,
    /// The device, for a device's component.
    pub device: Option<Label>,
}

/// The restarts (kept latest first) that happened before `event`, in time order.
pub(crate) fn due_before(restarts: &mut Vec<Restart>, event: &Event) -> Vec<Restart> {
    let mut due = Vec::new();
    while restarts.last().is_some_and(|r| r.time_us < event.time_us) {
        due.extend(restarts.pop());
    }
    due
}

/// Why a restart could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestartError {
    /// A device's component without the device's label.
    #[error("a restart of {0} must name its device")]
    NoDevice(String),
    /// A server with a device's label.
    #[error("a restart of {0} names no device")]
    ServerWithDevice(String),
    /// The text is not `TIME_US:COMPONENT[:DEVICE]`.
    #[error("{0:?} is not TIME_US:COMPONENT[:DEVICE]")]
    Syntax(String),
}

impl Restart {
    /// A restart, checked: a device's component names its device, a server none.
    pub fn new(
        time_us: u64,
        component: Component,
        device: Option<Label>,
    ) -> Result<Self, RestartError> {
        let on_device = matches!(
            component,
            Component::Da | Component::MailClient | Component::Notes
        );
        match (on_device, device.is_some()) {
            (true, false) => Err(RestartError::NoDevice(component.as_str().to_owned())),
            (false, true) => Err(RestartError::ServerWithDevice(
                component.as_str().to_owned(),
            )),
            _ => Ok(Self {
                time_us,
                component,
                device,
            }),
        }
    }
}

/// `TIME_US:COMPONENT[:DEVICE]`, as `FromStr` reads it back.
impl std::fmt::Display for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.time_us, self.component.as_str())?;
        match &self.device {
            Some(label) => write!(f, ":{}", label.as_str()),
            None => Ok(()),
        }
    }
}

impl std::str::FromStr for Restart {
    type Err = RestartError;

    /// `TIME_US:COMPONENT[:DEVICE]`, as `mailpush-model validate --restart` takes it.
    fn from_str(text: &str) -> Result<Self, RestartError> {
        let syntax = || RestartError::Syntax(text.to_owned());
        let mut parts = text.splitn(3, ':');
        let time_us = parts
            .next()
            .and_then(|t| t.parse().ok())
            .ok_or_else(syntax)?;
        let component = parts
            .next()
            .and_then(Component::from_wire)
            .ok_or_else(syntax)?;
        let device = match parts.next() {
            Some(label) => Some(Label::new(label).map_err(|_| syntax())?),
            None => None,
        };
        Restart::new(time_us, component, device)
    }
}

/// Whether the device has a session with the push server, as far as the trace tells.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Session {
    /// Certainly none.
    #[default]
    Offline,
    /// A `hello` was sent and no session is known to exist: at most one session, established
    /// by that `hello` or by none.
    Pending,
    /// Certainly one.
    Online,
    /// A session existed when a newer `hello` was sent: the older one may still send until it
    /// is replaced (CHAN-19), the newer may be established or not.
    Replacing,
}

/// The device's mark (RING-5), as far as the trace tells.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mark {
    #[default]
    Clear,
    Set,
    /// An `ack` that would clear it may not have arrived, or a push server restart may have
    /// lost a change of it that was not durable yet.
    Unknown,
}

#[derive(Debug, Default, Clone)]
struct Device {
    session: Session,
    /// Ids the push server certainly holds, oldest first, with their payload's digests (empty
    /// for a marker).
    ring: VecDeque<(u64, Vec<String>)>,
    /// Ids the push server may hold or not: acknowledged by an `ack` that may not have arrived,
    /// or held when the push server restarted. They are older than every id of `ring`.
    maybe_held: BTreeSet<u64>,
    /// The last id assigned, unless a push server restart made it unknown.
    last_id: Option<u64>,
    mark: Mark,
    /// The first `retained` notify sent since the mark was last set.
    carrier: Option<u64>,
    sent_upto: u64,
    /// A `PushRequest` step under way: the mark must be set before it ends.
    step_needs_mark: bool,
    step_open: bool,
    tokens: BTreeMap<String, String>,
    /// Every mailbox a registration of the device named.
    requested: Option<BTreeSet<String>>,
    /// Each `retained` notification's id and the tokens it has not woken yet.
    fan_out_due: BTreeMap<u64, BTreeSet<String>>,
    /// `retained` notifications sent on the current session that the mail client has not shown
    /// it received (no wake carrying their id yet). A `deliver` is a send: if the session ends
    /// before the frame arrives, the notification never reaches the mail client and owes no
    /// wakes. The mark stays set until an `ack` of it arrives (RING-5), so the next
    /// notification the device receives carries `retained` (RING-6) and owes them instead.
    in_transit: BTreeSet<u64>,
    /// The highest id the mail client acknowledged: a notification at or below it is a
    /// duplicate the mail client does not process again (CHAN-18).
    processed_upto: u64,
    /// The highest id delivered.
    delivered_upto: u64,
}

impl Device {
    fn describe(&self) -> String {
        let ring: Vec<String> = self.ring.iter().map(|(id, _)| id.to_string()).collect();
        format!(
            "{} ring [{}] maybe-held {:?} mark {} retained-carrier {:?} sent-upto {} tokens {} wake-due {:?}",
            match self.session {
                Session::Offline => "OFFLINE",
                Session::Pending => "OFFLINE-OR-ONLINE",
                Session::Online => "ONLINE",
                Session::Replacing => "ONLINE (replacing)",
            },
            ring.join(","),
            self.maybe_held,
            match self.mark {
                Mark::Clear => "clear",
                Mark::Set => "set",
                Mark::Unknown => "set-or-clear",
            },
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
        if self.session == Session::Offline {
            out.push(format!("Reconnect({label})"));
        } else {
            let unsent = self.ring.iter().any(|(id, _)| *id > self.sent_upto);
            if unsent || !self.maybe_held.is_empty() || self.mark != Mark::Clear {
                out.push(format!("Deliver({label})"));
            }
            out.push(format!("Disconnect({label})"));
            out.push(format!("Reconnect({label})"));
        }
        if !self.tokens.is_empty() {
            out.push(format!("DaSync({label}, t)"));
        }
        out
    }

    /// What a push server restart leaves: no session, and of the ring, the mark and the ids
    /// only what may have been durable.
    fn push_server_restarted(&mut self) {
        self.session = Session::Offline;
        let held: Vec<u64> = self.ring.drain(..).map(|(id, _)| id).collect();
        self.maybe_held.extend(held);
        self.mark = Mark::Unknown;
        self.carrier = None;
        self.last_id = None;
        // The step's remaining events died with the process.
        self.step_open = false;
        self.step_needs_mark = false;
    }

    /// What a device restart leaves: the token table (LOCAL-3); the wakes it owed for what was
    /// delivered before are owed no more, since a mail client that starts wakes every token
    /// (SM-13), and it may hold any of those notifications for processed.
    fn device_restarted(&mut self) {
        //= spec/properties.md#SM-13
        //# So when the mail client starts, it
        //# MUST raise the local notification of every registered token
        self.fan_out_due.clear();
        self.in_transit.clear();
        self.processed_upto = self.processed_upto.max(self.delivered_upto);
    }
}

/// Replays traces against the model's abstraction.
#[derive(Debug)]
pub struct Validator {
    capacity: usize,
    devices: BTreeMap<String, Device>,
    /// Restarts not applied yet, latest first.
    restarts: Vec<Restart>,
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
            restarts: Vec::new(),
            summary: Summary::default(),
        }
    }

    /// The components that were killed and started again while the trace was written.
    #[must_use]
    pub fn with_restarts(mut self, restarts: impl IntoIterator<Item = Restart>) -> Self {
        self.restarts.extend(restarts);
        self.restarts.sort_by_key(|r| std::cmp::Reverse(r.time_us));
        self
    }

    /// Replays `events` (a merged trace, in time order); the first illegal step is the error.
    pub fn validate(mut self, events: &[Event]) -> Result<Summary, Box<Violation>> {
        for (i, event) in events.iter().enumerate() {
            for restart in due_before(&mut self.restarts, event) {
                self.restart(&restart, i + 1, event)?;
            }
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

    fn restart(
        &mut self,
        restart: &Restart,
        line: usize,
        next: &Event,
    ) -> Result<(), Box<Violation>> {
        self.summary.restarts += 1;
        match (&restart.component, &restart.device) {
            (Component::PushServer, _) => {
                // The steps the push server finished before it died are checked as usual.
                let labels: Vec<String> = self.devices.keys().cloned().collect();
                for label in &labels {
                    self.end_push_step(label, line, Some(next))?;
                }
                for device in self.devices.values_mut() {
                    device.push_server_restarted();
                }
            }
            (_, Some(label)) => {
                if let Some(device) = self.devices.get_mut(label.as_str()) {
                    device.device_restarted();
                }
            }
            // The mail server's registrations and pending pushes are its own durable state;
            // nothing of the device's state depends on its process.
            (_, None) => {}
        }
        Ok(())
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
        } else if device.step_needs_mark && device.mark == Mark::Clear {
            Err((
                "the push step did not set the mark".to_owned(),
                vec!["RING-5"],
            ))
        } else {
            if device.step_needs_mark {
                // A mark that was set already writes no `mark-set`.
                device.mark = Mark::Set;
            }
            Ok(())
        };
        device.step_needs_mark = false;
        result.map_err(|e| self.violation(line, event, label, e))
    }

    fn step(&mut self, line: usize, event: &Event) -> Result<(), Box<Violation>> {
        let kind = event.record.kind;
        let Some(label) = event.record.device.as_ref().map(|l| l.as_str().to_owned()) else {
            if let Some(action) = kind.model_action() {
                *self.summary.steps.entry(action).or_default() += 1;
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
        if event.component == Component::PushServer && !part_of_push_step {
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
            // Several requests may be under way (one per connection, a retry after a timeout):
            // a reply may answer any of them.
            let named = r.mailboxes.iter().flatten().cloned();
            d.requested.get_or_insert_default().extend(named);
            Ok(Some("RequestPush"))
        }
        EventKind::PushSubset => {
            if let (Some(requested), Some(acked)) = (&d.requested, &r.mailboxes)
                && let Some(extra) = acked.iter().find(|m| !requested.contains(*m))
            {
                return fail(
                    format!(
                        "the server acknowledged {extra:?}, which no registration of the device named"
                    ),
                    &["XAPS-10"],
                );
            }
            Ok(Some("ServerRepliesPushSubset"))
        }
        EventKind::PushAccepted => accept(d, r),
        EventKind::PushDropped => drop_oldest(d, id, capacity),
        EventKind::PushCoalesced | EventKind::PushExpired => {
            d.ring.retain(|(held, _)| *held != id);
            d.maybe_held.remove(&id);
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
            if d.mark == Mark::Set {
                return fail("mark-set while the mark is set", &["RING-5"]);
            }
            d.mark = Mark::Set;
            d.carrier = None;
            Ok(None)
        }
        EventKind::Connect => {
            //= spec/device-channel.md#CHAN-19
            //# When a session is established for a device that already has a session,
            //# the server MUST send `CLOSE` code `replaced` on the older session and close it.
            d.session = match d.session {
                Session::Offline => Session::Pending,
                Session::Pending | Session::Online | Session::Replacing => Session::Replacing,
            };
            let cursor = r.cursor.unwrap_or(0);
            // The cursor acknowledges what it covers once the session is established, which
            // the trace does not show.
            while d.ring.front().is_some_and(|(h, _)| *h <= cursor) {
                if let Some((h, _)) = d.ring.pop_front() {
                    d.maybe_held.insert(h);
                }
            }
            d.sent_upto = cursor;
            d.carrier = None;
            forget_in_transit(d);
            Ok(Some("Reconnect"))
        }
        EventKind::Disconnect => {
            d.session = match d.session {
                // The older session ended; the newer `hello` may have established one or not.
                Session::Replacing => Session::Pending,
                Session::Offline | Session::Pending | Session::Online => Session::Offline,
            };
            d.carrier = None;
            forget_in_transit(d);
            Ok(Some("Disconnect"))
        }
        EventKind::Deliver => deliver(d, r),
        EventKind::Forward | EventKind::FanOut => {
            if let Some(token) = &r.token {
                if !d.tokens.is_empty() && !d.tokens.contains_key(token) {
                    return fail(
                        format!("woke {token:?}, which the mail client never gave out"),
                        &["LOCAL-7", "LOCAL-13"],
                    );
                }
                if let Some(id) = r.id {
                    d.in_transit.remove(&id);
                    if let Some(tokens) = d.fan_out_due.get_mut(&id) {
                        tokens.remove(token);
                    }
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
            d.in_transit.retain(|id| *id > upto);
            d.processed_upto = d.processed_upto.max(upto);
            // Sent, not yet received: the push server may take steps before it arrives, and
            // it is lost if the session ends first (the next `hello` acknowledges again).
            while d.ring.front().is_some_and(|(h, _)| *h <= upto) {
                if let Some((h, _)) = d.ring.pop_front() {
                    d.maybe_held.insert(h);
                }
            }
            if d.carrier.is_some_and(|c| c <= upto) && d.mark == Mark::Set {
                d.mark = Mark::Unknown;
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

/// The session ended (or a newer one began): what it sent and the mail client has not shown it
/// received may have been lost on the way, and owes no wakes.
fn forget_in_transit(d: &mut Device) {
    for id in std::mem::take(&mut d.in_transit) {
        d.fan_out_due.remove(&id);
    }
}

fn accept(d: &mut Device, r: &mailpush_trace::Record) -> Check {
    let id = r.id.unwrap_or(0);
    if let Some(last) = d.last_id
        && id != last + 1
    {
        return fail(format!("notification id {id} after {last}"), &["CHAN-15"]);
    }
    d.last_id = Some(id);
    // An id given again after a push server restart: what had it before was not durable.
    d.maybe_held.retain(|held| *held < id);
    d.ring
        .push_back((id, r.mailboxes.clone().unwrap_or_default()));
    d.step_open = true;
    d.step_needs_mark = d.session == Session::Offline;
    if d.step_needs_mark {
        d.carrier = None;
    }
    Ok(Some("PushRequest"))
}

fn drop_oldest(d: &mut Device, id: u64, capacity: usize) -> Check {
    let at_most = d.ring.len() + d.maybe_held.len();
    if at_most <= capacity {
        return fail(
            format!("dropped {id} from a ring that holds at most {at_most} of N = {capacity}"),
            &["RING-1", "RING-2"],
        );
    }
    if d.maybe_held.contains(&id) {
        // It was still held, so the older ones it would have been dropped after were not.
        d.maybe_held.retain(|held| *held > id);
    } else {
        match d.ring.front() {
            Some((oldest, _)) if *oldest == id => {
                // The oldest certainly held one: none of the possibly held ones was.
                d.maybe_held.clear();
                if d.ring.len() <= capacity {
                    return fail(
                        format!(
                            "dropped {id} from a ring that holds {} of N = {capacity}",
                            d.ring.len()
                        ),
                        &["RING-1", "RING-2"],
                    );
                }
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
    }
    d.step_needs_mark = true;
    d.carrier = None;
    Ok(None)
}

fn deliver(d: &mut Device, r: &mailpush_trace::Record) -> Check {
    let id = r.id.unwrap_or(0);
    d.session = match d.session {
        Session::Offline => {
            return fail(
                "a notification delivered to a device without a session",
                &["SM-4"],
            );
        }
        Session::Pending | Session::Online => Session::Online,
        Session::Replacing => Session::Replacing,
    };
    let held = d.ring.iter().any(|(h, _)| *h == id);
    let maybe = d.maybe_held.contains(&id);
    let marker = r.mailboxes.as_ref().is_none_or(Vec::is_empty) && !held && !maybe;
    if marker {
        if d.mark == Mark::Clear || d.last_id.is_some_and(|l| id != l + 1) {
            return fail(
                format!("marker {id} while the mark is clear or out of order"),
                &["RING-7"],
            );
        }
        d.last_id = Some(id);
        d.ring.push_back((id, Vec::new()));
    } else if !maybe {
        let next = d
            .ring
            .iter()
            .find(|(h, _)| *h > d.sent_upto)
            .map(|(h, _)| *h);
        // While a session replaces another, the older one goes on from where it was and the
        // newer one sends again what the older one sent: either may send any held id.
        let resent = held && d.session == Session::Replacing;
        if next != Some(id) && !resent {
            return fail(
                format!("sent {id}, but the oldest unsent held notification is {next:?}"),
                &["CHAN-16", "RING-1"],
            );
        }
    }
    let retained = r.retained.unwrap_or(false);
    match (d.mark, retained) {
        (Mark::Set, false) => {
            return fail(
                "a notify sent while the mark is set lacks `retained`",
                &["RING-6"],
            );
        }
        (Mark::Clear, true) => {
            return fail(
                "`retained` on a notify sent while the mark is clear",
                &["RING-6"],
            );
        }
        (Mark::Unknown, false) => d.mark = Mark::Clear,
        _ => {}
    }
    d.sent_upto = id;
    d.delivered_upto = d.delivered_upto.max(id);
    if retained {
        if d.carrier.is_none() {
            d.carrier = Some(id);
        }
        if id > d.processed_upto {
            // Sent again, it still owes only the wakes it did not make the first time.
            let tokens: BTreeSet<String> = d.tokens.keys().cloned().collect();
            if let std::collections::btree_map::Entry::Vacant(due) = d.fan_out_due.entry(id) {
                due.insert(tokens);
                d.in_transit.insert(id);
            }
        }
    }
    Ok(Some("Deliver"))
}

/// The report of a valid trace: its steps and the properties checked along it.
pub fn report(summary: &Summary) -> String {
    let mut out = format!(
        "{} events, {} devices, {} restarts: valid\n",
        summary.events, summary.devices, summary.restarts
    );
    for (action, n) in &summary.steps {
        let _ = writeln!(out, "  {action:<24} {n}");
    }
    out.push_str("  checked along the trace: RING-1, RING-2, RING-5, RING-6, RING-7, SM-4, LOCAL-7, LOCAL-10, XAPS-10, CHAN-15\n");
    out
}
