//! Symmetry reduction: devices are interchangeable, and so are accounts, mailboxes of the same
//! kind within an account (those the mail server can push, spare names included; those it
//! cannot), and token numbers within a device.
//!
//! The representative of a state is found per renaming of the mailboxes: the mailboxes are
//! renamed, each device's tokens are renumbered in the order they first appear, and the devices
//! are sorted by their encoding. A device's encoding refers to no other device, so sorting gives
//! the least arrangement of the devices exactly; the least result over the mailbox renamings is
//! the representative. Renumbering tokens picks one order among tokens that only a pending wake
//! or the retired set still names, so a few states that differ only there keep separate
//! representatives: the reduction is sound, and very nearly exact.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use stateright::Representative;

use crate::config::{MAX_DEVICES, MAX_MAILBOXES};
use crate::state::{Device, ServerEvent, Shape, State, Token, bit, members};

/// Every permutation of `0..n`, as `perm[old] = new`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for smaller in permutations(n - 1) {
        for position in 0..n {
            let mut perm: Vec<usize> = smaller
                .iter()
                .map(|&p| if p >= position { p + 1 } else { p })
                .collect();
            perm.push(position);
            out.push(perm);
        }
    }
    out
}

/// Every renaming of the mailboxes that maps accounts onto accounts and each account's kinds
/// onto the same kinds (only whole accounts when `shape.mailbox_symmetry` is off).
pub fn mailbox_permutations(shape: &Shape) -> Vec<Vec<usize>> {
    let names = usize::from(shape.names);
    let push = usize::from(shape.push);
    let poll = usize::from(shape.poll);
    let capable: Vec<usize> = (0..push).chain(push + poll..names).collect();
    let polled: Vec<usize> = (push..push + poll).collect();
    // Renamings of one account's names onto themselves.
    let within: Vec<Vec<usize>> = if shape.mailbox_symmetry {
        let mut out = Vec::new();
        for a in permutations(capable.len()) {
            for b in permutations(polled.len()) {
                let mut perm: Vec<usize> = (0..names).collect();
                for (i, &p) in a.iter().enumerate() {
                    if let (Some(&from), Some(&to)) = (capable.get(i), capable.get(p))
                        && let Some(slot) = perm.get_mut(from)
                    {
                        *slot = to;
                    }
                }
                for (i, &p) in b.iter().enumerate() {
                    if let (Some(&from), Some(&to)) = (polled.get(i), polled.get(p))
                        && let Some(slot) = perm.get_mut(from)
                    {
                        *slot = to;
                    }
                }
                out.push(perm);
            }
        }
        out
    } else {
        vec![(0..names).collect()]
    };
    let accounts = usize::from(shape.accounts);
    // One renaming per account, then a renaming of the accounts.
    let mut choices: Vec<Vec<&Vec<usize>>> = vec![Vec::new()];
    for _ in 0..accounts {
        choices = choices
            .into_iter()
            .flat_map(|chosen| {
                within.iter().map(move |w| {
                    let mut next = chosen.clone();
                    next.push(w);
                    next
                })
            })
            .collect();
    }
    let mut result = Vec::new();
    for chosen in &choices {
        for account_perm in permutations(accounts) {
            let mut perm = vec![0; names * accounts];
            for (a, w) in chosen.iter().enumerate() {
                let to_account = account_perm.get(a).copied().unwrap_or(a);
                for (i, &p) in w.iter().enumerate() {
                    if let Some(slot) = perm.get_mut(a * names + i) {
                        *slot = to_account * names + p;
                    }
                }
            }
            result.push(perm);
        }
    }
    result
}

fn map_set(set: u8, perm: &[usize]) -> u8 {
    members(set).fold(0u8, |out, i| {
        let to = perm.get(usize::from(i)).copied().unwrap_or(usize::from(i));
        out | u8::try_from(to).map(bit).unwrap_or(0)
    })
}

fn map_index(index: u8, perm: &[usize]) -> u8 {
    perm.get(usize::from(index))
        .and_then(|&new| u8::try_from(new).ok())
        .unwrap_or(index)
}

/// `items` with the entry at `old` moved to `perm[old]`; entries past `perm` stay in place.
fn map_array<T: Copy, const N: usize>(items: &[T; N], perm: &[usize]) -> [T; N] {
    let mut out = *items;
    for (old, &new) in perm.iter().enumerate() {
        if let (Some(item), Some(slot)) = (items.get(old), out.get_mut(new)) {
            *slot = *item;
        }
    }
    out
}

/// One device with its mailboxes renamed by `perm` and its tokens renamed by `tokens`
/// (`tokens[old] = new`).
fn rename_device(d: &Device, perm: &[usize], tokens: &[usize]) -> Device {
    let table = |t: &[Option<Token>; MAX_MAILBOXES]| {
        map_array(t, perm).map(|t| t.map(|t| map_index(t, tokens)))
    };
    let mut ring = d.ring;
    for m in ring.iter_mut().take(usize::from(d.ring_len)) {
        *m = map_set(*m, perm);
    }
    Device {
        exists: map_set(d.exists, perm),
        registration: map_set(d.registration, perm),
        pending: map_set(d.pending, perm),
        ring,
        tokens: table(&d.tokens),
        retired: map_set(d.retired, tokens),
        with_push: map_set(d.with_push, perm),
        reply: map_set(d.reply, perm),
        wakes: map_set(d.wakes, tokens),
        fan_out_only: map_set(d.fan_out_only, tokens),
        polls_due: map_set(d.polls_due, perm),
        da_tokens: table(&d.da_tokens),
        unmonitored: map_set(d.unmonitored, perm),
        fresh: map_set(d.fresh, perm),
        corrupt: map_set(d.corrupt, perm),
        ..*d
    }
}

/// Token numbers in the order they first appear in a device: its token table, the DA's table,
/// then the retired tokens and the pending wakes in ascending order.
fn canonical_tokens(d: &Device) -> [usize; 8] {
    let mut perm = [usize::MAX; 8];
    let mut next = 0;
    let order = d
        .tokens
        .iter()
        .chain(&d.da_tokens)
        .flatten()
        .copied()
        .chain(members(d.retired | d.wakes | d.fan_out_only));
    for t in order {
        if let Some(slot) = perm.get_mut(usize::from(t))
            && *slot == usize::MAX
        {
            *slot = next;
            next += 1;
        }
    }
    for slot in perm.iter_mut().filter(|s| **s == usize::MAX) {
        *slot = next;
        next += 1;
    }
    perm
}

/// Token numbers unchanged.
const SAME_TOKENS: [usize; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
/// Mailboxes unchanged.
const SAME_MAILBOXES: [usize; MAX_MAILBOXES] = [0, 1, 2, 3];

impl State {
    /// This state with devices renamed by `device_perm` and mailboxes by `mailbox_perm`
    /// (`perm[old] = new`, over every mailbox of every account); tokens keep their numbers.
    pub fn renamed(&self, device_perm: &[usize], mailbox_perm: &[usize]) -> State {
        let mut devices = self.devices;
        for d in devices.iter_mut().take(usize::from(self.shape.devices)) {
            *d = rename_device(d, mailbox_perm, &SAME_TOKENS);
        }
        self.with_devices(map_array(&devices, device_perm), mailbox_perm)
    }

    fn with_devices(&self, devices: [Device; MAX_DEVICES], perm: &[usize]) -> State {
        let mut log = self.log;
        for byte in log.iter_mut().take(usize::from(self.log_len)) {
            *byte = match ServerEvent::decode(*byte) {
                ServerEvent::Change(m) => ServerEvent::Change(map_index(m, perm)),
                ServerEvent::Recreated(m) => ServerEvent::Recreated(map_index(m, perm)),
                ServerEvent::Deleted(m) => ServerEvent::Deleted(map_index(m, perm)),
                ServerEvent::Renamed(m, to) => {
                    ServerEvent::Renamed(map_index(m, perm), map_index(to, perm))
                }
            }
            .encode();
        }
        State {
            exists: map_set(self.exists, perm),
            log,
            devices,
            ..*self
        }
    }

    /// The canonical member of this state's orbit under `mailbox_perm` and every device order.
    fn canonical(&self, mailbox_perm: &[usize]) -> State {
        let count = usize::from(self.shape.devices);
        let mut devices = self.devices;
        for d in devices.iter_mut().take(count) {
            let renamed = rename_device(d, mailbox_perm, &SAME_TOKENS);
            *d = rename_device(&renamed, &SAME_MAILBOXES, &canonical_tokens(&renamed));
        }
        if let Some(existing) = devices.get_mut(..count) {
            existing.sort_by_cached_key(Device::encode);
        }
        self.with_devices(devices, mailbox_perm)
    }
}

type Permutations = Rc<Vec<Vec<usize>>>;

thread_local! {
    // The representative is computed for every generated state; the renamings depend only on
    // the shape, so each checker thread builds them once.
    static TABLES: RefCell<HashMap<Shape, Permutations>> = RefCell::new(HashMap::new());
}

fn renamings(shape: &Shape) -> Permutations {
    TABLES.with(|tables| {
        tables
            .borrow_mut()
            .entry(*shape)
            .or_insert_with(|| Rc::new(mailbox_permutations(shape)))
            .clone()
    })
}

impl Representative for State {
    fn representative(&self) -> State {
        let mut best: Option<(State, [u8; State::BYTES])> = None;
        for perm in renamings(&self.shape).iter() {
            let candidate = self.canonical(perm);
            let key = candidate.encode();
            if best.as_ref().is_none_or(|(_, k)| key < *k) {
                best = Some((candidate, key));
            }
        }
        best.map_or(*self, |(state, _)| state)
    }
}
