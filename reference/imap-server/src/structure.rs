//! ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) of a message read by
//! `mailpush-message`. Header values are passed through as sent (encoded words are the
//! client's to decode); media types and parameter names are upper-cased.

use mailpush_imap::{
    Address, Body, BodyFields, Envelope, ExtTail, IString, Lang, LangTail, MultiExt, NString,
    SingleExt, SingleKind, Vec1,
};
use mailpush_message::mime::parameterized;
use mailpush_message::{ContentType, Entity, Fields, Parameter};

fn nstring(v: Option<&[u8]>) -> NString {
    v.map(IString::from_slice)
}

/// Splits an address list at commas outside quotes, comments and angle brackets.
fn split_list(v: &[u8]) -> Vec<&[u8]> {
    let (mut out, mut start, mut quoted, mut depth, mut angle) =
        (Vec::new(), 0, false, 0u32, false);
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'(' if !quoted => depth = depth.saturating_add(1),
            b')' if !quoted => depth = depth.saturating_sub(1),
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' | b';' if !quoted && depth == 0 && !angle => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&v[start.min(v.len())..]);
    out.into_iter()
        .filter(|a| !a.trim_ascii().is_empty())
        .collect()
}

/// `Name <local@host>`, `local@host` or `"Name" <local@host>`; group names (`team:`) are
/// dropped with their colon.
fn address(a: &[u8]) -> Option<Address> {
    let a = a.trim_ascii();
    let a = match a.iter().position(|&b| b == b':') {
        Some(c) if !a[..c].contains(&b'<') && !a[..c].contains(&b'@') => a[c + 1..].trim_ascii(),
        _ => a,
    };
    let (name, spec) = match (
        a.iter().position(|&b| b == b'<'),
        a.iter().rposition(|&b| b == b'>'),
    ) {
        (Some(l), Some(r)) if l < r => {
            let name = a[..l].trim_ascii();
            let name = name
                .strip_prefix(b"\"")
                .and_then(|n| n.strip_suffix(b"\""))
                .unwrap_or(name);
            ((!name.is_empty()).then_some(name), &a[l + 1..r])
        }
        _ => (None, a),
    };
    if spec.is_empty() {
        return None;
    }
    let (mailbox, host) = match spec.iter().rposition(|&b| b == b'@') {
        Some(at) => (&spec[..at], Some(&spec[at + 1..])),
        None => (spec, None),
    };
    Some(Address {
        name: nstring(name),
        adl: None,
        mailbox: nstring(Some(mailbox)),
        host: nstring(host),
    })
}

fn addresses(v: Option<&[u8]>) -> Vec<Address> {
    v.map(|v| split_list(v).into_iter().filter_map(address).collect())
        .unwrap_or_default()
}

/// The ENVELOPE of a message with these header fields: sender and reply-to default to from.
pub fn envelope_of(f: &Fields) -> Envelope {
    let from = addresses(f.get("from"));
    let sender = match addresses(f.get("sender")) {
        s if s.is_empty() => from.clone(),
        s => s,
    };
    let reply_to = match addresses(f.get("reply-to")) {
        r if r.is_empty() => from.clone(),
        r => r,
    };
    Envelope {
        date: nstring(f.get("date")),
        subject: nstring(f.get("subject")),
        from,
        sender,
        reply_to,
        to: addresses(f.get("to")),
        cc: addresses(f.get("cc")),
        bcc: addresses(f.get("bcc")),
        in_reply_to: nstring(f.get("in-reply-to")),
        message_id: nstring(f.get("message-id")),
    }
}

/// The ENVELOPE of a message.
pub fn envelope(raw: &[u8]) -> Envelope {
    envelope_of(&Fields::parse(raw))
}

/// Parameters as IMAP lists them: names upper-cased.
fn imap_params(params: &[Parameter]) -> Vec<(IString, IString)> {
    params
        .iter()
        .map(|p| {
            (
                IString::new(p.name.to_ascii_uppercase()),
                IString::from_slice(&p.value),
            )
        })
        .collect()
}

/// `body-fld-param` of a part: its parameters, and for a `text/plain` part outside a digest
/// that names none, `CHARSET US-ASCII` (RFC 2045 §5.2).
fn body_params(e: &Entity<'_>) -> Vec<(IString, IString)> {
    let ct: &ContentType = &e.content_type;
    let mut params = imap_params(&ct.params);
    if !e.in_digest && ct.is("text", "plain") && params.is_empty() {
        params.push((IString::from("CHARSET"), IString::from("US-ASCII")));
    }
    params
}

fn upper(s: &str) -> IString {
    IString::from(s.to_ascii_uppercase().as_str())
}

/// Text lines, a last line without CRLF included.
fn lines(b: &[u8]) -> u32 {
    let full = b.iter().filter(|&&c| c == b'\n').count();
    let partial = usize::from(b.last().is_some_and(|&c| c != b'\n'));
    u32::try_from(full.saturating_add(partial)).unwrap_or(u32::MAX)
}

/// `body-fld-dsp SP body-fld-lang SP body-fld-loc` (RFC 3501 §7.4.2) from the
/// Content-Disposition (RFC 2183), Content-Language (RFC 3282) and Content-Location (RFC 2557)
/// fields; NIL for each that is absent.
fn ext_tail(e: &Entity<'_>) -> ExtTail {
    let disposition = e.fields.get("content-disposition").and_then(|v| {
        let (kind, params) = parameterized(v);
        (!kind.is_empty()).then(|| (IString::from_slice(kind), imap_params(&params)))
    });
    let tags: Vec<IString> = e
        .fields
        .get("content-language")
        .map(|v| {
            v.split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|t| !t.is_empty())
                .map(IString::from_slice)
                .collect()
        })
        .unwrap_or_default();
    let lang = match tags.len() {
        0 => Lang::Single(None),
        1 => Lang::Single(tags.into_iter().next()),
        _ => Vec1::new(tags).map_or(Lang::Single(None), Lang::List),
    };
    ExtTail {
        disposition,
        lang: Some(LangTail {
            lang,
            location: Some((nstring(e.fields.get("content-location")), Vec::new())),
        }),
    }
}

/// BODY (`extended` false) or BODYSTRUCTURE (`extended` true: with the extension data of
/// RFC 3501 §7.4.2 on every part).
fn structure(e: &Entity<'_>, extended: bool) -> Body {
    let ct = &e.content_type;
    if !e.parts.is_empty()
        && let Ok(parts) = Vec1::new(e.parts.iter().map(|c| structure(c, extended)).collect())
    {
        return Body::Multi {
            parts,
            subtype: upper(&ct.subtype),
            ext: extended.then(|| MultiExt {
                params: body_params(e),
                tail: Some(ext_tail(e)),
            }),
        };
    }
    let fields = BodyFields {
        params: body_params(e),
        id: nstring(e.fields.get("content-id")),
        description: nstring(e.fields.get("content-description")),
        encoding: IString::from_slice(
            &e.fields
                .get("content-transfer-encoding")
                .unwrap_or(b"7BIT")
                .to_ascii_uppercase(),
        ),
        octets: u32::try_from(e.body.len()).unwrap_or(u32::MAX),
    };
    let kind = match &e.enclosed {
        Some(inner) => SingleKind::Message {
            subtype: upper(&ct.subtype),
            envelope: Box::new(envelope_of(&inner.fields)),
            body: Box::new(structure(inner, extended)),
            lines: lines(e.body),
        },
        None if ct.is_type("text") => SingleKind::Text {
            subtype: upper(&ct.subtype),
            lines: lines(e.body),
        },
        None => SingleKind::Basic {
            media_type: upper(&ct.media_type),
            subtype: upper(&ct.subtype),
        },
    };
    Body::Single {
        kind,
        fields,
        ext: extended.then(|| SingleExt {
            md5: nstring(e.fields.get("content-md5")),
            tail: Some(ext_tail(e)),
        }),
    }
}

/// BODY: the MIME structure without extension data.
pub fn body(raw: &[u8]) -> Body {
    structure(&Entity::parse(raw), false)
}

/// BODYSTRUCTURE: the MIME structure with the extension data of every part (RFC 3501 §7.4.2).
pub fn body_structure(raw: &[u8]) -> Body {
    structure(&Entity::parse(raw), true)
}
