//! Application writes and whole-view reads through the local API: a write is handed to the
//! account's engine and its caller answered when the engine reports the operation's result.

use mailpush_device_core::da::{self, OperationId, WriteOutcome, WriteRequest};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{Daemon, display_name};
use crate::api::ApiError;
use crate::store::StoreError;

/// Where the answer of an accepted write goes: (account index, operation id).
pub(super) type PendingWrites =
    std::collections::HashMap<(usize, OperationId), oneshot::Sender<Result<Value, ApiError>>>;

/// What a write asks for, in IMAP's words.
fn write_name(write: &WriteRequest) -> &'static str {
    match write {
        WriteRequest::CreateMailbox { .. } => "CREATE",
        WriteRequest::Append { .. } => "APPEND",
        WriteRequest::Store { .. } => "STORE",
        WriteRequest::Expunge { .. } => "EXPUNGE",
        _ => "write",
    }
}

/// What a write did, in IMAP's words.
fn outcome_name(outcome: &WriteOutcome) -> &'static str {
    match outcome {
        WriteOutcome::Created => "CREATE",
        WriteOutcome::Appended { .. } => "APPEND",
        WriteOutcome::Stored => "STORE",
        WriteOutcome::Expunged { .. } => "EXPUNGE",
        _ => "write",
    }
}

fn outcome_json(outcome: &WriteOutcome) -> Value {
    match outcome {
        WriteOutcome::Created => json!({"outcome": "created"}),
        WriteOutcome::Appended { uid } => json!({
            "outcome": "appended",
            "uid_validity": uid.map(|(v, _)| v.get()),
            "uid": uid.map(|(_, u)| u.get()),
        }),
        WriteOutcome::Stored => json!({"outcome": "stored"}),
        WriteOutcome::Expunged { uid_expunge } => {
            json!({"outcome": "expunged", "uid_expunge": uid_expunge})
        }
        other => json!({"outcome": format!("{other:?}")}),
    }
}

impl Daemon {
    /// Hands a write to the account's engine; the answer goes to `reply` once the engine
    /// reports the result (SYNC-19), or at once when the engine refuses it (SYNC-20).
    pub(super) fn start_write(
        &mut self,
        account: &str,
        write: WriteRequest,
        reply: oneshot::Sender<Result<Value, ApiError>>,
    ) {
        let index = match self.account_by_name(account) {
            Ok(index) => index,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let now = self.clock.now();
        self.tracers.note_write(write.mailbox(), write_name(&write));
        match self.accounts[index].engine.handle_write(write, now) {
            Ok(id) => {
                self.pending_writes.insert((index, id), reply);
            }
            Err(error) => {
                let _ = reply.send(Err(ApiError::new("write-refused", error.to_string())));
            }
        }
    }

    /// Answers the caller of a write whose result the engine reported.
    pub(super) fn write_ended(&mut self, index: usize, event: &da::Event) {
        let (id, mailbox, result) = match event {
            da::Event::WriteCompleted {
                id,
                mailbox,
                outcome,
            } => (id, mailbox, Ok(outcome_json(outcome))),
            da::Event::WriteFailed { id, mailbox, error } => (
                id,
                mailbox,
                Err(ApiError::new("write-failed", error.to_string())),
            ),
            _ => return,
        };
        tracing::info!(
            account = %self.accounts[index].settings.name,
            mailbox = %display_name(mailbox),
            operation = id.0,
            ok = result.is_ok(),
            "write ended"
        );
        if let da::Event::WriteCompleted { outcome, .. } = event {
            self.tracers.uploaded(mailbox, outcome_name(outcome));
        }
        if let Some(reply) = self.pending_writes.remove(&(index, *id)) {
            let _ = reply.send(result);
        }
    }

    /// A monitored mailbox's view (`messages`), with every message's content when asked
    /// (`view`; for a message too large to keep, `null` and its header section when that was
    /// kept, SYNC-14).
    pub(super) fn view_json(
        &self,
        account: &str,
        mailbox: &str,
        with_content: bool,
    ) -> Result<Value, ApiError> {
        use base64::Engine as _;
        let internal = |e: StoreError| ApiError::new("internal", e.to_string());
        let index = self.account_by_name(account)?;
        let wire = self.monitored(index, mailbox)?;
        let id = &self.accounts[index].id;
        let view = self.store.view(id, &wire).map_err(internal)?;
        let mut messages = Vec::new();
        for m in self.store.messages(id, &wire).map_err(internal)? {
            let mut message = json!({
                "uid": m.uid,
                "flags": m.flags,
                "modseq": m.modseq,
                "octets": m.octets,
                "too_large": m.octets.is_none(),
                "header_octets": m.header_octets,
            });
            if m.octets.is_none() {
                // The engine runs with the default limits: a message kept without its content
                // has more octets than that (SYNC-14).
                let limit = mailpush_device_core::da::Limits::default().max_message_octets;
                message["octets_at_least"] = json!(u64::from(limit) + 1);
            }
            if with_content {
                let (content, header) = match m.octets {
                    Some(_) => (
                        self.store.content(id, &wire, m.uid).map_err(internal)?,
                        None,
                    ),
                    None => (None, self.store.header(id, &wire, m.uid).map_err(internal)?),
                };
                let encode = |c: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(c);
                message["content_base64"] = json!(content.map(encode));
                message["header_base64"] = json!(header.map(encode));
            }
            messages.push(message);
        }
        Ok(json!({
            "account": account,
            "mailbox": mailbox,
            "uid_validity": view.uid_validity.map(|v| v.get()),
            "view_version": self.store.view_version().map_err(internal)?,
            "messages": messages,
        }))
    }
}
