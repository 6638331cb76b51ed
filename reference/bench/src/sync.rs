//! `mailpush bench sync`: the data-access daemon's sync engine against real IMAP servers.
//!
//! A mailbox of N note messages (written by the notes crate) is filled over IMAP; then, per
//! server (this project's mail server, started in this process, and Debian's Dovecot) and per
//! method (QRESYNC, CONDSTORE, plain IMAP: the engine's capability mask hides what the server
//! offers beyond the method), a fresh DA synchronizes it from nothing (the initial sync), once
//! more without changes (the unchanged sync), and once after C changes made by another client
//! (the incremental sync). The DA persists what it syncs in the device's SQLite store, as the
//! device daemon does. In the same run mbsync (Debian's `isync`) pulls the same mailbox into a
//! Maildir, initially and after C changes. Every connection goes through a counting proxy, so
//! bytes on the wire are counted the same way for the DA and for mbsync.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mailpush_device::clock::Clock;
use mailpush_device::store::Store as DeviceStore;
use mailpush_device_core::da::{self, Engine, EngineConfig, Method, SyncReport};
use mailpush_device_core::{AccountId, Token};
use mailpush_imap::Mailbox;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::BenchError;

/// The options of `mailpush bench sync`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchSyncArgs {
    /// Notes in the mailbox.
    #[arg(long, default_value_t = 10_000)]
    pub notes: u32,
    /// Changes (a third each: appends, flag changes, expunges) before the incremental sync.
    #[arg(long, default_value_t = 100)]
    pub changes: u32,
    /// Leave Dovecot out (it needs root and the `dovecot-imapd` package).
    #[arg(long)]
    pub no_dovecot: bool,
    /// Leave mbsync out (it needs the `isync` package).
    #[arg(long)]
    pub no_mbsync: bool,
}

const MAILBOX: &str = "Notes";
const USER: &str = "bench";
const PASSWORD: &str = "bench-password";
/// The longest any one sync may take before the bench gives up.
const SYNC_LIMIT: Duration = Duration::from_secs(600);

fn protocol(text: impl Into<String>) -> BenchError {
    BenchError::Protocol(text.into())
}

/// Octets both ways through a proxy, since it started.
#[derive(Clone, Default)]
struct Wire {
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
}

impl Wire {
    fn total(&self) -> u64 {
        self.sent.load(Ordering::Relaxed) + self.received.load(Ordering::Relaxed)
    }
}

/// A loopback proxy that counts what clients send and receive. Dropping it closes its
/// listener and every connection through it.
struct CountingProxy {
    addr: SocketAddr,
    wire: Wire,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        // The accept loop owns the connections' tasks in a `JoinSet`: aborting it drops the
        // set, which aborts them.
        self.task.abort();
    }
}

/// A [`CountingProxy`] to `target`.
async fn counting_proxy(target: SocketAddr) -> Result<CountingProxy, BenchError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let wire = Wire::default();
    let counters = wire.clone();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((client, _)) = listener.accept().await {
            // Reaps the finished ones, so that a long run does not keep them all.
            while connections.try_join_next().is_some() {}
            let Ok(server) = TcpStream::connect(target).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            connections.spawn(pump(cr, sw, Arc::clone(&counters.sent)));
            connections.spawn(pump(sr, cw, Arc::clone(&counters.received)));
        }
    });
    Ok(CountingProxy { addr, wire, task })
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

/// A minimal IMAP client for filling and changing the mailbox (the other device).
struct Writer {
    stream: TcpStream,
    buf: Vec<u8>,
    tag: u64,
}

impl Writer {
    async fn login(addr: SocketAddr, user: &str, password: &str) -> Result<Self, BenchError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| BenchError::Io {
                address: addr,
                source,
            })?;
        let mut w = Writer {
            stream,
            buf: Vec::new(),
            tag: 0,
        };
        w.line().await?;
        w.command(&format!("LOGIN {user} {password}")).await?;
        Ok(w)
    }

    async fn line(&mut self) -> Result<String, BenchError> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).collect();
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(protocol("the server closed the connection"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Waits for the tagged answer of `tag` (untagged lines are passed over).
    async fn completion(&mut self, tag: u64) -> Result<(), BenchError> {
        let prefix = format!("w{tag} ");
        loop {
            let line = self.line().await?;
            if let Some(rest) = line.strip_prefix(&prefix) {
                return if rest.starts_with("OK") {
                    Ok(())
                } else {
                    Err(protocol(format!("w{tag}: {}", line.trim_end())))
                };
            }
        }
    }

    async fn command(&mut self, command: &str) -> Result<(), BenchError> {
        self.tag += 1;
        let tag = self.tag;
        self.stream
            .write_all(format!("w{tag} {command}\r\n").as_bytes())
            .await?;
        self.completion(tag).await
    }

    /// Appends every message, pipelined with LITERAL+.
    async fn append_all(&mut self, messages: &[Vec<u8>]) -> Result<(), BenchError> {
        for batch in messages.chunks(200) {
            let first = self.tag + 1;
            let mut out = Vec::new();
            for m in batch {
                self.tag += 1;
                out.extend_from_slice(
                    format!(
                        "w{} APPEND {MAILBOX} (\\Seen) {{{}+}}\r\n",
                        self.tag,
                        m.len()
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(m);
                out.extend_from_slice(b"\r\n");
            }
            self.stream.write_all(&out).await?;
            for tag in first..=self.tag {
                self.completion(tag).await?;
            }
        }
        Ok(())
    }

    /// `changes` changes, a third each: expunges of the last messages, flag changes, appends
    /// (`round` moves the flagged messages so that every round changes other ones).
    async fn change(&mut self, changes: u32, round: u32, notes: &Notes) -> Result<(), BenchError> {
        let expunges = changes / 3;
        let flags = changes / 3;
        let appends = changes - expunges - flags;
        self.command(&format!("SELECT {MAILBOX}")).await?;
        if expunges > 0 {
            self.command(&format!(
                "STORE {}:* +FLAGS.SILENT (\\Deleted)",
                // The last `expunges` messages, by sequence number, of a mailbox of at least
                // `notes` messages.
                notes.count.saturating_sub(expunges) + 1
            ))
            .await?;
            self.command("EXPUNGE").await?;
        }
        if flags > 0 {
            let first = round * flags + 1;
            self.command(&format!(
                "STORE {first}:{} +FLAGS.SILENT (\\Flagged)",
                first + flags - 1
            ))
            .await?;
        }
        let fresh: Vec<Vec<u8>> = (0..appends)
            .map(|i| notes.message(1_000_000 + round * 1000 + i))
            .collect::<Result<_, _>>()?;
        self.append_all(&fresh).await?;
        self.command("CLOSE").await
    }
}

/// The note messages of the benchmark.
struct Notes {
    count: u32,
    author: mailpush_notes::Author,
    limits: mailpush_notes::Limits,
}

impl Notes {
    fn message(&self, n: u32) -> Result<Vec<u8>, BenchError> {
        let bad = |e: String| protocol(format!("note {n}: {e}"));
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        let id = mailpush_notes::NoteId::from_random_bytes(bytes);
        let date = mailpush_message::DateTime::from_unix_seconds(1_700_000_000 + i64::from(n), 0)
            .ok_or_else(|| bad("date".into()))?;
        let text = format!(
            "Note {n}\nShopping: milk, eggs, bread and {n} other things.\n\
             A second paragraph so that the note looks like one people write."
        );
        let note = mailpush_notes::Note::from_text(id, &text, date, date)
            .map_err(|e| bad(e.to_string()))?;
        mailpush_notes::write_note(&note, &self.author, id, &[], &self.limits)
            .map_err(|e| bad(e.to_string()))
    }
}

/// What one sync measured.
struct Measured {
    report: SyncReport,
    elapsed: Duration,
    /// Octets on the DA's connection during the run (login and `LIST` included for the first).
    wire: u64,
}

/// One DA (engine, device store) driven over a socket until a sync completes.
struct Da {
    engine: Engine,
    store: DeviceStore,
    account: AccountId,
    clock: Clock,
    addr: SocketAddr,
    stream: Option<TcpStream>,
    token: Token,
}

impl Da {
    fn new(addr: SocketAddr, method: Method, dir: &Path) -> Result<Self, BenchError> {
        let account = AccountId::new("bench").map_err(|e| protocol(e.to_string()))?;
        let mut config = EngineConfig::new(
            account.clone(),
            da::Credentials {
                username: USER.into(),
                password: PASSWORD.into(),
            },
            vec![Mailbox::from(MAILBOX)],
        );
        config.security = da::Security::Plaintext;
        config.masked_capabilities = match method {
            Method::CondStore => vec!["QRESYNC".into()],
            Method::Plain => vec!["QRESYNC".into(), "CONDSTORE".into()],
            _ => Vec::new(),
        };
        let store = DeviceStore::open(&dir.join(format!("da-{}.sqlite3", method_name(method))))
            .map_err(|e| protocol(e.to_string()))?;
        let clock = Clock::new();
        Ok(Da {
            engine: Engine::new(config, Vec::new(), clock.now()),
            store,
            account,
            clock,
            addr,
            stream: None,
            token: Token::new("0123456789abcdef0123456789abcdef")
                .map_err(|e| protocol(e.to_string()))?,
        })
    }

    /// Runs the engine until it completes a sync (the first one after a start, or the one a
    /// wake asked for).
    async fn until_synced(&mut self, wire: &Wire) -> Result<Measured, BenchError> {
        let started = Instant::now();
        let before = wire.total();
        let deadline = started + SYNC_LIMIT;
        let mut buf = vec![0u8; 256 * 1024];
        // As the daemon does: contents are written with the sync's commit when it comes in the
        // same turn, otherwise together at the turn's end.
        let mut contents = Vec::new();
        loop {
            while let Some(event) = self.engine.poll_event() {
                let now = self.clock.now();
                match event {
                    da::Event::Connect => {
                        self.stream = Some(TcpStream::connect(self.addr).await?);
                        self.engine.handle_connected(now);
                    }
                    da::Event::Close => self.stream = None,
                    da::Event::Register { mailboxes, .. } => {
                        let tokens = mailboxes
                            .into_iter()
                            .map(|m| (m, self.token.clone()))
                            .collect();
                        self.engine
                            .handle_registered(tokens, now)
                            .map_err(|e| protocol(e.to_string()))?;
                    }
                    da::Event::Content(content) => contents.push(content),
                    da::Event::SyncCompleted { update, report } => {
                        self.store
                            .commit(&self.account, &contents, &update, now.0)
                            .map_err(|e| protocol(e.to_string()))?;
                        self.flush().await?;
                        return Ok(Measured {
                            report,
                            elapsed: started.elapsed(),
                            wire: wire.total() - before,
                        });
                    }
                    da::Event::SyncFailed { error, .. }
                    | da::Event::ConnectionFailed { error, .. } => {
                        return Err(protocol(format!("the DA failed: {error}")));
                    }
                    da::Event::StartTls => return Err(protocol("STARTTLS on a plaintext bench")),
                    _ => {}
                }
            }
            self.store
                .put_contents(&self.account, &contents)
                .map_err(|e| protocol(e.to_string()))?;
            contents.clear();
            self.flush().await?;
            let Some(stream) = self.stream.as_mut() else {
                continue;
            };
            let timeout = self.clock.deadline(self.engine.poll_timeout());
            tokio::select! {
                read = stream.read(&mut buf) => {
                    let n = read?;
                    let now = self.clock.now();
                    if n == 0 {
                        self.stream = None;
                        self.engine.handle_disconnected(now);
                    } else {
                        self.engine.handle_input(&buf[..n], now);
                    }
                }
                _ = tokio::time::sleep_until(timeout) => self.engine.handle_timeout(self.clock.now()),
            }
            if Instant::now() > deadline {
                return Err(protocol("a sync took longer than the bench allows"));
            }
        }
    }

    async fn flush(&mut self) -> Result<(), BenchError> {
        while let Some(octets) = self.engine.poll_transmit() {
            if let Some(stream) = self.stream.as_mut() {
                stream.write_all(&octets).await?;
            }
        }
        Ok(())
    }

    async fn wake(&mut self, wire: &Wire) -> Result<Measured, BenchError> {
        let now = self.clock.now();
        self.engine.handle_wake(&self.token, now);
        self.until_synced(wire).await
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::QResync => "qresync",
        Method::CondStore => "condstore",
        _ => "plain",
    }
}

fn rate(messages: usize, elapsed: Duration) -> f64 {
    messages as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn row(server: &str, client: &str, phase: &str, m: &Measured) {
    println!(
        "{server:<9} {client:<14} {phase:<11} {:>7} {:>10.0} {:>9.3} {:>5} {:>12}",
        m.report.added + m.report.removed + m.report.changed,
        rate(
            m.report.added + m.report.removed + m.report.changed,
            m.elapsed
        ),
        m.elapsed.as_secs_f64(),
        m.report.round_trips,
        m.wire
    );
}

/// One server: the mailbox filled, the three methods, then mbsync.
async fn bench_server(
    name: &str,
    target: SocketAddr,
    args: &BenchSyncArgs,
    notes: &Notes,
    messages: &[Vec<u8>],
    dir: &Path,
) -> Result<(), BenchError> {
    let proxy = counting_proxy(target).await?;
    let (addr, wire) = (proxy.addr, &proxy.wire);
    let mut writer = Writer::login(target, USER, PASSWORD).await?;
    writer.append_all(messages).await?;
    let mut round = 0;
    let round = &mut round;
    for method in [Method::QResync, Method::CondStore, Method::Plain] {
        let dir = dir.join(format!("{name}-{}", method_name(method)));
        std::fs::create_dir_all(&dir)?;
        let mut da = Da::new(addr, method, &dir)?;
        let client = format!("DA {}", method_name(method));
        let initial = da.until_synced(wire).await?;
        if initial.report.method != method {
            return Err(protocol(format!(
                "{name} was synchronized by {:?}, not {method:?}",
                initial.report.method
            )));
        }
        row(name, &client, "initial", &initial);
        let unchanged = da.wake(wire).await?;
        row(name, &client, "unchanged", &unchanged);
        writer.change(args.changes, *round, notes).await?;
        *round += 1;
        let incremental = da.wake(wire).await?;
        row(name, &client, "incremental", &incremental);
    }
    if !args.no_mbsync {
        let maildir = dir.join(format!("{name}-maildir"));
        let initial = mbsync(addr, wire, &maildir).await?;
        println!(
            "{name:<9} {:<14} {:<11} {:>7} {:>10.0} {:>9.3} {:>5} {:>12}",
            "mbsync",
            "initial",
            initial.0,
            rate(initial.0, initial.1),
            initial.1.as_secs_f64(),
            "-",
            initial.2
        );
        writer.change(args.changes, *round, notes).await?;
        *round += 1;
        let incremental = mbsync(addr, wire, &maildir).await?;
        println!(
            "{name:<9} {:<14} {:<11} {:>7} {:>10} {:>9.3} {:>5} {:>12}",
            "mbsync",
            "incremental",
            "-",
            "-",
            incremental.1.as_secs_f64(),
            "-",
            incremental.2
        );
    }
    Ok(())
}

/// Runs mbsync (pull only) of the mailbox into `maildir`: messages in the Maildir afterwards,
/// the time it took, and octets on its connection.
async fn mbsync(
    addr: SocketAddr,
    wire: &Wire,
    maildir: &Path,
) -> Result<(usize, Duration, u64), BenchError> {
    std::fs::create_dir_all(maildir)?;
    let config = maildir.with_extension("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPAccount bench\nHost {}\nPort {}\nUser {USER}\nPass {PASSWORD}\nSSLType None\n\
             AuthMechs LOGIN\n\nIMAPStore far\nAccount bench\n\nMaildirStore near\nPath {}/\n\
             Inbox {}/INBOX\n\nChannel notes\nFar :far:{MAILBOX}\nNear :near:{MAILBOX}\n\
             Create Near\nSync Pull\nSyncState *\n",
            addr.ip(),
            addr.port(),
            maildir.display(),
            maildir.display(),
        ),
    )?;
    let before = wire.total();
    let started = Instant::now();
    let output = tokio::process::Command::new("mbsync")
        // An error or an interrupted bench must not leave mbsync running.
        .kill_on_drop(true)
        .arg("-q")
        .arg("-c")
        .arg(&config)
        .arg("notes")
        .output()
        .await?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        return Err(protocol(format!(
            "mbsync failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let count = ["cur", "new"]
        .iter()
        .map(|d| {
            std::fs::read_dir(maildir.join(MAILBOX).join(d)).map_or(0, |entries| entries.count())
        })
        .sum();
    Ok((count, elapsed, wire.total() - before))
}

fn machine() -> String {
    format!(
        "{} cores, {}; load average {}",
        crate::cpus(),
        crate::cpu_model(),
        crate::load_average()
    )
}

/// `mailpush bench sync`.
pub async fn run_cli(args: BenchSyncArgs) -> Result<(), BenchError> {
    if args.notes == 0 || args.changes < 3 || args.changes > args.notes {
        return Err(BenchError::Options(
            "--notes must be at least 1 and --changes from 3 to --notes".into(),
        ));
    }
    let dir = tempfile::tempdir()?;
    let notes = Notes {
        count: args.notes,
        author: mailpush_notes::Author::new(None, "bench@example.org")
            .map_err(|e| protocol(e.to_string()))?,
        limits: mailpush_notes::Limits::default(),
    };
    let messages: Vec<Vec<u8>> = (0..args.notes)
        .map(|n| notes.message(n))
        .collect::<Result<_, _>>()?;
    let octets: usize = messages.iter().map(Vec::len).sum();
    println!(
        "mailpush bench sync: {} notes ({} octets, {} per note on average), {} changes",
        args.notes,
        octets,
        octets / messages.len(),
        args.changes
    );
    println!("machine: {}", machine());
    println!(
        "{:<9} {:<14} {:<11} {:>7} {:>10} {:>9} {:>5} {:>12}",
        "server", "client", "sync", "msgs", "msgs/s", "seconds", "RTs", "wire octets"
    );

    // This project's mail server, in this process, plain IMAP on loopback.
    let store = mailpush_mail_store::Store::open(
        dir.path().join("mail.db"),
        mailpush_mail_store::Config::default(),
    )
    .map_err(|e| protocol(e.to_string()))?;
    let user = store
        .add_user(USER, PASSWORD.as_bytes())
        .map_err(|e| protocol(e.to_string()))?;
    store
        .create_mailbox(user, MAILBOX)
        .map_err(|e| protocol(e.to_string()))?;
    let mail = mailpush_mail_server::driver::start(
        mailpush_mail_server::driver::Settings {
            imap_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            imaps_listen: None,
            allow_plaintext_loopback: true,
            ..mailpush_mail_server::driver::Settings::default()
        },
        Arc::new(store),
    )
    .await
    .map_err(|e| protocol(e.to_string()))?;
    let target = mail
        .imap_addr
        .ok_or_else(|| protocol("the mail server has no IMAP address"))?;
    bench_server("mailpush", target, &args, &notes, &messages, dir.path()).await?;
    mail.shutdown().await;

    if !args.no_dovecot {
        use mailpush_testkit::interop::{Credentials, Dovecot, DovecotOptions};
        let dovecot = Dovecot::start(DovecotOptions {
            users: vec![Credentials::new(USER, PASSWORD)],
            ..DovecotOptions::default()
        })
        .await
        .map_err(|e| protocol(format!("Dovecot: {e}")))?;
        let target = dovecot.imap_addr();
        bench_server("dovecot", target, &args, &notes, &messages, dir.path()).await?;
        eprintln!("stopping Dovecot and removing its mail");
        drop(dovecot);
    }
    println!("machine at the end: {}", machine());
    remove_files(dir)
}

/// Removes the bench's files (a Maildir and a device store per server and method, the mail
/// server's database), saying so first: tens of thousands of files take a while to unlink on
/// a busy disk, and a run that stays silent after its last line looks hung.
fn remove_files(dir: tempfile::TempDir) -> Result<(), BenchError> {
    let (files, octets) = tree_size(dir.path());
    eprintln!(
        "removing the bench's {files} files ({} MB) in {}",
        octets / 1_000_000,
        dir.path().display()
    );
    let started = Instant::now();
    dir.close()?;
    eprintln!("removed in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Files under `dir` and their octets.
fn tree_size(dir: &Path) -> (u64, u64) {
    let mut totals = (0, 0);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(_) => {
                    totals.0 += 1;
                    totals.1 += entry.metadata().map_or(0, |m| m.len());
                }
                Err(_) => {}
            }
        }
    }
    totals
}
