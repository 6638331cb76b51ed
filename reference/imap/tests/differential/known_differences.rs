//! Disagreements between the two codecs that are understood, each with its
//! reason and the RFC section or imap-codec behaviour it rests on (the
//! crate README lists the same).
//!
//! An entry proves itself on every input it explains: a *value* entry
//! matches one place where both codecs accept and the values differ; a
//! *repair* entry rewrites the input to leave out the construct the codecs
//! treat differently, after which both codecs must agree. Repairs are
//! applied one after the other (an input may hold two constructs), and the
//! values must then be equal but for value entries.

use crate::common_form::{Diff, Node, diff};
use mailpush_imap::{
    Body, Code, Command, CommandBody, Data, DateTime, Decode, Decoded, Encode, FetchItem, Greeting,
    IString, Response, SearchKey, SelectParam, SingleKind, StatusItem, is_atom_char,
};

use crate::{Case, Kind, Outcome};

pub enum Check {
    /// Both accept; the values differ here.
    Value(fn(&Diff) -> bool),
    /// The input without the construct, when it has one.
    Repair(fn(Kind, &[u8]) -> Option<Vec<u8>>),
}

pub struct Known {
    /// A short name, for the report.
    pub id: &'static str,
    /// Why the codecs differ, and what each follows.
    pub why: &'static str,
    pub check: Check,
}

pub static KNOWN: &[Known] = &[
    Known {
        id: "missing-text",
        why: "A status or continuation line without text (`* OK [CLOSED]`, `+`): imap-codec's \
              default quirks `quirk_missing_text` and `quirk_empty_continue_req` put the \
              placeholder text \"...\" in; this codec keeps the empty text RFC 9051 §9 allows \
              (`resp-text = [\"[\" resp-text-code \"]\" SP] [text]`).",
        check: Check::Value(|d| {
            d.path.last().map(String::as_str) == Some("TEXT")
                && d.ours == Node::Bytes(Vec::new())
                && d.theirs == Node::Bytes(b"...".to_vec())
        }),
    },
    Known {
        id: "appenduid-uid-set",
        why: "`[APPENDUID uidvalidity uid-set]`: RFC 4315 §4 allows a uid-set (`append-uid =/ \
              uid-set`, after a MULTIAPPEND, RFC 3502); this codec reads it, imap-codec reads \
              one UID only and keeps the code as an unknown one.",
        check: Check::Value(|d| {
            d.ours.label() == Some("APPENDUID")
                && d.theirs.label() == Some("OTHER")
                && matches!(&d.theirs, Node::List(v) if v.get(1) == Some(&crate::common_form::w("APPENDUID")))
        }),
    },
    Known {
        id: "nul-in-literal",
        why: "NUL in a literal: RFC 3501 §9 `literal = \"{\" number \"}\" CRLF *CHAR8` with \
              `CHAR8 = %x01-ff` has no NUL (only RFC 3516's literal8 may); imap-codec refuses it, \
              this codec accepts it, and writes an `IString` holding NUL as a literal (the \
              grammar has no other spelling for it).",
        check: Check::Repair(|_, input| {
            map_literals(input, |data| {
                data.iter().map(|&c| if c == 0 { 1 } else { c }).collect()
            })
        }),
    },
    Known {
        id: "utf8-outside-literals",
        why: "8-bit octets in `text` or in a quoted string: RFC 9051 §9 allows UTF-8 in both \
              (`text = 1*(TEXT-CHAR / UTF8-2 / UTF8-3 / UTF8-4)`, `QUOTED-CHAR =/ UTF8-2 / \
              UTF8-3 / UTF8-4`) and this codec accepts them; imap-codec (RFC 3501 §9, \
              `ext_utf8` off) takes 7-bit only. This codec's encoder writes 8-bit strings as \
              literals, so only `text` carries 8-bit octets in its output.",
        check: Check::Repair(|_, input| {
            let out = map_outside_literals(input, |c| if c >= 0x80 { b'x' } else { c });
            (out != input).then_some(out)
        }),
    },
    Known {
        id: "empty-text",
        why: "A status line whose text is empty after the SP (`a1 OK ` CRLF): RFC 9051 §9 \
              makes `text` optional and this codec accepts it (and writes an empty `Text` so); \
              imap-codec requires `1*TEXT-CHAR` (RFC 3501 §9).",
        check: Check::Repair(|_, input| {
            let body = input.strip_suffix(b" \r\n")?;
            outside_literals(input, body.len()).then(|| [body, b" x\r\n"].concat())
        }),
    },
    Known {
        id: "bare-status",
        why: "A status without SP and text (`* OK` CRLF, `a1 NO` CRLF): RFC 3501 §9 \
              `resp-cond-state = (\"OK\" / \"NO\" / \"BAD\") SP resp-text` requires the SP; \
              this codec accepts its absence (some servers send it, see the README's leniency \
              list); imap-codec does not.",
        check: Check::Repair(|_, input| {
            let body = input.strip_suffix(b"\r\n")?;
            if !outside_literals(input, body.len().saturating_sub(1)) {
                return None;
            }
            let last = body.rsplit(|&c| c == b' ').next()?;
            ["OK", "NO", "BAD", "BYE", "PREAUTH"]
                .iter()
                .any(|k| last.eq_ignore_ascii_case(k.as_bytes()))
                .then(|| [body, b" x\r\n"].concat())
        }),
    },
    Known {
        id: "zero-mod-sequence",
        why: "A zero mod-sequence where RFC 7162 §7 has `mod-sequence-value` (1 <= n): \
              CHANGEDSINCE, QRESYNC, the HIGHESTMODSEQ response code, the MODSEQ fetch item and \
              the `(MODSEQ n)` of SEARCH. This codec accepts 0 (its types are `u64`; the README \
              lists it as leniency) and writes it; imap-codec refuses it (`NonZeroU64`) or keeps \
              `[HIGHESTMODSEQ 0]` as an unknown code.",
        check: Check::Repair(|kind, input| {
            rewrite(kind, input, |m| {
                let mut hit = false;
                let mut one = |v: &mut u64| {
                    if *v == 0 {
                        *v = 1;
                        hit = true;
                    }
                };
                match m {
                    Msg::Command(c) => match &mut c.body {
                        CommandBody::Fetch {
                            changed_since: Some(v),
                            ..
                        } => one(v),
                        CommandBody::Select { params, .. } => {
                            for p in params {
                                if let SelectParam::QResync(q) = p {
                                    one(&mut q.mod_seq);
                                }
                            }
                        }
                        _ => {}
                    },
                    Msg::Response(r) => {
                        if let Some(Code::HighestModSeq(v)) = codes(r) {
                            one(v);
                        }
                        match r {
                            Response::Data(Data::Fetch { items, .. }) => {
                                for i in items.as_mut_slice() {
                                    if let FetchItem::ModSeq(v) = i {
                                        one(v);
                                    }
                                }
                            }
                            Response::Data(Data::Search {
                                mod_seq: Some(v), ..
                            }) => one(v),
                            _ => {}
                        }
                    }
                    Msg::Greeting(g) => {
                        if let Some(Code::HighestModSeq(v)) = &mut g.text.code {
                            one(v);
                        }
                    }
                }
                hit
            })
        }),
    },
    Known {
        id: "charset-astring",
        why: "A charset written as a literal or as an atom with `]` (SEARCH CHARSET, the \
              BADCHARSET response code): RFC 3501 §9 has `astring` in both places (`search = \
              \"SEARCH\" [SP \"CHARSET\" SP astring] ...`, `\"BADCHARSET\" [SP \"(\" astring \
              *(SP astring) \")\" ]`) and this codec follows it; RFC 9051 §9 narrows both to \
              `charset = atom / quoted`, which imap-codec implements.",
        check: Check::Repair(|kind, input| {
            let plain = |s: &IString| s.as_bytes().iter().all(|&c| is_atom_char(c));
            rewrite(kind, input, |m| {
                let mut hit = false;
                let mut fix = |s: &mut IString| {
                    if !plain(s) {
                        *s = IString::from("X");
                        hit = true;
                    }
                };
                match m {
                    Msg::Command(c) => {
                        if let CommandBody::Search {
                            charset: Some(cs), ..
                        } = &mut c.body
                        {
                            fix(cs);
                        }
                    }
                    Msg::Response(r) => {
                        if let Some(Code::BadCharset(v)) = codes(r) {
                            v.iter_mut().for_each(&mut fix);
                        }
                    }
                    Msg::Greeting(g) => {
                        if let Some(Code::BadCharset(v)) = &mut g.text.code {
                            v.iter_mut().for_each(&mut fix);
                        }
                    }
                }
                hit
            })
        }),
    },
    Known {
        id: "modseq-entry-name",
        why: "SEARCH MODSEQ with an entry name other than `\"/flags/\" attr-flag`: RFC 7162 \
              §7 `entry-name = entry-flag-name = DQUOTE \"/flags/\" attr-flag DQUOTE`; this \
              codec accepts any string there and keeps it, imap-codec only the flag form.",
        check: Check::Repair(|kind, input| {
            rewrite(kind, input, |m| {
                let Msg::Command(Command {
                    body: CommandBody::Search { criteria, .. },
                    ..
                }) = m
                else {
                    return false;
                };
                let mut hit = false;
                for k in criteria.as_mut_slice() {
                    visit_keys(k, &mut |k| {
                        if let SearchKey::ModSeq {
                            entry: Some((name, _)),
                            ..
                        } = k
                        {
                            let ok = name
                                .as_bytes()
                                .get(..7)
                                .is_some_and(|p| p.eq_ignore_ascii_case(b"/flags/"));
                            if !ok {
                                *name = IString::from("/flags/\\seen");
                                hit = true;
                            }
                        }
                    });
                }
                hit
            })
        }),
    },
    Known {
        id: "message-subtype",
        why: "A body part `(\"MESSAGE\" subtype ... envelope body lines)` whose subtype is not \
              RFC822: RFC 9051 §9 adds GLOBAL (`media-message = DQUOTE \"MESSAGE\" DQUOTE SP \
              DQUOTE (\"RFC822\" / \"GLOBAL\") DQUOTE`) and this codec reads any MESSAGE \
              subtype followed by an envelope as one (`body-fld-md5`, the alternative, never \
              starts with \"(\"); imap-codec reads RFC822 only (RFC 3501 §9).",
        check: Check::Repair(|kind, input| {
            rewrite(kind, input, |m| {
                let Msg::Response(Response::Data(Data::Fetch { items, .. })) = m else {
                    return false;
                };
                let mut hit = false;
                for i in items.as_mut_slice() {
                    if let FetchItem::Body(b) | FetchItem::BodyStructure(b) = i {
                        visit_bodies(b, &mut |b| {
                            if let Body::Single {
                                kind: SingleKind::Message { subtype, .. },
                                ..
                            } = b
                                && !subtype.as_bytes().eq_ignore_ascii_case(b"RFC822")
                            {
                                *subtype = IString::from("RFC822");
                                hit = true;
                            }
                        });
                    }
                }
                hit
            })
        }),
    },
    Known {
        id: "status-zero-uid",
        why: "`* STATUS m (UIDNEXT 0)` or `(UIDVALIDITY 0)`: RFC 3501 §9 `status-att-list = \
              status-att SP number ...` takes any number and this codec follows it; RFC 9051 §9 \
              `status-att-val` has `nz-number` for both, which imap-codec implements.",
        check: Check::Repair(|kind, input| {
            rewrite(kind, input, |m| {
                let Msg::Response(Response::Data(Data::MailboxStatus { items, .. })) = m else {
                    return false;
                };
                let mut hit = false;
                for i in items.iter_mut() {
                    if let StatusItem::UidNext(v) | StatusItem::UidValidity(v) = i
                        && *v == 0
                    {
                        *v = 1;
                        hit = true;
                    }
                }
                hit
            })
        }),
    },
    Known {
        id: "leap-second",
        why: "A date-time whose second is 60: RFC 3501 §9 `time = 2DIGIT \":\" 2DIGIT \":\" \
              2DIGIT` does not bound it and RFC 5322 §3.3 allows 60 for a leap second; this \
              codec accepts it, imap-codec (chrono) does not.",
        check: Check::Repair(|kind, input| {
            rewrite(kind, input, |m| {
                let mut hit = false;
                let mut fix = |d: &mut DateTime| {
                    let (h, mi, s) = d.time();
                    if s == 60
                        && let Ok(e) =
                            DateTime::new(d.year(), d.month(), d.day(), h, mi, 59, d.zone())
                    {
                        *d = e;
                        hit = true;
                    }
                };
                match m {
                    Msg::Command(Command {
                        body: CommandBody::Append { date: Some(d), .. },
                        ..
                    }) => fix(d),
                    Msg::Response(Response::Data(Data::Fetch { items, .. })) => {
                        for i in items.as_mut_slice() {
                            if let FetchItem::InternalDate(d) = i {
                                fix(d);
                            }
                        }
                    }
                    _ => {}
                }
                hit
            })
        }),
    },
    Known {
        id: "mod-sequence-63-bit",
        why: "A mod-sequence of 2^63 or more: RFC 7162 §7 `mod-sequence-value` is a \"positive \
              unsigned 63-bit integer\"; this codec refuses more (a response code with one is \
              kept as an unknown code), imap-codec takes any 64-bit value.",
        check: Check::Repair(|_, input| {
            let mut out = Vec::with_capacity(input.len());
            let mut i = 0;
            while i < input.len() {
                let run = input[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                if run == 0 {
                    out.push(input[i]);
                    i += 1;
                    continue;
                }
                let digits = &input[i..i + run];
                match std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse::<u64>().ok())
                {
                    Some(v) if v > mailpush_imap::MAX_MOD_SEQUENCE => {
                        out.extend_from_slice((v >> 1).to_string().as_bytes())
                    }
                    _ => out.extend_from_slice(digits),
                }
                i += run;
            }
            (out != input).then_some(out)
        }),
    },
    Known {
        id: "vanished-star",
        why: "`* VANISHED` with `*` in its UID set: RFC 7162 §7 `known-uids = sequence-set` \
              says \"`*` is not allowed\"; this codec refuses it, imap-codec reads a sequence \
              set with `*` (its own type notes the misuse as a TODO).",
        check: Check::Repair(|_, input| {
            let rest = input.strip_prefix(b"* VANISHED ")?;
            let (earlier, set) = match rest.strip_prefix(b"(EARLIER) ") {
                Some(set) => (&b"(EARLIER) "[..], set),
                None => (&b""[..], rest),
            };
            let set = String::from_utf8_lossy(set).replace('*', "4294967295");
            (set.as_bytes() != rest).then(|| [b"* VANISHED ", earlier, set.as_bytes()].concat())
        }),
    },
    Known {
        id: "empty-attribute-list",
        why: "STATUS or FETCH with an empty attribute list `()`: RFC 3501 §9 requires at least \
              one (`\"(\" status-att *(SP status-att) \")\"`, `\"(\" fetch-att *(SP \
              fetch-att) \")\"`); this codec refuses `()`, imap-codec accepts it.",
        check: Check::Repair(|_, input| {
            let text = String::from_utf8_lossy(input);
            let upper = text.to_ascii_uppercase();
            let with = if upper.contains(" STATUS ") {
                "(MESSAGES)"
            } else if upper.contains(" FETCH ") {
                "(UID)"
            } else {
                return None;
            };
            let at = text.find(" ()")?;
            Some(format!("{} {with}{}", &text[..at], &text[at + 3..]).into_bytes())
        }),
    },
    Known {
        id: "duplicate-fetch-modifier",
        why: "A FETCH modifier given twice (`(CHANGEDSINCE 1 CHANGEDSINCE 2)`): RFC 4466 §2.4 \
              gives a repeat no meaning; this codec refuses it (its types hold one of each), \
              imap-codec keeps both.",
        check: Check::Repair(|_, input| {
            let text = std::str::from_utf8(input).ok()?;
            let body = text.strip_suffix(")\r\n")?;
            let open = body.rfind(" (")?;
            let mut seen_since = false;
            let mut seen_vanished = false;
            let mut kept: Vec<String> = Vec::new();
            let words: Vec<&str> = body[open + 2..].split(' ').collect();
            // Keep the last of each, as a reading that took one would.
            let mut i = words.len();
            while i > 0 {
                i -= 1;
                if words[i].eq_ignore_ascii_case("VANISHED") {
                    if !seen_vanished {
                        kept.insert(0, words[i].to_owned());
                    }
                    seen_vanished = true;
                } else if i > 0 && words[i - 1].eq_ignore_ascii_case("CHANGEDSINCE") {
                    if !seen_since {
                        kept.insert(0, format!("{} {}", words[i - 1], words[i]));
                    }
                    seen_since = true;
                    i -= 1;
                } else {
                    return None;
                }
            }
            let rebuilt = format!("{} ({})\r\n", &body[..open], kept.join(" "));
            (rebuilt != text).then(|| rebuilt.into_bytes())
        }),
    },
];

/// Whether both codecs give the same value, but for value entries; the
/// value entries that explain the differences.
fn values_agree(ours: &Outcome, theirs: &Outcome) -> Option<Vec<usize>> {
    let (Outcome::Value(a, n), Outcome::Value(b, m)) = (ours, theirs) else {
        return None;
    };
    if n != m {
        return None;
    }
    let mut theirs = b.clone();
    let mut used = Vec::new();
    while let Some(d) = diff(a, &theirs) {
        let i = KNOWN
            .iter()
            .position(|k| matches!(k.check, Check::Value(f) if f(&d)))?;
        used.push(i);
        theirs.patch(&d.at, d.ours);
    }
    Some(used)
}

/// The known differences that explain a disagreement, if they do.
pub fn explain(case: &Case) -> Option<Vec<usize>> {
    if let Some(used) = values_agree(&case.ours, &case.theirs) {
        return Some(used);
    }
    let value = |o: &Outcome| matches!(o, Outcome::Value(..));
    let mut input = case.bytes().to_vec();
    let (mut ours, mut theirs) = (case.ours.clone(), case.theirs.clone());
    let mut applied = Vec::new();
    for (i, k) in KNOWN.iter().enumerate() {
        let Check::Repair(repair) = k.check else {
            continue;
        };
        let Some(repaired) = repair(case.kind, &input) else {
            continue;
        };
        let (o, t) = (
            crate::ours(case.kind, &repaired),
            crate::theirs(case.kind, &repaired),
        );
        // A repair that makes a codec refuse what it read did more than
        // leave a construct out: it is not this construct.
        if (value(&ours) && !value(&o)) || (value(&theirs) && !value(&t)) {
            continue;
        }
        (input, ours, theirs) = (repaired, o, t);
        applied.push(i);
        if let Some(used) = values_agree(&ours, &theirs) {
            applied.extend(used);
            return Some(applied);
        }
    }
    None
}

/// Whether the octet at `at` is outside every literal's data.
fn outside_literals(input: &[u8], at: usize) -> bool {
    !literal_spans(input)
        .iter()
        .any(|&(a, e)| (a..e).contains(&at))
}

/// Where each literal's octets are: (start, end) of the data.
fn literal_spans(input: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while let Some(off) = input[i..].windows(2).position(|w| w == b"\r\n") {
        let eol = i + off;
        let line = &input[i..eol];
        let announced = line.strip_suffix(b"}").and_then(|l| {
            let open = l.iter().rposition(|&c| c == b'{')?;
            let digits = l[open + 1..].strip_suffix(b"+").unwrap_or(&l[open + 1..]);
            std::str::from_utf8(digits).ok()?.parse::<usize>().ok()
        });
        i = eol + 2;
        if let Some(n) = announced {
            let end = (i + n).min(input.len());
            spans.push((i, end));
            i = end;
        }
    }
    spans
}

/// `f` applied to each literal's octets; `None` without literals or change.
fn map_literals(input: &[u8], f: impl Fn(&[u8]) -> Vec<u8>) -> Option<Vec<u8>> {
    let mut out = input.to_vec();
    for (a, c) in literal_spans(input) {
        out.splice(a..c, f(&input[a..c]));
    }
    (out != input).then_some(out)
}

/// `f` applied to every octet outside literals.
fn map_outside_literals(input: &[u8], f: impl Fn(u8) -> u8) -> Vec<u8> {
    let spans = literal_spans(input);
    input
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if spans.iter().any(|&(a, e)| (a..e).contains(&i)) {
                c
            } else {
                f(c)
            }
        })
        .collect()
}

/// A message as this codec reads it, to rewrite.
pub enum Msg {
    Command(Command),
    Response(Response),
    Greeting(Greeting),
}

fn whole<T: Decode>(input: &[u8]) -> Option<T> {
    match T::decode(input) {
        Decoded::Complete(v, n) if n == input.len() => Some(v),
        _ => None,
    }
}

/// This codec's reading of `input`, changed by `f`, written again; `None`
/// when it does not read or `f` changes nothing.
fn rewrite(kind: Kind, input: &[u8], f: impl FnOnce(&mut Msg) -> bool) -> Option<Vec<u8>> {
    let mut m = match kind {
        Kind::Command => Msg::Command(whole(input)?),
        Kind::Response => Msg::Response(whole(input)?),
        Kind::Greeting => Msg::Greeting(whole(input)?),
        Kind::AuthenticateData | Kind::IdleDone => return None,
    };
    if !f(&mut m) {
        return None;
    }
    Some(match m {
        Msg::Command(c) => c.to_bytes(),
        Msg::Response(r) => r.to_bytes(),
        Msg::Greeting(g) => g.to_bytes(),
    })
}

/// The response code of a response, if it has one.
fn codes(r: &mut Response) -> Option<&mut Code> {
    match r {
        Response::Tagged { status, .. } => status.text.code.as_mut(),
        Response::Continue(t) => t.code.as_mut(),
        Response::Data(Data::Status(s)) => s.text.code.as_mut(),
        Response::Data(Data::Bye(t) | Data::PreAuth(t)) => t.code.as_mut(),
        Response::Data(_) => None,
    }
}

/// Every search key, nested ones included.
fn visit_keys(k: &mut SearchKey, f: &mut impl FnMut(&mut SearchKey)) {
    f(k);
    match k {
        SearchKey::Not(k) => visit_keys(k, f),
        SearchKey::Or(a, b) => {
            visit_keys(a, f);
            visit_keys(b, f);
        }
        SearchKey::And(v) => v.as_mut_slice().iter_mut().for_each(|k| visit_keys(k, f)),
        _ => {}
    }
}

/// Every body part, nested ones included.
fn visit_bodies(b: &mut Body, f: &mut impl FnMut(&mut Body)) {
    f(b);
    match b {
        Body::Multi { parts, .. } => parts
            .as_mut_slice()
            .iter_mut()
            .for_each(|p| visit_bodies(p, f)),
        Body::Single {
            kind: SingleKind::Message { body, .. },
            ..
        } => visit_bodies(body, f),
        Body::Single { .. } => {}
    }
}
