//! Every `unsafe` block of the crate: process groups for the runner, and the system calls,
//! inline assembly and machine code of the emulations.
//!
//! Emulations only ever act on children this process created, and those children only ever
//! execute `/bin/true`. After `fork`/`clone3`/`vfork` a child runs nothing but async-signal-safe
//! raw system calls on memory prepared before the fork (no allocation, no locks) and ends with
//! `execve` or `_exit`.
#![allow(unsafe_code)]

use crate::error::Error;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The effective user id.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether child `pid` has exited, without reaping it (`waitid(WEXITED | WNOHANG | WNOWAIT)`),
/// so that its pid and process group id stay reserved until the caller reaps it.
pub(crate) fn has_exited(pid: i32) -> io::Result<bool> {
    // SAFETY: siginfo_t is plain data; zeroed is a valid value and waitid only writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is a valid, writable siginfo_t for the duration of the call.
    let rc = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after a successful waitid, si_pid is initialised (0 when no child changed state).
    Ok(unsafe { info.si_pid() } != 0)
}

/// Sends `SIGKILL` to process group `pgid`. Errors (the group is already empty) are ignored.
pub(crate) fn kill_process_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: kill has no memory preconditions; a negative pid addresses the group only.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}

/// Makes the kernel SIGKILL the command's process when this thread dies (an interrupted
/// runner must not leave a test's shell running; its own descendants are not covered).
pub(crate) fn kill_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl, which is
    // async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildExit {
    /// Exit code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

/// Waits for child `pid` (retrying on `EINTR`).
pub(crate) fn reap(pid: i32) -> io::Result<ChildExit> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid, writable int.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if rc == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(if libc::WIFSIGNALED(status) {
        ChildExit::Signaled(libc::WTERMSIG(status))
    } else {
        ChildExit::Exited(libc::WEXITSTATUS(status))
    })
}

/// `path`, `argv` and an empty environment as C arrays, built before any fork.
pub(crate) struct ExecImage {
    path: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp_ptrs: Vec<*const libc::c_char>,
}

impl ExecImage {
    pub(crate) fn new(path: &CStr, argv: &[&CStr]) -> ExecImage {
        let argv: Vec<CString> = argv.iter().map(|a| (*a).to_owned()).collect();
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        ExecImage {
            path: path.to_owned(),
            _argv: argv,
            argv_ptrs,
            envp_ptrs: vec![std::ptr::null()],
        }
    }
}

/// How the child performs the exec.
pub(crate) enum ExecHow<'a> {
    /// glibc's `execve` wrapper.
    Libc,
    /// An inline `syscall` instruction in this binary's text.
    InlineSyscall,
    /// The stub in an anonymous executable page.
    Stub(&'a ExecStub),
    /// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`.
    Execveat(RawFd),
}

/// How the child is created.
#[derive(Clone, Copy)]
pub(crate) enum Create {
    /// glibc `fork()`.
    Fork,
    /// Raw `clone3` with only `exit_signal = SIGCHLD` (a fork without glibc).
    Clone3,
}

/// Performs the exec in the child; returns the errno when it fails.
fn exec_in_child(image: &ExecImage, how: &ExecHow<'_>) -> i32 {
    let path = image.path.as_ptr();
    let argv = image.argv_ptrs.as_ptr();
    let envp = image.envp_ptrs.as_ptr();
    match how {
        ExecHow::Libc => {
            // SAFETY: path/argv/envp are NUL-terminated and null-terminated arrays that live
            // in memory copied into the child.
            unsafe { libc::execve(path, argv, envp) };
            errno()
        }
        ExecHow::InlineSyscall => inline_execve(path, argv, envp),
        ExecHow::Stub(stub) => stub.call(path, argv, envp),
        ExecHow::Execveat(fd) => {
            let empty = c"".as_ptr();
            // SAFETY: as above; `fd` is an open memfd; AT_EMPTY_PATH executes the fd itself.
            unsafe {
                libc::syscall(
                    libc::SYS_execveat,
                    *fd,
                    empty,
                    argv,
                    envp,
                    libc::AT_EMPTY_PATH,
                )
            };
            errno()
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn inline_execve(
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> i32 {
    let ret: i64;
    // SAFETY: execve(2) through the `syscall` instruction: rax = 59, args in rdi/rsi/rdx; the
    // kernel clobbers rcx and r11. On success it does not return; on failure rax = -errno.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_execve => ret,
            in("rdi") path,
            in("rsi") argv,
            in("rdx") envp,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    (-ret) as i32
}

#[cfg(not(target_arch = "x86_64"))]
fn inline_execve(
    _path: *const libc::c_char,
    _argv: *const *const libc::c_char,
    _envp: *const *const libc::c_char,
) -> i32 {
    libc::ENOSYS
}

/// Creates a child with `create`, execs `image` in it with `how`, and reaps it. A failed exec
/// is reported through a close-on-exec pipe (4 bytes of errno; EOF means the exec happened).
pub(crate) fn spawn_exec(
    create: Create,
    exec_step: &'static str,
    image: &ExecImage,
    how: &ExecHow<'_>,
) -> Result<(i32, ChildExit), Error> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::Setup {
            step: "pipe2",
            detail: io::Error::last_os_error().to_string(),
        });
    }
    // SAFETY: pipe2 just returned these two fresh descriptors; each is owned once.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let pid = match create {
        // SAFETY: the child only runs exec_in_child (raw system calls on pre-built memory),
        // write and _exit: async-signal-safe.
        Create::Fork => unsafe { libc::fork() },
        Create::Clone3 => clone3_fork(),
    };
    if pid < 0 {
        let step = match create {
            Create::Fork => "fork",
            Create::Clone3 => "clone3",
        };
        return Err(Error::Blocked {
            step,
            errno: errno(),
        });
    }
    if pid == 0 {
        let failed = exec_in_child(image, how);
        let bytes = failed.to_ne_bytes();
        // SAFETY: in the child: write the errno to the pipe and leave without running any
        // destructor or atexit handler of the parent's state.
        unsafe {
            libc::write(write_end.as_raw_fd(), bytes.as_ptr().cast(), bytes.len());
            libc::_exit(127);
        }
    }
    drop(write_end);
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the unfilled part of `buf`.
        let n = unsafe {
            libc::read(
                read_end.as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                buf.len() - got,
            )
        };
        if n > 0 {
            got += n as usize;
        } else if n == 0 || errno() != libc::EINTR {
            break;
        }
    }
    let exit = reap(pid).map_err(|e| Error::Setup {
        step: "waitpid",
        detail: e.to_string(),
    })?;
    if got == buf.len() {
        return Err(Error::Blocked {
            step: exec_step,
            errno: i32::from_ne_bytes(buf),
        });
    }
    Ok((pid, exit))
}

/// clone3 with no flags and `exit_signal = SIGCHLD`: a copy of this process, like fork.
fn clone3_fork() -> i32 {
    // struct clone_args (CLONE_ARGS_SIZE_VER0 = 64 bytes): flags, pidfd, child_tid,
    // parent_tid, exit_signal, stack, stack_size, tls.
    let args: [u64; 8] = [0, 0, 0, 0, libc::SIGCHLD as u64, 0, 0, 0];
    // SAFETY: `args` is a valid clone_args of the size passed. Without CLONE_VM the child gets
    // a copy of the address space and returns 0 here, exactly as after fork.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args.as_ptr(),
            std::mem::size_of_val(&args),
        ) as i32
    }
}

/// vfork(2) then execve in the child, both inside one assembly block so the child (which
/// shares this stack and memory until it execs) never returns into compiled code. The child
/// calls libc's `execve` (not a raw `syscall`), so this stays the benign baseline a control must
/// not alert on. Returns the child's pid and how it ended; a failed exec exits the child with
/// the errno as exit code.
#[cfg(target_arch = "x86_64")]
pub(crate) fn vfork_exec(image: &ExecImage) -> Result<(i32, ChildExit), Error> {
    let path = image.path.as_ptr();
    let argv = image.argv_ptrs.as_ptr();
    let envp = image.envp_ptrs.as_ptr();
    let ret: i64;
    // SAFETY: rax = 58 (vfork). The parent resumes at label 2 with rax = pid or -errno. The child
    // (rax = 0) still has rdi/rsi/rdx (syscall preserves them), aligns the stack and calls
    // libc's execve; if that returns, it exits with errno through libc's `_exit`, so it never
    // returns into compiled code. Without `nostack` the compiler keeps nothing in the red zone,
    // so the child's calls only write below the parent's live stack.
    unsafe {
        std::arch::asm!(
            "mov eax, 58",
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "and rsp, -16",
            "call {execve}",
            "call {errno_location}",
            "mov edi, dword ptr [rax]",
            "call {exit}",
            "2:",
            execve = sym libc::execve,
            errno_location = sym libc::__errno_location,
            exit = sym libc::_exit,
            inout("rax") 0i64 => ret,
            in("rdi") path,
            in("rsi") argv,
            in("rdx") envp,
            clobber_abi("C"),
        );
    }
    if ret < 0 {
        return Err(Error::Blocked {
            step: "vfork",
            errno: (-ret) as i32,
        });
    }
    let pid = ret as i32;
    let exit = reap(pid).map_err(|e| Error::Setup {
        step: "waitpid",
        detail: e.to_string(),
    })?;
    Ok((pid, exit))
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn vfork_exec(_image: &ExecImage) -> Result<(i32, ChildExit), Error> {
    Err(Error::Unsupported(format!(
        "the vfork emulation is written for x86_64, not {}",
        std::env::consts::ARCH
    )))
}

/// posix_spawn(3) of the image; glibc creates the child with clone(CLONE_VM | CLONE_VFORK).
pub(crate) fn posix_spawn_exec(image: &ExecImage) -> Result<(i32, ChildExit), Error> {
    let mut pid: libc::pid_t = 0;
    // SAFETY: null file actions and attributes are allowed; the arrays are null-terminated and
    // outlive the call; argv/envp are only read (the cast to *mut is an FFI signature artefact).
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            image.path.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            image.argv_ptrs.as_ptr() as *const *mut libc::c_char,
            image.envp_ptrs.as_ptr() as *const *mut libc::c_char,
        )
    };
    if rc != 0 {
        return Err(Error::Blocked {
            step: "posix_spawn",
            errno: rc,
        });
    }
    let exit = reap(pid).map_err(|e| Error::Setup {
        step: "waitpid",
        detail: e.to_string(),
    })?;
    Ok((pid, exit))
}

/// An anonymous page holding machine code: mapped read-write, filled, then switched to
/// read-execute with mprotect (never writable and executable at once).
pub(crate) struct ExecStub {
    page: *mut libc::c_void,
    len: usize,
}

/// x86_64 `mov rax, 59 (SYS_execve); syscall; ret` — the System V call's first three arguments
/// already sit in rdi, rsi, rdx, where execve wants them.
#[cfg(target_arch = "x86_64")]
const EXECVE_STUB: &[u8] = &[0x48, 0xc7, 0xc0, 0x3b, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3];

fn page_size() -> usize {
    // SAFETY: sysconf has no memory preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as usize
    } else {
        4096
    }
}

/// mmap of one anonymous private read-write page.
fn map_rw_page() -> Result<(*mut libc::c_void, usize), Error> {
    let len = page_size();
    // SAFETY: a fresh anonymous mapping; no existing memory is affected.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        return Err(Error::Blocked {
            step: "mmap",
            errno: errno(),
        });
    }
    Ok((page, len))
}

impl ExecStub {
    /// Maps the execve stub: mmap RW, copy, mprotect RX.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn new() -> Result<ExecStub, Error> {
        let (page, len) = map_rw_page()?;
        let stub = ExecStub { page, len };
        // SAFETY: the page is ours, writable and larger than the stub.
        unsafe {
            std::ptr::copy_nonoverlapping(
                EXECVE_STUB.as_ptr(),
                page.cast::<u8>(),
                EXECVE_STUB.len(),
            )
        };
        // SAFETY: changes the protection of our own page only.
        if unsafe { libc::mprotect(page, len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            return Err(Error::Blocked {
                step: "mprotect(PROT_READ|PROT_EXEC)",
                errno: errno(),
            });
        }
        Ok(stub)
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub(crate) fn new() -> Result<ExecStub, Error> {
        Err(Error::Unsupported(format!(
            "the anonymous-page stub is x86_64 machine code; this is {}",
            std::env::consts::ARCH
        )))
    }

    /// The stub's address.
    pub(crate) fn address(&self) -> usize {
        self.page as usize
    }

    /// Calls the stub: execve(path, argv, envp). Returns the errno when it returns.
    fn call(
        &self,
        path: *const libc::c_char,
        argv: *const *const libc::c_char,
        envp: *const *const libc::c_char,
    ) -> i32 {
        type Stub = unsafe extern "C" fn(
            *const libc::c_char,
            *const *const libc::c_char,
            *const *const libc::c_char,
        ) -> i64;
        // SAFETY: the page holds EXECVE_STUB, a complete function following the C ABI for this
        // signature, and is mapped read-execute for as long as `self` lives.
        let stub: Stub = unsafe { std::mem::transmute::<*mut libc::c_void, Stub>(self.page) };
        // SAFETY: see above; the arguments are valid execve arguments.
        let ret = unsafe { stub(path, argv, envp) };
        (-ret) as i32
    }
}

impl Drop for ExecStub {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the page this value mapped.
        unsafe { libc::munmap(self.page, self.len) };
    }
}

/// x86_64 `mov eax, 42; ret`.
#[cfg(target_arch = "x86_64")]
const RETURN_42: &[u8] = &[0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3];

/// Maps a page read-write, copies a `return 42` stub into it, mprotects it to
/// read-write-execute, calls it and returns (page address, value returned).
#[cfg(target_arch = "x86_64")]
pub(crate) fn call_rwx_stub() -> Result<(usize, u64), Error> {
    let (page, len) = map_rw_page()?;
    struct Unmap(*mut libc::c_void, usize);
    impl Drop for Unmap {
        fn drop(&mut self) {
            // SAFETY: unmaps the page mapped above.
            unsafe { libc::munmap(self.0, self.1) };
        }
    }
    let _unmap = Unmap(page, len);
    // SAFETY: the page is ours, writable and larger than the stub.
    unsafe {
        std::ptr::copy_nonoverlapping(RETURN_42.as_ptr(), page.cast::<u8>(), RETURN_42.len())
    };
    let rwx = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
    // SAFETY: changes the protection of our own page only.
    if unsafe { libc::mprotect(page, len, rwx) } != 0 {
        return Err(Error::Blocked {
            step: "mprotect(PROT_READ|PROT_WRITE|PROT_EXEC)",
            errno: errno(),
        });
    }
    type Stub = unsafe extern "C" fn() -> u64;
    // SAFETY: the page holds RETURN_42, a complete C-ABI function with no arguments.
    let stub: Stub = unsafe { std::mem::transmute::<*mut libc::c_void, Stub>(page) };
    // SAFETY: see above.
    let value = unsafe { stub() } & 0xffff_ffff;
    Ok((page as usize, value))
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn call_rwx_stub() -> Result<(usize, u64), Error> {
    Err(Error::Unsupported(format!(
        "the RWX stub is x86_64 machine code; this is {}",
        std::env::consts::ARCH
    )))
}

/// memfd_create(name, MFD_CLOEXEC) through the raw system call.
pub(crate) fn memfd_create(name: &CStr) -> Result<OwnedFd, Error> {
    // SAFETY: `name` is NUL-terminated; the call creates a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::Blocked {
            step: "memfd_create",
            errno: errno(),
        });
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The word the injection emulations write into their child.
pub(crate) const MAGIC: u64 = 0x6e67_5f70_6f6b_6564; // "ngn_poked"-ish, unlikely by chance
/// The child's copy of this variable is what ptrace / process_vm_writev overwrite.
static MARKER: AtomicU64 = AtomicU64::new(0);

/// The address of the marker variable (the same in a forked child).
pub(crate) fn marker_address() -> usize {
    MARKER.as_ptr() as usize
}

/// Exit code of a marker child that saw the magic value.
pub(crate) const MARKER_SEEN: i32 = 0;
/// Exit code of a marker child that did not.
pub(crate) const MARKER_UNCHANGED: i32 = 3;

/// How a marker child waits before checking the marker.
pub(crate) enum WaitFor {
    /// It stops itself with SIGSTOP (the parent continues it with SIGCONT).
    SelfStop,
    /// It reads one byte from a pipe the parent writes.
    Pipe,
}

/// A forked child that waits, then exits `MARKER_SEEN` if its marker holds `MAGIC`. Killed and
/// reaped on drop unless reaped before.
pub(crate) struct MarkerChild {
    pub(crate) pid: i32,
    release: Option<OwnedFd>,
    reaped: bool,
}

impl MarkerChild {
    pub(crate) fn fork(wait: WaitFor) -> Result<MarkerChild, Error> {
        MARKER.store(0, Ordering::SeqCst);
        let mut fds = [-1; 2];
        if matches!(wait, WaitFor::Pipe) {
            // SAFETY: `fds` is a writable array of two ints.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                return Err(Error::Setup {
                    step: "pipe2",
                    detail: io::Error::last_os_error().to_string(),
                });
            }
        }
        // SAFETY: the child only calls raise/read/_exit and reads an atomic.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            let e = errno();
            for fd in fds.into_iter().filter(|fd| *fd >= 0) {
                // SAFETY: closes the pipe created above.
                unsafe { libc::close(fd) };
            }
            return Err(Error::Blocked {
                step: "fork",
                errno: e,
            });
        }
        if pid == 0 {
            match wait {
                // SAFETY: stops the calling child itself.
                WaitFor::SelfStop => unsafe {
                    libc::raise(libc::SIGSTOP);
                },
                WaitFor::Pipe => {
                    let mut byte = 0u8;
                    // SAFETY: reads one byte into a local (EOF also releases the child).
                    unsafe {
                        libc::close(fds[1]);
                        libc::read(fds[0], (&mut byte as *mut u8).cast(), 1);
                    }
                }
            }
            let code = if MARKER.load(Ordering::SeqCst) == MAGIC {
                MARKER_SEEN
            } else {
                MARKER_UNCHANGED
            };
            // SAFETY: leave the child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let release = if fds[0] >= 0 {
            // SAFETY: the parent owns both ends once; it keeps the write end.
            unsafe {
                libc::close(fds[0]);
                Some(OwnedFd::from_raw_fd(fds[1]))
            }
        } else {
            None
        };
        Ok(MarkerChild {
            pid,
            release,
            reaped: false,
        })
    }

    /// Lets a `WaitFor::Pipe` child go on.
    pub(crate) fn release(&mut self) {
        if let Some(fd) = self.release.take() {
            // SAFETY: writes one byte to our pipe; dropping the fd afterwards closes it.
            unsafe { libc::write(fd.as_raw_fd(), b"g".as_ptr().cast(), 1) };
        }
    }

    /// Waits for the child to stop (`waitpid(WUNTRACED)`).
    pub(crate) fn wait_stopped(&self) -> Result<(), Error> {
        let mut status = 0;
        loop {
            // SAFETY: `status` is a valid, writable int.
            let rc =
                unsafe { libc::waitpid(self.pid, &mut status, libc::WUNTRACED | libc::__WALL) };
            if rc == self.pid {
                break;
            }
            if errno() != libc::EINTR {
                return Err(Error::Setup {
                    step: "waitpid(WUNTRACED)",
                    detail: io::Error::last_os_error().to_string(),
                });
            }
        }
        if libc::WIFSTOPPED(status) {
            Ok(())
        } else {
            Err(Error::Setup {
                step: "waitpid(WUNTRACED)",
                detail: format!(
                    "child {} ended instead of stopping (status {status:#x})",
                    self.pid
                ),
            })
        }
    }

    /// Sends a signal to the child.
    pub(crate) fn signal(&self, signal: i32) {
        // SAFETY: signals our own unreaped child (its pid cannot have been reused).
        unsafe { libc::kill(self.pid, signal) };
    }

    /// Reaps the child.
    pub(crate) fn reap(&mut self) -> Result<ChildExit, Error> {
        self.release.take();
        let exit = reap(self.pid).map_err(|e| Error::Setup {
            step: "waitpid",
            detail: e.to_string(),
        })?;
        self.reaped = true;
        Ok(exit)
    }
}

impl Drop for MarkerChild {
    fn drop(&mut self) {
        if !self.reaped {
            self.signal(libc::SIGKILL);
            let _ = reap(self.pid);
        }
    }
}

/// PTRACE_ATTACH to our own child, then wait for the attach stop.
pub(crate) fn ptrace_attach(pid: i32) -> Result<(), Error> {
    // SAFETY: ptrace on our own child; the null address/data are what ATTACH expects.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_ATTACH,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    if rc != 0 {
        return Err(Error::Blocked {
            step: "ptrace(PTRACE_ATTACH)",
            errno: errno(),
        });
    }
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid, writable int.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if rc == pid {
            break;
        }
        if errno() != libc::EINTR {
            return Err(Error::Setup {
                step: "waitpid after PTRACE_ATTACH",
                detail: io::Error::last_os_error().to_string(),
            });
        }
    }
    if libc::WIFSTOPPED(status) {
        Ok(())
    } else {
        Err(Error::Setup {
            step: "waitpid after PTRACE_ATTACH",
            detail: format!("child {pid} did not stop (status {status:#x})"),
        })
    }
}

/// PTRACE_POKEDATA one word into the traced child's memory.
pub(crate) fn ptrace_poke(pid: i32, address: usize, word: u64) -> Result<(), Error> {
    // SAFETY: writes a word into the stopped tracee's address space, not ours.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_POKEDATA,
            pid,
            address as *mut libc::c_void,
            word as usize as *mut libc::c_void,
        )
    };
    if rc != 0 {
        return Err(Error::Blocked {
            step: "ptrace(PTRACE_POKEDATA)",
            errno: errno(),
        });
    }
    Ok(())
}

/// PTRACE_DETACH without a signal.
pub(crate) fn ptrace_detach(pid: i32) -> Result<(), Error> {
    // SAFETY: detaches from our own tracee.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_DETACH,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    if rc != 0 {
        return Err(Error::Blocked {
            step: "ptrace(PTRACE_DETACH)",
            errno: errno(),
        });
    }
    Ok(())
}

/// process_vm_writev of one word into our child's memory at `address`.
pub(crate) fn vm_write(pid: i32, address: usize, word: u64) -> Result<(), Error> {
    let bytes = word.to_ne_bytes();
    let local = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let remote = libc::iovec {
        iov_base: address as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: the local iovec points into `bytes` (only read); the remote one is in the child.
    let n = unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return Err(Error::Blocked {
            step: "process_vm_writev",
            errno: errno(),
        });
    }
    if n as usize != bytes.len() {
        return Err(Error::Setup {
            step: "process_vm_writev",
            detail: format!("wrote {n} of {} bytes", bytes.len()),
        });
    }
    Ok(())
}
