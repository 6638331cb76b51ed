#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! SYNC-14 against the mail server's IMAP session core, in process, for each method: a message
//! larger than the engine's limit stays in the view by UID, flags and mod-sequence, marked too
//! large, with its header section when the octets fetched held all of it.

mod da_support;

use da_support::{Offer, World, config, mailbox};
use mailpush_device_core::da::{ContentState, Event};

const LIMIT: u32 = 300;

/// A device whose engine keeps messages up to `LIMIT` octets, not started.
fn unstarted(offer: Offer) -> World {
    let mut c = config(&["Notes"]);
    c.limits.max_message_octets = LIMIT;
    World::with_config(offer, &["INBOX", "Notes"], c)
}

fn world(offer: Offer) -> World {
    let mut w = unstarted(offer);
    w.start();
    w
}

const HEADER: &str = "Subject: long note\r\nX-Uniform-Type-Identifier: com.apple.mail-note\r\n\
                      X-Universally-Unique-Identifier: 8A1F3D0E-2C4B-4E55-9A77-1B2C3D4E5F60\r\n\
                      Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n";

/// A note whose header fits in the limit and whose body does not.
fn long_note() -> Vec<u8> {
    format!("{HEADER}{}\r\n", "x".repeat(2 * LIMIT as usize)).into_bytes()
}

/// A message whose header alone is longer than the limit.
fn long_header() -> Vec<u8> {
    format!(
        "X-Filler: {}\r\n\r\nbody\r\n",
        "y".repeat(2 * LIMIT as usize)
    )
    .into_bytes()
}

/// What the sync delivered as content for `uid`, from the events since `from`.
fn delivered(w: &World, from: usize, uid: u32) -> Option<Vec<u8>> {
    w.events[from..].iter().find_map(|e| match e {
        Event::Content(c) if c.uid.get() == uid => Some(c.octets.clone()),
        _ => None,
    })
}

fn added(w: &World, uid: u32) -> ContentState {
    w.completed
        .iter()
        .flat_map(|c| c.update.added.iter())
        .find(|a| a.uid.get() == uid)
        .map(|a| a.content)
        .unwrap_or_else(|| panic!("UID {uid} never added"))
}

//= spec/sync.md#SYNC-14
//= type=test
//# The DA SHOULD keep the header
//# section of such a message when the octets it fetched hold the whole header
#[test]
fn a_message_over_the_limit_keeps_its_header_in_the_first_sync() {
    for offer in Offer::ALL {
        let mut w = unstarted(offer);
        let (big, _) = w.server.append("Notes", &long_note(), &["\\Seen"]);
        let (huge, _) = w.server.append("Notes", &long_header(), &[]);
        let (small, _) = w
            .server
            .append("Notes", b"Subject: s\r\n\r\nsmall\r\n", &[]);
        w.start();
        assert_eq!(w.completed.len(), 1, "{offer:?}");
        let report = &w.completed[0].report;
        assert_eq!((report.added, report.too_large), (3, 2), "{offer:?}");
        assert_eq!(
            added(&w, big),
            ContentState::Truncated {
                header_octets: HEADER.len() as u32
            },
            "{offer:?}"
        );
        assert_eq!(
            delivered(&w, 0, big).unwrap(),
            HEADER.as_bytes(),
            "{offer:?}"
        );
        assert_eq!(added(&w, huge), ContentState::TooLarge, "{offer:?}");
        assert_eq!(delivered(&w, 0, huge), None, "{offer:?}");
        assert!(matches!(added(&w, small), ContentState::Downloaded { .. }));
        // Kept by UID, flags and mod-sequence.
        let view = w.engine.view(&mailbox("Notes")).unwrap();
        let meta = &view.messages[&std::num::NonZeroU32::new(big).unwrap()];
        assert!(meta.flags.contains(&mailpush_imap::Flag::Seen), "{offer:?}");
        assert_eq!(meta.modseq.is_some(), offer != Offer::Plain, "{offer:?}");
        assert_eq!(view.messages.len(), 3, "{offer:?}");
    }
}

//= spec/sync.md#SYNC-14
//= type=test
//# it
//# counts as downloaded for SYNC-7, and the rest of the sync goes on
#[test]
fn a_message_over_the_limit_added_later_keeps_its_header_and_is_not_fetched_again() {
    for offer in Offer::ALL {
        let mut w = world(offer);
        w.sync("Notes");
        let from = w.events.len();
        let (big, _) = w.server.append("Notes", &long_note(), &[]);
        let (small, _) = w
            .server
            .append("Notes", b"Subject: s\r\n\r\nsmall\r\n", &[]);
        let c = w.sync("Notes");
        assert_eq!((c.report.added, c.report.too_large), (2, 1), "{offer:?}");
        assert!(
            matches!(added(&w, big), ContentState::Truncated { .. }),
            "{offer:?}"
        );
        assert_eq!(delivered(&w, from, big).unwrap(), HEADER.as_bytes());
        assert!(delivered(&w, from, small).is_some());

        // Its flags follow the server like any other message's; its content is not fetched
        // again.
        let from = w.events.len();
        w.server.set_flags("Notes", big, &["\\Flagged"]);
        let c = w.sync("Notes");
        assert_eq!(c.report.changed, 1, "{offer:?}");
        assert_eq!(c.report.added, 0, "{offer:?}");
        assert_eq!(delivered(&w, from, big), None, "{offer:?}");
        let view = w.engine.view(&mailbox("Notes")).unwrap();
        let meta = &view.messages[&std::num::NonZeroU32::new(big).unwrap()];
        assert!(
            meta.flags.contains(&mailpush_imap::Flag::Flagged),
            "{offer:?}"
        );

        // And it leaves the view when it is expunged.
        w.server.expunge("Notes", big);
        let c = w.sync("Notes");
        assert_eq!(c.report.removed, 1, "{offer:?}");
        assert_eq!(w.engine.view(&mailbox("Notes")).unwrap().messages.len(), 1);
    }
}
