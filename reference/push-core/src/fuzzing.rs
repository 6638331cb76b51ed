//! The fuzzing oracle of the provider API (cargo feature `fuzzing`): arbitrary requests taken
//! through the core's steps in process, over a small in-memory server that does what the
//! driver does between the steps (no sockets, no runtime), against a model of what
//! spec/provider-api.md says each must get.
//!
//! An input is a few requests separated by lines `----`; each is a request line `METHOD PATH`,
//! header lines `Name: value`, an empty line and the body. `$P`, `$R`, `$L`, `$G` and `$S` stand
//! for the provider token, the registration token, the token of a registered device, the token
//! of an unregistered one and the registered device's secret, so that a fuzzer reaches every
//! answer. Lines no HTTP parser would pass (a bad method, path, name or value) are left out, as
//! the HTTP layer refuses them before the core. The body goes with `Content-Length` unless the
//! request has `Transfer-Encoding: chunked`.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, Uri};
use mailpush_provider_api::{DeviceRegistration, DeviceSecret, DeviceToken};
use mailpush_push_proto::Timestamp;
use mailpush_push_proto::ring::DeviceRing;

use crate::{
    BodyFault, DeviceStatus, Provider, PushStart, Step, hash_secret, metrics, registration_body,
    unregistered,
};

const PROVIDER: &str = "provider-token";
const REGISTRATION: &str = "registration-token";
const LIVE: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const GONE: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const LIVE_SECRET: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const GONE_SECRET: &str = "4444444444444444444444444444444444444444444444444444444444444444";
const MAX_TTL: u32 = 86_400;
const MAX_PAYLOAD: usize = 4096;

/// One request of an input.
struct Input {
    method: Method,
    uri: Uri,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse_input(text: &[u8]) -> Option<Input> {
    let split = text.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(i) => (&text[..i], text[i + 2..].to_vec()),
        None => (text, Vec::new()),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split('\n');
    let (method, path) = lines.next()?.split_once(' ')?;
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    let uri = Uri::try_from(path).ok()?;
    let headers = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            HeaderValue::from_str(value).ok()?;
            // Content-Length is the harness's, as the HTTP layer makes it agree with the body.
            (name != http::header::CONTENT_LENGTH)
                .then(|| (name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    Some(Input {
        method,
        uri,
        headers,
        body,
    })
}

/// What the spec says a request gets: a status and, from 400 up, an error code.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    status: u16,
    error: Option<&'static str>,
}

fn ok(status: u16) -> Expected {
    Expected {
        status,
        error: None,
    }
}

fn error(status: u16, error: &'static str) -> Expected {
    Expected {
        status,
        error: Some(error),
    }
}

/// The registered devices, as the spec lets a client see them.
struct Model {
    live: BTreeSet<String>,
    gone: BTreeSet<String>,
    max_devices: usize,
}

/// The field values named `name` (any case), trimmed; `None` for one no client could read.
fn fields(input: &Input, name: &str) -> Vec<Option<String>> {
    input
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| {
            v.bytes()
                .all(|b| (32..127).contains(&b) || b == b'\t')
                .then(|| v.trim().to_owned())
        })
        .collect()
}

/// The one readable value of a field that must come once: `Ok(None)` when absent.
fn single(input: &Input, name: &str) -> Result<Option<String>, ()> {
    match fields(input, name).as_slice() {
        [] => Ok(None),
        [Some(value)] => Ok(Some(value.clone())),
        _ => Err(()),
    }
}

/// RFC 6750 credentials: `Bearer`, in any case, one or more spaces, a token without spaces.
fn bearer(input: &Input) -> Option<String> {
    let value = single(input, "authorization").ok()??;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    let fine =
        scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains([' ', '\t']);
    fine.then(|| token.to_owned())
}

fn lower_hex(value: &str, len: usize) -> bool {
    value.len() == len
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// PROV-8: an object `aps` with `account-id`, 1 to 256 octets, and `m`, lowercase MD5s.
fn payload_ok(body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let Some(aps) = value.get("aps").and_then(|a| a.as_object()) else {
        return false;
    };
    let account = aps
        .get("account-id")
        .and_then(|a| a.as_str())
        .is_some_and(|a| (1..=256).contains(&a.len()));
    let mailboxes = aps.get("m").and_then(|m| m.as_array()).is_some_and(|m| {
        m.iter()
            .all(|d| d.as_str().is_some_and(|d| lower_hex(d, 32)))
    });
    account && mailboxes
}

impl Model {
    /// PROV-34's order over PROV-2..PROV-35, written from the spec's text.
    fn expect(&mut self, input: &Input) -> Expected {
        let path = input.uri.path();
        let (resource, method) =
            if let Some(seg) = path.strip_prefix("/v1/push/").filter(|s| !s.contains('/')) {
                (Resource::Push(seg.to_owned()), "POST")
            } else if path == "/v1/devices" {
                (Resource::Register, "POST")
            } else if let Some(seg) = path
                .strip_prefix("/v1/devices/")
                .filter(|s| !s.contains('/'))
            {
                (Resource::Unregister(seg.to_owned()), "DELETE")
            } else if path == "/metrics" {
                (Resource::Metrics, "GET")
            } else {
                return error(404, "not-found");
            };
        if input.method.as_str() != method {
            return error(405, "method-not-allowed");
        }
        let auth = bearer(input);
        match resource {
            Resource::Push(token) => self.push(input, auth.as_deref(), &token),
            Resource::Register => {
                if auth.as_deref() != Some(REGISTRATION) {
                    return error(401, "unauthorized");
                }
                if !input.body.is_empty() {
                    return error(400, "bad-request");
                }
                if self.live.len() >= self.max_devices {
                    return error(503, "registration-limit");
                }
                self.live
                    .insert(format!("new-{}", self.live.len() + self.gone.len()));
                ok(201)
            }
            Resource::Unregister(token) => {
                if !lower_hex(&token, 64) {
                    return error(400, "bad-request");
                }
                // Only the two devices the harness made have tokens a client can name.
                let secret = match token.as_str() {
                    LIVE => LIVE_SECRET,
                    GONE => GONE_SECRET,
                    _ => return error(404, "unknown-device"),
                };
                if auth.as_deref() != Some(secret) {
                    return error(401, "unauthorized");
                }
                if self.gone.contains(&token) {
                    return error(410, "unregistered");
                }
                self.live.remove(&token);
                self.gone.insert(token);
                ok(204)
            }
            Resource::Metrics => {
                if auth.as_deref() == Some(PROVIDER) {
                    ok(200)
                } else {
                    error(401, "unauthorized")
                }
            }
        }
    }

    fn push(&self, input: &Input, auth: Option<&str>, token: &str) -> Expected {
        if auth != Some(PROVIDER) {
            return error(401, "unauthorized");
        }
        if !lower_hex(token, 64) {
            return error(400, "bad-request");
        }
        match single(input, "ttl") {
            Ok(None) => return error(400, "missing-ttl"),
            Ok(Some(ttl))
                if (1..=10).contains(&ttl.len())
                    && ttl.bytes().all(|b| b.is_ascii_digit())
                    && ttl.parse::<u32>().is_ok() => {}
            _ => return error(400, "bad-ttl"),
        }
        match single(input, "topic") {
            Ok(None) => {}
            Ok(Some(topic))
                if (1..=32).contains(&topic.len())
                    && topic
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {}
            _ => return error(400, "bad-topic"),
        }
        match single(input, "urgency") {
            Ok(None) => {}
            Ok(Some(u)) if ["very-low", "low", "normal", "high"].contains(&u.as_str()) => {}
            _ => return error(400, "bad-urgency"),
        }
        match single(input, "content-type") {
            Ok(Some(t))
                if t.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .eq_ignore_ascii_case("application/json") => {}
            _ => return error(400, "bad-content-type"),
        }
        if input.body.len() > MAX_PAYLOAD {
            return error(413, "payload-too-large");
        }
        if !payload_ok(&input.body) {
            return error(400, "bad-payload");
        }
        if self.gone.contains(token) {
            error(410, "unregistered")
        } else if self.live.contains(token) {
            ok(201)
        } else {
            error(404, "unknown-device")
        }
    }
}

enum Resource {
    Push(String),
    Register,
    Unregister(String),
    Metrics,
}

/// One device as the in-memory server holds it.
struct Device {
    secret_hash: String,
    unregistered: bool,
    ring: DeviceRing,
}

/// What the driver does between the core's steps, in memory: the devices, their rings, and
/// fresh registrations numbered instead of drawn at random.
struct Server {
    provider_tokens: Vec<String>,
    registration_tokens: Vec<String>,
    devices: BTreeMap<String, Device>,
    registered: u8,
}

impl Server {
    fn provider(&self) -> Provider<'_> {
        Provider {
            provider_tokens: &self.provider_tokens,
            registration_tokens: &self.registration_tokens,
            max_ttl_secs: MAX_TTL,
            max_devices: 2,
        }
    }

    fn add(&mut self, token: &str, secret: &str, unregistered: bool) {
        self.devices.insert(
            token.to_owned(),
            Device {
                secret_hash: hash_secret(secret),
                unregistered,
                ring: DeviceRing::new(4),
            },
        );
    }

    /// Answers one request as the driver would, the rate limit never reached.
    fn handle(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response<Bytes> {
        let read = |limit: usize| {
            if body.len() > limit {
                Err(BodyFault::TooLarge)
            } else {
                Ok(Bytes::copy_from_slice(body))
            }
        };
        let step = self.provider().request(method, uri.path(), headers);
        match step {
            Step::Answer(response) => response,
            Step::Push(start) => match start.body(read(PushStart::BODY_LIMIT)) {
                Err(refusal) => *refusal,
                Ok(push) => {
                    let device = self.devices.get_mut(push.token.as_str());
                    let status = device.as_ref().map_or(DeviceStatus::Unknown, |d| {
                        if d.unregistered {
                            DeviceStatus::Unregistered
                        } else {
                            DeviceStatus::Registered
                        }
                    });
                    if let Err(refusal) = push.admit(status, || Ok(())) {
                        return *refusal;
                    }
                    let Some(device) = device else {
                        return crate::internal();
                    };
                    match device.ring.accept(
                        Timestamp(0),
                        push.ttl.secs(),
                        push.topic.clone(),
                        push.payload.clone(),
                    ) {
                        Ok(accepted) => push.created(accepted.id.get()),
                        Err(_) => crate::internal(),
                    }
                }
            },
            Step::Register => {
                if let Err(refusal) = registration_body(read(Step::REGISTRATION_BODY_LIMIT)) {
                    return *refusal;
                }
                let active = self.devices.values().filter(|d| !d.unregistered).count();
                if let Err(refusal) = self.provider().registration_cap(active as u64) {
                    return *refusal;
                }
                self.registered = self.registered.wrapping_add(1);
                let registration = DeviceRegistration {
                    token: DeviceToken::from_octets([self.registered; 32]),
                    secret: DeviceSecret::from_octets([!self.registered; 32]),
                };
                self.add(
                    registration.token.as_str(),
                    registration.secret.as_str(),
                    false,
                );
                registration.to_response()
            }
            Step::Unregister { token } => {
                let device = self.devices.get(token.as_str()).map(|d| {
                    let status = if d.unregistered {
                        DeviceStatus::Unregistered
                    } else {
                        DeviceStatus::Registered
                    };
                    (status, d.secret_hash.clone())
                });
                let device = device.as_ref().map(|(s, h)| (*s, h.as_str()));
                if let Err(refusal) = self.provider().unregistration(headers, device) {
                    return *refusal;
                }
                if let Some(device) = self.devices.get_mut(token.as_str()) {
                    device.unregistered = true;
                    device.ring = DeviceRing::new(4);
                }
                unregistered()
            }
            Step::Metrics => metrics(&[("mailpush_push_accepted_total", "counter", 0)]),
        }
    }
}

/// Hands every request of `data` to a fresh server holding one registered and one unregistered
/// device, and checks each answer against the model: never a `5xx` (but the `503` of PROV-17
/// when the model says the cap is reached), the status and error code the spec names,
/// `Content-Type: application/json` and a matching JSON error body from 400 up,
/// `WWW-Authenticate` on `401`, `Allow` on `405`, `Location` and `TTL` on an accepted push.
pub fn check_provider_requests(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data)
        .replace("$P", PROVIDER)
        .replace("$R", REGISTRATION)
        .replace("$L", LIVE)
        .replace("$G", GONE)
        .replace("$S", LIVE_SECRET);
    let inputs: Vec<Input> = text
        .split("\n----\n")
        .take(8)
        .filter_map(|part| parse_input(part.as_bytes()))
        .collect();
    let mut server = Server {
        provider_tokens: vec![PROVIDER.into()],
        registration_tokens: vec![REGISTRATION.into()],
        devices: BTreeMap::new(),
        registered: 0,
    };
    server.add(LIVE, LIVE_SECRET, false);
    server.add(GONE, GONE_SECRET, true);
    let mut model = Model {
        live: [LIVE.to_owned()].into(),
        gone: [GONE.to_owned()].into(),
        max_devices: 2,
    };
    for input in inputs {
        let expected = model.expect(&input);
        let mut headers = HeaderMap::new();
        for (name, value) in &input.headers {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                return Err(format!("a field the parser passed: {name}: {value}"));
            };
            headers.append(name, value);
        }
        // A body goes with its length unless it is chunked, as the HTTP layer sends it.
        let chunked = fields(&input, "transfer-encoding").iter().any(|v| {
            v.as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        });
        if !chunked {
            headers.insert(
                http::header::CONTENT_LENGTH,
                HeaderValue::from(input.body.len()),
            );
        }
        let response = server.handle(&input.method, &input.uri, &headers, &input.body);
        let (parts, body) = response.into_parts();
        check(&input, &expected, &parts, &body)?;
    }
    Ok(())
}

fn check(
    input: &Input,
    expected: &Expected,
    parts: &http::response::Parts,
    body: &[u8],
) -> Result<(), String> {
    let status = parts.status.as_u16();
    let what = || {
        format!(
            "{} {}: got {status} {}",
            input.method,
            input.uri,
            String::from_utf8_lossy(body)
        )
    };
    // The one 5xx the spec names is PROV-17's 503 over the cap; anything else is a failure.
    if status >= 500 && *expected != error(503, "registration-limit") {
        return Err(format!("a 5xx: {}", what()));
    }
    if status != expected.status {
        return Err(format!("expected {expected:?}, {}", what()));
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(code) = expected.error {
        let json: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| format!("error body not JSON: {}", what()))?;
        if header("content-type") != Some("application/json")
            || json["code"] != status
            || json["error"] != code
            || !json["message"].is_string()
        {
            return Err(format!("expected error {code}, {}", what()));
        }
    }
    let fine = match status {
        401 => header("www-authenticate") == Some("Bearer"),
        405 => header("allow").is_some(),
        201 if input.uri.path().starts_with("/v1/push/") => {
            let ttl = single(input, "ttl")
                .ok()
                .flatten()
                .and_then(|t| t.parse::<u32>().ok())
                .unwrap_or(0);
            header("ttl") == Some(ttl.min(MAX_TTL).to_string().as_str())
                && header("location")
                    .is_some_and(|l| l.starts_with(&format!("/v1/message/{LIVE}/")))
        }
        201 => {
            let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let token = json["token"].as_str().unwrap_or_default();
            lower_hex(token, 64)
                && json["secret"].as_str().is_some_and(|s| lower_hex(s, 64))
                && header("location") == Some(format!("/v1/devices/{token}").as_str())
        }
        _ => true,
    };
    if fine {
        Ok(())
    } else {
        Err(format!(
            "headers or body wrong: {:?} {}",
            parts.headers,
            what()
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// The oracle is not a stub: answers the model does not expect are named.
    #[test]
    fn wrong_answers_are_caught() {
        let input = parse_input(b"POST /v1/push/x\nTTL: 5\n\n").unwrap();
        let answer = |status: u16, headers: &[(&str, &str)]| {
            let mut builder = http::Response::builder().status(status);
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            builder.body(()).unwrap().into_parts().0
        };
        let json = "application/json";
        let unauthorized = r#"{"code":401,"error":"unauthorized","message":"m"}"#;
        let expected = error(401, "unauthorized");
        let good = answer(
            401,
            &[("content-type", json), ("www-authenticate", "Bearer")],
        );
        assert!(check(&input, &expected, &good, unauthorized.as_bytes()).is_ok());
        for (parts, body) in [
            (answer(500, &[]), ""),
            (
                answer(400, &[("content-type", json)]),
                r#"{"code":400,"error":"bad-request","message":"m"}"#,
            ),
            (answer(401, &[("content-type", json)]), unauthorized),
            (answer(401, &[("www-authenticate", "Bearer")]), unauthorized),
            (
                good.clone(),
                r#"{"code":401,"error":"bad-request","message":"m"}"#,
            ),
            (good.clone(), "not json"),
        ] {
            assert!(
                check(&input, &expected, &parts, body.as_bytes()).is_err(),
                "{parts:?} {body}"
            );
        }
    }
}
