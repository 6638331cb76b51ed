//! Real IMAP clients against the driver on `127.0.0.1:0`: Python's imaplib (a script in
//! `tests/clients/`), mbsync (Debian package `isync`) and offlineimap (`offlineimap3`), each run
//! as a child process with a configuration generated in a temporary directory, over TLS trusting
//! the server's generated certificate. The outcome is checked in the server's store and in the
//! client's Maildir.
//!
//! A missing client fails its test with the Debian package to install (`.ci/test-all` installs
//! them), unless `MAILPUSH_SKIP_REAL_CLIENTS=1`, which skips it with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use mailpush_mail_server::driver::{RunningMailServer, Settings, start};
use mailpush_mail_store::{
    Config as StoreConfig, FlagOp, Flags, InternalDate, MailboxId, ModSeq, Store, Uid, UidSet,
    UserId,
};

/// Longest a client run may take before the test fails.
const WAIT: Duration = Duration::from_secs(60);

struct Fixture {
    store: Arc<Store>,
    fred: UserId,
    server: RunningMailServer,
    /// The server's certificate as PEM, for the clients to trust.
    certificate: PathBuf,
    /// The store's directory, which also holds the clients' configurations and Maildirs.
    dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(Store::open(dir.path().join("mail.db"), StoreConfig::for_tests()).unwrap());
    let user = store.add_user("fred", b"secret").unwrap();
    let server = start(
        Settings {
            imap_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            imaps_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..Settings::default()
        },
        Arc::clone(&store),
    )
    .await
    .unwrap();
    let certificate = dir.path().join("server.pem");
    std::fs::write(&certificate, pem(&server.tls.certificate)).unwrap();
    Fixture {
        store,
        fred: user,
        server,
        certificate,
        dir,
    }
}

fn pem(der: &[u8]) -> String {
    let base64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in base64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

impl Fixture {
    fn imaps_port(&self) -> u16 {
        self.server.imaps_addr.unwrap().port()
    }

    fn imap_port(&self) -> u16 {
        self.server.imap_addr.unwrap().port()
    }

    fn mailbox(&self, name: &str) -> MailboxId {
        self.store.mailbox(self.fred, name).unwrap().id
    }

    fn append(&self, mailbox: &str, raw: &[u8], flags: &[&str]) -> Uid {
        let flags = Flags::parse(flags.iter().copied()).unwrap();
        let at = InternalDate::utc(1_700_000_000);
        let mailbox = self.mailbox(mailbox);
        self.store
            .append(mailbox, raw, &flags, at)
            .unwrap()
            .value
            .uid
    }

    fn store_flags(&self, mailbox: &str, uid: Uid, op: FlagOp, flags: &[&str]) {
        let flags = Flags::parse(flags.iter().copied()).unwrap();
        let uids = UidSet::range(uid, uid);
        let mailbox = self.mailbox(mailbox);
        self.store
            .store_flags(mailbox, &uids, op, &flags, None)
            .unwrap();
    }

    fn expunge(&self, mailbox: &str, uid: Uid) {
        self.store_flags(mailbox, uid, FlagOp::Add, &["\\Deleted"]);
        let uids = UidSet::range(uid, uid);
        self.store
            .expunge(self.mailbox(mailbox), Some(&uids))
            .unwrap();
    }

    /// UID → (flags as IMAP spells them, sorted; bytes) of every message in a mailbox.
    fn contents(&self, mailbox: &str) -> BTreeMap<Uid, (Vec<String>, Vec<u8>)> {
        let mailbox = self.mailbox(mailbox);
        self.store
            .uids(mailbox)
            .unwrap()
            .into_iter()
            .map(|uid| {
                let message = self.store.message(mailbox, uid).unwrap().unwrap();
                (uid, (flag_names(&message.meta.flags), message.raw))
            })
            .collect()
    }
}

/// Everything a sync may change: the Maildir folder, and the server's mailbox with its
/// HIGHESTMODSEQ and UIDNEXT.
type Synced = (
    BTreeMap<String, MaildirMessage>,
    BTreeMap<Uid, (Vec<String>, Vec<u8>)>,
    (ModSeq, Uid),
);

impl Fixture {
    /// Creates the server mailbox `Notes` and an empty local Maildir root for it.
    fn notes_and_maildir(&self) -> PathBuf {
        self.store.create_mailbox(self.fred, "Notes").unwrap();
        let local = self.dir.path().join("Mail");
        std::fs::create_dir(&local).unwrap();
        local
    }

    fn synced(&self, folder: &Path) -> Synced {
        let info = self.store.mailbox(self.fred, "Notes").unwrap();
        (
            maildir(folder),
            self.contents("Notes"),
            (info.highest_modseq, info.uid_next),
        )
    }
}

fn flag_names(flags: &Flags) -> Vec<String> {
    let mut names: Vec<String> = flags.iter().map(|f| f.as_str().to_owned()).collect();
    names.sort();
    names
}

/// The path of a client program, or `None` (test skipped) when it is missing and
/// `MAILPUSH_SKIP_REAL_CLIENTS=1`; otherwise a missing client fails the test.
fn client(program: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    });
    if found.is_none() && std::env::var("MAILPUSH_SKIP_REAL_CLIENTS").as_deref() == Ok("1") {
        eprintln!(
            "skipped: {program} is not installed (Debian package {package}) and \
             MAILPUSH_SKIP_REAL_CLIENTS=1"
        );
        return None;
    }
    Some(found.unwrap_or_else(|| {
        panic!(
            "{program} is not installed: install the Debian package {package} \
             (`apt-get install {package}`; .ci/test-all installs it), or set \
             MAILPUSH_SKIP_REAL_CLIENTS=1 to skip this test"
        )
    }))
}

/// Runs a client to completion and fails the test unless it exits successfully.
async fn run(program: &Path, args: &[&str]) -> String {
    let mut command = tokio::process::Command::new(program);
    command.args(args).kill_on_drop(true);
    let output = tokio::time::timeout(WAIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} did not finish in time", program.display()))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} {args:?}: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        program.display(),
        output.status
    );
    stdout
}

// ----- Python's imaplib -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_imaplib_session_with_starttls_imaps_and_idle() {
    let Some(python) = client("python3", "python3") else {
        return;
    };
    let f = fixture().await;
    let inbox_message = b"From: alice@example.org\r\nTo: fred@example.org\r\nSubject: welcome\r\n\
        \r\nHello Fred.\r\n";
    let inbox_uid = f.append("INBOX", inbox_message, &[]);
    let inbox_file = f.dir.path().join("inbox.eml");
    std::fs::write(&inbox_file, inbox_message).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/imaplib_session.py"
    );

    let out = run(
        &python,
        &[
            script,
            "127.0.0.1",
            &f.imap_port().to_string(),
            &f.imaps_port().to_string(),
            f.certificate.to_str().unwrap(),
            "fred",
            "secret",
            inbox_file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.contains("every check passed"), "{out}");

    // What the script did is in the store: `\Seen` from its BODY[] fetch, its STORE, its
    // EXPUNGE, and the APPEND of its second connection during IDLE.
    let inbox = f.contents("INBOX");
    assert_eq!(
        inbox,
        BTreeMap::from([(
            inbox_uid,
            (vec!["\\Seen".to_owned()], inbox_message.to_vec())
        )])
    );
    let notes = f.contents("Notes");
    let expected = BTreeMap::from([
        (
            1,
            (
                vec!["$Pinned".to_owned(), "\\Answered".to_owned()],
                b"From: fred@example.org\r\nSubject: first note\r\n\r\nfirst body\r\n".to_vec(),
            ),
        ),
        (
            3,
            (
                Vec::new(),
                b"From: other@example.org\r\nSubject: third note\r\n\r\nsent while idling\r\n"
                    .to_vec(),
            ),
        ),
    ]);
    assert_eq!(notes, expected);
}

// ----- Maildir helpers (mbsync and offlineimap) -----

/// A message file of a Maildir folder: its name, its Maildir flags (the letters after `:2,`)
/// and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MaildirMessage {
    path: PathBuf,
    flags: String,
    text: String,
}

/// Every message of a Maildir folder (`new/` and `cur/`), by file name.
fn maildir(folder: &Path) -> BTreeMap<String, MaildirMessage> {
    let mut out = BTreeMap::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(folder.join(sub)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let flags = name
                .split_once(":2,")
                .map(|(_, flags)| flags.to_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path).unwrap();
            out.insert(name, MaildirMessage { path, flags, text });
        }
    }
    out
}

/// Maildir keeps messages with the local line ending: both clients write LF where IMAP has
/// CRLF (and CRLF when they upload).
fn lf(crlf: &[u8]) -> String {
    String::from_utf8(crlf.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
}

/// mbsync adds an `X-TUID` header to every message it copies, to recognise the copy if a run is
/// interrupted; everything else must be as the server has it.
fn without_tuid(text: &str) -> String {
    let (header, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let header: Vec<&str> = header
        .split('\n')
        .filter(|line| !line.starts_with("X-TUID: "))
        .collect();
    format!("{}\n\n{body}", header.join("\n"))
}

fn find<'a>(folder: &'a BTreeMap<String, MaildirMessage>, bytes: &[u8]) -> &'a MaildirMessage {
    folder
        .values()
        .find(|m| without_tuid(&m.text) == lf(bytes))
        .unwrap_or_else(|| {
            panic!(
                "not in the Maildir: {:?}; it holds {folder:#?}",
                String::from_utf8_lossy(bytes)
            )
        })
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: alice@example.org\r\nTo: fred@example.org\r\nSubject: note {n}\r\n\
         Message-ID: <note-{n}@example.org>\r\n\r\nbody of note {n}\r\n"
    )
    .into_bytes()
}

// ----- mbsync (isync) -----

fn mbsync_config(f: &Fixture, maildir: &Path) -> PathBuf {
    let config = format!(
        "IMAPAccount server\n\
         Host 127.0.0.1\n\
         Port {port}\n\
         User fred\n\
         Pass secret\n\
         SSLType IMAPS\n\
         CertificateFile {cert}\n\
         AuthMechs LOGIN\n\
         \n\
         IMAPStore far\n\
         Account server\n\
         \n\
         MaildirStore near\n\
         Path {maildir}/\n\
         Inbox {maildir}/INBOX\n\
         \n\
         Channel notes\n\
         Far :far:Notes\n\
         Near :near:Notes\n\
         Create Near\n\
         Expunge Both\n\
         Sync All\n\
         SyncState *\n",
        port = f.imaps_port(),
        cert = f.certificate.display(),
        maildir = maildir.display(),
    );
    let path = f.dir.path().join("mbsyncrc");
    std::fs::write(&path, config).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_syncs_a_mailbox_both_ways_over_imaps() {
    let Some(mbsync) = client("mbsync", "isync") else {
        return;
    };
    let f = fixture().await;
    let local = f.notes_and_maildir();
    let config = mbsync_config(&f, &local);
    let config = config.to_str().unwrap();
    let folder = local.join("Notes");
    let args = ["--config", config, "notes"];
    let sync = || run(&mbsync, &args);

    // 1. Server → Maildir: two messages, one of them `\Seen`.
    let one = f.append("Notes", &message(1), &[]);
    let two = f.append("Notes", &message(2), &["\\Seen"]);
    sync().await;
    let near = maildir(&folder);
    assert_eq!(near.len(), 2, "{near:#?}");
    assert_eq!(find(&near, &message(1)).flags, "");
    assert_eq!(find(&near, &message(2)).flags, "S");

    // 2. Maildir → server: a message written into the Maildir is uploaded, byte for byte.
    let three = lf(&message(3));
    std::fs::write(folder.join("new").join("1700000000.local.host"), &three).unwrap();
    sync().await;
    let far = f.contents("Notes");
    assert_eq!(far.len(), 3, "{far:#?}");
    let uploaded = far
        .iter()
        .find(|(_, (_, bytes))| without_tuid(&lf(bytes)) == three)
        .map(|(uid, (flags, bytes))| (*uid, flags.clone(), bytes.clone()))
        .unwrap_or_else(|| panic!("the Maildir message was not uploaded: {far:#?}"));
    // Uploaded with CRLF line ends throughout (the same lines as the file, plus the X-TUID).
    let uploaded_text = String::from_utf8(uploaded.2).unwrap();
    assert!(
        !uploaded_text.replace("\r\n", "").contains('\n'),
        "{uploaded_text:?}"
    );
    assert!(uploaded.1.is_empty(), "{:?}", uploaded.1);
    let three_uid = uploaded.0;

    // 3. Flags both ways: `\Flagged` on the server, `S` (seen) in the Maildir.
    f.store_flags("Notes", one, FlagOp::Add, &["\\Flagged"]);
    let near = maildir(&folder);
    let local_three = find(&near, &message(3));
    let name = local_three.path.file_name().unwrap().to_str().unwrap();
    let unique = name.split(":2,").next().unwrap();
    let seen = folder.join("cur").join(format!("{unique}:2,S"));
    std::fs::rename(&local_three.path, seen).unwrap();
    sync().await;
    let near = maildir(&folder);
    assert_eq!(find(&near, &message(1)).flags, "F");
    assert_eq!(find(&near, &message(3)).flags, "S");
    let far = f.contents("Notes");
    assert_eq!(far[&one].0, ["\\Flagged"]);
    assert_eq!(far[&three_uid].0, ["\\Seen"]);

    // 4. Deletions both ways: expunged on the server, deleted from the Maildir.
    f.expunge("Notes", two);
    std::fs::remove_file(&find(&near, &message(3)).path).unwrap();
    sync().await;
    let near = maildir(&folder);
    assert_eq!(near.len(), 1, "{near:#?}");
    assert_eq!(find(&near, &message(1)).flags, "F");
    let far = f.contents("Notes");
    assert_eq!(
        far,
        BTreeMap::from([(one, (vec!["\\Flagged".to_owned()], message(1)))])
    );

    // 5. In sync: another run changes nothing on either side.
    let before = f.synced(&folder);
    sync().await;
    assert_eq!(
        f.synced(&folder),
        before,
        "a sync with nothing to do changed something"
    );
}

// ----- offlineimap -----

fn offlineimap_config(f: &Fixture, maildir: &Path) -> PathBuf {
    let config = format!(
        "[general]\n\
         accounts = server\n\
         metadata = {metadata}\n\
         \n\
         [Account server]\n\
         localrepository = local\n\
         remoterepository = remote\n\
         \n\
         [Repository local]\n\
         type = Maildir\n\
         localfolders = {maildir}\n\
         \n\
         [Repository remote]\n\
         type = IMAP\n\
         # The certificate names localhost and 127.0.0.1; imaplib2 matches DNS names only.\n\
         remotehost = localhost\n\
         remoteport = {port}\n\
         remoteuser = fred\n\
         remotepass = secret\n\
         ssl = yes\n\
         sslcacertfile = {cert}\n\
         folderfilter = lambda name: name == 'Notes'\n",
        metadata = f.dir.path().join("offlineimap").display(),
        port = f.imaps_port(),
        cert = f.certificate.display(),
        maildir = maildir.display(),
    );
    let path = f.dir.path().join("offlineimaprc");
    std::fs::write(&path, config).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offlineimap_syncs_a_mailbox_both_ways_over_imaps() {
    let Some(offlineimap) = client("offlineimap", "offlineimap3") else {
        return;
    };
    let f = fixture().await;
    let local = f.notes_and_maildir();
    let config = offlineimap_config(&f, &local);
    let config = config.to_str().unwrap();
    let folder = local.join("Notes");
    let args = ["-c", config, "-o", "-u", "basic"];
    let sync = || run(&offlineimap, &args);

    let one = f.append("Notes", &message(1), &["\\Flagged"]);
    f.append("Notes", &message(2), &[]);
    sync().await;
    let near = maildir(&folder);
    assert_eq!(near.len(), 2, "{near:#?}");
    assert_eq!(find(&near, &message(1)).flags, "F");
    assert_eq!(find(&near, &message(2)).flags, "");

    // A message written into the Maildir is uploaded; a flag set on the server comes down.
    std::fs::write(
        folder.join("new").join("1700000000.local.host"),
        lf(&message(3)),
    )
    .unwrap();
    f.store_flags("Notes", one, FlagOp::Add, &["\\Seen"]);
    sync().await;
    let far = f.contents("Notes");
    assert_eq!(far.len(), 3, "{far:#?}");
    assert!(
        far.values().any(|(_, bytes)| lf(bytes) == lf(&message(3))),
        "the Maildir message was not uploaded: {far:#?}"
    );
    let near = maildir(&folder);
    assert_eq!(find(&near, &message(1)).flags, "FS");
    assert_eq!(near.len(), 3, "{near:#?}");

    // In sync: another run changes nothing on either side.
    let before = f.synced(&folder);
    sync().await;
    assert_eq!(
        f.synced(&folder),
        before,
        "a sync with nothing to do changed something"
    );
}
