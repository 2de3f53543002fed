//! Live tests: start the real sensor, run each T1106 behaviour in a child, and check the events
//! the kernel reported. They need root and kernel BTF (CI runs as root); elsewhere they print
//! `skipped: <reason>`.

mod behaviours;

use nativeguard_event::{Event, Value};
use nativeguard_sensor::{Error, Sensor};
use nativeguard_sigma::{Level, Pipeline, RuleSetBuilder};
use std::time::{Duration, Instant};

/// The tests count this process's eBPF descriptors, so they run one sensor at a time.
static ONE_SENSOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Starts the sensor, or says why the test is skipped.
fn start() -> Option<Sensor> {
    match Sensor::start() {
        Ok(sensor) => Some(sensor),
        Err(Error::Unsupported { missing }) => {
            eprintln!("skipped: the eBPF sensor cannot run here: missing {missing}");
            None
        }
        Err(other) => panic!("sensor failed to start: {other}"),
    }
}

/// Polls until `want` matches an event (or 5 s pass); returns every event seen.
fn collect_until(
    sensor: &mut Sensor,
    seen: &mut Vec<Event>,
    want: impl Fn(&Event) -> bool,
) -> Option<Event> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(found) = seen.iter().find(|e| want(e)) {
            return Some(found.clone());
        }
        if Instant::now() > deadline {
            return None;
        }
        sensor.poll(Duration::from_millis(50), seen).unwrap();
    }
}

/// Every event of process `pid`, once its exit has been seen (so none is still in flight).
fn events_of(sensor: &mut Sensor, seen: &mut Vec<Event>, pid: i32) -> Vec<Event> {
    collect_until(sensor, seen, |e| {
        is(e, "EventType", "process_exit") && pid_of(e) == Some(pid.into())
    })
    .unwrap_or_else(|| panic!("no exit event for pid {pid}"));
    seen.iter()
        .filter(|e| pid_of(e) == Some(pid.into()))
        .cloned()
        .collect()
}

/// The ids of the default Linux rules raised at level >= low by `events`, sorted.
fn alerts(events: &[Event]) -> Vec<String> {
    let mut builder = RuleSetBuilder::new(Pipeline::linux());
    for rule in nativeguard_rules::LINUX {
        assert!(
            builder.add_file(rule.path, rule.text).is_empty(),
            "{} failed to load",
            rule.path
        );
    }
    let (rules, errors) = builder.build();
    assert!(errors.is_empty(), "{errors:?}");
    let rules = std::sync::Arc::new(rules);
    let mut engine = rules.engine();
    let mut out = Vec::new();
    for event in events {
        engine.evaluate(event, &mut out);
    }
    let mut ids: Vec<String> = out
        .iter()
        .filter(|d| d.rule.level >= Level::Low)
        .map(|d| d.rule.id.clone())
        .collect();
    ids.sort();
    ids
}

fn pid_of(event: &Event) -> Option<i64> {
    event.get("ProcessId").and_then(Value::as_i64)
}

fn is(event: &Event, field: &str, value: &str) -> bool {
    event.get_str(field) == Some(value)
}

#[test]
fn sensor_reports_each_behaviour_with_its_origin() {
    let _one = ONE_SENSOR.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut sensor) = start() else { return };
    let mut seen = Vec::new();

    // libc exec: process_creation of /bin/true, exec from libc.
    let pid = behaviours::libc_exec();
    assert_eq!(behaviours::wait(pid), 0);
    let exec = collect_until(&mut sensor, &mut seen, |e| {
        is(e, "EventType", "process_creation") && pid_of(e) == Some(pid.into())
    })
    .expect("no process_creation for the libc exec");
    // Image is the executable as /proc/PID/exe names it (symlinks such as /bin -> usr/bin
    // resolved, as the tracer and Sysmon for Linux report it); ExecFilename the path as run.
    let resolved = std::fs::canonicalize("/bin/true").unwrap();
    assert_eq!(exec.get_str("Image"), resolved.to_str());
    assert_eq!(exec.get_str("ExecFilename"), Some("/bin/true"));
    assert_eq!(exec.get_str("CommandLine"), Some("true ng-libc-exec"));
    assert_eq!(exec.get_str("ExecSyscall"), Some("execve"));
    assert_eq!(exec.get_str("SyscallOrigin"), Some("libc"));
    assert_eq!(
        exec.get("ParentProcessId").and_then(Value::as_i64),
        Some(std::process::id().into())
    );
    let me = std::env::current_exe().unwrap();
    assert_eq!(exec.get_str("ParentImage"), me.to_str());
    assert_eq!(exec.get_str("User"), Some("root"));
    assert_eq!(exec.get("ExeIsMemfd"), Some(&Value::Bool(false)));
    assert!(exec
        .get_str("CurrentDirectory")
        .is_some_and(|d| d.starts_with('/')));
    let libc_alerts = alerts(&events_of(&mut sensor, &mut seen, pid));
    assert!(
        libc_alerts.is_empty(),
        "plain libc exec alerted: {libc_alerts:?}"
    );

    // Inline-syscall exec: the execve instruction lies in this dynamically linked binary.
    let pid = behaviours::inline_syscall_exec();
    assert_eq!(behaviours::wait(pid), 0);
    let call = collect_until(&mut sensor, &mut seen, |e| {
        is(e, "SYSCALL", "execve") && pid_of(e) == Some(pid.into())
    })
    .expect("no execve syscall event for the inline exec");
    assert_eq!(call.get_str("SyscallOrigin"), Some("main"));
    assert_eq!(call.get_str("ImageLinkage"), Some("dynamic"));
    assert_eq!(call.get_str("TargetPath"), Some("/bin/true"));
    let exec = collect_until(&mut sensor, &mut seen, |e| {
        is(e, "EventType", "process_creation") && pid_of(e) == Some(pid.into())
    })
    .expect("no process_creation for the inline exec");
    assert_eq!(exec.get_str("SyscallOrigin"), Some("main"));
    assert_eq!(
        alerts(&events_of(&mut sensor, &mut seen, pid)),
        ["e325d8e1-c0e6-4d16-be67-bf6bf64dfb1f"]
    );

    // A syscall from an anonymous RWX page.
    let pid = behaviours::anonymous_stub_memfd();
    assert_eq!(behaviours::wait(pid), 0);
    let call = collect_until(&mut sensor, &mut seen, |e| {
        is(e, "SYSCALL", "memfd_create") && pid_of(e) == Some(pid.into())
    })
    .expect("no memfd_create event from the anonymous stub");
    assert_eq!(call.get_str("SyscallOrigin"), Some("anonymous"));
    assert_eq!(call.get_str("MemfdName"), Some("ng-anon-stub"));
    let map = collect_until(&mut sensor, &mut seen, |e| {
        is(e, "SYSCALL", "mmap") && pid_of(e) == Some(pid.into())
    })
    .expect("no mmap(PROT_EXEC) event for the stub page");
    assert_eq!(map.get_str("Prot"), Some("rwx"));
    assert_eq!(
        alerts(&events_of(&mut sensor, &mut seen, pid)),
        [
            "10a7f919-caf7-46cc-8d66-14161b8eb008",
            "e506ed97-ef61-41c2-8656-f4f09a41ce5c"
        ]
    );

    // Fileless exec through a memfd.
    let pid = behaviours::memfd_exec();
    assert_eq!(behaviours::wait(pid), 0);
    let exec = collect_until(&mut sensor, &mut seen, |e| {
        is(e, "EventType", "process_creation") && pid_of(e) == Some(pid.into())
    })
    .expect("no process_creation for the memfd exec");
    assert_eq!(exec.get_str("Image"), Some("memfd:ng-memfd-exec"));
    assert_eq!(exec.get("ExeIsMemfd"), Some(&Value::Bool(true)));
    assert_eq!(exec.get_str("ExecSyscall"), Some("execveat"));
    assert_eq!(exec.get_str("SyscallOrigin"), Some("libc"));
    assert_eq!(
        alerts(&events_of(&mut sensor, &mut seen, pid)),
        ["d9df4ebb-6ea0-4190-821e-745541353d4f"]
    );

    // ptrace POKEDATA into the tracer's own child.
    let pid = behaviours::ptrace_poke_child();
    assert_eq!(behaviours::wait(pid), 0);
    let call = collect_until(&mut sensor, &mut seen, |e| {
        is(e, "SYSCALL", "ptrace")
            && is(e, "PtraceRequest", "PTRACE_POKEDATA")
            && pid_of(e) == Some(pid.into())
    })
    .expect("no PTRACE_POKEDATA event");
    assert_eq!(call.get("TargetIsChild"), Some(&Value::Bool(true)));
    assert_eq!(call.get_str("SyscallOrigin"), Some("libc"));
    assert_eq!(
        alerts(&events_of(&mut sensor, &mut seen, pid)),
        ["189b8de2-315a-4328-908e-9cf0fb8d020e"]
    );

    // process_vm_writev into the writer's own child.
    let pid = behaviours::vm_writev_child();
    assert_eq!(behaviours::wait(pid), 0);
    let call = collect_until(&mut sensor, &mut seen, |e| {
        is(e, "SYSCALL", "process_vm_writev") && pid_of(e) == Some(pid.into())
    })
    .expect("no process_vm_writev event");
    assert_eq!(call.get("TargetIsChild"), Some(&Value::Bool(true)));
    assert_eq!(
        alerts(&events_of(&mut sensor, &mut seen, pid)),
        ["e33912b7-e739-498b-8564-a63a4ca1f30c"]
    );

    // mprotect of an anonymous page to RWX.
    let pid = behaviours::mprotect_rwx();
    assert_eq!(behaviours::wait(pid), 0);
    let call = collect_until(&mut sensor, &mut seen, |e| {
        is(e, "SYSCALL", "mprotect") && pid_of(e) == Some(pid.into())
    })
    .expect("no mprotect event");
    assert_eq!(call.get_str("Prot"), Some("rwx"));
    assert_eq!(call.get_str("MemoryRegion"), Some("anonymous"));
    assert_eq!(
        alerts(&events_of(&mut sensor, &mut seen, pid)),
        ["10a7f919-caf7-46cc-8d66-14161b8eb008"]
    );

    let stats = sensor.stats();
    assert_eq!(stats.decode_errors, 0, "{:?}", sensor.last_decode_error());
    assert_eq!(stats.lost, 0);
}

/// Every program and map descriptor the sensor opened is closed when it is dropped.
#[test]
fn dropping_the_sensor_detaches_everything() {
    let _one = ONE_SENSOR.lock().unwrap_or_else(|e| e.into_inner());
    let Some(sensor) = start() else { return };
    let bpf_fds = || {
        std::fs::read_dir("/proc/self/fdinfo")
            .unwrap()
            .flatten()
            .filter(|entry| {
                std::fs::read_to_string(entry.path()).is_ok_and(|info| {
                    info.contains("prog_tag:")
                        || info.contains("link_type:")
                        || info.contains("map_type:")
                })
            })
            .count()
    };
    assert!(
        bpf_fds() > 0,
        "the running sensor holds no eBPF descriptors"
    );
    drop(sensor);
    assert_eq!(bpf_fds(), 0, "eBPF descriptors left open after drop");
    if let Ok(out) = std::process::Command::new("bpftool")
        .args(["prog", "show"])
        .output()
    {
        let listing = String::from_utf8_lossy(&out.stdout);
        let mine = format!("pids {}", std::process::id());
        assert!(
            !listing
                .lines()
                .any(|l| l.contains("ng_sys_enter") && l.contains(&mine)),
            "{listing}"
        );
    }
}
