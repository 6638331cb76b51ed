//! The provider API's HTTP client: hyper-util's pooled client over rustls, HTTP/2 by ALPN,
//! answers read into the provider API's [`PushResponse`] (`Retry-After` as seconds or as an HTTP
//! date), failures logged with what to do about them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Uri, Version};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use mailpush_mail_notify::{Outcome, PushService};
use mailpush_provider_api::{ErrorBody, PushResponse, authorization};
use tokio::sync::Semaphore;

use super::PushSettings;
use crate::driver::MailServerError;

/// An idle pooled connection older than this is closed rather than reused: services close
/// theirs after a while, and a connection found closed costs a retry.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Most octets of a response body read; error bodies are far smaller (PROV-13).
const MAX_RESPONSE_BODY: usize = 64 * 1024;

impl PushSettings {
    /// Checks everything (policy, resource template, provider token, trusted certificates) and
    /// builds the HTTP client.
    pub(crate) fn client(&self) -> Result<HttpClient, MailServerError> {
        let config = |what: String| MailServerError::Config(format!("push: {what}"));
        self.notifier
            .validate()
            .map_err(|e| config(e.to_string()))?;
        let service = self.service()?;
        if self.queue_capacity == 0 || self.max_in_flight == 0 {
            return Err(config(
                "push_queue_capacity and the requests in flight must be at least 1".into(),
            ));
        }
        let authorization = match &self.provider_token {
            Some(token) => {
                Some(authorization(token).map_err(|e| config(format!("provider token: {e}")))?)
            }
            None => None,
        };
        let extra = match &self.trust {
            Some(path) => crate::driver::tls::read_certificates(path)?,
            None => Vec::new(),
        };
        let tls = mailpush_tls::connector_with_public_roots(&extra)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.request_timeout));
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.config().as_ref().clone())
            .https_or_http()
            .enable_http1();
        let https = if self.http2 {
            builder.enable_http2().wrap_connector(http)
        } else {
            builder.wrap_connector(http)
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(self.max_idle_per_origin)
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(HttpClient {
            client,
            service,
            authorization,
            timeout: self.request_timeout,
            in_flight: Arc::new(Semaphore::new(self.max_in_flight)),
            answered: Arc::new(AtomicU64::new(0)),
        })
    }
}

/// The provider API's client: hyper-util's pooled client over rustls, and where pushes go.
pub(crate) struct HttpClient {
    pub(super) client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    pub(super) service: PushService,
    pub(super) authorization: Option<HeaderValue>,
    timeout: Duration,
    in_flight: Arc<Semaphore>,
    /// Requests answered so far, for logs.
    answered: Arc<AtomicU64>,
}

/// What one request gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sent {
    pub(super) outcome: Outcome,
    /// The HTTP version the answer came in.
    pub(super) version: Option<Version>,
}

impl HttpClient {
    /// Sends `request` and reads its answer, within the request timeout.
    pub(super) async fn send(&self, request: http::Request<Bytes>) -> Sent {
        // The semaphore is never closed.
        let _permit = self.in_flight.acquire().await;
        let uri = request.uri().clone();
        let exchange = async {
            let response = self.client.request(request.map(Full::new)).await?;
            let (parts, body) = response.into_parts();
            let answer = PushResponse::from_parts(&parts, SystemTime::now());
            // Reading the body lets an HTTP/1.1 connection carry the next request.
            let body = Limited::new(body, MAX_RESPONSE_BODY)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, hyper_util::client::legacy::Error>((answer, parts.version, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok((answer, version, body))) => {
                let n = self.answered.fetch_add(1, Ordering::Relaxed) + 1;
                let status = answer.status.as_u16();
                if answer.status.is_client_error() || answer.status.is_server_error() {
                    let error = ErrorBody::parse(answer.status, &body).ok();
                    tracing::info!(%uri, status, ?version, error = ?error, "push refused");
                } else {
                    tracing::debug!(%uri, status, ?version, requests = n, "push answered");
                }
                Sent {
                    outcome: Outcome::from_response(&answer),
                    version: Some(version),
                }
            }
            Ok(Err(error)) => {
                log_failure(&error, &uri);
                Sent {
                    outcome: Outcome::ConnectionFailed,
                    version: None,
                }
            }
            Err(_) => {
                tracing::warn!(%uri, timeout = ?self.timeout, "push request timed out");
                Sent {
                    outcome: Outcome::ConnectionFailed,
                    version: None,
                }
            }
        }
    }
}

/// The rustls error behind a client error, if TLS is why it failed.
fn tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // An I/O error's source skips the error it wraps: look at that one first.
        next = match error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}

/// Logs why a request got no response; a certificate the client does not trust is a
/// configuration matter, so it is said loudly and with the remedy.
fn log_failure(error: &hyper_util::client::legacy::Error, uri: &Uri) {
    match tls_error(error) {
        Some(rustls::Error::InvalidCertificate(why)) => tracing::error!(
            %uri,
            reason = ?why,
            "push service certificate not trusted: give its certificate or CA as push_ca, or use a certificate of a public CA"
        ),
        Some(other) => tracing::warn!(%uri, error = %other, "TLS with the push service failed"),
        None => {
            tracing::warn!(%uri, error = %error, source = ?std::error::Error::source(error), "push request failed")
        }
    }
}
