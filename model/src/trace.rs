//! Counterexamples and examples as readable, step-by-step traces in the vocabulary of the spec,
//! with what changed at each step.

use std::fmt::Write as _;

use stateright::Path;

use crate::model::{Action, MailpushModel};
use crate::state::{
    DaPhase, Device, MailboxId, PushPhase, ServerEvent, Shape, State, bit, members,
};

/// The name of a mailbox in traces: `A`, `B`, ... within an account (mailboxes with push first);
/// with several accounts, `1/A`, `2/A`, ... (equal letters are equal names).
pub fn mailbox_name(shape: &Shape, mailbox: MailboxId) -> String {
    let letter = char::from(b'A'.saturating_add(shape.name_of(mailbox)));
    if shape.accounts > 1 {
        format!("{}/{letter}", shape.account_of(mailbox) + 1)
    } else {
        letter.to_string()
    }
}

/// A mailbox set in traces: `{A,C}`.
pub fn mailbox_set(shape: &Shape, set: u8) -> String {
    let names: Vec<String> = members(set).map(|m| mailbox_name(shape, m)).collect();
    format!("{{{}}}", names.join(","))
}

/// A device in traces, numbered from 1.
pub fn device_name(device: u8) -> String {
    format!("device {}", u16::from(device) + 1)
}

fn account_suffix(shape: &Shape, account: u8) -> String {
    if shape.accounts > 1 {
        format!(" (account {})", account + 1)
    } else {
        String::new()
    }
}

/// A mail server event in traces.
pub fn event_text(shape: &Shape, event: ServerEvent) -> String {
    match event {
        ServerEvent::Change(m) => format!("mailbox change of {}", mailbox_name(shape, m)),
        ServerEvent::Recreated(m) => format!(
            "mailbox {} recreated under its name (new UIDVALIDITY)",
            mailbox_name(shape, m)
        ),
        ServerEvent::Deleted(m) => format!("mailbox {} deleted", mailbox_name(shape, m)),
        ServerEvent::Renamed(m, to) => format!(
            "mailbox {} renamed to {}",
            mailbox_name(shape, m),
            mailbox_name(shape, to)
        ),
    }
}

/// An action in the vocabulary of spec/properties.md.
pub fn action_text(shape: &Shape, action: &Action) -> String {
    let dev = |d: u8| device_name(d);
    let acc = |a: u8| account_suffix(shape, a);
    let mb = |m: u8| mailbox_name(shape, m);
    match *action {
        Action::MailboxChange(m) => event_text(shape, ServerEvent::Change(m)),
        Action::MailboxRecreated(m) => event_text(shape, ServerEvent::Recreated(m)),
        Action::MailboxDeleted(m) => event_text(shape, ServerEvent::Deleted(m)),
        Action::MailboxRenamed(m, to) => event_text(shape, ServerEvent::Renamed(m, to)),
        Action::TakeIn(d) => format!("{}: takes in the next mail server event", dev(d)),
        Action::ListAndRegister(d, a) => format!(
            "{}: DA lists mailboxes and registers with the mail client{}",
            dev(d),
            acc(a)
        ),
        Action::Unregister(d, m) => format!("{}: DA unregisters {}", dev(d), mb(m)),
        Action::RequestPush(d, a) => format!(
            "{}: mail client requests push from the mail server{}",
            dev(d),
            acc(a)
        ),
        Action::ServerRepliesPushSubset(d, a) => format!(
            "{}: mail server replies with the push subset{}",
            dev(d),
            acc(a)
        ),
        Action::PushRequest(d, a) => format!(
            "mail server sends a push request for {}{} to the push server",
            dev(d),
            acc(a)
        ),
        Action::RegistrationExpires(d, a) => format!(
            "mail server: the registration of {}{} expires",
            dev(d),
            acc(a)
        ),
        Action::ServerForgetsRegistration(d, a) => format!(
            "mail server forgets the registration of {}{}",
            dev(d),
            acc(a)
        ),
        Action::Deliver(d) => format!(
            "{}: push server delivers; mail client forwards to the DA by token",
            dev(d)
        ),
        Action::Acknowledge(d) => format!(
            "{}: the device's acknowledgement reaches the push server",
            dev(d)
        ),
        Action::NotificationExpires(d, i) => format!(
            "{}: held notification {} expires (TTL)",
            dev(d),
            u16::from(i) + 1
        ),
        Action::Disconnect(d) => format!("{}: disconnect", dev(d)),
        Action::Reconnect(d) => format!("{}: reconnect with the retained flag", dev(d)),
        Action::ScheduledPoll(d, m) => format!(
            "{}: scheduled poll of {} (mailbox without push)",
            dev(d),
            mb(m)
        ),
        Action::RetainedBroadcast(d) => {
            format!("{}: DA receives the retained broadcast", dev(d))
        }
        Action::DaSync(d, t) => format!("{}: DA sync for token {t}", dev(d)),
        Action::DaRestart(d) => format!(
            "{}: DA restarts, registers again and syncs every mailbox once",
            dev(d)
        ),
        Action::MailClientRestart(d) => format!("{}: mail client restarts", dev(d)),
    }
}

fn flag(on: bool, yes: &str, no: &str) -> String {
    if on { yes } else { no }.to_string()
}

fn tokens_text(set: u8) -> String {
    let tokens: Vec<String> = members(set).map(|t| t.to_string()).collect();
    format!("[{}]", tokens.join(" "))
}

fn budgets_text(d: &Device) -> String {
    let b = d.budgets;
    let named = [
        ("disconnects", b.disconnects),
        ("DA restarts", b.da_restarts),
        ("mail client restarts", b.client_restarts),
        ("renewals", b.renewals),
        ("expiries", b.expiries),
        ("TTL expiries", b.ttl_expiries),
        ("unregisters", b.unregisters),
        ("faults", b.faults),
    ];
    let left: Vec<String> = named
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    if left.is_empty() {
        "none".into()
    } else {
        left.join(", ")
    }
}

fn device_facts(state: &State, id: u8, d: &Device, out: &mut Vec<(String, String)>) {
    let shape = &state.shape;
    let dev = device_name(id);
    out.push((format!("{dev}: budgets left"), budgets_text(d)));
    if state.log_len > 0 {
        out.push((
            format!("{dev}: mail server events taken in"),
            d.taken_in.to_string(),
        ));
    }
    for a in shape.account_ids() {
        let acc = account_suffix(shape, a);
        let account = shape.account_mailboxes(a);
        let da = match d.da.get(usize::from(a)) {
            Some(DaPhase::Registered) => "REGISTERED",
            _ => "UNLISTED",
        };
        out.push((format!("{dev}: DA{acc}"), da.into()));
        let push = match d.push.get(usize::from(a)) {
            Some(PushPhase::Requested) => "REQUESTED".to_string(),
            Some(PushPhase::Active) => format!(
                "ACTIVE, with push {}",
                mailbox_set(shape, d.with_push & account)
            ),
            _ => "NOT REQUESTED".to_string(),
        };
        out.push((format!("{dev}: mail client push registration{acc}"), push));
        let stored = d.registration & account;
        out.push((
            format!("{dev}: mail server registration{acc}"),
            flag(
                stored != 0,
                &format!("stored {}", mailbox_set(shape, stored)),
                "absent",
            ),
        ));
    }
    let tokens: Vec<String> = members(d.registered())
        .filter_map(|m| {
            let t = (*d.tokens.get(usize::from(m))?)?;
            Some(format!("{}={t}", mailbox_name(shape, m)))
        })
        .collect();
    out.push((format!("{dev}: tokens"), format!("[{}]", tokens.join(" "))));
    if d.retired != 0 {
        out.push((format!("{dev}: retired tokens"), tokens_text(d.retired)));
    }
    if d.unmonitored != 0 {
        out.push((
            format!("{dev}: no longer monitored"),
            mailbox_set(shape, d.unmonitored),
        ));
    }
    let views: Vec<String> = members(d.da_registered() | d.fresh)
        .map(|m| {
            let view = if d.corrupt & bit(m) != 0 {
                "corrupt"
            } else if d.fresh & bit(m) != 0 {
                "current"
            } else {
                "stale"
            };
            format!("{}={view}", mailbox_name(shape, m))
        })
        .collect();
    let views = if views.is_empty() {
        "none".to_string()
    } else {
        views.join(" ")
    };
    out.push((format!("{dev}: DA views"), views));
    out.push((
        format!("{dev}: mail server pending set"),
        mailbox_set(shape, d.pending),
    ));
    out.push((
        format!("{dev}: connection"),
        flag(d.online, "ONLINE", "OFFLINE"),
    ));
    let ring: Vec<String> = d
        .ring()
        .iter()
        .map(|m| match *m {
            0 => "marker".to_string(),
            m => format!("m={}", mailbox_set(shape, m)),
        })
        .collect();
    out.push((format!("{dev}: ring"), format!("[{}]", ring.join(", "))));
    out.push((
        format!("{dev}: in flight (held / sent and unacknowledged)"),
        format!(
            "{} / {}{}{}",
            d.in_flight,
            d.unacked,
            if d.received > 0 {
                format!(", {} received before the session ended", d.received)
            } else {
                String::new()
            },
            d.carrier
                .map_or(String::new(), |c| format!(", retained carrier {}", c + 1))
        ),
    ));
    out.push((
        format!("{dev}: mark (retained)"),
        flag(d.mark, "set", "clear"),
    ));
    out.push((
        format!("{dev}: pending local notifications (tokens)"),
        tokens_text(d.wakes),
    ));
    if d.fan_out_only != 0 {
        out.push((
            format!("{dev}: of which raised by fan-out only"),
            tokens_text(d.fan_out_only),
        ));
    }
    if d.retained_broadcast {
        out.push((format!("{dev}: retained broadcast"), "pending".into()));
    }
    out.push((format!("{dev}: polls due"), mailbox_set(shape, d.polls_due)));
}

/// The state as labelled facts, in a stable order; a trace prints the facts that differ.
pub fn facts(state: &State) -> Vec<(String, String)> {
    let shape = &state.shape;
    let mut out = Vec::new();
    let capable = shape.push_capable();
    for m in 0..shape.mailboxes() {
        let kind = flag(capable & bit(m) != 0, "with push", "without push");
        out.push((
            format!("mail server: mailbox {} ({kind})", mailbox_name(shape, m)),
            flag(state.exists & bit(m) != 0, "exists", "does not exist"),
        ));
    }
    let e = state.events_left;
    for (name, left) in [
        ("changes", e.changes),
        ("recreations", e.recreations),
        ("deletions", e.deletions),
        ("renames", e.renames),
    ] {
        if left > 0 || name == "changes" {
            out.push((format!("budget: {name} left"), left.to_string()));
        }
    }
    if state.log_len > 0 {
        let events: Vec<String> = state
            .log
            .iter()
            .take(usize::from(state.log_len))
            .map(|byte| event_text(shape, ServerEvent::decode(*byte)))
            .collect();
        out.push(("mail server events, in order".into(), events.join("; ")));
    }
    for (id, d) in (0u8..).zip(state.devices()) {
        device_facts(state, id, d, &mut out);
    }
    let h = state.history;
    for (name, value) in [
        ("a notification was dropped", h.dropped),
        ("a notification was coalesced", h.coalesced),
        ("a change arrived by scheduled poll", h.polled_change),
        ("a marker was delivered", h.marker),
        ("a DA listed again", h.relisted),
    ] {
        out.push((format!("history: {name}"), value.to_string()));
    }
    if h.violations != 0 {
        out.push((
            "history: duties broken".into(),
            crate::duties::broken(h.violations).join(", "),
        ));
    }
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
/// the mailbox a token names, the event a device takes in.
pub fn describe_step(model: &MailpushModel, before: &State, action: &Action) -> String {
    let shape = &before.shape;
    let mut text = action_text(shape, action);
    let device = action
        .device()
        .and_then(|id| before.devices().get(usize::from(id)));
    match (*action, device) {
        (Action::Deliver(_), Some(d)) => {
            let unsent = d.ring().get(usize::from(d.in_flight)).copied();
            let m = unsent.unwrap_or(0);
            let marker = if unsent.is_none() { " (marker)" } else { "" };
            let retained = if d.mark { ", retained" } else { "" };
            let _ = write!(
                text,
                " [notification m={}{retained}{marker}]",
                mailbox_set(shape, m)
            );
        }
        (Action::DaSync(_, token), Some(d)) => match d.da_mailbox_of(token) {
            None => text.push_str(": no such token, ignored"),
            Some(m) => {
                let _ = write!(text, " (mailbox {})", mailbox_name(shape, m));
                let ignores = model.config.broken.has(crate::Deviation::DaIgnoresRetained);
                if ignores && d.fan_out_only & bit(token) != 0 {
                    text.push_str(": SKIPPED as a redundant fan-out wake");
                } else if d.exists & bit(m) == 0 {
                    text.push_str(": the mailbox does not exist");
                }
            }
        },
        (Action::TakeIn(_), Some(d)) => {
            if let Some(event) = before.next_event_for(d) {
                let _ = write!(text, " ({})", event_text(shape, event));
            }
        }
        _ => {}
    }
    text
}

/// The shortest prefix of `path` whose last state violates the `always` property `name`: the
/// checker records the path of some violating state, and once a step property is broken every
/// later state violates it too.
pub fn up_to_first_violation(
    model: &MailpushModel,
    path: &Path<State, Action>,
    name: &str,
) -> Path<State, Action> {
    use stateright::Model;
    let Some(property) = model.properties().into_iter().find(|p| p.name == name) else {
        return path.clone();
    };
    let steps = path.clone().into_vec();
    let Some(first) = steps
        .iter()
        .position(|(state, _)| !(property.condition)(model, state))
    else {
        return path.clone();
    };
    let actions: Vec<Action> = steps.iter().take(first).filter_map(|(_, a)| *a).collect();
    steps
        .first()
        .and_then(|(init, _)| Path::from_actions(model, *init, &actions))
        .unwrap_or_else(|| path.clone())
}

/// A path as a numbered trace: the initial state, then every step with its state diff. A
/// device-by-device path is shown in interleaved order, each mail server event where the
/// devices take it in.
pub fn render(model: &MailpushModel, path: &Path<State, Action>) -> String {
    if let Some(interleaved) = crate::schedule::interleaved(model, path) {
        let plain = MailpushModel::new(crate::Config {
            schedule: crate::Schedule::Interleaved,
            ..model.config
        });
        let mut out = String::from(
            "  (in interleaved order: each mail server event where the devices take it in)\n",
        );
        out.push_str(&render_steps(&plain, &interleaved));
        return out;
    }
    render_steps(model, path)
}

fn render_steps(model: &MailpushModel, path: &Path<State, Action>) -> String {
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
