//! Application writes (SYNC-19 … SYNC-22): create a mailbox, append a message, change flags,
//! expunge by UID. Each is one operation of its own on the engine's connection, never part of a
//! sync: round trips of commands, the server's answers, and at the end one outcome.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use mailpush_imap::{
    Code, CommandBody, Data, Flag, Mailbox, SearchKey, SequenceSet, Status, StatusKind, StoreKind,
    Tag, UidRange, Vec1,
};

use super::engine::{Engine, Event};
use super::error::Error;
use super::link::{Link, Stage, status_text};
use super::uids::Ranges;
use super::view::Uid;
use crate::Timestamp;

/// Identifies one accepted write; its result comes back under it
/// ([`Event::WriteCompleted`](super::Event::WriteCompleted),
/// [`Event::WriteFailed`](super::Event::WriteFailed)). Unique for the engine's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OperationId(pub u64);

/// How a flag change changes the flags (`FLAGS`, `+FLAGS`, `-FLAGS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlagChange {
    /// Set exactly these flags.
    Replace,
    /// Add these flags.
    Add,
    /// Remove these flags.
    Remove,
}

/// A write an application asks the DA to make (SYNC-19).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteRequest {
    /// `CREATE mailbox`. When the mailbox is one the engine monitors, it lists and registers
    /// again once it exists (LOCAL-1).
    CreateMailbox {
        /// The mailbox, spelt as IMAP spells it.
        mailbox: Mailbox,
    },
    /// `APPEND mailbox (flags) {n}` with the message (SYNC-20: at most the size limit).
    Append {
        /// Where.
        mailbox: Mailbox,
        /// The flags it is stored with (`\Seen` for a note, NOTE-9).
        flags: Vec<Flag>,
        /// The message, as RFC 5322 octets.
        message: Vec<u8>,
    },
    /// `UID STORE uids ±FLAGS.SILENT (flags)` after a `SELECT` that confirms the UIDVALIDITY
    /// (SYNC-21).
    Store {
        /// Where.
        mailbox: Mailbox,
        /// The UIDVALIDITY the UIDs belong to.
        uid_validity: NonZeroU32,
        /// Which messages.
        uids: Vec<Uid>,
        /// Replace, add or remove.
        change: FlagChange,
        /// The flags.
        flags: Vec<Flag>,
    },
    /// Expunge exactly these messages (SYNC-22): `UID EXPUNGE` with UIDPLUS, else the fallback
    /// that keeps other `\Deleted` messages.
    Expunge {
        /// Where.
        mailbox: Mailbox,
        /// The UIDVALIDITY the UIDs belong to.
        uid_validity: NonZeroU32,
        /// Which messages.
        uids: Vec<Uid>,
    },
}

impl WriteRequest {
    /// The mailbox the write concerns.
    pub fn mailbox(&self) -> &Mailbox {
        match self {
            WriteRequest::CreateMailbox { mailbox }
            | WriteRequest::Append { mailbox, .. }
            | WriteRequest::Store { mailbox, .. }
            | WriteRequest::Expunge { mailbox, .. } => mailbox,
        }
    }

    /// SYNC-20: what the DA refuses before sending anything.
    pub(super) fn check(&self, limit: u32) -> Result<(), WriteError> {
        match self {
            WriteRequest::CreateMailbox { .. } => Ok(()),
            //= spec/sync.md#SYNC-20
            //# The DA MUST refuse, without sending anything, an append larger than its size limit L
            WriteRequest::Append { message, .. } => {
                if message.len() > limit as usize {
                    return Err(WriteError::TooLarge {
                        octets: message.len(),
                        limit,
                    });
                }
                if message.is_empty() {
                    return Err(WriteError::EmptyMessage);
                }
                Ok(())
            }
            WriteRequest::Store { uids, flags, .. } => {
                //= spec/sync.md#SYNC-20
                //# a flag change that names `\Recent`
                if flags.contains(&Flag::Recent) {
                    return Err(WriteError::RecentFlag);
                }
                if uids.is_empty() {
                    return Err(WriteError::NoUids);
                }
                Ok(())
            }
            WriteRequest::Expunge { uids, .. } if uids.is_empty() => Err(WriteError::NoUids),
            WriteRequest::Expunge { .. } => Ok(()),
        }
    }
}

/// Why [`Engine::handle_write`](super::Engine::handle_write) refused a write before sending
/// anything (SYNC-20).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The message is larger than the DA's size limit (SYNC-14, NOTE-10).
    #[error("a message of {octets} octets is over the limit of {limit}")]
    TooLarge {
        /// The message's size.
        octets: usize,
        /// The limit.
        limit: u32,
    },
    /// An append of no octets.
    #[error("an empty message cannot be appended")]
    EmptyMessage,
    /// A flag change or expunge that names no message.
    #[error("the write names no UID")]
    NoUids,
    /// `\Recent` cannot be stored: the server sets it.
    #[error("\\Recent cannot be stored")]
    RecentFlag,
    /// Too many writes wait already.
    #[error("{0} writes are waiting; try again later")]
    QueueFull(usize),
}

/// What a completed write did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteOutcome {
    /// The mailbox exists now.
    Created,
    /// The message was appended; with UIDPLUS the server said where (`APPENDUID`).
    Appended {
        /// The UIDVALIDITY and UID the server gave it, when it said.
        uid: Option<(NonZeroU32, Uid)>,
    },
    /// The flags were changed.
    Stored,
    /// The messages were expunged.
    Expunged {
        /// By `UID EXPUNGE` (UIDPLUS) rather than the fallback of SYNC-22.
        uid_expunge: bool,
    },
}

/// What a command of a write is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Create,
    Append,
    Select,
    Store,
    MarkDeleted,
    UidExpunge,
    SearchDeleted,
    Unmark,
    Expunge,
    Remark,
}

impl Purpose {
    fn command(self) -> &'static str {
        match self {
            Purpose::Create => "CREATE",
            Purpose::Append => "APPEND",
            Purpose::Select => "SELECT",
            Purpose::Store | Purpose::MarkDeleted | Purpose::Unmark | Purpose::Remark => {
                "UID STORE"
            }
            Purpose::UidExpunge => "UID EXPUNGE",
            Purpose::SearchDeleted => "UID SEARCH DELETED",
            Purpose::Expunge => "EXPUNGE",
        }
    }
}

/// Which round trip the write is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// CREATE or APPEND, the only round trip.
    Single,
    Select,
    /// The STORE, or the marking (and UID EXPUNGE or the search).
    Change,
    /// Fallback: `\Deleted` taken off the other messages.
    Unmark,
    /// Fallback: EXPUNGE.
    Expunge,
    /// Fallback: `\Deleted` put back on the other messages.
    Remark,
}

/// What the engine does next.
#[derive(Debug)]
pub(super) enum Step {
    /// Send these commands, pipelined.
    Send(Vec<CommandBody>),
    /// Done.
    Done(WriteOutcome),
    /// Failed.
    Failed(Error),
}

/// One write in progress.
#[derive(Debug)]
pub(crate) struct Write {
    pub(super) id: OperationId,
    pub(super) request: WriteRequest,
    uidplus: bool,
    max_set: usize,
    phase: Phase,
    outstanding: Vec<(Tag, Purpose)>,
    /// The commands of the round trip not yet given a tag, in order.
    pending: Vec<Purpose>,
    failure: Option<Error>,
    uid_validity: Option<NonZeroU32>,
    appended: Option<(NonZeroU32, Uid)>,
    deleted: BTreeSet<u32>,
    search_seen: bool,
    /// Fallback: other messages whose `\Deleted` the write took off and must put back.
    others: Vec<Uid>,
}

impl Write {
    /// A write of `request` on a connection where UIDPLUS is (or is not) listed; the commands
    /// are the first round trip.
    pub(super) fn start(
        id: OperationId,
        request: WriteRequest,
        uidplus: bool,
        max_command_line: usize,
    ) -> (Self, Vec<CommandBody>) {
        let mut write = Write {
            id,
            request,
            uidplus,
            max_set: max_command_line.saturating_sub(80).max(16),
            phase: Phase::Single,
            outstanding: Vec::new(),
            pending: Vec::new(),
            failure: None,
            uid_validity: None,
            appended: None,
            deleted: BTreeSet::new(),
            search_seen: false,
            others: Vec::new(),
        };
        let commands = match &write.request {
            WriteRequest::CreateMailbox { mailbox } => {
                vec![(Purpose::Create, CommandBody::Create(mailbox.clone()))]
            }
            WriteRequest::Append {
                mailbox,
                flags,
                message,
            } => vec![(
                Purpose::Append,
                CommandBody::Append {
                    mailbox: mailbox.clone(),
                    flags: Some(flags.clone()),
                    date: None,
                    message: message.clone(),
                    synchronizing: true,
                },
            )],
            WriteRequest::Store { mailbox, .. } | WriteRequest::Expunge { mailbox, .. } => {
                write.phase = Phase::Select;
                //= spec/sync.md#SYNC-21
                //# The DA MUST open the mailbox with
                //# `SELECT` (read-write; `EXAMINE` cannot change it)
                vec![(
                    Purpose::Select,
                    CommandBody::Select {
                        examine: false,
                        mailbox: mailbox.clone(),
                        params: Vec::new(),
                    },
                )]
            }
        };
        let bodies = write.plan(commands);
        (write, bodies)
    }

    fn plan(&mut self, commands: Vec<(Purpose, CommandBody)>) -> Vec<CommandBody> {
        let (purposes, bodies) = commands.into_iter().unzip();
        self.pending = purposes;
        bodies
    }

    /// Records the tag of the next command of the round trip, in the order they were sent.
    pub(super) fn sent(&mut self, tag: Tag) {
        if !self.pending.is_empty() {
            let purpose = self.pending.remove(0);
            self.outstanding.push((tag, purpose));
        }
    }

    /// Untagged data while the write runs: the `SELECT`'s UIDVALIDITY and the search's answer;
    /// the rest (changes by others) is left to the next sync.
    pub(super) fn on_data(&mut self, data: Data) {
        match data {
            Data::Status(Status {
                kind: StatusKind::Ok,
                text,
            }) if self.phase == Phase::Select => {
                if let Some(Code::UidValidity(v)) = text.code {
                    self.uid_validity = Some(v);
                }
            }
            Data::Search { ids, .. }
                if self
                    .outstanding
                    .iter()
                    .any(|(_, p)| *p == Purpose::SearchDeleted) =>
            {
                self.search_seen = true;
                self.deleted.extend(ids.iter().map(|u| u.get()));
            }
            _ => {}
        }
    }

    /// A tagged completion. `false` when the tag is not one of this write's.
    pub(super) fn on_tagged(&mut self, tag: &Tag, status: &Status) -> bool {
        let Some(i) = self.outstanding.iter().position(|(t, _)| t == tag) else {
            return false;
        };
        let (_, purpose) = self.outstanding.remove(i);
        if status.kind != StatusKind::Ok {
            self.failure.get_or_insert(Error::CommandFailed {
                command: purpose.command(),
                text: status_text(status),
            });
        } else if purpose == Purpose::Append
            && let Some(Code::AppendUid { uid_validity, uids }) = &status.text.code
            && let [UidRange::Single(uid)] = uids.ranges()
        {
            self.appended = Some((*uid_validity, *uid));
        }
        true
    }

    /// Whether every command of the round trip has completed.
    pub(super) fn round_done(&self) -> bool {
        self.outstanding.is_empty()
    }

    /// Every command of the round trip has completed: what next.
    pub(super) fn advance(&mut self) -> Step {
        let failed = self.failure.is_some();
        match self.phase {
            //= spec/sync.md#SYNC-22
            //# then sets `\Deleted` on them again whether or not
            //# the `EXPUNGE` succeeded
            Phase::Unmark | Phase::Expunge
                if !self.others.is_empty() && (failed || self.phase == Phase::Expunge) =>
            {
                self.phase = Phase::Remark;
                let others = self.others.clone();
                Step::Send(self.store(Purpose::Remark, StoreKind::Add, &others))
            }
            _ if failed => Step::Failed(self.failure.take().unwrap_or(Error::ConnectionLost)),
            Phase::Single => Step::Done(match self.request {
                WriteRequest::CreateMailbox { .. } => WriteOutcome::Created,
                _ => WriteOutcome::Appended { uid: self.appended },
            }),
            Phase::Select => self.after_select(),
            Phase::Change => self.after_change(),
            //= spec/sync.md#SYNC-22
            //# sends `EXPUNGE`
            //# only once that has completed successfully
            Phase::Unmark => {
                self.phase = Phase::Expunge;
                Step::Send(self.plan(vec![(Purpose::Expunge, CommandBody::Expunge)]))
            }
            Phase::Expunge | Phase::Remark => {
                Step::Done(WriteOutcome::Expunged { uid_expunge: false })
            }
        }
    }

    fn after_select(&mut self) -> Step {
        let (expected, uids) = match &self.request {
            WriteRequest::Store {
                uid_validity, uids, ..
            }
            | WriteRequest::Expunge {
                uid_validity, uids, ..
            } => (*uid_validity, uids.clone()),
            _ => return Step::Failed(Error::Protocol("internal: no UIDs to write".into())),
        };
        //= spec/sync.md#SYNC-21
        //# when the `SELECT` reports another UIDVALIDITY it MUST fail the write without changing
        //# anything
        match self.uid_validity {
            Some(v) if v == expected => {}
            found => {
                return Step::Failed(Error::UidValidityChanged {
                    expected: expected.get(),
                    found: found.map(NonZeroU32::get),
                });
            }
        }
        self.phase = Phase::Change;
        match self.request.clone() {
            WriteRequest::Store { change, flags, .. } => {
                let kind = match change {
                    FlagChange::Replace => StoreKind::Replace,
                    FlagChange::Add => StoreKind::Add,
                    FlagChange::Remove => StoreKind::Remove,
                };
                Step::Send(self.store_flags(Purpose::Store, kind, &uids, flags))
            }
            _ => {
                //= spec/sync.md#SYNC-22
                //# To expunge messages named by UID the DA MUST first set `\Deleted` on them
                let mut commands = self.commands(Purpose::MarkDeleted, StoreKind::Add, &uids);
                if self.uidplus {
                    //= spec/sync.md#SYNC-22
                    //# when the server lists `UIDPLUS`, send `UID EXPUNGE <uids>`
                    for set in self.sets(&uids) {
                        commands.push((Purpose::UidExpunge, CommandBody::UidExpunge(set)));
                    }
                } else {
                    //= spec/sync.md#SYNC-22
                    //# it learns the other messages marked `\Deleted` with `UID SEARCH DELETED`
                    commands.push((
                        Purpose::SearchDeleted,
                        CommandBody::Search {
                            uid: true,
                            charset: None,
                            criteria: Vec1::one(SearchKey::Deleted),
                        },
                    ));
                }
                Step::Send(self.plan(commands))
            }
        }
    }

    fn after_change(&mut self) -> Step {
        let uids = match &self.request {
            WriteRequest::Expunge { uids, .. } => uids.clone(),
            _ => return Step::Done(WriteOutcome::Stored),
        };
        if self.uidplus {
            return Step::Done(WriteOutcome::Expunged { uid_expunge: true });
        }
        if !self.search_seen {
            return Step::Failed(Error::Protocol(
                "UID SEARCH DELETED completed without a SEARCH response".into(),
            ));
        }
        let mine: BTreeSet<u32> = uids.iter().map(|u| u.get()).collect();
        self.others = self
            .deleted
            .iter()
            .filter(|u| !mine.contains(u))
            .filter_map(|u| NonZeroU32::new(*u))
            .collect();
        if self.others.is_empty() {
            self.phase = Phase::Expunge;
            return Step::Send(self.plan(vec![(Purpose::Expunge, CommandBody::Expunge)]));
        }
        //= spec/sync.md#SYNC-22
        //# Without UIDPLUS the DA MUST NOT let `EXPUNGE` remove a message the write does not name
        self.phase = Phase::Unmark;
        let others = self.others.clone();
        Step::Send(self.store(Purpose::Unmark, StoreKind::Remove, &others))
    }

    /// `UID STORE <uids> ±FLAGS.SILENT (\Deleted)`, split to fit a command line.
    fn store(&mut self, purpose: Purpose, kind: StoreKind, uids: &[Uid]) -> Vec<CommandBody> {
        let commands = self.commands(purpose, kind, uids);
        self.plan(commands)
    }

    fn store_flags(
        &mut self,
        purpose: Purpose,
        kind: StoreKind,
        uids: &[Uid],
        flags: Vec<Flag>,
    ) -> Vec<CommandBody> {
        let commands = self
            .sets(uids)
            .into_iter()
            .map(|set| (purpose, store(set, kind, flags.clone())))
            .collect();
        self.plan(commands)
    }

    fn commands(
        &self,
        purpose: Purpose,
        kind: StoreKind,
        uids: &[Uid],
    ) -> Vec<(Purpose, CommandBody)> {
        self.sets(uids)
            .into_iter()
            .map(|set| (purpose, store(set, kind, vec![Flag::Deleted])))
            .collect()
    }

    fn sets(&self, uids: &[Uid]) -> Vec<SequenceSet> {
        let mut sorted: Vec<u32> = uids.iter().map(|u| u.get()).collect();
        sorted.sort_unstable();
        Ranges::from_sorted(sorted).to_sequence_sets(self.max_set)
    }
}

fn store(set: SequenceSet, kind: StoreKind, flags: Vec<Flag>) -> CommandBody {
    CommandBody::Store {
        uid: true,
        set,
        unchanged_since: None,
        kind,
        silent: true,
        flags,
    }
}

impl Engine {
    /// An application's write (SYNC-19): checked at once (SYNC-20), then performed after the
    /// writes accepted before it, when no sync runs. Its result comes as
    /// [`Event::WriteCompleted`] or [`Event::WriteFailed`] with the id returned here.
    pub fn handle_write(
        &mut self,
        request: WriteRequest,
        now: Timestamp,
    ) -> Result<OperationId, WriteError> {
        self.now = self.now.max(now);
        request.check(self.config.limits.max_message_octets)?;
        //= spec/sync.md#SYNC-20
        //# It SHOULD bound the number of writes waiting and
        //# refuse more.
        if self.writes.len() >= self.config.limits.max_pending_writes {
            return Err(WriteError::QueueFull(self.writes.len()));
        }
        //= spec/sync.md#SYNC-19
        //# Each accepted
        //# write gets an operation id, unique for the lifetime of the DA
        let id = OperationId(self.next_operation);
        self.next_operation += 1;
        self.writes.push_back((id, request));
        self.drive(now);
        Ok(id)
    }

    /// Writes accepted and not started yet.
    pub fn pending_writes(&self) -> usize {
        self.writes.len()
    }

    /// Starts the next write on an unused connection.
    pub(super) fn start_write(&mut self, now: Timestamp) {
        let Link::Up(up) = &mut self.link else {
            return;
        };
        //= spec/sync.md#SYNC-19
        //# It
        //# MUST perform the writes it accepted one at a time, in the order it accepted them.
        let Some((id, request)) = self.writes.pop_front() else {
            return;
        };
        let uidplus = up.client.has_capability("UIDPLUS");
        let (mut write, commands) =
            Write::start(id, request, uidplus, self.config.limits.max_command_line);
        for body in commands {
            if let Some(tag) = up.send(body) {
                write.sent(tag);
            }
        }
        up.last_progress = now;
        up.stage = Stage::Write(Box::new(write));
    }

    /// The round trip of the running write is complete: the next one, or the result.
    pub(super) fn advance_write(&mut self, mut write: Box<Write>, now: Timestamp) {
        let Link::Up(up) = &mut self.link else {
            return;
        };
        match write.advance() {
            Step::Send(commands) => {
                for body in commands {
                    if let Some(tag) = up.send(body) {
                        write.sent(tag);
                    }
                }
                up.stage = Stage::Write(write);
            }
            Step::Done(outcome) => {
                up.stage = Stage::Ready;
                up.idle_since = now;
                self.write_ended(*write, Ok(outcome));
            }
            Step::Failed(error) => {
                up.stage = Stage::Ready;
                up.idle_since = now;
                let broken = matches!(error, Error::Protocol(_));
                self.write_ended(*write, Err(error));
                if broken {
                    self.link_down_with_close();
                }
            }
        }
    }

    /// The running write's connection failed.
    pub(super) fn write_failed(&mut self, write: Write, error: Error) {
        //= spec/sync.md#SYNC-19
        //# the DA reports it failed and MUST NOT repeat it on its own
        self.write_ended(write, Err(error));
    }

    fn write_ended(&mut self, write: Write, result: Result<WriteOutcome, Error>) {
        let mailbox = write.request.mailbox().clone();
        let created = matches!(result, Ok(WriteOutcome::Created));
        //= spec/sync.md#SYNC-19
        //# the DA MUST report exactly one
        //# result under that id
        self.events.push_back(match result {
            Ok(outcome) => Event::WriteCompleted {
                id: write.id,
                mailbox: mailbox.clone(),
                outcome,
            },
            Err(error) => Event::WriteFailed {
                id: write.id,
                mailbox: mailbox.clone(),
                error,
            },
        });
        if created {
            //= spec/sync.md#SYNC-19
            //# After creating a
            //# mailbox it monitors, the DA lists and registers again
            if self.config.monitored.contains(&mailbox) && self.token(&mailbox).is_none() {
                self.need_list = true;
            }
        } else if self.token(&mailbox).is_some() {
            //= spec/sync.md#SYNC-19
            //# after a successful write to a monitored
            //# mailbox the DA MUST synchronize that mailbox, as for a wake
            // A failed write may have changed something too (a `\Deleted` set before a refused
            // EXPUNGE): the sync that follows shows what the server has.
            self.mark_for_sync(&mailbox);
        }
    }
}
