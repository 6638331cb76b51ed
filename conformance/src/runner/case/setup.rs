//! The starting state a case's header names (`state:`, `mailboxes:`, `devices:`, `requires:`)
//! and the teardown that removes what the setup created.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::frames::Frame;
use crate::runner::Verdict;
use crate::runner::device::DeviceConn;
use crate::runner::http::exchange;
use crate::runner::imap::ImapConn;
use crate::transcript::config::unmet;
use crate::transcript::expr::{random_hex, render as render_value};
use crate::transcript::{ConfigNeed, PushReply, Role};

use super::{Play, Stop, put, quote, stop};

impl Play<'_> {
    pub(super) async fn setup(&mut self) -> Result<(), Stop> {
        let h = &self.case.header;
        if h.push_reply == PushReply::Scripted && self.push.is_none() {
            return Err(stop(
                Verdict::Error,
                1,
                "a case with scripted push-service replies needs the runner's push service (--push-listen)",
            ));
        }
        if let Some(need) = h.harness.iter().find(|need| !match need.as_str() {
            "restart" => self.target.restart.is_some(),
            "second-user" => self.target.second_user.is_some(),
            "app" => self.target.app.is_some() && h.role == Role::Device,
            "tls" => self.target.tls.is_some(),
            _ => false,
        }) {
            let how = match need.as_str() {
                "restart" => " (--restart-cmd)",
                "second-user" => " (--user2 and --password2)",
                "tls" => ": the run is not over TLS (--tls)",
                "app" => {
                    ": the device's application cannot be driven without an application command (--app)"
                }
                _ => " yet",
            };
            return Err(stop(
                Verdict::Unsupported,
                1,
                format!("the runner cannot provide `{need}`{how}"),
            ));
        }
        if let Some(need) = unmet(&h.config, &self.target.config) {
            return Err(stop(
                Verdict::Unsupported,
                1,
                format!(
                    "the case needs the configuration {need}, which was not declared (--config)"
                ),
            ));
        }
        for declared in &self.target.config {
            self.vars.insert(
                ConfigNeed::variable(&declared.name),
                Value::from(declared.value),
            );
        }
        if let Some((user2, password2)) = &self.target.second_user {
            self.vars
                .insert("user2".into(), Value::String(user2.clone()));
            self.vars
                .insert("password2".into(), Value::String(password2.clone()));
        }
        let token = random_hex(64);
        if let Some(push) = self.push {
            push.claim(&token, h.push_reply == PushReply::Scripted);
        }
        self.vars.insert("token".into(), Value::String(token));
        self.vars.insert(
            "account".into(),
            Value::String(format!("conform-{}", random_hex(16))),
        );
        match h.role {
            Role::ImapServer => self.setup_imap().await,
            Role::PushServer => self.setup_push().await,
            Role::Device => self.setup_device().await,
        }
    }

    pub(super) async fn setup_imap(&mut self) -> Result<(), Stop> {
        let h = &self.case.header;
        let Some(addr) = self.target.imap else {
            return Err(stop(Verdict::Error, 1, "no IMAP server address (--imap)"));
        };
        self.vars
            .insert("user".into(), Value::String(self.target.user.clone()));
        self.vars.insert(
            "password".into(),
            Value::String(self.target.password.clone()),
        );
        let login = format!(
            "LOGIN {} {}\r\n",
            quote(&self.target.user),
            quote(&self.target.password)
        );
        for n in 1..=h.connections {
            let mut conn = ImapConn::connect(
                addr,
                self.target.tls.as_ref(),
                n,
                self.target.connect_timeout,
            )
            .await
            .map_err(|e| stop(Verdict::Error, 1, e))?;
            if h.state != "nonauth" {
                self.setup_command(&mut conn, &login, "LOGIN").await?;
            }
            self.imap.push(Some(conn));
        }
        if !h.requires.is_empty() {
            self.require_capabilities(addr, &login).await?;
        }
        let mut names = Vec::new();
        for k in 1..=h.mailboxes {
            let name = format!("conform-{}-{k}", random_hex(8));
            let conn = self.imap[0]
                .as_mut()
                .ok_or_else(|| stop(Verdict::Error, 1, "no connection"))?;
            let create = format!("CREATE {name}\r\n");
            Self::setup_on(conn, &create, "CREATE", self.target.connect_timeout).await?;
            self.created.push(name.clone());
            self.vars
                .insert(format!("mailbox{k}"), Value::String(name.clone()));
            names.push(name);
        }
        if let Some(first) = names.first() {
            self.vars
                .insert("mailbox".into(), Value::String(first.clone()));
        }
        let wait = self.target.connect_timeout;
        let conn = self.imap[0].as_mut();
        match (h.state.as_str(), conn) {
            ("registered", Some(conn)) => {
                let token = render_value(&self.vars["token"]);
                let account = render_value(&self.vars["account"]);
                let command = format!(
                    "XAPPLEPUSHSERVICE aps-version 2 aps-account-id {account} aps-device-token {token} aps-subtopic com.apple.mobilemail mailboxes ({})\r\n",
                    names.join(" ")
                );
                Self::setup_on(conn, &command, "XAPPLEPUSHSERVICE", wait).await?;
            }
            ("selected", Some(conn)) => {
                let first = names.first().map_or("INBOX", String::as_str);
                let select = format!("SELECT {first}\r\n");
                Self::setup_on(conn, &select, "SELECT", wait).await?;
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) async fn setup_command(
        &self,
        conn: &mut ImapConn,
        command: &str,
        what: &str,
    ) -> Result<(), Stop> {
        Self::setup_on(conn, command, what, self.target.connect_timeout).await
    }

    /// Sends a setup command and requires `OK`; its untagged responses are not the case's.
    pub(super) async fn setup_on(
        conn: &mut ImapConn,
        command: &str,
        what: &str,
        wait: Duration,
    ) -> Result<(), Stop> {
        let tag = conn.tag();
        conn.send(format!("{tag} {command}").as_bytes())
            .await
            .map_err(|e| stop(Verdict::Error, 1, e))?;
        let (tagged, _) = conn
            .complete(&tag, Instant::now() + wait)
            .await
            .map_err(|e| {
                stop(
                    Verdict::Error,
                    1,
                    format!("setting the case up: {what}: {e:?}"),
                )
            })?;
        if tagged.status().as_deref() != Some("OK") {
            return Err(stop(
                Verdict::Error,
                1,
                format!("setting the case up: {what} was answered {}", tagged.raw),
            ));
        }
        Ok(())
    }

    /// UNSUPPORTED unless the server lists every capability of `requires:` after LOGIN.
    pub(super) async fn require_capabilities(
        &mut self,
        addr: std::net::SocketAddr,
        login: &str,
    ) -> Result<(), Stop> {
        let wait = self.target.connect_timeout;
        let mut conn = ImapConn::connect(addr, self.target.tls.as_ref(), 0, wait)
            .await
            .map_err(|e| stop(Verdict::Error, 1, e))?;
        Self::setup_on(&mut conn, login, "LOGIN", wait).await?;
        let tag = conn.tag();
        conn.send(format!("{tag} CAPABILITY\r\n").as_bytes())
            .await
            .map_err(|e| stop(Verdict::Error, 1, e))?;
        let (_, untagged) = conn
            .complete(&tag, Instant::now() + wait)
            .await
            .map_err(|e| stop(Verdict::Error, 1, format!("CAPABILITY: {e:?}")))?;
        let listed: Vec<String> = untagged
            .iter()
            .filter(|r| {
                r.tokens
                    .first()
                    .and_then(|t| t.text())
                    .is_some_and(|t| t.eq_ignore_ascii_case("CAPABILITY"))
            })
            .flat_map(|r| r.tokens.iter().skip(1).filter_map(|t| t.text()))
            .map(str::to_ascii_uppercase)
            .collect();
        let _ = conn.send(b"z LOGOUT\r\n").await;
        for need in &self.case.header.requires {
            if !listed.contains(&need.to_ascii_uppercase()) {
                return Err(stop(
                    Verdict::Unsupported,
                    1,
                    format!("the server does not list {need} after LOGIN"),
                ));
            }
        }
        Ok(())
    }

    pub(super) async fn setup_push(&mut self) -> Result<(), Stop> {
        let h = &self.case.header;
        self.vars.insert(
            "provider".into(),
            Value::String(self.target.provider_token.clone()),
        );
        self.vars.insert(
            "registration".into(),
            Value::String(self.target.registration_token.clone()),
        );
        // RING-1's default capacity unless the run names another.
        self.vars.insert(
            "ring".into(),
            Value::from(self.target.ring_capacity.unwrap_or(100)),
        );
        let api = self.target.api;
        for k in 1..=h.devices {
            let Some(api) = api else {
                return Err(stop(Verdict::Error, 1, "no provider API address (--api)"));
            };
            let request = format!(
                "POST /v1/devices HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.target.registration_token
            );
            let response = exchange(
                api,
                self.target.tls.as_ref(),
                request.as_bytes(),
                self.target.connect_timeout,
            )
            .await
            .map_err(|e| stop(Verdict::Error, 1, format!("registering a device: {e}")))?;
            let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
            let (Some(token), Some(secret)) = (
                body.get("token").and_then(Value::as_str),
                body.get("secret").and_then(Value::as_str),
            ) else {
                return Err(stop(
                    Verdict::Error,
                    1,
                    format!("registering a device was answered {}", response.summary()),
                ));
            };
            for (name, value) in [("token", token), ("secret", secret)] {
                self.vars
                    .insert(format!("{name}{k}"), Value::String(value.to_owned()));
                if k == 1 {
                    self.vars
                        .insert(name.to_owned(), Value::String(value.to_owned()));
                }
            }
        }
        if h.state == "connected" {
            for k in 1..=h.devices {
                self.connect_device(k, 1).await?;
                let token = render_value(&self.vars[&format!("token{k}")]);
                let secret = render_value(&self.vars[&format!("secret{k}")]);
                let hello = Frame::Hello {
                    min: 1,
                    max: 1,
                    token: token.into_bytes(),
                    secret: secret.into_bytes(),
                    cursor: 0,
                };
                let wait = Instant::now() + self.target.connect_timeout;
                let dev = self.device(k, 1)?;
                dev.send(&hello.encode())
                    .await
                    .map_err(|e| stop(Verdict::Error, 1, e))?;
                match dev.read(wait).await {
                    Some(crate::frames::Received::Frame(Frame::Welcome { .. })) => {}
                    other => {
                        return Err(stop(
                            Verdict::Error,
                            1,
                            format!("setting the case up: hello was answered {other:?}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) async fn connect_device(&mut self, k: u8, line: usize) -> Result<(), Stop> {
        let Some(addr) = self.target.device else {
            return Err(stop(
                Verdict::Error,
                line,
                "no device-channel address (--device)",
            ));
        };
        let dev = DeviceConn::connect(
            addr,
            self.target.tls.as_ref(),
            k,
            self.target.connect_timeout,
        )
        .await
        .map_err(|e| stop(Verdict::Error, line, e))?;
        if let Some(mut old) = put(&mut self.devices, k, dev) {
            self.log.append(&mut old.log);
        }
        Ok(())
    }

    pub(super) async fn teardown(&mut self) {
        for conn in self.imap.iter_mut().flatten() {
            let tag = conn.tag();
            let _ = conn.send(format!("{tag} LOGOUT\r\n").as_bytes()).await;
        }
        if self.created.is_empty() {
            return;
        }
        let (Some(addr), wait) = (self.target.imap, self.target.connect_timeout) else {
            return;
        };
        let Ok(mut conn) = ImapConn::connect(addr, self.target.tls.as_ref(), 0, wait).await else {
            return;
        };
        let login = format!(
            "LOGIN {} {}\r\n",
            quote(&self.target.user),
            quote(&self.target.password)
        );
        if Self::setup_on(&mut conn, &login, "LOGIN", wait)
            .await
            .is_ok()
        {
            for name in std::mem::take(&mut self.created) {
                let _ =
                    Self::setup_on(&mut conn, &format!("DELETE {name}\r\n"), "DELETE", wait).await;
            }
        }
        let _ = conn.send(b"z LOGOUT\r\n").await;
    }
}
