//! Push registration of one account: the mail client's own IMAP connection to the account's
//! mail server, carrying `XAPPLEPUSHSERVICE` (`spec/imap-push.md`, LOCAL-4, LOCAL-20..23).
//!
//! A registration is made on a connection opened for it: greeting, authentication, the
//! capabilities listed after authentication, then one `XAPPLEPUSHSERVICE` naming every
//! monitored mailbox. If the set changed while the request was outstanding, the next request
//! follows on the same connection once the reply is in; otherwise the connection logs out.
//! Every connection used for push therefore registers (XAPS-16).

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use mailpush_imap::xaps::XapsRequest;
use mailpush_imap::{CommandBody, Data, IString, StatusKind, Tag, XapsResponse};
use mailpush_push_proto::Timestamp;
use mailpush_trace::{EventKind, Record};

use super::backoff::{Backoff, BackoffConfig};
use super::config::REGISTRATION_LIFETIME_MS;
use super::tokens::MailboxName;
use super::{ConnectionId, Event, Out};
use crate::AccountId;
use crate::imap_client::{CloseReason, ImapClient, ImapClientConfig, ImapEvent};

/// Where the push registration of an account stands, for logs and status.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushStatus {
    /// A registration request is on its way.
    Registering,
    /// The mail server acknowledged `with_push` of `requested` mailboxes.
    Registered {
        /// The negotiated version (1: `INBOX` only).
        version: u32,
        /// Mailboxes acknowledged.
        with_push: usize,
        /// Mailboxes requested.
        requested: usize,
    },
    /// The server did not list `XAPPLEPUSHSERVICE` after authentication: every mailbox of the
    /// account is without push.
    Unsupported,
    /// The server answered `NO` or `BAD`; retried after `retry_in_ms`.
    Refused {
        /// The server's text.
        reason: String,
        /// Delay before the next attempt.
        retry_in_ms: u64,
    },
    /// The connection failed before a reply; retried after `retry_in_ms`.
    Failed {
        /// What happened.
        reason: String,
        /// Delay before the next attempt.
        retry_in_ms: u64,
    },
    /// Thirty days passed since the last acknowledged request was sent: the mail server has
    /// dropped it, every mailbox of the account is without push.
    Expired,
}

/// What a registration attempt concluded, for the mail client to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The tagged `OK` of a request arrived.
    Acknowledged,
    /// The tagged `NO` or `BAD` of a request arrived.
    Refused,
    /// The server does not offer push.
    Unsupported,
    /// Something changed the mailboxes with push without a reply (expiry, failure).
    Changed,
}

/// What the registration needs from the rest of the mail client.
pub(crate) struct Context<'a> {
    pub(crate) device_token: Option<&'a str>,
    pub(crate) subtopic: &'a str,
    pub(crate) mailboxes: &'a BTreeSet<MailboxName>,
    /// The mail client is shutting down: finish, open nothing new.
    pub(crate) stopped: bool,
}

/// The timing of registrations.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub(crate) attempt_timeout_ms: u64,
    pub(crate) refresh_after_ms: u64,
    pub(crate) backoff: BackoffConfig,
}

#[derive(Debug)]
struct Request {
    tag: Tag,
    mailboxes: Vec<MailboxName>,
    sent_at: Timestamp,
    named: BTreeSet<Vec<u8>>,
    version: Option<NonZeroU32>,
    /// Sent with a device token that has been replaced since: its reply says nothing about
    /// the new one.
    stale: bool,
}

#[derive(Debug)]
struct Session {
    conn: ConnectionId,
    /// `None` until the driver reports the socket open.
    client: Option<ImapClient>,
    deadline: Timestamp,
    request: Option<Request>,
    logging_out: bool,
}

#[derive(Debug)]
struct Acknowledged {
    mailboxes: BTreeSet<MailboxName>,
    sent_at: Timestamp,
}

/// The push registration of one account.
#[derive(Debug)]
pub(crate) struct AccountPush {
    id: AccountId,
    imap: ImapClientConfig,
    timing: Timing,
    wanted: bool,
    session: Option<Session>,
    acknowledged: Option<Acknowledged>,
    retry_at: Option<Timestamp>,
    refresh_at: Option<Timestamp>,
    backoff: Backoff,
    status: Option<PushStatus>,
}

impl AccountPush {
    pub(crate) fn new(id: AccountId, imap: ImapClientConfig, timing: Timing) -> Self {
        Self {
            id,
            imap,
            timing,
            wanted: false,
            session: None,
            acknowledged: None,
            retry_at: None,
            refresh_at: None,
            backoff: Backoff::new(timing.backoff),
            status: None,
        }
    }

    /// A (new) registration is needed: the set changed, the device token changed, or the mail
    /// client started.
    pub(crate) fn want(&mut self) {
        self.wanted = true;
    }

    /// Whether the last reply left `mailbox` out while no request is due or under way that
    /// would ask for it again: a mailbox the mail server could not acknowledge then (it did
    /// not exist, SYNC-23) is registered for push again only when asked.
    pub(crate) fn left_out(&self, mailbox: &MailboxName) -> bool {
        !self.wanted
            && self.session.as_ref().is_none_or(|s| s.request.is_none())
            && self
                .acknowledged
                .as_ref()
                .is_some_and(|a| !a.mailboxes.contains(mailbox))
    }

    /// A mailbox stopped being monitored: it no longer has push, even if registered again
    /// before the next reply.
    pub(crate) fn forget(&mut self, mailbox: &MailboxName) {
        if let Some(a) = &mut self.acknowledged {
            a.mailboxes.remove(mailbox);
        }
    }

    /// The device token changed: what was acknowledged was acknowledged for the old one.
    pub(crate) fn new_device_token(&mut self) {
        self.acknowledged = None;
        if let Some(request) = self.session.as_mut().and_then(|s| s.request.as_mut()) {
            request.stale = true;
        }
    }

    /// The mailboxes acknowledged by the last reply, while that registration lives.
    pub(crate) fn with_push(&self, now: Timestamp) -> Option<&BTreeSet<MailboxName>> {
        self.acknowledged
            .as_ref()
            .filter(|a| now < a.sent_at.plus_ms(REGISTRATION_LIFETIME_MS))
            .map(|a| &a.mailboxes)
    }

    pub(crate) fn status(&self) -> Option<&PushStatus> {
        self.status.as_ref()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Timestamp> {
        let session = self.session.as_ref().map(|s| s.deadline);
        let retry = self
            .retry_at
            .filter(|_| self.wanted && self.session.is_none());
        let expiry = self
            .acknowledged
            .as_ref()
            .map(|a| a.sent_at.plus_ms(REGISTRATION_LIFETIME_MS));
        [session, retry, self.refresh_at, expiry]
            .into_iter()
            .flatten()
            .min()
    }

    fn set_status(&mut self, status: PushStatus, out: &mut Out) {
        out.emit(Event::Push {
            account: self.id.clone(),
            status: status.clone(),
        });
        self.status = Some(status);
    }

    /// Moves the registration on: timers, opening a connection, sending the request, logging
    /// out. Called after every input and on every timeout.
    pub(crate) fn drive(
        &mut self,
        now: Timestamp,
        cx: &Context<'_>,
        out: &mut Out,
    ) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        if cx.stopped {
            self.wanted = false;
            self.retry_at = None;
            self.refresh_at = None;
        }
        //= spec/device-local.md#LOCAL-20
        //# and again before 30
        //# days have passed since it sent the last request that the server acknowledged
        if self.refresh_at.is_some_and(|t| now >= t) {
            self.refresh_at = None;
            self.wanted = true;
        }
        if self
            .acknowledged
            .as_ref()
            .is_some_and(|a| now >= a.sent_at.plus_ms(REGISTRATION_LIFETIME_MS))
        {
            self.acknowledged = None;
            self.set_status(PushStatus::Expired, out);
            outcomes.push(Outcome::Changed);
        }
        if self.session.as_ref().is_some_and(|s| now >= s.deadline) {
            self.end_session(now, "no answer in time".into(), out);
        }
        let retry_due = self.retry_at.is_none_or(|t| now >= t);
        if retry_due && cx.device_token.is_none() {
            // Nothing to register with: the next device token starts at once.
            self.retry_at = None;
        }
        if self.session.is_none() && self.wanted && cx.device_token.is_some() && retry_due {
            let conn = out.connection();
            self.session = Some(Session {
                conn,
                client: None,
                deadline: now.plus_ms(self.timing.attempt_timeout_ms),
                request: None,
                logging_out: false,
            });
            self.retry_at = None;
            out.emit(Event::ImapConnect {
                account: self.id.clone(),
                conn,
            });
        }
        let Some(session) = &mut self.session else {
            return outcomes;
        };
        let Some(client) = &mut session.client else {
            return outcomes;
        };
        if !client.is_ready() || session.request.is_some() || session.logging_out {
            return outcomes;
        }
        //= spec/imap-push.md#XAPS-2
        //# A client MUST NOT send the command unless the server listed the
        //# capability after authentication.
        if !client.has_capability("XAPPLEPUSHSERVICE") {
            session.logging_out = true;
            client.logout();
            self.wanted = false;
            self.acknowledged = None;
            // A server may be upgraded: look again when a registration would be renewed.
            self.refresh_at = Some(now.plus_ms(self.timing.refresh_after_ms));
            self.flush(now, out, &mut outcomes);
            self.set_status(PushStatus::Unsupported, out);
            outcomes.push(Outcome::Unsupported);
            return outcomes;
        }
        match cx.device_token {
            Some(device_token) if self.wanted => {
                let mailboxes: Vec<MailboxName> = cx.mailboxes.iter().cloned().collect();
                //= spec/device-local.md#LOCAL-4
                //# the mail client
                //# MUST (re)register push for the account with the mail server, naming every monitored mailbox of the
                //# account
                let request = XapsRequest {
                    client_version: NonZeroU32::new(2).filter(|_| {
                        !mailpush_mutants::active(
                            mailpush_mutants::Mutant::XapsRequestWithoutVersion,
                        )
                    }),
                    account_id: self.id.as_str().as_bytes().to_vec(),
                    device_token: device_token.as_bytes().to_vec(),
                    subtopic: Some(cx.subtopic.as_bytes().to_vec()),
                    // An empty list, not an absent one: the server then deletes the
                    // registration (XAPS-14) instead of reading a request for INBOX (XAPS-9).
                    mailboxes: Some(
                        mailboxes
                            .iter()
                            .map(|m| IString::new(m.as_bytes().to_vec()))
                            .collect(),
                    ),
                };
                let body = CommandBody::XApplePushService(request.to_registration());
                out.trace.record(|| {
                    Record::new(EventKind::RequestPush).mailboxes(
                        mailboxes
                            .iter()
                            .map(|m| String::from_utf8_lossy(m.as_bytes()))
                            .collect::<Vec<_>>()
                            .iter()
                            .map(|m| m.as_ref()),
                    )
                });
                if let Ok(tag) = client.send(body) {
                    self.wanted = false;
                    session.deadline = now.plus_ms(self.timing.attempt_timeout_ms);
                    session.request = Some(Request {
                        tag,
                        mailboxes,
                        sent_at: now,
                        named: BTreeSet::new(),
                        version: None,
                        stale: false,
                    });
                    self.set_status(PushStatus::Registering, out);
                }
            }
            _ => {
                session.logging_out = true;
                client.logout();
            }
        }
        self.flush(now, out, &mut outcomes);
        outcomes
    }

    fn session_for(&mut self, conn: ConnectionId) -> Option<&mut Session> {
        self.session.as_mut().filter(|s| s.conn == conn)
    }

    pub(crate) fn owns(&self, conn: ConnectionId) -> bool {
        self.session.as_ref().is_some_and(|s| s.conn == conn)
    }

    pub(crate) fn handle_connected(&mut self, conn: ConnectionId, now: Timestamp) {
        let config = self.imap.clone();
        let timeout_ms = self.timing.attempt_timeout_ms;
        if let Some(session) = self.session_for(conn)
            && session.client.is_none()
        {
            session.client = Some(ImapClient::new(config));
            session.deadline = now.plus_ms(timeout_ms);
        }
    }

    /// Feeds the connection's client and passes on what it says. Input counts as activity.
    pub(crate) fn on_client(
        &mut self,
        conn: ConnectionId,
        now: Timestamp,
        out: &mut Out,
        act: impl FnOnce(&mut ImapClient),
    ) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        let timeout_ms = self.timing.attempt_timeout_ms;
        let Some(session) = self.session_for(conn) else {
            return outcomes;
        };
        match &mut session.client {
            Some(client) => {
                act(client);
                session.deadline = now.plus_ms(timeout_ms);
                self.flush(now, out, &mut outcomes);
            }
            // Closed before it was open: the connection could not be made.
            None => self.end_session(now, "could not connect".into(), out),
        }
        outcomes
    }

    /// Closes the connection at shutdown.
    pub(crate) fn shutdown(&mut self, now: Timestamp, out: &mut Out) {
        if let Some(session) = &mut self.session {
            session.logging_out = true;
            match &mut session.client {
                Some(client) => client.logout(),
                None => {
                    out.emit(Event::ImapClose { conn: session.conn });
                    self.session = None;
                    return;
                }
            }
            self.flush(now, out, &mut Vec::new());
        }
    }

    /// Passes the client's octets and events on.
    fn flush(&mut self, now: Timestamp, out: &mut Out, outcomes: &mut Vec<Outcome>) {
        loop {
            let Some(session) = &mut self.session else {
                return;
            };
            let conn = session.conn;
            let Some(client) = &mut session.client else {
                return;
            };
            if let Some(octets) = client.poll_transmit() {
                out.emit(Event::ImapTransmit { conn, octets });
            }
            let Some(event) = client.poll_event() else {
                return;
            };
            match event {
                ImapEvent::StartTls => out.emit(Event::ImapStartTls { conn }),
                ImapEvent::Untagged(Data::XApplePushService(reply)) => {
                    if let Some(request) = &mut session.request {
                        match reply {
                            XapsResponse::Mailbox(name) => {
                                request.named.insert(name.into_bytes());
                            }
                            XapsResponse::Version { version, .. } => {
                                request.version = Some(version);
                            }
                        }
                    }
                }
                ImapEvent::Completed { tag, status } => {
                    let Some(request) = session.request.take_if(|r| r.tag == tag) else {
                        continue;
                    };
                    if status.kind == StatusKind::Ok && request.stale {
                        // The registration for the new token follows on this connection.
                        self.wanted = true;
                    } else if status.kind == StatusKind::Ok {
                        self.acknowledged(request, out);
                        outcomes.push(Outcome::Acknowledged);
                    } else {
                        let delay = self.backoff.next_delay(&mut out.rng);
                        self.wanted = true;
                        self.retry_at = Some(now.plus_ms(delay));
                        if let Some(session) = &mut self.session
                            && let Some(client) = &mut session.client
                        {
                            session.logging_out = true;
                            client.logout();
                        }
                        let reason = status.text.text.to_string();
                        self.set_status(
                            PushStatus::Refused {
                                reason,
                                retry_in_ms: delay,
                            },
                            out,
                        );
                        outcomes.push(Outcome::Refused);
                    }
                }
                ImapEvent::Closed(reason) => {
                    let text = match reason {
                        CloseReason::Logout => "the connection closed".to_owned(),
                        other => other.to_string(),
                    };
                    self.end_session(now, text, out);
                    return;
                }
                ImapEvent::Ready | ImapEvent::Untagged(_) | ImapEvent::Unparsed { .. } => {}
            }
        }
    }

    /// XAPS-12: what the reply acknowledged.
    fn acknowledged(&mut self, request: Request, out: &mut Out) {
        //= spec/imap-push.md#XAPS-12
        //# MUST treat
        //# every requested mailbox that is not named in a `mailbox` line of a version 2 reply as without push,
        //# and MUST treat a version 1 reply as acknowledging `INBOX` alone.
        let version = request.version.map_or(2, NonZeroU32::get);
        let acknowledged: BTreeSet<MailboxName> = request
            .mailboxes
            .iter()
            .filter(|m| match version {
                1 => m.is_inbox(),
                _ => request.named.contains(m.as_bytes()),
            })
            .cloned()
            .collect();
        //= spec/device-local.md#LOCAL-4
        //# MUST record the acknowledged subset from the reply as
        //# the account's mailboxes with push
        let status = PushStatus::Registered {
            version,
            with_push: acknowledged.len(),
            requested: request.mailboxes.len(),
        };
        self.acknowledged = Some(Acknowledged {
            mailboxes: acknowledged,
            sent_at: request.sent_at,
        });
        self.backoff.reset();
        self.retry_at = None;
        self.refresh_at = Some(request.sent_at.plus_ms(self.timing.refresh_after_ms))
            .filter(|_| !mailpush_mutants::active(mailpush_mutants::Mutant::NoRegistrationRenewal));
        self.set_status(status, out);
    }

    /// The connection is gone: a failure unless it ended after its work was done.
    fn end_session(&mut self, now: Timestamp, reason: String, out: &mut Out) {
        let Some(session) = self.session.take() else {
            return;
        };
        out.emit(Event::ImapClose { conn: session.conn });
        let done = session.logging_out && session.request.is_none();
        if done {
            return;
        }
        if session.request.is_some() {
            self.wanted = true;
        }
        let delay = self.backoff.next_delay(&mut out.rng);
        self.retry_at = Some(now.plus_ms(delay));
        self.set_status(
            PushStatus::Failed {
                reason,
                retry_in_ms: delay,
            },
            out,
        );
    }
}
