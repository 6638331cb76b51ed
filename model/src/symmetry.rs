//! Symmetry reduction: devices are interchangeable, and so are mailboxes of the same kind (with
//! push, without push). The representative of a state is the least state, in `Ord` order, of its
//! orbit under every such permutation, so two states that differ only by naming share one
//! representative exactly (not just usually, as a sort-based canonical form would).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use stateright::Representative;

use crate::config::MAX_MAILBOXES;
use crate::state::{Device, Notification, State, bit, members};

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

/// Permutations of `0..total` that map `0..split` onto itself and `split..total` onto itself.
fn class_permutations(split: usize, total: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for first in permutations(split) {
        for second in permutations(total - split) {
            let mut perm = first.clone();
            perm.extend(second.iter().map(|p| p + split));
            out.push(perm);
        }
    }
    out
}

fn is_identity(perm: &[usize]) -> bool {
    perm.iter().enumerate().all(|(i, &p)| i == p)
}

fn map_set(set: u8, perm: &[usize]) -> u8 {
    members(set).fold(0u8, |out, i| {
        let to = perm.get(usize::from(i)).copied().unwrap_or(usize::from(i));
        out | u8::try_from(to).map(bit).unwrap_or(0)
    })
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

fn map_index(index: u8, perm: &[usize]) -> u8 {
    perm.get(usize::from(index))
        .and_then(|&new| u8::try_from(new).ok())
        .unwrap_or(index)
}

/// Renames one device's mailboxes by `mailbox_perm`. Tokens are opaque names given out one per
/// mailbox, so they are renamed with their mailboxes: the token of old mailbox `i` becomes the
/// token numbered like new mailbox `perm[i]`, when the tokens are exactly `0..mailboxes` (always
/// the case once registered, since the mail client registers every monitored mailbox at once).
fn rename_device(d: &Device, mailbox_perm: &[usize], device_perm: &[usize]) -> Device {
    let mut token_perm = [0usize, 1, 2, 3, 4, 5, 6, 7];
    for (mailbox, token) in d.tokens.iter().enumerate() {
        if let (Some(token), Some(&new)) = (token, mailbox_perm.get(mailbox))
            && let Some(slot) = token_perm.get_mut(usize::from(*token))
        {
            *slot = new;
        }
    }
    let rename_tokens = |tokens: &[Option<u8>; MAX_MAILBOXES]| {
        map_array(tokens, mailbox_perm).map(|t| t.map(|t| map_index(t, &token_perm)))
    };
    let mut ring = d.ring;
    for n in ring.iter_mut().take(usize::from(d.ring_len)) {
        *n = Notification {
            to: map_index(n.to, device_perm),
            m: map_set(n.m, mailbox_perm),
        };
    }
    Device {
        da_tokens: rename_tokens(&d.da_tokens),
        views: map_array(&d.views, mailbox_perm),
        tokens: rename_tokens(&d.tokens),
        with_push: map_set(d.with_push, mailbox_perm),
        wakes: map_set(d.wakes, &token_perm),
        fan_out_only: map_set(d.fan_out_only, &token_perm),
        polls_due: map_set(d.polls_due, mailbox_perm),
        registration: d.registration.map(|r| map_set(r, mailbox_perm)),
        pending: map_set(d.pending, mailbox_perm),
        ring,
        ..*d
    }
}

impl State {
    /// This state with devices renamed by `device_perm` and mailboxes by `mailbox_perm`
    /// (`perm[old] = new`).
    pub fn renamed(&self, device_perm: &[usize], mailbox_perm: &[usize]) -> State {
        let mut devices = self.devices;
        for d in devices.iter_mut().take(usize::from(self.device_count)) {
            *d = rename_device(d, mailbox_perm, device_perm);
        }
        State {
            versions: map_array(&self.versions, mailbox_perm),
            push_capable: map_set(self.push_capable, mailbox_perm),
            devices: map_array(&devices, device_perm),
            ..*self
        }
    }
}

type Permutations = Rc<Vec<Vec<usize>>>;
/// Device and mailbox permutations, by (devices, mailboxes with push, mailboxes).
type Tables = HashMap<(usize, usize, usize), (Permutations, Permutations)>;

thread_local! {
    // The representative is computed for every generated state; the permutation tables depend
    // only on the sizes, so each checker thread builds them once.
    static TABLES: RefCell<Tables> = RefCell::new(HashMap::new());
}

fn tables(devices: usize, push: usize, mailboxes: usize) -> (Permutations, Permutations) {
    TABLES.with(|tables| {
        tables
            .borrow_mut()
            .entry((devices, push, mailboxes))
            .or_insert_with(|| {
                (
                    Rc::new(permutations(devices)),
                    Rc::new(class_permutations(push, mailboxes)),
                )
            })
            .clone()
    })
}

impl Representative for State {
    fn representative(&self) -> State {
        let push = self.push_capable.count_ones() as usize;
        let mailboxes = usize::from(self.mailboxes);
        let (device_perms, mailbox_perms) = tables(usize::from(self.device_count), push, mailboxes);
        // The least encoding picks the representative: any injective encoding gives every orbit
        // exactly one least member, and comparing bytes is cheaper than the derived `Ord`.
        let mut best = *self;
        let mut best_key = self.encode();
        for device_perm in device_perms.iter() {
            for mailbox_perm in mailbox_perms.iter() {
                if is_identity(device_perm) && is_identity(mailbox_perm) {
                    continue;
                }
                let candidate = self.renamed(device_perm, mailbox_perm);
                let key = candidate.encode();
                if key < best_key {
                    best = candidate;
                    best_key = key;
                }
            }
        }
        best
    }
}
