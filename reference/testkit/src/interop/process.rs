//! A server process in a process group of its own: waited for by polling its ports, stopped by
//! signalling the whole group, its logs printed when the test that owns it panics.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

use super::{InteropError, KEEP_VARIABLE, ServerTls, io_error};

/// How long a server may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the ports are tried while the server starts.
const POLL: Duration = Duration::from_millis(5);
/// How long the group gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

pub(crate) struct ServerProcess {
    name: &'static str,
    child: Child,
    group: Option<Pid>,
    /// The files that make up the server's log, in the order they are printed.
    logs: Vec<PathBuf>,
    /// Last, so the directory outlives the process that writes in it.
    dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// Starts `command` in a new process group, stdout and stderr appended to `output`.
    pub(crate) fn spawn(
        name: &'static str,
        mut command: Command,
        output: PathBuf,
        mut logs: Vec<PathBuf>,
        dir: tempfile::TempDir,
    ) -> Result<Self, InteropError> {
        use std::os::unix::process::CommandExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&output)
            .map_err(io_error(format!("opening {}", output.display())))?;
        let stderr = file
            .try_clone()
            .map_err(io_error(format!("opening {}", output.display())))?;
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr);
        let child = command
            .spawn()
            .map_err(io_error(format!("starting {name} ({command:?})")))?;
        // The child leads its own group, so the group id is its pid.
        let group = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
        logs.push(output);
        Ok(Self {
            name,
            child,
            group,
            logs,
            dir: Some(dir),
        })
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn dir(&self) -> &std::path::Path {
        match &self.dir {
            Some(dir) => dir.path(),
            None => std::path::Path::new(""),
        }
    }

    /// The log files, each under a header; a directory among them stands for every file below
    /// it.
    pub(crate) fn log(&self) -> String {
        let mut files = Vec::new();
        for path in &self.logs {
            files_below(path, &mut files);
        }
        let mut out = String::new();
        for path in files {
            let text = std::fs::read(&path)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_else(|e| format!("(unreadable: {e})\n"));
            out.push_str(&format!("--- {} ---\n{text}", path.display()));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }

    pub(crate) fn startup_error(&self, message: impl Into<String>) -> InteropError {
        InteropError::Startup {
            server: self.name,
            message: message.into(),
            log: self.log(),
        }
    }

    /// Waits until the IMAP port greets in plaintext and the IMAPS port completes a TLS handshake
    /// with a certificate signed by `tls`, both with a greeting that contains `marker` (unique to
    /// this instance): a port that another server took fails the wait.
    pub(crate) async fn wait_until_serving(
        &mut self,
        imap: SocketAddr,
        imaps: SocketAddr,
        tls: &ServerTls,
        marker: &str,
    ) -> Result<(), InteropError> {
        let deadline = Instant::now() + START_TIMEOUT;
        for (addr, secure) in [(imap, false), (imaps, true)] {
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Err(self.startup_error(format!("the server exited ({status})")));
                }
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        let remaining = deadline.saturating_duration_since(Instant::now());
                        let greeting =
                            tokio::time::timeout(remaining, greeting(stream, secure, tls)).await;
                        match greeting {
                            Ok(Ok(line)) if line.starts_with("* OK") && line.contains(marker) => {
                                break;
                            }
                            Ok(Ok(line)) => {
                                return Err(self.startup_error(format!(
                                    "{addr} greeted with {line:?}, not `* OK` and {marker:?}: \
                                     another program has the port"
                                )));
                            }
                            Ok(Err(e)) => {
                                return Err(self.startup_error(format!(
                                    "{addr} accepted a connection but: {e}"
                                )));
                            }
                            Err(_) => {
                                return Err(self.startup_error(format!("{addr} did not greet")));
                            }
                        }
                    }
                    Err(_) if Instant::now() < deadline => tokio::time::sleep(POLL).await,
                    Err(e) => {
                        return Err(self.startup_error(format!(
                            "nothing listens on {addr} after {START_TIMEOUT:?}: {e}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// SIGTERM to the group, SIGKILL to what is left after a grace period, then reaps the
    /// leader. Returns whether the group is gone.
    pub(crate) fn stop(&mut self) -> bool {
        let Some(group) = self.group else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            return true;
        };
        let _ = kill_process_group(group, Signal::TERM);
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            // The leader stays a zombie, and so a member of the group, until it is reaped.
            let _ = self.child.try_wait();
            if test_kill_process_group(group).is_err() {
                return true;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL);
        }
        let _ = kill_process_group(group, Signal::KILL);
        let _ = self.child.wait();
        let deadline = Instant::now() + STOP_GRACE;
        while test_kill_process_group(group).is_ok() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(POLL);
        }
        true
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let gone = self.stop();
        let failing = std::thread::panicking();
        if failing {
            eprintln!(
                "=== {} (pid {}) log, printed because the test failed ===\n{}",
                self.name,
                self.child.id(),
                self.log()
            );
        }
        if !gone {
            eprintln!(
                "{}: processes of group {} survived SIGKILL",
                self.name,
                self.child.id()
            );
        }
        if std::env::var(KEEP_VARIABLE).as_deref() == Ok("1")
            && let Some(dir) = self.dir.take()
        {
            eprintln!("{}: kept {}", self.name, dir.keep().display());
        }
    }
}

fn files_below(path: &std::path::Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .collect();
        entries.sort();
        for entry in entries {
            files_below(&entry, out);
        }
    } else {
        out.push(path.to_path_buf());
    }
}

/// The first line a server sends on a new connection.
async fn greeting(stream: TcpStream, secure: bool, tls: &ServerTls) -> Result<String, String> {
    let mut line = String::new();
    if secure {
        let connector = tls.connector().map_err(|e| e.to_string())?;
        let stream = connector
            .connect(mailpush_tls::localhost(), stream)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        BufReader::new(stream)
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?;
    } else {
        BufReader::new(stream)
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(line.trim_end().to_owned())
}
