//! The daemon's loop: one task owns the mail client, one DA engine per account, the local
//! notification bus and the database, and carries out what the cores ask (sockets through
//! [`crate::net`], writes through [`crate::store`], registrations through
//! [`crate::provider`]); connection tasks, applications and timers feed it events.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use mailpush_device_core::bus::{Bus, BusEvent, Interest, Name, ObserverId};
use mailpush_device_core::da::{self, Engine, EngineConfig, MessageContent, Method, SyncReport};
use mailpush_device_core::imap_client::{self, ImapClientConfig};
use mailpush_device_core::mail_client::{
    self, AccountConfig, MailClient, MailClientConfig, MailboxName, RequestId,
};
use mailpush_device_core::{AccountId, Token};
use mailpush_imap::Mailbox;
use tokio::sync::{broadcast, mpsc, watch};

use crate::api::{self, Request, ViewChange};
use crate::clock::Clock;
use crate::config::{AccountSettings, DeviceConfig, ImapAuth, ImapSecurity};
use crate::net::{self, ConnKey, IoCommand, IoEvent};
use crate::store::{Store, StoreError};

mod answers;
mod records;
mod trace;
mod waits;
mod writes;

/// Why the daemon stopped or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The data directory or the socket could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The database failed; the daemon stops rather than run on state it could not write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The mail client refused its configuration or stored state.
    #[error("mail client: {0}")]
    MailClient(#[from] mail_client::StartError),
    /// An account name is not an account id.
    #[error("account {0:?}: {1}")]
    Account(String, mailpush_device_core::TokenError),
    /// A batch of the mail client's records could not be stored; the daemon stops rather than
    /// acknowledge or hand out what it could not keep (LOCAL-18, LOCAL-24).
    #[error("storing the mail client's records: {0}")]
    Records(mailpush_sqlite_writer::WriteError<StoreError>),
}

/// How many distinct names may be pending for the DA on the bus.
const BUS_MAX_PENDING: usize = 100_000;

/// Most trace records the mail client core holds between two turns of the loop.
const TRACE_BUFFER: usize = 65_536;

/// The longest the daemon waits for its connections to flush at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// One account's DA and what the status reports about it.
struct Account {
    settings: AccountSettings,
    id: AccountId,
    engine: Engine,
    generation: u64,
    /// The engine's current connection.
    conn: Option<mpsc::UnboundedSender<IoCommand>>,
    /// Per mailbox: the last completed sync and the last failure.
    syncs: HashMap<Mailbox, SyncState>,
    connection_error: Option<String>,
    /// Contents the engine handed over and the store has not written yet: written with the
    /// sync's commit when it comes in the same turn, otherwise together at the turn's end.
    contents: Vec<MessageContent>,
}

#[derive(Default)]
struct SyncState {
    last: Option<(u64, SyncReport)>,
    /// Syncs started in this run (a `sync` request waits for a later one to end).
    started: u64,
    syncing: bool,
    error: Option<String>,
}

/// The daemon's state, owned by its loop.
struct Daemon {
    config: DeviceConfig,
    clock: Clock,
    store: Store,
    client: MailClient,
    bus: Bus,
    da_observer: ObserverId,
    accounts: Vec<Account>,
    conns: HashMap<ConnKey, mpsc::UnboundedSender<IoCommand>>,
    io_tx: mpsc::UnboundedSender<IoEvent>,
    registrations: HashMap<RequestId, usize>,
    device_tx: mpsc::UnboundedSender<mail_client::DeviceCredentials>,
    /// A device registration with the provider API is under way.
    registering_device: bool,
    device_error: Option<String>,
    changes: broadcast::Sender<ViewChange>,
    /// Writes accepted and not ended, with where their answers go.
    pending_writes: writes::PendingWrites,
    /// Applications waiting for a sync, a listing or a registration.
    waits: waits::Waits,
    /// The protocol trace of the device's components.
    tracers: trace::DeviceTracers,
    /// What the device channel brought and the bus did with it, since the daemon started.
    counters: Counters,
    /// Stores the mail client's batches, in order, off the loop.
    records: records::RecordWriter,
}

/// Counts of this run, for the status.
#[derive(Debug, Default)]
struct Counters {
    /// Notifications received on the device channel.
    notifications: u64,
    /// Of them, those flagged `retained`.
    retained: u64,
    /// Local notifications posted on the bus (push wakes and scheduled polls).
    posted: u64,
    /// Posts coalesced with one already pending for the DA (LOCAL-9).
    coalesced: u64,
    /// The last notification: its id, `retained`, and how many tokens it woke.
    last: Option<(u64, bool, usize)>,
    /// The last notification flagged `retained`: its id and how many tokens it woke.
    last_retained: Option<(u64, usize)>,
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::QResync => "qresync",
        Method::CondStore => "condstore",
        Method::Plain => "plain",
        _ => "other",
    }
}

/// A mailbox as applications name it: its Unicode name, else its wire name.
pub fn display_name(mailbox: &Mailbox) -> String {
    mailbox
        .to_unicode()
        .unwrap_or_else(|| String::from_utf8_lossy(mailbox.as_wire()).into_owned())
}

/// How an account reaches its mail server: the same for the DA's connection and the mail
/// client's push registrations.
fn imap_client_config(settings: &AccountSettings) -> ImapClientConfig {
    ImapClientConfig::new(
        match settings.security {
            ImapSecurity::Imaps => imap_client::Security::Implicit,
            _ => imap_client::Security::StartTls,
        },
        match settings.auth {
            ImapAuth::Login => imap_client::AuthMechanism::Login,
            _ => imap_client::AuthMechanism::Plain,
        },
        imap_client::Credentials {
            username: settings.user.clone(),
            password: settings.password.clone().into_bytes(),
        },
    )
}

fn engine_config(settings: &AccountSettings, id: &AccountId) -> EngineConfig {
    let imap = imap_client_config(settings);
    let mut config = EngineConfig::new(
        id.clone(),
        imap.credentials,
        settings
            .mailboxes
            .iter()
            .map(|m| Mailbox::from_unicode(m))
            .collect(),
    );
    config.auth = imap.auth;
    config.security = imap.security;
    config
}

fn mail_client_account(settings: &AccountSettings, id: &AccountId) -> AccountConfig {
    AccountConfig {
        id: id.clone(),
        imap: imap_client_config(settings),
        poll_interval: settings.poll_interval,
    }
}

/// Runs the daemon until `shutdown` completes (the mini-redis shape): binds the local API's
/// socket in the data directory, opens the database, starts the cores, and serves.
pub async fn run(
    config: DeviceConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let io = |what: String| move |source| DaemonError::Io { what, source };
    std::fs::create_dir_all(&config.data_dir).map_err(io(format!(
        "cannot create the data directory {}",
        config.data_dir.display()
    )))?;
    let store = Store::open(&config.database_path())?;
    let (records, mut stored_rx) = records::RecordWriter::start(&config.database_path())?;
    let listener = api::bind(&config.socket_path()).map_err(io(format!(
        "cannot listen on {}",
        config.socket_path().display()
    )))?;
    let clock = Clock::new();
    let now = clock.now();
    let mut accounts = Vec::new();
    let mut client_accounts = Vec::new();
    for settings in &config.accounts {
        let id = AccountId::new(settings.name.clone())
            .map_err(|e| DaemonError::Account(settings.name.clone(), e))?;
        if !settings.poll_interval.is_conforming() {
            //= spec/device-local.md#LOCAL-19
            //# a mail client SHOULD log at start
            //# that it runs with one
            tracing::warn!(
                account = %settings.name,
                poll_ms = settings.poll_interval.millis(),
                "testing override of the poll interval: this device does not conform to LOCAL-16"
            );
        }
        client_accounts.push(mail_client_account(settings, &id));
        let mut settings = settings.clone();
        settings.mailboxes = waits::effective_mailboxes(&store, &id, &settings)?;
        let settings = &settings;
        let views = store.views(&id)?;
        let engine = Engine::new(engine_config(settings, &id), views, clock.now());
        accounts.push(Account {
            settings: settings.clone(),
            id,
            engine,
            generation: 0,
            conn: None,
            syncs: HashMap::new(),
            connection_error: None,
            contents: Vec::new(),
        });
    }
    let restored = store.restored()?;
    let has_device = restored.device.is_some();
    let tracers = trace::DeviceTracers::new(&config.trace);
    if let Some(label) = &config.trace_label {
        tracers.da.set_device(label);
    }
    if let Some((credentials, _)) = &restored.device {
        tracers.device_token(credentials.token.as_str());
    }
    let mut client_config = MailClientConfig::new(client_accounts, rand::random());
    client_config.refresh_after_ms = config.registration_renewal_ms;
    let mut client = MailClient::new(client_config, restored, now)?;
    if tracers.is_on() {
        client.set_trace(mailpush_trace::TraceBuffer::on(TRACE_BUFFER));
    }
    let mut bus = Bus::new(BUS_MAX_PENDING);
    let da_observer = bus.add_observer();
    bus.subscribe(da_observer, Interest::All);
    let (io_tx, mut io_rx) = mpsc::unbounded_channel();
    let (device_tx, mut device_rx) = mpsc::unbounded_channel();
    let (api_tx, mut api_rx) = mpsc::channel(64);
    let (changes, _) = broadcast::channel(1024);
    let (stop_tx, stop_rx) = watch::channel(false);
    let api_task = tokio::spawn(api::run_listener(
        listener,
        api_tx,
        changes.clone(),
        stop_rx,
    ));
    let mut daemon = Daemon {
        config,
        clock,
        store,
        client,
        bus,
        da_observer,
        accounts,
        conns: HashMap::new(),
        io_tx,
        registrations: HashMap::new(),
        device_tx,
        registering_device: false,
        device_error: None,
        changes,
        pending_writes: writes::PendingWrites::new(),
        records,
        waits: waits::Waits::default(),
        tracers,
        counters: Counters::default(),
    };
    tracing::info!(
        socket = %daemon.config.socket_path().display(),
        accounts = daemon.accounts.len(),
        push = daemon.config.push.is_some(),
        "device daemon running"
    );
    if !has_device {
        daemon.register_device(Duration::ZERO);
    }
    tokio::pin!(shutdown);
    let result = loop {
        if let Err(e) = daemon.settle() {
            break Err(e);
        }
        let deadline = daemon.clock.deadline(daemon.next_timer());
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            Some(event) = io_rx.recv() => daemon.handle_io(event),
            Some((ticket, stored)) = stored_rx.recv() => match stored {
                Ok(()) => {
                    let now = daemon.clock.now();
                    daemon.client.handle_persisted(ticket, now);
                }
                Err(error) => break Err(DaemonError::Records(error)),
            },
            Some(call) = api_rx.recv() => match call.request {
                Request::Write { account, write } => daemon.start_write(&account, write, call.reply),
                request => daemon.start_request(request, call.reply),
            },
            Some(credentials) = device_rx.recv() => {
                daemon.registering_device = false;
                daemon.device_error = None;
                tracing::info!("the push server registered this device");
                daemon.tracers.device_token(credentials.token.as_str());
                let now = daemon.clock.now();
                daemon.client.handle_device_credentials(credentials, now);
            }
            _ = tokio::time::sleep_until(deadline) => daemon.handle_timeouts(),
        }
    };
    // Stop: the mail client says goodbye (a `close` frame, `LOGOUT`), then connections close.
    let now = daemon.clock.now();
    daemon.client.shutdown(now);
    let _ = daemon.settle();
    for (_, conn) in daemon.conns.drain() {
        let _ = conn.send(IoCommand::Close);
    }
    for account in &mut daemon.accounts {
        if let Some(conn) = account.conn.take() {
            let _ = conn.send(IoCommand::Close);
        }
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, api_task).await;
    let _ = std::fs::remove_file(daemon.config.socket_path());
    tracing::info!("device daemon stopped");
    result
}

impl Daemon {
    /// The earliest timer of every core.
    fn next_timer(&self) -> Option<mail_client::Timestamp> {
        let engines = self.accounts.iter().filter_map(|a| a.engine.poll_timeout());
        self.client.poll_timeout().into_iter().chain(engines).min()
    }

    fn handle_timeouts(&mut self) {
        let now = self.clock.now();
        if self.client.poll_timeout().is_some_and(|at| at <= now) {
            self.client.handle_timeout(now);
        }
        for account in &mut self.accounts {
            if account.engine.poll_timeout().is_some_and(|at| at <= now) {
                account.engine.handle_timeout(now);
            }
        }
    }

    /// Registers the device with the push server after `delay`, and again with a growing delay
    /// while it fails (LOCAL-26, PROV-15).
    fn register_device(&mut self, delay: Duration) {
        let Some(push) = self.config.push.clone() else {
            return;
        };
        if self.registering_device {
            return;
        }
        self.registering_device = true;
        let tx = self.device_tx.clone();
        tokio::spawn(async move {
            let mut delay = delay;
            loop {
                tokio::time::sleep(delay).await;
                match crate::provider::register_device(&push).await {
                    Ok(credentials) => {
                        let _ = tx.send(credentials);
                        return;
                    }
                    Err(error) => {
                        delay = (delay * 2).clamp(Duration::from_secs(5), Duration::from_secs(300));
                        tracing::warn!(%error, retry_in = ?delay, "device registration failed");
                    }
                }
            }
        });
    }

    fn send(&self, key: ConnKey, command: IoCommand) {
        if let Some(conn) = self.conns.get(&key) {
            let _ = conn.send(command);
        }
    }

    fn handle_io(&mut self, event: IoEvent) {
        let now = self.clock.now();
        let instant = now;
        match event {
            IoEvent::Connected(key) => match key {
                ConnKey::Da {
                    account,
                    generation,
                } => {
                    if let Some(a) = self.da(account, generation) {
                        a.engine.handle_connected(instant);
                    }
                }
                ConnKey::Imap(conn) => self.client.handle_imap_connected(conn, now),
                ConnKey::Channel(conn) => self.client.handle_channel_connected(conn, now),
            },
            IoEvent::TlsEstablished(key) => match key {
                ConnKey::Da {
                    account,
                    generation,
                } => {
                    if let Some(a) = self.da(account, generation) {
                        a.engine.handle_tls_established(instant);
                    }
                }
                ConnKey::Imap(conn) => self.client.handle_imap_tls_established(conn, now),
                ConnKey::Channel(_) => {}
            },
            IoEvent::Input(key, octets) => match key {
                ConnKey::Da {
                    account,
                    generation,
                } => {
                    if let Some(a) = self.da(account, generation) {
                        a.engine.handle_input(&octets, instant);
                    }
                }
                ConnKey::Imap(conn) => self.client.handle_imap_input(conn, &octets, now),
                ConnKey::Channel(conn) => self.client.handle_channel_input(conn, &octets, now),
            },
            IoEvent::Closed(key, why) => {
                tracing::debug!(?key, %why, "connection closed");
                match key {
                    ConnKey::Da {
                        account,
                        generation,
                    } => {
                        if let Some(a) = self.da(account, generation) {
                            a.conn = None;
                            a.connection_error = Some(why);
                            a.engine.handle_disconnected(instant);
                        }
                    }
                    ConnKey::Imap(conn) => {
                        self.conns.remove(&key);
                        self.client.handle_imap_closed(conn, now);
                    }
                    ConnKey::Channel(conn) => {
                        self.conns.remove(&key);
                        self.client.handle_channel_closed(conn, now);
                    }
                }
            }
        }
    }

    /// The account of a DA connection event, if the connection is still its current one.
    fn da(&mut self, account: usize, generation: u64) -> Option<&mut Account> {
        self.accounts
            .get_mut(account)
            .filter(|a| a.generation == generation && a.conn.is_some())
    }

    /// Carries out what the cores ask until none of them has anything more.
    ///
    /// The mail client's batches go to the record writer's thread, which flushes them to disk
    /// (LOCAL-18, LOCAL-24) while this loop goes on: the DA's sync that a notification wakes is
    /// on its way to the mail server, and committed, while the notification's cursor is being
    /// flushed. Nothing waits for them in between: the mail client holds back whatever depends
    /// on a batch (a token, an acknowledgement) until `handle_persisted`.
    fn settle(&mut self) -> Result<(), DaemonError> {
        loop {
            let mut progress = self.mail_client_events()?;
            for index in 0..self.accounts.len() {
                progress |= self.engine_events(index)?;
            }
            progress |= self.bus_deliveries();
            if !progress {
                return Ok(());
            }
        }
    }

    fn mail_client_events(&mut self) -> Result<bool, DaemonError> {
        let mut progress = false;
        // What the mail client did goes into the trace before anything the driver does with it.
        self.tracers.mail_client.drain(self.client.trace_buffer());
        while let Some(event) = self.client.poll_event() {
            progress = true;
            let now = self.clock.now();
            match event {
                mail_client::Event::Persist(batch) => self.records.store(batch),
                mail_client::Event::Registered { request, tokens } => {
                    let Some(index) = self.registrations.remove(&request) else {
                        continue;
                    };
                    let tokens: Vec<(Mailbox, Token)> = tokens
                        .into_iter()
                        .map(|(name, token)| (Mailbox::from_wire(name.as_bytes().to_vec()), token))
                        .collect();
                    let account = &mut self.accounts[index];
                    if let Err(error) = account.engine.handle_registered(tokens, self.clock.now()) {
                        tracing::error!(account = %account.settings.name, %error, "registration answer refused");
                    }
                    self.monitoring_settled(index, &[]);
                }
                mail_client::Event::Wake(token) => self.bus.post(&Name::from(&token)),
                //= spec/architecture.md#ARCH-4
                //# The mail client MAY register push on an IMAP connection other than the
                //# ones the DA synchronizes on
                mail_client::Event::ImapConnect { account, conn } => {
                    let Some(settings) = self.accounts.iter().find(|a| a.id == account) else {
                        self.client.handle_imap_closed(conn, now);
                        continue;
                    };
                    let tls_first = settings.settings.security == ImapSecurity::Imaps;
                    let tx = net::spawn(
                        ConnKey::Imap(conn),
                        settings.settings.imap.clone(),
                        tls_first,
                        self.io_tx.clone(),
                    );
                    self.conns.insert(ConnKey::Imap(conn), tx);
                }
                mail_client::Event::ImapTransmit { conn, octets } => {
                    self.send(ConnKey::Imap(conn), IoCommand::Write(octets));
                }
                mail_client::Event::ImapStartTls { conn } => {
                    self.send(ConnKey::Imap(conn), IoCommand::StartTls);
                }
                mail_client::Event::ImapClose { conn } => {
                    self.send(ConnKey::Imap(conn), IoCommand::Close);
                    self.conns.remove(&ConnKey::Imap(conn));
                }
                mail_client::Event::ChannelConnect { conn } => {
                    let Some(push) = &self.config.push else {
                        self.client.handle_channel_closed(conn, now);
                        continue;
                    };
                    let tx = net::spawn(
                        ConnKey::Channel(conn),
                        push.channel.clone(),
                        true,
                        self.io_tx.clone(),
                    );
                    self.conns.insert(ConnKey::Channel(conn), tx);
                }
                mail_client::Event::ChannelTransmit { conn, octets } => {
                    self.send(ConnKey::Channel(conn), IoCommand::Write(octets));
                }
                mail_client::Event::ChannelClose { conn } => {
                    self.send(ConnKey::Channel(conn), IoCommand::Close);
                    self.conns.remove(&ConnKey::Channel(conn));
                }
                mail_client::Event::Push { account, status } => {
                    tracing::info!(%account, ?status, "push registration");
                }
                mail_client::Event::Channel(status) => {
                    tracing::info!(?status, "device channel");
                }
                mail_client::Event::Notification {
                    id,
                    retained,
                    forwarding,
                    woken,
                } => {
                    self.counters.notifications += 1;
                    self.counters.retained += u64::from(retained);
                    self.counters.last = Some((id, retained, woken.len()));
                    if retained {
                        self.counters.last_retained = Some((id, woken.len()));
                    }
                    tracing::info!(
                        id,
                        retained,
                        ?forwarding,
                        woken = woken.len(),
                        "notification"
                    );
                }
                mail_client::Event::DeviceRefused(refusal) => {
                    //= spec/device-local.md#LOCAL-26
                    //# it MUST report the refusal and SHOULD register the device
                    //# again
                    tracing::warn!(
                        ?refusal,
                        "the push server refused the device; registering again"
                    );
                    self.device_error = Some(format!("{refusal:?}"));
                    self.register_device(Duration::from_secs(1));
                }
                other => tracing::debug!(?other, "mail client event"),
            }
        }
        Ok(progress)
    }

    fn engine_events(&mut self, index: usize) -> Result<bool, DaemonError> {
        let mut progress = false;
        loop {
            self.flush_da(index);
            let Some(event) = self.accounts[index].engine.poll_event() else {
                let account = &mut self.accounts[index];
                self.store.put_contents(&account.id, &account.contents)?;
                account.contents.clear();
                return Ok(progress);
            };
            progress = true;
            let now_ms = self.clock.now();
            let instant = self.clock.now();
            let account = &mut self.accounts[index];
            match event {
                da::Event::Connect => {
                    account.generation += 1;
                    let key = ConnKey::Da {
                        account: index,
                        generation: account.generation,
                    };
                    let tls_first = account.settings.security == ImapSecurity::Imaps;
                    account.conn = Some(net::spawn(
                        key,
                        account.settings.imap.clone(),
                        tls_first,
                        self.io_tx.clone(),
                    ));
                }
                da::Event::StartTls => {
                    if let Some(conn) = &account.conn {
                        let _ = conn.send(IoCommand::StartTls);
                    }
                }
                da::Event::Close => {
                    if let Some(conn) = account.conn.take() {
                        while let Some(octets) = account.engine.poll_transmit() {
                            let _ = conn.send(IoCommand::Write(octets));
                        }
                        let _ = conn.send(IoCommand::Close);
                    }
                }
                da::Event::Register {
                    account: id,
                    mailboxes,
                } => {
                    self.tracers.listed_and_registering(&mailboxes);
                    let names: Result<Vec<MailboxName>, _> = mailboxes
                        .iter()
                        .map(|m| MailboxName::new(m.as_wire().to_vec()))
                        .collect();
                    let request = names.map_err(|e| e.to_string()).and_then(|n| {
                        self.client
                            .register(&id, &n, now_ms)
                            .map_err(|e| e.to_string())
                    });
                    match request {
                        Ok(request) => {
                            self.registrations.insert(request, index);
                        }
                        Err(error) => {
                            tracing::error!(account = %id, %error, "the mail client refused a registration");
                            account.engine.handle_registration_failed(instant);
                        }
                    }
                }
                da::Event::Unmonitored { mailbox, token } => {
                    self.store.delete_mailbox(&account.id, &mailbox)?;
                    account.syncs.remove(&mailbox);
                    if let Some(token) = token {
                        self.client.unregister(&[token], now_ms);
                    }
                    self.mailbox_unmonitored(index, &mailbox);
                }
                da::Event::MonitoredMissing { mailboxes } => {
                    let names: Vec<String> = mailboxes.iter().map(display_name).collect();
                    tracing::warn!(account = %account.settings.name, ?names, "configured mailboxes the server does not list");
                    self.monitoring_settled(index, &mailboxes);
                }
                da::Event::Listed { mailboxes } => self.listed(index, &mailboxes),
                da::Event::SyncStarted { mailbox, method } => {
                    tracing::debug!(account = %account.settings.name, mailbox = %display_name(&mailbox), method = method_name(method), "sync started");
                    let state = account.syncs.entry(mailbox).or_default();
                    state.syncing = true;
                    state.started += 1;
                }
                da::Event::Content(content) => account.contents.push(content),
                da::Event::SyncCompleted { update, report } => {
                    let before = if self.tracers.is_on() {
                        self.store
                            .highest_modseq(&account.id, &update.mailbox)
                            .ok()
                            .flatten()
                    } else {
                        None
                    };
                    let contents = std::mem::take(&mut account.contents);
                    match self.store.commit(&account.id, &contents, &update, now_ms.0) {
                        Ok(()) => {}
                        Err(error) => {
                            tracing::error!(%error, "cannot commit a sync");
                            let stored = self.store.view(&account.id, &update.mailbox)?;
                            account.engine.handle_commit_failed(stored, instant);
                            return Err(error.into());
                        }
                    }
                    tracing::info!(
                        account = %account.settings.name,
                        mailbox = %display_name(&update.mailbox),
                        method = method_name(report.method),
                        round_trips = report.round_trips,
                        added = report.added,
                        removed = report.removed,
                        changed = report.changed,
                        "sync completed"
                    );
                    self.tracers
                        .synced(&update, &report, before, method_name(report.method));
                    let change = ViewChange {
                        account: account.settings.name.clone(),
                        mailbox: display_name(&update.mailbox),
                        uid_validity: update.uid_validity.get(),
                        reset: update.reset,
                        added: update.added.iter().map(|a| a.uid.get()).collect(),
                        removed: update.removed.iter().map(|u| u.get()).collect(),
                        changed: update.changed.iter().map(|(u, _)| u.get()).collect(),
                        view_version: self.store.view_version()?,
                    };
                    let state = account.syncs.entry(update.mailbox.clone()).or_default();
                    state.syncing = false;
                    state.error = None;
                    state.last = Some((now_ms.0, report.clone()));
                    account.connection_error = None;
                    if !update.is_empty() {
                        let _ = self.changes.send(change);
                    }
                    self.sync_ended(index, &update.mailbox, Ok(&report));
                }
                da::Event::SyncFailed { mailbox, error, .. } => {
                    tracing::warn!(account = %account.settings.name, mailbox = %display_name(&mailbox), %error, "sync failed");
                    let state = account.syncs.entry(mailbox.clone()).or_default();
                    state.syncing = false;
                    state.error = Some(error.to_string());
                    self.sync_ended(index, &mailbox, Err(&error.to_string()));
                }
                da::Event::MailboxGone { mailbox } => {
                    tracing::warn!(account = %account.settings.name, mailbox = %display_name(&mailbox), "the mailbox does not exist: listing again");
                    let state = account.syncs.entry(mailbox.clone()).or_default();
                    state.syncing = false;
                    state.error = Some("the mailbox does not exist".to_owned());
                    self.sync_ended(index, &mailbox, Err("the mailbox does not exist"));
                }
                da::Event::ConnectionFailed { error, .. } => {
                    tracing::warn!(account = %account.settings.name, %error, "IMAP connection failed");
                    account.conn = None;
                    account.connection_error = Some(error.to_string());
                    self.account_failed(index, &error.to_string());
                }
                event @ (da::Event::WriteCompleted { .. } | da::Event::WriteFailed { .. }) => {
                    self.write_ended(index, &event);
                }
                other => tracing::debug!(?other, "DA event"),
            }
        }
    }

    /// Writes what the engine has to send on its connection.
    fn flush_da(&mut self, index: usize) {
        let account = &mut self.accounts[index];
        while let Some(octets) = account.engine.poll_transmit() {
            if let Some(conn) = &account.conn {
                let _ = conn.send(IoCommand::Write(octets));
            }
        }
    }

    /// Hands the DA its pending local notifications: each wakes the engine that owns the token.
    fn bus_deliveries(&mut self) -> bool {
        let mut progress = false;
        while let Some(event) = self.bus.poll_event() {
            match event {
                BusEvent::Posted {
                    name, coalesced, ..
                } => {
                    self.counters.posted += 1;
                    self.counters.coalesced += u64::from(!coalesced.is_empty());
                    tracing::debug!(%name, "local notification posted")
                }
                other => tracing::trace!(?other, "bus"),
            }
        }
        while let Some(name) = self.bus.poll_delivery(self.da_observer) {
            progress = true;
            let Ok(token) = Token::new(name.as_str()) else {
                continue;
            };
            let instant = self.clock.now();
            //= spec/device-local.md#LOCAL-11
            //# The DA MUST treat every wake as a command to synchronize the
            //# mailbox of that token
            let outcome = self
                .accounts
                .iter_mut()
                .map(|a| a.engine.handle_wake(&token, instant))
                .find(|o| *o != da::WakeOutcome::Ignored);
            tracing::debug!(%name, ?outcome, "wake delivered to the DA");
        }
        progress
    }
}
