//! Preparing and running one sandboxed command: compile the two programs, build the Landlock
//! ruleset, spawn the child with its confinement steps, take its listener, supervise, wait.

use crate::audit_session::{self, deliver, AuditSession, SharedSink};
use crate::error::{Error, Layer};
use crate::landlock::{self, LandlockSpec, Ruleset, Tokens};
use crate::supervisor::{DenialSink, Supervisor, SupervisorStats};
use crate::sys::{self, message, ChildPlan, Step};
use nativeguard_seccomp::{Action, CompileOptions, Policy, Program, SeccompData};
use nativeguard_syscalls::{self as syscalls, Arch};
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the supervisor waits for the child to install its filter and expose the listener.
pub const HANDOVER_TIMEOUT: Duration = Duration::from_secs(10);

/// What to run and under which policy.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The seccomp policy as the user wrote it.
    pub policy: Policy,
    /// Where the policy came from (for messages).
    pub policy_path: PathBuf,
    /// The Landlock allow-list and its file, when that layer is requested.
    pub landlock: Option<(LandlockSpec, PathBuf)>,
    /// Layers the user accepts to run without when the system cannot apply them.
    pub allow_missing: Vec<Layer>,
    /// The command and its arguments.
    pub command: Vec<OsString>,
}

/// A command ready to run: programs compiled, ruleset built, layers checked.
pub struct Sandbox {
    program: PathBuf,
    argv: Vec<OsString>,
    original: Option<Program>,
    notifying: Option<Program>,
    seccomp_flags: u32,
    /// Flags of `seccomp_flags` the child may drop on a kernel that does not know them (ours,
    /// not the policy's).
    optional_seccomp_flags: u32,
    ruleset: Option<Ruleset>,
    /// Whether Landlock denials can be read from audit (the Landlock layer is active and we
    /// may use audit); the reason shown when not.
    landlock_audit: Result<(), String>,
    notes: Vec<String>,
}

/// How a sandboxed run ended.
#[derive(Debug)]
pub struct Outcome {
    /// The command's exit status.
    pub status: ExitStatus,
    /// What the supervisor saw.
    pub stats: SupervisorStats,
    /// Landlock denials reported from audit records (`None`: not read from audit).
    pub landlock_reported: Option<u64>,
    /// What the user should know about the run, known only at its end (audit records lost,
    /// audit switched back off).
    pub notes: Vec<String>,
}

/// The OCI `flags` this launcher honours, besides TSYNC which it always sets.
fn filter_flag(name: &str) -> Option<u32> {
    match name {
        "SECCOMP_FILTER_FLAG_TSYNC" => Some(nativeguard_seccomp::sys::FLAG_TSYNC),
        "SECCOMP_FILTER_FLAG_LOG" => Some(nativeguard_seccomp::sys::FLAG_LOG),
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => Some(nativeguard_seccomp::sys::FLAG_SPEC_ALLOW),
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => {
            Some(nativeguard_seccomp::sys::FLAG_WAIT_KILLABLE_RECV)
        }
        _ => None,
    }
}

/// Every action that fails or kills a call, turned into a notification so the supervisor can
/// report it and answer with the original action. Nothing else changes: allow, log, trap and
/// trace verdicts are the same in both programs.
fn notify_instead(action: Action) -> Action {
    match action {
        Action::Errno(_) | Action::KillProcess | Action::KillThread => Action::UserNotif,
        other => other,
    }
}

/// The policy and options whose program notifies wherever the original fails or kills.
pub fn notifying_policy(policy: &Policy, options: &CompileOptions) -> (Policy, CompileOptions) {
    let mut notifying = policy.clone();
    notifying.default_action = notify_instead(policy.default_action);
    for rule in &mut notifying.rules {
        rule.action = notify_instead(rule.action);
    }
    let mut notifying_options = options.clone();
    notifying_options.bad_arch_action = notify_instead(options.bad_arch_action);
    notifying_options.too_new_action = options.too_new_action.map(notify_instead);
    (notifying, notifying_options)
}

/// Finds `program` the way `execvp` would, so the exec allow-list names the exact file.
fn resolve_program(program: &Path) -> Result<PathBuf, Error> {
    let not_found = || Error::Command {
        program: program.to_path_buf(),
        source: io::ErrorKind::NotFound.into(),
    };
    let candidate = if program.as_os_str().as_encoded_bytes().contains(&b'/') {
        program.to_path_buf()
    } else {
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| {
                std::fs::metadata(candidate)
                    .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
            })
            .ok_or_else(not_found)?
    };
    std::fs::canonicalize(&candidate).map_err(|source| Error::Command {
        program: program.to_path_buf(),
        source,
    })
}

impl Sandbox {
    /// Checks every layer against this system and prepares them. Fails closed: a layer that
    /// cannot be applied is an error unless `config.allow_missing` names it.
    pub fn prepare(config: SandboxConfig) -> Result<Sandbox, Error> {
        let Some(first) = config.command.first() else {
            return Err(Error::Command {
                program: PathBuf::new(),
                source: io::ErrorKind::InvalidInput.into(),
            });
        };
        let program = resolve_program(Path::new(first))?;
        let mut notes = Vec::new();
        let allowed_missing = |layer: Layer| config.allow_missing.contains(&layer);

        let ruleset = match &config.landlock {
            None => None,
            Some((spec, spec_path)) => {
                let tokens = Tokens {
                    command: program.clone(),
                    interpreters: crate::interp::interpreters(&program)?,
                    working_directory: std::env::current_dir()
                        .and_then(std::fs::canonicalize)
                        .map_err(|source| Error::Read {
                            path: ".".into(),
                            source,
                        })?,
                };
                match landlock::build_ruleset(spec, &tokens, spec_path) {
                    Ok(ruleset) => {
                        notes.extend(ruleset.notes.iter().cloned());
                        Some(ruleset)
                    }
                    Err(landlock::BuildError::Spec(err)) => return Err(err),
                    Err(landlock::BuildError::Unavailable(reason))
                        if allowed_missing(Layer::Landlock) =>
                    {
                        notes.push(format!("running WITHOUT the landlock layer (--allow-missing landlock): {reason}"));
                        None
                    }
                    Err(landlock::BuildError::Unavailable(reason)) => {
                        return Err(Error::LayerUnavailable {
                            layer: Layer::Landlock,
                            reason,
                        })
                    }
                }
            }
        };

        // OCI semantics: the listed architectures are the ones allowed; calls through any
        // other ABI (`int 0x80` from a 64-bit process, x32) get the bad-arch action.
        let arches = if config.policy.arches.is_empty() {
            Arch::host_abis().to_vec()
        } else {
            config.policy.arches.clone()
        };
        let options = CompileOptions::default();
        let policy_error = |source| Error::Policy {
            path: config.policy_path.clone(),
            source,
        };
        let original = nativeguard_seccomp::compile(&config.policy, &arches, &options)
            .map_err(policy_error)?;
        let (notifying_policy, notifying_options) = notifying_policy(&config.policy, &options);
        let notifying =
            nativeguard_seccomp::compile(&notifying_policy, &arches, &notifying_options)
                .map_err(policy_error)?;
        let needs_listener = notifying.instructions.iter().any(|insn| {
            insn.code == nativeguard_seccomp::bpf::RET | nativeguard_seccomp::bpf::K
                && insn.k & nativeguard_seccomp::bpf::RET_ACTION_FULL == sys::SECCOMP_RET_USER_NOTIF
        });

        let mut seccomp_flags = nativeguard_seccomp::sys::FLAG_TSYNC;
        let mut optional_seccomp_flags = 0;
        for name in &config.policy.flags {
            seccomp_flags |= filter_flag(name).ok_or_else(|| {
                Error::Unsafe(format!(
                    "{}: unsupported seccomp flag {name}",
                    config.policy_path.display()
                ))
            })?;
        }
        if needs_listener {
            // WAIT_KILLABLE_RECV: a signal cannot end the caller's wait once the supervisor has
            // the notification, so a kill verdict kills and an errno verdict is what the call
            // returns (not EINTR). The child drops it on kernels before 5.19.
            let killable = nativeguard_seccomp::sys::FLAG_WAIT_KILLABLE_RECV;
            if seccomp_flags & killable == 0 {
                optional_seccomp_flags = killable;
            }
            seccomp_flags |= nativeguard_seccomp::sys::FLAG_NEW_LISTENER
                | sys::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
                | killable;
        }
        if config.policy.listener_path.is_some() {
            notes.push("the policy's listenerPath is ignored: nativeguard's own supervisor holds the listener".into());
        }

        let seccomp_ready = seccomp_available(needs_listener);
        let (original, notifying) = match seccomp_ready {
            Ok(()) => (Some(original), Some(notifying)),
            Err(reason) if allowed_missing(Layer::Seccomp) => {
                notes.push(format!(
                    "running WITHOUT the seccomp layer (--allow-missing seccomp): {reason}"
                ));
                (None, None)
            }
            Err(reason) => {
                return Err(Error::LayerUnavailable {
                    layer: Layer::Seccomp,
                    reason,
                })
            }
        };

        let landlock_audit = match &ruleset {
            None => Err("no Landlock layer".to_string()),
            Some(ruleset) => match audit_session::probe(ruleset.abi) {
                Ok(0) => {
                    notes.push(
                        "audit is off: the run turns it on to receive Landlock denials, and the last nativeguard run \
                         using it turns it back off (meanwhile the kernel also writes audit records to its log unless \
                         auditd runs)"
                            .into(),
                    );
                    Ok(())
                }
                Ok(_) => Ok(()),
                Err(reason) => {
                    notes.push(format!(
                        "landlock denials are enforced but cannot be reported: {reason}"
                    ));
                    Err(reason)
                }
            },
        };

        if ruleset.is_none() {
            if let Some(original) = &original {
                if let Some(arch) = exec_sent_to_supervisor(original, &arches) {
                    return Err(Error::Unsafe(format!(
                        "{}: the policy sends execve ({arch}) to user_notif; the supervisor lets an exec continue only \
                         while Landlock enforces the same execute allow-list in the kernel, and the landlock layer is \
                         not active (pass --landlock FILE)",
                        config.policy_path.display()
                    )));
                }
            }
        }

        Ok(Sandbox {
            program,
            argv: config.command,
            original,
            notifying,
            seccomp_flags,
            optional_seccomp_flags,
            ruleset,
            landlock_audit,
            notes,
        })
    }

    /// The resolved program that will be exec'd.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Messages for the user: layers skipped by request, allow-list paths skipped, rights a
    /// newer kernel knows.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Whether the Landlock layer will be applied.
    pub fn landlock_abi(&self) -> Option<u32> {
        self.ruleset.as_ref().map(|ruleset| ruleset.abi)
    }

    /// Runs the command, passing each denial to `sink` as it happens, and waits for it.
    /// Seccomp denials come from the supervisor; Landlock denials of opens, writes and
    /// connects from the kernel's audit records, when [`Sandbox::prepare`] found them
    /// readable (root): `notes` then says if audit had to be turned on.
    pub fn run(self, sink: DenialSink) -> Result<Outcome, Error> {
        let mut start_notes = Vec::new();
        let outcome = self.run_with_notes(sink, &mut start_notes);
        outcome.map(|mut outcome| {
            start_notes.append(&mut outcome.notes);
            outcome.notes = start_notes;
            outcome
        })
    }

    fn run_with_notes(self, sink: DenialSink, notes: &mut Vec<String>) -> Result<Outcome, Error> {
        let sink: SharedSink = Arc::new(Mutex::new(sink));
        let (parent_channel, child_channel) =
            sys::seqpacket_pair().map_err(|err| Error::Supervisor(format!("socketpair: {err}")))?;
        let (stop_reader, stop_writer) =
            io::pipe().map_err(|err| Error::Supervisor(format!("pipe: {err}")))?;
        let listening = self.notifying.is_some()
            && self.seccomp_flags & nativeguard_seccomp::sys::FLAG_NEW_LISTENER != 0;

        let mut command = Command::new(&self.program);
        command.args(self.argv.iter().skip(1));
        if let Some(first) = self.argv.first() {
            command.arg0(first);
        }
        let gate = Arc::new(
            sys::HandoverGate::new()
                .map_err(|err| Error::Supervisor(format!("mapping the handover gate: {err}")))?,
        );
        // Audit first: a denial before the reader listens would be lost.
        let audit = match (&self.ruleset, &self.landlock_audit) {
            (Some(_), Ok(())) => match AuditSession::start(gate.clone(), sink.clone()) {
                Ok(session) => Some(session),
                Err(reason) => {
                    notes.push(format!(
                        "landlock denials are enforced but cannot be reported: {reason}"
                    ));
                    None
                }
            },
            _ => None,
        };
        let plan = ChildPlan {
            filter: self.notifying.clone(),
            seccomp_flags: self.seccomp_flags,
            optional_seccomp_flags: self.optional_seccomp_flags,
            ruleset: self.ruleset.as_ref().map(|ruleset| ruleset.fd.as_raw_fd()),
            landlock_flags: if audit.is_some() {
                sys::LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON
            } else {
                0
            },
            channel: child_channel.as_raw_fd(),
            parent_pid: sys::own_pid(),
            gate: gate.child_word(),
        };
        plan.attach(&mut command);

        let supervisor = match (&self.original, listening) {
            (Some(original), true) => {
                let original = original.clone();
                let exec = self.ruleset.as_ref().map(|ruleset| ruleset.exec.clone());
                let channel = parent_channel
                    .try_clone()
                    .map_err(|err| Error::Supervisor(err.to_string()))?;
                let gate = gate.clone();
                let shared = sink.clone();
                let sink: DenialSink = Box::new(move |denial| deliver(&shared, denial));
                Some(std::thread::spawn(move || {
                    supervise(channel, &gate, original, exec, sink, stop_reader)
                }))
            }
            _ => None,
        };

        let spawned = command.spawn();
        drop(child_channel);
        let mut child = match spawned {
            Ok(child) => child,
            Err(source) => {
                drop(stop_writer);
                let handover = supervisor.map(|thread| thread.join());
                let child_step = match handover {
                    Some(Ok(Err(SuperviseError::ChildFailed(step, errno)))) => Some((step, errno)),
                    None => match sys::recv_message(parent_channel.as_fd()) {
                        Ok(Some([message::STEP_FAILED, step, errno, _])) => {
                            Some((step, errno as i32))
                        }
                        _ => None,
                    },
                    _ => None,
                };
                return Err(
                    match child_step.and_then(|(step, errno)| Some((Step::from_u32(step)?, errno)))
                    {
                        Some((step, errno)) => {
                            let busy = if step == Step::Seccomp && errno == libc::EBUSY {
                                " (this process already runs under a filter with a notification listener, e.g. another \
                             sandbox or a container supervisor; the kernel allows one listener per filter chain)"
                            } else {
                                ""
                            };
                            let layer_error = |layer: Layer| Error::LayerUnavailable {
                                layer,
                                reason: format!(
                                    "{}: {}{busy}",
                                    step_name(step),
                                    io::Error::from_raw_os_error(errno)
                                ),
                            };
                            match step {
                                Step::Landlock => layer_error(Layer::Landlock),
                                Step::Seccomp => layer_error(Layer::Seccomp),
                                _ => Error::Confine {
                                    step: step_name(step),
                                    source: io::Error::from_raw_os_error(errno),
                                },
                            }
                        }
                        None => Error::Spawn {
                            program: self.program.clone(),
                            source,
                        },
                    },
                );
            }
        };
        let status = child.wait().map_err(|source| Error::Spawn {
            program: self.program.clone(),
            source,
        });
        drop(stop_writer);
        let (landlock_reported, mut end_notes) = match audit {
            Some(session) => {
                let (reported, notes) = session.finish();
                (Some(reported), notes)
            }
            None => (None, Vec::new()),
        };
        let stats = match supervisor.map(|thread| thread.join()) {
            None => SupervisorStats::default(),
            Some(Ok(Ok(stats))) => stats,
            Some(Ok(Err(err))) => return Err(Error::Supervisor(err.to_string())),
            Some(Err(_)) => return Err(Error::Supervisor("the supervisor thread panicked".into())),
        };
        let mut notes = Vec::new();
        notes.append(&mut end_notes);
        Ok(Outcome {
            status: status?,
            stats,
            landlock_reported,
            notes,
        })
    }
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::ParentDeathSignal => "prctl(PR_SET_PDEATHSIG)",
        Step::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
        Step::Landlock => "landlock_restrict_self",
        Step::Seccomp => "seccomp(SECCOMP_SET_MODE_FILTER)",
        Step::Handover => "handing the listener to the supervisor",
    }
}

/// Checks that seccomp filters (and user notification, when needed) work here. An outer
/// sandbox that blocks `seccomp(2)` shows up here too.
fn seccomp_available(needs_listener: bool) -> Result<(), String> {
    let errno_available = sys::seccomp_action_available(nativeguard_seccomp::bpf::RET_ERRNO)
        .map_err(|err| format!("seccomp(SECCOMP_GET_ACTION_AVAIL): {err}"))?;
    if !errno_available {
        return Err("the kernel does not support SECCOMP_RET_ERRNO".into());
    }
    if needs_listener {
        let notif = sys::seccomp_action_available(sys::SECCOMP_RET_USER_NOTIF)
            .map_err(|err| format!("seccomp(SECCOMP_GET_ACTION_AVAIL): {err}"))?;
        if !notif {
            return Err(
                "the kernel does not support SECCOMP_RET_USER_NOTIF, which reports denials".into(),
            );
        }
        let sizes = sys::seccomp_notif_sizes_supported()
            .map_err(|err| format!("seccomp(SECCOMP_GET_NOTIF_SIZES): {err}"))?;
        if !sizes {
            return Err(
                "the kernel's notification structures are larger than this build knows".into(),
            );
        }
    }
    Ok(())
}

/// The first ABI on which the original policy sends a plain `execve` to user_notif.
fn exec_sent_to_supervisor(original: &Program, arches: &[Arch]) -> Option<Arch> {
    arches.iter().copied().find(|&arch| {
        ["execve", "execveat"].iter().any(|name| {
            syscalls::lookup(arch, name).is_some_and(|nr| {
                let verdict =
                    nativeguard_seccomp::simulate(original, &SeccompData::new(arch, nr, [0; 6]));
                Action::from_ret(verdict) == Some(Action::UserNotif)
            })
        })
    })
}

/// Why the supervisor thread ended early.
#[derive(Debug)]
enum SuperviseError {
    /// The child reported a failed confinement step.
    ChildFailed(u32, i32),
    /// Anything else.
    Other(String),
}

impl std::fmt::Display for SuperviseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SuperviseError::ChildFailed(step, errno) => {
                write!(
                    f,
                    "the child failed at step {step}: {}",
                    io::Error::from_raw_os_error(*errno)
                )
            }
            SuperviseError::Other(message) => f.write_str(message),
        }
    }
}

/// Kills the child unless it was released: a child spinning at the handover gate makes no
/// system call, so nothing but a signal ends it if the supervisor cannot take over (an error,
/// or a panic unwinding through this guard).
struct ReleaseOrKill<'a> {
    pidfd: &'a OwnedFd,
    released: bool,
}

impl Drop for ReleaseOrKill<'_> {
    fn drop(&mut self) {
        if !self.released {
            let _ = sys::pidfd_kill(self.pidfd.as_fd());
        }
    }
}

/// The supervisor thread: take the child's listener, release the child, serve.
fn supervise(
    channel: OwnedFd,
    gate: &sys::HandoverGate,
    original: Program,
    exec: Option<landlock::ExecAllowList>,
    sink: DenialSink,
    stop: io::PipeReader,
) -> Result<SupervisorStats, SuperviseError> {
    let other = |what: &str, err: io::Error| SuperviseError::Other(format!("{what}: {err}"));
    let (pid, fd) = match sys::recv_message(channel.as_fd())
        .map_err(|err| other("reading the launcher channel", err))?
    {
        Some([message::LISTENER_AT, pid, fd, _]) => (pid, fd as i32),
        Some([message::STEP_FAILED, step, errno, _]) => {
            return Err(SuperviseError::ChildFailed(step, errno as i32))
        }
        Some(unexpected) => {
            return Err(SuperviseError::Other(format!(
                "unexpected launcher message {unexpected:?}"
            )))
        }
        // The child failed before reaching the handover (e.g. the pre-exec steps were skipped).
        None => return Ok(SupervisorStats::default()),
    };
    // The child sent LISTENER_AT just before installing its filter and cannot have been
    // reaped yet: it either waits at the gate or reports a failed step first.
    let pidfd = sys::pidfd_open(pid).map_err(|err| {
        // Without a pidfd the guard below cannot stop a child spinning at the gate. ESRCH:
        // it is gone already. Otherwise it is still our unreaped child (only the spawning
        // thread reaps, after the child execs or dies), so its pid is still its own.
        if err.raw_os_error() != Some(libc::ESRCH) {
            sys::kill_unreaped_child(pid);
        }
        other("pidfd_open(child)", err)
    })?;
    let mut guard = ReleaseOrKill {
        pidfd: &pidfd,
        released: false,
    };
    let started = Instant::now();
    let listener = loop {
        match sys::pidfd_getfd(pidfd.as_fd(), fd) {
            Ok(listener) => break listener,
            // The filter is not installed yet; the child may also have failed installing it.
            Err(err) => {
                // The child may have failed installing the filter: its report is more precise.
                if let Ok(Some(failure)) = peek_failure(&channel) {
                    // It stops before the gate on its own; nothing to kill.
                    guard.released = true;
                    return Err(failure);
                }
                // EBADF: the filter is not installed yet.
                if err.raw_os_error() == Some(libc::EBADF) && started.elapsed() < HANDOVER_TIMEOUT {
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                return Err(other("pidfd_getfd(child listener)", err));
            }
        }
    };
    let target =
        sys::fd_target(listener.as_fd()).map_err(|err| other("inspecting the listener", err))?;
    if target.as_os_str() != "anon_inode:seccomp notify" {
        return Err(SuperviseError::Other(format!(
            "fd {fd} of the child is {}, not a seccomp listener; the child was killed",
            target.display()
        )));
    }
    // Release the child: it waits for this before exec, because its copy of the listener is
    // close-on-exec.
    gate.open();
    guard.released = true;
    drop(channel);
    let supervisor = Supervisor {
        listener,
        original,
        exec,
        sink,
    };
    supervisor
        .serve(stop)
        .map_err(|err| other("serving notifications", err))
}

/// A STEP_FAILED message already waiting on the channel (non-blocking).
fn peek_failure(channel: &OwnedFd) -> io::Result<Option<SuperviseError>> {
    let ready = sys::poll_two(channel.as_fd(), channel.as_fd(), 0)?;
    if !ready.first_readable {
        return Ok(None);
    }
    Ok(match sys::recv_message(channel.as_fd())? {
        Some([message::STEP_FAILED, step, errno, _]) => {
            Some(SuperviseError::ChildFailed(step, errno as i32))
        }
        _ => None,
    })
}
