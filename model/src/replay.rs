//! Trace validation by the model itself: each device of an implementation's protocol trace
//! (spec/trace.md) is replayed as steps of [`MailpushModel`] on a set of the model's own
//! [`State`]s, and every step is the model's [`Action`], enabled by the model's own
//! `actions` and applied by its own `next_state`.
//!
//! The abstraction (model/README.md, "Trace validation"):
//! - A trace device is a one-device model of one account whose mailboxes with push are the
//!   device's mailboxes: as many as the trace names (tokens registered, payloads pushed), mapped
//!   to model mailbox ids in the order the trace first names them. A device that needs more than
//!   the model holds ([`MAX_MAILBOXES`]), or a ring larger than [`MAX_RING`], is refused with a
//!   clear error.
//! - Registration is not replayed: a trace device starts as the model's device after the model's
//!   own registration steps (`ListAndRegister`, `RequestPush`, `ServerRepliesPushSubset`, the
//!   syncs they wake), without a session.
//! - `push-accepted` with payload `m` is the model's `MailboxChange` of each mailbox of `m` and
//!   the `PushRequest` that carries them; the `push-dropped`, `push-coalesced` and `mark-set` of
//!   the same device that follow it must be exactly what the model's step removed from the ring
//!   and whether it set the mark. `push-expired` is `NotificationExpires`; right after its
//!   `push-accepted`, it is a notification that expired at once (RING-14), which the model has no
//!   step for: the ring stays as it was and the mark is set.
//! - A `push-dropped` outside an accepting step is the drop of a marker that makes the ring hold
//!   more than N: the push server writes it before the marker's `deliver`, and the model takes
//!   the step, its `Deliver` of the marker, at that `deliver`.
//! - A session is the model's `online`. A `connect` is a `hello` sent: the session it asks for is
//!   established (`Reconnect`, after `Disconnect` of an older one: CHAN-19) at any later point, or
//!   never. `disconnect` is `Disconnect`.
//! - A `deliver` is the model's `Deliver`: the model's next held notification not in flight (or
//!   the marker it accepts), with `retained` exactly when the model's mark is set and within the
//!   session's window; in a second candidate, the send was lost with its connection: the model
//!   takes the push server's part of its `Deliver` (window, in flight, carrier, marker and its
//!   drop) without the device's (no wakes), no `ack` covers it, and the session's end leaves it
//!   held and not received, to be sent again. An
//!   `ack` that arrives is the model's `Acknowledge` of every notification sent on the session
//!   that it covers. An established session is the model's `Reconnect`, whose acknowledgement of
//!   what the device received on the ended session must be covered by the `hello`'s cursor.
//! - The wakes a `Deliver` raises are the model's; after each step the model's DA syncs every
//!   raised wake (`DaSync`), so a candidate returns to the model's settled state. A `retained`
//!   notification owes a `forward` or `fan-out` to every token the mail client gave out before its
//!   `ack` (LOCAL-10).
//!
//! Uncertainty is a set of candidate states: an `ack` or `hello` written but not known to have
//! arrived, a notification that may have been lost with its session, a push server restart that
//! may have lost what was not durable. Before every push server event of a device each candidate
//! is expanded by the arrivals that may have happened (acknowledgements in the order written, a
//! pending `hello`); every candidate takes the event's model step; candidates for which the step
//! is not enabled or whose successor differs from what the trace shows are dropped. The set is
//! deduplicated and bounded by [`MAX_CANDIDATES`]; an event that leaves no candidate is the
//! violation, and the reasons every candidate gave are its problem and spec IDs.
//!
//! The properties checked along the trace are the model's own `always` properties
//! ([`crate::properties`]), evaluated on every candidate after every event. A candidate that
//! violates one is dropped if another candidate does not; if none survives, the violation names
//! the property. Budgets exist only to keep model checking finite: the replay refills every budget
//! of a candidate before each step, so a trace may disconnect, expire and change as often as it
//! does.

use std::collections::{BTreeMap, BTreeSet};

use mailpush_trace::{Component, Event, EventKind, Record};
use stateright::{Expectation, Model, Property};

use crate::config::{
    Budgets, Config, MAX_MAILBOXES, MAX_RING, MAX_WINDOW, RetainedMechanism, TopicPolicy,
};
use crate::model::{Action, MailpushModel};
use crate::state::{MailboxId, State, bit, members};
use crate::validate::{Restart, Summary, Violation, due_before};
use crate::{Broken, Schedule};

/// The most candidate model states one trace device may have at once: more means the trace
/// leaves too much undecided to replay, which is reported as an error.
pub const MAX_CANDIDATES: usize = 512;

/// The in-flight window a trace is replayed with unless told otherwise: the push server's
/// default (CHAN-17).
pub const DEFAULT_WINDOW: usize = 16;

/// Why a candidate cannot take a trace event: the problem and the requirements involved.
type Reason = (String, Vec<&'static str>);

fn reason(problem: impl Into<String>, spec: &[&'static str]) -> Reason {
    (problem.into(), spec.to_vec())
}

/// What the trace must still show of a push server step the model took.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Owed {
    /// Ids the model's step dropped from a full ring (RING-2).
    dropped: Vec<u64>,
    /// Ids the model's step replaced by the new notification of the same topic (RING-4).
    coalesced: Vec<u64>,
    /// The model's step set the mark (RING-5).
    mark: bool,
    /// The id the trace showed dropped before the marker whose creation drops it: the push
    /// server writes a step's removals before its `deliver` (RING-2, RING-7), while the model
    /// drops inside its `Deliver` of the marker, which must be the push server's next event.
    marker_drop: Option<u64>,
    /// The notification this step accepted and the device before it: the trace may show it
    /// expired at once, which replaces nothing and drops nothing (RING-14).
    accepted: Option<Accepted>,
}

/// A notification accepted in the current push server step, with what the ring held before.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Accepted {
    id: u64,
    device: crate::state::Device,
    ids: [u64; MAX_RING],
}

/// One model state the device may be in, with what the trace says of it that the model does not
/// hold: the trace ids of the held notifications and the messages under way.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Candidate {
    /// Which of the device's models (topic policy) this state belongs to.
    model: usize,
    state: State,
    /// The trace id of each held notification, in ring order.
    ids: [u64; MAX_RING],
    /// The ids the model's `Deliver` sent on the current session and not acknowledged, oldest
    /// first: the model counts them (`unacked`) but does not name them.
    unacked: Vec<u64>,
    /// The first `notify` of the current session that the device did not receive: it and every
    /// later one of the session were lost with the connection, and no `ack` can cover them.
    lost_from: Option<u64>,
    /// How many `notify`s of the current session were lost: the newest of the model's
    /// `unacked`. The model took their `Deliver` for the push server's part (window, in flight,
    /// carrier, marker) without the device's part, and the session's end must not count them
    /// as received.
    lost: u8,
    /// Cursors of `ack`s written on the current session that have not arrived, in order.
    acks: Vec<u64>,
    /// The cursor of a `hello` written whose session is not established (yet).
    hello: Option<u64>,
    /// The last id the push server assigned, unless a restart made it unknown.
    last_id: Option<u64>,
    /// What the trace must still show of the push server's step.
    owed: Owed,
}

impl Candidate {
    fn device(&self) -> Option<&crate::state::Device> {
        self.state.devices().first()
    }

    fn ring_len(&self) -> usize {
        self.device().map_or(0, |d| usize::from(d.ring_len))
    }

    fn online(&self) -> bool {
        self.device().is_some_and(|d| d.online)
    }

    fn mark(&self) -> bool {
        self.device().is_some_and(|d| d.mark)
    }

    fn in_flight(&self) -> usize {
        self.device().map_or(0, |d| usize::from(d.in_flight))
    }

    /// The session ended or was replaced: nothing is under way on it any more.
    fn end_session(&mut self) {
        self.acks.clear();
        self.unacked.clear();
        self.lost_from = None;
        self.lost = 0;
    }

    fn held_ids(&self) -> &[u64] {
        self.ids.get(..self.ring_len()).unwrap_or(&[])
    }

    /// Removes the id at ring slot `index`.
    fn forget_slot(&mut self, index: usize) {
        // Slots past the ring hold 0, so shifting the whole array works whether the model state
        // has already lost the entry or not.
        if index < MAX_RING {
            self.ids.copy_within(index + 1.., index);
            if let Some(last) = self.ids.last_mut() {
                *last = 0;
            }
        }
    }
}

/// A trace device: its models and its candidate states, and the trace's own facts about the
/// mail client's wakes.
struct Device {
    /// One model per topic policy: the trace does not say which the push server uses.
    models: Vec<MailpushModel>,
    properties: Vec<Vec<Property<MailpushModel>>>,
    candidates: Vec<Candidate>,
    /// Payload digests, by the model mailbox they stand for.
    mailboxes: BTreeMap<String, MailboxId>,
    /// The tokens the mail client gave out.
    tokens: BTreeSet<String>,
    /// Every mailbox a push registration of the device named.
    requested: Option<BTreeSet<String>>,
    /// Per `retained` notification sent: the tokens it must wake and those it woke.
    fan_out_due: BTreeMap<u64, (usize, BTreeSet<String>)>,
    /// `retained` notifications sent that the mail client has not shown it received: lost if the
    /// session ends first, and then they owe no wakes.
    in_transit: BTreeSet<u64>,
    /// The highest id the mail client acknowledged: a duplicate at or below it wakes nothing
    /// again (CHAN-18).
    processed_upto: u64,
    delivered_upto: u64,
}

/// Replays traces as steps of the model.
pub struct ModelReplay {
    capacity: usize,
    /// The push server's in-flight window of a session (CHAN-17).
    window: usize,
    devices: BTreeMap<String, Device>,
    /// How many mailboxes each trace device needs.
    needs: BTreeMap<String, usize>,
    restarts: Vec<Restart>,
    summary: Summary,
}

impl std::fmt::Debug for ModelReplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelReplay")
            .field("capacity", &self.capacity)
            .field("window", &self.window)
            .field("devices", &self.devices.len())
            .finish()
    }
}

fn refill(state: &mut State) {
    state.events_left.changes = 1;
    for d in state.devices_mut() {
        d.budgets.disconnects = 1;
        d.budgets.ttl_expiries = 1;
        d.budgets.client_restarts = 1;
    }
}

/// The model's step, if the model enables it in `state` (budgets refilled).
fn step(model: &MailpushModel, state: &State, action: Action) -> Result<State, Reason> {
    let mut state = *state;
    refill(&mut state);
    let mut enabled = Vec::new();
    model.actions(&state, &mut enabled);
    if !enabled.contains(&action) {
        return Err(reason(
            format!(
                "the model does not enable `{}` here",
                crate::trace::action_text(&state.shape, &action)
            ),
            &[],
        ));
    }
    let mut next = model
        .next_state(&state, action)
        .ok_or_else(|| reason("the model's step is not possible", &[]))?;
    refill(&mut next);
    Ok(next)
}

/// The model's DA syncs every pending wake, so that the candidate returns to a settled state.
fn sync_wakes(model: &MailpushModel, state: State) -> State {
    let mut state = state;
    let wakes = state.devices().first().map_or(0, |d| d.wakes);
    for token in members(wakes) {
        if let Ok(next) = step(model, &state, Action::DaSync(0, token)) {
            state = next;
        }
    }
    state
}

impl ModelReplay {
    /// A replay for a push server whose rings hold `capacity` notifications (its N).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            window: DEFAULT_WINDOW,
            devices: BTreeMap::new(),
            needs: BTreeMap::new(),
            restarts: Vec::new(),
            summary: Summary::default(),
        }
    }

    /// The push server's in-flight window of a session, if not [`DEFAULT_WINDOW`]: sends
    /// beyond it are caught (CHAN-30), so it must be the window the trace was written with.
    #[must_use]
    pub fn with_window(mut self, window: usize) -> Self {
        self.window = window;
        self
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
        self.count_needs(events);
        for (i, event) in events.iter().enumerate() {
            for restart in due_before(&mut self.restarts, event) {
                self.restart(&restart, i + 1, event)?;
            }
            self.event(i + 1, event)?;
        }
        let labels: Vec<String> = self.devices.keys().cloned().collect();
        for label in labels {
            self.close_step(&label, events.len(), None)?;
        }
        self.summary.events = events.len();
        self.summary.devices = self.devices.len();
        Ok(self.summary)
    }

    /// How many model mailboxes each device needs: its tokens or its payloads' mailboxes,
    /// whichever are more.
    fn count_needs(&mut self, events: &[Event]) {
        let mut tokens: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        let mut payloads: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for event in events {
            let r = &event.record;
            let Some(label) = r.device.as_ref().map(|l| l.as_str().to_owned()) else {
                continue;
            };
            match r.kind {
                EventKind::Token => {
                    if let Some(token) = &r.token {
                        tokens.entry(label).or_default().insert(token);
                    }
                }
                EventKind::PushAccepted | EventKind::Deliver => {
                    let named = r.mailboxes.iter().flatten().map(String::as_str);
                    payloads.entry(label).or_default().extend(named);
                }
                _ => {}
            }
        }
        for (label, set) in tokens.iter().chain(&payloads) {
            let need = self.needs.entry(label.clone()).or_insert(1);
            *need = (*need).max(set.len());
        }
    }

    fn device(&mut self, label: &str, line: usize, event: &Event) -> Result<(), Box<Violation>> {
        if self.devices.contains_key(label) {
            return Ok(());
        }
        let need = self.needs.get(label).copied().unwrap_or(1);
        let limit = |problem: String| {
            Box::new(Violation {
                line,
                event: encode(Some(event)),
                problem,
                spec: Vec::new(),
                state: format!("{label}: not replayed"),
                enabled: Vec::new(),
            })
        };
        if need > MAX_MAILBOXES {
            return Err(limit(format!(
                "device {label} names {need} mailboxes; the model holds at most {MAX_MAILBOXES}"
            )));
        }
        let capacity = u8::try_from(self.capacity).unwrap_or(u8::MAX);
        if capacity == 0 || usize::from(capacity) > MAX_RING {
            return Err(limit(format!(
                "a ring of N = {} cannot be replayed; the model holds 1 to {MAX_RING}",
                self.capacity
            )));
        }
        let window = u8::try_from(self.window).unwrap_or(u8::MAX);
        if window == 0 || usize::from(window) != self.window {
            return Err(limit(format!(
                "an in-flight window of {} cannot be replayed; the model holds 1 to {MAX_WINDOW}",
                self.window
            )));
        }
        let mut models = Vec::new();
        let mut candidates = Vec::new();
        for topic in [TopicPolicy::None, TopicPolicy::PerAccount] {
            let config = Config {
                devices: 1,
                accounts: 1,
                push_mailboxes: u8::try_from(need).unwrap_or(1),
                poll_mailboxes: 0,
                ring_capacity: capacity,
                window,
                topic,
                budgets: Budgets::default(),
                mechanism: RetainedMechanism::FanOut,
                schedule: Schedule::Interleaved,
                reach: false,
                broken: Broken::NONE,
            };
            let model = MailpushModel::new(config);
            let initial = registered(&model).map_err(|(p, _)| limit(p))?;
            candidates.push(Candidate {
                model: models.len(),
                state: initial,
                ids: [0; MAX_RING],
                unacked: Vec::new(),
                lost_from: None,
                lost: 0,
                acks: Vec::new(),
                hello: None,
                last_id: None,
                owed: Owed::default(),
            });
            models.push(model);
        }
        let properties = models
            .iter()
            .map(|m| {
                m.properties()
                    .into_iter()
                    .filter(|p| p.expectation == Expectation::Always)
                    .collect()
            })
            .collect();
        self.devices.insert(
            label.to_owned(),
            Device {
                models,
                properties,
                candidates,
                mailboxes: BTreeMap::new(),
                tokens: BTreeSet::new(),
                requested: None,
                fan_out_due: BTreeMap::new(),
                in_transit: BTreeSet::new(),
                processed_upto: 0,
                delivered_upto: 0,
            },
        );
        Ok(())
    }

    fn event(&mut self, line: usize, event: &Event) -> Result<(), Box<Violation>> {
        let kind = event.record.kind;
        if let Some(action) = counted_action(kind) {
            *self.summary.steps.entry(action).or_default() += 1;
        }
        let Some(label) = event.record.device.as_ref().map(|l| l.as_str().to_owned()) else {
            return Ok(());
        };
        self.device(&label, line, event)?;
        let part_of_step = matches!(
            kind,
            EventKind::PushDropped
                | EventKind::PushCoalesced
                | EventKind::MarkSet
                | EventKind::PushExpired
        );
        if event.component == Component::PushServer && !part_of_step {
            self.close_step(&label, line, Some(event))?;
        }
        let Some(device) = self.devices.get_mut(&label) else {
            return Ok(());
        };
        if let Err(e) = device.trace_facts(&event.record) {
            return Err(device.violation(line, Some(event), &label, &device.candidates, &[e]));
        }
        let r = &event.record;
        let id = r.id.unwrap_or(0);
        let payload = match kind {
            EventKind::PushAccepted | EventKind::Deliver => device.payload(r),
            _ => 0,
        };
        let may_arrive = event.component == Component::PushServer
            && !matches!(
                kind,
                EventKind::PushDropped | EventKind::PushCoalesced | EventKind::MarkSet
            );
        let before = device.candidates.clone();
        let result = device.each(may_arrive, |model, c| match kind {
            EventKind::PushAccepted => accept(model, c, id, payload),
            EventKind::PushDropped if c.owed == Owed::default() => {
                let for_marker: Vec<Candidate> = arrivals(model, c)
                    .iter()
                    .filter_map(|a| dropped_for_marker(model, a, id))
                    .collect();
                if for_marker.is_empty() {
                    removed(model, c, id, true)
                } else {
                    Ok(for_marker)
                }
            }
            EventKind::PushDropped => removed(model, c, id, true),
            EventKind::PushCoalesced => removed(model, c, id, false),
            EventKind::MarkSet => mark_set(c),
            EventKind::PushExpired => expire(model, c, id),
            EventKind::Connect => Ok(connect(model, c, r.cursor.unwrap_or(0))),
            EventKind::Disconnect => disconnect(model, c),
            EventKind::Deliver => deliver(model, c, id, payload, r.retained.unwrap_or(false)),
            EventKind::Ack => Ok(ack(model, c, r.cursor.unwrap_or(0))),
            _ => Ok(vec![c.clone()]),
        });
        match result {
            Ok(()) => Ok(()),
            Err(reasons) => Err(device.violation(line, Some(event), &label, &before, &reasons)),
        }
    }

    /// Ends every candidate's push server step: what the model's step did must have been shown.
    fn close_step(
        &mut self,
        label: &str,
        line: usize,
        event: Option<&Event>,
    ) -> Result<(), Box<Violation>> {
        let Some(device) = self.devices.get_mut(label) else {
            return Ok(());
        };
        let before = device.candidates.clone();
        let result = device.each(false, |_, c| {
            let owed = &c.owed;
            if let Some(id) = owed.dropped.first() {
                return Err(reason(
                    format!(
                        "the model's ring is full and drops {id}, which the trace does not show dropped"
                    ),
                    &["RING-1", "RING-2"],
                ));
            }
            if let Some(id) = owed.coalesced.first() {
                return Err(reason(
                    format!("the model replaces {id} by the newer notification of its topic"),
                    &["RING-4"],
                ));
            }
            if owed.mark {
                return Err(reason("the push step did not set the mark", &["RING-5"]));
            }
            let sends = event.is_some_and(|e| e.record.kind == EventKind::Deliver);
            if let (Some(id), false) = (owed.marker_drop, sends) {
                return Err(reason(
                    format!(
                        "{id} was dropped for a marker, but the push server's next step does not send the marker"
                    ),
                    &["RING-2", "RING-7"],
                ));
            }
            let mut closed = c.clone();
            closed.owed.accepted = None;
            Ok(vec![closed])
        });
        result.map_err(|reasons| device.violation(line, event, label, &before, &reasons))
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
                let labels: Vec<String> = self.devices.keys().cloned().collect();
                for label in &labels {
                    self.close_step(label, line, Some(next))?;
                    if let Some(device) = self.devices.get_mut(label) {
                        let before = device.candidates.clone();
                        let result = device.each(true, push_server_restarted);
                        result.map_err(|reasons| {
                            device.violation(line, Some(next), label, &before, &reasons)
                        })?;
                    }
                }
            }
            (_, Some(label)) => {
                if let Some(device) = self.devices.get_mut(label.as_str()) {
                    //= spec/properties.md#SM-13
                    //# So when the mail client starts, it
                    //# MUST raise the local notification of every registered token
                    device.fan_out_due.clear();
                    device.in_transit.clear();
                    device.processed_upto = device.processed_upto.max(device.delivered_upto);
                    let before = device.candidates.clone();
                    let result = device.each(false, |model, c| {
                        // A `hello` the process sent may have established its session before it
                        // died; the push server keeps that session until it notices.
                        let mut before_death = vec![c.clone()];
                        if let Some(cursor) = c.hello {
                            before_death.extend(establish(model, c, cursor));
                        }
                        let mut out = Vec::new();
                        for mut c in before_death {
                            c.state = step(model, &c.state, Action::MailClientRestart(0))?;
                            if c.online() {
                                c.state = sync_wakes(model, c.state);
                            }
                            // The connection the process held died with it.
                            c.hello = None;
                            out.push(c);
                        }
                        Ok(out)
                    });
                    result.map_err(|reasons| {
                        device.violation(line, Some(next), label.as_str(), &before, &reasons)
                    })?;
                }
            }
            // The mail server's registrations and pending pushes are its own durable state.
            (_, None) => {}
        }
        Ok(())
    }
}

/// The summary's name for the model step an event opens.
fn counted_action(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::Ack
        | EventKind::Forward
        | EventKind::FanOut
        | EventKind::PushDropped
        | EventKind::PushCoalesced
        | EventKind::MarkSet
        | EventKind::InitialWake
        | EventKind::RegisterMailbox => None,
        EventKind::PushExpired => Some("NotificationExpires"),
        other => other.model_action(),
    }
}

fn encode(event: Option<&Event>) -> String {
    event.map_or_else(
        || "(end of trace)".to_owned(),
        |e| String::from_utf8_lossy(&mailpush_trace::encode(e)).into_owned(),
    )
}

/// The model's device after its own registration steps and the syncs they wake, without a
/// session.
fn registered(model: &MailpushModel) -> Result<State, Reason> {
    let mut state = State::initial(&model.config);
    refill(&mut state);
    for action in [
        Action::ListAndRegister(0, 0),
        Action::RequestPush(0, 0),
        Action::ServerRepliesPushSubset(0, 0),
    ] {
        state = step(model, &state, action)?;
    }
    state = sync_wakes(model, state);
    step(model, &state, Action::Disconnect(0))
}

impl Device {
    /// Applies `f` to every candidate (expanded first by the arrivals that may have happened
    /// when `arrivals`), then keeps the successors that satisfy the model's properties: those
    /// that violate one are dropped if any other remains. No successor at all is an error with
    /// every candidate's reason.
    fn each(
        &mut self,
        arrivals: bool,
        mut f: impl FnMut(&MailpushModel, &Candidate) -> Result<Vec<Candidate>, Reason>,
    ) -> Result<(), Vec<Reason>> {
        let mut current = std::mem::take(&mut self.candidates);
        if arrivals {
            current = current
                .iter()
                .flat_map(|c| self.expand(c))
                .collect::<Vec<_>>();
        }
        let mut next: Vec<Candidate> = Vec::new();
        let mut reasons: Vec<Reason> = Vec::new();
        for c in &current {
            let outcome = match self.models.get(c.model) {
                Some(model) => f(model, c),
                None => Err(reason("no model for the candidate", &[])),
            };
            match outcome {
                Ok(successors) => {
                    for s in successors {
                        if !next.contains(&s) {
                            next.push(s);
                        }
                    }
                }
                Err(r) => {
                    if !reasons.contains(&r) {
                        reasons.push(r);
                    }
                }
            }
        }
        if next.is_empty() {
            self.candidates = current;
            return Err(reasons);
        }
        let (keep, violating): (Vec<Candidate>, Vec<Candidate>) = next
            .into_iter()
            .partition(|c| self.broken_property(c).is_none());
        if keep.is_empty() {
            let names: Vec<Reason> = violating
                .iter()
                .filter_map(|c| self.broken_property(c))
                .map(|name| {
                    let id = name.split(' ').next().unwrap_or(name);
                    let spec: &'static str = id;
                    reason(format!("the model's property {name} fails"), &[spec])
                })
                .collect();
            self.candidates = current;
            return Err(names);
        }
        if keep.len() > MAX_CANDIDATES {
            self.candidates = current;
            return Err(vec![reason(
                format!(
                    "the trace leaves {} candidate model states undecided; at most {MAX_CANDIDATES} are replayed",
                    keep.len()
                ),
                &[],
            )]);
        }
        self.candidates = keep;
        Ok(())
    }

    /// The first `always` property of the model that `c` violates.
    fn broken_property(&self, c: &Candidate) -> Option<&'static str> {
        let model = self.models.get(c.model)?;
        self.properties
            .get(c.model)?
            .iter()
            .find(|p| !(p.condition)(model, &c.state))
            .map(|p| p.name)
    }

    /// `c` and every candidate the messages under way may have made of it by now: the
    /// acknowledgements written arrive in order, and a pending `hello` establishes its session.
    fn expand(&self, c: &Candidate) -> Vec<Candidate> {
        match self.models.get(c.model) {
            Some(model) => arrivals(model, c),
            None => vec![c.clone()],
        }
    }

    /// The model mailboxes a payload names, each digest mapped in the order first seen.
    fn payload(&mut self, r: &Record) -> u8 {
        let mut set = 0;
        for digest in r.mailboxes.iter().flatten() {
            let next = MailboxId::try_from(self.mailboxes.len()).unwrap_or(u8::MAX);
            let m = *self.mailboxes.entry(digest.clone()).or_insert(next);
            set |= bit(m);
        }
        set
    }

    /// The trace's facts about the mail client that the model keeps only as a whole: which
    /// tokens exist, which a `retained` notification woke before its `ack`.
    fn trace_facts(&mut self, r: &Record) -> Result<(), Reason> {
        match r.kind {
            EventKind::Token => {
                if let Some(token) = &r.token {
                    self.tokens.insert(token.clone());
                }
            }
            EventKind::RequestPush => {
                // Several requests may be under way (one per connection, a retry after a
                // timeout): a reply may answer any of them.
                let named = r.mailboxes.iter().flatten().cloned();
                self.requested.get_or_insert_default().extend(named);
            }
            EventKind::PushSubset => {
                //= spec/imap-push.md#XAPS-10
                //# The server MUST acknowledge exactly those requested mailboxes that exist
                //# and that the authenticated user may read, and MUST NOT acknowledge any other.
                if let (Some(requested), Some(acked)) = (&self.requested, &r.mailboxes)
                    && let Some(extra) = acked.iter().find(|m| !requested.contains(*m))
                {
                    return Err(reason(
                        format!(
                            "the server acknowledged {extra:?}, which no registration of the device named"
                        ),
                        &["XAPS-10"],
                    ));
                }
            }
            EventKind::Forward | EventKind::FanOut => {
                if let Some(token) = &r.token {
                    if !self.tokens.is_empty() && !self.tokens.contains(token) {
                        return Err(reason(
                            format!("woke {token:?}, which the mail client never gave out"),
                            &["LOCAL-7", "LOCAL-13"],
                        ));
                    }
                    if let Some(id) = r.id {
                        self.in_transit.remove(&id);
                        if let Some((_, woken)) = self.fan_out_due.get_mut(&id) {
                            woken.insert(token.clone());
                        }
                    }
                }
            }
            EventKind::Ack => {
                let upto = r.cursor.unwrap_or(0);
                //= spec/device-local.md#LOCAL-10
                //# On a notification flagged `retained`, the mail client MUST raise the
                //# local notification of every registered token of the device
                if let Some((due, (owed, woken))) = self
                    .fan_out_due
                    .range(..=upto)
                    .find(|(_, (owed, woken))| woken.len() < *owed)
                {
                    return Err(reason(
                        format!(
                            "notification {due} carried `retained`: the model's delivery wakes {owed} token(s), the trace {}",
                            woken.len()
                        ),
                        &["LOCAL-10", "RING-12"],
                    ));
                }
                self.fan_out_due.retain(|id, _| *id > upto);
                self.in_transit.retain(|id| *id > upto);
                self.processed_upto = self.processed_upto.max(upto);
            }
            EventKind::Connect | EventKind::Disconnect => {
                for id in std::mem::take(&mut self.in_transit) {
                    self.fan_out_due.remove(&id);
                }
            }
            EventKind::Deliver => {
                let id = r.id.unwrap_or(0);
                self.delivered_upto = self.delivered_upto.max(id);
                if r.retained == Some(true) && id > self.processed_upto {
                    // The model's fan-out wakes every registered token.
                    let owed = self.tokens.len();
                    if let std::collections::btree_map::Entry::Vacant(due) =
                        self.fan_out_due.entry(id)
                    {
                        due.insert((owed, BTreeSet::new()));
                        self.in_transit.insert(id);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn violation(
        &self,
        line: usize,
        event: Option<&Event>,
        label: &str,
        candidates: &[Candidate],
        reasons: &[Reason],
    ) -> Box<Violation> {
        let mut spec: Vec<&'static str> = Vec::new();
        let mut problems: Vec<&str> = Vec::new();
        for (problem, ids) in reasons {
            if !problems.contains(&problem.as_str()) {
                problems.push(problem);
            }
            for id in ids {
                if !spec.contains(id) {
                    spec.push(id);
                }
            }
        }
        let mut enabled: Vec<String> = Vec::new();
        let mut states = Vec::new();
        for c in candidates {
            let Some(model) = self.models.get(c.model) else {
                continue;
            };
            let mut state = c.state;
            refill(&mut state);
            let mut actions = Vec::new();
            model.actions(&state, &mut actions);
            for a in actions {
                let text = crate::trace::action_text(&state.shape, &a);
                if !enabled.contains(&text) {
                    enabled.push(text);
                }
            }
            if states.len() < 4 {
                states.push(describe(model, c));
            }
        }
        Box::new(Violation {
            line,
            event: encode(event),
            problem: if problems.is_empty() {
                "no candidate model state takes this step".to_owned()
            } else {
                problems.join("; or ")
            },
            spec,
            state: format!(
                "{label}: {} candidate model state(s): {}",
                candidates.len(),
                states.join(" | ")
            ),
            enabled,
        })
    }
}

/// A candidate in the model's words.
fn describe(model: &MailpushModel, c: &Candidate) -> String {
    let Some(d) = c.device() else {
        return String::new();
    };
    let ring: Vec<String> = c.held_ids().iter().map(u64::to_string).collect();
    format!(
        "{} topic={} ring [{}] in flight {} unacknowledged {:?} lost {} from {:?} mark {} acks-under-way {:?} hello {:?}",
        if d.online { "ONLINE" } else { "OFFLINE" },
        match model.config.topic {
            TopicPolicy::None => "none",
            TopicPolicy::PerAccount => "account",
        },
        ring.join(","),
        d.in_flight,
        c.unacked,
        c.lost,
        c.lost_from,
        if d.mark { "set" } else { "clear" },
        c.acks,
        c.hello,
    )
}

/// `push-accepted`: the model's `MailboxChange` of each mailbox of the payload, then the
/// `PushRequest` that carries them.
fn accept(
    model: &MailpushModel,
    c: &Candidate,
    id: u64,
    payload: u8,
) -> Result<Vec<Candidate>, Reason> {
    //= spec/device-channel.md#CHAN-15
    //# The server MUST assign each accepted notification the next id of its device
    match c.last_id {
        Some(last) if id != last + 1 => {
            return Err(reason(
                format!("notification id {id} after {last}"),
                &["CHAN-15"],
            ));
        }
        None if c.held_ids().iter().any(|held| *held >= id) => {
            return Err(reason(
                format!("notification id {id} given while {id} or a later one is held"),
                &["CHAN-15"],
            ));
        }
        _ => {}
    }
    // A payload the trace does not name (its mailboxes are optional, TRACE-6) is a change of
    // the model's first mailbox: the ring's rules do not depend on what a payload names.
    let payload = if payload == 0 { 1 } else { payload };
    let mut state = c.state;
    for m in members(payload) {
        state = step(model, &state, Action::MailboxChange(m))?;
    }
    let before = state.devices().first().copied().ok_or_else(no_device)?;
    let after_state = step(model, &state, Action::PushRequest(0, 0))?;
    let after = after_state
        .devices()
        .first()
        .copied()
        .ok_or_else(no_device)?;
    //= spec/device-channel.md#RING-14
    //# otherwise it removes the held notifications the new one
    //# replaces ([RING-4](#RING-4)) and appends the new one. Only then does it drop the oldest held
    //# notifications while the ring holds more than N ([RING-2](#RING-2))
    let held = before.ring();
    let in_flight = usize::from(before.in_flight);
    let topic = model.config.topic == TopicPolicy::PerAccount;
    // One account per replayed device: a topic replaces every held notification that is not in
    // flight and not a marker. Which slots went is read off this rule, and the model's own ring
    // must then be exactly what is left.
    let mut slots: Vec<(usize, u8)> = held.iter().copied().enumerate().collect();
    let mut coalesced = Vec::new();
    if topic {
        slots.retain(|(i, m)| {
            let replaced = *i >= in_flight && *m != 0;
            if replaced {
                coalesced.push(*i);
            }
            !replaced
        });
    }
    slots.push((usize::MAX, payload));
    let mut dropped = Vec::new();
    while slots.len() > usize::from(model.config.ring_capacity) {
        let (i, _) = slots.remove(0);
        dropped.push(i);
    }
    let expected: Vec<u8> = slots.iter().map(|(_, m)| *m).collect();
    if after.ring() != expected.as_slice() {
        return Err(reason(
            "the model's ring is not the held notifications after a removal and the new one",
            &["RING-1"],
        ));
    }
    let ids = c.held_ids();
    let id_of = |i: &usize| ids.get(*i).copied().unwrap_or(0);
    let mut next = c.clone();
    next.ids = [0; MAX_RING];
    for (slot, (i, _)) in next.ids.iter_mut().zip(&slots) {
        *slot = if *i == usize::MAX { id } else { id_of(i) };
    }
    next.state = after_state;
    next.last_id = Some(id);
    next.owed.dropped.extend(dropped.iter().map(id_of));
    next.owed.coalesced.extend(coalesced.iter().map(id_of));
    next.owed.mark |= !before.mark && after.mark;
    next.owed.accepted = Some(Accepted {
        id,
        device: before,
        ids: c.ids,
    });
    Ok(vec![next])
}

/// `c` and every candidate the messages under way may have made of it by now: the
/// acknowledgements written arrive in order, and a pending `hello` establishes its session.
/// Nothing arrives inside a push server step: between a drop and the marker that causes it.
fn arrivals(model: &MailpushModel, c: &Candidate) -> Vec<Candidate> {
    let mut out = vec![c.clone()];
    if c.owed.marker_drop.is_some() {
        return out;
    }
    for k in 1..=c.acks.len() {
        let mut arrived = c.clone();
        let upto = arrived.acks.get(k - 1).copied().unwrap_or(0);
        arrived.acks.drain(..k);
        if let Ok(a) = acknowledge(model, &arrived, upto) {
            out.push(a);
        }
    }
    let mut established = Vec::new();
    for o in &out {
        if let Some(cursor) = o.hello {
            established.extend(establish(model, o, cursor));
        }
    }
    out.extend(established);
    // What arrived arrived before the push server's step: an expiry at once belongs to the
    // acceptance it follows, with nothing between them.
    for later in out.iter_mut().skip(1) {
        later.owed.accepted = None;
    }
    out
}

fn no_device() -> Reason {
    reason("the model state has no device", &[])
}

/// The model's `Disconnect` of the current session. The model holds every notification in
/// flight for received by the device, to be acknowledged by its next `hello` (CHAN-7); the
/// candidate's lost sends, the newest in flight, were not, so they stay to be sent again on the
/// next session (CHAN-18).
fn end_connection(model: &MailpushModel, c: &mut Candidate) -> Result<(), Reason> {
    let in_flight = c.device().map_or(0, |d| d.in_flight);
    c.state = step(model, &c.state, Action::Disconnect(0))?;
    let lost = c.lost;
    if let Some(d) = c.state.devices_mut().first_mut() {
        d.received = in_flight.saturating_sub(lost);
    }
    Ok(())
}

/// `push-dropped` or `push-coalesced`: the model's step removed that id.
fn removed(
    model: &MailpushModel,
    c: &Candidate,
    id: u64,
    dropped: bool,
) -> Result<Vec<Candidate>, Reason> {
    let mut next = c.clone();
    next.owed.accepted = None;
    let owed = if dropped {
        &mut next.owed.dropped
    } else {
        &mut next.owed.coalesced
    };
    if let Some(at) = owed.iter().position(|o| *o == id) {
        owed.remove(at);
        return Ok(vec![next]);
    }
    let held = c.held_ids().len();
    let n = model.config.ring_capacity;
    Err(match (dropped, owed.first()) {
        (true, Some(oldest)) => reason(
            format!("dropped {id}; the model drops the oldest held notification {oldest}"),
            &["RING-2"],
        ),
        (true, None) => reason(
            format!("dropped {id}; the model's ring holds {held} of N = {n} and drops nothing"),
            &["RING-1", "RING-2"],
        ),
        (false, _) => reason(
            format!("replaced {id}; the model replaces no held notification here"),
            &["RING-4"],
        ),
    })
}

/// `push-dropped` of the oldest held notification outside an accepting step: the push server
/// creates a marker that makes the ring hold more than N and writes the drop before the marker's
/// `deliver` (RING-7, RING-2). It is legal exactly when the model's next `Deliver` is that marker
/// and drops that notification; the model takes the step at the `deliver`.
fn dropped_for_marker(model: &MailpushModel, c: &Candidate, id: u64) -> Option<Candidate> {
    let marker_due = c.ring_len() == c.in_flight();
    let next = step(model, &c.state, Action::Deliver(0)).ok();
    let drops = next.is_some_and(|n| {
        n.devices().first().map(|d| usize::from(d.ring_len)) == Some(c.ring_len())
    });
    let oldest = c.held_ids().first().copied();
    if !(marker_due && drops && oldest == Some(id)) {
        return None;
    }
    let mut pending = c.clone();
    pending.owed.marker_drop = Some(id);
    Some(pending)
}

/// `mark-set`: the model's step set the mark.
fn mark_set(c: &Candidate) -> Result<Vec<Candidate>, Reason> {
    if !c.owed.mark {
        return Err(reason(
            if c.mark() {
                "mark-set, but the model's mark was set already"
            } else {
                "mark-set, but the model's step does not set the mark"
            },
            &["RING-5"],
        ));
    }
    let mut next = c.clone();
    next.owed.mark = false;
    next.owed.accepted = None;
    Ok(vec![next])
}

/// `push-expired`: the model's `NotificationExpires` of that held notification; or, right after
/// its `push-accepted`, a notification that expired at once. The push server writes such an
/// expiry before the removals of its step, so a notification whose step still owes them is not
/// held and expired later.
fn expire(model: &MailpushModel, c: &Candidate, id: u64) -> Result<Vec<Candidate>, Reason> {
    match c.owed.accepted.as_ref().filter(|a| a.id == id) {
        Some(accepted) => Ok(vec![expired_at_once(c, accepted)]),
        None => expire_held(model, c, id),
    }
}

/// A notification that expired as it was accepted: the model has no such step (its
/// notifications live until `NotificationExpires`), so the candidate keeps what the model's
/// `PushRequest` did besides the ring, and the ring it held before, with the mark set.
fn expired_at_once(c: &Candidate, accepted: &Accepted) -> Candidate {
    //= spec/device-channel.md#RING-14
    //# then, if
    //# the notification expires at once ([RING-3](#RING-3)), it sets the mark and does nothing else: it
    //# replaces nothing and drops nothing
    let mut next = c.clone();
    let before = accepted.device;
    if let Some(d) = next.state.devices_mut().first_mut() {
        d.ring = before.ring;
        d.ring_len = before.ring_len;
        d.in_flight = before.in_flight;
        d.received = before.received;
        d.carrier = before.carrier;
        d.set_mark();
    }
    next.ids = accepted.ids;
    next.owed = Owed {
        mark: !before.mark,
        ..Owed::default()
    };
    next
}

/// The model's `NotificationExpires` of the held notification `id`.
fn expire_held(model: &MailpushModel, c: &Candidate, id: u64) -> Result<Vec<Candidate>, Reason> {
    let Some(index) = c.held_ids().iter().position(|h| *h == id) else {
        return Err(reason(
            format!("expired {id}, which the model's ring does not hold"),
            &["RING-3"],
        ));
    };
    let mut next = c.clone();
    let before = c.mark();
    next.state = step(
        model,
        &c.state,
        Action::NotificationExpires(0, u8::try_from(index).unwrap_or(u8::MAX)),
    )?;
    next.forget_slot(index);
    next.owed.mark |= !before && next.mark();
    next.owed.accepted = None;
    Ok(vec![next])
}

/// `connect`: a `hello` sent; an older one still pending may have been established before.
fn connect(model: &MailpushModel, c: &Candidate, cursor: u64) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut fresh = c.clone();
    fresh.hello = Some(cursor);
    out.push(fresh);
    if let Some(older) = c.hello {
        for mut e in establish(model, c, older) {
            e.hello = Some(cursor);
            out.push(e);
        }
    }
    out
}

/// A `hello` reaches the push server: an older session is replaced (CHAN-19), the new one is
/// established, and its cursor acknowledges what the device received on the ended sessions: the
/// model's `Reconnect`, which removes exactly those, must remove exactly the held ids at or below
/// the cursor.
fn establish(model: &MailpushModel, c: &Candidate, cursor: u64) -> Vec<Candidate> {
    reconnect(model, c, cursor).into_iter().collect()
}

/// The model's `Reconnect`, after the `Disconnect` of an older session.
fn reconnect(model: &MailpushModel, c: &Candidate, cursor: u64) -> Result<Candidate, Reason> {
    if let Some(id) = c.owed.marker_drop {
        return Err(reason(
            format!("a session established between the drop of {id} and the marker that drops it"),
            &["RING-7"],
        ));
    }
    let mut next = c.clone();
    if next.online() {
        //= spec/device-channel.md#CHAN-19
        //# When a session is established for a device that already has a session,
        //# the server MUST send `CLOSE` code `replaced` on the older session and close it.
        end_connection(model, &mut next)?;
    }
    // The held ids before the step: the model's acknowledgement shortens the ring.
    let ids = next.held_ids().to_vec();
    next.state = step(model, &next.state, Action::Reconnect(0))?;
    let acknowledged = ids.len().saturating_sub(next.ring_len());
    //= spec/device-channel.md#CHAN-7
    //# the server
    //# MUST treat it as an acknowledgement of every held notification with an id at or below it
    // The trace writes the cursor the mail client sent, which the push server may not have
    // taken whole (a notification shown received may be the copy of a lost session): what the
    // model acknowledged must be covered by it, and what it covers beyond is sent again as a
    // duplicate (CHAN-18).
    let covered = ids.iter().take_while(|id| **id <= cursor).count();
    if acknowledged > covered {
        return Err(reason(
            format!(
                "the hello's cursor {cursor} acknowledges {covered} held notification(s); the device received {acknowledged} on the session that ended"
            ),
            &["CHAN-7", "CHAN-18"],
        ));
    }
    for _ in 0..acknowledged {
        next.forget_slot(0);
    }
    next.hello = None;
    next.end_session();
    Ok(next)
}

/// An acknowledgement up to `upto` arrives on the current session: the model's `Acknowledge` of
/// every notification sent on it that it covers, oldest first.
fn acknowledge(model: &MailpushModel, c: &Candidate, upto: u64) -> Result<Candidate, Reason> {
    if c.lost_from.is_some_and(|lost| upto >= lost) {
        return Err(reason(
            format!("an ack of {upto} covers a notification the device did not receive"),
            &["CHAN-14"],
        ));
    }
    let mut next = c.clone();
    while let Some(id) = next.unacked.first().copied().filter(|id| *id <= upto) {
        next.unacked.remove(0);
        let before = next.ring_len();
        next.state = step(model, &next.state, Action::Acknowledge(0))?;
        if next.ring_len() < before {
            let oldest = next.ids.first().copied().unwrap_or(0);
            if oldest != id {
                return Err(reason(
                    format!("acknowledged {id}; the model's oldest held notification is {oldest}"),
                    &["CHAN-14"],
                ));
            }
            next.forget_slot(0);
        }
    }
    Ok(next)
}

/// `disconnect`: the session ends; what was under way on it is lost.
fn disconnect(model: &MailpushModel, c: &Candidate) -> Result<Vec<Candidate>, Reason> {
    let mut next = c.clone();
    if c.online() {
        end_connection(model, &mut next)?;
    } else {
        // A connection whose session was never established ended.
        next.hello = None;
    }
    next.end_session();
    Ok(vec![next])
}

/// `deliver`: the model's `Deliver` of its next held notification not in flight (or of the marker
/// it accepts), with `retained` exactly while the model's mark is set and within the session's
/// window. The device received it, or never did (lost with its connection, and then so is the
/// rest of the session): the push server's part of the step is the same either way.
fn deliver(
    model: &MailpushModel,
    c: &Candidate,
    id: u64,
    payload: u8,
    retained: bool,
) -> Result<Vec<Candidate>, Reason> {
    //= spec/properties.md#SM-4
    //# the push server MUST deliver only to an
    //# ONLINE device
    if !c.online() {
        return Err(reason(
            "a notification delivered to a device without a session",
            &["SM-4"],
        ));
    }
    //= spec/device-channel.md#RING-6
    //# Every `notify` the server sends while the device's mark is set MUST carry the
    //# `retained` flag.
    if retained != c.mark() {
        return Err(reason(
            if retained {
                "`retained` on a notify sent while the model's mark is clear"
            } else {
                "a notify sent while the model's mark is set lacks `retained`"
            },
            &["RING-6"],
        ));
    }
    //= spec/device-channel.md#CHAN-30
    //# A server MUST therefore not
    //# send a `notify` while `window` notifications sent on the session are unacknowledged
    let unacked = c.device().map_or(0, |d| d.unacked);
    let window = model.config.window;
    if unacked >= window {
        return Err(reason(
            format!(
                "sent {id} while {unacked} notification(s) sent on the session are unacknowledged, {} of them lost with the connection; the window is {window}",
                c.lost
            ),
            &["CHAN-30", "CHAN-17"],
        ));
    }
    let sent = send(model, c, id, payload)?;
    let mut out = Vec::new();
    if c.lost_from.is_none() {
        let mut received = sent.clone();
        received.state = sync_wakes(model, received.state);
        received.unacked.push(id);
        out.push(received);
    }
    //= spec/device-channel.md#CHAN-18
    //# a notification that was in flight when
    //# a session ended MUST be sent again on the device's next session.
    // The device never saw it: the model's wakes of it are not raised, no `ack` covers it, and
    // the session's end leaves it held and not received (`end_connection`).
    let mut lost = sent;
    if let (Some(d), Some(before)) = (lost.state.devices_mut().first_mut(), c.device()) {
        d.wakes = before.wakes;
        d.fan_out_only = before.fan_out_only;
    }
    lost.lost_from = c.lost_from.or(Some(id));
    lost.lost = c.lost.saturating_add(1);
    out.push(lost);
    Ok(out)
}

/// The push server's part of `deliver`: the model's `Deliver` of its next held notification not
/// in flight, or of the marker it accepts, which may drop the oldest held notification.
fn send(model: &MailpushModel, c: &Candidate, id: u64, payload: u8) -> Result<Candidate, Reason> {
    let in_flight = c.in_flight();
    if let Some(next_id) = c.held_ids().get(in_flight).copied() {
        if next_id != id {
            return Err(reason(
                format!("sent {id}; the model's next held notification not in flight is {next_id}"),
                &["CHAN-16", "RING-1"],
            ));
        }
        let mut sent = c.clone();
        sent.state = step(model, &c.state, Action::Deliver(0))?;
        return Ok(sent);
    }
    //= spec/device-channel.md#RING-7
    //# When the device's mark is set, a session is established, and the ring
    //# holds nothing to send, the server MUST accept a marker notification for the device
    let fresh_id = c.last_id.is_none_or(|l| id == l + 1);
    let carrier = c.device().is_some_and(|d| d.carrier.is_some());
    if payload != 0 || !c.mark() || carrier || !fresh_id {
        return Err(reason(
            format!(
                "sent {id}, which is neither the model's next held notification nor its marker"
            ),
            &["RING-7", "RING-13", "CHAN-16"],
        ));
    }
    let mut sent = c.clone();
    let before = c.ring_len();
    sent.state = step(model, &c.state, Action::Deliver(0))?;
    if sent.ring_len() == before {
        // The marker made the ring hold more than N: the model dropped the oldest, which the
        // push server wrote before this `deliver`.
        let oldest = c.held_ids().first().copied().unwrap_or(0);
        if c.owed.marker_drop != Some(oldest) {
            return Err(reason(
                format!(
                    "the marker makes the model's ring hold more than N: it drops {oldest}, which the trace does not show dropped before the marker"
                ),
                &["RING-2", "RING-7"],
            ));
        }
        sent.forget_slot(0);
    } else if let Some(id) = c.owed.marker_drop {
        return Err(reason(
            format!("dropped {id} before a marker that leaves room in the model's ring"),
            &["RING-1", "RING-2"],
        ));
    }
    sent.owed.marker_drop = None;
    let slot = sent.ring_len().saturating_sub(1);
    if let Some(at) = sent.ids.get_mut(slot) {
        *at = id;
    }
    sent.last_id = Some(c.last_id.map_or(id, |l| l.max(id)));
    Ok(sent)
}

/// `ack`: written on the session its `hello` asked for, it arrives later or never.
fn ack(model: &MailpushModel, c: &Candidate, cursor: u64) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut on_current = c.clone();
    if on_current.online() {
        on_current.acks.push(cursor);
        out.push(on_current);
    } else if on_current.hello.is_none() {
        out.push(on_current);
    }
    if let Some(hello) = c.hello {
        for mut e in establish(model, c, hello) {
            e.acks.push(cursor);
            out.push(e);
        }
    }
    out
}

/// A push server restart: no session, nothing under way, and of the ring, the mark and the ids
/// only what may have been durable: an oldest part of the ring, the mark either way.
fn push_server_restarted(model: &MailpushModel, c: &Candidate) -> Result<Vec<Candidate>, Reason> {
    let mut base = c.clone();
    if base.online() {
        end_connection(model, &mut base)?;
    }
    base.hello = None;
    base.end_session();
    base.owed = Owed::default();
    base.last_id = None;
    let mut out = Vec::new();
    let len = base.ring_len();
    for kept in 0..=len {
        for mark in [false, true] {
            let mut k = base.clone();
            if let Some(d) = k.state.devices_mut().first_mut() {
                while usize::from(d.ring_len) > kept {
                    let last = usize::from(d.ring_len) - 1;
                    d.ring_remove(last);
                }
                d.mark = mark;
                d.carrier = None;
            }
            for slot in kept..MAX_RING {
                if let Some(id) = k.ids.get_mut(slot) {
                    *id = 0;
                }
            }
            out.push(k);
        }
    }
    Ok(out)
}
