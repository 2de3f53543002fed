//! `nativeguard monitor`: watch the whole host with the eBPF sensor and run Sigma rules on live
//! events (D3FEND System Call Analysis).
//!
//! Flow: load the rules (embedded Linux set, or `--rules`) → check root/BTF/eBPF → start the
//! sensor (`nativeguard_sensor::Sensor`: attach, seed the process table) → create
//! `--ready-file` → poll the ring buffer, evaluate each event with one Sigma engine, print
//! alerts (and, with `--events`, every event) through `crate::output` → on SIGINT/SIGTERM or
//! when `--duration` ends: flush, drop the sensor (every program detaches), print a summary
//! with the kernel's lost-record count on stderr.
//!
//! Exit codes: 0 done; 3 some rules did not load (the others ran); 5 the host cannot run the
//! sensor (no root, no BTF, eBPF refused) — the message says what is missing and points to
//! `nativeguard trace`; 1 any other failure.

use crate::exit_code;
use crate::output::{Format, Printer};
use crate::rule_loading::load_rules;
use anyhow::Context as _;
use nativeguard_event::Event;
use nativeguard_sensor::{Error as SensorError, Sensor};
use nativeguard_sigma::{Detection, Engine, Level, Pipeline, RuleSetBuilder};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest wait in one poll, so `--duration` and signals are honoured promptly.
const POLL_SLICE: Duration = Duration::from_millis(200);

/// Arguments of `nativeguard monitor`.
#[derive(clap::Args)]
#[command(after_help = "\
Needs root and a kernel with BTF (/sys/kernel/btf/vmlinux); without them it exits with code 5 \
and says what is missing (use `nativeguard trace -- CMD` to watch one command without root). \
Alerts (and with --events every event) go to stdout: a table on a terminal, JSON Lines \
otherwise; the summary (events, alerts, records lost in the kernel) goes to stderr. SIGINT or \
SIGTERM stop it cleanly: output is flushed and every eBPF program is detached.")]
pub struct Args {
    /// Sigma rule file or directory (repeatable; directories are walked for .yml/.yaml).
    /// Replaces the embedded default Linux ruleset.
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Output format (default: table on a terminal, jsonl otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Also print every event (process creation, sensitive syscall, fork, exit).
    #[arg(long)]
    events: bool,
    /// Stop after this long (e.g. 10s, 500ms, 2m, 1h; a bare number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Only report alerts of this level or above (informational, low, medium, high, critical).
    #[arg(long = "min-level", value_name = "LEVEL", value_parser = parse_level, default_value = "low")]
    min_level: Level,
    /// Create this (empty) file once every program is attached and events are being read.
    #[arg(long = "ready-file", value_name = "PATH")]
    ready_file: Option<PathBuf>,
}

fn parse_level(text: &str) -> Result<Level, String> {
    text.parse::<Level>()
        .map_err(|_| format!("unknown level {text:?} (informational, low, medium, high, critical)"))
}

/// `10s`, `500ms`, `2m`, `1h`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (e.g. 10s, 500ms, 2m)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown duration unit {other:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("duration out of range: {text:?}"))
}

#[derive(Default)]
struct Counts {
    events: u64,
    alerts: u64,
    detections: Vec<Detection>,
}

/// Prints each event (with `--events`) and the alerts it raises at `--min-level` or above.
fn report(
    events: &[Event],
    engine: &mut Engine,
    printer: &mut Printer<impl Write>,
    args: &Args,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    for event in events {
        counts.events += 1;
        if args.events {
            printer.event(event).context("writing an event")?;
        }
        counts.detections.clear();
        engine.evaluate(event, &mut counts.detections);
        for detection in counts
            .detections
            .iter()
            .filter(|d| d.rule.level >= args.min_level)
        {
            counts.alerts += 1;
            printer
                .detection(detection, event)
                .context("writing an alert")?;
        }
    }
    Ok(())
}

/// Runs `nativeguard monitor`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (rules, rule_errors) = load_rules(
        RuleSetBuilder::new(Pipeline::linux()),
        nativeguard_rules::LINUX,
        &args.rules,
    );
    for error in &rule_errors {
        eprintln!("nativeguard monitor: rule not loaded: {error}");
    }
    if rules.is_empty() {
        anyhow::bail!("no rule could be loaded");
    }
    let rules = Arc::new(rules);
    let mut engine = rules.engine();

    let mut sensor = match Sensor::start() {
        Ok(sensor) => sensor,
        Err(SensorError::Unsupported { missing }) => {
            eprintln!(
                "nativeguard monitor: the eBPF sensor cannot run here: missing {missing}.\n\
                 To watch one command without root or eBPF, use `nativeguard trace -- CMD`."
            );
            return Ok(exit_code::UNSUPPORTED.into());
        }
        Err(err) => return Err(err).context("starting the eBPF sensor"),
    };
    nativeguard_sensor::install_stop_signals().context("installing signal handlers")?;
    if let Some(path) = &args.ready_file {
        std::fs::write(path, b"")
            .with_context(|| format!("creating the ready file {}", path.display()))?;
    }

    let format = args.format.unwrap_or_else(Format::for_stdout);
    let mut printer = Printer::new(format, std::io::stdout().lock());
    let deadline = args.duration.map(|d| Instant::now() + d);
    let started = Instant::now();
    let mut counts = Counts::default();
    let mut events = Vec::new();
    loop {
        let slice = match deadline {
            Some(deadline) => deadline
                .saturating_duration_since(Instant::now())
                .min(POLL_SLICE),
            None => POLL_SLICE,
        };
        events.clear();
        sensor
            .poll(slice, &mut events)
            .context("reading the ring buffer")?;
        report(&events, &mut engine, &mut printer, &args, &mut counts)?;
        printer.flush().context("flushing output")?;
        if nativeguard_sensor::stop_requested() || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    // Whatever arrived before the stop is still reported.
    events.clear();
    sensor.drain(&mut events);
    report(&events, &mut engine, &mut printer, &args, &mut counts)?;
    drop(printer.finish().context("flushing output")?);
    let stats = sensor.stats();
    drop(sensor); // detaches every program before the summary is printed
    eprintln!(
        "nativeguard monitor: {} events, {} alerts in {:.1}s; \
         {} records read, {} lost in the kernel (ring buffer full), {} undecodable; all programs detached",
        counts.events,
        counts.alerts,
        started.elapsed().as_secs_f64(),
        stats.records,
        stats.lost,
        stats.decode_errors,
    );
    if !rule_errors.is_empty() {
        return Ok(exit_code::INPUT_SKIPPED.into());
    }
    Ok(exit_code::SUCCESS.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn embedded_linux_rules_all_load() {
        let (rules, errors) = load_rules(
            RuleSetBuilder::new(Pipeline::linux()),
            nativeguard_rules::LINUX,
            &[],
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert!(rules.len() >= nativeguard_rules::LINUX.len());
    }
}
