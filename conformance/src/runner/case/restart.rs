//! The `restart` step: the implementation under test is restarted, and the case's connections
//! to it, which the restart ends, are closed; the case connects again when it needs to.

use crate::runner::Verdict;

use super::{Play, Stop, stop};

impl Play<'_> {
    pub(super) async fn restart(&mut self, line: usize) -> Result<(), Stop> {
        let Some(restart) = self.target.restart.clone() else {
            return Err(stop(
                Verdict::Unsupported,
                line,
                "the runner cannot restart the implementation (--restart-cmd)",
            ));
        };
        if let Some(open) = self.open.first() {
            return Err(stop(
                Verdict::Error,
                open.line,
                "the transcript restarts the implementation before this command's status line",
            ));
        }
        for mut conn in self.imap.drain(..).flatten() {
            self.log.extend(conn.take_log());
        }
        for mut dev in self.devices.drain(..).flatten() {
            self.log.append(&mut dev.log);
        }
        self.log.push("restart".into());
        let addrs: Vec<_> = [self.target.imap, self.target.api, self.target.device]
            .into_iter()
            .flatten()
            .collect();
        restart
            .run(&addrs, self.target.connect_timeout)
            .await
            .map_err(|e| stop(Verdict::Error, line, e))
    }
}
