//! `mailpush bench imap`: an IMAP load tool that drives any IMAP server over plain TCP.
//!
//! K clients log in with LOGIN. Some of them (the idlers) select a mailbox and sit in IDLE; the
//! others (the workers) repeat a fixed script on their mailbox — `APPEND` of a small message,
//! `UID FETCH` of the FLAGS of the last few UIDs, `UID STORE +FLAGS` and `UID STORE -FLAGS` on
//! the appended message — for a duration or a number of commands. Each worker has its own
//! mailbox unless the mailbox is shared. An IDLE wake-up is the time from an APPEND's tagged
//! `OK` to the untagged `EXISTS` that tells an idler of that mailbox about the message.
//!
//! It reports per command the count, the errors (tagged `NO`/`BAD`), ops/s and latency
//! percentiles, and the total ops/s.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailpush_driver::sleep_until;
use mailpush_imap::{
    Capability, Code, Data, Decode, Decoded, Greeting, GreetingKind, Response, StatusKind,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::BenchError;

/// `mailpush bench imap` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchImapArgs {
    /// The IMAP server (plain TCP; LOGIN must be allowed there).
    #[arg(long, default_value = "127.0.0.1:1143")]
    pub addr: SocketAddr,
    /// The user every client logs in as.
    #[arg(long, default_value = "bench")]
    pub user: String,
    /// Their password.
    #[arg(long, default_value = "bench")]
    pub password: String,
    /// Clients in all (K), idlers included.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// How many of the clients sit in IDLE instead of running the script.
    #[arg(long, default_value_t = 10)]
    pub idlers: usize,
    /// Seconds to run the script for.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Stop after this many commands in all (APPEND, FETCH, STORE) instead of after the
    /// duration.
    #[arg(long)]
    pub ops: Option<u64>,
    /// All clients use one mailbox (`bench`) instead of one each (`bench-<n>`; idler n watches
    /// the mailbox of worker n).
    #[arg(long)]
    pub shared_mailbox: bool,
    /// Size of each appended message in octets (headers included, at least about 400).
    #[arg(long, default_value_t = 1536)]
    pub message_size: usize,
    /// How many of the latest UIDs each `UID FETCH … FLAGS` asks for.
    #[arg(long, default_value_t = 20)]
    pub fetch_window: u32,
    /// Process id of the server: its CPU time during the measured interval (its own and that of
    /// every process below it, as Dovecot's per-connection processes) is reported (Linux).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print tab-separated rows (command, count, errors, ops/s, p50, p99, max in ms) instead
    /// of a table.
    #[arg(long)]
    pub tsv: bool,
}

impl BenchImapArgs {
    /// The defaults against `addr` with `user` and `password`.
    pub fn new(addr: SocketAddr, user: &str, password: &str) -> Self {
        BenchImapArgs {
            addr,
            user: user.to_owned(),
            password: password.to_owned(),
            clients: 50,
            idlers: 10,
            duration: 10,
            ops: None,
            shared_mailbox: false,
            message_size: 1536,
            fetch_window: 20,
            server_pid: None,
            tsv: false,
        }
    }
}

/// The commands the report has a row for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `APPEND` of one message.
    Append,
    /// `UID FETCH n:m FLAGS`.
    FetchFlags,
    /// `UID STORE n +FLAGS (\Flagged)`.
    StoreAdd,
    /// `UID STORE n -FLAGS (\Flagged)`.
    StoreRemove,
    /// From an APPEND's tagged `OK` to an idler's `EXISTS`.
    IdleWakeup,
}

impl Op {
    const ALL: [Op; 5] = [
        Op::Append,
        Op::FetchFlags,
        Op::StoreAdd,
        Op::StoreRemove,
        Op::IdleWakeup,
    ];

    /// The row's name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Append => "APPEND",
            Op::FetchFlags => "UID FETCH FLAGS",
            Op::StoreAdd => "UID STORE +FLAGS",
            Op::StoreRemove => "UID STORE -FLAGS",
            Op::IdleWakeup => "IDLE wake-up",
        }
    }

    fn index(self) -> usize {
        match self {
            Op::Append => 0,
            Op::FetchFlags => 1,
            Op::StoreAdd => 2,
            Op::StoreRemove => 3,
            Op::IdleWakeup => 4,
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone)]
pub struct OpStats {
    /// Which command.
    pub op: Op,
    /// Completed with a tagged `OK` (for wake-ups: `EXISTS` seen).
    pub count: u64,
    /// Tagged `NO` or `BAD` (for wake-ups: appended messages no idler was told of in time).
    pub errors: u64,
    /// `count` per second of the measured interval.
    pub ops_per_sec: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Longest latency.
    pub max: Duration,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// One row per command, in [`Op`] order (`IdleWakeup` last).
    pub ops: Vec<OpStats>,
    /// The measured interval (first command sent to last answer read).
    pub elapsed: Duration,
    /// APPEND, FETCH and STORE commands answered `OK`, per second (wake-ups are not commands).
    pub total_ops_per_sec: f64,
    /// Commands answered `NO` or `BAD`.
    pub total_errors: u64,
    /// CPU time of the server (`--server-pid`) during the measured interval.
    pub server_cpu: Option<Duration>,
}

impl Report {
    /// The row of `op`.
    pub fn get(&self, op: Op) -> Option<&OpStats> {
        self.ops.iter().find(|s| s.op == op)
    }

    fn commands(&self) -> u64 {
        self.ops
            .iter()
            .filter(|s| s.op != Op::IdleWakeup)
            .map(|s| s.count)
            .sum()
    }

    /// Server CPU milliseconds per 1000 commands.
    fn cpu_per_thousand(&self, cpu: Duration) -> f64 {
        match self.commands() {
            0 => 0.0,
            n => cpu.as_secs_f64() * 1_000_000.0 / n as f64,
        }
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<18} {:>8} {:>7} {:>10} {:>9} {:>9} {:>9}",
            "command", "count", "errors", "ops/s", "p50 ms", "p99 ms", "max ms"
        );
        for s in &self.ops {
            let _ = writeln!(
                out,
                "{:<18} {:>8} {:>7} {:>10.1} {:>9.2} {:>9.2} {:>9.2}",
                s.op.name(),
                s.count,
                s.errors,
                s.ops_per_sec,
                ms(s.p50),
                ms(s.p99),
                ms(s.max)
            );
        }
        let _ = writeln!(
            out,
            "total: {:.1} commands/s over {:.2} s, {} errors",
            self.total_ops_per_sec,
            self.elapsed.as_secs_f64(),
            self.total_errors
        );
        if let Some(cpu) = self.server_cpu {
            let _ = writeln!(
                out,
                "server CPU: {:.2} s, {:.2} ms per 1000 commands",
                cpu.as_secs_f64(),
                self.cpu_per_thousand(cpu)
            );
        }
        out
    }

    /// Tab-separated rows: `command count errors ops/s p50 p99 max` (milliseconds), then
    /// `TOTAL count errors ops/s`.
    pub fn tsv(&self) -> String {
        let mut out = String::new();
        let mut commands = 0;
        for s in &self.ops {
            if s.op != Op::IdleWakeup {
                commands += s.count;
            }
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{:.1}\t{:.3}\t{:.3}\t{:.3}",
                s.op.name(),
                s.count,
                s.errors,
                s.ops_per_sec,
                ms(s.p50),
                ms(s.p99),
                ms(s.max)
            );
        }
        let _ = writeln!(
            out,
            "TOTAL\t{commands}\t{}\t{:.1}",
            self.total_errors, self.total_ops_per_sec
        );
        if let Some(cpu) = self.server_cpu {
            let _ = writeln!(
                out,
                "CPU\t{:.3}\t{:.2}",
                cpu.as_secs_f64(),
                self.cpu_per_thousand(cpu)
            );
        }
        out
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the workload and prints the report on stdout.
pub async fn run_cli(args: BenchImapArgs) -> Result<(), BenchError> {
    let report = run(&args).await?;
    if args.tsv {
        print!("{}", report.tsv());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// Latencies one client measured, by [`Op`].
#[derive(Debug, Default)]
struct Samples {
    latencies: [Vec<Duration>; 5],
    errors: [u64; 5],
}

/// What the clients share.
struct Shared {
    args: BenchImapArgs,
    message: Vec<u8>,
    /// Set when the workers must stop.
    stop: AtomicBool,
    /// Commands started, for `--ops`.
    started: AtomicU64,
    /// Per watched mailbox: when each APPEND to it got its tagged `OK`.
    append_oks: Vec<Mutex<Vec<Instant>>>,
}

impl Shared {
    fn mailbox(&self, index: usize) -> String {
        if self.args.shared_mailbox {
            "bench".to_owned()
        } else {
            format!("bench-{index}")
        }
    }

    /// The slot of `append_oks` for worker `index`'s mailbox, if an idler watches it.
    fn watched(&self, index: usize) -> Option<usize> {
        if self.args.shared_mailbox {
            (!self.append_oks.is_empty()).then_some(0)
        } else {
            (index < self.append_oks.len()).then_some(index)
        }
    }

    /// Whether a worker may start one more command.
    fn go_on(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        match self.args.ops {
            Some(limit) => self.started.fetch_add(1, Ordering::Relaxed) < limit,
            None => true,
        }
    }
}

/// A realistic small text message of about `size` octets.
fn message(size: usize) -> Vec<u8> {
    let head = "From: Alice Example <alice@example.org>\r\n\
                To: Bob Example <bob@example.net>\r\n\
                Subject: Notes sync: meeting agenda and follow-ups\r\n\
                Date: Tue, 24 Nov 2026 10:15:00 +0000\r\n\
                Message-ID: <bench.20261124101500@example.org>\r\n\
                MIME-Version: 1.0\r\n\
                Content-Type: text/plain; charset=utf-8\r\n\
                Content-Transfer-Encoding: 7bit\r\n\r\n";
    let line = "The quick brown fox jumps over the lazy dog; agenda item follows.\r\n";
    let mut out = head.as_bytes().to_vec();
    while out.len() + line.len() <= size {
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// One IMAP connection: responses read with the project's IMAP decoder, and tags. `bench e2e`'s
/// clients are built on it too.
pub(crate) struct Conn {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    /// Octets read and not decoded yet.
    buffer: Vec<u8>,
    address: SocketAddr,
    next_tag: u64,
    literal_plus: bool,
}

/// How a tagged command ended.
pub(crate) enum Outcome {
    /// `OK`, with its response code.
    Ok(Option<Code>),
    /// `NO` or `BAD`.
    Failed,
}

impl Conn {
    pub(crate) async fn connect(address: SocketAddr) -> Result<Conn, BenchError> {
        let io = |source| BenchError::Io { address, source };
        let stream = TcpStream::connect(address).await.map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        let (reader, writer) = stream.into_split();
        let mut conn = Conn {
            reader,
            writer,
            buffer: Vec::with_capacity(4096),
            address,
            next_tag: 0,
            literal_plus: false,
        };
        match conn.next::<Greeting>().await? {
            Greeting {
                kind: GreetingKind::Ok,
                ..
            } => Ok(conn),
            other => Err(BenchError::Protocol(format!("greeting {other:?}"))),
        }
    }

    fn io(&self, source: std::io::Error) -> BenchError {
        BenchError::Io {
            address: self.address,
            source,
        }
    }

    /// The next greeting or response, literals included. Cancel-safe: what was read stays in
    /// the buffer.
    async fn next<T: Decode>(&mut self) -> Result<T, BenchError> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match T::decode(&self.buffer) {
                Decoded::Complete(value, used) => {
                    self.buffer.drain(..used);
                    return Ok(value);
                }
                Decoded::Incomplete | Decoded::LiteralFound { .. } => {}
                Decoded::Failed { message, .. } => {
                    return Err(BenchError::Protocol(format!(
                        "undecodable response ({message}): {:?}",
                        String::from_utf8_lossy(&self.buffer[..self.buffer.len().min(200)])
                    )));
                }
            }
            let n = self.reader.read(&mut chunk).await.map_err(|e| self.io(e))?;
            if n == 0 {
                return Err(BenchError::Protocol(format!(
                    "connection closed after {:?}",
                    String::from_utf8_lossy(&self.buffer)
                )));
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    pub(crate) async fn response(&mut self) -> Result<Response, BenchError> {
        self.next::<Response>().await
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) -> Result<(), BenchError> {
        self.writer.write_all(bytes).await.map_err(|e| self.io(e))
    }

    pub(crate) fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("b{}", self.next_tag)
    }

    /// Reads until the tagged answer of `tag`; `untagged` sees every other response.
    pub(crate) async fn finish(
        &mut self,
        tag: &str,
        mut untagged: impl FnMut(&Response),
    ) -> Result<Outcome, BenchError> {
        loop {
            match self.response().await? {
                Response::Tagged { tag: t, status } if t.as_str() == tag => {
                    return Ok(match status.kind {
                        StatusKind::Ok => Outcome::Ok(status.text.code),
                        _ => Outcome::Failed,
                    });
                }
                other => untagged(&other),
            }
        }
    }

    pub(crate) async fn command(&mut self, command: &str) -> Result<Outcome, BenchError> {
        let tag = self.tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await?;
        let mut literal_plus = false;
        let outcome = self
            .finish(&tag, |response| {
                if let Response::Data(Data::Capability(caps)) = response {
                    literal_plus |= offers_literal_plus(caps);
                }
            })
            .await?;
        if let Outcome::Ok(Some(Code::Capability(caps))) = &outcome {
            literal_plus |= offers_literal_plus(caps);
        }
        self.literal_plus |= literal_plus;
        Ok(outcome)
    }

    /// A command that must succeed for the workload to go on.
    pub(crate) async fn must(&mut self, command: &str) -> Result<(), BenchError> {
        match self.command(command).await? {
            Outcome::Ok(_) => Ok(()),
            Outcome::Failed => Err(BenchError::Protocol(format!("{command:?} refused"))),
        }
    }

    pub(crate) async fn login(&mut self, user: &str, password: &str) -> Result<(), BenchError> {
        self.must(&format!("LOGIN {} {}", quoted(user), quoted(password)))
            .await?;
        // Whether to send APPEND's literal without waiting for `+`, as clients do when they can.
        self.must("CAPABILITY").await
    }

    /// `APPEND`; the UID from `APPENDUID` when the server gives one (0 when it does not).
    pub(crate) async fn append(
        &mut self,
        mailbox: &str,
        message: &[u8],
    ) -> Result<Option<u32>, BenchError> {
        let tag = self.tag();
        let plus = if self.literal_plus { "+" } else { "" };
        let head = format!(
            "{tag} APPEND {} () {{{}{plus}}}\r\n",
            quoted(mailbox),
            message.len()
        );
        self.send(head.as_bytes()).await?;
        if !self.literal_plus && !matches!(self.response().await?, Response::Continue(_)) {
            return Ok(None);
        }
        let mut body = message.to_vec();
        body.extend_from_slice(b"\r\n");
        self.send(&body).await?;
        match self.finish(&tag, |_| {}).await? {
            Outcome::Ok(code) => Ok(Some(code.as_ref().and_then(append_uid).unwrap_or(0))),
            Outcome::Failed => Ok(None),
        }
    }
}

impl Conn {
    /// Sends `IDLE` and waits for the server's continuation; the command's tag, for `DONE`.
    pub(crate) async fn start_idle(&mut self) -> Result<String, BenchError> {
        let tag = self.tag();
        self.send(format!("{tag} IDLE\r\n").as_bytes()).await?;
        loop {
            match self.response().await? {
                Response::Continue(_) => return Ok(tag),
                Response::Tagged { tag: t, status } if t.as_str() == tag => {
                    return Err(BenchError::Protocol(format!("IDLE refused: {status:?}")));
                }
                _ => {}
            }
        }
    }

    /// Ends the IDLE of `tag` with `DONE` and reads its tagged answer.
    pub(crate) async fn done(&mut self, tag: &str) -> Result<(), BenchError> {
        self.send(b"DONE\r\n").await?;
        match self.finish(tag, |_| {}).await? {
            Outcome::Ok(_) => Ok(()),
            Outcome::Failed => Err(BenchError::Protocol("IDLE ended with NO or BAD".into())),
        }
    }
}

fn offers_literal_plus(caps: &[Capability]) -> bool {
    caps.iter().any(|c| c.is("LITERAL+"))
}

/// The UID of `[APPENDUID validity uid]` (RFC 4315).
fn append_uid(code: &Code) -> Option<u32> {
    match code {
        Code::AppendUid { uids, .. } => Some(uids.first().get()),
        _ => None,
    }
}

/// The count of `* n EXISTS`.
pub(crate) fn exists(response: &Response) -> Option<u64> {
    match response {
        Response::Data(Data::Exists(n)) => Some(u64::from(*n)),
        _ => None,
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Runs the workload against `args.addr` and measures it.
pub async fn run(args: &BenchImapArgs) -> Result<Report, BenchError> {
    if args.clients == 0 || args.idlers >= args.clients {
        return Err(BenchError::Options(
            "--clients must exceed --idlers (at least one client runs the script)".to_owned(),
        ));
    }
    let workers = args.clients - args.idlers;
    let watched = if args.idlers == 0 {
        0
    } else if args.shared_mailbox {
        1
    } else {
        args.idlers.min(workers)
    };
    let shared = Arc::new(Shared {
        args: args.clone(),
        message: message(args.message_size),
        stop: AtomicBool::new(false),
        started: AtomicU64::new(0),
        append_oks: (0..watched).map(|_| Mutex::new(Vec::new())).collect(),
    });

    // Set-up (not measured): mailboxes, logins, idlers in IDLE before the first APPEND.
    let mut setup = connect_logged_in(&shared).await?;
    for index in 0..if args.shared_mailbox { 1 } else { workers } {
        // An existing mailbox (a second run) is fine.
        let _ = setup
            .command(&format!("CREATE {}", quoted(&shared.mailbox(index))))
            .await?;
    }
    let _ = setup.command("LOGOUT").await;
    let mut idlers = Vec::new();
    for index in 0..args.idlers {
        let slot = if args.shared_mailbox {
            0
        } else {
            index % workers.max(1)
        };
        let mut conn = connect_logged_in(&shared).await?;
        let start = select(&mut conn, &shared.mailbox(slot)).await?;
        let tag = conn.start_idle().await?;
        // Every slot below `watched`: idler n watches mailbox n % workers.
        idlers.push((conn, tag, start, Some(slot)));
    }
    let mut conns = Vec::new();
    for index in 0..workers {
        let mut conn = connect_logged_in(&shared).await?;
        let _ = select(&mut conn, &shared.mailbox(index)).await?;
        conns.push(conn);
    }

    // Idlers record when each new message is told; workers run the script.
    let (idle_stop_tx, idle_stop_rx) = tokio::sync::watch::channel(false);
    let idle_tasks: Vec<_> = idlers
        .into_iter()
        .map(|(conn, tag, start, slot)| {
            tokio::spawn(idle(conn, tag, start, slot, idle_stop_rx.clone()))
        })
        .collect();
    let cpu_before = args.server_pid.and_then(tree_cpu);
    let began = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(index, conn)| tokio::spawn(work(conn, index, Arc::clone(&shared))))
        .collect();
    let deadline = tokio::time::sleep(Duration::from_secs(args.duration));
    if args.ops.is_none() {
        deadline.await;
        shared.stop.store(true, Ordering::Relaxed);
    }
    let mut samples = Samples::default();
    let mut failure = None;
    for task in tasks {
        match task.await {
            Ok(Ok(s)) => merge(&mut samples, s),
            Ok(Err(error)) => failure = Some(error),
            Err(join) => failure = Some(BenchError::Protocol(format!("worker died: {join}"))),
        }
    }
    let elapsed = began.elapsed();
    let server_cpu = match (cpu_before, args.server_pid.and_then(tree_cpu)) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    // Late wake-ups still count: the idlers get a moment to be told of the last APPENDs.
    let expected: Vec<usize> = shared
        .append_oks
        .iter()
        .map(|m| m.lock().map(|v| v.len()).unwrap_or(0))
        .collect();
    let _ = idle_stop_tx.send(true);
    for task in idle_tasks {
        match task.await {
            Ok(Ok((slot, seen))) => {
                let Some(slot) = slot else { continue };
                let oks = shared.append_oks[slot]
                    .lock()
                    .map(|v| v.clone())
                    .unwrap_or_default();
                let mut oks = oks;
                oks.sort_unstable();
                let told = seen.len().min(oks.len());
                for (ok, exists) in oks.iter().zip(&seen) {
                    samples.latencies[Op::IdleWakeup.index()]
                        .push(exists.saturating_duration_since(*ok));
                }
                let missing = expected
                    .get(slot)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(told);
                samples.errors[Op::IdleWakeup.index()] += missing as u64;
            }
            Ok(Err(error)) => failure = Some(error),
            Err(join) => failure = Some(BenchError::Protocol(format!("idler died: {join}"))),
        }
    }
    if let Some(error) = failure {
        return Err(error);
    }
    let mut report = report(samples, elapsed);
    report.server_cpu = server_cpu;
    Ok(report)
}

/// User and system CPU time of `root` and of every live process below it, from `/proc`.
fn tree_cpu(root: u32) -> Option<Duration> {
    // (pid, parent, ticks) of every process; the fields follow the parenthesized name.
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if let (Some(parent), Some(user), Some(system)) = (number(1), number(11), number(12)) {
            procs.push((pid, u32::try_from(parent).unwrap_or(0), user + system));
        }
    }
    if !procs.iter().any(|(pid, _, _)| *pid == root) {
        return None;
    }
    let mut tree = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, parent, _) in &procs {
            if tree.contains(parent) && !tree.contains(pid) {
                tree.push(*pid);
                grew = true;
            }
        }
    }
    let ticks: u64 = procs
        .iter()
        .filter(|(pid, _, _)| tree.contains(pid))
        .map(|(_, _, t)| t)
        .sum();
    // Linux reports these in USER_HZ, 100 on every architecture it supports today.
    Some(Duration::from_millis(ticks * 10))
}

async fn connect_logged_in(shared: &Shared) -> Result<Conn, BenchError> {
    let mut conn = Conn::connect(shared.args.addr).await?;
    conn.login(&shared.args.user, &shared.args.password).await?;
    Ok(conn)
}

/// SELECTs `mailbox`; the number of messages in it.
pub(crate) async fn select(conn: &mut Conn, mailbox: &str) -> Result<u64, BenchError> {
    let tag = conn.tag();
    conn.send(format!("{tag} SELECT {}\r\n", quoted(mailbox)).as_bytes())
        .await?;
    let mut count = 0;
    match conn
        .finish(&tag, |response| {
            if let Some(n) = exists(response) {
                count = n;
            }
        })
        .await?
    {
        Outcome::Ok(_) => Ok(count),
        Outcome::Failed => Err(BenchError::Protocol(format!("SELECT {mailbox} refused"))),
    }
}

/// An idler: the instant each new message was told, until stopped; then DONE and LOGOUT.
async fn idle(
    mut conn: Conn,
    tag: String,
    start: u64,
    slot: Option<usize>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(Option<usize>, Vec<Instant>), BenchError> {
    let mut known = start;
    let mut seen = Vec::new();
    let mut grace: Option<tokio::time::Instant> = None;
    loop {
        let response = tokio::select! {
            response = conn.response() => response?,
            _ = stop.changed(), if grace.is_none() => {
                grace = Some(tokio::time::Instant::now() + Duration::from_secs(2));
                continue;
            }
            () = sleep_until(grace) => break,
        };
        if let Some(n) = exists(&response) {
            let now = Instant::now();
            for _ in known..n {
                seen.push(now);
            }
            known = known.max(n);
        } else if let Response::Tagged { tag: t, status } = &response
            && t.as_str() == tag
        {
            return Err(BenchError::Protocol(format!("IDLE ended: {status:?}")));
        }
    }
    conn.send(b"DONE\r\n").await?;
    let _ = conn.finish(&tag, |_| {}).await?;
    let _ = conn.command("LOGOUT").await;
    Ok((slot, seen))
}

/// A worker: the script in a loop until told to stop.
async fn work(mut conn: Conn, index: usize, shared: Arc<Shared>) -> Result<Samples, BenchError> {
    let mut samples = Samples::default();
    let mailbox = shared.mailbox(index);
    let watched = shared.watched(index);
    let window = shared.args.fetch_window.max(1);
    let mut last_uid = 0u32;
    'script: loop {
        for op in [Op::Append, Op::FetchFlags, Op::StoreAdd, Op::StoreRemove] {
            // Before the first APPEND there is nothing to fetch or flag.
            if op != Op::Append && last_uid == 0 {
                continue;
            }
            if !shared.go_on() {
                break 'script;
            }
            let began = Instant::now();
            let ok = match op {
                Op::Append => match conn.append(&mailbox, &shared.message).await? {
                    Some(uid) => {
                        if let Some(slot) = watched
                            && let Ok(mut oks) = shared.append_oks[slot].lock()
                        {
                            oks.push(Instant::now());
                        }
                        last_uid = uid;
                        true
                    }
                    None => false,
                },
                Op::FetchFlags => {
                    let from = last_uid.saturating_sub(window - 1).max(1);
                    let command = format!("UID FETCH {from}:{last_uid} FLAGS");
                    matches!(conn.command(&command).await?, Outcome::Ok(_))
                }
                Op::StoreAdd | Op::StoreRemove => {
                    let sign = if op == Op::StoreAdd { '+' } else { '-' };
                    let command = format!("UID STORE {last_uid} {sign}FLAGS (\\Flagged)");
                    matches!(conn.command(&command).await?, Outcome::Ok(_))
                }
                Op::IdleWakeup => continue,
            };
            let latency = began.elapsed();
            if ok {
                samples.latencies[op.index()].push(latency);
            } else {
                samples.errors[op.index()] += 1;
            }
        }
    }
    let _ = conn.command("LOGOUT").await;
    Ok(samples)
}

fn merge(into: &mut Samples, from: Samples) {
    for (all, mine) in into.latencies.iter_mut().zip(from.latencies) {
        all.extend(mine);
    }
    for (all, mine) in into.errors.iter_mut().zip(from.errors) {
        *all += mine;
    }
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(mut samples: Samples, elapsed: Duration) -> Report {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let mut ops = Vec::new();
    let mut commands = 0u64;
    let mut total_errors = 0u64;
    for op in Op::ALL {
        let latencies = &mut samples.latencies[op.index()];
        latencies.sort_unstable();
        let count = latencies.len() as u64;
        let errors = samples.errors[op.index()];
        if op != Op::IdleWakeup {
            commands += count;
            total_errors += errors;
        }
        ops.push(OpStats {
            op,
            count,
            errors,
            ops_per_sec: count as f64 / seconds,
            p50: percentile(latencies, 0.50),
            p99: percentile(latencies, 0.99),
            max: latencies.last().copied().unwrap_or(Duration::ZERO),
        });
    }
    Report {
        ops,
        elapsed,
        total_ops_per_sec: commands as f64 / seconds,
        total_errors,
        server_cpu: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Response {
        match Response::decode(bytes) {
            Decoded::Complete(r, n) if n == bytes.len() => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn response_pieces_are_read() {
        let ok = decode(b"b1 OK [APPENDUID 1700000000 42] APPEND completed\r\n");
        let Response::Tagged { status, .. } = ok else {
            panic!("not tagged");
        };
        assert_eq!(status.text.code.as_ref().and_then(append_uid), Some(42));
        let plain = decode(b"b1 OK [UIDNEXT 7] x\r\n");
        let Response::Tagged { status, .. } = plain else {
            panic!("not tagged");
        };
        assert_eq!(status.text.code.as_ref().and_then(append_uid), None);
        assert_eq!(exists(&decode(b"* 17 EXISTS\r\n")), Some(17));
        assert_eq!(exists(&decode(b"* 17 RECENT\r\n")), None);
        // A literal is part of the response it is in.
        let fetch = decode(b"* 1 FETCH (BODY[] {12}\r\nhello world!)\r\n");
        assert!(matches!(fetch, Response::Data(Data::Fetch { .. })));
        let caps = decode(b"* CAPABILITY IMAP4rev1 LITERAL+ IDLE\r\n");
        let Response::Data(Data::Capability(caps)) = caps else {
            panic!("not CAPABILITY");
        };
        assert!(offers_literal_plus(&caps));
    }

    #[test]
    fn the_message_is_about_the_asked_size() {
        let m = message(1536);
        assert!(m.len() <= 1536 && m.len() > 1400, "{}", m.len());
        assert!(m.starts_with(b"From: "));
    }

    #[test]
    fn the_cpu_of_this_process_tree_is_read() {
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(tree_cpu(std::process::id()).is_some());
        }
        assert_eq!(tree_cpu(u32::MAX), None);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }
}
