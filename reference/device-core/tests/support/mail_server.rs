//! The mail server, in process: the real IMAP session core over a real SQLite store in a
//! temporary directory, and its push notifier core for payloads. This is the only module that
//! names the mail-server crates, so that a change of their shape touches one file.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use mailpush_device_core::mail_client::{ConnectionId, Timestamp};
use mailpush_imap_server::{Config, Now, Session};
use mailpush_mail_notify::{Change, ChangeKind, Notifier, RegistrationKey};
use mailpush_mail_store::{Config as StoreConfig, PasswordHashing, Registration, Store, UserId};

use super::ImapServer;

pub struct MailServer {
    pub store: Arc<Store>,
    pub user: UserId,
    config: Config,
    sessions: HashMap<ConnectionId, Session<Arc<Store>>>,
    _dir: tempfile::TempDir,
}

/// The session core's time for a virtual timestamp.
pub fn now(at: Timestamp) -> Now {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    Now {
        instant: base + Duration::from_millis(at.0),
        wall: UNIX_EPOCH + Duration::from_millis(at.0),
    }
}

impl MailServer {
    /// A server with user fred (password `secret`) and these mailboxes besides INBOX.
    pub fn new(mailboxes: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store_config = StoreConfig {
            password_hashing: PasswordHashing::CHEAPEST,
            ..StoreConfig::default()
        };
        let store = Store::open(dir.path().join("mail.db"), store_config).unwrap();
        let user = store.add_user("fred", b"secret").unwrap();
        for name in mailboxes {
            store.create_mailbox(user, name).unwrap();
        }
        Self {
            store: Arc::new(store),
            user,
            config: Config {
                allow_plaintext_auth: true,
                ..Config::default()
            },
            sessions: HashMap::new(),
            _dir: dir,
        }
    }

    pub fn create(&self, name: &str) {
        self.store.create_mailbox(self.user, name).unwrap();
    }

    pub fn delete(&self, name: &str) {
        self.store.delete_mailbox(self.user, name).unwrap();
    }

    /// The live registrations of fred.
    pub fn registrations(&self, at: Timestamp) -> Vec<Registration> {
        self.store.registrations(self.user, now(at).wall).unwrap()
    }

    /// The mailboxes the registration of this account id pushes for.
    pub fn registered(&self, account_id: &str, at: Timestamp) -> Option<Vec<String>> {
        self.registrations(at)
            .into_iter()
            .find(|r| r.key.account_id == account_id)
            .map(|r| r.mailboxes)
    }

    /// The payloads the mail server's notifier sends when `mailbox` gets a new message: the
    /// store's push targets through the real debounce and payload code (PROV-19, PROV-20).
    pub fn payloads_for_change(&self, mailbox: &str, at: Timestamp) -> Vec<(String, Vec<u8>)> {
        let wall = now(at).wall;
        let mut notifier = Notifier::new(mailpush_mail_notify::Config::default()).unwrap();
        let start = now(at).instant;
        for target in self.store.push_targets(self.user, mailbox, wall).unwrap() {
            let key = &target.registration.key;
            for spelling in target.spellings {
                notifier.handle_change(
                    start,
                    Change {
                        registration: RegistrationKey {
                            user: "fred".into(),
                            account_id: key.account_id.clone(),
                            device_token: key.device_token.clone(),
                        },
                        mailbox: spelling,
                        kind: ChangeKind::NewMessage,
                        expires_in: Duration::from_secs(86_400),
                    },
                );
            }
        }
        notifier.handle_timeout(start + Duration::from_secs(10));
        std::iter::from_fn(|| notifier.poll_request())
            .map(|r| (r.registration.device_token, r.payload))
            .collect()
    }
}

impl ImapServer for MailServer {
    fn open(&mut self, conn: ConnectionId, at: Timestamp) -> Vec<u8> {
        let mut session = Session::new(self.store.clone(), self.config.clone(), false, now(at));
        let greeting = session.poll_output().unwrap_or_default();
        self.sessions.insert(conn, session);
        greeting
    }

    fn input(&mut self, conn: ConnectionId, octets: &[u8], at: Timestamp) -> (Vec<u8>, bool) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return (Vec::new(), true);
        };
        session.handle_input(octets, now(at));
        let mut reply = Vec::new();
        while let Some(o) = session.poll_output() {
            reply.extend(o);
        }
        while session.poll_event().is_some() {}
        let closed = session.is_closed();
        if closed {
            self.sessions.remove(&conn);
        }
        (reply, closed)
    }

    fn close(&mut self, conn: ConnectionId) {
        self.sessions.remove(&conn);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
