//! Exchanges of one client connection with scripted server octets.

use super::*;

fn client(security: Security, auth: AuthMechanism) -> ImapClient {
    ImapClient::new(ImapClientConfig::new(
        security,
        auth,
        Credentials {
            username: "fred".into(),
            password: b"pw".to_vec(),
        },
    ))
}

fn sent(c: &mut ImapClient) -> String {
    String::from_utf8(c.poll_transmit().unwrap_or_default()).unwrap()
}

fn events(c: &mut ImapClient) -> Vec<ImapEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

#[test]
fn login_then_capability_when_the_ok_lists_none() {
    let mut c = client(Security::Implicit, AuthMechanism::Login);
    c.handle_input(b"* OK [CAPABILITY IMAP4rev1 XAPPLEPUSHSERVICE] hi\r\n");
    assert_eq!(sent(&mut c), "A1 LOGIN fred pw\r\n");
    // Listed before authentication: does not count.
    assert!(!c.has_capability("XAPPLEPUSHSERVICE"));
    c.handle_input(b"A1 OK done\r\n");
    assert_eq!(sent(&mut c), "A2 CAPABILITY\r\n");
    c.handle_input(b"* CAPABILITY IMAP4rev1 IDLE\r\nA2 OK done\r\n");
    assert_eq!(events(&mut c), [ImapEvent::Ready]);
    assert!(c.has_capability("idle"));
    assert!(!c.has_capability("XAPPLEPUSHSERVICE"));
}

#[test]
fn starttls_then_capabilities_then_plain_after_continuation() {
    let mut c = client(Security::StartTls, AuthMechanism::Plain);
    c.handle_input(b"* OK [CAPABILITY IMAP4rev1 STARTTLS SASL-IR AUTH=PLAIN] hi\r\n");
    assert_eq!(sent(&mut c), "A1 STARTTLS\r\n");
    c.handle_input(b"A1 OK go\r\n* OK injected\r\n");
    assert_eq!(events(&mut c), [ImapEvent::StartTls]);
    c.handle_input(b"A2 OK injected too\r\n");
    c.handle_tls_established();
    // What was listed before TLS is forgotten (RFC 3501 §6.2.1): asked again.
    assert_eq!(sent(&mut c), "A2 CAPABILITY\r\n");
    c.handle_input(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA2 OK\r\n");
    // No SASL-IR after TLS: the response follows the continuation request.
    assert_eq!(sent(&mut c), "A3 AUTHENTICATE PLAIN\r\n");
    c.handle_input(b"+ \r\n");
    assert_eq!(sent(&mut c), "AGZyZWQAcHc=\r\n");
    c.handle_input(b"A3 OK [CAPABILITY IMAP4rev1 XAPPLEPUSHSERVICE] in\r\n");
    assert_eq!(events(&mut c), [ImapEvent::Ready]);
    assert!(c.has_capability("XAPPLEPUSHSERVICE"));
}

#[test]
fn capabilities_are_asked_when_the_greeting_lists_none() {
    let mut c = client(Security::Plaintext, AuthMechanism::Plain);
    c.handle_input(b"* OK hi\r\n");
    assert_eq!(sent(&mut c), "A1 CAPABILITY\r\n");
    c.handle_input(b"* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN\r\nA1 OK\r\n");
    assert_eq!(sent(&mut c), "A2 AUTHENTICATE PLAIN AGZyZWQAcHc=\r\n");
    // SASL-IR used: a continuation request now waits for nothing.
    c.handle_input(b"+ \r\n");
    assert!(matches!(
        events(&mut c)[..],
        [ImapEvent::Closed(CloseReason::Protocol(ref m))] if m.contains("continuation")
    ));
}

#[test]
fn literals_wait_for_continuation_unless_literal_plus() {
    let mut c = client(Security::Implicit, AuthMechanism::Login);
    c.handle_input(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n");
    assert_eq!(events(&mut c), [ImapEvent::Ready]);
    let name = IString::new(b"caf\xc3\xa9".to_vec());
    let tag = c
        .send(CommandBody::Create(mailpush_imap::Mailbox::from_wire(
            name.into_bytes(),
        )))
        .unwrap();
    let noop = c.send(CommandBody::Noop).unwrap();
    assert_eq!(sent(&mut c), "A1 CREATE {5}\r\n");
    c.handle_input(b"+ go on\r\n");
    assert_eq!(sent(&mut c).as_bytes(), b"caf\xc3\xa9\r\nA2 NOOP\r\n");
    c.handle_input(b"A1 OK made\r\nA2 OK\r\n");
    let done: Vec<Tag> = events(&mut c)
        .into_iter()
        .filter_map(|e| match e {
            ImapEvent::Completed { tag, .. } => Some(tag),
            _ => None,
        })
        .collect();
    assert_eq!(done, [tag, noop]);
}

#[test]
fn a_refused_literal_releases_the_next_command() {
    let mut c = client(Security::Implicit, AuthMechanism::Login);
    c.handle_input(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n");
    c.send(CommandBody::Create(mailpush_imap::Mailbox::from_wire(
        b"\xff".to_vec(),
    )))
    .unwrap();
    c.send(CommandBody::Noop).unwrap();
    sent(&mut c);
    c.handle_input(b"A1 NO too big\r\n");
    assert_eq!(sent(&mut c), "A2 NOOP\r\n");
}

#[test]
fn failures_close_once() {
    let closed = |greeting: &[u8], then: &[u8], security, auth| {
        let mut c = client(security, auth);
        c.handle_input(greeting);
        c.handle_input(then);
        let got = events(&mut c);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(c.send(CommandBody::Noop), Err(ImapClientError::Closed));
        match &got[0] {
            ImapEvent::Closed(reason) => reason.clone(),
            other => panic!("{other:?}"),
        }
    };
    let (plain, login) = (AuthMechanism::Plain, AuthMechanism::Login);
    let open = Security::Plaintext;
    assert!(matches!(
        closed(
            b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n",
            b"",
            open,
            login
        ),
        CloseReason::AuthUnavailable(_)
    ));
    assert!(matches!(
        closed(b"* OK [CAPABILITY IMAP4rev1] hi\r\n", b"", open, plain),
        CloseReason::AuthUnavailable(_)
    ));
    assert_eq!(
        closed(
            b"* OK [CAPABILITY IMAP4rev1] hi\r\n",
            b"A1 NO [AUTHENTICATIONFAILED] nope\r\n",
            open,
            login
        ),
        CloseReason::AuthenticationFailed("NO nope".into())
    );
    assert!(matches!(
        closed(b"hello\r\n", b"", open, login),
        CloseReason::Malformed(m) if m.contains("greeting")
    ));
    assert_eq!(
        closed(b"* BYE busy\r\n", b"", open, login),
        CloseReason::Refused("busy".into())
    );
    assert_eq!(
        closed(
            b"* OK [CAPABILITY IMAP4rev1] hi\r\n",
            b"",
            Security::StartTls,
            login
        ),
        CloseReason::StartTlsUnavailable
    );
    assert_eq!(
        closed(
            b"* PREAUTH [CAPABILITY STARTTLS] hi\r\n",
            b"",
            Security::StartTls,
            login
        ),
        CloseReason::StartTlsUnavailable
    );
    assert!(matches!(
        closed(b"* OK [CAPABILITY IMAP4rev1] hi\r\n", b"zz9 OK what\r\n", open, login),
        CloseReason::Protocol(m) if m.contains("zz9")
    ));
    assert!(matches!(
        closed(b"* OK [CAPABILITY IMAP4rev1] hi\r\n", b"* BYE going\r\n", open, login),
        CloseReason::Bye(m) if m == "going"
    ));
}

#[test]
fn unknown_untagged_lines_are_skipped_and_logout_ends() {
    let mut c = client(Security::Implicit, AuthMechanism::Login);
    c.handle_input(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n* ID (\"x\" \"y\")\r\n");
    assert!(matches!(
        events(&mut c)[..],
        [ImapEvent::Ready, ImapEvent::Unparsed { .. }]
    ));
    assert_eq!(c.send(CommandBody::Noop).unwrap().as_str(), "A1");
    c.logout();
    assert_eq!(sent(&mut c), "A1 NOOP\r\nA2 LOGOUT\r\n");
    assert_eq!(c.send(CommandBody::Noop), Err(ImapClientError::NotReady));
    c.handle_input(b"A1 OK\r\n* BYE bye\r\nA2 OK\r\n");
    let got = events(&mut c);
    assert!(matches!(got[0], ImapEvent::Completed { .. }));
    assert_eq!(got.last(), Some(&ImapEvent::Closed(CloseReason::Logout)));
}

#[test]
fn arbitrary_server_octets_never_panic() {
    fn property(input: Vec<u8>) -> bool {
        check_imap_client(&input).is_ok()
    }
    quickcheck::QuickCheck::new()
        .tests(2000)
        .quickcheck(property as fn(Vec<u8>) -> bool);
    for script in [
        &b"\x02* OK hi\r\nA1 OK [CAPABILITY IMAP4rev1] x\r\n* 3 EXISTS\r\n"[..],
        b"\x80* OK hi\r\n+ \r\nA1 OK\r\n* CAPABILITY IMAP4rev1\r\nA2 OK\r\n",
        b"\x00* OK hi\r\nA1 OK\r\n",
    ] {
        assert_eq!(check_imap_client(script), Ok(()));
    }
}
