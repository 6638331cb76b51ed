//! Playing one case: its setup (the starting state), its steps, and the verdict. The setup and
//! teardown live in `setup`; each kind of step is played in the module of its channel (`imap`,
//! `http`, `frames`); this module holds the play's state and the order of steps.

mod app;
mod cleartext;
mod client;
mod frames;
mod http;
mod imap;
mod restart;
mod setup;

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::device::DeviceConn;
use super::http::PushService;
use super::imap::ImapConn;
use super::{Finding, Outcome, Target, Verdict};
use crate::transcript::expr::render as render_value;
use crate::transcript::http_pattern::HttpMessage;
use crate::transcript::pattern::Bindings;
use crate::transcript::{Command, Deadline, Level, Step, StepKind, Transcript, Vars};

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

/// Where what a step waits for arrives from: the frames of a device connection, the commands
/// the device under test sends.
trait Arrivals {
    type Item;
    /// What arrived earlier and no step claimed yet, oldest first.
    fn unclaimed(&mut self) -> &mut VecDeque<Self::Item>;
    /// The next arrival; `None` when nothing arrived before `until`, or nothing more can.
    async fn next(&mut self, until: Instant) -> Option<Self::Item>;
    /// Whether nothing can arrive after `item` (it ends the connection).
    fn is_last(item: &Self::Item) -> bool;
}

/// The first arrival `matches` accepts, and what the match bound: looked for among the
/// unclaimed ones first, then waited for until `until`. What it does not accept stays
/// unclaimed, in order, for the steps after.
async fn claim<A: Arrivals>(
    source: &mut A,
    until: Instant,
    mut matches: impl FnMut(&A::Item, &mut Bindings) -> bool,
) -> (Option<A::Item>, Bindings) {
    let mut bound = Bindings::new();
    let unclaimed = source.unclaimed();
    if let Some(i) = unclaimed.iter().position(|item| {
        bound.clear();
        matches(item, &mut bound)
    }) {
        return (unclaimed.remove(i), bound);
    }
    while let Some(item) = source.next(until).await {
        bound.clear();
        if matches(&item, &mut bound) {
            return (Some(item), bound);
        }
        let last = A::is_last(&item);
        source.unclaimed().push_back(item);
        if last {
            break;
        }
    }
    bound.clear();
    (None, bound)
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
    /// Device cases: the servers the runner plays and the implementation it started.
    side: Option<super::client::Side>,
    /// The application command started last and not yet judged, with its line.
    app: Option<(usize, app::Running)>,
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
        side: None,
        app: None,
    };
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
    if let Some((_, running)) = play.app.take() {
        running.stop();
    }
    if let Some(push) = push
        && let Some(token) = play.vars.get("token")
    {
        push.release(&render_value(token));
    }
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
    if let Some(mut side) = play.side.take() {
        log.extend(side.take_log());
        side.stop().await;
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

/// What a `<-` expectation saw by its deadline.
struct Arrival {
    /// Whether what it expects arrived (or, for the end of a connection, happened).
    arrived: bool,
    /// What arrived, as the report shows it.
    shown: Option<String>,
    /// The captures of the match.
    bound: Bindings,
    /// What the case expects, as the report shows it.
    expected: String,
    /// Said when nothing matched: what did not arrive.
    missing: &'static str,
    /// Shown when nothing matched: the last thing that arrived without matching.
    closest: Option<String>,
}

impl Play<'_> {
    fn bind(&mut self, bound: Bindings) {
        self.vars.extend(bound);
    }

    /// Judges what an expectation saw: a match binds its captures, a match that must not arrive
    /// fails, and no match fails by a deadline the case named but times out by the default wait
    /// (the implementation may only be slow).
    fn judge_arrival(
        &mut self,
        line: usize,
        must_not: bool,
        explicit: bool,
        a: Arrival,
    ) -> Result<(), Stop> {
        match (a.arrived, must_not) {
            (true, false) => {
                self.bind(a.bound);
                Ok(())
            }
            (false, true) => Ok(()),
            (true, true) => Err(fail(
                line,
                "it arrived in time, and must not",
                format!("no {}", a.expected),
                a.shown,
            )),
            (false, false) => Err(Stop {
                verdict: if explicit {
                    Verdict::Fail
                } else {
                    Verdict::Timeout
                },
                finding: Finding {
                    line,
                    message: a.missing.into(),
                    expected: Some(a.expected),
                    actual: a.closest,
                },
            }),
        }
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
            StepKind::DeviceImap(s) => self.device_imap_step(s, line).await,
            StepKind::App(s) => self.app_step(s, line).await,
            StepKind::Http(channel, s) => self.http_step(channel, s, line).await,
            StepKind::Frame(k, s) => self.frame_step(*k, s, line).await,
            StepKind::Cleartext(service, d) => self.cleartext_step(*service, d, line).await,
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
            StepKind::Restart if self.side.is_some() => self.restart_device(line).await,
            StepKind::Restart => self.restart(line).await,
        }
    }
}
