//! A run's protocol traces checked against the model: every component writes its trace into the
//! run's directory (`push.trace`, `mail.trace`, `device-N.trace`); once the run has converged
//! they are merged and replayed by the model's validator (`mailpush_model::validate`), told when
//! the runner killed and restarted which component.

use std::fmt::Write as _;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use mailpush_model::validate::{ModelReplay, Restart, Summary};
use mailpush_trace::{Component as TraceComponent, Label, Limits};

use crate::schedule::{Component, Plan};

/// A component's trace file in the run's directory.
pub fn trace_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.trace"))
}

/// The device label of a device's trace: the one its events carry.
fn label_of(path: &Path) -> Option<Label> {
    let file = File::open(path).ok()?;
    let events = mailpush_trace::read_all(BufReader::new(file), Limits::default()).ok()?;
    events.into_iter().find_map(|e| e.record.device)
}

/// Merges the run's traces and validates them; on failure the merged trace is kept as
/// `merged.trace` and the error names the first illegal event.
pub fn check(dir: &Path, plan: &Plan, killed: &[(u64, Component)]) -> Result<Summary, String> {
    let mut names = vec!["push".to_owned(), "mail".to_owned()];
    names.extend((0..plan.devices).map(|d| format!("device-{d}")));
    let mut inputs = Vec::new();
    for name in &names {
        let path = trace_file(dir, name);
        let file = File::open(&path).map_err(|e| format!("trace {}: {e}", path.display()))?;
        inputs.push((path.display().to_string(), BufReader::new(file)));
    }
    let events = mailpush_trace::merge(inputs, Limits::default())
        .map_err(|e| format!("the run's traces do not merge: {e}"))?;
    let mut restarts = Vec::new();
    for (time_us, component) in killed {
        let restart = match component {
            Component::Push => Restart::new(*time_us, TraceComponent::PushServer, None),
            Component::Mail => Restart::new(*time_us, TraceComponent::MailServer, None),
            Component::Device(d) => {
                // A device that wrote nothing has no label and no state to restart.
                let Some(label) = label_of(&trace_file(dir, &format!("device-{d}"))) else {
                    continue;
                };
                Restart::new(*time_us, TraceComponent::MailClient, Some(label))
            }
        };
        restarts.push(restart.map_err(|e| e.to_string())?);
    }
    // The command that replays the kept trace alone, with what the runner knows of the run.
    let mut again = format!("mailpush trace validate --ring {}", plan.ring_capacity);
    for restart in &restarts {
        let _ = write!(again, " --restart {restart}");
    }
    ModelReplay::new(plan.ring_capacity)
        .with_restarts(restarts)
        .validate(&events)
        .map_err(|violation| {
            let merged = dir.join("merged.trace");
            let kept = File::create(&merged)
                .map_err(|e| e.to_string())
                .and_then(|f| {
                    mailpush_trace::write_events(f, &events).map_err(|e| e.to_string())
                });
            let kept = match kept {
                Ok(()) => format!(
                    "kept in {}; validate it again with `{again} {}`",
                    merged.display(),
                    merged.display()
                ),
                Err(e) => format!("not kept: {e}"),
            };
            format!(
                "the merged trace ({} events, {kept}) is not a behaviour of the model:\n{violation}",
                events.len()
            )
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use mailpush_trace::{Event, EventKind, Record};

    fn event(time_us: u64, component: TraceComponent, record: Record) -> Event {
        Event {
            time_us,
            component,
            record: record.device(&Label::new("d-0a1b2c3d").unwrap()),
        }
    }

    fn write(dir: &Path, name: &str, events: &[Event]) {
        let file = File::create(trace_file(dir, name)).unwrap();
        mailpush_trace::write_events(file, events).unwrap();
    }

    /// A push server killed after taking in 1 for device 0, whose acceptance was not durable:
    /// started again, it gives the id 1 again.
    #[test]
    fn the_runs_traces_are_validated_with_its_kills_as_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let accepted = |t| {
            event(
                t,
                TraceComponent::PushServer,
                Record::new(EventKind::PushAccepted).id(1),
            )
        };
        let mark = |t| {
            event(
                t,
                TraceComponent::PushServer,
                Record::new(EventKind::MarkSet),
            )
        };
        write(dir.path(), "push", &[accepted(10), mark(11), accepted(30)]);
        write(dir.path(), "mail", &[]);
        let token = Record::new(EventKind::Token).mailbox("Notes").token("t1");
        write(
            dir.path(),
            "device-0",
            &[event(5, TraceComponent::MailClient, token)],
        );
        write(dir.path(), "device-1", &[]);
        let plan = Plan {
            seed: 1,
            devices: 2,
            ring_capacity: 1,
            max_ttl_secs: 1,
            topic_per_account: false,
            timeline: Vec::new(),
        };
        let summary = check(dir.path(), &plan, &[(20, Component::Push)]).unwrap();
        assert_eq!((summary.events, summary.restarts), (4, 1));
        // A device's kill is a restart of its mail client, named by its trace's label.
        let summary = check(
            dir.path(),
            &plan,
            &[(20, Component::Push), (25, Component::Device(0))],
        )
        .unwrap();
        assert_eq!(summary.restarts, 2);

        let error = check(dir.path(), &plan, &[]).unwrap_err();
        assert!(error.contains("CHAN-15"), "{error}");
        assert!(error.contains("line 4"), "{error}");
        let kept = std::fs::read_to_string(dir.path().join("merged.trace")).unwrap();
        assert_eq!(kept.lines().count(), 4);
    }
}
