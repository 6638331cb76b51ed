//! Servers that send anything at all: the mail client must not panic, must close what it was
//! told nonsense on, and must send nothing on a connection after closing it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashSet;

use mailpush_device_core::mail_client::{ConnectionId, Event, MailClient, Restored};
use quickcheck::{QuickCheck, TestResult};
use support::{T0, account, account_config, config, device, mailbox};

fn survives(channel_octets: Vec<Vec<u8>>, imap_octets: Vec<Vec<u8>>) -> TestResult {
    let restored = Restored {
        device: Some((device(), 0)),
        ..Restored::default()
    };
    let mut client =
        MailClient::new(config(vec![account_config("A1", 900)], 3), restored, T0).unwrap();
    client
        .register(&account("A1"), &[mailbox("Notes")], T0)
        .unwrap();
    let mut now = T0;
    let mut channel: Option<ConnectionId> = None;
    let mut imap: Option<ConnectionId> = None;
    let mut closed: HashSet<ConnectionId> = HashSet::new();
    let mut inputs = channel_octets.into_iter().zip(imap_octets).peekable();
    loop {
        while let Some(event) = client.poll_event() {
            match event {
                Event::Persist(batch) => client.handle_persisted(batch.ticket, now),
                Event::ChannelConnect { conn } => {
                    channel = Some(conn);
                    client.handle_channel_connected(conn, now);
                }
                Event::ImapConnect { conn, .. } => {
                    imap = Some(conn);
                    client.handle_imap_connected(conn, now);
                }
                Event::ChannelClose { conn } | Event::ImapClose { conn } => {
                    closed.insert(conn);
                }
                Event::ChannelTransmit { conn, .. } | Event::ImapTransmit { conn, .. }
                    if closed.contains(&conn) =>
                {
                    return TestResult::error(format!("sent on {conn:?} after closing it"));
                }
                _ => {}
            }
        }
        let Some((to_channel, to_imap)) = inputs.next() else {
            break;
        };
        now = now.plus_ms(u64::from(to_channel.first().copied().unwrap_or(0)) * 100);
        if let Some(conn) = channel {
            client.handle_channel_input(conn, &to_channel, now);
        }
        if let Some(conn) = imap {
            client.handle_imap_input(conn, &to_imap, now);
        }
        client.handle_timeout(now);
    }
    TestResult::passed()
}

#[test]
fn arbitrary_server_octets_are_survived() {
    QuickCheck::new()
        .tests(1000)
        .quickcheck(survives as fn(Vec<Vec<u8>>, Vec<Vec<u8>>) -> TestResult);
    // And well-formed starts followed by garbage.
    let welcome = mailpush_push_proto::frame_to_vec(&mailpush_push_proto::Frame::Welcome {
        version: 1,
        cursor: 0,
        window: mailpush_push_proto::Window::DEFAULT,
        keepalive: mailpush_push_proto::Keepalive::DEFAULT,
    });
    let greeting =
        b"* OK [CAPABILITY IMAP4rev1] hi\r\nA1 OK [CAPABILITY IMAP4rev1 XAPPLEPUSHSERVICE] in\r\n"
            .to_vec();
    for garbage in [
        &b"\x00\x00\x00\x01\x09"[..],
        b"\x00\x00\xff\xff",
        b"* XAPPLEPUSHSERVICE \"mailbox\"\r\n",
    ] {
        let mut channel = welcome.clone();
        channel.extend_from_slice(garbage);
        let mut imap = greeting.clone();
        imap.extend_from_slice(garbage);
        assert!(!survives(vec![channel], vec![imap]).is_error());
    }
}
