//! One sync of one mailbox (`spec/sync.md`): round trips of pipelined commands, the server's
//! answers folded into what changed, and at the end one [`ViewUpdate`].
//!
//! Nothing here touches the view: the sync reads it and describes the change, and the engine
//! applies the update only when the sync has completed (SYNC-7, SYNC-13).

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;

use mailpush_imap::{
    Code, CommandBody, Data, FetchAttribute, FetchAttributes, FetchItem, Mailbox, QResync, Section,
    SelectParam, SeqNo, SeqRange, SequenceSet, Status, StatusKind, Tag, Vec1,
};
use mailpush_mutants::Alternative;

use super::error::Error;
use super::seq::SeqMap;
use super::uids::Ranges;
use super::view::ViewUpdate;
use super::view::{AddedMessage, ContentState, Flags, MailboxView, MessageContent, MessageMeta};

/// How a connection synchronizes (SYNC-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// RFC 7162 §3.2: `SELECT`/`EXAMINE … (QRESYNC …)` (SYNC-4).
    QResync,
    /// RFC 7162 §3.1: `CHANGEDSINCE` and `UID SEARCH ALL` (SYNC-5).
    CondStore,
    /// RFC 3501 after RFC 4549: every UID and its flags (SYNC-6).
    Plain,
}

/// What a command of a sync is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    Open,
    Listing,
    ChangedSince,
    Search,
    Content,
    /// The range of SYNC-4 fetched with the open, before its answer (SYNC-25).
    Ahead,
}

impl Purpose {
    fn command(self) -> &'static str {
        match self {
            Purpose::Open => "EXAMINE",
            Purpose::Listing => "UID FETCH (FLAGS)",
            Purpose::ChangedSince => "UID FETCH (CHANGEDSINCE)",
            Purpose::Search => "UID SEARCH ALL",
            Purpose::Content => "UID FETCH (BODY.PEEK[])",
            Purpose::Ahead => "UID FETCH (BODY.PEEK[]) (CHANGEDSINCE)",
        }
    }
}

/// How the sync means to find out what changed, decided before it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// SYNC-4 from the view's UIDVALIDITY and HIGHESTMODSEQ.
    QResync,
    /// SYNC-5 from the view's UIDVALIDITY and HIGHESTMODSEQ.
    CondStore,
    /// Every UID and its flags, fetched with the open (SYNC-6, and whenever the view has no
    /// HIGHESTMODSEQ to start from).
    Listing,
}

/// Which round trip the sync is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    Listing,
    Diff,
    Content,
}

/// Limits a sync works under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) content_limit: u32,
    pub(crate) max_messages: u32,
    pub(crate) max_command_line: usize,
}

/// What the open (`EXAMINE`) reported.
#[derive(Clone, Debug, Default)]
struct Opened {
    uid_validity: Option<NonZeroU32>,
    highest_modseq: Option<u64>,
    nomodseq: bool,
    uid_next: Option<NonZeroU32>,
    exists: Option<u32>,
}

/// The latest flags and mod-sequence the server reported for a message.
#[derive(Clone, Debug, Default)]
struct Report {
    flags: Option<Flags>,
    modseq: Option<u64>,
}

/// What the engine does next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send these commands, pipelined: one more round trip.
    Send(Vec<(Purpose, CommandBody)>),
    /// The sync is complete.
    Done {
        update: ViewUpdate,
        method: Method,
        too_large: usize,
    },
    /// The sync failed; nothing is published.
    Failed(Error),
}

/// One sync in progress.
#[derive(Debug)]
pub(crate) struct Sync {
    mailbox: Mailbox,
    conn_method: Method,
    plan: Plan,
    phase: Phase,
    settings: Settings,
    outstanding: Vec<(Tag, Purpose)>,
    failure: Option<Error>,
    open_refused: bool,
    /// The server answered the opening command `NO [NONEXISTENT]` (SYNC-23).
    mailbox_gone: bool,
    pub(crate) round_trips: u32,
    /// Entries looked at to apply the server's `VANISHED` and `EXPUNGE` (see
    /// [`super::SyncReport::uids_examined`]).
    pub(crate) uids_examined: u64,
    opened: Opened,
    open_done: bool,
    reset: bool,
    modseq: bool,
    seq: SeqMap,
    reports: BTreeMap<u32, Report>,
    /// UIDs of the view the server no longer has.
    gone: BTreeSet<u32>,
    /// The UIDs a listing or a search returned.
    listed: BTreeSet<u32>,
    search_seen: bool,
    /// The UIDs whose content was asked for (less those expunged since).
    requested: BTreeSet<u32>,
    /// UIDs from the view's UIDNEXT to below the open's: every message added since the view
    /// was complete, fetched whether or not the open reported it (SYNC-4). Those that do not
    /// arrive were expunged since, so unlike `requested` none of them is owed.
    new_range: Option<(u32, u32)>,
    fetch_all: bool,
    received: BTreeMap<u32, ContentState>,
    /// The lowest UID of the range fetched with the open (SYNC-25), when that fetch was sent.
    ahead_from: Option<u32>,
    /// How that fetch failed: a failure of the sync only when the open confirms the view's
    /// UIDVALIDITY and mod-sequences, since otherwise the fetch was moot.
    ahead_failure: Option<Error>,
}

impl Sync {
    /// Starts a sync of `view` on a connection that synchronizes by `method`; the commands
    /// are the first round trip.
    pub(crate) fn start(
        view: &MailboxView,
        method: Method,
        settings: Settings,
    ) -> (Self, Vec<(Purpose, CommandBody)>) {
        let base = match (view.uid_validity, view.highest_modseq) {
            (Some(v), Some(m)) if m > 0 => Some((v, m)),
            _ => None,
        };
        let plan = match (method, base) {
            (Method::QResync, Some(_)) => Plan::QResync,
            (Method::CondStore, Some(_)) => Plan::CondStore,
            _ => Plan::Listing,
        };
        let mut params = Vec::new();
        match (plan, base) {
            (Plan::QResync, Some((uid_validity, mod_seq))) => {
                //= spec/sync.md#SYNC-4
                //# With QRESYNC the DA MUST open the mailbox with
                //# `SELECT <mailbox> (QRESYNC (<uidvalidity> <highestmodseq> <known-uids>))`
                let known = Ranges::from_sorted(view.messages.keys().map(|u| u.get()));
                //= spec/sync.md#SYNC-15
                //# When the `<known-uids>` of SYNC-4, written
                //# as ranges, would exceed that, the DA MAY send instead the one range from the lowest to the highest
                //# UID of its view
                let room = settings.max_command_line.saturating_sub(100).max(16);
                params.push(SelectParam::QResync(QResync {
                    uid_validity,
                    mod_seq,
                    known_uids: known.to_bounded_set(room),
                    seq_match: None,
                }));
            }
            //= spec/sync.md#SYNC-5
            //# With CONDSTORE the DA MUST open the mailbox with `SELECT <mailbox> (CONDSTORE)`.
            (Plan::CondStore, _) => params.push(SelectParam::CondStore),
            // A CONDSTORE connection learns the HIGHESTMODSEQ to start from next time.
            (Plan::Listing, _) if method == Method::CondStore => {
                params.push(SelectParam::CondStore)
            }
            _ => {}
        }
        let alternative = mailpush_mutants::chosen(Alternative::DaSelectsWithoutPrefetch);
        //= spec/sync.md#SYNC-9
        //# The DA SHOULD open the mailbox with `EXAMINE`
        let mut commands = vec![(
            Purpose::Open,
            CommandBody::Select {
                examine: !alternative,
                mailbox: view.mailbox.clone(),
                params,
            },
        )];
        if plan == Plan::Listing {
            // The listing depends on no result of the open: pipelined with it (SYNC-8).
            commands.push((Purpose::Listing, listing()));
        }
        let ahead_from = match (plan, base) {
            (Plan::QResync, Some((_, since))) if !alternative => {
                let from = range_start(view);
                if let Some(from) = from {
                    //= spec/sync.md#SYNC-25
                    //# the DA SHOULD send the fetch of SYNC-4's range with the `SELECT`, in the same
                    //# flight and before the `SELECT`'s answer, as
                    //# `UID FETCH <lo>:* (FLAGS MODSEQ BODY.PEEK[]<0.L+1>) (CHANGEDSINCE <highestmodseq>)`
                    commands.push((Purpose::Ahead, range_fetch(from, since, settings)));
                }
                from
            }
            _ => None,
        };
        let sync = Sync {
            mailbox: view.mailbox.clone(),
            conn_method: method,
            plan,
            phase: Phase::Open,
            settings,
            outstanding: Vec::new(),
            failure: None,
            open_refused: false,
            mailbox_gone: false,
            round_trips: 1,
            uids_examined: 0,
            opened: Opened::default(),
            open_done: false,
            reset: false,
            modseq: false,
            seq: SeqMap::default(),
            reports: BTreeMap::new(),
            gone: BTreeSet::new(),
            listed: BTreeSet::new(),
            search_seen: false,
            requested: BTreeSet::new(),
            // Until the open says where the range ends, whatever the fetch sent with it returns
            // from that UID up is taken as content.
            new_range: ahead_from.map(|from| (from, u32::MAX)),
            fetch_all: false,
            received: BTreeMap::new(),
            ahead_from,
            ahead_failure: None,
        };
        (sync, commands)
    }

    /// The mailbox being synchronized.
    pub(crate) fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// Records the tag of a command the engine sent for `purpose`.
    pub(crate) fn sent(&mut self, tag: Tag, purpose: Purpose) {
        self.outstanding.push((tag, purpose));
    }

    /// Whether the server refused to open the mailbox (it may be gone: the engine lists again).
    pub(crate) fn open_refused(&self) -> bool {
        self.open_refused
    }

    /// Whether the server said the mailbox does not exist (SYNC-23).
    pub(crate) fn mailbox_gone(&self) -> bool {
        self.mailbox_gone
    }

    fn awaiting(&self, purpose: Purpose) -> bool {
        self.outstanding.iter().any(|(_, p)| *p == purpose)
    }

    /// A tagged completion. `false` when the tag is not one of this sync's.
    pub(crate) fn on_tagged(&mut self, tag: &Tag, status: &Status) -> bool {
        let Some(i) = self.outstanding.iter().position(|(t, _)| t == tag) else {
            return false;
        };
        let (_, purpose) = self.outstanding.remove(i);
        if purpose == Purpose::Open {
            self.open_done = true;
        }
        let kind = if status.kind == StatusKind::No {
            "NO"
        } else {
            "BAD"
        };
        let failed = Error::CommandFailed {
            command: purpose.command(),
            text: format!("{kind} {}", status.text.text.as_str()),
        };
        if purpose == Purpose::Ahead {
            if status.kind != StatusKind::Ok {
                self.ahead_failure = Some(failed);
            }
            return true;
        }
        if status.kind != StatusKind::Ok && self.failure.is_none() {
            if purpose == Purpose::Open {
                self.open_refused = true;
                self.mailbox_gone = status.kind == StatusKind::No
                    && matches!(
                        &status.text.code,
                        Some(Code::Other(code))
                            if code.atom().eq_ignore_case("NONEXISTENT")
                    );
            }
            self.failure = Some(failed);
        }
        true
    }

    /// Whether every command of the current round trip has completed.
    pub(crate) fn round_done(&self) -> bool {
        self.outstanding.is_empty()
    }

    /// Untagged data while the sync runs. Content is handed to `out` as it arrives.
    pub(crate) fn on_data(
        &mut self,
        view: &MailboxView,
        data: Data,
        out: &mut Vec<MessageContent>,
    ) -> Result<(), Error> {
        match data {
            Data::Exists(n) => {
                self.seq.exists(n, self.settings.max_messages)?;
                if !self.open_done {
                    self.opened.exists = Some(n);
                }
            }
            Data::Status(Status {
                kind: StatusKind::Ok,
                text,
            }) if !self.open_done => match text.code {
                Some(Code::UidValidity(v)) => self.opened.uid_validity = Some(v),
                Some(Code::UidNext(n)) => self.opened.uid_next = Some(n),
                Some(Code::HighestModSeq(m)) => self.opened.highest_modseq = Some(m),
                //= spec/sync.md#SYNC-1
                //# When a `SELECT` answers `NOMODSEQ` the DA MUST use the plain method for that mailbox.
                Some(Code::NoModSeq) => self.opened.nomodseq = true,
                _ => {}
            },
            Data::Expunge(_)
                if mailpush_mutants::active(
                    mailpush_mutants::Mutant::DaIgnoresExpungeDuringSync,
                ) => {}
            Data::Expunge(n) => {
                if let Some(uid) = self.seq.expunge(n) {
                    self.vanish(view, uid, uid);
                }
            }
            Data::Vanished { earlier, uids } => {
                let ranges = Ranges::from_uid_set(&uids);
                self.examined(ranges.iter().count());
                //= spec/sync.md#SYNC-16
                //# A `VANISHED` response without `(EARLIER)`, or an `EXPUNGE`, that arrives during a sync
                //# removes the messages it names from the view and from the content still to be fetched
                if !earlier {
                    let examined = self.seq.vanish(&ranges);
                    self.examined(examined);
                }
                if !mailpush_mutants::active(mailpush_mutants::Mutant::DaIgnoresVanished) {
                    for (lo, hi) in ranges.iter() {
                        self.vanish(view, lo, hi);
                    }
                }
            }
            Data::Fetch { seq, items } => self.fetch(view, seq, items.into_vec(), out)?,
            Data::Search { ids, .. } if self.awaiting(Purpose::Search) => {
                self.search_seen = true;
                self.check_bound(ids.len(), "UIDs in a search")?;
                // Every message, and numbers follow UIDs: the search names each number's UID,
                // which a later `EXPUNGE n` needs.
                self.seq.learn_all(&ids);
                self.listed.extend(ids.iter().map(|u| u.get()));
                self.check_bound(self.listed.len(), "UIDs in a search")?;
            }
            _ => {}
        }
        Ok(())
    }

    fn check_bound(&self, n: usize, what: &str) -> Result<(), Error> {
        if n > self.settings.max_messages as usize {
            return Err(Error::Limit(format!(
                "more than {} {what}",
                self.settings.max_messages
            )));
        }
        Ok(())
    }

    fn examined(&mut self, n: usize) {
        self.uids_examined = self
            .uids_examined
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// The server says the messages `lo..=hi` are gone. Walks only what the sync holds.
    fn vanish(&mut self, view: &MailboxView, lo: u32, hi: u32) {
        let (Some(a), Some(b)) = (NonZeroU32::new(lo), NonZeroU32::new(hi)) else {
            return;
        };
        if a > b {
            return;
        }
        let hits: Vec<u32> = view.messages.range(a..=b).map(|(u, _)| u.get()).collect();
        let mut examined = hits.len();
        self.gone.extend(hits);
        let drop_keys = |s: &mut BTreeSet<u32>| {
            let doomed: Vec<u32> = s.range(lo..=hi).copied().collect();
            for u in &doomed {
                s.remove(u);
            }
            doomed.len()
        };
        examined += drop_keys(&mut self.listed);
        examined += drop_keys(&mut self.requested);
        let doomed: Vec<u32> = self.reports.range(lo..=hi).map(|(u, _)| *u).collect();
        examined += doomed.len();
        for u in doomed {
            self.reports.remove(&u);
        }
        let doomed: Vec<u32> = self.received.range(lo..=hi).map(|(u, _)| *u).collect();
        examined += doomed.len();
        for u in doomed {
            self.received.remove(&u);
        }
        self.examined(examined);
    }

    fn fetch(
        &mut self,
        view: &MailboxView,
        seq: NonZeroU32,
        items: Vec<FetchItem>,
        out: &mut Vec<MessageContent>,
    ) -> Result<(), Error> {
        let (mut uid, mut flags, mut modseq, mut body) = (None, None, None, None);
        for item in items {
            match item {
                FetchItem::Uid(u) => uid = Some(u),
                FetchItem::Flags(f) => flags = Some(Flags::new(f)),
                FetchItem::ModSeq(m) => modseq = Some(m),
                FetchItem::BodySection {
                    section: Section::Full,
                    origin: None | Some(0),
                    data,
                } => body = Some(data),
                _ => {}
            }
        }
        if let Some(u) = uid {
            self.seq.learn(seq, u);
        }
        let Some(uid) = uid.or_else(|| self.seq.uid(seq)) else {
            return Ok(());
        };
        let u = uid.get();
        if self.gone.contains(&u) {
            return Ok(());
        }
        let in_view = view.messages.contains_key(&uid) && !(self.open_done && self.reset);
        let listing = self.awaiting(Purpose::Listing);
        let open_candidate = !self.open_done && self.plan == Plan::QResync;
        let in_new_range = self
            .new_range
            .is_some_and(|(lo, hi)| (lo..=hi).contains(&u));
        let wants_content = self.fetch_all || self.requested.contains(&u) || in_new_range;
        if !(in_view || listing || open_candidate || wants_content) {
            // A message that arrived after the sync looked: the next sync finds it, because
            // the view keeps this sync's (older) HIGHESTMODSEQ and UIDNEXT.
            return Ok(());
        }
        if listing {
            self.listed.insert(u);
            self.check_bound(self.listed.len(), "messages listed")?;
        }
        let report = self.reports.entry(u).or_default();
        let older = matches!((modseq, report.modseq), (Some(new), Some(old)) if new < old);
        if !older {
            if flags.is_some() {
                report.flags = flags;
            }
            if modseq.is_some() {
                report.modseq = modseq;
            }
        }
        self.check_bound(self.reports.len(), "messages reported")?;
        if let Some(data) = body
            && wants_content
            && !self.received.contains_key(&u)
        {
            let Some(uid_validity) = self.opened.uid_validity else {
                return Err(Error::Protocol("message content before UIDVALIDITY".into()));
            };
            let octets = data.map(|d| d.into_bytes()).unwrap_or_default();
            //= spec/sync.md#SYNC-14
            //# whose content arrives longer than the limit
            //# is kept in the view by its UID, flags and mod-sequence, marked too large, without content
            let (state, kept) = match u32::try_from(octets.len()) {
                Ok(n) if n <= self.settings.content_limit => {
                    (ContentState::Downloaded { octets: n }, Some(octets))
                }
                _ => match whole_header(&octets) {
                    //= spec/sync.md#SYNC-14
                    //# The DA SHOULD keep the header
                    //# section of such a message when the octets it fetched hold the whole header
                    Some(header_octets) => {
                        let mut header = octets;
                        header.truncate(header_octets as usize);
                        (ContentState::Truncated { header_octets }, Some(header))
                    }
                    None => (ContentState::TooLarge, None),
                },
            };
            if let Some(octets) = kept {
                out.push(MessageContent {
                    mailbox: self.mailbox.clone(),
                    uid_validity,
                    uid,
                    octets,
                });
            }
            self.received.insert(u, state);
        }
        Ok(())
    }

    /// Every command of the round trip has completed: what next.
    pub(crate) fn advance(&mut self, view: &MailboxView) -> Step {
        if let Some(e) = self.failure.take() {
            return Step::Failed(e);
        }
        match self.phase {
            Phase::Open => self.after_open(view),
            Phase::Listing => self.after_listing(view),
            Phase::Diff if !self.search_seen => Step::Failed(Error::Protocol(
                "UID SEARCH ALL completed without a SEARCH response".into(),
            )),
            Phase::Diff => self.after_listing(view),
            Phase::Content => self.after_content(view),
        }
    }

    fn after_open(&mut self, view: &MailboxView) -> Step {
        let Some(v) = self.opened.uid_validity else {
            return Step::Failed(Error::Protocol("EXAMINE reported no UIDVALIDITY".into()));
        };
        //= spec/sync.md#SYNC-3
        //# When the UIDVALIDITY reported by `SELECT` differs from the view's, or the view has
        //# none, the DA MUST discard the whole view of that mailbox
        self.reset = view.uid_validity != Some(v);
        self.modseq = self.conn_method != Method::Plain
            && !self.opened.nomodseq
            && self.opened.highest_modseq.is_some();
        if self.reset && self.plan != Plan::Listing {
            // Whatever the open said concerned the UIDVALIDITY it was asked about.
            self.reports.clear();
            self.gone.clear();
        }
        if self.reset {
            self.gone.clear();
        }
        if self.ahead_from.is_some() && (self.reset || !self.modseq) {
            //= spec/sync.md#SYNC-25
            //# when the `SELECT` reports another UIDVALIDITY, or `NOMODSEQ`, the DA MUST
            //# ignore what that fetch returned and how it completed
            self.discard_ahead();
        }
        match self.plan {
            Plan::Listing => self.after_listing(view),
            //= spec/sync.md#SYNC-3
            //# It MUST NOT send cached UIDs or a cached
            //# mod-sequence in a request that concerns another UIDVALIDITY.
            _ if self.reset => self.fetch_everything(),
            _ if !self.modseq => {
                self.phase = Phase::Listing;
                self.round_trips += 1;
                Step::Send(vec![(Purpose::Listing, listing())])
            }
            Plan::QResync => {
                //= spec/sync.md#SYNC-4
                //# and of every message
                //# whose UID is at least the view's UIDNEXT and below the UIDNEXT the `SELECT` reported
                self.new_range = self.added_since(view);
                if self.ahead_from.is_some() {
                    if let Some(e) = self.ahead_failure.take() {
                        return Step::Failed(e);
                    }
                    self.keep_ahead_within_range();
                }
                //= spec/sync.md#SYNC-4
                //# download the content of every UID reported that its view does not have
                let new: BTreeSet<u32> = self
                    .reports
                    .keys()
                    .copied()
                    .filter(|u| {
                        NonZeroU32::new(*u).is_some_and(|u| !view.messages.contains_key(&u))
                            && !self.received.contains_key(u)
                    })
                    .collect();
                if self.ahead_from.is_some() {
                    // The fetch sent with the open ran after it, so it returned every message
                    // of the range that was still there: the range is not asked for again.
                    // A message the open reported and that fetch did not return is still owed
                    // (SYNC-16), so it stays in `new`.
                    self.new_range = None;
                }
                self.content_round(view, new)
            }
            Plan::CondStore => {
                //= spec/sync.md#SYNC-5
                //# If
                //# UIDVALIDITY, HIGHESTMODSEQ, UIDNEXT and the message count all equal the view's, the mailbox is
                //# unchanged and the sync is complete.
                let unchanged = self.opened.highest_modseq == view.highest_modseq
                    && self.opened.uid_next == view.uid_next
                    && self.opened.exists == view.count;
                if unchanged {
                    return self.done(view);
                }
                //= spec/sync.md#SYNC-5
                //# Otherwise the DA MUST pipeline
                //# `UID FETCH 1:* (FLAGS) (CHANGEDSINCE <highestmodseq>)` with `UID SEARCH ALL`
                let since = view.highest_modseq.unwrap_or(0);
                self.phase = Phase::Diff;
                self.round_trips += 1;
                Step::Send(vec![
                    (
                        Purpose::ChangedSince,
                        CommandBody::Fetch {
                            uid: true,
                            set: SequenceSet::all(),
                            attributes: FetchAttributes::List(Vec1::one(FetchAttribute::Flags)),
                            changed_since: Some(since),
                            vanished: false,
                        },
                    ),
                    (
                        Purpose::Search,
                        CommandBody::Search {
                            uid: true,
                            charset: None,
                            criteria: Vec1::one(mailpush_imap::SearchKey::All),
                        },
                    ),
                ])
            }
        }
    }

    /// The listing (or the search) is complete: what the view lacks, and what it has too much.
    fn after_listing(&mut self, view: &MailboxView) -> Step {
        let listed = std::mem::take(&mut self.listed);
        if !self.reset {
            //= spec/sync.md#SYNC-6
            //# remove from its view every UID not returned
            //= spec/sync.md#SYNC-5
            //# remove from its view
            //# every UID that the search did not return
            self.gone.extend(
                view.messages
                    .keys()
                    .map(|u| u.get())
                    .filter(|u| !listed.contains(u)),
            );
        }
        let new: BTreeSet<u32> = listed
            .into_iter()
            .filter(|u| {
                self.reset || NonZeroU32::new(*u).is_some_and(|u| !view.messages.contains_key(&u))
            })
            .collect();
        self.content_round(view, new)
    }

    /// The UIDs a message added since the view was complete can have: from the view's UIDNEXT
    /// (or above its highest UID) to below the UIDNEXT the open reported (or to the largest UID
    /// when the open reported none). `None` when the open's UIDNEXT says nothing was added.
    fn added_since(&self, view: &MailboxView) -> Option<(u32, u32)> {
        let above_view = match view.messages.keys().next_back() {
            Some(u) => u.get().checked_add(1)?,
            None => 1,
        };
        let lo = view.uid_next.map_or(1, NonZeroU32::get).max(above_view);
        let hi = match self.opened.uid_next {
            Some(next) => next.get().checked_sub(1)?,
            None => u32::MAX,
        };
        (lo <= hi).then_some((lo, hi))
    }

    /// Forgets what the fetch sent with the open returned from the range's start up: it
    /// concerned a UIDVALIDITY or mod-sequences the mailbox no longer has.
    fn discard_ahead(&mut self) {
        self.ahead_failure = None;
        self.new_range = None;
        if let Some(from) = self.ahead_from.take() {
            self.received.retain(|u, _| *u < from);
            self.reports.retain(|u, _| *u < from);
        }
    }

    /// Keeps of what the fetch sent with the open returned only the messages below the
    /// UIDNEXT the open reported. The others were added after the open looked; the next sync
    /// fetches them, as its range starts at this open's UIDNEXT (SYNC-7).
    fn keep_ahead_within_range(&mut self) {
        let Some(from) = self.ahead_from else { return };
        let end = self.new_range.map_or(from, |(_, hi)| hi);
        let added_later = |u: &u32| *u >= from && (self.new_range.is_none() || *u > end);
        let later: Vec<u32> = self.received.keys().copied().filter(added_later).collect();
        for u in later {
            self.received.remove(&u);
            self.reports.remove(&u);
        }
    }

    /// Asks for the content of `new` and of the UIDs of `new_range`, or completes when there
    /// are none.
    fn content_round(&mut self, view: &MailboxView, new: BTreeSet<u32>) -> Step {
        if new.is_empty() && self.new_range.is_none() {
            return self.done(view);
        }
        //= spec/sync.md#SYNC-6
        //# download the content of every returned UID its view does not have
        let sets = Ranges::from_sorted(new.iter().copied())
            .with_range(self.new_range)
            .to_sequence_sets(self.settings.max_command_line.saturating_sub(80).max(16));
        self.requested = new;
        self.phase = Phase::Content;
        self.round_trips += 1;
        Step::Send(
            sets.into_iter()
                .map(|set| (Purpose::Content, self.content_fetch(set)))
                .collect(),
        )
    }

    /// The view was discarded: every message, with its content, in one round trip.
    fn fetch_everything(&mut self) -> Step {
        self.fetch_all = true;
        self.phase = Phase::Content;
        self.round_trips += 1;
        Step::Send(vec![(
            Purpose::Content,
            self.content_fetch(SequenceSet::all()),
        )])
    }

    fn content_fetch(&self, set: SequenceSet) -> CommandBody {
        let mut items = vec![FetchAttribute::Flags];
        if self.modseq {
            items.push(FetchAttribute::ModSeq);
        }
        //= spec/sync.md#SYNC-9
        //# the DA
        //# MUST fetch content with `BODY.PEEK`
        //= spec/sync.md#SYNC-14
        //# fetches content with `BODY.PEEK[]<0.L+1>`
        let partial =
            NonZeroU32::new(self.settings.content_limit.saturating_add(1)).map(|len| (0, len));
        items.push(FetchAttribute::BodySection {
            peek: true,
            section: Section::Full,
            partial,
        });
        CommandBody::Fetch {
            uid: true,
            set,
            attributes: FetchAttributes::List(
                Vec1::new(items).unwrap_or_else(|_| Vec1::one(FetchAttribute::Flags)),
            ),
            changed_since: None,
            vanished: false,
        }
    }

    fn after_content(&mut self, view: &MailboxView) -> Step {
        if !self.fetch_all
            && let Some(u) = self
                .requested
                .iter()
                .find(|u| !self.received.contains_key(u))
        {
            return Step::Failed(Error::ContentMissing(*u));
        }
        self.done(view)
    }

    /// Everything the sync reported is applied: the one update it publishes.
    fn done(&mut self, view: &MailboxView) -> Step {
        let Some(uid_validity) = self.opened.uid_validity else {
            return Step::Failed(Error::Protocol("EXAMINE reported no UIDVALIDITY".into()));
        };
        let nz = |u: &u32| NonZeroU32::new(*u);
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        if !self.reset {
            removed = self.gone.iter().filter_map(nz).collect();
            for (u, report) in &self.reports {
                let Some(uid) = nz(u) else { continue };
                let Some(old) = view.messages.get(&uid) else {
                    continue;
                };
                if self.gone.contains(u) || self.received.contains_key(u) {
                    continue;
                }
                let new = MessageMeta {
                    flags: report.flags.clone().unwrap_or_else(|| old.flags.clone()),
                    modseq: report.modseq.or(old.modseq),
                };
                if new != *old {
                    changed.push((uid, new));
                }
            }
        }
        let mut too_large = 0;
        let added: Vec<AddedMessage> = self
            .received
            .iter()
            .filter_map(|(u, state)| {
                let uid = nz(u)?;
                let report = self.reports.get(u).cloned().unwrap_or_default();
                too_large += usize::from(state.is_too_large());
                Some(AddedMessage {
                    uid,
                    meta: MessageMeta {
                        flags: report.flags.unwrap_or_default(),
                        modseq: report.modseq,
                    },
                    content: *state,
                })
            })
            .collect();
        //= spec/sync.md#SYNC-7
        //# The DA MUST store a new HIGHESTMODSEQ (and UIDNEXT and message
        //# count) in its view only after it has applied every change the sync reported, including the
        //# download of every new message.
        let update = ViewUpdate {
            mailbox: self.mailbox.clone(),
            uid_validity,
            reset: self.reset,
            removed,
            changed,
            added,
            highest_modseq: self.opened.highest_modseq.filter(|_| self.modseq),
            uid_next: self.opened.uid_next,
            count: self.opened.exists,
        };
        let method = if self.modseq {
            self.conn_method
        } else {
            Method::Plain
        };
        Step::Done {
            update,
            method,
            too_large,
        }
    }
}

/// Where the range of SYNC-4 starts: the view's UIDNEXT, or above the view's highest UID when
/// that is higher. `None` when no UID can follow the view's highest.
fn range_start(view: &MailboxView) -> Option<u32> {
    let above_view = match view.messages.keys().next_back() {
        Some(u) => u.get().checked_add(1)?,
        None => 1,
    };
    Some(view.uid_next.map_or(1, NonZeroU32::get).max(above_view))
}

/// The fetch of SYNC-25: every message from `from` up, with its content, that changed since
/// the view's HIGHESTMODSEQ. `from:*` names the highest message even when every UID is below
/// `from`; `CHANGEDSINCE` spares its content when nothing changed.
fn range_fetch(from: u32, since: u64, settings: Settings) -> CommandBody {
    let partial = NonZeroU32::new(settings.content_limit.saturating_add(1)).map(|len| (0, len));
    let set = NonZeroU32::new(from)
        .and_then(|from| {
            SequenceSet::new(vec![SeqRange::Range(SeqNo::Value(from), SeqNo::Largest)]).ok()
        })
        .unwrap_or_else(SequenceSet::all);
    CommandBody::Fetch {
        uid: true,
        set,
        attributes: FetchAttributes::List(
            Vec1::new(vec![
                FetchAttribute::Flags,
                FetchAttribute::ModSeq,
                FetchAttribute::BodySection {
                    peek: true,
                    section: Section::Full,
                    partial,
                },
            ])
            .unwrap_or_else(|_| Vec1::one(FetchAttribute::Flags)),
        ),
        changed_since: Some(since),
        vanished: false,
    }
}

/// `UID FETCH 1:* (FLAGS)`: every UID and its flags (SYNC-6).
/// The length of the header section (with the empty line that ends it) when `octets` hold all
/// of it and it is not longer than the limit they were fetched under.
fn whole_header(octets: &[u8]) -> Option<u32> {
    let n = mailpush_message::header::header_len(octets);
    let ended = n < octets.len() || octets.ends_with(b"\r\n\r\n") || octets.ends_with(b"\n\n");
    ended.then(|| u32::try_from(n).ok()).flatten()
}

fn listing() -> CommandBody {
    CommandBody::Fetch {
        uid: true,
        set: SequenceSet::all(),
        attributes: FetchAttributes::List(Vec1::one(FetchAttribute::Flags)),
        changed_since: None,
        vanished: false,
    }
}
