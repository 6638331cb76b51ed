//! RFC 5322 header fields: where the header ends, the fields unfolded, lookup by name without
//! regard to case, and writing fields folded.

use crate::Error;
use crate::encoded_word;

/// Longest line a writer produces when it can choose (RFC 5322 §2.1.1: SHOULD be at most 78
/// characters without the CRLF).
pub const LINE_LEN: usize = 78;

/// Longest line RFC 5322 §2.1.1 allows (998 characters without the CRLF).
pub const MAX_LINE_LEN: usize = 998;

/// Where the header ends: just after the first empty line (`CRLF CRLF`, or `LF LF` for text with
/// bare line feeds), or the whole message when there is none (RFC 5322 §2.1). An empty line at
/// the very start is only seen as the end of the header when a second line break follows it.
pub fn header_len(raw: &[u8]) -> usize {
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"\r\n\r\n") {
            return i + 4;
        }
        if raw[i..].starts_with(b"\n\n") {
            return i + 2;
        }
        i += 1;
    }
    raw.len()
}

/// The header (with the empty line that ends it) and the body of a message.
pub fn split(raw: &[u8]) -> (&[u8], &[u8]) {
    raw.split_at(header_len(raw))
}

/// One header field, unfolded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    name: String,
    value: Vec<u8>,
}

impl Field {
    /// The name as written (without surrounding white space; octets that are not UTF-8 are
    /// replaced).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the field is called `name`, compared without regard to ASCII case (RFC 5322
    /// §1.2.2).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The value, unfolded and trimmed, encoded words left as they are (see
    /// [`Field::decoded`]).
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The value with its RFC 2047 encoded words decoded, as text.
    pub fn decoded(&self) -> String {
        encoded_word::decode(&self.value)
    }
}

/// The fields of a header block, in order.
///
/// Unfolding (RFC 5322 §2.2.3) joins a line that starts with white space to the field before
/// it; here the white space around each such line break becomes one space and each value is
/// trimmed, which is how values are compared and shown. A line that is neither a field (no
/// `:`) nor a continuation is skipped; reading stops at the first empty line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<Field>);

impl Fields {
    /// Reads the fields of `header` (a header block, or a whole message: reading stops at the
    /// empty line).
    pub fn parse(header: &[u8]) -> Self {
        let mut out: Vec<Field> = Vec::new();
        for line in header.split_inclusive(|&b| b == b'\n') {
            let line = line
                .strip_suffix(b"\n")
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .unwrap_or(line);
            if line.is_empty() {
                break;
            }
            if matches!(line.first(), Some(b' ' | b'\t')) {
                if let Some(field) = out.last_mut() {
                    field.value.push(b' ');
                    field.value.extend_from_slice(line.trim_ascii());
                }
                continue;
            }
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                out.push(Field {
                    name: String::from_utf8_lossy(line[..colon].trim_ascii()).into_owned(),
                    value: line[colon + 1..].trim_ascii().to_vec(),
                });
            }
        }
        Fields(out)
    }

    /// The value of the first field called `name` (any case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0.iter().find(|f| f.is(name)).map(Field::value)
    }

    /// Every field called `name` (any case), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.0.iter().filter(move |f| f.is(name))
    }

    /// The first field called `name` with its encoded words decoded.
    pub fn get_decoded(&self, name: &str) -> Option<String> {
        self.0.iter().find(|f| f.is(name)).map(Field::decoded)
    }

    /// Every field, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Field> {
        self.0.iter()
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks a field name: 1 to 76 octets of printable US-ASCII other than `:` (RFC 5322 §3.6.8
/// `ftext`; the length keeps `name: ` and a first word on one line).
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 76
        && name.bytes().all(|b| (33..=126).contains(&b) && b != b':');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidFieldName(name.to_owned()))
    }
}

/// Writes `name: value CRLF` with `value` as text: words that are not plain printable
/// US-ASCII (or are too long to fold, or look like encoded words) become RFC 2047 encoded
/// words, and the line is folded at single spaces so that lines stay within [`LINE_LEN`].
/// Leading and trailing spaces of `value` are dropped. [`Fields::parse`] and
/// [`Field::decoded`] give the trimmed value back.
pub fn write_text_field(out: &mut Vec<u8>, name: &str, value: &str) -> Result<(), Error> {
    check_name(name)?;
    let tokens = encoded_word::encode_tokens(value.trim_matches(' '));
    write_folded(out, name, tokens.iter().map(String::as_str));
    Ok(())
}

/// Writes `name: value CRLF` with `value` as given (an address list, a message id, a value
/// already encoded), folded at single spaces. The value must be printable US-ASCII with spaces
/// and tabs, without leading or trailing white space (it is dropped); a word longer than a line
/// is written on a line of its own, up to [`MAX_LINE_LEN`].
pub fn write_raw_field(out: &mut Vec<u8>, name: &str, value: &str) -> Result<(), Error> {
    check_name(name)?;
    let value = value.trim_matches([' ', '\t']);
    if value
        .bytes()
        .any(|b| !(b == b'\t' || (32..=126).contains(&b)))
    {
        return Err(Error::InvalidFieldValue(
            "only printable US-ASCII, spaces and tabs",
        ));
    }
    // Unfolding turns a line break and the white space around it into one space, so only a
    // space with no other white space on either side can carry a fold.
    let wsp = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    let bytes = value.as_bytes();
    let mut tokens: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b' ' && i > start && !wsp(bytes.get(i + 1)) && !wsp(bytes.get(i - 1)) {
            tokens.push(&value[start..i]);
            start = i + 1;
        }
    }
    tokens.push(&value[start..]);
    let head = name.len() + 2;
    if tokens.iter().any(|t| head + t.len() > MAX_LINE_LEN) {
        return Err(Error::InvalidFieldValue("a word longer than a line"));
    }
    write_folded(out, name, tokens.into_iter());
    Ok(())
}

/// `name: t1 t2 …` with a fold (CRLF and the space) before a token that would end past
/// [`LINE_LEN`].
fn write_folded<'a>(out: &mut Vec<u8>, name: &str, tokens: impl Iterator<Item = &'a str>) {
    out.extend_from_slice(name.as_bytes());
    out.push(b':');
    let mut line = name.len() + 1;
    for token in tokens {
        if line + 1 + token.len() > LINE_LEN && line > name.len() + 1 {
            out.extend_from_slice(b"\r\n");
            line = 0;
        }
        out.push(b' ');
        out.extend_from_slice(token.as_bytes());
        line += 1 + token.len();
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_unfold_and_are_found_in_any_case() {
        let raw =
            b"Subject: one\r\n two\r\n\tthree\r\nX-No-Colon\r\nFrom:  a@b \r\n\r\nSubject: body";
        let f = Fields::parse(raw);
        assert_eq!(f.len(), 2);
        assert_eq!(f.get("SUBJECT"), Some(&b"one two three"[..]));
        assert_eq!(f.get("from"), Some(&b"a@b"[..]));
        assert_eq!(f.get("to"), None);
        assert_eq!(split(raw).1, b"Subject: body");
        assert_eq!(header_len(b"a: b\n\nbody"), 6);
        assert_eq!(header_len(b"a: b"), 4);
    }

    #[test]
    fn text_fields_are_folded_and_read_back() {
        let subject = "Réunion du comité: ordre du jour, notes et suivi des décisions prises \
                       lors de la dernière séance plénière";
        let mut out = Vec::new();
        write_text_field(&mut out, "Subject", subject).unwrap();
        for line in out.split(|&b| b == b'\n') {
            assert!(
                line.len() <= LINE_LEN + 1,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        assert!(out.is_ascii());
        out.extend_from_slice(b"\r\n");
        assert_eq!(
            Fields::parse(&out).get_decoded("subject").as_deref(),
            Some(subject)
        );
    }

    #[test]
    fn raw_fields_fold_only_at_single_spaces() {
        let to = "alice@example.org, \"Bob  Example\" <bob@example.org>, carol@example.net, \
                  dave@example.com, erin@example.org";
        let mut out = Vec::new();
        write_raw_field(&mut out, "To", to).unwrap();
        assert!(out.windows(2).filter(|w| w == b"\r\n").count() > 1);
        assert_eq!(Fields::parse(&out).get("to"), Some(to.as_bytes()));
        assert!(write_raw_field(&mut out, "To", "a\r\nb").is_err());
        assert!(write_raw_field(&mut out, "Bad Name", "x").is_err());
        assert!(write_raw_field(&mut out, "To", "café").is_err());
    }
}
