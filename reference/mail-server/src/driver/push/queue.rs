//! The bounded queue between the sessions and the notifier task, which never makes a session
//! wait.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mailpush_mail_notify::ChangeKind as NotifyKind;
use mailpush_mail_store::{Change, ChangeKind, UserId};
use mailpush_mutants::{Mutant, active};
use tokio::sync::{Notify, mpsc};

/// The sessions' end of the bounded queue to the notifier task.
#[derive(Clone)]
pub(crate) struct PushQueue {
    tx: mpsc::Sender<Vec<Change>>,
    overflow: Arc<Overflow>,
}

/// The notifier task's end of the queue.
pub(crate) struct QueueReceiver {
    pub(super) rx: mpsc::Receiver<Vec<Change>>,
    pub(super) overflow: Arc<Overflow>,
}

/// Changes that did not fit in the queue, merged per mailbox: at most one entry per mailbox
/// of the store, however many changes there were.
#[derive(Default)]
pub(super) struct Overflow {
    dirty: Mutex<BTreeMap<(UserId, String), NotifyKind>>,
    pub(super) wake: Notify,
    /// Change batches merged here rather than queued.
    merged: AtomicU64,
}

/// A change of a mailbox as the notifier sees it.
pub(super) type Dirty = (UserId, String, NotifyKind);

fn push_kind(kind: &ChangeKind) -> Option<NotifyKind> {
    match kind {
        ChangeKind::Appended { .. } => Some(NotifyKind::NewMessage),
        ChangeKind::FlagsChanged { .. } if !active(Mutant::NoPushOnFlagChange) => {
            Some(NotifyKind::Flags)
        }
        ChangeKind::Expunged { .. } if !active(Mutant::NoPushOnExpunge) => {
            Some(NotifyKind::Expunge)
        }
        //= spec/imap-push.md#XAPS-18
        //# When an acknowledged mailbox is deleted or renamed, the server MUST
        //# request a push naming it under the name the registration holds
        ChangeKind::Created | ChangeKind::Deleted | ChangeKind::Renamed { .. } => {
            Some(NotifyKind::Mailbox)
        }
        _ => None,
    }
}

/// The mailboxes a change must be pushed for, as the notifier sees them: a renamed mailbox under
/// its old name and its new one (each pushes only where a registration holds it).
pub(super) fn dirty_of(change: &Change) -> Vec<Dirty> {
    let Some(kind) = push_kind(&change.kind) else {
        return Vec::new();
    };
    change
        .kind
        .pushed_names(&change.mailbox_name)
        .into_iter()
        .map(|name| (change.user, name.to_owned(), kind))
        .collect()
}

impl PushQueue {
    /// A queue holding at most `capacity` batches (at least one).
    pub(crate) fn new(capacity: usize) -> (PushQueue, QueueReceiver) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let overflow = Arc::new(Overflow::default());
        (
            PushQueue {
                tx,
                overflow: Arc::clone(&overflow),
            },
            QueueReceiver { rx, overflow },
        )
    }

    /// Hands `changes` to the notifier without waiting.
    pub(crate) fn send(&self, changes: Vec<Change>) {
        match self.tx.try_send(changes) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(changes)) => self.overflow.absorb(&changes),
            // The notifier is gone only when the server stops.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl Overflow {
    fn absorb(&self, changes: &[Change]) {
        let merged = self.merged.fetch_add(1, Ordering::Relaxed) + 1;
        let mut dirty = self
            .dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if dirty.is_empty() {
            tracing::warn!(
                merged_batches = merged,
                "push queue full: merging changes per mailbox until the notifier catches up"
            );
        }
        for (user, name, kind) in changes.iter().flat_map(dirty_of) {
            let entry = dirty.entry((user, name)).or_insert(kind);
            // A new message makes the push `normal` (PROV-24): keep it over other kinds.
            if kind == NotifyKind::NewMessage {
                *entry = kind;
            }
        }
        drop(dirty);
        self.wake.notify_one();
    }

    pub(super) fn drain(&self) -> Vec<Dirty> {
        let mut dirty = self
            .dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *dirty)
            .into_iter()
            .map(|((user, mailbox), kind)| (user, mailbox, kind))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use mailpush_mail_store::Store;

    use super::*;

    /// A full queue merges changes per mailbox: memory stays bounded by the mailboxes, and once
    /// drained every changed mailbox is there, a new message winning over other kinds.
    #[tokio::test]
    async fn a_full_queue_merges_changes_per_mailbox() {
        let store = Store::open_in_memory(mailpush_mail_store::Config::default()).unwrap();
        let user = store.add_user("fred", b"secret").unwrap();
        let mut batches = Vec::new();
        for name in ["A", "B", "C"] {
            let id = store.create_mailbox(user, name).unwrap().value.id;
            for _ in 0..100 {
                let applied = store
                    .append(
                        id,
                        b"Subject: x\r\n\r\nx\r\n",
                        &mailpush_mail_store::Flags::default(),
                        mailpush_mail_store::InternalDate::utc(1_700_000_000),
                    )
                    .unwrap();
                batches.push(applied.changes);
            }
        }
        let (queue, mut receiver) = PushQueue::new(2);
        for batch in &batches {
            queue.send(batch.clone());
        }
        assert_eq!(receiver.overflow.merged.load(Ordering::Relaxed), 298);
        let dirty = receiver.overflow.drain();
        assert_eq!(
            dirty,
            vec![
                (user, "A".to_owned(), NotifyKind::NewMessage),
                (user, "B".to_owned(), NotifyKind::NewMessage),
                (user, "C".to_owned(), NotifyKind::NewMessage),
            ]
        );
        // The two queued batches are the first two, whole.
        assert_eq!(receiver.rx.recv().await.unwrap(), batches[0]);
        assert_eq!(receiver.rx.recv().await.unwrap(), batches[1]);
        assert!(receiver.rx.try_recv().is_err());
        assert!(receiver.overflow.drain().is_empty());
    }
}
