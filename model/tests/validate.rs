#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Trace validation on hand-written traces: what a real run does under faults (a session
//! replaced by a newer one, an `ack` still under way or lost, a component killed and started
//! again) is a legal behaviour of the model, and a broken duty is still caught at its event with
//! its requirements. Each trace is replayed as steps of the model itself (`ModelReplay`).

use mailpush_model::validate::{ModelReplay, Restart, Summary, Violation};
use mailpush_trace::{Component, Event, EventKind, Label, Record};

const N: usize = 2;
const NOTES: &str = "0d7fa2c4b26b5e8a0d7fa2c4b26b5e8a";

/// A trace of one device `D`, one microsecond per event.
#[derive(Default)]
struct Trace {
    events: Vec<Event>,
}

impl Trace {
    fn push(&mut self, component: Component, record: Record) -> &mut Self {
        let time_us = 1_000 + self.events.len() as u64;
        let record = record.device(&Label::new("D").unwrap());
        self.events.push(Event {
            time_us,
            component,
            record,
        });
        self
    }

    /// A time after the last event and before the next: a restart now.
    fn now(&self) -> u64 {
        999 + self.events.len() as u64
    }

    fn registered(&mut self) -> &mut Self {
        self.push(
            Component::MailClient,
            Record::new(EventKind::Token)
                .mailbox("Notes")
                .token("t-notes"),
        )
        .push(
            Component::MailClient,
            Record::new(EventKind::Token)
                .mailbox("Work")
                .token("t-work"),
        )
    }

    fn accept(&mut self, id: u64) -> &mut Self {
        self.push(
            Component::PushServer,
            Record::new(EventKind::PushAccepted)
                .id(id)
                .mailboxes([NOTES]),
        )
    }

    fn dropped(&mut self, id: u64) -> &mut Self {
        self.push(
            Component::PushServer,
            Record::new(EventKind::PushDropped).id(id),
        )
    }

    fn mark_set(&mut self) -> &mut Self {
        self.push(Component::PushServer, Record::new(EventKind::MarkSet))
    }

    fn connect(&mut self, cursor: u64) -> &mut Self {
        self.push(
            Component::MailClient,
            Record::new(EventKind::Connect).cursor(cursor),
        )
    }

    fn disconnect(&mut self) -> &mut Self {
        self.push(Component::PushServer, Record::new(EventKind::Disconnect))
    }

    fn deliver(&mut self, id: u64, retained: bool) -> &mut Self {
        self.push(
            Component::PushServer,
            Record::new(EventKind::Deliver)
                .id(id)
                .retained(retained)
                .mailboxes([NOTES]),
        )
    }

    fn expired(&mut self, id: u64) -> &mut Self {
        self.push(
            Component::PushServer,
            Record::new(EventKind::PushExpired).id(id),
        )
    }

    /// A marker sent: no payload, and `retained` since the mark is set.
    fn marker(&mut self, id: u64) -> &mut Self {
        self.push(
            Component::PushServer,
            Record::new(EventKind::Deliver).id(id).retained(true),
        )
    }

    /// The mail client's handling of a marker: every token woken, then the `ack`.
    fn marker_handled(&mut self, id: u64) -> &mut Self {
        for token in ["t-notes", "t-work"] {
            self.push(
                Component::MailClient,
                Record::new(EventKind::FanOut)
                    .id(id)
                    .token(token)
                    .retained(true),
            );
        }
        self.ack(id)
    }

    /// The mail client's forward of a notification about Notes to its token.
    fn forwarded(&mut self, id: u64, retained: bool) -> &mut Self {
        let forward = Record::new(EventKind::Forward).id(id).token("t-notes");
        self.push(
            Component::MailClient,
            if retained {
                forward.retained(true)
            } else {
                forward
            },
        )
    }

    /// The mail client's handling of a notification about Notes: the forward, the fan-out to
    /// Work if it carried `retained`, the `ack`.
    fn handled(&mut self, id: u64, retained: bool) -> &mut Self {
        self.forwarded(id, retained);
        if retained {
            self.push(
                Component::MailClient,
                Record::new(EventKind::FanOut)
                    .id(id)
                    .token("t-work")
                    .retained(true),
            );
        }
        self.ack(id)
    }

    fn ack(&mut self, id: u64) -> &mut Self {
        self.push(
            Component::MailClient,
            Record::new(EventKind::Ack).cursor(id),
        )
    }

    fn validate(&self) -> Result<Summary, Box<Violation>> {
        self.validate_with(Vec::new())
    }

    /// Replayed with the push server's in-flight window of a session.
    fn validate_window(&self, window: usize) -> Result<Summary, Box<Violation>> {
        ModelReplay::new(N)
            .with_window(window)
            .validate(&self.events)
    }

    fn validate_with(&self, restarts: Vec<Restart>) -> Result<Summary, Box<Violation>> {
        ModelReplay::new(N)
            .with_restarts(restarts)
            .validate(&self.events)
    }

    /// The line of the last event pushed.
    fn last(&self) -> usize {
        self.events.len()
    }
}

/// The trace was refused at `line` (from 1), naming every requirement of `spec`: the reasons of
/// every candidate model state are joined, so a violation may name more.
fn caught(result: Result<Summary, Box<Violation>>, line: usize, spec: &[&str]) -> Box<Violation> {
    let violation = match result {
        Ok(summary) => panic!("a broken {spec:?} passed: {summary:?}"),
        Err(violation) => violation,
    };
    assert_eq!(violation.line, line, "{violation}");
    for id in spec {
        assert!(violation.spec.contains(id), "{violation}");
    }
    violation
}

/// Registered, online, one notification delivered and acknowledged.
fn online() -> Trace {
    let mut t = Trace::default();
    t.registered()
        .connect(0)
        .accept(1)
        .deliver(1, false)
        .handled(1, false);
    t
}

/// [`online`], then away while 2 is taken (the mark set), back, and 2 sent with `retained`.
fn retained_sent() -> Trace {
    let mut t = online();
    t.disconnect()
        .accept(2)
        .mark_set()
        .connect(1)
        .deliver(2, true);
    t
}

//= spec/device-channel.md#CHAN-19
//= type=test
//# Notifications in flight on the older session are no longer in flight and MUST be delivered on
//# the new session
#[test]
fn a_session_replaced_by_a_newer_one_is_legal() {
    let mut t = online();
    // The device sends `hello` while the push server still holds its older session, which
    // sends 2 before it is replaced; the newer session sends 2 again.
    t.accept(2)
        .connect(1)
        .deliver(2, false)
        .deliver(2, false)
        .handled(2, false);
    t.validate().unwrap_or_else(|v| panic!("{v}"));

    // The older session ends (its end written after the newer `hello`) and the newer one,
    // established after that, delivers.
    let mut t = online();
    t.connect(1)
        .disconnect()
        .accept(2)
        .deliver(2, false)
        .handled(2, false);
    let summary = t.validate().unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(summary.steps["Deliver"], 2);
}

#[test]
fn after_a_replacement_a_device_without_a_session_is_still_caught() {
    let mut t = online();
    t.connect(1)
        .disconnect()
        .deliver(1, false)
        // The session of the newer `hello` ends too: none is left.
        .disconnect()
        .accept(2)
        .mark_set()
        .deliver(2, true);
    caught(t.validate(), t.last(), &["SM-4"]);
}

//= spec/device-channel.md#CHAN-32
//= type=test
//# A crash before then only
//# makes the server hold the acknowledged notifications again, which is safe
#[test]
fn a_lost_ack_is_legal() {
    // The `ack` of 1 never arrives: the session ends first, the push server still holds 1,
    // and drops it (not 2) when 4 comes into the full ring while the device is away.
    let mut t = online();
    t.disconnect()
        .accept(2)
        .mark_set()
        .accept(3)
        .dropped(1)
        .connect(1)
        .deliver(2, true)
        .handled(2, true)
        .deliver(3, true);
    t.validate().unwrap_or_else(|v| panic!("{v}"));

    // Or it did arrive, and the full ring drops 2.
    let mut t = online();
    t.disconnect()
        .accept(2)
        .mark_set()
        .accept(3)
        .accept(4)
        .dropped(2)
        .connect(1)
        .deliver(3, true)
        .handled(3, true);
    t.validate().unwrap_or_else(|v| panic!("{v}"));
}

//= spec/device-channel.md#RING-6
//= type=test
//# The server MUST clear the mark only when the device acknowledges a `notify` that
//# carried `retained`
#[test]
fn an_ack_under_way_is_legal_and_the_mark_is_narrowed_again() {
    // The `ack` of the `retained` 2 is under way when 3 is sent: 3 still carries `retained`;
    // 4, sent after it arrived, does not; from then on the mark is known to be clear.
    let mut t = online();
    t.disconnect()
        .accept(2)
        .mark_set()
        .accept(3)
        .connect(1)
        .deliver(2, true)
        .handled(2, true)
        .deliver(3, true)
        .handled(3, true)
        .accept(4)
        .deliver(4, false)
        .handled(4, false);
    t.validate().unwrap_or_else(|v| panic!("{v}"));
    t.accept(5).deliver(5, true);
    caught(t.validate(), t.last(), &["RING-6"]);
}

#[test]
fn with_acks_under_way_broken_duties_are_still_caught() {
    // A full ring that drops the newest notification.
    let mut t = online();
    t.disconnect()
        .accept(2)
        .mark_set()
        .accept(3)
        .accept(4)
        .dropped(4);
    caught(t.validate(), t.last(), &["RING-2"]);

    // A drop from a ring that cannot be full, whether the `ack` of 1 arrived or not.
    let mut t = online();
    t.disconnect().accept(2).mark_set().dropped(1);
    caught(t.validate(), t.last(), &["RING-1", "RING-2"]);

    // No mark for a notification taken in while the device is away.
    let mut t = online();
    t.disconnect().accept(2).connect(1).deliver(2, false);
    // Caught where the push step ends, at the push server's next event; the model with topics
    // also names RING-4, since it would have replaced 1 (no longer in flight) by 2.
    caught(t.validate(), t.last(), &["RING-5"]);

    // `retained` missing on the first notification after the return.
    let mut t = online();
    t.disconnect()
        .accept(2)
        .mark_set()
        .connect(1)
        .deliver(2, false);
    // Every candidate refuses it: without the session the `hello` asked for (SM-4), or with it
    // and the mark set (RING-6).
    caught(t.validate(), t.last(), &["RING-6", "SM-4"]);

    // The fan-out skipped: a `retained` notification acknowledged with Work never woken.
    let mut t = retained_sent();
    t.forwarded(2, true).ack(2);
    caught(t.validate(), t.last(), &["LOCAL-10", "RING-12"]);
}

#[test]
fn a_retained_notification_lost_with_its_session_owes_no_wakes() {
    // 2 is sent with `retained` and the session ends before it arrives: the mail client never
    // sees it. The full ring drops it for 4; 3 carries `retained` again and is handled in
    // full, and the `ack` of 3 covers 2.
    let mut t = retained_sent();
    t.disconnect()
        .accept(3)
        .accept(4)
        .dropped(2)
        .connect(1)
        .deliver(3, true)
        .deliver(4, true)
        .handled(3, true)
        .handled(4, true);
    t.validate().unwrap_or_else(|v| panic!("{v}"));

    // Received (its forward is traced) before the session ended: the fan-out is still owed.
    let mut t = retained_sent();
    t.forwarded(2, true)
        .disconnect()
        .connect(1)
        .deliver(2, true)
        .ack(2);
    caught(t.validate(), t.last(), &["LOCAL-10", "RING-12"]);
}

#[test]
fn a_retained_notification_sent_again_owes_only_the_wakes_it_did_not_make() {
    // 2 is processed (forward and fan-out), its `ack` is lost with the session, and the
    // newer session sends it again: a duplicate, acknowledged without waking anything.
    let mut t = retained_sent();
    t.handled(2, true)
        .disconnect()
        .connect(2)
        .deliver(2, true)
        .ack(2);
    t.validate().unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn a_push_server_restart_is_legal_only_as_a_restart() {
    // The push server dies holding 2, whose acceptance was not durable: no `disconnect` is
    // written, the device connects to the new process, and the id 2 is given again.
    let mut t = online();
    t.accept(2);
    let restart = Restart::new(t.now(), Component::PushServer, None).unwrap();
    t.connect(1).accept(2);
    let given_again = t.last();
    t.deliver(2, false).handled(2, false);
    let summary = t
        .validate_with(vec![restart])
        .unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(summary.restarts, 1);
    // Without the restart the same trace gives an id twice.
    caught(t.validate(), given_again, &["CHAN-15"]);

    // A deliver after the restart on the session the process took with it.
    let mut t = online();
    t.accept(2);
    let restart = Restart::new(t.now(), Component::PushServer, None).unwrap();
    t.deliver(2, false);
    caught(t.validate_with(vec![restart]), t.last(), &["SM-4"]);
}

#[test]
fn a_push_server_restart_keeps_the_checks_that_do_not_depend_on_what_it_lost() {
    let mut t = online();
    let restart = Restart::new(t.now(), Component::PushServer, None).unwrap();
    t.accept(2).accept(3).accept(4).dropped(4);
    caught(t.validate_with(vec![restart]), t.last(), &["RING-2"]);
}

//= spec/properties.md#SM-13
//= type=test
//# So when the mail client starts, it
//# MUST raise the local notification of every registered token
#[test]
fn a_device_restart_owes_no_fan_out_its_start_made() {
    // The mail client is killed between the forward and the fan-out of 2; started again, it
    // wakes every token and holds 2, sent again, for processed.
    let mut t = retained_sent();
    t.forwarded(2, true);
    let restart = Restart::new(
        t.now(),
        Component::MailClient,
        Some(Label::new("D").unwrap()),
    )
    .unwrap();
    t.disconnect().connect(1).deliver(2, true).ack(2);
    t.validate_with(vec![restart])
        .unwrap_or_else(|v| panic!("{v}"));
    caught(t.validate(), t.last(), &["LOCAL-10", "RING-12"]);
}

#[test]
fn restarts_parse_and_name_their_device_exactly_when_on_a_device() {
    let restart: Restart = "1764777600000123:push-server".parse().unwrap();
    assert_eq!(restart.time_us, 1_764_777_600_000_123);
    assert_eq!(restart.component, Component::PushServer);
    assert_eq!(restart.to_string(), "1764777600000123:push-server");
    let restart: Restart = "5:mail-client:d-1a2b3c4d".parse().unwrap();
    // Written as it is read: what a failed chaos run prints to validate its trace again.
    assert_eq!(restart.to_string(), "5:mail-client:d-1a2b3c4d");
    assert_eq!(restart.device.unwrap().as_str(), "d-1a2b3c4d");
    for bad in [
        "5:mail-client",
        "5:push-server:D",
        "x:push-server",
        "5:router",
        "5",
    ] {
        let error = bad.parse::<Restart>().unwrap_err();
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn a_violation_shows_the_model_states_and_the_model_actions_enabled() {
    let mut t = online();
    t.disconnect().accept(2).connect(1).deliver(2, false);
    let violation = caught(t.validate(), t.last(), &["RING-5"]);
    // The candidates are the model's states, the enabled steps the model's own actions.
    assert!(violation.state.starts_with("D: "), "{violation}");
    assert!(
        violation.state.contains("candidate model state"),
        "{violation}"
    );
    assert!(
        violation
            .enabled
            .iter()
            .any(|a| a == "device 1: reconnect with the retained flag"),
        "{violation}"
    );
}

#[test]
fn a_trace_larger_than_the_model_is_refused_with_the_limit() {
    // A device naming more mailboxes than a model state holds.
    let mut t = Trace::default();
    for i in 0..=mailpush_model::config::MAX_MAILBOXES {
        t.push(
            Component::MailClient,
            Record::new(EventKind::Token)
                .mailbox(&format!("M{i}"))
                .token(&format!("t{i}")),
        );
    }
    let violation = t.validate().unwrap_err();
    assert!(violation.problem.contains("at most 4"), "{violation}");

    // A ring larger than the model's.
    let violation = ModelReplay::new(mailpush_model::config::MAX_RING + 1)
        .validate(&online().events)
        .unwrap_err();
    assert!(violation.problem.contains("N = 5"), "{violation}");
}

#[test]
fn budgets_do_not_bound_a_trace() {
    // More disconnects and pushes than any checked configuration's budgets allow.
    let mut t = online();
    for round in 0..20u64 {
        let id = 2 + round;
        t.disconnect().accept(id).mark_set().connect(id - 1);
        t.deliver(id, true).handled(id, true);
    }
    let summary = t.validate().unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(summary.steps["Disconnect"], 20);
}

/// The mail client sends `hello` and dies before the push server writes anything for the
/// device: the session may have been established, and the push server sends on it until it
/// notices the death.
#[test]
fn a_session_established_before_the_mail_client_died_delivers_until_it_ends() {
    let mut t = Trace::default();
    t.registered().connect(0);
    let restart = Restart::new(
        t.now(),
        Component::MailClient,
        Some(Label::new("D").unwrap()),
    );
    t.accept(1).deliver(1, false).disconnect();
    let replay = || ModelReplay::new(N).with_restarts(vec![restart.clone().unwrap()]);
    replay()
        .validate(&t.events)
        .unwrap_or_else(|v| panic!("{v}"));
    // The delivery still needs that session: after a `disconnect` ended it, none is left.
    t.accept(2).mark_set().deliver(2, true);
    caught(replay().validate(&t.events), t.last(), &["SM-4"]);
}

/// [`online`], then a ring of N = 2 full of notifications in flight: 2 and 3 are sent, 4 drops
/// 2 and is sent carrying the mark.
fn full_of_notifications_in_flight() -> Trace {
    let mut t = online();
    t.accept(2)
        .deliver(2, false)
        .accept(3)
        .deliver(3, false)
        .accept(4)
        .dropped(2)
        .mark_set()
        .deliver(4, true);
    t
}

/// [`full_of_notifications_in_flight`], then the mark set with no notify since that carries it:
/// 5 expires as it is accepted (a `TTL` of 0 with the window full), which sets the mark again and
/// changes nothing else, and the `ack` of 2 (already dropped) makes room in the window.
fn full_of_notifications_in_flight_with_the_mark_set() -> Trace {
    let mut t = full_of_notifications_in_flight();
    t.accept(5).expired(5).forwarded(2, false).ack(2);
    t
}

//= spec/device-channel.md#RING-14
//= type=test
//# then, if
//# the notification expires at once ([RING-3](#RING-3)), it sets the mark and does nothing else: it
//# replaces nothing and drops nothing
#[test]
fn a_notification_that_expires_at_once_in_a_full_ring_drops_nothing() {
    let mut t = full_of_notifications_in_flight_with_the_mark_set();
    t.handled(3, false).handled(4, true);
    t.validate().unwrap_or_else(|v| panic!("{v}"));

    // Had 5 been held, the full ring would have dropped 3 for it.
    let mut t = full_of_notifications_in_flight();
    t.accept(5).deliver(5, true);
    caught(t.validate(), t.last(), &["RING-1", "RING-2"]);
}

//= spec/device-channel.md#RING-7
//= type=test
//# When the device's mark is set, a session is established, and the ring
//# holds nothing to send, the server MUST accept a marker notification for the device
#[test]
fn a_marker_that_drops_the_oldest_is_legal_with_its_drop_written_first() {
    // The push server writes the marker's drop of 3 before the marker's `deliver`; the model
    // drops 3 inside its `Deliver` of the marker.
    let mut t = full_of_notifications_in_flight_with_the_mark_set();
    t.dropped(3)
        .marker(6)
        .handled(3, false)
        .handled(4, true)
        .marker_handled(6);
    let summary = t.validate().unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(summary.steps["Deliver"], 5);

    // The newer of the two dropped for the marker.
    let mut t = full_of_notifications_in_flight_with_the_mark_set();
    t.dropped(4);
    caught(t.validate(), t.last(), &["RING-2"]);

    // The drop written, but the push server's next step is not the marker.
    let mut t = full_of_notifications_in_flight_with_the_mark_set();
    t.dropped(3).disconnect();
    caught(t.validate(), t.last(), &["RING-2", "RING-7"]);

    // Nor is the trace over before the marker is sent.
    let mut t = full_of_notifications_in_flight_with_the_mark_set();
    t.dropped(3);
    caught(t.validate(), t.last(), &["RING-2", "RING-7"]);

    // A marker that the mark does not call for: with 4 just sent carrying it, the model sends
    // no marker, so a drop now is no marker's.
    let mut t = full_of_notifications_in_flight();
    t.dropped(3);
    caught(t.validate(), t.last(), &["RING-1", "RING-2"]);
}

/// [`online`], then, with a window of 2, 2 is sent on a connection that no longer reaches the
/// device (the mail client writes nothing of it), 3 fills the window, and 4 drops 2 from the
/// full ring (in flight, still counted by the window) and waits.
fn window_full_of_lost_sends() -> Trace {
    let mut t = online();
    t.accept(2)
        .deliver(2, false)
        .accept(3)
        .deliver(3, false)
        .accept(4)
        .dropped(2)
        .mark_set();
    t
}

//= spec/device-channel.md#CHAN-18
//= type=test
//# a notification that was in flight when
//# a session ended MUST be sent again on the device's next session.
#[test]
fn sends_lost_with_their_connection_fill_the_window_until_the_session_ends() {
    // The session ends; the device's `hello` acknowledges only 1, and 3 and 4 (with the mark)
    // fill the window of the next session.
    let mut t = window_full_of_lost_sends();
    t.disconnect()
        .connect(1)
        .deliver(3, true)
        .deliver(4, true)
        .handled(3, true)
        .handled(4, true);
    t.validate_window(2).unwrap_or_else(|v| panic!("{v}"));

    // Had the device received and acknowledged 2, the window would have room for 4.
    let mut t = window_full_of_lost_sends();
    t.handled(2, false).deliver(4, true);
    t.validate_window(2).unwrap_or_else(|v| panic!("{v}"));
}

//= spec/device-channel.md#CHAN-30
//= type=test
//# A server MUST therefore not
//# send a `notify` while `window` notifications sent on the session are unacknowledged
#[test]
fn a_send_beyond_the_window_is_caught_when_the_sends_before_it_were_lost() {
    // The push server forgets 2 and 3, which no `ack` covers, and sends 4 on the same session.
    let mut t = window_full_of_lost_sends();
    t.deliver(4, true);
    let violation = caught(t.validate_window(2), t.last(), &["CHAN-30", "CHAN-17"]);
    assert!(violation.problem.contains("the window is 2"), "{violation}");

    // A window the model cannot hold is refused with its limit.
    let violation = online().validate_window(1024).unwrap_err();
    assert!(violation.problem.contains("1024"), "{violation}");
    let violation = online().validate_window(0).unwrap_err();
    assert!(violation.problem.contains("window of 0"), "{violation}");
}

#[test]
fn a_marker_from_a_full_ring_must_drop_the_oldest_while_a_lost_send_is_in_flight() {
    // 4 (or 3 and 4) may have been lost with the connection: the model still holds them in
    // flight, so the marker makes its ring hold more than N and drops 3, which the trace does
    // not show.
    let mut t = full_of_notifications_in_flight_with_the_mark_set();
    t.marker(6);
    caught(t.validate(), t.last(), &["RING-2", "RING-7"]);

    // With the drop written, the marker itself lost with its connection is held and sent
    // again, with the same id, on the next session.
    let mut t = full_of_notifications_in_flight_with_the_mark_set();
    t.dropped(3)
        .marker(6)
        .handled(4, true)
        .disconnect()
        .connect(4)
        .marker(6)
        .marker_handled(6);
    t.validate().unwrap_or_else(|v| panic!("{v}"));
}

//= spec/device-channel.md#CHAN-7
//= type=test
//# the server
//# MUST treat it as an acknowledgement of every held notification with an id at or below it
#[test]
fn a_hello_acknowledges_every_notification_received_on_the_ended_session() {
    // 1 is received (its forward is traced) and the session ends before its `ack` is written:
    // the next `hello` acknowledges it, so with N = 1 the push server takes 2 in without a drop.
    let mut t = Trace::default();
    t.registered()
        .connect(0)
        .accept(1)
        .deliver(1, false)
        .forwarded(1, false)
        .disconnect()
        .connect(1)
        .accept(2)
        .deliver(2, false)
        .handled(2, false);
    ModelReplay::new(1)
        .validate(&t.events)
        .unwrap_or_else(|v| panic!("{v}"));

    // With a cursor that does not cover 1, the push server still holds it and the full ring
    // drops it for 2.
    let mut t = Trace::default();
    t.registered()
        .connect(0)
        .accept(1)
        .deliver(1, false)
        .forwarded(1, false)
        .disconnect()
        .connect(0)
        .accept(2)
        .deliver(2, false);
    caught(
        ModelReplay::new(1).validate(&t.events),
        t.last(),
        &["RING-1", "RING-2"],
    );
}
