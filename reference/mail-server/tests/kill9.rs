//! Durability: the server process is killed with SIGKILL while clients APPEND, and every APPEND
//! that got its tagged `OK [APPENDUID …]` is in the store afterwards.
//!
//! The server runs in a child process: this test binary run again with only
//! `kill9_child_server`, which the parent selects through an environment variable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailpush_mail_server::driver::{Settings, start};
use mailpush_mail_store::{Config as StoreConfig, PasswordHashing, Store, Uid, UidSet};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const CHILD_DATABASE: &str = "MAILPUSH_KILL9_CHILD_DATABASE";

fn store_config() -> StoreConfig {
    StoreConfig {
        password_hashing: PasswordHashing {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        },
        ..StoreConfig::default()
    }
}

/// The child: serves the database named by the environment until it is killed.
#[test]
#[ignore = "run by kill9_loses_no_acknowledged_append in a child process"]
fn kill9_child_server() {
    let Ok(database) = std::env::var(CHILD_DATABASE) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::open(database, store_config()).unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_no_acknowledged_append() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("mail.db");
    drop({
        let store = Store::open(&database, store_config()).unwrap();
        store.add_user("fred", b"secret").unwrap();
        store
    });
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill9_child_server",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DATABASE, &database)
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

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|client| tokio::spawn(append_until_killed(addr, client, Arc::clone(&acknowledged))))
        .collect();
    // Kill while the clients are appending: wait for some acknowledged APPENDs first.
    for _ in 0..600 {
        if acknowledged.lock().unwrap().len() >= 40 {
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

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 40,
        "only {} APPENDs were acknowledged before the kill",
        acknowledged.len()
    );
    let store = Store::open(&database, store_config()).unwrap();
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
