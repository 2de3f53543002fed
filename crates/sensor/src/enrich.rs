//! Turns decoded kernel records into [`Event`]s: keeps the process table current and fills
//! every event from it, through `nativeguard_event::linux` only.

use crate::process::{
    elf_is_dynamic, join_args, mapping_path, parse_file_mappings, path_names_file, FileMapping,
    ProcessEntry, ProcessTable, MAX_CMDLINE_READ, MAX_ELF_HEADER_READ, MAX_MAPS_READ,
};
use crate::wire::{
    c_str, AddressClass, RawExec, RawHeader, RawSyscall, Record, ARGS_LEN, EXE_DELETED, EXE_MEMFD,
};
use nativeguard_event::linux::{
    self, image_from_link, normalize_path, proc_mem_target, SyscallOrigin, SyscallRecord,
};
use nativeguard_event::{Event, Timestamp};
use nativeguard_syscalls::flags::{
    flag_names, open_flags, personality_text, prot_text, ptrace_request_name, AT_EMPTY_PATH,
    AT_FDCWD, AT_FLAGS, MAP_FLAGS, MFD_FLAGS,
};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// `MAP_ANONYMOUS`.
const MAP_ANONYMOUS: u64 = 0x20;
/// Bytes of the x86_64 `syscall` instruction: the kernel's ip is just past it.
const SYSCALL_INSTRUCTION_LEN: u64 = 2;
/// Most processes whose file mappings are kept to resolve origin paths.
pub const MAX_CACHED_MAPS: usize = 1024;
/// Most files remembered by inode for processes whose maps are gone.
pub const MAX_KNOWN_FILES: usize = 8192;
/// Most file names per process that its maps did not resolve (past it, none is read again).
pub const MAX_UNRESOLVED_NAMES: usize = 16;

/// The file mappings of one process as last read from `/proc/PID/maps`, and the file names
/// they did not resolve: those are not read again until the process execs, so a name the maps
/// never show (the kernel escapes a newline in a path there) costs one read, not one per call.
#[derive(Debug, Clone, Default)]
pub struct CachedMaps {
    /// The file-backed mappings.
    pub mappings: Vec<FileMapping>,
    /// Origin file names the mappings did not resolve.
    pub unresolved: Vec<String>,
}

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
    pub linkage: HashMap<String, Option<bool>>,
    /// pid -> its file mappings, read from `/proc/PID/maps` when a syscall's origin file is
    /// first seen (dropped at exec and exit).
    pub mappings: HashMap<u32, CachedMaps>,
    /// Low 32 bits of an inode number -> the path of that file in the last maps read that
    /// showed it: the origin of a process that exec'd or exited before its maps were read is
    /// found by its file's inode (and checked by name).
    pub known_files: HashMap<u32, String>,
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
                self.mappings.remove(&header.pid);
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
        let proc_dir = self.proc_root.join(header.pid.to_string());
        let (image, deleted) = if memfd {
            (exe_name.clone(), false)
        } else {
            let kernel_deleted = exec.exe_flags & EXE_DELETED != 0;
            resolved_image(&proc_dir, &filename, &exe_name, &cwd, kernel_deleted)
                .unwrap_or_else(|| (as_executed(&proc_dir, &filename, &cwd), kernel_deleted))
        };
        self.mappings.remove(&header.pid);
        let args_len = (exec.args_len as usize).min(exec.args.len());
        let entry = ProcessEntry {
            ppid: header.ppid,
            uid: header.uid,
            gid: header.gid,
            image,
            command_line: full_command_line(&proc_dir, &exec.args[..args_len]),
            comm: c_str(&header.comm),
            cwd,
            cgroup_id: header.cgroup_id,
            exe_is_memfd: memfd,
            exe_deleted: deleted,
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
        let mut info = self.table.process_info(header.pid);
        let proc_dir = self.proc_root.join(header.pid.to_string());
        // The directory now, as the tracer reads it at each call (chdir is not watched).
        if let Ok(cwd) = std::fs::read_link(proc_dir.join("cwd")) {
            info.current_directory = cwd.to_string_lossy().into_owned();
        }
        let class = AddressClass::try_from(raw.origin).unwrap_or(AddressClass::Unknown);
        let origin_name = c_str(&raw.origin_name);
        let origin = origin_of(class, &origin_name);
        let origin_path = (!origin_name.is_empty()).then(|| {
            let exec = matches!(raw.nr, 59 | 322);
            self.origin_path(header.pid, raw.ip, &origin_name, exec)
                .or_else(|| self.known_file(raw.origin_ino, &origin_name))
                .unwrap_or(origin_name.clone())
        });
        let name = syscall_name(raw.nr).unwrap_or("unknown");
        let text = (raw.str_len > 0).then(|| c_str(&raw.str));
        let mut record = SyscallRecord {
            name: name.to_owned(),
            number: raw.nr,
            arch: "x86_64".to_owned(),
            args: raw.args,
            ret: None,
            origin,
            origin_path,
            target_pid: None,
            target_is_child: None,
            path: None,
            decoded: Vec::new(),
        };
        match name {
            "execve" => record.path = text.map(|path| absolute(&proc_dir, AT_FDCWD, &path, &info)),
            "execveat" => {
                let dirfd = raw.args[0] as u32 as i32;
                let flags = raw.args[4] & 0xffff_ffff;
                let path = text.unwrap_or_default();
                // The kernel program put the name of dirfd's file in `str` (empty path with
                // AT_EMPTY_PATH): its full path while the process lives, else that name.
                let descriptor_name = raw.region == AddressClass::File as u32;
                record.path = if descriptor_name || (path.is_empty() && flags & AT_EMPTY_PATH != 0)
                {
                    fd_target(&proc_dir, dirfd)
                        .filter(|full| {
                            path.is_empty() || full.rsplit('/').next() == Some(path.as_str())
                        })
                        .or((!path.is_empty()).then_some(path))
                } else {
                    Some(absolute(&proc_dir, dirfd, &path, &info))
                };
                if dirfd != AT_FDCWD {
                    record.decoded.push(("ExecFd".into(), dirfd.to_string()));
                }
                if flags != 0 {
                    record
                        .decoded
                        .push(("ExecFlags".into(), flag_names(flags, AT_FLAGS)));
                }
            }
            "memfd_create" => {
                record
                    .decoded
                    .push(("MemfdName".into(), text.unwrap_or_default()));
                record.decoded.push((
                    "MemfdFlags".into(),
                    flag_names(raw.args[1] & 0xffff_ffff, MFD_FLAGS),
                ));
            }
            "ptrace" => {
                record
                    .decoded
                    .push(("PtraceRequest".into(), ptrace_request_name(raw.args[0])));
                record.target_pid = u32::try_from(raw.args[1]).ok();
            }
            "process_vm_writev" | "process_vm_readv" => {
                record.target_pid = u32::try_from(raw.args[0]).ok();
            }
            "mprotect" | "mmap" => {
                record.decoded.push(("Prot".into(), prot_text(raw.args[2])));
                if name == "mmap" {
                    record.decoded.push((
                        "MapFlags".into(),
                        flag_names(raw.args[3] & 0xffff_ffff, MAP_FLAGS),
                    ));
                }
                let region = if name == "mmap" {
                    // The kernel side reports a file mapping only for a memfd or an unlinked
                    // file, with its name in `str`: the full path while the process lives.
                    let file = (raw.args[3] & MAP_ANONYMOUS == 0).then(|| {
                        let name = text.clone().unwrap_or_default();
                        fd_target(&proc_dir, raw.args[4] as u32 as i32)
                            .filter(|full| {
                                name.is_empty() || full.rsplit('/').next() == Some(&name)
                            })
                            .unwrap_or(name)
                    });
                    let file = file.filter(|file| !file.is_empty());
                    let region = match &file {
                        Some(file) => SyscallOrigin::classify(Some(file), None),
                        None => SyscallOrigin::Anonymous,
                    };
                    record.path = file;
                    region
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
                let flags = if name == "open" {
                    raw.args[1]
                } else {
                    raw.args[2]
                };
                record.decoded.push(("OpenFlags".into(), open_flags(flags)));
                let dirfd = if name == "open" {
                    AT_FDCWD
                } else {
                    raw.args[0] as u32 as i32
                };
                let path = text.map(|path| absolute(&proc_dir, dirfd, &path, &info));
                record.target_pid = path
                    .as_deref()
                    .and_then(|path| proc_mem_target(path, header.pid));
                record.path = path;
            }
            // The kernel filter reports BPF_PROG_LOAD only.
            "bpf" => record
                .decoded
                .push(("BpfCommand".into(), "BPF_PROG_LOAD".into())),
            "personality" => record
                .decoded
                .push(("Personality".into(), personality_text(raw.args[0]))),
            "init_module" => record
                .decoded
                .push(("ModuleSize".into(), raw.args[1].to_string())),
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

impl Enricher {
    /// The full path of the mapping holding the syscall instruction (just before `ip`) when
    /// `/proc/PID/maps` can still be read and names the same file as the kernel did; `None`
    /// when the process is gone (the caller keeps the kernel's file name then).
    fn origin_path(&mut self, pid: u32, ip: u64, name: &str, exec: bool) -> Option<String> {
        let address = ip.saturating_sub(SYSCALL_INSTRUCTION_LEN);
        if let Some(path) = self.cached_mapping_path(pid, address, name) {
            return Some(path);
        }
        // After an exec the maps are the new program's: reading them is mostly wasted, and a
        // freshly forked child still had its parent's, at the same addresses (the name check
        // rejects any other file). Its own are read last, in case the exec has not happened.
        if !exec {
            return self.read_mapping_path(pid, address, name);
        }
        let parent = self.table.get(pid).map(|entry| entry.ppid);
        if let Some(parent) = parent.filter(|&parent| parent != 0 && parent != pid) {
            let found = self
                .cached_mapping_path(parent, address, name)
                .or_else(|| self.read_mapping_path(parent, address, name));
            if found.is_some() {
                return found;
            }
        }
        self.read_mapping_path(pid, address, name)
    }

    /// The path last seen in any maps for the file with inode `ino` (low 32 bits), if its
    /// name is `name`: a file on another filesystem with the same inode number and name would
    /// be taken for it, which a name and 32 inode bits make unlikely.
    fn known_file(&self, ino: u32, name: &str) -> Option<String> {
        let path = self.known_files.get(&(ino != 0).then_some(ino)?)?;
        path_names_file(path, name).then(|| path.clone())
    }

    fn cached_mapping_path(&self, pid: u32, address: u64, name: &str) -> Option<String> {
        let cached = self.mappings.get(&pid)?;
        mapping_path(&cached.mappings, address, name).map(str::to_owned)
    }

    /// [`mapping_path`] over `/proc/PID/maps` read now (and kept for the next calls).
    fn read_mapping_path(&mut self, pid: u32, address: u64, name: &str) -> Option<String> {
        let mut unresolved = match self.mappings.remove(&pid) {
            Some(cached)
                if cached.unresolved.len() >= MAX_UNRESOLVED_NAMES
                    || cached.unresolved.iter().any(|n| n == name) =>
            {
                self.mappings.insert(pid, cached);
                return None;
            }
            Some(cached) => cached.unresolved,
            None => Vec::new(),
        };
        let text = read_bounded(
            &self.proc_root.join(pid.to_string()).join("maps"),
            MAX_MAPS_READ,
        )?;
        let mappings = parse_file_mappings(&String::from_utf8_lossy(&text));
        let path = mapping_path(&mappings, address, name).map(str::to_owned);
        if self.known_files.len() >= MAX_KNOWN_FILES {
            self.known_files.clear();
        }
        for mapping in &mappings {
            if mapping.inode != 0 {
                self.known_files
                    .insert(mapping.inode as u32, mapping.path.clone());
            }
        }
        if path.is_none() {
            unresolved.push(name.to_owned());
        }
        if self.mappings.len() >= MAX_CACHED_MAPS {
            self.mappings.clear();
        }
        self.mappings.insert(
            pid,
            CachedMaps {
                mappings,
                unresolved,
            },
        );
        path
    }
}

/// The executable as `/proc/PID/exe` names it, if that link names the file the kernel ran
/// (`exe_name` is its dentry name: a later exec or a reused pid is not taken); else the
/// exec path with its symlinks resolved, under the same check (the process is gone, but the
/// file is still where it was run from). Returns the image and whether its file was deleted.
fn resolved_image(
    proc_dir: &Path,
    filename: &str,
    exe_name: &str,
    cwd: &str,
    kernel_deleted: bool,
) -> Option<(String, bool)> {
    let same_file = |path: &str| path_names_file(path, exe_name);
    if let Ok(link) = std::fs::read_link(proc_dir.join("exe")) {
        let (image, deleted) = image_from_link(&link.to_string_lossy());
        if same_file(&image) {
            return Some((image, deleted || kernel_deleted));
        }
    }
    // A file the kernel saw unlinked is not the one now at its path (if any); a container's
    // paths are resolved in the sensor's own mount namespace, which is only right for
    // processes that share it (the common case; /proc/PID/exe above is always right).
    if kernel_deleted || filename.starts_with("/dev/fd/") || filename.is_empty() {
        return None;
    }
    let path = if filename.starts_with('/') {
        filename.to_owned()
    } else {
        format!("{}/{filename}", cwd.trim_end_matches('/'))
    };
    let resolved = std::fs::canonicalize(path).ok()?;
    if same_file(&resolved.to_string_lossy()) {
        return Some((resolved.to_string_lossy().into_owned(), false));
    }
    // A script: the kernel ran (and names) its interpreter, which the `#!` line gives.
    let interpreter = std::fs::canonicalize(shebang_interpreter(&resolved)?).ok()?;
    let interpreter = interpreter.to_string_lossy();
    same_file(&interpreter).then(|| (interpreter.into_owned(), false))
}

/// Bytes of a script's first line the kernel reads for its `#!` (`BINPRM_BUF_SIZE`).
const SHEBANG_READ: u64 = 256;

/// The interpreter path of a `#!` script, if its first line names an absolute one.
fn shebang_interpreter(script: &Path) -> Option<String> {
    let head = read_bounded(script, SHEBANG_READ)?;
    let line = head.strip_prefix(b"#!")?;
    let line = line.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let interpreter = line.split([' ', '\t']).find(|word| !word.is_empty())?;
    interpreter.starts_with('/').then(|| interpreter.to_owned())
}

/// The image as the exec named it, when it cannot be resolved (the process and its file are
/// gone): the absolute exec path, or `/proc/PID/exe` for a descriptor exec.
fn as_executed(proc_dir: &Path, filename: &str, cwd: &str) -> String {
    if filename.starts_with('/') && !filename.starts_with("/dev/fd/") {
        filename.to_owned()
    } else if filename.starts_with("/dev/fd/") || filename.is_empty() {
        std::fs::read_link(proc_dir.join("exe"))
            .map(|p| image_from_link(&p.to_string_lossy()).0)
            .unwrap_or(filename.to_owned())
    } else {
        format!(
            "{}/{}",
            cwd.trim_end_matches('/'),
            filename.trim_start_matches("./")
        )
    }
}

/// The command line: the kernel's copy of argv, or `/proc/PID/cmdline` when that copy was cut
/// at [`ARGS_LEN`] bytes and the process still has the same arguments.
fn full_command_line(proc_dir: &Path, args: &[u8]) -> String {
    if args.len() >= ARGS_LEN {
        if let Some(full) = read_bounded(&proc_dir.join("cmdline"), MAX_CMDLINE_READ) {
            if full.starts_with(args) {
                return join_args(&full);
            }
        }
    }
    join_args(args)
}

/// What descriptor `fd` of the process refers to (`memfd:NAME` for a memfd), while it lives.
fn fd_target(proc_dir: &Path, fd: i32) -> Option<String> {
    let link = std::fs::read_link(proc_dir.join("fd").join(fd.to_string())).ok()?;
    Some(image_from_link(&link.to_string_lossy()).0)
}

/// A path argument made absolute as the tracer makes it: relative to the working directory
/// (`AT_FDCWD`) or to the directory `dirfd` refers to, `.` and `..` collapsed; left as given
/// when that directory cannot be read.
fn absolute(proc_dir: &Path, dirfd: i32, path: &str, info: &linux::ProcessInfo) -> String {
    if path.starts_with('/') {
        return normalize_path(path);
    }
    let base = if dirfd == AT_FDCWD {
        (!info.current_directory.is_empty()).then(|| info.current_directory.clone())
    } else {
        fd_target(proc_dir, dirfd)
    };
    match base {
        Some(base) => normalize_path(&format!("{base}/{path}")),
        None => path.to_owned(),
    }
}

fn read_bounded(path: &Path, limit: u64) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::with_capacity(4096);
    file.take(limit).read_to_end(&mut bytes).ok()?;
    Some(bytes)
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
            mappings: Default::default(),
            known_files: Default::default(),
        }
    }

    #[test]
    fn image_is_the_resolved_file_unless_the_kernel_saw_it_unlinked() {
        let exec = |flags: u32| {
            let mut args = [0u8; ARGS_LEN];
            args[..5].copy_from_slice(b"true\0");
            Record::Exec(Box::new(RawExec {
                header: header(Kind::Exec, 101, 100),
                exec_syscall: 59,
                origin: AddressClass::File as u32,
                exe_flags: flags,
                args_len: 5,
                old_tid: 101,
                pad0: 0,
                origin_name: fill_c_str("libc.so.6"),
                exe_name: fill_c_str("true"),
                filename: fill_c_str("/bin/true"),
                args,
            }))
        };
        // No /proc here: the exec path with its symlinks resolved, checked by file name.
        let mut e = enricher();
        let event = e.event(&exec(0)).unwrap();
        let resolved = std::fs::canonicalize("/bin/true").unwrap();
        assert_eq!(event.get_str("Image"), resolved.to_str());
        assert_eq!(event.get_str("ExecFilename"), Some("/bin/true"));
        // A script: the kernel names its interpreter, which the `#!` line gives.
        let dir = tempfile::Builder::new()
            .prefix("ng-enrich-script-")
            .tempdir()
            .unwrap();
        let script = dir.path().join("tool");
        std::fs::write(&script, "#!/bin/sh -e\nexit 0\n").unwrap();
        let mut record = exec(0);
        if let Record::Exec(raw) = &mut record {
            raw.exe_name = fill_c_str(
                std::fs::canonicalize("/bin/sh")
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap(),
            );
            raw.filename = fill_c_str(script.to_str().unwrap());
        }
        let event = e.event(&record).unwrap();
        let sh = std::fs::canonicalize("/bin/sh").unwrap();
        assert_eq!(event.get_str("Image"), sh.to_str());
        assert_eq!(shebang_interpreter(Path::new("/nonexistent")), None);
        std::fs::write(&script, "#!sh\n").unwrap();
        assert_eq!(shebang_interpreter(&script), None);
        // Unlinked when it ran: whatever is at that path now is another file.
        let event = e.event(&exec(EXE_DELETED)).unwrap();
        assert_eq!(event.get_str("Image"), Some("/bin/true"));
        assert_eq!(
            event.get("ExeDeleted"),
            Some(&nativeguard_event::Value::Bool(true))
        );
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
            origin_ino: 0,
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

    fn syscall_record(nr: i64, args: [u64; 6], region: AddressClass, text: &str) -> Record {
        let mut bytes = [0u8; 256];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Record::Syscall(Box::new(RawSyscall {
            header: header(Kind::Syscall, 100, 1),
            nr,
            args,
            ip: 0x7000,
            origin: AddressClass::File as u32,
            region: region as u32,
            str_len: if text.is_empty() {
                0
            } else {
                text.len() as u32 + 1
            },
            origin_ino: 0,
            origin_name: fill_c_str("libc.so.6"),
            str: bytes,
        }))
    }

    #[test]
    fn flags_named_as_the_tracer_names_them() {
        let mut e = enricher();
        let memfd = e
            .event(&syscall_record(
                319,
                [0x1000, 1, 0, 0, 0, 0],
                AddressClass::Unknown,
                "x",
            ))
            .unwrap();
        assert_eq!(memfd.get_str("MemfdName"), Some("x"));
        assert_eq!(memfd.get_str("MemfdFlags"), Some("MFD_CLOEXEC"));
        // The process is gone (no /proc here): the kernel's file name is kept.
        assert_eq!(memfd.get_str("SyscallOriginPath"), Some("libc.so.6"));
        // execveat(3, "", argv, envp, AT_EMPTY_PATH): the kernel side put the descriptor's
        // file name in `str` and said so with region = File.
        let exec = e
            .event(&syscall_record(
                322,
                [3, 0x2000, 0, 0, 0x1000, 0],
                AddressClass::File,
                "memfd:stage2",
            ))
            .unwrap();
        assert_eq!(exec.get_str("TargetPath"), Some("memfd:stage2"));
        assert_eq!(exec.get_str("ExecFd"), Some("3"));
        assert_eq!(exec.get_str("ExecFlags"), Some("AT_EMPTY_PATH"));
        // A relative execve path is made absolute against the directory, as the tracer does.
        e.table.insert(
            100,
            ProcessEntry {
                ppid: 1,
                cwd: "/home/u".into(),
                comm: "demo".into(),
                ..Default::default()
            },
        );
        let execve = e
            .event(&syscall_record(
                59,
                [0x3000, 0, 0, 0, 0, 0],
                AddressClass::Unknown,
                "./a/../b",
            ))
            .unwrap();
        assert_eq!(execve.get_str("TargetPath"), Some("/home/u/b"));
        let open = e
            .event(&syscall_record(
                257,
                [(-100i64) as u64, 0x4000, 0o2 | 0o2000000, 0, 0, 0],
                AddressClass::Unknown,
                "/proc/./100//mem",
            ))
            .unwrap();
        assert_eq!(open.get_str("OpenFlags"), Some("O_RDWR|O_CLOEXEC"));
        assert_eq!(open.get_str("TargetPath"), Some("/proc/100/mem"));
        // mmap(NULL, 4096, rwx, MAP_SHARED, 3, 0) of a memfd: the kernel side named the file.
        let mmap = e
            .event(&syscall_record(
                9,
                [0, 4096, 7, 1, 3, 0],
                AddressClass::Anonymous,
                "memfd:jit",
            ))
            .unwrap();
        assert_eq!(mmap.get_str("Prot"), Some("rwx"));
        assert_eq!(mmap.get_str("MapFlags"), Some("MAP_SHARED"));
        assert_eq!(mmap.get_str("TargetPath"), Some("memfd:jit"));
        assert_eq!(mmap.get_str("MemoryRegion"), Some("anonymous"));
        assert_eq!(open.get_str("TargetIsSelf"), Some("true"));
    }

    #[test]
    fn origin_paths_from_maps_with_a_bounded_number_of_reads() {
        let proc_root = tempfile::Builder::new()
            .prefix("ng-enrich-maps-")
            .tempdir()
            .unwrap();
        let maps = proc_root.path().join("100").join("maps");
        std::fs::create_dir_all(maps.parent().unwrap()).unwrap();
        let libc = "6000-8000 r-xp 00000000 08:01 9 /usr/lib/x86_64-linux-gnu/libc.so.6\n";
        std::fs::write(&maps, libc).unwrap();
        let mut e = enricher();
        e.proc_root = proc_root.path().to_path_buf();
        let call = |name: &str| syscall_record_from(319, name);
        let event = e.event(&call("libc.so.6")).unwrap();
        assert_eq!(
            event.get_str("SyscallOriginPath"),
            Some("/usr/lib/x86_64-linux-gnu/libc.so.6")
        );
        // A name the maps do not show is read once, then not again until the process execs.
        let event = e.event(&call("libz.so.1")).unwrap();
        assert_eq!(event.get_str("SyscallOriginPath"), Some("libz.so.1"));
        std::fs::write(&maps, libc.replace("libc.so.6", "libz.so.1")).unwrap();
        let event = e.event(&call("libz.so.1")).unwrap();
        assert_eq!(event.get_str("SyscallOriginPath"), Some("libz.so.1"));
        // A process whose maps are gone (no /proc/200): its file is found by inode and name.
        let gone = |name: &str, ino: u32| {
            let mut record = syscall_record_from(319, name);
            if let Record::Syscall(raw) = &mut record {
                raw.header.pid = 200;
                raw.origin_ino = ino;
            }
            record
        };
        let event = e.event(&gone("libc.so.6", 9)).unwrap();
        assert_eq!(
            event.get_str("SyscallOriginPath"),
            Some("/usr/lib/x86_64-linux-gnu/libc.so.6")
        );
        let event = e.event(&gone("libm.so.6", 9)).unwrap();
        assert_eq!(event.get_str("SyscallOriginPath"), Some("libm.so.6"));
        let event = e.event(&gone("libc.so.6", 10)).unwrap();
        assert_eq!(event.get_str("SyscallOriginPath"), Some("libc.so.6"));
        e.mappings.remove(&100); // what an exec record of pid 100 does
        let event = e.event(&call("libz.so.1")).unwrap();
        assert_eq!(
            event.get_str("SyscallOriginPath"),
            Some("/usr/lib/x86_64-linux-gnu/libz.so.1")
        );
    }

    fn syscall_record_from(nr: i64, origin_name: &str) -> Record {
        let mut record = syscall_record(nr, [0; 6], AddressClass::Unknown, "x");
        if let Record::Syscall(raw) = &mut record {
            raw.origin_name = fill_c_str(origin_name);
        }
        record
    }

    #[test]
    fn decodes_prot_and_names() {
        assert_eq!(syscall_name(319), Some("memfd_create"));
        assert_eq!(syscall_name(39), None);
        assert_eq!(
            origin_of(AddressClass::File, "ld-linux-x86-64.so.2"),
            SyscallOrigin::Loader
        );
    }
}
