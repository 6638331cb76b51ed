//! The HTTP sides of a case: the push service the runner plays for a mail server under test
//! (`push`), and the provider-API client it plays against a push server under test (`api`).
//! HTTP/1.1 over plain TCP, one request per connection from the runner, keep-alive accepted
//! from the server under test.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::net::{TlsClient, connect};
use crate::transcript::HttpTemplate;
use crate::transcript::Vars;
use crate::transcript::http_pattern::{HttpMessage, StartTemplate};

/// The longest request or response head the runner reads.
pub const MAX_HEAD_LEN: usize = 16 * 1024;
/// The longest body the runner reads.
pub const MAX_BODY_LEN: usize = 1 << 20;

/// Reads one HTTP/1.1 message (request or response) from `io`. `Ok(None)`: the peer closed the
/// connection before a message began.
pub async fn read_message<R: AsyncBufReadExt + Unpin>(
    io: &mut R,
) -> Result<Option<HttpMessage>, String> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = (&mut *io)
            .take((MAX_HEAD_LEN + 1 - before.min(MAX_HEAD_LEN)) as u64)
            .read_until(b'\n', &mut head)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err("the connection closed inside a message head".into())
            };
        }
        if head.len() > MAX_HEAD_LEN {
            return Err(format!("a message head longer than {MAX_HEAD_LEN} octets"));
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            break;
        }
    }
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let (request, status, raw_headers) = if head.starts_with(b"HTTP/") {
        let mut response = httparse::Response::new(&mut fields);
        response
            .parse(&head)
            .map_err(|e| format!("a malformed response head: {e}"))?;
        (None, response.code.unwrap_or(0), response.headers.to_vec())
    } else {
        let mut request = httparse::Request::new(&mut fields);
        request
            .parse(&head)
            .map_err(|e| format!("a malformed request head: {e}"))?;
        (
            Some((
                request.method.unwrap_or("").to_owned(),
                request.path.unwrap_or("").to_owned(),
            )),
            0,
            request.headers.to_vec(),
        )
    };
    let headers: Vec<(String, String)> = raw_headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect();
    let mut message = HttpMessage {
        request,
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = message
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        message.body = read_chunked(io).await?;
    } else if let Some(len) = message.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("a Content-Length that is not a number: {len}"))?;
        if len > MAX_BODY_LEN {
            return Err(format!("a body of {len} octets"));
        }
        message.body.resize(len, 0);
        io.read_exact(&mut message.body)
            .await
            .map_err(|e| format!("reading a body of {len} octets: {e}"))?;
    } else if message.request.is_none() && !matches!(status, 204 | 304) {
        // A response without a length ends with the connection.
        (&mut *io)
            .take(MAX_BODY_LEN as u64)
            .read_to_end(&mut message.body)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(Some(message))
}

async fn read_chunked<R: AsyncBufReadExt + Unpin>(io: &mut R) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        (&mut *io)
            .take(1024)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&line);
        let size = text.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| format!("a malformed chunk size: {}", text.trim()))?;
        if body.len() + size > MAX_BODY_LEN {
            return Err(format!("a chunked body of more than {MAX_BODY_LEN} octets"));
        }
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut trailer = Vec::new();
                let n = (&mut *io)
                    .take(1024)
                    .read_until(b'\n', &mut trailer)
                    .await
                    .map_err(|e| e.to_string())?;
                if n == 0 || trailer == b"\r\n" || trailer == b"\n" {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        io.read_exact(&mut body[start..])
            .await
            .map_err(|e| e.to_string())?;
        let mut end = [0u8; 2];
        io.read_exact(&mut end).await.map_err(|e| e.to_string())?;
    }
}

/// Renders a template into the octets of a message. `host` fills a missing `Host` header of a
/// request; a body gets a `Content-Length`.
pub fn render(template: &HttpTemplate, vars: &Vars, host: &str) -> Result<Vec<u8>, String> {
    let mut out = match &template.start {
        StartTemplate::Request(method, target) => {
            let target = target.render(vars).map_err(|e| e.to_string())?;
            format!("{method} {target} HTTP/1.1\r\n")
        }
        StartTemplate::Status(code) => format!("HTTP/1.1 {code} {}\r\n", reason(*code)),
    };
    if matches!(template.start, StartTemplate::Request(..)) && !template.has_header("host") {
        out.push_str(&format!("Host: {host}\r\n"));
    }
    for (name, value) in &template.headers {
        let value = value.render(vars).map_err(|e| e.to_string())?;
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = match &template.body {
        Some(body) => body.render(vars).map_err(|e| e.to_string())?,
        None => String::new(),
    };
    if !template.has_header("content-length") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if matches!(template.start, StartTemplate::Request(..)) && !template.has_header("connection") {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Ok(out.into_bytes())
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Sends a request to `addr` on a connection of its own and reads the response.
pub async fn exchange(
    addr: SocketAddr,
    tls: Option<&TlsClient>,
    request: &[u8],
    wait: Duration,
) -> Result<HttpMessage, String> {
    let work = async {
        // HTTP/1.1 is all the runner speaks.
        let tls = tls.map(|t| t.with_alpn(&[b"http/1.1"]));
        let mut stream = connect(addr, tls.as_ref(), wait).await?;
        stream
            .write_all(request)
            .await
            .map_err(|e| format!("sending to {addr}: {e}"))?;
        let mut io = BufReader::new(stream);
        read_message(&mut io)
            .await?
            .ok_or_else(|| format!("{addr} closed the connection without a response"))
    };
    tokio::time::timeout(wait, work)
        .await
        .map_err(|_| format!("no response from {addr} within {wait:?}"))?
}

pub use super::push_service::PushService;
