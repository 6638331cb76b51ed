//! The oracles of the fuzz targets in `fuzz/` (`mail_message`, `mail_session`), with the
//! `fuzzing` feature; `cargo test` runs them over the seed corpora and over every input a fuzzer
//! found failing (`tests/regressions/<target>/`). Each takes arbitrary bytes and panics only
//! when a property of the server breaks:
//!
//! * the properties of the message codec (`mailpush_message::fuzzing::check_message`);
//! * no panic while reading a message (ENVELOPE, BODYSTRUCTURE, sections, SEARCH) or while
//!   serving a session;
//! * every ENVELOPE, BODY and BODYSTRUCTURE the server would send encodes to a FETCH response
//!   that decodes back to the same value;
//! * `<origin.length>` never gives more than asked, LIST patterns agree with plain recursion
//!   over the rules;
//! * every octet a session sends is a greeting or a response, and nothing follows
//!   [`Event::Closed`].

// Fuzz oracles report a broken property by panicking: that is their job.
#![allow(clippy::panic)]

use std::num::NonZeroU32;
use std::sync::OnceLock;
use std::time::{Duration, Instant, UNIX_EPOCH};

use mailpush_imap::{
    Data, Decode, Decoded, Encode, FetchItem, Greeting, IString, PartText, Response, SearchKey,
    Section, SectionText, Vec1,
};
use mailpush_message::header::split;

use crate::list::{list_matches, list_rules};
use crate::search::MessageText;
use crate::sections::{self, msgtext, partial};
use crate::store::{Flags, InternalDate, MailBackend, MessageMeta};
use crate::structure::{body, body_structure, envelope};
use crate::{Config, Event, Now, Session, search};

/// Longest input a session run reads: every run stays fast.
const MAX_SESSION_INPUT: usize = 4096;

/// Wraps `item` in `* 1 FETCH (…)` as the session sends it, and checks that the response
/// decodes back to the same item.
fn fetch_roundtrip(item: FetchItem) {
    let sent = Response::Data(Data::Fetch {
        seq: NonZeroU32::MIN,
        items: Vec1::one(item),
    });
    let bytes = sent.to_bytes();
    match Response::decode(&bytes) {
        Decoded::Complete(got, n) if n == bytes.len() && got == sent => {}
        other => panic!(
            "a FETCH response does not decode to itself\n  sent = {sent:?}\n  bytes = {:?}\n  got = {other:?}",
            String::from_utf8_lossy(&bytes)
        ),
    }
}

/// Part paths to read, derived from the data: the first parts, and a deeper one chosen by the
/// first octets.
fn part_paths(data: &[u8]) -> Vec<Vec1<NonZeroU32>> {
    let n = |i: usize, m: u8| {
        NonZeroU32::MIN.saturating_add(u32::from(data.get(i).map_or(0, |b| b % m)))
    };
    let one = NonZeroU32::MIN;
    let two = one.saturating_add(1);
    [
        vec![one],
        vec![two],
        vec![one, one],
        vec![two, one],
        vec![n(0, 4), n(1, 3), n(2, 3)],
    ]
    .into_iter()
    .filter_map(|p| Vec1::new(p).ok())
    .collect()
}

/// Every kind of section text.
fn section_texts() -> Vec<SectionText> {
    let fields = |names: &[&str]| Vec1::new(names.iter().map(|&n| IString::from(n)).collect());
    let mut out = vec![SectionText::Header, SectionText::Text];
    for not in [false, true] {
        if let Ok(fields) = fields(&["Subject", "From", "content-type"]) {
            out.push(SectionText::HeaderFields { not, fields });
        }
    }
    out
}

/// The plain recursion over the LIST rules (RFC 3501 §6.3.8) that [`list_matches`] must agree
/// with; INBOX is case-insensitive as a name and as a pattern prefix.
fn reference_list_match(pattern: &[u8], name: &[u8], delim: u8) -> bool {
    let name = if name.eq_ignore_ascii_case(b"INBOX") {
        b"INBOX".to_vec()
    } else {
        name.to_vec()
    };
    let pattern = match pattern.get(..5) {
        Some(head) if head.eq_ignore_ascii_case(b"INBOX") => [b"INBOX", &pattern[5..]].concat(),
        _ => pattern.to_vec(),
    };
    list_rules(&pattern, &name, delim)
}

/// LIST matching on a short pattern and name drawn from the last octets of the data.
fn check_list(data: &[u8]) {
    const ALPHABET: &[u8] = b"ab/*%.";
    let tail = &data[data.len().saturating_sub(20)..];
    let Some((&ctl, rest)) = tail.split_first() else {
        return;
    };
    // Stars are what make the reference expensive: at most six pattern octets.
    let plen = usize::from(ctl % 7).min(rest.len());
    let map = |b: &u8| ALPHABET[usize::from(*b) % ALPHABET.len()];
    let mut pattern: Vec<u8> = rest[..plen].iter().map(map).collect();
    let mut name: Vec<u8> = rest[plen..].iter().take(12).map(map).collect();
    if ctl & 0x40 != 0 {
        pattern.splice(0..0, *b"inBox");
    }
    if ctl & 0x80 != 0 {
        name.splice(0..0, *b"Inbox");
    }
    let delim = if ctl & 0x08 != 0 { b'.' } else { b'/' };
    let fast = list_matches(&pattern, &name, delim);
    let slow = reference_list_match(&pattern, &name, delim);
    if fast != slow {
        panic!(
            "LIST {:?} against {:?} (delimiter {:?}): {fast}, the rules say {slow}",
            String::from_utf8_lossy(&pattern),
            String::from_utf8_lossy(&name),
            char::from(delim)
        );
    }
}

/// SEARCH text keys over the message: with the text the answer is always known, NOT inverts
/// it, and a BODY match is a TEXT match.
fn check_search(raw: &[u8], needle: &[u8]) {
    let meta = MessageMeta {
        uid: 1,
        flags: Flags::default(),
        modseq: 1,
        internal_date: InternalDate::utc(1_700_000_000),
        size: u64::try_from(raw.len()).unwrap_or(u64::MAX),
    };
    let (candidate, ctx) = search::alone(&meta);
    let text = MessageText::new(raw, true);
    let s = IString::from_slice(needle);
    let keys = [
        SearchKey::Body(s.clone()),
        SearchKey::Text(s.clone()),
        SearchKey::Subject(s.clone()),
        SearchKey::From(s.clone()),
        SearchKey::To(s.clone()),
        SearchKey::Cc(s.clone()),
        SearchKey::Bcc(s.clone()),
        SearchKey::Header(IString::from("Content-Type"), s.clone()),
        SearchKey::Header(IString::from_slice(needle), IString::default()),
    ];
    let mut answers = Vec::with_capacity(keys.len());
    for k in keys {
        let Some(yes) = search::matches(&k, &candidate, &ctx, Some(&text)) else {
            panic!("{k:?} unknown with the text at hand");
        };
        let not = SearchKey::Not(Box::new(k.clone()));
        if search::matches(&not, &candidate, &ctx, Some(&text)) != Some(!yes) {
            panic!("NOT {k:?} is not the negation of {yes}");
        }
        answers.push(yes);
    }
    if answers[0] && !answers[1] {
        panic!("BODY {s:?} matches but TEXT does not");
    }
    if needle.is_empty() && !(answers[0] && answers[1]) {
        panic!("an empty BODY or TEXT string does not match");
    }
}

/// Fuzz oracle for the message readers: the data is a message.
pub fn fuzz_message(data: &[u8]) {
    mailpush_message::fuzzing::check_message(data);
    fetch_roundtrip(FetchItem::Envelope(Box::new(envelope(data))));
    fetch_roundtrip(FetchItem::Body(Box::new(body(data))));
    fetch_roundtrip(FetchItem::BodyStructure(Box::new(body_structure(data))));

    let (header, text) = split(data);
    let mut sections = vec![Section::Full];
    for t in section_texts() {
        sections.push(Section::Text(t.clone()));
        for part in part_paths(data) {
            sections.push(Section::Part {
                part,
                text: Some(PartText::Msg(t.clone())),
            });
        }
    }
    for part in part_paths(data) {
        sections.push(Section::Part {
            part: part.clone(),
            text: None,
        });
        sections.push(Section::Part {
            part,
            text: Some(PartText::Mime),
        });
    }
    let origin = u32::from(data.first().copied().unwrap_or(0));
    let length = u32::from(data.get(1).copied().unwrap_or(0));
    for section in sections {
        let Some(octets) = sections::section(data, &section) else {
            continue;
        };
        if let Section::Text(t) = &section
            && msgtext(header, text, t) != octets
        {
            panic!("BODY[{section:?}] differs from its message text");
        }
        let cut = partial(octets.clone(), origin, length);
        let start = usize::try_from(origin).map_or(octets.len(), |o| o.min(octets.len()));
        if cut.len() > usize::try_from(length).unwrap_or(usize::MAX)
            || !octets[start..].starts_with(&cut)
        {
            panic!(
                "<{origin}.{length}> of {} octets gave {} octets not at the origin",
                octets.len(),
                cut.len()
            );
        }
        fetch_roundtrip(FetchItem::BodySection {
            section,
            origin: Some(origin),
            data: Some(IString::new(cut)),
        });
    }

    let needle_len = usize::from(data.get(2).copied().unwrap_or(0) % 8);
    let needle_at = usize::from(data.get(3).copied().unwrap_or(0)) * data.len() / 256;
    let needle = data.get(needle_at..).unwrap_or_default();
    check_search(data, &needle[..needle_len.min(needle.len())]);
    check_list(data);
}

fn now(secs: u64) -> Now {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    Now {
        instant: base + Duration::from_secs(secs),
        wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs),
    }
}

/// Each octet sent after the greeting is part of a response.
fn check_responses(mut out: &[u8]) {
    while !out.is_empty() {
        match Response::decode(out) {
            Decoded::Complete(_, n) if n > 0 => out = &out[n..],
            other => panic!(
                "the session sent {:?}, which decodes as {other:?}",
                String::from_utf8_lossy(out)
            ),
        }
    }
}

/// Fuzz oracle for a session over `backend`, which must have the user `fred` with the password
/// `secret`: two messages are appended to fred's INBOX, a session logs in, then the data goes in
/// as client octets in chunks whose sizes come from the first octet.
pub fn fuzz_session<B: MailBackend>(backend: B, data: &[u8]) {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let input = &input[..input.len().min(MAX_SESSION_INPUT)];
    let Ok(Some(user)) = backend.verify_password("fred", b"secret") else {
        panic!("the backend has no user fred with the password secret");
    };
    if let Ok(inbox) = backend.mailbox_id(user, "INBOX") {
        for (raw, flags) in [
            (&b"Subject: x\r\nFrom: a@example.org\r\n\r\nbody\r\n"[..], &[][..]),
            (
                &b"Subject: y\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b--\r\n"[..],
                &["\\Deleted"][..],
            ),
        ] {
            let flags = Flags::parse(flags.iter().copied()).unwrap_or_default();
            // A message the store refuses only makes the run less interesting.
            let _ = backend.append(inbox, raw, &flags, InternalDate::utc(1_700_000_000));
        }
    }
    let config = Config {
        allow_plaintext_auth: true,
        max_line: 1024,
        max_literal: 2048,
        max_command: 4096,
        ..Config::default()
    };
    let mut session = Session::new(backend, config, false, now(0));
    let mut out = Vec::new();
    let mut closed = false;
    let mut drain = |session: &mut Session<B>, out: &mut Vec<u8>| {
        while let Some(bytes) = session.poll_output() {
            if closed && !bytes.is_empty() {
                panic!(
                    "the session sent {:?} after it closed",
                    String::from_utf8_lossy(&bytes)
                );
            }
            out.extend_from_slice(&bytes);
        }
        while let Some(e) = session.poll_event() {
            closed |= e == Event::Closed;
        }
    };
    drain(&mut session, &mut out);
    let greeting = match Greeting::decode(&out) {
        Decoded::Complete(_, n) => n,
        other => panic!("the greeting decodes as {other:?}"),
    };
    out.drain(..greeting);
    session.handle_input(b"a LOGIN fred secret\r\n", now(1));
    drain(&mut session, &mut out);
    // Without a login the run would only ever reach the not-authenticated commands.
    if !out.windows(4).any(|w| w == b"a OK") {
        panic!("LOGIN was refused: {:?}", String::from_utf8_lossy(&out));
    }
    let mut pos = 0;
    let mut step = 1 + usize::from(seed % 16);
    let mut tick = 1;
    while pos < input.len() {
        let end = (pos + step).min(input.len());
        session.handle_input(&input[pos..end], now(tick));
        drain(&mut session, &mut out);
        pos = end;
        step = 1 + (step * 7 + usize::from(seed)) % 61;
        tick += 1;
    }
    // The clock runs out: whatever timers the session set fire.
    session.handle_timeout(now(24 * 3600));
    drain(&mut session, &mut out);
    check_responses(&out);
}
