//! # nativeguard-tracer
//!
//! Per-command System Call Analysis without root (D3FEND D3-SCA for one command): runs a
//! command under ptrace, follows every process and thread it creates, and turns the sensitive
//! system calls it makes into the same [`Event`]s the eBPF sensor emits, so the same Sigma
//! rules run on either. With [`Tracer::learn`] it also records every system call and writes
//! the smallest seccomp profile that lets the run pass ([`Learner::to_policy`]).
//!
//! Design:
//! - **Only sensitive calls stop.** Before exec, the child installs a seccomp filter that
//!   returns `SECCOMP_RET_TRACE` for the trap list ([`decode::TRAP_LIST`]: exec, memfd,
//!   ptrace, process_vm_*, PROT_EXEC mmap/mprotect, module and BPF loads, opens for writing,
//!   personality) and `ALLOW` for everything else, as `strace --seccomp-bpf` does: other calls
//!   never leave the kernel. The filter comes from `nativeguard-seccomp`'s compiler and covers
//!   every ABI of the host, so an `int 0x80` call from a 64-bit program stops too. Learning
//!   installs a filter that traps every call.
//! - **What ptrace cannot follow.** A child cloned with `CLONE_UNTRACED` is not attached. It
//!   keeps the filter, and a trace verdict without a tracer fails the call with ENOSYS: it can
//!   make none of the calls the trace reports (`a_child_cloned_untraced_cannot_make_a_trapped_call`).
//! - **Attach without races.** The child waits on a pipe until the tracer has
//!   `PTRACE_SEIZE`d it with fork/vfork/clone/exec/seccomp tracing and `EXITKILL`, so nothing
//!   escapes, and nothing traced outlives the tracer.
//! - **Start without copying the tracer.** The child is cloned with `CLONE_VM` (as
//!   `posix_spawn` does, but without suspending the tracer) and shares the tracer's memory
//!   until its exec: no page tables are copied, no pages are copied on write on either side,
//!   and the exec has nothing to tear down.
//! - **Where each call came from.** `PTRACE_GET_SYSCALL_INFO` gives the ABI and the address
//!   just past the syscall instruction; the kernel is asked which mapping holds that address
//!   minus the instruction's length (`PROCMAP_QUERY`, Linux 6.11+: one ioctl, always
//!   current); on older kernels it is looked up in a per-process cache of `/proc/PID/maps`
//!   ([`maps::Maps`]), dropped on exec and on every call that changes executable memory. The
//!   mapping is classified with [`nativeguard_event::linux::SyscallOrigin::classify`].
//! - **Events only through `nativeguard_event::linux`.** A call is reported at its exit
//!   (with its result); an exec is reported at the exec stop as a `syscall` event for the
//!   caller and a `process_creation` event for the new program. A process table built from
//!   fork events and `/proc` gives each event its image, command line, parent, ids, cwd and
//!   memfd / deleted-executable flags.
//!
//! Data flow: command -> [`Tracer::run`] -> ptrace stops -> [`decode`] -> [`Event`]s to the
//! caller's sink (and syscall names to the [`Learner`]) -> [`TraceResult`].
//!
//! ```
//! use nativeguard_tracer::{ChildExit, Tracer};
//!
//! let mut images = Vec::new();
//! let result = Tracer::new(["/bin/true"])
//!     .run(|event| {
//!         if event.get_str("EventType") == Some("process_creation") {
//!             images.push(event.get_str("Image").unwrap_or_default().to_string());
//!         }
//!     })
//!     .unwrap();
//! assert_eq!(result.exit, ChildExit::Code(0));
//! assert_eq!(images.len(), 1);
//! ```
#![deny(missing_docs)]

pub mod decode;
pub mod elf;
mod error;
mod filter;
pub mod learn;
pub mod maps;
mod precompiled_filter;
pub mod procfs;
mod session;
mod sys;

pub use error::Error;
pub use learn::Learner;
pub use session::{ChildExit, TraceStats};

use nativeguard_event::Event;
use session::{Session, SessionConfig};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;
use sys::Resume;

/// A command to trace, and how.
#[derive(Debug, Clone)]
pub struct Tracer {
    command: Vec<OsString>,
    learn: bool,
    command_stdout_to_stderr: bool,
}

/// The outcome of a trace.
#[derive(Debug, Clone)]
pub struct TraceResult {
    /// How the command ended.
    pub exit: ChildExit,
    /// What the run used, when learning.
    pub learned: Option<Learner>,
    /// Counters.
    pub stats: TraceStats,
}

impl Tracer {
    /// Traces `command` (program first; a name without `/` is looked up in `PATH`).
    pub fn new<I, S>(command: I) -> Tracer
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Tracer {
            command: command.into_iter().map(Into::into).collect(),
            learn: false,
            command_stdout_to_stderr: false,
        }
    }

    /// Stop on every system call and learn a profile (slower: every call stops).
    pub fn learn(mut self, learn: bool) -> Tracer {
        self.learn = learn;
        self
    }

    /// Point the command's stdout at the tracer's stderr, so the tracer's stdout carries only
    /// what the caller prints (alerts).
    pub fn command_stdout_to_stderr(mut self, redirect: bool) -> Tracer {
        self.command_stdout_to_stderr = redirect;
        self
    }

    /// Runs the command to completion (until it and every descendant have exited), passing
    /// each event to `sink` as it happens, once the thread that made it has been resumed.
    /// While it runs, the calling process ignores SIGINT and SIGQUIT (as `system(3)` does): a
    /// Ctrl-C reaches the command, which decides.
    ///
    /// The trace waits for any child of the calling process (ptrace reports a new tracee as
    /// one before the tracer has seen its fork): a child the caller started before, and has
    /// not waited for, is waited for (and reaped) by the trace. Call it from a process that
    /// has none, as `nativeguard trace` does.
    pub fn run(self, sink: impl FnMut(Event)) -> Result<TraceResult, Error> {
        self.run_with(|| {}, sink)
    }

    /// [`Tracer::run`], calling `on_started` once the command has made its first stop (its
    /// exec) and been resumed, before its first event. Work meant to run beside the command
    /// (such as starting a thread) goes there. Started as soon as the command was released,
    /// such work took the second core just when the command, ready to install its filter,
    /// could have used it, and the command then waited for this thread's core; started with
    /// the trace, it shared the cores with the tracer's own start-up.
    pub fn run_with(
        self,
        on_started: impl FnOnce(),
        mut sink: impl FnMut(Event),
    ) -> Result<TraceResult, Error> {
        let program = self.command.first().ok_or(Error::NoCommand)?;
        let path = resolve_program(program).ok_or_else(|| Error::NotFound {
            program: program.to_string_lossy().into_owned(),
        })?;
        let interrupts = sys::IgnoreInterrupts::new();
        let request = sys::StartRequest {
            path: c_string(path.as_os_str(), 0)?,
            argv: self
                .command
                .iter()
                .enumerate()
                .map(|(index, arg)| c_string(arg, index))
                .collect::<Result<_, _>>()?,
            envp: std::env::vars_os()
                .filter_map(|(name, value)| {
                    let mut entry = name;
                    entry.push("=");
                    entry.push(value);
                    CString::new(entry.as_bytes()).ok()
                })
                .collect(),
            filter: OnceLock::new(),
            stdout_to_stderr: self.command_stdout_to_stderr,
            interrupts_were_ignored: interrupts.were_ignored(),
        };
        let start_error = |source| Error::Start {
            call: "clone + PTRACE_SEIZE",
            source,
        };
        // The tracer's own details, for its command's first events. Read before the command
        // starts: once released, the command often runs on this thread's core, and whatever
        // this thread does then, the command waits for.
        let mut users = procfs::UserNames::default();
        let tracer = procfs::read_process_and_exe_link(sys::own_pid() as u32, &mut users);
        let starting = sys::start(&request).map_err(start_error)?;
        // A failure here ends the waiting child.
        let filter = if self.learn {
            filter::learn_filter()?
        } else {
            filter::detection_filter()?
        };
        // Set only here, so it cannot be set already.
        let _ = request.filter.set(filter);
        let started = starting.release().map_err(start_error)?;
        let mut learner = self.learn.then(Learner::new);
        let session = Session::new(
            started.pid,
            SessionConfig {
                learn: learner.as_mut(),
                resume: Resume::Continue,
                sink: &mut sink,
                on_running: Some(Box::new(on_started)),
            },
            users,
            tracer,
        );
        let (exit, execed, stats) = session.run()?;
        if !execed {
            if let Some((step, source)) = started.failure() {
                return Err(Error::Exec {
                    program: program.to_string_lossy().into_owned(),
                    step: step.as_str(),
                    source,
                });
            }
        }
        let exit = exit.ok_or(Error::Trace {
            call: "waitpid (command's exit status)",
            pid: started.pid,
            source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
        })?;
        Ok(TraceResult {
            exit,
            learned: learner,
            stats,
        })
    }
}

fn c_string(text: &OsStr, index: usize) -> Result<CString, Error> {
    CString::new(text.as_bytes()).map_err(|_| Error::NulInArgument { index })
}

/// The program's path: as given when it contains a `/`, else the first executable file of
/// that name in `PATH`.
fn resolve_program(program: &OsStr) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    if program.is_empty() {
        return None;
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).find_map(|dir| {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(program);
        let meta = std::fs::metadata(&candidate).ok()?;
        (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(candidate)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_programs_through_path() {
        let sh = resolve_program(OsStr::new("sh")).unwrap_or_default();
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
        assert_eq!(
            resolve_program(OsStr::new("./x")),
            Some(PathBuf::from("./x"))
        );
        assert_eq!(resolve_program(OsStr::new("no-such-program-ng")), None);
        assert_eq!(resolve_program(OsStr::new("")), None);
    }

    #[test]
    fn reports_missing_programs_and_empty_commands() {
        let missing = Tracer::new(["no-such-program-ng"]).run(|_| {});
        assert!(matches!(missing, Err(Error::NotFound { .. })));
        let empty = Tracer::new(Vec::<OsString>::new()).run(|_| {});
        assert!(matches!(empty, Err(Error::NoCommand)));
    }

    #[test]
    fn a_missing_program_is_reported_with_its_errno_and_its_execve_event() {
        let mut events = Vec::new();
        let result = Tracer::new(["/nonexistent-ng/dir/program"]).run(|event| events.push(event));
        match result {
            Err(Error::Exec { step, source, .. }) => {
                assert_eq!(step, "execve");
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            }
            other => panic!("expected an exec error, got {other:?}"),
        }
        // The child's failed execve was trapped (the filter was in place) and is reported.
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].get_str("SYSCALL"), Some("execve"));
        assert_eq!(
            events[0].get("exit"),
            Some(&nativeguard_event::Value::Int(-i64::from(libc::ENOENT)))
        );
    }

    #[test]
    fn the_filter_is_in_place_before_the_command_runs() {
        // The command's first event is its own execve, trapped by the filter the child
        // installed before it: nothing of the new program ran untraced.
        let mut events = Vec::new();
        let result = Tracer::new(["/bin/true"])
            .run(|event| events.push(event))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(result.exit.success());
        let first = events.first().unwrap_or_else(|| panic!("no event"));
        assert_eq!(first.get_str("EventType"), Some("syscall"));
        assert_eq!(first.get_str("SYSCALL"), Some("execve"));
        assert_eq!(first.get_str("TargetPath"), Some("/bin/true"));
        assert_eq!(first.origin.record_id, Some(1));
        assert_eq!(
            events.get(1).and_then(|e| e.get_str("EventType")),
            Some("process_creation")
        );
    }

    /// `SigBlk` and `SigIgn` of `/proc/PID/status`, as bit sets (bit n-1 for signal n).
    fn signal_sets(status: &str) -> (u64, u64) {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                .unwrap_or_else(|| panic!("no {name} in {status}"))
        };
        (field("SigBlk:"), field("SigIgn:"))
    }

    #[test]
    fn the_command_starts_with_no_blocked_signals_and_sigpipe_default() {
        let file = tempfile::Builder::new()
            .prefix("ng-signals-")
            .tempfile()
            .unwrap_or_else(|e| panic!("{e}"));
        let path = file.path();
        let script = format!("exec cat /proc/self/status > '{}'", path.display());
        let result = Tracer::new(["/bin/sh", "-c", &script])
            .run(|_| {})
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(result.exit.success(), "{:?}", result.exit);
        let status = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
        let (blocked, ignored) = signal_sets(&status);
        // The tracer blocks every signal while the child shares its memory; the command
        // must not inherit that.
        assert_eq!(blocked, 0, "blocked signals {blocked:#x}");
        // The Rust runtime ignores SIGPIPE; the command gets the default, as with std::process.
        let bit = |signal: i32| 1u64 << (signal - 1);
        assert_eq!(ignored & bit(libc::SIGPIPE), 0, "SIGPIPE ignored");
    }

    #[test]
    fn concurrent_traces_each_follow_their_own_command() {
        // Each trace's command is a child of this process, cloned by its tracer's thread;
        // every tracer must still see its own command's exec and exit, and only those.
        let tracers: Vec<_> = (0..4)
            .map(|code| {
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        let script = format!("exit {code}");
                        let mut execs = Vec::new();
                        let result = Tracer::new(["/bin/sh", "-c", &script])
                            .run(|event| {
                                if event.get_str("EventType") == Some("process_creation") {
                                    execs.push(event.get_str("CommandLine").map(String::from));
                                }
                            })
                            .unwrap_or_else(|e| panic!("{e}"));
                        assert_eq!(result.exit, ChildExit::Code(code));
                        assert_eq!(execs, [Some(format!("/bin/sh -c {script}"))]);
                        assert_eq!(result.stats.processes, 1);
                    }
                })
            })
            .collect();
        for tracer in tracers {
            if let Err(panic) = tracer.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }

    #[test]
    fn reports_an_exec_failure_from_the_child() {
        let result = Tracer::new(["/proc/self/status"]).run(|_| {});
        match result {
            Err(Error::Exec { step, source, .. }) => {
                assert_eq!(step, "execve");
                assert_eq!(source.raw_os_error(), Some(libc::EACCES));
            }
            other => panic!("expected an exec error, got {other:?}"),
        }
    }
}
