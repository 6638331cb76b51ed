//! The `restart` harness ability: the runner restarts the implementation under test in the
//! middle of a case (the `restart` step), so that a case can check what must survive a restart
//! on the wire. A third party gives a shell command (`--restart-cmd`); a test gives a hook that
//! restarts an in-process server.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

/// What a restart hook returns.
pub type RestartFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// How often the runner tries to connect while it waits for a restarted server.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How the runner restarts the implementation under test.
#[derive(Clone)]
pub enum Restart {
    /// A shell command (`sh -c`) that stops the implementation and starts it again on the same
    /// addresses; it may return before the implementation accepts connections again.
    Command(String),
    /// A function that does the same (tests of in-process servers).
    Hook(Arc<dyn Fn() -> RestartFuture + Send + Sync>),
}

impl fmt::Debug for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Restart::Command(command) => f.debug_tuple("Command").field(command).finish(),
            Restart::Hook(_) => f.write_str("Hook"),
        }
    }
}

impl Restart {
    /// Restarts the implementation, then waits until every address of `addrs` accepts a
    /// connection again; the whole within `wait`.
    pub async fn run(&self, addrs: &[SocketAddr], wait: Duration) -> Result<(), String> {
        let deadline = Instant::now() + wait;
        let restarted = async {
            match self {
                Restart::Command(command) => {
                    let status = tokio::process::Command::new("sh")
                        .arg("-c")
                        .arg(command)
                        .kill_on_drop(true)
                        .status()
                        .await
                        .map_err(|e| format!("--restart-cmd {command:?}: {e}"))?;
                    if status.success() {
                        Ok(())
                    } else {
                        Err(format!("--restart-cmd {command:?} ended with {status}"))
                    }
                }
                Restart::Hook(hook) => hook().await,
            }
        };
        tokio::time::timeout_at(deadline, restarted)
            .await
            .map_err(|_| format!("restarting took longer than {wait:?}"))??;
        for addr in addrs {
            wait_until_accepting(*addr, deadline).await?;
        }
        Ok(())
    }
}

/// Connects to `addr` until it accepts, or fails at `deadline`.
async fn wait_until_accepting(addr: SocketAddr, deadline: Instant) -> Result<(), String> {
    loop {
        let last = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer".to_owned(),
        };
        if Instant::now() + POLL_INTERVAL >= deadline {
            return Err(format!(
                "{addr} did not accept connections again after the restart: {last}"
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
