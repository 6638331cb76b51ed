//! Message commands of the selected state: FETCH, STORE, COPY/MOVE, EXPUNGE, SEARCH, CHECK.

use std::collections::{HashMap, HashSet};

use mailpush_imap::{
    Code, CommandBody, Data, FetchAttribute, FetchAttributes, FetchItem, Flag as ImapFlag, IString,
    Mailbox, SearchKey, SeqNo, SeqRange, SequenceSet, StoreKind,
};

use super::output::{
    Reply, imap_flags, imap_uid_set, mailbox_name, nz, other_code, sequence_set, store_flags,
};
use super::{Context, Selected};
use crate::store::{
    Flag, FlagOp, Flags, MailBackend, MessageMeta, StoreError, Uid, UidSet, UserId,
};
use crate::{dates, search, sections, structure};

impl Selected {
    /// FLAGS of a message as this session tells them: the stored flags, and `\Recent`.
    pub(super) fn flags_of(&self, uid: Uid, flags: &Flags) -> Vec<ImapFlag> {
        let mut out = imap_flags(flags);
        if self.recent.contains(&uid) {
            out.push(ImapFlag::Recent);
        }
        out
    }

    pub(super) fn seq_of(&self, uid: Uid) -> Option<u32> {
        self.uids
            .binary_search(&uid)
            .ok()
            .and_then(|i| u32::try_from(i + 1).ok())
    }

    /// The (sequence number, UID) pairs a set names, ascending. Message numbers beyond the
    /// mailbox are an error (RFC 9051 §6.4.4 `BAD`); UIDs that do not exist are skipped.
    fn resolve(&self, uid: bool, set: &SequenceSet) -> Result<Vec<(u32, Uid)>, Reply> {
        let count = u32::try_from(self.uids.len()).unwrap_or(u32::MAX);
        let numbered = self
            .uids
            .iter()
            .enumerate()
            .filter_map(|(i, u)| Some((u32::try_from(i + 1).ok()?, *u)));
        if uid {
            let largest = self.uids.last().copied().unwrap_or(0);
            return Ok(numbered
                .filter(|(_, u)| set.contains(*u, largest))
                .collect());
        }
        for r in set.ranges() {
            let values = match *r {
                SeqRange::Single(a) => [a, a],
                SeqRange::Range(a, b) => [a, b],
            };
            for v in values {
                if let SeqNo::Value(n) = v
                    && n.get() > count
                {
                    return Err(Reply::bad(format!(
                        "Message number {n} does not exist (the mailbox has {count} messages)"
                    )));
                }
            }
        }
        Ok(numbered
            .filter(|(seq, _)| set.contains(*seq, count))
            .collect())
    }

    fn writable(&self) -> Result<(), Reply> {
        if self.read_only {
            Err(Reply::no("The mailbox is read-only").code(other_code("CANNOT")))
        } else {
            Ok(())
        }
    }
}

/// Message data a FETCH asks for, after macros are expanded.
#[derive(Default)]
struct Wanted {
    uid: bool,
    flags: bool,
    internal_date: bool,
    size: bool,
    modseq: bool,
    envelope: bool,
    body: bool,
    body_structure: bool,
    /// Sections, in request order.
    sections: Vec<FetchAttribute>,
    /// Whether a section sets `\Seen`.
    sets_seen: bool,
}

impl Wanted {
    fn new(attributes: &FetchAttributes) -> Self {
        use FetchAttribute as A;
        let mut w = Wanted::default();
        let list: Vec<FetchAttribute> = match attributes {
            FetchAttributes::Fast => vec![A::Flags, A::InternalDate, A::Rfc822Size],
            FetchAttributes::All => vec![A::Flags, A::InternalDate, A::Rfc822Size, A::Envelope],
            FetchAttributes::Full => vec![
                A::Flags,
                A::InternalDate,
                A::Rfc822Size,
                A::Envelope,
                A::Body,
            ],
            FetchAttributes::List(l) => l.as_slice().to_vec(),
        };
        for a in list {
            match a {
                A::Uid => w.uid = true,
                A::Flags => w.flags = true,
                A::InternalDate => w.internal_date = true,
                A::Rfc822Size => w.size = true,
                A::ModSeq => w.modseq = true,
                A::Envelope => w.envelope = true,
                A::Body => w.body = true,
                A::BodyStructure => w.body_structure = true,
                A::BodySection { peek, .. } => {
                    w.sets_seen |= !peek;
                    w.sections.push(a);
                }
                A::Rfc822 | A::Rfc822Text => {
                    w.sets_seen = true;
                    w.sections.push(a);
                }
                A::Rfc822Header => w.sections.push(a),
            }
        }
        w
    }

    fn needs_text(&self) -> bool {
        self.envelope || self.body || self.body_structure || !self.sections.is_empty()
    }
}

/// `BODY[…]`, `RFC822`, `RFC822.HEADER` or `RFC822.TEXT` of a message.
fn section_item(a: &FetchAttribute, raw: &[u8]) -> FetchItem {
    let data = |b: Vec<u8>| Some(IString::new(b));
    let top = |t| {
        let (header, body) = mailpush_message::header::split(raw);
        data(sections::msgtext(header, body, &t))
    };
    match a {
        FetchAttribute::Rfc822 => FetchItem::Rfc822(data(raw.to_vec())),
        FetchAttribute::Rfc822Header => {
            FetchItem::Rfc822Header(top(mailpush_imap::SectionText::Header))
        }
        FetchAttribute::Rfc822Text => FetchItem::Rfc822Text(top(mailpush_imap::SectionText::Text)),
        FetchAttribute::BodySection {
            section, partial, ..
        } => {
            // A part that does not exist reads as empty (RFC 3501 §6.4.5 leaves it open; an
            // empty string keeps the response well-formed for every client).
            let bytes = sections::section(raw, section).unwrap_or_default();
            let (bytes, origin) = match partial {
                Some((o, l)) => (sections::partial(bytes, *o, l.get()), Some(*o)),
                None => (bytes, None),
            };
            FetchItem::BodySection {
                section: section.clone(),
                origin,
                data: data(bytes),
            }
        }
        _ => FetchItem::Rfc822(None),
    }
}

impl<B: MailBackend> Context<B> {
    /// The commands of the selected state but CLOSE and UNSELECT (which leave it).
    pub(super) fn selected(
        &mut self,
        user: UserId,
        sel: &mut Selected,
        body: CommandBody,
    ) -> Result<Reply, Reply> {
        match body {
            CommandBody::Check => Ok(Reply::ok("CHECK completed")),
            CommandBody::Expunge => self.expunge(sel, None),
            // RFC 4315 §2.1: UID EXPUNGE is a command of UIDPLUS; a server without it does not
            // know the command.
            CommandBody::UidExpunge(_) if !self.config.uidplus => {
                Err(Reply::bad("UID EXPUNGE is not supported by this server"))
            }
            CommandBody::UidExpunge(set) => self.expunge(sel, Some(&set)),
            CommandBody::Search {
                uid,
                charset,
                criteria,
            } => self.search(sel, uid, charset.as_ref(), &criteria),
            CommandBody::Fetch {
                uid,
                set,
                attributes,
                changed_since,
                vanished,
            } => self.fetch(sel, uid, &set, &attributes, changed_since, vanished),
            CommandBody::Store {
                uid,
                set,
                unchanged_since,
                kind,
                silent,
                flags,
            } => {
                let op = match kind {
                    StoreKind::Replace => FlagOp::Replace,
                    StoreKind::Add => FlagOp::Add,
                    StoreKind::Remove => FlagOp::Remove,
                };
                self.store(sel, uid, &set, unchanged_since, (op, silent), &flags)
            }
            CommandBody::Copy { uid, set, mailbox } => {
                self.copy(user, sel, uid, &set, &mailbox, false)
            }
            CommandBody::Move { uid, set, mailbox } => {
                self.copy(user, sel, uid, &set, &mailbox, true)
            }
            _ => Err(Reply::bad("not a command of the selected state")),
        }
    }

    fn expunge(&mut self, sel: &Selected, set: Option<&SequenceSet>) -> Result<Reply, Reply> {
        sel.writable()?;
        let uids = match set {
            Some(set) => Some(
                sel.resolve(true, set)?
                    .into_iter()
                    .map(|(_, u)| u)
                    .collect::<UidSet>(),
            ),
            None => None,
        };
        if uids.as_ref().is_some_and(UidSet::is_empty) {
            return Ok(Reply::ok("UID EXPUNGE completed"));
        }
        let applied = self.backend.expunge(sel.id, uids.as_ref())?;
        self.changed(applied.changes);
        Ok(Reply::ok("EXPUNGE completed"))
    }

    fn fetch(
        &mut self,
        sel: &mut Selected,
        uid: bool,
        set: &SequenceSet,
        attributes: &FetchAttributes,
        changed_since: Option<u64>,
        vanished: bool,
    ) -> Result<Reply, Reply> {
        let mut w = Wanted::new(attributes);
        if (w.modseq || changed_since.is_some()) && !self.config.offers_condstore() {
            return Err(Reply::bad(
                "MODSEQ and CHANGEDSINCE are not supported by this server",
            ));
        }
        if vanished && (!uid || !self.qresync || changed_since.is_none()) {
            return Err(Reply::bad(
                "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC (RFC 7162 §3.2.6)",
            ));
        }
        w.uid |= uid;
        if w.modseq || changed_since.is_some() {
            self.condstore = true;
            w.modseq = true;
        }
        let targets = sel.resolve(uid, set)?;
        if let Some(since) = changed_since
            && vanished
        {
            let largest = sel.uids.last().copied().unwrap_or(0);
            let gone = self.backend.expunged_since(sel.id, since)?;
            let gone = gone.into_iter().filter(|u| set.contains(*u, largest));
            if let Some(uids) = imap_uid_set(gone) {
                self.untagged(Data::Vanished {
                    earlier: true,
                    uids,
                });
            }
        }
        if targets.is_empty() {
            return Ok(Reply::ok("FETCH completed"));
        }
        let uid_set: UidSet = targets.iter().map(|(_, u)| *u).collect();
        let metas = self.backend.messages(sel.id, &uid_set)?;
        let mut metas: HashMap<Uid, MessageMeta> = metas.into_iter().map(|m| (m.uid, m)).collect();
        // Fetching a body without PEEK sets \Seen (RFC 3501 §6.4.5); the FETCH then carries the
        // new FLAGS.
        let mut seen_set: HashSet<Uid> = HashSet::new();
        if w.sets_seen && !sel.read_only {
            let unseen: UidSet = targets
                .iter()
                .filter(|(_, u)| metas.get(u).is_some_and(|m| !m.flags.contains(&Flag::Seen)))
                .map(|(_, u)| *u)
                .collect();
            if !unseen.is_empty() {
                let seen: Flags = [Flag::Seen].into_iter().collect();
                let applied =
                    self.backend
                        .store_flags(sel.id, &unseen, FlagOp::Add, &seen, None)?;
                for m in &applied.value.updated {
                    seen_set.insert(m.uid);
                    sel.reported.insert(m.uid, m.modseq);
                    metas.insert(m.uid, m.clone());
                }
                self.changed(applied.changes);
            }
        }
        for (seq, u) in targets {
            let Some(meta) = metas.get(&u) else {
                continue;
            };
            if changed_since.is_some_and(|since| meta.modseq <= since) {
                continue;
            }
            let mut items = Vec::new();
            if w.uid {
                items.push(FetchItem::Uid(nz(u)));
            }
            if w.flags || seen_set.contains(&u) {
                items.push(FetchItem::Flags(sel.flags_of(u, &meta.flags)));
            }
            if w.internal_date
                && let Some(dt) = dates::date_time_from(meta.internal_date)
            {
                items.push(FetchItem::InternalDate(dt));
            }
            if w.size {
                items.push(FetchItem::Rfc822Size(
                    u32::try_from(meta.size).unwrap_or(u32::MAX),
                ));
            }
            if w.modseq {
                items.push(FetchItem::ModSeq(meta.modseq));
            }
            if w.needs_text() {
                let Some(message) = self.backend.message(sel.id, u)? else {
                    continue;
                };
                let raw = message.raw;
                if w.envelope {
                    items.push(FetchItem::Envelope(Box::new(structure::envelope(&raw))));
                }
                if w.body {
                    items.push(FetchItem::Body(Box::new(structure::body(&raw))));
                }
                if w.body_structure {
                    items.push(FetchItem::BodyStructure(Box::new(
                        structure::body_structure(&raw),
                    )));
                }
                for a in &w.sections {
                    items.push(section_item(a, &raw));
                }
            }
            self.fetch_data(seq, items);
        }
        Ok(Reply::ok("FETCH completed"))
    }

    fn store(
        &mut self,
        sel: &mut Selected,
        uid: bool,
        set: &SequenceSet,
        unchanged_since: Option<u64>,
        (op, silent): (FlagOp, bool),
        flags: &[ImapFlag],
    ) -> Result<Reply, Reply> {
        sel.writable()?;
        let flags = store_flags(flags)?;
        if unchanged_since.is_some() {
            if !self.config.offers_condstore() {
                return Err(Reply::bad("UNCHANGEDSINCE is not supported by this server"));
            }
            self.condstore = true;
        }
        let targets = sel.resolve(uid, set)?;
        if targets.is_empty() {
            return Ok(Reply::ok("STORE completed"));
        }
        let uids: UidSet = targets.iter().map(|(_, u)| *u).collect();
        let applied = self
            .backend
            .store_flags(sel.id, &uids, op, &flags, unchanged_since)?;
        let stored = applied.value;
        let seq_of = |u: Uid| targets.iter().find(|(_, t)| *t == u).map(|(s, _)| *s);
        for m in &stored.updated {
            sel.reported.insert(m.uid, m.modseq);
            if silent && !self.condstore {
                continue;
            }
            let Some(seq) = seq_of(m.uid) else {
                continue;
            };
            let mut items = Vec::new();
            if uid || self.condstore {
                items.push(FetchItem::Uid(nz(m.uid)));
            }
            // RFC 7162 §3.1.3: with CONDSTORE, even .SILENT gets the new MODSEQ (without FLAGS).
            if !silent {
                items.push(FetchItem::Flags(sel.flags_of(m.uid, &m.flags)));
            }
            if self.condstore {
                items.push(FetchItem::ModSeq(m.modseq));
            }
            self.fetch_data(seq, items);
        }
        self.changed(applied.changes);
        if stored.modified.is_empty() {
            return Ok(Reply::ok("STORE completed"));
        }
        let numbers: Vec<u32> = if uid {
            stored.modified.clone()
        } else {
            stored.modified.iter().filter_map(|u| seq_of(*u)).collect()
        };
        Ok(Reply::ok("Conditional STORE failed for some messages")
            .code(sequence_set(numbers).map(Code::Modified)))
    }

    fn copy(
        &mut self,
        user: UserId,
        sel: &mut Selected,
        uid: bool,
        set: &SequenceSet,
        m: &Mailbox,
        is_move: bool,
    ) -> Result<Reply, Reply> {
        if is_move {
            sel.writable()?;
        }
        let name = mailbox_name(m)?;
        let targets = sel.resolve(uid, set)?;
        let dest = match self.backend.mailbox(user, &name) {
            Err(StoreError::NoSuchMailbox(_)) => {
                return Err(Reply::no("Mailbox does not exist").code(Some(Code::TryCreate)));
            }
            other => other?,
        };
        let what = if is_move { "MOVE" } else { "COPY" };
        if targets.is_empty() {
            return Ok(Reply::ok(format!("{what} completed")));
        }
        let uids: UidSet = targets.iter().map(|(_, u)| *u).collect();
        let applied = if is_move {
            self.backend.move_messages(sel.id, &uids, dest.id)?
        } else {
            self.backend.copy(sel.id, &uids, dest.id)?
        };
        let copied = applied.value;
        self.changed(applied.changes);
        let code = match (
            // RFC 4315 §3 and RFC 6851 §4.3: COPYUID only from a server with UIDPLUS.
            self.config.uidplus,
            imap_uid_set(copied.mapping.iter().map(|(s, _)| *s)),
            imap_uid_set(copied.mapping.iter().map(|(_, d)| *d)),
        ) {
            (true, Some(source), Some(destination)) => Some(Code::CopyUid {
                uid_validity: nz(copied.uid_validity),
                source,
                destination,
            }),
            _ => None,
        };
        if is_move {
            // RFC 6851 §4.3: COPYUID goes in an untagged OK before the expunges.
            if code.is_some() {
                self.untagged_ok(code, "Moved UIDs");
            }
            self.reconcile(sel, true);
            Ok(Reply::ok("MOVE completed"))
        } else {
            Ok(Reply::ok("COPY completed").code(code))
        }
    }

    fn search(
        &mut self,
        sel: &Selected,
        uid: bool,
        charset: Option<&IString>,
        criteria: &[SearchKey],
    ) -> Result<Reply, Reply> {
        // Search strings are compared as UTF-8 text, of which US-ASCII is a subset.
        if let Some(c) = charset
            && !c.as_bytes().eq_ignore_ascii_case(b"US-ASCII")
            && !c.as_bytes().eq_ignore_ascii_case(b"UTF-8")
        {
            return Err(
                Reply::no("Unsupported charset").code(Some(Code::BadCharset(vec![
                    IString::from("US-ASCII"),
                    IString::from("UTF-8"),
                ]))),
            );
        }
        let uses_modseq = criteria.iter().any(search::mentions_modseq);
        if uses_modseq && !self.config.offers_condstore() {
            return Err(Reply::bad("MODSEQ is not supported by this server"));
        }
        let targets = sel.resolve(true, &SequenceSet::all())?;
        let metas = if targets.is_empty() {
            Vec::new()
        } else {
            self.backend.messages(sel.id, &UidSet::all())?
        };
        let metas: HashMap<Uid, MessageMeta> = metas.into_iter().map(|m| (m.uid, m)).collect();
        let ctx = search::Context {
            count: u32::try_from(targets.len()).unwrap_or(u32::MAX),
            largest_uid: targets.last().map_or(0, |(_, u)| *u),
        };
        let with_body = criteria.iter().any(search::needs_body);
        let mut ids = Vec::new();
        let mut max_modseq = 0;
        for (seq, u) in &targets {
            let Some(meta) = metas.get(u) else {
                continue;
            };
            let candidate = search::Candidate {
                seq: *seq,
                meta,
                recent: sel.recent.contains(u),
            };
            let hit = match search::all(criteria, &candidate, &ctx, None) {
                Some(hit) => hit,
                // The metadata does not decide: read this one message (one short store read
                // per message, so other sessions' calls interleave with a long search).
                None => match self.backend.message(sel.id, *u)? {
                    Some(m) => {
                        let text = search::MessageText::new(&m.raw, with_body);
                        search::all(criteria, &candidate, &ctx, Some(&text)) == Some(true)
                    }
                    None => false,
                },
            };
            if hit {
                ids.push(nz(if uid { *u } else { *seq }));
                max_modseq = max_modseq.max(meta.modseq);
            }
        }
        if uses_modseq {
            self.condstore = true;
        }
        self.untagged(Data::Search {
            mod_seq: (uses_modseq && !ids.is_empty()).then_some(max_modseq),
            ids,
        });
        Ok(Reply::ok("SEARCH completed"))
    }
}
