//! # nativeguard-syscalls
//!
//! Syscall tables — name, number and the type of each argument — for the four ABIs nativeguard
//! filters: x86_64, i386 (IA-32 emulation, `int 0x80`), x32 and aarch64.
//!
//! The tables in `generated.rs` are produced by `gen/gen.py` (committed; run it again to refresh):
//! numbers come from the Linux UAPI unistd headers as captured by linux-raw-sys 0.12.1, argument
//! types from the `sys_*` prototypes of Linux's `include/linux/syscalls.h` (Debian
//! linux-headers-6.1.0-54-common) plus `gen/curated.tsv` for calls newer than 6.1 and arch-specific
//! entry points. The seccomp compiler needs the types because the kernel reads an `int` argument
//! from the low 32 bits of its register only: a filter comparing all 64 bits of
//! `socket(0x1_00000010, ...)` misses `AF_NETLINK`. Likewise a `umode_t` or i386's 16-bit uid
//! (`setuid` is `sys_setuid16` there) is read from the low 16 bits, and x32's own calls
//! (numbers 512-547) run the `compat_sys_*` entry points, whose `compat_long_t` arguments are
//! 32-bit.
//!
//! Main items: [`Arch`] (with its `AUDIT_ARCH_*` value and x32 bit), [`Syscall`], [`ArgType`],
//! [`lookup`] (name -> number), [`name`] (number -> name) and [`Arch::highest_nr`].
//!
//! ```
//! use nativeguard_syscalls::{lookup, name, Arch, ArgType};
//! assert_eq!(lookup(Arch::X86_64, "getppid"), Some(110));
//! assert_eq!(lookup(Arch::X32, "getppid"), Some(0x4000_0000 | 110));
//! assert_eq!(name(Arch::I386, 64), Some("getppid"));
//! let socket = nativeguard_syscalls::syscall(Arch::X86_64, "socket").unwrap();
//! assert_eq!(socket.args, &[ArgType::Int, ArgType::Int, ArgType::Int]);
//! assert_eq!(ArgType::Int.bits(Arch::X86_64), 32);
//! assert_eq!(ArgType::Pointer.bits(Arch::I386), 32);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

#[rustfmt::skip]
pub mod flags;
mod generated;

/// `__X32_SYSCALL_BIT`: set in every x32 syscall number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `AUDIT_ARCH_X86_64` (also the arch of x32 calls, which differ by [`X32_SYSCALL_BIT`]).
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_I386`.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64`.
pub const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;

/// A syscall ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// x86_64 (`syscall` instruction, 64-bit registers).
    X86_64,
    /// i386, also reachable from 64-bit processes through `int 0x80` (32-bit registers).
    I386,
    /// x32: the x86_64 instruction set and registers with 32-bit pointers; numbers carry
    /// [`X32_SYSCALL_BIT`] and the audit arch is `AUDIT_ARCH_X86_64`.
    X32,
    /// aarch64 (arm64).
    Aarch64,
}

impl Arch {
    /// Every ABI with a table.
    pub const ALL: [Arch; 4] = [Arch::X86_64, Arch::I386, Arch::X32, Arch::Aarch64];

    /// The `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch` for this ABI.
    pub fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => AUDIT_ARCH_X86_64,
            Arch::I386 => AUDIT_ARCH_I386,
            Arch::Aarch64 => AUDIT_ARCH_AARCH64,
        }
    }

    /// The ABI this program was compiled for.
    pub fn host() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else if cfg!(all(target_arch = "x86_64", target_pointer_width = "32")) {
            Arch::X32
        } else if cfg!(target_arch = "x86") {
            Arch::I386
        } else {
            Arch::X86_64
        }
    }

    /// Every ABI a process on this host can call the kernel through (a process on x86_64 can
    /// use all three x86 ABIs, so a filter must cover them).
    pub fn host_abis() -> &'static [Arch] {
        match Arch::host() {
            Arch::Aarch64 => &[Arch::Aarch64],
            _ => &[Arch::X86_64, Arch::I386, Arch::X32],
        }
    }

    /// Short name: `x86_64`, `x86` (i386), `x32`, `aarch64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I386 => "x86",
            Arch::X32 => "x32",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The OCI / libseccomp name (`SCMP_ARCH_X86_64`, ...).
    pub fn oci_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::I386 => "SCMP_ARCH_X86",
            Arch::X32 => "SCMP_ARCH_X32",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
        }
    }

    /// Parses a short name (`x86_64`, `amd64`, `x86`, `i386`, `i686`, `x32`, `aarch64`, `arm64`)
    /// or an OCI name (`SCMP_ARCH_X86_64`, ...), case-insensitively.
    pub fn from_name(text: &str) -> Option<Arch> {
        let lower = text.to_ascii_lowercase();
        let short = lower.strip_prefix("scmp_arch_").unwrap_or(&lower);
        match short {
            "x86_64" | "amd64" => Some(Arch::X86_64),
            "x86" | "i386" | "i686" | "ia32" => Some(Arch::I386),
            "x32" => Some(Arch::X32),
            "aarch64" | "arm64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// Width of the argument registers the kernel reads for this ABI (32 for i386).
    pub fn register_bits(self) -> u32 {
        match self {
            Arch::I386 => 32,
            _ => 64,
        }
    }

    /// [`X32_SYSCALL_BIT`] for x32, 0 otherwise.
    pub fn syscall_bit(self) -> u32 {
        match self {
            Arch::X32 => X32_SYSCALL_BIT,
            _ => 0,
        }
    }

    /// The table of this ABI, sorted by number.
    pub fn syscalls(self) -> &'static [Syscall] {
        match self {
            Arch::X86_64 => generated::X86_64,
            Arch::I386 => generated::I386,
            Arch::X32 => generated::X32,
            Arch::Aarch64 => generated::AARCH64,
        }
    }

    /// The highest syscall number in the table (with the x32 bit for x32).
    pub fn highest_nr(self) -> u32 {
        self.syscalls().last().map_or(0, |s| s.nr)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the kernel reads one syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgType {
    /// `umode_t`, and i386's `old_uid_t` / `old_gid_t` (the `*16` uid calls): the kernel uses
    /// the low 16 bits only.
    Short,
    /// `int`, `unsigned int`, `pid_t`, and x32's `compat_long_t`...: the kernel uses the low
    /// 32 bits only.
    Int,
    /// `long`, `size_t`, `loff_t`, `u64`...: the whole register.
    Long,
    /// A user pointer: the whole register.
    Pointer,
}

impl ArgType {
    /// The number of low bits of the register the kernel reads for this argument on `arch`.
    pub fn bits(self, arch: Arch) -> u32 {
        match self {
            ArgType::Short => 16,
            ArgType::Int => 32,
            ArgType::Long | ArgType::Pointer => arch.register_bits(),
        }
    }

    /// `short`, `int`, `long` or `pointer`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArgType::Short => "short",
            ArgType::Int => "int",
            ArgType::Long => "long",
            ArgType::Pointer => "pointer",
        }
    }
}

/// One syscall of one ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syscall {
    /// Name as in the kernel's syscall table (`socket`, `_llseek`, ...).
    pub name: &'static str,
    /// Number as seen in `seccomp_data.nr` (with the x32 bit for x32).
    pub nr: u32,
    /// The type of each argument, in order; its length is the argument count.
    pub args: &'static [ArgType],
}

fn name_index(arch: Arch) -> &'static HashMap<&'static str, usize> {
    static INDEX: OnceLock<[HashMap<&'static str, usize>; 4]> = OnceLock::new();
    let all = INDEX.get_or_init(|| {
        Arch::ALL.map(|arch| {
            arch.syscalls()
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name, i))
                .collect()
        })
    });
    &all[arch as usize]
}

/// The syscall called `name` on `arch`.
pub fn syscall(arch: Arch, name: &str) -> Option<&'static Syscall> {
    name_index(arch)
        .get(name)
        .and_then(|&i| arch.syscalls().get(i))
}

/// The syscall numbered `nr` on `arch` (x32 numbers carry the x32 bit).
pub fn by_nr(arch: Arch, nr: u32) -> Option<&'static Syscall> {
    let table = arch.syscalls();
    table
        .binary_search_by_key(&nr, |s| s.nr)
        .ok()
        .and_then(|i| table.get(i))
}

/// The number of `name` on `arch`.
pub fn lookup(arch: Arch, name: &str) -> Option<u32> {
    syscall(arch, name).map(|s| s.nr)
}

/// Whether `name` is a Linux syscall on any ABI (including ABIs without a table here, such as
/// arm's `set_tls` or s390x's `s390_runtime_instr`): a policy naming it is not mistaken, it just
/// does not apply to the ABIs that lack it.
pub fn is_known_anywhere(name: &str) -> bool {
    Arch::ALL.iter().any(|&arch| syscall(arch, name).is_some())
        || generated::OTHER_ABI_NAMES.binary_search(&name).is_ok()
}

/// The name of syscall `nr` on `arch`.
pub fn name(arch: Arch, nr: u32) -> Option<&'static str> {
    by_nr(arch, nr).map(|s| s.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_unique_and_named_once() {
        for arch in Arch::ALL {
            let table = arch.syscalls();
            assert!(table.len() > 300, "{arch}: {}", table.len());
            for pair in table.windows(2) {
                assert!(pair[0].nr < pair[1].nr, "{arch}: {:?}", pair);
            }
            assert_eq!(
                name_index(arch).len(),
                table.len(),
                "{arch}: duplicate names"
            );
            for s in table {
                assert!(s.args.len() <= 6, "{arch} {}", s.name);
                assert_eq!(
                    s.nr & X32_SYSCALL_BIT,
                    arch.syscall_bit(),
                    "{arch} {}",
                    s.name
                );
            }
        }
    }

    #[test]
    fn well_known_numbers() {
        // Numbers checked against the x86_64, i386, x32 and asm-generic tables by hand.
        assert_eq!(lookup(Arch::X86_64, "read"), Some(0));
        assert_eq!(lookup(Arch::X86_64, "execve"), Some(59));
        assert_eq!(lookup(Arch::X86_64, "memfd_create"), Some(319));
        assert_eq!(lookup(Arch::I386, "execve"), Some(11));
        assert_eq!(lookup(Arch::I386, "socketcall"), Some(102));
        assert_eq!(lookup(Arch::X32, "execve"), Some(X32_SYSCALL_BIT | 520));
        assert_eq!(lookup(Arch::Aarch64, "execve"), Some(221));
        assert_eq!(lookup(Arch::Aarch64, "open"), None);
        assert_eq!(name(Arch::X86_64, 462), Some("mseal"));
        assert!(Arch::X86_64.highest_nr() >= 462);
    }

    #[test]
    fn argument_types_follow_the_kernel_prototypes() {
        let types = |arch, n| syscall(arch, n).map(|s| s.args);
        use ArgType::*;
        assert_eq!(types(Arch::X86_64, "socket"), Some(&[Int, Int, Int][..]));
        assert_eq!(types(Arch::X86_64, "personality"), Some(&[Int][..]));
        assert_eq!(
            types(Arch::X86_64, "prctl"),
            Some(&[Int, Long, Long, Long, Long][..])
        );
        // sys_clone keeps only the low 32 bits of its flags (gen/curated.tsv).
        assert_eq!(
            types(Arch::X86_64, "clone"),
            Some(&[Int, Long, Pointer, Pointer, Long][..])
        );
        assert_eq!(types(Arch::X86_64, "mmap").map(<[_]>::len), Some(6));
        assert_eq!(types(Arch::I386, "mmap"), Some(&[Pointer][..]));
        assert_eq!(types(Arch::X86_64, "getppid"), Some(&[][..]));
        // 16-bit: umode_t everywhere, i386's setuid is sys_setuid16(old_uid_t).
        assert_eq!(types(Arch::X86_64, "fchmod"), Some(&[Int, Short][..]));
        assert_eq!(types(Arch::I386, "setuid"), Some(&[Short][..]));
        assert_eq!(types(Arch::I386, "setuid32"), Some(&[Int][..]));
        // x32's own ptrace is compat_sys_ptrace(compat_long_t...).
        assert_eq!(types(Arch::X32, "ptrace"), Some(&[Int, Int, Int, Int][..]));
        assert_eq!(ArgType::Short.bits(Arch::X86_64), 16);
    }

    #[test]
    fn names_of_other_abis_are_known_but_typos_are_not() {
        assert!(is_known_anywhere("set_tls"));
        assert!(is_known_anywhere("s390_runtime_instr"));
        assert!(is_known_anywhere("socketcall"));
        assert!(!is_known_anywhere("sockett"));
        assert!(!is_known_anywhere(""));
    }

    /// Cross-check against a second source: the host's own UAPI headers (Debian linux-libc-dev,
    /// older than our tables) must agree on every number they define.
    #[test]
    fn numbers_agree_with_the_host_uapi_headers() {
        let headers = [
            (
                Arch::X86_64,
                "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
            ),
            (Arch::I386, "/usr/include/x86_64-linux-gnu/asm/unistd_32.h"),
            (Arch::X32, "/usr/include/x86_64-linux-gnu/asm/unistd_x32.h"),
        ];
        for (arch, path) in headers {
            let Ok(text) = std::fs::read_to_string(path) else {
                eprintln!("skipped: {path} not found (install linux-libc-dev)");
                continue;
            };
            let mut checked = 0;
            for line in text.lines() {
                let Some(rest) = line.strip_prefix("#define __NR_") else {
                    continue;
                };
                let Some((name, value)) = rest.split_once(' ') else {
                    continue;
                };
                let value = value.trim();
                let nr = match value.strip_prefix("(__X32_SYSCALL_BIT + ") {
                    Some(rest) => rest
                        .trim_end_matches(')')
                        .parse::<u32>()
                        .map(|n| n | X32_SYSCALL_BIT),
                    None => value.parse::<u32>(),
                };
                let Ok(nr) = nr else { continue };
                assert_eq!(lookup(arch, name), Some(nr), "{arch} {name} in {path}");
                checked += 1;
            }
            assert!(checked > 300, "{path}: only {checked} numbers read");
        }
    }

    #[test]
    fn arch_names_round_trip() {
        for arch in Arch::ALL {
            assert_eq!(Arch::from_name(arch.as_str()), Some(arch));
            assert_eq!(Arch::from_name(arch.oci_name()), Some(arch));
        }
        assert_eq!(Arch::from_name("SCMP_ARCH_MIPS"), None);
        assert_eq!(Arch::host_abis()[0], Arch::host());
    }
}
