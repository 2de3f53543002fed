//! The user-notification supervisor: receives each notified call, decides from the ORIGINAL
//! policy's verdict on the call's registers, reports, and answers — a failure, or (for exec
//! only, and only while Landlock enforces the same execute allow-list) CONTINUE.

use crate::decode::{self, Memory};
use crate::error::Layer;
use crate::landlock::{ExecAllowList, ExecVerdict};
use crate::sys::{self, Notification, Response};
use nativeguard_seccomp::{Action, Program, SeccompData};
use nativeguard_syscalls::{self as syscalls, Arch};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The largest errno a system call can return (`MAX_ERRNO`); the kernel caps a filter's
/// `SECCOMP_RET_ERRNO` data to it.
const MAX_ERRNO: i32 = 4095;

/// Longest exec path read from the caller's memory (`PATH_MAX`).
pub const MAX_EXEC_PATH: usize = 4096;

/// One denied call, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// Syscall name (`socket`), or `syscall_0x1c8` for a number no table knows.
    pub syscall: String,
    /// ABI of the call (`None` for an ABI nativeguard has no table for).
    pub arch: Option<Arch>,
    /// Syscall number as the kernel saw it.
    pub nr: u32,
    /// Decoded arguments (`AF_NETLINK`, `"x"`, `PROT_READ|PROT_EXEC`).
    pub args: Vec<String>,
    /// Thread id of the caller.
    pub pid: u32,
    /// Executable of the caller, when still readable.
    pub exe: Option<PathBuf>,
    /// The layer whose rule denied it: seccomp, or Landlock for exec paths.
    pub layer: Layer,
    /// The errno the call failed with (positive).
    pub errno: i32,
    /// The policy's action was kill: the process was killed instead of returning.
    pub killed: bool,
    /// Why, when more than the policy's action: `not on the Landlock execute allow-list`.
    pub reason: Option<String>,
    /// For a Landlock denial read from the kernel's audit records: the rights missing and
    /// the object (the call's arguments are not known then: `args` is empty).
    pub landlock: Option<crate::audit::AuditedAccess>,
}

impl Denial {
    /// `socket(AF_NETLINK, SOCK_RAW, 0)`.
    pub fn call(&self) -> String {
        format!("{}({})", self.syscall, self.args.join(", "))
    }
}

/// Counts kept by the supervisor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SupervisorStats {
    /// Notifications received.
    pub notifications: u64,
    /// Calls denied (each reported).
    pub denied: u64,
    /// Execs let through to the kernel (Landlock still checks them).
    pub exec_continued: u64,
}

/// Where denials go.
pub type DenialSink = Box<dyn FnMut(&Denial) + Send>;

/// Serves one listener until the child is gone (listener hang-up) or `stop` is readable.
pub struct Supervisor {
    /// The listener fd, taken from the child.
    pub listener: OwnedFd,
    /// The policy as the user wrote it, compiled: its verdict decides each answer.
    pub original: Program,
    /// The Landlock execute allow-list, present only while Landlock enforces it in the kernel.
    pub exec: Option<ExecAllowList>,
    /// Receives each denial before the call is answered.
    pub sink: DenialSink,
}

/// The ABI of a call from `seccomp_data.arch` and `nr`.
pub fn abi_of(audit_arch: u32, nr: u32) -> Option<Arch> {
    match audit_arch {
        syscalls::AUDIT_ARCH_X86_64 if nr & syscalls::X32_SYSCALL_BIT != 0 => Some(Arch::X32),
        syscalls::AUDIT_ARCH_X86_64 => Some(Arch::X86_64),
        syscalls::AUDIT_ARCH_I386 => Some(Arch::I386),
        syscalls::AUDIT_ARCH_AARCH64 => Some(Arch::Aarch64),
        _ => None,
    }
}

/// What the supervisor does with one notified call.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    /// Report, then fail the call with this errno.
    Deny {
        errno: i32,
        layer: Layer,
        reason: Option<String>,
    },
    /// Report, kill the caller's process, then fail the call (it never returns to user space).
    Kill,
    /// An exec on the allow-list: the kernel (and Landlock) carry it out.
    Continue,
    /// Fail quietly: a condition the kernel would report itself (an exec of a missing file).
    FailQuietly(i32),
}

impl Supervisor {
    /// Serves notifications until the listener hangs up (no task uses the filter any more) or
    /// `stop` becomes readable (the sandboxed command exited). Dropping the listener on return
    /// makes any call still notified by a leftover task fail with ENOSYS: fail closed.
    pub fn serve(mut self, stop: impl AsFd) -> io::Result<SupervisorStats> {
        let mut stats = SupervisorStats::default();
        loop {
            let ready = sys::poll_two(self.listener.as_fd(), stop.as_fd(), -1)?;
            if ready.second {
                return Ok(stats);
            }
            if ready.first_readable {
                match sys::notif_recv(self.listener.as_fd()) {
                    Ok(notification) => {
                        stats.notifications += 1;
                        self.handle(notification, &mut stats);
                    }
                    // The caller went away between poll and receive.
                    Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {}
                    Err(err) if err.raw_os_error() == Some(libc::EINTR) => {}
                    Err(err) => return Err(err),
                }
            } else if ready.first_closed {
                return Ok(stats);
            }
        }
    }

    fn handle(&mut self, notification: Notification, stats: &mut SupervisorStats) {
        let data = notification.data;
        let nr = data.nr as u32;
        let arch = abi_of(data.arch, nr);
        let name = arch.and_then(|arch| syscalls::name(arch, nr));
        let decision = self.decide(&notification, arch, name);
        let listener = self.listener.as_fd();
        let errno = match decision {
            Decision::Continue => {
                stats.exec_continued += 1;
                // Ignore ENOENT: the caller is gone.
                let _ = sys::notif_send(listener, notification.id, Response::Continue);
                return;
            }
            Decision::FailQuietly(errno) => {
                let _ = sys::notif_send(listener, notification.id, Response::Fail(errno));
                return;
            }
            Decision::Deny { errno, .. } => errno,
            Decision::Kill => libc::EPERM,
        };
        let report_arch = arch.unwrap_or(Arch::host());
        let memory = Memory::open(notification.pid, report_arch);
        let syscall = name.map_or_else(|| format!("syscall_{nr:#x}"), str::to_string);
        let args = decode::decode_args(report_arch, &syscall, &data.args, &memory);
        let exe = std::fs::read_link(format!("/proc/{}/exe", notification.pid)).ok();
        // Only report what was read from the process the notification is about: if it died
        // meanwhile its pid may name another process now.
        if !sys::notif_id_valid(listener, notification.id) {
            return;
        }
        let (layer, mut reason, kill) = match decision {
            Decision::Deny { layer, reason, .. } => (layer, reason, false),
            _ => (Layer::Seccomp, None, true),
        };
        // Killed before the report is written (which may be slow): the caller cannot leave the
        // call meanwhile. It could only before the supervisor took the notification, or on a
        // kernel without WAIT_KILLABLE_RECV; then the call was not made, and the report says
        // the process was not killed.
        let killed = kill && kill_process_of(listener, &notification);
        if kill && !killed {
            reason = Some("the caller left the call (a signal) before it could be killed".into());
        }
        let denial = Denial {
            syscall,
            arch,
            nr,
            args,
            pid: notification.pid,
            exe,
            layer,
            errno,
            killed,
            reason,
            landlock: None,
        };
        stats.denied += 1;
        (self.sink)(&denial);
        let _ = sys::notif_send(listener, notification.id, Response::Fail(errno));
    }

    fn decide(
        &self,
        notification: &Notification,
        arch: Option<Arch>,
        name: Option<&str>,
    ) -> Decision {
        let data = &notification.data;
        let call = SeccompData {
            nr: data.nr as u32,
            arch: data.arch,
            instruction_pointer: data.instruction_pointer,
            args: data.args,
        };
        let verdict = nativeguard_seccomp::simulate(&self.original, &call);
        match Action::from_ret(verdict) {
            // Capped as the kernel caps a filter's errno (MAX_ERRNO): a larger value would
            // return to the caller as a non-error result.
            Some(Action::Errno(errno)) => Decision::Deny {
                errno: i32::from(errno).min(MAX_ERRNO),
                layer: Layer::Seccomp,
                reason: None,
            },
            Some(Action::KillProcess | Action::KillThread) => Decision::Kill,
            Some(Action::UserNotif) => match (name, &self.exec) {
                (Some("execve" | "execveat"), Some(allow_list)) => {
                    exec_decision(notification, arch, allow_list)
                }
                _ => Decision::Deny {
                    errno: libc::EPERM,
                    layer: Layer::Seccomp,
                    reason: Some(
                        "the policy sends this call to the supervisor, which never allows it"
                            .into(),
                    ),
                },
            },
            // Only errno, kill and user_notif verdicts are turned into notifications; anything
            // else reaching us is not ours to allow.
            other => Decision::Deny {
                errno: libc::EPERM,
                layer: Layer::Seccomp,
                reason: Some(format!("unexpected notification for a {other:?} verdict")),
            },
        }
    }
}

/// Decides an exec from the path it names. Reading the path is racy (another thread may
/// rewrite it after we look), which is why the answer can only ADD a denial: CONTINUE hands the
/// call back to the kernel, where Landlock enforces the same execute allow-list on the path
/// actually opened.
fn exec_decision(
    notification: &Notification,
    arch: Option<Arch>,
    allow_list: &ExecAllowList,
) -> Decision {
    let data = &notification.data;
    let memory = Memory::open(notification.pid, arch.unwrap_or(Arch::host()));
    let is_execveat =
        arch.and_then(|arch| syscalls::name(arch, data.nr as u32)) == Some("execveat");
    let (dirfd, path_address) = if is_execveat {
        (data.args[0] as u32 as i32, data.args[1])
    } else {
        (libc::AT_FDCWD, data.args[0])
    };
    let Some(raw) = memory.raw_string(path_address, MAX_EXEC_PATH) else {
        return Decision::FailQuietly(libc::EFAULT);
    };
    let pid = notification.pid;
    let path = Path::new(std::ffi::OsStr::from_bytes(&raw));
    let empty_path =
        is_execveat && raw.is_empty() && data.args[4] & libc::AT_EMPTY_PATH as u64 != 0;
    let base = if dirfd == libc::AT_FDCWD {
        std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
    } else {
        std::fs::read_link(format!("/proc/{pid}/fd/{dirfd}")).ok()
    };
    let target = if empty_path {
        base
    } else if path.is_absolute() {
        Some(path.to_path_buf())
    } else {
        base.map(|base| base.join(path))
    };
    let Some(target) = target.map(|target| in_callers_proc(&target, pid)) else {
        return Decision::FailQuietly(libc::ENOENT);
    };
    let resolved = std::fs::canonicalize(&target).and_then(|canonical| {
        let meta = std::fs::metadata(&canonical)?;
        Ok((canonical, (meta.dev(), meta.ino())))
    });
    let (canonical, identity) = match resolved {
        Ok(found) => found,
        // A memfd or deleted file has no path to resolve: never on the allow-list.
        Err(_) if target.to_string_lossy().starts_with("/memfd:") => {
            return Decision::Deny {
                errno: libc::EACCES,
                layer: Layer::Landlock,
                reason: Some(format!(
                    "{} is not on the Landlock execute allow-list",
                    target.display()
                )),
            }
        }
        Err(err) => return Decision::FailQuietly(err.raw_os_error().unwrap_or(libc::ENOENT)),
    };
    match allow_list.verdict(&canonical, Some(identity)) {
        ExecVerdict::Allowed => Decision::Continue,
        ExecVerdict::InterpreterNamedDirectly => Decision::Deny {
            errno: libc::EACCES,
            layer: Layer::Landlock,
            reason: Some(format!(
                "{} is allowed only as an interpreter, not as a program",
                canonical.display()
            )),
        },
        ExecVerdict::NotAllowed => Decision::Deny {
            errno: libc::EACCES,
            layer: Layer::Landlock,
            reason: Some(format!(
                "{} is not on the Landlock execute allow-list",
                canonical.display()
            )),
        },
    }
}

/// `target` with its `/proc/self`, `/proc/thread-self` or `/dev/fd` prefix naming the caller
/// (thread `tid`) instead of this process: `fexecve` without execveat runs
/// `/proc/self/fd/N`, which resolved here would be the supervisor's own fd N. (A symbolic link
/// elsewhere that points into `/proc/self` still resolves here; Landlock checks the file the
/// kernel opens in any case.)
fn in_callers_proc(target: &Path, tid: u32) -> std::path::PathBuf {
    let prefixes = [
        ("/proc/self", format!("/proc/{tid}")),
        ("/proc/thread-self", format!("/proc/{tid}/task/{tid}")),
        ("/dev/fd", format!("/proc/{tid}/fd")),
    ];
    for (prefix, callers) in prefixes {
        if let Ok(rest) = target.strip_prefix(prefix) {
            return Path::new(&callers).join(rest);
        }
    }
    target.to_path_buf()
}

/// Kills the whole process of the notified thread: through a pidfd of its thread-group leader,
/// opened and then confirmed with ID_VALID, so the signal cannot reach a process that reused
/// the pid. Whether SIGKILL was sent.
fn kill_process_of(listener: std::os::fd::BorrowedFd<'_>, notification: &Notification) -> bool {
    let tgid = std::fs::read_to_string(format!("/proc/{}/status", notification.pid))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Tgid:"))
                .and_then(|value| value.trim().parse::<u32>().ok())
        })
        .unwrap_or(notification.pid);
    match sys::pidfd_open(tgid) {
        Ok(pidfd) => {
            sys::notif_id_valid(listener, notification.id) && sys::pidfd_kill(pidfd.as_fd()).is_ok()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abis_from_audit_arch_and_x32_bit() {
        assert_eq!(abi_of(syscalls::AUDIT_ARCH_X86_64, 41), Some(Arch::X86_64));
        assert_eq!(
            abi_of(syscalls::AUDIT_ARCH_X86_64, syscalls::X32_SYSCALL_BIT | 41),
            Some(Arch::X32)
        );
        assert_eq!(abi_of(syscalls::AUDIT_ARCH_I386, 359), Some(Arch::I386));
        assert_eq!(abi_of(0x1234, 1), None);
    }

    #[test]
    fn proc_self_paths_name_the_caller() {
        let callers = |path: &str| in_callers_proc(Path::new(path), 42);
        assert_eq!(callers("/proc/self/fd/3"), Path::new("/proc/42/fd/3"));
        assert_eq!(callers("/proc/self/exe"), Path::new("/proc/42/exe"));
        assert_eq!(callers("/dev/fd/7"), Path::new("/proc/42/fd/7"));
        assert_eq!(
            callers("/proc/thread-self/fd/1"),
            Path::new("/proc/42/task/42/fd/1")
        );
        assert_eq!(callers("/proc/selfish/x"), Path::new("/proc/selfish/x"));
        assert_eq!(callers("/usr/bin/true"), Path::new("/usr/bin/true"));
    }
}
