//! The mail client's records (tokens, serials, the device's credentials, the channel cursor)
//! are stored on a thread of their own, through a second connection to the daemon's database.
//! Each is flushed to disk before the mail client hears that it is stored (LOCAL-18, LOCAL-24),
//! and a flush takes as long as the disk does: on the loop it would hold up the DA's sync that
//! the same notification woke, which needs no flush of its own (SYNC-24).

use std::path::Path;

use mailpush_device_core::mail_client::{PersistBatch, Ticket};
use mailpush_sqlite_writer::{GroupCommit, Queue, WriteError};
use tokio::sync::mpsc;

use crate::store::{self, StoreError};

/// Most batches stored in one commit when several wait.
const MAX_BATCHES_PER_COMMIT: usize = 64;

/// A batch stored, or why it was not.
pub(super) type Stored = (Ticket, Result<(), WriteError<StoreError>>);

/// The thread that stores the mail client's batches, in the order they are given.
pub(super) struct RecordWriter {
    queue: Queue<StoreError>,
    stored: mpsc::UnboundedSender<Stored>,
}

impl RecordWriter {
    /// Starts the thread on the database at `path` (already opened by [`store::Store::open`]);
    /// the receiver hears of every batch once it is durable or failed, in order.
    pub(super) fn start(
        path: &Path,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Stored>), super::DaemonError> {
        let writer = GroupCommit::new(store::record_writer(path)?);
        let queue = Queue::start(writer, "mail-client-records", MAX_BATCHES_PER_COMMIT).map_err(
            |source| super::DaemonError::Io {
                what: "cannot start the thread that stores the mail client's records".to_owned(),
                source,
            },
        )?;
        let (stored, receiver) = mpsc::unbounded_channel();
        Ok((Self { queue, stored }, receiver))
    }

    /// Queues a batch; it is stored whole or not at all.
    pub(super) fn store(&self, batch: PersistBatch) {
        let PersistBatch { ticket, records } = batch;
        let stored = self.stored.clone();
        self.queue.write(
            None,
            move |db| store::apply_records(db, &records),
            move |result| {
                // The loop is gone only when the daemon stops, when nobody waits for this.
                let _ = stored.send((ticket, result));
            },
        );
    }
}
