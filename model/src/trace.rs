//! Counterexamples and examples as readable, step-by-step traces in the vocabulary of the spec,
//! with what changed at each step.

use std::fmt::Write as _;

use stateright::{Model, Path};

use crate::model::{Action, MailpushModel, device_name, mailbox_name, mailbox_set};
use crate::state::{DaPhase, PushPhase, State, bit, members};

/// The state as labelled facts, in a stable order; a trace prints the facts that differ.
pub fn facts(state: &State) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (m, version) in state.mailbox_versions().iter().enumerate() {
        let name = u8::try_from(m).map(mailbox_name).unwrap_or('?');
        let kind = if state.push_capable & crate::state::bit_usize(m) != 0 {
            "with push"
        } else {
            "without push"
        };
        out.push((
            format!("mail server: mailbox {name} ({kind})"),
            format!("v{version}"),
        ));
    }
    out.push((
        "budget: changes left".into(),
        state.changes_left.to_string(),
    ));
    out.push((
        "budget: disconnects left".into(),
        state.disconnects_left.to_string(),
    ));
    if state.faults_left > 0 {
        out.push(("budget: faults left".into(), state.faults_left.to_string()));
    }
    for (i, d) in state.devices().iter().enumerate() {
        let dev = u8::try_from(i).map(device_name).unwrap_or_default();
        let da = match d.da {
            DaPhase::Unlisted => "UNLISTED",
            DaPhase::Listed => "LISTED",
            DaPhase::Registered => "REGISTERED",
        };
        out.push((format!("{dev}: DA"), da.into()));
        let tokens: Vec<String> = d
            .tokens
            .iter()
            .enumerate()
            .filter_map(|(m, t)| {
                let name = u8::try_from(m).map(mailbox_name).ok()?;
                t.map(|t| format!("{name}={t}"))
            })
            .collect();
        out.push((format!("{dev}: tokens"), format!("[{}]", tokens.join(" "))));
        let views: Vec<String> = d
            .views
            .iter()
            .take(usize::from(state.mailboxes))
            .enumerate()
            .map(|(m, v)| {
                let name = u8::try_from(m).map(mailbox_name).unwrap_or('?');
                match v {
                    Some(v) => format!("{name}=v{v}"),
                    None => format!("{name}=-"),
                }
            })
            .collect();
        out.push((format!("{dev}: DA views"), views.join(" ")));
        let push = match d.push {
            PushPhase::NotRequested => "NOT REQUESTED".to_string(),
            PushPhase::Requested => "REQUESTED".to_string(),
            PushPhase::Active => format!("ACTIVE, with push {}", mailbox_set(d.with_push)),
        };
        out.push((format!("{dev}: mail client push registration"), push));
        let registration = match d.registration {
            Some(set) => format!("stored {}", mailbox_set(set)),
            None => "absent".into(),
        };
        out.push((format!("{dev}: mail server registration"), registration));
        out.push((
            format!("{dev}: mail server pending set"),
            mailbox_set(d.pending),
        ));
        out.push((
            format!("{dev}: connection"),
            if d.online { "ONLINE" } else { "OFFLINE" }.into(),
        ));
        let ring: Vec<String> = d
            .ring()
            .iter()
            .map(|n| format!("m={}", mailbox_set(n.m)))
            .collect();
        out.push((format!("{dev}: ring"), format!("[{}]", ring.join(", "))));
        out.push((
            format!("{dev}: mark (retained)"),
            if d.mark { "set" } else { "clear" }.into(),
        ));
        let wakes: Vec<String> = members(d.wakes).map(|t| t.to_string()).collect();
        out.push((
            format!("{dev}: pending local notifications (tokens)"),
            format!("[{}]", wakes.join(" ")),
        ));
        if d.fan_out_only != 0 {
            let only: Vec<String> = members(d.fan_out_only).map(|t| t.to_string()).collect();
            out.push((
                format!("{dev}: of which raised by fan-out only"),
                format!("[{}]", only.join(" ")),
            ));
        }
        if d.retained_broadcast {
            out.push((format!("{dev}: retained broadcast"), "pending".into()));
        }
        out.push((format!("{dev}: polls due"), mailbox_set(d.polls_due)));
    }
    let h = state.history;
    out.push((
        "history: a notification was dropped".into(),
        h.dropped.to_string(),
    ));
    out.push((
        "history: a notification was coalesced".into(),
        h.coalesced.to_string(),
    ));
    out.push((
        "history: a change arrived by scheduled poll".into(),
        h.polled_change.to_string(),
    ));
    out.push((
        "quiescent / consistent".into(),
        format!("{} / {}", state.quiescent(), state.consistent()),
    ));
    out
}

/// The whole state, one fact per line (for the Explorer).
pub fn describe_state(state: &State) -> String {
    let mut out = String::new();
    for (key, value) in facts(state) {
        let _ = writeln!(out, "{key}: {value}");
    }
    out
}

/// The facts that differ between two states, as `key: old -> new` lines.
pub fn diff(before: &State, after: &State) -> Vec<String> {
    let old = facts(before);
    let new = facts(after);
    let mut out = Vec::new();
    for (key, value) in &new {
        match old.iter().find(|(k, _)| k == key) {
            Some((_, previous)) if previous == value => {}
            Some((_, previous)) => out.push(format!("{key}: {previous} -> {value}")),
            None => out.push(format!("{key}: {value}")),
        }
    }
    for (key, value) in &old {
        if !new.iter().any(|(k, _)| k == key) {
            out.push(format!("{key}: {value} -> (gone)"));
        }
    }
    out
}

/// An action with what the state before it tells about it: the notification a delivery carries,
/// the mailbox a token names.
pub fn describe_step(model: &MailpushModel, before: &State, action: &Action) -> String {
    let mut text = model.format_action(action);
    match *action {
        Action::Deliver(id) => {
            if let Some(d) = before.devices().get(usize::from(id)) {
                let m = d.ring().first().map_or(0, |n| n.m);
                let marker = if d.ring_len == 0 { " (marker)" } else { "" };
                let retained = if d.mark { ", retained" } else { "" };
                let _ = write!(
                    text,
                    " [notification m={}{retained}{marker}]",
                    mailbox_set(m)
                );
            }
        }
        Action::DaSync(id, token) => {
            if let Some(d) = before.devices().get(usize::from(id)) {
                if let Some(m) = d.da_mailbox_of(token) {
                    let _ = write!(text, " (mailbox {})", mailbox_name(m));
                }
                if model.config.broken.da_ignores_retained && d.fan_out_only & bit(token) != 0 {
                    text.push_str(": SKIPPED as a redundant fan-out wake");
                }
            }
        }
        _ => {}
    }
    text
}

/// A path as a numbered trace: the initial state, then every step with its state diff.
pub fn render(model: &MailpushModel, path: &Path<State, Action>) -> String {
    let steps = path.clone().into_vec();
    let mut out = String::new();
    let mut previous: Option<&State> = None;
    let mut number = 0usize;
    for (state, action) in &steps {
        match previous {
            None => {
                let _ = writeln!(out, "  initial state:");
                for (key, value) in facts(state) {
                    let _ = writeln!(out, "      {key}: {value}");
                }
            }
            Some(before) => {
                for line in diff(before, state) {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
        if let Some(action) = action {
            number += 1;
            let _ = writeln!(
                out,
                "  {number:>3}. {}",
                describe_step(model, state, action)
            );
        }
        previous = Some(state);
    }
    out
}
