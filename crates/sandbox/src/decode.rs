//! Renders a system call and its arguments for a denial report:
//! `socket(AF_NETLINK, SOCK_RAW, 0)`, `memfd_create("x", MFD_CLOEXEC)`.
//!
//! Strings and structures are read from the caller's memory through `/proc/PID/mem` FOR THE
//! REPORT ONLY: the caller may change that memory at any time, so nothing read here ever
//! decides whether a call is allowed (see the crate's design note).

// Flag and request names are the ones the tracer and the sensor use (one table each).
use nativeguard_syscalls::flags::{AT_FLAGS, MAP_FLAGS, MFD_FLAGS, OPEN_FLAGS, PTRACE_REQUESTS};
use nativeguard_syscalls::{Arch, ArgType};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Longest string read from the caller's memory (longer ones end with `...`).
pub const MAX_STRING: usize = 256;
/// Most `argv` entries shown for an exec.
pub const MAX_ARGV: usize = 8;
/// Longest `argv` entry shown (longer ones end with `...`).
pub const MAX_ARGV_STRING: usize = 64;

/// Reads the memory of the process that made the call.
pub struct Memory {
    file: Option<File>,
    pointer_bytes: usize,
}

impl Memory {
    /// Opens `/proc/PID/mem` (none when the process is gone or not readable: strings are then
    /// shown as addresses).
    pub fn open(pid: u32, arch: Arch) -> Memory {
        let pointer_bytes = if matches!(arch, Arch::I386 | Arch::X32) {
            4
        } else {
            8
        };
        Memory {
            file: File::open(format!("/proc/{pid}/mem")).ok(),
            pointer_bytes,
        }
    }

    /// No access to memory: pointers are shown as addresses.
    pub fn none() -> Memory {
        Memory {
            file: None,
            pointer_bytes: 8,
        }
    }

    fn read(&self, address: u64, buf: &mut [u8]) -> usize {
        let Some(file) = &self.file else { return 0 };
        let mut done = 0;
        while done < buf.len() {
            match file.read_at(&mut buf[done..], address.saturating_add(done as u64)) {
                Ok(0) | Err(_) => break,
                Ok(n) => done += n,
            }
        }
        done
    }

    /// A NUL-terminated string, bounded by [`MAX_STRING`].
    pub fn string(&self, address: u64) -> Option<String> {
        self.bounded_string(address, MAX_STRING)
    }

    fn bounded_string(&self, address: u64, limit: usize) -> Option<String> {
        if address == 0 || self.file.is_none() {
            return None;
        }
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 64];
        while bytes.len() < limit {
            let got = self.read(address.saturating_add(bytes.len() as u64), &mut chunk);
            if got == 0 {
                break;
            }
            if let Some(end) = chunk[..got].iter().position(|&b| b == 0) {
                bytes.extend_from_slice(&chunk[..end]);
                let truncated = bytes.len() > limit;
                bytes.truncate(limit);
                return Some(quote(&bytes, truncated));
            }
            bytes.extend_from_slice(&chunk[..got]);
        }
        if bytes.is_empty() {
            return None;
        }
        bytes.truncate(limit);
        Some(quote(&bytes, true))
    }

    /// The raw bytes of a NUL-terminated string (for path checks and the exe of a report).
    pub fn raw_string(&self, address: u64, limit: usize) -> Option<Vec<u8>> {
        if address == 0 {
            return None;
        }
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 256];
        while bytes.len() < limit {
            let got = self.read(address.saturating_add(bytes.len() as u64), &mut chunk);
            if got == 0 {
                return None;
            }
            if let Some(end) = chunk[..got].iter().position(|&b| b == 0) {
                bytes.extend_from_slice(&chunk[..end]);
                return Some(bytes);
            }
            bytes.extend_from_slice(&chunk[..got]);
        }
        None
    }

    fn pointer(&self, address: u64) -> Option<u64> {
        let mut buf = [0u8; 8];
        let width = self.pointer_bytes;
        (self.read(address, &mut buf[..width]) == width).then(|| u64::from_le_bytes(buf))
    }

    fn u64_at(&self, address: u64) -> Option<u64> {
        let mut buf = [0u8; 8];
        (self.read(address, &mut buf) == 8).then(|| u64::from_le_bytes(buf))
    }

    fn u16_at(&self, address: u64) -> Option<u16> {
        let mut buf = [0u8; 2];
        (self.read(address, &mut buf) == 2).then(|| u16::from_le_bytes(buf))
    }

    /// `["a", "b", ...]` for an argv-style array.
    fn string_array(&self, address: u64) -> Option<String> {
        if address == 0 || self.file.is_none() {
            return None;
        }
        let mut items = Vec::new();
        for index in 0..=MAX_ARGV {
            let slot = address.checked_add((index * self.pointer_bytes) as u64)?;
            let item = self.pointer(slot)?;
            if item == 0 {
                return Some(format!("[{}]", items.join(", ")));
            }
            if index == MAX_ARGV {
                items.push("...".to_string());
                break;
            }
            items.push(
                self.bounded_string(item, MAX_ARGV_STRING)
                    .unwrap_or_else(|| hex(item)),
            );
        }
        Some(format!("[{}]", items.join(", ")))
    }
}

/// Quotes bytes as a C-style string literal.
fn quote(bytes: &[u8], truncated: bool) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    if truncated {
        out.push_str("...");
    }
    out
}

fn hex(value: u64) -> String {
    format!("{value:#x}")
}

fn pointer(value: u64) -> String {
    if value == 0 {
        "NULL".to_string()
    } else {
        hex(value)
    }
}

/// The value the kernel sees for an `int` argument, noting ignored high bits: a call that
/// smuggles bits above 32 (`socket(0x1_00000010, ...)`) shows them.
fn int_value(raw: u64) -> (u32, Option<String>) {
    let low = raw as u32;
    let note = (raw >> 32 != 0).then(|| format!(" /* {raw:#x} */"));
    (low, note)
}

fn int(raw: u64) -> String {
    let (low, note) = int_value(raw);
    format!("{}{}", low as i32, note.unwrap_or_default())
}

/// The value the kernel sees for a 16-bit argument (`umode_t`, i386's `old_uid_t`), noting
/// ignored high bits.
fn short(raw: u64) -> String {
    let low = raw as u16;
    let note = (raw >> 16 != 0).then(|| format!(" /* {raw:#x} */"));
    format!("{low}{}", note.unwrap_or_default())
}

fn named_int<T: Copy + Into<u64>>(raw: u64, names: &[(T, &str)]) -> String {
    let (low, note) = int_value(raw);
    let body = names
        .iter()
        .find(|(value, _)| (*value).into() == u64::from(low))
        .map_or_else(|| (low as i32).to_string(), |(_, name)| (*name).to_string());
    format!("{body}{}", note.unwrap_or_default())
}

/// `A|B|0x40` for a bit set; `zero` when no bit is set.
fn flags(value: u64, names: &[(u64, &str)], zero: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = value;
    for &(bit, name) in names {
        if bit != 0 && rest & bit == bit {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 || parts.is_empty() && value != 0 {
        parts.push(hex(rest));
    }
    if parts.is_empty() {
        zero.to_string()
    } else {
        parts.join("|")
    }
}

fn int_flags(raw: u64, names: &[(u64, &str)], zero: &str) -> String {
    let (low, note) = int_value(raw);
    format!(
        "{}{}",
        flags(u64::from(low), names, zero),
        note.unwrap_or_default()
    )
}

const ADDRESS_FAMILIES: &[(u32, &str)] = &[
    (0, "AF_UNSPEC"),
    (1, "AF_UNIX"),
    (2, "AF_INET"),
    (3, "AF_AX25"),
    (4, "AF_IPX"),
    (5, "AF_APPLETALK"),
    (9, "AF_X25"),
    (10, "AF_INET6"),
    (16, "AF_NETLINK"),
    (17, "AF_PACKET"),
    (29, "AF_CAN"),
    (31, "AF_BLUETOOTH"),
    (38, "AF_ALG"),
    (40, "AF_VSOCK"),
    (44, "AF_XDP"),
];

const SOCKET_TYPES: &[(u32, &str)] = &[
    (1, "SOCK_STREAM"),
    (2, "SOCK_DGRAM"),
    (3, "SOCK_RAW"),
    (4, "SOCK_RDM"),
    (5, "SOCK_SEQPACKET"),
    (10, "SOCK_PACKET"),
];

fn socket_type(raw: u64) -> String {
    let (low, note) = int_value(raw);
    let base = low & 0xf;
    let mut parts = vec![SOCKET_TYPES
        .iter()
        .find(|(value, _)| *value == base)
        .map_or_else(|| base.to_string(), |(_, name)| (*name).to_string())];
    let extra = u64::from(low & !0xf);
    if extra != 0 {
        parts.push(flags(
            extra,
            &[(0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")],
            "0",
        ));
    }
    format!("{}{}", parts.join("|"), note.unwrap_or_default())
}

const PROT: &[(u64, &str)] = &[
    (1, "PROT_READ"),
    (2, "PROT_WRITE"),
    (4, "PROT_EXEC"),
    (0x0100_0000, "PROT_GROWSDOWN"),
];

/// The `open` flag names (access mode apart) for `arch`: the shared table's values are x86's;
/// arm64 numbers four of them differently (arch/arm64/include/uapi/asm/fcntl.h). `O_TMPFILE`
/// comes first, since it includes `O_DIRECTORY`'s bit.
fn open_flag_names(arch: Arch) -> Vec<(u64, &'static str)> {
    let value = |&(bit, name): &(u64, &'static str)| match (arch, name) {
        (Arch::Aarch64, "O_DIRECTORY") => (0o40000, name),
        (Arch::Aarch64, "O_NOFOLLOW") => (0o100000, name),
        (Arch::Aarch64, "O_DIRECT") => (0o200000, name),
        (Arch::Aarch64, "O_TMPFILE") => (0o20040000, name),
        _ => (bit, name),
    };
    let rest = &OPEN_FLAGS[2..];
    let mut names: Vec<_> = rest
        .iter()
        .filter(|(_, name)| *name == "O_TMPFILE")
        .chain(rest.iter().filter(|(_, name)| *name != "O_TMPFILE"))
        .map(value)
        .collect();
    if arch == Arch::Aarch64 {
        names.push((0o400000, "O_LARGEFILE"));
    }
    names
}

fn open_flags(arch: Arch, raw: u64) -> String {
    let (low, note) = int_value(raw);
    let access = match low & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let rest = u64::from(low & !3);
    let mut text = access.to_string();
    if rest != 0 {
        text.push('|');
        text.push_str(&flags(rest, &open_flag_names(arch), "0"));
    }
    format!("{text}{}", note.unwrap_or_default())
}

const CLONE_FLAGS: &[(u64, &str)] = &[
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"),
    (0x2000, "CLONE_PTRACE"),
    (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"),
    (0x10000, "CLONE_THREAD"),
    (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"),
    (0x80000, "CLONE_SETTLS"),
    (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"),
    (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"),
    (0x1000000, "CLONE_CHILD_SETTID"),
    (0x2000000, "CLONE_NEWCGROUP"),
    (0x4000000, "CLONE_NEWUTS"),
    (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"),
    (0x20000000, "CLONE_NEWPID"),
    (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"),
    (0x100000000, "CLONE_CLEAR_SIGHAND"),
    (0x200000000, "CLONE_INTO_CGROUP"),
];

fn clone_flags(raw: u64) -> String {
    let signal = raw & 0xff;
    let mut text = flags(raw & !0xff, CLONE_FLAGS, "0");
    if signal != 0 {
        let name = SIGNALS
            .iter()
            .find(|(n, _)| u64::from(*n) == signal)
            .map(|(_, name)| *name);
        text = match (text.as_str(), name) {
            ("0", Some(name)) => name.to_string(),
            ("0", None) => signal.to_string(),
            (_, Some(name)) => format!("{text}|{name}"),
            (_, None) => format!("{text}|{signal}"),
        };
    }
    text
}

const SIGNALS: &[(u32, &str)] = &[
    (1, "SIGHUP"),
    (2, "SIGINT"),
    (3, "SIGQUIT"),
    (6, "SIGABRT"),
    (9, "SIGKILL"),
    (10, "SIGUSR1"),
    (12, "SIGUSR2"),
    (13, "SIGPIPE"),
    (14, "SIGALRM"),
    (15, "SIGTERM"),
    (17, "SIGCHLD"),
    (18, "SIGCONT"),
    (19, "SIGSTOP"),
];

const PRCTL_OPTIONS: &[(u32, &str)] = &[
    (1, "PR_SET_PDEATHSIG"),
    (4, "PR_SET_DUMPABLE"),
    (15, "PR_SET_NAME"),
    (22, "PR_SET_SECCOMP"),
    (38, "PR_SET_NO_NEW_PRIVS"),
    (0x59616d61, "PR_SET_PTRACER"),
];

/// A file mode (`umode_t`), in octal as people write it.
fn mode(raw: u64) -> String {
    format!("{:#o}", raw as u32)
}

fn dirfd(raw: u64) -> String {
    if raw as u32 as i32 == -100 {
        "AT_FDCWD".to_string()
    } else {
        int(raw)
    }
}

/// Renders each argument of the call `name(args)` on `arch`, reading strings from `memory`.
pub fn decode_args(arch: Arch, name: &str, args: &[u64; 6], memory: &Memory) -> Vec<String> {
    let string = |index: usize| {
        memory
            .string(args[index])
            .unwrap_or_else(|| pointer(args[index]))
    };
    let rendered: Option<Vec<String>> = match name {
        "socket" => Some(vec![
            named_int(args[0], ADDRESS_FAMILIES),
            socket_type(args[1]),
            int(args[2]),
        ]),
        "socketpair" => Some(vec![
            named_int(args[0], ADDRESS_FAMILIES),
            socket_type(args[1]),
            int(args[2]),
            pointer(args[3]),
        ]),
        "connect" | "bind" => {
            let family = memory
                .u16_at(args[1])
                .map(|family| named_int(u64::from(family), ADDRESS_FAMILIES));
            Some(vec![
                int(args[0]),
                family.map_or_else(
                    || pointer(args[1]),
                    |family| format!("{{sa_family={family}}}"),
                ),
                int(args[2]),
            ])
        }
        "clone" => Some(vec![
            clone_flags(args[0]),
            pointer(args[1]),
            pointer(args[2]),
            pointer(args[3]),
            hex(args[4]),
        ]),
        "clone3" => {
            let flags = memory.u64_at(args[0]).map(clone_flags);
            Some(vec![
                flags.map_or_else(|| pointer(args[0]), |flags| format!("{{flags={flags}}}")),
                hex(args[1]),
            ])
        }
        "mmap" | "mmap2" if arch != Arch::I386 || name == "mmap2" => Some(vec![
            pointer(args[0]),
            args[1].to_string(),
            int_flags(args[2], PROT, "PROT_NONE"),
            int_flags(args[3], MAP_FLAGS, "0"),
            int(args[4]),
            hex(args[5]),
        ]),
        "mprotect" => Some(vec![
            pointer(args[0]),
            args[1].to_string(),
            flags(args[2], PROT, "PROT_NONE"),
        ]),
        "pkey_mprotect" => Some(vec![
            pointer(args[0]),
            args[1].to_string(),
            flags(args[2], PROT, "PROT_NONE"),
            int(args[3]),
        ]),
        "open" => Some(vec![string(0), open_flags(arch, args[1]), mode(args[2])]),
        "creat" => Some(vec![string(0), mode(args[1])]),
        "openat" => Some(vec![
            dirfd(args[0]),
            string(1),
            open_flags(arch, args[2]),
            mode(args[3]),
        ]),
        "openat2" => {
            let how = memory.u64_at(args[2]).map(|flags| open_flags(arch, flags));
            Some(vec![
                dirfd(args[0]),
                string(1),
                how.map_or_else(|| pointer(args[2]), |flags| format!("{{flags={flags}}}")),
                args[3].to_string(),
            ])
        }
        "execve" => Some(vec![
            string(0),
            memory
                .string_array(args[1])
                .unwrap_or_else(|| pointer(args[1])),
            pointer(args[2]),
        ]),
        "execveat" => Some(vec![
            dirfd(args[0]),
            string(1),
            memory
                .string_array(args[2])
                .unwrap_or_else(|| pointer(args[2])),
            pointer(args[3]),
            int_flags(args[4], AT_FLAGS, "0"),
        ]),
        "ptrace" => Some(vec![
            named_int(args[0], PTRACE_REQUESTS),
            int(args[1]),
            pointer(args[2]),
            pointer(args[3]),
        ]),
        "memfd_create" => Some(vec![string(0), int_flags(args[1], MFD_FLAGS, "0")]),
        "memfd_secret" => Some(vec![hex(args[0])]),
        "process_vm_readv" | "process_vm_writev" => Some(vec![
            int(args[0]),
            pointer(args[1]),
            args[2].to_string(),
            pointer(args[3]),
            args[4].to_string(),
            hex(args[5]),
        ]),
        "personality" => Some(vec![hex(u64::from(args[0] as u32))]),
        "prctl" => Some(vec![
            named_int(args[0], PRCTL_OPTIONS),
            hex(args[1]),
            hex(args[2]),
            hex(args[3]),
            hex(args[4]),
        ]),
        "kill" | "tkill" => Some(vec![int(args[0]), named_int(args[1], SIGNALS)]),
        "tgkill" => Some(vec![
            int(args[0]),
            int(args[1]),
            named_int(args[2], SIGNALS),
        ]),
        "unlink" | "rmdir" | "chdir" | "chroot" | "acct" | "swapon" | "swapoff" | "uselib" => {
            Some(vec![string(0)])
        }
        "mkdir" | "chmod" => Some(vec![string(0), mode(args[1])]),
        "mkdirat" | "fchmodat" => Some(vec![dirfd(args[0]), string(1), mode(args[2])]),
        "access" | "truncate" | "stat" | "lstat" | "readlink" | "statfs" => {
            let count = nativeguard_syscalls::syscall(arch, name).map_or(2, |s| s.args.len());
            Some(
                (0..count)
                    .map(|i| if i == 0 { string(0) } else { hex(args[i]) })
                    .collect(),
            )
        }
        "unlinkat" | "faccessat" | "faccessat2" | "newfstatat" | "readlinkat" | "statx"
        | "mknodat" | "fchownat" => {
            let count = nativeguard_syscalls::syscall(arch, name).map_or(3, |s| s.args.len());
            Some(
                (0..count)
                    .map(|i| match i {
                        0 => dirfd(args[0]),
                        1 => string(1),
                        _ => hex(args[i]),
                    })
                    .collect(),
            )
        }
        "rename" | "link" | "symlink" => Some(vec![string(0), string(1)]),
        "init_module" => Some(vec![pointer(args[0]), args[1].to_string(), string(2)]),
        "finit_module" => Some(vec![int(args[0]), string(1), int(args[2])]),
        "mount" => Some(vec![
            string(0),
            string(1),
            string(2),
            hex(args[3]),
            pointer(args[4]),
        ]),
        "bpf" => Some(vec![int(args[0]), pointer(args[1]), args[2].to_string()]),
        _ => None,
    };
    rendered.unwrap_or_else(|| generic(arch, name, args))
}

/// Arguments rendered from their types alone.
fn generic(arch: Arch, name: &str, args: &[u64; 6]) -> Vec<String> {
    match nativeguard_syscalls::syscall(arch, name) {
        Some(syscall) if !syscall.args.is_empty() || name != "unknown" => syscall
            .args
            .iter()
            .zip(args)
            .map(|(kind, &value)| match kind {
                ArgType::Short => short(value),
                ArgType::Int => int(value),
                ArgType::Long if value < 0x10000 => value.to_string(),
                ArgType::Long => hex(value),
                ArgType::Pointer => pointer(value),
            })
            .collect(),
        _ => args.iter().map(|&value| hex(value)).collect(),
    }
}

/// Symbolic name of an errno value (`EPERM`), or its number.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ECONNREFUSED => "ECONNREFUSED",
        _ => return errno.to_string(),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(name: &str, args: [u64; 6]) -> String {
        decode_args(Arch::X86_64, name, &args, &Memory::none()).join(", ")
    }

    #[test]
    fn socket_families_types_and_smuggled_high_bits() {
        assert_eq!(
            decode("socket", [16, 3, 0, 0, 0, 0]),
            "AF_NETLINK, SOCK_RAW, 0"
        );
        assert_eq!(
            decode("socket", [0x1_0000_0010, 3, 0, 0, 0, 0]),
            "AF_NETLINK /* 0x100000010 */, SOCK_RAW, 0"
        );
        assert_eq!(
            decode("socket", [2, 1 | 0o2000000 | 0o4000, 6, 0, 0, 0]),
            "AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 6"
        );
    }

    #[test]
    fn memory_protection_and_mapping_flags() {
        assert_eq!(
            decode("mprotect", [0x1000, 4096, 7, 0, 0, 0]),
            "0x1000, 4096, PROT_READ|PROT_WRITE|PROT_EXEC"
        );
        assert_eq!(
            decode("mmap", [0, 4096, 5, 0x22, u64::from(u32::MAX), 0]),
            "NULL, 4096, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0x0"
        );
        assert_eq!(
            decode("mprotect", [0x1000, 4096, 0, 0, 0, 0]),
            "0x1000, 4096, PROT_NONE"
        );
    }

    #[test]
    fn clone_ptrace_memfd_and_open() {
        assert_eq!(
            decode("clone", [0x1200011, 0, 0, 0, 0, 0]),
            "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, NULL, NULL, NULL, 0x0"
        );
        assert_eq!(
            decode("ptrace", [4, 1234, 0x4000, 0x90, 0, 0]),
            "PTRACE_POKETEXT, 1234, 0x4000, 0x90"
        );
        assert_eq!(
            decode("memfd_create", [0, 1 | 2, 0, 0, 0, 0]),
            "NULL, MFD_CLOEXEC|MFD_ALLOW_SEALING"
        );
        assert_eq!(
            decode(
                "openat",
                [(-100i64) as u64, 0, 0o2 | 0o100 | 0o2000000, 0o644, 0, 0]
            ),
            "AT_FDCWD, NULL, O_RDWR|O_CREAT|O_CLOEXEC, 0o644"
        );
    }

    #[test]
    fn o_tmpfile_is_named_not_split_into_o_directory_and_a_bare_bit() {
        // O_TMPFILE is __O_TMPFILE | O_DIRECTORY: x86 0o20200000, arm64 0o20040000.
        assert_eq!(
            decode("openat", [(-100i64) as u64, 0, 0o20200002, 0o600, 0, 0]),
            "AT_FDCWD, NULL, O_RDWR|O_TMPFILE, 0o600"
        );
        assert_eq!(
            decode_args(
                Arch::Aarch64,
                "openat",
                &[(-100i64) as u64, 0, 0o20040002, 0o600, 0, 0],
                &Memory::none()
            )
            .join(", "),
            "AT_FDCWD, NULL, O_RDWR|O_TMPFILE, 0o600"
        );
    }

    #[test]
    fn aarch64_open_flags_use_the_arm64_values() {
        // arch/arm64/include/uapi/asm/fcntl.h: O_DIRECTORY 040000, O_NOFOLLOW 0100000,
        // O_DIRECT 0200000 (x86 has O_DIRECT 040000, O_DIRECTORY 0200000, O_NOFOLLOW 0400000).
        let decode_arm = |args: [u64; 6]| {
            decode_args(Arch::Aarch64, "openat", &args, &Memory::none()).join(", ")
        };
        assert_eq!(
            decode_arm([(-100i64) as u64, 0, 0o40000 | 0o100000, 0, 0, 0]),
            "AT_FDCWD, NULL, O_RDONLY|O_DIRECTORY|O_NOFOLLOW, 0o0"
        );
        assert_eq!(
            decode_arm([(-100i64) as u64, 0, 0o200000, 0, 0, 0]),
            "AT_FDCWD, NULL, O_RDONLY|O_DIRECT, 0o0"
        );
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(decode("mkdir", [0, 0o777, 0, 0, 0, 0]), "NULL, 0o777");
        assert_eq!(
            decode("mkdirat", [(-100i64) as u64, 0, 0o755, 0, 0, 0]),
            "AT_FDCWD, NULL, 0o755"
        );
    }

    #[test]
    fn unknown_syscalls_fall_back_to_types_then_hex() {
        assert_eq!(decode("getppid", [0; 6]), "");
        assert_eq!(decode("close", [3, 0, 0, 0, 0, 0]), "3");
        assert_eq!(
            decode("no_such_call", [1, 2, 0, 0, 0, 0]),
            "0x1, 0x2, 0x0, 0x0, 0x0, 0x0"
        );
    }

    #[test]
    fn strings_are_read_from_our_own_memory() {
        let text = b"hello \"world\"\0";
        let memory = Memory::open(std::process::id(), Arch::host());
        let shown = memory.string(text.as_ptr() as u64);
        assert_eq!(shown.as_deref(), Some("\"hello \\\"world\\\"\""));
        let long = vec![b'a'; MAX_STRING * 2];
        let shown = memory.string(long.as_ptr() as u64).unwrap();
        assert!(
            shown.ends_with("\"...") && shown.len() == MAX_STRING + 5,
            "{shown}"
        );
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(libc::EPERM), "EPERM");
        assert_eq!(errno_name(libc::EACCES), "EACCES");
        assert_eq!(errno_name(4095), "4095");
    }
}
