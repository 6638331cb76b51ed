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
    if !chunk.is_empty() {
        out.push(format!("=?UTF-8?Q?{encoded}?="));
    }
}

/// `text` as the space-separated tokens of a header value: plain words as they are, and each
/// run of words that cannot stay plain (with the spaces between them) as encoded words, so
/// that [`decode`] of the tokens joined by single spaces (or by folds) gives `text` back when
/// it has no leading or trailing white space. No token is an empty encoded word, which RFC 2047
/// §2 does not allow: spaces that repeat between plain words stay plain, inside one token.
pub fn encode_tokens(text: &str) -> Vec<String> {
    // A plain token never holds `=?` (see `plain`), so a token is plain text unless it starts
    // so. The decoder keeps the separator next to a plain token and drops it between two
    // encoded words.
    let is_plain = |token: Option<&String>| token.is_some_and(|t| !t.starts_with("=?"));
    let mut out: Vec<String> = Vec::new();
    if text.is_empty() {
        return out;
    }
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
        let run = &words[start..i];
        // After an encoded word (one that took a plain word along with spaces, below) the
        // separator is dropped, so the next encoded word carries it.
        let lead = if out.last().is_some() && !is_plain(out.last()) {
            " "
        } else {
            ""
        };
        if run.iter().any(|w| !w.is_empty()) {
            encode_run(&format!("{lead}{}", run.join(" ")), &mut out);
            continue;
        }
        // Only spaces: `run.len()` empty words stand for that many spaces besides the
        // separators around them. They go with a neighbouring word, never into a word of
        // their own, which would be empty where a single extra space repeats.
        let extra = " ".repeat(run.len());
        let last_plain = is_plain(out.last());
        match (out.last_mut(), words.get(i)) {
            (Some(last), Some(next))
                if last_plain && last.len() + extra.len() + 1 + next.len() < ENCODED_LINE_LEN =>
            {
                // A token is never folded inside, so the spaces keep their number.
                last.push_str(&extra);
                last.push(' ');
                last.push_str(next);
                i += 1;
            }
            (_, Some(next)) => {
                encode_run(&format!("{lead}{extra}{next}"), &mut out);
                i += 1;
            }
            (Some(_), None) if last_plain => {
                // Trailing white space is dropped by the decoder unless encoded, and so is the
                // separator before the last word once that word is encoded after another.
                let last = out.pop().unwrap_or_default();
                let lead = if out.is_empty() || is_plain(out.last()) {
                    ""
                } else {
                    " "
                };
                encode_run(&format!("{lead}{last}{extra}"), &mut out);
            }
            // After an encoded word no separator is kept: this word carries every space.
            (Some(_), None) => encode_run(&extra, &mut out),
            // `text` is spaces only: one fewer than the empty words between them.
            (None, None) => encode_run(&extra[1..], &mut out),
        }
    }
    out
}

/// `text` as a header value: words written as they are where they can be, encoded words where
/// they cannot, separated by single spaces (a writer folds at those spaces).
pub fn encode(text: &str) -> String {
    encode_tokens(text).join(" ")
}

/// `text` as an RFC 5322 `phrase` (the display name of an address): as it is when it is words
/// of `atext` (RFC 5322 §3.2.3) separated by single spaces, else as UTF-8 Q encoded words that
/// cover the whole text, which a phrase may hold whatever characters they encode (RFC 2047
/// §5 (3)). [`decode`] gives `text` back, spaces included.
pub fn encode_phrase(text: &str) -> String {
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
    let plain = text.split(' ').all(|w| plain(w) && w.bytes().all(atext));
    if plain {
        return text.to_owned();
    }
    let mut out = Vec::new();
    encode_run(text, &mut out);
    out.join(" ")
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
            "Shopping  list",
            "a   b    c",
            "  ",
            "  x  ",
            "é  x  ",
            "x  é",
        ] {
            let encoded = encode(text);
            assert!(encoded.is_ascii(), "{encoded}");
            assert_eq!(decode(encoded.as_bytes()), text, "{encoded}");
            assert!(encoded.split(' ').all(|t| t.len() <= MAX_WORD_LEN));
            assert!(
                !encoded.contains("?Q??="),
                "an empty encoded word in {encoded}"
            );
        }
        // NOTE-13: a title whose words are plain is written as it is, its spaces kept.
        assert_eq!(encode("Shopping  list"), "Shopping  list");
        assert_eq!(encode("Café au lait"), "=?UTF-8?Q?Caf=C3=A9?= au lait");
    }

    #[test]
    fn phrases_are_atext_words_or_wholly_encoded() {
        assert_eq!(encode_phrase("Alice Example"), "Alice Example");
        assert_eq!(
            encode_phrase("Benny Kjær Nielsen"),
            "=?UTF-8?Q?Benny_Kj=C3=A6r_Nielsen?="
        );
        for name in [
            "Smith, Zoë",
            "Smith, John",
            "a \"quoted\" name",
            "  spaced  out ",
            "=?utf-8?q?x?=",
            "",
            "日本語の名前はとても長くなることがあり、いくつかのエンコードされた単語に分割されます",
        ] {
            let phrase = encode_phrase(name);
            assert!(phrase.is_ascii(), "{phrase}");
            assert!(!phrase.contains([',', '"', '<', '>']), "{phrase}");
            assert_eq!(decode(phrase.as_bytes()), name, "{phrase}");
        }
    }
}
