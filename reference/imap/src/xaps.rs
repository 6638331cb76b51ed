//! `XAPPLEPUSHSERVICE`: the IMAP push-registration extension, exactly as
//! `spec/imap-push.md` defines it.

use std::num::NonZeroU32;

use crate::encode::Encoder;
use crate::parse::core::*;
use crate::types::{IString, Vec1};

/// The parameters of an `XAPPLEPUSHSERVICE` command, in the order sent.
///
/// The codec keeps every `xaps-param`, unknown keys included, so a server
/// can apply XAPS-4 and XAPS-5 itself; [`XapsRegistration::interpret`]
/// does that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XapsRegistration {
    /// `1*(SP xaps-param)`.
    pub params: Vec1<XapsParam>,
}

/// `xaps-param = xaps-key SP xaps-value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XapsParam {
    /// `xaps-key = astring`, as sent (compare case-insensitively).
    pub key: IString,
    /// The value.
    pub value: XapsValue,
}

/// `xaps-value = astring / xaps-list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XapsValue {
    /// An astring.
    String(IString),
    /// `xaps-list = "(" [astring *(SP astring)] ")"`.
    List(Vec<IString>),
}

/// A reply line: `xaps-response` (spec/imap-push.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XapsResponse {
    /// `xaps-mailbox-data`: a mailbox that gets push, spelled exactly as
    /// the client sent it (XAPS-11, XAPS-13).
    Mailbox(IString),
    /// `xaps-version-data`: negotiated version and the server's topic.
    Version {
        /// The negotiated version.
        version: NonZeroU32,
        /// `aps-topic`.
        topic: IString,
    },
}

/// The known keys, per `xaps-key`.
pub const KEY_VERSION: &str = "aps-version";
/// `aps-account-id`
pub const KEY_ACCOUNT_ID: &str = "aps-account-id";
/// `aps-device-token`
pub const KEY_DEVICE_TOKEN: &str = "aps-device-token";
/// `aps-subtopic`
pub const KEY_SUBTOPIC: &str = "aps-subtopic";
/// `mailboxes`
pub const KEY_MAILBOXES: &str = "mailboxes";

/// The highest version spec/imap-push.md defines.
pub const MAX_VERSION: u32 = 2;

/// A registration request after the checks of XAPS-5 to XAPS-9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XapsRequest {
    /// The client's `aps-version`, if sent.
    pub client_version: Option<NonZeroU32>,
    /// `aps-account-id`.
    pub account_id: Vec<u8>,
    /// `aps-device-token`.
    pub device_token: Vec<u8>,
    /// `aps-subtopic`.
    pub subtopic: Option<Vec<u8>>,
    /// `mailboxes`, spelled as sent, if sent.
    //= spec/imap-push.md#XAPS-13
    //# The server MUST remember every acknowledged mailbox under the name exactly
    //# as the client sent it
    pub mailboxes: Option<Vec<IString>>,
}

/// Why a registration is refused, and with which tagged status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XapsRefusal {
    /// Reply `BAD` with this text.
    Bad(&'static str),
    /// Reply `NO` with this text.
    No(&'static str),
}

/// Limits of XAPS-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XapsLimits {
    /// Longest account ID, device token and subtopic (octets).
    pub max_field_len: usize,
    /// Most mailboxes per registration.
    pub max_mailboxes: usize,
}

impl Default for XapsLimits {
    fn default() -> Self {
        //= spec/imap-push.md#XAPS-7
        //# A server MUST reply `BAD` and record nothing when the account ID, the device token or the
        //# subtopic is longer than 256 octets, or when `mailboxes` names more mailboxes than the server's
        //# per-registration limit (default 1000).
        XapsLimits {
            max_field_len: 256,
            max_mailboxes: 1000,
        }
    }
}

impl XapsRequest {
    /// The negotiated version: min(client, 2), and 1 when absent (XAPS-8).
    pub fn negotiated_version(&self) -> NonZeroU32 {
        //= spec/imap-push.md#XAPS-8
        //# The server MUST use the smaller of the client's version and 2, the highest version
        //# this document defines. When `aps-version` is absent the server MUST use version 1.
        match self.client_version {
            Some(v) if v.get() >= MAX_VERSION => NonZeroU32::MIN.saturating_add(MAX_VERSION - 1),
            Some(v) => v,
            None => NonZeroU32::MIN,
        }
    }

    /// The mailboxes the request asks push for (XAPS-9): INBOX alone under
    /// version 1 or without `mailboxes`.
    pub fn requested_mailboxes(&self) -> Vec<IString> {
        //= spec/imap-push.md#XAPS-9
        //# Under version 1 the server MUST ignore any `mailboxes` value and treat
        //# the request as a request for `INBOX` alone. Under version 2 a request without `mailboxes` MUST
        //# likewise be treated as a request for `INBOX` alone.
        match (&self.mailboxes, self.negotiated_version().get()) {
            (Some(m), v) if v >= 2 => m.clone(),
            _ => vec![IString::from("INBOX")],
        }
    }

    /// The command a client sends for this request, keys in the order
    /// XAPS-3 recommends.
    pub fn to_registration(&self) -> XapsRegistration {
        //= spec/imap-push.md#XAPS-3
        //# A client SHOULD
        //# send the keys in the order `aps-version`, `aps-account-id`, `aps-device-token`, `aps-subtopic`,
        //# `mailboxes`, as iOS Mail does.
        let s = |k: &str, v: &[u8]| XapsParam {
            key: k.into(),
            value: XapsValue::String(IString::new(v)),
        };
        let mut params = Vec::new();
        if let Some(v) = self.client_version {
            params.push(s(KEY_VERSION, v.to_string().as_bytes()));
        }
        params.push(s(KEY_ACCOUNT_ID, &self.account_id));
        params.push(s(KEY_DEVICE_TOKEN, &self.device_token));
        if let Some(t) = &self.subtopic {
            params.push(s(KEY_SUBTOPIC, t));
        }
        if let Some(m) = &self.mailboxes {
            params.push(XapsParam {
                key: KEY_MAILBOXES.into(),
                value: XapsValue::List(m.clone()),
            });
        }
        XapsRegistration {
            params: Vec1::from_nonempty(params),
        }
    }
}

impl XapsRegistration {
    /// Applies XAPS-4 to XAPS-8: unknown keys ignored; duplicate keys,
    /// wrongly shaped values, oversize fields and bad versions are `BAD`;
    /// a missing or empty account ID or device token is `NO`.
    pub fn interpret(&self, limits: XapsLimits) -> Result<XapsRequest, XapsRefusal> {
        let mut version: Option<&IString> = None;
        let mut account: Option<&IString> = None;
        let mut token: Option<&IString> = None;
        let mut subtopic: Option<&IString> = None;
        let mut mailboxes: Option<&Vec<IString>> = None;
        let mut seen: Vec<&[u8]> = Vec::new();
        for p in self.params.iter() {
            let key = p.key.as_bytes();
            //= spec/imap-push.md#XAPS-5
            //# A server MUST reply `BAD` with a text naming the problem, and record
            //# nothing, when the command does not match `xaps-command`, when a key appears more than once, when
            //# the value of `mailboxes` is not an `xaps-list`, or when the value of any other known key is an
            //# `xaps-list`.
            if seen.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                return Err(XapsRefusal::Bad(
                    "XAPPLEPUSHSERVICE key appears more than once",
                ));
            }
            seen.push(key);
            let is = |k: &str| key.eq_ignore_ascii_case(k.as_bytes());
            let slot = if is(KEY_VERSION) {
                &mut version
            } else if is(KEY_ACCOUNT_ID) {
                &mut account
            } else if is(KEY_DEVICE_TOKEN) {
                &mut token
            } else if is(KEY_SUBTOPIC) {
                &mut subtopic
            } else if is(KEY_MAILBOXES) {
                match &p.value {
                    XapsValue::List(l) => mailboxes = Some(l),
                    XapsValue::String(_) => {
                        return Err(XapsRefusal::Bad(
                            "XAPPLEPUSHSERVICE mailboxes must be a list",
                        ));
                    }
                }
                continue;
            } else {
                //= spec/imap-push.md#XAPS-4
                //# A server MUST ignore a key it does not know, together with its value (an
                //# `astring` or an `xaps-list`), and MUST still process the rest of the command.
                continue;
            };
            match &p.value {
                XapsValue::String(s) => *slot = Some(s),
                XapsValue::List(_) => {
                    return Err(XapsRefusal::Bad(
                        "XAPPLEPUSHSERVICE value must not be a list",
                    ));
                }
            }
        }
        let client_version = match version {
            None => None,
            Some(v) => {
                //= spec/imap-push.md#XAPS-8
                //# The value of `aps-version` MUST be an `nz-number`; otherwise the server
                //# MUST reply `BAD`.
                let b = v.as_bytes();
                let ok = !b.is_empty() && b[0] != b'0' && b.iter().all(u8::is_ascii_digit);
                match std::str::from_utf8(b)
                    .ok()
                    .filter(|_| ok)
                    .and_then(|s| s.parse::<u32>().ok())
                {
                    Some(n) => NonZeroU32::new(n),
                    None => return Err(XapsRefusal::Bad("aps-version must be a non-zero number")),
                }
            }
        };
        let too_long =
            |s: Option<&IString>| s.is_some_and(|s| s.as_bytes().len() > limits.max_field_len);
        if too_long(account) || too_long(token) || too_long(subtopic) {
            return Err(XapsRefusal::Bad(
                "XAPPLEPUSHSERVICE field longer than 256 octets",
            ));
        }
        if mailboxes.is_some_and(|m| m.len() > limits.max_mailboxes) {
            return Err(XapsRefusal::Bad(
                "XAPPLEPUSHSERVICE names too many mailboxes",
            ));
        }
        //= spec/imap-push.md#XAPS-6
        //# A server MUST reply `NO` and record nothing when `aps-account-id` or
        //# `aps-device-token` is absent or empty.
        let account = match account {
            Some(a) if !a.as_bytes().is_empty() => a.as_bytes().to_vec(),
            _ => return Err(XapsRefusal::No("aps-account-id is missing or empty")),
        };
        let device_token = match token {
            Some(t) if !t.as_bytes().is_empty() => t.as_bytes().to_vec(),
            _ => return Err(XapsRefusal::No("aps-device-token is missing or empty")),
        };
        Ok(XapsRequest {
            client_version,
            account_id: account,
            device_token,
            subtopic: subtopic.map(|s| s.as_bytes().to_vec()),
            mailboxes: mailboxes.cloned(),
        })
    }
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

//= spec/imap-push.md#XAPS-3
//# A server MUST accept every key and every value as an atom, a quoted string or
//# a literal (`astring`), in any order, and MUST compare key names case-insensitively.

/// The part of `xaps-command = "XAPPLEPUSHSERVICE" 1*(SP xaps-param)` after
/// the command name (spec/imap-push.md, Grammar).
pub fn xaps_command_params(i: &[u8]) -> PResult<'_, XapsRegistration> {
    let mut params = Vec::new();
    let mut i = i;
    loop {
        match i.first() {
            None => return incomplete(),
            Some(b' ') => {
                let (r, p) = xaps_param(&i[1..])?;
                params.push(p);
                i = r;
            }
            Some(_) if params.is_empty() => return expected(i, "SP xaps-param"),
            Some(_) => {
                return Ok((
                    i,
                    XapsRegistration {
                        params: Vec1::from_nonempty(params),
                    },
                ));
            }
        }
    }
}

/// `xaps-param = xaps-key SP xaps-value` (spec/imap-push.md).
pub fn xaps_param(i: &[u8]) -> PResult<'_, XapsParam> {
    let (i, key) = xaps_key(i)?;
    let (i, _) = sp(i)?;
    let (i, value) = xaps_value(i)?;
    Ok((i, XapsParam { key, value }))
}

/// `xaps-key = astring` (spec/imap-push.md).
pub fn xaps_key(i: &[u8]) -> PResult<'_, IString> {
    astring(i)
}

/// `xaps-value = astring / xaps-list`, `xaps-list = "(" [astring *(SP
/// astring)] ")"` (spec/imap-push.md).
pub fn xaps_value(i: &[u8]) -> PResult<'_, XapsValue> {
    if i.first() == Some(&b'(') {
        let (r, l) = paren_list(i, astring)?;
        return Ok((r, XapsValue::List(l)));
    }
    let (r, s) = astring(i)?;
    Ok((r, XapsValue::String(s)))
}

/// The part of `xaps-response = "XAPPLEPUSHSERVICE" SP (xaps-mailbox-data /
/// xaps-version-data)` after the name (spec/imap-push.md).
pub fn xaps_response_tail(i: &[u8]) -> PResult<'_, XapsResponse> {
    //= spec/imap-push.md#XAPS-12
    //# A client MUST accept both response forms of the grammar
    let (i, _) = sp(i)?;
    let (r, field) = xaps_field(i)?;
    if field.eq_ignore_ascii_case(b"mailbox") {
        // xaps-mailbox-data = xaps-field-mailbox SP mailbox
        let (r, _) = sp(r)?;
        let (r, m) = astring(r)?;
        return Ok((r, XapsResponse::Mailbox(m)));
    }
    if !field.eq_ignore_ascii_case(b"aps-version") {
        return fatal(i, "\"mailbox\" or \"aps-version\"");
    }
    // xaps-version-data = xaps-field-version SP xaps-string-version SP
    //                     xaps-field-topic SP astring
    let (r, _) = sp(r)?;
    let (r, version) = xaps_string_version(r)?;
    let (r, _) = sp(r)?;
    let (r2, f) = xaps_field(r)?;
    if !f.eq_ignore_ascii_case(b"aps-topic") {
        return fatal(r, "\"aps-topic\"");
    }
    let (r, _) = sp(r2)?;
    let (r, topic) = astring(r)?;
    Ok((r, XapsResponse::Version { version, topic }))
}

/// `xaps-field-mailbox = DQUOTE "mailbox" DQUOTE / "mailbox"` (and the
/// `aps-version`, `aps-topic` fields): a quoted or bare field name.
fn xaps_field(i: &[u8]) -> PResult<'_, &[u8]> {
    if i.first() == Some(&b'"') {
        let (r, raw) = quoted_raw(i)?;
        return Ok((r, raw));
    }
    atom_bytes(i)
}

/// `xaps-string-version = DQUOTE xaps-version DQUOTE / xaps-version`,
/// `xaps-version = nz-number` (spec/imap-push.md).
fn xaps_string_version(i: &[u8]) -> PResult<'_, NonZeroU32> {
    if i.first() == Some(&b'"') {
        let (r, n) = nz_number(&i[1..])?;
        let (r, _) = byte(b'"', "closing DQUOTE of version")(r)?;
        return Ok((r, n));
    }
    nz_number(i)
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

pub(crate) fn encode_registration(e: &mut Encoder, x: &XapsRegistration) {
    e.raw(b"XAPPLEPUSHSERVICE");
    for p in x.params.iter() {
        e.raw(b" ");
        e.astring(p.key.as_bytes());
        e.raw(b" ");
        match &p.value {
            XapsValue::String(s) => e.astring(s.as_bytes()),
            XapsValue::List(l) => {
                e.raw(b"(");
                for (n, s) in l.iter().enumerate() {
                    if n > 0 {
                        e.raw(b" ");
                    }
                    e.astring(s.as_bytes());
                }
                e.raw(b")");
            }
        }
    }
}

pub(crate) fn encode_response(e: &mut Encoder, x: &XapsResponse) {
    //= spec/imap-push.md#XAPS-11
    //# The field names and the version MUST be
    //# sent as quoted strings.
    e.raw(b"XAPPLEPUSHSERVICE ");
    match x {
        XapsResponse::Mailbox(m) => {
            e.raw(b"\"mailbox\" ");
            e.string(m.as_bytes());
        }
        XapsResponse::Version { version, topic } => {
            e.raw(b"\"aps-version\" \"");
            e.number(version.get());
            e.raw(b"\" \"aps-topic\" ");
            e.string(topic.as_bytes());
        }
    }
}
