//! The reference device as the implementation under test of the `device` role: the runner
//! starts this very test binary's ignored test `device_child`, which reads the runner's
//! `MAILPUSH_CONFORM_*` variables, writes the device's configuration file from them and runs
//! the daemon in process (so that the mutants this crate's tests enable reach it) until the
//! runner kills it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::time::Duration;

use mailpush_conformance::runner::client::DeviceExec;
use mailpush_conformance::runner::{Outcome, Target};
use mailpush_conformance::transcript::{Role, Transcript};

/// The poll interval asked of the device for mailboxes without push.
pub const POLL_MS: u64 = 1000;

/// What the runner needs to play the `device` cases against this binary's `device_child`.
pub fn device_target() -> Target {
    device_target_started_by("")
}

/// [`device_target`], with `command_prefix` (variable assignments, say) before the command.
pub fn device_target_started_by(command_prefix: &str) -> Target {
    let exe = std::env::current_exe().unwrap();
    let command = format!(
        "{command_prefix}exec '{}' device_child --exact --ignored --nocapture",
        exe.display()
    );
    Target {
        connect_timeout: Duration::from_secs(10),
        strict: true,
        exec: Some(DeviceExec::new(command, POLL_MS).unwrap()),
        app: Some(app_command()),
        ..Target::default()
    }
}

/// The application hook: the reference notes application (`mailpush notes`, the release binary
/// next to this test binary's directory) through its adapter script.
pub fn app_command() -> String {
    let exe = std::env::current_exe().unwrap();
    let mailpush = exe
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap()
        .join("mailpush");
    assert!(
        mailpush.is_file(),
        "the device cases drive the notes application through {}: build it first (cargo build --release -p mailpush)",
        mailpush.display()
    );
    let adapter =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/reference-app.sh");
    format!(
        "MAILPUSH='{}' exec sh '{}'",
        mailpush.display(),
        adapter.display()
    )
}

/// Every `device` case against this binary's `device_child`.
pub async fn run_device_corpus() -> (Vec<Transcript>, Vec<Outcome>) {
    run_device_corpus_as(super::SERIAL).await
}

/// Every `device` case against this binary's `device_child`, played as `how` says.
pub async fn run_device_corpus_as(how: super::Play) -> (Vec<Transcript>, Vec<Outcome>) {
    let cases = super::corpus(Role::Device);
    let outcomes = super::play(&cases, &device_target(), None, how).await;
    (cases, outcomes)
}

/// Every `device` case, not strict (a SHOULD case that fails is NON-STRICT), against
/// `device_child` built with `alternative` (`mailpush_mutants::ALTERNATIVE_VARIABLE`).
pub async fn run_device_corpus_with(
    alternative: mailpush_mutants::Alternative,
    how: super::Play,
) -> (Vec<Transcript>, Vec<Outcome>) {
    let cases = super::corpus(Role::Device);
    let mut target = device_target_started_by(&format!(
        "{}={} ",
        mailpush_mutants::ALTERNATIVE_VARIABLE,
        alternative.name()
    ));
    target.strict = false;
    let outcomes = super::play(&cases, &target, None, how).await;
    (cases, outcomes)
}

/// What the runs of the configured device cases declare: the device renews its push
/// registration every 2 s (`device_child` is configured so from `{config_registration_renewal}`).
pub const RENEWAL_DECLARED: &str = "registration-renewal=2s";

/// The device cases that need a configured device (`config:`), played one after another
/// against `device_child` started by `command_prefix` and then this binary, the run declaring
/// `declared`.
pub async fn run_configured_device_cases(
    command_prefix: &str,
    declared: &[&str],
) -> (Vec<Transcript>, Vec<Outcome>) {
    use mailpush_conformance::runner;
    use mailpush_conformance::transcript::config::parse_declaration;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let cases: Vec<_> = runner::load_dir(&dir)
        .unwrap()
        .into_iter()
        .filter(|c| c.header.role == Role::Device && !c.header.config.is_empty())
        .collect();
    assert!(!cases.is_empty(), "no configured device case");
    let exe = std::env::current_exe().unwrap();
    let command = format!(
        "{command_prefix}exec '{}' device_child --exact --ignored --nocapture",
        exe.display()
    );
    let target = Target {
        connect_timeout: std::time::Duration::from_secs(10),
        strict: true,
        exec: Some(DeviceExec::new(command, POLL_MS).unwrap()),
        config: declared
            .iter()
            .map(|d| parse_declaration(d).unwrap())
            .collect(),
        ..Target::default()
    };
    let outcomes = runner::run_suite(&cases, &target, None, &[], |_| {}).await;
    (cases, outcomes)
}

fn var(name: &str) -> String {
    std::env::var(format!("MAILPUSH_CONFORM_{name}")).unwrap()
}

/// The device configuration the placeholders describe, as `mailpush device run` reads it.
pub fn config_text() -> String {
    let mailboxes: Vec<String> = var("MAILBOXES")
        .split(',')
        .map(|m| format!("{m:?}"))
        .collect();
    // Declared with `--config registration-renewal=D`: the device renews that often.
    let renewal = std::env::var("MAILPUSH_CONFORM_CONFIG_REGISTRATION_RENEWAL")
        .map(|ms| {
            format!(
                "registration_renewal_secs = {}",
                ms.parse::<u64>().unwrap() / 1000
            )
        })
        .unwrap_or_default();
    format!(
        r#"data_dir = "data"
{renewal}

[[accounts]]
name = {account:?}
address = {imap:?}
security = "imaps"
user = {user:?}
password = {password:?}
ca_file = {ca:?}
testing_override_poll_interval_ms = {poll}
mailboxes = [{mailboxes}]

[push]
channel = {channel:?}
api = {api:?}
registration_token = {registration:?}
ca_file = {ca:?}
"#,
        account = var("ACCOUNT"),
        imap = var("IMAP"),
        user = var("USER"),
        password = var("PASSWORD"),
        ca = var("CA"),
        poll = var("POLL_MS"),
        mailboxes = mailboxes.join(", "),
        channel = var("CHANNEL"),
        api = var("API"),
        registration = var("REGISTRATION"),
    )
}

/// The body of `device_child`: does nothing unless the runner started it.
pub fn device_child() {
    if std::env::var_os("MAILPUSH_CONFORM_DIR").is_none() {
        return;
    }
    if let Ok(name) = std::env::var(mailpush_mutants::ALTERNATIVE_VARIABLE) {
        assert!(
            mailpush_mutants::Alternative::named(&name).is_some(),
            "{}={name} names no alternative",
            mailpush_mutants::ALTERNATIVE_VARIABLE
        );
    }
    let dir = std::path::PathBuf::from(var("DIR"));
    let path = dir.join("device.toml");
    std::fs::write(&path, config_text()).unwrap();
    let config = mailpush_device::DeviceConfig::load(&path).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(mailpush_device::run(config, std::future::pending::<()>()))
        .unwrap();
}
