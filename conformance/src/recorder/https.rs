//! The provider API over TLS, relayed message by message: HTTP/2 cannot be followed in the
//! octets (HPACK keeps state), so the recorder ends HTTP/1.1 or HTTP/2 (as ALPN chose) toward
//! the component that connects, sends each request upstream in the same version, returns the
//! upstream's response unchanged, and records each pair in the HTTP/1.1 form the cleartext link
//! is recorded in.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::http::MAX_BODY;
use super::proxy::{Shared, Target};
use super::tls::LinkTls;
use super::{ConnId, From, What};

/// The upstream connection of one client connection, in the version the client chose.
enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// Ends a spawned task when the connection it serves ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One client connection of the provider link over TLS.
pub(super) async fn relay(
    client: TcpStream,
    tls: &LinkTls,
    target: &Target,
    conn: Option<ConnId>,
    shared: &Shared,
) -> Result<(), String> {
    let client = target.accept(tls, client).await?;
    let http2 = client.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
    let protocol: &[u8] = if http2 { b"h2" } else { b"http/1.1" };
    let Some(server) = super::proxy::connect_or_record(target, conn, shared).await else {
        return Ok(());
    };
    let server = target
        .secure(&tls.upstream.with_alpn(&[protocol]), server)
        .await?;
    if http2 && server.get_ref().1.alpn_protocol() != Some(b"h2".as_slice()) {
        return Err(format!(
            "the client chose HTTP/2, and the upstream {} did not agree to it in ALPN",
            target.upstream
        ));
    }
    let version = if http2 { "HTTP/2" } else { "HTTP/1.1" };
    shared.record(conn, What::Secured(format!("TLS, {version}")));
    let io = TokioIo::new(server);
    let (sender, _driver) = if http2 {
        let (sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("HTTP/2 with the upstream {}: {e}", target.upstream))?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        (Sender::Http2(sender), AbortOnDrop(driver))
    } else {
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("HTTP/1.1 with the upstream {}: {e}", target.upstream))?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        (Sender::Http1(sender), AbortOnDrop(driver))
    };
    let sender = Arc::new(tokio::sync::Mutex::new(sender));
    let upstream = target.upstream;
    let shared = shared.clone();
    let service = hyper::service::service_fn(move |request| {
        let sender = Arc::clone(&sender);
        let shared = shared.clone();
        async move {
            let response = match exchange(request, &sender, upstream, conn, &shared).await {
                Ok(response) => response,
                Err(why) => {
                    shared.record(conn, What::Failed(why.clone()));
                    let mut response = Response::new(Full::new(Bytes::from(why)));
                    *response.status_mut() = StatusCode::BAD_GATEWAY;
                    response
                }
            };
            Ok::<_, Infallible>(response)
        }
    });
    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(client), service)
        .await
        .map_err(|e| format!("serving the client: {e}"))
}

/// One request: read whole (at most [`MAX_BODY`]), recorded, sent upstream; the upstream's
/// response read whole, recorded, returned.
async fn exchange(
    request: Request<Incoming>,
    sender: &tokio::sync::Mutex<Sender>,
    upstream: std::net::SocketAddr,
    conn: Option<ConnId>,
    shared: &Shared,
) -> Result<Response<Full<Bytes>>, String> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("the client's request body: {e}"))?
        .to_bytes();
    let authority = parts
        .uri
        .authority()
        .map(ToString::to_string)
        .or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| upstream.to_string());
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    shared.record(
        conn,
        What::Data(
            From::Client,
            request_text(
                parts.method.as_str(),
                &path,
                &authority,
                &parts.headers,
                &body,
            ),
        ),
    );
    let mut headers = end_to_end(&parts.headers);
    let mut sender = sender.lock().await;
    let answer = match &mut *sender {
        Sender::Http2(h2) => {
            // HTTP/2 names the authority in the request's URI, not in a Host field.
            headers.remove(header::HOST);
            let mut h2 = h2.clone();
            drop(sender);
            let request = build(
                &parts.method,
                &format!("https://{authority}{path}"),
                headers,
                body,
            )?;
            h2.send_request(request).await
        }
        Sender::Http1(h1) => {
            if let Ok(host) = HeaderValue::from_str(&authority) {
                headers.insert(header::HOST, host);
            }
            let request = build(&parts.method, &path, headers, body)?;
            match h1.ready().await {
                Ok(()) => h1.send_request(request).await,
                Err(e) => Err(e),
            }
        }
    };
    let response = answer.map_err(|e| format!("the upstream {upstream}: {e}"))?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("the upstream's response body: {e}"))?
        .to_bytes();
    shared.record(
        conn,
        What::Data(
            From::Server,
            response_text(parts.status, &parts.headers, &body),
        ),
    );
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = parts.status;
    *response.headers_mut() = end_to_end(&parts.headers);
    Ok(response)
}

fn build(
    method: &hyper::Method,
    uri: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, String> {
    let mut request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .body(Full::new(body))
        .map_err(|e| format!("the request to {uri}: {e}"))?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// Fields that describe one connection or one message's framing: the relay sets its own.
const PER_CONNECTION: [HeaderName; 6] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::CONTENT_LENGTH,
    header::UPGRADE,
    header::TE,
    HeaderName::from_static("keep-alive"),
];

fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in &PER_CONNECTION {
        kept.remove(name);
    }
    kept
}

/// A request as HTTP/1.1 octets, with the length of the body it had.
fn request_text(
    method: &str,
    path: &str,
    authority: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nhost: {authority}\r\n").into_bytes();
    let mut fields = end_to_end(headers);
    fields.remove(header::HOST);
    finish(&mut text, &fields, body);
    text
}

/// A response as HTTP/1.1 octets.
fn response_text(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut text = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    finish(&mut text, &end_to_end(headers), body);
    text
}

fn finish(text: &mut Vec<u8>, fields: &HeaderMap, body: &[u8]) {
    for (name, value) in fields {
        text.extend_from_slice(name.as_str().as_bytes());
        text.extend_from_slice(b": ");
        text.extend_from_slice(value.as_bytes());
        text.extend_from_slice(b"\r\n");
    }
    text.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    text.extend_from_slice(body);
}
