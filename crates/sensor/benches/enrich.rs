//! What completing events from `/proc` costs the sensor's user space, per event, measured in
//! one run against a floor: the same records enriched with `/proc` answering nothing (decode,
//! process table, event building only).
//!
//! The records describe a live child (`sleep`), so `/proc/PID` answers as it does for a
//! process that is still running when its record is read:
//! - exec: `/proc/PID/exe` read and checked (Image), argv from the record;
//! - syscall (memfd_create from libc): `/proc/PID/cwd` read, origin path from the cached maps;
//! - syscall (execve from libc by a fresh child): the parent's (this process's) cached maps
//!   answer;
//! - syscall from a file the maps never show: read once, then remembered as unresolved.
//!
//!     CARGO_TARGET_DIR=... cargo bench -p nativeguard-sensor --bench enrich
use nativeguard_sensor::enrich::{Clock, Enricher};
use nativeguard_sensor::process::ProcessTable;
use nativeguard_sensor::wire::{
    fill_c_str, AddressClass, Kind, RawExec, RawHeader, RawSyscall, Record, ARGS_LEN, PATH_LEN,
};
use std::hint::black_box;
use std::time::Instant;

const ROUNDS: usize = 20_000;

fn header(kind: Kind, pid: u32, ppid: u32) -> RawHeader {
    RawHeader {
        kind: kind as u32,
        size: 0,
        ktime_ns: 1,
        pid,
        tid: pid,
        ppid,
        uid: 0,
        gid: 0,
        pad0: 0,
        cgroup_id: 1,
        comm: fill_c_str("sleep"),
    }
}

fn syscall(pid: u32, ppid: u32, nr: i64, ip: u64, origin_name: &str, text: &str) -> Record {
    let mut str = [0u8; PATH_LEN];
    str[..text.len()].copy_from_slice(text.as_bytes());
    Record::Syscall(Box::new(RawSyscall {
        header: header(Kind::Syscall, pid, ppid),
        nr,
        args: [0x1000, 1, 0, 0, 0, 0],
        ip,
        origin: AddressClass::File as u32,
        region: AddressClass::Unknown as u32,
        str_len: text.len() as u32 + 1,
        origin_ino: 0,
        origin_name: fill_c_str(origin_name),
        str,
    }))
}

fn enricher(proc_root: &str) -> Enricher {
    Enricher {
        table: ProcessTable::new(""),
        proc_root: proc_root.into(),
        clock: Clock { boot_offset_ns: 0 },
        linkage: Default::default(),
        mappings: Default::default(),
        known_files: Default::default(),
    }
}

/// Nanoseconds per record, median of 5 passes of ROUNDS.
fn time(proc_root: &str, records: &[Record]) -> f64 {
    let mut passes = Vec::new();
    for _ in 0..5 {
        let mut e = enricher(proc_root);
        let start = Instant::now();
        for _ in 0..ROUNDS {
            for record in records {
                black_box(e.event(black_box(record)));
            }
        }
        passes.push(start.elapsed().as_nanos() as f64 / (ROUNDS * records.len()) as f64);
    }
    passes.sort_by(f64::total_cmp);
    passes[2]
}

/// Where libc's code starts in process `pid`.
fn libc_start(pid: u32) -> Option<u64> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    maps.lines()
        .find(|l| l.contains(" r-xp ") && l.contains("libc.so"))
        .and_then(|l| l.split('-').next())
        .and_then(|start| u64::from_str_radix(start, 16).ok())
}

fn main() {
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    std::thread::sleep(std::time::Duration::from_millis(100));
    run(child.id());
    let _ = child.kill();
    let _ = child.wait();
}

fn run(pid: u32) {
    let me = std::process::id();
    let (Some(libc), Some(my_libc)) = (libc_start(pid), libc_start(me)) else {
        eprintln!("skipped: no libc mapping found in the maps");
        return;
    };
    let mut args = [0u8; ARGS_LEN];
    args[..9].copy_from_slice(b"sleep\x0060\0");
    let exec = Record::Exec(Box::new(RawExec {
        header: header(Kind::Exec, pid, me),
        exec_syscall: 59,
        origin: AddressClass::File as u32,
        exe_flags: 0,
        args_len: 9,
        old_tid: pid,
        pad0: 0,
        origin_name: fill_c_str("libc.so.6"),
        exe_name: fill_c_str("sleep"),
        filename: fill_c_str("/bin/sleep"),
        args,
    }));
    let cases: [(&str, Vec<Record>); 4] = [
        ("exec", vec![exec]),
        (
            "memfd_create from libc (cached maps)",
            vec![syscall(pid, me, 319, libc + 0x100, "libc.so.6", "x")],
        ),
        (
            "execve by a fresh child (its parent's cached maps)",
            vec![syscall(
                pid,
                me,
                59,
                my_libc + 0x100,
                "libc.so.6",
                "/bin/true",
            )],
        ),
        (
            "origin file the maps never show (read once, then remembered)",
            vec![syscall(pid, me, 319, 0x10, "libnone.so", "x")],
        ),
    ];
    println!("| record | no /proc answers (floor) ns | with /proc ns | ratio |");
    println!("|---|---|---|---|");
    for (name, records) in &cases {
        let floor = time("/nonexistent-proc", records);
        let ours = time("/proc", records);
        println!("| {name} | {floor:.0} | {ours:.0} | {:.2} |", ours / floor);
    }
}
