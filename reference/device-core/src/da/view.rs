//! The DA's view of a mailbox, and the update one sync publishes.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use mailpush_imap::{Flag, Mailbox};

/// A message's UID.
pub type Uid = NonZeroU32;

/// The flags of a message as the view keeps them: sorted by their wire text, without duplicates
/// and without `\Recent`, which belongs to an IMAP session, not to the message (SYNC-2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(Vec<Flag>);

impl Flags {
    /// Normalises a list of flags.
    pub fn new(flags: impl IntoIterator<Item = Flag>) -> Self {
        //= spec/sync.md#SYNC-2
        //# `\Recent` is not part of a message's flags in the view
        let mut v: Vec<Flag> = flags.into_iter().filter(|f| *f != Flag::Recent).collect();
        v.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        v.dedup();
        Flags(v)
    }

    /// The flags.
    pub fn as_slice(&self) -> &[Flag] {
        &self.0
    }

    /// Whether `flag` is set.
    pub fn contains(&self, flag: &Flag) -> bool {
        self.0.contains(flag)
    }
}

/// What the view keeps of one message besides its content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageMeta {
    /// Its flags.
    pub flags: Flags,
    /// Its mod-sequence, when the server reported one (CONDSTORE or QRESYNC).
    pub modseq: Option<u64>,
}

/// The view of one mailbox without message contents: what the DA persists per mailbox and
/// gives the engine at start. The driver keeps each message's content beside it (see
/// [`MessageContent`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxView {
    /// The mailbox, as the server lists it.
    pub mailbox: Mailbox,
    /// UIDVALIDITY; `None` until the first successful sync.
    pub uid_validity: Option<NonZeroU32>,
    /// The HIGHESTMODSEQ the view is complete up to (CONDSTORE, QRESYNC); `None` after a sync
    /// by the plain method.
    pub highest_modseq: Option<u64>,
    /// UIDNEXT seen at the last successful sync.
    pub uid_next: Option<NonZeroU32>,
    /// The message count (`EXISTS`) seen at the last successful sync.
    pub count: Option<u32>,
    /// Every message by UID.
    pub messages: BTreeMap<Uid, MessageMeta>,
}

impl MailboxView {
    /// The view of a mailbox never synchronized.
    pub fn empty(mailbox: Mailbox) -> Self {
        MailboxView {
            mailbox,
            uid_validity: None,
            highest_modseq: None,
            uid_next: None,
            count: None,
            messages: BTreeMap::new(),
        }
    }

    /// Applies the update of a completed sync, as a driver does in one transaction.
    pub fn apply(&mut self, update: &ViewUpdate) {
        if update.reset {
            self.messages.clear();
        }
        for uid in &update.removed {
            self.messages.remove(uid);
        }
        for (uid, meta) in &update.changed {
            self.messages.insert(*uid, meta.clone());
        }
        for added in &update.added {
            self.messages.insert(added.uid, added.meta.clone());
        }
        self.uid_validity = Some(update.uid_validity);
        self.highest_modseq = update.highest_modseq;
        self.uid_next = update.uid_next;
        self.count = update.count;
    }
}

/// What the view holds of a message's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentState {
    /// The content arrived in an [`Event::Content`](super::Event::Content) of this sync.
    Downloaded {
        /// Its length in octets.
        octets: u32,
    },
    /// The message is larger than [`Limits::max_message_octets`](super::Limits) (SYNC-14): the
    /// view keeps its UID, flags and mod-sequence, and no content (the octets fetched did not
    /// hold the whole header section either).
    TooLarge,
    /// The message is larger than the limit, and the octets fetched held its whole header
    /// section: the view keeps its UID, flags and mod-sequence, marked too large, and the
    /// [`Event::Content`](super::Event::Content) of this sync carried the header section alone
    /// (with the empty line that ends it) instead of the message (SYNC-14).
    Truncated {
        /// The length of the header section in octets.
        header_octets: u32,
    },
}

impl ContentState {
    /// Whether the message is larger than the limit (with or without its header kept).
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            ContentState::TooLarge | ContentState::Truncated { .. }
        )
    }
}

/// A message the sync added to the view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedMessage {
    /// Its UID.
    pub uid: Uid,
    /// Flags and mod-sequence.
    pub meta: MessageMeta,
    /// Whether its content came.
    pub content: ContentState,
}

/// The result of one completed sync of one mailbox, published at once (SYNC-13): a driver
/// commits it in one transaction, and applications see the view before it or after it.
/// [`MailboxView::apply`] is the reference of what committing means.
///
/// A sync that does not complete publishes nothing, so the stored HIGHESTMODSEQ, UIDNEXT and
/// count stay those of the last completed sync (SYNC-7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewUpdate {
    /// The mailbox.
    pub mailbox: Mailbox,
    /// UIDVALIDITY of everything below.
    pub uid_validity: NonZeroU32,
    /// Discard every message of the view first: the view had no UIDVALIDITY or another one
    /// (SYNC-3). The content kept for the old UIDVALIDITY goes too.
    pub reset: bool,
    /// Messages no longer on the server.
    pub removed: Vec<Uid>,
    /// New flags or mod-sequence of messages the view keeps.
    pub changed: Vec<(Uid, MessageMeta)>,
    /// New messages, with content delivered before this update.
    pub added: Vec<AddedMessage>,
    /// The new HIGHESTMODSEQ (`None` when the sync used the plain method).
    pub highest_modseq: Option<u64>,
    /// The new UIDNEXT.
    pub uid_next: Option<NonZeroU32>,
    /// The new message count.
    pub count: Option<u32>,
}

impl ViewUpdate {
    /// Whether the update changes nothing but the stored HIGHESTMODSEQ, UIDNEXT and count.
    pub fn is_empty(&self) -> bool {
        !self.reset && self.removed.is_empty() && self.changed.is_empty() && self.added.is_empty()
    }
}

/// The content of one message, delivered during a sync before the [`ViewUpdate`] that adds the
/// message. Content never changes for a (mailbox, UIDVALIDITY, UID), so a driver may write it
/// at once, keyed by those three; applications see it only once the update that adds the UID is
/// committed, and content that no committed update references (a sync cut off, a message
/// expunged in the same sync) is garbage the driver deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageContent {
    /// The mailbox.
    pub mailbox: Mailbox,
    /// The UIDVALIDITY the UID belongs to.
    pub uid_validity: NonZeroU32,
    /// The message.
    pub uid: Uid,
    /// The message, as `BODY.PEEK[]` gives it.
    pub octets: Vec<u8>,
}
