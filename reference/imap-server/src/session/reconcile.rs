//! Telling the client what changed in the selected mailbox: this session's own changes, other
//! sessions' (delivered by the driver, late, twice or not at all), at each point where the
//! session may speak and at once in IDLE.
//!
//! The session holds the UID of every message number it has told the client about and two
//! mod-sequences: every flag change and new message up to the first, every expunge up to the
//! second, have been told. Reconciling asks the store for `expunged_since` and
//! `changed_since` of those and tells the difference, never a FETCH for a change the session
//! already reported itself. So it is right however the changes reach it; NOOP always looks.

use mailpush_imap::{Data, FetchItem, Vec1};
use mailpush_trace::{EventKind, Record};

use super::output::{imap_uid_set, nz};
use super::{Context, Event, Selected};
use crate::store::{Change, MailBackend, StoreError, Uid};

impl<B: MailBackend> Context<B> {
    /// Publishes this command's changes (for the other sessions and the push notifier) and
    /// notes the mailboxes they touched, so that the selected one is reconciled.
    pub(super) fn changed(&mut self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        for c in &changes {
            if !self.touched.contains(&c.mailbox) {
                self.touched.push(c.mailbox);
            }
            if c.kind.pushes() {
                //= spec/trace.md#TRACE-4
                //# `mailbox-change` carries the mailbox's
                //# HIGHESTMODSEQ
                self.trace.record(|| {
                    Record::new(EventKind::MailboxChange)
                        .mailbox(&c.mailbox_name)
                        .versions(None, Some(c.highest_modseq))
                        .detail(change_name(&c.kind))
                });
            }
        }
        self.events.push_back(Event::Changes(changes));
    }

    /// Tells the client what changed in the selected mailbox since it was last told: expunges
    /// (when allowed), new messages, then flag changes. The selected mailbox being deleted ends
    /// the session with BYE; a store failure leaves it for the next time.
    pub(super) fn reconcile(&mut self, sel: &mut Selected, allow_expunge: bool) {
        let told_max = sel.uids.last().copied().unwrap_or(0);
        // Only HIGHESTMODSEQ: the counts of `mailbox_by_id` would read the whole mailbox after
        // every command.
        let highest_modseq = match self.backend.highest_modseq(sel.id) {
            Ok(m) => m,
            Err(StoreError::NoSuchMailbox(_)) => {
                return self.bye("The selected mailbox was deleted");
            }
            Err(_) => return,
        };
        let mut gone_uids: Vec<Uid> = Vec::new();
        if allow_expunge && highest_modseq > sel.expunge_modseq {
            match self.backend.expunged_since(sel.id, sel.expunge_modseq) {
                Ok(g) => gone_uids = g,
                Err(_) => return,
            }
        }
        let changed = if highest_modseq > sel.flags_modseq {
            match self.backend.changed_since(sel.id, sel.flags_modseq) {
                Ok(c) => c,
                Err(_) => return,
            }
        } else {
            Vec::new()
        };
        // Every UID above the highest told one is a message the client is told about now.
        let arriving: Vec<Uid> = changed
            .iter()
            .filter(|m| m.uid > told_max)
            .map(|m| m.uid)
            .collect();
        let Ok(arriving_recent) = self.recent_among(sel.id, sel.read_only, &arriving) else {
            return;
        };
        let mut out: Vec<Data> = Vec::new();
        // Expunges, highest message number first so that each number is still valid.
        let gone: Vec<Uid> = gone_uids
            .into_iter()
            .filter(|u| sel.uids.binary_search(u).is_ok())
            .collect();
        if !gone.is_empty() {
            if self.qresync {
                if let Some(uids) = imap_uid_set(gone.iter().copied()) {
                    out.push(Data::Vanished {
                        earlier: false,
                        uids,
                    });
                }
            } else {
                for u in gone.iter().rev() {
                    if let Some(seq) = sel.seq_of(*u) {
                        out.push(Data::Expunge(nz(seq)));
                    }
                }
            }
            sel.uids.retain(|u| gone.binary_search(u).is_err());
            sel.recent.retain(|u| gone.binary_search(u).is_err());
        }
        if allow_expunge {
            sel.expunge_modseq = highest_modseq;
        }
        let known_max = sel.uids.last().copied().unwrap_or(0);
        let new: Vec<Uid> = changed
            .iter()
            .filter(|m| m.uid > known_max)
            .map(|m| m.uid)
            .collect();
        if !new.is_empty() {
            sel.uids.extend(new);
            sel.recent.extend(arriving_recent);
            out.push(Data::Exists(
                u32::try_from(sel.uids.len()).unwrap_or(u32::MAX),
            ));
            // RFC 3501 §7.3.2: RECENT comes with a change of the mailbox size.
            out.push(Data::Recent(
                u32::try_from(sel.recent.len()).unwrap_or(u32::MAX),
            ));
        }
        for meta in changed.iter().filter(|m| m.uid <= known_max) {
            if sel.reported.get(&meta.uid) == Some(&meta.modseq) {
                continue;
            }
            let Some(seq) = sel.seq_of(meta.uid) else {
                continue;
            };
            let mut items = vec![
                FetchItem::Uid(nz(meta.uid)),
                FetchItem::Flags(sel.flags_of(meta.uid, &meta.flags)),
            ];
            if self.condstore {
                items.push(FetchItem::ModSeq(meta.modseq));
            }
            if let Ok(items) = Vec1::new(items) {
                out.push(Data::Fetch {
                    seq: nz(seq),
                    items,
                });
            }
        }
        sel.flags_modseq = sel.flags_modseq.max(highest_modseq);
        sel.reported.clear();
        // Expunges held back (FETCH, STORE, SEARCH) are still owed to the client.
        sel.dirty = sel.expunge_modseq < highest_modseq;
        // This command's own changes to the mailbox are told now.
        self.touched.retain(|id| *id != sel.id);
        for d in out {
            self.untagged(d);
        }
    }
}

/// The command family behind a change, for people reading a trace.
fn change_name(kind: &crate::store::ChangeKind) -> &'static str {
    use crate::store::ChangeKind as K;
    match kind {
        K::Appended { .. } => "appended",
        K::FlagsChanged { .. } => "flags changed",
        K::Expunged { .. } => "expunged",
        K::Created => "created",
        K::Deleted => "deleted",
        K::Renamed { .. } => "renamed",
    }
}
