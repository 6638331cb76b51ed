#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! quickcheck over the codec: arbitrary octets never break a property of
//! [`mailpush_message::fuzzing::check_message`], and note messages written in every transfer
//! encoding and charset read back as written.

use mailpush_message::fuzzing::check_message;
use mailpush_message::{Charset, Entity, MessageWriter, TransferEncoding};
use quickcheck::{QuickCheck, TestResult};

#[test]
fn arbitrary_octets_keep_every_property() {
    fn prop(data: Vec<u8>) -> bool {
        check_message(&data);
        true
    }
    QuickCheck::new()
        .tests(2000)
        .quickcheck(prop as fn(Vec<u8>) -> bool);
}

#[test]
fn arbitrary_messages_with_structure_keep_every_property() {
    // Pieces of real structure glued in arbitrary order reach the multipart and date code.
    const PIECES: &[&[u8]] = &[
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Subject: =?utf-8?q?caf=C3=A9?= =?iso-8859-1?b?Z3L8bg==?=\r\n",
        b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n",
        b" folded\r\n",
        b"\r\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"=C3=A9=\r\n",
        b"aGVsbG8=\r\n",
    ];
    fn prop(order: Vec<u8>) -> bool {
        let mut data = Vec::new();
        for i in order {
            data.extend_from_slice(PIECES[usize::from(i) % PIECES.len()]);
        }
        check_message(&data);
        true
    }
    QuickCheck::new()
        .tests(2000)
        .quickcheck(prop as fn(Vec<u8>) -> bool);
}

#[test]
fn notes_read_back_in_every_encoding_and_charset() {
    fn prop(subject: String, body: String) -> TestResult {
        // A note's lines end with CRLF in a message.
        let body = body.replace('\r', "").replace('\n', "\r\n");
        for encoding in [
            TransferEncoding::QuotedPrintable,
            TransferEncoding::Base64,
            TransferEncoding::Binary,
        ] {
            let mut m = MessageWriter::new();
            m.text_field("Subject", &subject).unwrap();
            let raw = m.text_body(&body, encoding.clone()).unwrap();
            let e = Entity::parse(&raw);
            if e.fields.get_decoded("subject").as_deref() != Some(subject.trim_matches(' ')) {
                return TestResult::failed();
            }
            // Binary text with an empty line of its own is fine: the header ends first.
            if e.text().as_deref() != Some(body.as_str()) {
                return TestResult::failed();
            }
        }
        // The same note in ISO-8859-1, when it can be written so.
        if let Ok(latin1) = Charset::Latin1.encode(&body) {
            let raw = MessageWriter::new()
                .body(
                    "text/plain; charset=\"ISO-8859-1\"",
                    TransferEncoding::QuotedPrintable,
                    &latin1,
                )
                .unwrap();
            if Entity::parse(&raw).text().as_deref() != Some(body.as_str()) {
                return TestResult::failed();
            }
        }
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(500)
        .quickcheck(prop as fn(String, String) -> TestResult);
}

#[test]
fn spaced_words_encode_without_empty_encoded_words() {
    // Arbitrary strings seldom repeat spaces; these are words of every kind with runs of them.
    const WORDS: &[&str] = &["Shopping", "list", "café", "=?x?=", "", "日本語", "a\tb"];
    fn prop(pieces: Vec<(u8, u8)>) -> bool {
        let mut text = String::new();
        for (word, spaces) in pieces {
            text.push_str(WORDS[usize::from(word) % WORDS.len()]);
            text.push_str(&" ".repeat(usize::from(spaces % 4)));
        }
        // check_message panics on an empty encoded word or a value that does not read back,
        // both through encode and through a Subject field.
        check_message(text.as_bytes());
        true
    }
    QuickCheck::new()
        .tests(2000)
        .quickcheck(prop as fn(Vec<(u8, u8)>) -> bool);
}

/// Plain text that only resembles the end of an empty encoded word passes through unencoded
/// and is not one (a case the fuzzer found); a real empty encoded word is still seen.
#[test]
fn text_resembling_an_empty_encoded_word_is_not_one() {
    use mailpush_message::fuzzing::has_empty_encoded_word;
    check_message(b"F?Q??=TEXT mi[i");
    assert!(!has_empty_encoded_word(b"F?Q??=TEXT mi[i"));
    assert!(!has_empty_encoded_word(b"=??Q??="));
    assert!(has_empty_encoded_word(b"Re: =?UTF-8?Q??= x"));
    assert!(has_empty_encoded_word(b"=?utf-8?b??="));
}
