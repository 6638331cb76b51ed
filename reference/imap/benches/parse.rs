// A corpus that does not decode makes the comparison meaningless: stop.
#![allow(clippy::panic)]

//! Response-parsing throughput of this codec and of `imap-codec` on the
//! same corpora, in the same run:
//!
//! * `fetch_flags_modseq`: `* n FETCH (UID u FLAGS (...) MODSEQ (m))`
//!   lines, as a QRESYNC/CONDSTORE resync streams them;
//! * `envelope_bodystructure`: FETCH lines with ENVELOPE and a multipart
//!   BODYSTRUCTURE;
//! * `note_literals`: FETCH lines carrying a 1.6 KiB note body as a literal.
//!
//! Each iteration decodes every message of the corpus from one buffer.
//! `cargo bench -p mailpush-imap --bench parse`.

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use imap_codec::ResponseCodec;
use imap_codec::decode::Decoder;
use mailpush_imap::{Decode, Decoded, Response};

const FLAG_SETS: &[&str] = &[
    "\\Seen",
    "\\Seen \\Answered",
    "\\Seen $Forwarded",
    "\\Flagged \\Seen $MDNSent",
    "",
    "\\Deleted \\Seen $NoJunk $AutoJunk",
];

fn fetch_flags_modseq() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 1..=2000u64 {
        let flags = FLAG_SETS[i as usize % FLAG_SETS.len()];
        out.extend_from_slice(
            format!(
                "* {i} FETCH (UID {} FLAGS ({flags}) MODSEQ ({}))\r\n",
                i * 3 + 100,
                20060115194045000 + i * 17
            )
            .as_bytes(),
        );
    }
    out
}

fn envelope_bodystructure() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 1..=500u64 {
        out.extend_from_slice(
            format!(
                "* {i} FETCH (UID {uid} ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"Note {i}: IMAP4rev1 WG mtg summary and minutes\" \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) \
((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \
\"<B27397-{i}@cac.washington.edu>\") BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 1152 23 NIL NIL NIL NIL)\
(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 4554 73 NIL (\"inline\" NIL) NIL NIL)\
(\"APPLICATION\" \"PDF\" (\"NAME\" \"minutes.pdf\") \"<960723163407.20117h@cac.washington.edu>\" \"Minutes\" \"BASE64\" 24554 NIL \
(\"attachment\" (\"FILENAME\" \"minutes.pdf\")) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"----=_Part_{i}\") NIL NIL NIL))\r\n",
                uid = i + 1000
            )
            .as_bytes(),
        );
    }
    out
}

fn note_literals() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 1..=500u64 {
        let mut body = format!(
            "Content-Type: text/html;charset=utf-8\r\nX-Uniform-Type-Identifier: com.apple.mail-note\r\n\
X-Universally-Unique-Identifier: 6F1C0A3E-{i:04}-4B7E-9A2D-1B3C5D7E9F00\r\nSubject: Note {i}\r\n\r\n<html><body>"
        );
        while body.len() < 1600 {
            body.push_str(
                "<div>Buy milk, eggs and coffee; call the plumber about the kitchen sink.</div>",
            );
        }
        body.truncate(1600);
        out.extend_from_slice(
            format!(
                "* {i} FETCH (UID {} BODY[] {{{}}}\r\n",
                i + 1000,
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(body.as_bytes());
        out.extend_from_slice(b")\r\n");
    }
    out
}

fn ours(corpus: &[u8]) -> usize {
    let mut at = 0;
    let mut n = 0;
    while at < corpus.len() {
        match Response::decode(&corpus[at..]) {
            Decoded::Complete(r, used) => {
                black_box(r);
                at += used;
                n += 1;
            }
            other => panic!("corpus does not decode at {at}: {other:?}"),
        }
    }
    n
}

fn theirs(corpus: &[u8]) -> usize {
    let codec = ResponseCodec::default();
    let mut rest = corpus;
    let mut n = 0;
    while !rest.is_empty() {
        match codec.decode(rest) {
            Ok((r, v)) => {
                black_box(v);
                rest = r;
                n += 1;
            }
            Err(e) => panic!("imap-codec does not decode the corpus: {e:?}"),
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    for (name, corpus) in [
        ("fetch_flags_modseq", fetch_flags_modseq()),
        ("envelope_bodystructure", envelope_bodystructure()),
        ("note_literals", note_literals()),
    ] {
        assert_eq!(
            ours(&corpus),
            theirs(&corpus),
            "both codecs see the same messages"
        );
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(corpus.len() as u64));
        g.bench_function("mailpush-imap", |b| b.iter(|| ours(black_box(&corpus))));
        g.bench_function("imap-codec", |b| b.iter(|| theirs(black_box(&corpus))));
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
