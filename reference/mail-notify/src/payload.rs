//! Push payloads (PROV-20) and the request a driver sends (PROV-4..PROV-8 headers).

use std::fmt::Write as _;
use std::time::Duration;

use md5::{Digest, Md5};

use crate::{Error, RegistrationKey};

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

/// Where push resources are: a push resource template whose `{token}` is replaced by the
/// device token in lowercase (PROV-27). The default, [`PushService::mailpush`], gives
/// `https://push.example/v1/push/ab12…` for base `https://push.example` and token `AB12…` (the
/// mailpush push server, PROV-3's `push-request`); any other RFC 8030 service is reached with
/// its own template ([`PushService::from_template`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushService {
    before: String,
    after: String,
}

/// The placeholder of a push resource template.
pub const TOKEN_PLACEHOLDER: &str = "{token}";

impl PushService {
    /// The mailpush push server at `base` (for example `https://push.example:8443`).
    pub fn mailpush(base: &str) -> Self {
        Self {
            before: format!("{}/v1/push/", base.trim_end_matches('/')),
            after: String::new(),
        }
    }

    /// The default push resource template of the push service at `base`:
    /// `<base>/v1/push/{token}` (PROV-27).
    pub fn default_template(base: &str) -> String {
        format!("{}/v1/push/{TOKEN_PLACEHOLDER}", base.trim_end_matches('/'))
    }

    /// A push service whose resources are `prefix` followed by the device token.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            before: prefix.to_owned(),
            after: String::new(),
        }
    }

    /// The push service of a push resource template such as
    /// `https://updates.example/wpush/{token}/notify`: an `http://` or `https://` URL holding
    /// `{token}` exactly once.
    pub fn from_template(template: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::BadTemplate(format!("{template:?} {why}"));
        let Some((before, after)) = template.split_once(TOKEN_PLACEHOLDER) else {
            return Err(bad("does not contain {token}"));
        };
        if after.contains(TOKEN_PLACEHOLDER) {
            return Err(bad("contains {token} more than once"));
        }
        let authority = if let Some(rest) = before.strip_prefix("https://") {
            rest
        } else if let Some(rest) = before.strip_prefix("http://") {
            rest
        } else {
            return Err(bad("is neither an http:// nor an https:// URL"));
        };
        // The token must land in the path, never in the host or port.
        match authority.find('/') {
            Some(i) if i > 0 => {}
            _ => return Err(bad("must name a host and put {token} in the path")),
        }
        Ok(Self {
            before: before.to_owned(),
            after: after.to_owned(),
        })
    }

    /// The push resource of `device_token`: the template with `{token}` replaced by the token in
    /// lowercase. Octets outside RFC 3986's unreserved set are percent-encoded so that a token
    /// cannot change the path.
    //= spec/provider-api.md#PROV-27
    //# The mail server MUST send the pushes of a registration to
    //# the push resource that its device token names: the mail server's configured push resource
    //# template with `{token}` replaced by the token in lowercase.
    pub fn resource(&self, device_token: &str) -> String {
        let mut url = self.before.clone();
        for byte in device_token.bytes() {
            let byte = byte.to_ascii_lowercase();
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                url.push(char::from(byte));
            } else {
                let _ = write!(url, "%{byte:02X}");
            }
        }
        url.push_str(&self.after);
        url
    }
}

/// Whether `device_token` names a push resource: exactly 64 hexadecimal characters, in either
/// case (PROV-27, XAPS-20).
//= spec/provider-api.md#PROV-27
//# A device
//# token names a push resource only when it is 64 hexadecimal characters
pub fn is_device_token(device_token: &str) -> bool {
    device_token.len() == 64 && device_token.bytes().all(|b| b.is_ascii_hexdigit())
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
