//! Decoding the sensitive system calls: which calls are interesting, what their arguments
//! mean, and which of them become events.
//!
//! The decoder reads the tracee only through [`Tracee`], so it is tested without a process.
//! Strings are read with a bound ([`MAX_STRING_BYTES`]); a string that cannot be read is
//! reported as absent, never guessed.

use crate::procfs::ExeName;
pub use nativeguard_event::linux::proc_mem_target;
use nativeguard_event::linux::{normalize_path as normalize, SyscallOrigin};
use nativeguard_syscalls::flags::{
    open_flags, personality_text, AT_EMPTY_PATH, AT_FDCWD, AT_FLAGS, MAP_FLAGS, MFD_FLAGS,
};
// One table and renderer per kind of flag, shared with the sensor and the sandbox.
pub use nativeguard_syscalls::flags::{
    bpf_command_name, flag_names, prot_text as prot_string, ptrace_request_name, OPEN_WRITE_MASK,
};

/// Most bytes of one string argument (path, memfd name, module parameters) read.
pub const MAX_STRING_BYTES: usize = 4096;

/// The system calls the tracer stops on in detection mode (issue 3's sensitive set, plus the
/// calls that change which memory is executable, so the origin cache stays right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sensitive {
    /// `execve`.
    Execve,
    /// `execveat`.
    Execveat,
    /// `memfd_create`.
    MemfdCreate,
    /// `ptrace`.
    Ptrace,
    /// `process_vm_writev`.
    ProcessVmWritev,
    /// `process_vm_readv`.
    ProcessVmReadv,
    /// `mprotect`.
    Mprotect,
    /// `pkey_mprotect`.
    PkeyMprotect,
    /// `mmap` (x86_64) and `mmap2` (i386): arguments in registers.
    Mmap,
    /// i386's old `mmap` (number 90): arguments in a struct in memory.
    OldMmap,
    /// `mremap`: may move executable memory; only refreshes the origin cache.
    Mremap,
    /// `init_module`.
    InitModule,
    /// `finit_module`.
    FinitModule,
    /// `bpf`.
    Bpf,
    /// `open`.
    Open,
    /// `creat`: an `open` for writing.
    Creat,
    /// `openat`.
    Openat,
    /// `openat2`.
    Openat2,
    /// `personality`.
    Personality,
}

/// Every syscall name the detection filter traps, with the condition on its arguments that
/// the filter checks (the rest return ALLOW in the kernel and never stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapWhen {
    /// Every call.
    Always,
    /// Argument `index` has every bit of `mask` set (PROT_EXEC).
    BitsSet {
        /// Argument index.
        index: u8,
        /// Bits that must all be set.
        mask: u64,
    },
    /// Argument `index` masked by `mask` is not zero (open flags with write access).
    AnyBitSet {
        /// Argument index.
        index: u8,
        /// Bits of which one must be set.
        mask: u64,
    },
}

/// `PROT_EXEC`.
pub const PROT_EXEC: u64 = 0x4;
/// The detection filter's trap list: syscall names (in every ABI that has them) and when to
/// stop. `open`/`openat` stop only when opening for writing (a write to `/proc/PID/mem` needs
/// it), `creat` always; `mmap`/`mprotect` only when PROT_EXEC is requested.
pub const TRAP_LIST: &[(&str, TrapWhen)] = &[
    ("execve", TrapWhen::Always),
    ("execveat", TrapWhen::Always),
    ("memfd_create", TrapWhen::Always),
    ("ptrace", TrapWhen::Always),
    ("process_vm_writev", TrapWhen::Always),
    ("process_vm_readv", TrapWhen::Always),
    (
        "mprotect",
        TrapWhen::BitsSet {
            index: 2,
            mask: PROT_EXEC,
        },
    ),
    (
        "pkey_mprotect",
        TrapWhen::BitsSet {
            index: 2,
            mask: PROT_EXEC,
        },
    ),
    (
        "mmap",
        TrapWhen::BitsSet {
            index: 2,
            mask: PROT_EXEC,
        },
    ),
    (
        "mmap2",
        TrapWhen::BitsSet {
            index: 2,
            mask: PROT_EXEC,
        },
    ),
    ("mremap", TrapWhen::Always),
    ("init_module", TrapWhen::Always),
    ("finit_module", TrapWhen::Always),
    ("bpf", TrapWhen::Always),
    (
        "open",
        TrapWhen::AnyBitSet {
            index: 1,
            mask: OPEN_WRITE_MASK,
        },
    ),
    (
        "openat",
        TrapWhen::AnyBitSet {
            index: 2,
            mask: OPEN_WRITE_MASK,
        },
    ),
    // openat2's flags are in a struct: the filter cannot look, so every call stops.
    ("openat2", TrapWhen::Always),
    ("creat", TrapWhen::Always),
    ("personality", TrapWhen::Always),
];

impl Sensitive {
    /// The sensitive call a syscall name (in `arch`) stands for.
    pub fn from_name(arch: &str, name: &str) -> Option<Sensitive> {
        Some(match name {
            "execve" => Sensitive::Execve,
            "execveat" => Sensitive::Execveat,
            "memfd_create" => Sensitive::MemfdCreate,
            "ptrace" => Sensitive::Ptrace,
            "process_vm_writev" => Sensitive::ProcessVmWritev,
            "process_vm_readv" => Sensitive::ProcessVmReadv,
            "mprotect" => Sensitive::Mprotect,
            "pkey_mprotect" => Sensitive::PkeyMprotect,
            "mmap" if arch == "i386" => Sensitive::OldMmap,
            "mmap" | "mmap2" => Sensitive::Mmap,
            "mremap" => Sensitive::Mremap,
            "init_module" => Sensitive::InitModule,
            "finit_module" => Sensitive::FinitModule,
            "bpf" => Sensitive::Bpf,
            "open" => Sensitive::Open,
            "creat" => Sensitive::Creat,
            "openat" => Sensitive::Openat,
            "openat2" => Sensitive::Openat2,
            "personality" => Sensitive::Personality,
            _ => return None,
        })
    }

    /// Whether the call starts a new program (its event is completed at the exec stop).
    pub fn is_exec(self) -> bool {
        matches!(self, Sensitive::Execve | Sensitive::Execveat)
    }

    /// Whether the call can change which memory is executable (the origin cache is dropped).
    pub fn changes_mappings(self) -> bool {
        matches!(
            self,
            Sensitive::Mprotect
                | Sensitive::PkeyMprotect
                | Sensitive::Mmap
                | Sensitive::OldMmap
                | Sensitive::Mremap
        )
    }
}

/// What the decoder needs from the traced process.
pub trait Tracee {
    /// The caller's thread-group id.
    fn pid(&self) -> u32;
    /// Reads memory; returns how many bytes were read.
    fn read(&mut self, address: u64, buf: &mut [u8]) -> usize;
    /// What file descriptor `fd` of the caller refers to.
    fn fd_target(&mut self, fd: i32) -> Option<ExeName>;
    /// The caller's working directory.
    fn cwd(&mut self) -> Option<String>;
    /// What kind of memory holds `address` (as a syscall origin is classified), and the
    /// mapping's file.
    fn memory_region(&mut self, address: u64) -> (SyscallOrigin, Option<String>);
    /// The caller's executable as its maps name it.
    fn exe(&self) -> Option<String>;
    /// Whether `pid` descends from the caller.
    fn is_descendant(&mut self, pid: u32) -> bool;
}

/// A decoded sensitive call: the parts of a `SyscallRecord` that come from its arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Whether this call is reported as an event (an mmap without PROT_EXEC, an open of an
    /// ordinary file, or an mremap are not).
    pub report: bool,
    /// The path argument.
    pub path: Option<String>,
    /// The process acted upon.
    pub target_pid: Option<u32>,
    /// Whether it descends from the caller.
    pub target_is_child: Option<bool>,
    /// Named, decoded arguments.
    pub fields: Vec<(String, String)>,
    /// An open for writing whose path does not name a memory file: reported only if the
    /// descriptor it returns is one (see `Session`).
    pub check_opened: bool,
    /// For an exec: the file name as the kernel records it (`bprm->filename`: the path as
    /// given, or `/dev/fd/N[/path]` for a descriptor-relative execveat).
    pub exec_filename: Option<String>,
}

impl Decoded {
    fn field(&mut self, name: &str, value: impl Into<String>) {
        self.fields.push((name.to_string(), value.into()));
    }

    /// The process acted upon: `TargetIsSelf` always, `TargetIsChild` (descendant, never
    /// itself), as the sensor reports them.
    fn target(&mut self, tracee: &mut dyn Tracee, target: u32) {
        let caller = tracee.pid();
        self.set_target(target, caller, |pid| tracee.is_descendant(pid));
    }

    /// [`Decoded::target`] for a caller known by its pid alone.
    pub(crate) fn set_target(
        &mut self,
        target: u32,
        caller: u32,
        is_descendant: impl FnOnce(u32) -> bool,
    ) {
        let is_self = target == caller;
        self.target_pid = Some(target);
        self.target_is_child = Some(!is_self && is_descendant(target));
        self.field("TargetIsSelf", is_self.to_string());
    }
}

/// Text of at most [`MAX_STRING_BYTES`] bytes from raw bytes: invalid UTF-8 becomes U+FFFD
/// (three bytes each, so lossy text can outgrow its input), cut on a character boundary and
/// marked with `...` when it does not fit.
pub fn bounded_text(bytes: &[u8], complete: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    if complete && text.len() <= MAX_STRING_BYTES {
        return text.into_owned();
    }
    let mut cut = text.len().min(MAX_STRING_BYTES);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &text[..cut])
}

/// Reads a NUL-terminated string of at most [`MAX_STRING_BYTES`], page by page so that a
/// string ending just before an unmapped page is still read.
pub fn read_string(tracee: &mut dyn Tracee, address: u64) -> Option<String> {
    if address == 0 {
        return None;
    }
    const PAGE: u64 = 4096;
    let mut bytes = Vec::new();
    let mut cursor = address;
    while bytes.len() < MAX_STRING_BYTES {
        let to_page_end = (PAGE - cursor % PAGE) as usize;
        let want = to_page_end.min(MAX_STRING_BYTES - bytes.len());
        let mut chunk = vec![0u8; want];
        let got = tracee.read(cursor, &mut chunk);
        if got == 0 {
            break;
        }
        if let Some(nul) = chunk[..got].iter().position(|&b| b == 0) {
            bytes.extend_from_slice(&chunk[..nul]);
            return Some(bounded_text(&bytes, true));
        }
        bytes.extend_from_slice(&chunk[..got]);
        if got < want {
            break;
        }
        cursor = cursor.checked_add(got as u64)?;
    }
    // Unterminated (unreadable tail or over the bound): report what was read, marked.
    (!bytes.is_empty()).then(|| bounded_text(&bytes, false))
}

fn read_word<const N: usize>(tracee: &mut dyn Tracee, address: u64) -> Option<[u8; N]> {
    let mut buf = [0u8; N];
    (address != 0 && tracee.read(address, &mut buf) == N).then_some(buf)
}

/// `int` arguments: the kernel uses the low 32 bits only.
fn int_arg(value: u64) -> i32 {
    value as u32 as i32
}

/// The absolute form of a path argument relative to `dirfd`.
fn resolve_at(tracee: &mut dyn Tracee, dirfd: i32, path: &str) -> String {
    if path.starts_with('/') {
        return normalize(path);
    }
    let base = if dirfd == AT_FDCWD {
        tracee.cwd()
    } else {
        tracee.fd_target(dirfd).map(|target| target.image)
    };
    match base {
        Some(base) => bounded_text(normalize(&format!("{base}/{path}")).as_bytes(), true),
        None => path.to_string(),
    }
}

/// Decodes one sensitive call's arguments. `arch` is the caller's ABI name; on i386 pointers
/// are the low 32 bits of the registers.
pub fn decode(call: Sensitive, arch: &str, args: &[u64; 6], tracee: &mut dyn Tracee) -> Decoded {
    let pointer = |value: u64| {
        if arch == "i386" {
            value & 0xffff_ffff
        } else {
            value
        }
    };
    let mut out = Decoded {
        report: true,
        ..Decoded::default()
    };
    match call {
        Sensitive::Execve => {
            out.path = read_string(tracee, pointer(args[0]));
            out.exec_filename = out.path.clone();
        }
        Sensitive::Execveat => {
            let dirfd = int_arg(args[0]);
            let flags = args[4] & 0xffff_ffff;
            let path = read_string(tracee, pointer(args[1])).unwrap_or_default();
            out.exec_filename = Some(if path.starts_with('/') || dirfd == AT_FDCWD {
                path.clone()
            } else if path.is_empty() {
                format!("/dev/fd/{dirfd}")
            } else {
                format!("/dev/fd/{dirfd}/{path}")
            });
            out.path = if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
                tracee.fd_target(dirfd).map(|target| target.image)
            } else {
                Some(resolve_at(tracee, dirfd, &path))
            };
            if dirfd != AT_FDCWD {
                out.field("ExecFd", dirfd.to_string());
            }
            if flags != 0 {
                out.field("ExecFlags", flag_names(flags, AT_FLAGS));
            }
        }
        Sensitive::MemfdCreate => {
            if let Some(name) = read_string(tracee, pointer(args[0])) {
                out.field("MemfdName", name);
            }
            out.field("MemfdFlags", flag_names(args[1] & 0xffff_ffff, MFD_FLAGS));
        }
        Sensitive::Ptrace => {
            let request = args[0];
            out.field("PtraceRequest", ptrace_request_name(request));
            if request != 0 {
                let target = int_arg(args[1]);
                if target > 0 {
                    out.target(tracee, target as u32);
                }
            }
        }
        Sensitive::ProcessVmWritev | Sensitive::ProcessVmReadv => {
            let target = int_arg(args[0]);
            if target > 0 {
                out.target(tracee, target as u32);
            }
        }
        Sensitive::Mprotect | Sensitive::PkeyMprotect => {
            let prot = args[2] & 0xffff_ffff;
            out.report = prot & PROT_EXEC != 0;
            out.field("Prot", prot_string(prot));
            let (region, path) = tracee.memory_region(pointer(args[0]));
            out.field("MemoryRegion", region.as_str());
            out.path = path;
        }
        Sensitive::Mmap => {
            decode_mmap(args[2], args[3], int_arg(args[4]), tracee, &mut out);
        }
        Sensitive::OldMmap => {
            // struct mmap_arg_struct { addr, len, prot, flags, fd, offset } of u32.
            match read_word::<24>(tracee, pointer(args[0])) {
                Some(raw) => {
                    let word = |i: usize| {
                        u32::from_ne_bytes([
                            raw[i * 4],
                            raw[i * 4 + 1],
                            raw[i * 4 + 2],
                            raw[i * 4 + 3],
                        ])
                    };
                    decode_mmap(
                        word(2) as u64,
                        word(3) as u64,
                        word(4) as i32,
                        tracee,
                        &mut out,
                    );
                }
                None => out.report = false,
            }
        }
        Sensitive::Mremap => out.report = false,
        Sensitive::InitModule => {
            out.field("ModuleSize", args[1].to_string());
            if let Some(params) = read_string(tracee, pointer(args[2])) {
                out.field("ModuleParams", params);
            }
        }
        Sensitive::FinitModule => {
            out.path = tracee.fd_target(int_arg(args[0])).map(|t| t.image);
            if let Some(params) = read_string(tracee, pointer(args[1])) {
                out.field("ModuleParams", params);
            }
        }
        Sensitive::Bpf => {
            let command = args[0] & 0xffff_ffff;
            out.field("BpfCommand", bpf_command_name(command));
            const BPF_PROG_LOAD: u64 = 5;
            if command == BPF_PROG_LOAD {
                if let Some(raw) = read_word::<4>(tracee, pointer(args[1])) {
                    out.field("BpfProgramType", u32::from_ne_bytes(raw).to_string());
                }
            }
        }
        Sensitive::Open | Sensitive::Creat | Sensitive::Openat | Sensitive::Openat2 => {
            const O_CREAT_WRONLY_TRUNC: u64 = 0o1101;
            let (dirfd, path_arg, flags) = match call {
                Sensitive::Open => (AT_FDCWD, args[0], Some(args[1])),
                Sensitive::Creat => (AT_FDCWD, args[0], Some(O_CREAT_WRONLY_TRUNC)),
                Sensitive::Openat => (int_arg(args[0]), args[1], Some(args[2])),
                _ => (
                    int_arg(args[0]),
                    args[1],
                    read_word::<8>(tracee, pointer(args[2])).map(u64::from_ne_bytes),
                ),
            };
            let path =
                read_string(tracee, pointer(path_arg)).map(|path| resolve_at(tracee, dirfd, &path));
            let target = path
                .as_deref()
                .and_then(|path| proc_mem_target(path, tracee.pid()));
            let writes = flags.is_some_and(|flags| flags & OPEN_WRITE_MASK != 0);
            out.report = target.is_some() && writes;
            // Another name can open a memory file too (a symbolic link, /proc/self/fd/N):
            // the file actually opened is looked at when the call returns its descriptor.
            out.check_opened = target.is_none() && writes;
            if let Some(flags) = flags {
                out.field("OpenFlags", open_flags(flags));
            }
            if let Some(target) = target {
                out.target(tracee, target);
            }
            out.path = path;
        }
        Sensitive::Personality => {
            out.field("Personality", personality_text(args[0]));
        }
    }
    out
}

fn decode_mmap(prot: u64, flags: u64, fd: i32, tracee: &mut dyn Tracee, out: &mut Decoded) {
    let prot = prot & 0xffff_ffff;
    let flags = flags & 0xffff_ffff;
    const MAP_ANONYMOUS: u64 = 0x20;
    out.field("Prot", prot_string(prot));
    out.field("MapFlags", flag_names(flags, MAP_FLAGS));
    let anonymous = flags & MAP_ANONYMOUS != 0;
    let target = if !anonymous && fd >= 0 {
        tracee.fd_target(fd)
    } else {
        None
    };
    // As the sensor's kernel filter: an executable mapping of a file on disk is a library
    // load and is not reported; a memfd's or an unlinked file's is code with no file behind
    // it, and a descriptor that cannot be resolved is reported too (fail closed).
    out.report = prot & PROT_EXEC != 0
        && (anonymous || target.as_ref().is_none_or(|t| t.is_memfd || t.deleted));
    let file = target.map(|target| target.image);
    let region = match &file {
        Some(path) => SyscallOrigin::classify(Some(path), tracee.exe().as_deref()),
        None => SyscallOrigin::Anonymous,
    };
    out.field("MemoryRegion", region.as_str());
    out.path = file;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A fake tracee: a few memory regions, fds, a cwd and a process tree.
    #[derive(Default)]
    struct Fake {
        memory: Vec<(u64, Vec<u8>)>,
        fds: HashMap<i32, String>,
        children: Vec<u32>,
        anonymous_at: Vec<u64>,
    }

    impl Tracee for Fake {
        fn pid(&self) -> u32 {
            100
        }
        fn read(&mut self, address: u64, buf: &mut [u8]) -> usize {
            for (start, bytes) in &self.memory {
                if address >= *start && address < start + bytes.len() as u64 {
                    let offset = (address - start) as usize;
                    let n = buf.len().min(bytes.len() - offset);
                    buf[..n].copy_from_slice(&bytes[offset..offset + n]);
                    return n;
                }
            }
            0
        }
        fn fd_target(&mut self, fd: i32) -> Option<ExeName> {
            self.fds.get(&fd).map(|link| crate::procfs::exe_name(link))
        }
        fn cwd(&mut self) -> Option<String> {
            Some("/home/u".into())
        }
        fn memory_region(&mut self, address: u64) -> (SyscallOrigin, Option<String>) {
            if self.anonymous_at.contains(&address) {
                (SyscallOrigin::Anonymous, None)
            } else {
                (SyscallOrigin::OtherFile, Some("/usr/lib/libfoo.so".into()))
            }
        }
        fn exe(&self) -> Option<String> {
            Some("/usr/bin/demo".into())
        }
        fn is_descendant(&mut self, pid: u32) -> bool {
            self.children.contains(&pid)
        }
    }

    fn field<'a>(decoded: &'a Decoded, name: &str) -> Option<&'a str> {
        decoded
            .fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn memfd_exec_pair() {
        let mut fake = Fake {
            memory: vec![(0x1000, b"stage2\0".to_vec()), (0x2000, b"\0".to_vec())],
            fds: HashMap::from([(3, "/memfd:stage2 (deleted)".to_string())]),
            ..Fake::default()
        };
        let memfd = decode(
            Sensitive::MemfdCreate,
            "x86_64",
            &[0x1000, 1, 0, 0, 0, 0],
            &mut fake,
        );
        assert_eq!(field(&memfd, "MemfdName"), Some("stage2"));
        assert_eq!(field(&memfd, "MemfdFlags"), Some("MFD_CLOEXEC"));
        let exec = decode(
            Sensitive::Execveat,
            "x86_64",
            &[3, 0x2000, 0, 0, 0x1000, 0],
            &mut fake,
        );
        assert_eq!(exec.path.as_deref(), Some("memfd:stage2"));
        assert_eq!(exec.exec_filename.as_deref(), Some("/dev/fd/3"));
        assert_eq!(field(&exec, "ExecFlags"), Some("AT_EMPTY_PATH"));
        assert_eq!(field(&exec, "ExecFd"), Some("3"));
        assert!(exec.report);
    }

    #[test]
    fn i386_pointers_use_the_low_half() {
        let mut fake = Fake {
            memory: vec![(0x1000, b"x\0".to_vec())],
            ..Fake::default()
        };
        let args = [0xdead_0000_0000_1000, 0, 0, 0, 0, 0];
        let i386 = decode(Sensitive::MemfdCreate, "i386", &args, &mut fake);
        assert_eq!(field(&i386, "MemfdName"), Some("x"));
        let x86_64 = decode(Sensitive::MemfdCreate, "x86_64", &args, &mut fake);
        assert_eq!(field(&x86_64, "MemfdName"), None);
    }

    #[test]
    fn strings_are_bounded_and_survive_page_ends() {
        // A string that ends exactly at the end of readable memory, unterminated.
        let mut fake = Fake {
            memory: vec![(0x1ffe, b"ab".to_vec())],
            ..Fake::default()
        };
        assert_eq!(read_string(&mut fake, 0x1ffe).as_deref(), Some("ab..."));
        let long = vec![b'a'; MAX_STRING_BYTES * 2];
        let mut fake = Fake {
            memory: vec![(0x10000, long)],
            ..Fake::default()
        };
        let read = read_string(&mut fake, 0x10000).unwrap_or_default();
        assert_eq!(read.len(), MAX_STRING_BYTES + 3);
        assert_eq!(read_string(&mut fake, 0), None);
        assert_eq!(read_string(&mut fake, 0x5), None);
        // Invalid UTF-8 grows threefold when made lossy: still cut at the bound (found by
        // the `decode` fuzz target).
        let mut fake = Fake {
            memory: vec![(
                0x10000,
                [vec![0xff; MAX_STRING_BYTES - 1], vec![0]].concat(),
            )],
            ..Fake::default()
        };
        let lossy = read_string(&mut fake, 0x10000).unwrap_or_default();
        assert!(lossy.len() <= MAX_STRING_BYTES + 3, "{}", lossy.len());
        assert!(lossy.starts_with('\u{fffd}') && lossy.ends_with("..."));
    }

    #[test]
    fn ptrace_targets_and_requests() {
        let mut fake = Fake {
            children: vec![200],
            ..Fake::default()
        };
        let poke = decode(
            Sensitive::Ptrace,
            "x86_64",
            &[5, 200, 0, 0, 0, 0],
            &mut fake,
        );
        assert_eq!(field(&poke, "PtraceRequest"), Some("PTRACE_POKEDATA"));
        assert_eq!(
            (poke.target_pid, poke.target_is_child),
            (Some(200), Some(true))
        );
        let attach = decode(
            Sensitive::Ptrace,
            "x86_64",
            &[16, 300, 0, 0, 0, 0],
            &mut fake,
        );
        assert_eq!(
            (attach.target_pid, attach.target_is_child),
            (Some(300), Some(false))
        );
        let me = decode(Sensitive::Ptrace, "x86_64", &[0, 0, 0, 0, 0, 0], &mut fake);
        assert_eq!(field(&me, "PtraceRequest"), Some("PTRACE_TRACEME"));
        assert_eq!(me.target_pid, None);
        let writev = decode(
            Sensitive::ProcessVmWritev,
            "x86_64",
            &[100, 0, 0, 0, 0, 0],
            &mut fake,
        );
        assert_eq!(field(&writev, "TargetIsSelf"), Some("true"));
        assert_eq!(writev.target_is_child, Some(false));
        assert_eq!(field(&attach, "TargetIsSelf"), Some("false"));
    }

    #[test]
    fn executable_memory() {
        let mut fake = Fake {
            anonymous_at: vec![0x7000],
            fds: HashMap::from([
                (5, "/usr/lib/libx.so".to_string()),
                (6, "/memfd:jit (deleted)".to_string()),
                (7, "/tmp/stage (deleted)".to_string()),
            ]),
            ..Fake::default()
        };
        let rwx = decode(
            Sensitive::Mprotect,
            "x86_64",
            &[0x7000, 4096, 7, 0, 0, 0],
            &mut fake,
        );
        assert!(rwx.report);
        assert_eq!(field(&rwx, "Prot"), Some("rwx"));
        assert_eq!(field(&rwx, "MemoryRegion"), Some("anonymous"));
        let ro = decode(
            Sensitive::Mprotect,
            "x86_64",
            &[0x7000, 4096, 1, 0, 0, 0],
            &mut fake,
        );
        assert!(!ro.report);
        let lib = decode(
            Sensitive::Mmap,
            "x86_64",
            &[0, 4096, 5, 0x802, 5, 0],
            &mut fake,
        );
        // A library load is not reported (as the sensor's kernel filter); code from a memfd or
        // an unlinked file is.
        assert!(!lib.report);
        assert_eq!(lib.path.as_deref(), Some("/usr/lib/libx.so"));
        assert_eq!(field(&lib, "MapFlags"), Some("MAP_PRIVATE|MAP_DENYWRITE"));
        assert_eq!(field(&lib, "MemoryRegion"), Some("file"));
        let memfd = decode(Sensitive::Mmap, "x86_64", &[0, 4096, 7, 1, 6, 0], &mut fake);
        assert!(memfd.report);
        assert_eq!(memfd.path.as_deref(), Some("memfd:jit"));
        assert_eq!(field(&memfd, "MemoryRegion"), Some("anonymous"));
        let unlinked = decode(Sensitive::Mmap, "x86_64", &[0, 4096, 5, 2, 7, 0], &mut fake);
        assert!(unlinked.report);
        assert_eq!(unlinked.path.as_deref(), Some("/tmp/stage"));
        assert_eq!(field(&unlinked, "MemoryRegion"), Some("file"));
        let unknown_fd = decode(Sensitive::Mmap, "x86_64", &[0, 4096, 5, 2, 9, 0], &mut fake);
        assert!(unknown_fd.report);
        let mut struct_bytes = Vec::new();
        for word in [0u32, 4096, 7, 0x22, 0xffff_ffff, 0] {
            struct_bytes.extend_from_slice(&word.to_ne_bytes());
        }
        fake.memory.push((0x9000, struct_bytes));
        let old = decode(
            Sensitive::OldMmap,
            "i386",
            &[0x9000, 0, 0, 0, 0, 0],
            &mut fake,
        );
        assert!(old.report);
        assert_eq!(field(&old, "Prot"), Some("rwx"));
        assert_eq!(field(&old, "MapFlags"), Some("MAP_PRIVATE|MAP_ANONYMOUS"));
    }

    #[test]
    fn proc_mem_opens() {
        assert_eq!(proc_mem_target("/proc/123/mem", 1), Some(123));
        assert_eq!(proc_mem_target("/proc/self/mem", 9), Some(9));
        assert_eq!(proc_mem_target("/proc/1/task/2/mem", 9), Some(1));
        assert_eq!(proc_mem_target("/proc/1/maps", 9), None);
        assert_eq!(proc_mem_target("/proc/1/x/mem", 9), None);
        let mut fake = Fake {
            memory: vec![(0x1000, b"../../proc/./42//mem\0".to_vec())],
            children: vec![42],
            ..Fake::default()
        };
        let open = decode(
            Sensitive::Openat,
            "x86_64",
            &[-100i64 as u64, 0x1000, 2, 0, 0, 0],
            &mut fake,
        );
        assert!(open.report);
        assert_eq!(open.path.as_deref(), Some("/proc/42/mem"));
        assert_eq!(
            (open.target_pid, open.target_is_child),
            (Some(42), Some(true))
        );
        assert_eq!(field(&open, "OpenFlags"), Some("O_RDWR"));
        let read_only = decode(
            Sensitive::Openat,
            "x86_64",
            &[-100i64 as u64, 0x1000, 0, 0, 0, 0],
            &mut fake,
        );
        assert!(!read_only.report);
    }

    #[test]
    fn names_flags_and_commands() {
        assert_eq!(
            flag_names(0x13, MFD_FLAGS),
            "MFD_CLOEXEC|MFD_ALLOW_SEALING|MFD_EXEC"
        );
        assert_eq!(
            flag_names(0x1_0000_0001, MFD_FLAGS),
            "MFD_CLOEXEC|0x100000000"
        );
        assert_eq!(flag_names(0, MFD_FLAGS), "0x0");
        assert_eq!(bpf_command_name(5), "BPF_PROG_LOAD");
        assert_eq!(bpf_command_name(1000), "0x3e8");
        assert_eq!(prot_string(0), "---");
        let mut fake = Fake::default();
        let query = decode(
            Sensitive::Personality,
            "i386",
            &[0xffff_ffff, 0, 0, 0, 0, 0],
            &mut fake,
        );
        assert_eq!(field(&query, "Personality"), Some("query"));
        let set = decode(
            Sensitive::Personality,
            "x86_64",
            &[0x0040000, 0, 0, 0, 0, 0],
            &mut fake,
        );
        assert_eq!(
            field(&set, "Personality"),
            Some("PER_LINUX|ADDR_NO_RANDOMIZE")
        );
        assert_eq!(
            Sensitive::from_name("i386", "mmap"),
            Some(Sensitive::OldMmap)
        );
        assert_eq!(
            Sensitive::from_name("x86_64", "mmap"),
            Some(Sensitive::Mmap)
        );
        assert_eq!(Sensitive::from_name("x86_64", "read"), None);
    }
}
