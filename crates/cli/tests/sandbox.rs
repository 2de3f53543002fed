//! `nativeguard sandbox` end to end: the shipped T1106 hardening policy blocks every Linux
//! emulation with a reported denial; JSON reports; exit codes; failing closed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nativeguard() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nativeguard"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A private directory for one test's files, removed when the guard drops (also on a panic).
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("ng-sandbox-{name}-"))
        .tempdir()
        .unwrap()
}

/// `None` when the kernel lacks what the sandbox needs (the run says why, exit 5).
fn sandbox_unsupported() -> Option<String> {
    let output = run(nativeguard()
        .args(["sandbox", "--policy"])
        .arg(repo().join("policies/t1106-hardening.json"))
        .arg("--landlock")
        .arg(repo().join("policies/t1106-landlock.json"))
        .args(["--", env!("CARGO_BIN_EXE_nativeguard"), "--version"]));
    (output.status.code() == Some(5)).then(|| text(&output.stderr))
}

fn hardened(args: &[&str]) -> Output {
    run(nativeguard()
        .args(["sandbox", "--policy"])
        .arg(repo().join("policies/t1106-hardening.json"))
        .arg("--landlock")
        .arg(repo().join("policies/t1106-landlock.json"))
        .args(args))
}

#[test]
fn the_hardened_program_itself_still_runs() {
    if let Some(reason) = sandbox_unsupported() {
        eprintln!("skipped: {reason}");
        return;
    }
    let output = hardened(&["--", env!("CARGO_BIN_EXE_nativeguard"), "emulate", "--list"]);
    assert!(
        output.status.success(),
        "{:?}\n{}",
        output.status,
        text(&output.stderr)
    );
    assert!(
        !text(&output.stderr).contains("denied "),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn hardening_policy_blocks_every_emulation_with_a_reported_denial() {
    if let Some(reason) = sandbox_unsupported() {
        eprintln!("skipped: {reason}");
        return;
    }
    let expected_denial = |name: &str| match name {
        "libc-exec" | "inline-syscall-exec" | "spawn-variants" => "denied execve(\"/bin/true\"",
        "anon-stub-exec" | "mprotect-rwx" => "denied mprotect(",
        "memfd-exec" => "denied memfd_create(\"nativeguard-emulate\"",
        // python3 itself is not on the execute allow-list.
        "python-ctypes" => "denied execve(\"/usr/bin/python3\"",
        "ptrace-poke" => "denied ptrace(PTRACE_ATTACH",
        "vm-writev" => "denied process_vm_writev(",
        _ => unreachable!(),
    };
    for name in common::emulation_names() {
        if name == "python-ctypes" && !Path::new("/usr/bin/python3").exists() {
            eprintln!("skipped python-ctypes: no /usr/bin/python3");
            continue;
        }
        let output = hardened(&["--", env!("CARGO_BIN_EXE_nativeguard"), "emulate", name]);
        let stderr = text(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(6),
            "{name} was not blocked:\n{stderr}"
        );
        assert!(
            stderr.contains(expected_denial(name)),
            "{name}: no denial `{}` in:\n{stderr}",
            expected_denial(name)
        );
        // The report names the process: `... pid N /path/to/nativeguard (layer: ERRNO...)`.
        let line = stderr
            .lines()
            .find(|line| line.starts_with(expected_denial(name)))
            .unwrap_or_default();
        assert!(
            line.contains(" pid ") && line.contains("/nativeguard ("),
            "{line}"
        );
    }
}

#[test]
fn json_reports_have_the_contract_keys() {
    if let Some(reason) = sandbox_unsupported() {
        eprintln!("skipped: {reason}");
        return;
    }
    let output = hardened(&[
        "--format",
        "json",
        "--",
        env!("CARGO_BIN_EXE_nativeguard"),
        "emulate",
        "memfd-exec",
    ]);
    assert_eq!(output.status.code(), Some(6));
    let stderr = text(&output.stderr);
    let event: serde_json::Value = stderr
        .lines()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON denial in:\n{stderr}"));
    assert_eq!(event["denied"], "memfd_create");
    assert_eq!(event["args"][0], "\"nativeguard-emulate\"");
    assert_eq!(event["args"][1], "MFD_CLOEXEC");
    assert_eq!(event["layer"], "seccomp");
    assert_eq!(event["errno"], "EPERM");
    assert!(event["pid"].as_u64().is_some_and(|pid| pid > 1));
    assert!(
        event["exe"]
            .as_str()
            .is_some_and(|exe| exe.ends_with("nativeguard")),
        "{event}"
    );
}

#[test]
fn exit_code_is_zero_for_success_and_six_for_failure() {
    let root = scratch("cli");
    let policy = root.path().join("allow.json");
    std::fs::write(&policy, r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["memfd_create"], "action": "SCMP_ACT_ERRNO"}]}"#).unwrap();
    let status = |program: &str| {
        run(nativeguard()
            .args(["sandbox", "--policy"])
            .arg(&policy)
            .args(["--", program]))
        .status
        .code()
    };
    assert_eq!(status("/bin/true"), Some(0));
    assert_eq!(status("/bin/false"), Some(6));
}

#[test]
fn a_layer_that_cannot_apply_fails_closed_unless_allowed_missing() {
    let root = scratch("closed");
    let landlock = root.path().join("future.json");
    std::fs::write(
        &landlock,
        r#"{"abi": 999, "read": ["/"], "execute": ["$CMD"], "interpreters": ["$CMD_INTERP"]}"#,
    )
    .unwrap();
    let marker = root.path().join("ran");
    let attempt = |extra: &[&str]| {
        run(nativeguard()
            .args(["sandbox", "--policy"])
            .arg(repo().join("policies/t1106-hardening.json"))
            .arg("--landlock")
            .arg(&landlock)
            .args(extra)
            .args(["--", "/usr/bin/touch"])
            .arg(&marker))
    };
    let refused = attempt(&[]);
    assert_eq!(refused.status.code(), Some(5), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("--allow-missing landlock"),
        "{}",
        text(&refused.stderr)
    );
    assert!(
        !marker.exists(),
        "the command ran although a layer was missing"
    );
    // The hardening policy sends execve to the supervisor, which needs Landlock: still refused.
    let unsafe_without_landlock = attempt(&["--allow-missing", "landlock"]);
    assert_eq!(
        unsafe_without_landlock.status.code(),
        Some(1),
        "{}",
        text(&unsafe_without_landlock.stderr)
    );
    assert!(
        text(&unsafe_without_landlock.stderr).contains("user_notif"),
        "{}",
        text(&unsafe_without_landlock.stderr)
    );
    assert!(!marker.exists());
}

/// A learned profile (no `recvfrom`: the program never calls it) runs the program it was
/// learned from without a single denial: the launcher's own handover is not reported.
#[test]
fn a_learned_profile_runs_its_program_without_false_denials() {
    let root = scratch("learned");
    let profile = root.path().join("learned.json");
    let command: Vec<&str> = if Path::new("/usr/bin/python3").exists() {
        vec!["/usr/bin/python3", "-c", "print(1)"]
    } else {
        vec!["/bin/true"]
    };
    let learned = run(nativeguard()
        .args(["trace", "--learn"])
        .arg(&profile)
        .arg("--")
        .args(&command));
    if !learned.status.success() {
        eprintln!(
            "skipped: `nativeguard trace --learn` cannot run here: {}",
            text(&learned.stderr)
        );
        return;
    }
    let json = std::fs::read_to_string(&profile).unwrap();
    assert!(
        !json.contains("\"recvfrom\""),
        "the program was expected not to call recvfrom: {json}"
    );
    let output = run(nativeguard()
        .args(["sandbox", "--policy"])
        .arg(&profile)
        .arg("--")
        .args(&command));
    let stderr = text(&output.stderr);
    if output.status.code() == Some(5) {
        eprintln!("skipped: {stderr}");
        return;
    }
    assert!(output.status.success(), "{:?}\n{stderr}", output.status);
    assert!(!stderr.contains("denied "), "false denial:\n{stderr}");
}

/// A Landlock allow-list that lets the programs in /usr/bin run but not read /etc/hostname.
fn write_cat_landlock(root: &Path) -> PathBuf {
    let landlock = root.join("cat-landlock.json");
    std::fs::write(
        &landlock,
        r#"{"read": ["/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/proc", "/dev"],
            "write": ["/dev/null"], "execute": ["$CMD", "/usr/bin"],
            "interpreters": ["$CMD_INTERP"]}"#,
    )
    .unwrap();
    landlock
}

fn write_allow_all(root: &Path) -> PathBuf {
    let policy = root.join("allow-all.json");
    std::fs::write(&policy, r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).unwrap();
    policy
}

/// Whether this test runs as root (/proc/self belongs to the effective uid).
const NOT_REPORTED: &str = "landlock denials are enforced but cannot be reported";

/// Under root, a Landlock denial (an open: no seccomp notification exists for it) is reported
/// from the kernel's audit records, as text and as JSON, and the audit switch is left as found.
#[test]
fn landlock_denials_are_reported_from_audit_as_text_and_json() {
    if !common::is_root() {
        eprintln!("skipped: reading Landlock denials from audit needs root");
        return;
    }
    let dir = scratch("audit");
    let root = dir.path();
    let (policy, landlock) = (write_allow_all(root), write_cat_landlock(root));
    let before = nativeguard_sandbox::audit_switch_at_rest().ok();
    let attempt = |format: &str| {
        run(nativeguard()
            .args(["sandbox", "--format", format, "--policy"])
            .arg(&policy)
            .arg("--landlock")
            .arg(&landlock)
            .args(["--", "/bin/cat", "/etc/hostname"]))
    };
    let text_run = attempt("text");
    let stderr = text(&text_run.stderr);
    if let Some(note) = stderr.lines().find(|line| line.contains(NOT_REPORTED)) {
        eprintln!("skipped: {note}");
        return;
    }
    assert_eq!(text_run.status.code(), Some(6), "{stderr}");
    // The report shares stderr with cat, which may write its message in two pieces around
    // it: the report is one write, so it is whole, but not always at a line start.
    let pattern = "denied openat \"/etc/hostname\" (fs.read_file) pid ";
    let at = stderr
        .find(pattern)
        .unwrap_or_else(|| panic!("no Landlock denial line in:\n{stderr}"));
    let line = stderr[at..].lines().next().unwrap_or_default();
    assert!(line.ends_with("/cat (landlock: EACCES)"), "{line}");
    let json_run = attempt("json");
    let stderr = text(&json_run.stderr);
    let event: serde_json::Value = stderr
        .lines()
        // As above: a report may follow a piece of cat's message on the same line.
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line[line.find('{')?..]).ok())
        .find(|event| event["object"]["path"] == "/etc/hostname")
        .unwrap_or_else(|| panic!("no JSON Landlock denial in:\n{stderr}"));
    assert_eq!(event["denied"], "openat");
    assert_eq!(event["layer"], "landlock");
    assert_eq!(event["errno"], "EACCES");
    assert_eq!(event["blockers"][0], "fs.read_file");
    assert!(event["pid"].as_u64().is_some_and(|pid| pid > 1), "{event}");
    assert!(
        event["exe"]
            .as_str()
            .is_some_and(|exe| exe.ends_with("/cat")),
        "{event}"
    );
    assert_eq!(nativeguard_sandbox::audit_switch_at_rest().ok(), before);
}

/// Several sandboxes at once share the one audit switch: each reports its own denial (and
/// no other's), and the switch is back as found once all have ended.
#[test]
fn concurrent_sandboxes_share_the_audit_switch() {
    if !common::is_root() {
        eprintln!("skipped: reading Landlock denials from audit needs root");
        return;
    }
    let dir = scratch("shared");
    let root = dir.path();
    let (policy, landlock) = (write_allow_all(root), write_cat_landlock(root));
    let before = nativeguard_sandbox::audit_switch_at_rest().ok();
    let children: Vec<_> = (0..4)
        .map(|index| {
            nativeguard()
                .args(["sandbox", "--policy"])
                .arg(&policy)
                .arg("--landlock")
                .arg(&landlock)
                .args(["--", "/bin/sh", "-c"])
                // Each run sleeps a different time so that they start and end interleaved.
                .arg(format!(
                    "sleep 0.{index}; cat /etc/hostname-{index} /etc/hostname"
                ))
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (index, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().unwrap();
        let stderr = text(&output.stderr);
        if let Some(note) = stderr.lines().find(|line| line.contains(NOT_REPORTED)) {
            eprintln!("skipped: {note}");
            return;
        }
        let denied: Vec<&str> = stderr
            .lines()
            .filter_map(|line| line.find("denied ").map(|at| &line[at..]))
            .collect();
        assert!(
            denied
                .iter()
                .any(|line| line.starts_with("denied openat \"/etc/hostname\" (fs.read_file)")),
            "run {index}:\n{stderr}"
        );
        // /etc/hostname-N does not exist: ENOENT, not a denial; and no other run's lines.
        assert!(
            denied.iter().all(|line| !line.contains("hostname-")),
            "run {index}:\n{stderr}"
        );
    }
    assert_eq!(nativeguard_sandbox::audit_switch_at_rest().ok(), before);
}

/// Without root the denials are still enforced, and one line says they cannot be reported.
#[test]
fn landlock_denials_without_root_are_enforced_with_a_one_line_notice() {
    use std::os::unix::process::CommandExt;
    if !common::is_root() {
        eprintln!("skipped: the test drops root to uid 65534 itself");
        return;
    }
    let dir = scratch("nobody");
    let root = dir.path();
    let (policy, landlock) = (write_allow_all(root), write_cat_landlock(root));
    // uid 65534 reads the policy files (the scratch directory is made 0700).
    for path in [root, &policy, &landlock] {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let output = nativeguard()
        .args(["sandbox", "--policy"])
        .arg(&policy)
        .arg("--landlock")
        .arg(&landlock)
        .args(["--", "/bin/cat", "/etc/hostname"])
        .uid(65534)
        .gid(65534)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            eprintln!("skipped: cannot run nativeguard as uid 65534: {err}");
            return;
        }
    };
    let stderr = text(&output.stderr);
    if stderr.contains("Permission denied") && !stderr.contains("nativeguard sandbox") {
        eprintln!("skipped: uid 65534 cannot run the test binary here: {stderr}");
        return;
    }
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    let notices: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(NOT_REPORTED))
        .collect();
    assert_eq!(notices.len(), 1, "{stderr}");
    assert!(notices[0].contains("needs root"), "{}", notices[0]);
    assert!(
        stderr.contains("/etc/hostname: Permission denied"),
        "{stderr}"
    );
    assert!(!stderr.contains("denied "), "{stderr}");
}
