//! Turns decoded kernel records into [`Event`]s: keeps the process table current and fills
//! every event from it, through `nativeguard_event::linux` only.

use crate::process::{elf_is_dynamic, join_args, ProcessEntry, ProcessTable, MAX_ELF_HEADER_READ};
use crate::wire::{
    c_str, AddressClass, RawExec, RawHeader, RawSyscall, Record, EXE_DELETED, EXE_MEMFD,
};
use nativeguard_event::linux::{self, SyscallOrigin, SyscallRecord};
use nativeguard_event::{Event, Timestamp};
use std::io::Read;

/// The x86_64 syscalls the kernel filter lets through, by number.
pub const SENSITIVE_SYSCALLS: &[(i64, &str)] = &[
    (2, "open"),
    (9, "mmap"),
    (10, "mprotect"),
    (59, "execve"),
    (101, "ptrace"),
    (135, "personality"),
    (175, "init_module"),
    (257, "openat"),
    (310, "process_vm_readv"),
    (311, "process_vm_writev"),
    (313, "finit_module"),
    (319, "memfd_create"),
    (321, "bpf"),
    (322, "execveat"),
];

/// The name of a syscall of the sensitive set.
pub fn syscall_name(nr: i64) -> Option<&'static str> {
    SENSITIVE_SYSCALLS
        .iter()
        .find(|(n, _)| *n == nr)
        .map(|(_, name)| *name)
}

/// ptrace request names for the requests the kernel filter reports.
pub fn ptrace_request_name(request: u64) -> Option<&'static str> {
    Some(match request {
        4 => "PTRACE_POKETEXT",
        5 => "PTRACE_POKEDATA",
        6 => "PTRACE_POKEUSER",
        13 => "PTRACE_SETREGS",
        15 => "PTRACE_SETFPREGS",
        16 => "PTRACE_ATTACH",
        0x4205 => "PTRACE_SETREGSET",
        0x4206 => "PTRACE_SEIZE",
        _ => return None,
    })
}

/// `PROT_*` bits as `rwx` text (`-` for a missing right).
pub fn prot_text(prot: u64) -> String {
    let flag = |bit: u64, c: char| if prot & bit != 0 { c } else { '-' };
    [flag(1, 'r'), flag(2, 'w'), flag(4, 'x')].iter().collect()
}

/// The schema's origin for a kernel address class and mapping file name.
pub fn origin_of(class: AddressClass, name: &str) -> SyscallOrigin {
    match class {
        AddressClass::Unknown => SyscallOrigin::Unknown,
        AddressClass::File => SyscallOrigin::classify(Some(name), None),
        AddressClass::Main => SyscallOrigin::MainBinary,
        AddressClass::Anonymous => SyscallOrigin::Anonymous,
        AddressClass::Stack => SyscallOrigin::Stack,
        AddressClass::Heap => SyscallOrigin::Heap,
        AddressClass::Vdso => SyscallOrigin::Vdso,
    }
}

/// Converts boot-clock nanoseconds (`bpf_ktime_get_boot_ns`) into wall-clock timestamps.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Wall-clock nanoseconds at boot-clock zero.
    pub boot_offset_ns: i64,
}

impl Clock {
    /// The timestamp of a record.
    pub fn timestamp(&self, header: &RawHeader) -> Timestamp {
        Timestamp::from_unix_nanos(self.boot_offset_ns.saturating_add(header.ktime_ns as i64))
    }
}

/// Keeps the process table and builds events from records.
#[derive(Debug)]
pub struct Enricher {
    /// The process table.
    pub table: ProcessTable,
    /// Where `/proc` is (for the current directory of new processes).
    pub proc_root: std::path::PathBuf,
    /// The clock conversion.
    pub clock: Clock,
    /// Image path -> whether it is dynamically linked, for direct-syscall events.
    pub linkage: std::collections::HashMap<String, Option<bool>>,
}

impl Enricher {
    /// Applies one record to the table and returns the event it describes, if any
    /// (fork and exit records update the table and also yield events).
    pub fn event(&mut self, record: &Record) -> Option<Event> {
        let header = record.header();
        let mut event = match record {
            Record::Exec(exec) => self.exec(exec),
            Record::Fork(fork) => {
                self.refresh_creds(header);
                self.table.fork(header.pid, fork.child_pid);
                let mut event = Event::with_capacity(8);
                event.insert("EventType", linux::event_type::PROCESS_FORK);
                event.insert("ProcessId", fork.child_pid);
                event.insert("ParentProcessId", header.pid);
                let parent = self.table.process_info(header.pid);
                event.insert("ParentImage", parent.image.as_str());
                event.insert("Image", parent.image.as_str());
                event
            }
            Record::Exit(exit) => {
                let info = self.table.process_info(header.pid);
                self.table.exit(header.pid);
                let mut event = Event::with_capacity(8);
                event.insert("EventType", linux::event_type::PROCESS_EXIT);
                event.insert("ProcessId", header.pid);
                event.insert("ParentProcessId", info.ppid);
                event.insert("Image", info.image.as_str());
                event.insert("ExitStatus", exit.exit_code >> 8);
                event.insert("ExitSignal", exit.exit_code & 0x7f);
                event
            }
            Record::Syscall(syscall) => self.syscall(syscall),
        };
        event.timestamp = Some(self.clock.timestamp(header));
        Some(event)
    }

    /// Makes sure the table has `header.pid` and that its ids and comm are the kernel's.
    fn refresh_creds(&mut self, header: &RawHeader) {
        let known = self.table.get(header.pid).cloned();
        let mut entry = match known {
            Some(entry) => entry,
            None => crate::process::read_proc_entry(&self.proc_root.join(header.pid.to_string()))
                .unwrap_or_default(),
        };
        entry.ppid = header.ppid;
        entry.uid = header.uid;
        entry.gid = header.gid;
        entry.cgroup_id = header.cgroup_id;
        entry.comm = c_str(&header.comm);
        self.table.insert(header.pid, entry);
    }

    fn exec(&mut self, exec: &RawExec) -> Event {
        let header = &exec.header;
        let exe_name = c_str(&exec.exe_name);
        let filename = c_str(&exec.filename);
        let memfd = exec.exe_flags & EXE_MEMFD != 0;
        let previous = self.table.get(header.pid).cloned().unwrap_or_default();
        let cwd = std::fs::read_link(self.proc_root.join(header.pid.to_string()).join("cwd"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or(previous.cwd);
        let image = if memfd {
            exe_name.clone()
        } else if filename.starts_with('/') && !filename.starts_with("/dev/fd/") {
            filename.clone()
        } else if filename.starts_with("/dev/fd/") || filename.is_empty() {
            std::fs::read_link(self.proc_root.join(header.pid.to_string()).join("exe"))
                .map(|p| {
                    p.to_string_lossy()
                        .trim_end_matches(" (deleted)")
                        .to_owned()
                })
                .unwrap_or(filename.clone())
        } else {
            format!(
                "{}/{}",
                cwd.trim_end_matches('/'),
                filename.trim_start_matches("./")
            )
        };
        let args_len = (exec.args_len as usize).min(exec.args.len());
        let entry = ProcessEntry {
            ppid: header.ppid,
            uid: header.uid,
            gid: header.gid,
            image,
            command_line: join_args(&exec.args[..args_len]),
            comm: c_str(&header.comm),
            cwd,
            cgroup_id: header.cgroup_id,
            exe_is_memfd: memfd,
            exe_deleted: !memfd && exec.exe_flags & EXE_DELETED != 0,
        };
        self.table.insert(header.pid, entry);
        let info = self.table.process_info(header.pid);
        let class = AddressClass::try_from(exec.origin).unwrap_or(AddressClass::Unknown);
        let origin = origin_of(class, &c_str(&exec.origin_name));
        let syscall = match exec.exec_syscall {
            322 => "execveat",
            59 => "execve",
            _ => "unknown",
        };
        let mut event = linux::process_creation(&info, syscall, origin);
        event.insert("ExecFilename", filename.as_str());
        event
    }

    /// Whether the process's executable is dynamically linked, read once per image path
    /// (through `/proc/PID/exe`, which also works for memfd and deleted executables).
    fn image_is_dynamic(&mut self, pid: u32, image: &str) -> Option<bool> {
        if let Some(known) = self.linkage.get(image) {
            return *known;
        }
        let exe = self.proc_root.join(pid.to_string()).join("exe");
        let answer = read_prefix(&exe)
            .or_else(|| read_prefix(std::path::Path::new(image)))
            .and_then(|bytes| elf_is_dynamic(&bytes));
        if self.linkage.len() < crate::process::MAX_PROCESSES {
            self.linkage.insert(image.to_owned(), answer);
        }
        answer
    }

    fn syscall(&mut self, raw: &RawSyscall) -> Event {
        let header = &raw.header;
        if self.table.get(header.pid).is_none_or(|e| e.comm.is_empty()) {
            self.refresh_creds(header);
        }
        let info = self.table.process_info(header.pid);
        let class = AddressClass::try_from(raw.origin).unwrap_or(AddressClass::Unknown);
        let origin_name = c_str(&raw.origin_name);
        let origin = origin_of(class, &origin_name);
        let name = syscall_name(raw.nr).unwrap_or("unknown");
        let text = (raw.str_len > 0).then(|| c_str(&raw.str));
        let mut record = SyscallRecord {
            name: name.to_owned(),
            number: raw.nr,
            arch: "x86_64".to_owned(),
            args: raw.args,
            ret: None,
            origin,
            origin_path: (!origin_name.is_empty()).then(|| origin_name.clone()),
            target_pid: None,
            target_is_child: None,
            path: None,
            decoded: Vec::new(),
        };
        match name {
            "execve" | "execveat" => record.path = text,
            "memfd_create" => {
                record
                    .decoded
                    .push(("MemfdName".into(), text.unwrap_or_default()));
                record
                    .decoded
                    .push(("MemfdFlags".into(), format!("{:#x}", raw.args[1])));
            }
            "ptrace" => {
                let request = ptrace_request_name(raw.args[0]).unwrap_or("unknown");
                record
                    .decoded
                    .push(("PtraceRequest".into(), request.into()));
                record.target_pid = u32::try_from(raw.args[1]).ok();
            }
            "process_vm_writev" | "process_vm_readv" => {
                record.target_pid = u32::try_from(raw.args[0]).ok();
            }
            "mprotect" | "mmap" => {
                record.decoded.push(("Prot".into(), prot_text(raw.args[2])));
                let region = if name == "mmap" {
                    SyscallOrigin::Anonymous
                } else {
                    let region =
                        AddressClass::try_from(raw.region).unwrap_or(AddressClass::Unknown);
                    origin_of(region, "")
                };
                record
                    .decoded
                    .push(("MemoryRegion".into(), region.as_str().into()));
            }
            "open" | "openat" => {
                if let Some(path) = &text {
                    let target = path
                        .strip_prefix("/proc/")
                        .and_then(|r| r.strip_suffix("/mem"));
                    record.target_pid = match target {
                        Some("self") | Some("thread-self") => Some(header.pid),
                        Some(pid) => pid.split('/').next().and_then(|p| p.parse().ok()),
                        None => None,
                    };
                }
                record.path = text;
            }
            "bpf" => record
                .decoded
                .push(("BpfCommand".into(), "BPF_PROG_LOAD".into())),
            _ => {}
        }
        if origin == SyscallOrigin::MainBinary {
            let linkage = match self.image_is_dynamic(header.pid, &info.image) {
                Some(true) => "dynamic",
                Some(false) => "static",
                None => "unknown",
            };
            record.decoded.push(("ImageLinkage".into(), linkage.into()));
        }
        if let Some(target) = record.target_pid {
            let is_self = target == header.pid;
            record.target_is_child = Some(!is_self && self.table.is_descendant(target, header.pid));
            record
                .decoded
                .push(("TargetIsSelf".into(), is_self.to_string()));
        }
        linux::syscall(&info, &record)
    }
}

fn read_prefix(path: &std::path::Path) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::with_capacity(4096);
    file.take(MAX_ELF_HEADER_READ as u64)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{fill_c_str, Kind, RawFork, ARGS_LEN};

    fn header(kind: Kind, pid: u32, ppid: u32) -> RawHeader {
        RawHeader {
            kind: kind as u32,
            size: 0,
            ktime_ns: 1_000,
            pid,
            tid: pid,
            ppid,
            uid: 0,
            gid: 0,
            pad0: 0,
            cgroup_id: 5,
            comm: fill_c_str("demo"),
        }
    }

    fn enricher() -> Enricher {
        let mut table = ProcessTable::new("root:x:0:0::/root:/bin/sh\n");
        table.insert(
            100,
            ProcessEntry {
                ppid: 1,
                image: "/bin/sh".into(),
                command_line: "sh -c x".into(),
                ..Default::default()
            },
        );
        Enricher {
            table,
            proc_root: "/nonexistent-proc".into(),
            clock: Clock { boot_offset_ns: 0 },
            linkage: Default::default(),
        }
    }

    #[test]
    fn memfd_exec_after_fork_names_parent_and_memfd() {
        let mut e = enricher();
        e.event(&Record::Fork(RawFork {
            header: header(Kind::Fork, 100, 1),
            child_pid: 101,
            pad0: 0,
        }));
        let mut args = [0u8; ARGS_LEN];
        args[..8].copy_from_slice(b"payload\0");
        let exec = RawExec {
            header: header(Kind::Exec, 101, 100),
            exec_syscall: 322,
            origin: AddressClass::Main as u32,
            exe_flags: EXE_MEMFD | EXE_DELETED,
            args_len: 8,
            old_tid: 101,
            pad0: 0,
            origin_name: fill_c_str("dropper"),
            exe_name: fill_c_str("memfd:payload"),
            filename: fill_c_str("/dev/fd/3"),
            args,
        };
        let event = e.event(&Record::Exec(Box::new(exec))).unwrap();
        assert_eq!(event.get_str("EventType"), Some("process_creation"));
        assert_eq!(event.get_str("Image"), Some("memfd:payload"));
        assert_eq!(event.get_str("ParentImage"), Some("/bin/sh"));
        assert_eq!(event.get_str("ParentCommandLine"), Some("sh -c x"));
        assert_eq!(event.get_str("CommandLine"), Some("payload"));
        assert_eq!(event.get_str("ExecSyscall"), Some("execveat"));
        assert_eq!(event.get_str("SyscallOrigin"), Some("main"));
        assert_eq!(event.get_str("User"), Some("root"));
        assert_eq!(
            event.get("ExeIsMemfd"),
            Some(&nativeguard_event::Value::Bool(true))
        );
        assert_eq!(
            event.get("ExeDeleted"),
            Some(&nativeguard_event::Value::Bool(false))
        );
    }

    #[test]
    fn ptrace_into_child_and_non_child() {
        let mut e = enricher();
        e.table.fork(100, 101);
        let raw = |target: u64| RawSyscall {
            header: header(Kind::Syscall, 100, 1),
            nr: 101,
            args: [5, target, 0, 0, 0, 0],
            ip: 0,
            origin: AddressClass::File as u32,
            region: 0,
            str_len: 0,
            pad0: 0,
            origin_name: fill_c_str("libc.so.6"),
            str: [0; 256],
        };
        let event = e.event(&Record::Syscall(Box::new(raw(101)))).unwrap();
        assert_eq!(event.get_str("SYSCALL"), Some("ptrace"));
        assert_eq!(event.get_str("PtraceRequest"), Some("PTRACE_POKEDATA"));
        assert_eq!(event.get_str("SyscallOrigin"), Some("libc"));
        assert_eq!(
            event.get("TargetIsChild"),
            Some(&nativeguard_event::Value::Bool(true))
        );
        let event = e.event(&Record::Syscall(Box::new(raw(1)))).unwrap();
        assert_eq!(
            event.get("TargetIsChild"),
            Some(&nativeguard_event::Value::Bool(false))
        );
        assert_eq!(event.get_str("TargetIsSelf"), Some("false"));
    }

    #[test]
    fn decodes_prot_and_names() {
        assert_eq!(prot_text(7), "rwx");
        assert_eq!(prot_text(5), "r-x");
        assert_eq!(syscall_name(319), Some("memfd_create"));
        assert_eq!(syscall_name(39), None);
        assert_eq!(
            origin_of(AddressClass::File, "ld-linux-x86-64.so.2"),
            SyscallOrigin::Loader
        );
    }
}
