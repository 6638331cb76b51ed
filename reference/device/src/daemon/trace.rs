//! The device's protocol trace (spec/trace.md): one tracer per component of the device (notes,
//! DA, mail client), all writing to one output in one time order. The mail client core records
//! its own events; the DA's are written here from the engine's events. Each function returns
//! at once when tracing is off.

use mailpush_device_core::da::{SyncReport, ViewUpdate};
use mailpush_imap::Mailbox;
use mailpush_trace::{Component, EventKind, Label, Record, Tracer};

/// The device's tracers.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeviceTracers {
    pub(crate) notes: Tracer,
    pub(crate) da: Tracer,
    pub(crate) mail_client: Tracer,
}

/// A mailbox as traces name it: its name on the IMAP wire.
pub(crate) fn wire_name(mailbox: &Mailbox) -> String {
    String::from_utf8_lossy(mailbox.as_wire()).into_owned()
}

impl DeviceTracers {
    /// The tracers of a device whose configuration asks for `base` (one output, any component).
    pub(crate) fn new(base: &Tracer) -> Self {
        Self {
            notes: base.with_component(Component::Notes),
            da: base.with_component(Component::Da),
            mail_client: base.with_component(Component::MailClient),
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.da.is_on()
    }

    /// Names the device after its device token, unless it was given a label (TRACE-3).
    pub(crate) fn device_token(&self, token: &str) {
        if self.da.is_on() && !self.da.has_device() {
            self.da.set_device(&Label::of_device_token(token));
        }
    }

    /// The DA listed the account's mailboxes and registers the monitored ones it found.
    pub(crate) fn listed_and_registering(&self, mailboxes: &[Mailbox]) {
        if !self.da.is_on() {
            return;
        }
        let names: Vec<String> = mailboxes.iter().map(wire_name).collect();
        self.da.emit(|| {
            Record::new(EventKind::ListMailboxes).mailboxes(names.iter().map(String::as_str))
        });
        for name in &names {
            self.da
                .emit(|| Record::new(EventKind::RegisterMailbox).mailbox(name));
        }
    }

    /// A sync ended and its view is stored: the view's HIGHESTMODSEQ before and after.
    pub(crate) fn synced(
        &self,
        update: &ViewUpdate,
        report: &SyncReport,
        before: Option<u64>,
        method: &str,
    ) {
        self.da.emit(|| {
            let record = Record::new(EventKind::Sync)
                .mailbox(&wire_name(&update.mailbox))
                .versions(before, update.highest_modseq)
                .detail(&format!(
                    "{}, {} round trips, {} added, {} removed, {} changed{}",
                    method,
                    report.round_trips,
                    report.added,
                    report.removed,
                    report.changed,
                    if report.reset { ", view reset" } else { "" }
                ));
            if report.reset {
                record.cite_id("SYNC-3")
            } else {
                record
            }
        });
        if !update.is_empty() {
            self.da
                .emit(|| Record::new(EventKind::NoteUpdate).mailbox(&wire_name(&update.mailbox)));
        }
    }

    /// An application handed a write to the DA through the local API.
    pub(crate) fn note_write(&self, mailbox: &Mailbox, what: &str) {
        self.notes.emit(|| {
            Record::new(EventKind::NoteWrite)
                .mailbox(&wire_name(mailbox))
                .detail(what)
        });
    }

    /// The DA's write reached the mail server (its tagged `OK` arrived).
    pub(crate) fn uploaded(&self, mailbox: &Mailbox, what: &str) {
        self.da.emit(|| {
            Record::new(EventKind::Upload)
                .mailbox(&wire_name(mailbox))
                .detail(what)
        });
    }
}
