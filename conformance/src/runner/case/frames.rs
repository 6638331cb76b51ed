//! Device-channel steps: connecting a device, frames sent and frames expected.

use crate::runner::Verdict;
use crate::transcript::FrameStep;
use crate::transcript::pattern::Bindings;

use super::{Arrival, Play, Stop, eval_error, stop};

impl Play<'_> {
    pub(super) async fn frame_step(
        &mut self,
        k: u8,
        s: &FrameStep,
        line: usize,
    ) -> Result<(), Stop> {
        if self.side.is_some() {
            // In a device case the device opens the connections; `devN` names the next one.
            match s {
                FrameStep::Connect | FrameStep::Send(_) => {
                    self.accept_device(k, &crate::transcript::Deadline::Default, line)
                        .await?;
                }
                FrameStep::Expect(deadline, _) => self.accept_device(k, deadline, line).await?,
                FrameStep::Disconnect => {}
            }
            if matches!(s, FrameStep::Connect) {
                return Ok(());
            }
        }
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
                let shown = found.as_ref().map(|r| format!("{r:?}"));
                self.judge_arrival(
                    line,
                    must_not,
                    explicit,
                    Arrival {
                        arrived: found.is_some(),
                        shown,
                        bound,
                        expected,
                        missing: "no matching frame arrived in time",
                        closest: last,
                    },
                )
            }
        }
    }
}
