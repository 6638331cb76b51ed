//! The demo's protocol trace (spec/trace.md): every component it starts writes its own trace file
//! in the demo's directory; at the end they are merged into one, each device named by its letter
//! in every event (TRACE-12), and written out or drawn as a sequence chart.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use mailpush_trace::render::{RenderOptions, render_html, selected};
use mailpush_trace::{Component, Event, Label, Limits, Tracer, merge, name_devices};

use super::DemoError;

/// One component's trace file and the tracer that writes it.
#[derive(Debug, Clone)]
pub struct Recorder {
    path: PathBuf,
    tracer: Tracer,
}

impl Recorder {
    /// A tracer for `component` appending to `dir/trace-<name>.jsonl`.
    pub fn open(dir: &Path, name: &str, component: Component) -> Result<Self, DemoError> {
        let path = dir.join(format!("trace-{name}.jsonl"));
        let tracer = Tracer::append_to_file(component, None, &path)
            .map_err(|e| DemoError::Start(format!("trace {}: {e}", path.display())))?;
        Ok(Self { path, tracer })
    }

    /// The tracer to hand to the component.
    pub fn tracer(&self) -> Tracer {
        self.tracer.clone()
    }
}

/// Where the merged trace and its chart go.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// `--trace`: the merged trace, JSON lines.
    pub trace: Option<PathBuf>,
    /// `--report`: the chart, one HTML file.
    pub report: Option<PathBuf>,
}

impl Outputs {
    /// Whether the components must write traces at all.
    pub fn wanted(&self) -> bool {
        self.trace.is_some() || self.report.is_some()
    }
}

fn trace_error(path: &Path, e: impl std::fmt::Display) -> DemoError {
    DemoError::Trace(format!("{}: {e}", path.display()))
}

fn from_trace_tool(e: crate::trace::TraceError) -> DemoError {
    DemoError::Trace(e.to_string())
}

/// Merges the servers' and the devices' traces into one, each device under its letter.
pub fn collect(
    servers: &[&Recorder],
    devices: &[(&str, &Recorder)],
) -> Result<Vec<Event>, DemoError> {
    let mut inputs = Vec::new();
    for recorder in servers.iter().chain(devices.iter().map(|(_, r)| r)) {
        // A write error stopped that tracer (a trace with a hole would mislead): say so.
        recorder
            .tracer
            .flush()
            .map_err(|e| trace_error(&recorder.path, e))?;
        let file = File::open(&recorder.path).map_err(|e| trace_error(&recorder.path, e))?;
        inputs.push((recorder.path.display().to_string(), BufReader::new(file)));
    }
    let mut events =
        merge(inputs, Limits::default()).map_err(|e| DemoError::Trace(e.to_string()))?;
    let mut own = Vec::with_capacity(devices.len());
    for (name, recorder) in devices {
        let label =
            Label::new(name).map_err(|e| DemoError::Trace(format!("device name {name}: {e}")))?;
        own.push((
            label,
            crate::trace::read(&recorder.path).map_err(from_trace_tool)?,
        ));
    }
    //= spec/trace.md#TRACE-12
    //# It
    //# learns which label is which device's from each device's own trace, written without a label of its
    //# own and so under the servers' label
    name_devices(
        &mut events,
        own.iter()
            .map(|(label, events)| (label.clone(), events.as_slice())),
    )
    .map_err(|e| DemoError::Trace(e.to_string()))?;
    Ok(events)
}

/// Writes the merged trace and the chart where asked; returns what to tell the user.
pub fn write(
    events: &[Event],
    devices: &[&str],
    outputs: &Outputs,
    title: &str,
) -> Result<Vec<String>, DemoError> {
    let mut said = Vec::new();
    if let Some(path) = &outputs.trace {
        crate::trace::write_file(path, |out| mailpush_trace::write_events(out, events))
            .map_err(from_trace_tool)?;
        said.push(format!(
            "trace: {} ({} events; `mailpush trace validate` replays it against the model)",
            path.display(),
            events.len()
        ));
    }
    if let Some(path) = &outputs.report {
        let options = RenderOptions {
            title: title.to_owned(),
            devices: devices
                .iter()
                .filter_map(|name| Label::new(name).ok())
                .collect(),
            ..RenderOptions::default()
        };
        let html = render_html(events, &options);
        crate::trace::write_file(path, |out| out.write_all(html.as_bytes()))
            .map_err(from_trace_tool)?;
        said.push(format!(
            "sequence chart: {} ({} events drawn)",
            path.display(),
            selected(events, &options).len().min(options.max_events)
        ));
    }
    Ok(said)
}
