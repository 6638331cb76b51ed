#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Server and client connection cores on virtual time.

use mailpush_push_proto::client::{ClientConnection, ClientEvent};
use mailpush_push_proto::ring::Outgoing;
use mailpush_push_proto::server::{ServerConnection, ServerEvent, ServerSettings};
use mailpush_push_proto::{
    Credential, Frame, FrameDecoder, NotificationId, Payload, ReasonCode, Timestamp, VersionRange,
    frame_to_vec,
};

fn frames(octets: Option<Vec<u8>>) -> Vec<Frame> {
    let mut decoder = FrameDecoder::new();
    decoder.extend(&octets.unwrap_or_default());
    let mut out = Vec::new();
    while let Some(frame) = decoder.next_frame().unwrap() {
        out.push(frame);
    }
    out
}

fn hello(min: u8, max: u8, cursor: u64) -> Vec<u8> {
    frame_to_vec(&Frame::Hello {
        versions: VersionRange::new(min, max).unwrap(),
        token: Credential::new("tok").unwrap(),
        secret: Credential::new("sec").unwrap(),
        cursor,
    })
}

const T0: Timestamp = Timestamp(1_000_000);

fn established() -> ServerConnection {
    let mut server = ServerConnection::new(ServerSettings::default(), T0);
    server.handle_input(&hello(1, 3, 0), T0);
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Hello { version: 1, .. })
    ));
    server.accept(1, 0, T0);
    assert!(matches!(
        frames(server.poll_transmit()).as_slice(),
        [Frame::Welcome { version: 1, .. }]
    ));
    //= spec/device-channel.md#CHAN-13
    //# After a successful `hello` the server MUST send `welcome` carrying the negotiated
    //# version, the effective cursor
    server
}

#[test]
fn unauthenticated_connection_receives_nothing() {
    //= spec/device-channel.md#CHAN-11
    //# Before it has sent `welcome`, a server MUST NOT send anything
    //# but `error` or `close` on a connection, and it MUST NOT send any notification to it.
    let mut server = ServerConnection::new(ServerSettings::default(), T0);
    server.send_notify(Outgoing {
        id: NotificationId::new(1).unwrap(),
        retained: false,
        payload: Payload::default(),
    });
    assert!(server.poll_transmit().is_none());
    server.handle_input(&hello(1, 1, 0), T0);
    // Authenticating: still nothing may go out.
    server.send_notify(Outgoing {
        id: NotificationId::new(1).unwrap(),
        retained: false,
        payload: Payload::default(),
    });
    assert!(server.poll_transmit().is_none());
    server.reject(ReasonCode::AuthFailed, "auth failed");
    let sent = frames(server.poll_transmit());
    assert!(matches!(
        sent.as_slice(),
        [Frame::Error {
            code: ReasonCode::AuthFailed,
            ..
        }]
    ));
    assert!(server.is_closed());
}

#[test]
fn first_frame_must_be_hello() {
    //= spec/device-channel.md#CHAN-8
    //# The first frame a client sends MUST be `hello`.
    let mut server = ServerConnection::new(ServerSettings::default(), T0);
    server.handle_input(&frame_to_vec(&Frame::Ping), T0);
    assert!(matches!(
        frames(server.poll_transmit()).as_slice(),
        [Frame::Error {
            code: ReasonCode::UnexpectedFrame,
            ..
        }]
    ));
}

#[test]
fn hello_timeout_on_virtual_time() {
    let mut server = ServerConnection::new(ServerSettings::default(), T0);
    assert_eq!(server.poll_timeout(), Some(T0.plus_ms(10_000)));
    server.handle_timeout(T0.plus_ms(9_999));
    assert!(!server.is_closed());
    server.handle_timeout(T0.plus_ms(10_000));
    assert!(matches!(
        frames(server.poll_transmit()).as_slice(),
        [Frame::Error {
            code: ReasonCode::Timeout,
            ..
        }]
    ));
}

#[test]
fn unsupported_version_is_refused() {
    //= spec/device-channel.md#CHAN-9
    //# If there is none, the server
    //# MUST answer `ERROR` code `unsupported-version` and close.
    let mut server = ServerConnection::new(ServerSettings::default(), T0);
    server.handle_input(&hello(2, 5, 0), T0);
    assert!(
        server
            .poll_event()
            .is_some_and(|e| matches!(e, ServerEvent::Closed { .. }))
    );
    assert!(matches!(
        frames(server.poll_transmit()).as_slice(),
        [Frame::Error {
            code: ReasonCode::UnsupportedVersion,
            ..
        }]
    ));
}

#[test]
fn oversize_and_malformed_frames_close_cleanly() {
    let mut server = established();
    server.handle_input(&100_000u32.to_be_bytes(), T0);
    assert!(matches!(
        frames(server.poll_transmit()).as_slice(),
        [Frame::Error {
            code: ReasonCode::FrameTooLarge,
            ..
        }]
    ));
    let mut server = established();
    //= spec/device-channel.md#CHAN-4
    //# MUST be answered with `ERROR` code
    //# `malformed-frame` followed by closing the connection.
    server.handle_input(&[0, 0, 0, 1, 0x42], T0);
    assert!(matches!(
        frames(server.poll_transmit()).as_slice(),
        [Frame::Error {
            code: ReasonCode::MalformedFrame,
            ..
        }]
    ));
    //= spec/device-channel.md#CHAN-25
    //# The sender of an `error` frame MUST close the connection right after sending it
    //# and MUST NOT send anything after it.
    // Nothing after the error.
    server.handle_input(&frame_to_vec(&Frame::Ping), T0);
    assert!(server.poll_transmit().is_none());
}

#[test]
fn server_frames_from_a_client_are_unexpected() {
    let mut server = established();
    //= spec/device-channel.md#CHAN-6
    //# A frame received in the
    //# wrong direction, or a `hello` received after the first frame, MUST be answered with `ERROR` code
    //# `unexpected-frame` and a close.
    server.handle_input(&frame_to_vec(&Frame::Pong), T0);
    assert!(matches!(
        frames(server.poll_transmit()).as_slice(),
        [Frame::Error {
            code: ReasonCode::UnexpectedFrame,
            ..
        }]
    ));
}

#[test]
fn ping_pong_and_dead_peer_on_virtual_time() {
    let mut server = established();
    let keepalive_ms = 60_000;
    //= spec/device-channel.md#CHAN-23
    //# The
    //# server MUST answer every `ping` with `pong`.
    server.handle_input(&frame_to_vec(&Frame::Ping), T0.plus_ms(keepalive_ms));
    assert_eq!(frames(server.poll_transmit()), vec![Frame::Pong]);
    // Dead-peer deadline moved with the ping.
    server.handle_timeout(T0.plus_ms(2 * keepalive_ms));
    assert!(!server.is_closed());
    server.handle_timeout(T0.plus_ms(3 * keepalive_ms));
    assert!(matches!(
        frames(server.poll_transmit()).as_slice(),
        [Frame::Close {
            code: ReasonCode::Timeout,
            ..
        }]
    ));
}

#[test]
fn client_and_server_talk_through_the_cores() {
    let token = Credential::new("tok").unwrap();
    let secret = Credential::new("sec").unwrap();
    let mut client = ClientConnection::new(token.clone(), secret.clone(), 0, T0);
    let mut server = ServerConnection::new(ServerSettings::default(), T0);
    server.handle_input(&client.poll_transmit().unwrap(), T0);
    match server.poll_event() {
        Some(ServerEvent::Hello {
            token: t,
            secret: s,
            cursor: 0,
            ..
        }) => assert!(t == token && s == secret),
        other => panic!("{other:?}"),
    }
    server.accept(1, 0, T0);
    for id in 1..=3 {
        server.send_notify(Outgoing {
            id: NotificationId::new(id).unwrap(),
            retained: id == 1,
            payload: Payload::new(vec![id as u8]).unwrap(),
        });
    }
    client.handle_input(&server.poll_transmit().unwrap(), T0);
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Established { .. })
    ));
    let mut got = Vec::new();
    while let Some(ClientEvent::Notification { id, retained, .. }) = client.poll_event() {
        got.push((id.get(), retained));
        client.ack(id, T0);
    }
    assert_eq!(got, vec![(1, true), (2, false), (3, false)]);
    server.handle_input(&client.poll_transmit().unwrap(), T0);
    // Three acks read together reach the caller as one cumulative ack.
    let acks: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
    assert_eq!(
        acks,
        vec![ServerEvent::Ack(NotificationId::new(3).unwrap())]
    );
    assert_eq!(client.cursor(), 3);

    //= spec/device-channel.md#CHAN-23
    //# A client MUST send `ping` when it has sent nothing for `keepalive` seconds.
    // Client keepalive: ping after one interval of silence, dead server after another.
    client.handle_timeout(T0.plus_ms(60_000));
    assert_eq!(frames(client.poll_transmit()), vec![Frame::Ping]);
    client.handle_timeout(T0.plus_ms(120_000));
    assert!(client.is_closed());
}

#[test]
fn client_rejects_ids_going_backwards_and_reacks_duplicates() {
    let mut client = ClientConnection::new(
        Credential::new("tok").unwrap(),
        Credential::new("sec").unwrap(),
        5,
        T0,
    );
    let _ = client.poll_transmit();
    let mut input = frame_to_vec(&Frame::Welcome {
        version: 1,
        cursor: 3,
        window: mailpush_push_proto::Window::DEFAULT,
        keepalive: mailpush_push_proto::Keepalive::DEFAULT,
    });
    input.extend(frame_to_vec(&Frame::Notify {
        id: NotificationId::new(4).unwrap(),
        retained: false,
        payload: Payload::default(),
    }));
    client.handle_input(&input, T0);
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Established { .. })
    ));
    // Id 4 is at or below what the client processed: re-acked, not processed.
    assert!(client.poll_event().is_none());
    assert!(matches!(
        frames(client.poll_transmit()).as_slice(),
        [Frame::Ack { .. }]
    ));
    //= spec/device-channel.md#CHAN-22
    //# A client MUST close the connection with `ERROR` code `unexpected-frame` when a
    //# server sends a `notify` whose id is not greater than the id of the previous `notify` of the same
    //# session
    client.handle_input(
        &frame_to_vec(&Frame::Notify {
            id: NotificationId::new(4).unwrap(),
            retained: false,
            payload: Payload::default(),
        }),
        T0,
    );
    assert!(client.is_closed());
}

#[test]
fn arbitrary_client_octets_never_break_the_server_core() {
    fn property(octets: Vec<u8>) -> bool {
        mailpush_push_proto::server::check_server_connection(&octets).unwrap();
        true
    }
    quickcheck::QuickCheck::new()
        .tests(3000)
        .quickcheck(property as fn(Vec<u8>) -> bool);
    // And from a valid hello followed by arbitrary frames.
    fn after_hello(rest: Vec<u8>) -> bool {
        let mut octets = vec![7];
        octets.extend(hello(1, 1, 0));
        octets.extend(rest);
        mailpush_push_proto::server::check_server_connection(&octets).unwrap();
        true
    }
    quickcheck::QuickCheck::new()
        .tests(3000)
        .quickcheck(after_hello as fn(Vec<u8>) -> bool);
}

#[test]
fn client_never_acks_what_it_did_not_receive() {
    let mut client = ClientConnection::new(
        Credential::new("tok").unwrap(),
        Credential::new("sec").unwrap(),
        0,
        T0,
    );
    let _ = client.poll_transmit();
    client.handle_input(
        &frame_to_vec(&Frame::Welcome {
            version: 1,
            cursor: 0,
            window: mailpush_push_proto::Window::DEFAULT,
            keepalive: mailpush_push_proto::Keepalive::DEFAULT,
        }),
        T0,
    );
    //= spec/device-channel.md#CHAN-20
    //# MUST NOT acknowledge an id it has not received.
    client.ack(NotificationId::new(5).unwrap(), T0);
    assert!(client.poll_transmit().is_none());
    assert_eq!(client.cursor(), 0);
}

#[test]
fn unknown_reason_codes_read_as_internal_error() {
    //= spec/device-channel.md#CHAN-27
    //# a receiver MUST accept any code,
    //# treating an unknown one like `internal-error`.
    let frame = mailpush_push_proto::decode_frame(&[0, 0, 0, 4, 0x08, 0x12, 0x34, 0])
        .unwrap()
        .0;
    match frame {
        Frame::Close { code, .. } => {
            assert_eq!(code, ReasonCode::Unknown(0x1234));
            assert_eq!(code.name(), "internal-error");
        }
        other => panic!("{other:?}"),
    }
    for code in 0..64u16 {
        assert_eq!(ReasonCode::from_u16(code).to_u16(), code);
    }
}

fn ack(id: u64) -> Vec<u8> {
    frame_to_vec(&Frame::Ack {
        id: NotificationId::new(id).unwrap(),
    })
}

#[test]
fn acks_read_together_fold_into_the_highest_in_order() {
    //= spec/device-channel.md#CHAN-14
    //# An `ack` acknowledges every notification with an id at or below its id
    //# (acknowledgements are cumulative).
    let mut server = established();
    let mut burst = Vec::new();
    for id in [3, 5, 4, 7] {
        burst.extend(ack(id));
    }
    burst.extend(frame_to_vec(&Frame::Ping));
    burst.extend(ack(2));
    burst.extend(ack(9));
    burst.extend(frame_to_vec(&Frame::close(ReasonCode::ClientClose, "bye")));
    burst.extend(ack(11));
    server.handle_input(&burst, T0);
    let mut events = Vec::new();
    while let Some(event) = server.poll_event() {
        events.push(event);
    }
    // A run of acks becomes one event with its highest id (a lower one behind a higher one
    // lowers nothing, a ping raises no event and so does not split the run); the close ends it,
    // and nothing after the close is read.
    assert_eq!(
        events,
        vec![
            ServerEvent::Ack(NotificationId::new(9).unwrap()),
            ServerEvent::Closed {
                code: ReasonCode::ClientClose,
                by_peer: true,
            },
        ]
    );
    assert!(matches!(
        frames(server.poll_transmit()).as_slice(),
        [Frame::Pong]
    ));
}

#[test]
fn acks_in_separate_reads_stay_separate_events() {
    let mut server = established();
    server.handle_input(&ack(1), T0);
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::Ack(NotificationId::new(1).unwrap()))
    );
    server.handle_input(&ack(2), T0);
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::Ack(NotificationId::new(2).unwrap()))
    );
    assert_eq!(server.poll_event(), None);
}
