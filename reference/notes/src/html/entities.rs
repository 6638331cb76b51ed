//! Character references (HTML §13.5): numeric ones, and the named ones notes and mail
//! writers use (the ISO-8859-1 set and common punctuation). An unknown name, or a name
//! without its `;`, is text as written.

/// Names of U+00A0 to U+00FF, in order.
const LATIN1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// Other names and their characters.
const OTHERS: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("OElig", 'Œ'),
    ("oelig", 'œ'),
    ("Scaron", 'Š'),
    ("scaron", 'š'),
    ("Yuml", 'Ÿ'),
    ("fnof", 'ƒ'),
    ("circ", 'ˆ'),
    ("tilde", '˜'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("thinsp", '\u{2009}'),
    ("zwnj", '\u{200c}'),
    ("zwj", '\u{200d}'),
    ("lrm", '\u{200e}'),
    ("rlm", '\u{200f}'),
    ("ndash", '–'),
    ("mdash", '—'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("sbquo", '‚'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("bdquo", '„'),
    ("dagger", '†'),
    ("Dagger", '‡'),
    ("bull", '•'),
    ("hellip", '…'),
    ("permil", '‰'),
    ("prime", '′'),
    ("Prime", '″'),
    ("lsaquo", '‹'),
    ("rsaquo", '›'),
    ("oline", '‾'),
    ("euro", '€'),
    ("trade", '™'),
    ("larr", '←'),
    ("uarr", '↑'),
    ("rarr", '→'),
    ("darr", '↓'),
    ("harr", '↔'),
];

/// What HTML reads for numeric references 0x80 to 0x9F (windows-1252); `None` keeps the code.
const WINDOWS_1252: [Option<char>; 32] = [
    Some('€'),
    None,
    Some('‚'),
    Some('ƒ'),
    Some('„'),
    Some('…'),
    Some('†'),
    Some('‡'),
    Some('ˆ'),
    Some('‰'),
    Some('Š'),
    Some('‹'),
    Some('Œ'),
    None,
    Some('Ž'),
    None,
    None,
    Some('‘'),
    Some('’'),
    Some('“'),
    Some('”'),
    Some('•'),
    Some('–'),
    Some('—'),
    Some('˜'),
    Some('™'),
    Some('š'),
    Some('›'),
    Some('œ'),
    None,
    Some('ž'),
    Some('Ÿ'),
];

/// The reference at the start of `s` (which starts with `&`): the character it stands for
/// and the octets it takes. `&nbsp;` reads as a plain space: a reader shows text, and a
/// writer writes a space a browser would not keep as `&nbsp;` (NOTE-14).
pub fn decode(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    if b.get(1) == Some(&b'#') {
        let hex = matches!(b.get(2), Some(b'x' | b'X'));
        let start = if hex { 3 } else { 2 };
        let (radix, max) = if hex { (16, 6) } else { (10, 7) };
        let len = b[start..]
            .iter()
            .take_while(|c| char::from(**c).is_digit(radix))
            .count();
        if len == 0 {
            return None;
        }
        // More digits than any code point has is beyond Unicode however they read.
        let code = if len > max {
            u32::MAX
        } else {
            u32::from_str_radix(&s[start..start + len], radix).ok()?
        };
        let end = start + len + usize::from(b.get(start + len) == Some(&b';'));
        return Some((numeric(code), end));
    }
    let name_len = b[1..]
        .iter()
        .take(32)
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if name_len == 0 || b.get(1 + name_len) != Some(&b';') {
        return None;
    }
    let name = &s[1..=name_len];
    let c = if name == "nbsp" {
        ' '
    } else if let Some(i) = LATIN1.iter().position(|n| *n == name) {
        char::from_u32(0xa0 + u32::try_from(i).ok()?)?
    } else {
        OTHERS.iter().find(|(n, _)| *n == name)?.1
    };
    Some((c, name_len + 2))
}

/// The character a numeric reference stands for (HTML §13.2.5.80): NUL, surrogates and codes
/// beyond Unicode are U+FFFD; 0x80 to 0x9F are read as windows-1252.
fn numeric(code: u32) -> char {
    if let Some(Some(c)) = code
        .checked_sub(0x80)
        .filter(|i| *i < 32)
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| WINDOWS_1252.get(i))
    {
        return *c;
    }
    if code == 0 {
        return '\u{fffd}';
    }
    char::from_u32(code).unwrap_or('\u{fffd}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_decode_and_others_stay_text() {
        assert_eq!(decode("&amp;x"), Some(('&', 5)));
        assert_eq!(decode("&eacute;"), Some(('é', 8)));
        assert_eq!(decode("&yuml;"), Some(('ÿ', 6)));
        assert_eq!(decode("&nbsp;"), Some((' ', 6)));
        assert_eq!(decode("&#233;"), Some(('é', 6)));
        assert_eq!(decode("&#xE9"), Some(('é', 5)));
        assert_eq!(decode("&#x110000;"), Some(('\u{fffd}', 10)));
        assert_eq!(decode("&#xD800;"), Some(('\u{fffd}', 8)));
        assert_eq!(decode("&#99999999;"), Some(('\u{fffd}', 11)));
        assert_eq!(decode("&#150;"), Some(('–', 6)));
        assert_eq!(decode("&#x81;"), Some(('\u{81}', 6)));
        assert_eq!(decode("&amp"), None);
        assert_eq!(decode("&bogus;"), None);
        assert_eq!(decode("&#;"), None);
        assert_eq!(decode("&"), None);
    }
}
