//! Device-channel steps: connecting a device, frames sent and frames expected.

use std::collections::VecDeque;

use tokio::time::Instant;

use crate::frames::Received;
use crate::runner::Verdict;
use crate::runner::device::DeviceConn;
use crate::transcript::FrameStep;

use super::{Arrival, Arrivals, Play, Stop, claim, eval_error, stop};

impl Arrivals for DeviceConn {
    type Item = Received;

    fn unclaimed(&mut self) -> &mut VecDeque<Received> {
        &mut self.unclaimed
    }

    async fn next(&mut self, until: Instant) -> Option<Received> {
        self.read(until).await
    }

    fn is_last(item: &Received) -> bool {
        !matches!(item, Received::Frame(_))
    }
}

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
                let (found, bound) =
                    claim(dev, until, |r, bound| pattern.matches(r, &vars, bound)).await;
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
