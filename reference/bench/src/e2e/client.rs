//! The writing device's IMAP client (and, against Dovecot, the reading device's): plain TCP on
//! loopback, LOGIN, APPEND (with LITERAL+ when offered), SELECT, IDLE, FETCH; every response read
//! with the project's IMAP decoder (the connection of `bench imap`), every wait bounded.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mailpush_imap::{Data, FetchItem, Response};

use crate::BenchError;
use crate::imap::{Conn, Outcome, exists, select};

/// Longest wait for any one answer.
pub(super) const WAIT: Duration = Duration::from_secs(30);

pub(super) struct Client {
    conn: Conn,
}

/// `step`, or a protocol error once it has taken longer than [`WAIT`].
async fn bounded<T>(
    what: &str,
    step: impl Future<Output = Result<T, BenchError>>,
) -> Result<T, BenchError> {
    tokio::time::timeout(WAIT, step)
        .await
        .map_err(|_| BenchError::Protocol(format!("{what}: no answer within 30 s")))?
}

impl Client {
    pub(super) async fn login(
        addr: SocketAddr,
        user: &str,
        password: &str,
    ) -> Result<Client, BenchError> {
        bounded("LOGIN", async {
            let mut conn = Conn::connect(addr).await?;
            conn.login(user, password).await?;
            Ok(Client { conn })
        })
        .await
    }

    /// APPENDs `message` to `mailbox`; the UID of APPENDUID.
    pub(super) async fn append(&mut self, mailbox: &str, message: &str) -> Result<u32, BenchError> {
        match bounded("APPEND", self.conn.append(mailbox, message.as_bytes())).await? {
            Some(uid) if uid > 0 => Ok(uid),
            Some(_) => Err(BenchError::Protocol(
                "APPEND answered OK without APPENDUID".into(),
            )),
            None => Err(BenchError::Protocol(format!("APPEND to {mailbox} refused"))),
        }
    }

    /// SELECTs `mailbox`; the number of messages in it.
    pub(super) async fn select(&mut self, mailbox: &str) -> Result<u32, BenchError> {
        let count = bounded("SELECT", select(&mut self.conn, mailbox)).await?;
        u32::try_from(count).map_err(|_| BenchError::Protocol(format!("{count} EXISTS")))
    }

    /// Sits in IDLE until the server tells of more than `known` messages, then ends it; the
    /// count told. Waits as long as it takes: the caller bounds the wait for a note.
    pub(super) async fn idle_until_more_than(&mut self, known: u32) -> Result<u32, BenchError> {
        let tag = bounded("IDLE", self.conn.start_idle()).await?;
        let count = loop {
            let response = self.conn.response().await?;
            if let Some(n) = exists(&response)
                && n > u64::from(known)
            {
                break u32::try_from(n).map_err(|_| BenchError::Protocol(format!("{n} EXISTS")))?;
            }
            if let Response::Tagged { tag: t, status } = &response
                && t.as_str() == tag
            {
                return Err(BenchError::Protocol(format!("IDLE ended: {status:?}")));
            }
        };
        bounded("DONE", self.conn.done(&tag)).await?;
        Ok(count)
    }

    /// FETCHes messages `from..=to` by sequence number, with their content; their UIDs.
    pub(super) async fn fetch_uids(&mut self, from: u32, to: u32) -> Result<Vec<u32>, BenchError> {
        let tag = self.conn.tag();
        self.conn
            .send(format!("{tag} FETCH {from}:{to} (UID FLAGS BODY.PEEK[])\r\n").as_bytes())
            .await?;
        let mut uids = Vec::new();
        let outcome = bounded(
            "FETCH",
            self.conn.finish(&tag, |response| {
                if let Response::Data(Data::Fetch { items, .. }) = response {
                    uids.extend(items.iter().find_map(|item| match item {
                        FetchItem::Uid(uid) => Some(uid.get()),
                        _ => None,
                    }));
                }
            }),
        )
        .await?;
        match outcome {
            Outcome::Ok(_) => Ok(uids),
            Outcome::Failed => Err(BenchError::Protocol(format!("FETCH {from}:{to} refused"))),
        }
    }
}

/// A note of about the size of a short note, numbered.
pub(super) fn note(n: usize) -> String {
    format!(
        "From: bench@example.invalid\r\nSubject: note {n}\r\nContent-Type: text/html; charset=utf-8\r\nX-Uniform-Type-Identifier: com.apple.mail-note\r\n\r\n<div>note {n}: {}</div>\r\n",
        "lorem ipsum ".repeat(20)
    )
}

/// The time from `since` to `at` (zero when `at` is earlier).
pub(super) fn after(at: Instant, since: Instant) -> Duration {
    at.saturating_duration_since(since)
}
