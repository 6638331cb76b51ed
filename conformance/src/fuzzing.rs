//! The oracle of the `conformance_transcript` fuzz target (and of `tests/parser.rs`), compiled
//! only with the `fuzzing` feature: test equipment, not API.

use crate::transcript::parse;

/// Parses arbitrary octets as a transcript (invalid UTF-8 replaced) and as a received IMAP
/// response and device-channel frame body. Nothing may panic, and a syntax error must point at
/// a line and column inside the text. Returns the first violation.
pub fn check_transcript(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = parse("fuzz.case", &text) {
        let lines = text.split('\n').count().max(1);
        if e.error.line == 0 || e.error.line > lines || e.error.column == 0 {
            return Err(format!("an error outside the text ({lines} lines): {e}"));
        }
        if !e.to_string().starts_with("fuzz.case:") {
            return Err(format!("an error that does not name the file: {e}"));
        }
    }
    let _ = crate::imap_syntax::parse_response(data);
    let _ = crate::frames::decode_body(data);
    Ok(())
}
