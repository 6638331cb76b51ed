//! Push payloads (PROV-20) and the request a driver sends (PROV-4..PROV-8 headers).

use std::fmt::Write as _;
use std::time::Duration;

use md5::{Digest, Md5};

use crate::RegistrationKey;

/// Largest payload a push service accepts, in octets (PROV-7).
pub const MAX_PAYLOAD: usize = 4096;

/// Lowercase hexadecimal MD5 (RFC 1321) of `data`: how payloads name mailboxes (PROV-20) and how
/// topics name accounts (PROV-21).
pub fn md5_hex(data: &[u8]) -> String {
    let digest = Md5::digest(data);
    let mut out = String::with_capacity(32);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The `Urgency` of a push request (RFC 8030 §5.3, PROV-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Urgency {
    /// `very-low`
    VeryLow,
    /// `low`: flag changes and expunges alone (PROV-24).
    Low,
    /// `normal`: the set contains a new message (PROV-24).
    Normal,
    /// `high`
    High,
}

impl Urgency {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// Identifies a request until its response is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// One provider-API request for a driver to send: `POST` of [`PushRequest::payload`] to the
/// device's push resource ([`PushService::resource`]) with [`PushRequest::headers`] and the
/// provider's `Authorization` (PROV-2, the driver's business). Works with any RFC 8030 push
/// service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// Give it back to [`crate::Notifier::handle_response`].
    pub id: RequestId,
    /// The registration it is for.
    pub registration: RegistrationKey,
    /// `TTL` (PROV-22): the registration's remaining lifetime, at most 30 days.
    pub ttl: Duration,
    /// `Topic` (PROV-21), when per-account coalescing is configured.
    pub topic: Option<String>,
    /// `Urgency` (PROV-24).
    pub urgency: Urgency,
    /// The mailboxes it reports, as the client spelled them, in payload order.
    pub mailboxes: Vec<String>,
    /// The JSON body (PROV-20), at most [`MAX_PAYLOAD`] octets.
    pub payload: Vec<u8>,
}

impl PushRequest {
    /// The header fields of the request other than `Authorization`, in a fixed order.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Content-Type", "application/json".to_owned()),
            ("TTL", self.ttl.as_secs().to_string()),
            ("Urgency", self.urgency.as_str().to_owned()),
        ];
        if let Some(topic) = &self.topic {
            headers.push(("Topic", topic.clone()));
        }
        headers
    }
}

/// Where push resources are: a base URL that a device token is appended to, so that
/// `https://push.example` and token `ab12…` give `https://push.example/v1/push/ab12…` (the
/// mailpush push server, PROV-3's `push-request`), or any other prefix an RFC 8030 service uses.
/// A device token that is itself an `https://` URL is taken as the push resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushService {
    prefix: String,
}

impl PushService {
    /// The mailpush push server at `base` (for example `https://push.example:8443`).
    pub fn mailpush(base: &str) -> Self {
        Self {
            prefix: format!("{}/v1/push/", base.trim_end_matches('/')),
        }
    }

    /// A push service whose resources are `prefix` followed by the device token.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The push resource of `device_token`. Octets outside RFC 3986's unreserved set are
    /// percent-encoded so that a token cannot change the path.
    pub fn resource(&self, device_token: &str) -> String {
        if device_token.starts_with("https://") {
            return device_token.to_owned();
        }
        let mut url = self.prefix.clone();
        for byte in device_token.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                url.push(char::from(byte));
            } else {
                let _ = write!(url, "%{byte:02X}");
            }
        }
        url
    }
}

/// Splits the MD5s of `mailboxes` into payloads of at most `max_payload` octets, each holding
/// every MD5 once, ascending (PROV-20). Returns (payload, mailboxes in it) pairs, or `None` when
/// not even one mailbox fits next to the account ID.
pub(crate) fn payloads(
    account_id: &str,
    mailboxes: &[String],
    max_payload: usize,
) -> Option<Vec<(Vec<u8>, Vec<String>)>> {
    let mut hashed: Vec<(String, &String)> = mailboxes
        .iter()
        .map(|m| (md5_hex(m.as_bytes()), m))
        .collect();
    hashed.sort();
    hashed.dedup_by(|a, b| a.0 == b.0);
    // Every MD5 adds the same number of octets: 32 hex digits, two quotes, a comma after the
    // first, so the size of a payload is known without serializing it.
    let base = render(account_id, &[]).len();
    if base + 34 > max_payload {
        return None;
    }
    let mut out = Vec::new();
    let mut chunk: Vec<(String, &String)> = Vec::new();
    let mut size = base;
    for entry in hashed {
        let added = if chunk.is_empty() { 34 } else { 35 };
        if size + added > max_payload {
            out.push(finish(account_id, std::mem::take(&mut chunk)));
            size = base + 34;
        } else {
            size += added;
        }
        chunk.push(entry);
    }
    if !chunk.is_empty() || out.is_empty() {
        out.push(finish(account_id, chunk));
    }
    Some(out)
}

fn finish(account_id: &str, chunk: Vec<(String, &String)>) -> (Vec<u8>, Vec<String>) {
    let hashes: Vec<&str> = chunk.iter().map(|(h, _)| h.as_str()).collect();
    let names = chunk.iter().map(|(_, m)| (*m).clone()).collect();
    (render(account_id, &hashes), names)
}

//= spec/provider-api.md#PROV-20
//# A push request MUST carry the account id of the registration as
//# `account-id` and, in `m`, the lowercase hexadecimal MD5 (RFC 1321) of each mailbox name of the
//# pending set, computed over the octets of the name exactly as the client sent it in its
//# registration, each once, in ascending order.
fn render(account_id: &str, hashes: &[&str]) -> Vec<u8> {
    let value = serde_json::json!({ "aps": { "account-id": account_id, "m": hashes } });
    // serde_json orders object members by key; "account-id" sorts before "m" either way.
    value.to_string().into_bytes()
}
