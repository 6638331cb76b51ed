"""A session of Python's imaplib against the mailpush mail server.

Run by tests/real_clients.rs with the server's addresses, its certificate and the expected bytes
of the one message the test put in INBOX:

    python3 imaplib_session.py HOST PLAIN_PORT IMAPS_PORT CAFILE USER PASSWORD INBOX_MESSAGE_FILE

The main connection uses STARTTLS on the plain port, a second connection IMAPS; both trust only
CAFILE. Every answer is checked here; the test then checks the store. Exit status 0 means every
check passed.
"""

import imaplib
import re
import ssl
import sys

WAIT_SECONDS = 20

NOTE_1 = b"From: fred@example.org\r\nSubject: first note\r\n\r\nfirst body\r\n"
NOTE_2 = b"From: fred@example.org\r\nSubject: second note\r\n\r\nsecond body\r\n"
NOTE_3 = b"From: other@example.org\r\nSubject: third note\r\n\r\nsent while idling\r\n"


def check(condition, what):
    if not condition:
        raise SystemExit(f"imaplib session: {what}")


def ok(answer, what):
    typ, data = answer
    check(typ == "OK", f"{what}: {typ} {data!r}")
    return data


def fetched(data):
    """The (metadata, literal) pairs of a FETCH answer, in order."""
    return [item for item in data if isinstance(item, tuple)]


def main():
    host, plain_port, imaps_port, cafile, user, password, inbox_file = sys.argv[1:8]
    with open(inbox_file, "rb") as f:
        inbox_message = f.read()
    context = ssl.create_default_context(cafile=cafile)

    imap = imaplib.IMAP4(host, int(plain_port), timeout=WAIT_SECONDS)
    check("STARTTLS" in imap.capabilities, f"no STARTTLS in {imap.capabilities}")
    ok(imap.starttls(ssl_context=context), "STARTTLS")
    check("AUTH=PLAIN" in imap.capabilities, f"no AUTH=PLAIN after TLS: {imap.capabilities}")
    ok(imap.login(user, password), "LOGIN")

    # INBOX: the message the test delivered, byte for byte; BODY[] (not PEEK) sets \Seen.
    exists = ok(imap.select("INBOX"), "SELECT INBOX")
    check(exists == [b"1"], f"INBOX EXISTS {exists!r}")
    data = ok(imap.fetch("1", "(UID BODY[])"), "FETCH 1 BODY[]")
    check(fetched(data)[0][1] == inbox_message, f"INBOX message differs: {data!r}")
    data = ok(imap.fetch("1", "(FLAGS)"), "FETCH 1 FLAGS")
    check(b"\\Seen" in data[0], f"BODY[] did not set \\Seen: {data!r}")

    # A new mailbox with two messages, one of them flagged.
    ok(imap.create("Notes"), "CREATE Notes")
    typ, data = imap.append("Notes", None, None, NOTE_1)
    check(typ == "OK" and b"[APPENDUID " in data[0], f"APPEND 1: {typ} {data!r}")
    typ, data = imap.append("Notes", "(\\Flagged)", None, NOTE_2)
    check(typ == "OK" and b"[APPENDUID " in data[0], f"APPEND 2: {typ} {data!r}")

    exists = ok(imap.select("Notes"), "SELECT Notes")
    check(exists == [b"2"], f"Notes EXISTS {exists!r}")
    data = fetched(ok(imap.fetch("1:2", "(FLAGS BODY.PEEK[])"), "FETCH 1:2"))
    check([body for _, body in data] == [NOTE_1, NOTE_2], f"Notes bodies: {data!r}")
    check(b"\\Flagged" not in data[0][0] and b"\\Flagged" in data[1][0], f"flags: {data!r}")

    data = ok(imap.store("1", "+FLAGS", "(\\Answered $Pinned)"), "STORE 1 +FLAGS")
    check(b"\\Answered" in data[0] and b"$Pinned" in data[0], f"STORE answer {data!r}")
    ok(imap.store("2", "+FLAGS.SILENT", "(\\Deleted)"), "STORE 2 +FLAGS.SILENT")
    data = ok(imap.expunge(), "EXPUNGE")
    check(data == [b"2"], f"EXPUNGE answer {data!r}")

    # IDLE by hand: wait for the continuation, APPEND from a second (IMAPS) connection, read the
    # untagged EXISTS it causes, then DONE.
    tag = imap._new_tag()
    imap.send(tag + b" IDLE\r\n")
    line = imap.readline()
    check(line.startswith(b"+"), f"IDLE continuation: {line!r}")
    other = imaplib.IMAP4_SSL(host, int(imaps_port), ssl_context=context, timeout=WAIT_SECONDS)
    ok(other.login(user, password), "second LOGIN")
    typ, data = other.append("Notes", None, None, NOTE_3)
    check(typ == "OK", f"second APPEND: {typ} {data!r}")
    typ, _ = other.logout()
    check(typ == "BYE", f"second LOGOUT: {typ}")
    while True:
        line = imap.readline()
        check(line != b"", "connection closed during IDLE")
        if line == b"* 2 EXISTS\r\n":
            break
        check(line.startswith(b"* "), f"during IDLE: {line!r}")
    imap.send(b"DONE\r\n")
    while True:
        line = imap.readline()
        check(line != b"", "connection closed after DONE")
        if line.startswith(tag + b" "):
            check(line.startswith(tag + b" OK"), f"IDLE end: {line!r}")
            break
    data = fetched(ok(imap.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])"), "UID FETCH 1:*"))
    check([body for _, body in data] == [NOTE_1, NOTE_3], f"after IDLE: {data!r}")
    uids = [int(re.search(rb"UID (\d+)", meta).group(1)) for meta, _ in data]
    check(uids == [1, 3], f"UIDs after IDLE: {uids}")

    typ, _ = imap.logout()
    check(typ == "BYE", f"LOGOUT: {typ}")
    print("imaplib session: every check passed")


if __name__ == "__main__":
    main()
