//! The local API for applications: newline-delimited JSON on a Unix socket (the README documents
//! the format). Each connection is served by a task that reads and checks requests, hands them
//! to the daemon's loop, and writes the answers, and, after `subscribe`, the view changes.

use std::path::Path;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use mailpush_device_core::da::{FlagChange, WriteRequest};
use mailpush_imap::{Flag, Mailbox};

/// The version of the request format this daemon speaks (the README documents what each
/// version changed).
pub const VERSION: u64 = 2;

/// The oldest version still accepted: requests of version 1 are answered as version 1 defined
/// them (`sync` answers once the local notification is posted).
pub const OLDEST_VERSION: u64 = 1;

/// The longest request line, newline included.
pub const MAX_REQUEST: usize = 64 * 1024;

/// An error answer: a code from the README's table and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// One request, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The daemon's state per account (registration, push subset, syncs, channel, cursor).
    Status,
    /// The monitored mailboxes of every account, with their view's summary.
    Mailboxes,
    /// The messages of a mailbox's view.
    Messages {
        /// The account's name.
        account: String,
        /// The mailbox (Unicode name).
        mailbox: String,
    },
    /// One message's content.
    Message {
        /// The account's name.
        account: String,
        /// The mailbox (Unicode name).
        mailbox: String,
        /// The UID.
        uid: u32,
    },
    /// A mailbox's view with every message's content (what an application reads at start).
    View {
        /// The account's name.
        account: String,
        /// The mailbox (Unicode name).
        mailbox: String,
    },
    /// An application's write, answered when the DA reports its result (SYNC-19).
    Write {
        /// The account's name.
        account: String,
        /// What to write.
        write: WriteRequest,
    },
    /// Synchronize a mailbox now (an application starting, for example): its local
    /// notification is posted, as for a push, and (from version 2) the answer comes when a sync
    /// that started after the request has ended.
    Sync {
        /// The account's name.
        account: String,
        /// The mailbox (Unicode name).
        mailbox: String,
        /// Answer when the sync has ended (version 2), not when it is asked for (version 1).
        wait: bool,
    },
    /// Every mailbox of an account as the server lists it now, monitored or not.
    List {
        /// The account's name.
        account: String,
    },
    /// Monitor a mailbox: register it with the mail client (a token, push registered again),
    /// keep a view of it; answered when it has its token.
    Monitor {
        /// The account's name.
        account: String,
        /// The mailbox (Unicode name).
        mailbox: String,
    },
    /// Stop monitoring a mailbox: its token is unregistered, its view deleted.
    Unmonitor {
        /// The account's name.
        account: String,
        /// The mailbox (Unicode name).
        mailbox: String,
    },
}

/// A request on its way to the daemon's loop, with where its answer goes.
#[derive(Debug)]
pub struct ApiCall {
    /// The request.
    pub request: Request,
    /// The answer: the `result` object, or an error.
    pub reply: oneshot::Sender<Result<Value, ApiError>>,
}

/// A change of a committed view, as subscribers receive it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewChange {
    /// The account's name.
    pub account: String,
    /// The mailbox (Unicode name when it has one, else its wire name).
    pub mailbox: String,
    /// Its UIDVALIDITY.
    pub uid_validity: u32,
    /// The view was discarded first (new UIDVALIDITY).
    pub reset: bool,
    /// UIDs added.
    pub added: Vec<u32>,
    /// UIDs removed.
    pub removed: Vec<u32>,
    /// UIDs whose flags changed.
    pub changed: Vec<u32>,
    /// The view version after the change (`store::Store::view_version`).
    pub view_version: u64,
}

impl ViewChange {
    fn to_json(&self) -> Value {
        json!({
            "v": VERSION,
            "event": "view-changed",
            "account": self.account,
            "mailbox": self.mailbox,
            "uid_validity": self.uid_validity,
            "reset": self.reset,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "view_version": self.view_version,
        })
    }
}

fn string_arg(object: &serde_json::Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match object.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(ApiError::new(
            "bad-argument",
            format!("\"{key}\" must be a non-empty string"),
        )),
        None => Err(ApiError::new(
            "bad-argument",
            format!("\"{key}\" is required"),
        )),
    }
}

/// What a request line says: its id (echoed in the answer) and the request, or an error.
/// `subscribe` is `Ok(None)`: the connection's task handles it.
pub fn parse(line: &[u8]) -> (Value, Result<Option<Request>, ApiError>) {
    let value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => {
            return (
                Value::Null,
                Err(ApiError::new("malformed-request", format!("not JSON: {e}"))),
            );
        }
    };
    let Value::Object(object) = value else {
        return (
            Value::Null,
            Err(ApiError::new(
                "malformed-request",
                "a request is a JSON object",
            )),
        );
    };
    let id = object.get("id").cloned().unwrap_or(Value::Null);
    let result = (|| {
        let version = match object.get("v") {
            Some(v)
                if v.as_u64()
                    .is_some_and(|v| (OLDEST_VERSION..=VERSION).contains(&v)) =>
            {
                v.as_u64().unwrap_or(VERSION)
            }
            Some(v) => {
                return Err(ApiError::new(
                    "unsupported-version",
                    format!(
                        "version {v} is not spoken here; this daemon speaks {OLDEST_VERSION} to {VERSION}"
                    ),
                ));
            }
            None => return Err(ApiError::new("malformed-request", "\"v\" is required")),
        };
        let op = match object.get("op") {
            Some(Value::String(op)) => op.as_str(),
            _ => {
                return Err(ApiError::new(
                    "malformed-request",
                    "\"op\" (a string) is required",
                ));
            }
        };
        let named = |o: &serde_json::Map<String, Value>| -> Result<(String, String), ApiError> {
            Ok((string_arg(o, "account")?, string_arg(o, "mailbox")?))
        };
        Ok(Some(match op {
            "status" => Request::Status,
            "mailboxes" => Request::Mailboxes,
            "subscribe" => return Ok(None),
            "messages" => {
                let (account, mailbox) = named(&object)?;
                Request::Messages { account, mailbox }
            }
            "message" => {
                let (account, mailbox) = named(&object)?;
                let uid = object
                    .get("uid")
                    .and_then(Value::as_u64)
                    .and_then(|u| u32::try_from(u).ok())
                    .filter(|u| *u > 0)
                    .ok_or_else(|| {
                        ApiError::new("bad-argument", "\"uid\" must be a number from 1 to 2^32-1")
                    })?;
                Request::Message {
                    account,
                    mailbox,
                    uid,
                }
            }
            "sync" => {
                let (account, mailbox) = named(&object)?;
                Request::Sync {
                    account,
                    mailbox,
                    wait: version >= 2,
                }
            }
            "list" if version >= 2 => Request::List {
                account: string_arg(&object, "account")?,
            },
            "monitor" if version >= 2 => {
                let (account, mailbox) = named(&object)?;
                Request::Monitor { account, mailbox }
            }
            "unmonitor" if version >= 2 => {
                let (account, mailbox) = named(&object)?;
                Request::Unmonitor { account, mailbox }
            }
            "view" => {
                let (account, mailbox) = named(&object)?;
                Request::View { account, mailbox }
            }
            "create" | "append" | "store" | "expunge" => {
                let (account, mailbox) = named(&object)?;
                Request::Write {
                    account,
                    write: write_request(op, Mailbox::from_unicode(&mailbox), &object)?,
                }
            }
            other => {
                return Err(ApiError::new(
                    "unknown-op",
                    format!(
                        "{other:?} is not an operation of version {version} (status, mailboxes, list, monitor, unmonitor, messages, message, view, sync, subscribe, create, append, store, expunge; list, monitor and unmonitor from version 2)"
                    ),
                ));
            }
        }))
    })();
    (id, result)
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new("bad-argument", message)
}

fn flags_arg(object: &serde_json::Map<String, Value>) -> Result<Vec<Flag>, ApiError> {
    let Some(value) = object.get("flags") else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = value else {
        return Err(bad("\"flags\" must be an array of strings"));
    };
    items
        .iter()
        .map(|item| {
            let text = item
                .as_str()
                .ok_or_else(|| bad("\"flags\" must be an array of strings"))?;
            Flag::new(text).map_err(|e| bad(format!("{text:?} is not an IMAP flag: {e}")))
        })
        .collect()
}

fn uid_validity_arg(
    object: &serde_json::Map<String, Value>,
) -> Result<std::num::NonZeroU32, ApiError> {
    object
        .get("uid_validity")
        .and_then(Value::as_u64)
        .and_then(|u| u32::try_from(u).ok())
        .and_then(std::num::NonZeroU32::new)
        .ok_or_else(|| bad("\"uid_validity\" must be a number from 1 to 2^32-1"))
}

fn uids_arg(
    object: &serde_json::Map<String, Value>,
) -> Result<Vec<std::num::NonZeroU32>, ApiError> {
    let message = "\"uids\" must be a non-empty array of numbers from 1 to 2^32-1";
    let Some(Value::Array(items)) = object.get("uids") else {
        return Err(bad(message));
    };
    let uids: Vec<_> = items
        .iter()
        .map(|u| {
            u.as_u64()
                .and_then(|u| u32::try_from(u).ok())
                .and_then(std::num::NonZeroU32::new)
                .ok_or_else(|| bad(message))
        })
        .collect::<Result<_, _>>()?;
    if uids.is_empty() {
        return Err(bad(message));
    }
    Ok(uids)
}

/// The arguments of a write operation, checked.
fn write_request(
    op: &str,
    mailbox: Mailbox,
    object: &serde_json::Map<String, Value>,
) -> Result<WriteRequest, ApiError> {
    Ok(match op {
        "create" => WriteRequest::CreateMailbox { mailbox },
        "append" => {
            use base64::Engine as _;
            let encoded = string_arg(object, "content_base64")?;
            let message = base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .map_err(|e| bad(format!("\"content_base64\" is not base64: {e}")))?;
            WriteRequest::Append {
                mailbox,
                flags: flags_arg(object)?,
                message,
            }
        }
        "store" => {
            let change = match object.get("change").and_then(Value::as_str) {
                Some("add") => FlagChange::Add,
                Some("remove") => FlagChange::Remove,
                Some("replace") => FlagChange::Replace,
                _ => return Err(bad("\"change\" must be \"add\", \"remove\" or \"replace\"")),
            };
            WriteRequest::Store {
                mailbox,
                uid_validity: uid_validity_arg(object)?,
                uids: uids_arg(object)?,
                change,
                flags: flags_arg(object)?,
            }
        }
        _ => WriteRequest::Expunge {
            mailbox,
            uid_validity: uid_validity_arg(object)?,
            uids: uids_arg(object)?,
        },
    })
}

/// The answer line for a request.
pub fn answer(id: &Value, result: Result<Value, ApiError>) -> Value {
    match result {
        Ok(result) => json!({"v": VERSION, "id": id, "result": result}),
        Err(e) => json!({"v": VERSION, "id": id, "error": {"code": e.code, "message": e.message}}),
    }
}

/// Binds the socket (replacing a stale one left by a process that was killed).
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    UnixListener::bind(path)
}

/// Accepts applications until `shutdown` turns true.
pub async fn run_listener(
    listener: UnixListener,
    calls: mpsc::Sender<ApiCall>,
    changes: broadcast::Sender<ViewChange>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream, calls.clone(), changes.clone(), shutdown.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "local API: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

async fn write_line(stream: &mut UnixStream, value: &Value) -> std::io::Result<()> {
    let mut line = value.to_string().into_bytes();
    line.push(b'\n');
    stream.write_all(&line).await
}

/// Serves one application.
async fn serve(
    mut stream: UnixStream,
    calls: mpsc::Sender<ApiCall>,
    changes: broadcast::Sender<ViewChange>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buffer: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 8192];
    let mut subscription: Option<broadcast::Receiver<ViewChange>> = None;
    loop {
        // Answer every complete line already read.
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (id, parsed) = parse(line);
            let result = match parsed {
                Ok(None) => {
                    subscription = Some(changes.subscribe());
                    Ok(json!({"subscribed": true}))
                }
                Ok(Some(request)) => {
                    let (reply, answer_rx) = oneshot::channel();
                    if calls.send(ApiCall { request, reply }).await.is_err() {
                        return;
                    }
                    answer_rx.await.unwrap_or_else(|_| {
                        Err(ApiError::new("unavailable", "the daemon is stopping"))
                    })
                }
                Err(e) => Err(e),
            };
            if write_line(&mut stream, &answer(&id, result)).await.is_err() {
                return;
            }
        }
        if buffer.len() >= MAX_REQUEST {
            let error = ApiError::new(
                "request-too-large",
                format!("a request line is at most {MAX_REQUEST} octets; closing"),
            );
            let _ = write_line(&mut stream, &answer(&Value::Null, Err(error))).await;
            return;
        }
        tokio::select! {
            read = stream.read(&mut chunk) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            },
            change = async {
                match subscription.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                let line = match change {
                    Ok(change) => change.to_json(),
                    Err(broadcast::error::RecvError::Lagged(missed)) => json!({
                        "v": VERSION, "event": "lagged", "missed": missed,
                    }),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if write_line(&mut stream, &line).await.is_err() {
                    return;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_with_clear_errors() {
        let code = |line: &str| parse(line.as_bytes()).1.err().map(|e| e.code);
        assert_eq!(code("{"), Some("malformed-request"));
        assert_eq!(code("[1]"), Some("malformed-request"));
        assert_eq!(code(r#"{"op":"status"}"#), Some("malformed-request"));
        assert_eq!(
            code(r#"{"v":3,"op":"status"}"#),
            Some("unsupported-version")
        );
        assert_eq!(code(r#"{"v":1,"op":"frob"}"#), Some("unknown-op"));
        assert_eq!(
            code(r#"{"v":1,"op":"messages","account":"a"}"#),
            Some("bad-argument")
        );
        assert_eq!(
            code(r#"{"v":1,"op":"message","account":"a","mailbox":"m","uid":0}"#),
            Some("bad-argument")
        );
        let (id, request) = parse(br#"{"v":1,"id":7,"op":"sync","account":"a","mailbox":"Notes"}"#);
        assert_eq!(id, json!(7));
        assert_eq!(
            request,
            Ok(Some(Request::Sync {
                account: "a".into(),
                mailbox: "Notes".into(),
                wait: false,
            }))
        );
        let (_, request) = parse(br#"{"v":2,"op":"sync","account":"a","mailbox":"Notes"}"#);
        assert!(matches!(
            request,
            Ok(Some(Request::Sync { wait: true, .. }))
        ));
        assert_eq!(
            code(r#"{"v":1,"op":"list","account":"a"}"#),
            Some("unknown-op")
        );
        assert_eq!(code(r#"{"v":2,"op":"list"}"#), Some("bad-argument"));
        assert_eq!(
            code(r#"{"v":2,"op":"monitor","account":"a"}"#),
            Some("bad-argument")
        );
        assert_eq!(
            parse(br#"{"v":2,"op":"unmonitor","account":"a","mailbox":"X"}"#).1,
            Ok(Some(Request::Unmonitor {
                account: "a".into(),
                mailbox: "X".into()
            }))
        );
        assert_eq!(parse(br#"{"v":1,"op":"subscribe"}"#).1, Ok(None));
    }
}
