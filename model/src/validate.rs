//! Trace validation: an implementation's protocol trace (spec/trace.md) replayed as steps of the
//! model itself ([`ModelReplay`]), reporting the first event that is not a legal step from the
//! state reached, with the state, the model actions enabled there and the requirements involved.
//!
//! This module holds what every user of the validation shares: the verdict ([`Summary`] or
//! [`Violation`]), the restarts a trace does not show ([`Restart`]) and the report of a valid
//! trace. How a trace maps to the model's states and actions is in the replay itself and in
//! model/README.md, "Trace validation".

use std::collections::BTreeMap;
use std::fmt::Write as _;

use mailpush_trace::{Component, Event, Label};

pub use crate::replay::{DEFAULT_WINDOW, MAX_CANDIDATES, ModelReplay};

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

/// The report of a valid trace: its steps and the properties checked along it.
pub fn report(summary: &Summary) -> String {
    let mut out = format!(
        "{} events, {} devices, {} restarts: valid\n",
        summary.events, summary.devices, summary.restarts
    );
    for (action, n) in &summary.steps {
        let _ = writeln!(out, "  {action:<24} {n}");
    }
    // The requirements a replayed step can be refused for, and the properties every candidate
    // model state is checked against after every event.
    out.push_str("  checked along the trace as steps of the model: RING-1, RING-2, RING-3, RING-4, RING-5, RING-6, RING-7, SM-4, CHAN-7, CHAN-14, CHAN-15, CHAN-16, LOCAL-7, LOCAL-10, LOCAL-13, XAPS-10\n");
    out.push_str("  and every `always` property of the model in every state reached\n");
    out
}
