//! The `cleartext` step: in a TLS run, a client that speaks a service's protocol in the clear to
//! its TLS address must get no service (ARCH-5, PROV-1, CHAN-1).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::frames::Frame;
use crate::runner::Verdict;
use crate::transcript::CleartextService;

use super::{Play, Stop, eval_error, fail, stop};

/// The content type of a TLS alert record (RFC 8446, section 5.1): a TLS server's refusal of a
/// ClientHello it cannot parse, which is no service.
const TLS_ALERT: u8 = 0x15;

/// The most the runner reads of the reply; the first octets decide.
const MAX_REPLY: usize = 4096;

impl Play<'_> {
    pub(super) async fn cleartext_step(
        &mut self,
        service: CleartextService,
        wait: &crate::transcript::DurationSpec,
        line: usize,
    ) -> Result<(), Stop> {
        if self.target.tls.is_none() {
            return Err(stop(
                Verdict::Unsupported,
                line,
                "the run is not over TLS (--tls): there is no TLS address to speak to in the clear",
            ));
        }
        let wait: Duration = wait.eval(&self.vars).map_err(|e| eval_error(line, e))?;
        let (addr, flag, probe) = match service {
            // Credentials that no server holds: the cleartext exception may not leak real ones.
            CleartextService::Imap => (
                self.target.imap,
                "--imap",
                b"a1 LOGIN \"conform-cleartext\" \"not-a-password\"\r\n".to_vec(),
            ),
            CleartextService::Api => (
                self.target.api,
                "--api",
                b"GET /v1/push HTTP/1.1\r\nHost: push\r\nConnection: close\r\n\r\n".to_vec(),
            ),
            CleartextService::Device => (
                self.target.device,
                "--device",
                Frame::Hello {
                    min: 1,
                    max: 1,
                    token: vec![0; 32],
                    secret: vec![0; 32],
                    cursor: 0,
                }
                .encode(),
            ),
        };
        let Some(addr) = addr else {
            return Err(stop(Verdict::Error, line, format!("no address ({flag})")));
        };
        let mut stream =
            tokio::time::timeout(self.target.connect_timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| {
                    stop(
                        Verdict::Error,
                        line,
                        format!("connecting to {addr} timed out"),
                    )
                })?
                .map_err(|e| {
                    stop(
                        Verdict::Error,
                        line,
                        format!("cannot connect to {addr}: {e}"),
                    )
                })?;
        let deadline = Instant::now() + wait;
        // A server that closes at once may refuse the write; that is no service too.
        let _ = timeout_at(deadline, stream.write_all(&probe)).await;
        let mut reply = Vec::new();
        let mut buf = [0u8; 1024];
        while reply.len() < MAX_REPLY {
            match timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) | Err(_) => break,
                Ok(Ok(n)) => reply.extend_from_slice(buf.get(..n).unwrap_or_default()),
            }
        }
        match reply.first() {
            None | Some(&TLS_ALERT) => Ok(()),
            Some(_) => Err(fail(
                line,
                "a cleartext client got an answer other than a TLS alert on the TLS address",
                format!(
                    "no service within {} ms: the connection closed, a TLS alert, or silence",
                    wait.as_millis()
                ),
                Some(String::from_utf8_lossy(&reply).escape_debug().to_string()),
            )),
        }
    }
}
