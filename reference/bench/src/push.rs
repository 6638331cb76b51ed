//! `mailpush bench push`: a load tool. It starts a push server in this process (plain TCP on
//! loopback, in-memory store unless `--database` is given), opens K device connections from
//! several 127.0.0.x source addresses, then pushes at rate R through the provider API and
//! reports notifications/s, delivery latency percentiles and RSS per idle connection.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mailpush_push_proto::client::{ClientConnection, ClientEvent};
use mailpush_push_proto::{Credential, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use mailpush_push_server::hub::{hash_secret, with_store};
use mailpush_push_server::store::DeviceRecord;
use mailpush_push_server::{Clock, RunningServer, Settings, open_store, start};

use crate::BenchError;

/// `mailpush bench push` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchPushArgs {
    /// Device connections to open (K).
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Target pushes per second (R); 0 measures idle connections only.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Seconds to push for.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Concurrent provider connections.
    #[arg(long, default_value_t = 32)]
    pub http_connections: usize,
    /// Requests sent back to back on a provider connection before reading their responses
    /// (HTTP/1.1 pipelining); 1 waits for each response.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Pushes over HTTP/2 with prior knowledge, as concurrent streams of each provider
    /// connection, at most `--pipeline` of them in flight, instead of HTTP/1.1.
    #[arg(long)]
    pub http2: bool,
    /// Number of 127.0.0.x source addresses for device connections.
    #[arg(long, default_value_t = 4)]
    pub source_addresses: u8,
    /// Also measures RSS once this many devices are connected, and reports the marginal RSS of
    /// each further idle connection (the slope between the two points), which excludes what
    /// the server holds regardless of the number of connections.
    #[arg(long)]
    pub rss_first: Option<usize>,
    /// SQLite file to bench the durable store instead of memory (in-process server only).
    #[arg(long)]
    pub database: Option<PathBuf>,
    /// Device-channel address of an external server started with `--plain-loopback`; without
    /// it the tool starts a server in its own process.
    #[arg(long, requires_all = ["http_addr", "server_pid"])]
    pub device_addr: Option<SocketAddr>,
    /// Provider API address of the external server.
    #[arg(long)]
    pub http_addr: Option<SocketAddr>,
    /// Process id of the external server, whose RSS is measured.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Provider token of the external server.
    #[arg(long, default_value = "bench-provider-token")]
    pub provider_token: String,
    /// Registration token of the external server.
    #[arg(long, default_value = "bench-registration-token")]
    pub registration_token: String,
}

fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

struct Latencies {
    // A std lock: held only to push a number, never across an await.
    micros: std::sync::Mutex<Vec<u64>>,
    delivered: AtomicU64,
}

/// Runs the benchmark and prints its report.
pub async fn run_bench(args: BenchPushArgs) -> Result<(), BenchError> {
    let provider_token = args.provider_token.clone();
    let (server, device_addr, http_addr, devices) = match (args.device_addr, args.http_addr) {
        (Some(device_addr), Some(http_addr)) => {
            let devices =
                register_remote(http_addr, &args.registration_token, args.devices).await?;
            (None, device_addr, http_addr, devices)
        }
        _ => {
            let (server, devices) = start_local(&args).await?;
            let (device_addr, http_addr) = (server.device_addr, server.http_addr);
            (Some(server), device_addr, http_addr, devices)
        }
    };

    let latencies = Arc::new(Latencies {
        micros: std::sync::Mutex::new(Vec::new()),
        delivered: AtomicU64::new(0),
    });
    let rss_before = rss_kib(args.server_pid).unwrap_or(0);
    let established = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut connectors = Vec::new();
    let first_point = args.rss_first.filter(|&n| n > 0 && n < args.devices);
    let mut rss_first = None;
    for (i, (token, secret)) in devices.iter().enumerate() {
        if Some(i) == first_point {
            wait_established(&established, i, started).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            rss_first = rss_kib(args.server_pid);
        }
        let source = Ipv4Addr::new(
            127,
            0,
            0,
            1 + (i % usize::from(args.source_addresses.max(1))) as u8,
        );
        let token = token.clone();
        let secret = secret.clone();
        let latencies = Arc::clone(&latencies);
        let established = Arc::clone(&established);
        connectors.push(tokio::spawn(async move {
            device_task(source, device_addr, token, secret, latencies, established).await
        }));
        // Pace connection setup so the accept queue never overflows.
        if i % 512 == 511 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    wait_established(&established, args.devices, started).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kib(args.server_pid).unwrap_or(0);
    let per_connection =
        (rss_idle.saturating_sub(rss_before) as f64 * 1024.0) / args.devices as f64;
    println!(
        "connected {} devices in {:.2}s; {} RSS {} KiB -> {} KiB: {:.0} bytes per idle connection",
        args.devices,
        connect_secs,
        if server.is_some() {
            "server and clients in one process:"
        } else {
            "server process:"
        },
        rss_before,
        rss_idle,
        per_connection
    );
    if let (Some(first), Some(rss_first)) = (first_point, rss_first) {
        let slope =
            (rss_idle.saturating_sub(rss_first) as f64 * 1024.0) / (args.devices - first) as f64;
        println!(
            "RSS {rss_first} KiB at {first} devices -> {rss_idle} KiB at {}: {slope:.0} bytes per further idle connection",
            args.devices
        );
    }

    if args.rate > 0 && args.duration > 0 {
        let total = args.rate * args.duration;
        let per_connection_rate = args.rate as f64 / args.http_connections as f64;
        let sent = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let push_start = Instant::now();
        let mut pushers = Vec::new();
        for c in 0..args.http_connections {
            let tokens: Vec<String> = devices
                .iter()
                .skip(c)
                .step_by(args.http_connections)
                .map(|(t, _)| t.clone())
                .collect();
            let sent = Arc::clone(&sent);
            let failed = Arc::clone(&failed);
            let quota = total / args.http_connections as u64;
            let provider_token = provider_token.clone();
            let pipeline = args.pipeline;
            let http2 = args.http2;
            pushers.push(tokio::spawn(async move {
                let pusher = Pusher {
                    http: http_addr,
                    provider_token,
                    pipeline,
                    tokens,
                    quota,
                    rate: per_connection_rate,
                    sent,
                    failed,
                };
                if http2 {
                    pusher.run_http2().await
                } else {
                    pusher.run_http1().await
                }
            }));
        }
        for pusher in pushers {
            let _ = pusher.await;
        }
        let push_secs = push_start.elapsed().as_secs_f64();
        let expected = sent.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(10);
        while latencies.delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let delivered_secs = push_start.elapsed().as_secs_f64();
        let mut micros = latencies
            .micros
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        micros.sort_unstable();
        let pct = |p: f64| {
            micros
                .get(((micros.len() as f64 * p) as usize).min(micros.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0) as f64
                / 1000.0
        };
        println!(
            "pushed {} (201) and {} failed in {:.2}s: {:.0} accepted/s; delivered {} in {:.2}s: {:.0} delivered/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            expected,
            failed.load(Ordering::Relaxed),
            push_secs,
            expected as f64 / push_secs,
            latencies.delivered.load(Ordering::Relaxed),
            delivered_secs,
            latencies.delivered.load(Ordering::Relaxed) as f64 / delivered_secs,
            pct(0.5),
            pct(0.99),
            pct(1.0),
        );
    }
    for connector in connectors {
        connector.abort();
    }
    if let Some(server) = server {
        server.shutdown().await;
    }
    Ok(())
}

async fn wait_established(
    established: &AtomicU64,
    count: usize,
    started: Instant,
) -> Result<(), BenchError> {
    while (established.load(Ordering::Relaxed) as usize) < count {
        if started.elapsed() > Duration::from_secs(120) {
            return Err(BenchError::Push(format!(
                "only {} of {count} devices connected",
                established.load(Ordering::Relaxed),
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

const LOCAL_PROVIDER_TOKEN: &str = "bench-provider-token";

/// Push server settings on loopback ports of the OS's choosing with every limit lifted, so that
/// a load tool measures the server rather than its protection.
pub(crate) fn unlimited_loopback(provider_tokens: Vec<String>) -> Settings {
    Settings {
        device_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        provider_tokens,
        max_connections_per_ip: usize::MAX,
        max_connections: usize::MAX,
        max_devices: u64::MAX,
        rate_per_sec: 1_000_000,
        rate_burst: 1_000_000,
        ..Settings::default()
    }
}

/// Puts device `token` with `secret` straight into a push server's store.
pub(crate) async fn create_device(
    store: &Arc<dyn mailpush_push_server::store::Store>,
    token: &str,
    secret: &str,
) -> Result<(), BenchError> {
    let record = DeviceRecord {
        token: token.to_owned(),
        secret_hash: hash_secret(secret),
        created_at: Timestamp(0),
        unregistered_at: None,
    };
    with_store(store, move |s| s.create_device(&record))
        .await
        .map_err(|e| BenchError::Push(e.to_string()))
}

async fn start_local(
    args: &BenchPushArgs,
) -> Result<(RunningServer, Vec<(String, String)>), BenchError> {
    let settings = Settings {
        database: args.database.clone(),
        plain_loopback: true,
        ..unlimited_loopback(vec![
            LOCAL_PROVIDER_TOKEN.into(),
            args.provider_token.clone(),
        ])
    };
    let store = open_store(&settings)?;
    let server = start(settings, Arc::clone(&store)).await?;
    let mut devices = Vec::with_capacity(args.devices);
    for i in 0..args.devices {
        let token = format!("{:064x}", i + 1);
        let secret = format!("secret-{i}");
        create_device(&store, &token, &secret).await?;
        devices.push((token, secret));
    }
    Ok((server, devices))
}

async fn register_remote(
    http: SocketAddr,
    registration_token: &str,
    count: usize,
) -> Result<Vec<(String, String)>, BenchError> {
    let mut stream = TcpStream::connect(http).await?;
    let mut buffer = Vec::new();
    let mut devices = Vec::with_capacity(count);
    for _ in 0..count {
        let request = format!(
            "POST /v1/devices HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {registration_token}\r\nContent-Length: 0\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let (status, body) = read_response(&mut stream, &mut buffer).await?;
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| BenchError::Push(format!("registration answered {status}: {e}")))?;
        match (value["token"].as_str(), value["secret"].as_str()) {
            (Some(token), Some(secret)) => devices.push((token.to_owned(), secret.to_owned())),
            _ => {
                return Err(BenchError::Push(format!("registration answered {status}")));
            }
        }
    }
    Ok(devices)
}

async fn device_task(
    source: Ipv4Addr,
    server: SocketAddr,
    token: String,
    secret: String,
    latencies: Arc<Latencies>,
    established: Arc<AtomicU64>,
) -> Result<(), BenchError> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let mut stream = socket.connect(server).await?;
    let (Ok(token), Ok(secret)) = (Credential::new(token), Credential::new(secret)) else {
        return Err(BenchError::Push("bad credential".into()));
    };
    let clock = Clock::new();
    let mut client = ClientConnection::new(token, secret, 0, clock.now());
    let mut buffer = [0u8; 512];
    loop {
        if let Some(out) = client.poll_transmit() {
            stream.write_all(&out).await?;
        }
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Ok(());
        }
        let now = clock.now();
        client.handle_input(&buffer[..n], now);
        // Acks are cumulative: one for the highest id of this read covers the rest.
        let mut highest = None;
        while let Some(event) = client.poll_event() {
            match event {
                ClientEvent::Established { .. } => {
                    established.fetch_add(1, Ordering::Relaxed);
                }
                ClientEvent::Notification { id, payload, .. } => {
                    let received = wall_micros();
                    if let Some(sent) = sent_micros(payload.as_bytes())
                        && let Ok(mut micros) = latencies.micros.lock()
                    {
                        micros.push(received.saturating_sub(sent));
                    }
                    latencies.delivered.fetch_add(1, Ordering::Relaxed);
                    highest = Some(id);
                }
                ClientEvent::Closed { .. } => return Ok(()),
                _ => {}
            }
        }
        if let Some(id) = highest {
            client.ack(id, now);
        }
    }
}

/// The send time the pusher wrote into the account id (`"bench-<micros>"`). A scan rather than
/// a JSON parse, so the load tool spends its share of the cores on load.
fn sent_micros(payload: &[u8]) -> Option<u64> {
    const MARK: &[u8] = b"\"bench-";
    let start = payload.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let digits = &payload[start..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// One provider connection of the load tool.
struct Pusher {
    http: SocketAddr,
    provider_token: String,
    pipeline: usize,
    tokens: Vec<String>,
    quota: u64,
    rate: f64,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl Pusher {
    fn body(&self) -> String {
        format!(
            "{{\"aps\":{{\"account-id\":\"bench-{}\",\"m\":[\"0123456789abcdef0123456789abcdef\"]}}}}",
            wall_micros()
        )
    }

    fn count(&self, status: u16) {
        if status == 201 {
            self.sent.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// HTTP/1.1: `pipeline` requests written back to back, then their responses read.
    async fn run_http1(self) -> Result<(), BenchError> {
        if self.tokens.is_empty() {
            return Ok(());
        }
        let mut stream = TcpStream::connect(self.http).await?;
        stream.set_nodelay(true)?;
        let start = Instant::now();
        let mut response = Vec::with_capacity(1024);
        let pipeline = self.pipeline.max(1) as u64;
        let mut batch = String::new();
        let mut n = 0;
        while n < self.quota {
            let due = start + Duration::from_secs_f64(n as f64 / self.rate);
            let now = Instant::now();
            if due > now {
                tokio::time::sleep(due - now).await;
            }
            batch.clear();
            let in_batch = pipeline.min(self.quota - n);
            for i in 0..in_batch {
                let token = &self.tokens[((n + i) as usize) % self.tokens.len()];
                let body = self.body();
                batch.push_str(&format!(
                    "POST /v1/push/{token} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {}\r\nTTL: 60\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    self.provider_token,
                    body.len()
                ));
            }
            stream.write_all(batch.as_bytes()).await?;
            for _ in 0..in_batch {
                let (status, _) = read_response(&mut stream, &mut response).await?;
                self.count(status);
            }
            n += in_batch;
        }
        Ok(())
    }

    /// HTTP/2 with prior knowledge: every push its own stream, sent when it is due, with up to
    /// `pipeline` streams awaiting their response at once.
    async fn run_http2(self) -> Result<(), BenchError> {
        if self.tokens.is_empty() {
            return Ok(());
        }
        let bench = |e: hyper::Error| BenchError::Push(format!("http/2: {e}"));
        let stream = TcpStream::connect(self.http).await?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .map_err(bench)?;
        let driver = tokio::spawn(connection);
        let authorization = format!("Bearer {}", self.provider_token);
        let pipeline = self.pipeline.max(1);
        let mut in_flight = tokio::task::JoinSet::new();
        let start = Instant::now();
        let mut n = 0;
        while n < self.quota {
            if in_flight.len() >= pipeline {
                if let Some(Ok(status)) = in_flight.join_next().await {
                    self.count(status);
                }
                continue;
            }
            let due = start + Duration::from_secs_f64(n as f64 / self.rate);
            let now = Instant::now();
            if due > now {
                tokio::select! {
                    biased;
                    Some(Ok(status)) = in_flight.join_next() => {
                        self.count(status);
                        continue;
                    }
                    _ = tokio::time::sleep(due - now) => {}
                }
            }
            let token = &self.tokens[(n as usize) % self.tokens.len()];
            let request = hyper::Request::post(format!("http://bench/v1/push/{token}"))
                .header(hyper::header::AUTHORIZATION, authorization.as_str())
                .header("ttl", "60")
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(http_body_util::Full::new(bytes::Bytes::from(self.body())))
                .map_err(|e| BenchError::Push(e.to_string()))?;
            sender.ready().await.map_err(bench)?;
            let response = sender.send_request(request);
            in_flight.spawn(async move {
                match response.await {
                    Ok(response) => response.status().as_u16(),
                    Err(_) => 0,
                }
            });
            n += 1;
        }
        while let Some(done) = in_flight.join_next().await {
            if let Ok(status) = done {
                self.count(status);
            }
        }
        drop(sender);
        let _ = driver.await;
        Ok(())
    }
}

/// Reads one HTTP/1.1 response with a Content-Length body from the stream, buffering what
/// follows it (pipelined responses); returns its status and body.
async fn read_response(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> Result<(u16, Vec<u8>), BenchError> {
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(BenchError::Push("server closed".into()));
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let body = buffer[end + 4..end + 4 + length].to_vec();
            buffer.drain(..end + 4 + length);
            return Ok((status, body));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(BenchError::Push("server closed".into()));
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}
