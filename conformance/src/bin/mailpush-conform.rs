//! `mailpush-conform`: plays the conformance transcripts against an IMAP server or a push server
//! and reports the verdicts; `mailpush-conform record` records new ones through a proxy.
//! `conformance/README.md` describes the flags and the reports.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mailpush_conformance::runner::net::{TlsClient, Trust, read_certificates};
use mailpush_conformance::runner::push_service::PushTls;
use mailpush_conformance::runner::{self, Selection, Target, http::PushService, report};
use mailpush_conformance::transcript::Role;
use mailpush_conformance::transcript::config::parse_declaration;

/// The most cases `--jobs` may run at a time: each holds a few connections to the server
/// under test, which a run should not flood.
const MAX_JOBS: usize = 64;

/// Plays mailpush conformance transcripts against an implementation.
#[derive(Parser, Debug)]
#[command(name = "mailpush-conform", version)]
struct Args {
    /// The role under test: `imap-server`, `push-server` or `device`.
    #[arg(long)]
    role: String,
    /// Transcript files or directories (searched for `*.case`).
    #[arg(long = "cases", default_value = "conformance/cases")]
    cases: Vec<PathBuf>,
    /// The IMAP server under test, HOST:PORT (cleartext, or IMAPS with `--tls`).
    #[arg(long)]
    imap: Option<SocketAddr>,
    /// A user of the IMAP server.
    #[arg(long, default_value = "")]
    user: String,
    /// The user's password.
    #[arg(long, default_value = "")]
    password: String,
    /// A second user of the IMAP server, for cases with `harness: second-user` (a registration
    /// is not visible to another user, XAPS-19).
    #[arg(long, requires = "password2")]
    user2: Option<String>,
    /// The second user's password.
    #[arg(long, requires = "user2")]
    password2: Option<String>,
    /// A configured value of the implementation under test, NAME=VALUE (repeatable; a duration
    /// with `ms` or `s`), for cases with a `config:` need, e.g. `--config keepalive=2s`; a case
    /// whose need is not declared, or declared otherwise, is UNSUPPORTED.
    #[arg(long = "config", value_name = "NAME=VALUE")]
    config: Vec<String>,
    /// Where the runner listens as the push service the IMAP server under test pushes to
    /// (configure the server with http://ADDR as its push service).
    #[arg(long)]
    push_listen: Option<SocketAddr>,
    /// Serve the push service over HTTPS with a certificate kept in this directory: the first
    /// run writes a new certificate authority (`push-ca.pem`, which the IMAP server under test
    /// must trust for its push service) and a certificate it signs for the `--push-listen`
    /// address, 127.0.0.1, ::1 and localhost; later runs reuse them.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["push_cert", "push_key"])]
    push_tls: Option<PathBuf>,
    /// Serve the push service over HTTPS with this PEM certificate (chain) ...
    #[arg(long, requires = "push_key")]
    push_cert: Option<PathBuf>,
    /// ... and this PEM private key.
    #[arg(long, requires = "push_cert")]
    push_key: Option<PathBuf>,
    /// A shell command that restarts the implementation under test on the same addresses, for
    /// cases with `harness: restart`; after it returns the runner waits until the server
    /// accepts connections again (within --connect-timeout).
    #[arg(long, value_name = "CMD")]
    restart_cmd: Option<String>,
    /// The push server's provider API, HOST:PORT (plain HTTP, or HTTPS with `--tls`).
    #[arg(long)]
    api: Option<SocketAddr>,
    /// The push server's device channel, HOST:PORT (plain TCP, or TLS with `--tls`).
    #[arg(long)]
    device: Option<SocketAddr>,
    /// A provider token the push server accepts.
    #[arg(long, default_value = "")]
    provider_token: String,
    /// A registration token the push server accepts.
    #[arg(long, default_value = "")]
    registration_token: String,
    /// Speak TLS from the first octet to every address of the implementation, trusting the
    /// public certificate authorities unless `--ca` or `--trust-cert` says otherwise.
    #[arg(long)]
    tls: bool,
    /// Trust the certificate authorities of this PEM file (implies `--tls`).
    #[arg(long, conflicts_with = "trust_cert")]
    ca: Option<PathBuf>,
    /// Trust exactly the first certificate of this PEM file, whatever names it carries, e.g. a
    /// self-signed one (implies `--tls`).
    #[arg(long)]
    trust_cert: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the IP address connected to).
    #[arg(long)]
    tls_name: Option<String>,
    /// The push server's ring capacity N (spec/device-channel.md RING-1), if not the default 100.
    #[arg(long)]
    ring_capacity: Option<usize>,
    /// Only cases whose id matches one of these globs.
    #[arg(long = "case")]
    include: Vec<String>,
    /// No case whose id matches one of these globs.
    #[arg(long = "exclude")]
    exclude: Vec<String>,
    /// Also run SHOULD and MAY cases, and count their failures as FAIL.
    #[arg(long)]
    strict: bool,
    /// A file of case-id globs, one a line (`#` comments), that are known to fail.
    #[arg(long)]
    expectations: Option<PathBuf>,
    /// Seconds connecting and setting a case up may take.
    #[arg(long, default_value_t = 10)]
    connect_timeout: u64,
    /// How many cases may run at the same time (imap-server: with --push-listen).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Start no case after the first that FAILs or TIMEOUTs (those already running finish); the
    /// summary counts the cases not run, the other reports leave them out.
    #[arg(long)]
    fail_fast: bool,
    /// List the selected cases without running them.
    #[arg(long)]
    list: bool,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write the self-contained HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// The device under test (`device` role): a command run by `sh -c` once per case, its
    /// placeholders (`{imap}`, `{channel}`, `{api}`, `{ca}`, `{user}`, `{password}`,
    /// `{account}`, `{registration}`, `{mailboxes}`, `{poll_ms}`, `{dir}`, and each `--config`
    /// value as `{config_<name>}`, ...) replaced.
    #[arg(long)]
    exec: Option<String>,
    /// The poll interval, in milliseconds, the device is asked to use for mailboxes without
    /// push (`{poll_ms}`; `device` role).
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// The device's application (`device` role, cases with `harness: app`): a command run by
    /// `sh -c` for each `app ->` step, with `--exec`'s placeholders and `{action}` (`create`,
    /// `edit`, `delete`, `show`, `list`), `{id}` and `{text}` replaced; without it those cases
    /// are UNSUPPORTED.
    #[arg(long, requires = "exec")]
    app: Option<String>,
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "record") {
        return ExitCode::from(mailpush_conformance::recorder::cli::main(
            std::env::args_os(),
        ));
    }
    let args = Args::parse();
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("mailpush-conform: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<u8, String> {
    let role = Role::from_name(&args.role).ok_or_else(|| {
        format!(
            "--role {}: not a role; use imap-server, push-server or device",
            args.role
        )
    })?;
    if args.jobs == 0 || args.jobs > MAX_JOBS {
        return Err(format!(
            "--jobs {}: between 1 and {MAX_JOBS} cases may run at a time",
            args.jobs
        ));
    }
    if args.jobs > 1 {
        runner::parallel_allowed(role).map_err(|e| e.to_string())?;
        if role == Role::ImapServer && args.push_listen.is_none() {
            return Err(format!(
                "--jobs {} for the imap-server role needs --push-listen: the runner's push service keeps each case's push requests apart",
                args.jobs
            ));
        }
    }
    let mut cases = Vec::new();
    for path in &args.cases {
        cases.extend(runner::load_dir(path).map_err(|e| e.to_string())?);
    }
    let selection = Selection {
        role: Some(role),
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        strict: args.strict,
    };
    cases.retain(|c| selection.selects(c));
    if args.list {
        for c in &cases {
            let ids: Vec<&str> = c
                .header
                .requirements
                .iter()
                .map(|r| r.id.as_str())
                .collect();
            println!(
                "{} [{}] {} ({})",
                c.header.id,
                c.header.level.as_str(),
                c.header.title,
                ids.join(", ")
            );
        }
        return Ok(if cases.is_empty() { 3 } else { 0 });
    }
    if cases.is_empty() {
        eprintln!("mailpush-conform: no case selected");
        return Ok(3);
    }
    match role {
        Role::ImapServer => {
            if args.imap.is_none() {
                return Err("--role imap-server needs --imap HOST:PORT".into());
            }
            if args.user.is_empty() {
                return Err("--role imap-server needs --user and --password".into());
            }
        }
        Role::PushServer => {
            if args.api.is_none() || args.device.is_none() {
                return Err(
                    "--role push-server needs --api HOST:PORT and --device HOST:PORT".into(),
                );
            }
            if args.registration_token.is_empty() || args.provider_token.is_empty() {
                return Err(
                    "--role push-server needs --provider-token and --registration-token".into(),
                );
            }
        }
        Role::Device => {
            if args.exec.is_none() {
                return Err("--role device needs --exec CMD".into());
            }
        }
    }
    let known = match &args.expectations {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("--expectations {}: {e}", path.display()))?
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect(),
        None => Vec::new(),
    };
    let tls = tls_client(&args)?;
    let push_tls = push_tls(&args)?;
    let config = args
        .config
        .iter()
        .map(|c| parse_declaration(c).map_err(|e| format!("--config: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let target = Target {
        imap: args.imap,
        user: args.user,
        password: args.password,
        second_user: args.user2.zip(args.password2),
        config,
        api: args.api,
        device: args.device,
        provider_token: args.provider_token,
        registration_token: args.registration_token,
        ring_capacity: args.ring_capacity,
        connect_timeout: Duration::from_secs(args.connect_timeout),
        strict: args.strict,
        tls,
        exec: match args.exec {
            Some(command) => Some(runner::client::DeviceExec::new(command, args.poll_ms)?),
            None => None,
        },
        app: args.app.clone(),
        restart: args
            .restart_cmd
            .clone()
            .map(runner::restart::Restart::Command),
        fail_fast: args.fail_fast,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async {
        let push = match args.push_listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| format!("--push-listen {addr}: {e}"))?;
                Some(match push_tls {
                    Some(tls) => {
                        if let Some(ca) = &tls.ca {
                            eprintln!(
                                "mailpush-conform: the push service speaks HTTPS; its certificate authority is {}",
                                ca.display()
                            );
                        }
                        PushService::start_tls(listener, tls)?
                    }
                    None => PushService::start(listener)?,
                })
            }
            None => None,
        };
        let progress = |o: &runner::Outcome| eprintln!("{}", report::progress_line(o));
        let outcomes = if args.jobs > 1 {
            let push = push.map(std::sync::Arc::new);
            runner::run_suite_parallel_with_push(&cases, &target, push, &known, args.jobs, progress)
                .await
                .map_err(|e| e.to_string())?
        } else {
            runner::run_suite(&cases, &target, push.as_ref(), &known, progress).await
        };
        print!("{}", report::human(&cases, &outcomes));
        if let Some(path) = &args.json {
            let text = serde_json::to_string_pretty(&report::json(&cases, &outcomes))
                .map_err(|e| e.to_string())?;
            write_report("--json", path, &text)?;
        }
        if let Some(path) = &args.junit {
            write_report("--junit", path, &report::junit(&cases, &outcomes))?;
        }
        if let Some(path) = &args.html {
            write_report("--html", path, &report::html(&cases, &outcomes))?;
        }
        Ok(report::exit_code(&outcomes))
    })
}

/// Writes the report of `flag` to `path`; the error names both.
fn write_report(flag: &str, path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

/// The TLS client of `--tls`, `--ca`, `--trust-cert` and `--tls-name`.
fn tls_client(args: &Args) -> Result<Option<TlsClient>, String> {
    let trust = match (&args.ca, &args.trust_cert) {
        (Some(ca), _) => {
            Trust::Authorities(read_certificates(ca).map_err(|e| format!("--ca: {e}"))?)
        }
        (None, Some(cert)) => {
            let certs = read_certificates(cert).map_err(|e| format!("--trust-cert: {e}"))?;
            Trust::Certificate(
                certs
                    .into_iter()
                    .next()
                    .ok_or("--trust-cert: no certificate")?,
            )
        }
        (None, None) if args.tls => Trust::PublicRoots,
        (None, None) => {
            if args.tls_name.is_some() {
                return Err("--tls-name needs --tls, --ca or --trust-cert".into());
            }
            return Ok(None);
        }
    };
    TlsClient::new(trust, args.tls_name.as_deref(), &[]).map(Some)
}

/// The certificate of `--push-tls` or of `--push-cert` and `--push-key`.
fn push_tls(args: &Args) -> Result<Option<PushTls>, String> {
    if (args.push_tls.is_some() || args.push_cert.is_some()) && args.push_listen.is_none() {
        return Err("--push-tls and --push-cert need --push-listen".into());
    }
    if let Some(dir) = &args.push_tls {
        let mut names = vec![
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ];
        if let Some(listen) = args.push_listen
            && !listen.ip().is_unspecified()
            && !names.contains(&listen.ip().to_string())
        {
            names.push(listen.ip().to_string());
        }
        return PushTls::in_dir(dir, &names)
            .map(Some)
            .map_err(|e| format!("--push-tls: {e}"));
    }
    match (&args.push_cert, &args.push_key) {
        (Some(cert), Some(key)) => PushTls::from_files(cert, key)
            .map(Some)
            .map_err(|e| format!("--push-cert: {e}")),
        _ => Ok(None),
    }
}
