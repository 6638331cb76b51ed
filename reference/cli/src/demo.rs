//! `mailpush demo`: the whole system on loopback, walking the patent's story step by step,
//! each step checked through what the devices and servers report, then a summary and the
//! final check that every device's notes equal the server's.

mod api;
mod recording;
mod report;
mod story;
mod system;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use mailpush_notes::Author;

/// `mailpush demo`
#[derive(Debug, Clone, Args)]
#[command(
    long_about = "Starts the push notification server, the mail server (with push), a second \
mail server without the push extension, and device daemons of one account, all on loopback \
with ports the OS chooses, over TLS with generated certificates, each device with its own \
SQLite database in a temporary directory. Then walks the story of US patent 9,071,564: \
registration, a note created and edited on device A reaching the other devices by push, device \
B offline while more changes are made than its ring holds, B reconnecting with the `retained` \
flag and resynchronizing everything, a mailbox without push reaching the devices by scheduled \
poll, and a note deleted. Every step waits for its effect to be observable on the devices (their \
local API) and fails with a clear message when it does not come in time. Ends with a summary \
table and exits 0 only if every device's notes equal the server's."
)]
pub struct DemoArgs {
    /// Device daemons of the account (at least 2). A writes, B goes offline, the others watch.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(2..=26))]
    devices: u16,
    /// The push server's ring capacity N per device (RING-1): how many notifications it keeps
    /// for an offline device before dropping the oldest (RING-2).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    ring: u32,
    /// Have the mail server send a Topic per account (PROV-21), so that the push server keeps
    /// only the latest notification of an offline device (RING-4: coalesced instead of dropped).
    /// Off by default, so that the ring overflows while B is offline.
    #[arg(long)]
    topic_coalescing: bool,
    /// Notes added on A while B is offline (default: the ring capacity plus 2, so the ring
    /// overflows).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    changes: Option<u32>,
    /// Edits of the note on A, each timed until it is on every other device.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    edits: u32,
    /// Interval of the scheduled polls of the mailbox without push, in milliseconds. Shorter
    /// than the conforming minimum of 60 s (LOCAL-16): the devices use the testing override of
    /// LOCAL-19 so that the demo does not wait a minute.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u64).range(50..=600_000))]
    poll_interval_ms: u64,
    /// Longest wait, in seconds, for the effect of each step (and for the final agreement).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    /// After the story, leave everything running until Ctrl-C, so that `mailpush notes
    /// --config <dir>/device-a.toml list` (or any device) can be tried; the directory is kept.
    #[arg(long)]
    keep: bool,
    /// Demonstrate the final check failing: just before it, store a note straight into the
    /// mail server's database, behind the IMAP server's back, so that no push announces it
    /// and no device can have it. The demo must then exit non-zero.
    #[arg(long)]
    diverge: bool,
    /// Have every component write its protocol trace (spec/trace.md) and merge them into this
    /// file, each device named by its letter in every event (TRACE-12); written also when the
    /// demo fails. `mailpush trace validate FILE --ring N` replays it against the model.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Draw the merged trace as a message sequence chart into this HTML file (self-contained,
    /// no network): one lane per component, notes A, DA A and mail client A on the left, the
    /// servers in the middle, the other devices on the right. With many devices, `mailpush
    /// trace render FILE --device A --device B` draws a chosen few from `--trace`'s file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A component could not start.
    #[error("cannot start the demo: {0}")]
    Start(String),
    /// A device daemon failed or refused a request.
    #[error("device {0}: {1}")]
    Device(String, String),
    /// An expected effect did not come in time.
    #[error("{0}")]
    Timeout(String),
    /// A step's outcome is not what the specification says.
    #[error("{0}")]
    Check(String),
    /// The components' traces could not be collected, merged or written.
    #[error("protocol trace: {0}")]
    Trace(String),
    /// A device's notes differ from the server's at the end.
    #[error("the devices do not agree with the server: {0}")]
    Diverged(String),
    /// Ctrl-C.
    #[error("interrupted; everything was stopped")]
    Interrupted,
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// The author written into the demo's notes.
fn author() -> Author {
    // A fixed, valid address: parsing it cannot fail.
    Author::new(None, "demo@mailpush.invalid").unwrap_or_else(|_| unreachable_author())
}

#[allow(clippy::panic)]
fn unreachable_author() -> Author {
    panic!("the demo's author address is valid")
}

/// Runs the demo on a runtime of its own; component logs go to stderr at `error` unless
/// `RUST_LOG` says otherwise, so that the story stays readable (the devices' warning that the
/// poll interval is a testing override is said once in the header instead).
pub fn run(args: DemoArgs) -> Result<(), DemoError> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(DemoError::Runtime)?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: DemoArgs) -> Result<(), DemoError> {
    let dir = tempfile::Builder::new()
        .prefix("mailpush-demo-")
        .tempdir()
        .map_err(|e| DemoError::Start(format!("temporary directory: {e}")))?;
    let plan = system::Plan {
        devices: usize::from(args.devices),
        ring: args.ring as usize,
        topic_coalescing: args.topic_coalescing,
        poll_interval_ms: args.poll_interval_ms,
        outputs: recording::Outputs {
            trace: args.trace.clone(),
            report: args.report.clone(),
        },
    };
    let mut progress = report::Progress::new();
    progress.say(&format!(
        "mailpush demo: {} devices of one account, ring N = {}, topic coalescing {}, polls every {} ms \
         (a testing override of LOCAL-19, below the 60 s of LOCAL-16); state in {}",
        plan.devices,
        plan.ring,
        if plan.topic_coalescing { "on" } else { "off" },
        plan.poll_interval_ms,
        dir.path().display()
    ));
    let mut system = system::System::start(dir.path(), &plan).await?;
    let outcome = tokio::select! {
        outcome = story::run(&mut system, &args, &mut progress) => outcome,
        _ = tokio::signal::ctrl_c() => Err(DemoError::Interrupted),
    };
    let outcome = match outcome {
        Ok(()) if args.keep => keep(&system).await,
        other => other,
    };
    let stopped = system.shutdown().await;
    // After the shutdown, so that every event is in, and whatever the outcome, since the trace of
    // a failed run is the one worth reading.
    let traced = write_trace(&system, &plan);
    if args.keep {
        let kept: PathBuf = dir.keep();
        println!(
            "everything stopped; the state is kept in {}",
            kept.display()
        );
    }
    outcome.and(stopped).and(traced)
}

/// Merges the components' traces and writes the trace and the chart asked for.
fn write_trace(system: &system::System, plan: &system::Plan) -> Result<(), DemoError> {
    let Some(recorders) = &system.recorders else {
        return Ok(());
    };
    let names: Vec<&str> = system.devices.iter().map(|d| d.name.as_str()).collect();
    let devices: Vec<(&str, &recording::Recorder)> = system
        .devices
        .iter()
        .filter_map(|d| d.recorder.as_ref().map(|r| (d.name.as_str(), r)))
        .collect();
    let events = recording::collect(&recorders.iter().collect::<Vec<_>>(), &devices)?;
    let title = format!(
        "mailpush demo: {} devices, ring N = {}, topic coalescing {}",
        plan.devices,
        plan.ring,
        if plan.topic_coalescing { "on" } else { "off" }
    );
    for line in recording::write(&events, &names, &plan.outputs, &title)? {
        println!("{line}");
    }
    Ok(())
}

/// Prints how to reach the running system, then waits for Ctrl-C.
async fn keep(system: &system::System) -> Result<(), DemoError> {
    println!();
    println!("Everything keeps running (--keep). Try, from another terminal:");
    for device in &system.devices {
        println!(
            "  mailpush notes --config {} list      # device {} (socket {})",
            device.config_path.display(),
            device.name,
            device.socket.display()
        );
    }
    println!(
        "  mailpush device status --config {}",
        system
            .devices
            .first()
            .map(|d| d.config_path.display().to_string())
            .unwrap_or_default()
    );
    println!(
        "Certificates and databases are in {}. Press Ctrl-C to stop.",
        system.dir.display()
    );
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

/// Longest wait for one effect.
fn timeout(args: &DemoArgs) -> Duration {
    Duration::from_secs(args.timeout)
}
