//! One Linux schema for two sources: the same behaviour, watched at the same time by
//! `nativeguard monitor` (the eBPF sensor, host-wide) and `nativeguard trace` (the ptrace
//! tracer, one command), must give the same values for the fields both sources report.
//!
//! Each T1106 emulation (and the lead's python memfd one-liner, when python3 exists) runs under
//! `trace` while `monitor` runs in the background, so both see the very same system calls of the
//! very same processes. Events are paired by pid, `EventType` and, for syscalls, the call and its
//! first four argument registers (identical for one call seen twice); process creations by pid
//! and order. Every field of a pair is then either compared ([`COMPARED`]) or excluded with its
//! reason ([`EXCLUDED`]); a field in neither list fails the test, so a new field needs a decision.
//! One field is compared with a documented allowance: the sensor resolves `SyscallOriginPath`
//! from `/proc/PID/maps` in user space, so for a process that exec'd or exited before that
//! read it keeps the kernel's file name; the test accepts that name only when it is the file
//! name of the tracer's path, and requires some pairs to carry the same full path. And when the
//! sensor's `bpf_find_vma` found the address space locked by another thread (a `CLONE_VM`
//! child of the busy tracer) it says `unknown`: the origin fields of that pair are counted,
//! printed and not compared.
//!
//! Needs root and the eBPF sensor; elsewhere it prints `skipped: <reason>`.

mod common;

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fields both sources must give the same value for.
const COMPARED: &[&str] = &[
    // The process (event::linux::ProcessInfo).
    "ProcessId",
    "ParentProcessId",
    "Image",
    "CommandLine",
    "ParentImage",
    "ParentCommandLine",
    "CurrentDirectory",
    "User",
    "uid",
    "gid",
    "comm",
    "CgroupId",
    "ExeIsMemfd",
    "ExeDeleted",
    // process_creation.
    "EventType",
    "ExecSyscall",
    "ExecFilename",
    // syscall: auditd shape.
    "type",
    "SYSCALL",
    "syscall",
    "arch",
    "a0",
    "a1",
    "a2",
    "a3",
    "exe",
    "pid",
    "ppid",
    "key",
    // Where the call came from.
    "SyscallOrigin",
    "SyscallBypassesLibc",
    "SyscallOriginPath",
    "ImageLinkage",
    // Decoded arguments.
    "TargetPath",
    "TargetProcessId",
    "TargetIsChild",
    "TargetIsSelf",
    "MemfdName",
    "MemfdFlags",
    "ExecFd",
    "ExecFlags",
    "PtraceRequest",
    "Prot",
    "MemoryRegion",
    "MapFlags",
    "OpenFlags",
    "Personality",
    "BpfCommand",
    "ModuleSize",
];

/// Fields that cannot agree, and why (see event::linux's design note).
const EXCLUDED: &[(&str, &str)] = &[
    (
        "exit",
        "tracer only: the sensor reports a call at its entry (before an exec replaces the \
         memory its strings are read from), so it never sees the result",
    ),
    ("success", "tracer only: derived from `exit`"),
    (
        "BpfProgramType",
        "tracer only: read from the caller's bpf_attr in memory, which the sensor does not copy",
    ),
    (
        "ModuleParams",
        "tracer only: read from the caller's memory, which the sensor does not copy",
    ),
];

/// The fields that say where a call came from: not compared when the sensor's kernel side
/// could not look (its `SyscallOrigin` is `unknown` and the tracer's is not).
const ORIGIN_FIELDS: &[&str] = &[
    "SyscallOrigin",
    "SyscallOriginPath",
    "SyscallBypassesLibc",
    "ImageLinkage",
];

/// How the two sources' `SyscallOriginPath` of one call compare.
enum OriginPath {
    /// The same text.
    Same,
    /// The sensor has the file name of the tracer's path: the kernel's dentry name, kept
    /// because `/proc/PID/maps` no longer showed the mapping when user space read it.
    KernelName,
    /// Anything else.
    Different,
}

fn origin_path_agreement(trace: Option<&Value>, monitor: Option<&Value>) -> OriginPath {
    if trace == monitor {
        return OriginPath::Same;
    }
    let (Some(trace), Some(monitor)) = (
        trace.and_then(Value::as_str),
        monitor.and_then(Value::as_str),
    ) else {
        return OriginPath::Different;
    };
    let file = trace.strip_suffix(" (deleted)").unwrap_or(trace);
    let file = file.rsplit('/').next().unwrap_or(file);
    if !monitor.contains('/') && file == monitor {
        OriginPath::KernelName
    } else {
        OriginPath::Different
    }
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nativeguard"))
}

/// The background monitor; stopped with SIGTERM (it writes everything it read, then exits).
struct Monitor {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Monitor {
    fn start(dir: &Path) -> Result<Monitor, String> {
        let ready = dir.join("ready");
        let out = dir.join("monitor.jsonl");
        let err = dir.join("monitor.err");
        let child = Command::new(binary())
            .args([
                "monitor",
                "--events",
                "--format",
                "jsonl",
                "--duration",
                "300s",
            ])
            .arg("--ready-file")
            .arg(&ready)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let mut monitor = Monitor { child, out, err };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready.exists() {
            if let Ok(Some(status)) = monitor.child.try_wait() {
                let text = std::fs::read_to_string(&monitor.err).unwrap_or_default();
                return Err(format!(
                    "monitor exited ({status}) before it was ready: {text}"
                ));
            }
            if Instant::now() > deadline {
                return Err("monitor not ready after 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(monitor)
    }

    /// Stops the monitor and returns its events.
    fn stop(mut self) -> Vec<Map<String, Value>> {
        // Events of the last traced command may still be in the ring buffer.
        std::thread::sleep(Duration::from_millis(500));
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM monitor");
        let status = self.child.wait().unwrap();
        let err = std::fs::read_to_string(&self.err).unwrap_or_default();
        assert!(
            status.success() || status.code() == Some(1),
            "monitor: {status} {err}"
        );
        eprintln!("{}", err.trim_end());
        events(&std::fs::read_to_string(&self.out).unwrap())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `event` objects of JSONL output (alerts, which repeat their event under `rule`, are
/// left out).
fn events(text: &str) -> Vec<Map<String, Value>> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record.get("rule").is_none())
        .filter_map(|record| match record.get("event") {
            Some(Value::Object(event)) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

/// Runs `command` under `nativeguard trace` and returns its events.
fn trace(label: &str, command: &[&str]) -> Vec<Map<String, Value>> {
    let output = Command::new(binary())
        .args(["trace", "--events", "--format", "jsonl", "--"])
        .args(command)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let events = events(&String::from_utf8_lossy(&output.stdout));
    eprintln!("trace {label}: {} events ({})", events.len(), output.status);
    events
}

/// What pairs a trace event with the monitor's view of the same thing.
fn pair_key(event: &Map<String, Value>, ordinal: usize) -> String {
    let text = |name: &str| event.get(name).map(Value::to_string).unwrap_or_default();
    match event.get("EventType").and_then(Value::as_str) {
        Some("syscall") => format!(
            "{} syscall {} {} {} {} {}",
            text("ProcessId"),
            text("SYSCALL"),
            text("a0"),
            text("a1"),
            text("a2"),
            text("a3")
        ),
        other => format!("{} {:?} #{ordinal}", text("ProcessId"), other),
    }
}

/// Keys with the n-th occurrence of each non-syscall (pid, type) numbered, so two execs of one
/// process pair in order.
fn keyed(
    events: &[Map<String, Value>],
    pids: &BTreeSet<String>,
) -> Vec<(String, Map<String, Value>)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    events
        .iter()
        .filter(|e| {
            matches!(
                e.get("EventType").and_then(Value::as_str),
                Some("syscall" | "process_creation")
            ) && pids.contains(&e.get("ProcessId").map(Value::to_string).unwrap_or_default())
        })
        .map(|e| {
            let base = pair_key(e, 0);
            let n = seen.entry(base).or_default();
            *n += 1;
            (pair_key(e, *n), e.clone())
        })
        .collect()
}

#[test]
fn sensor_and_tracer_agree_on_the_same_calls() {
    if !common::is_root() {
        eprintln!("skipped: the eBPF sensor needs root");
        return;
    }
    // The monitor's files; removed when the guard drops, after the monitor has stopped.
    let dir = tempfile::Builder::new()
        .prefix("nativeguard-parity-")
        .tempdir()
        .unwrap();
    let monitor = match Monitor::start(dir.path()) {
        Ok(monitor) => monitor,
        Err(reason) if reason.contains("cannot run here") => {
            eprintln!("skipped: {reason}");
            return;
        }
        Err(reason) => panic!("{reason}"),
    };
    let bin = binary().to_str().unwrap();
    let mut traced = Vec::new();
    for name in common::emulation_names() {
        traced.extend(trace(name, &[bin, "emulate", name]));
    }
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    match python {
        Some(python) => {
            traced.extend(trace(
                "python memfd one-liner",
                &[
                    python,
                    "-c",
                    "import os; fd=os.memfd_create(\"x\"); os.write(fd, open(\"/bin/true\",\"rb\").read()); \
                     os.execve(\"/proc/self/fd/%d\"%fd, [\"t\"], {})",
                ],
            ));
            // Fileless code: a shared RWX mapping of a memfd (library loads are reported by
            // neither source).
            traced.extend(trace(
                "python memfd RWX mapping",
                &[
                    python,
                    "-c",
                    "import os, mmap; fd=os.memfd_create(\"jit\"); os.ftruncate(fd, 4096); \
                     m=mmap.mmap(fd, 4096, flags=mmap.MAP_SHARED, \
                     prot=mmap.PROT_READ|mmap.PROT_WRITE|mmap.PROT_EXEC)",
                ],
            ));
        }
        None => eprintln!("note: no python3: the memfd one-liner and mapping are not run"),
    }
    let watched = monitor.stop();

    let pids: BTreeSet<String> = traced
        .iter()
        .filter_map(|e| e.get("ProcessId").map(Value::to_string))
        .collect();
    let mut by_key: HashMap<String, Map<String, Value>> =
        keyed(&watched, &pids).into_iter().collect();
    let compared: BTreeSet<&str> = COMPARED.iter().copied().collect();
    let excluded: BTreeMap<&str, &str> = EXCLUDED.iter().copied().collect();

    let mut pairs: BTreeMap<String, usize> = BTreeMap::new();
    let mut only_trace: BTreeMap<String, usize> = BTreeMap::new();
    let mut differences: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut undecided: BTreeSet<String> = BTreeSet::new();
    let (mut origin_paths_resolved, mut origin_paths_kept, mut origins_unknown) = (0, 0, 0);
    for (key, ours) in keyed(&traced, &pids) {
        let kind = format!(
            "{} {}",
            ours.get("EventType").and_then(Value::as_str).unwrap_or("?"),
            ours.get("SYSCALL").and_then(Value::as_str).unwrap_or("")
        );
        let Some(theirs) = by_key.remove(&key) else {
            if ours.get("SYSCALL").and_then(Value::as_str) != Some("mmap") {
                eprintln!("unpaired trace event: {key}");
            }
            *only_trace.entry(kind).or_default() += 1;
            continue;
        };
        *pairs.entry(kind.clone()).or_default() += 1;
        let names: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
        // bpf_find_vma only try-locks the address space: when another thread holds it (a
        // CLONE_VM child of the busy tracer), the kernel side cannot look and says unknown.
        let origin = |event: &Map<String, Value>| {
            event
                .get("SyscallOrigin")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let sensor_blind = origin(&theirs).as_deref() == Some("unknown")
            && origin(&ours).as_deref() != Some("unknown");
        if sensor_blind {
            origins_unknown += 1;
        }
        for name in names {
            if excluded.contains_key(name.as_str()) {
                continue;
            }
            if !compared.contains(name.as_str()) {
                undecided.insert(name.clone());
                continue;
            }
            let (t, m) = (ours.get(name), theirs.get(name));
            if sensor_blind && ORIGIN_FIELDS.contains(&name.as_str()) {
                continue;
            }
            if name == "SyscallOriginPath" {
                match origin_path_agreement(t, m) {
                    OriginPath::Same => {
                        origin_paths_resolved += 1;
                        continue;
                    }
                    OriginPath::KernelName => {
                        origin_paths_kept += 1;
                        continue;
                    }
                    OriginPath::Different => {}
                }
            }
            if t != m {
                let entry = differences
                    .entry(format!("{kind}: {name}"))
                    .or_insert_with(|| {
                        let show = |v: Option<&Value>| {
                            let text = v.map_or("(absent)".to_string(), Value::to_string);
                            text.chars().take(100).collect::<String>()
                        };
                        (0, format!("trace {} / monitor {}", show(t), show(m)))
                    });
                entry.0 += 1;
            }
        }
    }
    let mut only_monitor: BTreeMap<String, usize> = BTreeMap::new();
    for event in by_key.values() {
        let kind = format!(
            "{} {}",
            event
                .get("EventType")
                .and_then(Value::as_str)
                .unwrap_or("?"),
            event.get("SYSCALL").and_then(Value::as_str).unwrap_or("")
        );
        *only_monitor.entry(kind).or_default() += 1;
    }
    eprintln!("pairs compared: {pairs:?}");
    eprintln!("seen by trace only (not paired): {only_trace:?}");
    eprintln!("seen by monitor only (same pids, not paired): {only_monitor:?}");
    for (what, (count, example)) in &differences {
        eprintln!("DIFFERENT {what} in {count} pair(s), e.g. {example}");
    }
    for (name, reason) in EXCLUDED {
        eprintln!("excluded {name}: {reason}");
    }
    eprintln!(
        "SyscallOriginPath: {origin_paths_resolved} pair(s) with the same full path, \
         {origin_paths_kept} where the sensor kept the kernel's file name (the process had \
         exec'd or exited before its maps were read)"
    );

    // The comparison is only worth something if the key behaviours were seen by both.
    for kind in [
        "syscall execve",
        "syscall execveat",
        "syscall memfd_create",
        "syscall mprotect",
        "syscall process_vm_writev",
        "syscall ptrace",
        "process_creation ",
    ]
    .into_iter()
    .chain(python.map(|_| "syscall mmap"))
    {
        assert!(
            pairs.get(kind).is_some_and(|&n| n > 0),
            "no {kind:?} event seen by both sources: {pairs:?}"
        );
    }
    eprintln!(
        "SyscallOrigin: {origins_unknown} pair(s) where the kernel could not look (address \
         space locked by another thread), origin fields not compared"
    );
    // A parent waiting for its child keeps its maps readable: some paths must be resolved.
    assert!(
        origin_paths_resolved > 0,
        "the sensor resolved no SyscallOriginPath to the tracer's full path"
    );
    assert!(
        undecided.is_empty(),
        "fields neither compared nor excluded (decide which): {undecided:?}"
    );
    assert!(
        differences.is_empty(),
        "{} field(s) differ between monitor and trace (see above)",
        differences.len()
    );
}
