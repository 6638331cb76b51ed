//! UID sets: writing the view's UIDs compactly, and reading the server's sets without walking
//! every number in them (a `VANISHED 1:4294967295` names four billion UIDs in 22 octets).

use std::num::NonZeroU32;

use mailpush_imap::{SeqNo, SeqRange, SequenceSet, UidSet};

/// Ascending, disjoint, inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ranges(Vec<(u32, u32)>);

impl Ranges {
    /// From ascending UIDs (duplicates allowed).
    pub(crate) fn from_sorted(uids: impl IntoIterator<Item = u32>) -> Self {
        let mut out: Vec<(u32, u32)> = Vec::new();
        for u in uids {
            match out.last_mut() {
                Some((_, hi)) if u <= hi.saturating_add(1) => *hi = (*hi).max(u),
                _ => out.push((u, u)),
            }
        }
        Ranges(out)
    }

    /// From a set as the server wrote it: any order, overlapping, ranges either way round.
    pub(crate) fn from_uid_set(set: &UidSet) -> Self {
        let mut v: Vec<(u32, u32)> = set.iter_ranges().map(|r| (*r.start(), *r.end())).collect();
        v.sort_unstable();
        Self::merge_sorted(v)
    }

    /// From ranges in ascending order of their starts, overlapping or adjacent ones joined.
    fn merge_sorted(v: Vec<(u32, u32)>) -> Self {
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some((_, h)) if lo <= h.saturating_add(1) => *h = (*h).max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Ranges(out)
    }

    /// These ranges and `extra`, merged.
    pub(crate) fn with_range(self, extra: Option<(u32, u32)>) -> Self {
        let Some((lo, hi)) = extra else { return self };
        let mut v = self.0;
        let at = v.partition_point(|&(l, _)| l < lo);
        v.insert(at, (lo, hi));
        Self::merge_sorted(v)
    }

    /// The ranges.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.0.iter().copied()
    }

    /// Whether `uid` is in a range (binary search).
    pub(crate) fn contains(&self, uid: u32) -> bool {
        let i = self.0.partition_point(|&(_, hi)| hi < uid);
        self.0.get(i).is_some_and(|&(lo, _)| lo <= uid)
    }

    /// Sequence sets of at most `max_octets` octets each (at least one range each), covering
    /// the ranges in order. Empty when there are no ranges.
    pub(crate) fn to_sequence_sets(&self, max_octets: usize) -> Vec<SequenceSet> {
        let mut out = Vec::new();
        let mut current: Vec<SeqRange> = Vec::new();
        let mut len = 0usize;
        for &(lo, hi) in &self.0 {
            let (Some(a), Some(b)) = (NonZeroU32::new(lo), NonZeroU32::new(hi)) else {
                continue;
            };
            let item = if a == b {
                SeqRange::Single(SeqNo::Value(a))
            } else {
                SeqRange::Range(SeqNo::Value(a), SeqNo::Value(b))
            };
            let item_len = digits(lo) + if a == b { 0 } else { 1 + digits(hi) };
            let extra = item_len + usize::from(!current.is_empty());
            if !current.is_empty() && len + extra > max_octets {
                if let Ok(set) = SequenceSet::new(std::mem::take(&mut current)) {
                    out.push(set);
                }
                len = 0;
            }
            len += item_len + usize::from(!current.is_empty());
            current.push(item);
        }
        if let Ok(set) = SequenceSet::new(current) {
            out.push(set);
        }
        out
    }

    /// One sequence set, or, when that would be longer than `max_octets`, the single range from
    /// the lowest to the highest UID. `None` when empty.
    pub(crate) fn to_bounded_set(&self, max_octets: usize) -> Option<SequenceSet> {
        let mut sets = self.to_sequence_sets(max_octets);
        if sets.len() <= 1 {
            return sets.pop();
        }
        let lo = NonZeroU32::new(self.0.first()?.0)?;
        let hi = NonZeroU32::new(self.0.last()?.1)?;
        Some(SequenceSet::range(lo, hi))
    }
}

fn digits(n: u32) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailpush_imap::{Encode, UidRange};

    fn text(set: &SequenceSet) -> String {
        // Through a UID FETCH, the only place the encoder writes a bare sequence set.
        let cmd = mailpush_imap::CommandBody::Fetch {
            uid: true,
            set: set.clone(),
            attributes: mailpush_imap::FetchAttributes::List(mailpush_imap::Vec1::one(
                mailpush_imap::FetchAttribute::Flags,
            )),
            changed_since: None,
            vanished: false,
        };
        let s = String::from_utf8(cmd.to_bytes()).unwrap();
        s.trim_start_matches("UID FETCH ")
            .trim_end_matches(" FLAGS")
            .to_owned()
    }

    #[test]
    fn compresses_and_splits() {
        let r = Ranges::from_sorted([1, 2, 3, 5, 7, 8, 100]);
        let sets = r.to_sequence_sets(1000);
        assert_eq!(sets.len(), 1);
        assert_eq!(text(&sets[0]), "1:3,5,7:8,100");
        let sets = r.to_sequence_sets(5);
        let texts: Vec<String> = sets.iter().map(text).collect();
        assert_eq!(texts, ["1:3,5", "7:8", "100"]);
        for t in &texts {
            assert!(t.len() <= 5);
        }
        let span = r.to_bounded_set(5).unwrap();
        assert_eq!(text(&span), "1:100");
        assert!(Ranges::default().to_bounded_set(5).is_none());
    }

    #[test]
    fn a_range_joins_the_ranges_it_touches() {
        let r = Ranges::from_sorted([1, 2, 5, 9, 20]).with_range(Some((6, 10)));
        assert_eq!(r.iter().collect::<Vec<_>>(), [(1, 2), (5, 10), (20, 20)]);
        let r = Ranges::default().with_range(Some((7, u32::MAX)));
        assert_eq!(r.iter().collect::<Vec<_>>(), [(7, u32::MAX)]);
        let r = Ranges::from_sorted([3]).with_range(None);
        assert_eq!(r.iter().collect::<Vec<_>>(), [(3, 3)]);
    }

    #[test]
    fn server_sets_are_normalised_without_walking_them() {
        let set = UidSet::new(vec![
            UidRange::Range(NonZeroU32::MAX, NonZeroU32::MIN),
            UidRange::Single(NonZeroU32::new(7).unwrap()),
        ])
        .unwrap();
        let r = Ranges::from_uid_set(&set);
        assert_eq!(r.iter().collect::<Vec<_>>(), [(1, u32::MAX)]);
        assert!(r.contains(123_456_789));
        let gaps = Ranges::from_sorted([2, 4, 6]);
        assert!(!gaps.contains(3) && gaps.contains(4) && !gaps.contains(7));
    }
}
