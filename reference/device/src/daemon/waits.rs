//! Local API requests answered when something the DA does has ended: `sync` (when a sync that
//! started after the request has ended), `list` (when a `LIST` completed), `monitor` (when the
//! mailbox has its token) and `unmonitor` (when its token is unregistered). Which applications
//! wait for what is kept here; the daemon's loop calls the `*_ended` hooks from the engines'
//! events.

use mailpush_device_core::Token;
use mailpush_device_core::bus::Name;
use mailpush_device_core::da::{ListedMailbox, SyncReport};
use mailpush_imap::Mailbox;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{Daemon, display_name, method_name};
use crate::api::{ApiError, Request};
use crate::config::AccountSettings;
use crate::store::{Store, StoreError};

type Reply = oneshot::Sender<Result<Value, ApiError>>;

/// Applications waiting, per kind.
#[derive(Default)]
pub(super) struct Waits {
    /// (account, mailbox, syncs of it started when asked, reply).
    syncs: Vec<(usize, Mailbox, u64, Reply)>,
    lists: Vec<(usize, Reply)>,
    monitors: Vec<(usize, Mailbox, Reply)>,
}

/// What a `sync` answers: `outcome` and the view version, with how the sync went.
fn sync_json(version: u64, ended: Result<&SyncReport, &str>) -> Value {
    match ended {
        Ok(report) => json!({
            "outcome": "ok",
            "view_version": version,
            "method": method_name(report.method),
            "round_trips": report.round_trips,
            "added": report.added,
            "removed": report.removed,
            "changed": report.changed,
            "too_large": report.too_large,
        }),
        Err(error) => json!({"outcome": "error", "error": error, "view_version": version}),
    }
}

fn listed_json(listed: &ListedMailbox, monitored: &[Mailbox], token: Option<&Token>) -> Value {
    json!({
        "mailbox": display_name(&listed.mailbox),
        "attributes": listed.attributes,
        "selectable": listed.selectable,
        "monitored": monitored.contains(&listed.mailbox),
        "token": token.map(Token::as_str),
    })
}

/// The mailboxes an account monitors: its configuration, changed by what applications asked
/// (`monitor`, `unmonitor`; kept in the database so that a restart keeps it).
pub(super) fn effective_mailboxes(
    store: &Store,
    id: &mailpush_device_core::AccountId,
    settings: &AccountSettings,
) -> Result<Vec<String>, StoreError> {
    let mut names = settings.mailboxes.clone();
    for (mailbox, monitored) in store.monitoring(id)? {
        let name = display_name(&mailbox);
        names.retain(|n| Mailbox::from_unicode(n) != mailbox);
        if monitored {
            names.push(name);
        }
    }
    Ok(names)
}

/// What a request waits for, or its answer now.
enum Started {
    Now(Value),
    Sync(usize, Mailbox, u64),
    List(usize),
    Monitor(usize, Mailbox),
}

impl Daemon {
    /// A request whose answer may wait for the DA; `reply` gets the answer when it comes.
    pub(super) fn start_request(&mut self, request: Request, reply: Reply) {
        let started = match request {
            Request::Sync {
                account,
                mailbox,
                wait,
            } => self.start_sync(&account, &mailbox, wait),
            Request::List { account } => self.account_by_name(&account).map(|index| {
                let now = self.clock.now();
                self.accounts[index].engine.request_list(now);
                Started::List(index)
            }),
            Request::Monitor { account, mailbox } => self.start_monitor(&account, &mailbox),
            Request::Unmonitor { account, mailbox } => self.unmonitor(&account, &mailbox),
            request => self.handle_api(request).map(Started::Now),
        };
        match started {
            Ok(Started::Now(value)) => {
                let _ = reply.send(Ok(value));
            }
            Ok(Started::Sync(index, mailbox, asked)) => {
                self.waits.syncs.push((index, mailbox, asked, reply));
            }
            Ok(Started::List(index)) => self.waits.lists.push((index, reply)),
            Ok(Started::Monitor(index, mailbox)) => {
                self.waits.monitors.push((index, mailbox, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    fn start_sync(
        &mut self,
        account: &str,
        mailbox: &str,
        wait: bool,
    ) -> Result<Started, ApiError> {
        let index = self.account_by_name(account)?;
        let wire = self.monitored(index, mailbox)?;
        let token = self.accounts[index]
            .engine
            .token(&wire)
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    "not-registered",
                    format!("{mailbox:?} has no token yet (the DA has not registered it)"),
                )
            })?;
        self.bus.post(&Name::from(&token));
        if !wait {
            return Ok(Started::Now(json!({"posted": true})));
        }
        // A sync running now may have read the mailbox before the request: the answer waits
        // for the next one to start (the wake makes one follow, SYNC-10) and end.
        let started = self.accounts[index]
            .syncs
            .get(&wire)
            .map_or(0, |s| s.started);
        Ok(Started::Sync(index, wire, started))
    }

    fn start_monitor(&mut self, account: &str, mailbox: &str) -> Result<Started, ApiError> {
        let index = self.account_by_name(account)?;
        let wire = Mailbox::from_unicode(mailbox);
        let a = &mut self.accounts[index];
        if let Some(token) = a.engine.token(&wire) {
            return Ok(Started::Now(
                json!({"monitored": true, "token": token.as_str()}),
            ));
        }
        self.store
            .set_monitoring(&a.id, &wire, true)
            .map_err(|e| ApiError::new("internal", e.to_string()))?;
        if !a
            .settings
            .mailboxes
            .iter()
            .any(|m| Mailbox::from_unicode(m) == wire)
        {
            a.settings.mailboxes.push(mailbox.to_owned());
        }
        let mut monitored = a.engine.monitored().to_vec();
        if !monitored.contains(&wire) {
            monitored.push(wire.clone());
        }
        // Listing learns whether the server has the mailbox and registers it (LOCAL-1, LOCAL-2).
        let now = self.clock.now();
        a.engine.set_monitored(monitored, now);
        Ok(Started::Monitor(index, wire))
    }

    fn unmonitor(&mut self, account: &str, mailbox: &str) -> Result<Started, ApiError> {
        let index = self.account_by_name(account)?;
        let wire = Mailbox::from_unicode(mailbox);
        let now = self.clock.now();
        let a = &mut self.accounts[index];
        self.store
            .set_monitoring(&a.id, &wire, false)
            .map_err(|e| ApiError::new("internal", e.to_string()))?;
        a.settings
            .mailboxes
            .retain(|m| Mailbox::from_unicode(m) != wire);
        // The engine reports `Unmonitored` with the token; the loop unregisters it with the
        // mail client, which registers push again without it (LOCAL-6).
        a.engine.unmonitor(&wire, now);
        Ok(Started::Now(json!({"monitored": false})))
    }

    /// A sync of `mailbox` ended: answers the applications waiting for one that started after
    /// they asked.
    pub(super) fn sync_ended(
        &mut self,
        index: usize,
        mailbox: &Mailbox,
        ended: Result<&SyncReport, &str>,
    ) {
        let started = self.accounts[index]
            .syncs
            .get(mailbox)
            .map_or(0, |s| s.started);
        let version = self.store.view_version().unwrap_or(0);
        let (done, waiting) = std::mem::take(&mut self.waits.syncs)
            .into_iter()
            .partition(|(i, m, asked, _)| *i == index && m == mailbox && *asked < started);
        self.waits.syncs = waiting;
        for (_, _, _, reply) in done {
            let _ = reply.send(Ok(sync_json(version, ended)));
        }
    }

    /// The account's connection failed outside a sync: nothing waited for starts soon, so
    /// every application waiting on this account is answered with the error.
    pub(super) fn account_failed(&mut self, index: usize, error: &str) {
        let version = self.store.view_version().unwrap_or(0);
        let syncs = std::mem::take(&mut self.waits.syncs);
        for (i, m, asked, reply) in syncs {
            if i == index {
                let _ = reply.send(Ok(sync_json(version, Err(error))));
            } else {
                self.waits.syncs.push((i, m, asked, reply));
            }
        }
        let failed = |what: &str| ApiError::new("connection-failed", format!("{what}: {error}"));
        let lists = std::mem::take(&mut self.waits.lists);
        for (i, reply) in lists {
            if i == index {
                let _ = reply.send(Err(failed("cannot list")));
            } else {
                self.waits.lists.push((i, reply));
            }
        }
        let monitors = std::mem::take(&mut self.waits.monitors);
        for (i, m, reply) in monitors {
            if i == index {
                let _ = reply.send(Err(failed("cannot register yet; the DA keeps trying")));
            } else {
                self.waits.monitors.push((i, m, reply));
            }
        }
    }

    /// A `LIST` of the account completed.
    pub(super) fn listed(&mut self, index: usize, mailboxes: &[ListedMailbox]) {
        let engine = &self.accounts[index].engine;
        let all: Vec<Value> = mailboxes
            .iter()
            .map(|l| listed_json(l, engine.monitored(), engine.token(&l.mailbox)))
            .collect();
        let (done, waiting) = std::mem::take(&mut self.waits.lists)
            .into_iter()
            .partition(|(i, _)| *i == index);
        self.waits.lists = waiting;
        for (_, reply) in done {
            let _ = reply.send(Ok(json!({
                "account": self.accounts[index].settings.name,
                "mailboxes": all,
            })));
        }
    }

    /// Tokens or missing mailboxes arrived: answers the `monitor` requests they settle.
    pub(super) fn monitoring_settled(&mut self, index: usize, missing: &[Mailbox]) {
        let monitors = std::mem::take(&mut self.waits.monitors);
        for (i, mailbox, reply) in monitors {
            let token = self.accounts[i].engine.token(&mailbox).cloned();
            if i != index {
                self.waits.monitors.push((i, mailbox, reply));
            } else if let Some(token) = token {
                let _ = reply.send(Ok(json!({"monitored": true, "token": token.as_str()})));
            } else if missing.contains(&mailbox) {
                let name = display_name(&mailbox);
                let a = &mut self.accounts[i];
                a.settings.mailboxes.retain(|m| *m != name);
                let _ = self.store.set_monitoring(&a.id, &mailbox, false);
                a.engine.unmonitor(&mailbox, self.clock.now());
                let _ = reply.send(Err(ApiError::new(
                    "unknown-mailbox",
                    format!(
                        "the server does not list {name:?} as a mailbox that can be opened; create it first"
                    ),
                )));
            } else {
                self.waits.monitors.push((i, mailbox, reply));
            }
        }
    }

    /// A mailbox is no longer monitored: applications waiting for its sync are told.
    pub(super) fn mailbox_unmonitored(&mut self, index: usize, mailbox: &Mailbox) {
        let version = self.store.view_version().unwrap_or(0);
        let syncs = std::mem::take(&mut self.waits.syncs);
        for (i, m, asked, reply) in syncs {
            if i == index && m == *mailbox {
                let ended = Err("the mailbox is no longer monitored");
                let _ = reply.send(Ok(sync_json(version, ended)));
            } else {
                self.waits.syncs.push((i, m, asked, reply));
            }
        }
    }
}
