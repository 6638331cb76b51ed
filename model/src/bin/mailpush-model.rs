//! `mailpush-model`: check, explore or simulate the mailpush model.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use mailpush_model::trace;
use mailpush_model::{
    Config, ConfigError, Deviation, MailpushModel, RetainedMechanism, Schedule, TopicPolicy,
};
use stateright::{Checker, Expectation, Model, UniformChooser};

#[derive(Parser)]
#[command(
    name = "mailpush-model",
    version,
    about = "Model checker for the mailpush protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay an implementation's protocol trace (spec/trace.md, merged) as model steps and
    /// report the first event that is not a legal step; exits 1 on one, 2 on a bad trace.
    Validate {
        /// The merged trace (JSON lines).
        trace: std::path::PathBuf,
        /// The push server's ring capacity N.
        #[arg(long, default_value_t = 100)]
        ring: usize,
        /// The push server's in-flight window of a session (CHAN-17).
        #[arg(long, default_value_t = mailpush_model::validate::DEFAULT_WINDOW)]
        window: usize,
        /// A component killed and started again while the trace was written, as
        /// TIME_US:COMPONENT[:DEVICE] (a device's component names its trace label); repeatable.
        #[arg(long = "restart", value_name = "TIME_US:COMPONENT[:DEVICE]")]
        restarts: Vec<mailpush_model::validate::Restart>,
    },
    /// Check every reachable state of a configuration (DFS with symmetry reduction by default).
    Check {
        #[command(flatten)]
        config: ConfigArgs,
        /// Breadth-first search instead of depth-first (stateright 0.31's BFS ignores symmetry).
        #[arg(long)]
        bfs: bool,
        /// Do not merge states that differ only by the naming of devices or mailboxes.
        #[arg(long)]
        no_symmetry: bool,
        /// Checker threads.
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        /// Also print the trace of every example found for a `sometimes` property.
        #[arg(long)]
        examples: bool,
    },
    /// Check every configuration of the nightly run, one after the other, and sum up.
    Nightly {
        /// Checker threads.
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
    },
    /// Serve stateright's Explorer web UI to step through the model by hand.
    Explore {
        #[command(flatten)]
        config: ConfigArgs,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        address: String,
    },
    /// Random walks from the initial state, for configurations too big to check exhaustively.
    Simulate {
        #[command(flatten)]
        config: ConfigArgs,
        /// Seed of the first walk; a seed always reproduces the same walks.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Stop after visiting this many states in total.
        #[arg(long, default_value_t = 1_000_000)]
        states: usize,
        /// Walker threads (each starts from its own seed: seed, seed + 1, ...).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Clone, Copy, ValueEnum)]
enum TopicArg {
    /// No topic: a full ring drops its oldest notification.
    None,
    /// One topic per account: a new notification replaces the held ones.
    Account,
}

#[derive(Clone, Copy, ValueEnum)]
enum MechanismArg {
    /// The mail client wakes every token on `retained` (what the protocol requires).
    FanOut,
    /// The alternative: one "retained" broadcast on which the DA resyncs everything.
    Broadcast,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScheduleArg {
    /// Server events first, then each device in turn (the default: same verdicts, fewer states).
    DeviceByDevice,
    /// Every step of every party interleaved (the plain model).
    Interleaved,
}

/// A broken variant's name, checked against the list of deviations.
fn deviation(name: &str) -> Result<Deviation, String> {
    Deviation::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Deviation::ALL.iter().map(|d| d.info().name).collect();
        format!(
            "unknown broken variant {name:?}; known: {}",
            known.join(", ")
        )
    })
}

/// A named configuration, then overrides of single knobs.
#[derive(Args)]
struct ConfigArgs {
    /// Base configuration: `ci` (what the tests check first), `apns` (one topic per account) or
    /// `scale` (3 devices, N = 2, 3 changes).
    #[arg(long, default_value = "ci")]
    config: String,
    /// Number of devices.
    #[arg(long)]
    devices: Option<u8>,
    /// Number of accounts on each device.
    #[arg(long)]
    accounts: Option<u8>,
    /// Monitored mailboxes per account that the mail server acknowledges for push.
    #[arg(long)]
    push_mailboxes: Option<u8>,
    /// Monitored mailboxes per account without push (polled).
    #[arg(long)]
    poll_mailboxes: Option<u8>,
    /// N, the ring capacity per device.
    #[arg(long)]
    ring: Option<u8>,
    /// The in-flight window of each session (CHAN-17).
    #[arg(long)]
    window: Option<u8>,
    /// Topic policy of the mail server's push requests.
    #[arg(long, value_enum)]
    topic: Option<TopicArg>,
    /// Budget of mailbox changes.
    #[arg(long)]
    changes: Option<u8>,
    /// Budget of mailboxes recreated with a new UIDVALIDITY.
    #[arg(long)]
    recreations: Option<u8>,
    /// Budget of mailbox deletions.
    #[arg(long)]
    deletions: Option<u8>,
    /// Budget of mailbox renames.
    #[arg(long)]
    renames: Option<u8>,
    /// Budget of disconnects, per device.
    #[arg(long)]
    disconnects: Option<u8>,
    /// Budget of DA restarts, per device.
    #[arg(long)]
    da_restarts: Option<u8>,
    /// Budget of mail client restarts, per device.
    #[arg(long)]
    client_restarts: Option<u8>,
    /// Budget of push registration renewals, per device.
    #[arg(long)]
    renewals: Option<u8>,
    /// Budget of registration expiries, per device.
    #[arg(long)]
    expiries: Option<u8>,
    /// Budget of notification TTL expiries, per device.
    #[arg(long)]
    ttl_expiries: Option<u8>,
    /// Budget of mailboxes the DA unregisters, per device.
    #[arg(long)]
    unregisters: Option<u8>,
    /// How the device reacts to `retained`.
    #[arg(long, value_enum)]
    mechanism: Option<MechanismArg>,
    /// In which order the checker explores steps.
    #[arg(long, value_enum)]
    schedule: Option<ScheduleArg>,
    /// Leave out the facts only the REACH properties read (and those properties).
    #[arg(long)]
    no_reach: bool,
    /// A deliberate deviation from the protocol (repeatable).
    #[arg(long, value_parser = deviation)]
    broken: Vec<Deviation>,
}

impl ConfigArgs {
    /// The configuration, interleaved unless `--schedule` says otherwise: random walks and the
    /// Explorer show the plain model.
    fn build_interleaved(&self) -> Result<Config, ConfigError> {
        let mut config = self.build()?;
        if self.schedule.is_none() {
            config.schedule = Schedule::Interleaved;
        }
        Ok(config)
    }

    fn build(&self) -> Result<Config, ConfigError> {
        let mut config = Config::named(&self.config)?;
        let set = |target: &mut u8, value: Option<u8>| {
            if let Some(v) = value {
                *target = v;
            }
        };
        set(&mut config.devices, self.devices);
        set(&mut config.accounts, self.accounts);
        set(&mut config.push_mailboxes, self.push_mailboxes);
        set(&mut config.poll_mailboxes, self.poll_mailboxes);
        set(&mut config.ring_capacity, self.ring);
        set(&mut config.window, self.window);
        let b = &mut config.budgets;
        set(&mut b.changes, self.changes);
        set(&mut b.recreations, self.recreations);
        set(&mut b.deletions, self.deletions);
        set(&mut b.renames, self.renames);
        set(&mut b.disconnects, self.disconnects);
        set(&mut b.da_restarts, self.da_restarts);
        set(&mut b.client_restarts, self.client_restarts);
        set(&mut b.renewals, self.renewals);
        set(&mut b.expiries, self.expiries);
        set(&mut b.ttl_expiries, self.ttl_expiries);
        set(&mut b.unregisters, self.unregisters);
        if let Some(v) = self.topic {
            config.topic = match v {
                TopicArg::None => TopicPolicy::None,
                TopicArg::Account => TopicPolicy::PerAccount,
            };
        }
        if let Some(v) = self.mechanism {
            config.mechanism = match v {
                MechanismArg::FanOut => RetainedMechanism::FanOut,
                MechanismArg::Broadcast => RetainedMechanism::Broadcast,
            };
        }
        if let Some(v) = self.schedule {
            config.schedule = match v {
                ScheduleArg::DeviceByDevice => Schedule::DeviceByDevice,
                ScheduleArg::Interleaved => Schedule::Interleaved,
            };
        }
        if self.no_reach {
            config.reach = false;
        }
        for broken in &self.broken {
            config.broken = config.broken.with(*broken);
        }
        config.validate()?;
        Ok(config)
    }
}

fn validate(
    path: &std::path::Path,
    ring: usize,
    window: usize,
    restarts: Vec<mailpush_model::validate::Restart>,
) -> ExitCode {
    let events = std::fs::File::open(path)
        .map_err(|e| e.to_string())
        .and_then(|f| {
            mailpush_trace::read_all(
                std::io::BufReader::new(f),
                mailpush_trace::Limits::default(),
            )
            .map_err(|e| e.to_string())
        });
    let events = match events {
        Ok(events) => events,
        Err(error) => {
            eprintln!("{}: {error}", path.display());
            return ExitCode::from(2);
        }
    };
    match mailpush_model::validate::ModelReplay::new(ring)
        .with_window(window)
        .with_restarts(restarts)
        .validate(&events)
    {
        Ok(summary) => {
            print!("{}", mailpush_model::validate::report(&summary));
            ExitCode::SUCCESS
        }
        Err(violation) => {
            println!("{}: not a behaviour of the model", path.display());
            println!("{violation}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate {
            trace,
            ring,
            window,
            restarts,
        } => return validate(&trace, ring, window, restarts),
        Command::Check {
            config,
            bfs,
            no_symmetry,
            threads,
            examples,
        } => config
            .build()
            .map(|config| check(config, bfs, !no_symmetry, threads, examples)),
        Command::Nightly { threads } => Ok(nightly(threads)),
        Command::Explore { config, address } => config
            .build_interleaved()
            .map(|config| explore(config, &address)),
        Command::Simulate {
            config,
            seed,
            states,
            threads,
        } => config
            .build_interleaved()
            .map(|config| simulate(config, seed, states, threads)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("mailpush-model: {error}");
            ExitCode::from(2)
        }
    }
}

fn check(config: Config, bfs: bool, symmetry: bool, threads: usize, examples: bool) -> ExitCode {
    let strategy = match (bfs, symmetry) {
        (true, true) => "BFS (symmetry requested, but stateright 0.31's BFS ignores it)",
        (true, false) => "BFS without symmetry",
        (false, true) => "DFS with symmetry",
        (false, false) => "DFS without symmetry",
    };
    println!("checking {config}");
    println!("strategy: {strategy}, {threads} thread(s)");
    let model = MailpushModel::new(config);
    let mut builder = model.checker().threads(threads.max(1));
    if symmetry {
        builder = builder.symmetry();
    }
    if bfs {
        report(builder.spawn_bfs(), examples, true)
    } else {
        report(builder.spawn_dfs(), examples, true)
    }
}

fn nightly(threads: usize) -> ExitCode {
    let mut summary = Vec::new();
    let mut failed = false;
    for (name, config) in Config::nightly() {
        println!("== {name}");
        let started = Instant::now();
        let code = check(config, false, true, threads, false);
        let ok = code == ExitCode::SUCCESS;
        failed |= !ok;
        summary.push((name, ok, started.elapsed().as_secs_f64()));
        println!();
    }
    println!("nightly summary:");
    for (name, ok, seconds) in summary {
        let verdict = if ok { "ok" } else { "FAILED" };
        println!("  {verdict:<7} {seconds:>8.1} s  {name}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn simulate(config: Config, seed: u64, states: usize, threads: usize) -> ExitCode {
    println!("simulating {config}");
    println!("random walks from seed {seed}, {threads} thread(s), stopping after {states} states");
    let model = MailpushModel::new(config);
    let checker = model
        .checker()
        .threads(threads.max(1))
        .target_state_count(states)
        .spawn_simulation(seed, UniformChooser);
    report(checker, false, false)
}

fn explore(config: Config, address: &str) -> ExitCode {
    // tiny_http would panic on a busy address; find out first and say so.
    if let Err(error) = std::net::TcpListener::bind(address) {
        eprintln!("mailpush-model: cannot listen on {address}: {error}");
        return ExitCode::from(2);
    }
    println!("exploring {config}");
    println!("Explorer: http://{address}/ (Ctrl-C to stop)");
    MailpushModel::new(config).checker().serve(address);
    ExitCode::SUCCESS
}

/// Prints progress every second, then the summary, then every discovery as a trace. Returns
/// failure when a safety or liveness property has a counterexample, or (when `exhaustive`) a
/// reachability property has no example.
fn report<C: Checker<MailpushModel>>(checker: C, examples: bool, exhaustive: bool) -> ExitCode {
    let started = Instant::now();
    let mut last_progress = started;
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(20));
        if last_progress.elapsed() < Duration::from_secs(1) {
            continue;
        }
        last_progress = Instant::now();
        let elapsed = started.elapsed().as_secs_f64();
        eprintln!(
            "  ... {:>10} unique states, depth {:>3}, {:>9.0} states/s, {:>6.1} s",
            checker.unique_state_count(),
            checker.max_depth(),
            checker.state_count() as f64 / elapsed.max(f64::EPSILON),
            elapsed,
        );
    }
    let checker = checker.join();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "done: {} unique states ({} generated), max depth {}, {:.0} states/s, {:.2} s",
        checker.unique_state_count(),
        checker.state_count(),
        checker.max_depth(),
        checker.state_count() as f64 / elapsed.max(f64::EPSILON),
        elapsed,
    );

    let model = checker.model();
    let discoveries: BTreeMap<&'static str, _> = checker.discoveries().into_iter().collect();
    let mut failed = false;
    println!("properties:");
    for property in model.properties() {
        let found = discoveries.get(property.name);
        let verdict = match (&property.expectation, found) {
            (Expectation::Always | Expectation::Eventually, None) if exhaustive => "holds",
            (Expectation::Always | Expectation::Eventually, None) => "not violated",
            (Expectation::Always | Expectation::Eventually, Some(_)) => {
                failed = true;
                "COUNTEREXAMPLE"
            }
            (Expectation::Sometimes, Some(_)) => "example found",
            (Expectation::Sometimes, None) if exhaustive => {
                failed = true;
                "NOT REACHABLE"
            }
            (Expectation::Sometimes, None) => "no example in these walks",
        };
        println!("  {verdict:<16} {}", property.name);
    }
    for property in model.properties() {
        let Some(path) = discoveries.get(property.name) else {
            continue;
        };
        let is_example = property.expectation == Expectation::Sometimes;
        if is_example && !examples {
            continue;
        }
        let kind = if is_example {
            "example"
        } else {
            "counterexample"
        };
        let path = if property.expectation == Expectation::Always {
            trace::up_to_first_violation(model, path, property.name)
        } else {
            path.clone()
        };
        println!();
        println!("{kind} for \"{}\":", property.name);
        print!("{}", trace::render(model, &path));
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
