//! Mailbox commands: SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST,
//! STATUS, APPEND, CLOSE/UNSELECT.

use std::collections::{BTreeSet, HashMap};

use mailpush_imap::{
    Atom, Code, Data, DateTime, FetchItem, Flag as ImapFlag, FlagPerm, IString, Mailbox, QResync,
    SelectParam, SequenceSet, StatusAttribute, StatusItem, UidSet as ImapUidSet,
};

use super::output::{Reply, imap_uid_set, mailbox_name, nz, store_flags, wire_mailbox};
use super::{Context, Selected};
use crate::dates;
use crate::list::list_matches;
use crate::store::{HIERARCHY_DELIMITER, MailBackend, MailboxId, ModSeq, StoreError, Uid, UserId};

/// The hierarchy delimiter as an octet.
const DELIMITER: u8 = b'/';
const _: () = assert!(HIERARCHY_DELIMITER == '/');

impl<B: MailBackend> Context<B> {
    /// The parameters of SELECT/EXAMINE: `CONDSTORE` turns CONDSTORE on, `QRESYNC` (after
    /// `ENABLE QRESYNC`) asks for what changed; both only when offered.
    pub(super) fn select_params(
        &mut self,
        params: &[SelectParam],
    ) -> Result<Option<QResync>, Reply> {
        let mut qresync = None;
        for p in params {
            match p {
                SelectParam::CondStore if self.config.offers_condstore() => self.condstore = true,
                SelectParam::CondStore => {
                    return Err(Reply::bad("CONDSTORE is not supported by this server"));
                }
                SelectParam::QResync(_) if !self.config.offers_qresync() => {
                    return Err(Reply::bad("QRESYNC is not supported by this server"));
                }
                SelectParam::QResync(_) if !self.qresync => {
                    return Err(Reply::bad(
                        "QRESYNC parameter requires ENABLE QRESYNC first",
                    ));
                }
                SelectParam::QResync(q) => qresync = Some(q.clone()),
            }
        }
        Ok(qresync)
    }

    /// SELECT or EXAMINE: the mailbox's state for the client, and the mailbox as selected.
    pub(super) fn select(
        &mut self,
        user: UserId,
        m: &Mailbox,
        examine: bool,
        qresync: Option<QResync>,
    ) -> Result<(Selected, Reply), Reply> {
        let name = mailbox_name(m)?;
        let info = self.backend.mailbox(user, &name)?;
        let uids = self.backend.uids(info.id)?;
        let flags = vec![
            ImapFlag::Answered,
            ImapFlag::Flagged,
            ImapFlag::Deleted,
            ImapFlag::Seen,
            ImapFlag::Draft,
        ];
        self.untagged(Data::Flags(flags.clone()));
        let mut perm: Vec<FlagPerm> = Vec::new();
        if !examine {
            perm = flags.into_iter().map(FlagPerm::Flag).collect();
            perm.push(FlagPerm::Wildcard);
        }
        self.untagged_ok(Some(Code::PermanentFlags(perm)), "Limited");
        let recent = self.recent_among(info.id, examine, &uids)?;
        self.untagged(Data::Exists(u32::try_from(uids.len()).unwrap_or(u32::MAX)));
        self.untagged(Data::Recent(
            u32::try_from(recent.len()).unwrap_or(u32::MAX),
        ));
        self.untagged_ok(Some(Code::UidValidity(nz(info.uid_validity))), "UIDs valid");
        self.untagged_ok(Some(Code::UidNext(nz(info.uid_next))), "Predicted next UID");
        if self.config.offers_condstore() {
            self.untagged_ok(Some(Code::HighestModSeq(info.highest_modseq)), "Highest");
        }
        let sel = Selected {
            id: info.id,
            read_only: examine,
            uids,
            flags_modseq: info.highest_modseq,
            expunge_modseq: info.highest_modseq,
            dirty: false,
            reported: HashMap::new(),
            recent,
        };
        if let Some(q) = qresync
            && q.uid_validity.get() == info.uid_validity
        {
            self.qresync_select(&sel, q.mod_seq, q.known_uids.as_ref())?;
        }
        let reply = if examine {
            Reply::ok("EXAMINE completed").code(Some(Code::ReadOnly))
        } else {
            Reply::ok("SELECT completed").code(Some(Code::ReadWrite))
        };
        Ok((sel, reply))
    }

    /// Which of `uids` (ascending, all of them new to this session) are recent for it. A
    /// read-write session claims them in the store, so that the first session to be told about a
    /// message is the one that has it as recent (RFC 3501 §2.3.2); a read-only one only looks.
    pub(super) fn recent_among(
        &self,
        id: MailboxId,
        read_only: bool,
        uids: &[Uid],
    ) -> Result<BTreeSet<Uid>, StoreError> {
        let Some(&last) = uids.last() else {
            return Ok(BTreeSet::new());
        };
        let from = if read_only {
            self.backend.recent_watermark(id)?
        } else {
            self.backend.claim_recent(id, last.saturating_add(1))?
        };
        Ok(uids.iter().copied().filter(|u| *u >= from).collect())
    }

    /// RFC 7162 §3.2.5.1: what changed since the client's MODSEQ, expunges first.
    fn qresync_select(
        &mut self,
        sel: &Selected,
        since: ModSeq,
        known: Option<&SequenceSet>,
    ) -> Result<(), Reply> {
        let gone = self.backend.expunged_since(sel.id, since)?;
        let gone = gone
            .into_iter()
            .filter(|u| known.is_none_or(|k| k.contains(*u, u32::MAX)));
        if let Some(uids) = imap_uid_set(gone) {
            self.untagged(Data::Vanished {
                earlier: true,
                uids,
            });
        }
        for meta in self.backend.changed_since(sel.id, since)? {
            if let Some(seq) = sel.seq_of(meta.uid) {
                self.fetch_data(
                    seq,
                    vec![
                        FetchItem::Uid(nz(meta.uid)),
                        FetchItem::Flags(sel.flags_of(meta.uid, &meta.flags)),
                        FetchItem::ModSeq(meta.modseq),
                    ],
                );
            }
        }
        Ok(())
    }

    pub(super) fn create(&mut self, user: UserId, m: &Mailbox) -> Result<Reply, Reply> {
        let name = mailbox_name(m)?;
        // RFC 3501 §6.3.3: a trailing delimiter only says the client means to create inferiors.
        let name = name.strip_suffix(HIERARCHY_DELIMITER).unwrap_or(&name);
        let applied = self.backend.create_mailbox(user, name)?;
        self.changed(applied.changes);
        Ok(Reply::ok("CREATE completed"))
    }

    pub(super) fn delete(&mut self, user: UserId, m: &Mailbox) -> Result<Reply, Reply> {
        let applied = self.backend.delete_mailbox(user, &mailbox_name(m)?)?;
        self.changed(applied.changes);
        Ok(Reply::ok("DELETE completed"))
    }

    pub(super) fn rename(
        &mut self,
        user: UserId,
        from: &Mailbox,
        to: &Mailbox,
    ) -> Result<Reply, Reply> {
        let (from, to) = (mailbox_name(from)?, mailbox_name(to)?);
        let applied = self.backend.rename_mailbox(user, &from, &to)?;
        self.changed(applied.changes);
        Ok(Reply::ok("RENAME completed"))
    }

    pub(super) fn subscribe(
        &mut self,
        user: UserId,
        m: &Mailbox,
        on: bool,
    ) -> Result<Reply, Reply> {
        let name = mailbox_name(m)?;
        if on {
            self.backend.subscribe(user, &name)?;
            Ok(Reply::ok("SUBSCRIBE completed"))
        } else {
            self.backend.unsubscribe(user, &name)?;
            Ok(Reply::ok("UNSUBSCRIBE completed"))
        }
    }

    pub(super) fn list(
        &mut self,
        user: UserId,
        reference: &Mailbox,
        pattern: &IString,
    ) -> Result<Reply, Reply> {
        let reference = match reference {
            Mailbox::Inbox => b"INBOX".to_vec(),
            other => other.as_wire().to_vec(),
        };
        if pattern.as_bytes().is_empty() {
            // RFC 3501 §6.3.8: the delimiter and the root of the reference.
            self.untagged(Data::List {
                attributes: Atom::new("Noselect").into_iter().collect(),
                delimiter: Some(DELIMITER),
                mailbox: Mailbox::from_wire(Vec::new()),
            });
            return Ok(Reply::ok("LIST completed"));
        }
        let mut full = reference;
        full.extend_from_slice(pattern.as_bytes());
        let mailboxes = self.backend.mailboxes(user)?;
        let names: Vec<&str> = mailboxes.iter().map(|m| m.name.as_str()).collect();
        for name in &names {
            if !list_matches(&full, name.as_bytes(), DELIMITER) {
                continue;
            }
            let prefix = format!("{name}{HIERARCHY_DELIMITER}");
            let children = names.iter().any(|n| n.starts_with(&prefix));
            let attr = if children {
                "HasChildren"
            } else {
                "HasNoChildren"
            };
            self.untagged(Data::List {
                attributes: Atom::new(attr).into_iter().collect(),
                delimiter: Some(DELIMITER),
                mailbox: wire_mailbox(name),
            });
        }
        Ok(Reply::ok("LIST completed"))
    }

    pub(super) fn status(
        &mut self,
        user: UserId,
        m: &Mailbox,
        items: &[StatusAttribute],
    ) -> Result<Reply, Reply> {
        let asks_modseq = items.contains(&StatusAttribute::HighestModSeq);
        if asks_modseq && !self.config.offers_condstore() {
            return Err(Reply::bad("HIGHESTMODSEQ is not supported by this server"));
        }
        let info = self.backend.mailbox(user, &mailbox_name(m)?)?;
        let recent = if items.contains(&StatusAttribute::Recent) {
            self.backend.recent_count(info.id)?
        } else {
            0
        };
        if asks_modseq {
            self.condstore = true;
        }
        let values = items
            .iter()
            .map(|item| match item {
                StatusAttribute::Messages => StatusItem::Messages(info.messages),
                StatusAttribute::Recent => StatusItem::Recent(recent),
                StatusAttribute::UidNext => StatusItem::UidNext(info.uid_next),
                StatusAttribute::UidValidity => StatusItem::UidValidity(info.uid_validity),
                StatusAttribute::Unseen => StatusItem::Unseen(info.unseen),
                StatusAttribute::HighestModSeq => StatusItem::HighestModSeq(info.highest_modseq),
            })
            .collect();
        self.untagged(Data::MailboxStatus {
            mailbox: m.clone(),
            items: values,
        });
        Ok(Reply::ok("STATUS completed"))
    }

    pub(super) fn append(
        &mut self,
        user: UserId,
        m: &Mailbox,
        flags: Option<&[ImapFlag]>,
        date: Option<&DateTime>,
        raw: &[u8],
    ) -> Result<Reply, Reply> {
        let name = mailbox_name(m)?;
        let flags = store_flags(flags.unwrap_or(&[]))?;
        let internal_date = match date {
            Some(d) => {
                dates::internal_date_from(d).ok_or_else(|| Reply::bad("date-time out of range"))?
            }
            None => dates::now(self.now.wall),
        };
        let id = match self.backend.mailbox_id(user, &name) {
            Err(StoreError::NoSuchMailbox(_)) => {
                return Err(Reply::no("Mailbox does not exist").code(Some(Code::TryCreate)));
            }
            other => other?,
        };
        let applied = self.backend.append(id, raw, &flags, internal_date)?;
        let a = applied.value;
        self.changed(applied.changes);
        // RFC 4315 §3: APPENDUID only from a server with UIDPLUS.
        let code = self.config.uidplus.then(|| Code::AppendUid {
            uid_validity: nz(a.uid_validity),
            uids: ImapUidSet::single(nz(a.uid)),
        });
        Ok(Reply::ok("APPEND completed").code(code))
    }

    /// CLOSE (expunging silently, RFC 3501 §6.4.2, unless read-only) or UNSELECT; the caller
    /// leaves the selected state when it succeeds.
    pub(super) fn close(&mut self, sel: &Selected, expunge: bool) -> Result<Reply, Reply> {
        if expunge && !sel.read_only {
            let applied = self.backend.expunge(sel.id, None)?;
            self.changed(applied.changes);
        }
        let what = if expunge { "CLOSE" } else { "UNSELECT" };
        Ok(Reply::ok(format!("{what} completed")))
    }
}
