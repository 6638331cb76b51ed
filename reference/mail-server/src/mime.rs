//! Just enough RFC 5322 / MIME (RFC 2045, RFC 2046) to answer ENVELOPE, BODY, BODYSTRUCTURE
//! and part sections (`BODY[1.2.MIME]`). Header values are passed through as sent (encoded
//! words are the client's to decode, RFC 3501 §7.4.2); nesting is capped.

use std::num::NonZeroU32;

use mailpush_imap::{
    Address, Body, BodyFields, Envelope, ExtTail, IString, Lang, LangTail, MultiExt, NString,
    PartText, Section, SingleExt, SingleKind, Vec1,
};

use crate::decode;
use crate::message::{header_len, msgtext};

/// Deepest MIME nesting that is parsed; deeper parts are served as opaque leaves.
const MAX_DEPTH: usize = 16;

/// The header fields of a header block, unfolded: (lowercase name, value).
pub(crate) fn fields(header: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for line in header.split_inclusive(|&b| b == b'\n') {
        let line = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some((_, v)) = out.last_mut() {
                v.push(b' ');
                v.extend_from_slice(line.trim_ascii());
            }
            continue;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = String::from_utf8_lossy(line[..colon].trim_ascii()).to_ascii_lowercase();
            out.push((name, line[colon + 1..].trim_ascii().to_vec()));
        }
    }
    out
}

fn field<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

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
            b'(' if !quoted => depth += 1,
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

/// The ENVELOPE of a message (RFC 3501 §7.4.2): sender and reply-to default to from.
pub fn envelope(raw: &[u8]) -> Envelope {
    let f = fields(&raw[..header_len(raw)]);
    let from = addresses(field(&f, "from"));
    let sender = match addresses(field(&f, "sender")) {
        s if s.is_empty() => from.clone(),
        s => s,
    };
    let reply_to = match addresses(field(&f, "reply-to")) {
        r if r.is_empty() => from.clone(),
        r => r,
    };
    Envelope {
        date: nstring(field(&f, "date")),
        subject: nstring(field(&f, "subject")),
        from,
        sender,
        reply_to,
        to: addresses(field(&f, "to")),
        cc: addresses(field(&f, "cc")),
        bcc: addresses(field(&f, "bcc")),
        in_reply_to: nstring(field(&f, "in-reply-to")),
        message_id: nstring(field(&f, "message-id")),
    }
}

/// `type/subtype; k=v; …` (RFC 2045 §5.1), lowercased type, parameters unquoted.
struct ContentType {
    media: String,
    subtype: String,
    params: Vec<(IString, IString)>,
    boundary: Option<Vec<u8>>,
}

/// `value; k=v; …`: the value and its parameters (keys uppercased, values unquoted), as
/// Content-Type (RFC 2045 §5.1) and Content-Disposition (RFC 2183 §2) write them.
fn with_params(v: &[u8]) -> (&[u8], Vec<(IString, IString)>) {
    let mut parts = v.split(|&b| b == b';');
    let head = parts.next().unwrap_or(b"").trim_ascii();
    let mut params = Vec::new();
    for p in parts {
        let Some(eq) = p.iter().position(|&b| b == b'=') else {
            continue;
        };
        let key = p[..eq].trim_ascii();
        let val = p[eq + 1..].trim_ascii();
        let val = val
            .strip_prefix(b"\"")
            .and_then(|v| v.strip_suffix(b"\""))
            .unwrap_or(val);
        if key.is_empty() {
            continue;
        }
        params.push((
            IString::new(key.to_ascii_uppercase()),
            IString::from_slice(val),
        ));
    }
    (head, params)
}

fn content_type(v: Option<&[u8]>, default_media: &str, default_sub: &str) -> ContentType {
    let (ty, mut params) = with_params(v.unwrap_or(b""));
    let (media, subtype) = match ty.iter().position(|&b| b == b'/') {
        Some(s) if s > 0 && s + 1 < ty.len() => (
            String::from_utf8_lossy(&ty[..s]).to_ascii_uppercase(),
            String::from_utf8_lossy(&ty[s + 1..]).to_ascii_uppercase(),
        ),
        _ => (default_media.to_owned(), default_sub.to_owned()),
    };
    let boundary = params
        .iter()
        .find(|(k, _)| k.as_bytes() == b"BOUNDARY")
        .map(|(_, v)| v.as_bytes().to_vec());
    if media == default_media
        && subtype == default_sub
        && params.is_empty()
        && default_media == "TEXT"
    {
        params.push((IString::from("CHARSET"), IString::from("US-ASCII")));
    }
    ContentType {
        media,
        subtype,
        params,
        boundary,
    }
}

/// One MIME entity: its header and body octets, and its children when multipart.
struct Entity<'a> {
    header: &'a [u8],
    body: &'a [u8],
    ty: ContentType,
    fields: Vec<(String, Vec<u8>)>,
    children: Vec<Entity<'a>>,
    /// For `message/rfc822`: the enclosed message.
    enclosed: Option<Box<Entity<'a>>>,
}

fn entity(raw: &[u8], depth: usize, in_digest: bool) -> Entity<'_> {
    let split = header_len(raw);
    let header = &raw[..split];
    let body = &raw[split..];
    let f = fields(header);
    let (dm, ds) = if in_digest {
        ("MESSAGE", "RFC822")
    } else {
        ("TEXT", "PLAIN")
    };
    let ty = content_type(field(&f, "content-type"), dm, ds);
    let mut children = Vec::new();
    let mut enclosed = None;
    if depth < MAX_DEPTH {
        if ty.media == "MULTIPART" {
            if let Some(b) = &ty.boundary {
                let digest = ty.subtype == "DIGEST";
                children = split_parts(body, b)
                    .into_iter()
                    .map(|p| entity(p, depth + 1, digest))
                    .collect();
            }
        } else if ty.media == "MESSAGE" && ty.subtype == "RFC822" {
            enclosed = Some(Box::new(entity(body, depth + 1, false)));
        }
    }
    Entity {
        header,
        body,
        ty,
        fields: f,
        children,
        enclosed,
    }
}

/// The parts between `--boundary` lines (RFC 2046 §5.1.1), without the CRLF that belongs to
/// each delimiter.
fn split_parts<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    let mut starts = Vec::new(); // (line start, line end incl. LF)
    let mut pos = 0;
    for line in body.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(&delim) {
            starts.push((
                pos,
                pos + line.len(),
                line[delim.len()..].starts_with(b"--"),
            ));
        }
        pos += line.len();
    }
    let mut parts = Vec::new();
    for w in starts.windows(2) {
        let (_, content_start, closing) = w[0];
        if closing {
            break;
        }
        let mut end = w[1].0;
        // The CRLF before a delimiter is part of the delimiter.
        if end >= 2 && &body[end - 2..end] == b"\r\n" {
            end -= 2;
        } else if end >= 1 && body[end - 1] == b'\n' {
            end -= 1;
        }
        parts.push(&body[content_start.min(end)..end]);
    }
    parts
}

/// Text lines, a last line without CRLF included.
fn lines(b: &[u8]) -> u32 {
    let full = b.iter().filter(|&&c| c == b'\n').count();
    let partial = usize::from(b.last().is_some_and(|&c| c != b'\n'));
    u32::try_from(full + partial).unwrap_or(u32::MAX)
}

/// `body-fld-dsp SP body-fld-lang SP body-fld-loc` (RFC 3501 §7.4.2) from the
/// Content-Disposition (RFC 2183), Content-Language (RFC 3282) and Content-Location (RFC 2557)
/// fields; NIL for each that is absent.
fn ext_tail(e: &Entity<'_>) -> ExtTail {
    let disposition = field(&e.fields, "content-disposition").and_then(|v| {
        let (kind, params) = with_params(v);
        (!kind.is_empty()).then(|| (IString::from_slice(kind), params))
    });
    let tags: Vec<IString> = field(&e.fields, "content-language")
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
            location: Some((nstring(field(&e.fields, "content-location")), Vec::new())),
        }),
    }
}

/// BODY (`extended` false) or BODYSTRUCTURE (`extended` true: with the extension data of
/// RFC 3501 §7.4.2 on every part).
fn structure(e: &Entity<'_>, extended: bool) -> Body {
    if !e.children.is_empty()
        && let Ok(parts) = Vec1::new(e.children.iter().map(|c| structure(c, extended)).collect())
    {
        return Body::Multi {
            parts,
            subtype: IString::from(e.ty.subtype.as_str()),
            ext: extended.then(|| MultiExt {
                params: e.ty.params.clone(),
                tail: Some(ext_tail(e)),
            }),
        };
    }
    let fields = BodyFields {
        params: e.ty.params.clone(),
        id: nstring(field(&e.fields, "content-id")),
        description: nstring(field(&e.fields, "content-description")),
        encoding: IString::from_slice(
            &field(&e.fields, "content-transfer-encoding")
                .unwrap_or(b"7BIT")
                .to_ascii_uppercase(),
        ),
        octets: u32::try_from(e.body.len()).unwrap_or(u32::MAX),
    };
    let kind = match (&e.enclosed, e.ty.media.as_str()) {
        (Some(inner), _) => SingleKind::Message {
            subtype: IString::from(e.ty.subtype.as_str()),
            envelope: Box::new(envelope_of(inner)),
            body: Box::new(structure(inner, extended)),
            lines: lines(e.body),
        },
        (None, "TEXT") => SingleKind::Text {
            subtype: IString::from(e.ty.subtype.as_str()),
            lines: lines(e.body),
        },
        _ => SingleKind::Basic {
            media_type: IString::from(e.ty.media.as_str()),
            subtype: IString::from(e.ty.subtype.as_str()),
        },
    };
    Body::Single {
        kind,
        fields,
        ext: extended.then(|| SingleExt {
            md5: nstring(field(&e.fields, "content-md5")),
            tail: Some(ext_tail(e)),
        }),
    }
}

fn envelope_of(e: &Entity<'_>) -> Envelope {
    let mut whole = e.header.to_vec();
    whole.extend_from_slice(e.body);
    envelope(&whole)
}

/// BODY: the MIME structure without extension data.
pub fn body(raw: &[u8]) -> Body {
    structure(&entity(raw, 0, false), false)
}

/// BODYSTRUCTURE: the MIME structure with the extension data of every part (RFC 3501 §7.4.2).
pub fn body_structure(raw: &[u8]) -> Body {
    structure(&entity(raw, 0, false), true)
}

/// The text SEARCH BODY looks in (RFC 3501 §6.4.4): every `text/*` part with its transfer
/// encoding and charset decoded, and the header and text of every enclosed message, one after
/// the other with a line break between them. Parts of other types are not text and are
/// skipped.
pub(crate) fn body_text(raw: &[u8]) -> String {
    let mut out = String::new();
    body_text_of(&entity(raw, 0, false), &mut out);
    out
}

fn body_text_of(e: &Entity<'_>, out: &mut String) {
    if !e.children.is_empty() {
        for c in &e.children {
            body_text_of(c, out);
        }
    } else if let Some(inner) = &e.enclosed {
        for (name, value) in &inner.fields {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(&decode::header_decoded(value));
            out.push('\n');
        }
        body_text_of(inner, out);
    } else if e.ty.media == "TEXT" {
        let charset =
            e.ty.params
                .iter()
                .find(|(k, _)| k.as_bytes() == b"CHARSET")
                .map(|(_, v)| v.as_bytes());
        let octets =
            decode::transfer_decoded(field(&e.fields, "content-transfer-encoding"), e.body);
        out.push_str(&decode::charset_decoded(charset, &octets));
        out.push('\n');
    }
}

/// The octets of a part section (`BODY[1.2]`, `BODY[1.MIME]`, `BODY[2.HEADER]`, RFC 3501
/// §6.4.5), or `None` when the part does not exist.
pub fn part_section(raw: &[u8], part: &[NonZeroU32], text: Option<&PartText>) -> Option<Vec<u8>> {
    let root = entity(raw, 0, false);
    let mut cur = &root;
    for n in part {
        let i = n.get() as usize - 1;
        // A message/rfc822 part's children are those of the message it encloses.
        let holder: &Entity<'_> = match &cur.enclosed {
            Some(inner) => inner,
            None => cur,
        };
        cur = if holder.children.is_empty() {
            // A non-multipart entity has exactly one part: itself.
            if i == 0 { holder } else { return None }
        } else {
            holder.children.get(i)?
        };
    }
    Some(match text {
        None => cur.body.to_vec(),
        Some(PartText::Mime) => cur.header.to_vec(),
        Some(PartText::Msg(t)) => {
            let inner = cur.enclosed.as_deref()?;
            let mut whole = inner.header.to_vec();
            whole.extend_from_slice(inner.body);
            msgtext(&whole, t)
        }
    })
}

/// The data of any section.
pub fn section(raw: &[u8], section: &Section) -> Option<Vec<u8>> {
    match section {
        Section::Full => Some(raw.to_vec()),
        Section::Text(t) => Some(msgtext(raw, t)),
        Section::Part { part, text } => part_section(raw, part.as_slice(), text.as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailpush_imap::{Encode, FetchItem};

    const MULTI: &[u8] = b"From: \"Fred Foobar\" <foobar@example.org>, joe@example.com\r\n\
Subject: afternoon meeting\r\n\
To: mooch@example.edu\r\n\
Content-Type: multipart/mixed; boundary=\"xx\"\r\n\
\r\n\
preamble\r\n\
--xx\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello Joe\r\n\
--xx\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAEC\r\n\
--xx--\r\n";

    #[test]
    fn envelope_of_a_message() {
        let env = envelope(MULTI);
        let item = FetchItem::Envelope(Box::new(env));
        let s = String::from_utf8(
            mailpush_imap::Data::Fetch {
                seq: NonZeroU32::MIN,
                items: Vec1::new(vec![item]).unwrap(),
            }
            .to_bytes(),
        )
        .unwrap();
        assert_eq!(
            s,
            "* 1 FETCH (ENVELOPE (NIL \"afternoon meeting\" ((\"Fred Foobar\" NIL \"foobar\" \"example.org\")(NIL NIL \"joe\" \"example.com\")) ((\"Fred Foobar\" NIL \"foobar\" \"example.org\")(NIL NIL \"joe\" \"example.com\")) ((\"Fred Foobar\" NIL \"foobar\" \"example.org\")(NIL NIL \"joe\" \"example.com\")) ((NIL NIL \"mooch\" \"example.edu\")) NIL NIL NIL NIL))\r\n"
        );
    }

    #[test]
    fn bodystructure_and_part_sections_of_a_multipart() {
        let b = FetchItem::BodyStructure(Box::new(body_structure(MULTI)));
        let s = String::from_utf8(
            mailpush_imap::Data::Fetch {
                seq: NonZeroU32::MIN,
                items: Vec1::new(vec![b]).unwrap(),
            }
            .to_bytes(),
        )
        .unwrap();
        assert_eq!(
            s,
            // body-ext-1part and body-ext-mpart (RFC 3501 §7.4.2): MD5 or parameters, then
            // disposition, language and location, NIL when absent.
            "* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 9 1 NIL NIL NIL NIL)(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 4 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"xx\") NIL NIL NIL))\r\n"
        );
        let one = [NonZeroU32::MIN];
        // The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        assert_eq!(part_section(MULTI, &one, None).unwrap(), b"Hello Joe");
        let two = [NonZeroU32::new(2).unwrap()];
        assert_eq!(part_section(MULTI, &two, None).unwrap(), b"AAEC");
        assert_eq!(
            part_section(MULTI, &two, Some(&PartText::Mime)).unwrap(),
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        );
        assert_eq!(
            part_section(MULTI, &[NonZeroU32::new(3).unwrap()], None),
            None
        );
    }

    fn fetch_line(item: FetchItem) -> String {
        String::from_utf8(
            mailpush_imap::Data::Fetch {
                seq: NonZeroU32::MIN,
                items: Vec1::new(vec![item]).unwrap(),
            }
            .to_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn bodystructure_carries_disposition_language_location_and_md5() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\
Content-Language: en, fr\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
Content-Disposition: inline\r\n\
Content-Language: en\r\n\
\r\n\
Hi\r\n\
--b\r\n\
Content-Type: image/png; name=\"a.png\"\r\n\
Content-Disposition: attachment; filename=\"a.png\"; size=3\r\n\
Content-Location: http://example.com/a.png\r\n\
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAEC\r\n\
--b--\r\n";
        assert_eq!(
            fetch_line(FetchItem::BodyStructure(Box::new(body_structure(raw)))),
            "* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 2 1 NIL (\"inline\" NIL) \"en\" NIL)\
(\"IMAGE\" \"PNG\" (\"NAME\" \"a.png\") NIL NIL \"BASE64\" 4 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"FILENAME\" \"a.png\" \"SIZE\" \"3\")) NIL \"http://example.com/a.png\") \
\"MIXED\" (\"BOUNDARY\" \"b\") NIL (\"en\" \"fr\") NIL))\r\n"
        );
        // BODY is not extensible: the same structure without extension data.
        assert_eq!(
            fetch_line(FetchItem::Body(Box::new(body(raw)))),
            "* 1 FETCH (BODY ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 2 1)\
(\"IMAGE\" \"PNG\" (\"NAME\" \"a.png\") NIL NIL \"BASE64\" 4) \"MIXED\"))\r\n"
        );
    }

    #[test]
    fn body_text_decodes_text_parts_only() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
caf=C3=A9 ol=\r\ne\r\n\
--b\r\n\
Content-Type: application/octet-stream\r\n\
\r\n\
secret-bytes\r\n\
--b\r\n\
Content-Type: text/html; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
PGI+Z3L8bjwvYj4=\r\n\
--b--\r\n";
        let text = body_text(raw);
        assert!(text.contains("café ole"), "{text}");
        assert!(text.contains("<b>grün</b>"), "{text}");
        assert!(!text.contains("secret-bytes"), "{text}");
    }

    #[test]
    fn a_plain_message_is_its_own_part_one() {
        let raw = b"Subject: x\r\n\r\nbody\r\n";
        assert_eq!(
            part_section(raw, &[NonZeroU32::MIN], None).unwrap(),
            b"body\r\n"
        );
        let s = String::from_utf8(
            mailpush_imap::Data::Fetch {
                seq: NonZeroU32::MIN,
                items: Vec1::new(vec![FetchItem::Body(Box::new(body(raw)))]).unwrap(),
            }
            .to_bytes(),
        )
        .unwrap();
        assert_eq!(
            s,
            "* 1 FETCH (BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1))\r\n"
        );
    }
}
