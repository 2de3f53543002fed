//! `nativeguard trace --learn` on a real program (python3 running a small script), then
//! `nativeguard sandbox --policy` with the learned profile: the run passes; with one syscall
//! the script needs removed from the profile, the run fails and the denial is reported
//! readably on stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCRIPT: &str = r#"
import hashlib, json, os, sys
base = sys.argv[1]
os.mkdir(os.path.join(base, "sub"))
path = os.path.join(base, "sub", "data.json")
with open(path, "w") as f:
    json.dump({"answer": 42, "items": list(range(10))}, f)
with open(path) as f:
    data = json.load(f)
print(hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest())
"#;

fn nativeguard() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nativeguard"))
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh directory under the test's temporary root.
fn fresh_dir(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
    dir
}

/// The real python3 binary (not a version-manager shim script, which would be learned too).
fn python() -> Option<PathBuf> {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// The syscall names an OCI profile allows or constrains, in file order.
fn names(value: &serde_json::Value) -> Vec<String> {
    value["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rule| rule["names"].as_array().into_iter().flatten())
        .filter_map(|name| name.as_str().map(str::to_string))
        .collect()
}

/// Whether `nativeguard sandbox` is built (it is another engineer's command).
fn sandbox_missing_reason(root: &Path) -> Option<String> {
    let policy = root.join("allow-all.json");
    std::fs::write(
        &policy,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}"#,
    )
    .ok()?;
    let output = run(nativeguard()
        .args(["sandbox", "--policy"])
        .arg(&policy)
        .args(["--", "/bin/true"]));
    if output.status.success() {
        None
    } else {
        Some(format!(
            "`nativeguard sandbox` does not run /bin/true under an allow-all policy: {}",
            text(&output.stderr).trim()
        ))
    }
}

#[test]
fn learned_profile_lets_the_run_pass_and_a_removed_syscall_is_denied_readably() {
    let Some(python) = python() else {
        eprintln!("skipped: no python3 binary in /usr/bin or /usr/local/bin");
        return;
    };
    // Removed when the guard drops, also when an assertion fails.
    let temp = tempfile::Builder::new()
        .prefix("ng-trace-learn-")
        .tempdir()
        .unwrap_or_else(|err| panic!("{err}"));
    let root = temp.path();
    let script = root.join("script.py");
    std::fs::write(&script, SCRIPT).unwrap_or_else(|err| panic!("{err}"));
    if let Some(reason) = sandbox_missing_reason(root) {
        eprintln!("skipped: {reason}");
        return;
    }

    // 1. Learn.
    let profile = root.join("profile.json");
    let alerts = root.join("alerts.jsonl");
    let learned_run = run(nativeguard()
        .args(["trace", "--learn"])
        .arg(&profile)
        .arg("--output")
        .arg(&alerts)
        .arg("--")
        .arg(&python)
        .arg(&script)
        .arg(fresh_dir(root, "learn")));
    assert!(
        learned_run.status.success(),
        "trace --learn failed: {:?}\n{}",
        learned_run.status,
        text(&learned_run.stderr)
    );
    let expected = text(&learned_run.stdout);
    assert_eq!(expected.trim().len(), 64, "script output: {expected:?}");
    let json = std::fs::read_to_string(&profile).unwrap_or_else(|err| panic!("{err}"));
    let mut value: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|err| panic!("{err}\n{json}"));
    assert_eq!(value["defaultAction"], "SCMP_ACT_ERRNO");
    let learned = names(&value);
    for needed in ["execve", "mkdir", "openat", "read", "write", "exit_group"] {
        assert!(
            learned.iter().any(|n| n == needed),
            "{needed} not learned: {learned:?}"
        );
    }
    // A benign script raises no alert at level low or above.
    let alert_lines = std::fs::read_to_string(&alerts).unwrap_or_default();
    for line in alert_lines.lines() {
        let alert: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        assert_eq!(alert["rule"]["level"], "informational", "{line}");
    }

    // 2. The learned profile lets the same program run under the sandbox.
    let sandboxed = run(nativeguard()
        .args(["sandbox", "--policy"])
        .arg(&profile)
        .arg("--")
        .arg(&python)
        .arg(&script)
        .arg(fresh_dir(root, "sandboxed")));
    assert!(
        sandboxed.status.success(),
        "sandbox with the learned profile failed: {:?}\n{}\nprofile:\n{json}",
        sandboxed.status,
        text(&sandboxed.stderr)
    );
    assert_eq!(text(&sandboxed.stdout), expected);

    // 3. Without mkdir the script fails, and the denial names the call.
    for rule in value["syscalls"].as_array_mut().into_iter().flatten() {
        if let Some(names) = rule["names"].as_array_mut() {
            names.retain(|name| name != "mkdir");
        }
    }
    assert!(!names(&value).iter().any(|n| n == "mkdir"));
    let reduced = root.join("profile-without-mkdir.json");
    std::fs::write(&reduced, value.to_string()).unwrap_or_else(|err| panic!("{err}"));
    let denied = run(nativeguard()
        .args(["sandbox", "--policy"])
        .arg(&reduced)
        .arg("--")
        .arg(&python)
        .arg(&script)
        .arg(fresh_dir(root, "denied")));
    let stderr = text(&denied.stderr);
    assert_eq!(denied.status.code(), Some(6), "{stderr}");
    let denial = stderr
        .lines()
        .find(|line| line.starts_with("denied mkdir("))
        .unwrap_or_else(|| panic!("no readable mkdir denial on stderr:\n{stderr}"));
    assert!(
        denial.contains("sub"),
        "the denial shows the path argument: {denial}"
    );
    // The profile is a learned one: the sandbox says how to add a run to it.
    assert!(
        stderr.contains(&format!("trace --learn {} --merge", reduced.display())),
        "{stderr}"
    );
    eprintln!("denial as reported: {denial}");
}

/// The contract `validate` relies on: alerts (JSONL) alone on stdout, the command's stdout on
/// stderr, exit 0 / 6 from the command's status.
#[test]
fn trace_keeps_stdout_for_alerts_and_passes_the_exit_status() {
    let ok = run(nativeguard().args([
        "trace",
        "--format",
        "jsonl",
        "--events",
        "--",
        "/bin/sh",
        "-c",
        // The output differs from the command line (which the events carry).
        "echo from-the-$((1+1))-command",
    ]));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let stdout = text(&ok.stdout);
    assert!(!stdout.contains("from-the-2-command"), "{stdout}");
    assert!(text(&ok.stderr).contains("from-the-2-command"));
    let mut creations = 0;
    for line in stdout.lines() {
        let item: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        assert_eq!(item["source"]["path"], "trace");
        if item["event"]["EventType"] == "process_creation" {
            creations += 1;
            assert_eq!(item["event"]["SyscallOrigin"], "libc");
        }
    }
    assert_eq!(creations, 1, "{stdout}");
    let failed = run(nativeguard().args(["trace", "--", "/bin/sh", "-c", "exit 3"]));
    assert_eq!(failed.status.code(), Some(6));
    let killed = run(nativeguard().args(["trace", "--", "/bin/sh", "-c", "kill -9 $$"]));
    assert_eq!(killed.status.code(), Some(6));
}

/// `--output FILE` holds every event, whole, once trace has exited (it ends without the
/// runtime's exit handlers, so nothing may still sit in a buffer), in the chosen format.
#[test]
fn trace_output_file_is_complete_at_exit() {
    let temp = tempfile::Builder::new()
        .prefix("ng-trace-output")
        .tempdir()
        .unwrap_or_else(|err| panic!("{err}"));
    for (format, count_items) in [
        (
            "jsonl",
            (|text: &str| text.lines().count()) as fn(&str) -> usize,
        ),
        ("json", |text: &str| {
            serde_json::from_str::<Vec<serde_json::Value>>(text)
                .unwrap_or_else(|err| panic!("{err}: {text}"))
                .len()
        }),
    ] {
        let file = temp.path().join(format!("events.{format}"));
        let traced = run(nativeguard()
            .args(["trace", "--events", "--format", format, "--output"])
            .arg(&file)
            .args(["--", "/bin/sh", "-c", "/bin/true; /bin/true; exit 0"]));
        assert_eq!(traced.status.code(), Some(0), "{}", text(&traced.stderr));
        let written = std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("{err}"));
        assert!(written.ends_with('\n'), "{written}");
        // The summary counts what was written: every event (sh and two /bin/true execs at
        // least) and every alert.
        let summary = text(&traced.stderr);
        let count = |label: &str| {
            summary
                .split(label)
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("no {label} in {summary}"))
        };
        let (events, alerts) = (count("events: "), count("alerts: "));
        assert!(events >= 3, "{summary}");
        assert_eq!(
            count_items(&written),
            events + alerts,
            "{format}: {written}"
        );
    }
}

/// The syscall names a profile file allows or constrains.
fn profile_names(path: &Path) -> std::collections::BTreeSet<String> {
    let json = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{err}"));
    let value: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|err| panic!("{err}\n{json}"));
    names(&value).into_iter().collect()
}

/// `--learn FILE --merge` adds a run to the profile an earlier run wrote (a missing file starts
/// an empty one), and refuses, before running anything, a profile `--learn` did not write.
#[test]
fn learning_with_merge_adds_runs_to_one_profile() {
    let temp = tempfile::Builder::new()
        .prefix("ng-trace-merge-")
        .tempdir()
        .unwrap_or_else(|err| panic!("{err}"));
    let root = temp.path();
    let profile = root.join("profile.json");
    let learn = |command: &[&str]| {
        let output = run(nativeguard()
            .args(["trace", "--learn"])
            .arg(&profile)
            .arg("--merge")
            .arg("--")
            .args(command));
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        text(&output.stderr)
    };
    // No file yet: the first run starts the profile. `touch` sets times and lists no
    // directory; `ls` lists one and sets no times.
    let touched = root.join("touched");
    learn(&["/usr/bin/touch", &touched.to_string_lossy()]);
    let first = profile_names(&profile);
    assert!(first.contains("utimensat"), "{first:?}");
    assert!(!first.contains("getdents64"), "{first:?}");
    let said = learn(&["/bin/ls", "/"]);
    let merged = profile_names(&profile);
    assert!(merged.contains("getdents64"), "{merged:?}");
    assert!(
        merged.contains("utimensat"),
        "the first run's call was lost: {merged:?}"
    );
    assert!(
        first.is_subset(&merged),
        "the first run's calls were lost: {:?}",
        first.difference(&merged).collect::<Vec<_>>()
    );
    assert!(
        said.contains(&format!("({} in the profile before this run)", first.len())),
        "{said}"
    );

    // A profile --learn did not write: refused with the file's name, and the command never ran.
    let foreign = root.join("allow-all.json");
    let foreign_text = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}"#;
    std::fs::write(&foreign, foreign_text).unwrap_or_else(|err| panic!("{err}"));
    let marker = root.join("ran");
    let refused = run(nativeguard()
        .args(["trace", "--learn"])
        .arg(&foreign)
        .args(["--merge", "--", "/usr/bin/touch"])
        .arg(&marker));
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("allow-all.json"), "{stderr}");
    assert!(stderr.contains("default action"), "{stderr}");
    assert!(!marker.exists(), "the command ran");
    assert_eq!(
        std::fs::read_to_string(&foreign).unwrap_or_default(),
        foreign_text
    );
    // --merge means nothing without --learn.
    let alone = run(nativeguard().args(["trace", "--merge", "--", "/bin/true"]));
    assert_eq!(alone.status.code(), Some(2), "{}", text(&alone.stderr));
}

/// Runs learning into one profile at the same time each add their calls: none is lost to
/// another's write (the file is read, merged and written under a lock).
#[test]
fn concurrent_merges_lose_no_run() {
    let temp = tempfile::Builder::new()
        .prefix("ng-trace-merge-parallel-")
        .tempdir()
        .unwrap_or_else(|err| panic!("{err}"));
    let root = temp.path();
    let profile = root.join("profile.json");
    let dir = |name: &str| root.join(name).to_string_lossy().into_owned();
    // Each command makes one call none of the others makes.
    let commands: Vec<(Vec<String>, &str)> = vec![
        (vec!["/usr/bin/touch".into(), dir("t")], "utimensat"),
        (vec!["/bin/ls".into(), "/".into()], "getdents64"),
        (vec!["/bin/mkdir".into(), dir("m")], "mkdir"),
        (
            vec!["/bin/ln".into(), "-s".into(), "x".into(), dir("l")],
            "symlinkat",
        ),
    ];
    let children: Vec<_> = commands
        .iter()
        .chain(commands.iter())
        .enumerate()
        .map(|(index, (command, _))| {
            let mut command = command.clone();
            if index >= commands.len() {
                // The second round: other paths, so that each command succeeds again.
                if let Some(last) = command.last_mut() {
                    if last.starts_with(&*root.to_string_lossy()) {
                        last.push('2');
                    }
                }
            }
            nativeguard()
                .args(["trace", "--learn"])
                .arg(&profile)
                .args(["--merge", "--"])
                .args(&command)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap_or_else(|err| panic!("{err}"))
        })
        .collect();
    for child in children {
        let output = child
            .wait_with_output()
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
    let learned = profile_names(&profile);
    for (_, call) in &commands {
        assert!(learned.contains(*call), "{call} lost: {learned:?}");
    }
}

/// A command that ptrace-attaches its own child cannot under trace (its child is already
/// traced): trace says so, instead of leaving the EPERM unexplained.
#[test]
fn a_ptrace_refused_because_of_the_trace_is_explained() {
    let binary = env!("CARGO_BIN_EXE_nativeguard");
    let output = run(nativeguard().args([
        "trace",
        "--format",
        "jsonl",
        "--",
        binary,
        "emulate",
        "ptrace-poke",
    ]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("blocked: ptrace(PTRACE_ATTACH): EPERM"),
        "{stderr}"
    );
    let note = stderr
        .lines()
        .find(|line| line.starts_with("nativeguard trace: note: PTRACE_ATTACH by pid "))
        .unwrap_or_else(|| panic!("no note on the refused attach:\n{stderr}"));
    assert!(note.contains("a process has one tracer"), "{note}");
    // A command that does not trace anything gets no such note.
    let plain = run(nativeguard().args(["trace", "--format", "jsonl", "--", "/bin/true"]));
    assert!(
        !text(&plain.stderr).contains("note:"),
        "{}",
        text(&plain.stderr)
    );
}
