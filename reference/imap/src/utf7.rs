//! Modified UTF-7 for mailbox names (RFC 3501 §5.1.3).

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// The base64 character of the low six bits of `bits`.
fn b64_char(bits: u32) -> char {
    // `& 0x3f` keeps the index below 64.
    char::from(B64[(bits & 0x3f) as usize])
}

/// Encodes a Unicode mailbox name in modified UTF-7.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        // At most 5 bits wait between units, so 21 bits are ever in use.
        let mut bits: u32 = 0;
        let mut nbits = 0;
        for unit in pending.drain(..) {
            bits = (bits << 16) | u32::from(unit);
            nbits += 16;
            while nbits >= 6 {
                nbits -= 6;
                out.push(b64_char(bits >> nbits));
            }
            bits &= (1 << nbits) - 1;
        }
        if nbits > 0 {
            out.push(b64_char(bits << (6 - nbits)));
        }
        out.push('-');
    };
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes modified UTF-7; `None` unless the input is in the canonical
/// form [`encode`] produces (so decoding and encoding round-trip exactly).
pub fn decode(b: &[u8]) -> Option<String> {
    let mut units: Vec<u16> = Vec::new();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'&' {
            let start = i + 1;
            let end = start + b[start..].iter().position(|&x| x == b'-')?;
            if end == start {
                out.push('&');
            } else {
                units.clear();
                let mut bits: u32 = 0;
                let mut nbits = 0;
                for &x in &b[start..end] {
                    bits = (bits << 6) | b64_value(x)?;
                    nbits += 6;
                    if nbits >= 16 {
                        nbits -= 16;
                        // `bits` holds at most 16 + 5 bits: the unit is what is above `nbits`.
                        units.push(u16::try_from(bits >> nbits).ok()?);
                    }
                    bits &= (1 << nbits) - 1;
                }
                if bits != 0 || nbits >= 6 {
                    return None;
                }
                for r in char::decode_utf16(units.iter().copied()) {
                    out.push(r.ok()?);
                }
            }
            i = end + 1;
        } else if (0x20..=0x7e).contains(&c) {
            out.push(char::from(c));
            i += 1;
        } else {
            return None;
        }
    }
    if encode(&out).as_bytes() == b {
        Some(out)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example() {
        // RFC 3501 §5.1.3: "~peter/mail/台北/日本語"
        let name = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        assert_eq!(encode(name), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(
            decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some(name)
        );
    }

    #[test]
    fn ampersand_and_noncanonical() {
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(decode(b"A&-B").as_deref(), Some("A&B"));
        assert_eq!(decode(b"&Jjo!"), None);
        assert_eq!(
            decode(b"&U,BTFw-&ZeVnLIqe-"),
            None,
            "adjacent shifts are not canonical"
        );
        assert_eq!(decode(b"&AGE-"), None, "encoded ASCII is not canonical");
        assert_eq!(encode("\u{1F600}"), "&2D3eAA-");
        assert_eq!(decode(b"&2D3eAA-").as_deref(), Some("\u{1F600}"));
    }
}
