//! The push server's protocol trace (spec/trace.md): what the ring did with a push, what was
//! sent, and when a device's session ended. Every function returns at once when tracing is off.

use mailpush_provider_api::Payload as PushPayload;
use mailpush_push_proto::frame::Payload;
use mailpush_push_proto::ring::{Outgoing, Removal, RingEffects};
use mailpush_trace::{EventKind, Label, Record, Tracer};

fn record(kind: EventKind, token: &str) -> Record {
    Record::new(kind).device(&Label::of_device_token(token))
}

/// The entries of a payload's `m` as the push server sees them (lowercase hexadecimal MD5
/// digests, TRACE-4); a payload not of the shape of PROV-8 names none.
fn digests(payload: &Payload) -> Vec<String> {
    PushPayload::parse(payload.as_bytes())
        .map(|p| p.mailboxes().iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

/// A push was accepted into the ring as `id` (or expired at once), with what that did to the
/// ring and to the mark.
pub(crate) fn accepted(
    tracer: &Tracer,
    token: &str,
    id: u64,
    payload: &Payload,
    expired_at_once: bool,
    effects: &RingEffects,
    mark: (bool, bool),
) {
    tracer.emit(|| {
        record(EventKind::PushAccepted, token)
            .id(id)
            .mailboxes(digests(payload).iter().map(String::as_str))
    });
    if expired_at_once {
        tracer.emit(|| {
            record(EventKind::PushExpired, token)
                .id(id)
                .cite_id("RING-14")
        });
    }
    removals(tracer, token, effects, mark);
}

/// Notifications that left the ring other than by acknowledgement, and the mark if it was set.
pub(crate) fn removals(tracer: &Tracer, token: &str, effects: &RingEffects, mark: (bool, bool)) {
    if !tracer.is_on() {
        return;
    }
    for (id, why) in &effects.removed {
        let kind = match why {
            Removal::Dropped => EventKind::PushDropped,
            Removal::Replaced => EventKind::PushCoalesced,
            Removal::Expired => EventKind::PushExpired,
            Removal::Acked => continue,
        };
        tracer.emit(|| record(kind, token).id(id.get()));
    }
    if !mark.0 && mark.1 {
        tracer.emit(|| record(EventKind::MarkSet, token));
    }
}

/// A `notify` (or a marker) was sent on the device's session.
pub(crate) fn deliver(tracer: &Tracer, token: &str, outgoing: &Outgoing) {
    tracer.emit(|| {
        let record = record(EventKind::Deliver, token)
            .id(outgoing.id.get())
            .retained(outgoing.retained)
            .mailboxes(digests(&outgoing.payload).iter().map(String::as_str));
        let record = if outgoing.retained {
            record.cite_id("RING-6")
        } else {
            record
        };
        if outgoing.payload.as_bytes().is_empty() {
            record.detail("marker").cite_id("RING-7")
        } else {
            record
        }
    });
}

/// The device's session ended.
pub(crate) fn disconnect(tracer: &Tracer, token: &str) {
    tracer.emit(|| record(EventKind::Disconnect, token));
}
