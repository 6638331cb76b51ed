//! HTTP steps: requests to the provider API and the pushes the implementation sends to the
//! runner's push service.

use crate::runner::Verdict;
use crate::runner::http::{exchange, render};
use crate::transcript::HttpStep;
use crate::transcript::pattern::Bindings;

use super::{Arrival, Play, Stop, eval_error, fail, stop};

impl Play<'_> {
    pub(super) async fn http_step(
        &mut self,
        channel: &str,
        s: &HttpStep,
        line: usize,
    ) -> Result<(), Stop> {
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
                let token = self.case_token();
                let taken = push
                    .take(&token, until, |m| {
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
                let closest = push.pending(&token).pop();
                self.judge_arrival(
                    line,
                    must_not,
                    explicit,
                    Arrival {
                        arrived: taken.is_some(),
                        shown: taken.map(|m| m.summary()),
                        bound,
                        expected,
                        missing: "no matching push request arrived in time",
                        closest,
                    },
                )
            }
            ("push", HttpStep::Send(template)) => {
                let Some(push) = self.push else {
                    return Err(stop(
                        Verdict::Error,
                        line,
                        "the runner plays no push service (--push-listen)",
                    ));
                };
                let response = render(template, &self.vars, "").map_err(|e| eval_error(line, e))?;
                self.log.push(format!(
                    "push answer: {}",
                    String::from_utf8_lossy(&response).trim_end()
                ));
                push.reply(&self.case_token(), response)
                    .map_err(|e| stop(Verdict::Error, line, e))
            }
            _ => Err(stop(
                Verdict::Error,
                line,
                format!("this runner does not play `{channel}` steps of this kind"),
            )),
        }
    }
}

impl Play<'_> {
    /// The device token the case's pushes go to: the runner's push service keeps the requests
    /// for it apart from those of other cases.
    fn case_token(&self) -> String {
        self.vars
            .get("token")
            .map(crate::transcript::expr::render)
            .unwrap_or_default()
    }
}
