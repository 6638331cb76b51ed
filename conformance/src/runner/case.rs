//! Playing one case: its setup (the starting state), its steps, and the verdict.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::device::DeviceConn;
use super::http::{PushService, exchange, render};
use super::imap::{ImapConn, ReadError};
use super::{Finding, Outcome, Target, Verdict};
use crate::frames::Frame;
use crate::imap_syntax::{Kind, Response};
use crate::transcript::expr::{random_hex, render as render_value};
use crate::transcript::http_pattern::HttpMessage;
use crate::transcript::pattern::Bindings;
use crate::transcript::{
    Command, CommandPart, Deadline, Expectation, FrameStep, HttpStep, ImapExpect, ImapStep, Level,
    Presence, PushReply, Role, Step, StepKind, Transcript, Vars,
};

/// Why a case stopped early.
struct Stop {
    verdict: Verdict,
    finding: Finding,
}

fn stop(verdict: Verdict, line: usize, message: impl Into<String>) -> Stop {
    Stop {
        verdict,
        finding: Finding {
            line,
            message: message.into(),
            expected: None,
            actual: None,
        },
    }
}

fn fail(line: usize, message: impl Into<String>, expected: String, actual: Option<String>) -> Stop {
    Stop {
        verdict: Verdict::Fail,
        finding: Finding {
            line,
            message: message.into(),
            expected: Some(expected),
            actual,
        },
    }
}

/// An IMAP command sent and not yet completed.
struct Open {
    line: usize,
    conn: u8,
    tag: String,
    command: Command,
}

struct Play<'a> {
    case: &'a Transcript,
    target: &'a Target,
    push: Option<&'a PushService>,
    vars: Vars,
    imap: Vec<Option<ImapConn>>,
    devices: Vec<Option<DeviceConn>>,
    open: Vec<Open>,
    api_responses: VecDeque<HttpMessage>,
    log: Vec<String>,
    /// The wait of a step without a deadline of its own.
    wait: Duration,
    /// Mailboxes the setup created, deleted afterwards.
    created: Vec<String>,
}

/// Plays one case against the target.
pub async fn run_case(case: &Transcript, target: &Target, push: Option<&PushService>) -> Outcome {
    let started = std::time::Instant::now();
    let mut play = Play {
        case,
        target,
        push,
        vars: Vars::new(),
        imap: Vec::new(),
        devices: Vec::new(),
        open: Vec::new(),
        api_responses: VecDeque::new(),
        log: Vec::new(),
        wait: case.header.timeout,
        created: Vec::new(),
    };
    if let Some(push) = push {
        push.clear();
    }
    let limit = case.header.timeout + target.connect_timeout;
    let result = match tokio::time::timeout(limit, async {
        play.setup().await?;
        play.steps(&case.steps).await?;
        play.finish().await
    })
    .await
    {
        Ok(result) => result,
        Err(_) => Err(stop(
            Verdict::Timeout,
            1,
            format!("the case did not finish within {limit:?}"),
        )),
    };
    play.teardown().await;
    let (mut verdict, finding) = match result {
        Ok(()) => (Verdict::Pass, None),
        Err(s) => (s.verdict, Some(s.finding)),
    };
    if verdict == Verdict::Fail && case.header.level != Level::Must && !target.strict {
        verdict = Verdict::NonStrict;
    }
    let mut log = std::mem::take(&mut play.log);
    for conn in play.imap.iter_mut().flatten() {
        log.extend(conn.take_log());
    }
    for dev in play.devices.iter_mut().flatten() {
        log.append(&mut dev.log);
    }
    Outcome {
        id: case.header.id.clone(),
        verdict,
        finding,
        vars: play
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), render_value(v)))
            .collect(),
        log,
        elapsed: started.elapsed(),
    }
}

/// Puts connection `n` (1-based) in its slot; returns the one it replaces.
fn put<T>(slots: &mut Vec<Option<T>>, n: u8, value: T) -> Option<T> {
    let index = usize::from(n.saturating_sub(1));
    if slots.len() <= index {
        slots.resize_with(index + 1, || None);
    }
    slots[index].replace(value)
}

fn eval_error(line: usize, e: impl std::fmt::Display) -> Stop {
    stop(Verdict::Error, line, format!("the transcript: {e}"))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Play<'_> {
    fn bind(&mut self, bound: Bindings) {
        self.vars.extend(bound);
    }

    fn deadline(&self, d: &Deadline, line: usize) -> Result<(Instant, bool, bool), Stop> {
        // (deadline, must not arrive, explicit)
        match d {
            Deadline::Default => Ok((Instant::now() + self.wait, false, false)),
            Deadline::Within(spec) => Ok((
                Instant::now() + spec.eval(&self.vars).map_err(|e| eval_error(line, e))?,
                false,
                true,
            )),
            Deadline::NotWithin(spec) => Ok((
                Instant::now() + spec.eval(&self.vars).map_err(|e| eval_error(line, e))?,
                true,
                true,
            )),
        }
    }

    async fn setup(&mut self) -> Result<(), Stop> {
        let h = &self.case.header;
        if h.push_reply == PushReply::Scripted {
            return Err(stop(
                Verdict::Error,
                1,
                "this runner does not script push-service replies yet",
            ));
        }
        if let Some(need) = h.harness.first() {
            return Err(stop(
                Verdict::Unsupported,
                1,
                format!("the runner cannot provide `{need}` yet"),
            ));
        }
        self.vars
            .insert("token".into(), Value::String(random_hex(64)));
        self.vars.insert(
            "account".into(),
            Value::String(format!("conform-{}", random_hex(16))),
        );
        match h.role {
            Role::ImapServer => self.setup_imap().await,
            Role::PushServer => self.setup_push().await,
            Role::Device => Err(stop(
                Verdict::Unsupported,
                1,
                "the runner does not play the device role yet",
            )),
        }
    }

    async fn setup_imap(&mut self) -> Result<(), Stop> {
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

    async fn setup_command(
        &self,
        conn: &mut ImapConn,
        command: &str,
        what: &str,
    ) -> Result<(), Stop> {
        Self::setup_on(conn, command, what, self.target.connect_timeout).await
    }

    /// Sends a setup command and requires `OK`; its untagged responses are not the case's.
    async fn setup_on(
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
    async fn require_capabilities(
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

    async fn setup_push(&mut self) -> Result<(), Stop> {
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

    async fn connect_device(&mut self, k: u8, line: usize) -> Result<(), Stop> {
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

    fn device(&mut self, k: u8, line: usize) -> Result<&mut DeviceConn, Stop> {
        self.devices
            .get_mut(usize::from(k).wrapping_sub(1))
            .and_then(Option::as_mut)
            .ok_or_else(|| stop(Verdict::Error, line, format!("dev{k} is not connected")))
    }

    fn conn(&mut self, n: u8, line: usize) -> Result<&mut ImapConn, Stop> {
        self.imap
            .get_mut(usize::from(n).wrapping_sub(1))
            .and_then(Option::as_mut)
            .ok_or_else(|| stop(Verdict::Error, line, format!("connection {n} is not open")))
    }

    async fn finish(&mut self) -> Result<(), Stop> {
        if let Some(open) = self.open.first() {
            return Err(stop(
                Verdict::Error,
                open.line,
                "the transcript leaves this command without its status line",
            ));
        }
        Ok(())
    }

    async fn teardown(&mut self) {
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

    /// Plays steps in order; `repeat` bodies run from a stack rather than by recursion.
    async fn steps(&mut self, steps: &[Step]) -> Result<(), Stop> {
        // (body, next step, this iteration, iterations)
        let mut stack: Vec<(&[Step], usize, u64, u64)> = vec![(steps, 0, 1, 1)];
        while let Some(top) = stack.last_mut() {
            let Some(step) = top.0.get(top.1) else {
                if top.2 < top.3 {
                    top.2 += 1;
                    top.1 = 0;
                    let i = top.2;
                    self.vars.insert("i".into(), Value::from(i));
                } else {
                    stack.pop();
                }
                continue;
            };
            top.1 += 1;
            if let StepKind::Repeat(count, body) = &step.kind {
                let n = count
                    .eval(&self.vars)
                    .map_err(|e| eval_error(step.line, e))?
                    .as_u64()
                    .ok_or_else(|| {
                        eval_error(step.line, "a repeat count that is not a whole number")
                    })?;
                if n > 0 {
                    self.vars.insert("i".into(), Value::from(1));
                    stack.push((body, 0, 1, n));
                }
                continue;
            }
            self.step(step).await?;
        }
        Ok(())
    }

    async fn step(&mut self, step: &Step) -> Result<(), Stop> {
        let line = step.line;
        match &step.kind {
            StepKind::Imap(n, s) => self.imap_step(*n, s, line).await,
            StepKind::Http(channel, s) => self.http_step(channel, s, line).await,
            StepKind::Frame(k, s) => self.frame_step(*k, s, line).await,
            StepKind::Wait(d) => {
                let d = d.eval(&self.vars).map_err(|e| eval_error(line, e))?;
                tokio::time::sleep(d).await;
                Ok(())
            }
            StepKind::Check(e) | StepKind::Assume(e) => {
                let value = e.eval(&self.vars).map_err(|e| eval_error(line, e))?;
                if value == Value::Bool(true) {
                    return Ok(());
                }
                let verdict = if matches!(step.kind, StepKind::Check(_)) {
                    Verdict::Fail
                } else {
                    Verdict::Unsupported
                };
                Err(Stop {
                    verdict,
                    finding: Finding {
                        line,
                        message: format!("`{e}` is {}", render_value(&value)),
                        expected: Some("true".into()),
                        actual: Some(render_value(&value)),
                    },
                })
            }
            StepKind::Let(name, e) => {
                let value = e.eval(&self.vars).map_err(|e| eval_error(line, e))?;
                self.vars.insert(name.clone(), value);
                Ok(())
            }
            // `steps` unrolls repeats.
            StepKind::Repeat(..) => Ok(()),
            StepKind::Restart => Err(stop(
                Verdict::Unsupported,
                line,
                "the runner cannot restart the implementation",
            )),
        }
    }

    async fn imap_step(&mut self, n: u8, s: &ImapStep, line: usize) -> Result<(), Stop> {
        match s {
            // The runner speaks one transport per run (`--tls` or not), so `connect` and
            // `connect cleartext` are one.
            ImapStep::Connect(_) => {
                let Some(addr) = self.target.imap else {
                    return Err(stop(
                        Verdict::Error,
                        line,
                        "no IMAP server address (--imap)",
                    ));
                };
                let conn = ImapConn::connect(
                    addr,
                    self.target.tls.as_ref(),
                    n,
                    self.target.connect_timeout,
                )
                .await
                .map_err(|e| stop(Verdict::Fail, line, e))?;
                if let Some(mut old) = put(&mut self.imap, n, conn) {
                    self.log.extend(old.take_log());
                }
                Ok(())
            }
            ImapStep::Disconnect => {
                if let Some(slot) = self.imap.get_mut(usize::from(n).wrapping_sub(1))
                    && let Some(mut old) = slot.take()
                {
                    self.log.extend(old.take_log());
                }
                Ok(())
            }
            ImapStep::Send(template) => {
                let text = template
                    .render(&self.vars)
                    .map_err(|e| eval_error(line, e))?;
                self.conn(n, line)?
                    .send(format!("{text}\r\n").as_bytes())
                    .await
                    .map_err(|e| stop(Verdict::Fail, line, e))
            }
            ImapStep::Command(command) => self.command(n, command, line).await,
            ImapStep::Complete { command_line } => {
                let Some(i) = self.open.iter().position(|o| o.line == *command_line) else {
                    return Err(stop(Verdict::Error, line, "no open command to complete"));
                };
                let open = self.open.remove(i);
                self.complete(open, line).await
            }
            ImapStep::Expect(deadline, expect) => self.imap_expect(n, deadline, expect, line).await,
        }
    }

    async fn command(&mut self, n: u8, command: &Command, line: usize) -> Result<(), Stop> {
        let mut pieces = Vec::new();
        for part in &command.parts {
            match part {
                CommandPart::Text(t) => {
                    pieces.push((
                        false,
                        t.render(&self.vars).map_err(|e| eval_error(line, e))?,
                    ));
                }
                CommandPart::Literal(t) => {
                    pieces.push((true, t.render(&self.vars).map_err(|e| eval_error(line, e))?));
                }
            }
        }
        let wait = Instant::now() + self.wait;
        let conn = self.conn(n, line)?;
        let tag = conn.tag();
        let mut out = format!("{tag} ");
        for (literal, text) in pieces {
            if !literal {
                out.push_str(&text);
                continue;
            }
            out.push_str(&format!("{{{}}}\r\n", text.len()));
            conn.send(out.as_bytes())
                .await
                .map_err(|e| stop(Verdict::Fail, line, e))?;
            out.clear();
            // The literal waits for the server's continuation.
            loop {
                let response = conn.read(wait).await.map_err(|e| {
                    stop(
                        Verdict::Fail,
                        line,
                        format!("no continuation for a literal: {e:?}"),
                    )
                })?;
                match response.kind {
                    Kind::Continuation => break,
                    Kind::Tagged(ref t) if *t == tag => {
                        return Err(fail(
                            line,
                            "the server refused the literal",
                            "+ (a continuation)".into(),
                            Some(response.raw),
                        ));
                    }
                    _ => conn.keep(response),
                }
            }
            out.push_str(&text);
        }
        out.push_str("\r\n");
        conn.send(out.as_bytes())
            .await
            .map_err(|e| stop(Verdict::Fail, line, e))?;
        let open = Open {
            line,
            conn: n,
            tag,
            command: command.clone(),
        };
        if command.open {
            self.open.push(open);
            Ok(())
        } else {
            self.complete(open, line).await
        }
    }

    async fn complete(&mut self, open: Open, line: usize) -> Result<(), Stop> {
        let wait = Instant::now() + self.wait;
        let conn = self.conn(open.conn, line)?;
        let (tagged, untagged) = match conn.complete(&open.tag, wait).await {
            Ok(done) => done,
            Err(ReadError::Timeout) => {
                return Err(stop(
                    Verdict::Timeout,
                    line,
                    format!("no tagged response within {:?}", self.wait),
                ));
            }
            Err(e) => {
                return Err(stop(
                    Verdict::Fail,
                    line,
                    format!("no tagged response: {e:?}"),
                ));
            }
        };
        let untagged: Vec<Response> = untagged
            .into_iter()
            .filter(|r| r.kind == Kind::Untagged)
            .collect();
        let command = &open.command;
        let status_line = command.status_line.unwrap_or(open.line);
        let word = tagged.status().unwrap_or_default();
        if let Some(status) = command.status
            && !status.accepts(&word)
        {
            return Err(fail(
                status_line,
                "the tagged response has another status",
                status.as_str().to_owned(),
                Some(tagged.raw),
            ));
        }
        if let Some(pattern) = &command.status_pattern {
            let mut bound = Bindings::new();
            let rest = tagged.tokens.get(1..).unwrap_or(&[]);
            if !pattern.matches(rest, &self.vars, &mut bound) {
                return Err(fail(
                    status_line,
                    "the tagged response does not match",
                    format!("{word} {}", pattern.expand(&self.vars)),
                    Some(tagged.raw),
                ));
            }
            self.bind(bound);
        }
        self.expectations(
            &command.expectations,
            command.ordered,
            command.exact,
            &untagged,
        )
    }

    /// Judges the untagged responses of a command against its expectation lines.
    fn expectations(
        &mut self,
        expectations: &[Expectation],
        ordered: bool,
        exact: bool,
        untagged: &[Response],
    ) -> Result<(), Stop> {
        let mut used = vec![false; untagged.len()];
        let mut after = 0;
        for e in expectations {
            let from = if ordered && e.presence == Presence::Must {
                after
            } else {
                0
            };
            let mut found = None;
            for (i, r) in untagged.iter().enumerate().skip(from) {
                if used[i] && e.presence != Presence::MustNot {
                    continue;
                }
                let mut bound = Bindings::new();
                if e.pattern.matches(&r.tokens, &self.vars, &mut bound) {
                    found = Some((i, bound));
                    break;
                }
            }
            match (e.presence, found) {
                (Presence::Must, Some((i, bound))) => {
                    used[i] = true;
                    after = i + 1;
                    self.bind(bound);
                }
                (Presence::Must, None) => {
                    let closest = untagged
                        .iter()
                        .max_by_key(|r| e.pattern.closeness(&r.tokens, &self.vars))
                        .map(|r| r.raw.clone());
                    return Err(fail(
                        e.line,
                        "no untagged response matches",
                        format!("* {}", e.pattern.expand(&self.vars)),
                        closest,
                    ));
                }
                (Presence::MustNot, Some((i, _))) => {
                    return Err(fail(
                        e.line,
                        "an untagged response the case forbids",
                        format!("no * {}", e.pattern.expand(&self.vars)),
                        Some(untagged[i].raw.clone()),
                    ));
                }
                (Presence::May, Some((i, bound))) => {
                    used[i] = true;
                    self.bind(bound);
                }
                (Presence::MustNot | Presence::May, None) => {}
            }
        }
        if exact && let Some(i) = used.iter().position(|u| !u) {
            let line = expectations.first().map_or(0, |e| e.line);
            return Err(fail(
                line,
                "an untagged response no line of the case allows ($!exact)",
                "only the responses listed".into(),
                Some(untagged[i].raw.clone()),
            ));
        }
        Ok(())
    }

    async fn imap_expect(
        &mut self,
        n: u8,
        deadline: &Deadline,
        expect: &ImapExpect,
        line: usize,
    ) -> Result<(), Stop> {
        let (until, must_not, explicit) = self.deadline(deadline, line)?;
        let vars = self.vars.clone();
        let conn = self.conn(n, line)?;
        let fits = |r: &Response, bound: &mut Bindings| match expect {
            ImapExpect::Untagged(p) => {
                r.kind == Kind::Untagged && p.matches(&r.tokens, &vars, bound)
            }
            ImapExpect::Continuation(p) => {
                r.kind == Kind::Continuation && p.matches(&r.tokens, &vars, bound)
            }
            ImapExpect::Eof => false,
        };
        let mut bound = Bindings::new();
        let mut found: Option<String> = None;
        if let Some(i) = conn.unclaimed.iter().position(|r| fits(r, &mut bound)) {
            found = conn.unclaimed.remove(i).map(|r| r.raw);
        }
        let mut eof = false;
        while found.is_none() && !eof {
            match conn.read(until).await {
                Ok(r) => {
                    if fits(&r, &mut bound) {
                        found = Some(r.raw);
                    } else {
                        conn.keep(r);
                    }
                }
                Err(ReadError::Timeout) => break,
                Err(ReadError::Eof | ReadError::Io(_)) => eof = true,
            }
        }
        let expected = match expect {
            ImapExpect::Untagged(p) => format!("* {}", p.expand(&vars)),
            ImapExpect::Continuation(p) => format!("+ {}", p.expand(&vars)),
            ImapExpect::Eof => "the connection closed".into(),
        };
        let arrived = found.is_some() || (eof && matches!(expect, ImapExpect::Eof));
        match (arrived, must_not) {
            (true, false) => {
                self.bind(bound);
                Ok(())
            }
            (false, true) => Ok(()),
            (true, true) => Err(fail(
                line,
                "it arrived in time, and must not",
                format!("not {expected}"),
                found,
            )),
            (false, false) if eof => Err(fail(line, "the connection closed first", expected, None)),
            (false, false) => {
                let verdict = if explicit {
                    Verdict::Fail
                } else {
                    Verdict::Timeout
                };
                let closest = self.conn(n, line)?.unclaimed.back().map(|r| r.raw.clone());
                Err(Stop {
                    verdict,
                    finding: Finding {
                        line,
                        message: "it did not arrive in time".into(),
                        expected: Some(expected),
                        actual: closest,
                    },
                })
            }
        }
    }

    async fn http_step(&mut self, channel: &str, s: &HttpStep, line: usize) -> Result<(), Stop> {
        match (channel, s) {
            ("api", HttpStep::Send(template)) => {
                let Some(api) = self.target.api else {
                    return Err(stop(
                        Verdict::Error,
                        line,
                        "no provider API address (--api)",
                    ));
                };
                let request = render(template, &self.vars, &api.to_string())
                    .map_err(|e| eval_error(line, e))?;
                self.log.push(format!(
                    "api C: {}",
                    String::from_utf8_lossy(&request).trim_end()
                ));
                let response = exchange(api, self.target.tls.as_ref(), &request, self.wait)
                    .await
                    .map_err(|e| stop(Verdict::Fail, line, e))?;
                self.log.push(format!("api S: {}", response.summary()));
                self.api_responses.push_back(response);
                Ok(())
            }
            ("api", HttpStep::Expect(_, pattern)) => {
                let Some(response) = self.api_responses.pop_front() else {
                    return Err(stop(
                        Verdict::Error,
                        line,
                        "no `api ->` request before this response",
                    ));
                };
                let mut bound = Bindings::new();
                pattern
                    .matches(&response, &self.vars, &mut bound)
                    .map_err(|why| {
                        fail(
                            line,
                            why,
                            pattern.expand(&self.vars),
                            Some(response.summary()),
                        )
                    })?;
                self.bind(bound);
                Ok(())
            }
            ("push", HttpStep::Expect(deadline, pattern)) => {
                let Some(push) = self.push else {
                    return Err(stop(
                        Verdict::Error,
                        line,
                        "the runner plays no push service (--push-listen)",
                    ));
                };
                let (until, must_not, explicit) = self.deadline(deadline, line)?;
                let vars = self.vars.clone();
                let mut bound = Bindings::new();
                let taken = push
                    .take(until, |m| {
                        let mut b = Bindings::new();
                        if pattern.matches(m, &vars, &mut b).is_ok() {
                            bound = b;
                            true
                        } else {
                            false
                        }
                    })
                    .await;
                if let Some(m) = &taken {
                    self.log.push(format!("push S: {}", m.summary()));
                }
                let expected = pattern.expand(&self.vars);
                match (taken, must_not) {
                    (Some(_), false) => {
                        self.bind(bound);
                        Ok(())
                    }
                    (None, true) => Ok(()),
                    (Some(m), true) => Err(fail(
                        line,
                        "a push request arrived in time, and must not",
                        format!("no {expected}"),
                        Some(m.summary()),
                    )),
                    (None, false) => Err(Stop {
                        verdict: if explicit {
                            Verdict::Fail
                        } else {
                            Verdict::Timeout
                        },
                        finding: Finding {
                            line,
                            message: "no matching push request arrived in time".into(),
                            expected: Some(expected),
                            actual: push.pending().pop(),
                        },
                    }),
                }
            }
            _ => Err(stop(
                Verdict::Error,
                line,
                format!("this runner does not play `{channel}` steps of this kind"),
            )),
        }
    }

    async fn frame_step(&mut self, k: u8, s: &FrameStep, line: usize) -> Result<(), Stop> {
        match s {
            FrameStep::Connect => self.connect_device(k, line).await,
            FrameStep::Disconnect => {
                if let Some(slot) = self.devices.get_mut(usize::from(k).wrapping_sub(1))
                    && let Some(mut dev) = slot.take()
                {
                    self.log.append(&mut dev.log);
                }
                Ok(())
            }
            FrameStep::Send(template) => {
                let octets = template
                    .render(&self.vars)
                    .map_err(|e| eval_error(line, e))?;
                self.device(k, line)?
                    .send(&octets)
                    .await
                    .map_err(|e| stop(Verdict::Fail, line, e))
            }
            FrameStep::Expect(deadline, pattern) => {
                let (until, must_not, explicit) = self.deadline(deadline, line)?;
                let vars = self.vars.clone();
                let dev = self.device(k, line)?;
                let mut bound = Bindings::new();
                let mut found = None;
                if let Some(i) = dev
                    .unclaimed
                    .iter()
                    .position(|r| pattern.matches(r, &vars, &mut bound))
                {
                    found = dev.unclaimed.remove(i);
                }
                while found.is_none() {
                    let Some(r) = dev.read(until).await else {
                        break;
                    };
                    let eof = !matches!(r, crate::frames::Received::Frame(_));
                    if pattern.matches(&r, &vars, &mut bound) {
                        found = Some(r);
                    } else {
                        dev.unclaimed.push_back(r);
                        if eof {
                            break;
                        }
                    }
                }
                let expected = pattern.expand(&vars);
                let last = dev.unclaimed.back().map(|r| format!("{r:?}"));
                match (found, must_not) {
                    (Some(_), false) => {
                        self.bind(bound);
                        Ok(())
                    }
                    (None, true) => Ok(()),
                    (Some(r), true) => Err(fail(
                        line,
                        "it arrived in time, and must not",
                        format!("no {expected}"),
                        Some(format!("{r:?}")),
                    )),
                    (None, false) => Err(Stop {
                        verdict: if explicit {
                            Verdict::Fail
                        } else {
                            Verdict::Timeout
                        },
                        finding: Finding {
                            line,
                            message: "no matching frame arrived in time".into(),
                            expected: Some(expected),
                            actual: last,
                        },
                    }),
                }
            }
        }
    }
}
