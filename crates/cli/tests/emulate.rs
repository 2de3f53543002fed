//! `nativeguard emulate NAME`: every emulation exits 0 as the user running the tests (root in
//! CI) and, when that is root, again as `nobody` (uid/gid 65534, no supplementary groups).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

const NOBODY: u32 = 65534;

fn ptrace_scope() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn emulate(binary: &Path, name: &str, as_user: Option<u32>) -> Output {
    let mut command = Command::new(binary);
    command.args(["emulate", name]).current_dir("/");
    if let Some(id) = as_user {
        // std clears the supplementary groups when root drops to another uid.
        command.uid(id).gid(id);
    }
    // A copy written by this process can be busy for a moment: a child another test forks
    // holds the copy's write descriptor until that child execs (ETXTBSY).
    for _ in 0..50 {
        match command.output() {
            Err(err) if err.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result.unwrap(),
        }
    }
    panic!("{} stayed busy (ETXTBSY) for a second", binary.display());
}

/// A copy of the binary that `nobody` can execute (the build directory may not be reachable),
/// and the guard that removes it on drop: keep that alive while the copy runs.
fn binary_for_nobody(test: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("nativeguard-emulate-{test}-"))
        .tempdir()
        .unwrap();
    // tempfile makes the directory 0700: `nobody` must be able to reach the copy.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("nativeguard");
    std::fs::copy(env!("CARGO_BIN_EXE_nativeguard"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, copy)
}

/// Whether `nobody` can run some python3 in PATH (pyenv shims under /root are unreachable).
fn python_for(user_is_nobody: bool) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let candidate = dir.join("python3");
        let reachable = !user_is_nobody || !candidate.starts_with("/root");
        reachable
            && std::fs::metadata(&candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o001 != 0)
    })
}

fn check_all(binary: &Path, as_user: Option<u32>) {
    let who = if as_user.is_some() {
        "nobody"
    } else {
        "current user"
    };
    let root = as_user.is_none() && common::is_root();
    for name in common::emulation_names() {
        if name == "python-ctypes" && !python_for(as_user.is_some()) {
            eprintln!("skipped: {name} as {who}: no python3 this user can run");
            continue;
        }
        let scope = ptrace_scope();
        let ptrace_blocked =
            matches!(name, "ptrace-poke" | "vm-writev") && (scope >= 3 || (scope == 2 && !root));
        let output = emulate(binary, name, as_user);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if ptrace_blocked {
            // Yama forbids it here: the emulation must say it was blocked (exit 6).
            assert_eq!(output.status.code(), Some(6), "{name} as {who}: {stderr}");
            assert!(stderr.starts_with("blocked: "), "{stderr}");
            eprintln!("skipped: {name} as {who}: Yama ptrace_scope {scope} forbids it ({stderr})");
            continue;
        }
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name} as {who}: stdout {stdout} stderr {stderr}"
        );
        assert!(stdout.starts_with(&format!("{name}: ")), "{stdout}");
        eprint!("{who}: {stdout}");
    }
}

#[test]
fn every_emulation_exits_0() {
    check_all(Path::new(env!("CARGO_BIN_EXE_nativeguard")), None);
}

#[test]
fn every_emulation_exits_0_as_nobody() {
    if !common::is_root() {
        eprintln!("skipped: not root, cannot switch to nobody (the other test ran unprivileged)");
        return;
    }
    let (_dir, binary) = binary_for_nobody("all");
    check_all(&binary, Some(NOBODY));
}

#[test]
fn unknown_names_are_usage_errors_and_list_names_all() {
    let output = Command::new(env!("CARGO_BIN_EXE_nativeguard"))
        .args(["emulate", "rm-rf"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown emulation 'rm-rf'"));
    let output = Command::new(env!("CARGO_BIN_EXE_nativeguard"))
        .args(["emulate", "--list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&output.stdout);
    for name in common::emulation_names() {
        assert!(listed.contains(name), "{listed}");
    }
}

#[test]
fn a_refused_step_exits_6_naming_the_step_and_errno() {
    if !common::is_root() {
        eprintln!("skipped: needs root to run the emulator as nobody under RLIMIT_NPROC 0");
        return;
    }
    // With RLIMIT_NPROC 0 (util-linux prlimit), nobody cannot create a process: fork fails
    // with EAGAIN.
    if !Path::new("/usr/bin/prlimit").is_file() {
        eprintln!("skipped: prlimit (util-linux) not installed");
        return;
    }
    let (_dir, binary) = binary_for_nobody("nproc");
    let mut command = Command::new("prlimit");
    command
        .args(["--nproc=0:0", "--"])
        .arg(&binary)
        .args(["emulate", "libc-exec"])
        .current_dir("/")
        .uid(NOBODY)
        .gid(NOBODY);
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert_eq!(stderr.trim(), "blocked: fork: EAGAIN");
}

#[test]
fn under_the_shipped_hardening_policy_each_injection_is_blocked() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let policy = root.join("policies/t1106-hardening.json");
    let landlock = root.join("policies/t1106-landlock.json");
    if !policy.is_file() || !landlock.is_file() {
        eprintln!("skipped: policies/t1106-*.json not present");
        return;
    }
    let binary = env!("CARGO_BIN_EXE_nativeguard");
    for (name, expected) in [
        ("memfd-exec", "blocked: memfd_create: EPERM"),
        ("ptrace-poke", "blocked: ptrace(PTRACE_ATTACH): EPERM"),
        ("vm-writev", "blocked: process_vm_writev: EPERM"),
        (
            "mprotect-rwx",
            "blocked: mprotect(PROT_READ|PROT_WRITE|PROT_EXEC): EPERM",
        ),
    ] {
        let output = Command::new(binary)
            .arg("sandbox")
            .arg("--policy")
            .arg(&policy)
            .arg("--landlock")
            .arg(&landlock)
            .args(["--", binary, "emulate", name])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() == Some(5) {
            eprintln!("skipped: the sandbox cannot apply here: {stderr}");
            return;
        }
        // A hand-written policy: no advice to learn into it.
        assert!(!stderr.contains("--merge"), "{name}: {stderr}");
        assert!(
            stderr.lines().any(|l| l == expected),
            "{name}: expected `{expected}` in {stderr}"
        );
        assert_eq!(output.status.code(), Some(6), "{name}: {stderr}");
    }
}
