//! An in-memory data-access daemon and mail server, for tests of code that drives the notes
//! application (feature `test-access`). It follows the rules of the real ones: the server
//! gives each appended message the next UID of its mailbox and removes expunged ones, a new
//! or reset mailbox gets a new UIDVALIDITY; the DA's view of a mailbox changes only when it
//! synchronizes it (SYNC-2), only monitored mailboxes are synchronized (SYNC-11), an expunge
//! under another UIDVALIDITY is refused (SYNC-3), and subscribers hear of every view a sync
//! changes. Faults can be injected into any request, once.
//!
//! Handles are cheap clones of shared state: a test keeps one of the [`MemoryServer`] to play
//! other devices and one of the [`MemoryAccess`] to inject faults and read the request log.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::access::{
    Content, MailboxAccess, MailboxView, Uid, UidValidity, ViewChanged, ViewMessage,
};

/// A request to the DA, as the log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Request {
    /// [`MailboxAccess::mailboxes`].
    Mailboxes,
    /// [`MailboxAccess::create_mailbox`].
    Create,
    /// [`MailboxAccess::monitor`].
    Monitor,
    /// [`MailboxAccess::sync`].
    Sync,
    /// [`MailboxAccess::view`].
    View,
    /// [`MailboxAccess::append`].
    Append,
    /// [`MailboxAccess::expunge`].
    Expunge,
    /// [`MailboxAccess::subscribe`].
    Subscribe,
}

/// Why a request to the in-memory DA failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The mailbox does not exist on the server (`NO [TRYCREATE]`, `NO [NONEXISTENT]`).
    #[error("no mailbox {0:?}")]
    NoSuchMailbox(String),
    /// The mailbox is not monitored, so the DA does not synchronize it (SYNC-11).
    #[error("mailbox {0:?} is not monitored")]
    NotMonitored(String),
    /// The UIDs of an expunge belong to another UIDVALIDITY than the mailbox has (SYNC-3).
    #[error("UIDVALIDITY of {0:?} has changed")]
    UidValidityChanged(String),
    /// A fault the test injected.
    #[error("injected fault in {0:?}")]
    Injected(Request),
}

#[derive(Debug, Default)]
struct ServerMailbox {
    uidvalidity: u32,
    uidnext: u32,
    messages: BTreeMap<Uid, (Vec<String>, Vec<u8>)>,
}

#[derive(Debug, Default)]
struct ServerState {
    mailboxes: BTreeMap<String, ServerMailbox>,
    /// The last UIDVALIDITY given, so that each new one differs.
    last_uidvalidity: u32,
}

/// The mail server's mailboxes, shared by every device that uses it.
#[derive(Debug, Clone, Default)]
pub struct MemoryServer(Arc<Mutex<ServerState>>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ServerState {
    fn create(&mut self, name: &str) {
        if !self.mailboxes.contains_key(name) {
            self.last_uidvalidity += 1;
            self.mailboxes.insert(
                name.to_owned(),
                ServerMailbox {
                    uidvalidity: self.last_uidvalidity,
                    uidnext: 1,
                    messages: BTreeMap::new(),
                },
            );
        }
    }

    fn mailbox(&mut self, name: &str) -> Result<&mut ServerMailbox, MemoryError> {
        self.mailboxes
            .get_mut(name)
            .ok_or_else(|| MemoryError::NoSuchMailbox(name.to_owned()))
    }

    fn append(&mut self, name: &str, flags: &[&str], raw: &[u8]) -> Result<Uid, MemoryError> {
        let mailbox = self.mailbox(name)?;
        let uid = Uid::new(mailbox.uidnext).ok_or(MemoryError::NoSuchMailbox(name.to_owned()))?;
        mailbox.uidnext += 1;
        let flags = flags.iter().map(|f| (*f).to_owned()).collect();
        mailbox.messages.insert(uid, (flags, raw.to_vec()));
        Ok(uid)
    }
}

impl MemoryServer {
    /// A server without mailboxes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a mailbox (another client's `CREATE`).
    pub fn create(&self, name: &str) {
        lock(&self.0).create(name);
    }

    /// Appends a message (another client's `APPEND`) and returns its UID.
    pub fn append(&self, name: &str, flags: &[&str], raw: &[u8]) -> Result<Uid, MemoryError> {
        lock(&self.0).append(name, flags, raw)
    }

    /// Removes messages (another client's `EXPUNGE`).
    pub fn expunge(&self, name: &str, uids: &[Uid]) -> Result<(), MemoryError> {
        let mut state = lock(&self.0);
        let mailbox = state.mailbox(name)?;
        for uid in uids {
            mailbox.messages.remove(uid);
        }
        Ok(())
    }

    /// Gives the mailbox a new UIDVALIDITY and every message a new UID, as a server that
    /// rebuilt its index does.
    pub fn reset_uidvalidity(&self, name: &str) -> Result<(), MemoryError> {
        let mut state = lock(&self.0);
        state.last_uidvalidity += 1;
        let validity = state.last_uidvalidity;
        let mailbox = state.mailbox(name)?;
        let messages = std::mem::take(&mut mailbox.messages);
        mailbox.uidvalidity = validity;
        mailbox.uidnext = 1;
        for (_, message) in messages {
            let uid =
                Uid::new(mailbox.uidnext).ok_or(MemoryError::NoSuchMailbox(name.to_owned()))?;
            mailbox.uidnext += 1;
            mailbox.messages.insert(uid, message);
        }
        Ok(())
    }

    /// The messages of a mailbox, by UID.
    pub fn messages(&self, name: &str) -> Vec<(Uid, Vec<String>, Vec<u8>)> {
        lock(&self.0)
            .mailboxes
            .get(name)
            .map(|m| {
                m.messages
                    .iter()
                    .map(|(uid, (flags, raw))| (*uid, flags.clone(), raw.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The names of the mailboxes.
    pub fn mailboxes(&self) -> Vec<String> {
        lock(&self.0).mailboxes.keys().cloned().collect()
    }
}

#[derive(Debug, Default)]
struct DeviceState {
    monitored: BTreeSet<String>,
    views: BTreeMap<String, MailboxView>,
    subscribers: Vec<(String, Sender<ViewChanged>)>,
    faults: BTreeSet<Request>,
    log: Vec<Request>,
    header_only_above: Option<usize>,
}

/// One device's data-access daemon over a [`MemoryServer`].
#[derive(Debug, Clone)]
pub struct MemoryAccess {
    server: MemoryServer,
    device: Arc<Mutex<DeviceState>>,
}

impl MemoryAccess {
    /// A DA on `server` that monitors nothing yet.
    pub fn new(server: &MemoryServer) -> Self {
        MemoryAccess {
            server: server.clone(),
            device: Arc::default(),
        }
    }

    /// Makes the next request of kind `request` fail (once).
    pub fn fail_next(&self, request: Request) {
        lock(&self.device).faults.insert(request);
    }

    /// Has the DA keep only the header of messages larger than `octets`.
    pub fn keep_headers_only_above(&self, octets: usize) {
        lock(&self.device).header_only_above = Some(octets);
    }

    /// Every request made so far, in order.
    pub fn log(&self) -> Vec<Request> {
        lock(&self.device).log.clone()
    }

    /// Records a request and fails it when a fault is armed for it.
    fn request(&self, request: Request) -> Result<MutexGuard<'_, DeviceState>, MemoryError> {
        let mut device = lock(&self.device);
        device.log.push(request);
        if device.faults.remove(&request) {
            return Err(MemoryError::Injected(request));
        }
        Ok(device)
    }
}

/// The announcements made so far to one subscription: the iterator ends when there is none
/// pending (it never blocks, since the same thread makes the changes).
#[derive(Debug)]
pub struct MemoryChanges(Receiver<ViewChanged>);

impl Iterator for MemoryChanges {
    type Item = Result<ViewChanged, MemoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.try_recv().ok().map(Ok)
    }
}

impl MailboxAccess for MemoryAccess {
    type Error = MemoryError;
    type Changes = MemoryChanges;

    fn mailboxes(&mut self) -> Result<Vec<String>, MemoryError> {
        drop(self.request(Request::Mailboxes)?);
        Ok(self.server.mailboxes())
    }

    fn create_mailbox(&mut self, mailbox: &str) -> Result<(), MemoryError> {
        drop(self.request(Request::Create)?);
        self.server.create(mailbox);
        Ok(())
    }

    fn monitor(&mut self, mailbox: &str) -> Result<(), MemoryError> {
        let mut device = self.request(Request::Monitor)?;
        if !self.server.mailboxes().iter().any(|m| m == mailbox) {
            return Err(MemoryError::NoSuchMailbox(mailbox.to_owned()));
        }
        device.monitored.insert(mailbox.to_owned());
        Ok(())
    }

    fn sync(&mut self, mailbox: &str) -> Result<(), MemoryError> {
        let mut device = self.request(Request::Sync)?;
        if !device.monitored.contains(mailbox) {
            return Err(MemoryError::NotMonitored(mailbox.to_owned()));
        }
        let state = lock(&self.server.0);
        let server = state
            .mailboxes
            .get(mailbox)
            .ok_or_else(|| MemoryError::NoSuchMailbox(mailbox.to_owned()))?;
        let limit = device.header_only_above;
        let view = MailboxView {
            uidvalidity: UidValidity::new(server.uidvalidity),
            messages: server
                .messages
                .iter()
                .map(|(uid, (flags, raw))| ViewMessage {
                    uid: *uid,
                    flags: flags.clone(),
                    content: match limit {
                        Some(limit) if raw.len() > limit => Content::HeaderOnly {
                            header: mailpush_message::header::split(raw).0.to_vec(),
                            size: u64::try_from(raw.len()).unwrap_or(u64::MAX),
                        },
                        _ => Content::Full(raw.clone()),
                    },
                })
                .collect(),
        };
        drop(state);
        let changed = device.views.get(mailbox) != Some(&view);
        device.views.insert(mailbox.to_owned(), view);
        if changed {
            device.subscribers.retain(|(name, tx)| {
                name != mailbox
                    || tx
                        .send(ViewChanged {
                            mailbox: mailbox.to_owned(),
                        })
                        .is_ok()
            });
        }
        Ok(())
    }

    fn view(&mut self, mailbox: &str) -> Result<MailboxView, MemoryError> {
        let device = self.request(Request::View)?;
        Ok(device.views.get(mailbox).cloned().unwrap_or_default())
    }

    fn append(
        &mut self,
        mailbox: &str,
        flags: &[&str],
        message: &[u8],
    ) -> Result<Option<Uid>, MemoryError> {
        drop(self.request(Request::Append)?);
        self.server.append(mailbox, flags, message).map(Some)
    }

    fn expunge(
        &mut self,
        mailbox: &str,
        uidvalidity: UidValidity,
        uids: &[Uid],
    ) -> Result<(), MemoryError> {
        drop(self.request(Request::Expunge)?);
        let mut state = lock(&self.server.0);
        let server = state.mailbox(mailbox)?;
        if server.uidvalidity != uidvalidity.get() {
            return Err(MemoryError::UidValidityChanged(mailbox.to_owned()));
        }
        for uid in uids {
            server.messages.remove(uid);
        }
        Ok(())
    }

    fn subscribe(&mut self, mailbox: &str) -> Result<MemoryChanges, MemoryError> {
        let mut device = self.request(Request::Subscribe)?;
        let (tx, rx) = channel();
        device.subscribers.push((mailbox.to_owned(), tx));
        Ok(MemoryChanges(rx))
    }
}
