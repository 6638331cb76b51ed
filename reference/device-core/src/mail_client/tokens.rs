//! The token table: one token per (account, mailbox), never issued twice (LOCAL-2, LOCAL-3).
//!
//! A token is `<16 lowercase hex digits>-<serial>`: a random part from the seeded generator, so
//! tokens cannot be guessed or ordered by a reader, and a decimal serial that the table never
//! issues twice. The serial is what makes tokens unique, restarts included: the next serial is
//! persisted in the same batch as the token that used the previous one, and a token is answered
//! (and used at all) only once that batch is durable (LOCAL-18). A crash before then loses the
//! token and its serial together, and nobody has seen either.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use md5::{Digest, Md5};

use super::backoff::Rng;
use crate::{AccountId, Token};

/// Why a string of octets is not a [`MailboxName`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MailboxNameError {
    /// `mailbox-name = 1*1000OCTET`.
    #[error("a mailbox name has 1 to 1000 octets, not {0}")]
    Length(usize),
}

/// A mailbox name exactly as the mail server listed it (`mailbox-name` of
/// `spec/device-local.md`): 1 to 1000 octets, compared octet for octet. Push payloads name a
/// mailbox by the MD5 of this spelling (XAPS-13), so it is never normalised, not even `INBOX`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MailboxName(Vec<u8>);

impl MailboxName {
    /// Checks the length.
    pub fn new(octets: impl Into<Vec<u8>>) -> Result<Self, MailboxNameError> {
        let octets = octets.into();
        if octets.is_empty() || octets.len() > 1000 {
            return Err(MailboxNameError::Length(octets.len()));
        }
        Ok(Self(octets))
    }

    /// The octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether this is the name `INBOX` (which IMAP compares case-insensitively).
    pub fn is_inbox(&self) -> bool {
        self.0.eq_ignore_ascii_case(b"INBOX")
    }

    /// The MD5 of the name, as push payloads carry it (PROV-20).
    pub fn md5(&self) -> [u8; 16] {
        Md5::digest(&self.0).into()
    }
}

impl fmt::Debug for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxName({:?})", String::from_utf8_lossy(&self.0))
    }
}

/// One row of the token table, as the driver stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenEntry {
    /// The token.
    pub token: Token,
    /// Its account.
    pub account: AccountId,
    /// Its mailbox, as the DA registered it.
    pub mailbox: MailboxName,
}

/// A restored table that cannot be right.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// A token appears twice.
    #[error("token {0} is stored twice")]
    DuplicateToken(Token),
    /// An (account, mailbox) pair has two tokens.
    #[error("account {0} has two tokens for one mailbox")]
    DuplicateMailbox(AccountId),
}

#[derive(Clone, Debug)]
struct Row {
    account: AccountId,
    mailbox: MailboxName,
    md5: [u8; 16],
    /// The batch that added it is durable: it may be answered and used.
    durable: bool,
}

/// The table. See the module documentation.
#[derive(Debug)]
pub(crate) struct TokenTable {
    rows: BTreeMap<Token, Row>,
    by_mailbox: HashMap<(AccountId, MailboxName), Token>,
    next_serial: u64,
}

impl TokenTable {
    /// Rebuilds the table from what the driver stored. `next_serial` is the value of the last
    /// durable [`super::Record::NextSerial`]; serials found in stored tokens raise it further,
    /// so even a store that lost that record issues nothing twice.
    pub(crate) fn restore(
        entries: Vec<TokenEntry>,
        next_serial: u64,
    ) -> Result<Self, RestoreError> {
        let mut table = Self {
            rows: BTreeMap::new(),
            by_mailbox: HashMap::new(),
            next_serial: next_serial.max(1),
        };
        for entry in entries {
            if table.rows.contains_key(&entry.token) {
                return Err(RestoreError::DuplicateToken(entry.token));
            }
            let pair = (entry.account.clone(), entry.mailbox.clone());
            if table.by_mailbox.contains_key(&pair) {
                return Err(RestoreError::DuplicateMailbox(entry.account));
            }
            if let Some(serial) = serial_of(&entry.token) {
                table.next_serial = table.next_serial.max(serial.saturating_add(1));
            }
            table.by_mailbox.insert(pair, entry.token.clone());
            table.rows.insert(
                entry.token,
                Row {
                    md5: entry.mailbox.md5(),
                    account: entry.account,
                    mailbox: entry.mailbox,
                    durable: true,
                },
            );
        }
        Ok(table)
    }

    /// The token of a registered mailbox, and whether it is durable yet.
    pub(crate) fn lookup(
        &self,
        account: &AccountId,
        mailbox: &MailboxName,
    ) -> Option<(&Token, bool)> {
        let token = self.by_mailbox.get(&(account.clone(), mailbox.clone()))?;
        let durable = self.rows.get(token).is_some_and(|r| r.durable);
        Some((token, durable))
    }

    /// Issues a new token for a mailbox that has none. It is not durable until
    /// [`TokenTable::mark_durable`]. Returns the token and the serial to persist as the next one.
    pub(crate) fn issue(
        &mut self,
        account: &AccountId,
        mailbox: &MailboxName,
        rng: &mut Rng,
    ) -> (Token, u64) {
        //= spec/device-local.md#LOCAL-3
        //# MUST NOT be given to another (account, mailbox) pair
        //# while it is registered or afterwards, restarts of the mail client included.
        let serial = self.next_serial;
        self.next_serial = serial.saturating_add(1);
        let token = loop {
            let text = format!("{:016x}-{serial}", rng.next_u64());
            // 16 hex digits, '-' and at most 20 digits: always the `token` rule.
            if let Ok(token) = Token::new(text) {
                break token;
            }
        };
        self.by_mailbox
            .insert((account.clone(), mailbox.clone()), token.clone());
        self.rows.insert(
            token.clone(),
            Row {
                account: account.clone(),
                mailbox: mailbox.clone(),
                md5: mailbox.md5(),
                durable: false,
            },
        );
        (token, self.next_serial)
    }

    pub(crate) fn mark_durable(&mut self, token: &Token) {
        if let Some(row) = self.rows.get_mut(token) {
            row.durable = true;
        }
    }

    /// Removes a token; returns its account and mailbox when it was registered.
    pub(crate) fn remove(&mut self, token: &Token) -> Option<(AccountId, MailboxName)> {
        let row = self.rows.remove(token)?;
        self.by_mailbox
            .remove(&(row.account.clone(), row.mailbox.clone()));
        Some((row.account, row.mailbox))
    }

    /// The account and mailbox of a durable token.
    pub(crate) fn get(&self, token: &Token) -> Option<(&AccountId, &MailboxName)> {
        self.rows
            .get(token)
            .filter(|r| r.durable)
            .map(|r| (&r.account, &r.mailbox))
    }

    /// Every durable token with its account and mailbox, in token order.
    pub(crate) fn durable(&self) -> impl Iterator<Item = (&Token, &AccountId, &MailboxName)> {
        self.rows
            .iter()
            .filter(|(_, r)| r.durable)
            .map(|(t, r)| (t, &r.account, &r.mailbox))
    }

    /// The durable tokens of one account, in token order.
    pub(crate) fn of_account<'a>(
        &'a self,
        account: &'a AccountId,
    ) -> impl Iterator<Item = (&'a Token, &'a MailboxName)> + 'a {
        self.durable()
            .filter(move |(_, a, _)| *a == account)
            .map(|(t, _, m)| (t, m))
    }

    /// The monitored mailboxes of an account (durable tokens only), without repetition.
    pub(crate) fn mailboxes_of(&self, account: &AccountId) -> BTreeSet<MailboxName> {
        self.of_account(account).map(|(_, m)| m.clone()).collect()
    }

    /// The durable tokens of `account` whose mailbox name has this MD5.
    pub(crate) fn matching<'a>(
        &'a self,
        account: &'a AccountId,
        md5: &'a [u8; 16],
    ) -> impl Iterator<Item = &'a Token> + 'a {
        self.rows
            .iter()
            .filter(move |(_, r)| r.durable && &r.account == account && &r.md5 == md5)
            .map(|(t, _)| t)
    }

    pub(crate) fn next_serial(&self) -> u64 {
        self.next_serial
    }
}

/// The serial of a token this table issued, if it has that form.
fn serial_of(token: &Token) -> Option<u64> {
    let (random, serial) = token.as_str().split_once('-')?;
    if random.len() != 16 || !random.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    serial.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(s: &str) -> AccountId {
        AccountId::new(s).unwrap()
    }

    fn mailbox(s: &str) -> MailboxName {
        MailboxName::new(s).unwrap()
    }

    #[test]
    fn mailbox_names_are_octets_as_listed() {
        assert_eq!(MailboxName::new(""), Err(MailboxNameError::Length(0)));
        assert_eq!(
            MailboxName::new(vec![b'x'; 1001]),
            Err(MailboxNameError::Length(1001))
        );
        assert_ne!(mailbox("INBOX"), mailbox("inbox"));
        assert!(mailbox("inbox").is_inbox());
        // RFC 1321 test suite: MD5("abc").
        assert_eq!(
            hex::encode(mailbox("abc").md5()),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }

    //= spec/device-local.md#LOCAL-3
    //= type=test
    //# A token MUST match the `token` rule, MUST identify exactly one
    //# (account, mailbox) pair on the device
    #[test]
    fn tokens_are_well_formed_and_reveal_no_mailbox() {
        let mut table = TokenTable::restore(Vec::new(), 0).unwrap();
        let mut rng = Rng::new(3);
        let (first, next) = table.issue(&account("A"), &mailbox("Notes"), &mut rng);
        assert_eq!(next, 2);
        assert!(!first.as_str().contains("Notes") && !first.as_str().contains('A'));
        assert_eq!(serial_of(&first), Some(1));
        assert_eq!(
            table.lookup(&account("A"), &mailbox("Notes")),
            Some((&first, false))
        );
        assert_eq!(table.get(&first), None);
        table.mark_durable(&first);
        assert_eq!(table.get(&first), Some((&account("A"), &mailbox("Notes"))));
        let (second, _) = table.issue(&account("B"), &mailbox("Notes"), &mut rng);
        assert_ne!(first, second);
    }

    #[test]
    fn restoring_raises_the_serial_above_stored_tokens() {
        let stored = TokenEntry {
            token: Token::new("00000000000000ff-41").unwrap(),
            account: account("A"),
            mailbox: mailbox("Notes"),
        };
        let table = TokenTable::restore(vec![stored.clone()], 7).unwrap();
        assert_eq!(table.next_serial(), 42);
        assert_eq!(
            TokenTable::restore(vec![stored.clone(), stored.clone()], 7).unwrap_err(),
            RestoreError::DuplicateToken(stored.token.clone())
        );
        let other = TokenEntry {
            token: Token::new("some-other-token-form").unwrap(),
            ..stored.clone()
        };
        assert_eq!(
            TokenTable::restore(vec![stored, other], 7).unwrap_err(),
            RestoreError::DuplicateMailbox(account("A"))
        );
    }
}
