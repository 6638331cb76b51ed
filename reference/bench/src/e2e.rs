//! `mailpush bench e2e`: the end-to-end latency of the patent's path on loopback. The mail server
//! and the push server of this project run in this process; K device-channel connections are
//! open (K - 1 idle ones and device B, a device daemon of the `mailpush-device` library run in
//! this process); device A is an IMAP client that APPENDs a note. One sample is the time from
//! A's APPEND being sent until B's daemon reports the note in its view (`view-changed` on its
//! local API: the notification arrived on its channel, it woke the DA, and the DA's sync over
//! IMAP ended and was committed to its SQLite database).
//!
//! The components' shares come from their protocol trace (spec/trace.md, kept in memory): when
//! the mail server wrote `push-request`, when the push server wrote `deliver` to device B. With
//! `--relays` the wire tells the same story at loopback relays (see [`relay`]) between the mail
//! server and the provider API, and between device B and the device channel: when the provider
//! request left the mail server, when the push server answered it, and when the frame reached
//! device B. The relays are off by default because each adds a hop of its own (a task that
//! reads and writes again) to the path it measures. In
//! the same run, device B learns of changes by IMAP IDLE against Debian's
//! Dovecot instead (an IMAP client in IDLE that, on `EXISTS`, ends IDLE and fetches the new
//! messages), for comparison.

mod client;
mod relay;
mod setup;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mailpush_trace::{Event, EventKind};
use tokio::sync::mpsc;

use crate::BenchError;
use crate::imap::percentile;
use client::{Client, after, note};

/// Options of `mailpush bench e2e`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchE2eArgs {
    /// Device-channel connections open during the measurement, device B included.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Isolated notes measured (each `--gap-ms` after the previous one, so each is pushed at
    /// once: a leading send of PROV-19).
    #[arg(long, default_value_t = 100)]
    pub notes: usize,
    /// Bursts measured (each `--gap-ms` after the previous one).
    #[arg(long, default_value_t = 20)]
    pub bursts: usize,
    /// Notes per burst, appended back to back.
    #[arg(long, default_value_t = 5)]
    pub burst_len: usize,
    /// The mail server's burst allowance (PROV-19, 1..=16): the first this many notes of a
    /// burst are pushed at once, the rest together `quiet` after the last of them.
    #[arg(long, default_value_t = mailpush_mail_server::driver::PushSettings::new("", None).notifier.burst)]
    pub push_burst: u32,
    /// Pause before each isolated note and each burst, in milliseconds; above the mail
    /// server's `quiet` (250 ms) so that each starts isolated.
    #[arg(long, default_value_t = 400)]
    pub gap_ms: u64,
    /// Skip the comparison with IMAP IDLE against Debian's Dovecot.
    #[arg(long)]
    pub no_dovecot: bool,
    /// Put loopback relays on the provider-API and device-channel links and report when the
    /// request, the answer and the frame passed them; each relay lengthens the path it watches.
    #[arg(long)]
    pub relays: bool,
}

/// Open files allowed per process on the machine the figures were taken on; the bench refuses
/// a device count that could not fit (two descriptors per connection: both ends are here).
const MAX_OPEN_FILES: usize = 20_000;

/// Runs the benchmark and prints its report.
pub async fn run_bench(args: BenchE2eArgs) -> Result<(), BenchError> {
    if args.devices < 1 || args.devices * 2 + 200 > MAX_OPEN_FILES {
        return Err(BenchError::Options(format!(
            "--devices {} needs about {} open files; this bench allows 1..={}",
            args.devices,
            args.devices * 2 + 200,
            (MAX_OPEN_FILES - 200) / 2
        )));
    }
    if args.notes == 0 || args.burst_len == 0 {
        return Err(BenchError::Options(
            "--notes and --burst-len must be at least 1".into(),
        ));
    }
    let mut notifier = mailpush_mail_server::driver::PushSettings::new("", None).notifier;
    notifier.burst = args.push_burst;
    notifier
        .validate()
        .map_err(|e| BenchError::Options(format!("--push-burst: {e}")))?;
    println!("machine: {}", setup::machine());
    println!("load average at start: {}", crate::load_average());
    let dir = tempfile::tempdir()?;
    let mut system =
        setup::System::start(dir.path(), args.devices, args.push_burst, args.relays).await?;
    println!(
        "{} device connections established; open files of this process: {}",
        args.devices,
        setup::open_files()
    );

    let mut a = Client::login(system.imap_addr(), setup::USER, setup::PASSWORD).await?;
    let push = measure_push(&args, &mut a, &mut system).await?;
    drop(a);
    push.print();
    if !args.no_dovecot {
        let idle = measure_dovecot(&args).await?;
        idle.print("IMAP IDLE against Dovecot", args.push_burst);
    }
    println!("load average at end: {}", crate::load_average());
    system.stop().await;
    Ok(())
}

/// Latencies of one kind of sample.
#[derive(Default)]
struct Series(Vec<Duration>);

impl Series {
    fn line(&self, name: &str) -> String {
        let mut sorted = self.0.clone();
        sorted.sort();
        format!(
            "{name:<44} n={:<4} p50={:>9.3} ms  p99={:>9.3} ms  max={:>9.3} ms",
            sorted.len(),
            ms(percentile(&sorted, 0.50)),
            ms(percentile(&sorted, 0.99)),
            ms(sorted.last().copied().unwrap_or_default()),
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Isolated notes, and the notes of bursts within and beyond the burst allowance.
#[derive(Default)]
struct Figures {
    isolated: Series,
    burst_leading: Series,
    burst_trailing: Series,
}

impl Figures {
    fn print(&self, title: &str, push_burst: u32) {
        println!("\n{title}: a note appended on device A until device B has synced it");
        println!("{}", self.isolated.line("isolated note"));
        println!(
            "{}",
            self.burst_leading
                .line(&format!("burst: notes 1..={push_burst}"))
        );
        println!(
            "{}",
            self.burst_trailing
                .line(&format!("burst: notes {}..", push_burst.saturating_add(1)))
        );
    }
}

/// The points of one isolated note, as offsets from its APPEND being sent.
struct Points {
    ok: Duration,
    synced: Duration,
    /// When the relays saw the request, the answer and the frame (`--relays`).
    wire: Option<Wire>,
}

/// One column of the table of points: a point of a note, if it was observed.
type Column = fn(&Points) -> Option<Duration>;

struct Wire {
    request: Duration,
    accepted: Duration,
    frame: Duration,
}

/// The protocol events (spec/trace.md) of one isolated note's path, in the order it takes
/// them, with what each shows.
const TRACE_POINTS: [(EventKind, &str); 6] = [
    (
        EventKind::MailboxChange,
        "mailbox-change (mail server: APPEND committed)",
    ),
    (
        EventKind::PushRequest,
        "push-request (mail server: request to push)",
    ),
    (
        EventKind::PushAccepted,
        "push-accepted (push server: held for B)",
    ),
    (EventKind::Deliver, "deliver (push server: frame sent to B)"),
    (EventKind::Forward, "forward (B's mail client wakes the DA)"),
    (EventKind::Sync, "sync (B's DA: sync committed)"),
];

/// When each of [`TRACE_POINTS`] was written after one isolated note's APPEND was sent, and
/// when device B reported the note; `None` for an event the trace does not hold in the window.
struct TracedNote {
    points: [Option<Duration>; TRACE_POINTS.len()],
    synced: Duration,
}

impl TracedNote {
    /// The note's events: for each kind, the first written from `sent_us` (the system clock the
    /// trace uses, read as the APPEND was sent) until `synced` later, with 2 ms of slack for a
    /// line written just after the event it records.
    fn find(events: &[Event], sent_us: u64, synced: Duration) -> Self {
        let end = sent_us
            .saturating_add(u64::try_from(synced.as_micros()).unwrap_or(u64::MAX))
            .saturating_add(2_000);
        let mut points = [None; TRACE_POINTS.len()];
        for (point, (kind, _)) in points.iter_mut().zip(TRACE_POINTS) {
            *point = events
                .iter()
                .find(|e| e.record.kind == kind && (sent_us..=end).contains(&e.time_us))
                .map(|e| Duration::from_micros(e.time_us - sent_us));
        }
        Self { points, synced }
    }
}

struct PushFigures {
    figures: Figures,
    points: Vec<Points>,
    traced: Vec<TracedNote>,
    push_burst: u32,
}

impl PushFigures {
    fn print(&self) {
        self.figures.print(
            "Push (mailpush mail server, push server, device daemon)",
            self.push_burst,
        );
        let column = |f: Column| {
            let mut v: Vec<Duration> = self.points.iter().filter_map(f).collect();
            v.sort();
            (percentile(&v, 0.5), percentile(&v, 0.99))
        };
        let wired = self.points.iter().all(|p| p.wire.is_some());
        println!(
            "\nisolated notes, when each point is reached after the APPEND is sent (p50 / p99):"
        );
        let mut rows: Vec<(&str, Column)> =
            vec![("APPEND tagged OK (mail server committed)", |p| Some(p.ok))];
        if wired {
            rows.push(("provider request sent (relay)", |p| {
                p.wire.as_ref().map(|w| w.request)
            }));
            rows.push(("push server answered 201 (relay)", |p| {
                p.wire.as_ref().map(|w| w.accepted)
            }));
            rows.push(("frame delivered to device B (relay)", |p| {
                p.wire.as_ref().map(|w| w.frame)
            }));
        }
        rows.push(("device B synced (view-changed)", |p| Some(p.synced)));
        for (name, f) in rows {
            let (p50, p99) = column(f);
            println!("  {name:<44} {:>9.3} ms / {:>9.3} ms", ms(p50), ms(p99));
        }
        if wired {
            let total: f64 = self.points.iter().map(|p| p.synced.as_secs_f64()).sum();
            let share = |f: fn(&Points, &Wire) -> Duration| {
                let part: f64 = self
                    .points
                    .iter()
                    .filter_map(|p| p.wire.as_ref().map(|w| f(p, w).as_secs_f64()))
                    .sum();
                100.0 * part / total.max(1e-12)
            };
            println!("share of the total time, from the relays (sum over isolated notes):");
            println!(
                "  mail server (APPEND sent to provider request sent)      {:>5.1} %",
                share(|_, w| w.request)
            );
            println!(
                "  push server (request received to frame delivered)       {:>5.1} %",
                share(|_, w| w.frame.saturating_sub(w.request))
            );
            println!(
                "  device B (frame delivered to sync committed)            {:>5.1} %",
                share(|p, w| p.synced.saturating_sub(w.frame))
            );
        }
        self.print_traced();
    }

    /// The same path as the protocol trace of the components tells it.
    fn print_traced(&self) {
        let complete: Vec<&TracedNote> = self
            .traced
            .iter()
            .filter(|n| n.points.iter().all(Option::is_some))
            .collect();
        println!(
            "\nisolated notes, from the protocol trace: when each event was written after the \
             APPEND was sent (p50 / p99; {} of {} notes with every event)",
            complete.len(),
            self.traced.len()
        );
        for (i, (_, name)) in TRACE_POINTS.iter().enumerate() {
            let mut v: Vec<Duration> = complete.iter().filter_map(|n| n.points[i]).collect();
            v.sort();
            println!(
                "  {name:<47} {:>9.3} ms / {:>9.3} ms",
                ms(percentile(&v, 0.5)),
                ms(percentile(&v, 0.99))
            );
        }
        let at = |n: &TracedNote, kind: EventKind| {
            TRACE_POINTS
                .iter()
                .position(|(k, _)| *k == kind)
                .and_then(|i| n.points[i])
                .unwrap_or_default()
        };
        let total: f64 = complete.iter().map(|n| n.synced.as_secs_f64()).sum();
        let share = |f: &dyn Fn(&TracedNote) -> Duration| {
            100.0 * complete.iter().map(|n| f(n).as_secs_f64()).sum::<f64>() / total.max(1e-12)
        };
        println!("share of the total time, from the trace (sum over those notes):");
        println!(
            "  mail server (APPEND sent to push-request)               {:>5.1} %",
            share(&|n| at(n, EventKind::PushRequest))
        );
        println!(
            "  push server (push-request to deliver)                   {:>5.1} %",
            share(&|n| at(n, EventKind::Deliver).saturating_sub(at(n, EventKind::PushRequest)))
        );
        println!(
            "  device B (deliver to view-changed)                      {:>5.1} %",
            share(&|n| n.synced.saturating_sub(at(n, EventKind::Deliver)))
        );
    }
}

/// Waits until device B's view holds `uid`; when it did.
async fn synced(
    events: &mut mpsc::UnboundedReceiver<(Vec<u32>, Instant)>,
    seen: &mut HashMap<u32, Instant>,
    uid: u32,
) -> Result<Instant, BenchError> {
    loop {
        if let Some(at) = seen.remove(&uid) {
            return Ok(at);
        }
        let (uids, at) = tokio::time::timeout(client::WAIT, events.recv())
            .await
            .map_err(|_| BenchError::Push(format!("device B never synced UID {uid}")))?
            .ok_or_else(|| BenchError::Push("device B stopped".into()))?;
        for u in uids {
            seen.insert(u, at);
        }
    }
}

/// Bursts of `--burst-len` notes appended back to back, `--gap-ms` apart: each note's time
/// until device B has synced it, the first `--push-burst` of each burst apart from the others.
async fn bursts(
    args: &BenchE2eArgs,
    a: &mut Client,
    events: &mut mpsc::UnboundedReceiver<(Vec<u32>, Instant)>,
    seen: &mut HashMap<u32, Instant>,
    figures: &mut Figures,
) -> Result<(), BenchError> {
    for b in 0..args.bursts {
        tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
        let mut sent = Vec::with_capacity(args.burst_len);
        for j in 0..args.burst_len {
            let at = Instant::now();
            sent.push((at, a.append("Notes", &note(10_000 + b * 100 + j)).await?));
        }
        for (j, (at, uid)) in sent.into_iter().enumerate() {
            let done = synced(events, seen, uid).await?;
            let series = if j < args.push_burst as usize {
                &mut figures.burst_leading
            } else {
                &mut figures.burst_trailing
            };
            series.0.push(after(done, at));
        }
    }
    Ok(())
}

async fn measure_push(
    args: &BenchE2eArgs,
    a: &mut Client,
    system: &mut setup::System,
) -> Result<PushFigures, BenchError> {
    let gap = Duration::from_millis(args.gap_ms);
    let mut seen = HashMap::new();
    let mut figures = Figures::default();
    let mut points = Vec::new();
    let mut windows = Vec::new();
    // One warm-up note: connections of the pool and of the DA are open and warm.
    tokio::time::sleep(gap).await;
    let uid = a.append("Notes", &note(0)).await?;
    synced(&mut system.events, &mut seen, uid).await?;
    for i in 0..args.notes {
        tokio::time::sleep(gap).await;
        if let Some(relays) = &system.relays {
            relays.provider.clear();
            relays.channel.clear();
        }
        let sent_us = mailpush_trace::system_clock();
        let sent = Instant::now();
        let uid = a.append("Notes", &note(i + 1)).await?;
        let ok = Instant::now();
        let done = synced(&mut system.events, &mut seen, uid).await?;
        figures.isolated.0.push(after(done, sent));
        windows.push((sent_us, after(done, sent)));
        let wire = system.relays.as_ref().map(|relays| {
            let request = relays.provider.first_upstream(sent).unwrap_or(sent);
            let accepted = relays.provider.first_downstream(request).unwrap_or(request);
            let frame = relays.channel.first_downstream(sent).unwrap_or(done);
            Wire {
                request: after(request, sent),
                accepted: after(accepted, sent),
                frame: after(frame, sent),
            }
        });
        points.push(Points {
            ok: after(ok, sent),
            synced: after(done, sent),
            wire,
        });
    }
    let events = system.trace.take()?;
    let traced = windows
        .into_iter()
        .map(|(sent_us, synced)| TracedNote::find(&events, sent_us, synced))
        .collect();
    bursts(args, a, &mut system.events, &mut seen, &mut figures).await?;
    Ok(PushFigures {
        figures,
        points,
        traced,
        push_burst: args.push_burst,
    })
}

/// Device B on Dovecot: IDLE until `EXISTS` grows, then DONE and a fetch of the new messages;
/// reports the UIDs fetched and when the fetch ended.
async fn idle_reader(
    mut b: Client,
    mut known: u32,
    synced: mpsc::UnboundedSender<(Vec<u32>, Instant)>,
) -> Result<(), BenchError> {
    loop {
        let exists = b.idle_until_more_than(known).await?;
        let uids = b.fetch_uids(known + 1, exists).await?;
        let at = Instant::now();
        known = exists;
        if synced.send((uids, at)).is_err() {
            return Ok(());
        }
    }
}

async fn measure_dovecot(args: &BenchE2eArgs) -> Result<Figures, BenchError> {
    use mailpush_testkit::interop::{Dovecot, DovecotOptions};
    let dovecot = Dovecot::start(DovecotOptions::default())
        .await
        .map_err(|e| BenchError::Push(format!("Dovecot: {e}")))?;
    let user = dovecot.users()[0].clone();
    let addr = dovecot.imap_addr();
    let mut a = Client::login(addr, &user.user, &user.password).await?;
    let mut b = Client::login(addr, &user.user, &user.password).await?;
    let known = b.select("Notes").await?;
    let (tx, mut events) = mpsc::unbounded_channel();
    let reader = tokio::spawn(idle_reader(b, known, tx));
    let gap = Duration::from_millis(args.gap_ms);
    let mut seen = HashMap::new();
    let mut figures = Figures::default();
    tokio::time::sleep(gap).await;
    let uid = a.append("Notes", &note(0)).await?;
    synced(&mut events, &mut seen, uid).await?;
    for i in 0..args.notes {
        tokio::time::sleep(gap).await;
        let sent = Instant::now();
        let uid = a.append("Notes", &note(i + 1)).await?;
        let done = synced(&mut events, &mut seen, uid).await?;
        figures.isolated.0.push(after(done, sent));
    }
    bursts(args, &mut a, &mut events, &mut seen, &mut figures).await?;
    reader.abort();
    Ok(figures)
}
