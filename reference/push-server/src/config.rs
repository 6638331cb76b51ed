//! Configuration: a TOML file and command-line flags (flags win).

use std::net::SocketAddr;
use std::path::PathBuf;

use mailpush_push_proto::{Keepalive, Window};
use serde::Deserialize;

use crate::PushServerError;

/// `mailpush push-server` flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PushServerArgs {
    /// TOML configuration file (see the crate README for its keys).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address of the device channel.
    #[arg(long)]
    pub device_listen: Option<SocketAddr>,
    /// Address of the provider API.
    #[arg(long)]
    pub http_listen: Option<SocketAddr>,
    /// SQLite database file; `:memory:` keeps everything in memory (tests only).
    #[arg(long)]
    pub database: Option<PathBuf>,
    /// Ring capacity N per device.
    #[arg(long)]
    pub ring_capacity: Option<usize>,
    /// A provider bearer token (repeatable).
    #[arg(long = "provider-token")]
    pub provider_tokens: Vec<String>,
    /// A device registration bearer token (repeatable).
    #[arg(long = "registration-token")]
    pub registration_tokens: Vec<String>,
    /// PEM certificate chain; a self-signed certificate is generated when absent.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `--tls-cert`.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// Serve plain TCP and HTTP instead of TLS; refused unless both addresses are loopback.
    #[arg(long)]
    pub plain_loopback: bool,
    /// Append a protocol trace (JSON lines, spec/trace.md) to this file; off by default.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// The TOML file. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// Device channel address.
    pub device_listen: Option<SocketAddr>,
    /// Provider API address.
    pub http_listen: Option<SocketAddr>,
    /// SQLite database path.
    pub database: Option<PathBuf>,
    /// Ring capacity N.
    pub ring_capacity: Option<usize>,
    /// In-flight window.
    pub window: Option<u16>,
    /// Keepalive interval, seconds.
    pub keepalive_secs: Option<u16>,
    /// Hello timeout, seconds.
    pub hello_timeout_secs: Option<u64>,
    /// Maximum TTL, seconds.
    pub max_ttl_secs: Option<u32>,
    /// Provider bearer tokens.
    pub provider_tokens: Option<Vec<String>>,
    /// Registration bearer tokens.
    pub registration_tokens: Option<Vec<String>>,
    /// PEM certificate chain.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Plain TCP on loopback.
    pub plain_loopback: Option<bool>,
    /// Concurrent device connections per source IP.
    pub max_connections_per_ip: Option<usize>,
    /// Concurrent device connections in total.
    pub max_connections: Option<usize>,
    /// Registered devices at most.
    pub max_devices: Option<u64>,
    /// Pushes per second per device.
    pub rate_per_sec: Option<u32>,
    /// Push burst per device.
    pub rate_burst: Option<u32>,
}

/// Effective settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Device channel address.
    pub device_listen: SocketAddr,
    /// Provider API address.
    pub http_listen: SocketAddr,
    /// SQLite path; `None` for the in-memory store.
    pub database: Option<PathBuf>,
    /// Ring capacity N.
    pub ring_capacity: usize,
    /// In-flight window.
    pub window: Window,
    /// Keepalive interval.
    pub keepalive: Keepalive,
    /// Hello timeout, milliseconds.
    pub hello_timeout_ms: u64,
    /// Maximum TTL, seconds.
    pub max_ttl_secs: u32,
    /// Provider bearer tokens.
    pub provider_tokens: Vec<String>,
    /// Registration bearer tokens.
    pub registration_tokens: Vec<String>,
    /// PEM certificate chain and key.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Plain TCP on loopback.
    pub plain_loopback: bool,
    /// Concurrent device connections per source IP.
    pub max_connections_per_ip: usize,
    /// Concurrent device connections in total.
    pub max_connections: usize,
    /// Registered devices at most.
    pub max_devices: u64,
    /// Pushes per second per device.
    pub rate_per_sec: u32,
    /// Push burst per device.
    pub rate_burst: u32,
    /// Where the protocol trace goes (spec/trace.md); off by default.
    pub trace: mailpush_trace::Tracer,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            device_listen: SocketAddr::from(([127, 0, 0, 1], 5223)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            database: Some(PathBuf::from("mailpush-push.sqlite3")),
            //= spec/device-channel.md#RING-1
            //# N is configurable (1 to 100000) and MUST default to 100.
            ring_capacity: 100,
            window: Window::DEFAULT,
            keepalive: Keepalive::DEFAULT,
            hello_timeout_ms: 10_000,
            //= spec/provider-api.md#PROV-4
            //# The server MAY lower a TTL above its configured maximum (30 days by
            //# default) to that maximum
            max_ttl_secs: 30 * 24 * 3600,
            provider_tokens: Vec::new(),
            registration_tokens: Vec::new(),
            tls: None,
            plain_loopback: false,
            max_connections_per_ip: 256,
            max_connections: 200_000,
            //= spec/provider-api.md#PROV-17
            //# The server MUST cap the number of registered devices (configurable; one
            //# million by default)
            max_devices: 1_000_000,
            //= spec/provider-api.md#PROV-12
            //# The server MUST limit the push rate per device with a token bucket (by default 100
            //# requests per second with a burst of 200, configurable).
            rate_per_sec: 100,
            rate_burst: 200,
            trace: mailpush_trace::Tracer::off(),
        }
    }
}

impl Settings {
    /// Settings from the file (if any) overlaid with the flags.
    pub fn from_args(args: &PushServerArgs) -> Result<Self, PushServerError> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| {
                    PushServerError::Config(format!("{}: {source}", path.display()))
                })?;
                toml::from_str::<ConfigFile>(&text)
                    .map_err(|e| PushServerError::Config(format!("{}: {e}", path.display())))?
            }
            None => ConfigFile::default(),
        };
        let mut settings = Self::default();
        settings.apply_file(file)?;
        if let Some(v) = args.device_listen {
            settings.device_listen = v;
        }
        if let Some(v) = args.http_listen {
            settings.http_listen = v;
        }
        if let Some(v) = &args.database {
            settings.database = (v.as_os_str() != ":memory:").then(|| v.clone());
        }
        if let Some(v) = args.ring_capacity {
            settings.ring_capacity = v;
        }
        settings
            .provider_tokens
            .extend(args.provider_tokens.iter().cloned());
        settings
            .registration_tokens
            .extend(args.registration_tokens.iter().cloned());
        if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
            settings.tls = Some((cert.clone(), key.clone()));
        }
        settings.plain_loopback |= args.plain_loopback;
        if let Some(path) = &args.trace {
            settings.trace = mailpush_trace::Tracer::append_to_file(
                mailpush_trace::Component::PushServer,
                None,
                path,
            )
            .map_err(|e| PushServerError::Config(format!("trace {}: {e}", path.display())))?;
        }
        settings.validate()?;
        Ok(settings)
    }

    fn apply_file(&mut self, file: ConfigFile) -> Result<(), PushServerError> {
        let bad = |what: &str| PushServerError::Config(what.to_owned());
        if let Some(v) = file.device_listen {
            self.device_listen = v;
        }
        if let Some(v) = file.http_listen {
            self.http_listen = v;
        }
        if let Some(v) = file.database {
            self.database = (v.as_os_str() != ":memory:").then_some(v);
        }
        if let Some(v) = file.ring_capacity {
            self.ring_capacity = v;
        }
        if let Some(v) = file.window {
            self.window = Window::new(v).map_err(|_| bad("window must be 1 to 1024"))?;
        }
        if let Some(v) = file.keepalive_secs {
            self.keepalive =
                Keepalive::from_secs(v).map_err(|_| bad("keepalive-secs must be 1 to 3600"))?;
        }
        if let Some(v) = file.hello_timeout_secs {
            self.hello_timeout_ms = v.saturating_mul(1000);
        }
        if let Some(v) = file.max_ttl_secs {
            self.max_ttl_secs = v;
        }
        if let Some(v) = file.provider_tokens {
            self.provider_tokens = v;
        }
        if let Some(v) = file.registration_tokens {
            self.registration_tokens = v;
        }
        if let (Some(cert), Some(key)) = (file.tls_cert, file.tls_key) {
            self.tls = Some((cert, key));
        }
        if let Some(v) = file.plain_loopback {
            self.plain_loopback = v;
        }
        if let Some(v) = file.max_connections_per_ip {
            self.max_connections_per_ip = v;
        }
        if let Some(v) = file.max_connections {
            self.max_connections = v;
        }
        if let Some(v) = file.max_devices {
            self.max_devices = v;
        }
        if let Some(v) = file.rate_per_sec {
            self.rate_per_sec = v;
        }
        if let Some(v) = file.rate_burst {
            self.rate_burst = v;
        }
        Ok(())
    }

    /// Checks ranges and the plain-TCP rule.
    pub fn validate(&self) -> Result<(), PushServerError> {
        if !(1..=100_000).contains(&self.ring_capacity) {
            return Err(PushServerError::Config(
                "ring-capacity must be 1 to 100000".into(),
            ));
        }
        if self.provider_tokens.iter().any(String::is_empty)
            || self.registration_tokens.iter().any(String::is_empty)
        {
            return Err(PushServerError::Config("empty bearer token".into()));
        }
        //= spec/device-channel.md#CHAN-1
        //# A server MUST NOT accept the device channel over plain TCP unless plain TCP was
        //# explicitly enabled by its operator, and then only on a loopback address.
        //= spec/provider-api.md#PROV-1
        //# A server MUST NOT serve it over plain HTTP unless plain HTTP was explicitly enabled by its
        //# operator, and then only on a loopback address.
        if self.plain_loopback
            && !(self.device_listen.ip().is_loopback() && self.http_listen.ip().is_loopback())
        {
            return Err(PushServerError::Config(
                "plain-loopback needs loopback listen addresses".into(),
            ));
        }
        Ok(())
    }
}
