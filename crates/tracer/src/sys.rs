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
use std::thread::JoinHandle;

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

/// A command being cloned, not yet seized: it waits for [`Starting::release`]. Dropped
/// without a release, the child is ended and reaped.
pub(crate) struct Starting<'a> {
    /// Write end of the release pipe.
    go: Option<OwnedFd>,
    /// Read end of the child's report pipe.
    report: Option<OwnedFd>,
    /// See [`Started::spawner`].
    spawner: Option<JoinHandle<()>>,
    request: PhantomData<&'a StartRequest>,
}

/// A started, seized, released command. Borrows the request: the child reads it (in this
/// process's memory) until it has exec'd.
pub(crate) struct Started<'a> {
    /// The child's pid.
    pub pid: Pid,
    /// Read end of the child's report pipe (closed on a successful exec).
    report: OwnedFd,
    /// The thread suspended in `clone(CLONE_VFORK)` until the child has exec'd or exited.
    spawner: Option<JoinHandle<()>>,
    request: PhantomData<&'a StartRequest>,
}

/// Stack of the child between clone and exec: a few libc calls, each a thin wrapper around
/// one system call (the kernel runs on its own stack).
const CHILD_STACK_BYTES: usize = 32 << 10;
/// Stack of the spawner thread, whose frame holds the child's stack.
const SPAWNER_STACK_BYTES: usize = CHILD_STACK_BYTES + (64 << 10);
/// `_NSIG` on Linux: signal numbers are below it.
const SIGNAL_COUNT: libc::c_int = 65;

/// Message codes on the report pipe (one code byte, then a native-endian `i32`).
const STARTED: u8 = 0;
/// The spawner's `clone` failed (the value is its errno).
const CLONE_FAILED: u8 = 5;
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
        // The writers send whole messages, shorter than PIPE_BUF: a read gets all or none.
        if n as usize != MESSAGE_BYTES {
            return None;
        }
        let value = i32::from_ne_bytes([message[1], message[2], message[3], message[4]]);
        return Some((message[0], value));
    }
}

/// Starts the command: clones it (in the background), then [`Starting::release`] seizes it
/// with ptrace and lets it install the filter and exec. The caller compiles the filter and
/// does its own set-up meanwhile.
///
/// The child shares this process's memory until its exec (`CLONE_VM | CLONE_VFORK`, as
/// `posix_spawn` does): nothing of the tracer's address space is copied for a process that
/// is about to replace it, and the exec has no copy to tear down. `CLONE_VFORK` suspends the
/// cloning thread until the exec, so the clone is made by a short-lived spawner thread: the
/// child runs on a stack in the spawner's frame and uses the spawner's thread-local `errno`,
/// both untouched while it waits, while this thread seizes and releases the child.
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
    let setup = ChildSetup {
        parent_ends: [go_write.as_raw_fd(), report_read.as_raw_fd()],
        go: go_read.as_raw_fd(),
        report: report_write.as_raw_fd(),
        path: request.path.as_ptr(),
        argv,
        envp,
        filter: &request.filter,
        stdout_to_stderr: request.stdout_to_stderr,
        interrupts_were_ignored: request.interrupts_were_ignored,
    };
    let spawner = std::thread::Builder::new()
        .stack_size(SPAWNER_STACK_BYTES)
        .spawn(move || {
            // The pipe ends the child uses stay open in this process until it has exec'd.
            let _child_ends = (go_read, report_write);
            spawn_child(&setup);
        })?;
    Ok(Starting {
        go: Some(go_write),
        report: Some(report_read),
        spawner: Some(spawner),
        request: PhantomData,
    })
}

impl<'a> Starting<'a> {
    /// Waits for the child's start, seizes it and releases it (the request's filter must be
    /// set by now).
    pub(crate) fn release(mut self) -> io::Result<Started<'a>> {
        let (Some(go), Some(report)) = (self.go.take(), self.report.take()) else {
            return Err(io::Error::other("the command was released twice"));
        };
        let mut started = Started {
            pid: 0,
            report,
            spawner: self.spawner.take(),
            request: PhantomData,
        };
        started.pid = match read_message(started.report.as_raw_fd()) {
            Some((STARTED, pid)) => pid,
            Some((CLONE_FAILED, errno)) => return Err(io::Error::from_raw_os_error(errno)),
            _ => {
                return Err(io::Error::other(
                    "the command's process ended before it reported its start",
                ))
            }
        };
        if let Err(err) = seize(started.pid) {
            kill(started.pid, libc::SIGKILL);
            reap(started.pid);
            return Err(err);
        }
        // Releasing the child: one byte on the pipe.
        let byte = [1u8];
        // SAFETY: `byte` is a valid one-byte buffer; the descriptor is open.
        let written = unsafe { libc::write(go.as_raw_fd(), byte.as_ptr().cast(), 1) };
        if written != 1 {
            let err = io::Error::last_os_error();
            kill(started.pid, libc::SIGKILL);
            reap(started.pid);
            return Err(err);
        }
        Ok(started)
    }
}

impl Drop for Starting<'_> {
    /// A child that is never released ends: its release pipe closes, its read sees end of
    /// file, and it exits; it is reaped, then the spawner is joined.
    fn drop(&mut self) {
        drop(self.go.take());
        if let Some(report) = self.report.take() {
            if let Some((STARTED, pid)) = read_message(report.as_raw_fd()) {
                reap(pid);
            }
        }
        if let Some(spawner) = self.spawner.take() {
            let _ = spawner.join();
        }
    }
}

/// The spawner thread: clones the child and waits (in the kernel) until it has exec'd or
/// exited.
fn spawn_child(setup: &ChildSetup) {
    // Every signal is blocked while the child shares this thread's memory: it inherits the
    // mask, resets the handlers it inherited, and only then unblocks (as posix_spawn does).
    // SAFETY: sigfillset fills a signal set owned by this frame; pthread_sigmask changes
    // this thread's mask only.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
    }
    let mut stack = std::mem::MaybeUninit::<[u8; CHILD_STACK_BYTES]>::uninit();
    // The stack grows down from its end, which the ABIs want 16-byte aligned.
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK_BYTES) & !15;
    // SAFETY: `child_entry` runs on `stack`, which lives in this frame; CLONE_VFORK keeps
    // this thread inside clone, and so the frame, `stack` and `setup`, alive and untouched
    // until the child has exec'd or exited. The child shares this thread's TLS (its errno),
    // which this suspended thread does not use meanwhile.
    let pid = unsafe {
        libc::clone(
            child_entry,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            setup as *const ChildSetup as *mut libc::c_void,
        )
    };
    if pid < 0 {
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        send_message(setup.report, CLONE_FAILED, errno);
    }
}

/// Writes one report message (async-signal-safe: no allocation, one write).
fn send_message(fd: libc::c_int, code: u8, value: i32) {
    let value = value.to_ne_bytes();
    let message = [code, value[0], value[1], value[2], value[3]];
    // SAFETY: `message` is a valid buffer of its length. A failed write leaves the reader
    // with end of file, which it reports as such.
    unsafe { libc::write(fd, message.as_ptr().cast(), message.len()) };
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

// SAFETY: the pointers refer to the request's buffers, which `Starting` and then `Started`
// borrow: `start`'s caller keeps them alive and unchanged (but for the filter, set once
// through its OnceLock before the release) until they are dropped, and each drop joins the
// spawner thread first (`Starting`'s after ending the child). Only the spawner and the child
// read them.
unsafe impl Send for ChildSetup {}

/// Where the cloned child starts, on its own stack, in this process's memory.
extern "C" fn child_entry(setup: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `spawn_child` passes a pointer to its `ChildSetup`, alive while the spawner is
    // suspended in clone, that is, for the child's whole life before exec.
    let setup = unsafe { &*(setup as *const ChildSetup) };
    child_after_clone(setup)
}

/// The child's side of [`start`]. Never returns. Only async-signal-safe calls on memory
/// prepared before the clone: the child shares the tracer's memory, in which other threads
/// run (and allocate, and take locks) meanwhile.
fn child_after_clone(setup: &ChildSetup) -> ! {
    let report = setup.report;
    let fail = |step: StartStep| -> ! {
        // SAFETY: __errno_location returns this thread's errno slot (the spawner's, see
        // `spawn_child`).
        let errno = unsafe { *libc::__errno_location() };
        send_message(report, step.code(), errno);
        // SAFETY: _exit ends this child (its own thread group) at once.
        unsafe { libc::_exit(127) }
    };
    // SAFETY: getpid takes no arguments.
    send_message(report, STARTED, unsafe { libc::getpid() });
    for fd in setup.parent_ends {
        // SAFETY: closing the child's copies of the parent's pipe ends (its descriptor table
        // is its own), so that the sync read sees end-of-file if the tracer dies before
        // releasing the child.
        unsafe { libc::close(fd) };
    }
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: `byte` is a valid one-byte buffer.
        let n = unsafe { libc::read(setup.go, byte.as_mut_ptr().cast(), 1) };
        if n == 1 {
            break;
        }
        // SAFETY: reading this thread's errno.
        if n < 0 && unsafe { *libc::__errno_location() } == libc::EINTR {
            continue;
        }
        fail(StartStep::Sync);
    }
    // SAFETY: `filter` points into the request, alive until the child has exec'd (see
    // `ChildSetup`); OnceLock::get is one atomic load, no lock, no allocation.
    let Some(filter) = (unsafe { &*setup.filter }).get() else {
        // Released without a filter: a tracer bug. Fail closed rather than run untraced.
        // SAFETY: writing this thread's errno slot.
        unsafe { *libc::__errno_location() = libc::EINVAL };
        fail(StartStep::Seccomp)
    };
    let program = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: sigaction and pthread_sigmask on structures owned by this frame; dup2 on
    // integers. The handler table is the child's own (no CLONE_SIGHAND).
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        // A handler of the tracer must not run in the child, in the tracer's memory, in
        // the moment between unblocking signals and exec: every handled signal gets its
        // default action, as posix_spawn does.
        for signal in 1..SIGNAL_COUNT {
            let mut current: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut current) == 0
                && current.sa_sigaction != libc::SIG_DFL
                && current.sa_sigaction != libc::SIG_IGN
            {
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
        // The Rust runtime ignores SIGPIPE; the command gets the default, as std::process does.
        libc::sigaction(libc::SIGPIPE, &default, std::ptr::null_mut());
        // The tracer ignores terminal interrupts while it waits (as system(3) does); the
        // command gets the dispositions it would have had.
        for (signal, was_ignored) in [libc::SIGINT, libc::SIGQUIT]
            .into_iter()
            .zip(setup.interrupts_were_ignored)
        {
            if !was_ignored {
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        if setup.stdout_to_stderr {
            libc::dup2(2, 1);
        }
    }
    {
        let install = || {
            // SPEC_ALLOW: without it the kernel turns on its speculation mitigations for a
            // task that gains a filter, which costs every later syscall of the command (about
            // 20 ns of a 190 ns getppid here). The filter observes, it does not confine, so
            // the command keeps the mitigations it would have had untraced.
            // SAFETY: `program` points to the request's filter array, which outlives this
            // call.
            unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
                    &program as *const libc::sock_fprog,
                )
            }
        };
        if install() != 0 {
            // Without CAP_SYS_ADMIN the kernel requires no_new_privs first. Under ptrace a
            // set-uid program gains nothing anyway, so this changes nothing observable.
            // SAFETY: prctl with integer arguments.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                fail(StartStep::NoNewPrivs);
            }
            if install() != 0 {
                fail(StartStep::Seccomp);
            }
        }
    }
    // SAFETY: path, argv and envp are NUL-terminated arrays of valid C strings built before
    // the clone.
    unsafe { libc::execve(setup.path, setup.argv.as_ptr(), setup.envp.as_ptr()) };
    fail(StartStep::Exec)
}

impl Started<'_> {
    /// The child's failure report, once the child has exited without exec'ing.
    pub(crate) fn failure(&self) -> Option<(StartStep, io::Error)> {
        let (code, errno) = read_message(self.report.as_raw_fd())?;
        let step = StartStep::from_code(code)?;
        Some((step, io::Error::from_raw_os_error(errno)))
    }
}

impl Drop for Started<'_> {
    /// Waits for the spawner thread, which returns once the child has exec'd or exited: the
    /// trace has ended (or killed the child) by the time a `Started` is dropped.
    fn drop(&mut self) {
        if let Some(spawner) = self.spawner.take() {
            let _ = spawner.join();
        }
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
    fn a_child_never_released_is_ended() {
        // Leaked so that a drop that hangs can be left behind on its thread.
        let request: &'static StartRequest = Box::leak(Box::new(request("/bin/true")));
        let starting = start(request).unwrap_or_else(|e| panic!("{e}"));
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(starting);
            let _ = done.send(());
        });
        // The drop ends the child, reaps it and joins the spawner; it must not hang.
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
