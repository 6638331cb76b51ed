//! RFC 2047 encoded words (`=?charset?B|Q?text?=`) in header values, both ways.

use crate::charset::Charset;
use crate::transfer::{ENCODED_LINE_LEN, decode_base64, hex_escape, quoted_printable};

/// Longest encoded word (RFC 2047 §2).
pub const MAX_WORD_LEN: usize = 75;

/// One `=?charset?encoding?text?=` word, decoded; `None` when it is not one.
fn decode_word(word: &[u8]) -> Option<String> {
    let inner = word.strip_prefix(b"=?")?.strip_suffix(b"?=")?;
    let mut parts = inner.splitn(3, |&b| b == b'?');
    let charset = parts.next()?;
    let encoding = parts.next()?;
    let text = parts.next()?;
    // RFC 2231 §5: a language may follow the charset after `*`.
    let charset = charset.split(|&b| b == b'*').next().unwrap_or(charset);
    let bytes = if encoding.eq_ignore_ascii_case(b"B") {
        decode_base64(text).ok()?
    } else if encoding.eq_ignore_ascii_case(b"Q") {
        quoted_printable(text, true)
    } else {
        return None;
    };
    Some(Charset::from_name(charset).decode(&bytes).into_owned())
}

/// A header value with its encoded words decoded (RFC 2047 §6). White space between two
/// encoded words is dropped (§6.2); everything else is kept as written, octets that are not
/// UTF-8 replaced. White space at the end is dropped. An encoded word must be a whole
/// white-space-separated token (RFC 2047 §5: `=?…?=` inside a word is not one).
pub fn decode(value: &[u8]) -> String {
    let mut out = String::new();
    let mut pending_space = String::new();
    let mut last_was_word = false;
    let mut rest = value;
    while !rest.is_empty() {
        let space = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if space > 0 {
            pending_space = String::from_utf8_lossy(&rest[..space]).into_owned();
            rest = &rest[space..];
            continue;
        }
        let len = rest.iter().take_while(|b| !b.is_ascii_whitespace()).count();
        let token = &rest[..len];
        rest = &rest[len..];
        match decode_word(token) {
            Some(decoded) => {
                if !last_was_word {
                    out.push_str(&pending_space);
                }
                out.push_str(&decoded);
                last_was_word = true;
            }
            None => {
                out.push_str(&pending_space);
                out.push_str(&String::from_utf8_lossy(token));
                last_was_word = false;
            }
        }
        pending_space.clear();
    }
    out
}

/// Whether a space-separated word can be written as it is: printable US-ASCII, short enough
/// to fold, and not something a reader would take for an encoded word.
fn plain(word: &str) -> bool {
    !word.is_empty()
        && word.len() < ENCODED_LINE_LEN
        && word.bytes().all(|b| (33..=126).contains(&b))
        && !word.contains("=?")
}

/// Q-encoded text (RFC 2047 §4.2) with only the characters §5 (3) allows in a `phrase`, so the
/// word is valid in every header field that may hold encoded words.
fn q_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b' ' => out.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                out.push(char::from(b));
            }
            _ => out.extend(hex_escape(b).iter().map(|&c| char::from(c))),
        }
    }
    out
}

/// `text` as UTF-8 Q-encoded words of at most [`MAX_WORD_LEN`] characters, cut between
/// characters (RFC 2047 §5: an encoded word holds whole characters).
fn encode_run(text: &str, out: &mut Vec<String>) {
    const OVERHEAD: usize = "=?UTF-8?Q??=".len();
    let mut chunk = String::new();
    let mut encoded = String::new();
    for c in text.chars() {
        let mut buf = [0u8; 4];
        let piece = q_encode(c.encode_utf8(&mut buf));
        if !chunk.is_empty() && OVERHEAD + encoded.len() + piece.len() > MAX_WORD_LEN {
            out.push(format!("=?UTF-8?Q?{encoded}?="));
            chunk.clear();
            encoded.clear();
        }
        chunk.push(c);
        encoded.push_str(&piece);
    }
    // An empty run (spaces at an edge or repeated) is one empty word, which keeps its place.
    if !chunk.is_empty() || text.is_empty() {
        out.push(format!("=?UTF-8?Q?{encoded}?="));
    }
}

/// `text` as the space-separated tokens of a header value: plain words as they are, and each
/// run of words that cannot stay plain (with the spaces between them) as encoded words, so
/// that [`decode`] of the tokens joined by single spaces (or by folds) gives `text` back when
/// it has no leading or trailing white space.
pub fn encode_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    if text.is_empty() {
        return out;
    }
    // Each space of `text` is a separator between two groups or inside a run: runs of words
    // that cannot stay plain (empty words, where spaces repeat, included) are encoded whole,
    // with their inner spaces, and the spaces between groups become the separators, which
    // the decoder keeps next to a plain word.
    let words: Vec<&str> = text.split(' ').collect();
    let mut i = 0;
    while i < words.len() {
        if plain(words[i]) {
            out.push(words[i].to_owned());
            i += 1;
            continue;
        }
        let start = i;
        while i < words.len() && !plain(words[i]) {
            i += 1;
        }
        encode_run(&words[start..i].join(" "), &mut out);
    }
    out
}

/// `text` as a header value: words written as they are where they can be, encoded words where
/// they cannot, separated by single spaces (a writer folds at those spaces).
pub fn encode(text: &str) -> String {
    encode_tokens(text).join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_decode() {
        assert_eq!(
            decode(b"=?UTF-8?Q?Caf=C3=A9_cr=C3=A8me?= tonight"),
            "Café crème tonight"
        );
        assert_eq!(
            decode(b"=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFk?= =?iso-8859-1?q?_this=E9?="),
            "If you can read thisé"
        );
        assert_eq!(decode(b"no =?words here"), "no =?words here");
        assert_eq!(decode(b"=?utf-8?x?bad?="), "=?utf-8?x?bad?=");
        assert_eq!(decode(b"=?utf-8*en?q?hi?="), "hi");
    }

    #[test]
    fn text_encodes_and_decodes_back() {
        for text in [
            "plain ascii words",
            "Café crème tonight",
            "ünïcödé  with  double spaces",
            "a =?utf-8?q?x?= lookalike",
            "tab\tinside",
            "日本語のテキストはとても長い行になることがあり、エンコードされた単語に分割されなければならない",
            "x",
            "",
            " leading and trailing ",
        ] {
            let encoded = encode(text);
            assert!(encoded.is_ascii(), "{encoded}");
            assert_eq!(decode(encoded.as_bytes()), text, "{encoded}");
            assert!(encoded.split(' ').all(|t| t.len() <= MAX_WORD_LEN));
        }
        assert_eq!(encode("Café au lait"), "=?UTF-8?Q?Caf=C3=A9?= au lait");
    }
}
