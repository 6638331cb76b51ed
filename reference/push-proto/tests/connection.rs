#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Server and client connection cores on virtual time.

use mailpush_push_proto::client::{ClientConnection, ClientEvent};
use mailpush_push_proto::ring::Outgoing;
use mailpush_push_proto::server::{ServerConnection, ServerEvent, ServerSettings};
use mailpush_push_proto::{
    Credential, Frame, FrameDecoder, NotificationId, Payload, ReasonCode, Timestamp, VersionRange,
    frame_to_vec,
};
use quickcheck::QuickCheck;

fn frames(octets: Option<Vec<u8>>) -> Vec<Frame> {
    let mut decoder = FrameDecoder::new();
    decoder.extend(&octets.unwrap_or_default());
    let mut out = Vec::new();
    while let Some(frame) = decoder.next_frame().unwrap() {
        out.push(frame);
    }
    out
}

/// The code of the one `error` frame in `octets`, which must hold nothing else.
fn sole_error(octets: Option<Vec<u8>>) -> ReasonCode {
    match frames(octets).as_slice() {
        [Frame::Error { code, .. }] => *code,
        other => panic!("expected one error frame, got {other:?}"),
    }
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
    assert_eq!(
        sole_error(server.poll_transmit()),
        ReasonCode::UnexpectedFrame
    );
}

#[test]
fn hello_timeout_on_virtual_time() {
    let mut server = ServerConnection::new(ServerSettings::default(), T0);
    assert_eq!(server.poll_timeout(), Some(T0.plus_ms(10_000)));
    server.handle_timeout(T0.plus_ms(9_999));
    assert!(!server.is_closed());
    server.handle_timeout(T0.plus_ms(10_000));
    assert_eq!(sole_error(server.poll_transmit()), ReasonCode::Timeout);
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
    assert_eq!(
        sole_error(server.poll_transmit()),
        ReasonCode::UnsupportedVersion
    );
}

#[test]
fn oversize_and_malformed_frames_close_cleanly() {
    let mut server = established();
    server.handle_input(&100_000u32.to_be_bytes(), T0);
    assert_eq!(
        sole_error(server.poll_transmit()),
        ReasonCode::FrameTooLarge
    );
    let mut server = established();
    //= spec/device-channel.md#CHAN-4
    //# MUST be answered with `ERROR` code
    //# `malformed-frame` followed by closing the connection.
    server.handle_input(&[0, 0, 0, 1, 0x42], T0);
    assert_eq!(
        sole_error(server.poll_transmit()),
        ReasonCode::MalformedFrame
    );
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
    assert_eq!(
        sole_error(server.poll_transmit()),
        ReasonCode::UnexpectedFrame
    );
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
        mailpush_push_proto::fuzzing::check_server_connection(&octets).unwrap();
        true
    }
    QuickCheck::new()
        .tests(3000)
        .quickcheck(property as fn(Vec<u8>) -> bool);
    // And from a valid hello followed by arbitrary frames.
    fn after_hello(rest: Vec<u8>) -> bool {
        let mut octets = vec![7];
        octets.extend(hello(1, 1, 0));
        octets.extend(rest);
        mailpush_push_proto::fuzzing::check_server_connection(&octets).unwrap();
        true
    }
    QuickCheck::new()
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

fn client_at(cursor: u64, now: Timestamp) -> ClientConnection {
    let mut client = ClientConnection::new(
        Credential::new("tok").unwrap(),
        Credential::new("sec").unwrap(),
        cursor,
        now,
    );
    assert!(matches!(
        frames(client.poll_transmit()).as_slice(),
        [Frame::Hello { .. }]
    ));
    client
}

fn welcome(version: u8, cursor: u64, window: u16) -> Vec<u8> {
    frame_to_vec(&Frame::Welcome {
        version,
        cursor,
        window: mailpush_push_proto::Window::new(window).unwrap(),
        keepalive: mailpush_push_proto::Keepalive::DEFAULT,
    })
}

fn notify(id: u64) -> Vec<u8> {
    frame_to_vec(&Frame::Notify {
        id: NotificationId::new(id).unwrap(),
        retained: false,
        payload: Payload::default(),
    })
}

fn handed_on(client: &mut ClientConnection) -> Vec<u64> {
    std::iter::from_fn(|| client.poll_event())
        .filter_map(|event| match event {
            ClientEvent::Notification { id, .. } => Some(id.get()),
            _ => None,
        })
        .collect()
}

fn id(id: u64) -> NotificationId {
    NotificationId::new(id).unwrap()
}

#[test]
fn frames_before_hello_are_unexpected_but_close_gets_silence() {
    //= spec/device-channel.md#CHAN-29
    //# A first frame that is well formed but is not `hello` MUST be answered
    //# with `ERROR` code `unexpected-frame` and a close
    for first in [frame_to_vec(&Frame::Ping), ack(1)] {
        let mut server = ServerConnection::new(ServerSettings::default(), T0);
        server.handle_input(&first, T0);
        assert_eq!(
            sole_error(server.poll_transmit()),
            ReasonCode::UnexpectedFrame
        );
        assert!(server.is_closed());
    }
    //= spec/device-channel.md#CHAN-29
    //# except `close` and `error`: after either the
    //# server MUST send nothing and close
    for first in [
        Frame::close(ReasonCode::ClientClose, "bye"),
        Frame::error(ReasonCode::InternalError, "oops"),
    ] {
        let mut server = ServerConnection::new(ServerSettings::default(), T0);
        server.handle_input(&frame_to_vec(&first), T0);
        assert!(server.poll_transmit().is_none(), "{first:?}");
        assert_eq!(
            server.poll_event(),
            Some(ServerEvent::Closed {
                code: ReasonCode::ClientClose,
                by_peer: true
            })
        );
        assert!(server.is_closed());
    }
}

#[test]
fn frames_after_hello_wait_for_its_answer() {
    //= spec/device-channel.md#CHAN-29
    //# if it sends `welcome`, the frames
    //# the client sent after its `hello` are frames of the session, handled in order as if they had
    //# arrived after `welcome`; if it refuses the `hello`, they are never read.
    let mut pipelined = hello(1, 1, 0);
    pipelined.extend(frame_to_vec(&Frame::Ping));
    pipelined.extend(frame_to_vec(&Frame::Ping));
    let mut server = ServerConnection::new(ServerSettings::default(), T0);
    server.handle_input(&pipelined, T0);
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Hello { .. })
    ));
    assert_eq!(
        server.poll_event(),
        None,
        "nothing read while authenticating"
    );
    assert!(server.poll_transmit().is_none());
    server.accept(1, 0, T0);
    assert!(matches!(
        frames(server.poll_transmit()).as_slice(),
        [Frame::Welcome { .. }, Frame::Pong, Frame::Pong]
    ));

    let mut server = ServerConnection::new(ServerSettings::default(), T0);
    server.handle_input(&pipelined, T0);
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Hello { .. })
    ));
    server.reject(ReasonCode::AuthFailed, "auth-failed");
    assert_eq!(sole_error(server.poll_transmit()), ReasonCode::AuthFailed);
}

#[test]
fn dead_peer_deadline_runs_from_welcome_and_complete_frames() {
    let keepalive_ms = 60_000;
    //= spec/device-channel.md#CHAN-31
    //# It MUST NOT close the session as
    //# dead before two `keepalive` intervals have passed since then, and MUST close it no later than one
    //# second after that.
    let mut server = established();
    assert_eq!(server.poll_timeout(), Some(T0.plus_ms(2 * keepalive_ms)));
    //= spec/device-channel.md#CHAN-31
    //# from the later of two moments: when it sent `welcome`, and when it last received a complete frame
    //# on the session (octets of a frame not yet complete do not count).
    let ping = frame_to_vec(&Frame::Ping);
    server.handle_input(&ping[..3], T0.plus_ms(100_000));
    assert_eq!(server.poll_timeout(), Some(T0.plus_ms(2 * keepalive_ms)));
    server.handle_timeout(T0.plus_ms(2 * keepalive_ms - 1));
    assert!(!server.is_closed());
    server.handle_timeout(T0.plus_ms(2 * keepalive_ms));
    assert!(matches!(
        frames(server.poll_transmit()).as_slice(),
        [Frame::Close {
            code: ReasonCode::Timeout,
            ..
        }]
    ));

    // A complete frame moves the deadline to two intervals after it.
    let mut server = established();
    server.handle_input(&ping[..3], T0.plus_ms(50_000));
    server.handle_input(&ping[3..], T0.plus_ms(100_000));
    assert_eq!(frames(server.poll_transmit()), vec![Frame::Pong]);
    let deadline = T0.plus_ms(100_000 + 2 * keepalive_ms);
    assert_eq!(server.poll_timeout(), Some(deadline));
    server.handle_timeout(T0.plus_ms(2 * keepalive_ms));
    assert!(!server.is_closed());
    server.handle_timeout(deadline);
    assert!(server.is_closed());
}

#[test]
fn client_enforces_the_window() {
    let mut client = client_at(0, T0);
    let mut input = welcome(1, 0, 2);
    input.extend(notify(1));
    input.extend(notify(2));
    client.handle_input(&input, T0);
    assert_eq!(handed_on(&mut client), vec![1, 2]);
    // Acknowledging the first frees one place.
    assert!(client.ack(id(1), T0));
    client.handle_input(&notify(3), T0);
    assert_eq!(handed_on(&mut client), vec![3]);
    assert!(!client.is_closed());
    //= spec/device-channel.md#CHAN-30
    //# A client MAY check the window: when a `notify` arrives while `window`
    //# notifications it received on the session are not covered by an `ack` it sent (duplicates it
    //# acknowledged again under [CHAN-18](#CHAN-18) do not count), it MAY close the connection with
    //# `ERROR` code `unexpected-frame`.
    client.handle_input(&notify(4), T0);
    assert!(client.is_closed());
    assert!(matches!(
        frames(client.poll_transmit()).as_slice(),
        [
            Frame::Ack { .. },
            Frame::Error {
                code: ReasonCode::UnexpectedFrame,
                ..
            }
        ]
    ));
}

#[test]
fn duplicates_do_not_count_against_the_client_window() {
    let mut client = client_at(3, T0);
    let mut input = welcome(1, 3, 1);
    for id in 1..=4 {
        input.extend(notify(id));
    }
    client.handle_input(&input, T0);
    assert_eq!(handed_on(&mut client), vec![4]);
    assert!(!client.is_closed());
    let acks: Vec<_> = frames(client.poll_transmit());
    assert_eq!(acks.len(), 3, "1 to 3 acknowledged again: {acks:?}");
}

#[test]
fn client_refuses_a_version_it_did_not_offer() {
    //= spec/device-channel.md#CHAN-33
    //# A client MUST close the connection with `ERROR` code
    //# `unsupported-version` when the version in `welcome` is not one it offered in its `hello`.
    let mut client = client_at(0, T0);
    client.handle_input(&welcome(2, 0, 16), T0);
    assert!(client.is_closed());
    assert_eq!(
        sole_error(client.poll_transmit()),
        ReasonCode::UnsupportedVersion
    );
}

#[test]
fn client_takes_the_greater_cursor() {
    //= spec/device-channel.md#CHAN-33
    //# From
    //# `welcome` on, the highest id the client has processed ([CHAN-18](#CHAN-18)) MUST be taken as the
    //# greater of the cursor it sent in `hello` and the cursor of `welcome`.
    let mut client = client_at(2, T0);
    let mut input = welcome(1, 5, 16);
    input.extend(notify(4));
    input.extend(notify(6));
    client.handle_input(&input, T0);
    assert_eq!(client.cursor(), 5);
    assert_eq!(
        handed_on(&mut client),
        vec![6],
        "4 is at or below the cursor"
    );
    assert_eq!(
        frames(client.poll_transmit()),
        vec![Frame::Ack { id: id(4) }]
    );
}

#[test]
fn client_gives_up_when_no_welcome_comes() {
    //= spec/device-channel.md#CHAN-34
    //# A client SHOULD close a connection on which no `welcome` has arrived 30 seconds
    //# after it sent `hello`
    let mut client = client_at(0, T0);
    assert_eq!(client.poll_timeout(), Some(T0.plus_ms(30_000)));
    client.handle_timeout(T0.plus_ms(29_999));
    assert!(!client.is_closed());
    client.handle_timeout(T0.plus_ms(30_000));
    assert!(client.is_closed());
    assert!(client.poll_transmit().is_none());
    assert_eq!(
        client.poll_event(),
        Some(ClientEvent::Closed {
            code: ReasonCode::Timeout,
            by_peer: false
        })
    );
}

#[test]
fn client_acks_only_what_it_handed_on() {
    let mut client = client_at(0, T0);
    let mut input = welcome(1, 0, 16);
    input.extend(notify(3));
    input.extend(notify(7));
    client.handle_input(&input, T0);
    assert_eq!(handed_on(&mut client), vec![3, 7]);
    //= spec/device-channel.md#CHAN-20
    //# MUST NOT acknowledge an id it has not received.
    for never_received in [1, 5, 8] {
        assert!(!client.ack(id(never_received), T0), "{never_received}");
    }
    assert!(client.poll_transmit().is_none());
    // A cumulative ack of the later one covers the earlier; repeating either sends nothing.
    assert!(client.ack(id(7), T0));
    assert!(!client.ack(id(3), T0));
    assert!(!client.ack(id(7), T0));
    assert_eq!(
        frames(client.poll_transmit()),
        vec![Frame::Ack { id: id(7) }]
    );
    assert_eq!(client.cursor(), 7);
}

#[test]
fn arbitrary_server_octets_never_break_the_client_core() {
    fn from_the_start(octets: Vec<u8>) -> bool {
        mailpush_push_proto::fuzzing::check_client_connection(&octets).unwrap();
        true
    }
    QuickCheck::new()
        .tests(3000)
        .quickcheck(from_the_start as fn(Vec<u8>) -> bool);
    // After a valid welcome, with well-formed notifications mixed into the noise.
    fn after_welcome(mode: u8, cursors: u8, items: Vec<(u8, Vec<u8>)>) -> bool {
        let mut octets = vec![mode | 0x80, cursors];
        for (kind, noise) in items {
            match kind % 4 {
                0 => octets.extend(notify(u64::from(kind / 4) + 1)),
                1 => octets.extend(frame_to_vec(&Frame::Pong)),
                2 => octets.extend(noise),
                _ => octets.extend(notify(u64::from(kind))),
            }
        }
        mailpush_push_proto::fuzzing::check_client_connection(&octets).unwrap();
        true
    }
    QuickCheck::new()
        .tests(3000)
        .quickcheck(after_welcome as fn(u8, u8, Vec<(u8, Vec<u8>)>) -> bool);
}

#[test]
fn no_clock_is_shared_between_the_ends() {
    //= spec/architecture.md#ARCH-6
    //# A component MUST NOT rely on another component's clock: expiry and retention
    //# periods cross the network as durations (for example `TTL`), never as points in time.
    // The client's clock is decades behind the server's; keepalive still works on both sides,
    // because no frame carries a point in time.
    let server_t0 = Timestamp(4_000_000_000_000);
    let client_t0 = Timestamp(5);
    let mut client = client_at(0, client_t0);
    let mut server = ServerConnection::new(ServerSettings::default(), server_t0);
    server.handle_input(&hello(1, 1, 0), server_t0);
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Hello { .. })
    ));
    server.accept(1, 0, server_t0);
    client.handle_input(&server.poll_transmit().unwrap(), client_t0);
    assert!(client.is_established());
    for minute in 1..=10 {
        let elapsed = minute * 60_000;
        client.handle_timeout(client_t0.plus_ms(elapsed));
        server.handle_timeout(server_t0.plus_ms(elapsed));
        if let Some(ping) = client.poll_transmit() {
            server.handle_input(&ping, server_t0.plus_ms(elapsed));
            client.handle_input(&server.poll_transmit().unwrap(), client_t0.plus_ms(elapsed));
        }
        assert!(
            !client.is_closed() && !server.is_closed(),
            "minute {minute}"
        );
    }
}
