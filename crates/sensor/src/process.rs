//! The process table: what the sensor knows about every live process, so each event can say
//! who did it and who its parent is even after the process (or its parent) is gone.
//!
//! Seeded from `/proc` at start, then kept from the kernel's fork / exec / exit records alone:
//! a short-lived process is known from its exec record even if `/proc/PID` is gone by the time
//! user space reads it. Exited processes stay for a while ([`EXITED_KEPT`]) so late events and
//! children of a dead parent still resolve. The table is bounded ([`MAX_PROCESSES`]).

use nativeguard_event::linux::ProcessInfo;
use std::collections::{HashMap, VecDeque};
use std::path::Path;

/// Most processes the table holds; past it the oldest exited, then arbitrary entries go.
pub const MAX_PROCESSES: usize = 65_536;
/// How many exited processes are kept for late lookups.
pub const EXITED_KEPT: usize = 4_096;
/// Longest ancestor chain walked when deciding whether a target is a descendant.
pub const MAX_ANCESTRY: usize = 64;

/// One process as the table knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessEntry {
    /// Parent's pid.
    pub ppid: u32,
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// Executable path (`memfd:name` for a memfd).
    pub image: String,
    /// Arguments joined by spaces.
    pub command_line: String,
    /// Kernel task name.
    pub comm: String,
    /// Working directory.
    pub cwd: String,
    /// cgroup v2 id.
    pub cgroup_id: u64,
    /// The executable is a memfd.
    pub exe_is_memfd: bool,
    /// The executable was deleted.
    pub exe_deleted: bool,
}

/// pid -> process, plus user names.
#[derive(Debug, Default)]
pub struct ProcessTable {
    processes: HashMap<u32, ProcessEntry>,
    exited: VecDeque<u32>,
    users: HashMap<u32, String>,
}

impl ProcessTable {
    /// An empty table with user names from `passwd` text (`/etc/passwd` format).
    pub fn new(passwd: &str) -> Self {
        ProcessTable {
            users: parse_passwd(passwd),
            ..ProcessTable::default()
        }
    }

    /// Reads every `/proc/PID` under `proc_root` into the table; unreadable entries are skipped
    /// (a process may exit while the directory is listed). Returns how many were read.
    pub fn seed_from_proc(&mut self, proc_root: &Path) -> usize {
        let Ok(dir) = std::fs::read_dir(proc_root) else {
            return 0;
        };
        let mut count = 0;
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(process) = read_proc_entry(&entry.path()) {
                self.insert(pid, process);
                count += 1;
            }
        }
        count
    }

    /// Adds or replaces a process.
    pub fn insert(&mut self, pid: u32, entry: ProcessEntry) {
        if self.processes.len() >= MAX_PROCESSES && !self.processes.contains_key(&pid) {
            let victim = self
                .exited
                .pop_front()
                .or_else(|| self.processes.keys().next().copied());
            if let Some(victim) = victim {
                self.processes.remove(&victim);
            }
        }
        self.processes.insert(pid, entry);
    }

    /// The entry of `pid`, if known.
    pub fn get(&self, pid: u32) -> Option<&ProcessEntry> {
        self.processes.get(&pid)
    }

    /// Number of processes held (live and recently exited).
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    /// A fork: the child starts as a copy of its parent (same image, arguments, directory).
    pub fn fork(&mut self, parent: u32, child: u32) {
        let mut entry = self.processes.get(&parent).cloned().unwrap_or_default();
        entry.ppid = parent;
        self.insert(child, entry);
    }

    /// An exit: the entry is kept for [`EXITED_KEPT`] more exits, then dropped.
    pub fn exit(&mut self, pid: u32) {
        if !self.processes.contains_key(&pid) {
            return;
        }
        self.exited.push_back(pid);
        while self.exited.len() > EXITED_KEPT {
            if let Some(old) = self.exited.pop_front() {
                self.processes.remove(&old);
            }
        }
    }

    /// The user name of `uid`, when `/etc/passwd` has it.
    pub fn user_name(&self, uid: u32) -> Option<&str> {
        self.users.get(&uid).map(String::as_str)
    }

    /// Whether `pid` descends from `ancestor` (bounded by [`MAX_ANCESTRY`]).
    pub fn is_descendant(&self, pid: u32, ancestor: u32) -> bool {
        let mut current = pid;
        for _ in 0..MAX_ANCESTRY {
            let Some(entry) = self.processes.get(&current) else {
                return false;
            };
            if entry.ppid == ancestor {
                return true;
            }
            if entry.ppid == 0 || entry.ppid == current {
                return false;
            }
            current = entry.ppid;
        }
        false
    }

    /// The event schema's view of `pid`, with its parent's image and command line.
    pub fn process_info(&self, pid: u32) -> ProcessInfo {
        let entry = self.processes.get(&pid).cloned().unwrap_or_default();
        let parent = self.processes.get(&entry.ppid);
        ProcessInfo {
            pid,
            ppid: entry.ppid,
            uid: entry.uid,
            gid: entry.gid,
            user: self.user_name(entry.uid).map(str::to_owned),
            parent_image: parent.map(|p| p.image.clone()).unwrap_or_default(),
            parent_command_line: parent.map(|p| p.command_line.clone()).unwrap_or_default(),
            image: entry.image,
            command_line: entry.command_line,
            comm: entry.comm,
            current_directory: entry.cwd,
            cgroup_id: entry.cgroup_id,
            exe_is_memfd: entry.exe_is_memfd,
            exe_deleted: entry.exe_deleted,
        }
    }
}

/// uid -> name from `/etc/passwd` text; malformed lines are skipped.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut users = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let Ok(uid) = uid.parse::<u32>() {
            users.entry(uid).or_insert_with(|| name.to_owned());
        }
    }
    users
}

/// Joins NUL-separated argv bytes with spaces (a trailing NUL ends the last argument).
pub fn join_args(bytes: &[u8]) -> String {
    let trimmed = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    trimmed
        .split(|&b| b == 0)
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Most bytes of an executable read to find its program headers.
pub const MAX_ELF_HEADER_READ: usize = 64 * 1024;

/// Whether an ELF image is dynamically linked (has a `PT_INTERP` program header), from its
/// first bytes. `None` when the bytes are not a little-endian ELF64 or its headers lie beyond them.
pub fn elf_is_dynamic(bytes: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let phoff = usize::try_from(u64::from_le_bytes(bytes.get(32..40)?.try_into().ok()?)).ok()?;
    let phentsize = usize::from(u16_at(54)?);
    let phnum = usize::from(u16_at(56)?);
    if phentsize < 4 {
        return None;
    }
    for index in 0..phnum {
        let at = phoff.checked_add(index.checked_mul(phentsize)?)?;
        let p_type = u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?);
        if p_type == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

/// Most bytes of `/proc/PID/cmdline` read when the kernel's copy of the arguments was cut.
pub const MAX_CMDLINE_READ: u64 = 64 * 1024;
/// Most bytes of one `/proc/PID/maps` read to find the full path of a syscall's origin.
pub const MAX_MAPS_READ: u64 = 4 << 20;

/// One file-backed mapping of `/proc/PID/maps`: its address range and its path as the kernel
/// prints it (with ` (deleted)` when the file is gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// The file's inode number.
    pub inode: u64,
    /// The path.
    pub path: String,
}

/// The file-backed mappings of a `/proc/PID/maps` text (anonymous and `[pseudo]` mappings and
/// lines that do not parse are left out).
pub fn parse_file_mappings(text: &str) -> Vec<FileMapping> {
    let mut mappings = Vec::new();
    for line in text.lines() {
        // address perms offset dev inode path (the path may hold spaces).
        let mut rest = line;
        let mut fields = [""; 5];
        for field in &mut fields {
            rest = rest.trim_start_matches(' ');
            let end = rest.find(' ').unwrap_or(rest.len());
            *field = &rest[..end];
            rest = &rest[end..];
        }
        let path = rest.trim_start_matches(' ');
        if !path.starts_with('/') {
            continue;
        }
        let Some((start, end)) = fields[0].split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        mappings.push(FileMapping {
            start,
            end,
            inode: fields[4].parse().unwrap_or(0),
            path: path.to_owned(),
        });
    }
    mappings
}

/// The path of the mapping holding `address` if its file is the one named `name` (the kernel's
/// dentry name, cut to [`crate::wire::NAME_LEN`] - 1 bytes): the check keeps a stale maps
/// text from naming another file.
pub fn mapping_path<'a>(mappings: &'a [FileMapping], address: u64, name: &str) -> Option<&'a str> {
    let mapping = mappings
        .iter()
        .find(|m| m.start <= address && address < m.end)?;
    path_names_file(&mapping.path, name).then_some(mapping.path.as_str())
}

/// Whether a maps path (` (deleted)` allowed) is of the file the kernel named `name` (its
/// dentry name, cut to [`crate::wire::NAME_LEN`] - 1 bytes).
pub fn path_names_file(path: &str, name: &str) -> bool {
    let file = path.strip_suffix(" (deleted)").unwrap_or(path);
    let file = file.rsplit('/').next().unwrap_or(file);
    let cut = name.len() == crate::wire::NAME_LEN - 1;
    !name.is_empty() && (file == name || (cut && file.starts_with(name)))
}

/// Reads one `/proc/PID` directory; `None` when the process is gone or unreadable.
pub fn read_proc_entry(dir: &Path) -> Option<ProcessEntry> {
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    let mut entry = ProcessEntry::default();
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let first = value.split_whitespace().next().unwrap_or("");
        match key {
            "Name" => entry.comm = value.trim().to_owned(),
            "PPid" => entry.ppid = first.parse().unwrap_or(0),
            "Uid" => entry.uid = first.parse().unwrap_or(0),
            "Gid" => entry.gid = first.parse().unwrap_or(0),
            _ => {}
        }
    }
    let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    entry.command_line = join_args(&cmdline);
    if let Ok(exe) = std::fs::read_link(dir.join("exe")) {
        let exe = exe.to_string_lossy().into_owned();
        apply_exe_link(&mut entry, &exe);
    }
    entry.cwd = std::fs::read_link(dir.join("cwd"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some(entry)
}

/// Sets image / memfd / deleted from a `/proc/PID/exe` link text such as
/// `/memfd:x (deleted)` or `/usr/bin/old (deleted)`.
pub fn apply_exe_link(entry: &mut ProcessEntry, link: &str) {
    let (path, deleted) = match link.strip_suffix(" (deleted)") {
        Some(path) => (path, true),
        None => (link, false),
    };
    if let Some(name) = path.strip_prefix("/memfd:") {
        entry.image = format!("memfd:{name}");
        entry.exe_is_memfd = true;
        entry.exe_deleted = false;
    } else {
        entry.image = path.to_owned();
        entry.exe_is_memfd = false;
        entry.exe_deleted = deleted;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fork_copies_and_links_parent() {
        let mut table = ProcessTable::new("root:x:0:0:root:/root:/bin/sh\nbad line\n");
        table.insert(
            10,
            ProcessEntry {
                ppid: 1,
                image: "/bin/sh".into(),
                command_line: "sh".into(),
                ..Default::default()
            },
        );
        table.fork(10, 11);
        table.fork(11, 12);
        let info = table.process_info(12);
        assert_eq!(info.ppid, 11);
        assert_eq!(info.image, "/bin/sh");
        assert_eq!(info.parent_image, "/bin/sh");
        assert_eq!(info.user.as_deref(), Some("root"));
        assert!(table.is_descendant(12, 10));
        assert!(!table.is_descendant(10, 12));
        assert!(!table.is_descendant(99, 10));
    }

    #[test]
    fn exited_entries_are_bounded() {
        let mut table = ProcessTable::default();
        for pid in 0..(EXITED_KEPT as u32 + 10) {
            table.insert(pid + 1, ProcessEntry::default());
            table.exit(pid + 1);
        }
        assert_eq!(table.len(), EXITED_KEPT);
        assert!(table.get(1).is_none());
    }

    #[test]
    fn table_size_is_bounded() {
        let mut table = ProcessTable::default();
        for pid in 0..(MAX_PROCESSES as u32 + 5) {
            table.insert(pid, ProcessEntry::default());
        }
        assert_eq!(table.len(), MAX_PROCESSES);
    }

    #[test]
    fn exe_links_tell_memfd_and_deleted() {
        let mut entry = ProcessEntry::default();
        apply_exe_link(&mut entry, "/memfd:payload (deleted)");
        assert_eq!(
            (entry.image.as_str(), entry.exe_is_memfd, entry.exe_deleted),
            ("memfd:payload", true, false)
        );
        apply_exe_link(&mut entry, "/tmp/x (deleted)");
        assert_eq!(
            (entry.image.as_str(), entry.exe_is_memfd, entry.exe_deleted),
            ("/tmp/x", false, true)
        );
        assert_eq!(join_args(b"ls\0-l\0"), "ls -l");
    }

    #[test]
    fn tells_dynamic_from_static_elf() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(
            elf_is_dynamic(&me[..MAX_ELF_HEADER_READ.min(me.len())]),
            Some(true)
        );
        let mut fake = me[..64].to_vec();
        fake[56] = 0; // e_phnum = 0: no PT_INTERP
        fake[57] = 0;
        assert_eq!(elf_is_dynamic(&fake), Some(false));
        assert_eq!(elf_is_dynamic(b"#!/bin/sh"), None);
        assert_eq!(elf_is_dynamic(&me[..60]), None);
        // A hostile e_phoff at the top of the address space ends the scan, never overflows.
        let mut hostile = me[..64].to_vec();
        hostile[32..40].copy_from_slice(&(u64::MAX - 1).to_le_bytes());
        hostile[56] = 1;
        hostile[57] = 0;
        assert_eq!(elf_is_dynamic(&hostile), None);
    }

    #[test]
    fn file_mappings_and_origin_paths() {
        let text = "\
55d0c0a00000-55d0c0a02000 r--p 00000000 08:01 1234                       /usr/bin/my prog
7f0e03387000-7f0e03388000 r-xp 00028000 08:01 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
7f0e03390000-7f0e03391000 r-xp 00000000 00:01 7                          /memfd:stage2 (deleted)
7f0e033a0000-7f0e033a1000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
garbage line
zz-yy r-xp 0 0 0 /bad/range
";
        let mappings = parse_file_mappings(text);
        assert_eq!(mappings.len(), 3);
        assert_eq!(mappings[0].path, "/usr/bin/my prog");
        assert_eq!(mappings[1].inode, 99);
        assert_eq!(
            mapping_path(&mappings, 0x7f0e03387ffe, "libc.so.6"),
            Some("/usr/lib/x86_64-linux-gnu/libc.so.6")
        );
        // The name must be the mapping's file: a stale text never names another file.
        assert_eq!(mapping_path(&mappings, 0x7f0e03387ffe, "libm.so.6"), None);
        assert_eq!(
            mapping_path(&mappings, 0x7f0e03390000, "memfd:stage2"),
            Some("/memfd:stage2 (deleted)")
        );
        assert_eq!(mapping_path(&mappings, 0x7f0e033a0000, "libc.so.6"), None);
        let long = format!("/lib/{}", "a".repeat(80));
        let cut = "a".repeat(crate::wire::NAME_LEN - 1);
        let one = [FileMapping {
            start: 0,
            end: 10,
            inode: 1,
            path: long.clone(),
        }];
        assert_eq!(mapping_path(&one, 5, &cut), Some(long.as_str()));
    }

    #[test]
    fn seeds_from_this_machines_proc() {
        let mut table = ProcessTable::default();
        let count = table.seed_from_proc(Path::new("/proc"));
        assert!(count > 0, "no process read from /proc");
        let me = table
            .get(std::process::id())
            .expect("this test process is in /proc");
        assert!(!me.image.is_empty());
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
    }
}
