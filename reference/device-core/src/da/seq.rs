//! Message sequence numbers of the selected mailbox, as far as the sync has learnt their UIDs:
//! an `EXPUNGE n` or a `FETCH` without `UID` names a message only by its number.

use std::num::NonZeroU32;

use super::error::Error;
use super::uids::Ranges;

/// Sequence number − 1 → UID, when known.
#[derive(Clone, Debug, Default)]
pub(crate) struct SeqMap {
    slots: Vec<Option<NonZeroU32>>,
}

impl SeqMap {
    /// `n EXISTS`: the mailbox has `n` messages. Refused beyond `max`.
    pub(crate) fn exists(&mut self, n: u32, max: u32) -> Result<(), Error> {
        if n > max {
            return Err(Error::Limit(format!(
                "the server reports {n} messages, more than the limit of {max}"
            )));
        }
        self.slots.resize(n as usize, None);
        Ok(())
    }

    /// A `FETCH` named both the number and the UID.
    pub(crate) fn learn(&mut self, seq: NonZeroU32, uid: NonZeroU32) {
        if let Some(slot) = self.slots.get_mut(seq.get() as usize - 1) {
            *slot = Some(uid);
        }
    }

    /// A search for every message answered `uids`: when they are as many as the messages, the
    /// n-th smallest is the UID of message n.
    pub(crate) fn learn_all(&mut self, uids: &[NonZeroU32]) {
        if uids.len() != self.slots.len() {
            return;
        }
        let mut sorted = uids.to_vec();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return;
        }
        for (slot, uid) in self.slots.iter_mut().zip(sorted) {
            *slot = Some(uid);
        }
    }

    /// The UID of message `seq`, if known.
    pub(crate) fn uid(&self, seq: NonZeroU32) -> Option<NonZeroU32> {
        self.slots.get(seq.get() as usize - 1).copied().flatten()
    }

    /// `seq EXPUNGE`: the message is gone and the numbers above it move down. Its UID, if known.
    pub(crate) fn expunge(&mut self, seq: NonZeroU32) -> Option<u32> {
        let i = seq.get() as usize - 1;
        if i < self.slots.len() {
            self.slots.remove(i).map(NonZeroU32::get)
        } else {
            None
        }
    }

    /// `VANISHED` (without `EARLIER`): the messages with these UIDs are gone. Returns how many
    /// numbers it looked at (every one the mailbox has, never a UID of `uids` as such).
    pub(crate) fn vanish(&mut self, uids: &Ranges) -> usize {
        let examined = self.slots.len();
        self.slots
            .retain(|slot| slot.is_none_or(|u| !uids.contains(u.get())));
        examined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn numbers_follow_expunges() {
        let mut m = SeqMap::default();
        m.exists(3, 10).unwrap();
        m.learn(nz(1), nz(10));
        m.learn(nz(2), nz(20));
        m.learn(nz(3), nz(30));
        assert_eq!(m.expunge(nz(2)), Some(20));
        assert_eq!(m.uid(nz(2)), Some(nz(30)));
        m.vanish(&Ranges::from_sorted([10]));
        assert_eq!(m.uid(nz(1)), Some(nz(30)));
        assert_eq!(m.expunge(nz(5)), None);
        assert!(m.exists(11, 10).is_err());
    }
}
