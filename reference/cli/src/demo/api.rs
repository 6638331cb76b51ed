//! What the demo observes of a device: its status and its view changes, through the daemon's
//! local API (the same socket `mailpush notes` uses), and its notes as the notes application
//! lists them from the DA's view.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mailpush_notes::{Listing, MailboxAccess};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::DemoError;
use crate::notes::DaemonAccess;

/// A view change a device announced, with when it arrived.
#[derive(Debug, Clone)]
pub struct Announced {
    /// When the demo read it.
    pub at: Instant,
    /// The `view-changed` event.
    pub event: Value,
}

/// One device seen from outside.
pub struct Observer {
    /// The device's letter.
    pub name: String,
    socket: PathBuf,
    requests: Option<BufReader<UnixStream>>,
    next_id: u64,
    events: mpsc::UnboundedReceiver<Announced>,
    subscription: tokio::task::JoinHandle<()>,
}

async fn connect(socket: &Path, name: &str, timeout: Duration) -> Result<UnixStream, DemoError> {
    let deadline = Instant::now() + timeout;
    loop {
        match UnixStream::connect(socket).await {
            Ok(stream) => return Ok(stream),
            Err(e) if Instant::now() >= deadline => {
                return Err(DemoError::Timeout(format!(
                    "device {name}'s local API at {} did not accept within {timeout:?} ({e})",
                    socket.display()
                )));
            }
            // The daemon creates its socket once it has opened its database.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn read_json(io: &mut BufReader<UnixStream>) -> Option<Value> {
    let mut line = String::new();
    match io.read_line(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(_) => serde_json::from_str(&line).ok(),
    }
}

impl Observer {
    /// Connects to the device's API and subscribes to its view changes.
    pub async fn connect(name: &str, socket: &Path, timeout: Duration) -> Result<Self, DemoError> {
        let mut subscription = BufReader::new(connect(socket, name, timeout).await?);
        subscription
            .get_mut()
            .write_all(b"{\"v\":1,\"id\":0,\"op\":\"subscribe\"}\n")
            .await
            .map_err(|e| DemoError::Device(name.to_owned(), e.to_string()))?;
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(line) = read_json(&mut subscription).await {
                if line.get("event").is_some()
                    && tx
                        .send(Announced {
                            at: Instant::now(),
                            event: line,
                        })
                        .is_err()
                {
                    return;
                }
            }
        });
        let requests = BufReader::new(connect(socket, name, timeout).await?);
        Ok(Observer {
            name: name.to_owned(),
            socket: socket.to_path_buf(),
            requests: Some(requests),
            next_id: 0,
            events,
            subscription: task,
        })
    }

    /// Sends one request, returns its `result`.
    pub async fn call(&mut self, op: &str, args: Value) -> Result<Value, DemoError> {
        let failed = |e: String| DemoError::Device(self.name.clone(), format!("{op}: {e}"));
        let io = self
            .requests
            .as_mut()
            .ok_or_else(|| failed("not connected".into()))?;
        self.next_id += 1;
        let mut request = json!({"v": 1, "id": self.next_id, "op": op});
        if let (Some(request), Value::Object(args)) = (request.as_object_mut(), args) {
            request.extend(args);
        }
        let line = format!("{request}\n");
        if let Err(e) = io.get_mut().write_all(line.as_bytes()).await {
            return Err(failed(e.to_string()));
        }
        loop {
            let Some(answer) = read_json(io).await else {
                return Err(failed("the daemon closed the connection".into()));
            };
            if answer["id"] != json!(self.next_id) {
                continue;
            }
            if let Some(error) = answer.get("error") {
                return Err(failed(error.to_string()));
            }
            return Ok(answer["result"].clone());
        }
    }

    /// Drops the view changes announced so far: what follows is timed from here.
    pub fn forget_events(&mut self) {
        while self.events.try_recv().is_ok() {}
    }

    /// The daemon's status.
    pub async fn status(&mut self) -> Result<Value, DemoError> {
        self.call("status", json!({})).await
    }

    /// Polls the status (a local request, answered at once) until `ready` holds, or fails
    /// naming `what` and the last status.
    pub async fn wait_status(
        &mut self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&Value) -> bool,
    ) -> Result<Value, DemoError> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status().await?;
            if ready(&status) {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(DemoError::Timeout(format!(
                    "device {}: {what} did not happen within {timeout:?}; its status: {status}",
                    self.name
                )));
            }
            // Status changes are not announced as events: asked again shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The notes of the DA's current view (no sync is asked for).
    pub async fn notes(&self) -> Result<Listing, DemoError> {
        let socket = self.socket.clone();
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || {
            let mut access = DaemonAccess::connect(&socket, Some(super::system::MAIL_ACCOUNT))?;
            let view = access.view(super::system::NOTES)?;
            Ok(mailpush_notes::listing::list(
                &view,
                &mailpush_notes::Limits::default(),
            ))
        })
        .await
        .map_err(|e| DemoError::Device(name.clone(), e.to_string()))?
        .map_err(|e: crate::notes::ClientError| DemoError::Device(name, e.to_string()))
    }

    /// UIDs of a mailbox of an account in the DA's view.
    pub async fn uids(&mut self, account: &str, mailbox: &str) -> Result<Vec<u32>, DemoError> {
        let result = self
            .call("messages", json!({"account": account, "mailbox": mailbox}))
            .await?;
        let mut uids: Vec<u32> = result["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|m| m["uid"].as_u64().and_then(|u| u32::try_from(u).ok()))
                    .collect()
            })
            .unwrap_or_default();
        uids.sort_unstable();
        Ok(uids)
    }

    /// Waits until `holds` is true of the device's notes, reading them again on each view
    /// change it announces; returns when the change that made it true arrived.
    pub async fn wait_notes(
        &mut self,
        what: &str,
        timeout: Duration,
        holds: impl Fn(&Listing) -> bool,
    ) -> Result<Instant, DemoError> {
        self.wait_view(
            what,
            timeout,
            super::system::NOTES,
            async |me: &mut Self| Ok(holds(&me.notes().await?)),
        )
        .await
    }

    /// Waits until `holds` is true, asking again after each view change of `mailbox`.
    pub async fn wait_view(
        &mut self,
        what: &str,
        timeout: Duration,
        mailbox: &str,
        holds: impl AsyncFn(&mut Self) -> Result<bool, DemoError>,
    ) -> Result<Instant, DemoError> {
        let deadline = Instant::now() + timeout;
        // A change announced before this wait (while another device was waited for) is when
        // the effect arrived.
        let mut since = Instant::now();
        while let Ok(announced) = self.events.try_recv() {
            if announced.event["mailbox"] == json!(mailbox) || announced.event["event"] == "lagged"
            {
                since = announced.at;
            }
        }
        loop {
            if holds(self).await? {
                return Ok(since);
            }
            loop {
                let next = tokio::time::timeout_at(deadline, self.events.recv()).await;
                match next {
                    Ok(Some(announced)) => {
                        let ours = announced.event["mailbox"] == json!(mailbox);
                        let lagged = announced.event["event"] == "lagged";
                        if ours || lagged {
                            since = announced.at;
                            break;
                        }
                    }
                    Ok(None) => {
                        return Err(DemoError::Device(
                            self.name.clone(),
                            "the daemon closed its subscription".into(),
                        ));
                    }
                    Err(_) => {
                        return Err(DemoError::Timeout(format!(
                            "device {}: {what} was not seen within {timeout:?}",
                            self.name
                        )));
                    }
                }
            }
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        // The subscription must not keep the daemon's API connection open once nobody reads it.
        self.subscription.abort();
    }
}
