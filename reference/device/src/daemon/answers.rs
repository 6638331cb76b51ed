//! Local API requests answered at once from the daemon's state and the database: `status`,
//! `mailboxes`, `messages`, `message` and `view`, and the look-ups of an account and a monitored
//! mailbox that every request makes.

use mailpush_device_core::Token;
use mailpush_device_core::mail_client::{ChannelStatus, MailboxName, PushStatus};
use mailpush_imap::Mailbox;
use serde_json::{Value, json};

use super::{Daemon, display_name, method_name};
use crate::api::{ApiError, Request};
use crate::store::StoreError;

impl Daemon {
    pub(super) fn account_by_name(&self, name: &str) -> Result<usize, ApiError> {
        self.accounts
            .iter()
            .position(|a| a.settings.name == name)
            .ok_or_else(|| {
                ApiError::new("unknown-account", format!("no account is named {name:?}"))
            })
    }

    pub(super) fn monitored(&self, index: usize, mailbox: &str) -> Result<Mailbox, ApiError> {
        let wanted = Mailbox::from_unicode(mailbox);
        let account = &self.accounts[index];
        account
            .settings
            .mailboxes
            .iter()
            .map(|m| Mailbox::from_unicode(m))
            .find(|m| *m == wanted)
            .ok_or_else(|| {
                ApiError::new(
                    "unknown-mailbox",
                    format!(
                        "account {} does not monitor {mailbox:?}",
                        account.settings.name
                    ),
                )
            })
    }

    pub(super) fn handle_api(&mut self, request: Request) -> Result<Value, ApiError> {
        let internal = |e: StoreError| ApiError::new("internal", e.to_string());
        match request {
            Request::Status => Ok(self.status()),
            Request::Mailboxes => {
                let mut accounts = Vec::new();
                for account in &self.accounts {
                    let summaries = self.store.summaries(&account.id).map_err(internal)?;
                    let mailboxes: Vec<Value> = account
                        .settings
                        .mailboxes
                        .iter()
                        .map(|name| {
                            let wire = Mailbox::from_unicode(name);
                            let s = summaries.iter().find(|s| s.mailbox == wire);
                            json!({
                                "mailbox": name,
                                "uid_validity": s.and_then(|s| s.uid_validity),
                                "messages": s.map_or(0, |s| s.messages),
                            })
                        })
                        .collect();
                    accounts
                        .push(json!({"account": account.settings.name, "mailboxes": mailboxes}));
                }
                Ok(json!({"accounts": accounts}))
            }
            Request::Messages { account, mailbox } => self.view_json(&account, &mailbox, false),
            Request::Message {
                account,
                mailbox,
                uid,
            } => {
                let index = self.account_by_name(&account)?;
                let wire = self.monitored(index, &mailbox)?;
                let id = &self.accounts[index].id;
                use base64::Engine as _;
                let encode = |c: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(c);
                if let Some(octets) = self.store.content(id, &wire, uid).map_err(internal)? {
                    return Ok(json!({"uid": uid, "content_base64": encode(octets)}));
                }
                match self.store.header(id, &wire, uid).map_err(internal)? {
                    Some(header) => Ok(json!({
                        "uid": uid,
                        "content_base64": null,
                        "too_large": true,
                        "header_base64": encode(header),
                    })),
                    None => Err(ApiError::new(
                        "not-found",
                        format!(
                            "{mailbox:?} has no message with UID {uid} and content in the view"
                        ),
                    )),
                }
            }
            Request::View { account, mailbox } => self.view_json(&account, &mailbox, true),
            Request::Write { .. }
            | Request::Sync { .. }
            | Request::List { .. }
            | Request::Monitor { .. }
            | Request::Unmonitor { .. } => Err(ApiError::new(
                "internal",
                "this request is answered when the DA has done it, not here",
            )),
        }
    }

    pub(super) fn status(&self) -> Value {
        let now = self.clock.now();
        let status = self.client.status(now);
        let name = |m: &MailboxName| display_name(&Mailbox::from_wire(m.as_bytes().to_vec()));
        let accounts: Vec<Value> = self
            .accounts
            .iter()
            .map(|account| {
                let push = status.accounts.iter().find(|s| s.id == account.id);
                let summaries = self.store.summaries(&account.id).unwrap_or_default();
                let mailboxes: Vec<Value> = account
                    .settings
                    .mailboxes
                    .iter()
                    .map(|m| {
                        let wire = Mailbox::from_unicode(m);
                        let summary = summaries.iter().find(|s| s.mailbox == wire);
                        let sync = account.syncs.get(&wire);
                        json!({
                            "mailbox": m,
                            "token": account.engine.token(&wire).map(Token::as_str),
                            "uid_validity": summary.and_then(|s| s.uid_validity),
                            "highest_modseq": summary.and_then(|s| s.highest_modseq),
                            "uid_next": summary.and_then(|s| s.uid_next),
                            "count": summary.and_then(|s| s.count),
                            "messages": summary.map_or(0, |s| s.messages),
                            "last_sync": sync.and_then(|s| s.last.as_ref()).map(|(at, r)| json!({
                                "at_ms": at,
                                "method": method_name(r.method),
                                "round_trips": r.round_trips,
                                "added": r.added,
                                "removed": r.removed,
                                "changed": r.changed,
                            })).or_else(|| summary.and_then(|s| s.synced_at).map(|at| json!({"at_ms": at}))),
                            "syncing": sync.is_some_and(|s| s.syncing),
                            "last_error": sync.and_then(|s| s.error.clone()),
                        })
                    })
                    .collect();
                json!({
                    "account": account.settings.name,
                    "registration": push.and_then(|p| p.push.as_ref()).map(push_json),
                    "with_push": push.map(|p| p.with_push.iter().map(name).collect::<Vec<_>>()),
                    "without_push": push.map(|p| p.without_push.iter().map(name).collect::<Vec<_>>()),
                    "connection_error": account.connection_error,
                    "mailboxes": mailboxes,
                })
            })
            .collect();
        json!({
            "accounts": accounts,
            "channel": channel_json(&status.channel),
            "cursor": status.cursor,
            "device_registration_error": self.device_error,
            "notifications": {
                "received": self.counters.notifications,
                "retained": self.counters.retained,
                "posted": self.counters.posted,
                "coalesced": self.counters.coalesced,
                "scheduled_polls": status.scheduled_polls,
                "last": self.counters.last.map(|(id, retained, woken)| json!({
                    "id": id, "retained": retained, "woken": woken,
                })),
                "last_retained": self.counters.last_retained.map(|(id, woken)| json!({
                    "id": id, "woken": woken,
                })),
            },
        })
    }
}

fn push_json(status: &PushStatus) -> Value {
    match status {
        PushStatus::Registering => json!({"state": "registering"}),
        PushStatus::Registered {
            version,
            with_push,
            requested,
        } => {
            json!({"state": "registered", "version": version, "with_push": with_push, "requested": requested})
        }
        PushStatus::Unsupported => json!({"state": "unsupported"}),
        PushStatus::Refused {
            reason,
            retry_in_ms,
        } => json!({"state": "refused", "reason": reason, "retry_in_ms": retry_in_ms}),
        PushStatus::Failed {
            reason,
            retry_in_ms,
        } => json!({"state": "failed", "reason": reason, "retry_in_ms": retry_in_ms}),
        PushStatus::Expired => json!({"state": "expired"}),
        other => json!({"state": format!("{other:?}")}),
    }
}

fn channel_json(status: &ChannelStatus) -> Value {
    match status {
        ChannelStatus::NoCredentials => json!({"state": "no-credentials"}),
        ChannelStatus::Connecting { cursor, .. } => {
            json!({"state": "connecting", "cursor": cursor})
        }
        ChannelStatus::Established {
            cursor,
            keepalive_secs,
        } => json!({"state": "established", "cursor": cursor, "keepalive_secs": keepalive_secs}),
        ChannelStatus::Closed {
            code,
            by_peer,
            retry_in_ms,
        } => {
            json!({"state": "closed", "code": code.name(), "by_peer": by_peer, "retry_in_ms": retry_in_ms})
        }
        ChannelStatus::Disconnected { retry_in_ms } => {
            json!({"state": "disconnected", "retry_in_ms": retry_in_ms})
        }
        ChannelStatus::NoWelcome { retry_in_ms } => {
            json!({"state": "no-welcome", "retry_in_ms": retry_in_ms})
        }
        ChannelStatus::Refused(refusal) => {
            json!({"state": "refused", "refusal": format!("{refusal:?}")})
        }
        ChannelStatus::CursorReset => json!({"state": "cursor-reset"}),
        ChannelStatus::Stopped => json!({"state": "stopped"}),
        other => json!({"state": format!("{other:?}")}),
    }
}
