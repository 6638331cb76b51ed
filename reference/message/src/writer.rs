//! Writing a message: header fields, then a body in the transfer encoding asked for.

use crate::Error;
use crate::charset::Charset;
use crate::date::DateTime;
use crate::header::{write_raw_field, write_text_field};
use crate::transfer::TransferEncoding;

/// A message being written: fields in the order they are added, then one body.
///
/// ```
/// use mailpush_message::{Entity, MessageWriter, TransferEncoding};
///
/// let mut m = MessageWriter::new();
/// m.raw_field("From", "Notes <notes@example.org>")?;
/// m.text_field("Subject", "Crème brûlée, the recipe")?;
/// let raw = m.text_body("2 cups of cream\r\n", TransferEncoding::QuotedPrintable)?;
///
/// let read = Entity::parse(&raw);
/// assert_eq!(read.fields.get_decoded("subject").as_deref(), Some("Crème brûlée, the recipe"));
/// assert_eq!(read.text().as_deref(), Some("2 cups of cream\r\n"));
/// # Ok::<(), mailpush_message::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MessageWriter {
    header: Vec<u8>,
}

impl MessageWriter {
    /// No fields yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field whose value is text (`Subject`, a display name): see
    /// [`crate::header::write_text_field`].
    pub fn text_field(&mut self, name: &str, value: &str) -> Result<&mut Self, Error> {
        write_text_field(&mut self.header, name, value)?;
        Ok(self)
    }

    /// Adds a field whose value is written as given (addresses, ids, `Content-Type`): see
    /// [`crate::header::write_raw_field`].
    pub fn raw_field(&mut self, name: &str, value: &str) -> Result<&mut Self, Error> {
        write_raw_field(&mut self.header, name, value)?;
        Ok(self)
    }

    /// Adds a `Date` field.
    pub fn date(&mut self, date: &DateTime) -> Result<&mut Self, Error> {
        self.raw_field("Date", &date.to_rfc5322())
    }

    /// The message with `text` as a `text/plain; charset=utf-8` body: adds `MIME-Version`,
    /// `Content-Type` and `Content-Transfer-Encoding` and encodes the text. Lines of the text
    /// end with CRLF in a message; `7bit` and `8bit` refuse text whose lines are not so (or,
    /// for `7bit`, that is not US-ASCII), `binary` takes anything.
    pub fn text_body(self, text: &str, encoding: TransferEncoding) -> Result<Vec<u8>, Error> {
        let seven_bit = encoding == TransferEncoding::SevenBit;
        if seven_bit {
            Charset::UsAscii.encode(text)?;
        }
        if matches!(
            encoding,
            TransferEncoding::SevenBit | TransferEncoding::EightBit
        ) && bare_line_break(text.as_bytes())
        {
            return Err(Error::InvalidFieldValue(
                "7bit and 8bit text needs CRLF line breaks",
            ));
        }
        let charset = if seven_bit { "us-ascii" } else { "utf-8" };
        self.body(
            &format!("text/plain; charset={charset}"),
            encoding,
            text.as_bytes(),
        )
    }

    /// The message with `data` as its body of type `content_type` (a raw field value such as
    /// `application/json` or `text/plain; charset=iso-8859-1`), in `encoding`.
    pub fn body(
        mut self,
        content_type: &str,
        encoding: TransferEncoding,
        data: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.raw_field("MIME-Version", "1.0")?;
        self.raw_field("Content-Type", content_type)?;
        self.raw_field("Content-Transfer-Encoding", encoding.name())?;
        let mut out = self.header;
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&encoding.encode(data));
        Ok(out)
    }
}

/// Whether `data` has a CR or LF that is not part of a CRLF.
fn bare_line_break(data: &[u8]) -> bool {
    data.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => data.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || data[i - 1] != b'\r',
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::CivilDate;
    use crate::mime::Entity;

    #[test]
    fn written_messages_read_back_in_every_encoding() {
        let text = "Notes: ünïcödé line\r\nsecond line with = sign and trailing space \r\n";
        let date = DateTime::new(CivilDate::new(2026, 11, 24).unwrap(), (10, 15, 0), 60).unwrap();
        for encoding in [
            TransferEncoding::QuotedPrintable,
            TransferEncoding::Base64,
            TransferEncoding::EightBit,
            TransferEncoding::Binary,
        ] {
            let mut m = MessageWriter::new();
            m.raw_field("From", "a@example.org")
                .unwrap()
                .date(&date)
                .unwrap()
                .text_field("Subject", "Zoë's notes")
                .unwrap();
            let raw = m.text_body(text, encoding.clone()).unwrap();
            let e = Entity::parse(&raw);
            assert_eq!(e.transfer_encoding(), encoding);
            assert_eq!(e.text().as_deref(), Some(text), "{encoding:?}");
            assert_eq!(
                e.fields.get_decoded("Subject").as_deref(),
                Some("Zoë's notes")
            );
            let sent = DateTime::parse(e.fields.get("date").unwrap()).unwrap();
            assert_eq!(sent, date);
        }
        assert!(
            MessageWriter::new()
                .text_body("ü", TransferEncoding::SevenBit)
                .is_err()
        );
        assert!(
            MessageWriter::new()
                .text_body("a\nb", TransferEncoding::EightBit)
                .is_err()
        );
        let ascii = MessageWriter::new()
            .text_body("a\r\n", TransferEncoding::SevenBit)
            .unwrap();
        assert_eq!(Entity::parse(&ascii).text().as_deref(), Some("a\r\n"));
    }
}
