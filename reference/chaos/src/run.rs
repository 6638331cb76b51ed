//! One run: the system started, the plan's timeline carried out, then the convergence check.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::clients::{self, Imap, Listing};
use crate::schedule::{Change, Event, MAILBOXES, Plan};
use crate::world::{ACCOUNT, PASSWORD, USER, World};

/// How long the changes still under way when the faults stop may take to answer.
const SETTLE: Duration = Duration::from_secs(20);

/// What every run shares.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `mailpush` binary the components run as.
    pub binary: PathBuf,
    /// Where each run's directory (`seed-<S>`) is made.
    pub logs: PathBuf,
    /// Length of the fault phase, milliseconds.
    pub faults_ms: u64,
    /// The convergence bound.
    pub bound: Duration,
    /// Keep the directories of runs that passed.
    pub keep: bool,
}

/// What a run found.
#[derive(Debug)]
pub struct Outcome {
    /// The plan it carried out.
    pub plan: Plan,
    /// How long convergence took after the faults stopped, or why the run failed.
    pub result: Result<Duration, String>,
    /// The run's directory (removed when it passed, unless kept).
    pub dir: PathBuf,
}

/// What the runner did, with times, for `runner.log`.
#[derive(Clone)]
struct Journal(Arc<Mutex<String>>, Instant);

impl Journal {
    fn note(&self, what: impl std::fmt::Display) {
        if let Ok(mut text) = self.0.lock() {
            let _ = writeln!(text, "+{} ms {what}", self.1.elapsed().as_millis());
        }
    }

    fn save(&self, path: &Path) {
        if let Ok(text) = self.0.lock() {
            let _ = std::fs::write(path, text.as_bytes());
        }
    }
}

/// Carries out `plan`: the directory, the system, the timeline, the check.
pub async fn run(plan: Plan, options: &Options) -> Outcome {
    let dir = options.logs.join(format!("seed-{}", plan.seed));
    let journal = Journal(Arc::default(), Instant::now());
    let result = match prepare(&dir, &plan) {
        Ok(()) => carry_out(&plan, options, &dir, &journal).await,
        Err(e) => Err(e),
    };
    match &result {
        Ok(elapsed) => journal.note(format_args!("converged in {} ms", elapsed.as_millis())),
        Err(e) => journal.note(format_args!("FAILED: {e}")),
    }
    journal.save(&dir.join("runner.log"));
    if result.is_ok() && !options.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Outcome { plan, result, dir }
}

fn prepare(dir: &Path, plan: &Plan) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::write(dir.join("schedule.txt"), format!("{plan:#?}\n"))
        .map_err(|e| format!("cannot write the schedule: {e}"))
}

async fn carry_out(
    plan: &Plan,
    options: &Options,
    dir: &Path,
    journal: &Journal,
) -> Result<Duration, String> {
    let mut world = World::start(dir, &options.binary, plan)
        .await
        .map_err(|e| format!("setting up: {e}"))?;
    journal.note("every device ready");
    let result = faults_then_check(plan, options, &mut world, journal).await;
    world.stop().await;
    let elapsed = result?;
    let summary = crate::validate::check(dir, plan, &world.killed)?;
    journal.note(format_args!(
        "trace valid: {} events, {} restarts",
        summary.events, summary.restarts
    ));
    Ok(elapsed)
}

async fn faults_then_check(
    plan: &Plan,
    options: &Options,
    world: &mut World,
    journal: &Journal,
) -> Result<Duration, String> {
    let start = tokio::time::Instant::now();
    let mut changes = tokio::task::JoinSet::new();
    for (index, timed) in plan.timeline.iter().enumerate() {
        tokio::time::sleep_until(start + Duration::from_millis(timed.at_ms)).await;
        journal.note(format_args!("{:?}", timed.event));
        let choice = plan.seed ^ ((index as u64 + 1) << 40);
        match timed.event {
            Event::DeviceChange {
                device,
                mailbox,
                change,
            } => {
                let socket = world.socket(device);
                let journal = journal.clone();
                changes.spawn(async move {
                    let what = format!("device {device} {change:?} {}", MAILBOXES[mailbox]);
                    match device_change(&socket, MAILBOXES[mailbox], change, choice).await {
                        Ok(done) => journal.note(format_args!("{what}: {done}")),
                        Err(e) => journal.note(format_args!("{what} failed: {e}")),
                    }
                });
            }
            Event::ServerChange { mailbox, change } => {
                let imap = world.imap;
                let journal = journal.clone();
                changes.spawn(async move {
                    let what = format!("server {change:?} {}", MAILBOXES[mailbox]);
                    match server_change(imap, MAILBOXES[mailbox], change, choice).await {
                        Ok(done) => journal.note(format_args!("{what}: {done}")),
                        Err(e) => journal.note(format_args!("{what} failed: {e}")),
                    }
                });
            }
            Event::Kill(component) => {
                world.kill_for_restart(component).await;
                // The instant the trace validation takes as the restart (`--restart` of
                // `mailpush-model validate`).
                if let Some((time_us, _)) = world.killed.last() {
                    journal.note(format_args!("{component:?} dead at {time_us} us"));
                }
            }
            Event::Restart(component) => world.launch(component)?,
            Event::Cut(device) => world.proxies[device].cut(),
            Event::Stall(device) => world.proxies[device].stall(),
            Event::Resume(device) => world.proxies[device].resume(),
            Event::Offline(device) => world.proxies[device].offline(),
            Event::Online(device) => world.proxies[device].online(),
        }
    }
    tokio::time::sleep_until(start + Duration::from_millis(options.faults_ms)).await;
    journal.note("faults stop");
    world.wait_listening().await?;
    // Changes whose answers are still on the way (a DA in its retry delay) end first: the
    // bound counts from a system that nobody changes any more.
    let settled = tokio::time::timeout(SETTLE, async {
        while changes.join_next().await.is_some() {}
    })
    .await;
    if settled.is_err() {
        changes.abort_all();
        journal.note("changes still unanswered; given up");
    }
    if let Some(exited) = world.exited() {
        return Err(exited);
    }
    journal.note("quiescent: checking convergence");
    converge(plan, options.bound, world).await
}

/// Polls until every device's view of every mailbox equals the server's, or the bound passes.
async fn converge(plan: &Plan, bound: Duration, world: &mut World) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let differences = differences(plan, world).await;
        if differences.is_empty() {
            return Ok(start.elapsed());
        }
        if let Some(exited) = world.exited() {
            return Err(exited);
        }
        if start.elapsed() > bound {
            return Err(format!(
                "not converged {} s after the faults stopped:\n    {}",
                bound.as_secs_f64(),
                differences.join("\n    ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn differences(plan: &Plan, world: &World) -> Vec<String> {
    let mut server = match Imap::connect(world.imap, USER, PASSWORD).await {
        Ok(imap) => imap,
        Err(e) => return vec![format!("server: {e}")],
    };
    let mut out = Vec::new();
    for mailbox in MAILBOXES {
        let truth = match server.listing(mailbox).await {
            Ok(listing) => listing,
            Err(e) => {
                out.push(format!("server {mailbox}: {e}"));
                continue;
            }
        };
        for device in 0..plan.devices {
            match clients::view(&world.socket(device), ACCOUNT, mailbox).await {
                Ok(view) if view == truth => {}
                Ok(view) => out.push(format!(
                    "device {device} {mailbox}: {}",
                    describe(&truth, &view)
                )),
                Err(e) => out.push(format!("device {device} {mailbox}: {e}")),
            }
        }
    }
    out
}

/// How a view differs from the server's listing, in a line.
fn describe(truth: &Listing, view: &Listing) -> String {
    if truth.uid_validity != view.uid_validity {
        return format!(
            "UIDVALIDITY {} on the server, {} in the view",
            truth.uid_validity, view.uid_validity
        );
    }
    let uids = |l: &Listing| l.messages.iter().map(|m| m.0).collect::<Vec<_>>();
    let missing: Vec<u32> = uids(truth)
        .into_iter()
        .filter(|u| !view.messages.iter().any(|m| m.0 == *u))
        .collect();
    let extra: Vec<u32> = uids(view)
        .into_iter()
        .filter(|u| !truth.messages.iter().any(|m| m.0 == *u))
        .collect();
    let flags: Vec<String> = truth
        .messages
        .iter()
        .filter_map(|(uid, f)| {
            let seen = view.messages.iter().find(|m| m.0 == *uid)?;
            (seen.1 != *f).then(|| format!("UID {uid} {:?} on the server, {:?} seen", f, seen.1))
        })
        .collect();
    format!("missing UIDs {missing:?}, UIDs gone from the server {extra:?}, flags {flags:?}")
}

fn message(choice: u64) -> String {
    format!("From: chaos@example.org\r\nSubject: change {choice:x}\r\n\r\nA change.\r\n")
}

/// One UID of a listing, chosen by `choice`.
fn pick(listing: &Listing, choice: u64) -> Option<u32> {
    if listing.messages.is_empty() {
        return None;
    }
    let index = StdRng::seed_from_u64(choice).gen_range(0..listing.messages.len());
    Some(listing.messages[index].0)
}

async fn device_change(
    socket: &Path,
    mailbox: &str,
    change: Change,
    choice: u64,
) -> Result<String, String> {
    let target = json!({"account": ACCOUNT, "mailbox": mailbox});
    let with = |extra: serde_json::Value| {
        let mut args = target.clone();
        if let (Some(args), serde_json::Value::Object(extra)) = (args.as_object_mut(), extra) {
            args.extend(extra);
        }
        args
    };
    if change == Change::Append {
        let content = base64::engine::general_purpose::STANDARD.encode(message(choice));
        let answer =
            clients::api(socket, "append", with(json!({"content_base64": content}))).await?;
        return Ok(format!("UID {}", answer["uid"]));
    }
    let view = clients::view(socket, ACCOUNT, mailbox).await?;
    let Some(uid) = pick(&view, choice) else {
        return Ok("nothing to change".into());
    };
    let args = json!({"uid_validity": view.uid_validity, "uids": [uid]});
    let (op, args) = match change {
        Change::Expunge => ("expunge", with(args)),
        _ => {
            let direction = if change == Change::Unflag {
                "remove"
            } else {
                "add"
            };
            let mut args = with(args);
            if let Some(args) = args.as_object_mut() {
                args.insert("change".into(), json!(direction));
                args.insert("flags".into(), json!(["\\Flagged"]));
            }
            ("store", args)
        }
    };
    clients::api(socket, op, args).await?;
    Ok(format!("UID {uid}"))
}

async fn server_change(
    imap: std::net::SocketAddr,
    mailbox: &str,
    change: Change,
    choice: u64,
) -> Result<String, String> {
    let mut imap = Imap::connect(imap, USER, PASSWORD).await?;
    if change == Change::Append {
        imap.append(mailbox, &message(choice)).await?;
        return Ok("appended".into());
    }
    let listing = imap.listing(mailbox).await?;
    let Some(uid) = pick(&listing, choice) else {
        return Ok("nothing to change".into());
    };
    imap.command(&format!("SELECT {mailbox}")).await?;
    let commands = match change {
        Change::Flag => vec![format!("UID STORE {uid} +FLAGS (\\Flagged)")],
        Change::Unflag => vec![format!("UID STORE {uid} -FLAGS (\\Flagged)")],
        _ => vec![
            format!("UID STORE {uid} +FLAGS (\\Deleted)"),
            format!("UID EXPUNGE {uid}"),
        ],
    };
    for command in commands {
        imap.command(&command).await?;
    }
    Ok(format!("UID {uid}"))
}
