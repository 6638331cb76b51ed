//! The example exchanges of `tests/transcripts/` (see its README): loading
//! them and cutting them into the octets each side sends.

#![allow(dead_code, clippy::panic, clippy::unwrap_used)]

use std::path::PathBuf;

/// `tests/transcripts/`.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts")
}

/// One transcript file's text.
pub fn load(name: &str) -> String {
    let path = dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every transcript, as (file name, text), by name.
pub fn all() -> Vec<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let text = load(&n);
            (n, text)
        })
        .collect()
}

/// What each side of a transcript sends.
#[derive(Debug, Default)]
pub struct Sides {
    /// The client's octets, every line ended by CRLF.
    pub client: Vec<u8>,
    /// The server's octets.
    pub server: Vec<u8>,
    /// Whether the server speaks first (its first line is a greeting).
    pub server_first: bool,
}

/// Cuts a transcript into the octets of each side: `C: ` and `S: ` lines
/// (`C:`/`S:` alone for an empty line), comments (`#`) and blank lines
/// skipped.
pub fn sides(text: &str) -> Sides {
    let mut s = Sides::default();
    let mut first = None;
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (side, rest) = match line.split_at_checked(2) {
            Some(("C:", rest)) => (&mut s.client, rest),
            Some(("S:", rest)) => (&mut s.server, rest),
            _ => panic!("bad transcript line {line:?}"),
        };
        first.get_or_insert(line.starts_with('S'));
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        side.extend_from_slice(rest.as_bytes());
        side.extend_from_slice(b"\r\n");
    }
    s.server_first = first.unwrap_or(false);
    s
}
