//! Response parsers (RFC 3501 §9, RFC 9051 §9 and extensions).

use super::command::section;
use super::core::*;
use crate::response::*;
use crate::types::{Atom, IString, Vec1};
use crate::xaps;

/// `greeting = "*" SP (resp-cond-auth / resp-cond-bye) CRLF`,
/// `resp-cond-auth = ("OK" / "PREAUTH") SP resp-text` (RFC 3501 §9).
pub fn greeting(i: &[u8]) -> PResult<'_, Greeting> {
    let (i, _) = byte(b'*', "* (greeting)")(i)?;
    let (i, _) = cut(sp(i))?;
    let (r, k) = cut(keyword(i))?;
    let kind = if k.eq_ignore_ascii_case(b"OK") {
        GreetingKind::Ok
    } else if k.eq_ignore_ascii_case(b"PREAUTH") {
        GreetingKind::PreAuth
    } else if k.eq_ignore_ascii_case(b"BYE") {
        GreetingKind::Bye
    } else {
        return fatal(i, "OK, PREAUTH or BYE");
    };
    let (r, text) = cut(resp_text_after_keyword(r))?;
    let (r, _) = cut(crlf(r))?;
    Ok((r, Greeting { kind, text }))
}

/// `response = continue-req / response-data / response-tagged /
/// response-fatal` (one line with its literals; RFC 3501 §9).
pub fn response(i: &[u8]) -> PResult<'_, Response> {
    match i.first() {
        None => incomplete(),
        Some(b'+') => {
            let (r, t) = cut(continue_req(i))?;
            Ok((r, Response::Continue(t)))
        }
        Some(b'*') => {
            let (r, d) = cut(response_data(i))?;
            Ok((r, Response::Data(d)))
        }
        Some(_) => {
            let (r, t) = tag(i)?;
            let (r, _) = cut(sp(r))?;
            let (r, status) = cut(resp_cond_state(r))?;
            let (r, _) = cut(crlf(r))?;
            Ok((r, Response::Tagged { tag: t, status }))
        }
    }
}

/// `continue-req = "+" SP (resp-text / base64) CRLF` (RFC 3501 §9);
/// a bare `"+" CRLF` is accepted as empty text. Base64 is read as text.
pub fn continue_req(i: &[u8]) -> PResult<'_, RespText> {
    let (i, _) = byte(b'+', "+")(i)?;
    let (i, t) = resp_text_after_keyword(i)?;
    let (i, _) = crlf(i)?;
    Ok((i, t))
}

/// `[SP resp-text]` after a condition keyword: a missing text (some
/// servers send `* OK` CRLF) reads as empty.
fn resp_text_after_keyword(i: &[u8]) -> PResult<'_, RespText> {
    match i.first() {
        None => incomplete(),
        Some(b' ') => resp_text(&i[1..]),
        Some(b'\r') => Ok((i, RespText::default())),
        Some(_) => expected(i, "SP"),
    }
}

/// `resp-text = ["[" resp-text-code "]" SP] text` (RFC 3501 §9; RFC 9051
/// makes text optional).
pub fn resp_text(i: &[u8]) -> PResult<'_, RespText> {
    if i.first() == Some(&b'[') {
        let (r, code) = resp_text_code(&i[1..])?;
        let (r, _) = byte(b']', "] after response code")(r)?;
        let r = match r.first() {
            None => return incomplete(),
            Some(b' ') => &r[1..],
            Some(_) => r,
        };
        let (r, t) = text_after_code(r)?;
        return Ok((
            r,
            RespText {
                code: Some(code),
                text: t,
            },
        ));
    }
    let (r, t) = text(i)?;
    Ok((
        r,
        RespText {
            code: None,
            text: t,
        },
    ))
}

/// `resp-text-code` (RFC 3501 §9; RFC 4315 §4; RFC 7162 §7; RFC 5530).
/// An unknown code, or a known one whose arguments do not parse, is kept
/// as [`Code::Other`] with its raw text.
pub fn resp_text_code(i: &[u8]) -> PResult<'_, Code> {
    let (r, k) = atom_bytes_code(i)?;
    let is = |s: &str| k.eq_ignore_ascii_case(s.as_bytes());
    let known: Option<PResult<'_, Code>> = if is("ALERT") {
        Some(Ok((r, Code::Alert)))
    } else if is("PARSE") {
        Some(Ok((r, Code::Parse)))
    } else if is("READ-ONLY") {
        Some(Ok((r, Code::ReadOnly)))
    } else if is("READ-WRITE") {
        Some(Ok((r, Code::ReadWrite)))
    } else if is("TRYCREATE") {
        Some(Ok((r, Code::TryCreate)))
    } else if is("NOMODSEQ") {
        Some(Ok((r, Code::NoModSeq)))
    } else if is("CLOSED") {
        Some(Ok((r, Code::Closed)))
    } else if is("UIDNOTSTICKY") {
        Some(Ok((r, Code::UidNotSticky)))
    } else if is("UIDNEXT") {
        Some(
            sp(r)
                .and_then(|(r, _)| nz_number(r))
                .map(|(r, n)| (r, Code::UidNext(n))),
        )
    } else if is("UIDVALIDITY") {
        Some(
            sp(r)
                .and_then(|(r, _)| nz_number(r))
                .map(|(r, n)| (r, Code::UidValidity(n))),
        )
    } else if is("UNSEEN") {
        Some(
            sp(r)
                .and_then(|(r, _)| nz_number(r))
                .map(|(r, n)| (r, Code::Unseen(n))),
        )
    } else if is("HIGHESTMODSEQ") {
        Some(
            sp(r)
                .and_then(|(r, _)| mod_sequence_value(r))
                .map(|(r, n)| (r, Code::HighestModSeq(n))),
        )
    } else if is("MODIFIED") {
        Some(
            sp(r)
                .and_then(|(r, _)| sequence_set(r))
                .map(|(r, s)| (r, Code::Modified(s))),
        )
    } else if is("CAPABILITY") {
        Some(capability_list(r).map(|(r, c)| (r, Code::Capability(c))))
    } else if is("PERMANENTFLAGS") {
        Some(
            sp(r)
                .and_then(|(r, _)| paren_list(r, flag_perm))
                .map(|(r, f)| (r, Code::PermanentFlags(f))),
        )
    } else if is("BADCHARSET") {
        if r.first() == Some(&b' ') {
            Some(paren_list1(&r[1..], astring).map(|(r, v)| (r, Code::BadCharset(v.into_vec()))))
        } else {
            Some(Ok((r, Code::BadCharset(Vec::new()))))
        }
    } else if is("APPENDUID") {
        // "APPENDUID" SP nz-number SP append-uid
        Some((|| {
            let (r, _) = sp(r)?;
            let (r, uid_validity) = nz_number(r)?;
            let (r, _) = sp(r)?;
            let (r, uids) = uid_set(r)?;
            Ok((r, Code::AppendUid { uid_validity, uids }))
        })())
    } else if is("COPYUID") {
        // "COPYUID" SP nz-number SP uid-set SP uid-set
        Some((|| {
            let (r, _) = sp(r)?;
            let (r, uid_validity) = nz_number(r)?;
            let (r, _) = sp(r)?;
            let (r, source) = uid_set(r)?;
            let (r, _) = sp(r)?;
            let (r, destination) = uid_set(r)?;
            Ok((
                r,
                Code::CopyUid {
                    uid_validity,
                    source,
                    destination,
                },
            ))
        })())
    } else {
        None
    };
    // The fallback below reads up to the first "]" (or CR). It may only be
    // taken when the known code's parser stopped within that stretch:
    // otherwise the outcome would depend on octets after the response
    // (a literal inside the brackets), and a message could decode one way
    // alone and another way followed by more input.
    let fallback_end = r
        .iter()
        .position(|&b| b == b']' || !crate::types::is_text_char(b))
        .map_or(0, |n| r.len() - n);
    match known {
        Some(Ok((r, c))) if r.first() == Some(&b']') => return Ok((r, c)),
        Some(Ok(([], _))) => return incomplete(),
        Some(Err(e @ nom::Err::Incomplete(_))) => return Err(e),
        Some(Err(nom::Err::Failure(e))) if matches!(e.kind, PErrorKind::Literal { .. }) => {
            return Err(nom::Err::Failure(e));
        }
        Some(Ok((r, _))) if r.len() < fallback_end => return fatal(r, "] after response code"),
        Some(Err(nom::Err::Error(e) | nom::Err::Failure(e))) if e.input.len() < fallback_end => {
            return Err(nom::Err::Failure(e));
        }
        _ => {}
    }
    // atom [SP 1*<any TEXT-CHAR except "]">]
    let name = Atom::from_valid(k);
    match r.first() {
        None => incomplete(),
        Some(b']') => Ok((
            r,
            Code::Other(OtherCode {
                atom: name,
                text: None,
            }),
        )),
        Some(b' ') => {
            let t = &r[1..];
            let n = t
                .iter()
                .position(|&b| b == b']' || !crate::types::is_text_char(b))
                .unwrap_or(t.len());
            if n == t.len() {
                return incomplete();
            }
            if n == 0 || t[n] != b']' {
                return fatal(&t[n..], "response code text and ]");
            }
            let s = String::from_utf8_lossy(&t[..n]).into_owned();
            Ok((
                &t[n..],
                Code::Other(OtherCode {
                    atom: name,
                    text: Some(s),
                }),
            ))
        }
        Some(_) => fatal(r, "SP or ] after response code"),
    }
}

fn atom_bytes_code(i: &[u8]) -> PResult<'_, &[u8]> {
    // A response code's atom stops at "]" (which is not an ATOM-CHAR).
    atom_bytes(i)
}

/// `*(SP capability)` with at least one: the tail of `capability-data`.
fn capability_list(i: &[u8]) -> PResult<'_, Vec1<crate::types::Capability>> {
    let (mut i, first) = {
        let (i, _) = sp(i)?;
        capability(i)?
    };
    let mut caps = vec![first];
    while i.first() == Some(&b' ') {
        let (r, c) = capability(&i[1..])?;
        caps.push(c);
        i = r;
    }
    if i.is_empty() {
        return incomplete();
    }
    Ok((i, Vec1::from_nonempty(caps)))
}

/// `resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text` (RFC 3501 §9).
pub fn resp_cond_state(i: &[u8]) -> PResult<'_, Status> {
    let (r, k) = keyword(i)?;
    let kind = if k.eq_ignore_ascii_case(b"OK") {
        StatusKind::Ok
    } else if k.eq_ignore_ascii_case(b"NO") {
        StatusKind::No
    } else if k.eq_ignore_ascii_case(b"BAD") {
        StatusKind::Bad
    } else {
        return fatal(i, "OK, NO or BAD");
    };
    let (r, text) = resp_text_after_keyword(r)?;
    Ok((r, Status { kind, text }))
}

/// `response-data = "*" SP (resp-cond-state / resp-cond-bye /
/// mailbox-data / message-data / capability-data / enable-data) CRLF`
/// (RFC 3501 §9, RFC 5161, RFC 7162 `expunged-resp`, `spec/imap-push.md`
/// `xaps-response`).
pub fn response_data(i: &[u8]) -> PResult<'_, Data> {
    let (i, _) = byte(b'*', "*")(i)?;
    let (i, _) = sp(i)?;
    let (r, d) = if i.first().is_some_and(u8::is_ascii_digit) {
        numbered_data(i)?
    } else {
        keyword_data(i)?
    };
    let (r, _) = crlf(r)?;
    Ok((r, d))
}

/// `message-data = nz-number SP ("EXPUNGE" / ("FETCH" SP msg-att))` and
/// `mailbox-data =/ number SP "EXISTS" / number SP "RECENT"` (RFC 3501 §9).
fn numbered_data(i: &[u8]) -> PResult<'_, Data> {
    let (r, n) = number(i)?;
    let (r, _) = sp(r)?;
    let (r2, k) = keyword(r)?;
    if k.eq_ignore_ascii_case(b"FETCH") {
        let Some(seq) = std::num::NonZeroU32::new(n) else {
            return fatal(i, "nz-number before FETCH");
        };
        let (r2, _) = sp(r2)?;
        let (r2, items) = msg_att(r2)?;
        Ok((r2, Data::Fetch { seq, items }))
    } else if k.eq_ignore_ascii_case(b"EXISTS") {
        Ok((r2, Data::Exists(n)))
    } else if k.eq_ignore_ascii_case(b"RECENT") {
        Ok((r2, Data::Recent(n)))
    } else if k.eq_ignore_ascii_case(b"EXPUNGE") {
        match std::num::NonZeroU32::new(n) {
            Some(n) => Ok((r2, Data::Expunge(n))),
            None => fatal(i, "nz-number before EXPUNGE"),
        }
    } else {
        fatal(r, "EXISTS, RECENT, EXPUNGE or FETCH")
    }
}

fn keyword_data(i: &[u8]) -> PResult<'_, Data> {
    let (r, k) = keyword(i)?;
    let is = |s: &str| k.eq_ignore_ascii_case(s.as_bytes());
    if is("OK") || is("NO") || is("BAD") {
        let (r, s) = resp_cond_state(i)?;
        Ok((r, Data::Status(s)))
    } else if is("BYE") {
        // resp-cond-bye = "BYE" SP resp-text
        let (r, t) = resp_text_after_keyword(r)?;
        Ok((r, Data::Bye(t)))
    } else if is("PREAUTH") {
        let (r, t) = resp_text_after_keyword(r)?;
        Ok((r, Data::PreAuth(t)))
    } else if is("CAPABILITY") {
        // capability-data = "CAPABILITY" *(SP capability) SP "IMAP4rev1"
        //                   *(SP capability)
        let (r, c) = capability_list(r)?;
        Ok((r, Data::Capability(c)))
    } else if is("ENABLED") {
        // enable-data = "ENABLED" *(SP capability)   (RFC 5161 §4)
        let mut caps = Vec::new();
        let mut r = r;
        while r.first() == Some(&b' ') {
            let (r2, c) = capability(&r[1..])?;
            caps.push(c);
            r = r2;
        }
        if r.is_empty() {
            return incomplete();
        }
        Ok((r, Data::Enabled(caps)))
    } else if is("FLAGS") {
        let (r, _) = sp(r)?;
        let (r, f) = flag_list(r)?;
        Ok((r, Data::Flags(f)))
    } else if is("LIST") {
        let (r, _) = sp(r)?;
        mailbox_list(r)
    } else if is("STATUS") {
        // "STATUS" SP mailbox SP "(" [status-att-list] ")"
        let (r, _) = sp(r)?;
        let (r, mailbox) = mailbox(r)?;
        let (r, _) = sp(r)?;
        let (r, items) = paren_list(r, status_att_val)?;
        Ok((r, Data::MailboxStatus { mailbox, items }))
    } else if is("SEARCH") {
        search_data(r)
    } else if is("VANISHED") {
        // expunged-resp = "VANISHED" [SP "(EARLIER)"] SP known-uids
        let (r, _) = sp(r)?;
        let (r, earlier) = if r.first() == Some(&b'(') {
            let (r, _) = kw(r, "(EARLIER)")?;
            let (r, _) = sp(r)?;
            (r, true)
        } else {
            (r, false)
        };
        let (r, uids) = uid_set(r)?;
        Ok((r, Data::Vanished { earlier, uids }))
    } else if is("XAPPLEPUSHSERVICE") {
        let (r, x) = xaps::xaps_response_tail(r)?;
        Ok((r, Data::XApplePushService(x)))
    } else {
        fatal(i, "response data")
    }
}

/// `"SEARCH" *(SP nz-number) [SP search-sort-mod-seq]`,
/// `search-sort-mod-seq = "(" "MODSEQ" SP mod-sequence-value ")"`
/// (RFC 3501 §9, RFC 7162 §7).
fn search_data(mut r: &[u8]) -> PResult<'_, Data> {
    let mut ids = Vec::new();
    let mut mod_seq = None;
    while r.first() == Some(&b' ') {
        let t = &r[1..];
        if t.first() == Some(&b'(') {
            let (t, _) = kw(t, "(MODSEQ ")?;
            let (t, m) = mod_sequence_value(t)?;
            let (t, _) = byte(b')', ")")(t)?;
            mod_seq = Some(m);
            r = t;
            break;
        }
        let (t, n) = nz_number(t)?;
        ids.push(n);
        r = t;
    }
    if r.is_empty() {
        return incomplete();
    }
    Ok((r, Data::Search { ids, mod_seq }))
}

/// `mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE
/// / nil) SP mailbox` (RFC 3501 §9).
fn mailbox_list(i: &[u8]) -> PResult<'_, Data> {
    // mbx-list-flags: "\" atom each
    let (r, attributes) = paren_list(i, |i| {
        let (i, _) = byte(b'\\', "\\ (mailbox attribute)")(i)?;
        atom(i)
    })?;
    let (r, _) = sp(r)?;
    let (r, delimiter) = match r.first() {
        None => return incomplete(),
        Some(b'"') => {
            let (r, q) = quoted(r)?;
            match q.as_slice() {
                [c] => (r, Some(*c)),
                _ => return fatal(r, "one-character hierarchy delimiter"),
            }
        }
        Some(_) => {
            let (r, _) = nil(r)?;
            (r, None)
        }
    };
    let (r, _) = sp(r)?;
    let (r, mailbox) = mailbox(r)?;
    Ok((
        r,
        Data::List {
            attributes,
            delimiter,
            mailbox,
        },
    ))
}

/// `status-att-val` (RFC 9051 §9; RFC 7162 §7 for HIGHESTMODSEQ).
fn status_att_val(i: &[u8]) -> PResult<'_, StatusItem> {
    let (r, k) = keyword(i)?;
    let (r, _) = sp(r)?;
    let is = |s: &str| k.eq_ignore_ascii_case(s.as_bytes());
    if is("HIGHESTMODSEQ") {
        let (r, n) = mod_sequence_value(r)?;
        return Ok((r, StatusItem::HighestModSeq(n)));
    }
    let (r, n) = number(r)?;
    let v = if is("MESSAGES") {
        StatusItem::Messages(n)
    } else if is("RECENT") {
        StatusItem::Recent(n)
    } else if is("UIDNEXT") {
        StatusItem::UidNext(n)
    } else if is("UIDVALIDITY") {
        StatusItem::UidValidity(n)
    } else if is("UNSEEN") {
        StatusItem::Unseen(n)
    } else {
        return fatal(i, "status-att");
    };
    Ok((r, v))
}

/// `msg-att = "(" (msg-att-dynamic / msg-att-static) *(SP
/// (msg-att-dynamic / msg-att-static)) ")"` (RFC 3501 §9).
pub fn msg_att(i: &[u8]) -> PResult<'_, Vec1<FetchItem>> {
    paren_list1(i, msg_att_item)
}

/// One `msg-att-dynamic` / `msg-att-static` item (RFC 3501 §9), with
/// `fetch-mod-resp = "MODSEQ" SP "(" permsg-modsequence ")"`
/// (RFC 7162 §7).
pub fn msg_att_item(i: &[u8]) -> PResult<'_, FetchItem> {
    let (r, k) = keyword(i)?;
    let is = |s: &str| k.eq_ignore_ascii_case(s.as_bytes());
    if is("BODY") && r.first() == Some(&b'[') {
        // "BODY" section ["<" number ">"] SP nstring
        let (r, s) = section(r)?;
        let (r, origin) = if r.first() == Some(&b'<') {
            let (r, n) = number(&r[1..])?;
            let (r, _) = byte(b'>', ">")(r)?;
            (r, Some(n))
        } else {
            (r, None)
        };
        let (r, _) = sp(r)?;
        let (r, data) = nstring(r)?;
        return Ok((
            r,
            FetchItem::BodySection {
                section: s,
                origin,
                data,
            },
        ));
    }
    let (r, _) = sp(r)?;
    match k.len() {
        3 if is("UID") => {
            let (r, n) = nz_number(r)?;
            Ok((r, FetchItem::Uid(n)))
        }
        5 if is("FLAGS") => {
            let (r, f) = flag_list(r)?;
            Ok((r, FetchItem::Flags(f)))
        }
        6 if is("MODSEQ") => {
            let (r, _) = byte(b'(', "(")(r)?;
            // permsg-modsequence is non-zero; 0 is accepted here.
            let (r, n) = mod_sequence_value(r)?;
            let (r, _) = byte(b')', ")")(r)?;
            Ok((r, FetchItem::ModSeq(n)))
        }
        8 if is("ENVELOPE") => {
            let (r, e) = envelope(r)?;
            Ok((r, FetchItem::Envelope(Box::new(e))))
        }
        12 if is("INTERNALDATE") => {
            let (r, d) = date_time(r)?;
            Ok((r, FetchItem::InternalDate(d)))
        }
        11 if is("RFC822.SIZE") => {
            let (r, n) = number(r)?;
            Ok((r, FetchItem::Rfc822Size(n)))
        }
        6 if is("RFC822") => {
            let (r, s) = nstring(r)?;
            Ok((r, FetchItem::Rfc822(s)))
        }
        13 if is("RFC822.HEADER") => {
            let (r, s) = nstring(r)?;
            Ok((r, FetchItem::Rfc822Header(s)))
        }
        11 if is("RFC822.TEXT") => {
            let (r, s) = nstring(r)?;
            Ok((r, FetchItem::Rfc822Text(s)))
        }
        4 if is("BODY") => {
            let (r, b) = body(r, 0)?;
            Ok((r, FetchItem::Body(Box::new(b))))
        }
        13 if is("BODYSTRUCTURE") => {
            let (r, b) = body(r, 0)?;
            Ok((r, FetchItem::BodyStructure(Box::new(b))))
        }
        _ => fatal(i, "msg-att"),
    }
}

/// `envelope = "(" env-date SP env-subject SP env-from SP env-sender SP
/// env-reply-to SP env-to SP env-cc SP env-bcc SP env-in-reply-to SP
/// env-message-id ")"` (RFC 3501 §9).
pub fn envelope(i: &[u8]) -> PResult<'_, Envelope> {
    let (i, _) = byte(b'(', "( (envelope)")(i)?;
    let (i, date) = nstring(i)?;
    let (i, _) = sp(i)?;
    let (i, subject) = nstring(i)?;
    let (i, _) = sp(i)?;
    let (i, from) = env_addresses(i)?;
    let (i, _) = sp(i)?;
    let (i, sender) = env_addresses(i)?;
    let (i, _) = sp(i)?;
    let (i, reply_to) = env_addresses(i)?;
    let (i, _) = sp(i)?;
    let (i, to) = env_addresses(i)?;
    let (i, _) = sp(i)?;
    let (i, cc) = env_addresses(i)?;
    let (i, _) = sp(i)?;
    let (i, bcc) = env_addresses(i)?;
    let (i, _) = sp(i)?;
    let (i, in_reply_to) = nstring(i)?;
    let (i, _) = sp(i)?;
    let (i, message_id) = nstring(i)?;
    let (i, _) = byte(b')', ") (envelope)")(i)?;
    Ok((
        i,
        Envelope {
            date,
            subject,
            from,
            sender,
            reply_to,
            to,
            cc,
            bcc,
            in_reply_to,
            message_id,
        },
    ))
}

/// `env-from = "(" 1*address ")" / nil` (and the other address lists;
/// RFC 3501 §9).
fn env_addresses(i: &[u8]) -> PResult<'_, Vec<crate::response::Address>> {
    match i.first() {
        None => incomplete(),
        Some(b'(') => {
            let mut i = &i[1..];
            let mut out = Vec::with_capacity(1);
            loop {
                let (r, a) = address(i)?;
                out.push(a);
                match r.first() {
                    None => return incomplete(),
                    Some(b')') => return Ok((&r[1..], out)),
                    // Addresses are written back to back; some servers put
                    // a space between them.
                    Some(b' ') => i = &r[1..],
                    Some(_) => i = r,
                }
            }
        }
        Some(_) => {
            let (r, _) = nil(i)?;
            Ok((r, Vec::new()))
        }
    }
}

/// `address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"`
/// (RFC 3501 §9).
fn address(i: &[u8]) -> PResult<'_, crate::response::Address> {
    let (i, _) = byte(b'(', "( (address)")(i)?;
    let (i, name) = nstring(i)?;
    let (i, _) = sp(i)?;
    let (i, adl) = nstring(i)?;
    let (i, _) = sp(i)?;
    let (i, mailbox) = nstring(i)?;
    let (i, _) = sp(i)?;
    let (i, host) = nstring(i)?;
    let (i, _) = byte(b')', ") (address)")(i)?;
    Ok((
        i,
        crate::response::Address {
            name,
            adl,
            mailbox,
            host,
        },
    ))
}

const MAX_BODY_DEPTH: usize = 32;

/// `body = "(" (body-type-1part / body-type-mpart) ")"` (RFC 3501 §9).
pub fn body(i: &[u8], depth: usize) -> PResult<'_, Body> {
    if depth > MAX_BODY_DEPTH {
        return fatal(i, "body structure nested at most 32 deep");
    }
    let (i, _) = byte(b'(', "( (body)")(i)?;
    let (i, b) = if i.first() == Some(&b'(') {
        body_type_mpart(i, depth)?
    } else {
        body_type_1part(i, depth)?
    };
    let (i, _) = byte(b')', ") (body)")(i)?;
    Ok((i, b))
}

/// `body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]`
/// (RFC 3501 §9).
fn body_type_mpart(i: &[u8], depth: usize) -> PResult<'_, Body> {
    let mut parts = Vec::new();
    let mut i = i;
    while i.first() == Some(&b'(') {
        let (r, b) = body(i, depth + 1)?;
        parts.push(b);
        i = r;
    }
    if i.is_empty() {
        return incomplete();
    }
    let (i, _) = sp(i)?;
    let (i, subtype) = string(i)?;
    let (i, ext) = if i.first() == Some(&b' ') {
        // body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang
        //                  [SP body-fld-loc *(SP body-extension)]]]
        let (r, params) = body_fld_param(&i[1..])?;
        let (r, tail) = ext_tail(r, depth)?;
        (r, Some(MultiExt { params, tail }))
    } else {
        (i, None)
    };
    Ok((
        i,
        Body::Multi {
            parts: Vec1::from_nonempty(parts),
            subtype,
            ext,
        },
    ))
}

/// `body-type-1part = (body-type-basic / body-type-msg / body-type-text)
/// [SP body-ext-1part]` (RFC 3501 §9).
fn body_type_1part(i: &[u8], depth: usize) -> PResult<'_, Body> {
    // media-basic / media-message / media-text: "type" SP "subtype"
    let (i, media_type) = string(i)?;
    let (i, _) = sp(i)?;
    let (i, subtype) = string(i)?;
    let (i, _) = sp(i)?;
    let (i, fields) = body_fields(i)?;
    let is_text = media_type.as_bytes().eq_ignore_ascii_case(b"TEXT");
    // media-message is MESSAGE/RFC822 (RFC 9051 adds GLOBAL); any MESSAGE
    // subtype followed by an envelope is read as one, since body-fld-md5
    // (the alternative) never starts with "(".
    let is_msg = media_type.as_bytes().eq_ignore_ascii_case(b"MESSAGE");
    let (i, kind) = match (i.first(), i.get(1)) {
        (Some(b' '), Some(b'0'..=b'9')) if is_text => {
            // body-type-text = media-text SP body-fields SP body-fld-lines
            let (r, lines) = number(&i[1..])?;
            (r, SingleKind::Text { subtype, lines })
        }
        (Some(b' '), Some(b'(')) if is_msg => {
            // body-type-msg = media-message SP body-fields SP envelope SP
            //                 body SP body-fld-lines
            let (r, env) = envelope(&i[1..])?;
            let (r, _) = sp(r)?;
            let (r, b) = body(r, depth + 1)?;
            let (r, _) = sp(r)?;
            let (r, lines) = number(r)?;
            (
                r,
                SingleKind::Message {
                    subtype,
                    envelope: Box::new(env),
                    body: Box::new(b),
                    lines,
                },
            )
        }
        (Some(b' '), None) | (None, _) => return incomplete(),
        _ => (
            i,
            SingleKind::Basic {
                media_type,
                subtype,
            },
        ),
    };
    let (i, ext) = if i.first() == Some(&b' ') {
        // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
        //                  [SP body-fld-loc *(SP body-extension)]]]
        let (r, md5) = nstring(&i[1..])?;
        let (r, tail) = ext_tail(r, depth)?;
        (r, Some(SingleExt { md5, tail }))
    } else {
        (i, None)
    };
    Ok((i, Body::Single { kind, fields, ext }))
}

/// `[SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP
/// body-extension)]]]` (RFC 3501 §9).
fn ext_tail(i: &[u8], depth: usize) -> PResult<'_, Option<ExtTail>> {
    if i.first() != Some(&b' ') {
        return if i.is_empty() {
            incomplete()
        } else {
            Ok((i, None))
        };
    }
    let (i, disposition) = body_fld_dsp(&i[1..])?;
    if i.first() != Some(&b' ') {
        return if i.is_empty() {
            incomplete()
        } else {
            Ok((
                i,
                Some(ExtTail {
                    disposition,
                    lang: None,
                }),
            ))
        };
    }
    let (i, lang) = body_fld_lang(&i[1..])?;
    if i.first() != Some(&b' ') {
        return if i.is_empty() {
            incomplete()
        } else {
            Ok((
                i,
                Some(ExtTail {
                    disposition,
                    lang: Some(LangTail {
                        lang,
                        location: None,
                    }),
                }),
            ))
        };
    }
    // body-fld-loc = nstring
    let (mut i, loc) = nstring(&i[1..])?;
    let mut exts = Vec::new();
    while i.first() == Some(&b' ') {
        let (r, e) = body_extension(&i[1..], depth + 1)?;
        exts.push(e);
        i = r;
    }
    if i.is_empty() {
        return incomplete();
    }
    Ok((
        i,
        Some(ExtTail {
            disposition,
            lang: Some(LangTail {
                lang,
                location: Some((loc, exts)),
            }),
        }),
    ))
}

/// `body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP
/// body-fld-enc SP body-fld-octets` (RFC 3501 §9).
fn body_fields(i: &[u8]) -> PResult<'_, BodyFields> {
    let (i, params) = body_fld_param(i)?;
    let (i, _) = sp(i)?;
    let (i, id) = nstring(i)?;
    let (i, _) = sp(i)?;
    let (i, description) = nstring(i)?;
    let (i, _) = sp(i)?;
    let (i, encoding) = string(i)?;
    let (i, _) = sp(i)?;
    let (i, octets) = number(i)?;
    Ok((
        i,
        BodyFields {
            params,
            id,
            description,
            encoding,
            octets,
        },
    ))
}

/// `body-fld-param = "(" string SP string *(SP string SP string) ")" / nil`
/// (RFC 3501 §9).
fn body_fld_param(i: &[u8]) -> PResult<'_, Vec<(IString, IString)>> {
    match i.first() {
        None => incomplete(),
        Some(b'(') => {
            let (r, v) = paren_list1(i, |i| {
                let (i, k) = string(i)?;
                let (i, _) = sp(i)?;
                let (i, v) = string(i)?;
                Ok((i, (k, v)))
            })?;
            Ok((r, v.into_vec()))
        }
        Some(_) => {
            let (r, _) = nil(i)?;
            Ok((r, Vec::new()))
        }
    }
}

type Disposition = Option<(IString, Vec<(IString, IString)>)>;

/// `body-fld-dsp = "(" string SP body-fld-param ")" / nil` (RFC 3501 §9).
fn body_fld_dsp(i: &[u8]) -> PResult<'_, Disposition> {
    match i.first() {
        None => incomplete(),
        Some(b'(') => {
            let (i, s) = string(&i[1..])?;
            let (i, _) = sp(i)?;
            let (i, p) = body_fld_param(i)?;
            let (i, _) = byte(b')', ")")(i)?;
            Ok((i, Some((s, p))))
        }
        Some(_) => {
            let (r, _) = nil(i)?;
            Ok((r, None))
        }
    }
}

/// `body-fld-lang = nstring / "(" string *(SP string) ")"` (RFC 3501 §9).
fn body_fld_lang(i: &[u8]) -> PResult<'_, Lang> {
    if i.first() == Some(&b'(') {
        let (r, v) = paren_list1(i, string)?;
        return Ok((r, Lang::List(v)));
    }
    let (r, s) = nstring(i)?;
    Ok((r, Lang::Single(s)))
}

/// `body-extension = nstring / number / "(" body-extension *(SP
/// body-extension) ")"` (RFC 3501 §9).
fn body_extension(i: &[u8], depth: usize) -> PResult<'_, BodyExtension> {
    if depth > MAX_BODY_DEPTH {
        return fatal(i, "body extensions nested at most 32 deep");
    }
    match i.first() {
        None => incomplete(),
        Some(b'(') => {
            let (r, v) = paren_list1(i, |i| body_extension(i, depth + 1))?;
            Ok((r, BodyExtension::List(v)))
        }
        Some(b'0'..=b'9') => {
            let (r, n) = number(i)?;
            Ok((r, BodyExtension::Number(n)))
        }
        Some(_) => {
            let (r, s) = nstring(i)?;
            Ok((r, BodyExtension::NString(s)))
        }
    }
}
