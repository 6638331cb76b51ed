#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Inputs on which this codec once read the grammar wrongly, found by the
//! differential test against imap-codec (`tests/differential/`): each
//! stays read the way RFC 3501 / RFC 4466 say.

use mailpush_imap::*;

fn complete<T: Decode + Encode + PartialEq + Clone + std::fmt::Debug>(input: &str) -> T {
    let v = match T::decode(input.as_bytes()) {
        Decoded::Complete(v, n) if n == input.len() => v,
        other => panic!("{input:?} gave {other:?}"),
    };
    // What was read encodes to what reads the same.
    let again = v.to_bytes();
    assert_eq!(T::decode(&again), Decoded::Complete(v.clone(), again.len()));
    v
}

fn failed<T: Decode + std::fmt::Debug>(input: &str, what: &str) {
    match T::decode(input.as_bytes()) {
        Decoded::Failed { message, .. } => assert!(message.contains(what), "{message}"),
        other => panic!("{input:?} gave {other:?}"),
    }
}

/// RFC 3501 §9 `resp-text = ["[" resp-text-code "]" SP] text`: after a
/// code, the text may itself start with `[`. It used to be refused as a
/// response code, so a client lost such a server line.
#[test]
fn text_after_a_response_code_may_start_with_a_bracket() {
    let r: Response = complete("* OK [ALERT] [IMPORTANT] read this\r\n");
    assert_eq!(
        r,
        Response::Data(Data::Status(Status {
            kind: StatusKind::Ok,
            text: RespText {
                code: Some(Code::Alert),
                text: complete_text("[IMPORTANT] read this"),
            }
        }))
    );
    let r: Response = complete("+ [CLOSED] [%\r\n");
    assert!(matches!(
        r,
        Response::Continue(RespText { code: Some(Code::Closed), ref text }) if text.as_str() == "[%"
    ));
    let r: Response = complete("a1 NO [TRYCREATE] [x] no such mailbox\r\n");
    assert!(matches!(r, Response::Tagged { .. }));
    let g: Greeting = complete("* OK [ALERT] [maintenance] at noon\r\n");
    assert_eq!(g.text.text.as_str(), "[maintenance] at noon");
    // Without a code in front, `[` still opens one.
    failed::<Response>("* OK [nocode text\r\n", "]");
    assert!(Text::new("[x").is_err());
}

fn complete_text(s: &str) -> Text {
    let r: Response = complete(&format!("* OK [ALERT] {s}\r\n"));
    let Response::Data(Data::Status(Status { text, .. })) = r else {
        panic!()
    };
    text.text
}

/// RFC 4466 §2.4 `fetch-modifiers`: a modifier given twice used to keep
/// the last one silently; it is refused now, naming the modifier.
#[test]
fn a_fetch_modifier_given_twice_is_refused() {
    failed::<Command>(
        "a FETCH 1 (FLAGS) (CHANGEDSINCE 1 CHANGEDSINCE 2)\r\n",
        "CHANGEDSINCE at most once",
    );
    failed::<Command>(
        "a UID FETCH 1 (FLAGS) (VANISHED CHANGEDSINCE 5 VANISHED)\r\n",
        "VANISHED at most once",
    );
    let c: Command = complete("a UID FETCH 1:* (FLAGS) (VANISHED CHANGEDSINCE 5)\r\n");
    assert!(matches!(
        c.body,
        CommandBody::Fetch {
            changed_since: Some(5),
            vanished: true,
            ..
        }
    ));
}
