//! The readers' parse-only floor, alone: no rules, so it builds and runs in seconds.
//!
//! `read_floor jsonl FILE [ROUNDS]` parses a JSON Lines file (read into memory first) ROUNDS
//! times; `read_floor evtx DIR [ROUNDS]` parses every `.evtx` file under DIR ROUNDS times.
//! Prints events and errors per round, and the CPU time per event and events/s over all rounds
//! (CPU time of this process, to the nanosecond: `bench/cpu_time.rs`; the machine may be
//! shared). The figures are over all rounds. Under
//! `valgrind --tool=callgrind` run it with ROUNDS = 1 and divide the instructions by the events.

use nativeguard_logs::{discover, EvtxReader, Input, JsonLayout, JsonReader};
use std::path::Path;

#[path = "../../../bench/cpu_time.rs"]
mod cpu_time;
use cpu_time::cpu_seconds;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(path)) = (args.first(), args.get(1)) else {
        eprintln!("usage: read_floor jsonl FILE [ROUNDS] | read_floor evtx DIR [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args
        .get(2)
        .and_then(|r| r.parse().ok())
        .unwrap_or(20)
        .max(1);
    let mut total = 0.0;
    let (mut events, mut errors) = (0usize, 0usize);
    match mode.as_str() {
        "jsonl" => {
            let bytes = std::fs::read(path).unwrap_or_else(|err| {
                eprintln!("{path}: {err}");
                std::process::exit(1);
            });
            for _ in 0..rounds {
                let start = cpu_seconds();
                (events, errors) = (0, 0);
                for item in JsonReader::new(&bytes[..], "floor.jsonl", JsonLayout::Lines) {
                    match item {
                        Ok(_) => events += 1,
                        Err(_) => errors += 1,
                    }
                }
                total += cpu_seconds() - start;
            }
        }
        "evtx" => {
            let found = discover(&[Path::new(path)]);
            let files: Vec<&Input> = found.inputs.iter().collect();
            for _ in 0..rounds {
                let start = cpu_seconds();
                (events, errors) = (0, 0);
                for input in &files {
                    let Ok(mut reader) = EvtxReader::open(&input.path, 1) else {
                        errors += 1;
                        continue;
                    };
                    for item in reader.events() {
                        match item {
                            Ok(_) => events += 1,
                            Err(_) => errors += 1,
                        }
                    }
                }
                total += cpu_seconds() - start;
            }
        }
        other => {
            eprintln!("unknown mode {other:?}: jsonl or evtx");
            std::process::exit(2);
        }
    }
    let all_events = (events * rounds) as f64;
    println!(
        "{mode}: {events} events, {errors} errors per round; {rounds} rounds {:.3} s CPU: \
         {:.2} us/event, {:.0} events/s/core",
        total,
        total / all_events.max(1.0) * 1e6,
        all_events / total
    );
}
