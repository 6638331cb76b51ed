#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! insta snapshots of the encoder's output (how it spells every command
//! and response, and how it chooses between atom, quoted string and
//! literal) and of the decoder's error messages.

use std::fmt::Write;

use mailpush_imap::*;

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .replace('\r', "\\r")
        .replace('\n', "\\n")
        .replace('\0', "\\0")
}

/// Decodes each input (written loosely: lower case, odd spacing of
/// strings) and shows what the encoder makes of it.
fn normalised<T: Decode + Encode + std::fmt::Debug>(inputs: &[&str]) -> String {
    let mut out = String::new();
    for i in inputs {
        let Decoded::Complete(v, _) = T::decode(i.as_bytes()) else {
            panic!("{i:?} → {:?}", T::decode(i.as_bytes()))
        };
        writeln!(out, "{}\n  => {}", show(i.as_bytes()), show(&v.to_bytes())).unwrap();
    }
    out
}

#[test]
fn encoded_commands() {
    insta::assert_snapshot!(normalised::<Command>(&[
        "a capability\r\n",
        "a noop\r\n",
        "a logout\r\n",
        "a starttls\r\n",
        "a authenticate plain\r\n",
        "a authenticate plain =\r\n",
        "a authenticate PLAIN AHRlc3QAcGFzcw==\r\n",
        "a login \"fred\" {8}\r\nfat\"man\\\r\n",
        "a enable condstore qresync\r\n",
        "a select \"inbox\"\r\n",
        "a examine Notes (condstore)\r\n",
        "a select INBOX (qresync (67890007 20050715194045000 41,43:211 (1,3:* 41,43:211)))\r\n",
        "a create \"Sent Items\"\r\n",
        "a delete {5}\r\nNotes\r\n",
        "a rename a b\r\n",
        "a subscribe Notes\r\n",
        "a unsubscribe Notes\r\n",
        "a list \"\" \"*\"\r\n",
        "a status Notes (messages uidnext uidvalidity unseen highestmodseq)\r\n",
        "a append Notes (\\seen $junk) \"01-Jan-2024 09:05:00 +0100\" {5+}\r\nhello\r\n",
        "a check\r\n",
        "a close\r\n",
        "a unselect\r\n",
        "a expunge\r\n",
        "a uid expunge 1:3,7\r\n",
        "a uid search charset utf-8 or seen not (deleted draft) header \"X-Uniform-Type-Identifier\" com.apple.mail-note modseq 5 since 1-Feb-2024 uid 1:*\r\n",
        "a fetch 1:* (uid flags internaldate rfc822.size envelope bodystructure body body.peek[1.2.mime]<0.100> body[header.fields.not (x-a \"x b\")] modseq)\r\n",
        "a uid fetch 1:* (flags) (changedsince 12 vanished)\r\n",
        "a fetch 3 fast\r\n",
        "a store 1,2 (unchangedsince 7) +flags.silent \\deleted\r\n",
        "a uid store 5 -flags (\\seen)\r\n",
        "a copy 1:2 Archive\r\n",
        "a uid move 1:2 Trash\r\n",
        "a idle\r\n",
        "a xapplepushservice \"aps-version\" 2 aps-account-id {4}\r\nacct aps-device-token tok mailboxes (inbox \"Notes\")\r\n",
    ]));
}

#[test]
fn encoded_responses() {
    insta::assert_snapshot!(normalised::<Response>(&[
        "+ ready\r\n",
        "+\r\n",
        "a ok [read-write] select completed\r\n",
        "a no [trycreate] no such mailbox\r\n",
        "a bad [parse] what?\r\n",
        "* ok [uidvalidity 3857529045] UIDs valid\r\n",
        "* ok [uidnext 4392] next\r\n",
        "* ok [unseen 12] first unseen\r\n",
        "* ok [highestmodseq 715194045007] highest\r\n",
        "* ok [nomodseq] none\r\n",
        "* ok [closed]\r\n",
        "* ok [permanentflags (\\deleted \\seen \\*)] limited\r\n",
        "* ok [capability imap4rev1 idle] x\r\n",
        "* ok [alert] shutdown\r\n",
        "a ok [modified 7,9] conditional store failed\r\n",
        "a ok [appenduid 38505 3955] done\r\n",
        "a ok [copyuid 38505 304,319:320 3956:3958] done\r\n",
        "a ok [uidnotsticky] done\r\n",
        "a no [limit] too many\r\n",
        "* bye logging out\r\n",
        "* preauth welcome\r\n",
        "* capability imap4rev1 condstore\r\n",
        "* enabled qresync\r\n",
        "* flags (\\answered \\flagged \\deleted \\seen \\draft)\r\n",
        "* list (\\hasnochildren) \"/\" \"Sent Items\"\r\n",
        "* list () nil inbox\r\n",
        "* status Notes (messages 3 uidnext 7 highestmodseq 9)\r\n",
        "* search 2 5 (modseq 917)\r\n",
        "* 3 exists\r\n",
        "* 0 recent\r\n",
        "* 2 expunge\r\n",
        "* vanished (earlier) 41,43:116\r\n",
        "* vanished 405\r\n",
        "* 1 fetch (uid 4 flags (\\seen \\recent) modseq (65402) rfc822.size 12 internaldate \" 7-Feb-1994 21:52:25 -0800\")\r\n",
        "* 1 fetch (body[] \"short\" body[1.mime]<5> nil rfc822.header {3}\r\nx\r\n)\r\n",
        "* 1 fetch (envelope (nil \"subj\" ((\"A\" nil \"a\" \"b.c\")) nil nil nil nil nil nil \"<id>\"))\r\n",
        "* 1 fetch (bodystructure ((\"text\" \"plain\" nil nil nil \"7bit\" 3 1)(\"application\" \"pdf\" (\"name\" \"x.pdf\") nil nil \"base64\" 9 nil (\"attachment\" nil) (\"en\") \"loc\" 1 (2 nil)) \"mixed\"))\r\n",
        "* xapplepushservice mailbox Notes\r\n",
        "* xapplepushservice aps-version 2 aps-topic com.mailpush.mail\r\n",
    ]));
}

/// How the encoder spells strings: atom where allowed and possible, else
/// quoted when every octet is 7-bit text, else a literal.
#[test]
fn string_representation() {
    let mut out = String::new();
    for s in [
        &b"fred"[..],
        b"",
        b"NIL",
        b"two words",
        b"quote\"and\\back",
        b"x]",
        b"(paren)",
        "\u{e9}t\u{e9}".as_bytes(),
        b"line\r\nbreak",
        b"\x00",
    ] {
        let c = Command::new(
            Tag::new("t").unwrap(),
            CommandBody::Login {
                username: IString::new(s),
                password: IString::new(s),
            },
        );
        writeln!(
            out,
            "{:?} => {}",
            String::from_utf8_lossy(s),
            show(&c.to_bytes())
        )
        .unwrap();
    }
    for name in ["INBOX", "Notes/\u{65e5}\u{672c}", "Tom & Jerry", "a\"b"] {
        let c = Command::new(
            Tag::new("t").unwrap(),
            CommandBody::Create(Mailbox::from_unicode(name)),
        );
        writeln!(out, "mailbox {name:?} => {}", show(&c.to_bytes())).unwrap();
    }
    insta::assert_snapshot!(out);
}

#[test]
fn error_messages() {
    let mut out = String::new();
    let cases: &[(&str, &[u8])] = &[
        ("command", b"a FROB x\r\n"),
        ("command", b"a+b NOOP\r\n"),
        ("command", b"a SELECT\r\n"),
        ("command", b"a FETCH 0 (UID)\r\n"),
        ("command", b"a FETCH 1 (UID FOO)\r\n"),
        ("command", b"a LOGIN \"unterminated\r\n"),
        ("command", b"a LOGIN {99999999999}\r\n"),
        ("command", b"a STORE 1 FLAGS.LOUD (\\Seen)\r\n"),
        ("command", b"a UID FROB 1\r\n"),
        ("command", b"a SELECT INBOX (QRESYNC (0 1))\r\n"),
        ("command", b"a NOOP\n"),
        ("response", b"* 1 FETCH (UID 0)\r\n"),
        ("response", b"* FROB\r\n"),
        ("response", b"a MAYBE done\r\n"),
        ("response", b"* OK [ALERT\r\n"),
        ("response", b"* 0 EXPUNGE\r\n"),
        ("response", b"* LIST () \"ab\" x\r\n"),
        ("greeting", b"a OK hi\r\n"),
        ("greeting", b"* NO go away\r\n"),
    ];
    for (kind, input) in cases {
        let r = match *kind {
            "command" => format!("{:?}", Command::decode(input)),
            "response" => format!("{:?}", Response::decode(input)),
            _ => format!("{:?}", Greeting::decode(input)),
        };
        writeln!(out, "{kind} {}\n  => {r}", show(input)).unwrap();
    }
    insta::assert_snapshot!(out);
}
