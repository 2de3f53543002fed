//! # nativeguard-sandbox
//!
//! Runs one command under a seccomp filter and a Landlock ruleset, and reports every call the
//! seccomp policy denies — with its name and decoded arguments — through a
//! `SECCOMP_RET_USER_NOTIF` supervisor:
//! `denied socket(AF_NETLINK, SOCK_RAW, 0) pid 1234 /usr/bin/foo`.
//!
//! ## Data flow
//! ```text
//!  Policy (OCI JSON, nativeguard_seccomp) ──compile──▶ original program   (decides answers)
//!        └─ errno/kill actions → user_notif ──compile──▶ notifying program (loaded in the child)
//!  LandlockSpec (JSON, $CMD tokens) ──build_ruleset──▶ Ruleset fd + exec allow-list
//!
//!  parent                                     child (between fork and exec: sys::ChildPlan)
//!  ──────                                     ─────
//!  supervisor thread ◀── LISTENER_AT pid,fd ── PDEATHSIG(SIGKILL), no_new_privs,
//!    pidfd_getfd(listener)                      landlock_restrict_self,
//!    open the gate (shared page) ───────────▶  seccomp(TSYNC|NEW_LISTENER), spin on the
//!    serve: recv notif → simulate(original)     gate (no system call), exec
//!           → report → answer
//! ```
//!
//! * [`Sandbox::prepare`] checks every layer on this system, failing closed: a layer that
//!   cannot be applied (no Landlock, too old an ABI, seccomp blocked by an outer filter) is
//!   [`Error::LayerUnavailable`] unless the caller opted out of that layer by name
//!   ([`SandboxConfig::allow_missing`]).
//! * [`Sandbox::run`] spawns the command and gives each [`Denial`] to a sink as it happens,
//!   before the call is answered.
//! * [`landlock`]: the allow-list file format (read / write / execute / interpreters / TCP ports /
//!   explicit `unrestricted` rights) and ABI handling: every right the kernel's ABI knows is
//!   handled, so nothing is unrestricted without being named.
//! * [`audit`]: Landlock denials from the kernel's audit records (`AUDIT_LANDLOCK_ACCESS`
//!   with its event's `AUDIT_SYSCALL`), matched to the sandbox's own Landlock domain.
//! * [`decode`]: argument rendering (socket families and types, clone flags, mmap/mprotect
//!   protections, open flags, ptrace requests, memfd flags, exec paths and argv).
//!
//! ## How the supervisor answers, and why it is safe
//! Every syscall whose action in the user's policy is `errno` or `kill_*` (including the
//! default action, calls from ABIs outside the program and numbers newer than the tables) is
//! `user_notif` in the loaded program. For each notification the supervisor runs the ORIGINAL
//! compiled program on the call's registers (the seccomp crate's simulator) and answers:
//! * `errno(N)`: report, then fail the call with N.
//! * `kill_process` / `kill_thread`: SIGKILL the caller's whole process through a pidfd
//!   (confirmed with `SECCOMP_IOCTL_NOTIF_ID_VALID` so a reused pid is never hit), report,
//!   then fail the call: it never returns to user space. The filter is loaded with
//!   `WAIT_KILLABLE_RECV` (Linux 5.19+), so once the supervisor holds the notification no
//!   signal but a fatal one ends the caller's wait. A signal before that withdraws the
//!   notification: the call fails with EINTR, unmade, and the process lives. `kill_thread` is
//!   strengthened to killing the process (a half-killed process is a worse state to leave).
//! * `user_notif` written in the policy itself: fail with EPERM — except `execve`/`execveat`
//!   while the Landlock layer is active, see below. The supervisor never allows any other call.
//!
//! The answer depends only on registers, which the kernel captured before notifying: nothing
//! read from the caller's memory (which another thread may rewrite at any time) can turn a
//! denial into an allow. Memory is read for the report only.
//!
//! The one exception is exec. A Landlock denial of exec is a silent EACCES, so to report it
//! the hardening policy sends `execve`/`execveat` to `user_notif`; the supervisor reads the
//! path, resolves it, and checks it against the SAME execute allow-list the Landlock ruleset
//! enforces. Not allowed: report and fail with EACCES. Allowed: answer
//! `SECCOMP_USER_NOTIF_FLAG_CONTINUE`, which hands the call back to the kernel, where Landlock
//! checks the file actually opened. A thread that swaps the path after our look gains
//! nothing: the supervisor's look can only add denials, never grant. For the same reason a
//! policy that sends exec to the supervisor without an active Landlock layer is refused
//! ([`Error::Unsafe`]). The path is resolved as the caller sees it (`/proc/self/fd/N`, what
//! `fexecve` runs, names the caller's fd, not the supervisor's).
//!
//! The supervisor also denies a direct exec of an `interpreters` entry
//! (`/lib64/ld-linux-x86-64.so.2 /bin/true` would otherwise run any readable file, since
//! Landlock must let the kernel execute the loader). That rule is the supervisor's alone, on
//! the path it read: it stops a command line or a script that names the loader, but not code
//! already running in the sandbox, which can swap the path after the look, or map a readable
//! file executable itself (Landlock's execute right governs exec, not `mmap`). The execute
//! allow-list binds what a command may exec; it is not a boundary against code that runs.
//!
//! ## Failing closed
//! * The supervisor is a thread of the parent, outside every filter: the sandboxed code
//!   cannot block it. If it dies, its listener closes and every notified call fails with
//!   ENOSYS (the kernel's answer without a listener).
//! * The child arms `PR_SET_PDEATHSIG(SIGKILL)` first, so killing the sandbox kills the
//!   command. Its own children are not covered by that signal; they keep the filter and the
//!   Landlock domain, and with the listener gone their notified calls fail with ENOSYS.
//! * The child exposes its listener fd and waits for the supervisor to take it before exec
//!   (the fd is close-on-exec); a failed step stops the child before exec and names the
//!   step. The wait is a spin on a shared page, not a `recv`: between installing the filter
//!   and exec the child makes no filtered call but the exec, so a policy that does not allow
//!   the launcher's own calls (a learned profile has no `recvfrom`) reports no false denial.
//!   A supervisor that cannot take the listener kills the waiting child.
//! * Landlock denials of opens, writes and connects are not notified (Landlock has no
//!   user-space callback): those calls fail with EACCES in the kernel. Where the kernel's
//!   audit records are readable (root, Linux 6.15+), [`audit`] turns each of them into a
//!   [`Denial`] too (`denied openat "/etc/shadow" (fs.read_file) pid N /usr/bin/cat`),
//!   turning audit on for the run if it was off and back off afterwards, as the notes say.
//!   Elsewhere a note says they are enforced but not reported.
//!
//! ```
//! use nativeguard_sandbox::{Sandbox, SandboxConfig};
//! use nativeguard_seccomp::{Action, Policy, Rule};
//!
//! // Deny uname(2) with EPERM; everything else runs.
//! let policy = Policy {
//!     default_action: Action::Allow,
//!     rules: vec![Rule::new(&["uname"], Action::Errno(1))],
//!     ..Policy::default()
//! };
//! let config = SandboxConfig {
//!     policy,
//!     policy_path: "inline".into(),
//!     landlock: None,
//!     allow_missing: Vec::new(),
//!     command: vec!["uname".into()],
//! };
//! let sandbox = Sandbox::prepare(config)?;
//! let outcome = sandbox.run(Box::new(|denial| {
//!     // e.g. `denied uname(0x7ffd5b1e8a40)`
//!     assert_eq!(denial.syscall, "uname");
//!     assert_eq!(denial.errno, 1);
//! }))?;
//! assert_eq!(outcome.stats.denied, 1);
//! assert!(!outcome.status.success(), "uname fails when its syscall does");
//! # Ok::<(), nativeguard_sandbox::Error>(())
//! ```
#![deny(missing_docs)]

pub mod audit;
mod audit_session;
pub mod decode;
mod error;
pub mod interp;
pub mod landlock;
mod launch;
mod supervisor;
mod sys;

pub use audit_session::{audit_enabled, audit_switch_at_rest};
pub use error::{Error, Layer};
pub use launch::{notifying_policy, Outcome, Sandbox, SandboxConfig, HANDOVER_TIMEOUT};
pub use supervisor::{abi_of, Denial, DenialSink, SupervisorStats, MAX_EXEC_PATH};
