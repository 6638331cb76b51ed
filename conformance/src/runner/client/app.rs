//! The application hook of the device role (`--app CMD`): the runner asks the implementation's
//! application to create, edit, delete, show or list notes, as a user would, by running `CMD`
//! with the action in placeholders, and reads what it printed and how it ended.

use std::process::Stdio;

use tokio::io::AsyncReadExt;

use super::{Side, shell_quote};
use crate::transcript::AppAction;

/// The most of an application command's standard output the runner keeps; the rest is read
/// and dropped, so a chatty command cannot exhaust memory or block on a full pipe.
pub const MAX_APP_OUTPUT: usize = 64 * 1024;

/// How an application command ended.
#[derive(Clone, Debug)]
pub struct AppEnded {
    /// Exit status 0.
    pub success: bool,
    /// The status as people read it (`exit status: 3`, `signal: 9`).
    pub status: String,
    /// Its standard output (at most [`MAX_APP_OUTPUT`] octets, invalid UTF-8 replaced).
    pub output: String,
}

impl Side {
    /// Starts `app` (the `--app` command) for one action, with the case's placeholders and
    /// `{action}`, `{id}`, `{text}` (empty where the action has none). Its standard error goes
    /// to the implementation's output file, which reports show.
    pub fn start_app(
        &self,
        app: &str,
        action: AppAction,
        id: &str,
        text: &str,
    ) -> Result<tokio::task::JoinHandle<Result<AppEnded, String>>, String> {
        let mut line = app.to_owned();
        let mut values: Vec<(&str, &str)> = self
            .placeholders
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        values.extend([("action", action.as_str()), ("id", id), ("text", text)]);
        for (name, value) in &values {
            line = line.replace(&format!("{{{name}}}"), &shell_quote(value));
        }
        let errors = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.output_path())
            .map_err(|e| format!("opening the implementation's output file: {e}"))?;
        let mut command = tokio::process::Command::new("sh");
        command
            .arg("-c")
            .arg(&line)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(errors)
            .process_group(0)
            .kill_on_drop(true);
        for (name, value) in &values {
            command.env(
                format!("MAILPUSH_CONFORM_{}", name.to_ascii_uppercase()),
                value,
            );
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("starting the application `{line}`: {e}"))?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| "the application's output is not a pipe".to_string())?;
        Ok(tokio::spawn(async move {
            let mut output = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = stdout
                    .read(&mut chunk)
                    .await
                    .map_err(|e| format!("reading the application's output: {e}"))?;
                if n == 0 {
                    break;
                }
                let room = MAX_APP_OUTPUT.saturating_sub(output.len());
                output.extend_from_slice(chunk.get(..n.min(room)).unwrap_or_default());
            }
            let status = child
                .wait()
                .await
                .map_err(|e| format!("waiting for the application: {e}"))?;
            Ok(AppEnded {
                success: status.success(),
                status: status.to_string(),
                output: String::from_utf8_lossy(&output).into_owned(),
            })
        }))
    }
}
