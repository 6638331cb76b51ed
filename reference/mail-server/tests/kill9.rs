//! Durability: the server process is killed with SIGKILL while clients APPEND (and, in the
//! mixed load, STORE and EXPUNGE), and everything that got its tagged `OK` is in the store
//! afterwards: acknowledged messages with their bytes and flags, acknowledged expunges gone.
//!
//! The server runs in a child process: this test binary run again with only
//! `kill9_child_server`, which the parent selects through an environment variable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailpush_mail_server::driver::{Settings, start};
use mailpush_mail_store::{Config as StoreConfig, Store, Uid, UidSet};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

const CHILD_DATABASE: &str = "MAILPUSH_KILL9_CHILD_DATABASE";

/// The child: serves the database named by the environment until it is killed.
#[test]
#[ignore = "run by kill9_loses_no_acknowledged_append in a child process"]
fn kill9_child_server() {
    let Ok(database) = std::env::var(CHILD_DATABASE) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::open(database, StoreConfig::for_tests()).unwrap();
        let server = start(
            Settings {
                imap_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
                allow_plaintext_loopback: true,
                ..Settings::default()
            },
            Arc::new(store),
        )
        .await
        .unwrap();
        println!("LISTENING {}", server.imap_addr.unwrap());
        std::future::pending::<()>().await;
    });
}

async fn read_line(io: &mut BufReader<TcpStream>, line: &mut String) -> bool {
    line.clear();
    // A line cut short by the kill counts as no answer.
    matches!(io.read_line(line).await, Ok(n) if n > 0) && line.ends_with("\r\n")
}

/// APPENDs until the connection dies; records the UID of every acknowledged one.
async fn append_until_killed(addr: SocketAddr, client: usize, acknowledged: Arc<Mutex<Vec<Uid>>>) {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return;
    };
    let mut io = BufReader::new(stream);
    let mut line = String::new();
    if !read_line(&mut io, &mut line).await {
        return;
    }
    if io
        .get_mut()
        .write_all(b"l LOGIN fred secret\r\n")
        .await
        .is_err()
        || !read_line(&mut io, &mut line).await
        || !line.starts_with("l OK")
    {
        return;
    }
    for n in 0.. {
        let message = format!("Subject: {client}-{n}\r\n\r\nbody {client} {n}\r\n");
        let command = format!("a APPEND INBOX {{{}+}}\r\n{message}\r\n", message.len());
        if io.get_mut().write_all(command.as_bytes()).await.is_err()
            || !read_line(&mut io, &mut line).await
        {
            return;
        }
        let Some(rest) = line.strip_prefix("a OK [APPENDUID ") else {
            panic!("unexpected answer to APPEND: {line}");
        };
        let uid: Uid = rest
            .split([' ', ']'])
            .nth(1)
            .and_then(|uid| uid.parse().ok())
            .unwrap();
        acknowledged.lock().unwrap().push(uid);
    }
}

/// A new database in `dir` with the user fred (password `secret`).
fn database_with_fred(dir: &Path) -> PathBuf {
    let database = dir.join("mail.db");
    let store = Store::open(&database, StoreConfig::for_tests()).unwrap();
    store.add_user("fred", b"secret").unwrap();
    database
}

/// Starts the child server on `database` and waits for its address.
async fn spawn_server(database: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill9_child_server",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DATABASE, database)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let addr: SocketAddr = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // The harness may print its own text before ours on the same line.
            .find_map(|line| {
                line.split_once("LISTENING ")
                    .map(|(_, a)| a.trim().parse().unwrap())
            })
            .expect("the child server never listened")
    })
    .await
    .unwrap();
    (child, addr)
}

/// Waits until `ready` (at most a minute), kills the child server with SIGKILL and waits for
/// the clients to notice.
async fn kill_when(mut child: Child, clients: Vec<JoinHandle<()>>, ready: impl Fn() -> bool) {
    for _ in 0..1200 {
        if ready() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for client in clients {
        tokio::time::timeout(Duration::from_secs(20), client)
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_no_acknowledged_append() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_fred(dir.path());
    let (child, addr) = spawn_server(&database).await;

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|client| tokio::spawn(append_until_killed(addr, client, Arc::clone(&acknowledged))))
        .collect();
    // Kill while the clients are appending: wait for some acknowledged APPENDs first.
    kill_when(child, clients, || acknowledged.lock().unwrap().len() >= 40).await;

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 40,
        "only {} APPENDs were acknowledged before the kill",
        acknowledged.len()
    );
    let store = Store::open(&database, StoreConfig::for_tests()).unwrap();
    let fred = store.user_id("fred").unwrap().unwrap();
    let inbox = store.mailbox(fred, "INBOX").unwrap();
    let stored: Vec<Uid> = store.uids(inbox.id).unwrap();
    let missing: Vec<Uid> = acknowledged
        .iter()
        .copied()
        .filter(|uid| stored.binary_search(uid).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but lost: {missing:?} (stored {})",
        stored.len()
    );
    // The bodies are whole too.
    let metas = store.messages(inbox.id, &UidSet::all()).unwrap();
    for uid in acknowledged {
        let message = store.message(inbox.id, uid).unwrap().unwrap();
        let text = String::from_utf8(message.raw).unwrap();
        assert!(
            text.starts_with("Subject: ") && text.ends_with("\r\n"),
            "{text:?}"
        );
    }
    assert_eq!(metas.len(), stored.len());
}

/// One operation of a client of the mixed load, on one of its own messages.
#[derive(Debug, Clone)]
enum Op {
    /// `APPEND`; the UID is known once acknowledged.
    Append { uid: Option<Uid>, raw: Vec<u8> },
    /// `UID STORE uid +FLAGS (keyword)`.
    AddKeyword { uid: Uid, keyword: String },
    /// `UID STORE uid -FLAGS.SILENT (keyword)`.
    RemoveKeyword { uid: Uid, keyword: String },
    /// `UID STORE uid +FLAGS.SILENT (\Deleted)`.
    MarkDeleted { uid: Uid },
    /// `UID EXPUNGE uid`.
    Expunge { uid: Uid },
}

/// What one client sent: every acknowledged operation in order, and the one that was sent but
/// not acknowledged when the server died, if any.
#[derive(Debug, Default)]
struct ClientLog {
    acknowledged: Vec<Op>,
    in_flight: Option<Op>,
}

/// Sends `tag command` and reads up to the tagged answer, skipping untagged ones (other
/// clients' changes). `None` when the connection died first.
async fn command(io: &mut BufReader<TcpStream>, tag: &str, command: &str) -> Option<String> {
    let mut line = String::new();
    if io
        .get_mut()
        .write_all(format!("{tag} {command}\r\n").as_bytes())
        .await
        .is_err()
    {
        return None;
    }
    loop {
        if !read_line(io, &mut line).await {
            return None;
        }
        if line.starts_with(&format!("{tag} ")) {
            return Some(line);
        }
    }
}

async fn logged_in(addr: SocketAddr) -> Option<BufReader<TcpStream>> {
    let mut io = BufReader::new(TcpStream::connect(addr).await.ok()?);
    let mut line = String::new();
    if !read_line(&mut io, &mut line).await {
        return None;
    }
    let login = command(&mut io, "l", "LOGIN fred secret").await?;
    login.starts_with("l OK").then_some(io)
}

/// Runs the mixed load of one client until the connection dies: per round an APPEND, a
/// keyword added to it, every second round the keyword removed from an older message, every
/// third round the new message marked `\Deleted` and `UID EXPUNGE`d. Each client has its own
/// keyword and touches only its own messages, so what each acknowledged answer implies is
/// unambiguous.
async fn mixed_until_killed(addr: SocketAddr, client: usize, log: Arc<Mutex<ClientLog>>) {
    let Some(mut io) = logged_in(addr).await else {
        return;
    };
    match command(&mut io, "s", "SELECT INBOX").await {
        Some(line) if line.starts_with("s OK") => {}
        _ => return,
    }
    let keyword = format!("$Client{client}");
    // Own messages not expunged, oldest first.
    let mut live: Vec<Uid> = Vec::new();
    let mut tag = 0u64;
    for n in 0u64.. {
        let raw = format!("Subject: {client}-{n}\r\n\r\nmixed {client} {n}\r\n").into_bytes();
        let mut ops = vec![Op::Append {
            uid: None,
            raw: raw.clone(),
        }];
        while let Some(op) = ops.pop() {
            tag += 1;
            let tag = format!("t{tag}");
            let text = match &op {
                Op::Append { raw, .. } => format!(
                    "APPEND INBOX {{{}+}}\r\n{}",
                    raw.len(),
                    String::from_utf8_lossy(raw)
                ),
                Op::AddKeyword { uid, keyword } => format!("UID STORE {uid} +FLAGS ({keyword})"),
                Op::RemoveKeyword { uid, keyword } => {
                    format!("UID STORE {uid} -FLAGS.SILENT ({keyword})")
                }
                Op::MarkDeleted { uid } => format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
                Op::Expunge { uid } => format!("UID EXPUNGE {uid}"),
            };
            log.lock().unwrap().in_flight = Some(op.clone());
            let Some(answer) = command(&mut io, &tag, &text).await else {
                return;
            };
            assert!(
                answer.starts_with(&format!("{tag} OK")),
                "unexpected answer to {text:?}: {answer}"
            );
            let op = match op {
                Op::Append { raw, .. } => {
                    let uid: Uid = answer
                        .split_once("[APPENDUID ")
                        .and_then(|(_, rest)| rest.split([' ', ']']).nth(1))
                        .and_then(|uid| uid.parse().ok())
                        .unwrap_or_else(|| panic!("no APPENDUID: {answer}"));
                    live.push(uid);
                    // The rest of the round, in reverse order of sending (popped from the end).
                    if n % 3 == 2 {
                        ops.push(Op::Expunge { uid });
                        ops.push(Op::MarkDeleted { uid });
                    }
                    if n % 2 == 1 && live.len() >= 2 {
                        ops.push(Op::RemoveKeyword {
                            uid: live[live.len() - 2],
                            keyword: keyword.clone(),
                        });
                    }
                    ops.push(Op::AddKeyword {
                        uid,
                        keyword: keyword.clone(),
                    });
                    Op::Append {
                        uid: Some(uid),
                        raw,
                    }
                }
                Op::Expunge { uid } => {
                    live.retain(|u| *u != uid);
                    Op::Expunge { uid }
                }
                op => op,
            };
            let mut log = log.lock().unwrap();
            log.in_flight = None;
            log.acknowledged.push(op);
        }
    }
}

/// A message as the store may hold it: bytes and sorted flags, or `None` for expunged.
type State = Option<(Vec<u8>, Vec<String>)>;

fn apply(state: &State, op: &Op) -> State {
    let (raw, flags) = state.clone()?;
    let mut flags: std::collections::BTreeSet<String> = flags.into_iter().collect();
    match op {
        Op::Append { .. } => {}
        Op::AddKeyword { keyword, .. } => {
            flags.insert(keyword.clone());
        }
        Op::RemoveKeyword { keyword, .. } => {
            flags.remove(keyword);
        }
        Op::MarkDeleted { .. } => {
            flags.insert("\\Deleted".to_owned());
        }
        Op::Expunge { .. } => {
            // UID EXPUNGE removes only messages marked \Deleted.
            if flags.contains("\\Deleted") {
                return None;
            }
        }
    }
    Some((raw, flags.into_iter().collect()))
}

fn target(op: &Op) -> Option<Uid> {
    match op {
        Op::Append { uid, .. } => *uid,
        Op::AddKeyword { uid, .. }
        | Op::RemoveKeyword { uid, .. }
        | Op::MarkDeleted { uid }
        | Op::Expunge { uid } => Some(*uid),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_no_acknowledged_append_store_or_expunge() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_fred(dir.path());
    let (child, addr) = spawn_server(&database).await;

    let logs: Vec<Arc<Mutex<ClientLog>>> = (0..4).map(|_| Arc::default()).collect();
    let clients: Vec<_> = logs
        .iter()
        .enumerate()
        .map(|(client, log)| tokio::spawn(mixed_until_killed(addr, client, Arc::clone(log))))
        .collect();
    // Kill mid-load, once every kind of operation has been acknowledged a few times.
    let counts = || {
        let mut counts = [0usize; 5];
        for log in &logs {
            for op in &log.lock().unwrap().acknowledged {
                counts[match op {
                    Op::Append { .. } => 0,
                    Op::AddKeyword { .. } => 1,
                    Op::RemoveKeyword { .. } => 2,
                    Op::MarkDeleted { .. } => 3,
                    Op::Expunge { .. } => 4,
                }] += 1;
            }
        }
        counts
    };
    let enough = |c: [usize; 5]| c[0] >= 40 && c[1] >= 30 && c[2] >= 12 && c[3] >= 8 && c[4] >= 8;
    kill_when(child, clients, || enough(counts())).await;
    let counts = counts();
    assert!(
        enough(counts),
        "too few acknowledged operations before the kill (APPEND, +FLAGS, -FLAGS, \
         +FLAGS \\Deleted, UID EXPUNGE): {counts:?}"
    );

    let in_flight = logs
        .iter()
        .filter(|log| log.lock().unwrap().in_flight.is_some())
        .count();
    println!(
        "acknowledged before the kill (APPEND, +FLAGS, -FLAGS, +FLAGS \\Deleted, UID EXPUNGE): \
         {counts:?}; unacknowledged at the kill: {in_flight}"
    );
    let store = Store::open(&database, StoreConfig::for_tests()).unwrap();
    let fred = store.user_id("fred").unwrap().unwrap();
    let inbox = store.mailbox(fred, "INBOX").unwrap();
    let mut stored: std::collections::BTreeMap<Uid, State> = store
        .uids(inbox.id)
        .unwrap()
        .into_iter()
        .map(|uid| {
            let message = store.message(inbox.id, uid).unwrap().unwrap();
            let mut flags: Vec<String> = message
                .meta
                .flags
                .iter()
                .map(|f| f.as_str().to_owned())
                .collect();
            flags.sort();
            (uid, Some((message.raw, flags)))
        })
        .collect();
    let mut acknowledged_uids = Vec::new();
    let mut unacknowledged_appends = Vec::new();
    for log in &logs {
        let log = log.lock().unwrap();
        // What every acknowledged operation implies, in order.
        let mut expected: std::collections::BTreeMap<Uid, State> = Default::default();
        for op in &log.acknowledged {
            let uid = target(op).unwrap();
            let state = match op {
                Op::Append { raw, .. } => Some((raw.clone(), Vec::new())),
                op => apply(&expected[&uid], op),
            };
            expected.insert(uid, state);
        }
        acknowledged_uids.extend(expected.keys().copied());
        // The operation cut short by the kill may or may not have happened.
        let uncertain = log.in_flight.as_ref().and_then(|op| {
            if let Op::Append { raw, .. } = op {
                unacknowledged_appends.push(raw.clone());
            }
            target(op).map(|uid| (uid, apply(&expected[&uid], op)))
        });
        for (uid, state) in &expected {
            let got = stored.remove(uid).unwrap_or(None);
            let either = uncertain
                .as_ref()
                .filter(|(u, _)| u == uid)
                .map(|(_, after)| after);
            assert!(
                got == *state || either == Some(&got),
                "UID {uid}: stored {got:?}, acknowledged {state:?} (or, if the unacknowledged \
                 operation happened, {either:?})"
            );
        }
    }
    // Anything else in the store is an APPEND the kill cut short, unflagged.
    for (uid, state) in stored {
        let Some((raw, flags)) = state else { continue };
        let position = unacknowledged_appends.iter().position(|r| *r == raw);
        assert!(
            position.is_some() && flags.is_empty(),
            "UID {uid} was never appended: {raw:?} {flags:?}"
        );
        unacknowledged_appends.remove(position.unwrap());
    }
    let highest = acknowledged_uids.iter().copied().max().unwrap();
    drop(store);

    // The server starts again on the same database and serves it.
    let (mut child, addr) = spawn_server(&database).await;
    let mut io = logged_in(addr).await.expect("no LOGIN after the restart");
    let mut uid_next = None;
    let mut line = String::new();
    io.get_mut().write_all(b"s SELECT INBOX\r\n").await.unwrap();
    while read_line(&mut io, &mut line).await && !line.starts_with("s ") {
        if let Some(rest) = line.strip_prefix("* OK [UIDNEXT ") {
            uid_next = rest.split(']').next().and_then(|n| n.parse::<Uid>().ok());
        }
    }
    assert!(line.starts_with("s OK"), "SELECT after the restart: {line}");
    let uid_next = uid_next.expect("no UIDNEXT after the restart");
    assert!(
        uid_next > highest,
        "UIDNEXT {uid_next} after the restart, acknowledged UIDs up to {highest}"
    );
    let raw = "Subject: after\r\n\r\nafter the restart\r\n";
    let append = command(
        &mut io,
        "a",
        &format!("APPEND INBOX {{{}+}}\r\n{raw}", raw.len()),
    )
    .await
    .expect("no answer to APPEND after the restart");
    assert!(
        append.contains(&format!(" {uid_next}] ")),
        "APPEND after the restart: {append}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
