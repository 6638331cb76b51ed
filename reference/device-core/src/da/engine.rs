//! One account's data-access daemon: the mailboxes it monitors, their views, wakes, the retry
//! schedule, and the one IMAP connection it synchronizes on.

use std::collections::{BTreeMap, HashMap, VecDeque};

use mailpush_imap::Mailbox;

use super::config::EngineConfig;
use super::error::{Error, RegistrationError};
use super::link::{Link, Stage};
use super::sync::{Method, Settings, Step, Sync};
use super::view::{MailboxView, MessageContent, ViewUpdate};
use super::write::{OperationId, WriteOutcome, WriteRequest};
use crate::{AccountId, Timestamp, Token, after};

/// What the engine asks of its driver, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Open a connection to the mail server (TCP, and TLS for
    /// [`Security::Implicit`](super::Security::Implicit)); then call
    /// [`Engine::handle_connected`], or [`Engine::handle_disconnected`] if it fails.
    Connect,
    /// Run the TLS handshake on the open connection now (STARTTLS was accepted), then call
    /// [`Engine::handle_tls_established`]. Octets the server sent in plaintext after its `OK`
    /// are discarded.
    StartTls,
    /// Write what [`Engine::poll_transmit`] still has, then close the connection. Do not call
    /// [`Engine::handle_disconnected`] for it.
    Close,
    /// Ask the mail client to register these mailboxes of this account (LOCAL-2) and answer
    /// with [`Engine::handle_registered`] (one token per mailbox), or
    /// [`Engine::handle_registration_failed`].
    Register {
        /// The account.
        account: AccountId,
        /// The mailboxes, spelt as the server listed them (LOCAL-1).
        mailboxes: Vec<Mailbox>,
    },
    /// The DA no longer monitors this mailbox (the server no longer lists it, or it is no longer
    /// configured): delete its view and content, and unregister the token with the mail client
    /// when there is one (LOCAL-6).
    Unmonitored {
        /// The mailbox.
        mailbox: Mailbox,
        /// Its token, if it had one.
        token: Option<Token>,
    },
    /// A `LIST` completed: every mailbox the server listed, monitored or not (an application
    /// asked with [`Engine::request_list`], or the engine listed on its own before
    /// registering). [`Event::Register`] or [`Event::MonitoredMissing`] may follow.
    Listed {
        /// The mailboxes, in the order the server listed them.
        mailboxes: Vec<ListedMailbox>,
    },
    /// Configured mailboxes the server does not list (an application may create them, then
    /// call [`Engine::set_monitored`] to have them listed again).
    MonitoredMissing {
        /// The mailboxes.
        mailboxes: Vec<Mailbox>,
    },
    /// A sync of this mailbox started: its opening command is on its way (SYNC-10: a wake from
    /// now on causes one more sync).
    SyncStarted {
        /// The mailbox.
        mailbox: Mailbox,
        /// The connection's method.
        method: Method,
    },
    /// The content of a message the current sync adds. Store it keyed by mailbox, UIDVALIDITY
    /// and UID; it becomes visible with the [`Event::SyncCompleted`] that adds the UID.
    Content(MessageContent),
    /// A sync completed: commit `update` in one transaction (SYNC-13). Until it is committed
    /// the stored view is the previous one, which is what a restart must find if it is not.
    SyncCompleted {
        /// What changed.
        update: ViewUpdate,
        /// How the sync went.
        report: SyncReport,
    },
    /// A write accepted by [`Engine::handle_write`] completed (SYNC-19). When the mailbox is
    /// monitored, a sync of it follows; the view shows the write once that sync completed.
    WriteCompleted {
        /// The id [`Engine::handle_write`] returned.
        id: OperationId,
        /// The mailbox written.
        mailbox: Mailbox,
        /// What the write did.
        outcome: WriteOutcome,
    },
    /// A write failed (SYNC-19): the server refused it, its UIDs were stale (SYNC-21), or its
    /// connection ended before its completion arrived, in which case it may have been performed.
    /// It is not repeated.
    WriteFailed {
        /// The id [`Engine::handle_write`] returned.
        id: OperationId,
        /// The mailbox written.
        mailbox: Mailbox,
        /// Why.
        error: Error,
    },
    /// A sync failed; the view is unchanged and the mailbox is synchronized again at `retry_at`
    /// (SYNC-12).
    SyncFailed {
        /// The mailbox.
        mailbox: Mailbox,
        /// Why.
        error: Error,
        /// When the next attempt is due.
        retry_at: Timestamp,
    },
    /// A sync found that the mailbox does not exist (`NO [NONEXISTENT]`): the view is unchanged,
    /// the sync is not retried, and the engine lists the mailboxes again (SYNC-23). The mailbox
    /// keeps its token, so the mail client's polls (or a push for its name) bring the sync that
    /// finds it again.
    MailboxGone {
        /// The mailbox.
        mailbox: Mailbox,
    },
    /// The connection failed outside a sync (connect, TLS, greeting, authentication, LIST), or a
    /// reply was malformed or hostile; the next connection is attempted at `retry_at`.
    ConnectionFailed {
        /// Why.
        error: Error,
        /// When the next attempt is due.
        retry_at: Timestamp,
    },
}

/// How a completed sync went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncReport {
    /// The mailbox.
    pub mailbox: Mailbox,
    /// The method the sync used (the plain method when the mailbox answered `NOMODSEQ`).
    pub method: Method,
    /// Round trips, counted as SYNC-8 defines them.
    pub round_trips: u32,
    /// Whether the view was discarded (new or changed UIDVALIDITY).
    pub reset: bool,
    /// Messages added, of which `too_large` without content.
    pub added: usize,
    /// Messages added without content (SYNC-14).
    pub too_large: usize,
    /// Messages removed.
    pub removed: usize,
    /// Messages whose flags or mod-sequence changed.
    pub changed: usize,
    /// Octets received during the sync.
    pub octets_received: u64,
    /// Octets sent during the sync.
    pub octets_sent: u64,
    /// Entries the sync looked at to apply the UID sets and expunges the server sent (messages
    /// of the view and of the sync's own lists, message numbers, ranges): bounded by what the
    /// DA holds and the ranges on the wire, never by how many UIDs a range such as
    /// `1:4294967295` names.
    pub uids_examined: u64,
}

/// One mailbox of a `LIST` response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedMailbox {
    /// The mailbox, spelt as the server listed it.
    pub mailbox: Mailbox,
    /// Its attributes without the backslash (`Noselect`, `HasChildren`, `Drafts`).
    pub attributes: Vec<String>,
    /// Whether it can be opened (neither `\Noselect` nor `\NonExistent`).
    pub selectable: bool,
}

/// What [`Engine::handle_wake`] did with a wake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WakeOutcome {
    /// The token is not one the DA obtained from the mail client: ignored (LOCAL-13).
    Ignored,
    /// The mailbox is marked for a sync (merged with one already pending, if any).
    Scheduled,
    /// A sync of the mailbox is running: one more follows it (SYNC-10).
    AfterCurrentSync,
}

/// Per-mailbox state besides the view.
#[derive(Debug)]
pub(super) struct MailboxState {
    pub(super) view: MailboxView,
    pub(super) token: Option<Token>,
    /// Marked as needing a sync.
    pub(super) dirty: bool,
    /// The order it was marked in, for fairness.
    pub(super) marked: u64,
    pub(super) syncing: bool,
    /// A wake arrived during the running sync.
    pub(super) again: bool,
    pub(super) failures: u32,
    pub(super) failed_at: Option<Timestamp>,
    pub(super) not_before: Option<Timestamp>,
    /// The last `LIST` did not show it (or its sync found it gone): it keeps its token and is
    /// synchronized only when woken, and a sync that finds it again lists again (SYNC-23).
    pub(super) absent: bool,
}

impl MailboxState {
    fn new(view: MailboxView) -> Self {
        MailboxState {
            view,
            token: None,
            dirty: false,
            marked: 0,
            syncing: false,
            again: false,
            failures: 0,
            failed_at: None,
            not_before: None,
            absent: false,
        }
    }
}

/// The data-access daemon of one account, sans-IO: octets, wakes, registrations and the time
/// in; octets, [`Event`]s and a timer deadline out.
///
/// ```text
/// driver                                   engine
///   Event::Connect              <──        wants a connection
///   handle_connected / handle_input  ──>   greeting, STARTTLS, LOGIN/AUTHENTICATE, ENABLE, LIST
///   Event::Register             <──        LOCAL-1: the monitored mailboxes as listed
///   handle_registered(tokens)        ──>   LOCAL-14: every mailbox is synchronized once
///   handle_wake(token)               ──>   LOCAL-11/13: a sync of that mailbox
///   Event::Content, Event::SyncCompleted <── store content, commit the update atomically
/// ```
#[derive(Debug)]
pub struct Engine {
    pub(super) config: EngineConfig,
    pub(super) settings: Settings,
    pub(super) mailboxes: BTreeMap<Mailbox, MailboxState>,
    pub(super) tokens: HashMap<Token, Mailbox>,
    pub(super) link: Link,
    pub(super) events: VecDeque<Event>,
    pub(super) need_list: bool,
    /// Not before then (after the mail client failed to register).
    pub(super) list_at: Option<Timestamp>,
    pub(super) awaiting_registration: Option<Vec<Mailbox>>,
    pub(super) account_failures: u32,
    pub(super) account_failed_at: Option<Timestamp>,
    pub(super) reconnect_at: Option<Timestamp>,
    pub(super) mark_counter: u64,
    /// The latest time a `handle_*` call passed in.
    pub(super) now: Timestamp,
    /// What was still to be written when the engine let the connection go (LOGOUT).
    pub(super) pending_output: Option<Vec<u8>>,
    /// Accepted writes not started yet, in order (SYNC-19).
    pub(super) writes: VecDeque<(OperationId, WriteRequest)>,
    pub(super) next_operation: u64,
}

impl Engine {
    /// An engine for one account, with the views its driver persisted (mailboxes not among the
    /// configured ones are reported [`Event::Unmonitored`] after the first LIST). It starts by
    /// asking for a connection: it lists, registers and synchronizes every monitored mailbox
    /// once (LOCAL-14).
    pub fn new(config: EngineConfig, views: Vec<MailboxView>, now: Timestamp) -> Self {
        let settings = Settings {
            content_limit: config.limits.max_message_octets,
            max_messages: config.limits.max_messages,
            max_command_line: config.limits.max_command_line,
        };
        let mailboxes = views
            .into_iter()
            .map(|v| (v.mailbox.clone(), MailboxState::new(v)))
            .collect();
        let mut engine = Engine {
            config,
            settings,
            mailboxes,
            tokens: HashMap::new(),
            link: Link::Down,
            events: VecDeque::new(),
            //= spec/device-local.md#LOCAL-14
            //# When it starts, the DA MUST register (or register again) every mailbox it monitors
            need_list: true,
            list_at: None,
            awaiting_registration: None,
            account_failures: 0,
            account_failed_at: None,
            reconnect_at: None,
            mark_counter: 0,
            now,
            pending_output: None,
            writes: VecDeque::new(),
            next_operation: 1,
        };
        engine.drive(now);
        engine
    }

    /// The account.
    pub fn account(&self) -> &AccountId {
        &self.config.account
    }

    /// The engine's copy of a mailbox's view (as of the last [`Event::SyncCompleted`]).
    pub fn view(&self, mailbox: &Mailbox) -> Option<&MailboxView> {
        self.mailboxes.get(mailbox).map(|s| &s.view)
    }

    /// The token of a monitored mailbox.
    pub fn token(&self, mailbox: &Mailbox) -> Option<&Token> {
        self.mailboxes.get(mailbox).and_then(|s| s.token.as_ref())
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A wake: the local notification named by `token` was delivered. Every wake of a known
    /// token leads to a sync (LOCAL-11); an unknown token is ignored (LOCAL-13).
    pub fn handle_wake(&mut self, token: &Token, now: Timestamp) -> WakeOutcome {
        self.now = self.now.max(now);
        //= spec/device-local.md#LOCAL-13
        //# A wake for a token the DA did not
        //# obtain from the mail client MUST be ignored
        let Some(mailbox) = self.tokens.get(token).cloned() else {
            return WakeOutcome::Ignored;
        };
        let outcome = self.mark_for_sync(&mailbox);
        let first = self.config.retry.first;
        if let (Some(at), Some(failed)) = (self.reconnect_at, self.account_failed_at) {
            self.reconnect_at = Some(at.min(after(failed, first)));
        }
        self.drive(now);
        outcome
    }

    /// Marks a monitored mailbox for a sync, as a wake does.
    pub(super) fn mark_for_sync(&mut self, mailbox: &Mailbox) -> WakeOutcome {
        let first = self.config.retry.first;
        match self.mailboxes.get_mut(mailbox) {
            None => WakeOutcome::Ignored,
            //= spec/sync.md#SYNC-10
            //# A wake for a mailbox that arrives while that mailbox is being synchronized
            //# MUST cause one more sync of it after the current one ends
            Some(state) if state.syncing => {
                state.again =
                    !mailpush_mutants::active(mailpush_mutants::Mutant::DaDropsWakeDuringSync);
                WakeOutcome::AfterCurrentSync
            }
            Some(state) => {
                //= spec/device-local.md#LOCAL-11
                //# It MAY merge wakes for the same token that arrive while a sync of
                //# that mailbox has not yet started into one sync.
                if !state.dirty {
                    state.dirty = true;
                    self.mark_counter += 1;
                    state.marked = self.mark_counter;
                }
                //= spec/sync.md#SYNC-12
                //# A wake that arrives while a mailbox waits for a retry makes the retry due one
                //# first delay after the failed attempt
                if let (Some(at), Some(failed)) = (state.not_before, state.failed_at) {
                    state.not_before = Some(at.min(after(failed, first)));
                }
                WakeOutcome::Scheduled
            }
        }
    }

    /// The mail client's answer to [`Event::Register`]: one token per mailbox. Every registered
    /// mailbox is then synchronized once (LOCAL-14).
    pub fn handle_registered(
        &mut self,
        tokens: Vec<(Mailbox, Token)>,
        now: Timestamp,
    ) -> Result<(), RegistrationError> {
        self.now = self.now.max(now);
        let Some(requested) = self.awaiting_registration.as_ref() else {
            return Err(RegistrationError::NotRequested);
        };
        let name = |m: &Mailbox| String::from_utf8_lossy(m.as_wire()).into_owned();
        for (m, _) in &tokens {
            if !requested.contains(m) {
                return Err(RegistrationError::Unrequested(name(m)));
            }
        }
        for m in requested {
            if !tokens.iter().any(|(n, _)| n == m) {
                return Err(RegistrationError::MissingToken(name(m)));
            }
        }
        for (i, (_, t)) in tokens.iter().enumerate() {
            if tokens[..i].iter().any(|(_, u)| u == t) {
                return Err(RegistrationError::DuplicateToken(t.to_string()));
            }
        }
        self.awaiting_registration = None;
        for (mailbox, token) in tokens {
            if !self.config.monitored.contains(&mailbox) {
                // Unmonitored while its registration was under way: the mail client gave a
                // token the DA does not keep, so the driver unregisters it (LOCAL-6).
                self.events.push_back(Event::Unmonitored {
                    mailbox,
                    token: Some(token),
                });
                continue;
            }
            let state = self
                .mailboxes
                .entry(mailbox.clone())
                .or_insert_with(|| MailboxState::new(MailboxView::empty(mailbox.clone())));
            if let Some(old) = state.token.replace(token.clone()) {
                self.tokens.remove(&old);
            }
            self.tokens.insert(token, mailbox);
            if state.absent {
                // Synchronized when woken: a sync now would only find it gone again and list
                // again, for ever.
                continue;
            }
            //= spec/device-local.md#LOCAL-14
            //# and then synchronize each of them once before relying on wakes
            if state.syncing {
                state.again = true;
            } else if !state.dirty {
                state.dirty = true;
                self.mark_counter += 1;
                state.marked = self.mark_counter;
            }
        }
        self.drive(now);
        Ok(())
    }

    /// The mail client could not answer [`Event::Register`]: the engine lists and asks again
    /// after a retry delay.
    pub fn handle_registration_failed(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        if self.awaiting_registration.take().is_some() {
            self.need_list = true;
            self.list_at = Some(self.account_failure(now));
        }
        self.drive(now);
    }

    /// The driver could not commit an [`Event::SyncCompleted`]: `view` is what its store holds
    /// for that mailbox. The engine takes it back, drops the connection (a running sync may
    /// build on the update that was lost) and synchronizes the mailbox again.
    pub fn handle_commit_failed(&mut self, view: MailboxView, now: Timestamp) {
        self.now = self.now.max(now);
        let mailbox = view.mailbox.clone();
        if self.link.is_up() {
            self.fail_link(Error::CommitFailed, now);
        }
        if let Some(state) = self.mailboxes.get_mut(&mailbox) {
            state.view = view;
            state.syncing = false;
            self.sync_failed(&mailbox, Error::CommitFailed, now);
        }
        self.drive(now);
    }

    /// Changes the monitored mailboxes; the engine lists and registers again.
    pub fn set_monitored(&mut self, mailboxes: Vec<Mailbox>, now: Timestamp) {
        self.now = self.now.max(now);
        self.config.monitored = mailboxes;
        self.need_list = true;
        self.drive(now);
    }

    /// Stops monitoring one mailbox at once, without listing: [`Event::Unmonitored`] follows
    /// when the engine held it (with its token, for the driver to unregister, LOCAL-6). A sync
    /// of it that is running publishes nothing.
    pub fn unmonitor(&mut self, mailbox: &Mailbox, now: Timestamp) {
        self.now = self.now.max(now);
        self.config.monitored.retain(|m| m != mailbox);
        self.unmonitor_except_monitored();
        self.drive(now);
    }

    /// Lists the account's mailboxes again (connecting if need be); [`Event::Listed`] answers.
    /// The monitored ones are registered again, as after every `LIST` (LOCAL-1).
    pub fn request_list(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        self.need_list = true;
        self.drive(now);
    }

    /// The mailboxes the engine monitors (as configured or set by [`Engine::set_monitored`]).
    pub fn monitored(&self) -> &[Mailbox] {
        &self.config.monitored
    }

    /// When [`Engine::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let work = self.earliest_work();
        let timeout = self.config.response_timeout;
        match &self.link {
            Link::Down => work.map(|w| self.reconnect_at.map_or(w, |r| r.max(w))),
            Link::Connecting { since } => Some(after(*since, timeout)),
            Link::Up(up) if matches!(up.stage, Stage::Ready) => {
                let idle = after(up.idle_since, self.config.idle_disconnect);
                Some(work.map_or(idle, |w| w.min(idle)))
            }
            Link::Up(up) => Some(after(up.last_progress, timeout)),
        }
    }

    /// Time passed: gives up on a silent server, logs out of an unused connection, starts
    /// retries that are due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        let timeout = self.config.response_timeout;
        let expired = match &self.link {
            Link::Down => false,
            Link::Connecting { since } => now >= after(*since, timeout),
            Link::Up(up) if matches!(up.stage, Stage::Ready) => {
                if now >= after(up.idle_since, self.config.idle_disconnect) && !self.has_work(now) {
                    self.logout();
                }
                false
            }
            Link::Up(up) => now >= after(up.last_progress, timeout),
        };
        if expired {
            //= spec/sync.md#SYNC-12
            //# When a sync fails (connection lost, `NO`, `BAD`, timeout) the DA MUST keep the mailbox
            //# marked as needing a sync
            self.fail_link(Error::Timeout(timeout), now);
        }
        self.drive(now);
    }

    /// Whether some mailbox needs a sync now (or the mailboxes must be listed).
    pub(super) fn has_work(&self, now: Timestamp) -> bool {
        self.earliest_work().is_some_and(|w| w <= now.max(self.now))
    }

    /// When the earliest pending piece of work is due (`self.now` when it already is).
    fn earliest_work(&self) -> Option<Timestamp> {
        let list = self
            .need_list
            .then(|| self.list_at.map_or(self.now, |t| t.max(self.now)));
        let syncs = self
            .mailboxes
            .values()
            .filter(|s| s.token.is_some() && s.dirty && !s.syncing)
            .map(|s| s.not_before.map_or(self.now, |t| t.max(self.now)));
        let writes = (!self.writes.is_empty()).then_some(self.now);
        list.into_iter().chain(writes).chain(syncs).min()
    }

    /// Starts whatever can start now.
    pub(super) fn drive(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        match &self.link {
            Link::Down => {
                let allowed = self.reconnect_at.is_none_or(|at| now >= at);
                if allowed && self.has_work(now) {
                    self.events.push_back(Event::Connect);
                    self.link = Link::Connecting { since: now };
                }
            }
            Link::Up(up) if matches!(up.stage, Stage::Ready) => {
                if self.need_list && self.list_at.is_none_or(|t| now >= t) {
                    self.need_list = false;
                    self.list_at = None;
                    self.send_list(now);
                } else if !self.writes.is_empty() {
                    self.start_write(now);
                } else if let Some(mailbox) = self.next_due(now) {
                    self.start_sync(mailbox, now);
                }
            }
            _ => {}
        }
    }

    /// The monitored mailbox to synchronize next: marked, due, and marked first.
    fn next_due(&self, now: Timestamp) -> Option<Mailbox> {
        //= spec/sync.md#SYNC-11
        //# The DA MUST synchronize only mailboxes it monitors, that is, mailboxes
        //# it has registered with the mail client
        self.mailboxes
            .iter()
            .filter(|(_, s)| s.token.is_some() && s.dirty && !s.syncing)
            .filter(|(_, s)| s.not_before.is_none_or(|t| now >= t))
            .min_by_key(|(_, s)| s.marked)
            .map(|(m, _)| m.clone())
    }

    fn start_sync(&mut self, mailbox: Mailbox, now: Timestamp) {
        let Link::Up(up) = &mut self.link else {
            return;
        };
        let Some(state) = self.mailboxes.get_mut(&mailbox) else {
            return;
        };
        //= spec/sync.md#SYNC-17
        //# A sync starts when the DA sends the command that opens the mailbox
        state.dirty = false;
        state.syncing = true;
        state.again = false;
        let method = up.method;
        let (mut sync, commands) = Sync::start(&state.view, method, self.settings);
        for (purpose, body) in commands {
            // Only a closed client refuses, and its close fails the link anyway.
            if let Some(tag) = up.send(body) {
                sync.sent(tag, purpose);
            }
        }
        up.sync_rx = up.client.octets_received();
        up.sync_tx = up.client.octets_sent();
        up.last_progress = now;
        up.stage = Stage::Sync(Box::new(sync));
        self.events
            .push_back(Event::SyncStarted { mailbox, method });
    }

    /// The round trip of the running sync is complete: the next one, or the end.
    pub(super) fn advance_sync(&mut self, mut sync: Box<Sync>, now: Timestamp) {
        let mailbox = sync.mailbox().clone();
        let Some(state) = self.mailboxes.get_mut(&mailbox) else {
            return;
        };
        let Link::Up(up) = &mut self.link else {
            return;
        };
        match sync.advance(&state.view) {
            Step::Send(commands) => {
                for (purpose, body) in commands {
                    if let Some(tag) = up.send(body) {
                        sync.sent(tag, purpose);
                    }
                }
                up.stage = Stage::Sync(sync);
            }
            Step::Done {
                update,
                method,
                too_large,
            } => {
                up.stage = Stage::Ready;
                up.idle_since = now;
                let report = SyncReport {
                    mailbox: mailbox.clone(),
                    method,
                    round_trips: sync.round_trips,
                    reset: update.reset,
                    added: update.added.len(),
                    too_large,
                    removed: update.removed.len(),
                    changed: update.changed.len(),
                    octets_received: up.client.octets_received() - up.sync_rx,
                    octets_sent: up.client.octets_sent() - up.sync_tx,
                    uids_examined: sync.uids_examined,
                };
                state.view.apply(&update);
                state.syncing = false;
                if std::mem::take(&mut state.absent) {
                    //= spec/sync.md#SYNC-23
                    //# when a sync
                    //# of it succeeds again the DA MUST list and register again
                    self.need_list = true;
                }
                state.failures = 0;
                state.failed_at = None;
                state.not_before = None;
                if std::mem::take(&mut state.again) {
                    state.dirty = true;
                    self.mark_counter += 1;
                    state.marked = self.mark_counter;
                }
                self.events
                    .push_back(Event::SyncCompleted { update, report });
            }
            Step::Failed(error) => {
                up.stage = Stage::Ready;
                up.idle_since = now;
                if sync.mailbox_gone() {
                    //= spec/sync.md#SYNC-23
                    //# The DA MUST then end the sync
                    //# without retrying it ([SYNC-12](#SYNC-12)) and leave the view as it was, MUST list the account's
                    //# mailboxes again
                    state.syncing = false;
                    state.absent = true;
                    state.failures = 0;
                    state.failed_at = None;
                    state.not_before = None;
                    if std::mem::take(&mut state.again) {
                        state.dirty = true;
                        self.mark_counter += 1;
                        state.marked = self.mark_counter;
                    }
                    self.need_list = true;
                    self.events.push_back(Event::MailboxGone { mailbox });
                    return;
                }
                if sync.open_refused() {
                    // The mailbox may be gone: listing again lets the DA stop monitoring it.
                    self.need_list = true;
                }
                let broken = matches!(error, Error::Protocol(_));
                self.sync_failed(&mailbox, error, now);
                if broken {
                    // A server that breaks the protocol gets a new connection (SYNC-12).
                    self.link_down_with_close();
                }
            }
        }
    }

    /// A sync of `mailbox` failed: it stays marked and is retried later (SYNC-12).
    pub(super) fn sync_failed(&mut self, mailbox: &Mailbox, error: Error, now: Timestamp) {
        let Some(state) = self.mailboxes.get_mut(mailbox) else {
            return;
        };
        state.syncing = false;
        state.again = false;
        //= spec/sync.md#SYNC-12
        //# MUST retry with an increasing delay until a sync succeeds or the
        //# mailbox stops being monitored
        if !state.dirty {
            state.dirty = true;
            self.mark_counter += 1;
            state.marked = self.mark_counter;
        }
        state.failures = state.failures.saturating_add(1);
        state.failed_at = Some(now);
        let retry_at = after(now, self.config.retry.delay(state.failures));
        state.not_before = Some(retry_at);
        self.events.push_back(Event::SyncFailed {
            mailbox: mailbox.clone(),
            error,
            retry_at,
        });
    }

    /// The connection failed outside a sync: the next one waits.
    pub(super) fn account_failure(&mut self, now: Timestamp) -> Timestamp {
        self.account_failures = self.account_failures.saturating_add(1);
        self.account_failed_at = Some(now);
        let at = after(now, self.config.retry.delay(self.account_failures));
        self.reconnect_at = Some(at);
        at
    }

    /// Forgets the mailboxes no longer among the monitored ones.
    fn unmonitor_except_monitored(&mut self) {
        let keep = std::mem::take(&mut self.config.monitored);
        self.unmonitor_except(&keep);
        self.config.monitored = keep;
    }

    /// The mail client registered: forget mailboxes that are no longer monitored.
    pub(super) fn unmonitor_except(&mut self, keep: &[Mailbox]) {
        let gone: Vec<Mailbox> = self
            .mailboxes
            .keys()
            .filter(|m| !keep.contains(m))
            .cloned()
            .collect();
        for mailbox in gone {
            if let Some(state) = self.mailboxes.remove(&mailbox) {
                if let Some(t) = &state.token {
                    self.tokens.remove(t);
                }
                self.events.push_back(Event::Unmonitored {
                    mailbox,
                    token: state.token,
                });
            }
        }
    }
}
