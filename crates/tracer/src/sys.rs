//! Every system call the tracer makes, and the crate's only `unsafe` code: starting the command
//! (clone, wait for the tracer to attach, install the seccomp filter, exec), ptrace requests,
//! `waitpid`, and reading the tracee's memory. Each `unsafe` block says why it is sound.
//!
//! Everything above this module works with plain Rust values ([`WaitStatus`], [`SyscallInfo`]).

use std::ffi::CString;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;

/// A process or thread id as the kernel gives it.
pub(crate) type Pid = i32;

/// One classic-BPF instruction, as `struct sock_filter`.
pub(crate) type FilterInstruction = libc::sock_filter;

/// The ptrace options every tracee gets: follow every kind of fork, report exec and seccomp
/// stops, mark syscall stops (SIGTRAP | 0x80), and kill every tracee if the tracer dies — a
/// tracee left with the seccomp filter and no tracer would see ENOSYS for every traced call.
const OPTIONS: libc::c_int = libc::PTRACE_O_TRACESYSGOOD
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACEVFORKDONE
    | libc::PTRACE_O_TRACESECCOMP
    | libc::PTRACE_O_EXITKILL;

/// `PTRACE_EVENT_STOP` (group-stop or initial stop of a seized tracee); not exported by `libc`
/// for glibc targets.
pub(crate) const PTRACE_EVENT_STOP: i32 = 128;

/// The step of starting the command that failed in the child, reported through a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartStep {
    /// Waiting for the tracer to attach.
    Sync,
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    NoNewPrivs,
    /// `seccomp(SECCOMP_SET_MODE_FILTER)`.
    Seccomp,
    /// `execve`.
    Exec,
}

impl StartStep {
    fn code(self) -> u8 {
        match self {
            StartStep::Sync => 1,
            StartStep::NoNewPrivs => 2,
            StartStep::Seccomp => 3,
            StartStep::Exec => 4,
        }
    }

    fn from_code(code: u8) -> Option<StartStep> {
        match code {
            1 => Some(StartStep::Sync),
            2 => Some(StartStep::NoNewPrivs),
            3 => Some(StartStep::Seccomp),
            4 => Some(StartStep::Exec),
            _ => None,
        }
    }

    /// The call that failed, for messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StartStep::Sync => "waiting for the tracer",
            StartStep::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            StartStep::Seccomp => "seccomp(SECCOMP_SET_MODE_FILTER)",
            StartStep::Exec => "execve",
        }
    }
}

/// Everything the child needs, prepared before it is cloned so that the child allocates
/// nothing.
pub(crate) struct StartRequest {
    /// Absolute or relative path of the program (already resolved through `PATH`).
    pub path: CString,
    /// `argv`, the program name first.
    pub argv: Vec<CString>,
    /// `envp`, as `NAME=value`.
    pub envp: Vec<CString>,
    /// The seccomp filter to install before exec. Set between [`start`] and
    /// [`Starting::release`] (it is compiled while the child is being cloned); the child
    /// reads it once released.
    pub filter: OnceLock<Vec<FilterInstruction>>,
    /// Point the command's stdout at the tracer's stderr.
    pub stdout_to_stderr: bool,
    /// Whether SIGINT and SIGQUIT were ignored before [`IgnoreInterrupts`] (the command gets
    /// them back as they were).
    pub interrupts_were_ignored: [bool; 2],
}

/// A command cloned and seized, not yet released: it waits for [`Starting::release`].
/// Dropped without a release, the child is ended and reaped.
pub(crate) struct Starting<'a> {
    child: Child<'a>,
    /// Write end of the release pipe.
    go: OwnedFd,
}

/// A started, seized, released command. Borrows the request: the child reads it (in this
/// process's memory) until it has exec'd.
pub(crate) struct Started<'a> {
    /// The child's pid.
    pub pid: Pid,
    child: Child<'a>,
}

/// A child running in this process's memory until its exec, with what it uses there: its
/// stack and set-up (owned) and the request (borrowed). Dropped, it makes sure the child runs
/// there no more: unless it has been reaped, it is killed, and waited for.
struct Child<'a> {
    pid: Pid,
    /// Read end of the report pipe, on which the child reports the step that failed (its
    /// write end is close-on-exec).
    report: OwnedFd,
    /// The child's stack (capacity only: the child writes it, Rust never reads it). Held,
    /// not read: it must outlive the child's use of it.
    _stack: Vec<u8>,
    /// The child's thread-local storage (see [`ChildTls`]). Held, as `_stack`.
    _tls: ChildTls,
    /// What the child reads; on the heap, so that its address stays put. Held, as `_stack`.
    _setup: Box<ChildSetup>,
    request: PhantomData<&'a StartRequest>,
}

/// Stack of the child between clone and exec: a few raw system calls (the kernel runs on its
/// own stack).
const CHILD_STACK_BYTES: usize = 32 << 10;
/// `_NSIG` on Linux: signal numbers are below it.
const SIGNAL_COUNT: libc::c_int = 65;

/// Bytes of a report message: the failed step's code ([`StartStep::code`]), then its errno as
/// a native-endian `i32`.
const MESSAGE_BYTES: usize = 5;

fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Reads one report message; `None` at end of file (every write end closed).
fn read_message(fd: libc::c_int) -> Option<(u8, i32)> {
    let mut message = [0u8; MESSAGE_BYTES];
    loop {
        // SAFETY: `message` is a valid buffer of its length; the descriptor is open.
        let n = unsafe { libc::read(fd, message.as_mut_ptr().cast(), message.len()) };
        if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        // The child sends whole messages, shorter than PIPE_BUF: a read gets all or none.
        if n as usize != MESSAGE_BYTES {
            return None;
        }
        let value = i32::from_ne_bytes([message[1], message[2], message[3], message[4]]);
        return Some((message[0], value));
    }
}

/// Starts the command: clones it and seizes it with ptrace; [`Starting::release`] then lets
/// it install the filter and exec. The caller compiles the filter meanwhile.
///
/// The child shares this process's memory until its exec (`CLONE_VM`, as `posix_spawn`
/// does): nothing of the tracer's address space is copied for a process that is about to
/// replace it, and the exec has nothing to tear down. Unlike `posix_spawn` there is no
/// `CLONE_VFORK`: this thread goes on at once to seize and release the child, where a
/// suspended spawner thread cost a thread start and a wake-up across cores (about 0.4 ms
/// from the spawn to the child's first report). The child therefore runs beside this thread,
/// in its memory, on a stack of its own and with a thread pointer of its own ([`ChildTls`]):
/// it makes raw system calls ([`raw`]), but for the exec, which goes through libc so that the
/// command's `process_creation` event shows the call coming from libc, as any program's
/// would.
///
/// The child blocks on a pipe until the tracer has seized it, so that its very first traced
/// system call (the `execve`) already finds the tracer with `PTRACE_O_TRACESECCOMP` set;
/// without it a `SECCOMP_RET_TRACE` verdict would fail the exec with ENOSYS.
pub(crate) fn start(request: &StartRequest) -> io::Result<Starting<'_>> {
    let (go_read, go_write) = pipe_cloexec()?;
    let (report_read, report_write) = pipe_cloexec()?;
    let mut argv: Vec<*const libc::c_char> = request.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = request.envp.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let setup = Box::new(ChildSetup {
        parent_ends: [go_write.as_raw_fd(), report_read.as_raw_fd()],
        go: go_read.as_raw_fd(),
        report: report_write.as_raw_fd(),
        path: request.path.as_ptr(),
        argv,
        envp,
        filter: &request.filter,
        stdout_to_stderr: request.stdout_to_stderr,
        interrupts_were_ignored: request.interrupts_were_ignored,
    });
    let mut stack = Vec::<u8>::with_capacity(CHILD_STACK_BYTES);
    // The stack grows down from its end, which the ABIs want 16-byte aligned.
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK_BYTES) & !15;
    let mut tls = ChildTls::new();
    // SAFETY: sigfillset fills a signal set owned by this frame; pthread_sigmask changes this
    // thread's mask only, and is restored below.
    let previous_mask = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        previous
    };
    // Every signal is blocked while the child shares this memory: it inherits the mask,
    // resets the handlers it inherited, and only then unblocks (as posix_spawn does).
    // SAFETY: `child_entry` runs on `stack`, with `tls` as its thread pointer, reading
    // `setup`; `Child` owns all three until the child has exec'd or exited (see its drop).
    // The child makes raw system calls but for execve, whose only thread-local access (errno,
    // on failure) lands in `tls`.
    let pid = unsafe {
        libc::clone(
            child_entry,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_SETTLS | libc::SIGCHLD,
            &*setup as *const ChildSetup as *mut libc::c_void,
            std::ptr::null_mut::<libc::pid_t>(),
            tls.thread_pointer(),
            std::ptr::null_mut::<libc::pid_t>(),
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores this thread's own mask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &previous_mask, std::ptr::null_mut()) };
    // The child has its own copies (or there is no child): closing this process's copies of
    // the child's ends lets each side see end of file when the other is gone.
    drop((go_read, report_write));
    if pid < 0 {
        return Err(clone_error);
    }
    let child = Child {
        pid,
        report: report_read,
        _stack: stack,
        _tls: tls,
        _setup: setup,
        request: PhantomData,
    };
    seize(pid)?;
    Ok(Starting {
        child,
        go: go_write,
    })
}

impl<'a> Starting<'a> {
    /// Releases the child to install the request's filter (set by now) and exec.
    pub(crate) fn release(self) -> io::Result<Started<'a>> {
        let byte = [1u8];
        // SAFETY: `byte` is a valid one-byte buffer; the descriptor is open.
        let written = unsafe { libc::write(self.go.as_raw_fd(), byte.as_ptr().cast(), 1) };
        if written != 1 {
            // Dropping `self` ends the child.
            return Err(io::Error::last_os_error());
        }
        Ok(Started {
            pid: self.child.pid,
            child: self.child,
        })
    }
}

impl Drop for Child<'_> {
    /// The child stops using this memory. Once reaped (the trace saw it exit), it is no child
    /// of this process any more, and its pid may be another process's: nothing to do. Otherwise
    /// it may still be waiting to exec, in this memory, so it is ended and reaped (after a
    /// failed trace, a command that did exec is ended too: nothing traced outlives the trace).
    /// The report pipe cannot tell: a child that another thread clones meanwhile holds a copy of
    /// its write end until that child execs.
    fn drop(&mut self) {
        if is_unreaped_child(self.pid) {
            kill(self.pid, libc::SIGKILL);
            reap(self.pid);
        }
        // Only now are `_stack`, `_tls` and `_setup` unused: the fields drop after this.
    }
}

/// Whether `pid` is a child of this process that has not been reaped (alive or a zombie): its
/// pid cannot have been reused.
fn is_unreaped_child(pid: Pid) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value for waitid to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // WNOWAIT leaves a zombie to be reaped; WNOHANG returns at once for a live child.
    // SAFETY: `info` is a valid siginfo_t for waitid to fill.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL,
        )
    };
    rc == 0
}

/// Everything the child's side of [`start`] uses, prepared before the clone.
struct ChildSetup {
    /// The parent's pipe ends, closed in the child.
    parent_ends: [libc::c_int; 2],
    /// Read end of the release pipe.
    go: libc::c_int,
    /// Write end of the report pipe.
    report: libc::c_int,
    /// The program, a C string of the request.
    path: *const libc::c_char,
    /// NULL-terminated, pointing into the request.
    argv: Vec<*const libc::c_char>,
    /// NULL-terminated, pointing into the request.
    envp: Vec<*const libc::c_char>,
    /// The request's filter, set before the child is released.
    filter: *const OnceLock<Vec<FilterInstruction>>,
    stdout_to_stderr: bool,
    /// SIGINT and SIGQUIT were ignored before the tracer ignored them (keep them ignored).
    interrupts_were_ignored: [bool; 2],
}

// SAFETY: the pointers refer to the request's buffers, which `Child` borrows for its whole
// life: `start`'s caller keeps them alive and unchanged (but for the filter, set once through
// its OnceLock before the release) until the child has stopped using them, which `Child`'s
// drop ensures on whichever thread it runs. Only the child reads them.
unsafe impl Send for ChildSetup {}

/// Where the cloned child starts, on its own stack, in this process's memory.
extern "C" fn child_entry(setup: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `start` passes a pointer to the `ChildSetup` that its `Child` owns, alive until
    // the child has exec'd or exited.
    let setup = unsafe { &*(setup as *const ChildSetup) };
    child_after_clone(setup)
}

/// The kernel's `struct sigaction` (x86_64 and aarch64 share it), for raw `rt_sigaction`.
#[repr(C)]
#[derive(Default)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// The size of the kernel's signal set, as `rt_sigaction` and `rt_sigprocmask` want it.
const KERNEL_SIGSET_BYTES: usize = 8;

/// The child's side of [`start`]. Never returns. Only raw system calls on memory prepared
/// before the clone: the child shares the tracer's memory, in which the tracer's threads run
/// (and allocate, and take locks) meanwhile, and its thread pointer, so that a libc wrapper
/// setting `errno` would write the cloning thread's.
fn child_after_clone(setup: &ChildSetup) -> ! {
    let report = setup.report;
    let fail = |step: StartStep, result: isize| -> ! {
        let errno = i32::try_from(-result).unwrap_or(0);
        let value = errno.to_ne_bytes();
        let message = [step.code(), value[0], value[1], value[2], value[3]];
        // SAFETY: `message` is a valid buffer of its length; a failed write leaves the reader
        // with end of file, which it reports as such. _exit ends this child (its own thread
        // group) at once, touching nothing of the tracer's.
        unsafe {
            raw::syscall(
                libc::SYS_write,
                [report as usize, message.as_ptr() as usize, MESSAGE_BYTES, 0],
            );
            libc::_exit(127)
        }
    };
    for fd in setup.parent_ends {
        // SAFETY: closing the child's copies of the parent's pipe ends (its descriptor table
        // is its own), so that the release read sees end of file if the tracer dies before
        // releasing the child.
        unsafe { raw::syscall(libc::SYS_close, [fd as usize, 0, 0, 0]) };
    }
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: `byte` is a valid one-byte buffer.
        let n = unsafe {
            raw::syscall(
                libc::SYS_read,
                [setup.go as usize, byte.as_mut_ptr() as usize, 1, 0],
            )
        };
        if n == 1 {
            break;
        }
        if n != -(libc::EINTR as isize) {
            fail(StartStep::Sync, n.min(0));
        }
    }
    // SAFETY: `filter` points into the request, alive until the child has exec'd (see
    // `Child`); OnceLock::get is one atomic load, no lock, no allocation.
    let Some(filter) = (unsafe { &*setup.filter }).get() else {
        // Released without a filter: a tracer bug. Fail closed rather than run untraced.
        fail(StartStep::Seccomp, -(libc::EINVAL as isize))
    };
    let program = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    let default = KernelSigaction::default(); // SIG_DFL is 0
    let set_default = |signal: libc::c_int| {
        // SAFETY: rt_sigaction with a valid action of the kernel's layout; the handler table
        // is the child's own (no CLONE_SIGHAND).
        unsafe {
            raw::syscall(
                libc::SYS_rt_sigaction,
                [
                    signal as usize,
                    &default as *const KernelSigaction as usize,
                    0,
                    KERNEL_SIGSET_BYTES,
                ],
            )
        };
    };
    // A handler of the tracer must not run in the child, in the tracer's memory, in the
    // moment between unblocking signals and exec: every handled signal gets its default
    // action, as posix_spawn does.
    for signal in 1..SIGNAL_COUNT {
        let mut current = KernelSigaction::default();
        // SAFETY: rt_sigaction filling `current`, of the kernel's layout.
        let queried = unsafe {
            raw::syscall(
                libc::SYS_rt_sigaction,
                [
                    signal as usize,
                    0,
                    &mut current as *mut KernelSigaction as usize,
                    KERNEL_SIGSET_BYTES,
                ],
            )
        };
        if queried == 0 && current.handler != libc::SIG_DFL && current.handler != libc::SIG_IGN {
            set_default(signal);
        }
    }
    // The Rust runtime ignores SIGPIPE; the command gets the default, as std::process does.
    set_default(libc::SIGPIPE);
    // The tracer ignores terminal interrupts while it waits (as system(3) does); the command
    // gets the dispositions it would have had.
    for (signal, was_ignored) in [libc::SIGINT, libc::SIGQUIT]
        .into_iter()
        .zip(setup.interrupts_were_ignored)
    {
        if !was_ignored {
            set_default(signal);
        }
    }
    let empty: u64 = 0;
    // SAFETY: rt_sigprocmask with a valid kernel signal set; dup3 on integers.
    unsafe {
        raw::syscall(
            libc::SYS_rt_sigprocmask,
            [
                libc::SIG_SETMASK as usize,
                &empty as *const u64 as usize,
                0,
                KERNEL_SIGSET_BYTES,
            ],
        );
        if setup.stdout_to_stderr {
            raw::syscall(libc::SYS_dup3, [2, 1, 0, 0]);
        }
    }
    // SPEC_ALLOW: without it the kernel turns on its speculation mitigations for a task that
    // gains a filter, which costs every later syscall of the command (about 20 ns of a 190 ns
    // getppid here). The filter observes, it does not confine, so the command keeps the
    // mitigations it would have had untraced.
    let install = || {
        // SAFETY: `program` points to the request's filter array, which outlives this call.
        unsafe {
            raw::syscall(
                libc::SYS_seccomp,
                [
                    libc::SECCOMP_SET_MODE_FILTER as usize,
                    libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as usize,
                    &program as *const libc::sock_fprog as usize,
                    0,
                ],
            )
        }
    };
    if install() != 0 {
        // Without CAP_SYS_ADMIN the kernel requires no_new_privs first. Under ptrace a set-uid
        // program gains nothing anyway, so this changes nothing observable.
        // SAFETY: prctl with integer arguments.
        let set = unsafe {
            raw::syscall(
                libc::SYS_prctl,
                [libc::PR_SET_NO_NEW_PRIVS as usize, 1, 0, 0],
            )
        };
        if set != 0 {
            fail(StartStep::NoNewPrivs, set);
        }
        let installed = install();
        if installed != 0 {
            fail(StartStep::Seccomp, installed);
        }
    }
    // SAFETY: path, argv and envp are NUL-terminated arrays of valid C strings built before
    // the clone. On failure libc sets errno, which this thread pointer places in `ChildTls`.
    let errno = unsafe {
        libc::execve(setup.path, setup.argv.as_ptr(), setup.envp.as_ptr());
        *libc::__errno_location()
    };
    fail(StartStep::Exec, -(errno as isize))
}

/// The child's thread-local storage: a scratch area around a thread pointer of its own,
/// reaching as far as the calling thread's `errno` lies from its thread pointer. libc's
/// `execve` touches thread-local storage only to set `errno` when it fails; with this area
/// that write lands here, not in the `errno` of the tracer's thread, which runs meanwhile.
struct ChildTls {
    area: Vec<u8>,
    /// The thread pointer's distance from the start of `area`.
    middle: usize,
}

impl ChildTls {
    fn new() -> ChildTls {
        // SAFETY: __errno_location has no precondition; it returns this thread's errno slot.
        let errno = unsafe { libc::__errno_location() } as usize;
        let reach = errno.abs_diff(thread_pointer()) + std::mem::size_of::<libc::c_int>();
        // The thread pointer 64-byte aligned (as a TCB is), with `reach` bytes each side.
        let middle = (reach + 63) & !63;
        let mut area = Vec::<u8>::with_capacity(2 * middle + 64);
        let offset = area.as_mut_ptr().align_offset(64);
        let mut tls = ChildTls {
            area,
            middle: middle + offset,
        };
        // x86_64's TLS ABI keeps the thread pointer itself in the word it points to, which
        // libc's __errno_location reads.
        #[cfg(target_arch = "x86_64")]
        {
            let pointer = tls.thread_pointer();
            // SAFETY: `pointer` is 64-byte aligned inside `area`, with at least 64 bytes of
            // its capacity after it.
            unsafe { pointer.cast::<usize>().write(pointer as usize) };
        }
        tls
    }

    /// The child's thread pointer, inside `area`.
    fn thread_pointer(&mut self) -> *mut libc::c_void {
        self.area.as_mut_ptr().wrapping_add(self.middle).cast()
    }
}

/// The calling thread's thread pointer.
#[cfg(target_arch = "x86_64")]
fn thread_pointer() -> usize {
    let pointer: usize;
    // SAFETY: on x86_64 the word at %fs:0 holds the thread pointer itself (the TLS ABI's
    // self-pointer); reading it has no side effect.
    unsafe {
        std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) pointer, options(nostack, readonly, preserves_flags));
    }
    pointer
}

/// The calling thread's thread pointer.
#[cfg(target_arch = "aarch64")]
fn thread_pointer() -> usize {
    let pointer: usize;
    // SAFETY: reading tpidr_el0, the thread pointer register, has no side effect.
    unsafe {
        std::arch::asm!("mrs {}, tpidr_el0", out(reg) pointer, options(nostack, nomem, preserves_flags));
    }
    pointer
}

/// System calls without libc: the result, or `-errno`; nothing written anywhere else.
mod raw {
    /// Makes system call `number` with up to four arguments (the fifth and sixth are 0:
    /// some calls, such as `prctl`, check that unused ones are).
    ///
    /// # Safety
    /// The arguments must be what the call expects (valid pointers where it reads or writes).
    #[cfg(target_arch = "x86_64")]
    pub(super) unsafe fn syscall(number: libc::c_long, args: [usize; 4]) -> isize {
        let result: isize;
        // SAFETY: the x86_64 system call convention; the kernel clobbers rcx and r11 only.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") number as isize => result,
                in("rdi") args[0],
                in("rsi") args[1],
                in("rdx") args[2],
                in("r10") args[3],
                in("r8") 0usize,
                in("r9") 0usize,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        result
    }

    /// Makes system call `number` with up to four arguments (the fifth and sixth are 0:
    /// some calls, such as `prctl`, check that unused ones are).
    ///
    /// # Safety
    /// The arguments must be what the call expects (valid pointers where it reads or writes).
    #[cfg(target_arch = "aarch64")]
    pub(super) unsafe fn syscall(number: libc::c_long, args: [usize; 4]) -> isize {
        let result: isize;
        // SAFETY: the aarch64 system call convention (number in x8, result in x0).
        unsafe {
            std::arch::asm!(
                "svc 0",
                in("x8") number,
                inlateout("x0") args[0] as isize => result,
                in("x1") args[1],
                in("x2") args[2],
                in("x3") args[3],
                in("x4") 0usize,
                in("x5") 0usize,
                options(nostack),
            );
        }
        result
    }
}

impl Started<'_> {
    /// The child's failure report, once the child has exited without exec'ing.
    pub(crate) fn failure(&self) -> Option<(StartStep, io::Error)> {
        let (code, errno) = read_message(self.child.report.as_raw_fd())?;
        let step = StartStep::from_code(code)?;
        Some((step, io::Error::from_raw_os_error(errno)))
    }
}

fn seize(pid: Pid) -> io::Result<()> {
    // SAFETY: PTRACE_SEIZE takes integer arguments only.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_SEIZE,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            OPTIONS as libc::c_ulong,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ignores SIGINT and SIGQUIT in the tracer while a trace runs, as `system(3)` does while it
/// waits: a Ctrl-C on the terminal reaches the traced command (same process group), which
/// decides what to do, and the tracer lives on to report how it ended. Restored on drop.
///
/// Traces may overlap (several threads of one process): the first to start saves the
/// dispositions and the last to end restores them, so that each command gets the
/// dispositions the process had before any trace, and the process gets them back.
pub(crate) struct IgnoreInterrupts {
    previous: [libc::sighandler_t; 2],
}

/// Running traces, and the dispositions from before the first of them.
static INTERRUPTS: std::sync::Mutex<(usize, [libc::sighandler_t; 2])> =
    std::sync::Mutex::new((0, [libc::SIG_DFL; 2]));

impl IgnoreInterrupts {
    pub(crate) fn new() -> IgnoreInterrupts {
        let mut state = INTERRUPTS.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 == 0 {
            // SAFETY: installing SIG_IGN, a disposition without a handler function.
            state.1 = unsafe {
                [
                    libc::signal(libc::SIGINT, libc::SIG_IGN),
                    libc::signal(libc::SIGQUIT, libc::SIG_IGN),
                ]
            };
        }
        state.0 += 1;
        IgnoreInterrupts { previous: state.1 }
    }

    /// Whether SIGINT and SIGQUIT were ignored before.
    pub(crate) fn were_ignored(&self) -> [bool; 2] {
        self.previous.map(|handler| handler == libc::SIG_IGN)
    }
}

impl Drop for IgnoreInterrupts {
    fn drop(&mut self) {
        let mut state = INTERRUPTS.lock().unwrap_or_else(|e| e.into_inner());
        state.0 = state.0.saturating_sub(1);
        if state.0 > 0 {
            return;
        }
        for (signal, handler) in [libc::SIGINT, libc::SIGQUIT].into_iter().zip(self.previous) {
            if handler != libc::SIG_ERR {
                // SAFETY: restoring the disposition that was installed before.
                unsafe { libc::signal(signal, handler) };
            }
        }
    }
}

/// Sends a signal to one process.
pub(crate) fn kill(pid: Pid, signal: i32) {
    // SAFETY: kill takes integers; a failure (already gone) needs no handling.
    unsafe { libc::kill(pid, signal) };
}

/// Waits for one child to be gone, ignoring errors (used on start-up failure paths).
fn reap(pid: Pid) {
    let mut status = 0;
    // SAFETY: `status` is a valid int for waitpid to fill.
    unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
}

/// What `waitpid` reported for one tracee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitStatus {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// A syscall-enter or syscall-exit stop (SIGTRAP | 0x80).
    SyscallStop,
    /// A `PTRACE_EVENT_*` stop, with the stop signal.
    Event(i32, i32),
    /// A signal-delivery stop for this signal.
    Signal(i32),
}

/// Waits for the next state change of any tracee of the calling thread.
///
/// `__WNOTHREAD`: only this thread's tracees and children, so that several tracers can run in
/// one process (tests) without reaping each other's stops. Returns `None` when there is no
/// child left.
pub(crate) fn wait_any() -> io::Result<Option<(Pid, WaitStatus)>> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid int for waitpid to fill.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL | libc::__WNOTHREAD) };
        if pid < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECHILD) => return Ok(None),
                _ => return Err(err),
            }
        }
        let decoded = if libc::WIFEXITED(status) {
            WaitStatus::Exited(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            WaitStatus::Signaled(libc::WTERMSIG(status))
        } else if libc::WIFSTOPPED(status) {
            let signal = libc::WSTOPSIG(status);
            let event = (status >> 16) & 0xffff;
            if signal == libc::SIGTRAP | 0x80 {
                WaitStatus::SyscallStop
            } else if event != 0 {
                WaitStatus::Event(event, signal)
            } else {
                WaitStatus::Signal(signal)
            }
        } else {
            // WIFCONTINUED is not requested; anything else is not a state we act on.
            continue;
        };
        return Ok(Some((pid, decoded)));
    }
}

fn ptrace_request(request: libc::c_uint, pid: Pid, data: usize) -> io::Result<()> {
    // SAFETY: these requests (CONT, SYSCALL, LISTEN, DETACH) take an integer `data` (a signal
    // number) and no pointers.
    let rc = unsafe {
        libc::ptrace(
            request,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            data as libc::c_ulong,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// How to let a stopped tracee go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Run until the next seccomp/event/signal stop.
    Continue,
    /// Run until the next syscall-enter or syscall-exit stop as well.
    Syscall,
    /// Stay in group-stop, but report when it ends (PTRACE_LISTEN).
    Listen,
}

/// Resumes a stopped tracee, delivering `signal` (0 for none). ESRCH (killed meanwhile) is
/// not an error: its exit will be reported by `waitpid`.
pub(crate) fn resume(pid: Pid, how: Resume, signal: i32) -> io::Result<()> {
    let request = match how {
        Resume::Continue => libc::PTRACE_CONT,
        Resume::Syscall => libc::PTRACE_SYSCALL,
        Resume::Listen => libc::PTRACE_LISTEN,
    };
    match ptrace_request(request, pid, signal.max(0) as usize) {
        Err(err) if err.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        other => other,
    }
}

/// The kind of stop `PTRACE_GET_SYSCALL_INFO` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyscallStopKind {
    /// Syscall-enter stop (PTRACE_SYSCALL).
    Entry,
    /// Syscall-exit stop.
    Exit,
    /// A seccomp `SECCOMP_RET_TRACE` stop (also a syscall entry).
    Seccomp,
    /// Not a syscall stop.
    None,
}

/// `struct ptrace_syscall_info`, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyscallInfo {
    /// Which stop this is.
    pub kind: SyscallStopKind,
    /// `AUDIT_ARCH_*` of the call (tells an `int 0x80` in a 64-bit process apart).
    pub arch: u32,
    /// Instruction pointer after the syscall instruction.
    pub instruction_pointer: u64,
    /// Syscall number (entry and seccomp stops).
    pub number: u64,
    /// Arguments (entry and seccomp stops).
    pub args: [u64; 6],
    /// Return value (exit stops).
    pub return_value: i64,
}

/// `PTRACE_GET_SYSCALL_INFO` (Linux 5.3+).
pub(crate) fn syscall_info(pid: Pid) -> io::Result<SyscallInfo> {
    // SAFETY: an all-zero ptrace_syscall_info is a valid value (integers and a union of
    // integer structs).
    let mut info: libc::ptrace_syscall_info = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::ptrace_syscall_info>();
    // SAFETY: the kernel writes at most `size` bytes into `info`.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_GET_SYSCALL_INFO,
            pid,
            size as *mut libc::c_void,
            &mut info as *mut libc::ptrace_syscall_info,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let kind = match info.op {
        libc::PTRACE_SYSCALL_INFO_ENTRY => SyscallStopKind::Entry,
        libc::PTRACE_SYSCALL_INFO_EXIT => SyscallStopKind::Exit,
        libc::PTRACE_SYSCALL_INFO_SECCOMP => SyscallStopKind::Seccomp,
        _ => SyscallStopKind::None,
    };
    // SAFETY: the union member read is the one `op` says the kernel filled.
    let (number, args, return_value) = unsafe {
        match kind {
            SyscallStopKind::Entry => (info.u.entry.nr, info.u.entry.args, 0),
            SyscallStopKind::Seccomp => (info.u.seccomp.nr, info.u.seccomp.args, 0),
            SyscallStopKind::Exit => (0, [0; 6], info.u.exit.sval),
            SyscallStopKind::None => (0, [0; 6], 0),
        }
    };
    Ok(SyscallInfo {
        kind,
        arch: info.arch,
        instruction_pointer: info.instruction_pointer,
        number,
        args,
        return_value,
    })
}

/// `PTRACE_GETEVENTMSG`: the new pid of a fork event, the former tid of an exec event.
pub(crate) fn event_message(pid: Pid) -> io::Result<u64> {
    let mut message: libc::c_ulong = 0;
    // SAFETY: the kernel writes one unsigned long into `message`.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_GETEVENTMSG,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            &mut message as *mut libc::c_ulong,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(message)
}

/// Reads up to `buf.len()` bytes of the tracee's memory at `address`; returns how many were
/// read (fewer at an unmapped page). `process_vm_readv` first (one call, no stop needed);
/// `PTRACE_PEEKDATA` word by word when that is refused (pages without read permission).
pub(crate) fn read_memory(pid: Pid, address: u64, buf: &mut [u8]) -> usize {
    if buf.is_empty() {
        return 0;
    }
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: address as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes `buf`, which is valid for writes of its length; the remote
    // address is only read by the kernel, in the other process, with its checks.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n > 0 {
        return n as usize;
    }
    let word = std::mem::size_of::<libc::c_long>();
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: resetting this thread's errno, to tell a -1 word from an error.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: PEEKDATA reads one word of the tracee; the result is returned by value.
        let value = unsafe {
            libc::ptrace(
                libc::PTRACE_PEEKDATA,
                pid,
                (address + done as u64) as *mut libc::c_void,
                std::ptr::null_mut::<libc::c_void>(),
            )
        };
        // SAFETY: reading this thread's errno.
        if value == -1 && unsafe { *libc::__errno_location() } != 0 {
            break;
        }
        let bytes = value.to_ne_bytes();
        let take = word.min(buf.len() - done);
        buf[done..done + take].copy_from_slice(&bytes[..take]);
        done += take;
    }
    done
}

/// The calling process's pid.
pub(crate) fn own_pid() -> Pid {
    std::process::id() as Pid
}

/// `struct procmap_query` of `linux/fs.h` (Linux 6.11).
#[repr(C)]
#[derive(Default)]
struct ProcmapQuery {
    size: u64,
    query_flags: u64,
    query_addr: u64,
    vma_start: u64,
    vma_end: u64,
    vma_flags: u64,
    vma_page_size: u64,
    vma_offset: u64,
    inode: u64,
    dev_major: u32,
    dev_minor: u32,
    vma_name_size: u32,
    build_id_size: u32,
    vma_name_addr: u64,
    build_id_addr: u64,
}

/// `PROCMAP_QUERY`: `_IOWR('f', 17, struct procmap_query)`.
const PROCMAP_QUERY: libc::c_ulong = (3 << 30)
    | ((std::mem::size_of::<ProcmapQuery>() as libc::c_ulong) << 16)
    | ((b'f' as libc::c_ulong) << 8)
    | 17;
const PROCMAP_QUERY_VMA_READABLE: u64 = 0x01;
const PROCMAP_QUERY_VMA_WRITABLE: u64 = 0x02;
const PROCMAP_QUERY_VMA_EXECUTABLE: u64 = 0x04;
/// The kernel copies at most `PATH_MAX` bytes of a mapping's name.
const MAPPING_NAME_BYTES: usize = libc::PATH_MAX as usize;

/// The mapping that holds `address` in the process whose `/proc/PID/maps` is `maps`, asked
/// of the kernel with `PROCMAP_QUERY`: one lookup instead of printing and parsing every
/// mapping. `Ok(None)` when no mapping holds the address; an `ENOTTY` error means the kernel
/// is older than 6.11 and the caller should read the maps file instead. The name is the one
/// the maps file prints (`d_path` of the file with ` (deleted)`, `[heap]`, `[anon:NAME]`),
/// except that a newline in a file name is not escaped as `\012`.
pub(crate) fn query_mapping(
    maps: &std::fs::File,
    address: u64,
    name: &mut Vec<u8>,
) -> io::Result<Option<crate::maps::Mapping>> {
    name.clear();
    name.resize(MAPPING_NAME_BYTES, 0);
    let mut query = ProcmapQuery {
        size: std::mem::size_of::<ProcmapQuery>() as u64,
        query_addr: address,
        vma_name_size: MAPPING_NAME_BYTES as u32,
        vma_name_addr: name.as_mut_ptr() as u64,
        ..ProcmapQuery::default()
    };
    // SAFETY: `query` is a valid procmap_query whose `size` is its own size; the kernel
    // writes its output fields and at most `vma_name_size` bytes at `vma_name_addr`, which
    // points into `name`, MAPPING_NAME_BYTES long. No build id is asked for (size 0).
    let rc = unsafe {
        libc::ioctl(
            maps.as_raw_fd(),
            PROCMAP_QUERY,
            &mut query as *mut ProcmapQuery,
        )
    };
    if rc != 0 {
        let error = io::Error::last_os_error();
        return match error.raw_os_error() {
            Some(libc::ENOENT) => Ok(None),
            _ => Err(error),
        };
    }
    // The size counts the terminating NUL; 0 means the mapping has no name.
    let length = (query.vma_name_size as usize)
        .saturating_sub(1)
        .min(MAPPING_NAME_BYTES);
    let path = (length > 0).then(|| String::from_utf8_lossy(&name[..length]).into_owned());
    Ok(Some(crate::maps::Mapping {
        start: query.vma_start,
        end: query.vma_end,
        read: query.vma_flags & PROCMAP_QUERY_VMA_READABLE != 0,
        write: query.vma_flags & PROCMAP_QUERY_VMA_WRITABLE != 0,
        execute: query.vma_flags & PROCMAP_QUERY_VMA_EXECUTABLE != 0,
        path,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::Maps;

    fn request(program: &str) -> StartRequest {
        let program = CString::new(program).unwrap_or_default();
        StartRequest {
            path: program.clone(),
            argv: vec![program],
            envp: Vec::new(),
            filter: OnceLock::new(),
            stdout_to_stderr: false,
            interrupts_were_ignored: [false; 2],
        }
    }

    #[test]
    fn a_child_released_without_a_filter_fails_closed() {
        let request = request("/bin/true");
        let started = start(&request)
            .and_then(Starting::release)
            .unwrap_or_else(|e| panic!("{e}"));
        // Seized, so its exit comes as a tracee's (no filter: nothing else stops it).
        let mut status = 0;
        // SAFETY: `status` is a valid int for waitpid to fill.
        let pid = unsafe { libc::waitpid(started.pid, &mut status, libc::__WALL) };
        assert_eq!(pid, started.pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 127);
        let failure = started.failure().map(|(step, e)| (step, e.raw_os_error()));
        assert_eq!(failure, Some((StartStep::Seccomp, Some(libc::EINVAL))));
    }

    #[test]
    fn a_failed_exec_sets_the_childs_errno_not_the_tracers() {
        let request = request("/proc/self/status");
        let allow_all = FilterInstruction {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        };
        let _ = request.filter.set(vec![allow_all]);
        let starting = start(&request).unwrap_or_else(|e| panic!("{e}"));
        // Nothing below fails in this thread, so its errno keeps this value unless the child,
        // whose exec fails with EACCES, writes it.
        const UNTOUCHED: libc::c_int = 4242;
        // SAFETY: writing this thread's errno slot.
        unsafe { *libc::__errno_location() = UNTOUCHED };
        let started = starting.release().unwrap_or_else(|e| panic!("{e}"));
        let mut status = 0;
        // SAFETY: `status` is a valid int for waitpid to fill.
        let pid = unsafe { libc::waitpid(started.pid, &mut status, libc::__WALL) };
        // SAFETY: reading this thread's errno slot.
        let errno = unsafe { *libc::__errno_location() };
        assert_eq!(pid, started.pid);
        assert_eq!(
            errno, UNTOUCHED,
            "the child wrote the tracer thread's errno"
        );
        let failure = started.failure().map(|(step, e)| (step, e.raw_os_error()));
        assert_eq!(failure, Some((StartStep::Exec, Some(libc::EACCES))));
    }

    #[test]
    fn only_an_unreaped_child_counts_as_one() {
        let mut child = std::process::Command::new("/bin/true")
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let pid = child.id() as Pid;
        assert!(is_unreaped_child(pid), "a live or exited, unreaped child");
        let _ = child.wait();
        assert!(
            !is_unreaped_child(pid),
            "a reaped child (its pid may be reused)"
        );
        assert!(!is_unreaped_child(1), "init is no child of this process");
    }

    #[test]
    fn a_child_never_released_is_ended() {
        // Leaked so that a drop that hangs can be left behind on its thread.
        let request: &'static StartRequest = Box::leak(Box::new(request("/bin/true")));
        let starting = start(request).unwrap_or_else(|e| panic!("{e}"));
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(starting);
            let _ = done.send(());
        });
        // The drop ends the child and reaps it; it must not hang.
        let ended = finished.recv_timeout(std::time::Duration::from_secs(10));
        assert!(ended.is_ok(), "dropping an unreleased start hangs");
    }

    #[test]
    fn procmap_query_agrees_with_the_maps_file() {
        let pid = std::process::id();
        let maps_file =
            std::fs::File::open(format!("/proc/{pid}/maps")).unwrap_or_else(|e| panic!("{e}"));
        let mut name = Vec::new();
        match query_mapping(&maps_file, 0, &mut name) {
            Err(error) if error.raw_os_error() == Some(libc::ENOTTY) => {
                eprintln!("skipped: this kernel has no PROCMAP_QUERY (Linux 6.11+)");
                return;
            }
            Err(error) => panic!("query failed: {error}"),
            Ok(found) => assert_eq!(found, None, "page 0 is mapped"),
        }
        let text =
            std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_else(|e| panic!("{e}"));
        let maps = Maps::parse(&text);
        assert!(maps.mappings().len() > 5, "{text}");
        let mut checked = 0;
        for expected in maps.mappings() {
            // Our own mappings may change between the read and the query (heap growth,
            // thread stacks of other tests): compare those that still exist unchanged.
            for address in [expected.start, expected.end - 1] {
                let found =
                    query_mapping(&maps_file, address, &mut name).unwrap_or_else(|e| panic!("{e}"));
                let unchanged =
                    |m: &crate::maps::Mapping| m.start == expected.start && m.end == expected.end;
                if found.as_ref().is_some_and(unchanged) {
                    assert_eq!(found.as_ref(), Some(expected), "at {address:#x}");
                    checked += 1;
                }
            }
        }
        // [vsyscall] is no VMA (the query does not see it); nearly all others must compare.
        assert!(checked >= maps.mappings().len(), "only {checked} checked");
        let past_the_end = maps.mappings().last().map_or(0, |m| m.end);
        if past_the_end < u64::MAX - 0x1000 {
            let beyond = query_mapping(&maps_file, past_the_end + 0x1000, &mut name);
            assert!(matches!(beyond, Ok(None)), "{beyond:?}");
        }
    }
}
