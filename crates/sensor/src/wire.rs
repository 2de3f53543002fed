//! The ring-buffer wire format: a `#[repr(C)]` mirror of `bpf/events.h` and its checked decoder.
//!
//! The C header is the definition; these structs repeat it field for field, with the sizes and
//! offsets asserted at compile time here and by `_Static_assert` in the C program. The decoder
//! does not cast bytes to structs: it reads each field through a bounds-checked reader, turns the
//! kind id into [`Kind`] with `TryFrom`, and refuses a record whose length does not match its
//! kind, so a corrupt or foreign record is a [`DecodeError`], never a panic.

use std::fmt;

/// `NG_COMM_LEN`: the kernel's task name length.
pub const COMM_LEN: usize = 16;
/// `NG_NAME_LEN`: file names of mappings and executables.
pub const NAME_LEN: usize = 64;
/// `NG_PATH_LEN`: paths and string arguments.
pub const PATH_LEN: usize = 256;
/// `NG_ARGS_LEN`: the argv bytes kept per exec.
pub const ARGS_LEN: usize = 512;
/// The largest record the kernel writes; anything longer is not ours.
pub const MAX_RECORD_LEN: usize = std::mem::size_of::<RawExec>();

/// Record kinds (`NG_KIND_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// A successful exec.
    Exec = 1,
    /// A new process.
    Fork = 2,
    /// A thread-group leader exited.
    Exit = 3,
    /// One syscall of the sensitive set.
    Syscall = 4,
}

impl TryFrom<u32> for Kind {
    type Error = DecodeError;
    fn try_from(id: u32) -> Result<Self, DecodeError> {
        match id {
            1 => Ok(Kind::Exec),
            2 => Ok(Kind::Fork),
            3 => Ok(Kind::Exit),
            4 => Ok(Kind::Syscall),
            other => Err(DecodeError::UnknownKind(other)),
        }
    }
}

/// Where an address lies (`NG_ORIGIN_*`), as the kernel classified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum AddressClass {
    /// No mapping found, or the mm lock was contended.
    Unknown = 0,
    /// A file-backed mapping other than the executable.
    File = 1,
    /// The process's own executable.
    Main = 2,
    /// Anonymous memory.
    Anonymous = 3,
    /// The main thread's stack.
    Stack = 4,
    /// The brk heap.
    Heap = 5,
    /// The vDSO.
    Vdso = 6,
}

impl TryFrom<u32> for AddressClass {
    type Error = DecodeError;
    fn try_from(id: u32) -> Result<Self, DecodeError> {
        Ok(match id {
            0 => AddressClass::Unknown,
            1 => AddressClass::File,
            2 => AddressClass::Main,
            3 => AddressClass::Anonymous,
            4 => AddressClass::Stack,
            5 => AddressClass::Heap,
            6 => AddressClass::Vdso,
            other => return Err(DecodeError::UnknownAddressClass(other)),
        })
    }
}

/// `NG_EXE_MEMFD`: the executed file is a memfd.
pub const EXE_MEMFD: u32 = 1;
/// `NG_EXE_DELETED`: the executed file has no link left.
pub const EXE_DELETED: u32 = 2;

/// `struct ng_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct RawHeader {
    /// `NG_KIND_*`.
    pub kind: u32,
    /// Size of the whole record.
    pub size: u32,
    /// `bpf_ktime_get_boot_ns()`.
    pub ktime_ns: u64,
    /// Thread-group id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Real parent's thread-group id.
    pub ppid: u32,
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// Explicit padding (zero).
    pub pad0: u32,
    /// cgroup v2 id.
    pub cgroup_id: u64,
    /// Task name, NUL-padded.
    pub comm: [u8; COMM_LEN],
}

/// `struct ng_exec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct RawExec {
    /// Common header.
    pub header: RawHeader,
    /// Syscall number of the exec, 0 if unknown.
    pub exec_syscall: u32,
    /// `NG_ORIGIN_*` of the exec instruction.
    pub origin: u32,
    /// `NG_EXE_*` bits.
    pub exe_flags: u32,
    /// Valid bytes in `args`.
    pub args_len: u32,
    /// The exec'ing thread before de_thread.
    pub old_tid: u32,
    /// Explicit padding (zero).
    pub pad0: u32,
    /// File name of the mapping holding the exec instruction.
    pub origin_name: [u8; NAME_LEN],
    /// Dentry name of the executed file.
    pub exe_name: [u8; NAME_LEN],
    /// `bprm->filename`.
    pub filename: [u8; PATH_LEN],
    /// NUL-separated argv.
    pub args: [u8; ARGS_LEN],
}

/// `struct ng_fork`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct RawFork {
    /// The parent.
    pub header: RawHeader,
    /// The new process's thread-group id.
    pub child_pid: u32,
    /// Explicit padding (zero).
    pub pad0: u32,
}

/// `struct ng_exit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct RawExit {
    /// The exiting process.
    pub header: RawHeader,
    /// `status << 8 | signal`.
    pub exit_code: u32,
    /// Explicit padding (zero).
    pub pad0: u32,
}

/// `struct ng_syscall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct RawSyscall {
    /// The calling process.
    pub header: RawHeader,
    /// Syscall number (x86_64).
    pub nr: i64,
    /// Argument registers.
    pub args: [u64; 6],
    /// User instruction pointer after the syscall instruction.
    pub ip: u64,
    /// `NG_ORIGIN_*` of `ip`.
    pub origin: u32,
    /// `NG_ORIGIN_*` of the region mprotect acts on; for execveat, `File` when the path was
    /// empty with `AT_EMPTY_PATH` and `str` holds the name of the file the descriptor refers to.
    pub region: u32,
    /// Bytes read into `str` including the NUL.
    pub str_len: u32,
    /// Low 32 bits of the inode number of `origin_name`'s file, 0 for none.
    pub origin_ino: u32,
    /// File name of the mapping holding `ip`.
    pub origin_name: [u8; NAME_LEN],
    /// memfd name, opened path or exec path.
    pub str: [u8; PATH_LEN],
}

// The sizes the C side asserts too (`_Static_assert` in nativeguard.bpf.c).
const _: () = assert!(std::mem::size_of::<RawHeader>() == 64);
const _: () = assert!(std::mem::size_of::<RawExec>() == 984);
const _: () = assert!(std::mem::size_of::<RawFork>() == 72);
const _: () = assert!(std::mem::size_of::<RawExit>() == 72);
const _: () = assert!(std::mem::size_of::<RawSyscall>() == 464);
const _: () = assert!(std::mem::offset_of!(RawExec, args) == 472);
const _: () = assert!(std::mem::offset_of!(RawSyscall, str) == 208);

/// One decoded ring-buffer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A successful exec.
    Exec(Box<RawExec>),
    /// A new process.
    Fork(RawFork),
    /// A process exit.
    Exit(RawExit),
    /// A sensitive syscall.
    Syscall(Box<RawSyscall>),
}

impl Record {
    /// The common header.
    pub fn header(&self) -> &RawHeader {
        match self {
            Record::Exec(e) => &e.header,
            Record::Fork(e) => &e.header,
            Record::Exit(e) => &e.header,
            Record::Syscall(e) => &e.header,
        }
    }
}

/// Why a ring-buffer record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the field being read needs.
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Its byte offset.
        offset: usize,
        /// Bytes it needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// The kind id is none of `NG_KIND_*`.
    UnknownKind(u32),
    /// An address class id is none of `NG_ORIGIN_*`.
    UnknownAddressClass(u32),
    /// The record's length does not match its kind's layout.
    WrongSize {
        /// The kind.
        kind: Kind,
        /// The size the header claims.
        declared: u32,
        /// The bytes received.
        received: usize,
        /// The size of the layout.
        expected: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated {
                what,
                offset,
                need,
                have,
            } => write!(
                f,
                "record truncated reading {what} at byte {offset}: need {need} bytes, have {have}"
            ),
            DecodeError::UnknownKind(id) => write!(f, "unknown record kind {id}"),
            DecodeError::UnknownAddressClass(id) => write!(f, "unknown address class {id}"),
            DecodeError::WrongSize {
                kind,
                declared,
                received,
                expected,
            } => write!(
                f,
                "{kind:?} record of {received} bytes (header says {declared}), layout is {expected}"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A bounds-checked little-endian reader naming the field it reads.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, what: &'static str, need: usize) -> Result<&'a [u8], DecodeError> {
        let have = self.bytes.len().saturating_sub(self.offset);
        if have < need {
            return Err(DecodeError::Truncated {
                what,
                offset: self.offset,
                need,
                have,
            });
        }
        let slice = &self.bytes[self.offset..self.offset + need];
        self.offset += need;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(what, N)?);
        Ok(out)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn header(&mut self) -> Result<RawHeader, DecodeError> {
        Ok(RawHeader {
            kind: self.u32("header.kind")?,
            size: self.u32("header.size")?,
            ktime_ns: self.u64("header.ktime_ns")?,
            pid: self.u32("header.pid")?,
            tid: self.u32("header.tid")?,
            ppid: self.u32("header.ppid")?,
            uid: self.u32("header.uid")?,
            gid: self.u32("header.gid")?,
            pad0: self.u32("header._pad0")?,
            cgroup_id: self.u64("header.cgroup_id")?,
            comm: self.array("header.comm")?,
        })
    }
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let mut r = Reader { bytes, offset: 0 };
    let header = r.header()?;
    let kind = Kind::try_from(header.kind)?;
    let expected = match kind {
        Kind::Exec => std::mem::size_of::<RawExec>(),
        Kind::Fork => std::mem::size_of::<RawFork>(),
        Kind::Exit => std::mem::size_of::<RawExit>(),
        Kind::Syscall => std::mem::size_of::<RawSyscall>(),
    };
    // The ring buffer rounds records up to 8 bytes; every layout is a multiple of 8 already.
    if header.size as usize != expected || bytes.len() != expected {
        return Err(DecodeError::WrongSize {
            kind,
            declared: header.size,
            received: bytes.len(),
            expected,
        });
    }
    Ok(match kind {
        Kind::Exec => {
            let exec = RawExec {
                header,
                exec_syscall: r.u32("exec.exec_syscall")?,
                origin: r.u32("exec.origin")?,
                exe_flags: r.u32("exec.exe_flags")?,
                args_len: r.u32("exec.args_len")?,
                old_tid: r.u32("exec.old_tid")?,
                pad0: r.u32("exec._pad0")?,
                origin_name: r.array("exec.origin_name")?,
                exe_name: r.array("exec.exe_name")?,
                filename: r.array("exec.filename")?,
                args: r.array("exec.args")?,
            };
            AddressClass::try_from(exec.origin)?;
            Record::Exec(Box::new(exec))
        }
        Kind::Fork => Record::Fork(RawFork {
            header,
            child_pid: r.u32("fork.child_pid")?,
            pad0: r.u32("fork._pad0")?,
        }),
        Kind::Exit => Record::Exit(RawExit {
            header,
            exit_code: r.u32("exit.exit_code")?,
            pad0: r.u32("exit._pad0")?,
        }),
        Kind::Syscall => {
            let nr = r.u64("syscall.nr")? as i64;
            let mut args = [0u64; 6];
            for arg in &mut args {
                *arg = r.u64("syscall.args")?;
            }
            let syscall = RawSyscall {
                header,
                nr,
                args,
                ip: r.u64("syscall.ip")?,
                origin: r.u32("syscall.origin")?,
                region: r.u32("syscall.region")?,
                str_len: r.u32("syscall.str_len")?,
                origin_ino: r.u32("syscall.origin_ino")?,
                origin_name: r.array("syscall.origin_name")?,
                str: r.array("syscall.str")?,
            };
            AddressClass::try_from(syscall.origin)?;
            AddressClass::try_from(syscall.region)?;
            Record::Syscall(Box::new(syscall))
        }
    })
}

/// Encodes a record exactly as the kernel lays it out (tests, fuzzing and fixtures).
pub fn encode(record: &Record) -> Vec<u8> {
    fn header(out: &mut Vec<u8>, h: &RawHeader) {
        for v in [h.kind, h.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&h.ktime_ns.to_le_bytes());
        for v in [h.pid, h.tid, h.ppid, h.uid, h.gid, h.pad0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&h.cgroup_id.to_le_bytes());
        out.extend_from_slice(&h.comm);
    }
    let mut out = Vec::with_capacity(MAX_RECORD_LEN);
    header(&mut out, record.header());
    match record {
        Record::Exec(e) => {
            for v in [
                e.exec_syscall,
                e.origin,
                e.exe_flags,
                e.args_len,
                e.old_tid,
                e.pad0,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&e.origin_name);
            out.extend_from_slice(&e.exe_name);
            out.extend_from_slice(&e.filename);
            out.extend_from_slice(&e.args);
        }
        Record::Fork(e) => {
            out.extend_from_slice(&e.child_pid.to_le_bytes());
            out.extend_from_slice(&e.pad0.to_le_bytes());
        }
        Record::Exit(e) => {
            out.extend_from_slice(&e.exit_code.to_le_bytes());
            out.extend_from_slice(&e.pad0.to_le_bytes());
        }
        Record::Syscall(e) => {
            out.extend_from_slice(&e.nr.to_le_bytes());
            for a in e.args {
                out.extend_from_slice(&a.to_le_bytes());
            }
            out.extend_from_slice(&e.ip.to_le_bytes());
            for v in [e.origin, e.region, e.str_len, e.origin_ino] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&e.origin_name);
            out.extend_from_slice(&e.str);
        }
    }
    out
}

/// The text of a NUL-padded C string field (lossy UTF-8, up to the first NUL).
pub fn c_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Copies `text` into a NUL-padded fixed field, truncating so a NUL always ends it.
pub fn fill_c_str<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let len = text.len().min(N.saturating_sub(1));
    out[..len].copy_from_slice(&text.as_bytes()[..len]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: Kind, size: usize) -> RawHeader {
        RawHeader {
            kind: kind as u32,
            size: size as u32,
            ktime_ns: 123_456_789,
            pid: 42,
            tid: 43,
            ppid: 1,
            uid: 1000,
            gid: 100,
            pad0: 0,
            cgroup_id: 7,
            comm: fill_c_str("demo"),
        }
    }

    fn samples() -> Vec<Record> {
        let mut args = [0u8; ARGS_LEN];
        args[..12].copy_from_slice(b"/bin/ls\0-la\0");
        vec![
            Record::Exec(Box::new(RawExec {
                header: header(Kind::Exec, 984),
                exec_syscall: 59,
                origin: AddressClass::File as u32,
                exe_flags: EXE_MEMFD,
                args_len: 12,
                old_tid: 43,
                pad0: 0,
                origin_name: fill_c_str("libc.so.6"),
                exe_name: fill_c_str("memfd:x"),
                filename: fill_c_str("/dev/fd/3"),
                args,
            })),
            Record::Fork(RawFork {
                header: header(Kind::Fork, 72),
                child_pid: 44,
                pad0: 0,
            }),
            Record::Exit(RawExit {
                header: header(Kind::Exit, 72),
                exit_code: 256,
                pad0: 0,
            }),
            Record::Syscall(Box::new(RawSyscall {
                header: header(Kind::Syscall, 464),
                nr: 319,
                args: [1, 2, 3, 4, 5, u64::MAX],
                ip: 0x7fff_0000_1234,
                origin: AddressClass::Anonymous as u32,
                region: AddressClass::Unknown as u32,
                str_len: 2,
                origin_ino: 0,
                origin_name: [0; NAME_LEN],
                str: fill_c_str("x"),
            })),
        ]
    }

    #[test]
    fn round_trips_every_kind() {
        for record in samples() {
            let bytes = encode(&record);
            assert_eq!(bytes.len(), record.header().size as usize);
            assert_eq!(decode(&bytes), Ok(record));
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for record in samples() {
            let bytes = encode(&record);
            for len in 0..bytes.len() {
                assert!(decode(&bytes[..len]).is_err(), "{len} bytes of {record:?}");
            }
        }
    }

    #[test]
    fn rejects_unknown_ids_and_sizes() {
        let mut bytes = encode(&samples()[1]);
        bytes[0] = 9;
        assert_eq!(decode(&bytes), Err(DecodeError::UnknownKind(9)));
        let mut bytes = encode(&samples()[3]);
        bytes[64 + 8 + 48 + 8] = 77; // origin
        assert_eq!(decode(&bytes), Err(DecodeError::UnknownAddressClass(77)));
        let mut bytes = encode(&samples()[2]);
        bytes.extend_from_slice(&[0; 8]);
        assert!(matches!(
            decode(&bytes),
            Err(DecodeError::WrongSize {
                kind: Kind::Exit,
                ..
            })
        ));
        assert!(bytes.len() <= MAX_RECORD_LEN);
    }

    /// Regenerates the fuzz seeds (one record per kind) in fuzz/seeds/decode.
    #[test]
    #[ignore = "writes files; run on purpose"]
    fn write_fuzz_seeds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, record) in samples().iter().enumerate() {
            std::fs::write(dir.join(format!("record-{i}.bin")), encode(record)).unwrap();
        }
    }

    #[test]
    fn c_strings_stop_at_nul_and_keep_one() {
        let field: [u8; 4] = fill_c_str("abcdef");
        assert_eq!(field, *b"abc\0");
        assert_eq!(c_str(&field), "abc");
        assert_eq!(c_str(b"no-nul"), "no-nul");
    }
}
