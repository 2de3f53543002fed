//! `cargo bench -p nativeguard-atomic`: the atomic reader against a read-only floor, and each
//! emulation's wall time against the plain fork + execve baseline (`libc-exec`). Prints ratios
//! measured in this one run. Not a timed test.

use nativeguard_atomic::{Emulation, Validator};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn atomic_files() -> Vec<PathBuf> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/atomic-red-team/atomics");
    let dir = if shared.is_dir() {
        shared
    } else {
        eprintln!("note: ../shared not found; using the 3-file fixture subset");
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/art/atomics")
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            e.path().join(format!("{name}.yaml"))
        })
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn best_of<F: FnMut()>(rounds: usize, mut f: F) -> Duration {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let files = atomic_files();
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect();
    let bytes: usize = texts.iter().map(|(_, t)| t.len()).sum();
    let floor = best_of(5, || {
        for p in &files {
            std::hint::black_box(std::fs::read_to_string(p).unwrap());
        }
    });
    let mut tests = 0;
    let parse = best_of(5, || {
        let mut validator = Validator::new();
        tests = 0;
        for p in &files {
            let parsed = validator.check_entry(p);
            tests += parsed.technique.map_or(0, |t| t.tests.len());
        }
    });
    println!(
        "atomic reader: {} files, {tests} tests, {:.1} MiB: read-only floor {:.1} ms, read+parse+validate {:.1} ms \
         (ratio {:.1}x, {:.0} MiB/s)",
        files.len(),
        bytes as f64 / 1048576.0,
        floor.as_secs_f64() * 1e3,
        parse.as_secs_f64() * 1e3,
        parse.as_secs_f64() / floor.as_secs_f64(),
        bytes as f64 / 1048576.0 / parse.as_secs_f64()
    );

    let baseline = best_of(20, || {
        Emulation::LibcExec.run().unwrap();
    });
    println!(
        "emulations (best of 20): libc-exec baseline {:.2} ms",
        baseline.as_secs_f64() * 1e3
    );
    for emulation in Emulation::ALL {
        let rounds = if emulation == Emulation::PythonCtypes {
            3
        } else {
            20
        };
        let mut failed = None;
        let took = best_of(rounds, || {
            if let Err(e) = emulation.run() {
                failed = Some(e.to_string());
            }
        });
        match failed {
            Some(e) => println!("  {:<20} did not run: {e}", emulation.name()),
            None => println!(
                "  {:<20} {:>8.2} ms  ({:.1}x libc-exec; limit 1000 ms)",
                emulation.name(),
                took.as_secs_f64() * 1e3,
                took.as_secs_f64() / baseline.as_secs_f64()
            ),
        }
    }
}
