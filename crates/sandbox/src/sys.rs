//! Every system call the sandbox makes that the standard library does not wrap: Landlock,
//! seccomp (filter install, user-notification ioctls), pidfds, a SOCK_SEQPACKET channel, and
//! the confinement steps that run in the forked child between `fork` and `exec`.
//!
//! All `unsafe` of the crate lives here. Each block says why it is sound. Functions that run in
//! the forked child (`ChildPlan::confine`) are async-signal-safe: raw system calls on memory
//! prepared by the parent before the fork, no allocation, no locks.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// `struct seccomp_data` (include/uapi/linux/seccomp.h): what a filter and a notification see.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeccompData {
    /// System call number as the task passed it (x32 calls carry the 0x4000_0000 bit).
    pub nr: i32,
    /// AUDIT_ARCH_* value of the calling convention.
    pub arch: u32,
    /// Instruction pointer at the time of the call.
    pub instruction_pointer: u64,
    /// The six argument registers, untruncated.
    pub args: [u64; 6],
}

/// `struct seccomp_notif`.
#[repr(C)]
#[derive(Default)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

/// `struct seccomp_notif_resp`.
#[repr(C)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// `struct seccomp_notif_sizes`.
#[repr(C)]
#[derive(Default)]
struct SeccompNotifSizes {
    seccomp_notif: u16,
    seccomp_notif_resp: u16,
    seccomp_data: u16,
}

/// `struct landlock_ruleset_attr` (all three fields; the size passed tells the kernel which).
#[repr(C)]
struct LandlockRulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

/// `struct landlock_path_beneath_attr` is packed in the UAPI header.
#[repr(C, packed)]
struct LandlockPathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// `struct landlock_net_port_attr`.
#[repr(C)]
struct LandlockNetPortAttr {
    allowed_access: u64,
    port: u64,
}

const SECCOMP_GET_ACTION_AVAIL: libc::c_uint = 2;
const SECCOMP_GET_NOTIF_SIZES: libc::c_uint = 3;
/// Report TSYNC failure as ESRCH so the return value can be the listener fd (required with
/// NEW_LISTENER).
pub const SECCOMP_FILTER_FLAG_TSYNC_ESRCH: u32 = 1 << 4;
const SECCOMP_USER_NOTIF_FLAG_CONTINUE: u32 = 1;
/// `SECCOMP_RET_USER_NOTIF`.
pub const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;

// _IOWR('!', 0, struct seccomp_notif), _IOWR('!', 1, struct seccomp_notif_resp),
// _IOW('!', 2, __u64): direction << 30 | size << 16 | '!' << 8 | nr.
const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;
const SECCOMP_IOCTL_NOTIF_ID_VALID: libc::c_ulong = 0x4008_2102;

const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
/// Log the domain's denials after an `execve` too (ABI 7): by default only those of the
/// program that restricted itself are, which would be none of the command's.
pub const LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON: u32 = 1 << 1;
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;
const LANDLOCK_RULE_NET_PORT: libc::c_int = 2;

const _: () = assert!(std::mem::size_of::<SeccompData>() == 64);
const _: () = assert!(std::mem::size_of::<SeccompNotif>() == 80);
const _: () = assert!(std::mem::size_of::<SeccompNotifResp>() == 24);
const _: () = assert!(std::mem::size_of::<LandlockPathBeneathAttr>() == 12);

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Takes ownership of a file descriptor a successful system call just returned.
fn owned_fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = RawFd::try_from(check(ret)?).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The highest Landlock ABI the running kernel supports (`Err` with ENOSYS/EOPNOTSUPP when
/// Landlock is not built in or disabled at boot).
pub fn landlock_abi() -> io::Result<u32> {
    // SAFETY: the VERSION query takes no attribute pointer (NULL, size 0).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<LandlockRulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    Ok(u32::try_from(check(ret)?).unwrap_or(0))
}

/// Creates a Landlock ruleset. `abi` selects the attribute size the kernel is told about, so a
/// kernel that predates the net or scope fields still accepts it.
pub fn landlock_create_ruleset(
    handled_fs: u64,
    handled_net: u64,
    scoped: u64,
    abi: u32,
) -> io::Result<OwnedFd> {
    let attr = LandlockRulesetAttr {
        handled_access_fs: handled_fs,
        handled_access_net: handled_net,
        scoped,
    };
    let size = match abi {
        0..=3 => 8usize,
        4 | 5 => 16,
        _ => std::mem::size_of::<LandlockRulesetAttr>(),
    };
    // SAFETY: `attr` is a valid, initialised struct at least `size` bytes long that outlives
    // the call.
    let ret = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, &attr, size, 0u32) };
    owned_fd(ret)
}

/// Adds a path-beneath rule: `allowed` access to the file or hierarchy `parent` refers to.
pub fn landlock_add_path_rule(
    ruleset: BorrowedFd<'_>,
    allowed: u64,
    parent: BorrowedFd<'_>,
) -> io::Result<()> {
    let attr = LandlockPathBeneathAttr {
        allowed_access: allowed,
        parent_fd: parent.as_raw_fd(),
    };
    // SAFETY: `attr` is valid for the duration of the call; both fds are borrowed open fds.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            LANDLOCK_RULE_PATH_BENEATH,
            &attr,
            0u32,
        )
    };
    check(ret).map(drop)
}

/// Adds a TCP port rule.
pub fn landlock_add_net_rule(ruleset: BorrowedFd<'_>, allowed: u64, port: u16) -> io::Result<()> {
    let attr = LandlockNetPortAttr {
        allowed_access: allowed,
        port: u64::from(port),
    };
    // SAFETY: `attr` is valid for the duration of the call; `ruleset` is a borrowed open fd.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            LANDLOCK_RULE_NET_PORT,
            &attr,
            0u32,
        )
    };
    check(ret).map(drop)
}

/// Whether the kernel supports a seccomp return action (`SECCOMP_GET_ACTION_AVAIL`).
/// `Err` means seccomp itself is unavailable (or blocked by an outer filter).
pub fn seccomp_action_available(action: u32) -> io::Result<bool> {
    // SAFETY: the kernel reads one u32 from the pointer, which is valid for the call.
    let ret = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0u32, &action) };
    match check(ret) {
        Ok(_) => Ok(true),
        Err(err) if err.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Checks that the kernel's notification structures are no larger than ours (a larger kernel
/// struct would mean fields we do not zero or read).
pub fn seccomp_notif_sizes_supported() -> io::Result<bool> {
    let mut sizes = SeccompNotifSizes::default();
    // SAFETY: the kernel writes a `struct seccomp_notif_sizes` into `sizes`, which is valid and
    // exactly that layout.
    let ret =
        unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0u32, &mut sizes) };
    check(ret)?;
    Ok(
        usize::from(sizes.seccomp_notif) <= std::mem::size_of::<SeccompNotif>()
            && usize::from(sizes.seccomp_notif_resp) <= std::mem::size_of::<SeccompNotifResp>()
            && usize::from(sizes.seccomp_data) <= std::mem::size_of::<SeccompData>(),
    )
}

/// One user notification, copied out of the kernel.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    /// Cookie identifying this notification (for ID_VALID and the response).
    pub id: u64,
    /// Thread id of the caller, in the supervisor's pid namespace.
    pub pid: u32,
    /// The call.
    pub data: SeccompData,
}

/// Receives one notification (blocks until one is pending). ENOENT means the caller went away
/// between poll and receive.
pub fn notif_recv(listener: BorrowedFd<'_>) -> io::Result<Notification> {
    // The kernel requires the buffer to be zeroed.
    let mut notif = SeccompNotif::default();
    // SAFETY: `notif` is a zeroed `struct seccomp_notif` of the size encoded in the ioctl
    // number; the kernel writes into it and nothing else.
    let ret = unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut notif) };
    check(ret.into())?;
    Ok(Notification {
        id: notif.id,
        pid: notif.pid,
        data: notif.data,
    })
}

/// How the supervisor answers a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// Fail the call with this errno (positive value).
    Fail(i32),
    /// Let the kernel carry out the call (used only for exec, which Landlock still mediates).
    Continue,
}

/// Sends the answer to a notification. ENOENT means the caller is gone (killed or
/// interrupted); the caller treats that as done.
pub fn notif_send(listener: BorrowedFd<'_>, id: u64, response: Response) -> io::Result<()> {
    let resp = match response {
        Response::Fail(errno) => SeccompNotifResp {
            id,
            val: 0,
            error: -errno,
            flags: 0,
        },
        Response::Continue => SeccompNotifResp {
            id,
            val: 0,
            error: 0,
            flags: SECCOMP_USER_NOTIF_FLAG_CONTINUE,
        },
    };
    // SAFETY: `resp` is a valid `struct seccomp_notif_resp`; the kernel only reads it.
    let ret = unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    check(ret.into()).map(drop)
}

/// Whether notification `id` is still pending (its caller alive and still blocked). Checked
/// after reading the caller's memory or /proc entries so the report names the right process.
pub fn notif_id_valid(listener: BorrowedFd<'_>, id: u64) -> bool {
    // SAFETY: the kernel reads one u64 from the pointer, valid for the call.
    let ret = unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) };
    ret == 0
}

/// `pidfd_open(pid, 0)`.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
    owned_fd(ret)
}

/// `pidfd_getfd(pidfd, target_fd, 0)`: duplicates another process's fd into ours.
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, target_fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target_fd, 0u32) };
    owned_fd(ret)
}

/// `pidfd_send_signal(pidfd, SIGKILL, NULL, 0)`.
pub fn pidfd_kill(pidfd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: integer arguments and a NULL siginfo, which the call accepts.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    check(ret).map(drop)
}

/// `kill(pid, SIGKILL)`, for a child of ours that cannot have been reaped yet (the caller
/// guarantees it; a pidfd is the safe way otherwise).
pub fn kill_unreaped_child(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        if pid > 0 {
            // SAFETY: integer arguments; a positive pid names one process, never a group.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Readiness of the two fds `poll_two` watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ready {
    /// The first fd has data.
    pub first_readable: bool,
    /// The first fd hung up or errored.
    pub first_closed: bool,
    /// The second fd is readable or hung up.
    pub second: bool,
}

/// Waits until `first` or `second` is ready, or `timeout_ms` (-1: forever) passes.
pub fn poll_two(
    first: BorrowedFd<'_>,
    second: BorrowedFd<'_>,
    timeout_ms: i32,
) -> io::Result<Ready> {
    let mut fds = [
        libc::pollfd {
            fd: first.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: second.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `fds` is a valid array of two pollfd for the duration of the call.
    let ret = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR) {
            return Ok(Ready::default());
        }
        return Err(err);
    }
    Ok(Ready {
        first_readable: fds[0].revents & libc::POLLIN != 0,
        first_closed: fds[0].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
        second: fds[1].revents != 0,
    })
}

/// A connected pair of close-on-exec SOCK_SEQPACKET sockets (message boundaries kept).
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two fds the kernel writes.
    let ret = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    check(ret.into())?;
    // SAFETY: both fds were just created for us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A message on the launcher channel: four u32 (kind, then up to three values).
pub type Message = [u32; 4];

/// Receives one channel message; `Ok(None)` when the peer closed its end.
pub fn recv_message(fd: BorrowedFd<'_>) -> io::Result<Option<Message>> {
    let mut message: Message = [0; 4];
    loop {
        // SAFETY: `message` is a writable buffer of the size passed.
        let ret = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                message.as_mut_ptr().cast(),
                std::mem::size_of::<Message>(),
                0,
            )
        };
        if ret < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        if ret == 0 {
            return Ok(None);
        }
        if usize::try_from(ret).ok() != Some(std::mem::size_of::<Message>()) {
            return Err(io::Error::from_raw_os_error(libc::EPROTO));
        }
        return Ok(Some(message));
    }
}

/// Sends one channel message (async-signal-safe: also used in the forked child).
pub fn send_message(fd: RawFd, message: &Message) -> io::Result<()> {
    // SAFETY: `message` is a readable buffer of the size passed. MSG_NOSIGNAL: a closed peer
    // must give EPIPE, not kill us.
    let ret = unsafe {
        libc::send(
            fd,
            message.as_ptr().cast(),
            std::mem::size_of::<Message>(),
            libc::MSG_NOSIGNAL,
        )
    };
    check(ret as libc::c_long).map(drop)
}

/// The word the child waits on between installing its filter and exec: one page of shared
/// anonymous memory, inherited by the forked child. The parent sets it once the supervisor
/// holds the listener.
///
/// Why memory and not a message: any system call the child made after installing the filter
/// is itself filtered, so waiting with `recv` on the channel would be notified — and reported
/// as a denial of the launcher's own call — whenever the policy does not allow `recvfrom`
/// (learned profiles rightly do not). Spinning on shared memory makes no call at all: between
/// the filter and exec the only filtered call is the exec itself. The wait is short (the
/// supervisor is already polling for the listener when the child installs its filter), and
/// it cannot outlive a failed supervisor: every path that does not release the child kills it.
pub struct HandoverGate {
    words: std::ptr::NonNull<GateWords>,
}

/// The shared page's layout.
#[repr(C)]
struct GateWords {
    /// GATE_OPEN once the supervisor holds the listener.
    open: std::sync::atomic::AtomicU32,
    /// The child's pid, written by the child before it confines itself (0 until then): the
    /// audit reader matches Landlock domains to it before `spawn` has returned.
    child_pid: std::sync::atomic::AtomicU32,
}

// SAFETY: the gate is a pointer to an atomic in a mapping that lives as long as the gate;
// every access goes through the atomic.
unsafe impl Send for HandoverGate {}
// SAFETY: as above; shared access is only atomic loads and stores.
unsafe impl Sync for HandoverGate {}

/// The gate's word once the supervisor holds the listener (the fresh page reads 0: closed).
const GATE_OPEN: u32 = 1;

impl HandoverGate {
    /// Maps the shared page (closed).
    pub fn new() -> io::Result<HandoverGate> {
        // SAFETY: a fresh anonymous shared mapping; no existing memory is touched.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page_size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // The kernel zero-fills the page: closed, no pid. Page alignment satisfies
        // AtomicU32's.
        std::ptr::NonNull::new(address.cast())
            .map(|words| HandoverGate { words })
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))
    }

    fn words(&self) -> &GateWords {
        // SAFETY: the mapping is valid, aligned and zero-initialised until `drop` unmaps it.
        unsafe { self.words.as_ref() }
    }

    /// Lets the child go on to exec (the supervisor holds the listener).
    pub fn open(&self) {
        self.words()
            .open
            .store(GATE_OPEN, std::sync::atomic::Ordering::Release);
    }

    /// The child's pid once it has started confining itself.
    pub fn child_pid(&self) -> Option<u32> {
        match self
            .words()
            .child_pid
            .load(std::sync::atomic::Ordering::Acquire)
        {
            0 => None,
            pid => Some(pid),
        }
    }

    /// What the forked child uses: its copy of the mapping is at the same address.
    pub fn child_word(&self) -> GateWord {
        GateWord(self.words.as_ptr() as usize)
    }
}

impl Drop for HandoverGate {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the page `new` mapped; no reference to it outlives `self`.
        unsafe { libc::munmap(self.words.as_ptr().cast(), page_size()) };
    }
}

/// The address of a [`HandoverGate`]'s word, for the child (made only by
/// [`HandoverGate::child_word`], so it always points into a live shared mapping at fork time).
#[derive(Debug, Clone, Copy)]
pub struct GateWord(usize);

fn page_size() -> usize {
    // SAFETY: sysconf with a valid name has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

/// Channel message kinds (first word of a [`Message`]). The channel runs one way, child to
/// parent: after the filter is installed the child makes no call but exec (see [`HandoverGate`]).
pub mod message {
    /// Child -> parent: `[LISTENER_AT, pid, fd, 0]`, sent just before installing the filter:
    /// the listener will be `fd` in process `pid`.
    pub const LISTENER_AT: u32 = 1;
    /// Child -> parent: `[STEP_FAILED, step, errno, 0]`; the child then fails to start.
    pub const STEP_FAILED: u32 = 2;
}

/// Confinement steps, in the order the child runs them (values of `STEP_FAILED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    /// `prctl(PR_SET_PDEATHSIG, SIGKILL)` and the check that the parent is still there.
    ParentDeathSignal = 1,
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
    NoNewPrivs = 2,
    /// `landlock_restrict_self`.
    Landlock = 3,
    /// `seccomp(SECCOMP_SET_MODE_FILTER, ...)`.
    Seccomp = 4,
    /// Handing the listener to the supervisor.
    Handover = 5,
}

impl Step {
    /// The step a `STEP_FAILED` message names.
    pub fn from_u32(value: u32) -> Option<Step> {
        [
            Step::ParentDeathSignal,
            Step::NoNewPrivs,
            Step::Landlock,
            Step::Seccomp,
            Step::Handover,
        ]
        .into_iter()
        .find(|step| *step as u32 == value)
    }
}

/// Everything the child needs between fork and exec, prepared by the parent.
pub struct ChildPlan {
    /// The seccomp program, already verified by the compiler (none when the user accepted
    /// running without the seccomp layer).
    pub filter: Option<nativeguard_seccomp::Program>,
    /// SECCOMP_FILTER_FLAG_* to install with.
    pub seccomp_flags: u32,
    /// Those of `seccomp_flags` to drop and try again without when the kernel refuses them
    /// (EINVAL): the launcher's own, never the policy's.
    pub optional_seccomp_flags: u32,
    /// Landlock ruleset to restrict to, when that layer applies.
    pub ruleset: Option<RawFd>,
    /// `landlock_restrict_self` flags ([`LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON`] while the
    /// audit reader listens).
    pub landlock_flags: u32,
    /// Child's end of the launcher channel.
    pub channel: RawFd,
    /// Our pid: the child checks it is still its parent after arming the death signal.
    pub parent_pid: libc::pid_t,
    /// The gate the child waits on after installing a filter with a listener.
    pub gate: GateWord,
}

impl ChildPlan {
    /// Registers the confinement steps to run in the child of `command` before exec.
    pub fn attach(self, command: &mut Command) {
        // SAFETY: `confine` only makes raw system calls on memory owned by the moved plan
        // (copied into the child by fork): no allocation, no locks, so it is async-signal-safe
        // as `pre_exec` requires.
        unsafe {
            command.pre_exec(move || self.confine());
        }
    }

    fn fail(&self, step: Step, err: io::Error) -> io::Error {
        let errno = err.raw_os_error().unwrap_or(libc::EIO);
        // Best effort: if the report cannot be sent, the spawn error still carries the errno.
        let _ = send_message(
            self.channel,
            &[message::STEP_FAILED, step as u32, errno as u32, 0],
        );
        err
    }

    /// Runs in the forked child. Order matters: the death signal first (so an early parent
    /// death cannot leave a confined orphan running), Landlock before seccomp (the filter may
    /// deny the Landlock calls), and the listener handover last.
    fn confine(&self) -> io::Result<()> {
        // SAFETY (whole function): each call is a raw system call with integer arguments or
        // pointers into `self`, which lives until exec.
        unsafe {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(self.fail(Step::ParentDeathSignal, io::Error::last_os_error()));
            }
            if libc::getppid() != self.parent_pid {
                return Err(self.fail(
                    Step::ParentDeathSignal,
                    io::Error::from_raw_os_error(libc::ESRCH),
                ));
            }
            // The forked child has its own mapping of the shared page at the address the
            // parent's gate had at fork time (GateWord is only made from a live gate).
            let words = &*(self.gate.0 as *const GateWords);
            words
                .child_pid
                .store(libc::getpid() as u32, std::sync::atomic::Ordering::Release);
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(self.fail(Step::NoNewPrivs, io::Error::last_os_error()));
            }
            if let Some(ruleset) = self.ruleset {
                if libc::syscall(
                    libc::SYS_landlock_restrict_self,
                    ruleset,
                    self.landlock_flags,
                ) != 0
                {
                    return Err(self.fail(Step::Landlock, io::Error::last_os_error()));
                }
            }
            let listening = self.filter.is_some()
                && self.seccomp_flags & nativeguard_seccomp::sys::FLAG_NEW_LISTENER != 0;
            if listening {
                // The listener will take the lowest free fd; learn it now, while no filter can
                // get in the way of telling the parent.
                let probe = libc::fcntl(self.channel, libc::F_DUPFD, 0);
                if probe < 0 {
                    return Err(self.fail(Step::Handover, io::Error::last_os_error()));
                }
                libc::close(probe);
                let message = [message::LISTENER_AT, libc::getpid() as u32, probe as u32, 0];
                if let Err(err) = send_message(self.channel, &message) {
                    return Err(self.fail(Step::Handover, err));
                }
            }
            if let Some(filter) = &self.filter {
                // The seccomp crate's loader, which allocates nothing. The listener it returns
                // must stay open until the supervisor has taken its copy: leak it into a raw
                // fd (it is close-on-exec).
                let optional = self.optional_seccomp_flags;
                let installed = match nativeguard_seccomp::sys::install(filter, self.seccomp_flags)
                {
                    // A kernel before 5.19 does not know WAIT_KILLABLE_RECV.
                    Err(err) if err.raw_os_error() == Some(libc::EINVAL) && optional != 0 => {
                        nativeguard_seccomp::sys::install(filter, self.seccomp_flags & !optional)
                    }
                    other => other,
                };
                match installed {
                    Ok(listener) => {
                        let _ = listener.map(std::os::fd::IntoRawFd::into_raw_fd);
                    }
                    Err(err) => return Err(self.fail(Step::Seccomp, err)),
                }
            }
            if listening {
                // Wait until the supervisor holds the listener: the fd is close-on-exec, so an
                // exec before the handover would leave every notified call failing with ENOSYS.
                // No system call here (see HandoverGate): spin on the shared word.
                while words.open.load(std::sync::atomic::Ordering::Acquire) != GATE_OPEN {
                    std::hint::spin_loop();
                }
            }
        }
        Ok(())
    }
}

/// Identifies the file behind one of our fds, for checking what `pidfd_getfd` returned.
pub fn fd_target(fd: BorrowedFd<'_>) -> io::Result<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Our own pid.
pub fn own_pid() -> libc::pid_t {
    std::process::id() as libc::pid_t
}

/// `NETLINK_AUDIT`.
const NETLINK_AUDIT: libc::c_int = 9;
/// `AUDIT_NLGRP_READLOG`: the multicast group every audit record is copied to (needs
/// CAP_AUDIT_READ).
const AUDIT_NLGRP_READLOG: u32 = 1;
/// `AUDIT_GET` / `AUDIT_SET` message types.
const AUDIT_GET: u16 = 1000;
const AUDIT_SET: u16 = 1001;
/// `AUDIT_TRUSTED_APP`: a free-text message from a trusted application.
pub const AUDIT_TRUSTED_APP: u16 = 1121;
/// `AUDIT_STATUS_ENABLED` / `AUDIT_STATUS_BACKLOG_LIMIT`: the field of `struct audit_status`
/// an AUDIT_SET changes.
const AUDIT_STATUS_ENABLED: u32 = 0x1;
const AUDIT_STATUS_BACKLOG_LIMIT: u32 = 0x10;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
/// Datagrams read per wake-up of the audit reader at most.
const AUDIT_BATCH_DATAGRAMS: usize = 256;
/// The receive buffer asked for on the multicast socket, so a burst of records is not lost
/// while the reader thread is descheduled.
const AUDIT_RECEIVE_BUFFER: libc::c_int = 4 << 20;
/// The largest netlink datagram read (`MAX_AUDIT_MESSAGE_LENGTH` is 8970 bytes): the size
/// of the buffer [`AuditSocket::read_records`] callers pass.
pub const AUDIT_BUFFER_BYTES: usize = 16 * 1024;

/// `struct nlmsghdr`.
#[repr(C)]
#[derive(Clone, Copy)]
struct NlMsgHdr {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

const _: () = assert!(std::mem::size_of::<NlMsgHdr>() == 16);

/// What `AUDIT_GET` reports that the sandbox uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditStatus {
    /// 0 disabled, 1 enabled, 2 enabled and locked until reboot.
    pub enabled: u32,
    /// Records queued before new ones are dropped (0: no limit).
    pub backlog_limit: u32,
    /// Records the kernel dropped (backlog full, no memory) since boot.
    pub lost: u32,
}

/// A `NETLINK_AUDIT` socket.
pub struct AuditSocket {
    fd: OwnedFd,
}

impl AsFd for AuditSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AuditSocket {
    fn open(groups: u32) -> io::Result<AuditSocket> {
        // SAFETY: integer arguments.
        let ret = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_AUDIT,
            )
        };
        let fd = owned_fd(ret.into())?;
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
        let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        address.nl_groups = groups;
        // SAFETY: `address` is a valid sockaddr_nl of the size passed.
        let ret = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&address as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        check(ret.into())?;
        Ok(AuditSocket { fd })
    }

    /// A socket for AUDIT_GET / AUDIT_SET requests.
    pub fn control() -> io::Result<AuditSocket> {
        AuditSocket::open(0)
    }

    /// A socket subscribed to every audit record the kernel emits (EPERM without
    /// CAP_AUDIT_READ), with a large receive buffer.
    pub fn read_log() -> io::Result<AuditSocket> {
        let socket = AuditSocket::open(AUDIT_NLGRP_READLOG)?;
        for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: a valid int option value of the size passed.
            let ret = unsafe {
                libc::setsockopt(
                    socket.fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    option,
                    (&AUDIT_RECEIVE_BUFFER as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            // FORCE needs CAP_NET_ADMIN; the plain option is capped by rmem_max.
            if ret == 0 {
                break;
            }
        }
        Ok(socket)
    }

    fn request(&self, kind: u16, flags: u16, payload: &[u8]) -> io::Result<()> {
        let header = NlMsgHdr {
            len: (std::mem::size_of::<NlMsgHdr>() + payload.len()) as u32,
            kind,
            flags,
            seq: 1,
            pid: 0,
        };
        let mut message = Vec::with_capacity(header.len as usize);
        message.extend_from_slice(&header.len.to_ne_bytes());
        message.extend_from_slice(&header.kind.to_ne_bytes());
        message.extend_from_slice(&header.flags.to_ne_bytes());
        message.extend_from_slice(&header.seq.to_ne_bytes());
        message.extend_from_slice(&header.pid.to_ne_bytes());
        message.extend_from_slice(payload);
        // SAFETY: `message` is a readable buffer of the length passed; a zeroed destination
        // address (the kernel) is the default of an unconnected netlink socket.
        let ret = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                message.as_ptr().cast(),
                message.len(),
                0,
            )
        };
        check(ret as libc::c_long).map(drop)
    }

    /// Reads one datagram into `buffer` (waiting at most `timeout_ms`); `Ok(0)` on timeout.
    fn receive(&self, buffer: &mut [u8], timeout_ms: i32) -> io::Result<usize> {
        let mut poll = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, timeout_ms) };
        if ready < 0 {
            let err = io::Error::last_os_error();
            return if err.raw_os_error() == Some(libc::EINTR) {
                Ok(0)
            } else {
                Err(err)
            };
        }
        if ready == 0 {
            return Ok(0);
        }
        // SAFETY: `buffer` is writable for its length.
        let ret = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
            )
        };
        check(ret as libc::c_long).map(|n| n as usize)
    }

    /// The first reply to a request: the AUDIT_GET status, or an error.
    fn reply(&self, expected: u16) -> io::Result<Vec<u8>> {
        let mut buffer = vec![0u8; AUDIT_BUFFER_BYTES];
        for _ in 0..16 {
            let length = self.receive(&mut buffer, 1000)?;
            if length == 0 {
                return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
            }
            for (kind, payload) in netlink_messages(&buffer[..length]) {
                if kind == NLMSG_ERROR {
                    let code = payload
                        .get(..4)
                        .and_then(|bytes| bytes.try_into().ok())
                        .map_or(-libc::EPROTO, i32::from_ne_bytes);
                    if code != 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    if expected == NLMSG_ERROR {
                        return Ok(Vec::new());
                    }
                } else if kind == expected {
                    return Ok(payload.to_vec());
                }
            }
        }
        Err(io::Error::from_raw_os_error(libc::EPROTO))
    }

    /// `AUDIT_GET`.
    pub fn status(&self) -> io::Result<AuditStatus> {
        self.request(AUDIT_GET, NLM_F_REQUEST, &[])?;
        let payload = self.reply(AUDIT_GET)?;
        let word = |index: usize| {
            payload
                .get(index * 4..index * 4 + 4)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u32::from_ne_bytes)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EPROTO))
        };
        Ok(AuditStatus {
            enabled: word(1)?,
            backlog_limit: word(5)?,
            lost: word(6)?,
        })
    }

    /// `AUDIT_SET` of the `enabled` field only (EPERM without CAP_AUDIT_CONTROL).
    pub fn set_enabled(&self, enabled: u32) -> io::Result<()> {
        self.set(AUDIT_STATUS_ENABLED, [0, enabled, 0, 0, 0, 0, 0, 0])
    }

    /// `AUDIT_SET` of the `backlog_limit` field only: how many records the kernel queues
    /// before it drops new ones.
    pub fn set_backlog_limit(&self, limit: u32) -> io::Result<()> {
        self.set(AUDIT_STATUS_BACKLOG_LIMIT, [0, 0, 0, 0, 0, limit, 0, 0])
    }

    /// The leading eight u32 of `struct audit_status` (mask, enabled, failure, pid,
    /// rate_limit, backlog_limit, lost, backlog): the kernel accepts a shorter struct and
    /// changes only the fields the mask names.
    fn set(&self, mask: u32, mut words: [u32; 8]) -> io::Result<()> {
        words[0] = mask;
        let payload: Vec<u8> = words.iter().flat_map(|word| word.to_ne_bytes()).collect();
        self.request(AUDIT_SET, NLM_F_REQUEST | NLM_F_ACK, &payload)?;
        self.reply(NLMSG_ERROR).map(drop)
    }

    /// Sends a user-space audit message (`AUDIT_TRUSTED_APP`, needs CAP_AUDIT_WRITE). It is
    /// queued behind every record already logged, so its arrival on the multicast group
    /// means those have arrived too.
    pub fn send_user_message(&self, text: &str) -> io::Result<()> {
        let mut payload = text.as_bytes().to_vec();
        payload.push(0);
        self.request(AUDIT_TRUSTED_APP, NLM_F_REQUEST | NLM_F_ACK, &payload)?;
        self.reply(NLMSG_ERROR).map(drop)
    }

    /// Waits up to `timeout_ms` for records and appends each `(type, text)` to `records`.
    /// `Err` with ENOBUFS means records were dropped because the socket buffer was full.
    pub fn read_records(
        &self,
        buffer: &mut [u8],
        timeout_ms: i32,
        records: &mut Vec<(u16, Vec<u8>)>,
    ) -> io::Result<()> {
        let mut length = self.receive(buffer, timeout_ms)?;
        // Then whatever else is queued, without waiting: one poll per batch, not per record.
        for batch_left in (0..AUDIT_BATCH_DATAGRAMS).rev() {
            if length == 0 {
                break;
            }
            for (kind, payload) in netlink_messages(&buffer[..length]) {
                // The text is not NUL-terminated on the wire but may be padded with NULs.
                let end = payload
                    .iter()
                    .rposition(|&byte| byte != 0)
                    .map_or(0, |last| last + 1);
                records.push((kind, payload[..end].to_vec()));
            }
            if batch_left == 0 {
                break;
            }
            // SAFETY: `buffer` is writable for its length.
            let ret = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            length = match check(ret as libc::c_long) {
                Ok(n) => n as usize,
                Err(err) if err.raw_os_error() == Some(libc::EAGAIN) => 0,
                Err(err) => return Err(err),
            };
        }
        Ok(())
    }
}

/// Splits a netlink datagram into `(type, payload)` messages; a truncated message ends it.
fn netlink_messages(mut datagram: &[u8]) -> Vec<(u16, &[u8])> {
    let header = std::mem::size_of::<NlMsgHdr>();
    let mut messages = Vec::new();
    while datagram.len() >= header {
        let length = u32::from_ne_bytes([datagram[0], datagram[1], datagram[2], datagram[3]]);
        let kind = u16::from_ne_bytes([datagram[4], datagram[5]]);
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        if length < header || length > datagram.len() {
            break;
        }
        messages.push((kind, &datagram[header..length]));
        // NLMSG_ALIGN: messages start on 4-byte boundaries.
        let next = (length + 3) & !3;
        datagram = datagram.get(next..).unwrap_or(&[]);
    }
    messages
}

/// Whether this process runs in the initial pid namespace (audit records carry pids as seen
/// from there): `/proc/self/status` lists one pid in `NSpid`.
pub fn in_initial_pid_namespace() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("NSpid:"))
            .is_some_and(|pids| pids.split_whitespace().count() == 1)
    })
}
