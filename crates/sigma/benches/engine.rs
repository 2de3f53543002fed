//! Engine cost against the parse-only floor, measured in one run, in CPU time of this process
//! (to the nanosecond: `bench/cpu_time.rs`; everything runs on one thread).
//!
//! `cargo bench -p nativeguard-sigma --bench engine` loads the full SigmaHQ set (rules,
//! rules-emerging-threats, rules-threat-hunting) with the Windows pipeline, then:
//! - EVTX: parses every file of ../shared/datasets/evtx-attack-samples (parse-only floor), then
//!   evaluates the parsed events (after one warm-up pass that builds the routing buckets);
//!   prints events/s per core for each and the ratio (parse + evaluate) / parse.
//! - JSONL: the same events rendered as JSON Lines, parsed by nativeguard-logs' JSONL reader
//!   and evaluated; prints events/s per core of parse + evaluate.
//!
//! Prints `skipped: <reason>` when the datasets are absent.

use nativeguard_event::Event;
use nativeguard_logs::{EvtxReader, JsonLayout, JsonReader};
use nativeguard_sigma::{Pipeline, RuleSetBuilder};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[path = "../../../bench/cpu_time.rs"]
mod cpu_time;
use cpu_time::cpu_seconds;

/// The `nativeguard` binary's allocator, so these figures are the tool's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
}

/// Passes over the EVTX files for the parse-only figure.
const PARSE_PASSES: usize = 3;
/// Passes over the JSON Lines for each JSONL figure.
const JSONL_PASSES: usize = 10;

fn main() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    let (sigmahq, samples) = (shared.join("sigmahq"), shared.join("evtx-attack-samples"));
    if !sigmahq.is_dir() || !samples.is_dir() {
        eprintln!("skipped: ../shared/datasets/sigmahq or evtx-attack-samples is absent");
        return;
    }
    let mut builder = RuleSetBuilder::new(Pipeline::windows());
    let mut rule_files = Vec::new();
    for folder in ["rules", "rules-emerging-threats", "rules-threat-hunting"] {
        files(&sigmahq.join(folder), "yml", &mut rule_files);
    }
    let start = cpu_seconds();
    for f in &rule_files {
        if let Ok(text) = std::fs::read_to_string(f) {
            builder.add_file(&f.display().to_string(), &text);
        }
    }
    let (set, _) = builder.build();
    let set = Arc::new(set);
    println!(
        "rules: {} loaded in {:.2} s CPU",
        set.len(),
        cpu_seconds() - start
    );

    let mut evtx_files = Vec::new();
    files(&samples, "evtx", &mut evtx_files);
    // Every figure is the mean of several passes: the machine is shared.
    let start = cpu_seconds();
    let mut events: Vec<Event> = Vec::new();
    for pass in 0..PARSE_PASSES {
        for f in &evtx_files {
            if let Ok(mut reader) = EvtxReader::open(f, 1) {
                if pass == 0 {
                    events.extend(reader.events().flatten());
                } else {
                    std::hint::black_box(reader.events().flatten().count());
                }
            }
        }
    }
    let parse = (cpu_seconds() - start) / PARSE_PASSES as f64;
    let n = events.len() as f64;

    let mut engine = set.engine();
    let mut out = Vec::new();
    let start = cpu_seconds();
    for e in &events {
        out.clear();
        engine.evaluate(e, &mut out);
    }
    let warmup = cpu_seconds() - start;
    const PASSES: usize = 20;
    let mut detections = 0;
    let start = cpu_seconds();
    for _ in 0..PASSES {
        for e in &events {
            out.clear();
            engine.evaluate(e, &mut out);
            detections += out.len();
        }
    }
    let eval = (cpu_seconds() - start) / PASSES as f64;
    println!(
        "evtx: {} files, {} events; parse-only {:.0} events/s/core; evaluate {:.0} events/s/core \
         ({:.1} us/event, {} detections/pass); first pass incl. bucket build {:.2} s",
        evtx_files.len(),
        events.len(),
        n / parse,
        n / eval,
        eval / n * 1e6,
        detections / PASSES,
        warmup
    );
    println!(
        "evtx: hunt/parse-only ratio {:.2} (target <= 1.5); with the first pass {:.2}",
        (parse + eval) / parse,
        (parse + warmup) / parse
    );

    let mut jsonl = Vec::new();
    for e in &events {
        if serde_json::to_writer(&mut jsonl, e).is_ok() {
            jsonl.push(b'\n');
        }
    }
    let start = cpu_seconds();
    let mut parsed = 0;
    for _ in 0..JSONL_PASSES {
        parsed = JsonReader::new(&jsonl[..], "bench.jsonl", JsonLayout::Lines)
            .flatten()
            .count();
    }
    let json_parse = (cpu_seconds() - start) / JSONL_PASSES as f64;
    let start = cpu_seconds();
    let mut json_events = 0usize;
    for _ in 0..JSONL_PASSES {
        json_events = 0;
        for e in JsonReader::new(&jsonl[..], "bench.jsonl", JsonLayout::Lines).flatten() {
            out.clear();
            engine.evaluate(&e, &mut out);
            json_events += 1;
        }
    }
    let json_hunt = (cpu_seconds() - start) / JSONL_PASSES as f64;
    println!(
        "jsonl: {} events, {} MB; parse-only {:.0} events/s/core; parse + evaluate {:.0} events/s/core \
         (target >= 200000); ratio {:.2}",
        parsed,
        jsonl.len() / 1_000_000,
        parsed as f64 / json_parse,
        json_events as f64 / json_hunt,
        json_hunt / json_parse
    );
}
