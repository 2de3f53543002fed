//! Names of flag bits and request numbers shared by every decoder of syscall arguments (the
//! tracer's and the sensor's events, the sandbox's denial reports), so all of them spell a flag
//! the same way: one table per kind, written once. Values are the generic Linux ones, identical
//! on x86_64, i386, x32 and aarch64.
//!
//! The functions render a register the way events show it: [`flag_names`] (`A|B|0x40`),
//! [`open_flags`], [`prot_text`] (`r-x`), [`ptrace_request_name`], [`bpf_command_name`],
//! [`personality_text`]. The sandbox keeps its own renderer (strace-like) over the same tables.
//!
//! ```
//! use nativeguard_syscalls::flags::{flag_names, open_flags, MFD_FLAGS};
//! assert_eq!(flag_names(1, MFD_FLAGS), "MFD_CLOEXEC");
//! assert_eq!(open_flags(0o2 | 0o100), "O_RDWR|O_CREAT");
//! ```

/// `mmap` flags (`MAP_*`).
pub const MAP_FLAGS: &[(u64, &str)] = &[
    (0x01, "MAP_SHARED"),
    (0x02, "MAP_PRIVATE"),
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x10000, "MAP_NONBLOCK"),
    (0x20000, "MAP_STACK"),
    (0x40000, "MAP_HUGETLB"),
    (0x100000, "MAP_FIXED_NOREPLACE"),
];

/// `*at` flags (`AT_*`), as execveat, fstatat and unlinkat take them.
pub const AT_FLAGS: &[(u64, &str)] = &[
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x200, "AT_REMOVEDIR"),
    (0x400, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
];

/// `AT_EMPTY_PATH`: execveat runs the file its descriptor refers to.
pub const AT_EMPTY_PATH: u64 = 0x1000;
/// `AT_FDCWD` as the kernel reads an `int` dirfd.
pub const AT_FDCWD: i32 = -100;

/// `memfd_create` flags (`MFD_*`).
pub const MFD_FLAGS: &[(u64, &str)] = &[
    (0x1, "MFD_CLOEXEC"),
    (0x2, "MFD_ALLOW_SEALING"),
    (0x4, "MFD_HUGETLB"),
    (0x8, "MFD_NOEXEC_SEAL"),
    (0x10, "MFD_EXEC"),
];

/// `open` flags (`O_*`) with x86's values (x86_64, i386, x32). arm64 numbers `O_DIRECTORY`,
/// `O_NOFOLLOW`, `O_DIRECT` and `O_TMPFILE` differently and has `O_LARGEFILE` at 0o400000
/// (arch/arm64/include/uapi/asm/fcntl.h); the sandbox's renderer adjusts. The two access-mode
/// values come first (renderers name the access mode apart: `O_RDONLY` is 0); `O_TMPFILE`
/// includes `O_DIRECTORY`'s bit.
pub const OPEN_FLAGS: &[(u64, &str)] = &[
    (0o1, "O_WRONLY"),
    (0o2, "O_RDWR"),
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o40000, "O_DIRECT"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o10000000, "O_PATH"),
    (0o20200000, "O_TMPFILE"),
];

/// `O_WRONLY | O_RDWR`: the access-mode bits of an open that can write.
pub const OPEN_WRITE_MASK: u64 = 0x3;

/// `personality` flag bits (above the low byte, which is the persona).
pub const PERSONALITY_FLAGS: &[(u64, &str)] = &[
    (0x0020000, "UNAME26"),
    (0x0040000, "ADDR_NO_RANDOMIZE"),
    (0x0080000, "FDPIC_FUNCPTRS"),
    (0x0100000, "MMAP_PAGE_ZERO"),
    (0x0200000, "ADDR_COMPAT_LAYOUT"),
    (0x0400000, "READ_IMPLIES_EXEC"),
    (0x0800000, "ADDR_LIMIT_32BIT"),
    (0x1000000, "SHORT_INODE"),
    (0x2000000, "WHOLE_SECONDS"),
    (0x4000000, "STICKY_TIMEOUTS"),
    (0x8000000, "ADDR_LIMIT_3GB"),
];

/// `ptrace` requests (`PTRACE_*`) of x86_64 and the generic ones.
pub const PTRACE_REQUESTS: &[(u64, &str)] = &[
    (0, "PTRACE_TRACEME"),
    (1, "PTRACE_PEEKTEXT"),
    (2, "PTRACE_PEEKDATA"),
    (3, "PTRACE_PEEKUSER"),
    (4, "PTRACE_POKETEXT"),
    (5, "PTRACE_POKEDATA"),
    (6, "PTRACE_POKEUSER"),
    (7, "PTRACE_CONT"),
    (8, "PTRACE_KILL"),
    (9, "PTRACE_SINGLESTEP"),
    (12, "PTRACE_GETREGS"),
    (13, "PTRACE_SETREGS"),
    (14, "PTRACE_GETFPREGS"),
    (15, "PTRACE_SETFPREGS"),
    (16, "PTRACE_ATTACH"),
    (17, "PTRACE_DETACH"),
    (18, "PTRACE_GETFPXREGS"),
    (19, "PTRACE_SETFPXREGS"),
    (24, "PTRACE_SYSCALL"),
    (0x4200, "PTRACE_SETOPTIONS"),
    (0x4201, "PTRACE_GETEVENTMSG"),
    (0x4202, "PTRACE_GETSIGINFO"),
    (0x4203, "PTRACE_SETSIGINFO"),
    (0x4204, "PTRACE_GETREGSET"),
    (0x4205, "PTRACE_SETREGSET"),
    (0x4206, "PTRACE_SEIZE"),
    (0x4207, "PTRACE_INTERRUPT"),
    (0x4208, "PTRACE_LISTEN"),
    (0x4209, "PTRACE_PEEKSIGINFO"),
    (0x420e, "PTRACE_GET_SYSCALL_INFO"),
];

/// `bpf(2)` commands, by number.
pub const BPF_COMMANDS: &[&str] = &[
    "BPF_MAP_CREATE",
    "BPF_MAP_LOOKUP_ELEM",
    "BPF_MAP_UPDATE_ELEM",
    "BPF_MAP_DELETE_ELEM",
    "BPF_MAP_GET_NEXT_KEY",
    "BPF_PROG_LOAD",
    "BPF_OBJ_PIN",
    "BPF_OBJ_GET",
    "BPF_PROG_ATTACH",
    "BPF_PROG_DETACH",
    "BPF_PROG_TEST_RUN",
    "BPF_PROG_GET_NEXT_ID",
    "BPF_MAP_GET_NEXT_ID",
    "BPF_PROG_GET_FD_BY_ID",
    "BPF_MAP_GET_FD_BY_ID",
    "BPF_OBJ_GET_INFO_BY_FD",
    "BPF_PROG_QUERY",
    "BPF_RAW_TRACEPOINT_OPEN",
    "BPF_BTF_LOAD",
    "BPF_BTF_GET_FD_BY_ID",
    "BPF_TASK_FD_QUERY",
    "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
    "BPF_MAP_FREEZE",
    "BPF_BTF_GET_NEXT_ID",
    "BPF_MAP_LOOKUP_BATCH",
    "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
    "BPF_MAP_UPDATE_BATCH",
    "BPF_MAP_DELETE_BATCH",
    "BPF_LINK_CREATE",
    "BPF_LINK_UPDATE",
    "BPF_LINK_GET_FD_BY_ID",
    "BPF_LINK_GET_NEXT_ID",
    "BPF_ENABLE_STATS",
    "BPF_ITER_CREATE",
    "BPF_LINK_DETACH",
    "BPF_PROG_BIND_MAP",
    "BPF_TOKEN_CREATE",
];

/// Names the set bits of `value` from `names`, in table order; bits no name covers as one hex
/// number at the end (`0x0` when nothing is set).
pub fn flag_names(value: u64, names: &[(u64, &str)]) -> String {
    let mut parts = Vec::new();
    let mut rest = value;
    for &(bit, name) in names {
        if bit != 0 && value & bit == bit {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 || parts.is_empty() {
        parts.push(format!("{rest:#x}"));
    }
    parts.join("|")
}

/// `open` flags (an `int`: the low 32 bits), access mode first: `O_RDONLY|O_CLOEXEC`, `O_RDWR`.
pub fn open_flags(flags: u64) -> String {
    let flags = flags & 0xffff_ffff;
    if flags & OPEN_WRITE_MASK == 0 {
        let rest = flags & !OPEN_WRITE_MASK;
        if rest == 0 {
            return "O_RDONLY".to_string();
        }
        return format!("O_RDONLY|{}", flag_names(rest, OPEN_FLAGS));
    }
    flag_names(flags, OPEN_FLAGS)
}

/// `PROT_*` bits as `rwx` text (`-` for a missing right).
pub fn prot_text(prot: u64) -> String {
    let bit = |mask: u64, c: char| if prot & mask != 0 { c } else { '-' };
    [bit(1, 'r'), bit(2, 'w'), bit(4, 'x')].iter().collect()
}

/// The name of a ptrace request, or its number in hex.
pub fn ptrace_request_name(request: u64) -> String {
    PTRACE_REQUESTS
        .iter()
        .find(|(value, _)| *value == request)
        .map_or_else(|| format!("{request:#x}"), |(_, name)| (*name).to_string())
}

/// The name of a `bpf(2)` command, or its number in hex.
pub fn bpf_command_name(command: u64) -> String {
    usize::try_from(command)
        .ok()
        .and_then(|index| BPF_COMMANDS.get(index))
        .map_or_else(|| format!("{command:#x}"), |name| (*name).to_string())
}

/// A `personality` argument (an `int`): `query` for 0xffffffff, else the persona
/// (`PER_LINUX`, `PER_LINUX32`, or hex) and its flag bits: `PER_LINUX|ADDR_NO_RANDOMIZE`.
pub fn personality_text(persona: u64) -> String {
    let persona = persona & 0xffff_ffff;
    if persona == 0xffff_ffff {
        return "query".to_string();
    }
    let mut text = match persona & 0xff {
        0 => "PER_LINUX".to_string(),
        8 => "PER_LINUX32".to_string(),
        other => format!("{other:#x}"),
    };
    if persona & !0xff != 0 {
        text.push('|');
        text.push_str(&flag_names(persona & !0xff, PERSONALITY_FLAGS));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_flags_and_leaves_unknown_bits_in_hex() {
        assert_eq!(flag_names(0x13, MFD_FLAGS), "MFD_CLOEXEC|MFD_ALLOW_SEALING|MFD_EXEC");
        assert_eq!(flag_names(0x1_0000_0001, MFD_FLAGS), "MFD_CLOEXEC|0x100000000");
        assert_eq!(flag_names(0, MFD_FLAGS), "0x0");
        assert_eq!(flag_names(0x1000, AT_FLAGS), "AT_EMPTY_PATH");
    }

    #[test]
    fn open_flags_name_the_access_mode() {
        assert_eq!(open_flags(0), "O_RDONLY");
        assert_eq!(open_flags(0o2000000), "O_RDONLY|O_CLOEXEC");
        assert_eq!(open_flags(0o2 | 0o100 | 0o1000), "O_RDWR|O_CREAT|O_TRUNC");
        // An int: the high half of the register is not the kernel's.
        assert_eq!(open_flags(0x1_0000_0001), "O_WRONLY");
    }

    #[test]
    fn requests_commands_personas() {
        assert_eq!(ptrace_request_name(5), "PTRACE_POKEDATA");
        assert_eq!(ptrace_request_name(0x4206), "PTRACE_SEIZE");
        assert_eq!(ptrace_request_name(0x99), "0x99");
        assert_eq!(bpf_command_name(5), "BPF_PROG_LOAD");
        assert_eq!(bpf_command_name(1000), "0x3e8");
        assert_eq!(prot_text(5), "r-x");
        assert_eq!(prot_text(0), "---");
        assert_eq!(personality_text(0xffff_ffff), "query");
        assert_eq!(personality_text(0x0040000), "PER_LINUX|ADDR_NO_RANDOMIZE");
        assert_eq!(personality_text(8), "PER_LINUX32");
    }

    #[test]
    fn tables_have_one_name_per_value() {
        for table in [MAP_FLAGS, AT_FLAGS, MFD_FLAGS, OPEN_FLAGS, PERSONALITY_FLAGS, PTRACE_REQUESTS] {
            let mut values: Vec<u64> = table.iter().map(|(value, _)| *value).collect();
            values.sort_unstable();
            values.dedup();
            assert_eq!(values.len(), table.len());
        }
    }
}
