//! End-to-end tests of the sandbox against the real kernel: each case runs this same test
//! binary as the sandboxed command in a "helper" mode (selected by `NG_SANDBOX_HELPER`) that
//! makes the calls under test with raw syscalls and exits with a code saying what happened.
//!
//! `harness = false`: the helpers need a plain `main` (no test threads), and the cases run one
//! after the other. Cases that need a kernel feature this machine lacks print `skipped:`.
//!
//! Cases (each asserts behaviour that fails if the feature is broken):
//! * `denied_call_is_reported_with_decoded_args_and_policy_errno`
//! * `launcher_handover_is_not_reported_as_a_denial`
//! * `socket_high_bits_cannot_slip_past_an_af_netlink_rule`
//! * `kill_action_reports_then_kills_the_process`
//! * `calls_through_abis_outside_the_policy_are_reported_and_killed` (int 0x80, x32)
//! * `landlock_read_write_exec_allow_lists_are_enforced`
//! * `landlock_denials_are_reported_from_audit`, `landlock_burst_of_denials_is_reported_completely`
//!   (root; skipped with the sandbox's reason otherwise)
//! * `exec_outside_the_allow_list_is_reported`, `loader_named_directly_is_denied`
//! * `denied_exec_stays_denied_while_another_thread_rewrites_the_path` (TOCTOU)
//! * `unavailable_landlock_fails_closed_unless_allowed_missing` (ABI requirement and an outer
//!   sandbox that hides Landlock)
//! * `unavailable_seccomp_fails_closed_unless_allowed_missing` (an outer sandbox denying
//!   seccomp(2))
//! * `supervisor_death_fails_notified_calls_with_enosys`
//! * `sigkill_of_the_sandbox_kills_the_command`

use nativeguard_sandbox::landlock::{parse_landlock_spec, LandlockSpec};
use nativeguard_sandbox::{Denial, Error, Layer, Outcome, Sandbox, SandboxConfig};
use nativeguard_seccomp::{Action, CmpOp, Policy, Rule};
use std::ffi::{CString, OsString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HELPER: &str = "NG_SANDBOX_HELPER";
/// Denied opens in the burst test: each is four audit records, so the reader drains many
/// batches of datagrams.
const BURST_OF_DENIALS: usize = 600;
const HELPER_ARG: &str = "NG_SANDBOX_HELPER_ARG";

/// Exit code of a helper whose call returned `ret` (errno when it failed, 100 when it
/// succeeded).
fn errno_code(ret: libc::c_long) -> i32 {
    if ret < 0 {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(255)
    } else {
        100
    }
}

fn helper_arg() -> String {
    std::env::var(HELPER_ARG).unwrap_or_default()
}

/// The helper modes: each is a tiny program run inside the sandbox.
fn run_helper(mode: &str) -> i32 {
    match mode {
        "memfd" => {
            let name = c"ng-test";
            // SAFETY: a valid C string and integer flags.
            errno_code(unsafe {
                libc::syscall(libc::SYS_memfd_create, name.as_ptr(), libc::MFD_CLOEXEC)
            })
        }
        "memfd_twice" => {
            let name = c"ng-test";
            // SAFETY: as above.
            let first =
                errno_code(unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), 0) });
            // SAFETY: as above.
            let second =
                errno_code(unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), 0) });
            let code = if first == second { first } else { 250 };
            // The sandbox's own run() fails when its supervisor dies, so the result goes
            // through a file too.
            let _ = std::fs::write(helper_arg(), code.to_string());
            code
        }
        "socket_high_bits" => {
            // SAFETY: integer arguments only; on success we just leak the fd until exit.
            errno_code(unsafe {
                libc::syscall(libc::SYS_socket, 0x1_0000_0010u64, libc::SOCK_RAW, 0)
            })
        }
        "socket_inet" => {
            // SAFETY: integer arguments only.
            errno_code(unsafe {
                libc::syscall(libc::SYS_socket, libc::AF_INET, libc::SOCK_DGRAM, 0)
            })
        }
        "getppid" => {
            // SAFETY: no arguments.
            unsafe { libc::syscall(libc::SYS_getppid) };
            100
        }
        "recvfrom" => recvfrom_helper(),
        "connect_tcp" => {
            // Exit with the connect's errno (100 if it connected).
            match std::net::TcpStream::connect(("127.0.0.1", 9)) {
                Ok(_) => 100,
                Err(err) => err.raw_os_error().unwrap_or(255),
            }
        }
        "open_denied_many" => {
            // Exit 0 when every open failed with EACCES.
            let path = helper_arg();
            let denied = (0..BURST_OF_DENIALS)
                .filter(|_| {
                    matches!(std::fs::File::open(&path), Err(err) if err.raw_os_error() == Some(libc::EACCES))
                })
                .count();
            i32::from(denied != BURST_OF_DENIALS)
        }
        "exec" => {
            let path = CString::new(helper_arg()).unwrap_or_default();
            let argv = [path.as_ptr(), c"/bin/true".as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null::<libc::c_char>()];
            // SAFETY: NUL-terminated arrays of valid C strings.
            errno_code(unsafe {
                libc::syscall(
                    libc::SYS_execve,
                    path.as_ptr(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                )
            })
        }
        "foreign_abi" => foreign_abi_helper(),
        "files" => files_helper(),
        "exec_race" => exec_race_helper(),
        "getppid_interrupted" => getppid_interrupted_helper(),
        "memfd_raw" => {
            // The raw return value: -1 with errno 4095 is what glibc's syscall() makes of the
            // kernel's capped -4095 (exit 40); any other value, e.g. -5000 passed through as
            // if the call had succeeded, exits 50.
            let name = c"ng-test";
            // SAFETY: a valid C string and integer flags.
            let ret = unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), 0) };
            let errno = std::io::Error::last_os_error().raw_os_error();
            eprintln!("memfd_create returned {ret} (errno {errno:?})");
            if ret == -1 && errno == Some(4095) {
                40
            } else {
                50
            }
        }
        "exec_proc_self_fd" => {
            // fexecve the glibc way without execveat: open the file, exec /proc/self/fd/N.
            let path = CString::new(helper_arg()).unwrap_or_default();
            // SAFETY: a valid C string and integer flags.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
            if fd < 0 {
                return 249;
            }
            let proc_path = CString::new(format!("/proc/self/fd/{fd}")).unwrap_or_default();
            let argv = [proc_path.as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null::<libc::c_char>()];
            // SAFETY: NUL-terminated arrays of valid C strings.
            errno_code(unsafe {
                libc::syscall(
                    libc::SYS_execve,
                    proc_path.as_ptr(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                )
            })
        }
        "nested" => nested_helper(),
        "nested_without_landlock" => {
            let hide = Policy {
                default_action: Action::Allow,
                rules: vec![Rule::new(
                    &[
                        "landlock_create_ruleset",
                        "landlock_add_rule",
                        "landlock_restrict_self",
                    ],
                    Action::Trace(0),
                )],
                ..Policy::default()
            };
            let arches = nativeguard_syscalls::Arch::host_abis();
            let options = nativeguard_seccomp::CompileOptions {
                bad_arch_action: Action::Allow,
                ..Default::default()
            };
            let program = nativeguard_seccomp::compile(&hide, arches, &options).expect("compiles");
            if let Err(err) = nativeguard_seccomp::sys::install(&program, 0) {
                eprintln!("installing the hiding filter: {err}");
                return 15;
            }
            nested_helper()
        }
        "sandbox_then_sleep" => sandbox_then_sleep_helper(),
        _ => 254,
    }
}

/// Sends one byte over a socket pair and receives it with a raw `recvfrom` (the call the
/// launcher's own handover used to make); exits with its errno, or 100 when it worked.
fn recvfrom_helper() -> i32 {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two fds.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, fds.as_mut_ptr()) } != 0 {
        return 252;
    }
    let byte = [7u8];
    // SAFETY: a readable one-byte buffer.
    if unsafe { libc::send(fds[0], byte.as_ptr().cast(), 1, 0) } != 1 {
        return 251;
    }
    let mut received = [0u8; 1];
    // SAFETY: a writable one-byte buffer; NULL address and length are allowed.
    errno_code(unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fds[1],
            received.as_mut_ptr(),
            1usize,
            0,
            std::ptr::null::<libc::sockaddr>(),
            std::ptr::null::<libc::socklen_t>(),
        )
    })
}

/// An i386 `int 0x80` getpid (nr 20) or an x32 getpid (nr 0x4000_0000 | 39) from this
/// 64-bit process; exits 100 if the call returned at all.
#[cfg(target_arch = "x86_64")]
fn foreign_abi_helper() -> i32 {
    let mut ret: i64;
    if helper_arg() == "i386" {
        // SAFETY: i386 getpid through int 0x80 takes no arguments and touches no memory.
        unsafe { std::arch::asm!("int 0x80", inlateout("rax") 20i64 => ret, options(nostack)) };
    } else {
        // SAFETY: the syscall instruction with an x32 getpid number; rcx/r11 are clobbered.
        unsafe {
            std::arch::asm!("syscall", inlateout("rax") 0x4000_0027i64 => ret, out("rcx") _, out("r11") _, options(nostack))
        };
    }
    eprintln!("foreign ABI call returned {ret}");
    100
}

#[cfg(not(target_arch = "x86_64"))]
fn foreign_abi_helper() -> i32 {
    100
}

/// Bit 0: read inside allowed; bit 1: read outside denied; bit 2: write inside allowed;
/// bit 3: write outside denied; bit 4: listing outside denied.
fn files_helper() -> i32 {
    let arg = helper_arg();
    let mut parts = arg.split('\n');
    let (Some(inside), Some(outside)) = (parts.next(), parts.next()) else {
        return 253;
    };
    let (inside, outside) = (Path::new(inside), Path::new(outside));
    let denied = |result: std::io::Result<()>| matches!(result, Err(err) if err.raw_os_error() == Some(libc::EACCES));
    let mut bits = 0;
    if std::fs::read(inside.join("readable")).is_ok() {
        bits |= 1;
    }
    if denied(std::fs::read(outside.join("secret")).map(drop)) {
        bits |= 2;
    }
    if std::fs::write(inside.join("written"), b"ok").is_ok() {
        bits |= 4;
    }
    if denied(std::fs::write(outside.join("written"), b"no")) {
        bits |= 8;
    }
    if denied(std::fs::read_dir(outside).map(drop)) {
        bits |= 16;
    }
    bits
}

/// One thread flips a path buffer between an allowed file (which fails exec with ENOEXEC) and
/// /bin/true (denied); the main thread keeps calling execve on the buffer. If /bin/true ever
/// runs, the process exits 0; otherwise 42 after every attempt failed.
fn exec_race_helper() -> i32 {
    const ATTEMPTS: usize = 3000;
    let allowed = helper_arg();
    let mut first = [0u8; 256];
    let mut second = [0u8; 256];
    first[..allowed.len()].copy_from_slice(allowed.as_bytes());
    second[..b"/bin/true".len()].copy_from_slice(b"/bin/true");
    let buffer: &'static mut [u8; 256] = Box::leak(Box::new(first));
    let address = buffer.as_mut_ptr() as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut flip = false;
            while !stop.load(Ordering::Relaxed) {
                let source = if flip { &second } else { &first };
                // SAFETY: the buffer is leaked (lives forever) and 256 bytes long; the racing
                // reads are by the kernel and the supervisor, which is the point of the test.
                unsafe { std::ptr::copy_nonoverlapping(source.as_ptr(), address as *mut u8, 256) };
                flip = !flip;
            }
        })
    };
    let argv = [c"race".as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    let mut outcomes = [0usize; 3];
    for _ in 0..ATTEMPTS {
        // SAFETY: the buffer always holds a NUL-terminated path (both sources are).
        let ret = unsafe {
            libc::syscall(
                libc::SYS_execve,
                address as *const libc::c_char,
                argv.as_ptr(),
                envp.as_ptr(),
            )
        };
        let errno = std::io::Error::last_os_error().raw_os_error();
        match (ret, errno) {
            (_, Some(libc::EACCES)) => outcomes[0] += 1,
            (_, Some(libc::ENOEXEC)) => outcomes[1] += 1,
            _ => outcomes[2] += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = flipper.join();
    eprintln!(
        "exec race: {} EACCES, {} ENOEXEC, {} other",
        outcomes[0], outcomes[1], outcomes[2]
    );
    if outcomes[0] == 0 || outcomes[1] == 0 {
        // The race never exercised both paths: inconclusive.
        return 43;
    }
    42
}

/// Calls getppid (a kill_process call in the test's policy) while another thread keeps
/// sending this thread a signal whose handler does not restart calls. Exits 77 if the call
/// returns at all: the process should have been killed.
fn getppid_interrupted_helper() -> i32 {
    extern "C" fn ignore(_: libc::c_int) {}
    // SAFETY: a zeroed sigaction with a valid handler and no flags (no SA_RESTART).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore as extern "C" fn(libc::c_int) as usize;
        if libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()) != 0 {
            return 248;
        }
    }
    // SAFETY: no arguments.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::pid_t;
    let pid = std::process::id() as libc::pid_t;
    std::thread::spawn(move || loop {
        // SAFETY: integer arguments; the target is a thread of this process.
        unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) };
        std::thread::sleep(Duration::from_micros(50));
    });
    // SAFETY: no arguments.
    let ret = unsafe { libc::syscall(libc::SYS_getppid) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    eprintln!("getppid returned {ret} (errno {errno}) instead of killing the process");
    if ret == -1 && errno == libc::EINTR {
        // Interrupted before the supervisor took the notification: not made.
        79
    } else {
        77
    }
}

/// Inside an outer sandbox: prepare an inner one (allow-missing from HELPER_ARG) and report
/// how it went: 10 layer unavailable (seccomp), 11 layer unavailable (landlock), else the
/// inner command's exit code.
fn nested_helper() -> i32 {
    let allow_missing: Vec<Layer> = helper_arg()
        .split(',')
        .filter_map(Layer::from_name)
        .collect();
    let spec = LandlockSpec {
        read: vec!["/".into()],
        execute: vec!["$CMD".into()],
        interpreters: vec!["$CMD_INTERP".into()],
        ..LandlockSpec::default()
    };
    let config = SandboxConfig {
        policy: allow_all_but(&["memfd_create"], Action::Errno(1)),
        policy_path: "inner".into(),
        landlock: Some((spec, "inner.json".into())),
        allow_missing,
        command: vec!["/bin/true".into()],
    };
    match Sandbox::prepare(config) {
        Err(Error::LayerUnavailable {
            layer: Layer::Seccomp,
            reason,
        }) => {
            eprintln!("inner: seccomp unavailable: {reason}");
            10
        }
        Err(Error::LayerUnavailable {
            layer: Layer::Landlock,
            reason,
        }) => {
            eprintln!("inner: landlock unavailable: {reason}");
            11
        }
        Err(err) => {
            eprintln!("inner: {err}");
            12
        }
        Ok(sandbox) => {
            for note in sandbox.notes() {
                eprintln!("inner note: {note}");
            }
            match sandbox.run(Box::new(|_| {})) {
                Ok(outcome) => outcome.status.code().unwrap_or(13),
                Err(err) => {
                    eprintln!("inner run: {err}");
                    14
                }
            }
        }
    }
}

/// Runs `sleep 60` in a sandbox (so the outer test can SIGKILL this process).
fn sandbox_then_sleep_helper() -> i32 {
    let config = SandboxConfig {
        policy: allow_all_but(&["memfd_create"], Action::Errno(1)),
        policy_path: "sleep".into(),
        landlock: None,
        allow_missing: Vec::new(),
        command: vec!["sleep".into(), "60".into()],
    };
    match Sandbox::prepare(config).and_then(|sandbox| sandbox.run(Box::new(|_| {}))) {
        Ok(outcome) => outcome.status.code().unwrap_or(1),
        Err(err) => {
            eprintln!("sandbox_then_sleep: {err}");
            1
        }
    }
}

fn allow_all_but(names: &[&str], action: Action) -> Policy {
    Policy {
        default_action: Action::Allow,
        rules: vec![Rule::new(names, action)],
        ..Policy::default()
    }
}

fn this_binary() -> OsString {
    std::env::current_exe()
        .expect("the test binary has a path")
        .into_os_string()
}

/// Runs the helper `mode` under `policy` (+ Landlock), collecting denials.
fn sandboxed(
    mode: &str,
    arg: &str,
    policy: Policy,
    landlock: Option<LandlockSpec>,
) -> Result<(std::process::ExitStatus, Vec<Denial>), Error> {
    sandboxed_with_notes(mode, arg, policy, landlock)
        .map(|(outcome, denials, _)| (outcome.status, denials))
}

/// As `sandboxed`, with the whole outcome and the notes `prepare` gave.
fn sandboxed_with_notes(
    mode: &str,
    arg: &str,
    policy: Policy,
    landlock: Option<LandlockSpec>,
) -> Result<(Outcome, Vec<Denial>, Vec<String>), Error> {
    std::env::set_var(HELPER, mode);
    std::env::set_var(HELPER_ARG, arg);
    let config = SandboxConfig {
        policy,
        policy_path: "test-policy".into(),
        landlock: landlock.map(|spec| (spec, PathBuf::from("test-landlock.json"))),
        allow_missing: Vec::new(),
        command: vec![this_binary()],
    };
    let denials = Arc::new(Mutex::new(Vec::new()));
    let sink_denials = denials.clone();
    let mut notes = Vec::new();
    let result = Sandbox::prepare(config).and_then(|sandbox| {
        notes = sandbox.notes().to_vec();
        sandbox.run(Box::new(move |denial| {
            sink_denials.lock().unwrap().push(denial.clone())
        }))
    });
    std::env::remove_var(HELPER);
    std::env::remove_var(HELPER_ARG);
    let outcome = result?;
    let denials = denials.lock().unwrap().clone();
    Ok((outcome, denials, notes))
}

/// Why Landlock denials cannot be read from audit here (not root, no audit, old kernel), as
/// the sandbox itself says; `None` when they can.
fn landlock_audit_unavailable(notes: &[String]) -> Option<String> {
    notes
        .iter()
        .find(|note| note.contains("cannot be reported"))
        .cloned()
}

/// True (the reason printed) when this kernel cannot report Landlock's denials through audit,
/// so a test of those reports has nothing to check.
fn skipped_without_landlock_audit(notes: &[String]) -> bool {
    let Some(reason) = landlock_audit_unavailable(notes) else {
        return false;
    };
    eprintln!("skipped: {reason}");
    true
}

fn exec_landlock(extra_execute: &[&str]) -> LandlockSpec {
    let mut execute = vec!["$CMD".to_string()];
    execute.extend(extra_execute.iter().map(|s| s.to_string()));
    LandlockSpec {
        read: vec!["/".into()],
        write: vec!["/dev/null".into()],
        execute,
        interpreters: vec!["$CMD_INTERP".into()],
        ..LandlockSpec::default()
    }
}

fn exec_notify_policy() -> Policy {
    Policy {
        default_action: Action::Allow,
        rules: vec![
            Rule::new(&["execve"], Action::UserNotif),
            Rule::new(&["execveat"], Action::Errno(1)),
        ],
        ..Policy::default()
    }
}

fn denied_call_is_reported_with_decoded_args_and_policy_errno() {
    let (status, denials) = sandboxed(
        "memfd",
        "",
        allow_all_but(&["memfd_create"], Action::Errno(libc::EMLINK as u16)),
        None,
    )
    .unwrap();
    assert_eq!(
        status.code(),
        Some(libc::EMLINK),
        "the call fails with the policy's errno"
    );
    assert_eq!(denials.len(), 1, "{denials:?}");
    let denial = &denials[0];
    assert_eq!(denial.call(), "memfd_create(\"ng-test\", MFD_CLOEXEC)");
    assert_eq!(denial.errno, libc::EMLINK);
    assert_eq!(denial.layer, Layer::Seccomp);
    assert!(!denial.killed);
    assert_eq!(denial.exe.as_deref(), Some(Path::new(&this_binary())));
}

/// The launcher's handover makes no filtered call between installing the filter and exec: a
/// policy without `recvfrom` (as a learned profile is) reports nothing for a command that does
/// not call it, and still reports the command's own `recvfrom`.
fn launcher_handover_is_not_reported_as_a_denial() {
    let policy = allow_all_but(&["recvfrom", "recvmsg"], Action::Errno(libc::ENOSYS as u16));
    let (status, denials) = sandboxed("getppid", "", policy.clone(), None).unwrap();
    assert_eq!(status.code(), Some(100), "{status:?}");
    assert!(
        denials.is_empty(),
        "the launcher's own calls were reported: {denials:?}"
    );
    let (status, denials) = sandboxed("recvfrom", "", policy, None).unwrap();
    assert_eq!(
        status.code(),
        Some(libc::ENOSYS),
        "the command's recvfrom fails with the policy's errno"
    );
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(denials[0].syscall, "recvfrom");
    assert_eq!(denials[0].args[2..], ["1", "0", "NULL", "NULL"]);
    assert_eq!(denials[0].exe.as_deref(), Some(Path::new(&this_binary())));
}

fn socket_high_bits_cannot_slip_past_an_af_netlink_rule() {
    let policy = Policy {
        default_action: Action::Allow,
        rules: vec![
            Rule::new(&["socket"], Action::Errno(libc::EAFNOSUPPORT as u16)).with(
                0,
                CmpOp::Eq,
                16,
                0,
            ),
        ],
        ..Policy::default()
    };
    let (status, denials) = sandboxed("socket_high_bits", "", policy.clone(), None).unwrap();
    assert_eq!(status.code(), Some(libc::EAFNOSUPPORT));
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(
        denials[0].call(),
        "socket(AF_NETLINK /* 0x100000010 */, SOCK_RAW, 0)"
    );
    // Other families are untouched.
    let (status, denials) = sandboxed("socket_inet", "", policy, None).unwrap();
    assert_eq!((status.code(), denials.len()), (Some(100), 0));
}

fn kill_action_reports_then_kills_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let (status, denials) = sandboxed(
        "getppid",
        "",
        allow_all_but(&["getppid"], Action::KillProcess),
        None,
    )
    .unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert!(denials[0].killed);
    assert_eq!(denials[0].syscall, "getppid");
}

/// A kill action must kill even when a signal interrupts the caller's wait for the answer
/// after the supervisor received the notification: otherwise the process survives a
/// kill_process call (it just sees EINTR). The sink takes 50 ms per denial, as a report
/// written to a slow stderr pipe may: the supervisor has decided to kill by then. A signal
/// before the supervisor takes the notification withdraws it (the call fails with EINTR,
/// unmade): then no report may say the process was killed.
fn kill_action_kills_even_when_a_signal_interrupts_the_wait() {
    use std::os::unix::process::ExitStatusExt;
    std::env::set_var(HELPER, "getppid_interrupted");
    let config = SandboxConfig {
        policy: allow_all_but(&["getppid"], Action::KillProcess),
        policy_path: "test-policy".into(),
        landlock: None,
        allow_missing: Vec::new(),
        command: vec![this_binary()],
    };
    let denials = Arc::new(Mutex::new(Vec::new()));
    let sink_denials = denials.clone();
    let outcome = Sandbox::prepare(config).and_then(|sandbox| {
        sandbox.run(Box::new(move |denial| {
            std::thread::sleep(Duration::from_millis(50));
            sink_denials.lock().unwrap().push(denial.clone());
        }))
    });
    std::env::remove_var(HELPER);
    let status = outcome.unwrap().status;
    let denials = denials.lock().unwrap().clone();
    if status.code() == Some(79) {
        assert!(
            denials.iter().all(|d| !d.killed),
            "the call was withdrawn, yet reported killed: {denials:?}"
        );
        eprintln!("  the signal came before the supervisor took the notification");
        return;
    }
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "{status:?} (77: a kill_process call returned); denials: {denials:?}"
    );
    assert!(denials.iter().all(|d| d.killed), "{denials:?}");
}

/// The kernel caps a filter's errno at MAX_ERRNO (4095); the supervisor answers in its place
/// and must do the same, or a denied call returns -5000, which libc takes for a success.
fn errno_above_4095_is_capped_as_the_kernel_does() {
    let (status, denials) = sandboxed(
        "memfd_raw",
        "",
        allow_all_but(&["memfd_create"], Action::Errno(5000)),
        None,
    )
    .unwrap();
    assert_eq!(status.code(), Some(40), "{status:?}; denials: {denials:?}");
}

fn calls_through_abis_outside_the_policy_are_reported_and_killed() {
    use std::os::unix::process::ExitStatusExt;
    if !cfg!(target_arch = "x86_64") {
        eprintln!("skipped: i386 and x32 calls exist on x86_64 only");
        return;
    }
    let mut policy = allow_all_but(&["memfd_create"], Action::Errno(1));
    policy.arches = vec![nativeguard_syscalls::Arch::X86_64];
    for (abi, arch, name) in [
        ("i386", nativeguard_syscalls::Arch::I386, "getpid"),
        ("x32", nativeguard_syscalls::Arch::X32, "getpid"),
    ] {
        let (status, denials) = sandboxed("foreign_abi", abi, policy.clone(), None).unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{abi}: {status:?}");
        assert_eq!(denials.len(), 1, "{abi}: {denials:?}");
        assert_eq!(
            (denials[0].arch, denials[0].syscall.as_str()),
            (Some(arch), name)
        );
        assert!(denials[0].killed);
    }
}

fn files_landlock_spec(inside: &Path) -> LandlockSpec {
    LandlockSpec {
        read: ["/usr", "/lib", "/lib64", "/etc", "/proc", "/sys", "/dev"]
            .iter()
            .map(|s| s.to_string())
            .chain([inside.display().to_string()])
            .collect(),
        write: vec![inside.display().to_string(), "/dev/null".into()],
        execute: vec!["$CMD".into()],
        interpreters: vec!["$CMD_INTERP".into()],
        ..LandlockSpec::default()
    }
}

/// Runs the helper `mode` with everything allowed but `memfd_create` and Landlock letting it
/// write only in `inside` ([`files_landlock_spec`]).
fn files_sandboxed(mode: &str, arg: &str, inside: &Path) -> (Outcome, Vec<Denial>, Vec<String>) {
    sandboxed_with_notes(
        mode,
        arg,
        allow_all_but(&["memfd_create"], Action::Errno(1)),
        Some(files_landlock_spec(inside)),
    )
    .unwrap()
}

/// Under root, Landlock's own denials (opens, creations, listings: no seccomp notification
/// exists for them) are read from the kernel's audit records and reported with the call, the
/// object and the missing right; allowed accesses are not; the audit switch is left as found.
fn landlock_denials_are_reported_from_audit() {
    let root = tempdir("audit");
    let (inside, outside) = (root.path().join("inside"), root.path().join("outside"));
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(inside.join("readable"), b"x").unwrap();
    std::fs::write(outside.join("secret"), b"x").unwrap();
    let before = nativeguard_sandbox::audit_switch_at_rest().ok();
    let arg = format!("{}\n{}", inside.display(), outside.display());
    let (outcome, denials, notes) = files_sandboxed("files", &arg, &inside);
    if skipped_without_landlock_audit(&notes) {
        return;
    }
    assert_eq!(
        outcome.status.code(),
        Some(0b11111),
        "enforcement unchanged"
    );
    let landlock: Vec<_> = denials.iter().filter(|d| d.landlock.is_some()).collect();
    let find = |blocker: &str, path: &Path| {
        landlock.iter().find(|d| {
            let access = d.landlock.as_ref().unwrap();
            access.blockers.iter().any(|b| b == blocker)
                && access.object_text() == format!("{:?}", path.display().to_string())
        })
    };
    let read = find("fs.read_file", &outside.join("secret"))
        .unwrap_or_else(|| panic!("no read denial of the secret: {landlock:#?}"));
    assert_eq!(read.syscall, "openat");
    assert_eq!(read.layer, Layer::Landlock);
    assert_eq!(read.errno, libc::EACCES);
    assert_eq!(read.exe.as_deref(), Some(Path::new(&this_binary())));
    assert!(read.pid > 1);
    assert!(
        find("fs.make_reg", &outside).is_some(),
        "no creation denial in {}: {landlock:#?}",
        outside.display()
    );
    assert!(
        find("fs.read_dir", &outside).is_some(),
        "no listing denial of {}: {landlock:#?}",
        outside.display()
    );
    assert!(
        landlock.iter().all(|d| !d
            .landlock
            .as_ref()
            .unwrap()
            .object_text()
            .contains("inside")),
        "an allowed access was reported: {landlock:#?}"
    );
    assert_eq!(outcome.landlock_reported, Some(landlock.len() as u64));

    // A TCP connect the allow-list has no port for: the object is the address and port.
    let (outcome, denials, _) = files_sandboxed("connect_tcp", "", &inside);
    assert_eq!(outcome.status.code(), Some(libc::EACCES));
    let connect = denials
        .iter()
        .find(|d| d.syscall == "connect")
        .unwrap_or_else(|| panic!("no connect denial: {denials:#?}"));
    let access = connect.landlock.as_ref().unwrap();
    assert_eq!(access.blockers, ["net.connect_tcp"]);
    assert_eq!(access.object_text(), "daddr=127.0.0.1 dest=9");
    assert_eq!(
        nativeguard_sandbox::audit_switch_at_rest().ok(),
        before,
        "the audit switch must be left as it was found"
    );
}

/// A burst of denials is reported completely: every one, unless the run's notes say records
/// were lost on the way (by the kernel's backlog or the socket's buffer), which the reader
/// cannot help and must not hide.
fn landlock_burst_of_denials_is_reported_completely() {
    let root = tempdir("burst");
    let inside = root.path().join("inside");
    std::fs::create_dir_all(&inside).unwrap();
    let secret = root.path().join("secret");
    std::fs::write(&secret, b"x").unwrap();
    let (outcome, denials, notes) =
        files_sandboxed("open_denied_many", &secret.display().to_string(), &inside);
    if skipped_without_landlock_audit(&notes) {
        return;
    }
    assert_eq!(outcome.status.code(), Some(0), "every open was denied");
    let secret_text = format!("{:?}", secret.display().to_string());
    let reported = denials
        .iter()
        .filter(|d| {
            d.syscall == "openat"
                && d.landlock
                    .as_ref()
                    .is_some_and(|access| access.object_text() == secret_text)
        })
        .count();
    let lost_on_the_way = outcome
        .notes
        .iter()
        .any(|note| note.contains("lost") || note.contains("dropped"));
    eprintln!(
        "  burst: {reported} of {BURST_OF_DENIALS} denials reported; notes: {:?}",
        outcome.notes
    );
    if !lost_on_the_way {
        assert_eq!(reported, BURST_OF_DENIALS, "{:?}", outcome.notes);
        assert!(
            !outcome
                .notes
                .iter()
                .any(|note| note.contains("kernel counted")),
            "{:?}",
            outcome.notes
        );
    }
}

fn landlock_read_write_exec_allow_lists_are_enforced() {
    let root = tempdir("files");
    let (inside, outside) = (root.path().join("inside"), root.path().join("outside"));
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(inside.join("readable"), b"x").unwrap();
    std::fs::write(outside.join("secret"), b"x").unwrap();
    let spec = files_landlock_spec(&inside);
    let arg = format!("{}\n{}", inside.display(), outside.display());
    let (status, _) = sandboxed(
        "files",
        &arg,
        allow_all_but(&["memfd_create"], Action::Errno(1)),
        Some(spec),
    )
    .unwrap();
    assert_eq!(
        status.code(),
        Some(0b11111),
        "bits: read in, read out denied, write in, write out denied, list out denied"
    );
    assert!(inside.join("written").exists());
    assert!(!outside.join("written").exists());
}

fn exec_outside_the_allow_list_is_reported() {
    let (status, denials) = sandboxed(
        "exec",
        "/bin/true",
        exec_notify_policy(),
        Some(exec_landlock(&[])),
    )
    .unwrap();
    assert_eq!(
        status.code(),
        Some(libc::EACCES),
        "exec of /bin/true must fail with EACCES"
    );
    let exec_denials: Vec<_> = denials.iter().filter(|d| d.syscall == "execve").collect();
    assert_eq!(exec_denials.len(), 1, "{denials:?}");
    assert_eq!(exec_denials[0].layer, Layer::Landlock);
    assert!(
        exec_denials[0].args[0] == "\"/bin/true\"",
        "{:?}",
        exec_denials[0]
    );
    // Without the supervisor's look (execve allowed in seccomp), Landlock alone still denies;
    // the denial is reported from audit where that is readable (root), and silent otherwise.
    let (outcome, denials, notes) = sandboxed_with_notes(
        "exec",
        "/bin/true",
        allow_all_but(&["memfd_create"], Action::Errno(1)),
        Some(exec_landlock(&[])),
    )
    .unwrap();
    assert_eq!(outcome.status.code(), Some(libc::EACCES));
    if landlock_audit_unavailable(&notes).is_some() {
        assert!(denials.is_empty(), "{denials:?}");
    } else {
        assert_eq!(denials.len(), 1, "{denials:?}");
        assert_eq!(denials[0].syscall, "execve");
        let access = denials[0].landlock.as_ref().expect("read from audit");
        assert_eq!(access.blockers, ["fs.execute"]);
        assert_eq!(access.object_text(), "\"/usr/bin/true\"");
    }
}

fn loader_named_directly_is_denied() {
    let loader = nativeguard_sandbox::interp::interpreters(Path::new(&this_binary())).unwrap();
    let Some(loader) = loader.first() else {
        eprintln!("skipped: the test binary is static");
        return;
    };
    let (status, denials) = sandboxed(
        "exec",
        &loader.display().to_string(),
        exec_notify_policy(),
        Some(exec_landlock(&[])),
    )
    .unwrap();
    assert_eq!(status.code(), Some(libc::EACCES));
    assert!(
        denials.iter().any(|d| d
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("only as an interpreter"))),
        "{denials:?}"
    );
}

fn denied_exec_stays_denied_while_another_thread_rewrites_the_path() {
    let root = tempdir("race");
    let garbage = root.path().join("not-an-executable");
    std::fs::write(&garbage, b"\x01\x02 not a program").unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&garbage).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(
        &garbage,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let spec = exec_landlock(&[&garbage.display().to_string()]);
    let (status, denials) = sandboxed(
        "exec_race",
        &garbage.display().to_string(),
        exec_notify_policy(),
        Some(spec),
    )
    .unwrap();
    assert_ne!(
        status.code(),
        Some(0),
        "/bin/true ran: a swapped path got through"
    );
    assert_eq!(status.code(), Some(42), "{status:?}");
    // Every report is an exec denial by the path rule (a torn read of the path while it is
    // being rewritten may name a mix of both strings: still a denial).
    assert!(!denials.is_empty());
    assert!(
        denials
            .iter()
            .all(|d| d.syscall == "execve" && d.layer == Layer::Landlock),
        "{denials:?}"
    );
    eprintln!("  race: {} exec denials reported", denials.len());
}

/// `/proc/self/...` in an exec path names the CALLER's files, but the supervisor resolves the
/// path in its own process: an exec of an allowed file through `/proc/self/fd/N` (what
/// `fexecve` does without execveat) is judged on whatever the supervisor's fd N is.
fn exec_through_proc_self_fd_is_judged_on_the_callers_file() {
    let root = tempdir("proc-self");
    let garbage = root.path().join("not-an-executable");
    std::fs::write(&garbage, b"\x01\x02 not a program").unwrap();
    std::fs::set_permissions(
        &garbage,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let spec = exec_landlock(&[&garbage.display().to_string()]);
    // The direct path: allowed by the supervisor and Landlock, refused by the kernel's
    // binary loaders.
    let (status, _) = sandboxed(
        "exec",
        &garbage.display().to_string(),
        exec_notify_policy(),
        Some(spec.clone()),
    )
    .unwrap();
    assert_eq!(status.code(), Some(libc::ENOEXEC), "{status:?}");
    // Through /proc/self/fd/N with Landlock alone (execve not sent to the supervisor): the
    // same answer.
    let (status, _) = sandboxed(
        "exec_proc_self_fd",
        &garbage.display().to_string(),
        allow_all_but(&["memfd_create"], Action::Errno(1)),
        Some(spec.clone()),
    )
    .unwrap();
    assert_eq!(status.code(), Some(libc::ENOEXEC), "{status:?}");
    // The same file through /proc/self/fd/N with the supervisor's look must get it too.
    let (status, denials) = sandboxed(
        "exec_proc_self_fd",
        &garbage.display().to_string(),
        exec_notify_policy(),
        Some(spec),
    )
    .unwrap();
    assert_eq!(
        status.code(),
        Some(libc::ENOEXEC),
        "{status:?} (errno 2 = ENOENT, 13 = EACCES); denials: {denials:?}"
    );
}

fn unavailable_landlock_fails_closed_unless_allowed_missing() {
    // A file that needs a newer ABI than the kernel has.
    let spec = parse_landlock_spec(
        Path::new("future.json"),
        r#"{"abi": 999, "execute": ["$CMD"]}"#,
    )
    .unwrap();
    let config = |allow_missing: Vec<Layer>| SandboxConfig {
        policy: allow_all_but(&["memfd_create"], Action::Errno(1)),
        policy_path: "p".into(),
        landlock: Some((spec.clone(), "future.json".into())),
        allow_missing,
        command: vec!["/bin/true".into()],
    };
    match Sandbox::prepare(config(Vec::new())) {
        Err(Error::LayerUnavailable {
            layer: Layer::Landlock,
            reason,
        }) => assert!(reason.contains("999"), "{reason}"),
        Err(other) => panic!("expected landlock unavailable, got {other}"),
        Ok(_) => panic!("expected landlock unavailable, got a sandbox"),
    }
    let sandbox = Sandbox::prepare(config(vec![Layer::Landlock])).unwrap();
    assert!(sandbox
        .notes()
        .iter()
        .any(|note| note.contains("WITHOUT the landlock layer")));
    assert!(sandbox.run(Box::new(|_| {})).unwrap().status.success());

    // Landlock hidden from a process: its syscalls fail with ENOSYS, as on a kernel without
    // Landlock. The helper installs that filter on itself (SECCOMP_RET_TRACE without a tracer
    // answers ENOSYS) rather than running inside another sandbox, because every nativeguard
    // sandbox holds a notification listener and the kernel allows one per filter chain.
    for (allow_missing, expected) in [("", 11), ("landlock", 0)] {
        let status = std::process::Command::new(this_binary())
            .env(HELPER, "nested_without_landlock")
            .env(HELPER_ARG, allow_missing)
            .status()
            .unwrap();
        assert_eq!(
            status.code(),
            Some(expected),
            "allow-missing {allow_missing:?}: 11 = refused, 0 = ran"
        );
    }
}

fn unavailable_seccomp_fails_closed_unless_allowed_missing() {
    let outer = allow_all_but(&["seccomp"], Action::Errno(libc::EINVAL as u16));
    let (status, denials) = sandboxed("nested", "", outer.clone(), None).unwrap();
    assert_eq!(
        status.code(),
        Some(10),
        "inner sandbox must refuse to run without seccomp"
    );
    assert!(
        denials.iter().any(|d| d.syscall == "seccomp"),
        "{denials:?}"
    );
    let (status, _) = sandboxed("nested", "seccomp", outer, None).unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "with --allow-missing seccomp the inner command runs"
    );
}

fn supervisor_death_fails_notified_calls_with_enosys() {
    let dir = tempdir("enosys");
    let result_file = dir.path().join("result");
    std::env::set_var(HELPER, "memfd_twice");
    std::env::set_var(HELPER_ARG, &result_file);
    let config = SandboxConfig {
        policy: allow_all_but(&["memfd_create"], Action::Errno(1)),
        policy_path: "p".into(),
        landlock: None,
        allow_missing: Vec::new(),
        command: vec![this_binary()],
    };
    let sandbox = Sandbox::prepare(config).unwrap();
    // The supervisor dies on its first notification (a panicking sink), with the call pending.
    let result = sandbox.run(Box::new(|_| {
        panic!("supervisor dies (expected by the test)")
    }));
    std::env::remove_var(HELPER);
    std::env::remove_var(HELPER_ARG);
    match result {
        Err(Error::Supervisor(message)) => assert!(message.contains("panicked"), "{message}"),
        other => panic!("expected the supervisor's death to be an error, got {other:?}"),
    }
    let code = std::fs::read_to_string(&result_file).unwrap_or_default();
    assert_eq!(
        code.trim(),
        libc::ENOSYS.to_string(),
        "both notified calls must fail with ENOSYS, never succeed"
    );
}

fn sigkill_of_the_sandbox_kills_the_command() {
    let mut middle = std::process::Command::new(this_binary())
        .env(HELPER, "sandbox_then_sleep")
        .spawn()
        .unwrap();
    let pid = middle.id();
    let started = Instant::now();
    let sleeper = loop {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(child) = children
            .split_whitespace()
            .next()
            .and_then(|c| c.parse::<u32>().ok())
        {
            let exe = std::fs::read_link(format!("/proc/{child}/exe")).unwrap_or_default();
            if exe.file_name().is_some_and(|name| name == "sleep") {
                break child;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the sandboxed sleep never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: kill with a pid we spawned and a signal number.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let _ = middle.wait();
    let started = Instant::now();
    while Path::new(&format!("/proc/{sleeper}")).exists() {
        let state = std::fs::read_to_string(format!("/proc/{sleeper}/stat")).unwrap_or_default();
        // A zombie waiting to be reaped by init is dead.
        if state.split_whitespace().nth(2) == Some("Z") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the sandboxed command survived SIGKILL of the sandbox"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh directory for one case, removed when the guard drops (also when the case panics).
/// Only the test process makes these: the helpers it runs exit before any case starts.
fn tempdir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("ng-sandbox-{name}-"))
        .tempdir()
        .unwrap()
}

fn main() {
    if let Ok(mode) = std::env::var(HELPER) {
        std::process::exit(run_helper(&mode));
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    if nativeguard_sandbox_available().is_none() {
        return;
    }
    let cases: &[(&str, fn())] = &[
        (
            "denied_call_is_reported_with_decoded_args_and_policy_errno",
            denied_call_is_reported_with_decoded_args_and_policy_errno,
        ),
        (
            "launcher_handover_is_not_reported_as_a_denial",
            launcher_handover_is_not_reported_as_a_denial,
        ),
        (
            "socket_high_bits_cannot_slip_past_an_af_netlink_rule",
            socket_high_bits_cannot_slip_past_an_af_netlink_rule,
        ),
        (
            "kill_action_reports_then_kills_the_process",
            kill_action_reports_then_kills_the_process,
        ),
        (
            "kill_action_kills_even_when_a_signal_interrupts_the_wait",
            kill_action_kills_even_when_a_signal_interrupts_the_wait,
        ),
        (
            "errno_above_4095_is_capped_as_the_kernel_does",
            errno_above_4095_is_capped_as_the_kernel_does,
        ),
        (
            "calls_through_abis_outside_the_policy_are_reported_and_killed",
            calls_through_abis_outside_the_policy_are_reported_and_killed,
        ),
        (
            "landlock_denials_are_reported_from_audit",
            landlock_denials_are_reported_from_audit,
        ),
        (
            "landlock_burst_of_denials_is_reported_completely",
            landlock_burst_of_denials_is_reported_completely,
        ),
        (
            "landlock_read_write_exec_allow_lists_are_enforced",
            landlock_read_write_exec_allow_lists_are_enforced,
        ),
        (
            "exec_outside_the_allow_list_is_reported",
            exec_outside_the_allow_list_is_reported,
        ),
        (
            "loader_named_directly_is_denied",
            loader_named_directly_is_denied,
        ),
        (
            "denied_exec_stays_denied_while_another_thread_rewrites_the_path",
            denied_exec_stays_denied_while_another_thread_rewrites_the_path,
        ),
        (
            "exec_through_proc_self_fd_is_judged_on_the_callers_file",
            exec_through_proc_self_fd_is_judged_on_the_callers_file,
        ),
        (
            "unavailable_landlock_fails_closed_unless_allowed_missing",
            unavailable_landlock_fails_closed_unless_allowed_missing,
        ),
        (
            "unavailable_seccomp_fails_closed_unless_allowed_missing",
            unavailable_seccomp_fails_closed_unless_allowed_missing,
        ),
        (
            "supervisor_death_fails_notified_calls_with_enosys",
            supervisor_death_fails_notified_calls_with_enosys,
        ),
        (
            "sigkill_of_the_sandbox_kills_the_command",
            sigkill_of_the_sandbox_kills_the_command,
        ),
    ];
    let mut failed = Vec::new();
    for (name, case) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let started = Instant::now();
        match std::panic::catch_unwind(case) {
            Ok(()) => eprintln!("test {name} ... ok ({} ms)", started.elapsed().as_millis()),
            Err(_) => {
                eprintln!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    if !failed.is_empty() {
        eprintln!("failed: {failed:?}");
        std::process::exit(1);
    }
}

/// Checks the kernel features every case needs; prints `skipped:` and returns `None` without.
fn nativeguard_sandbox_available() -> Option<()> {
    // SAFETY: the VERSION query takes no pointer.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    if abi < 1 {
        eprintln!("skipped: Landlock is not available on this kernel");
        return None;
    }
    Some(())
}
