//! LIST patterns (RFC 3501 §6.3.8): `*` matches anything, `%` anything but the hierarchy
//! delimiter, matched piece by piece between the `*`s so that a pattern of thousands of
//! wildcards costs about one pass over each name per piece.

/// LIST pattern matching (RFC 3501 §6.3.8): `*` matches anything, `%` anything but the
/// hierarchy delimiter; the rest compares exactly, except that `INBOX` is case-insensitive.
pub fn list_matches(pattern: &[u8], name: &[u8], delimiter: u8) -> bool {
    let name_norm: Vec<u8> = if name.eq_ignore_ascii_case(b"INBOX") {
        b"INBOX".to_vec()
    } else {
        name.to_vec()
    };
    let pat_norm: Vec<u8> = if pattern.len() >= 5 && pattern[..5].eq_ignore_ascii_case(b"INBOX") {
        let mut p = b"INBOX".to_vec();
        p.extend_from_slice(&pattern[5..]);
        p
    } else {
        pattern.to_vec()
    };
    glob(&pat_norm, &name_norm, delimiter)
}

fn glob(p: &[u8], n: &[u8], delim: u8) -> bool {
    glob_counting(p, n, delim, &mut 0)
}

/// One `*`-free piece of a pattern: literal octets and `%` (`None`).
type Segment = Vec<Option<u8>>;

/// The pattern as the `*`-free segments between its `*`s, and whether it starts and ends with
/// `*`. `**` is `*`, `%%` is `%`, and a `%` next to a `*` is absorbed by it, so that every `%`
/// in a segment is next to a literal octet and a segment is at most twice as long as its
/// literals plus one.
fn segments(p: &[u8]) -> (Vec<Segment>, bool, bool) {
    // `None` for `*`, `Some(None)` for `%`, `Some(Some(c))` for a literal.
    let mut toks: Vec<Option<Option<u8>>> = Vec::with_capacity(p.len());
    for &c in p {
        match c {
            b'*' => {
                while toks.last() == Some(&Some(None)) {
                    toks.pop();
                }
                if toks.last() != Some(&None) {
                    toks.push(None);
                }
            }
            b'%' => {
                if !matches!(toks.last(), Some(None | Some(None))) {
                    toks.push(Some(None));
                }
            }
            _ => toks.push(Some(Some(c))),
        }
    }
    let leading = toks.first() == Some(&None);
    let trailing = !toks.is_empty() && toks.last() == Some(&None);
    let mut segs: Vec<Segment> = toks
        .split(Option::is_none)
        .map(|s| s.iter().flatten().copied().collect())
        .collect();
    if trailing {
        segs.pop();
    }
    if leading {
        segs.remove(0);
    }
    (segs, leading, trailing)
}

/// Where the earliest match of `seg` in `n[from..]` ends (`anchored`: it must start at
/// `from`; `to_end`: it must end at the end of `n`). A set of positions in the segment is
/// carried along the name: each octet of the name costs one step per position, and each
/// octet is read once.
fn scan(
    seg: &[Option<u8>],
    n: &[u8],
    from: usize,
    anchored: bool,
    to_end: bool,
    delim: u8,
    steps: &mut u64,
) -> Option<usize> {
    let m = seg.len();
    let mut live = vec![false; m + 1];
    let mut next = vec![false; m + 1];
    // `%` may match nothing: a position before a `%` also reaches the one after it.
    let close = |set: &mut Vec<bool>| {
        for k in 0..m {
            if set[k] && seg[k].is_none() {
                set[k + 1] = true;
            }
        }
    };
    live[0] = true;
    close(&mut live);
    for i in from..=n.len() {
        if live[m] && (!to_end || i == n.len()) {
            return Some(i);
        }
        let Some(&c) = n.get(i) else { break };
        next.iter_mut().for_each(|s| *s = false);
        for k in 0..m {
            *steps += 1;
            if !live[k] {
                continue;
            }
            match seg[k] {
                Some(l) if l == c => next[k + 1] = true,
                None if c != delim => next[k] = true,
                _ => {}
            }
        }
        if !anchored {
            next[0] = true;
        }
        close(&mut next);
        std::mem::swap(&mut live, &mut next);
        if anchored && !live.contains(&true) {
            return None;
        }
    }
    None
}

/// [`glob`], counting the steps it takes: at most `(|pattern| + 1) · (|name| + 1)` and,
/// for a pattern whose `*`s cut it into short pieces, about `|name|` times the longest piece,
/// however many wildcards the pattern has.
fn glob_counting(p: &[u8], n: &[u8], delim: u8, steps: &mut u64) -> bool {
    let literal = p.iter().filter(|&&c| c != b'*' && c != b'%').count();
    if literal > n.len() {
        return false;
    }
    let (segs, leading, trailing) = segments(p);
    let last = segs.len().saturating_sub(1);
    let mut pos = 0;
    for (k, seg) in segs.iter().enumerate() {
        let anchored = k == 0 && !leading;
        let to_end = k == last && !trailing;
        match scan(seg, n, pos, anchored, to_end, delim, steps) {
            Some(end) => pos = end,
            None => return false,
        }
    }
    // Without a trailing `*` the last segment was matched up to the end; with one, `*` takes
    // the rest.
    trailing || pos == n.len()
}

/// `*` and `%` by plain recursion over the rules (RFC 3501 §6.3.8), exponential in the
/// wildcards: the reference the fast matcher is checked against.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn list_rules(p: &[u8], n: &[u8], delim: u8) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some((b'*', rest)) => (0..=n.len()).any(|i| list_rules(rest, &n[i..], delim)),
        Some((b'%', rest)) => (0..=n.len())
            .take_while(|&i| i == 0 || n[i - 1] != delim)
            .any(|i| list_rules(rest, &n[i..], delim)),
        Some((c, rest)) => n.first() == Some(c) && list_rules(rest, &n[1..], delim),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_patterns() {
        assert!(list_matches(b"*", b"a/b/c", b'/'));
        assert!(list_matches(b"%", b"Notes", b'/'));
        assert!(!list_matches(b"%", b"a/b", b'/'));
        assert!(list_matches(b"a/%", b"a/b", b'/'));
        assert!(list_matches(b"inbox", b"INBOX", b'/'));
        assert!(!list_matches(b"Notes", b"notes", b'/'));
        assert!(list_matches(b"*b", b"a/b", b'/'));
        assert!(list_matches(b"a***%", b"a/b", b'/'));
        assert!(!list_matches(b"a%%b/c", b"ab", b'/'));
        let hostile = b"*a".repeat(4000);
        assert!(!list_matches(&hostile, &b"a".repeat(1024), b'/'));
        // `*` and `%` together, where taking the first place a piece fits is not enough
        // within a piece: `%` stops at the delimiter.
        assert!(list_matches(b"%/b*", b"a/b/c", b'/'));
        assert!(!list_matches(b"%b", b"a/b", b'/'));
        assert!(list_matches(b"*%", b"a/b", b'/'));
        assert!(list_matches(b"a%c*d", b"abbc/d", b'/'));
        assert!(!list_matches(b"a%c%d", b"abbc/d", b'/'));
        assert!(list_matches(b"a%b%c", b"aXbYbZc", b'/'));
        assert!(!list_matches(b"*/", b"a/b", b'/'));
        assert!(list_matches(b"**%%", b"", b'/'));
        assert!(list_matches(b"", b"", b'/'));
        assert!(!list_matches(b"", b"a", b'/'));
        assert!(list_matches(b"%a", b"aaa", b'/'));
        assert!(list_matches(b"*a*a", b"xaya", b'/'));
        assert!(!list_matches(b"*a*a", b"xay", b'/'));
    }

    #[test]
    fn list_patterns_agree_with_the_rules() {
        // Every pattern of up to 5 octets over {a, /, *, %} against every name of up to 5
        // octets over {a, b, /}.
        fn all(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
            let mut out = vec![Vec::new()];
            let mut layer = vec![Vec::new()];
            for _ in 0..max {
                let mut grown = Vec::new();
                for w in &layer {
                    for &c in alphabet {
                        let mut v: Vec<u8> = w.clone();
                        v.push(c);
                        grown.push(v);
                    }
                }
                out.extend(grown.iter().cloned());
                layer = grown;
            }
            out
        }
        let names = all(b"ab/", 5);
        for p in all(b"a/*%", 5) {
            for n in &names {
                assert_eq!(
                    glob(&p, n, b'/'),
                    list_rules(&p, n, b'/'),
                    "pattern {:?} name {:?}",
                    String::from_utf8_lossy(&p),
                    String::from_utf8_lossy(n)
                );
            }
        }
    }

    #[test]
    fn a_pattern_of_many_wildcards_is_cheap() {
        let name = b"a".repeat(1000);
        // 500 pieces `a` between `*`s, then one the name does not have: each octet of the name
        // is read once per piece position it can be in, not once per pattern octet.
        let mut hostile = b"*a%".repeat(499);
        hostile.extend_from_slice(b"*b");
        let mut steps = 0;
        assert!(!glob_counting(&hostile, &name, b'/', &mut steps));
        assert!(steps <= 4 * name.len() as u64, "{steps} steps");
        // The same pattern without the last piece matches, as cheaply.
        let mut steps = 0;
        assert!(glob_counting(&b"*a%".repeat(499), &name, b'/', &mut steps));
        assert!(steps <= 4 * name.len() as u64, "{steps} steps");
        // A DP over the whole pattern would take |pattern| · |name| = 1.5 million steps.
    }
}
