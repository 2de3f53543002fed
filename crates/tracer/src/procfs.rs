//! What `/proc` says about a process: executable, command line, working directory, ids,
//! cgroup. The text parsers are pure functions (tested and fuzzed); the readers bound every
//! read, since a traced program controls its own command line and file names.

use nativeguard_event::linux::ProcessInfo;
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

/// Most bytes read from one `/proc` file (`cmdline`, `status`, `cgroup`).
pub const MAX_PROC_FILE_BYTES: u64 = 64 << 10;
/// Most bytes of `/etc/passwd` read.
pub const MAX_PASSWD_BYTES: u64 = 4 << 20;
/// Most parent links followed when asking whether one process descends from another.
pub const MAX_ANCESTRY_DEPTH: usize = 128;

/// First read size for a `/proc` file: `status`, `cmdline` and `cgroup` fit in one read
/// (an empty buffer would make `read_to_end` probe with 32-byte reads, eight calls for a
/// `status` file).
const FIRST_READ_BYTES: u64 = 4096;

fn read_bounded(path: &str, limit: u64) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::with_capacity(FIRST_READ_BYTES.min(limit) as usize);
    file.take(limit).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

fn read_link(path: &str) -> Option<String> {
    std::fs::read_link(path)
        .ok()
        .map(|target| target.to_string_lossy().into_owned())
}

/// The executable as `/proc/PID/exe` names it, normalised: a memfd's `/memfd:NAME (deleted)`
/// becomes `memfd:NAME` (exe-is-memfd), a deleted file keeps its path (exe-deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExeName {
    /// The `Image` value.
    pub image: String,
    /// The executable is a memfd.
    pub is_memfd: bool,
    /// The executable file was deleted (never set for a memfd, which has no file to delete).
    pub deleted: bool,
}

/// Normalises the target of a `/proc/PID/exe` or `/proc/PID/fd/N` link.
pub fn exe_name(link: &str) -> ExeName {
    let (path, deleted) = match link.strip_suffix(" (deleted)") {
        Some(path) => (path, true),
        None => (link, false),
    };
    match path.strip_prefix("/memfd:") {
        Some(name) => ExeName {
            image: format!("memfd:{name}"),
            is_memfd: true,
            deleted: false,
        },
        None => ExeName {
            image: path.to_string(),
            is_memfd: false,
            deleted,
        },
    }
}

/// `/proc/PID/cmdline` (NUL-separated) as one line, arguments joined by spaces.
pub fn command_line(raw: &[u8]) -> String {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    String::from_utf8_lossy(raw).replace('\0', " ")
}

/// The fields of `/proc/PID/status` the tracer uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// `Name:` (the task's comm).
    pub name: String,
    /// `Tgid:`.
    pub tgid: u32,
    /// `PPid:`.
    pub ppid: u32,
    /// Real uid (first of `Uid:`).
    pub uid: u32,
    /// Real gid (first of `Gid:`).
    pub gid: u32,
}

/// Parses `/proc/PID/status`; fields that are missing or malformed stay 0 / empty.
pub fn parse_status(text: &str) -> Status {
    let mut status = Status::default();
    let first_number = |value: &str| {
        value
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    };
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "Name" => status.name = value.trim().to_string(),
            "Tgid" => status.tgid = first_number(value),
            "PPid" => status.ppid = first_number(value),
            "Uid" => status.uid = first_number(value),
            "Gid" => status.gid = first_number(value),
            _ => {}
        }
    }
    status
}

/// The cgroup v2 path from `/proc/PID/cgroup` (the `0::PATH` line).
pub fn cgroup_v2_path(text: &str) -> Option<&str> {
    text.lines().find_map(|line| line.strip_prefix("0::"))
}

/// Parses `/etc/passwd` into uid -> name (the first name wins for a shared uid).
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut users = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_password), Some(uid)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if let Ok(uid) = uid.parse::<u32>() {
            users.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    users
}

/// Reads `/proc/PID/status`.
pub fn read_status(pid: u32) -> Option<Status> {
    let bytes = read_bounded(&format!("/proc/{pid}/status"), MAX_PROC_FILE_BYTES)?;
    Some(parse_status(&String::from_utf8_lossy(&bytes)))
}

/// The target of `/proc/PID/fd/FD`, normalised like an executable name.
pub fn fd_target(pid: u32, fd: i32) -> Option<ExeName> {
    read_link(&format!("/proc/{pid}/fd/{fd}")).map(|link| exe_name(&link))
}

/// The working directory of a process.
pub fn cwd(pid: u32) -> Option<String> {
    read_link(&format!("/proc/{pid}/cwd"))
}

/// The raw `/proc/PID/exe` link (as the maps file names the main binary).
pub fn exe_link(pid: u32) -> Option<String> {
    read_link(&format!("/proc/{pid}/exe"))
}

/// Reads `/proc/PID/maps`.
pub fn read_maps(pid: u32) -> Option<String> {
    let bytes = read_bounded(
        &format!("/proc/{pid}/maps"),
        crate::maps::MAX_MAPS_BYTES as u64,
    )?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Uid -> user name, read from `/etc/passwd` once.
#[derive(Debug, Default)]
pub struct UserNames {
    names: Option<HashMap<u32, String>>,
}

impl UserNames {
    /// The name of `uid`, if `/etc/passwd` has it.
    pub fn name(&mut self, uid: u32) -> Option<String> {
        let names = self.names.get_or_insert_with(|| {
            read_bounded("/etc/passwd", MAX_PASSWD_BYTES)
                .map(|bytes| parse_passwd(&String::from_utf8_lossy(&bytes)))
                .unwrap_or_default()
        });
        names.get(&uid).cloned()
    }
}

/// Reads what `/proc` says about a process. Parent fields are left empty (the caller knows
/// the parent better than a racy `/proc` read of a process that may be gone).
pub fn read_process(pid: u32, users: &mut UserNames) -> ProcessInfo {
    read_process_and_exe_link(pid, users).0
}

/// [`read_process`], and the raw `/proc/PID/exe` link it read (see [`exe_link`]).
pub fn read_process_and_exe_link(pid: u32, users: &mut UserNames) -> (ProcessInfo, Option<String>) {
    let status = read_status(pid).unwrap_or_default();
    let link = exe_link(pid);
    let exe = link.as_deref().map(exe_name);
    let command_line = read_bounded(&format!("/proc/{pid}/cmdline"), MAX_PROC_FILE_BYTES)
        .map(|raw| command_line(&raw))
        .unwrap_or_default();
    let cgroup_id = read_bounded(&format!("/proc/{pid}/cgroup"), MAX_PROC_FILE_BYTES)
        .and_then(|raw| {
            let text = String::from_utf8_lossy(&raw);
            let path = cgroup_v2_path(&text)?;
            std::fs::metadata(format!("/sys/fs/cgroup{path}"))
                .ok()
                .map(|meta| meta.ino())
        })
        .unwrap_or(0);
    let info = ProcessInfo {
        pid,
        ppid: status.ppid,
        uid: status.uid,
        gid: status.gid,
        user: users.name(status.uid),
        image: exe.as_ref().map(|e| e.image.clone()).unwrap_or_default(),
        command_line,
        comm: status.name,
        parent_image: String::new(),
        parent_command_line: String::new(),
        current_directory: cwd(pid).unwrap_or_default(),
        cgroup_id,
        exe_is_memfd: exe.as_ref().is_some_and(|e| e.is_memfd),
        exe_deleted: exe.as_ref().is_some_and(|e| e.deleted),
    };
    (info, link)
}

/// Whether `pid` descends from `ancestor`, following `PPid` links in `/proc`.
pub fn is_descendant(pid: u32, ancestor: u32) -> bool {
    descends(pid, ancestor, |pid| {
        read_status(pid).map(|status| status.ppid)
    })
}

/// Whether `pid` descends from `ancestor` given a parent lookup; at most
/// [`MAX_ANCESTRY_DEPTH`] links are followed (a pid-reuse cycle cannot loop).
fn descends(pid: u32, ancestor: u32, parent_of: impl Fn(u32) -> Option<u32>) -> bool {
    let mut current = pid;
    for _ in 0..MAX_ANCESTRY_DEPTH {
        let Some(parent) = parent_of(current) else {
            return false;
        };
        if parent == ancestor {
            return true;
        }
        if parent <= 1 || parent == current {
            return false;
        }
        current = parent;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_executable_names() {
        assert_eq!(
            exe_name("/memfd:payload (deleted)"),
            ExeName {
                image: "memfd:payload".into(),
                is_memfd: true,
                deleted: false
            }
        );
        assert_eq!(
            exe_name("/tmp/x (deleted)"),
            ExeName {
                image: "/tmp/x".into(),
                is_memfd: false,
                deleted: true
            }
        );
        assert_eq!(exe_name("/usr/bin/true").image, "/usr/bin/true");
    }

    #[test]
    fn joins_command_lines() {
        assert_eq!(command_line(b"sh\0-c\0echo hi\0"), "sh -c echo hi");
        assert_eq!(command_line(b""), "");
        assert_eq!(command_line(b"a\xff\0"), "a\u{fffd}");
    }

    #[test]
    fn parses_status() {
        let text = "Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\n\
                    Ngid:\t0\nPid:\t4243\nPPid:\t17\nUid:\t1000\t1000\t1000\t1000\n\
                    Gid:\t100\t100\t100\t100\n";
        let status = parse_status(text);
        assert_eq!(
            status,
            Status {
                name: "bash".into(),
                tgid: 4242,
                ppid: 17,
                uid: 1000,
                gid: 100
            }
        );
        assert_eq!(parse_status("Tgid: x\nnonsense"), Status::default());
    }

    #[test]
    fn parses_cgroup_and_passwd() {
        assert_eq!(
            cgroup_v2_path("0::/user.slice/a.scope\n"),
            Some("/user.slice/a.scope")
        );
        assert_eq!(cgroup_v2_path("1:name=systemd:/x\n"), None);
        let users = parse_passwd("root:x:0:0:root:/root:/bin/bash\nbad\nnobody:x:65534:1::/:/x\n");
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert_eq!(users.get(&65534).map(String::as_str), Some("nobody"));
        assert_eq!(users.len(), 2);
    }

    #[test]
    fn ancestry_walks_are_bounded() {
        // A chain 1000 -> 999 -> ... -> 2: the answer is found within the bound...
        let chain = |pid: u32| (pid > 2).then(|| pid - 1);
        assert!(descends(100, 2, chain));
        assert!(descends(2 + MAX_ANCESTRY_DEPTH as u32, 2, chain));
        // ...and not beyond it.
        assert!(!descends(3 + MAX_ANCESTRY_DEPTH as u32, 2, chain));
        // A cycle (pid reuse) ends.
        assert!(!descends(10, 99, |pid| Some(if pid == 10 {
            11
        } else {
            10
        })));
    }

    #[test]
    fn proc_reads_are_bounded() {
        let file = tempfile::Builder::new()
            .prefix("ng-bounded-")
            .tempfile()
            .unwrap_or_else(|e| panic!("{e}"));
        let big = vec![b'a'; MAX_PROC_FILE_BYTES as usize + 100];
        std::fs::write(file.path(), &big).unwrap_or_else(|e| panic!("{e}"));
        let read = read_bounded(&file.path().display().to_string(), MAX_PROC_FILE_BYTES);
        assert_eq!(read.map(|b| b.len()), Some(MAX_PROC_FILE_BYTES as usize));
    }

    #[test]
    fn reads_this_process() {
        let mut users = UserNames::default();
        let info = read_process(std::process::id(), &mut users);
        assert_eq!(info.pid, std::process::id());
        assert!(info.image.starts_with('/'), "{}", info.image);
        assert!(!info.command_line.is_empty());
        assert!(is_descendant(std::process::id(), info.ppid));
        assert!(!is_descendant(info.ppid, std::process::id()));
    }
}
