//! Device registration with the push server's provider API (PROV-15): `POST /v1/devices` with
//! the registration token, answered `201` with the device token and secret.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use mailpush_device_core::mail_client::DeviceCredentials;
use mailpush_push_proto::Credential;
use tokio::net::TcpStream;

use crate::config::PushSettings;
use crate::net::CONNECT_TIMEOUT;

/// The largest response body read.
const MAX_BODY: usize = 64 * 1024;

/// Why a registration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterDeviceError {
    /// Connecting, TLS or HTTP failed.
    #[error("cannot reach the provider API at {address}: {message}")]
    Unreachable {
        /// Where.
        address: String,
        /// What happened.
        message: String,
    },
    /// The server answered with an error status (PROV-13's body is quoted).
    #[error("the provider API refused the registration: {status} {body}")]
    Refused {
        /// The status.
        status: u16,
        /// The body, as text.
        body: String,
    },
    /// A `201` whose body is not PROV-15's.
    #[error("the provider API answered a registration with a malformed body: {0}")]
    Malformed(String),
}

/// Registers the device and returns its credentials.
//= spec/provider-api.md#PROV-15
//# A device obtains its device token and secret with `POST /v1/devices`, carrying
//# `Authorization: Bearer <registration-token>` (a token configured on the push server for devices;
//# it MAY equal a provider token) and an empty body.
pub async fn register_device(
    push: &PushSettings,
) -> Result<DeviceCredentials, RegisterDeviceError> {
    let endpoint = &push.api_endpoint;
    let unreachable = |message: String| RegisterDeviceError::Unreachable {
        address: endpoint.to_string(),
        message,
    };
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((endpoint.host.as_str(), endpoint.port)),
    )
    .await
    .map_err(|_| unreachable("connect timed out".into()))?
    .map_err(|e| unreachable(e.to_string()))?;
    let tls = tokio::time::timeout(
        CONNECT_TIMEOUT,
        endpoint.tls.connect(endpoint.server_name.clone(), tcp),
    )
    .await
    .map_err(|_| unreachable("TLS handshake timed out".into()))?
    .map_err(|e| unreachable(format!("TLS: {e}")))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let connection = tokio::spawn(connection);
    let base = push.api.path().trim_end_matches('/');
    let request = http::Request::post(format!("{base}/v1/devices"))
        .header(http::header::HOST, endpoint.to_string())
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", push.registration_token),
        )
        .header(http::header::CONTENT_LENGTH, "0")
        .body(Empty::<Bytes>::new())
        .map_err(|e| unreachable(e.to_string()))?;
    let response = tokio::time::timeout(CONNECT_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| unreachable("no response".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| unreachable(format!("reading the response: {e}")))?
        .to_bytes();
    connection.abort();
    if status != 201 {
        return Err(RegisterDeviceError::Refused {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| RegisterDeviceError::Malformed(e.to_string()))?;
    let field = |name: &str| {
        value
            .get(name)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| RegisterDeviceError::Malformed(format!("no string {name:?}")))
            .and_then(|s| {
                Credential::new(s)
                    .map_err(|e| RegisterDeviceError::Malformed(format!("{name}: {e}")))
            })
    };
    Ok(DeviceCredentials {
        token: field("token")?,
        secret: field("secret")?,
    })
}
