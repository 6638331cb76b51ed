//! Shared server state: devices with their rings and sessions, metrics, limits. Every device has
//! its own lock, so pushes to different devices never wait on each other.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use mailpush_push_core::{TokenBucket, constant_time_eq, hash_secret};
use mailpush_push_proto::ring::{DeviceRing, Held, Removal, RingEffects, RingMeta};
use mailpush_push_proto::{ReasonCode, Timestamp};
use tokio::sync::{Mutex, mpsc};

use crate::config::Settings;
use crate::store::{DeviceRecord, PendingWrite, Store, StoreError};

/// A command to a session task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionCommand {
    /// New notifications may be sendable.
    Wake,
    /// Close the session with this reason.
    Close(ReasonCode),
}

/// The live session of a device.
#[derive(Debug)]
pub struct SessionHandle {
    /// The connection's id.
    pub connection: u64,
    /// Commands to it.
    pub commands: mpsc::UnboundedSender<SessionCommand>,
}

/// One device as the server holds it.
#[derive(Debug)]
pub struct DeviceEntry {
    /// Its stored record.
    pub record: DeviceRecord,
    /// Its ring.
    pub ring: DeviceRing,
    /// Its session, if one is established.
    pub session: Option<SessionHandle>,
    /// Highest notification id the store is known to hold durably: a change is applied to the
    /// ring before it is durable, and only what the store holds may be sent.
    pub durable_upto: u64,
    /// Counts reloads of the ring from the store, so that of the changes failed by one store
    /// failure only the first reloads.
    generation: u64,
    bucket: TokenBucket,
}

impl DeviceEntry {
    /// Notification `id` (and every earlier one) is durable: it may be sent, so the session
    /// is woken to send it.
    fn mark_durable(&mut self, id: u64) {
        self.durable_upto = self.durable_upto.max(id);
        if let Some(session) = &self.session {
            let _ = session.commands.send(SessionCommand::Wake);
        }
    }
}

/// A ring change queued by [`Hub::submit`], not yet known to be durable.
#[derive(Debug)]
pub struct Submitted {
    pending: PendingWrite,
    generation: u64,
}

/// Counters exposed at `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Notifications answered 201.
    pub accepted: AtomicU64,
    /// Notify frames sent.
    pub delivered: AtomicU64,
    /// Notifications acknowledged.
    pub acked: AtomicU64,
    /// Dropped from full rings.
    pub dropped: AtomicU64,
    /// Expired.
    pub expired: AtomicU64,
    /// Replaced by topic.
    pub replaced: AtomicU64,
    /// Established sessions.
    pub sessions: AtomicU64,
    /// Open device connections.
    pub connections: AtomicU64,
}

/// Failures of hub operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking store task failed.
    #[error("store task failed")]
    Join,
}

/// The shared state.
pub struct Hub {
    /// Configuration.
    pub settings: Settings,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Counters.
    pub metrics: Metrics,
    devices: std::sync::Mutex<HashMap<String, Arc<Mutex<DeviceEntry>>>>,
    connections_per_ip: std::sync::Mutex<HashMap<IpAddr, usize>>,
    next_connection: AtomicU64,
}

/// Runs a store call, off the reactor when the store blocks.
pub async fn with_store<T: Send + 'static>(
    store: &Arc<dyn Store>,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, HubError> {
    if store.is_blocking() {
        let store = Arc::clone(store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|_| HubError::Join)?
            .map_err(HubError::from)
    } else {
        f(store.as_ref()).map_err(HubError::from)
    }
}

impl Hub {
    /// A hub over a store.
    pub fn new(settings: Settings, store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            settings,
            store,
            metrics: Metrics::default(),
            devices: std::sync::Mutex::new(HashMap::new()),
            connections_per_ip: std::sync::Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(1),
        })
    }

    /// A fresh connection id.
    pub fn connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a new connection from `ip`; false when a limit is reached.
    //= spec/device-channel.md#CHAN-28
    //# A server MUST limit the number of concurrent connections from one source IP
    //# address (configurable; 256 by default) and in total.
    pub fn admit_connection(&self, ip: IpAddr) -> bool {
        let Ok(mut per_ip) = self.connections_per_ip.lock() else {
            return false;
        };
        let total =
            usize::try_from(self.metrics.connections.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= self.settings.max_connections_per_ip || total >= self.settings.max_connections
        {
            if *count == 0 {
                per_ip.remove(&ip);
            }
            return false;
        }
        *count += 1;
        self.metrics.connections.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// A connection admitted by [`Hub::admit_connection`] ended.
    pub fn release_connection(&self, ip: IpAddr) {
        if let Ok(mut per_ip) = self.connections_per_ip.lock()
            && let Some(count) = per_ip.get_mut(&ip)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_ip.remove(&ip);
            }
        }
        self.metrics.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// The device with this token, loading it from the store on first use. `None` if it was
    /// never registered.
    pub async fn device(&self, token: &str) -> Result<Option<Arc<Mutex<DeviceEntry>>>, HubError> {
        if let Some(entry) = self.cached(token) {
            return Ok(Some(entry));
        }
        let owned = token.to_owned();
        let loaded = with_store(&self.store, move |store| {
            let Some(record) = store.device(&owned)? else {
                return Ok(None);
            };
            let (meta, held) = store.load_ring(&owned)?;
            Ok(Some((record, meta, held)))
        })
        .await?;
        let Some((record, meta, held)) = loaded else {
            return Ok(None);
        };
        let (ring, effects) = DeviceRing::restore(self.settings.ring_capacity, meta, held);
        if !effects.is_empty() {
            self.persist(token, ring.meta(), effects).await?;
        }
        let durable_upto = ring.meta().last_id;
        let entry = Arc::new(Mutex::new(DeviceEntry {
            record,
            ring,
            session: None,
            durable_upto,
            generation: 0,
            bucket: TokenBucket::full(self.settings.rate_burst, Timestamp(0)),
        }));
        let Ok(mut devices) = self.devices.lock() else {
            return Ok(Some(entry));
        };
        // Another task may have loaded it meanwhile; keep the first so there is one ring.
        Ok(Some(Arc::clone(
            devices.entry(token.to_owned()).or_insert(entry),
        )))
    }

    fn cached(&self, token: &str) -> Option<Arc<Mutex<DeviceEntry>>> {
        self.devices.lock().ok()?.get(token).cloned()
    }

    /// Registers a new device.
    pub async fn register(&self, record: DeviceRecord) -> Result<(), HubError> {
        with_store(&self.store, move |store| store.create_device(&record)).await
    }

    /// Persists one ring change and counts its removals.
    pub async fn persist(
        &self,
        token: &str,
        meta: RingMeta,
        effects: RingEffects,
    ) -> Result<(), HubError> {
        self.count_removals(token, &effects);
        // The writer thread answers through a channel this task awaits: no blocking-pool
        // thread waits on the fsync.
        self.store
            .submit(token, meta, effects)
            .durable()
            .await
            .map_err(HubError::from)
    }

    /// Queues a ring change of a device whose lock the caller holds, without waiting for it
    /// to be durable: the caller releases the lock and then [`Hub::settle`]s it, so that the
    /// changes of one device made while a commit is under way go into the next commit together.
    /// The store applies changes in the order they are queued, and they are queued under the
    /// device's lock, so the store's ring goes through the same states as the one in memory.
    pub fn submit(&self, token: &str, entry: &mut DeviceEntry, effects: RingEffects) -> Submitted {
        self.count_removals(token, &effects);
        Submitted {
            pending: self.store.submit(token, entry.ring.meta(), effects),
            generation: entry.generation,
        }
    }

    /// Settles a change queued by [`Hub::submit`] at once, under the device's lock still held,
    /// when the store already made it durable (a store that writes synchronously): as
    /// [`Hub::settle`] would, without a task and a second round on the lock per change. Gives
    /// the change back when it must be waited for (or failed).
    pub fn settle_now(
        &self,
        entry: &mut DeviceEntry,
        submitted: Submitted,
        accepted: Option<u64>,
    ) -> Result<(), Submitted> {
        if !submitted.pending.is_durable() {
            return Err(submitted);
        }
        if let Some(id) = accepted {
            entry.mark_durable(id);
        }
        Ok(())
    }

    /// Waits until a change queued by [`Hub::submit`] is durable. With `accepted`, the id of the
    /// notification it accepted, that notification (and every earlier one) may then be sent,
    /// and the session is woken to send it. If the change failed, the device's ring is
    /// reloaded from the store, once for all the changes that failed with it: memory then
    /// holds what the store does, and nothing the store does not hold was sent.
    pub async fn settle(
        &self,
        token: &str,
        entry: &Mutex<DeviceEntry>,
        submitted: Submitted,
        accepted: Option<u64>,
    ) -> Result<(), HubError> {
        match submitted.pending.durable().await {
            Ok(()) => {
                if let Some(id) = accepted {
                    entry.lock().await.mark_durable(id);
                }
                Ok(())
            }
            Err(error) => {
                let mut device = entry.lock().await;
                if device.generation == submitted.generation {
                    self.reload_ring(token, &mut device).await?;
                }
                Err(error.into())
            }
        }
    }

    //= spec/device-channel.md#RING-9
    //# The server MUST count dropped, expired and replaced notifications per device
    //# and in total, MUST expose the totals as metrics ([PROV-26](provider-api.md#PROV-26)) and SHOULD
    //# log each drop with the device token.
    fn count_removals(&self, token: &str, effects: &RingEffects) {
        let count = |reason| u64::try_from(effects.count(reason)).unwrap_or(u64::MAX);
        let dropped = count(Removal::Dropped);
        if dropped > 0 {
            tracing::info!(
                device = token,
                dropped,
                "ring full: oldest notifications dropped"
            );
        }
        self.metrics.dropped.fetch_add(dropped, Ordering::Relaxed);
        self.metrics
            .expired
            .fetch_add(count(Removal::Expired), Ordering::Relaxed);
        self.metrics
            .replaced
            .fetch_add(count(Removal::Replaced), Ordering::Relaxed);
        self.metrics
            .acked
            .fetch_add(count(Removal::Acked), Ordering::Relaxed);
    }

    /// Reloads a device's ring from the store after a failed write, so memory never holds what
    /// the store does not.
    pub async fn reload_ring(&self, token: &str, entry: &mut DeviceEntry) -> Result<(), HubError> {
        // Every change of this device queued so far is settled (failed ones abandon those
        // queued after them) before the ring is read; the caller holds the device's lock, so
        // none is queued meanwhile.
        self.store.reset(token).durable().await?;
        entry.generation += 1;
        let owned = token.to_owned();
        let (meta, held): (RingMeta, Vec<Held>) =
            with_store(&self.store, move |store| store.load_ring(&owned)).await?;
        let online = entry.ring.online();
        let (ring, _) = DeviceRing::restore(self.settings.ring_capacity, meta, held);
        entry.durable_upto = ring.meta().last_id;
        entry.ring = ring;
        if online && let Some(session) = entry.session.take() {
            self.metrics.sessions.fetch_sub(1, Ordering::Relaxed);
            let _ = session
                .commands
                .send(SessionCommand::Close(ReasonCode::InternalError));
        }
        Ok(())
    }

    /// Forgets a cached device (after unregistration).
    pub fn forget(&self, token: &str) {
        if let Ok(mut devices) = self.devices.lock() {
            devices.remove(token);
        }
    }
}

impl DeviceEntry {
    /// Applies the per-device push rate.
    pub fn rate_limit(&mut self, settings: &Settings, now: Timestamp) -> Result<(), u64> {
        self.bucket
            .take(settings.rate_per_sec, settings.rate_burst, now)
    }
}
