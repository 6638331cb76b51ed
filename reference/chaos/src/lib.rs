//! `mailpush chaos`: seeded fault injection against the real system, checking the model's
//! convergence property ([SAFE-5](../../spec/properties.md#SAFE-5)) on running processes.
//!
//! Each run starts the push server, the mail server and two or three device daemons of one
//! account as processes of the `mailpush` binary, on loopback, each with its SQLite state. Its
//! seed alone decides the system's shape (ring capacity, TTL cap, topics) and a timeline of
//! changes (through the devices' local API and straight over IMAP) and faults (SIGKILL and
//! restart of each server and of a device, device-channel connections cut, stalled, or refused
//! for long stretches, through a proxy per device). When the faults stop and every change has
//! been answered, every device's view of every monitored mailbox must equal the server's within
//! the bound, and the run's merged protocol trace must be a behaviour of the model
//! (`mailpush_model::validate`).
#![forbid(unsafe_code)]

mod clients;
mod proxy;
mod run;
pub mod schedule;
mod validate;
mod world;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use run::{Options, Outcome};

/// Arguments of `mailpush chaos`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChaosArgs {
    /// Seed of the first run; run i uses seed + i, so a failing run is reproduced by its own
    /// seed and `--runs 1`.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of runs.
    #[arg(long, default_value_t = 1)]
    pub runs: u64,
    /// Runs at once (each is four or five mostly idle processes).
    #[arg(long, default_value_t = 6)]
    pub jobs: usize,
    /// Length of each run's fault phase, milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub faults_ms: u64,
    /// Convergence bound: once the faults have stopped and every change is answered, every
    /// device must equal the server within this many seconds.
    #[arg(long, default_value_t = 30)]
    pub bound_secs: u64,
    /// Directory for the runs' logs [default: a new directory in the system's temporary
    /// directory]. A failing run's directory is kept; a passing one's is removed.
    #[arg(long)]
    pub logs: Option<PathBuf>,
    /// Keep the directories of passing runs too.
    #[arg(long)]
    pub keep: bool,
    /// The `mailpush` binary the components run as [default: this program].
    #[arg(long)]
    pub binary: Option<PathBuf>,
}

/// Why `mailpush chaos` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChaosError {
    /// Some runs did not converge (or could not start); each was reported as it ended.
    #[error("{} of {runs} runs failed (seeds {seeds:?})", seeds.len())]
    Failed {
        /// Runs made.
        runs: u64,
        /// Seeds of the failing runs.
        seeds: Vec<u64>,
    },
    /// The runner could not find its binary or make its log directory.
    #[error("{what}: {source}")]
    Io {
        /// What it tried.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// The command that runs one seed again with the same options.
pub fn reproduce(args: &ChaosArgs, seed: u64) -> String {
    format!(
        "mailpush chaos --seed {seed} --runs 1 --faults-ms {} --bound-secs {} --keep",
        args.faults_ms, args.bound_secs
    )
}

/// `mailpush chaos`: the runs, a line for each as it ends, then a summary.
pub async fn run_cli(args: ChaosArgs) -> Result<(), ChaosError> {
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| ChaosError::Io { what, source }
    };
    let binary = match &args.binary {
        Some(binary) => binary.clone(),
        None => std::env::current_exe().map_err(io("cannot find this program"))?,
    };
    let logs = match &args.logs {
        Some(logs) => {
            std::fs::create_dir_all(logs).map_err(io("cannot create the log directory"))?;
            logs.clone()
        }
        None => tempfile::Builder::new()
            .prefix("mailpush-chaos-")
            .tempdir()
            .map_err(io("cannot create the log directory"))?
            .keep(),
    };
    let options = Arc::new(Options {
        binary,
        logs: logs.clone(),
        faults_ms: args.faults_ms,
        bound: Duration::from_secs(args.bound_secs),
        keep: args.keep,
    });
    println!(
        "chaos: {} runs from seed {}, {} at once, fault phase {} ms, bound {} s, logs in {}",
        args.runs,
        args.seed,
        args.jobs,
        args.faults_ms,
        args.bound_secs,
        logs.display()
    );
    let started = Instant::now();
    let slots = Arc::new(tokio::sync::Semaphore::new(args.jobs.max(1)));
    let mut runs = tokio::task::JoinSet::new();
    for seed in args.seed..args.seed.saturating_add(args.runs) {
        let options = Arc::clone(&options);
        let slots = Arc::clone(&slots);
        runs.spawn(async move {
            let _slot = slots.acquire_owned().await;
            run::run(schedule::Plan::new(seed, options.faults_ms), &options).await
        });
    }
    let mut failed = Vec::new();
    let (mut restarts, mut slowest) = (0, Duration::ZERO);
    while let Some(outcome) = runs.join_next().await {
        let Ok(outcome) = outcome else { continue };
        let plan = &outcome.plan;
        restarts += plan.restarts();
        let shape = format!(
            "{} devices, ring {}, TTL cap {} s, {}, {} restarts",
            plan.devices,
            plan.ring_capacity,
            plan.max_ttl_secs,
            if plan.topic_per_account {
                "topic per account"
            } else {
                "no topic"
            },
            plan.restarts()
        );
        match &outcome.result {
            Ok(elapsed) => {
                slowest = slowest.max(*elapsed);
                println!(
                    "seed {}: converged {} ms after the faults ({shape})",
                    plan.seed,
                    elapsed.as_millis()
                );
            }
            Err(error) => {
                failed.push(plan.seed);
                println!(
                    "seed {}: FAILED ({shape}): {error}\n  reproduce: {}\n  logs: {} \
                     (runner.log, schedule.txt, push.log, mail.log, device-N.log, *.trace)",
                    plan.seed,
                    reproduce(&args, plan.seed),
                    outcome.dir.display()
                );
            }
        }
    }
    failed.sort_unstable();
    println!(
        "chaos: {} runs, {} failed, {restarts} process restarts, slowest convergence {} ms, \
         {:.1} s in all",
        args.runs,
        failed.len(),
        slowest.as_millis(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        if !args.keep && args.logs.is_none() {
            let _ = std::fs::remove_dir_all(&logs);
        }
        Ok(())
    } else {
        Err(ChaosError::Failed {
            runs: args.runs,
            seeds: failed,
        })
    }
}
