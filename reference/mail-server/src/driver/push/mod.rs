//! The notifier task: store changes in, provider-API requests out (spec/provider-api.md §5).
//!
//! The decisions (debounce, payloads, retries) are the sans-IO [`Notifier`]'s, the requests and
//! answers are `mailpush-provider-api`'s; this task looks up the registrations of each changed
//! mailbox, sends the notifier's requests with hyper-util's pooled client over rustls, and
//! carries out the notifier's events. The client keeps connections alive and speaks HTTP/2 to a
//! service that offers `h2` in ALPN (the mailpush push server does), HTTP/1.1 otherwise; a
//! request that a pooled connection closed before taking is retried on a new one. The push
//! resource template is parsed once, when the client is built, so a wrong push URL stops the
//! server at start. Sessions hand their changes over a bounded queue that never blocks them:
//! when it is full, changes are folded into a set of changed mailboxes that the task drains as
//! soon as it catches up, which loses nothing since the notifier merges changes per
//! registration anyway (PROV-19).

mod client;
mod queue;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mailpush_mail_notify::{
    Change as NotifyChange, ChangeKind as NotifyKind, Event as NotifyEvent, Notifier, Outcome,
    PushService, RegistrationKey, RequestId,
};
use mailpush_mail_store::{Store, UserId};
use mailpush_trace::{EventKind, Label, Record, Tracer};
use tokio::sync::{mpsc, watch};

use super::MailServerError;
pub(crate) use client::HttpClient;
use queue::{Dirty, dirty_of};
pub(crate) use queue::{PushQueue, QueueReceiver};

/// Where and how the mail server pushes.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// Base URL of the push service (`http://` on loopback or `https://`); with no
    /// [`PushSettings::resource_template`], device tokens go to `<base>/v1/push/<token>`.
    pub url: String,
    /// The push resource template (PROV-27): an `http://` or `https://` URL with `{token}`
    /// exactly once in its path, replaced by the device token in lowercase. `None` is
    /// `<url>/v1/push/{token}`, the mailpush push server's resource.
    pub resource_template: Option<String>,
    /// The provider token sent as `Authorization: Bearer` (PROV-2).
    pub provider_token: Option<String>,
    /// PEM certificates trusted for an `https://` push service besides the public certificate
    /// authorities (a private CA, a self-signed certificate).
    pub trust: Option<PathBuf>,
    /// Debounce and retry policy.
    pub notifier: mailpush_mail_notify::Config,
    /// Longest a request may take, connection included.
    pub request_timeout: Duration,
    /// Most idle connections kept open per origin of the push service.
    pub max_idle_per_origin: usize,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    /// Offer HTTP/2 in ALPN to an `https://` push service, besides HTTP/1.1.
    pub http2: bool,
    /// Most change batches waiting for the notifier; beyond, changes are merged per mailbox.
    pub queue_capacity: usize,
}

/// Default of [`PushSettings::queue_capacity`].
pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;

// Every account ID a registration may hold fits a payload (XAPS-7, PROV-8).
const _: () = assert!(
    mailpush_mail_store::MAX_REGISTRATION_FIELD_LEN <= mailpush_provider_api::MAX_ACCOUNT_ID_LEN
);

impl PushSettings {
    /// Push settings for the push server at `url` with the default policy.
    pub fn new(url: &str, provider_token: Option<String>) -> Self {
        PushSettings {
            url: url.to_owned(),
            resource_template: None,
            provider_token,
            trust: None,
            notifier: mailpush_mail_notify::Config::default(),
            request_timeout: Duration::from_secs(10),
            max_idle_per_origin: 4,
            max_in_flight: 256,
            http2: true,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }

    /// The push service that the resource template names, its URL parsed (PROV-27).
    pub(crate) fn service(&self) -> Result<PushService, MailServerError> {
        let template = self
            .resource_template
            .clone()
            .unwrap_or_else(|| PushService::default_template(&self.url));
        PushService::from_template(&template)
            .map_err(|e| MailServerError::Config(format!("push: {e}")))
    }
}

/// The notifier's changes for the registrations of the changed mailboxes.
fn notify_changes(store: &Store, changes: &[Dirty], now: SystemTime) -> Vec<NotifyChange<UserId>> {
    let mut out = Vec::new();
    for (user, mailbox, kind) in changes {
        let targets = match store.push_targets(*user, mailbox, now) {
            Ok(targets) => targets,
            Err(error) => {
                tracing::warn!(%error, "cannot read push registrations");
                continue;
            }
        };
        for target in targets {
            let key = &target.registration.key;
            // The session registers only what the provider API can carry (XAPS-7, XAPS-20).
            let Ok(registration) =
                RegistrationKey::parse(key.user, &key.account_id, &key.device_token)
            else {
                tracing::warn!(registration = ?key, "stored registration cannot be pushed");
                continue;
            };
            let expires_in = target
                .registration
                .expires_at
                .duration_since(now)
                .unwrap_or(Duration::ZERO);
            for spelling in target.spellings {
                out.push(NotifyChange {
                    registration: registration.clone(),
                    mailbox: spelling,
                    kind: *kind,
                    expires_in,
                });
            }
        }
    }
    out
}

fn instant() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Runs the notifier until `stop` turns true.
pub(crate) async fn run_notifier(
    client: HttpClient,
    settings: PushSettings,
    store: Arc<Store>,
    queue: QueueReceiver,
    tracer: Tracer,
    mut stop: watch::Receiver<bool>,
) {
    let QueueReceiver {
        rx: mut changes,
        overflow,
    } = queue;
    let mut notifier = match Notifier::<UserId>::new(settings.notifier.clone()) {
        Ok(notifier) => notifier,
        Err(error) => {
            // `PushSettings::client` validated the policy before the server started.
            tracing::error!(%error, "push notifier not started");
            return;
        }
    };
    let client = Arc::new(client);
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<(RequestId, Outcome)>();
    //= spec/provider-api.md#PROV-36
    //# When it starts, the mail server MUST therefore request a push, as for a new message, for
    //# every registered mailbox of every live registration
    let at_start = {
        let store = Arc::clone(&store);
        let wall = SystemTime::now();
        tokio::task::spawn_blocking(move || {
            let dirty: Vec<Dirty> = match store.registered_mailboxes(wall) {
                Ok(mailboxes) => mailboxes
                    .into_iter()
                    .map(|(user, mailbox)| (user, mailbox, NotifyKind::NewMessage))
                    .collect(),
                Err(error) => {
                    tracing::warn!(%error, "cannot read push registrations at start");
                    Vec::new()
                }
            };
            notify_changes(&store, &dirty, wall)
        })
        .await
    };
    if let Ok(list) = at_start {
        let now = instant();
        for change in list {
            notifier.handle_change(now, change);
        }
    }
    loop {
        while let Some(request) = notifier.poll_request() {
            tracer.emit(|| {
                Record::new(EventKind::PushRequest)
                    .device(&Label::of_device_token(
                        request.registration.device_token.as_str(),
                    ))
                    .mailboxes(request.mailboxes.iter().map(String::as_str))
            });
            let id = request.id;
            let http = request.to_http(&client.service, client.authorization.as_ref());
            let client = Arc::clone(&client);
            let answers = answers_tx.clone();
            tokio::spawn(async move {
                let sent = client.send(http).await;
                let _ = answers.send((id, sent.outcome));
            });
        }
        while let Some(event) = notifier.poll_event() {
            match event {
                //= spec/provider-api.md#PROV-23
                //# On
                //# `404` or `410` it MUST delete every registration of that device token.
                NotifyEvent::DeleteDevice { device_token } => {
                    let store = Arc::clone(&store);
                    let deleted = tokio::task::spawn_blocking(move || {
                        store.delete_device_registrations(device_token.as_str())
                    })
                    .await;
                    match deleted {
                        Ok(Ok(n)) => {
                            tracing::info!(registrations = n, "device gone: registrations deleted")
                        }
                        Ok(Err(error)) => tracing::warn!(%error, "cannot delete registrations"),
                        Err(error) => tracing::warn!(%error, "cannot delete registrations"),
                    }
                }
                other => tracing::info!(event = ?other, "push not delivered"),
            }
        }
        let deadline = notifier.poll_timeout().map(tokio::time::Instant::from_std);
        let dirty: Vec<Dirty> = tokio::select! {
            received = changes.recv() => {
                let Some(list) = received else { return };
                list.iter().flat_map(dirty_of).collect()
            }
            () = overflow.wake.notified() => overflow.drain(),
            Some((id, outcome)) = answers.recv() => {
                notifier.handle_response(instant(), id, outcome);
                continue;
            }
            () = super::sleep_until(deadline) => {
                notifier.handle_timeout(instant());
                continue;
            }
            _ = stop.changed() => return,
        };
        if dirty.is_empty() {
            continue;
        }
        let store = Arc::clone(&store);
        let wall = SystemTime::now();
        let looked_up =
            tokio::task::spawn_blocking(move || notify_changes(&store, &dirty, wall)).await;
        if let Ok(list) = looked_up {
            let now = instant();
            for change in list {
                notifier.handle_change(now, change);
            }
            // An isolated change is due now (PROV-19's leading send): it goes on this turn.
            notifier.handle_timeout(now);
        }
    }
}
