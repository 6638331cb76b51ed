//! Command parsers (RFC 3501 §9, RFC 9051 §9 and extensions).

use super::core::*;
use crate::command::*;
use crate::types::Vec1;
use crate::xaps;

/// `command = tag SP (command-any / command-auth / command-nonauth /
/// command-select) CRLF` (RFC 3501 §9).
pub fn command(i: &[u8]) -> PResult<'_, Command> {
    let (i, t) = tag(i)?;
    let (i, _) = cut(sp(i))?;
    let (i, body) = cut(command_body(i))?;
    let (i, _) = cut(crlf(i))?;
    Ok((i, Command { tag: t, body }))
}

fn command_body(i: &[u8]) -> PResult<'_, CommandBody> {
    let (r, name) = keyword(i)?;
    let up = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    // command-any / command-nonauth / command-auth / command-select
    if up("CAPABILITY") {
        Ok((r, CommandBody::Capability))
    } else if up("NOOP") {
        Ok((r, CommandBody::Noop))
    } else if up("LOGOUT") {
        Ok((r, CommandBody::Logout))
    } else if up("STARTTLS") {
        Ok((r, CommandBody::StartTls))
    } else if up("AUTHENTICATE") {
        authenticate(r)
    } else if up("LOGIN") {
        login(r)
    } else if up("ENABLE") {
        enable(r)
    } else if up("SELECT") {
        select(r, false)
    } else if up("EXAMINE") {
        select(r, true)
    } else if up("CREATE") {
        let (r, m) = preceded_sp(r, mailbox)?;
        Ok((r, CommandBody::Create(m)))
    } else if up("DELETE") {
        let (r, m) = preceded_sp(r, mailbox)?;
        Ok((r, CommandBody::Delete(m)))
    } else if up("RENAME") {
        let (r, from) = preceded_sp(r, mailbox)?;
        let (r, to) = preceded_sp(r, mailbox)?;
        Ok((r, CommandBody::Rename { from, to }))
    } else if up("SUBSCRIBE") {
        let (r, m) = preceded_sp(r, mailbox)?;
        Ok((r, CommandBody::Subscribe(m)))
    } else if up("UNSUBSCRIBE") {
        let (r, m) = preceded_sp(r, mailbox)?;
        Ok((r, CommandBody::Unsubscribe(m)))
    } else if up("LIST") {
        let (r, reference) = preceded_sp(r, mailbox)?;
        let (r, pattern) = preceded_sp(r, list_mailbox)?;
        Ok((r, CommandBody::List { reference, pattern }))
    } else if up("STATUS") {
        status(r)
    } else if up("APPEND") {
        append(r)
    } else if up("CHECK") {
        Ok((r, CommandBody::Check))
    } else if up("CLOSE") {
        Ok((r, CommandBody::Close))
    } else if up("UNSELECT") {
        Ok((r, CommandBody::Unselect))
    } else if up("EXPUNGE") {
        Ok((r, CommandBody::Expunge))
    } else if up("SEARCH") {
        search(r, false)
    } else if up("FETCH") {
        fetch(r, false)
    } else if up("STORE") {
        store(r, false)
    } else if up("COPY") {
        copy_or_move(r, false, false)
    } else if up("MOVE") {
        copy_or_move(r, false, true)
    } else if up("UID") {
        uid(r)
    } else if up("IDLE") {
        Ok((r, CommandBody::Idle))
    } else if up("XAPPLEPUSHSERVICE") {
        let (r, x) = xaps::xaps_command_params(r)?;
        Ok((r, CommandBody::XApplePushService(x)))
    } else {
        fatal(i, "command name")
    }
}

#[inline]
fn preceded_sp<'a, T>(i: &'a [u8], f: impl FnOnce(&'a [u8]) -> PResult<'a, T>) -> PResult<'a, T> {
    let (i, _) = sp(i)?;
    f(i)
}

/// `uid = "UID" SP ("COPY" / "MOVE" / "FETCH" / "SEARCH" / "STORE" /
/// "EXPUNGE")` (RFC 3501 §9, RFC 6851 §4, RFC 4315 §4).
fn uid(i: &[u8]) -> PResult<'_, CommandBody> {
    let (i, _) = sp(i)?;
    let (r, name) = keyword(i)?;
    let up = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    if up("FETCH") {
        fetch(r, true)
    } else if up("SEARCH") {
        search(r, true)
    } else if up("STORE") {
        store(r, true)
    } else if up("COPY") {
        copy_or_move(r, true, false)
    } else if up("MOVE") {
        copy_or_move(r, true, true)
    } else if up("EXPUNGE") {
        let (r, s) = preceded_sp(r, sequence_set)?;
        Ok((r, CommandBody::UidExpunge(s)))
    } else {
        fatal(i, "UID command (FETCH, SEARCH, STORE, COPY, MOVE, EXPUNGE)")
    }
}

/// `authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]`
/// (RFC 3501 §9 with RFC 4959 SASL-IR).
fn authenticate(i: &[u8]) -> PResult<'_, CommandBody> {
    let (i, mechanism) = preceded_sp(i, atom)?;
    match i.first() {
        Some(b' ') => {
            let i = &i[1..];
            if i.first() == Some(&b'=') && i.get(1).is_none_or(|&b| b == b'\r') {
                if i.len() < 2 {
                    return incomplete();
                }
                return Ok((
                    &i[1..],
                    CommandBody::Authenticate {
                        mechanism,
                        initial_response: Some(Vec::new()),
                    },
                ));
            }
            let (i, ir) = base64(i)?;
            if ir.is_empty() {
                return expected(i, "base64 or =");
            }
            Ok((
                i,
                CommandBody::Authenticate {
                    mechanism,
                    initial_response: Some(ir),
                },
            ))
        }
        _ => Ok((
            i,
            CommandBody::Authenticate {
                mechanism,
                initial_response: None,
            },
        )),
    }
}

/// `login = "LOGIN" SP userid SP password` (RFC 3501 §9).
fn login(i: &[u8]) -> PResult<'_, CommandBody> {
    let (i, username) = preceded_sp(i, astring)?;
    let (i, password) = preceded_sp(i, astring)?;
    Ok((i, CommandBody::Login { username, password }))
}

/// `enable = "ENABLE" 1*(SP capability)` (RFC 5161 §4).
fn enable(i: &[u8]) -> PResult<'_, CommandBody> {
    let (mut i, first) = preceded_sp(i, capability)?;
    let mut caps = vec![first];
    while i.first() == Some(&b' ') {
        let (r, c) = capability(&i[1..])?;
        caps.push(c);
        i = r;
    }
    if i.is_empty() {
        return incomplete();
    }
    Ok((i, CommandBody::Enable(Vec1::from_nonempty(caps))))
}

/// `select = "SELECT" SP mailbox [select-params]`, `examine`; `select-params
/// = SP "(" select-param *(SP select-param) ")"` (RFC 3501 §9, RFC 4466,
/// RFC 7162 §7).
fn select(i: &[u8], examine: bool) -> PResult<'_, CommandBody> {
    let (i, mailbox) = preceded_sp(i, mailbox)?;
    let (i, params) = match i.first() {
        None => return incomplete(),
        Some(b' ') => {
            let (i, p) = paren_list1(&i[1..], select_param)?;
            (i, p.into_vec())
        }
        Some(_) => (i, Vec::new()),
    };
    Ok((
        i,
        CommandBody::Select {
            examine,
            mailbox,
            params,
        },
    ))
}

/// `select-param =/ condstore-param / "QRESYNC" SP "(" uidvalidity SP
/// mod-sequence-value [SP known-uids] [SP seq-match-data] ")"`
/// (RFC 7162 §7).
fn select_param(i: &[u8]) -> PResult<'_, SelectParam> {
    let (r, name) = keyword(i)?;
    if name.eq_ignore_ascii_case(b"CONDSTORE") {
        return Ok((r, SelectParam::CondStore));
    }
    if !name.eq_ignore_ascii_case(b"QRESYNC") {
        return fatal(i, "CONDSTORE or QRESYNC");
    }
    let (i, _) = sp(r)?;
    let (i, _) = byte(b'(', "(")(i)?;
    let (i, uid_validity) = nz_number(i)?;
    let (i, mod_seq) = preceded_sp(i, mod_sequence_value)?;
    let mut known_uids = None;
    let mut seq_match = None;
    let mut i = i;
    if i.first() == Some(&b' ') && i.get(1) != Some(&b'(') {
        let (r, k) = sequence_set(&i[1..])?;
        known_uids = Some(k);
        i = r;
    }
    if i.first() == Some(&b' ') {
        // seq-match-data = "(" known-sequence-set SP known-uid-set ")"
        let (r, _) = byte(b'(', "(")(&i[1..])?;
        let (r, a) = sequence_set(r)?;
        let (r, b) = preceded_sp(r, sequence_set)?;
        let (r, _) = byte(b')', ")")(r)?;
        seq_match = Some((a, b));
        i = r;
    }
    let (i, _) = byte(b')', ")")(i)?;
    Ok((
        i,
        SelectParam::QResync(QResync {
            uid_validity,
            mod_seq,
            known_uids,
            seq_match,
        }),
    ))
}

/// `status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"`
/// (RFC 3501 §9, RFC 7162 §7).
fn status(i: &[u8]) -> PResult<'_, CommandBody> {
    let (i, mailbox) = preceded_sp(i, mailbox)?;
    let (i, items) = preceded_sp(i, |i| paren_list1(i, status_att))?;
    Ok((i, CommandBody::Status { mailbox, items }))
}

/// `status-att = "MESSAGES" / "RECENT" / "UIDNEXT" / "UIDVALIDITY" /
/// "UNSEEN"` (RFC 3501 §9) `/ "HIGHESTMODSEQ"` (RFC 7162 §7).
pub fn status_att(i: &[u8]) -> PResult<'_, StatusAttribute> {
    let (r, k) = keyword(i)?;
    let a = if k.eq_ignore_ascii_case(b"MESSAGES") {
        StatusAttribute::Messages
    } else if k.eq_ignore_ascii_case(b"RECENT") {
        StatusAttribute::Recent
    } else if k.eq_ignore_ascii_case(b"UIDNEXT") {
        StatusAttribute::UidNext
    } else if k.eq_ignore_ascii_case(b"UIDVALIDITY") {
        StatusAttribute::UidValidity
    } else if k.eq_ignore_ascii_case(b"UNSEEN") {
        StatusAttribute::Unseen
    } else if k.eq_ignore_ascii_case(b"HIGHESTMODSEQ") {
        StatusAttribute::HighestModSeq
    } else {
        return expected(i, "status-att");
    };
    Ok((r, a))
}

/// `append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal`
/// (RFC 3501 §9, RFC 7888 literal+).
fn append(i: &[u8]) -> PResult<'_, CommandBody> {
    let (i, mailbox) = preceded_sp(i, mailbox)?;
    let (mut i, _) = sp(i)?;
    let mut flags = None;
    let mut date = None;
    if i.first() == Some(&b'(') {
        let (r, f) = flag_list(i)?;
        let (r, _) = sp(r)?;
        flags = Some(f);
        i = r;
    }
    if i.first() == Some(&b'"') {
        let (r, d) = date_time(i)?;
        let (r, _) = sp(r)?;
        date = Some(d);
        i = r;
    }
    let (i, (data, synchronizing)) = literal(i)?;
    Ok((
        i,
        CommandBody::Append {
            mailbox,
            flags,
            date,
            message: data.to_vec(),
            synchronizing,
        },
    ))
}

/// `search = "SEARCH" [SP "CHARSET" SP astring] 1*(SP search-key)`
/// (RFC 3501 §9).
fn search(i: &[u8], uid: bool) -> PResult<'_, CommandBody> {
    let (mut i, _) = sp(i)?;
    let mut charset = None;
    if peek_kw(i, "CHARSET ") == Some(true) {
        let (r, cs) = astring(&i[8..])?;
        let (r, _) = sp(r)?;
        charset = Some(cs);
        i = r;
    } else if peek_kw(i, "CHARSET ").is_none() {
        return incomplete();
    }
    let (mut i, first) = search_key(i, 0)?;
    let mut keys = vec![first];
    while i.first() == Some(&b' ') {
        let (r, k) = search_key(&i[1..], 0)?;
        keys.push(k);
        i = r;
    }
    if i.is_empty() {
        return incomplete();
    }
    Ok((
        i,
        CommandBody::Search {
            uid,
            charset,
            criteria: Vec1::from_nonempty(keys),
        },
    ))
}

const MAX_SEARCH_DEPTH: usize = 32;

/// `search-key` (RFC 3501 §9, RFC 7162 §7 `search-modsequence`).
pub fn search_key(i: &[u8], depth: usize) -> PResult<'_, SearchKey> {
    if depth > MAX_SEARCH_DEPTH {
        return fatal(i, "search keys nested at most 32 deep");
    }
    match i.first() {
        None => return incomplete(),
        Some(b'(') => {
            let (r, v) = paren_list1(i, |i| search_key(i, depth + 1))?;
            return Ok((r, SearchKey::And(v)));
        }
        Some(b'0'..=b'9' | b'*') => {
            let (r, s) = sequence_set(i)?;
            return Ok((r, SearchKey::SequenceSet(s)));
        }
        _ => {}
    }
    let (r, k) = keyword(i)?;
    let is = |s: &str| k.eq_ignore_ascii_case(s.as_bytes());
    let s1 = |r, f: fn(crate::types::IString) -> SearchKey| -> PResult<'_, SearchKey> {
        let (r, s) = preceded_sp(r, astring)?;
        Ok((r, f(s)))
    };
    let d1 = |r, f: fn(crate::types::Date) -> SearchKey| -> PResult<'_, SearchKey> {
        let (r, d) = preceded_sp(r, date)?;
        Ok((r, f(d)))
    };
    let k0 = |v: SearchKey| -> PResult<'_, SearchKey> { Ok((r, v)) };
    match k.len() {
        _ if is("ALL") => k0(SearchKey::All),
        _ if is("ANSWERED") => k0(SearchKey::Answered),
        _ if is("BCC") => s1(r, SearchKey::Bcc),
        _ if is("BEFORE") => d1(r, SearchKey::Before),
        _ if is("BODY") => s1(r, SearchKey::Body),
        _ if is("CC") => s1(r, SearchKey::Cc),
        _ if is("DELETED") => k0(SearchKey::Deleted),
        _ if is("DRAFT") => k0(SearchKey::Draft),
        _ if is("FLAGGED") => k0(SearchKey::Flagged),
        _ if is("FROM") => s1(r, SearchKey::From),
        _ if is("HEADER") => {
            let (r, f) = preceded_sp(r, astring)?;
            let (r, v) = preceded_sp(r, astring)?;
            Ok((r, SearchKey::Header(f, v)))
        }
        _ if is("KEYWORD") => {
            let (r, a) = preceded_sp(r, atom)?;
            Ok((r, SearchKey::Keyword(a)))
        }
        _ if is("LARGER") => {
            let (r, n) = preceded_sp(r, number)?;
            Ok((r, SearchKey::Larger(n)))
        }
        _ if is("NEW") => k0(SearchKey::New),
        _ if is("NOT") => {
            let (r, key) = preceded_sp(r, |i| search_key(i, depth + 1))?;
            Ok((r, SearchKey::Not(Box::new(key))))
        }
        _ if is("OLD") => k0(SearchKey::Old),
        _ if is("ON") => d1(r, SearchKey::On),
        _ if is("OR") => {
            let (r, a) = preceded_sp(r, |i| search_key(i, depth + 1))?;
            let (r, b) = preceded_sp(r, |i| search_key(i, depth + 1))?;
            Ok((r, SearchKey::Or(Box::new(a), Box::new(b))))
        }
        _ if is("RECENT") => k0(SearchKey::Recent),
        _ if is("SEEN") => k0(SearchKey::Seen),
        _ if is("SENTBEFORE") => d1(r, SearchKey::SentBefore),
        _ if is("SENTON") => d1(r, SearchKey::SentOn),
        _ if is("SENTSINCE") => d1(r, SearchKey::SentSince),
        _ if is("SINCE") => d1(r, SearchKey::Since),
        _ if is("SMALLER") => {
            let (r, n) = preceded_sp(r, number)?;
            Ok((r, SearchKey::Smaller(n)))
        }
        _ if is("SUBJECT") => s1(r, SearchKey::Subject),
        _ if is("TEXT") => s1(r, SearchKey::Text),
        _ if is("TO") => s1(r, SearchKey::To),
        _ if is("UID") => {
            let (r, s) = preceded_sp(r, sequence_set)?;
            Ok((r, SearchKey::Uid(s)))
        }
        _ if is("UNANSWERED") => k0(SearchKey::Unanswered),
        _ if is("UNDELETED") => k0(SearchKey::Undeleted),
        _ if is("UNDRAFT") => k0(SearchKey::Undraft),
        _ if is("UNFLAGGED") => k0(SearchKey::Unflagged),
        _ if is("UNKEYWORD") => {
            let (r, a) = preceded_sp(r, atom)?;
            Ok((r, SearchKey::Unkeyword(a)))
        }
        _ if is("UNSEEN") => k0(SearchKey::Unseen),
        _ if is("MODSEQ") => search_modsequence(r),
        _ => fatal(i, "search-key"),
    }
}

/// `search-modsequence = "MODSEQ" [search-modseq-ext] SP
/// mod-sequence-valzer`, `search-modseq-ext = SP entry-name SP
/// entry-type-req` (RFC 7162 §7).
fn search_modsequence(i: &[u8]) -> PResult<'_, SearchKey> {
    let (i, _) = sp(i)?;
    if matches!(i.first(), Some(b'"' | b'{')) {
        let (r, name) = string(i)?;
        let (r, _) = sp(r)?;
        let (r, t) = keyword(r)?;
        let et = if t.eq_ignore_ascii_case(b"priv") {
            EntryType::Private
        } else if t.eq_ignore_ascii_case(b"shared") {
            EntryType::Shared
        } else if t.eq_ignore_ascii_case(b"all") {
            EntryType::All
        } else {
            return fatal(r, "entry-type-req (priv, shared, all)");
        };
        let (r, m) = preceded_sp(r, mod_sequence_valzer)?;
        return Ok((
            r,
            SearchKey::ModSeq {
                entry: Some((name, et)),
                mod_seq: m,
            },
        ));
    }
    let (i, m) = mod_sequence_valzer(i)?;
    Ok((
        i,
        SearchKey::ModSeq {
            entry: None,
            mod_seq: m,
        },
    ))
}

/// `fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
/// fetch-att / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]`
/// (RFC 3501 §9, RFC 4466 §2.4, RFC 7162 §7).
fn fetch(i: &[u8], uid: bool) -> PResult<'_, CommandBody> {
    let (i, set) = preceded_sp(i, sequence_set)?;
    let (i, _) = sp(i)?;
    let (i, attributes) = if i.first() == Some(&b'(') {
        let (r, v) = paren_list1(i, fetch_att)?;
        (r, FetchAttributes::List(v))
    } else {
        let (r, k) = keyword(i)?;
        if k.eq_ignore_ascii_case(b"ALL") {
            (r, FetchAttributes::All)
        } else if k.eq_ignore_ascii_case(b"FULL") {
            (r, FetchAttributes::Full)
        } else if k.eq_ignore_ascii_case(b"FAST") {
            (r, FetchAttributes::Fast)
        } else {
            let (r, a) = fetch_att(i)?;
            (r, FetchAttributes::List(Vec1::one(a)))
        }
    };
    let mut changed_since = None;
    let mut vanished = false;
    let i = if i.first() == Some(&b' ') {
        // fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
        // (RFC 4466 §2.4). A modifier given twice has no meaning: refused
        // rather than one of the two kept.
        let (r, _) = paren_list1(&i[1..], |m| {
            let (r, v) = fetch_modifier(m)?;
            match v {
                FetchMod::ChangedSince(_) if changed_since.is_some() => {
                    fatal(m, "CHANGEDSINCE at most once")
                }
                FetchMod::Vanished if vanished => fatal(m, "VANISHED at most once"),
                FetchMod::ChangedSince(n) => {
                    changed_since = Some(n);
                    Ok((r, ()))
                }
                FetchMod::Vanished => {
                    vanished = true;
                    Ok((r, ()))
                }
            }
        })?;
        r
    } else {
        i
    };
    Ok((
        i,
        CommandBody::Fetch {
            uid,
            set,
            attributes,
            changed_since,
            vanished,
        },
    ))
}

enum FetchMod {
    ChangedSince(u64),
    Vanished,
}

/// `fetch-modifier =/ chgsince-fetch-mod / "VANISHED"`,
/// `chgsince-fetch-mod = "CHANGEDSINCE" SP mod-sequence-value`
/// (RFC 7162 §7).
fn fetch_modifier(i: &[u8]) -> PResult<'_, FetchMod> {
    let (r, k) = keyword(i)?;
    if k.eq_ignore_ascii_case(b"CHANGEDSINCE") {
        let (r, n) = preceded_sp(r, mod_sequence_value)?;
        Ok((r, FetchMod::ChangedSince(n)))
    } else if k.eq_ignore_ascii_case(b"VANISHED") {
        Ok((r, FetchMod::Vanished))
    } else {
        fatal(i, "fetch-modifier (CHANGEDSINCE, VANISHED)")
    }
}

/// `fetch-att` (RFC 3501 §9; `"MODSEQ"` from RFC 7162 §7).
pub fn fetch_att(i: &[u8]) -> PResult<'_, FetchAttribute> {
    let (r, k) = keyword(i)?;
    let is = |s: &str| k.eq_ignore_ascii_case(s.as_bytes());
    let a = if is("ENVELOPE") {
        FetchAttribute::Envelope
    } else if is("FLAGS") {
        FetchAttribute::Flags
    } else if is("INTERNALDATE") {
        FetchAttribute::InternalDate
    } else if is("RFC822") {
        FetchAttribute::Rfc822
    } else if is("RFC822.HEADER") {
        FetchAttribute::Rfc822Header
    } else if is("RFC822.SIZE") {
        FetchAttribute::Rfc822Size
    } else if is("RFC822.TEXT") {
        FetchAttribute::Rfc822Text
    } else if is("BODYSTRUCTURE") {
        FetchAttribute::BodyStructure
    } else if is("UID") {
        FetchAttribute::Uid
    } else if is("MODSEQ") {
        FetchAttribute::ModSeq
    } else if is("BODY") || is("BODY.PEEK") {
        let peek = is("BODY.PEEK");
        if r.first() == Some(&b'[') {
            let (r, s) = section(r)?;
            let (r, partial) = if r.first() == Some(&b'<') {
                // "<" number "." nz-number ">"
                let (r, a) = number(&r[1..])?;
                let (r, _) = byte(b'.', ".")(r)?;
                let (r, b) = nz_number(r)?;
                let (r, _) = byte(b'>', ">")(r)?;
                (r, Some((a, b)))
            } else if r.is_empty() {
                return incomplete();
            } else {
                (r, None)
            };
            return Ok((
                r,
                FetchAttribute::BodySection {
                    peek,
                    section: s,
                    partial,
                },
            ));
        }
        if peek {
            return expected(r, "[ after BODY.PEEK");
        }
        FetchAttribute::Body
    } else {
        return fatal(i, "fetch-att");
    };
    Ok((r, a))
}

/// `section = "[" [section-spec] "]"` (RFC 3501 §9).
pub fn section(i: &[u8]) -> PResult<'_, Section> {
    let (i, _) = byte(b'[', "[")(i)?;
    if i.first() == Some(&b']') {
        return Ok((&i[1..], Section::Full));
    }
    let (i, s) = section_spec(i)?;
    let (i, _) = byte(b']', "]")(i)?;
    Ok((i, s))
}

/// `section-spec = section-msgtext / (section-part ["." section-text])`
/// (RFC 3501 §9).
fn section_spec(i: &[u8]) -> PResult<'_, Section> {
    if i.first().is_some_and(u8::is_ascii_digit) {
        // section-part = nz-number *("." nz-number)
        let (mut r, first) = nz_number(i)?;
        let mut part = vec![first];
        loop {
            match r {
                [b'.', d, ..] if d.is_ascii_digit() => {
                    let (r2, n) = nz_number(&r[1..])?;
                    part.push(n);
                    r = r2;
                }
                [b'.', ..] => {
                    let rest = &r[1..];
                    if peek_kw(rest, "MIME") == Some(true) {
                        return Ok((
                            &rest[4..],
                            Section::Part {
                                part: Vec1::from_nonempty(part),
                                text: Some(PartText::Mime),
                            },
                        ));
                    }
                    let (r2, t) = section_msgtext(rest)?;
                    return Ok((
                        r2,
                        Section::Part {
                            part: Vec1::from_nonempty(part),
                            text: Some(PartText::Msg(t)),
                        },
                    ));
                }
                [] => return incomplete(),
                _ => {
                    return Ok((
                        r,
                        Section::Part {
                            part: Vec1::from_nonempty(part),
                            text: None,
                        },
                    ));
                }
            }
        }
    }
    let (r, t) = section_msgtext(i)?;
    Ok((r, Section::Text(t)))
}

/// `section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
/// "TEXT"` (RFC 3501 §9).
fn section_msgtext(i: &[u8]) -> PResult<'_, SectionText> {
    let (r, k) = keyword(i)?;
    if k.eq_ignore_ascii_case(b"HEADER") {
        Ok((r, SectionText::Header))
    } else if k.eq_ignore_ascii_case(b"TEXT") {
        Ok((r, SectionText::Text))
    } else if k.eq_ignore_ascii_case(b"HEADER.FIELDS")
        || k.eq_ignore_ascii_case(b"HEADER.FIELDS.NOT")
    {
        let not = k.len() == b"HEADER.FIELDS.NOT".len();
        // header-list = "(" header-fld-name *(SP header-fld-name) ")"
        let (r, fields) = preceded_sp(r, |i| paren_list1(i, astring))?;
        Ok((r, SectionText::HeaderFields { not, fields }))
    } else {
        expected(i, "section-msgtext (HEADER, HEADER.FIELDS, TEXT, MIME)")
    }
}

/// `store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags`,
/// `store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list /
/// (flag *(SP flag)))` (RFC 3501 §9, RFC 7162 §7 `UNCHANGEDSINCE`).
fn store(i: &[u8], uid: bool) -> PResult<'_, CommandBody> {
    let (i, set) = preceded_sp(i, sequence_set)?;
    let (mut i, _) = sp(i)?;
    let mut unchanged_since = None;
    if i.first() == Some(&b'(') {
        let (r, _) = byte(b'(', "(")(i)?;
        let (r, _) = kw(r, "UNCHANGEDSINCE")?;
        let (r, n) = preceded_sp(r, mod_sequence_valzer)?;
        let (r, _) = byte(b')', ")")(r)?;
        let (r, _) = sp(r)?;
        unchanged_since = Some(n);
        i = r;
    }
    let (i, kind) = match i.first() {
        None => return incomplete(),
        Some(b'+') => (&i[1..], StoreKind::Add),
        Some(b'-') => (&i[1..], StoreKind::Remove),
        Some(_) => (i, StoreKind::Replace),
    };
    let (r, k) = keyword(i)?;
    let silent = if k.eq_ignore_ascii_case(b"FLAGS") {
        false
    } else if k.eq_ignore_ascii_case(b"FLAGS.SILENT") {
        true
    } else {
        return fatal(i, "FLAGS or FLAGS.SILENT");
    };
    let i = r;
    let (i, _) = sp(i)?;
    let (i, flags) = if i.first() == Some(&b'(') {
        flag_list(i)?
    } else {
        let (mut r, f) = flag(i)?;
        let mut v = vec![f];
        while r.first() == Some(&b' ') {
            let (r2, f) = flag(&r[1..])?;
            v.push(f);
            r = r2;
        }
        if r.is_empty() {
            return incomplete();
        }
        (r, v)
    };
    Ok((
        i,
        CommandBody::Store {
            uid,
            set,
            unchanged_since,
            kind,
            silent,
            flags,
        },
    ))
}

/// `copy = "COPY" SP sequence-set SP mailbox` (RFC 3501 §9), `move =
/// "MOVE" SP sequence-set SP mailbox` (RFC 6851 §4).
fn copy_or_move(i: &[u8], uid: bool, is_move: bool) -> PResult<'_, CommandBody> {
    let (i, set) = preceded_sp(i, sequence_set)?;
    let (i, mailbox) = preceded_sp(i, mailbox)?;
    Ok((
        i,
        if is_move {
            CommandBody::Move { uid, set, mailbox }
        } else {
            CommandBody::Copy { uid, set, mailbox }
        },
    ))
}

/// A client line during AUTHENTICATE: `base64 CRLF` or `"*" CRLF` to
/// cancel (RFC 3501 §6.2.2, §9 `authenticate`).
pub fn authenticate_data(i: &[u8]) -> PResult<'_, AuthenticateData> {
    if i.first() == Some(&b'*') {
        let (r, _) = crlf(&i[1..])?;
        return Ok((r, AuthenticateData::Cancel));
    }
    let (r, v) = base64(i)?;
    let (r, _) = cut(crlf(r))?;
    Ok((r, AuthenticateData::Continue(v)))
}

/// `idle = "IDLE" CRLF "DONE"` (RFC 2177 §3): the `"DONE" CRLF` line.
pub fn idle_done(i: &[u8]) -> PResult<'_, IdleDone> {
    let (r, _) = kw(i, "DONE")?;
    let (r, _) = crlf(r)?;
    Ok((r, IdleDone))
}
