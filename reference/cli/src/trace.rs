//! `mailpush trace`: check, merge and draw protocol traces (spec/trace.md).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use mailpush_trace::render::{RenderOptions, render_html, selected};
use mailpush_trace::{Event, Label, Limits, MergeError, ReadError, merge, read_all, write_events};

/// Arguments of `mailpush trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(subcommand)]
    action: TraceAction,
}

#[derive(Debug, Subcommand)]
enum TraceAction {
    /// Draw a trace as a message sequence chart: a self-contained HTML file (inline SVG, no
    /// network), one lane per component, hover text with the spec IDs.
    Render {
        /// The trace (JSON lines, spec/trace.md).
        trace: PathBuf,
        /// Where to write the chart.
        #[arg(short, long)]
        output: PathBuf,
        /// The most events drawn; a longer trace is cut, and the chart says so.
        #[arg(long, default_value_t = 5000)]
        max_events: usize,
        /// Draw only this device (its label in the trace); repeat for several, in the order of
        /// their lanes: the first half left of the servers, the rest on the right. Default:
        /// every device, in order of first appearance.
        #[arg(long = "device", value_name = "LABEL", value_parser = parse_label)]
        devices: Vec<Label>,
    },
    /// Merge the traces of several components into one, in time order.
    Merge {
        /// The traces.
        #[arg(required = true)]
        traces: Vec<PathBuf>,
        /// Where to write the merged trace.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Check that a trace follows spec/trace.md; prints how many events of each kind it holds.
    Check {
        /// The trace.
        trace: PathBuf,
    },
    /// Replay a merged trace against the protocol's model (model/README.md, "Trace validation").
    /// Exits 0 when every event is a legal step, 1 with the first illegal event explained, and 2
    /// when the trace cannot be read or is malformed.
    Validate {
        /// The merged trace of every component.
        trace: PathBuf,
        /// The push server's ring capacity N (its `--ring-capacity`) when the trace was written.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        ring: u64,
        /// A component killed and started again while the trace was written, as
        /// TIME_US:COMPONENT[:DEVICE] (a device's component names its trace label); repeatable.
        /// `mailpush chaos --keep` lists a run's restarts in its `schedule.txt`.
        #[arg(long = "restart", value_name = "TIME_US:COMPONENT[:DEVICE]")]
        restarts: Vec<mailpush_model::validate::Restart>,
    },
}

fn parse_label(text: &str) -> Result<Label, String> {
    Label::new(text).map_err(|e| e.to_string())
}

/// What can go wrong in `mailpush trace`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// A trace file could not be opened.
    #[error("cannot open trace {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A trace is malformed.
    #[error("{path}: {source}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The fault, with its line.
        source: ReadError,
    },
    /// Traces could not be merged.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// The trace is well formed but not a behaviour of the model: the first illegal event.
    #[error("{path}: not a behaviour of the model\n{violation}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The first illegal event, the state before it and what was enabled.
        violation: Box<mailpush_model::validate::Violation>,
    },
    /// The trace to validate could not be read or is malformed (exit code 2, not 1, so that a
    /// trace that breaks the model is told apart from one that could not be replayed).
    #[error(transparent)]
    Unreplayable(Box<TraceError>),
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

fn open(path: &Path) -> Result<BufReader<File>, TraceError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| TraceError::Open {
            path: path.to_owned(),
            source,
        })
}

pub(crate) fn read(path: &Path) -> Result<Vec<Event>, TraceError> {
    read_all(open(path)?, Limits::default()).map_err(|source| TraceError::Malformed {
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn write_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), TraceError> {
    let error = |source| TraceError::Write {
        path: path.to_owned(),
        source,
    };
    let mut out = BufWriter::new(File::create(path).map_err(error)?);
    write(&mut out).map_err(error)?;
    out.flush().map_err(error)
}

impl TraceError {
    /// The process's exit code for this error: 2 for a trace `validate` could not replay, 1
    /// otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            TraceError::Unreplayable(_) => 2,
            _ => 1,
        }
    }
}

/// Runs `mailpush trace`.
pub fn run(args: TraceArgs) -> Result<(), TraceError> {
    match args.action {
        TraceAction::Render {
            trace,
            output,
            max_events,
            devices,
        } => {
            let events = read(&trace)?;
            let options = RenderOptions {
                title: format!(
                    "mailpush trace: {}",
                    trace.file_name().map_or_else(
                        || trace.display().to_string(),
                        |n| n.to_string_lossy().into_owned()
                    )
                ),
                max_events,
                devices,
            };
            let html = render_html(&events, &options);
            write_file(&output, |out| out.write_all(html.as_bytes()))?;
            println!(
                "{}: {} events drawn",
                output.display(),
                selected(&events, &options).len().min(max_events)
            );
            Ok(())
        }
        TraceAction::Merge { traces, output } => {
            let mut inputs = Vec::with_capacity(traces.len());
            for path in &traces {
                inputs.push((path.display().to_string(), open(path)?));
            }
            let events = merge(inputs, Limits::default())?;
            write_file(&output, |out| write_events(out, &events))?;
            println!("{}: {} events", output.display(), events.len());
            Ok(())
        }
        TraceAction::Check { trace } => {
            let events = read(&trace)?;
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for event in &events {
                let name = event.record.kind.as_str();
                match counts.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, count)) => *count += 1,
                    None => counts.push((name, 1)),
                }
            }
            println!("{}: {} events, well formed", trace.display(), events.len());
            for (name, count) in counts {
                println!("  {name:<16} {count}");
            }
            Ok(())
        }
        TraceAction::Validate {
            trace,
            ring,
            restarts,
        } => {
            let events = read(&trace).map_err(|e| TraceError::Unreplayable(Box::new(e)))?;
            let ring = usize::try_from(ring).unwrap_or(usize::MAX);
            let summary = mailpush_model::validate::ModelReplay::new(ring)
                .with_restarts(restarts)
                .validate(&events)
                .map_err(|violation| TraceError::Invalid {
                    path: trace.clone(),
                    violation,
                })?;
            print!(
                "{}: {}",
                trace.display(),
                mailpush_model::validate::report(&summary)
            );
            Ok(())
        }
    }
}
