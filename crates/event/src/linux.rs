//! The Linux event schema shared by the eBPF sensor and the ptrace tracer.
//!
//! Both sources describe what a process did with the same fields, so the same Sigma rules run
//! on either. Field names follow Sigma's Linux taxonomy so SigmaHQ rules apply unchanged:
//! - `process_creation` events carry Sysmon-for-Linux style fields (`Image`, `CommandLine`,
//!   `ParentImage`, `User`, ...), matched by `product: linux, category: process_creation`;
//! - `syscall` events carry auditd-style fields (`type: SYSCALL`, `SYSCALL`, `a0`..`a3`, `exe`,
//!   `comm`, `key`), matched by `product: linux, service: auditd`.
//!
//! Both add where the syscall instruction lived ([`SyscallOrigin`]), which no auditd record has.
//!
//! For one call seen by both sources the fields hold the same values (the CLI test
//! `crates/cli/tests/parity.rs` runs the T1106 emulations under both at once and compares them):
//! - `Image` / `exe` is the executable as `/proc/PID/exe` names it (symlinks resolved; the
//!   interpreter for a script; `memfd:NAME` for a memfd), as Sysmon for Linux reports it;
//! - `SyscallOriginPath` is the full path of the mapping as `/proc/PID/maps` prints it;
//! - flags and requests are named from the one table of each kind in
//!   `nativeguard_syscalls::flags` (`MFD_CLOEXEC`, `O_RDWR|O_CREAT`, `PTRACE_POKEDATA`).
//!
//! Fields only one source gives:
//! - `exit` and `success` (tracer only): the tracer stops at the call's exit and sees its
//!   result; the sensor reports a call at its entry, because an exec replaces the memory its
//!   strings are read from and a call that never returns must still be seen. Rules that need
//!   the result run on the tracer's events only.
//! - `BpfProgramType` and `ModuleParams` (tracer only): read from the caller's memory, which
//!   the sensor does not copy.
//! - `ExecFilename` of the sensor is the kernel's copy of the exec path (`bprm->filename`); the
//!   tracer rebuilds the same text from the arguments.

use crate::{Event, Value};

/// The `EventType` field's values: which kind of Linux event this is.
pub mod event_type {
    /// A successful exec (sched_process_exec / ptrace exec stop).
    pub const PROCESS_CREATION: &str = "process_creation";
    /// One sensitive system call.
    pub const SYSCALL: &str = "syscall";
    /// A process exited.
    pub const PROCESS_EXIT: &str = "process_exit";
    /// A process forked or cloned a new process.
    pub const PROCESS_FORK: &str = "process_fork";
}

/// The `key` auditd field set on every syscall event, so auditd-keyed rules can tell ours apart.
pub const AUDIT_KEY: &str = "nativeguard";

/// Where the instruction that made a system call lies in the caller's address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyscallOrigin {
    /// In the C library (libc.so, libpthread, ...): the normal path.
    Libc,
    /// In the dynamic loader (ld-linux*.so).
    Loader,
    /// In the vDSO.
    Vdso,
    /// In the process's own executable: a direct `syscall` instruction in the program.
    MainBinary,
    /// In some other file-backed mapping (another shared library).
    OtherFile,
    /// In anonymous memory: shellcode or a JIT.
    Anonymous,
    /// On the stack.
    Stack,
    /// On the heap.
    Heap,
    /// Not determined (no mapping found, or the source cannot tell).
    Unknown,
}

impl SyscallOrigin {
    /// The value of the `SyscallOrigin` field.
    pub fn as_str(self) -> &'static str {
        match self {
            SyscallOrigin::Libc => "libc",
            SyscallOrigin::Loader => "loader",
            SyscallOrigin::Vdso => "vdso",
            SyscallOrigin::MainBinary => "main",
            SyscallOrigin::OtherFile => "file",
            SyscallOrigin::Anonymous => "anonymous",
            SyscallOrigin::Stack => "stack",
            SyscallOrigin::Heap => "heap",
            SyscallOrigin::Unknown => "unknown",
        }
    }

    /// Whether the call bypassed the C library and loader (a direct syscall or shellcode).
    pub fn bypasses_libc(self) -> bool {
        matches!(
            self,
            SyscallOrigin::MainBinary
                | SyscallOrigin::Anonymous
                | SyscallOrigin::Stack
                | SyscallOrigin::Heap
                | SyscallOrigin::OtherFile
        )
    }

    /// Classifies a mapping by its path as `/proc/PID/maps` (or the kernel's vma file) names it:
    /// `None` is an anonymous mapping; `exe` is the process's executable path.
    pub fn classify(mapping: Option<&str>, exe: Option<&str>) -> SyscallOrigin {
        let Some(path) = mapping else {
            return SyscallOrigin::Anonymous;
        };
        match path {
            "[vdso]" | "[vsyscall]" => return SyscallOrigin::Vdso,
            "[stack]" => return SyscallOrigin::Stack,
            "[heap]" => return SyscallOrigin::Heap,
            "" => return SyscallOrigin::Anonymous,
            _ => {}
        }
        // Memory with no file behind it that the kernel names anyway: memfds, shared
        // anonymous memory (MAP_SHARED|MAP_ANONYMOUS is "/dev/zero (deleted)", as is a
        // mapping of /dev/zero) and SysV shared memory ("/SYSV0000002a (deleted)").
        if path.starts_with('[')
            || path.starts_with("/memfd:")
            || path.starts_with("memfd:")
            || path.starts_with("/SYSV")
            || path.strip_suffix(" (deleted)").unwrap_or(path) == "/dev/zero"
        {
            return SyscallOrigin::Anonymous;
        }
        if exe.is_some_and(|exe| exe == path) {
            return SyscallOrigin::MainBinary;
        }
        let file = path.rsplit('/').next().unwrap_or(path);
        if file.starts_with("ld-linux")
            || file.starts_with("ld64.so")
            || file.starts_with("ld-musl")
        {
            SyscallOrigin::Loader
        } else if file.starts_with("libc.so")
            || file.starts_with("libc-")
            || file.starts_with("libpthread")
            || file.starts_with("libc.musl")
        {
            SyscallOrigin::Libc
        } else {
            SyscallOrigin::OtherFile
        }
    }
}

/// Collapses `.`, `..` and doubled slashes of an absolute path, without resolving symlinks (a
/// `TargetPath` is the path the caller named, made absolute): both sources use it, so a path
/// argument reads the same from either.
pub fn normalize_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Whether an absolute, normalized path names some process's memory file, and whose:
/// `/proc/PID/mem`, `/proc/self/mem` (the caller), `/proc/PID/task/TID/mem`,
/// `/proc/thread-self/mem`. Both sources decide `TargetProcessId` of an open with it.
pub fn proc_mem_target(path: &str, caller: u32) -> Option<u32> {
    let rest = path.strip_prefix("/proc/")?;
    let rest = rest.strip_suffix("/mem")?;
    let process = rest.split('/').next()?;
    let tail: Vec<&str> = rest.split('/').skip(1).collect();
    let valid_tail = tail.is_empty() || (tail.len() == 2 && tail[0] == "task");
    if !valid_tail {
        return None;
    }
    match process {
        "self" | "thread-self" => Some(caller),
        pid => pid.parse().ok(),
    }
}

/// An executable or open file as `Image` / `TargetPath` show it, from the target of a
/// `/proc/PID/exe` or `/proc/PID/fd/N` link: a memfd's `/memfd:NAME (deleted)` is
/// `memfd:NAME`, a deleted file keeps its path. Returns the text and whether the file was
/// deleted (never for a memfd, which has no file to delete).
pub fn image_from_link(link: &str) -> (String, bool) {
    let (path, deleted) = match link.strip_suffix(" (deleted)") {
        Some(path) => (path, true),
        None => (link, false),
    };
    match path.strip_prefix("/memfd:") {
        Some(name) => (format!("memfd:{name}"), false),
        None => (path.to_string(), deleted),
    }
}

/// What is known about the process that did something.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Thread-group id.
    pub pid: u32,
    /// Parent's thread-group id.
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// User name for `uid`, when known.
    pub user: Option<String>,
    /// Executable path (`/proc/PID/exe`, or `memfd:name` for fileless programs).
    pub image: String,
    /// Command line, arguments joined by spaces.
    pub command_line: String,
    /// The kernel's short task name.
    pub comm: String,
    /// Parent's executable path.
    pub parent_image: String,
    /// Parent's command line.
    pub parent_command_line: String,
    /// Working directory.
    pub current_directory: String,
    /// cgroup v2 id.
    pub cgroup_id: u64,
    /// The executable is a memfd (fileless).
    pub exe_is_memfd: bool,
    /// The executable was deleted from disk after it started.
    pub exe_deleted: bool,
}

impl ProcessInfo {
    fn add_to(&self, event: &mut Event) {
        event.insert("ProcessId", self.pid);
        event.insert("ParentProcessId", self.ppid);
        event.insert("Image", self.image.as_str());
        event.insert("CommandLine", self.command_line.as_str());
        event.insert("ParentImage", self.parent_image.as_str());
        event.insert("ParentCommandLine", self.parent_command_line.as_str());
        event.insert("CurrentDirectory", self.current_directory.as_str());
        match &self.user {
            Some(user) => event.insert("User", user.as_str()),
            None => event.insert("User", Value::Null),
        }
        event.insert("uid", self.uid);
        event.insert("gid", self.gid);
        event.insert("comm", self.comm.as_str());
        event.insert("CgroupId", self.cgroup_id);
        event.insert("ExeIsMemfd", self.exe_is_memfd);
        event.insert("ExeDeleted", self.exe_deleted);
    }
}

/// A process-creation (successful exec) event.
pub fn process_creation(process: &ProcessInfo, exec_syscall: &str, origin: SyscallOrigin) -> Event {
    let mut event = Event::with_capacity(20);
    event.insert("EventType", event_type::PROCESS_CREATION);
    process.add_to(&mut event);
    event.insert("ExecSyscall", exec_syscall);
    event.insert("SyscallOrigin", origin.as_str());
    event
}

/// One system call, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallRecord {
    /// Syscall name in the caller's ABI (`execve`, `memfd_create`, ...).
    pub name: String,
    /// Syscall number in the caller's ABI.
    pub number: i64,
    /// ABI name (`x86_64`, `i386`, `x32`, `aarch64`).
    pub arch: String,
    /// Raw argument registers.
    pub args: [u64; 6],
    /// Return value, when the event was taken at exit.
    pub ret: Option<i64>,
    /// Where the syscall instruction lies.
    pub origin: SyscallOrigin,
    /// The file backing the instruction's mapping, if any.
    pub origin_path: Option<String>,
    /// The other process a ptrace / process_vm_* / /proc/PID/mem call acts on.
    pub target_pid: Option<u32>,
    /// Whether that target is a descendant of the caller.
    pub target_is_child: Option<bool>,
    /// A path argument (execve filename, opened file), decoded.
    pub path: Option<String>,
    /// Other decoded arguments as (field name, text), e.g. `("Prot", "rwx")`,
    /// `("PtraceRequest", "PTRACE_POKEDATA")`.
    pub decoded: Vec<(String, String)>,
}

/// A syscall event in auditd shape plus nativeguard's origin fields.
pub fn syscall(process: &ProcessInfo, record: &SyscallRecord) -> Event {
    let mut event = Event::with_capacity(36);
    event.insert("EventType", event_type::SYSCALL);
    event.insert("type", "SYSCALL");
    event.insert("SYSCALL", record.name.as_str());
    event.insert("syscall", record.number);
    event.insert("arch", record.arch.as_str());
    // auditd prints arguments as bare lowercase hex.
    for (i, arg) in record.args.iter().take(4).enumerate() {
        event.insert(format!("a{i}"), format!("{arg:x}"));
    }
    if let Some(ret) = record.ret {
        event.insert("exit", ret);
        event.insert("success", if ret >= 0 { "yes" } else { "no" });
    }
    event.insert("exe", process.image.as_str());
    event.insert("pid", process.pid);
    event.insert("ppid", process.ppid);
    event.insert("key", AUDIT_KEY);
    process.add_to(&mut event);
    event.insert("SyscallOrigin", record.origin.as_str());
    event.insert("SyscallBypassesLibc", record.origin.bypasses_libc());
    if let Some(path) = &record.origin_path {
        event.insert("SyscallOriginPath", path.as_str());
    }
    if let Some(target) = record.target_pid {
        event.insert("TargetProcessId", target);
    }
    if let Some(child) = record.target_is_child {
        event.insert("TargetIsChild", child);
    }
    if let Some(path) = &record.path {
        event.insert("TargetPath", path.as_str());
    }
    for (name, text) in &record.decoded {
        event.insert(name.as_str(), text.as_str());
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_mappings() {
        let exe = Some("/usr/bin/demo");
        assert_eq!(SyscallOrigin::classify(None, exe), SyscallOrigin::Anonymous);
        assert_eq!(
            SyscallOrigin::classify(Some("/usr/lib/x86_64-linux-gnu/libc.so.6"), exe),
            SyscallOrigin::Libc
        );
        assert_eq!(
            SyscallOrigin::classify(Some("/lib64/ld-linux-x86-64.so.2"), exe),
            SyscallOrigin::Loader
        );
        assert_eq!(
            SyscallOrigin::classify(Some("/usr/bin/demo"), exe),
            SyscallOrigin::MainBinary
        );
        assert_eq!(
            SyscallOrigin::classify(Some("[vdso]"), exe),
            SyscallOrigin::Vdso
        );
        assert_eq!(
            SyscallOrigin::classify(Some("/memfd:x (deleted)"), exe),
            SyscallOrigin::Anonymous
        );
        for shared in [
            "/dev/zero (deleted)",
            "/SYSV0000002a (deleted)",
            "/dev/zero",
        ] {
            assert_eq!(
                SyscallOrigin::classify(Some(shared), exe),
                SyscallOrigin::Anonymous,
                "{shared}"
            );
        }
        assert_eq!(
            SyscallOrigin::classify(Some("/tmp/dropped (deleted)"), exe),
            SyscallOrigin::OtherFile
        );
        assert_eq!(
            SyscallOrigin::classify(Some("/usr/lib/libssl.so.3"), exe),
            SyscallOrigin::OtherFile
        );
        assert!(!SyscallOrigin::Libc.bypasses_libc());
        assert!(SyscallOrigin::MainBinary.bypasses_libc());
    }

    #[test]
    fn paths_and_links_read_the_same_from_both_sources() {
        assert_eq!(normalize_path("/proc/./42//mem"), "/proc/42/mem");
        assert_eq!(normalize_path("/a/../../b/"), "/b");
        assert_eq!(
            image_from_link("/memfd:x (deleted)"),
            ("memfd:x".to_string(), false)
        );
        assert_eq!(
            image_from_link("/tmp/old (deleted)"),
            ("/tmp/old".to_string(), true)
        );
        assert_eq!(
            image_from_link("/usr/bin/true"),
            ("/usr/bin/true".to_string(), false)
        );
    }

    #[test]
    fn syscall_event_has_auditd_fields() {
        let process = ProcessInfo {
            pid: 7,
            image: "/usr/bin/demo".into(),
            ..ProcessInfo::default()
        };
        let record = SyscallRecord {
            name: "memfd_create".into(),
            number: 319,
            arch: "x86_64".into(),
            args: [0x7ffd, 1, 0, 0, 0, 0],
            ret: Some(3),
            origin: SyscallOrigin::MainBinary,
            origin_path: Some("/usr/bin/demo".into()),
            target_pid: None,
            target_is_child: None,
            path: None,
            decoded: vec![("MemfdName".into(), "x".into())],
        };
        let event = syscall(&process, &record);
        assert_eq!(event.get_str("type"), Some("SYSCALL"));
        assert_eq!(event.get_str("SYSCALL"), Some("memfd_create"));
        assert_eq!(event.get_str("a0"), Some("7ffd"));
        assert_eq!(event.get_str("exe"), Some("/usr/bin/demo"));
        assert_eq!(event.get_str("SyscallOrigin"), Some("main"));
        assert_eq!(event.get("SyscallBypassesLibc"), Some(&Value::Bool(true)));
        assert_eq!(event.get_str("MemfdName"), Some("x"));
    }
}
