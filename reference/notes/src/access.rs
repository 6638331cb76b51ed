//! What the notes application needs from the data-access daemon (DA): the local API of the
//! patent's "data access daemon … accessed by another application … using an API".
//!
//! Reads come from the DA's view of a mailbox (`spec/sync.md`), never from the mail server;
//! writes are requests the DA carries out over IMAP. The trait is synchronous: each call
//! returns when the DA has answered. A client of an asynchronous API implements it with a thin
//! adapter that blocks on each request.

use std::num::NonZeroU32;

/// An IMAP UID (RFC 3501 §2.3.1.1): never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uid(NonZeroU32);

impl Uid {
    /// The UID `n`, if it is not 0.
    pub fn new(n: u32) -> Option<Self> {
        NonZeroU32::new(n).map(Uid)
    }

    /// Its value.
    pub fn get(self) -> u32 {
        self.0.get()
    }
}

/// A mailbox's UIDVALIDITY (RFC 3501 §2.3.1.1): never 0. UIDs mean something only together
/// with the UIDVALIDITY they were seen under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UidValidity(NonZeroU32);

impl UidValidity {
    /// The UIDVALIDITY `n`, if it is not 0.
    pub fn new(n: u32) -> Option<Self> {
        NonZeroU32::new(n).map(UidValidity)
    }

    /// Its value.
    pub fn get(self) -> u32 {
        self.0.get()
    }
}

/// The flag notes are appended with (NOTE-9).
pub const SEEN: &str = "\\Seen";

/// The DA's view of one mailbox, as its last complete sync left it (SYNC-2, SYNC-13).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxView {
    /// The UIDVALIDITY of the view; `None` for a mailbox never synchronized (or that does not
    /// exist), whose view is empty.
    pub uidvalidity: Option<UidValidity>,
    /// Every message of the mailbox, in no particular order.
    pub messages: Vec<ViewMessage>,
}

/// One message of a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewMessage {
    /// Its UID under the view's UIDVALIDITY.
    pub uid: Uid,
    /// Its flags as IMAP writes them (`\Seen`, `$Label1`).
    pub flags: Vec<String>,
    /// What the DA keeps of it.
    pub content: Content,
}

/// What the DA keeps of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The whole message (`BODY[]`).
    Full(Vec<u8>),
    /// Only the header section (`BODY[HEADER]`), because the message is larger than the DA
    /// keeps (SYNC-14); `size` is its size in octets as far as the DA knows it (`RFC822.SIZE`,
    /// or the octets it fetched, which exceed its limit). An empty header means the DA kept
    /// nothing, and the message is then left alone like any message that is not a note
    /// (NOTE-10).
    HeaderOnly {
        /// The header section, with the empty line that ends it.
        header: Vec<u8>,
        /// The size of the whole message in octets.
        size: u64,
    },
}

/// A change the DA announces to a subscriber: the view of `mailbox` is not what it was. It
/// carries nothing else (like a local notification, LOCAL-9); the subscriber reads the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewChanged {
    /// The mailbox whose view changed.
    pub mailbox: String,
}

/// The data-access daemon's API, as the notes application uses it.
///
/// Mailbox names are the names exactly as the mail server lists them (LOCAL-1).
pub trait MailboxAccess {
    /// Why a request failed (connection lost, IMAP `NO`/`BAD`, the DA's own refusal).
    type Error: std::error::Error + Send + Sync + 'static;
    /// The announcements of a subscription, in the order the views changed; the iterator
    /// blocks until the next one and ends when the subscription ends.
    type Changes: Iterator<Item = Result<ViewChanged, Self::Error>>;

    /// The names of the account's mailboxes (the DA's last `LIST`).
    fn mailboxes(&mut self) -> Result<Vec<String>, Self::Error>;

    /// Creates a mailbox on the mail server (`CREATE`). Creating one that exists is not an
    /// error.
    fn create_mailbox(&mut self, mailbox: &str) -> Result<(), Self::Error>;

    /// Asks the DA to monitor a mailbox: to register it with the mail client so that pushes
    /// reach the DA (LOCAL-2) and to keep a view of it. Idempotent.
    fn monitor(&mut self, mailbox: &str) -> Result<(), Self::Error>;

    /// Synchronizes the view of a monitored mailbox now (`spec/sync.md`) and returns when the
    /// sync has ended; its result is published to the view before this returns.
    fn sync(&mut self, mailbox: &str) -> Result<(), Self::Error>;

    /// The DA's current view of a mailbox. Does not touch the mail server.
    fn view(&mut self, mailbox: &str) -> Result<MailboxView, Self::Error>;

    /// Appends `message` with `flags` to a mailbox (`APPEND`); returns the UID the server gave
    /// it when the server says (`APPENDUID`, RFC 4315), else `None`. The view shows the message
    /// after the next sync.
    fn append(
        &mut self,
        mailbox: &str,
        flags: &[&str],
        message: &[u8],
    ) -> Result<Option<Uid>, Self::Error>;

    /// Removes the messages `uids` from a mailbox: `UID STORE uids +FLAGS.SILENT (\Deleted)`,
    /// then `UID EXPUNGE uids` (RFC 4315), or `EXPUNGE` on a server without UIDPLUS (NOTE-6).
    /// The DA refuses when the mailbox's UIDVALIDITY is not `uidvalidity`, since the UIDs would
    /// then name other messages (SYNC-3).
    fn expunge(
        &mut self,
        mailbox: &str,
        uidvalidity: UidValidity,
        uids: &[Uid],
    ) -> Result<(), Self::Error>;

    /// Subscribes to the changes of a mailbox's view.
    fn subscribe(&mut self, mailbox: &str) -> Result<Self::Changes, Self::Error>;
}
