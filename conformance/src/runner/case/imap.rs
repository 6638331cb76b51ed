//! IMAP steps: commands, their literals and completion, and the untagged responses a case
//! expects.

use tokio::time::Instant;

use crate::imap_syntax::{Kind, Response};
use crate::runner::Verdict;
use crate::runner::imap::{ImapConn, ReadError};
use crate::transcript::pattern::Bindings;
use crate::transcript::{
    Command, CommandPart, Deadline, Expectation, ImapExpect, ImapStep, Presence,
};

use super::{Arrival, Open, Play, Stop, eval_error, fail, put, stop};

impl Play<'_> {
    pub(super) async fn imap_step(&mut self, n: u8, s: &ImapStep, line: usize) -> Result<(), Stop> {
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

    pub(super) async fn command(
        &mut self,
        n: u8,
        command: &Command,
        line: usize,
    ) -> Result<(), Stop> {
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

    pub(super) async fn complete(&mut self, open: Open, line: usize) -> Result<(), Stop> {
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
    pub(super) fn expectations(
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

    pub(super) async fn imap_expect(
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
        if !arrived && !must_not && eof {
            return Err(fail(line, "the connection closed first", expected, None));
        }
        let closest = self.conn(n, line)?.unclaimed.back().map(|r| r.raw.clone());
        self.judge_arrival(
            line,
            must_not,
            explicit,
            Arrival {
                arrived,
                shown: found,
                bound,
                expected,
                missing: "it did not arrive in time",
                closest,
            },
        )
    }
}
