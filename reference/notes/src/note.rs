//! The note: identity, text, body HTML and times, consistent by construction.

use mailpush_message::DateTime;

use crate::error::NoteError;
use crate::html::{allowed_in_text, html_to_text, text_to_html, title_of};
use crate::id::NoteId;

/// Largest message a note may be written as or read from, unless configured: 1 MiB (NOTE-10).
pub const DEFAULT_MAX_MESSAGE_OCTETS: usize = 1 << 20;

/// Smallest limit that can be configured: the header alone takes some hundred octets.
pub const MIN_MAX_MESSAGE_OCTETS: usize = 4096;

/// Size limits of note messages (NOTE-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_message_octets: usize,
}

impl Limits {
    /// A limit of `max_message_octets` per note message, at least [`MIN_MAX_MESSAGE_OCTETS`].
    pub fn new(max_message_octets: usize) -> Result<Self, crate::ConfigError> {
        if max_message_octets < MIN_MAX_MESSAGE_OCTETS {
            return Err(crate::ConfigError::LimitTooSmall(max_message_octets));
        }
        Ok(Limits { max_message_octets })
    }

    /// The largest note message, in octets.
    pub fn max_message_octets(&self) -> usize {
        self.max_message_octets
    }
}

impl Default for Limits {
    //= spec/notes.md#NOTE-10
    //# than its configured limit (default 1 MiB)
    fn default() -> Self {
        Limits {
            max_message_octets: DEFAULT_MAX_MESSAGE_OCTETS,
        }
    }
}

/// A note: its identity, its text and the HTML that shows it, when it was created and when
/// this version was written.
///
/// The text is always what the HTML shows ([`html_to_text`]) and has no control character but
/// line feeds and tabs; the title is its first line with text ([`Note::title`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    id: NoteId,
    text: String,
    html: String,
    created: DateTime,
    modified: DateTime,
}

impl Note {
    /// A note with `text` (lines separated by `\n`, `\r\n` or `\r`), written as the HTML Notes
    /// writes (NOTE-14). Refused when the text has a control character other than a line break
    /// or a tab, which HTML cannot carry.
    pub fn from_text(
        id: NoteId,
        text: &str,
        created: DateTime,
        modified: DateTime,
    ) -> Result<Self, NoteError> {
        let text = normalise_line_breaks(text);
        if let Some((line, character)) = text
            .split('\n')
            .enumerate()
            .find_map(|(i, l)| l.chars().find(|c| !allowed_in_text(*c)).map(|c| (i + 1, c)))
        {
            return Err(NoteError::ControlCharacter { line, character });
        }
        let html = text_to_html(&text);
        Ok(Note {
            id,
            text,
            html,
            created,
            modified,
        })
    }

    /// A note with the body `html`, as read from a note message (any HTML).
    pub fn from_html(id: NoteId, html: String, created: DateTime, modified: DateTime) -> Self {
        let text = html_to_text(&html);
        Note {
            id,
            text,
            html,
            created,
            modified,
        }
    }

    /// The same note with new text, written at `modified`: the identity and the creation time
    /// are kept (NOTE-6).
    pub fn edited(&self, text: &str, modified: DateTime) -> Result<Self, NoteError> {
        Note::from_text(self.id, text, self.created, modified)
    }

    /// The identity.
    pub fn id(&self) -> NoteId {
        self.id
    }

    /// The title: the first line with a character other than white space, trimmed (NOTE-13);
    /// empty when there is none.
    pub fn title(&self) -> &str {
        title_of(&self.text)
    }

    /// The text, lines separated by `\n`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The body HTML.
    pub fn html(&self) -> &str {
        &self.html
    }

    /// When the note was created (`X-Mail-Created-Date`).
    pub fn created(&self) -> DateTime {
        self.created
    }

    /// When this version was written (`Date`).
    pub fn modified(&self) -> DateTime {
        self.modified
    }
}

/// `\r\n` and lone `\r` as `\n`.
pub(crate) fn normalise_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailpush_message::CivilDate;

    fn at(day: u8) -> DateTime {
        DateTime::new(CivilDate::new(2026, 11, day).unwrap(), (9, 14, 3), 0).unwrap()
    }

    #[test]
    fn text_notes_carry_their_html_and_title() {
        let id = NoteId::from_random_bytes([7; 16]);
        let note = Note::from_text(id, "\r\n Shopping \r\nmilk\rbread", at(23), at(24)).unwrap();
        assert_eq!(note.text(), "\n Shopping \nmilk\nbread");
        assert_eq!(note.title(), "Shopping");
        assert_eq!(
            note.html(),
            "<html><head></head><body><div><br></div><div>&nbsp;Shopping&nbsp;</div>\
             <div>milk</div><div>bread</div></body></html>"
        );
        let edited = note.edited("Shopping\neggs", at(25)).unwrap();
        assert_eq!((edited.id(), edited.created()), (id, at(23)));
        assert_eq!(edited.modified(), at(25));
        assert_eq!(
            Note::from_text(id, "ok\nbad \u{7}", at(1), at(1)),
            Err(NoteError::ControlCharacter {
                line: 2,
                character: '\u{7}'
            })
        );
    }

    #[test]
    fn html_notes_show_their_text() {
        let id = NoteId::from_random_bytes([1; 16]);
        let note = Note::from_html(id, "<div>a</div><div><b>b</b></div>".into(), at(1), at(2));
        assert_eq!((note.text(), note.title()), ("a\nb", "a"));
        assert_eq!(Limits::new(10), Err(crate::ConfigError::LimitTooSmall(10)));
        assert_eq!(Limits::default().max_message_octets(), 1_048_576);
    }
}
