//! The notes application's [`MailboxAccess`] over the device daemon's local API (the device
//! crate's README documents it): a blocking client of the Unix socket, one request at a time.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use mailpush_notes::{
    Content, MailboxAccess, MailboxView, Uid, UidValidity, ViewChanged, ViewMessage,
};
use serde_json::{Value, json};

/// Why a request to the daemon failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No daemon listens on the socket.
    #[error(
        "no device daemon is running at {path} ({source}); start it with `mailpush device run`"
    )]
    NotRunning {
        /// The socket.
        path: PathBuf,
        /// Why the connection failed.
        source: std::io::Error,
    },
    /// The connection failed after it was made.
    #[error("the device daemon's connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon answered with an error.
    #[error("the device daemon refused {op}: {code}: {message}")]
    Refused {
        /// The operation.
        op: String,
        /// The error code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The daemon's answer is not what the API documents.
    #[error("the device daemon's answer to {0} is not understood")]
    Unexpected(String),
    /// A sync ended without success; the view is the one before it.
    #[error("the sync of {mailbox:?} failed: {error}")]
    SyncFailed {
        /// The mailbox.
        mailbox: String,
        /// What the daemon said.
        error: String,
    },
}

/// One connection to the daemon, for one account.
pub struct DaemonAccess {
    socket: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    account: String,
    next_id: u64,
}

fn connect(socket: &Path) -> Result<(BufReader<UnixStream>, UnixStream), ClientError> {
    let stream = UnixStream::connect(socket).map_err(|source| ClientError::NotRunning {
        path: socket.to_path_buf(),
        source,
    })?;
    Ok((BufReader::new(stream.try_clone()?), stream))
}

fn read_line(reader: &mut BufReader<UnixStream>) -> Result<Value, ClientError> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    serde_json::from_str(&line).map_err(|_| ClientError::Unexpected("a line".into()))
}

impl DaemonAccess {
    /// Connects to the daemon at `socket`, for `account` (the first account when `None`).
    pub fn connect(socket: &Path, account: Option<&str>) -> Result<Self, ClientError> {
        let (reader, writer) = connect(socket)?;
        let mut access = DaemonAccess {
            socket: socket.to_path_buf(),
            reader,
            writer,
            account: account.unwrap_or_default().to_owned(),
            next_id: 0,
        };
        if account.is_none() {
            let result = access.call("mailboxes", json!({}))?;
            access.account = result["accounts"][0]["account"]
                .as_str()
                .ok_or_else(|| ClientError::Unexpected("mailboxes".into()))?
                .to_owned();
        }
        Ok(access)
    }

    /// Sends one request and returns its `result`, passing over events.
    fn call(&mut self, op: &str, args: Value) -> Result<Value, ClientError> {
        self.next_id += 1;
        let mut request = json!({"v": 2, "id": self.next_id, "op": op});
        if let (Some(request), Value::Object(args)) = (request.as_object_mut(), args) {
            request.extend(args);
        }
        let mut line = request.to_string().into_bytes();
        line.push(b'\n');
        self.writer.write_all(&line)?;
        loop {
            let answer = read_line(&mut self.reader)?;
            if answer["id"] != json!(self.next_id) {
                continue;
            }
            if let Some(error) = answer.get("error") {
                let text = |k: &str| error[k].as_str().unwrap_or_default().to_owned();
                return Err(ClientError::Refused {
                    op: op.to_owned(),
                    code: text("code"),
                    message: text("message"),
                });
            }
            return Ok(answer["result"].clone());
        }
    }

    fn named(&self, mailbox: &str) -> Value {
        json!({"account": self.account, "mailbox": mailbox})
    }

    fn with(&self, mailbox: &str, extra: Value) -> Value {
        let mut args = self.named(mailbox);
        if let (Some(args), Value::Object(extra)) = (args.as_object_mut(), extra) {
            args.extend(extra);
        }
        args
    }
}

fn uids_json(uids: &[Uid]) -> Value {
    json!(uids.iter().map(|u| u.get()).collect::<Vec<_>>())
}

impl MailboxAccess for DaemonAccess {
    type Error = ClientError;
    type Changes = Changes;

    fn mailboxes(&mut self) -> Result<Vec<String>, ClientError> {
        let result = self.call("list", json!({"account": self.account}))?;
        let listed = result["mailboxes"]
            .as_array()
            .ok_or_else(|| ClientError::Unexpected("list".into()))?;
        Ok(listed
            .iter()
            .filter(|m| m["selectable"] == json!(true))
            .filter_map(|m| m["mailbox"].as_str().map(str::to_owned))
            .collect())
    }

    fn create_mailbox(&mut self, mailbox: &str) -> Result<(), ClientError> {
        self.call("create", self.named(mailbox)).map(|_| ())
    }

    fn monitor(&mut self, mailbox: &str) -> Result<(), ClientError> {
        self.call("monitor", self.named(mailbox)).map(|_| ())
    }

    fn sync(&mut self, mailbox: &str) -> Result<(), ClientError> {
        // Answered when a sync that started after the request has ended.
        let result = self.call("sync", self.named(mailbox))?;
        match result["outcome"].as_str() {
            Some("ok") => Ok(()),
            Some("error") => Err(ClientError::SyncFailed {
                mailbox: mailbox.to_owned(),
                error: result["error"].as_str().unwrap_or_default().to_owned(),
            }),
            _ => Err(ClientError::Unexpected("sync".into())),
        }
    }

    fn view(&mut self, mailbox: &str) -> Result<MailboxView, ClientError> {
        let result = self.call("view", self.named(mailbox))?;
        let bad = || ClientError::Unexpected("view".into());
        let uidvalidity = result["uid_validity"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .and_then(UidValidity::new);
        let mut messages = Vec::new();
        for m in result["messages"].as_array().ok_or_else(bad)? {
            let uid = m["uid"]
                .as_u64()
                .and_then(|u| u32::try_from(u).ok())
                .and_then(Uid::new)
                .ok_or_else(bad)?;
            let flags = m["flags"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(|f| f.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let content = match m["content_base64"].as_str() {
                Some(text) => Content::Full(
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .map_err(|_| bad())?,
                ),
                // Too large to keep (SYNC-14): the header when the daemon kept it.
                None => Content::HeaderOnly {
                    header: match m["header_base64"].as_str() {
                        Some(text) => base64::engine::general_purpose::STANDARD
                            .decode(text)
                            .map_err(|_| bad())?,
                        None => Vec::new(),
                    },
                    size: m["octets_at_least"].as_u64().unwrap_or(0),
                },
            };
            messages.push(ViewMessage {
                uid,
                flags,
                content,
            });
        }
        Ok(MailboxView {
            uidvalidity,
            messages,
        })
    }

    fn append(
        &mut self,
        mailbox: &str,
        flags: &[&str],
        message: &[u8],
    ) -> Result<Option<Uid>, ClientError> {
        let args = self.with(
            mailbox,
            json!({
                "flags": flags,
                "content_base64": base64::engine::general_purpose::STANDARD.encode(message),
            }),
        );
        let result = self.call("append", args)?;
        Ok(result["uid"]
            .as_u64()
            .and_then(|u| u32::try_from(u).ok())
            .and_then(Uid::new))
    }

    fn expunge(
        &mut self,
        mailbox: &str,
        uidvalidity: UidValidity,
        uids: &[Uid],
    ) -> Result<(), ClientError> {
        let args = self.with(
            mailbox,
            json!({"uid_validity": uidvalidity.get(), "uids": uids_json(uids)}),
        );
        self.call("expunge", args).map(|_| ())
    }

    fn subscribe(&mut self, mailbox: &str) -> Result<Changes, ClientError> {
        // A connection of its own, so that requests on this one are not held up by events.
        let (reader, mut writer) = connect(&self.socket)?;
        writer.write_all(b"{\"v\":2,\"id\":0,\"op\":\"subscribe\"}\n")?;
        Ok(Changes {
            reader,
            _writer: writer,
            account: self.account.clone(),
            mailbox: mailbox.to_owned(),
        })
    }
}

/// The view changes of one mailbox, read from a subscription.
pub struct Changes {
    reader: BufReader<UnixStream>,
    _writer: UnixStream,
    account: String,
    mailbox: String,
}

impl Iterator for Changes {
    type Item = Result<ViewChanged, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match read_line(&mut self.reader) {
                Ok(line) => line,
                Err(ClientError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return None;
                }
                Err(e) => return Some(Err(e)),
            };
            let ours =
                line["account"] == json!(self.account) && line["mailbox"] == json!(self.mailbox);
            // After `lagged`, events were missed: the view may have changed.
            if (line["event"] == "view-changed" && ours) || line["event"] == "lagged" {
                return Some(Ok(ViewChanged {
                    mailbox: self.mailbox.clone(),
                }));
            }
        }
    }
}
