//! The device role's steps: the starting state (servers bound, implementation started), the
//! commands the device sends and the lines the runner answers (`imap <-`, `imap ->`), the
//! device-channel connections the device opens (`devN`), and `restart`.

use serde_json::Value;

use std::collections::VecDeque;

use tokio::time::Instant;

use crate::runner::Verdict;
use crate::runner::client::imap::{DeviceCommand, OptionalCommand};
use crate::runner::client::{Identity, MAILBOX_NAMES, Side, imap};
use crate::runner::device::DeviceConn;
use crate::transcript::expr::random_hex;
use crate::transcript::{Deadline, DeviceImapStep};

use super::{Arrival, Arrivals, Play, Stop, claim, eval_error, put, stop};

impl Arrivals for Side {
    type Item = DeviceCommand;

    fn unclaimed(&mut self) -> &mut VecDeque<DeviceCommand> {
        &mut self.unclaimed
    }

    async fn next(&mut self, until: Instant) -> Option<DeviceCommand> {
        tokio::time::timeout_at(until, self.commands.recv())
            .await
            .ok()
            .flatten()
    }

    fn is_last(_: &DeviceCommand) -> bool {
        // Commands come from every connection the device opens; none ends the others.
        false
    }
}

impl Play<'_> {
    pub(super) async fn setup_device(&mut self) -> Result<(), Stop> {
        let Some(exec) = self.target.exec.as_ref() else {
            return Err(stop(
                Verdict::Error,
                1,
                "a device case needs the implementation's command (--exec)",
            ));
        };
        let count = usize::from(self.case.header.mailboxes.max(1));
        let identity = Identity {
            user: if self.target.user.is_empty() {
                "conform".into()
            } else {
                self.target.user.clone()
            },
            password: if self.target.password.is_empty() {
                random_hex(16)
            } else {
                self.target.password.clone()
            },
            account: format!("conform-{}", random_hex(8)),
            registration: random_hex(32),
            token: random_hex(64),
            secret: random_hex(64),
            mailboxes: MAILBOX_NAMES
                .iter()
                .take(count)
                .map(|m| (*m).to_owned())
                .collect(),
            capabilities: match &self.case.header.imap_capabilities {
                Some(names) => names.join(" "),
                None => imap::CAPABILITIES.to_owned(),
            },
        };
        let text = |s: &str| Value::String(s.to_owned());
        let v = &mut self.vars;
        v.insert("user".into(), text(&identity.user));
        v.insert("password".into(), text(&identity.password));
        v.insert("account".into(), text(&identity.account));
        v.insert("registration".into(), text(&identity.registration));
        v.insert("token".into(), text(&identity.token));
        v.insert("secret".into(), text(&identity.secret));
        let poll_ms = self.case.header.poll.map_or(exec.poll_ms, |d| {
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
        });
        v.insert("poll_ms".into(), Value::from(poll_ms));
        for (k, name) in identity.mailboxes.iter().enumerate() {
            v.insert(format!("mailbox{}", k + 1), text(name));
        }
        v.insert("mailbox".into(), text(&identity.mailboxes[0]));
        let side = Side::start(exec, &identity, poll_ms, &self.target.config)
            .await
            .map_err(|e| stop(Verdict::Error, 1, e))?;
        self.side = Some(side);
        Ok(())
    }

    fn side(&mut self, line: usize) -> Result<&mut Side, Stop> {
        self.side.as_mut().ok_or_else(|| {
            stop(
                Verdict::Error,
                line,
                "only device cases play the mail server",
            )
        })
    }

    pub(super) async fn device_imap_step(
        &mut self,
        s: &DeviceImapStep,
        line: usize,
    ) -> Result<(), Stop> {
        match s {
            DeviceImapStep::Send(template) => {
                let text = template
                    .render(&self.vars)
                    .map_err(|e| eval_error(line, e))?;
                let side = self.side(line)?;
                let (conn, _) = side.current.ok_or_else(|| {
                    stop(
                        Verdict::Error,
                        line,
                        "`imap ->` before any `imap <-`: no connection to answer on",
                    )
                })?;
                side.wires
                    .send(conn, &text)
                    .map_err(|e| stop(Verdict::Fail, line, e))
            }
            DeviceImapStep::May(pattern, answer) => {
                // The answer may use what is bound now and the command's `$tag`: checked here,
                // since nothing is there to fail when the command comes.
                let mut vars = self.vars.clone();
                vars.insert("tag".into(), Value::String("tag".into()));
                for template in answer {
                    template.render(&vars).map_err(|e| eval_error(line, e))?;
                }
                vars.remove("tag");
                let side = self.side(line)?;
                let (conn, seq) = side.current.ok_or_else(|| {
                    stop(
                        Verdict::Error,
                        line,
                        "`imap <- may` before any `imap <-`: no connection to expect it on",
                    )
                })?;
                let armed = OptionalCommand {
                    conn,
                    seq: seq + 1,
                    pattern: pattern.clone(),
                    answer: answer.clone(),
                    vars,
                };
                // It may have come already, pipelined with the command before it.
                let commands = &mut side.commands;
                side.wires.arm(armed, &mut side.unclaimed, |unclaimed| {
                    while let Ok(command) = commands.try_recv() {
                        unclaimed.push_back(command);
                    }
                });
                Ok(())
            }
            DeviceImapStep::Expect(deadline, pattern) => {
                let (until, must_not, explicit) = self.deadline(deadline, line)?;
                let vars = self.vars.clone();
                let side = self.side(line)?;
                let (found, mut bound) = claim(side, until, |c, bound| {
                    pattern.matches(&c.tokens, &vars, bound)
                })
                .await;
                let closest = side
                    .unclaimed
                    .iter()
                    .max_by_key(|c| pattern.closeness(&c.tokens, &vars))
                    .map(|c| c.raw.clone());
                let shown = found.as_ref().map(|c| c.raw.clone());
                if let Some(command) = &found
                    && !must_not
                {
                    side.current = Some((command.conn, command.seq));
                    bound.push(("tag".into(), Value::String(command.tag.clone())));
                }
                self.judge_arrival(
                    line,
                    must_not,
                    explicit,
                    Arrival {
                        arrived: found.is_some(),
                        shown,
                        bound,
                        expected: pattern.expand(&vars),
                        missing: "the device sent no matching command in time",
                        closest,
                    },
                )
            }
        }
    }

    /// Gives `devN` the next device-channel connection the device opens, unless it has one.
    pub(super) async fn accept_device(
        &mut self,
        k: u8,
        deadline: &Deadline,
        line: usize,
    ) -> Result<(), Stop> {
        if self
            .devices
            .get(usize::from(k).wrapping_sub(1))
            .is_some_and(Option::is_some)
        {
            return Ok(());
        }
        let (until, must_not, _) = self.deadline(deadline, line)?;
        // A `not within` expectation on a connection not yet open waits the case's timeout for
        // the connection: the deadline judges frames, not the connecting.
        let until = if must_not {
            tokio::time::Instant::now() + self.wait
        } else {
            until
        };
        let side = self.side(line)?;
        let Ok(Some(stream)) = tokio::time::timeout_at(until, side.channel.recv()).await else {
            return Err(stop(
                Verdict::Fail,
                line,
                format!("the device did not open device-channel connection dev{k} in time"),
            ));
        };
        side.accepted = side.accepted.saturating_add(1);
        if let Some(mut old) = put(&mut self.devices, k, DeviceConn::accepted(stream, k)) {
            self.log.append(&mut old.log);
        }
        Ok(())
    }

    pub(super) async fn restart_device(&mut self, line: usize) -> Result<(), Stop> {
        let side = self.side(line)?;
        side.restart()
            .await
            .map_err(|e| stop(Verdict::Error, line, e))?;
        side.unclaimed.clear();
        // Commands the killed process sent and nobody answered are not the new one's.
        while side.commands.try_recv().is_ok() {}
        side.current = None;
        side.wires.disarm_all();
        Ok(())
    }
}
