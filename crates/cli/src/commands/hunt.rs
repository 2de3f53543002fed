//! `nativeguard hunt`: Sigma rules over Windows event logs (EVTX, JSON, JSONL).
//!
//! Reads every input as a stream (`nativeguard_logs`), runs each event through one Sigma engine
//! (`nativeguard_sigma`, Windows pipeline) and prints detections as they are found
//! (`crate::output`). Nothing is collected: memory stays flat however much is read. Bad input
//! is reported and skipped — a rule that does not load, a file that cannot be opened, a corrupt
//! EVTX chunk or record, a JSON line that does not parse — and the exit code says so (3).

use crate::exit_code;
use crate::output::{Format, Printer};
use crate::rule_loading::load_rules;
use anyhow::Context as _;
use nativeguard_event::{Event, Timestamp};
use nativeguard_logs::{EventTexts, Reader, Scope};
use nativeguard_sigma::{Detection, Engine, Level, Pipeline, RuleInfo, RuleSet, RuleSetBuilder};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `nativeguard hunt`.
#[derive(clap::Args)]
#[command(after_help = "\
Inputs: .evtx files; .json (one object or an array); .jsonl/.ndjson (one object per line; \
EVTX-rendered, winlogbeat or flat Sysmon objects); directories (walked recursively for those \
extensions); `-` reads JSONL from stdin. A file named explicitly is read whatever its extension.

Output goes to stdout: a table on a terminal, JSON Lines otherwise (see --format). A progress \
bar (on a terminal) and the closing summary go to stderr.

Exit status: 0 when everything was read (with or without detections); 3 when some input or \
some rules were skipped (each is reported on stderr); 1 on a fatal error.")]
pub struct Args {
    /// Sigma rule file or directory (repeatable; directories are walked for .yml/.yaml).
    /// Replaces the embedded default Windows ruleset.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Output format [default: table on a terminal, jsonl otherwise].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Report only detections of rules at this level or above
    /// (informational, low, medium, high, critical).
    #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
    pub min_level: Option<Level>,
    /// Report only detections of rules with this tag, e.g. attack.t1106 (repeatable: any of
    /// them; case-insensitive).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Report only detections of rules with this status, e.g. stable, test (repeatable: any of
    /// them).
    #[arg(long = "status", value_name = "STATUS")]
    pub statuses: Vec<String>,
    /// Read only events at or after this time (RFC 3339, or a date: 2019-03-19). Events without
    /// a time are read.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub from: Option<Timestamp>,
    /// Read only events at or before this time (RFC 3339, or a date, meaning its start).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub to: Option<Timestamp>,
    /// Threads that parse EVTX chunks (rule matching stays on one thread).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threads: usize,
    /// Log files or directories to hunt through (`-` for JSONL on stdin).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

fn parse_level(text: &str) -> Result<Level, String> {
    text.parse()
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text)
        .or_else(|| Timestamp::parse_rfc3339(&format!("{}T00:00:00Z", text.trim())))
        .ok_or_else(|| format!("not an RFC 3339 time or a date: {text:?}"))
}

/// Runs `nativeguard hunt`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let format = args.format.unwrap_or_else(Format::for_stdout);
    let filter = DetectionFilter::new(&args);

    let (rules, rule_errors) = load_rules(
        RuleSetBuilder::new(Pipeline::windows()),
        nativeguard_rules::WINDOWS,
        &args.rules,
    );
    for error in &rule_errors {
        eprintln!("nativeguard: rule skipped: {error}");
    }
    if rules.is_empty() {
        anyhow::bail!("no rule loaded ({} failed)", rule_errors.len());
    }
    let unrouted = rules.unrouted_rules().count();
    let rules = Arc::new(rules);

    let paths: Vec<&Path> = args.paths.iter().map(PathBuf::as_path).collect();
    let found = nativeguard_logs::discover(&paths);
    let mut summary = Summary::default();
    for error in &found.errors {
        summary.skip(error);
    }

    let stdout = std::io::stdout();
    let mut hunt = Hunt {
        filter,
        engine: rules.engine(),
        detections: Vec::new(),
        printer: Printer::new(format, std::io::BufWriter::new(stdout.lock())),
        progress: Progress::new(found.inputs.len() as u64),
        summary,
    };
    // JSON Lines and EVTX records are streamed to the engine, and an event is built only for a
    // detection; the time filter needs every event's time, so it reads built events.
    let streamable = !hunt.filter.has_time_range();
    for input in &found.inputs {
        hunt.progress.file(&input.path);
        let mut reader = match Reader::open(input, args.threads) {
            Ok(reader) => reader,
            Err(error) => {
                hunt.skip(&error);
                continue;
            }
        };
        hunt.summary.files += 1;
        let read = match &mut reader {
            Reader::Json(json) if streamable && json.is_lines() => hunt.stream(json),
            Reader::Stdin(json) if streamable && json.is_lines() => hunt.stream(json),
            Reader::Evtx(evtx) if streamable => hunt.stream(&mut evtx.streamed()),
            reader => hunt.events(reader.events()),
        };
        match read {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                // The reader of our output went away (`| head`): stop quietly.
                break;
            }
            Err(error) => return Err(error).context("writing detections"),
            Ok(()) => hunt.progress.done_file(),
        }
    }
    let Hunt {
        printer,
        progress,
        summary,
        ..
    } = hunt;
    progress.finish();
    match printer.finish() {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(error).context("writing detections")
        }
        _ => {}
    }

    summary.print(&rules, rule_errors.len(), unrouted, started);
    Ok(if summary.skipped_any() || !rule_errors.is_empty() {
        exit_code::INPUT_SKIPPED.into()
    } else {
        exit_code::SUCCESS.into()
    })
}

/// One hunt's state across its inputs.
struct Hunt<W: Write> {
    filter: DetectionFilter,
    engine: Engine,
    detections: Vec<Detection>,
    printer: Printer<W>,
    progress: Progress,
    summary: Summary,
}

impl<W: Write> Hunt<W> {
    fn skip(&mut self, error: &nativeguard_logs::Error) {
        let summary = &mut self.summary;
        self.progress.suspend(|| summary.skip(error));
    }

    /// Evaluates built events.
    fn events(
        &mut self,
        events: impl Iterator<Item = Result<Event, nativeguard_logs::Error>>,
    ) -> std::io::Result<()> {
        for item in events {
            let event = match item {
                Ok(event) => event,
                Err(error) => {
                    self.skip(&error);
                    continue;
                }
            };
            if !self.filter.in_time_range(&event) {
                self.summary.out_of_range += 1;
                continue;
            }
            self.detections.clear();
            self.engine.evaluate(&event, &mut self.detections);
            self.report(&event)?;
        }
        Ok(())
    }

    /// Streams events to the engine; builds an event only to print its detections, or when
    /// the engine cannot take it streamed.
    fn stream(&mut self, events: &mut impl EventTexts) -> std::io::Result<()> {
        while let Some(line) = events.read_event_text() {
            if let Err(error) = line {
                self.skip(&error);
                continue;
            }
            self.detections.clear();
            let streamed = self
                .engine
                .evaluate_streamed(|loader| events.stream_event(loader), &mut self.detections);
            if streamed && !self.detections.iter().any(|d| self.filter.keeps(&d.rule)) {
                self.count_event();
                continue;
            }
            let event = match events.decode_event() {
                Ok(event) => event,
                Err(error) => {
                    self.skip(&error);
                    continue;
                }
            };
            if !streamed {
                self.detections.clear();
                self.engine.evaluate(&event, &mut self.detections);
            }
            self.report(&event)?;
        }
        Ok(())
    }

    /// Prints the detections of `event` that pass the filter.
    fn report(&mut self, event: &Event) -> std::io::Result<()> {
        for detection in &self.detections {
            if !self.filter.keeps(&detection.rule) {
                continue;
            }
            self.summary.detected(&detection.rule);
            self.printer.detection(detection, event)?;
        }
        self.count_event();
        Ok(())
    }

    fn count_event(&mut self) {
        self.summary.events += 1;
        if self.summary.events.is_multiple_of(4096) {
            self.progress
                .counts(self.summary.events, self.summary.detections);
        }
    }
}

/// `--min-level`, `--tag`, `--status`, `--from`, `--to`.
struct DetectionFilter {
    min_level: Option<Level>,
    tags: Vec<String>,
    statuses: Vec<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

impl DetectionFilter {
    fn new(args: &Args) -> Self {
        DetectionFilter {
            min_level: args.min_level,
            tags: args.tags.iter().map(|t| t.to_ascii_lowercase()).collect(),
            statuses: args
                .statuses
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            from: args.from,
            to: args.to,
        }
    }

    fn keeps(&self, rule: &RuleInfo) -> bool {
        self.min_level.is_none_or(|min| rule.level >= min)
            && (self.tags.is_empty()
                || rule
                    .tags
                    .iter()
                    .any(|tag| self.tags.contains(&tag.to_ascii_lowercase())))
            && (self.statuses.is_empty()
                || rule
                    .status
                    .as_ref()
                    .is_some_and(|s| self.statuses.contains(&s.to_ascii_lowercase())))
    }

    fn has_time_range(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    fn in_time_range(&self, event: &Event) -> bool {
        let Some(time) = event.timestamp else {
            return true;
        };
        self.from.is_none_or(|from| time >= from) && self.to.is_none_or(|to| time <= to)
    }
}

/// The most skip reasons the closing summary repeats (each was already reported as it happened).
const SUMMARY_REASONS: usize = 20;

#[derive(Default)]
struct Summary {
    files: u64,
    events: u64,
    out_of_range: u64,
    detections: u64,
    /// Detections per rule, keyed by the rule's address (each loaded rule is one `Arc`).
    per_rule: HashMap<usize, (Arc<RuleInfo>, u64)>,
    skipped_files: u64,
    skipped_chunks: u64,
    skipped_records: u64,
    reasons: Vec<String>,
}

impl Summary {
    fn skip(&mut self, error: &nativeguard_logs::Error) {
        eprintln!("nativeguard: skipped: {error}");
        match error.scope() {
            Scope::File => self.skipped_files += 1,
            Scope::Chunk => self.skipped_chunks += 1,
            _ => self.skipped_records += 1,
        }
        if self.reasons.len() < SUMMARY_REASONS {
            self.reasons.push(error.to_string());
        }
    }

    fn detected(&mut self, rule: &Arc<RuleInfo>) {
        self.detections += 1;
        self.per_rule
            .entry(Arc::as_ptr(rule) as usize)
            .or_insert_with(|| (Arc::clone(rule), 0))
            .1 += 1;
    }

    fn skipped_any(&self) -> bool {
        self.skipped_files + self.skipped_chunks + self.skipped_records > 0
    }

    fn print(&self, rules: &RuleSet, rules_failed: usize, unrouted: usize, started: Instant) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "\nhunt: {} rules ({} failed to load, {} match no Windows log source), {} files, {} events, {} detections from {} rules in {:.2}s",
            rules.len(),
            rules_failed,
            unrouted,
            self.files,
            self.events,
            self.detections,
            self.per_rule.len(),
            started.elapsed().as_secs_f64()
        );
        if self.out_of_range > 0 {
            let _ = writeln!(err, "  {} events outside --from/--to", self.out_of_range);
        }
        let mut per_rule: Vec<&(Arc<RuleInfo>, u64)> = self.per_rule.values().collect();
        per_rule.sort_by(|a, b| (b.0.level, b.1, &a.0.title).cmp(&(a.0.level, a.1, &b.0.title)));
        for (rule, count) in per_rule {
            let _ = writeln!(
                err,
                "  {count:>8}  {:<13} {} ({})",
                rule.level.as_str(),
                rule.title,
                rule.id
            );
        }
        if self.skipped_any() {
            let _ = writeln!(
                err,
                "skipped: {} files, {} EVTX chunks, {} records",
                self.skipped_files, self.skipped_chunks, self.skipped_records
            );
            for reason in &self.reasons {
                let _ = writeln!(err, "  {reason}");
            }
            let total = self.skipped_files + self.skipped_chunks + self.skipped_records;
            if total > self.reasons.len() as u64 {
                let _ = writeln!(
                    err,
                    "  ... and {} more (reported above)",
                    total - self.reasons.len() as u64
                );
            }
        }
    }
}

/// The progress bar on stderr, shown only when stderr is a terminal.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(files: u64) -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(files);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Progress(Some(bar))
    }

    fn file(&self, path: &Path) {
        if let Some(bar) = &self.0 {
            bar.set_message(path.display().to_string());
        }
    }

    fn counts(&self, events: u64, detections: u64) {
        if let Some(bar) = &self.0 {
            bar.set_message(format!("{events} events, {detections} detections"));
        }
    }

    fn done_file(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    /// Runs `f` (which writes to stderr) with the bar hidden, so lines do not interleave.
    fn suspend(&self, f: impl FnOnce()) {
        match &self.0 {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_dates() {
        assert_eq!(
            parse_time("2019-03-19").map(|t| t.to_string()),
            Ok("2019-03-19T00:00:00.000000Z".to_string())
        );
        assert!(parse_time("2019-03-19T23:30:12+01:00").is_ok());
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_level("HIGH"), Ok(Level::High));
        assert!(parse_level("urgent").is_err());
    }
}
