//! MIME entities (RFC 2045, RFC 2046): content types with parameters, multipart bodies split
//! into their parts, enclosed `message/rfc822` messages, with nesting capped.

use std::borrow::Cow;
use std::num::NonZeroU32;

use crate::charset::Charset;
use crate::header::{Fields, header_len};
use crate::transfer::TransferEncoding;

/// Deepest nesting that is parsed: parts below it are opaque leaves (their body is not split
/// and no enclosed message is read), so a hostile message costs a bounded amount of work.
pub const MAX_DEPTH: usize = 16;

/// One `name=value` parameter of a structured field (RFC 2045 §5.1, RFC 2183 §2), the value
/// unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// The name as written.
    pub name: Vec<u8>,
    /// The value without surrounding double quotes.
    pub value: Vec<u8>,
}

impl Parameter {
    /// Whether the parameter is called `name` (any case).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// `value; name=value; …` as `Content-Type` and `Content-Disposition` write it: the value
/// (trimmed) and its parameters, in order. Limits: the value is cut at every `;`, also inside a
/// quoted string; backslash escapes in a quoted value are kept as written; RFC 2231
/// continuations (`name*0=`) and charsets (`name*=`) are not joined or decoded; a parameter
/// without `=` or with an empty name is skipped.
pub fn parameterized(v: &[u8]) -> (&[u8], Vec<Parameter>) {
    let mut parts = v.split(|&b| b == b';');
    let head = parts.next().unwrap_or(b"").trim_ascii();
    let mut params = Vec::new();
    for p in parts {
        let Some(eq) = p.iter().position(|&b| b == b'=') else {
            continue;
        };
        let name = p[..eq].trim_ascii();
        let value = p[eq + 1..].trim_ascii();
        let value = value
            .strip_prefix(b"\"")
            .and_then(|v| v.strip_suffix(b"\""))
            .unwrap_or(value);
        if name.is_empty() {
            continue;
        }
        params.push(Parameter {
            name: name.to_vec(),
            value: value.to_vec(),
        });
    }
    (head, params)
}

/// A `Content-Type` (RFC 2045 §5.1): type, subtype and parameters as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// The media type (`text`, `multipart`, …), as written.
    pub media_type: String,
    /// The subtype (`plain`, `mixed`, …), as written.
    pub subtype: String,
    /// The parameters, in order.
    pub params: Vec<Parameter>,
}

impl ContentType {
    /// `text/plain`, the default of RFC 2045 §5.2 (its `charset=us-ascii` is what
    /// [`ContentType::charset`] answers when no charset is given).
    pub fn text_plain() -> Self {
        ContentType {
            media_type: "text".to_owned(),
            subtype: "plain".to_owned(),
            params: Vec::new(),
        }
    }

    /// `message/rfc822`, the default inside `multipart/digest` (RFC 2046 §5.1.5).
    pub fn message_rfc822() -> Self {
        ContentType {
            media_type: "message".to_owned(),
            subtype: "rfc822".to_owned(),
            params: Vec::new(),
        }
    }

    /// The content type a field value names, or `default` when there is no field or its value
    /// has no `type/subtype` (parameters are kept then too).
    pub fn parse(value: Option<&[u8]>, default: ContentType) -> Self {
        let (ty, params) = parameterized(value.unwrap_or(b""));
        match ty.iter().position(|&b| b == b'/') {
            Some(s) if s > 0 && s + 1 < ty.len() => ContentType {
                media_type: String::from_utf8_lossy(&ty[..s]).into_owned(),
                subtype: String::from_utf8_lossy(&ty[s + 1..]).into_owned(),
                params,
            },
            _ => ContentType { params, ..default },
        }
    }

    /// Whether this is `media_type/subtype` (any case).
    pub fn is(&self, media_type: &str, subtype: &str) -> bool {
        self.is_type(media_type) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// Whether the media type is `media_type` (any case).
    pub fn is_type(&self, media_type: &str) -> bool {
        self.media_type.eq_ignore_ascii_case(media_type)
    }

    /// The value of the first parameter called `name` (any case).
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|p| p.is(name))
            .map(|p| p.value.as_slice())
    }

    /// The `boundary` of a multipart type.
    pub fn boundary(&self) -> Option<&[u8]> {
        self.param("boundary")
    }

    /// The charset of text: the `charset` parameter, else US-ASCII (RFC 2046 §4.1.2).
    pub fn charset(&self) -> Charset {
        self.param("charset")
            .map_or(Charset::UsAscii, Charset::from_name)
    }
}

/// One MIME entity of a message: its header and body octets, its fields, its content type, and
/// its parts (multipart) or the message it encloses (`message/rfc822`).
#[derive(Debug, Clone)]
pub struct Entity<'a> {
    /// The header, with the empty line that ends it.
    pub header: &'a [u8],
    /// The body.
    pub body: &'a [u8],
    /// The header fields.
    pub fields: Fields,
    /// The content type (the default when the field is absent or unreadable).
    pub content_type: ContentType,
    /// Whether the entity is a part of a `multipart/digest`, whose default type is
    /// `message/rfc822`.
    pub in_digest: bool,
    /// The parts of a multipart entity that has a boundary; empty otherwise and below
    /// [`MAX_DEPTH`].
    pub parts: Vec<Entity<'a>>,
    /// The message a `message/rfc822` entity encloses (not below [`MAX_DEPTH`]).
    pub enclosed: Option<Box<Entity<'a>>>,
}

impl<'a> Entity<'a> {
    /// A whole message.
    pub fn parse(raw: &'a [u8]) -> Self {
        Self::parse_at(raw, 0, false)
    }

    fn parse_at(raw: &'a [u8], depth: usize, in_digest: bool) -> Self {
        let (header, body) = raw.split_at(header_len(raw));
        let fields = Fields::parse(header);
        let default = if in_digest {
            ContentType::message_rfc822()
        } else {
            ContentType::text_plain()
        };
        let content_type = ContentType::parse(fields.get("content-type"), default);
        let mut parts = Vec::new();
        let mut enclosed = None;
        if depth < MAX_DEPTH {
            if content_type.is_type("multipart") {
                if let Some(boundary) = content_type.boundary() {
                    let digest = content_type.subtype.eq_ignore_ascii_case("digest");
                    parts = split_multipart(body, boundary)
                        .into_iter()
                        .map(|p| Entity::parse_at(p, depth + 1, digest))
                        .collect();
                }
            } else if content_type.is("message", "rfc822") {
                enclosed = Some(Box::new(Entity::parse_at(body, depth + 1, false)));
            }
        }
        Entity {
            header,
            body,
            fields,
            content_type,
            in_digest,
            parts,
            enclosed,
        }
    }

    /// The `Content-Transfer-Encoding` of the body.
    pub fn transfer_encoding(&self) -> TransferEncoding {
        TransferEncoding::parse(self.fields.get("content-transfer-encoding"))
    }

    /// The body with its transfer encoding undone.
    pub fn decoded_body(&self) -> Cow<'a, [u8]> {
        self.transfer_encoding().decode(self.body)
    }

    /// The body of a `text/*` entity as text: transfer encoding undone, then the charset
    /// decoded (see [`Charset::decode`]). `None` for other types.
    pub fn text(&self) -> Option<String> {
        if !self.content_type.is_type("text") {
            return None;
        }
        let octets = self.decoded_body();
        let charset = self.content_type.param("charset");
        Some(crate::charset::decode(charset, &octets))
    }

    /// The entity a part path names (`[1, 2]` is part 2 of part 1, RFC 3501 §6.4.5 numbering):
    /// a `message/rfc822` part's parts are those of the message it encloses, and an entity
    /// that is not multipart is its own part 1. `None` when the part does not exist.
    pub fn part(&self, path: &[NonZeroU32]) -> Option<&Entity<'a>> {
        let mut cur = self;
        for n in path {
            let i = usize::try_from(n.get() - 1).ok()?;
            let holder: &Entity<'a> = cur.enclosed.as_deref().unwrap_or(cur);
            cur = if holder.parts.is_empty() {
                if i == 0 { holder } else { return None }
            } else {
                holder.parts.get(i)?
            };
        }
        Some(cur)
    }
}

/// The parts of a multipart body, between `--boundary` lines (RFC 2046 §5.1.1), without the
/// line break that belongs to each delimiter; the preamble, the epilogue and anything after
/// the close delimiter are left out.
pub fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    // (line start, end of the delimiter line, whether it closes).
    let mut lines = Vec::new();
    let mut pos = 0;
    for line in body.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(&delim) {
            lines.push((
                pos,
                pos + line.len(),
                line[delim.len()..].starts_with(b"--"),
            ));
        }
        pos += line.len();
    }
    let mut parts = Vec::new();
    for w in lines.windows(2) {
        let (_, content_start, closing) = w[0];
        if closing {
            break;
        }
        let mut end = w[1].0;
        // The line break before a delimiter is part of the delimiter.
        if end >= 2 && &body[end - 2..end] == b"\r\n" {
            end -= 2;
        } else if end >= 1 && body[end - 1] == b'\n' {
            end -= 1;
        }
        parts.push(&body[content_start.min(end)..end]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI: &[u8] = b"Content-Type: multipart/mixed; boundary=\"xx\"\r\n\
\r\n\
preamble\r\n\
--xx\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
gr=FCn\r\n\
--xx\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Subject: inner\r\n\
\r\n\
inner body\r\n\
--xx--\r\n\
epilogue\r\n";

    #[test]
    fn a_multipart_message_splits_into_its_parts() {
        let e = Entity::parse(MULTI);
        assert!(e.content_type.is("MULTIPART", "Mixed"));
        assert_eq!(e.parts.len(), 2);
        let one = [NonZeroU32::MIN];
        let text = e.part(&one).unwrap();
        assert_eq!(text.body, b"gr=FCn");
        assert_eq!(text.text().as_deref(), Some("grün"));
        assert_eq!(text.content_type.charset(), Charset::Latin1);
        let two = NonZeroU32::MIN.saturating_add(1);
        let inner = e.part(&[two]).unwrap().enclosed.as_deref().unwrap();
        assert_eq!(inner.fields.get("subject"), Some(&b"inner"[..]));
        assert_eq!(inner.body, b"inner body");
        // A message/rfc822 part's part 1 is its enclosed message's body.
        assert_eq!(e.part(&[two, NonZeroU32::MIN]).unwrap().body, b"inner body");
        assert!(e.part(&[two.saturating_add(1)]).is_none());
        assert_eq!(e.text(), None);
    }

    #[test]
    fn defaults_and_parameters() {
        let plain = Entity::parse(b"Subject: x\r\n\r\nbody");
        assert!(plain.content_type.is("text", "plain"));
        assert_eq!(plain.content_type.charset(), Charset::UsAscii);
        assert!(plain.part(&[NonZeroU32::MIN]).is_some());
        let (value, params) = parameterized(b" attachment ; filename=\"a b.txt\"; =x; size=3;bad");
        assert_eq!(value, b"attachment");
        assert_eq!(params.len(), 2);
        assert!(params[0].is("FILENAME"));
        assert_eq!(params[0].value, b"a b.txt");
        let digest = Entity::parse(
            b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: a\r\n\r\nx\r\n--d--\r\n",
        );
        assert!(digest.parts[0].in_digest);
        assert!(digest.parts[0].content_type.is("message", "rfc822"));
        assert!(digest.parts[0].enclosed.is_some());
    }

    #[test]
    fn nesting_is_capped() {
        let mut raw = b"x".to_vec();
        for _ in 0..100 {
            let mut outer = b"Content-Type: message/rfc822\r\n\r\n".to_vec();
            outer.extend_from_slice(&raw);
            raw = outer;
        }
        let mut e = &Entity::parse(&raw);
        let mut depth = 0;
        while let Some(inner) = &e.enclosed {
            e = inner;
            depth += 1;
        }
        assert_eq!(depth, MAX_DEPTH);
    }
}
