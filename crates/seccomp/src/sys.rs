//! Loading a program into the kernel. Only this module makes syscalls.
#![allow(unsafe_code)]

use crate::Program;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// `SECCOMP_FILTER_FLAG_TSYNC`.
pub const FLAG_TSYNC: u32 = 1;
/// `SECCOMP_FILTER_FLAG_LOG`.
pub const FLAG_LOG: u32 = 2;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`.
pub const FLAG_SPEC_ALLOW: u32 = 4;
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
pub const FLAG_NEW_LISTENER: u32 = 8;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19+): once the supervisor has received a
/// notification, only a fatal signal ends the caller's wait for the answer.
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

/// Exit status of a child that could not install its filter.
const INSTALL_FAILED: libc::c_int = 97;

/// The error for a child that could not install its filter (kind `Unsupported`: seccomp is
/// off, or the process may not set no_new_privs).
fn install_failed() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "the child could not install the seccomp filter",
    )
}

#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const crate::SockFilter,
}

/// Sets `no_new_privs` and installs `program` on the calling thread (every thread with
/// [`FLAG_TSYNC`]). With [`FLAG_NEW_LISTENER`] returns the user-notification listener fd.
///
/// Safe to call between `fork` and `exec`: it allocates nothing.
pub fn install(program: &Program, flags: u32) -> io::Result<Option<OwnedFd>> {
    let (len, filter) = program.as_sock_fprog();
    let fprog = SockFprog { len, filter };
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fprog` points at `program.instructions`, alive and unmodified for the call; the
    // kernel copies the filter before returning.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &fprog as *const SockFprog,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the kernel returns a new fd that nothing else owns.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) }));
    }
    Ok(None)
}

/// One call a child makes under the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// ABI used to make the call: x86_64 `syscall`, i386 `int 0x80`, or x32 (`syscall` with
    /// the x32 bit in the number).
    pub arch: nativeguard_syscalls::Arch,
    /// Number (with the x32 bit for x32).
    pub nr: u32,
    /// Argument registers, full 64-bit values.
    pub args: [u64; 6],
}

/// Forks a child that installs `program`, makes every probe call in order and reports each
/// raw return value (`-errno` on failure) over a pipe; returns them in order. The program must
/// allow `write` and `exit_group` on the host ABI.
///
/// Only for probes whose calls are harmless with the given arguments (the caller picks them):
/// an allowed call really runs, in the child.
#[cfg(target_arch = "x86_64")]
pub fn probe_in_child(program: &Program, probes: &[Probe]) -> io::Result<Vec<i64>> {
    let (bytes, status) = fork_reporting(|write_fd| {
        // SAFETY: child side: raw syscalls only, no allocation or locks.
        unsafe {
            if install(program, 0).is_err() {
                return INSTALL_FAILED;
            }
            for probe in probes {
                let bytes = raw_call(probe).to_ne_bytes();
                libc::write(write_fd, bytes.as_ptr().cast(), bytes.len());
            }
        }
        0
    })?;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(io::Error::other(format!(
            "probe child ended with status {status:#x} after {} of {} calls",
            bytes.len() / 8,
            probes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| i64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

/// Makes one raw call through the probe's ABI.
#[cfg(target_arch = "x86_64")]
fn raw_call(probe: &Probe) -> i64 {
    use nativeguard_syscalls::Arch;
    let a = probe.args;
    match probe.arch {
        Arch::I386 => {
            let mut ret: u64 = u64::from(probe.nr);
            // SAFETY: `int 0x80` with eax = number and ebx, ecx, edx, esi, edi, ebp = arguments
            // (rbx and rbp are reserved by the compiler, so they are saved and restored around
            // the call); the kernel returns in eax and preserves the other registers.
            unsafe {
                std::arch::asm!(
                    "push rbx",
                    "push rbp",
                    "mov rbx, r8",
                    "mov rbp, r9",
                    "int 0x80",
                    "pop rbp",
                    "pop rbx",
                    inout("rax") ret,
                    in("r8") a[0],
                    in("rcx") a[1],
                    in("rdx") a[2],
                    in("rsi") a[3],
                    in("rdi") a[4],
                    in("r9") a[5],
                );
            }
            // The i386 ABI returns a 32-bit value in eax.
            i64::from(ret as u32 as i32)
        }
        _ => {
            let ret: i64;
            // SAFETY: the x86_64 `syscall` instruction; it clobbers rcx and r11.
            unsafe {
                std::arch::asm!(
                    "syscall",
                    inout("rax") u64::from(probe.nr) => ret,
                    in("rdi") a[0],
                    in("rsi") a[1],
                    in("rdx") a[2],
                    in("r10") a[3],
                    in("r8") a[4],
                    in("r9") a[5],
                    lateout("rcx") _,
                    lateout("r11") _,
                    options(nostack),
                );
            }
            ret
        }
    }
}

/// Forks a child that installs `program` (when given), runs `work` and sends back the `u64` it
/// returns; for benchmarks and tests. `work` runs after `fork` in a copy of a possibly
/// multi-threaded process: it must not allocate or take locks, and the program must allow
/// `write` and `exit_group`.
pub fn run_in_child(program: Option<&Program>, work: fn() -> u64) -> io::Result<u64> {
    let (bytes, status) = fork_reporting(|write_fd| {
        if program.is_some_and(|program| install(program, 0).is_err()) {
            return INSTALL_FAILED;
        }
        let bytes = work().to_ne_bytes();
        // SAFETY: child side: a raw write of a stack buffer to our pipe.
        unsafe { libc::write(write_fd, bytes.as_ptr().cast(), bytes.len()) };
        0
    })?;
    match <[u8; 8]>::try_from(bytes.as_slice()) {
        Ok(b) if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 => {
            Ok(u64::from_ne_bytes(b))
        }
        _ => Err(io::Error::other(format!(
            "child ended with status {status:#x}"
        ))),
    }
}

/// Forks a child that runs `child(write_fd)` and exits with its return value; the parent reads
/// everything the child wrote to the pipe, reaps it, and returns the bytes and the wait status
/// (an `INSTALL_FAILED` exit becomes the install error). `child` runs after `fork` in a copy of
/// a possibly multi-threaded process: it must not allocate or take locks.
fn fork_reporting(
    child: impl FnOnce(libc::c_int) -> libc::c_int,
) -> io::Result<(Vec<u8>, libc::c_int)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    // SAFETY: see the function's contract; the child leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: child side: close our copy of the read end, run, leave without unwinding.
        unsafe {
            libc::close(read_fd);
            libc::_exit(child(write_fd));
        }
    }
    // SAFETY: closing our copy of the write end; the read end is ours.
    unsafe { libc::close(write_fd) };
    // SAFETY: as above.
    let mut reader = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(read_fd) });
    let mut bytes = Vec::new();
    let read = io::Read::read_to_end(&mut reader, &mut bytes);
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    read?;
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == INSTALL_FAILED {
        return Err(install_failed());
    }
    Ok((bytes, status))
}
