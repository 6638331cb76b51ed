//! The `app` steps of a device case: `app ->` starts the application command (`--app`) and
//! lets the case go on (the application talks to the device, which talks to the mail server
//! the case plays); `app <-` waits for it to end and judges its exit status and output lines.

use tokio::task::JoinHandle;

use crate::imap_syntax::parse_response;
use crate::runner::Verdict;
use crate::runner::client::app::AppEnded;
use crate::transcript::expr::render as render_value;
use crate::transcript::{AppFinish, AppStep, Expr};

use super::{Play, Stop, eval_error, fail, stop};

/// An application command that was started and not yet judged.
pub(super) struct Running {
    ended: JoinHandle<Result<AppEnded, String>>,
    action: &'static str,
}

impl Running {
    /// Stops the command if it still runs (dropping the child kills it).
    pub(super) fn stop(self) {
        self.ended.abort();
    }
}

impl Play<'_> {
    pub(super) async fn app_step(&mut self, s: &AppStep, line: usize) -> Result<(), Stop> {
        match s {
            AppStep::Run { action, id, text } => {
                if let Some((started, _)) = &self.app {
                    return Err(stop(
                        Verdict::Error,
                        line,
                        format!(
                            "the application command of line {started} has not been judged: `app <-` first"
                        ),
                    ));
                }
                let eval = |e: &Option<Expr>, vars| match e {
                    Some(e) => e.eval(vars).map(|v| render_value(&v)),
                    None => Ok(String::new()),
                };
                let id = eval(id, &self.vars).map_err(|e| eval_error(line, e))?;
                let text = eval(text, &self.vars).map_err(|e| eval_error(line, e))?;
                let Some(app) = self.target.app.clone() else {
                    return Err(stop(
                        Verdict::Unsupported,
                        line,
                        "no application command (--app)",
                    ));
                };
                let side = self.side.as_ref().ok_or_else(|| {
                    stop(
                        Verdict::Error,
                        line,
                        "only device cases have an application",
                    )
                })?;
                let ended = side
                    .start_app(&app, *action, &id, &text)
                    .map_err(|e| stop(Verdict::Error, line, e))?;
                self.log.push(format!(
                    "app: started {} (line {line}){}{}",
                    action.as_str(),
                    if id.is_empty() {
                        String::new()
                    } else {
                        format!(" id={id}")
                    },
                    if text.is_empty() {
                        String::new()
                    } else {
                        format!(" text={text:?}")
                    },
                ));
                self.app = Some((
                    line,
                    Running {
                        ended,
                        action: action.as_str(),
                    },
                ));
                Ok(())
            }
            AppStep::Finish(finish) => self.app_finish(finish, line).await,
        }
    }

    async fn app_finish(&mut self, finish: &AppFinish, line: usize) -> Result<(), Stop> {
        let (until, must_not, explicit) = self.deadline(&finish.deadline, line)?;
        if must_not {
            return Err(stop(
                Verdict::Error,
                line,
                "`app <- not within` is not a thing a case can ask: say when it must end",
            ));
        }
        let Some((_, mut running)) = self.app.take() else {
            return Err(stop(
                Verdict::Error,
                line,
                "`app <-` without an application command started by `app ->`",
            ));
        };
        let ended = match tokio::time::timeout_at(until, &mut running.ended).await {
            Ok(Ok(Ok(ended))) => ended,
            Ok(Ok(Err(e))) => return Err(stop(Verdict::Error, line, e)),
            Ok(Err(e)) => {
                return Err(stop(
                    Verdict::Error,
                    line,
                    format!("the application task: {e}"),
                ));
            }
            Err(_) => {
                let action = running.action;
                running.stop();
                return Err(Stop {
                    verdict: if explicit {
                        Verdict::Fail
                    } else {
                        Verdict::Timeout
                    },
                    finding: super::Finding {
                        line,
                        message: format!("the application's `{}` did not end in time", action),
                        expected: Some(if finish.success { "ok" } else { "fail" }.into()),
                        actual: None,
                    },
                });
            }
        };
        self.log
            .push(format!("app: {} ended ({})", running.action, ended.status));
        for out in ended.output.lines() {
            self.log.push(format!("app> {out}"));
        }
        if ended.success != finish.success {
            return Err(fail(
                line,
                if finish.success {
                    "the application refused what the case asks it to do"
                } else {
                    "the application did what it must refuse"
                },
                if finish.success {
                    "exit status 0"
                } else {
                    "an exit status other than 0"
                }
                .into(),
                Some(ended.status),
            ));
        }
        // Each line is judged like an untagged response: its words are the tokens.
        let lines: Vec<_> = ended
            .output
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| parse_response(format!("* {l}").as_bytes()))
            .collect();
        self.expectations(&finish.expectations, finish.ordered, finish.exact, &lines)
    }
}
