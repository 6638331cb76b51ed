//! What the demo prints: progress lines as things happen, and the summary table.

use std::io::Write as _;
use std::time::Duration;

use tokio::time::Instant;

/// Lines stamped with the time since the demo started, flushed at once.
pub struct Progress {
    started: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Starts the clock.
    pub fn new() -> Self {
        Progress {
            started: Instant::now(),
        }
    }

    /// Prints a line.
    pub fn say(&mut self, line: &str) {
        let at = self.started.elapsed().as_secs_f64();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "[{at:7.3}s] {line}");
        let _ = out.flush();
    }

    /// Prints a step's title.
    pub fn step(&mut self, n: usize, title: &str, ids: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "\n== Step {n}: {title}  ({ids})");
        let _ = out.flush();
    }
}

/// What one step measured.
#[derive(Debug, Default, Clone)]
pub struct StepStats {
    /// Its short name.
    pub name: String,
    /// Latencies: from the action on A to the effect on each other device.
    pub latencies: Vec<Duration>,
    /// Round trips of the syncs that brought the effect.
    pub round_trips: Vec<u64>,
    /// Notifications the push server dropped from full rings during the step.
    pub dropped: u64,
    /// Notifications coalesced during the step: replaced by topic on the push server, and
    /// local notifications merged with a pending one on the devices.
    pub coalesced: u64,
}

/// The `q`-quantile (0..=1) of sorted values, nearest rank.
fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.1} ms", d.as_secs_f64() * 1e3),
    )
}

/// The summary table.
pub fn table(steps: &[StepStats]) -> String {
    let mut rows = vec![[
        "step".to_owned(),
        "samples".to_owned(),
        "latency p50".to_owned(),
        "latency p99".to_owned(),
        "round trips/sync".to_owned(),
        "dropped".to_owned(),
        "coalesced".to_owned(),
    ]];
    for step in steps {
        let mut sorted = step.latencies.clone();
        sorted.sort_unstable();
        let trips = if step.round_trips.is_empty() {
            "-".to_owned()
        } else {
            let total: u64 = step.round_trips.iter().sum();
            format!("{:.1}", total as f64 / step.round_trips.len() as f64)
        };
        rows.push([
            step.name.clone(),
            sorted.len().to_string(),
            ms(quantile(&sorted, 0.5)),
            ms(quantile(&sorted, 0.99)),
            trips,
            step.dropped.to_string(),
            step.coalesced.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                if c == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let d = |ms| Duration::from_millis(ms);
        let sorted: Vec<Duration> = (1..=100).map(d).collect();
        assert_eq!(quantile(&sorted, 0.5), Some(d(50)));
        assert_eq!(quantile(&sorted, 0.99), Some(d(99)));
        assert_eq!(quantile(&[d(7)], 0.99), Some(d(7)));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn the_table_has_a_row_per_step() {
        let table = table(&[StepStats {
            name: "note created".into(),
            latencies: vec![Duration::from_millis(3)],
            round_trips: vec![2, 3],
            dropped: 1,
            coalesced: 0,
        }]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[2].contains("note created"), "{table}");
        assert!(lines[2].contains("3.0 ms"), "{table}");
        assert!(lines[2].contains("2.5"), "{table}");
    }
}
