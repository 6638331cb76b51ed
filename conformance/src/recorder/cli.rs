//! `mailpush-conform record`: the recorder's command line (conformance/README.md, "Recording
//! cases").

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;

use crate::transcript::{Level, Role};

use crate::runner::net::{TlsClient, Trust, read_certificates};

use super::proxy::{ProxyLink, Security, run};
use super::tls::{LinkTls, RecorderCertificate};
use super::{CaseOptions, Link, derived_case_id, write_case};

/// The longest recording `--max-seconds` allows: a case is a short exchange.
const MAX_SECONDS: u64 = 24 * 60 * 60;

/// Records the traffic between two components through a transparent proxy and writes it as a
/// conformance case.
#[derive(Parser, Debug)]
#[command(name = "mailpush-conform record", version)]
struct RecordArgs {
    /// The role under test: `imap-server` (the IMAP link's upstream; the push link's requests
    /// become `push <-`) or `push-server` (the push and device links' upstream).
    #[arg(long)]
    role: String,
    /// Proxy the device to mail server link (IMAP, cleartext): LISTEN=UPSTREAM.
    #[arg(long, conflicts_with_all = ["imaps", "imap_starttls"])]
    imap: Option<String>,
    /// Proxy the IMAP link over TLS from the first octet (IMAPS): LISTEN=UPSTREAM.
    #[arg(long, conflicts_with = "imap_starttls")]
    imaps: Option<String>,
    /// Proxy the IMAP link in the clear up to STARTTLS, then over TLS: LISTEN=UPSTREAM.
    #[arg(long)]
    imap_starttls: Option<String>,
    /// Proxy the mail server to push service link (provider API, HTTP/1.1): LISTEN=UPSTREAM.
    #[arg(long, conflicts_with = "push_tls")]
    push: Option<String>,
    /// Proxy the provider API over TLS (HTTPS; HTTP/1.1 or HTTP/2 as ALPN chooses):
    /// LISTEN=UPSTREAM.
    #[arg(long)]
    push_tls: Option<String>,
    /// Proxy the device to push server link (device channel, plain TCP): LISTEN=UPSTREAM.
    #[arg(long, conflicts_with = "device_tls")]
    device: Option<String>,
    /// Proxy the device channel over TLS: LISTEN=UPSTREAM.
    #[arg(long)]
    device_tls: Option<String>,
    /// The recorder's certificate chain toward the components that connect (PEM; with --key).
    #[arg(long, requires = "key", conflicts_with = "tls_dir")]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Generate a certificate authority and the recorder's certificate into DIR (kept for
    /// later runs); the components that connect must trust DIR/recorder-ca.pem.
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    /// A name the generated certificate carries (repeatable; default 127.0.0.1 and localhost).
    #[arg(long = "tls-name")]
    tls_names: Vec<String>,
    /// Trust the certificate authorities of this PEM file for the upstreams.
    #[arg(long, conflicts_with_all = ["upstream_trust_cert", "upstream_public_roots"])]
    upstream_ca: Option<PathBuf>,
    /// Trust exactly the first certificate of this PEM file for the upstreams.
    #[arg(long, conflicts_with = "upstream_public_roots")]
    upstream_trust_cert: Option<PathBuf>,
    /// Trust the public certificate authorities for the upstreams.
    #[arg(long)]
    upstream_public_roots: bool,
    /// The name the upstreams' certificates must carry (default: the address connected to).
    #[arg(long)]
    upstream_name: Option<String>,
    /// Where the case is written (`-`: standard output).
    #[arg(long)]
    out: PathBuf,
    /// The case id (default: `recorded.<role>.<unix time>`).
    #[arg(long = "case")]
    case_id: Option<String>,
    /// The case's title (default: a count of what was recorded).
    #[arg(long)]
    title: Option<String>,
    /// The case's level: MUST, SHOULD or MAY.
    #[arg(long, default_value = "MUST")]
    level: String,
    /// The case's `timeout:` in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Stop recording after this many seconds (otherwise at Ctrl-C).
    #[arg(long)]
    max_seconds: Option<u64>,
    /// Seconds connecting upstream may take.
    #[arg(long, default_value_t = 10)]
    connect_timeout: u64,
}

/// Runs `mailpush-conform record ARGS...` (`args` starts with the program name and `record`);
/// the process's exit code: 0 written, 2 a configuration error or a case that could not be
/// written (the recording is then kept beside it as raw events).
pub fn main(args: impl IntoIterator<Item = OsString>) -> u8 {
    let args: Vec<OsString> = args.into_iter().collect();
    // `mailpush-conform record --flags`: clap sees `record` as the program name.
    let parsed = match RecordArgs::try_parse_from(args.iter().skip(1)) {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match record(parsed) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("mailpush-conform record: {message}");
            2
        }
    }
}

/// `LISTEN=UPSTREAM`, both HOST:PORT.
fn link_spec(flag: &str, value: &str) -> Result<(SocketAddr, SocketAddr), String> {
    let (listen, upstream) = value
        .split_once('=')
        .ok_or_else(|| format!("--{flag} {value}: expected LISTEN=UPSTREAM, both HOST:PORT"))?;
    let listen = listen
        .parse()
        .map_err(|e| format!("--{flag} {value}: the listen address {listen}: {e}"))?;
    let upstream = upstream
        .parse()
        .map_err(|e| format!("--{flag} {value}: the upstream address {upstream}: {e}"))?;
    Ok((listen, upstream))
}

/// How a link is secured, as its flag says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Cleartext,
    Tls,
    StartTls,
}

/// The recorder's certificate and its trust in the upstreams, for the links over TLS. Never
/// insecure: an upstream is trusted only as a flag says.
fn tls_setup(args: &RecordArgs) -> Result<(RecorderCertificate, TlsClient), String> {
    let certificate = match (&args.cert, &args.key, &args.tls_dir) {
        (Some(cert), Some(key), _) => {
            RecorderCertificate::from_files(cert, key).map_err(|e| format!("--cert/--key: {e}"))?
        }
        (_, _, Some(dir)) => {
            let names = if args.tls_names.is_empty() {
                vec!["127.0.0.1".to_owned(), "localhost".to_owned()]
            } else {
                args.tls_names.clone()
            };
            let certificate =
                RecorderCertificate::in_dir(dir, &names).map_err(|e| format!("--tls-dir: {e}"))?;
            if let Some(ca) = certificate.authority() {
                eprintln!("the components that connect must trust {}", ca.display());
            }
            certificate
        }
        _ => {
            return Err(
                "a link over TLS needs the recorder's certificate: --cert FILE --key FILE, or --tls-dir DIR to generate one"
                    .into(),
            );
        }
    };
    let trust = match (
        &args.upstream_ca,
        &args.upstream_trust_cert,
        args.upstream_public_roots,
    ) {
        (Some(ca), _, _) => {
            Trust::Authorities(read_certificates(ca).map_err(|e| format!("--upstream-ca: {e}"))?)
        }
        (_, Some(cert), _) => {
            let first = read_certificates(cert)
                .map_err(|e| format!("--upstream-trust-cert: {e}"))?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    format!("--upstream-trust-cert {}: no certificate", cert.display())
                })?;
            Trust::Certificate(first)
        }
        (_, _, true) => Trust::PublicRoots,
        _ => {
            return Err(
                "a link over TLS needs the upstreams' trust: --upstream-ca FILE, --upstream-trust-cert FILE or --upstream-public-roots"
                    .into(),
            );
        }
    };
    let client = TlsClient::new(trust, args.upstream_name.as_deref(), &[])
        .map_err(|e| format!("the upstream TLS: {e}"))?;
    Ok((certificate, client))
}

fn record(args: RecordArgs) -> Result<(), String> {
    let role = match Role::from_name(&args.role) {
        Some(role @ (Role::ImapServer | Role::PushServer)) => role,
        _ => {
            return Err(format!(
                "--role {}: the recorder writes imap-server or push-server cases",
                args.role
            ));
        }
    };
    let level = match args.level.as_str() {
        "MUST" => Level::Must,
        "SHOULD" => Level::Should,
        "MAY" => Level::May,
        other => return Err(format!("--level {other}: MUST, SHOULD or MAY")),
    };
    if args.timeout == 0 || args.timeout > MAX_SECONDS {
        return Err(format!(
            "--timeout {}: 1 to {MAX_SECONDS} seconds",
            args.timeout
        ));
    }
    if let Some(s) = args.max_seconds.filter(|s| *s == 0 || *s > MAX_SECONDS) {
        return Err(format!("--max-seconds {s}: 1 to {MAX_SECONDS}"));
    }
    let mut specs = Vec::new();
    for (flag, value, link, kind) in [
        ("imap", &args.imap, Link::Imap, Kind::Cleartext),
        ("imaps", &args.imaps, Link::Imap, Kind::Tls),
        (
            "imap-starttls",
            &args.imap_starttls,
            Link::Imap,
            Kind::StartTls,
        ),
        ("push", &args.push, Link::Push, Kind::Cleartext),
        ("push-tls", &args.push_tls, Link::Push, Kind::Tls),
        ("device", &args.device, Link::Device, Kind::Cleartext),
        ("device-tls", &args.device_tls, Link::Device, Kind::Tls),
    ] {
        if let Some(value) = value {
            let (listen, upstream) = link_spec(flag, value)?;
            specs.push((flag, link, kind, listen, upstream));
        }
    }
    if specs.is_empty() {
        return Err(
            "nothing to record: give --imap, --imaps, --imap-starttls, --push, --push-tls, --device or --device-tls LISTEN=UPSTREAM"
                .into(),
        );
    }
    let tls = if specs.iter().any(|s| s.2 != Kind::Cleartext) {
        Some(tls_setup(&args)?)
    } else {
        None
    };
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let options = CaseOptions {
        id: args
            .case_id
            .clone()
            .unwrap_or_else(|| derived_case_id(role, unix)),
        role,
        level,
        timeout: Duration::from_secs(args.timeout),
        title: args.title.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let recording = runtime.block_on(async {
        let mut links = Vec::new();
        for (flag, link, kind, listen, upstream) in specs {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("--{flag}: listening on {listen}: {e}"))?;
            let bound = listener.local_addr().map_err(|e| e.to_string())?;
            let security = match (&tls, kind) {
                (Some((certificate, client)), Kind::Tls) => {
                    Security::Tls(LinkTls::new(link, certificate, client))
                }
                (Some((certificate, client)), Kind::StartTls) => {
                    Security::StartTls(LinkTls::new(link, certificate, client))
                }
                _ => Security::Cleartext,
            };
            eprintln!("recording the {flag} link: {bound} -> {upstream}");
            links.push(ProxyLink {
                link,
                listener,
                upstream,
                connect_timeout: Duration::from_secs(args.connect_timeout),
                security,
            });
        }
        let max = args.max_seconds.map(Duration::from_secs);
        let stop = async move {
            let limit = async {
                match max {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = limit => {}
            }
        };
        Ok::<_, String>(run(links, stop).await)
    })?;
    let text = match write_case(&recording, &options) {
        Ok(text) => text,
        Err(e) => {
            let raw = args.out.with_extension("raw.txt");
            let dump: String = recording
                .events()
                .iter()
                .map(|e| format!("{e:?}\n"))
                .collect();
            std::fs::write(&raw, dump).map_err(|w| {
                format!("{e}; and writing the raw events to {}: {w}", raw.display())
            })?;
            return Err(format!("{e}; the raw events are in {}", raw.display()));
        }
    };
    if args.out.as_os_str() == "-" {
        print!("{text}");
    } else {
        std::fs::write(&args.out, &text)
            .map_err(|e| format!("--out {}: {e}", args.out.display()))?;
        eprintln!("wrote {} ({})", args.out.display(), options.id);
    }
    Ok(())
}
