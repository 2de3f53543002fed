//! Issue 6's seccomp figures on Docker's default profile (../shared/datasets/seccomp):
//! program size and paths for x86_64 alone and for x86_64 + i386 + x32, compile time, and
//! 10M getppid() in a child under the compiled profile vs a bare child, as a ratio measured in
//! one run. `bash bench/seccomp.sh` runs it in release mode.

use nativeguard_seccomp::{compile, stats, sys, CompileOptions, Policy, ResolveOptions};
use nativeguard_syscalls::Arch;
use std::time::Instant;

const CALLS: u64 = 10_000_000;

fn getppid_loop() -> u64 {
    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..CALLS {
        sum = sum.wrapping_add(u64::from(std::os::unix::process::parent_id()));
    }
    std::hint::black_box(sum);
    start.elapsed().as_nanos() as u64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/seccomp/default.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: {} not found", path.display());
        return;
    };
    println!("profile: {}", path.display());
    for arches in [&[Arch::X86_64][..], &[Arch::X86_64, Arch::I386, Arch::X32]] {
        let resolve = ResolveOptions {
            arches: arches.to_vec(),
            ..ResolveOptions::default()
        };
        let options = CompileOptions::default();
        // Compile time: read + resolve + compile + optimize + verify, median of 200 runs.
        let mut parse_us = Vec::new();
        let mut total_us = Vec::new();
        let mut program = None;
        for _ in 0..200 {
            let start = Instant::now();
            let policy = Policy::from_oci_json(&text, &resolve).expect("profile reads");
            let parsed = start.elapsed();
            program = Some(compile(&policy, arches, &options).expect("profile compiles"));
            parse_us.push(parsed.as_secs_f64() * 1e6);
            total_us.push(start.elapsed().as_secs_f64() * 1e6);
        }
        let program = program.expect("ran at least once");
        let s = stats(&program);
        let names: Vec<&str> = arches.iter().map(|a| a.as_str()).collect();
        println!(
            "{}: instructions {} worst_path {} mean_path {:.2}; read+resolve {:.0} us, read+resolve+compile {:.0} us (median of 200), compile alone {:.0} us",
            names.join("+"),
            s.instructions,
            s.worst_path,
            s.mean_path,
            median(parse_us.clone()),
            median(total_us.clone()),
            median(total_us) - median(parse_us)
        );
    }
    let resolve = ResolveOptions::default();
    let policy = Policy::from_oci_json(&text, &resolve).expect("profile reads");
    let program = compile(&policy, &resolve.arches, &CompileOptions::default()).expect("compiles");
    let mut ratios = Vec::new();
    for round in 0..3 {
        let bare = sys::run_in_child(None, getppid_loop).expect("bare child");
        let filtered = match sys::run_in_child(Some(&program), getppid_loop) {
            Ok(ns) => ns,
            Err(e) => {
                eprintln!("skipped: cannot run under the filter: {e}");
                return;
            }
        };
        let ratio = filtered as f64 / bare as f64;
        println!(
            "round {round}: 10M getppid() bare {:.1} ns/call, under Docker's default ({} ABIs, {} instructions) {:.1} ns/call, ratio {ratio:.3}",
            bare as f64 / CALLS as f64,
            resolve.arches.len(),
            program.instructions.len(),
            filtered as f64 / CALLS as f64
        );
        ratios.push(ratio);
    }
    println!("median ratio filtered/bare: {:.3}", median(ratios));
}
