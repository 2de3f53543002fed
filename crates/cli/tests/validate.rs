//! `nativeguard validate T1106` end to end, with the real controls as child processes: every
//! Linux test is detected by its intended rule and blocked by the shipped hardening policy, and
//! the run fails (exit 4, the missed entry named) when one rule is removed from the rule set.
//! Skips with a printed reason while a control it drives is not built yet.

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

/// A private directory under the system temp dir, removed when the guard drops.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("nativeguard-validate-test-{name}-"))
        .tempdir()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Why the loop cannot run here yet, if it cannot: a subcommand it drives is still a stub.
fn missing_prerequisite() -> Option<String> {
    let probes: [&[&str]; 4] = [
        &["atomic", "list", "T1106", "--format", "json"],
        &["emulate", "libc-exec"],
        &["trace", "--format", "jsonl", "--", "/bin/true"],
        &["sandbox", "--policy", "/nonexistent", "--", "/bin/true"],
    ];
    for probe in probes {
        let output = run(nativeguard().args(probe));
        let stderr = text(&output.stderr);
        if stderr.contains("not built yet") {
            return Some(format!(
                "`nativeguard {}`: {}",
                probe.join(" "),
                stderr.trim()
            ));
        }
    }
    None
}

const CONTRACT_RULES: [(&str, &str); 9] = [
    ("libc-exec", ""),
    (
        "inline-syscall-exec",
        "e325d8e1-c0e6-4d16-be67-bf6bf64dfb1f",
    ),
    ("anon-stub-exec", "e506ed97-ef61-41c2-8656-f4f09a41ce5c"),
    ("memfd-exec", "d9df4ebb-6ea0-4190-821e-745541353d4f"),
    ("spawn-variants", ""),
    ("python-ctypes", "1a4b45e3-bb6e-4f8c-8d67-eaddb128c84c"),
    ("ptrace-poke", "189b8de2-315a-4328-908e-9cf0fb8d020e"),
    ("vm-writev", "e33912b7-e739-498b-8564-a63a4ca1f30c"),
    ("mprotect-rwx", "10a7f919-caf7-46cc-8d66-14161b8eb008"),
];

#[test]
fn validate_t1106_detects_and_blocks_every_linux_test() {
    if let Some(reason) = missing_prerequisite() {
        eprintln!("skipped: {reason}");
        return;
    }
    let dir = scratch("outputs");
    let junit = dir.path().join("junit.xml");
    let layer = dir.path().join("layer.json");
    let output = run(nativeguard()
        .args(["validate", "T1106", "--format", "json", "--out"])
        .arg(dir.path().join("out"))
        .arg("--junit")
        .arg(&junit)
        .arg("--navigator")
        .arg(&layer));
    let stderr = text(&output.stderr);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}\n{stderr}", text(&output.stdout)));
    eprintln!(
        "analysis control: {} ({})",
        report["analysis_control"]["kind"], report["analysis_control"]["reason"]
    );
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let tests = report["tests"].as_array().unwrap();
    for (emulation, rule) in CONTRACT_RULES {
        let test = tests
            .iter()
            .find(|t| t["emulation"] == emulation)
            .unwrap_or_else(|| panic!("{emulation} not in the report"));
        assert_eq!(test["detection"], "pass", "{emulation}: {test:#}");
        if !rule.is_empty() {
            assert_eq!(test["detected"], true, "{emulation}");
            assert!(
                test["rules"].as_array().unwrap().iter().any(|r| r == rule),
                "{emulation}: intended rule {rule} did not fire: {test:#}"
            );
            assert!(
                test["latency_ms"].as_u64().is_some(),
                "{emulation}: latency"
            );
        } else {
            assert_eq!(test["observed"], true, "{emulation}: baseline observed");
        }
        assert_eq!(
            test["prevented"], true,
            "{emulation}: not blocked: {test:#}"
        );
        assert!(
            !test["denials"].as_array().unwrap().is_empty(),
            "{emulation}: the denial is reported"
        );
    }
    // ART's five Windows tests are listed, skipped for the platform.
    let windows = tests.iter().filter(|t| t["platform"] == "windows").count();
    assert_eq!(windows, 5);
    // Every seed Sigma rule and Splunk port is validated on samples.
    let rules = report["rules"].as_array().unwrap();
    assert_eq!(rules.iter().filter(|r| r["origin"] == "seed").count(), 9);
    assert!(report["splunk"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["validated"] == true));
    // The other outputs were written.
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(
        junit.contains("<testsuites") && !junit.contains("<failure "),
        "{junit}"
    );
    let layer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&layer).unwrap()).unwrap();
    assert_eq!(layer["techniques"][0]["techniqueID"], "T1106");
    for file in [
        "T1106.md",
        "T1106.html",
        "T1106.json",
        "T1106-navigator.json",
        "T1106-junit.xml",
    ] {
        assert!(
            dir.path().join("out").join(file).is_file(),
            "{file} written"
        );
    }
}

fn copy_dir_without(from: &Path, to: &Path, skip_id: &str) -> Option<PathBuf> {
    let mut removed = None;
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            if let Some(r) = copy_dir_without(&path, &target, skip_id) {
                removed = Some(r);
            }
        } else if path.extension().is_some_and(|e| e == "yml") {
            let body = std::fs::read_to_string(&path).unwrap();
            if body.contains(&format!("id: {skip_id}")) {
                removed = Some(path);
                continue;
            }
            std::fs::write(&target, body).unwrap();
        }
    }
    removed
}

#[test]
fn validate_fails_naming_the_miss_when_a_rule_is_removed() {
    if let Some(reason) = missing_prerequisite() {
        eprintln!("skipped: {reason}");
        return;
    }
    let dir = scratch("removed-rule");
    let rules = dir.path().join("linux");
    let memfd_rule = "d9df4ebb-6ea0-4190-821e-745541353d4f";
    let removed = copy_dir_without(&repo().join("rules/linux"), &rules, memfd_rule)
        .expect("the memfd rule is in rules/linux");
    eprintln!("removed {}", removed.display());
    // The same run with the full set, so the removal's effect is told apart from anything
    // else that may miss on this machine.
    let missed = |output: &Output| -> Vec<String> {
        text(&output.stderr)
            .lines()
            .filter(|l| l.contains("missed:"))
            .map(str::to_string)
            .collect()
    };
    let full = run(nativeguard()
        .args(["validate", "T1106", "--rules"])
        .arg(repo().join("rules/linux")));
    let output = run(nativeguard()
        .args(["validate", "T1106", "--rules"])
        .arg(&rules));
    let stderr = text(&output.stderr);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(4),
        "CONTROL_MISSED expected\n{stderr}"
    );
    let before = missed(&full);
    let after = missed(&output);
    let new: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
    assert!(
        new.iter()
            .any(|l| l.contains("Fileless execution from a memfd") && l.contains(memfd_rule)),
        "the missed entry is named: {stderr}"
    );
    assert!(
        new.iter().all(|l| l.contains(memfd_rule)),
        "every new miss is the removed rule's: {new:#?}"
    );
    assert!(
        before.iter().all(|l| after.contains(l)),
        "removing a rule cannot fix anything: {before:#?} vs {after:#?}"
    );
    assert!(
        stdout.contains("## Failures"),
        "the Markdown report lists the failure"
    );
}

#[test]
fn validate_refuses_a_technique_without_data() {
    let output = run(nativeguard().args(["validate", "T1059"]));
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("T1059") && stderr.contains("T1106"),
        "{stderr}"
    );
}

/// Runs `command` as user `nobody` through setpriv, when root and setpriv exists.
fn as_nobody(binary: &Path, args: &[&str]) -> Result<Output, String> {
    if !common::is_root() {
        return Err("not root: cannot switch to another user".into());
    }
    let probe = Command::new("setpriv").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return Err("setpriv (util-linux) is not installed".into());
    }
    Ok(run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(binary)
        .args(args)
        .env("HOME", std::env::temp_dir())))
}

#[test]
fn validate_as_a_normal_user_falls_back_to_the_tracer() {
    if let Some(reason) = missing_prerequisite() {
        eprintln!("skipped: {reason}");
        return;
    }
    let binary = Path::new(env!("CARGO_BIN_EXE_nativeguard"));
    let output = match as_nobody(binary, &["validate", "T1106", "--format", "json"]) {
        Ok(output) => output,
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return;
        }
    };
    let stderr = text(&output.stderr);
    let Ok(report) = serde_json::from_slice::<serde_json::Value>(&output.stdout) else {
        // The binary may sit where `nobody` cannot reach it (a private target dir).
        eprintln!("skipped: the binary did not run as nobody: {stderr}");
        return;
    };
    assert_eq!(report["analysis_control"]["kind"], "trace", "{stderr}");
    let reason = report["analysis_control"]["reason"].as_str().unwrap();
    assert!(reason.contains("not root"), "{reason}");
    for test in report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["platform"] == "linux")
    {
        let emulation = test["emulation"].as_str().unwrap();
        // The sandbox needs no privilege: every test is still blocked.
        assert_eq!(test["prevented"], true, "{emulation}: {test:#}");
        if test["detection"] == "not-run" {
            // Only a test that itself uses ptrace may not run under the ptrace tracer, and the
            // report must say why.
            assert_eq!(emulation, "ptrace-poke", "{test:#}");
            assert!(
                test["reason"].as_str().unwrap().contains("ptrace-attached"),
                "{test:#}"
            );
        }
    }
}
