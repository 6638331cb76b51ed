#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The engine's capability mask: a server that offers QRESYNC and CONDSTORE is synchronized by
//! a lesser method when the mask says so, and the views agree whichever method ran.

mod da_support;

use da_support::{Offer, World, config, note};
use mailpush_device_core::da::Method;

#[test]
fn the_mask_chooses_a_lesser_method_than_the_server_offers() {
    for (mask, method) in [
        (vec![], Method::QResync),
        (vec!["qresync"], Method::CondStore),
        (vec!["QRESYNC", "CONDSTORE"], Method::Plain),
        (vec!["CONDSTORE"], Method::QResync),
    ] {
        let mut c = config(&["Notes"]);
        c.masked_capabilities = mask.iter().map(|m| (*m).to_owned()).collect();
        let mut w = World::with_config(Offer::QResync, &["INBOX", "Notes"], c);
        for n in 0..3 {
            w.server.append("Notes", &note(n), &[]);
        }
        w.start();
        w.server.append("Notes", &note(9), &["\\Seen"]);
        let c = w.sync("Notes");
        assert_eq!(c.report.method, method, "{mask:?}");
        assert_eq!(c.report.added, 1, "{mask:?}");
        w.assert_converged("Notes");
    }
}
