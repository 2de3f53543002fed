//! The trace loop: start the command, follow every process and thread it creates, turn stops
//! into events (and, when learning, into a profile), and report how the command ended.

use crate::decode::{self, Decoded, Sensitive, Tracee};
use crate::elf;
use crate::learn::Learner;
use crate::maps::Maps;
use crate::procfs::{self, ExeName, UserNames};
use crate::sys::{self, Pid, Resume, SyscallStopKind, WaitStatus};
use crate::Error;
use nativeguard_event::linux::{self, ProcessInfo, SyscallOrigin, SyscallRecord};
use nativeguard_event::{Event, Origin, Timestamp};
use nativeguard_syscalls::Arch;
use std::collections::HashMap;
use std::sync::Arc;

/// How the traced command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

impl ChildExit {
    /// Whether it exited with code 0.
    pub fn success(self) -> bool {
        self == ChildExit::Code(0)
    }
}

/// Counters of one trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceStats {
    /// Processes seen (the command and every descendant).
    pub processes: u64,
    /// ptrace stops handled.
    pub stops: u64,
    /// Events emitted.
    pub events: u64,
}

/// The ABI name used in events (`SyscallRecord::arch`).
pub(crate) fn abi_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::I386 => "i386",
        Arch::X32 => "x32",
        Arch::Aarch64 => "aarch64",
    }
}

/// The ABI of a call from `PTRACE_GET_SYSCALL_INFO`'s audit arch and number.
pub(crate) fn call_abi(audit_arch: u32, number: u64) -> Option<Arch> {
    match audit_arch {
        nativeguard_syscalls::AUDIT_ARCH_X86_64
            if number & u64::from(nativeguard_syscalls::X32_SYSCALL_BIT) != 0 =>
        {
            Some(Arch::X32)
        }
        nativeguard_syscalls::AUDIT_ARCH_X86_64 => Some(Arch::X86_64),
        nativeguard_syscalls::AUDIT_ARCH_I386 => Some(Arch::I386),
        nativeguard_syscalls::AUDIT_ARCH_AARCH64 => Some(Arch::Aarch64),
        _ => None,
    }
}

/// Length of the syscall instruction the reported instruction pointer is just past
/// (`syscall` and `int 0x80` are both two bytes on x86; `svc #0` is four on aarch64).
fn syscall_instruction_len(arch: Arch) -> u64 {
    match arch {
        Arch::Aarch64 => 4,
        _ => 2,
    }
}

/// A call seen at entry whose event waits for the call's result.
struct Pending {
    call: Sensitive,
    caller: ProcessInfo,
    record: SyscallRecord,
    exec_filename: Option<String>,
    /// Reported only if the descriptor it returns is a process's memory file.
    check_opened: bool,
}

struct Thread {
    tgid: u32,
    pending: Option<Pending>,
}

struct Process {
    info: ProcessInfo,
    /// `/proc/PID/exe` as the maps file spells it (the main binary's mapping name).
    exe_link: Option<String>,
    /// Cached mappings; dropped when the process execs or changes executable memory.
    maps: Option<Maps>,
    /// `/proc/PID/maps` kept open for `PROCMAP_QUERY` (it stays bound to this address space:
    /// an exec makes a new `Process`).
    maps_file: Option<std::fs::File>,
    /// `ImageLinkage` of the executable, read once per exec.
    linkage: Option<&'static str>,
}

impl Process {
    fn maps(&mut self, pid: u32) -> &Maps {
        self.maps
            .get_or_insert_with(|| Maps::parse(&procfs::read_maps(pid).unwrap_or_default()))
    }
}

/// What the trace loop needs from its caller.
pub(crate) struct SessionConfig<'a> {
    pub learn: Option<&'a mut Learner>,
    pub resume: Resume,
    pub sink: &'a mut dyn FnMut(Event),
    /// Called once, after the first stop (the command's exec) has been handled and the command
    /// resumed.
    pub on_running: Option<Box<dyn FnOnce() + 'a>>,
}

pub(crate) struct Session<'a> {
    config: SessionConfig<'a>,
    threads: HashMap<Pid, Thread>,
    processes: HashMap<u32, Process>,
    users: UserNames,
    root: Pid,
    root_exit: Option<ChildExit>,
    root_execed: bool,
    mappings: MappingLookup,
    source: Arc<str>,
    stats: TraceStats,
    /// Events of the stop being handled, for the sink once the tracee has been resumed.
    emitted: Vec<Event>,
}

impl<'a> Session<'a> {
    /// A session for the command `root`, started by this process, which `tracer` describes
    /// (with its raw `/proc/PID/exe` link; read with `users`).
    pub(crate) fn new(
        root: Pid,
        config: SessionConfig<'a>,
        users: UserNames,
        (tracer, tracer_exe_link): (ProcessInfo, Option<String>),
    ) -> Session<'a> {
        // The command has not exec'd yet (it shares this process's memory until it does):
        // the same program, command line, ids, cgroup and directory as the tracer (no /proc
        // read of the child).
        let info = ProcessInfo {
            pid: root as u32,
            ppid: tracer.pid,
            parent_image: tracer.image.clone(),
            parent_command_line: tracer.command_line.clone(),
            ..tracer.clone()
        };
        let mut session = Session {
            config,
            threads: HashMap::new(),
            processes: HashMap::new(),
            users,
            root,
            root_exit: None,
            root_execed: false,
            mappings: MappingLookup::default(),
            source: Arc::from("trace"),
            stats: TraceStats::default(),
            emitted: Vec::new(),
        };
        session.threads.insert(
            root,
            Thread {
                tgid: root as u32,
                pending: None,
            },
        );
        session.processes.insert(
            root as u32,
            Process {
                exe_link: tracer_exe_link,
                info,
                maps: None,
                maps_file: None,
                linkage: None,
            },
        );
        session.stats.processes = 1;
        session
    }

    /// Runs until no tracee is left. Returns how the command ended, whether it ever exec'd,
    /// and the counters.
    pub(crate) fn run(mut self) -> Result<(Option<ChildExit>, bool, TraceStats), Error> {
        while let Some((tid, status)) = sys::wait_any().map_err(|source| Error::Trace {
            call: "waitpid",
            pid: -1,
            source,
        })? {
            self.stats.stops += 1;
            let handled = self.handle(tid, status);
            self.deliver();
            handled?;
            if let Some(on_running) = self.config.on_running.take() {
                on_running();
            }
        }
        Ok((self.root_exit, self.root_execed, self.stats))
    }

    fn resume(&self, tid: Pid, how: Resume, signal: i32) -> Result<(), Error> {
        sys::resume(tid, how, signal).map_err(|source| Error::Trace {
            call: match how {
                Resume::Continue => "PTRACE_CONT",
                Resume::Syscall => "PTRACE_SYSCALL",
                Resume::Listen => "PTRACE_LISTEN",
            },
            pid: tid,
            source,
        })
    }

    fn handle(&mut self, tid: Pid, status: WaitStatus) -> Result<(), Error> {
        match status {
            WaitStatus::Exited(code) => {
                self.gone(tid, ChildExit::Code(code));
                Ok(())
            }
            WaitStatus::Signaled(signal) => {
                self.gone(tid, ChildExit::Signal(signal));
                Ok(())
            }
            WaitStatus::SyscallStop => {
                self.ensure_thread(tid);
                let how = self.syscall_stop(tid);
                self.resume(tid, how, 0)
            }
            WaitStatus::Event(event, signal) => {
                self.ensure_thread(tid);
                let how = self.event_stop(tid, event, signal);
                self.resume(tid, how, 0)
            }
            WaitStatus::Signal(signal) => {
                self.ensure_thread(tid);
                // A signal-delivery stop: deliver the signal as if we were not here.
                self.resume(tid, self.config.resume, signal)
            }
        }
    }

    /// Registers a tracee seen for the first time (a new child may report its first stop
    /// before its parent reports the fork).
    fn ensure_thread(&mut self, tid: Pid) {
        if self.threads.contains_key(&tid) {
            return;
        }
        let status = procfs::read_status(tid as u32).unwrap_or_default();
        let tgid = if status.tgid != 0 {
            status.tgid
        } else {
            tid as u32
        };
        self.threads.insert(
            tid,
            Thread {
                tgid,
                pending: None,
            },
        );
        if !self.processes.contains_key(&tgid) {
            self.new_process(tgid, status.ppid);
        }
    }

    fn new_process(&mut self, pid: u32, parent: u32) {
        let (mut info, exe_link) = match self.processes.get(&parent) {
            // A fork copies its parent: same image, command line and executable until it
            // execs (it has not run yet: a new tracee starts stopped).
            Some(parent_process) => {
                let mut info = parent_process.info.clone();
                info.pid = pid;
                info.ppid = parent;
                info.parent_image = parent_process.info.image.clone();
                info.parent_command_line = parent_process.info.command_line.clone();
                (info, parent_process.exe_link.clone())
            }
            None => procfs::read_process_and_exe_link(pid, &mut self.users),
        };
        info.pid = pid;
        self.processes.insert(
            pid,
            Process {
                info,
                exe_link,
                maps: None,
                maps_file: None,
                linkage: None,
            },
        );
        self.stats.processes += 1;
    }

    fn gone(&mut self, tid: Pid, how: ChildExit) {
        if let Some(thread) = self.threads.remove(&tid) {
            if let Some(pending) = thread.pending {
                // Killed inside the call: report what was seen, without a result.
                self.emit_unfinished(pending);
            }
            if thread.tgid == tid as u32 {
                self.processes.remove(&thread.tgid);
            }
        }
        if tid == self.root {
            self.root_exit = Some(how);
        }
    }

    fn event_stop(&mut self, tid: Pid, event: i32, signal: i32) -> Resume {
        match event {
            libc::PTRACE_EVENT_SECCOMP => self.syscall_stop(tid),
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                if let Ok(child) = sys::event_message(tid) {
                    self.forked(tid, child as Pid);
                }
                self.config.resume
            }
            libc::PTRACE_EVENT_VFORK_DONE => {
                // The vfork child shared this process's memory and may have changed it.
                if let Some(process) = self.thread_process(tid) {
                    process.maps = None;
                }
                self.config.resume
            }
            libc::PTRACE_EVENT_EXEC => {
                let former = sys::event_message(tid).map(|t| t as Pid).unwrap_or(tid);
                self.execed(tid, former);
                self.config.resume
            }
            sys::PTRACE_EVENT_STOP => {
                if matches!(
                    signal,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                ) {
                    // Group-stop: stay stopped, as job control expects.
                    Resume::Listen
                } else {
                    self.config.resume
                }
            }
            _ => self.config.resume,
        }
    }

    fn thread_process(&mut self, tid: Pid) -> Option<&mut Process> {
        let tgid = self.threads.get(&tid)?.tgid;
        self.processes.get_mut(&tgid)
    }

    fn forked(&mut self, parent_tid: Pid, child: Pid) {
        if self.threads.contains_key(&child) {
            return;
        }
        let parent_tgid = self
            .threads
            .get(&parent_tid)
            .map_or(parent_tid as u32, |t| t.tgid);
        let tgid = procfs::read_status(child as u32)
            .map(|s| s.tgid)
            .filter(|&tgid| tgid != 0)
            .unwrap_or(child as u32);
        self.threads.insert(
            child,
            Thread {
                tgid,
                pending: None,
            },
        );
        if !self.processes.contains_key(&tgid) {
            self.new_process(tgid, parent_tgid);
        }
    }

    fn execed(&mut self, tid: Pid, former: Pid) {
        // A non-leader thread that execs takes over the leader's id.
        let mut pending = self
            .threads
            .get_mut(&former)
            .and_then(|thread| thread.pending.take());
        if former != tid {
            self.threads.remove(&former);
            // The leader, whose id the exec'ing thread now has, was killed by the exec (its
            // death is not reported): a call it was inside is reported without a result, as
            // for any tracee killed inside a call, and not left for the new program's thread.
            let killed = self
                .threads
                .get_mut(&tid)
                .and_then(|leader| leader.pending.take());
            if let Some(killed) = killed {
                self.emit_unfinished(killed);
            }
        }
        if let Some(thread) = self.threads.get_mut(&tid) {
            pending = pending.or_else(|| thread.pending.take());
        }
        let tgid = self.threads.get(&tid).map_or(tid as u32, |t| t.tgid);
        let (mut info, exe_link) = procfs::read_process_and_exe_link(tgid, &mut self.users);
        let parent = info.ppid;
        match self.processes.get(&parent) {
            Some(parent_process) => {
                info.parent_image = parent_process.info.image.clone();
                info.parent_command_line = parent_process.info.command_line.clone();
            }
            None => {
                if let Some(previous) = self.processes.get(&tgid) {
                    info.parent_image = previous.info.parent_image.clone();
                    info.parent_command_line = previous.info.parent_command_line.clone();
                }
            }
        }
        if tid == self.root {
            self.root_execed = true;
        }
        let (exec_syscall, origin, filename) = match pending {
            Some(pending) if pending.call.is_exec() => {
                let name = pending.record.name.clone();
                let origin = pending.record.origin;
                let mut record = pending.record;
                record.ret = Some(0);
                self.emit_syscall(&pending.caller, record);
                (name, origin, pending.exec_filename)
            }
            other => {
                if let Some(pending) = other {
                    self.emit_unfinished(pending);
                }
                ("execve".to_string(), SyscallOrigin::Unknown, None)
            }
        };
        self.processes.insert(
            tgid,
            Process {
                exe_link,
                info: info.clone(),
                maps: None,
                maps_file: None,
                linkage: None,
            },
        );
        let mut event = linux::process_creation(&info, &exec_syscall, origin);
        // As the sensor does: the name the program was started by, before symlinks.
        if let Some(filename) = filename {
            event.insert("ExecFilename", filename);
        }
        self.emit(event);
    }

    /// A syscall-enter, syscall-exit or seccomp stop.
    fn syscall_stop(&mut self, tid: Pid) -> Resume {
        let default = self.config.resume;
        let Ok(info) = sys::syscall_info(tid) else {
            return default;
        };
        match info.kind {
            SyscallStopKind::Exit => {
                let pending = self
                    .threads
                    .get_mut(&tid)
                    .and_then(|thread| thread.pending.take());
                if let Some(pending) = pending {
                    let mut record = pending.record;
                    record.ret = Some(info.return_value);
                    let tgid = pending.caller.pid;
                    if !pending.check_opened || opened_memory_file(tgid, &mut record) {
                        self.emit_syscall(&pending.caller, record);
                    }
                }
                default
            }
            SyscallStopKind::Entry | SyscallStopKind::Seccomp => self.syscall_entry(tid, &info),
            SyscallStopKind::None => default,
        }
    }

    fn syscall_entry(&mut self, tid: Pid, info: &sys::SyscallInfo) -> Resume {
        let default = self.config.resume;
        let Some(arch) = call_abi(info.arch, info.number) else {
            return default;
        };
        let number = u32::try_from(info.number).ok();
        let name = number.and_then(|nr| nativeguard_syscalls::name(arch, nr));
        let Some(tgid) = self.threads.get(&tid).map(|t| t.tgid) else {
            return default;
        };
        if let Some(learner) = self.config.learn.as_deref_mut() {
            let mut memory = |address: u64, buf: &mut [u8]| sys::read_memory(tid, address, buf);
            learner.record(arch, name, info.number, &info.args, &mut memory);
        }
        let abi = abi_name(arch);
        let Some(call) = name.and_then(|name| Sensitive::from_name(abi, name)) else {
            return default;
        };
        let address = info
            .instruction_pointer
            .wrapping_sub(syscall_instruction_len(arch));
        let keep_file = self.processes.len() <= MAX_OPEN_MAPS_FILES;
        let Some(process) = self.processes.get_mut(&tgid) else {
            return default;
        };
        let mut tracee = LiveTracee {
            tid,
            tgid,
            process,
            mappings: &mut self.mappings,
            keep_file,
        };
        let mut decoded: Decoded = decode::decode(call, abi, &info.args, &mut tracee);
        let process = process_of(&mut self.processes, tgid);
        if call.changes_mappings() {
            process.maps = None;
        }
        if !decoded.report && !call.is_exec() && !decoded.check_opened {
            return default;
        }
        // The caller's mapping is looked up only for a call that is reported: most stops are a
        // loader's executable mapping of a library, which is not, and the lookup opens the
        // process's maps file. The call has not run yet: the mappings are those it was made in.
        let (origin, origin_path) = self
            .mappings
            .classify(process, tgid, address, true, keep_file);
        if origin == SyscallOrigin::MainBinary {
            // The direct-syscall rule needs to know the program normally uses libc.
            let linkage = *process
                .linkage
                .get_or_insert_with(|| elf::linkage_of(&format!("/proc/{tgid}/exe")));
            decoded
                .fields
                .push(("ImageLinkage".to_string(), linkage.to_string()));
        }
        let mut caller = self.processes[&tgid].info.clone();
        caller.current_directory = procfs::cwd(tgid).unwrap_or(caller.current_directory);
        let record = SyscallRecord {
            name: name.unwrap_or_default().to_string(),
            number: info.number as i64,
            arch: abi.to_string(),
            args: info.args,
            ret: None,
            origin,
            origin_path,
            target_pid: decoded.target_pid,
            target_is_child: decoded.target_is_child,
            path: decoded.path,
            decoded: decoded.fields,
        };
        if let Some(thread) = self.threads.get_mut(&tid) {
            thread.pending = Some(Pending {
                call,
                caller,
                record,
                exec_filename: decoded.exec_filename,
                check_opened: decoded.check_opened,
            });
        }
        // Stop again at the call's exit for its result (an exec reports at the exec stop).
        Resume::Syscall
    }

    /// A call that never returned (its thread was killed inside it): reported without a
    /// result, unless whether to report it depended on the result.
    fn emit_unfinished(&mut self, pending: Pending) {
        if !pending.check_opened {
            self.emit_syscall(&pending.caller, pending.record);
        }
    }

    fn emit_syscall(&mut self, caller: &ProcessInfo, record: SyscallRecord) {
        let event = linux::syscall(caller, &record);
        self.emit(event);
    }

    fn emit(&mut self, mut event: Event) {
        self.stats.events += 1;
        event.timestamp = Some(Timestamp::now());
        event.origin = Origin {
            source: Some(self.source.clone()),
            record_id: Some(self.stats.events),
        };
        self.emitted.push(event);
    }

    /// Hands the last stop's events to the sink, once the stopped tracee has been resumed:
    /// it runs while the sink evaluates and writes them, instead of waiting for that.
    fn deliver(&mut self) {
        for event in self.emitted.drain(..) {
            (self.config.sink)(event);
        }
    }
}

/// Whether the descriptor an open returned (in `record.ret`) is some process's memory file,
/// whatever name opened it (a symbolic link, `/proc/self/fd/N`); if so the record gets the
/// file's own path and the target, as an open naming it directly does.
fn opened_memory_file(tgid: u32, record: &mut SyscallRecord) -> bool {
    let Some(fd) = record.ret.and_then(|ret| u32::try_from(ret).ok()) else {
        return false;
    };
    let Ok(link) = std::fs::read_link(format!("/proc/{tgid}/fd/{fd}")) else {
        return false;
    };
    let Some(path) = link.to_str() else {
        return false;
    };
    let Some(target) = linux::proc_mem_target(path, tgid) else {
        return false;
    };
    let mut acted_on = Decoded::default();
    acted_on.set_target(target, tgid, |pid| procfs::is_descendant(pid, tgid));
    record.target_pid = acted_on.target_pid;
    record.target_is_child = acted_on.target_is_child;
    record.decoded.extend(acted_on.fields);
    record.path = Some(path.to_string());
    true
}

fn process_of(processes: &mut HashMap<u32, Process>, tgid: u32) -> &mut Process {
    processes.entry(tgid).or_insert_with(|| Process {
        info: ProcessInfo {
            pid: tgid,
            ..ProcessInfo::default()
        },
        exe_link: None,
        maps: None,
        maps_file: None,
        linkage: None,
    })
}

/// Most processes for which `/proc/PID/maps` stays open between queries: past it (a
/// fork-heavy command), each query opens and closes the file, so that the tracer never runs
/// out of descriptors. A process keeps its file only while it lives, so at most this many
/// are open.
const MAX_OPEN_MAPS_FILES: usize = 256;

/// Answers which mapping of a tracee holds an address.
struct MappingLookup {
    /// The kernel answers `PROCMAP_QUERY` (Linux 6.11+); cleared at its first `ENOTTY`.
    query: bool,
    /// Buffer for the mapping's name.
    name: Vec<u8>,
}

impl Default for MappingLookup {
    fn default() -> Self {
        MappingLookup {
            query: true,
            name: Vec::new(),
        }
    }
}

impl MappingLookup {
    /// What kind of memory holds `address` in `process`, and the mapping's file.
    ///
    /// Asked of the kernel when it can answer (one `PROCMAP_QUERY`, always current); else,
    /// or when no mapping holds the address, looked up in the cached maps file. With
    /// `recheck`, a cached map that does not show the address in executable memory is read
    /// again first: it may be stale (memory made executable by a call that is not trapped,
    /// such as `shmat`).
    /// `keep_file`: keep the process's maps file open for its next queries.
    fn classify(
        &mut self,
        process: &mut Process,
        pid: u32,
        address: u64,
        recheck: bool,
        keep_file: bool,
    ) -> (SyscallOrigin, Option<String>) {
        if self.query {
            match self.query(process, pid, address, keep_file) {
                Ok(Some(mapping)) => {
                    let origin = SyscallOrigin::classify(
                        mapping.path.as_deref(),
                        process.exe_link.as_deref(),
                    );
                    return (origin, mapping.path);
                }
                Err(error) if error.raw_os_error() == Some(libc::ENOTTY) => self.query = false,
                // Nothing mapped there ([vsyscall] is no VMA), or the query failed.
                Ok(None) | Err(_) => {}
            }
        }
        let executable = |maps: &Maps| maps.find(address).is_some_and(|m| m.execute);
        if recheck && !executable(process.maps(pid)) {
            process.maps = None;
        }
        let exe = process.exe_link.clone();
        process.maps(pid).classify(address, exe.as_deref())
    }

    fn query(
        &mut self,
        process: &mut Process,
        pid: u32,
        address: u64,
        keep_file: bool,
    ) -> std::io::Result<Option<crate::maps::Mapping>> {
        let file = match process.maps_file.take() {
            Some(file) => file,
            None => std::fs::File::open(format!("/proc/{pid}/maps"))?,
        };
        let found = sys::query_mapping(&file, address, &mut self.name);
        if keep_file {
            process.maps_file = Some(file);
        }
        found
    }
}

struct LiveTracee<'a> {
    tid: Pid,
    tgid: u32,
    process: &'a mut Process,
    mappings: &'a mut MappingLookup,
    keep_file: bool,
}

impl Tracee for LiveTracee<'_> {
    fn pid(&self) -> u32 {
        self.tgid
    }

    fn read(&mut self, address: u64, buf: &mut [u8]) -> usize {
        sys::read_memory(self.tid, address, buf)
    }

    fn fd_target(&mut self, fd: i32) -> Option<ExeName> {
        procfs::fd_target(self.tgid, fd)
    }

    fn cwd(&mut self) -> Option<String> {
        procfs::cwd(self.tgid)
    }

    fn memory_region(&mut self, address: u64) -> (SyscallOrigin, Option<String>) {
        self.mappings
            .classify(self.process, self.tgid, address, false, self.keep_file)
    }

    fn exe(&self) -> Option<String> {
        self.process.exe_link.clone()
    }

    fn is_descendant(&mut self, pid: u32) -> bool {
        procfs::is_descendant(pid, self.tgid)
    }
}

impl Drop for Session<'_> {
    /// Fail safe: a trace that stops early kills what it traced (EXITKILL only acts when the
    /// whole tracer process exits) and reaps it.
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        for &tid in self.threads.keys() {
            sys::kill(tid, libc::SIGKILL);
        }
        while let Ok(Some(_)) = sys::wait_any() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_descriptors() -> usize {
        std::fs::read_dir("/proc/self/fd").map_or(0, |entries| entries.count())
    }

    #[test]
    fn open_maps_files_are_bounded() {
        // More live processes than MAX_OPEN_MAPS_FILES, each looking up its caller's mapping
        // (an open for writing is checked when it returns, so its origin is taken at entry)
        // while the others still live: a subshell that truncates /dev/null, then waits.
        let processes = MAX_OPEN_MAPS_FILES + 64;
        let script =
            format!("for i in $(seq {processes}); do (: >/dev/null; sleep 2; :) & done; wait");
        let before = open_descriptors();
        let mut most = before;
        let mut sleeps = 0;
        let result = crate::Tracer::new(["sh", "-c", &script]).run(|event| {
            most = most.max(open_descriptors());
            if event.get_str("EventType") == Some("process_creation")
                && event
                    .get_str("Image")
                    .is_some_and(|image| image.ends_with("/sleep"))
            {
                sleeps += 1;
            }
        });
        let result = result.unwrap_or_else(|e| panic!("{e}"));
        assert!(result.exit.success(), "{:?}", result.exit);
        assert_eq!(sleeps, processes, "every sleep is seen");
        // Other tests of this binary open files too: allow a margin.
        assert!(
            most <= before + MAX_OPEN_MAPS_FILES + 32,
            "{most} descriptors open (from {before})"
        );
        if sys::query_mapping(
            &std::fs::File::open("/proc/self/maps").unwrap_or_else(|e| panic!("{e}")),
            0,
            &mut Vec::new(),
        )
        .is_ok()
        {
            // The kernel answers PROCMAP_QUERY: the files are kept open while their processes
            // live (none would be open between stops otherwise). How many sleeps overlap
            // depends on how fast a loaded machine forks 320 traced processes (114 at once was
            // seen under CI load), so only a count that caching alone explains is required.
            assert!(most >= before + 32, "{most} from {before}");
        }
    }
}
