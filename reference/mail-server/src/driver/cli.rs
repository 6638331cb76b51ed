//! `mailpush mail-server` and `mailpush user`: arguments, the TOML configuration file and the
//! commands themselves.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailpush_mail_store::Store;

use super::{MailServerError, PushSettings, Settings};

/// Arguments of `mailpush mail-server`. Flags override the configuration file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MailServerArgs {
    /// TOML configuration file (same keys as the long flags, with underscores).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Plain IMAP listener (STARTTLS offered) [default: 127.0.0.1:1143].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// IMAPS listener (TLS from the first octet).
    #[arg(long)]
    pub imaps_listen: Option<SocketAddr>,
    /// SQLite database file; created if missing [default: in memory, lost at exit].
    #[arg(long)]
    pub database: Option<PathBuf>,
    /// PEM certificate chain; without it a self-signed certificate is generated.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Base URL of the push server (http:// on loopback, or https://).
    #[arg(long)]
    pub push_url: Option<String>,
    /// Provider token sent to the push server as `Authorization: Bearer`.
    #[arg(long)]
    pub provider_token: Option<String>,
    /// PEM certificate(s) trusted for an https:// push service, besides the public CAs.
    #[arg(long)]
    pub push_ca: Option<PathBuf>,
    /// Push resource URL with `{token}` (the device token in lowercase) exactly once
    /// [default: <push-url>/v1/push/{token}].
    #[arg(long)]
    pub push_resource_template: Option<String>,
    /// Changes of a burst pushed at once before the rest are coalesced, 1..=16 (PROV-19)
    /// [default: 3]; 1 pushes at once only a change after a quiet period.
    #[arg(long, value_name = "N")]
    pub push_burst: Option<u32>,
    /// Allow LOGIN and AUTHENTICATE without TLS on loopback connections.
    #[arg(long)]
    pub allow_plaintext_loopback: bool,
    /// Most connections at once.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Most connections at once from one IP address.
    #[arg(long)]
    pub max_connections_per_ip: Option<usize>,
    /// Do not offer CONDSTORE (nor QRESYNC, which needs it): a plain RFC 3501 server for
    /// clients that are tested against one.
    #[arg(long)]
    pub no_condstore: bool,
    /// Do not offer QRESYNC.
    #[arg(long)]
    pub no_qresync: bool,
    /// Do not offer UIDPLUS (no `UID EXPUNGE`, `APPENDUID` or `COPYUID`).
    #[arg(long)]
    pub no_uidplus: bool,
    /// Append a protocol trace (JSON lines, spec/trace.md) to this file; off by default.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// The configuration file of `mailpush mail-server`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Plain IMAP listener.
    pub listen: Option<SocketAddr>,
    /// IMAPS listener.
    pub imaps_listen: Option<SocketAddr>,
    /// SQLite database file.
    pub database: Option<PathBuf>,
    /// PEM certificate chain.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Push server base URL.
    pub push_url: Option<String>,
    /// Provider token.
    pub provider_token: Option<String>,
    /// Trusted certificates for an https:// push service, besides the public CAs.
    pub push_ca: Option<PathBuf>,
    /// Push resource template with `{token}`.
    pub push_resource_template: Option<String>,
    /// Most change batches queued for the push notifier.
    pub push_queue_capacity: Option<usize>,
    /// Send one `Topic` per account (PROV-21, default true); false lets an offline device's
    /// ring hold every notification.
    pub push_topic_per_account: Option<bool>,
    /// Changes of a burst pushed at once (PROV-19, 1..=16, default 3).
    pub push_burst: Option<u32>,
    /// Plaintext authentication on loopback.
    pub allow_plaintext_loopback: Option<bool>,
    /// Most connections at once.
    pub max_connections: Option<usize>,
    /// Most connections per IP address.
    pub max_connections_per_ip: Option<usize>,
    /// Longest command line, octets.
    pub max_line: Option<usize>,
    /// Largest literal, octets.
    pub max_literal: Option<u32>,
    /// Failed authentications before BYE.
    pub max_auth_failures: Option<u32>,
    /// Offer CONDSTORE (default true); false also turns QRESYNC off.
    pub condstore: Option<bool>,
    /// Offer QRESYNC (default true).
    pub qresync: Option<bool>,
    /// Offer UIDPLUS (default true).
    pub uidplus: Option<bool>,
}

impl MailServerArgs {
    /// The settings and database path these arguments (and their configuration file) give.
    pub fn settings(&self) -> Result<(Settings, Option<PathBuf>), MailServerError> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    MailServerError::Config(format!("cannot read {}: {e}", path.display()))
                })?;
                toml::from_str::<ConfigFile>(&text)
                    .map_err(|e| MailServerError::Config(format!("{}: {e}", path.display())))?
            }
            None => ConfigFile::default(),
        };
        let mut settings = Settings::default();
        if let Some(listen) = self.listen.or(file.listen) {
            settings.imap_listen = Some(listen);
        }
        settings.imaps_listen = self.imaps_listen.or(file.imaps_listen);
        let cert = self.tls_cert.clone().or(file.tls_cert);
        let key = self.tls_key.clone().or(file.tls_key);
        settings.tls = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(MailServerError::Config(
                    "tls_cert and tls_key go together: give both or neither".into(),
                ));
            }
        };
        settings.allow_plaintext_loopback =
            self.allow_plaintext_loopback || file.allow_plaintext_loopback.unwrap_or(false);
        if let Some(n) = self.max_connections.or(file.max_connections) {
            settings.max_connections = n;
        }
        if let Some(n) = self.max_connections_per_ip.or(file.max_connections_per_ip) {
            settings.max_connections_per_ip = n;
        }
        if let Some(n) = file.max_line {
            settings.session.max_line = n;
        }
        if let Some(n) = file.max_literal {
            settings.session.max_literal = n;
        }
        if let Some(n) = file.max_auth_failures {
            settings.session.max_auth_failures = n;
        }
        settings.session.condstore = !self.no_condstore && file.condstore.unwrap_or(true);
        settings.session.qresync = !self.no_qresync && file.qresync.unwrap_or(true);
        settings.session.uidplus = !self.no_uidplus && file.uidplus.unwrap_or(true);
        let provider_token = self.provider_token.clone().or(file.provider_token);
        let template = self
            .push_resource_template
            .clone()
            .or(file.push_resource_template);
        settings.push = match (self.push_url.clone().or(file.push_url), template) {
            (url, template) if url.is_some() || template.is_some() => {
                let mut push = PushSettings::new(&url.unwrap_or_default(), provider_token);
                push.resource_template = template;
                push.trust = self.push_ca.clone().or(file.push_ca);
                if let Some(n) = file.push_queue_capacity {
                    push.queue_capacity = n;
                }
                if let Some(topic) = file.push_topic_per_account {
                    push.notifier.topic_per_account = topic;
                }
                if let Some(burst) = self.push_burst.or(file.push_burst) {
                    push.notifier.burst = burst;
                }
                push.notifier
                    .validate()
                    .map_err(|e| MailServerError::Config(format!("push: {e}")))?;
                // A wrong template stops the server at start, not at its first push.
                push.service()?;
                Some(push)
            }
            _ if provider_token.is_some() => {
                return Err(MailServerError::Config(
                    "a provider token without a push URL: give push_url too".into(),
                ));
            }
            _ => None,
        };
        if let Some(path) = &self.trace {
            settings.trace = mailpush_trace::Tracer::append_to_file(
                mailpush_trace::Component::MailServer,
                None,
                path,
            )
            .map_err(|e| MailServerError::Config(format!("trace {}: {e}", path.display())))?;
        }
        if settings.max_connections == 0 || settings.max_connections_per_ip == 0 {
            return Err(MailServerError::Config(
                "max_connections and max_connections_per_ip must be at least 1".into(),
            ));
        }
        Ok((settings, self.database.clone().or(file.database)))
    }
}

fn open_store(database: Option<&Path>) -> Result<Store, MailServerError> {
    let config = mailpush_mail_store::Config::default();
    Ok(match database {
        Some(path) => Store::open(path, config).map_err(|e| {
            MailServerError::Config(format!("cannot open the database {}: {e}", path.display()))
        })?,
        None => Store::open_in_memory(config)?,
    })
}

/// `mailpush mail-server`: runs until Ctrl-C.
pub async fn run_cli(args: MailServerArgs) -> Result<(), MailServerError> {
    let (settings, database) = args.settings()?;
    if database.is_none() {
        tracing::warn!("no --database: the mail store is in memory and lost at exit");
    }
    let store = open_store(database.as_deref())?;
    let server = super::start(settings, Arc::new(store)).await?;
    let show = |a: Option<SocketAddr>| a.map_or_else(|| "off".to_owned(), |a| a.to_string());
    println!(
        "mail server: IMAP (STARTTLS) on {}, IMAPS on {}",
        show(server.imap_addr),
        show(server.imaps_addr)
    );
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}

/// Arguments of `mailpush user`.
#[derive(Debug, Clone, clap::Args)]
pub struct UserArgs {
    /// The mail server's SQLite database file.
    #[arg(long)]
    pub database: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: UserCommand,
}

/// `mailpush user` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is the first line of standard input or of --password-file.
    Add {
        /// User name.
        name: String,
        /// File whose first line is the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Set a user's password (read like `add`).
    Passwd {
        /// User name.
        name: String,
        /// File whose first line is the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Delete a user with all their mailboxes and push registrations.
    Del {
        /// User name.
        name: String,
    },
}

fn read_password(file: Option<&Path>) -> Result<Vec<u8>, MailServerError> {
    let mut line = String::new();
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                MailServerError::Config(format!("cannot read {}: {e}", path.display()))
            })?;
            line = text.lines().next().unwrap_or_default().to_owned();
        }
        None => {
            std::io::stdin().lock().read_line(&mut line)?;
        }
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(MailServerError::Config(
            "empty password: give it on standard input or in --password-file".into(),
        ));
    }
    Ok(password.as_bytes().to_vec())
}

/// `mailpush user add|passwd|del`.
pub fn run_user(args: UserArgs) -> Result<(), MailServerError> {
    let store = open_store(Some(&args.database))?;
    match args.command {
        UserCommand::Add {
            name,
            password_file,
        } => {
            let password = read_password(password_file.as_deref())?;
            store
                .add_user(&name, &password)
                .map_err(|source| MailServerError::User {
                    action: "add",
                    name: name.clone(),
                    source,
                })?;
            println!("user {name:?} added");
        }
        UserCommand::Passwd {
            name,
            password_file,
        } => {
            let password = read_password(password_file.as_deref())?;
            store
                .set_password(&name, &password)
                .map_err(|source| MailServerError::User {
                    action: "change the password of",
                    name: name.clone(),
                    source,
                })?;
            println!("password of {name:?} changed");
        }
        UserCommand::Del { name } => {
            store
                .delete_user(&name)
                .map_err(|source| MailServerError::User {
                    action: "delete",
                    name: name.clone(),
                    source,
                })?;
            println!("user {name:?} deleted");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn flags_override_the_configuration_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:2143\"\nimaps_listen = \"127.0.0.1:2993\"\ndatabase = \"mail.db\"\n\
             push_url = \"http://127.0.0.1:8080\"\nprovider_token = \"from-file\"\n\
             max_connections = 7\nmax_line = 4096\n",
        )
        .unwrap();
        let args = MailServerArgs {
            config: Some(path),
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 3143))),
            provider_token: Some("from-flag".into()),
            allow_plaintext_loopback: true,
            ..MailServerArgs::default()
        };
        let (settings, database) = args.settings().unwrap();
        assert_eq!(
            settings.imap_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 3143)))
        );
        assert_eq!(
            settings.imaps_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 2993)))
        );
        assert_eq!(database, Some(PathBuf::from("mail.db")));
        assert_eq!(settings.max_connections, 7);
        assert_eq!(settings.session.max_line, 4096);
        assert!(settings.allow_plaintext_loopback);
        let push = settings.push.unwrap();
        assert_eq!(push.url, "http://127.0.0.1:8080");
        assert_eq!(push.provider_token.as_deref(), Some("from-flag"));
    }

    #[test]
    fn condstore_and_qresync_can_be_switched_off() {
        let on = MailServerArgs::default().settings().unwrap().0.session;
        assert!(on.offers_condstore() && on.offers_qresync());
        let no_qresync = MailServerArgs {
            no_qresync: true,
            ..MailServerArgs::default()
        }
        .settings()
        .unwrap()
        .0
        .session;
        assert!(no_qresync.offers_condstore() && !no_qresync.offers_qresync());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.toml");
        std::fs::write(&path, "condstore = false\n").unwrap();
        let plain = MailServerArgs {
            config: Some(path),
            ..MailServerArgs::default()
        }
        .settings()
        .unwrap()
        .0
        .session;
        assert!(!plain.offers_condstore() && !plain.offers_qresync());
        let flag = MailServerArgs {
            no_condstore: true,
            ..MailServerArgs::default()
        }
        .settings()
        .unwrap()
        .0
        .session;
        assert!(!flag.offers_condstore() && !flag.offers_qresync());
    }

    #[test]
    fn uidplus_can_be_switched_off_alone() {
        let on = MailServerArgs::default().settings().unwrap().0.session;
        assert!(on.uidplus);
        let flag = MailServerArgs {
            no_uidplus: true,
            ..MailServerArgs::default()
        }
        .settings()
        .unwrap()
        .0
        .session;
        assert!(!flag.uidplus && flag.offers_condstore() && flag.offers_qresync());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.toml");
        std::fs::write(&path, "uidplus = false\nqresync = false\n").unwrap();
        let file = MailServerArgs {
            config: Some(path),
            ..MailServerArgs::default()
        }
        .settings()
        .unwrap()
        .0
        .session;
        assert!(!file.uidplus && file.offers_condstore() && !file.offers_qresync());
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.toml");
        std::fs::write(&path, "listen_on = \"127.0.0.1:1\"\n").unwrap();
        let error = MailServerArgs {
            config: Some(path),
            ..MailServerArgs::default()
        }
        .settings()
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("mail.toml") && error.contains("listen_on"),
            "{error}"
        );

        let error = MailServerArgs {
            provider_token: Some("t".into()),
            ..MailServerArgs::default()
        }
        .settings()
        .unwrap_err()
        .to_string();
        assert!(error.contains("push_url"), "{error}");

        let error = MailServerArgs {
            push_url: Some("ftp://x".into()),
            ..MailServerArgs::default()
        }
        .settings()
        .unwrap_err()
        .to_string();
        assert!(error.contains("ftp://x"), "{error}");
    }

    //= spec/provider-api.md#PROV-27
    //= type=test
    //# The default template is
    //# `<push service base URL>/v1/push/{token}`, which names the resource of [PROV-4](#PROV-4) on a
    //# mailpush push server; another RFC 8030 push service is used by configuring its template.
    #[test]
    fn push_resource_template_from_flag_or_file() {
        let token = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";
        let lower = token.to_ascii_lowercase();
        let token = &mailpush_provider_api::DeviceToken::parse_any_case(token).unwrap();
        let push = MailServerArgs {
            push_url: Some("http://127.0.0.1:8080/".into()),
            ..MailServerArgs::default()
        }
        .settings()
        .unwrap()
        .0
        .push
        .unwrap();
        assert_eq!(
            push.service().unwrap().resource(token).to_string(),
            format!("http://127.0.0.1:8080/v1/push/{lower}")
        );
        assert_eq!(push.queue_capacity, super::super::DEFAULT_QUEUE_CAPACITY);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.toml");
        std::fs::write(
            &path,
            "push_resource_template = \"https://updates.example/wpush/{token}\"\n\
             push_queue_capacity = 16\n",
        )
        .unwrap();
        let push = MailServerArgs {
            config: Some(path.clone()),
            ..MailServerArgs::default()
        }
        .settings()
        .unwrap()
        .0
        .push
        .unwrap();
        assert_eq!(
            push.service().unwrap().resource(token).to_string(),
            format!("https://updates.example/wpush/{lower}")
        );
        assert_eq!(push.queue_capacity, 16);
        // The flag overrides the file.
        let push = MailServerArgs {
            config: Some(path),
            push_resource_template: Some("http://127.0.0.1:9/p/{token}/x".into()),
            ..MailServerArgs::default()
        }
        .settings()
        .unwrap()
        .0
        .push
        .unwrap();
        assert_eq!(
            push.service().unwrap().resource(token).to_string(),
            format!("http://127.0.0.1:9/p/{lower}/x")
        );

        for (template, why) in [
            ("https://updates.example/wpush/", "does not contain {token}"),
            ("https://x.example/{token}/{token}", "more than once"),
            ("mailto:{token}", "neither an http:// nor an https:// URL"),
        ] {
            let error = MailServerArgs {
                push_resource_template: Some(template.into()),
                ..MailServerArgs::default()
            }
            .settings()
            .unwrap_err()
            .to_string();
            assert!(
                error.contains("push resource template") && error.contains(why),
                "{template}: {error}"
            );
        }
    }

    //= spec/provider-api.md#PROV-19
    //= type=test
    //# `burst` defaults to 3 and MUST be between 1 and 16
    #[test]
    fn push_burst_from_flag_or_file_within_its_range() {
        let burst =
            |args: MailServerArgs| args.settings().map(|s| s.0.push.unwrap().notifier.burst);
        let url = || Some("http://127.0.0.1:8080".to_owned());
        let default = MailServerArgs {
            push_url: url(),
            ..MailServerArgs::default()
        };
        assert_eq!(burst(default).unwrap(), mailpush_mail_notify::DEFAULT_BURST);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.toml");
        std::fs::write(&path, "push_burst = 5\n").unwrap();
        let from_file = MailServerArgs {
            config: Some(path.clone()),
            push_url: url(),
            ..MailServerArgs::default()
        };
        assert_eq!(burst(from_file).unwrap(), 5);
        let flag_wins = MailServerArgs {
            config: Some(path),
            push_url: url(),
            push_burst: Some(1),
            ..MailServerArgs::default()
        };
        assert_eq!(burst(flag_wins).unwrap(), 1);
        for bad in [0, 17] {
            let error = burst(MailServerArgs {
                push_url: url(),
                push_burst: Some(bad),
                ..MailServerArgs::default()
            })
            .unwrap_err()
            .to_string();
            assert!(
                error.contains(&format!("burst {bad}")) && error.contains("1..=16"),
                "{error}"
            );
        }
    }

    #[test]
    fn user_add_passwd_del_on_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("mail.db");
        let password_file = dir.path().join("password");
        let user = |command| UserArgs {
            database: database.clone(),
            command,
        };
        std::fs::write(&password_file, "first\n").unwrap();
        run_user(user(UserCommand::Add {
            name: "fred".into(),
            password_file: Some(password_file.clone()),
        }))
        .unwrap();
        let again = run_user(user(UserCommand::Add {
            name: "fred".into(),
            password_file: Some(password_file.clone()),
        }))
        .unwrap_err()
        .to_string();
        assert!(again.starts_with("cannot add user \"fred\": "), "{again}");
        std::fs::write(&password_file, "second\r\n").unwrap();
        run_user(user(UserCommand::Passwd {
            name: "fred".into(),
            password_file: Some(password_file.clone()),
        }))
        .unwrap();
        let store = open_store(Some(&database)).unwrap();
        assert!(store.verify_password("fred", b"second").unwrap().is_some());
        drop(store);
        run_user(user(UserCommand::Del {
            name: "fred".into(),
        }))
        .unwrap();
        let gone = run_user(user(UserCommand::Del {
            name: "fred".into(),
        }))
        .unwrap_err()
        .to_string();
        assert!(gone.starts_with("cannot delete user \"fred\": "), "{gone}");
        std::fs::write(&password_file, "\n").unwrap();
        let empty = run_user(user(UserCommand::Add {
            name: "bob".into(),
            password_file: Some(password_file),
        }))
        .unwrap_err()
        .to_string();
        assert!(empty.contains("empty password"), "{empty}");
    }
}
