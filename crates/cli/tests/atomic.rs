//! `nativeguard atomic list|run`: the contract shapes, exit codes, and `atomic run T1106`
//! running the shipped Linux tests while listing Atomic Red Team's five Windows tests as
//! skipped for the platform.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

fn nativeguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nativeguard"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .env_remove("NATIVEGUARD_ART_ATOMICS")
        .output()
        .unwrap()
}

fn json(output: &Output) -> Vec<Value> {
    match serde_json::from_slice::<Value>(&output.stdout) {
        Ok(Value::Array(items)) => items,
        other => panic!(
            "not a JSON array: {other:?}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

fn art_available() -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/atomic-red-team/atomics/T1106/T1106.yaml")
        .is_file()
}

fn fixture_atomics() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../atomic/tests/fixtures/art/atomics")
}

/// An atomics folder holding `T9999/T9999.yaml` with `text`, removed when the guard drops.
fn atomics_with(name: &str, text: &str) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("nativeguard-cli-atomic-{name}-"))
        .tempdir()
        .unwrap();
    std::fs::create_dir(dir.path().join("T9999")).unwrap();
    std::fs::write(dir.path().join("T9999/T9999.yaml"), text).unwrap();
    dir
}

#[test]
fn run_t1106_passes_linux_tests_and_skips_windows_ones_for_the_platform() {
    let output = nativeguard(&[
        "atomic",
        "run",
        "T1106",
        "--format",
        "json",
        "--timeout",
        "30",
    ]);
    let results = json(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let keys = [
        "technique",
        "name",
        "guid",
        "platform",
        "status",
        "reason",
        "exit_code",
        "duration_ms",
        "stdout_tail",
        "stderr_tail",
    ];
    for r in &results {
        for key in keys {
            assert!(r.get(key).is_some(), "missing {key} in {r}");
        }
        assert_eq!(r["technique"], "T1106");
    }
    let linux: Vec<&Value> = results
        .iter()
        .filter(|r| r["platform"] == "linux")
        .collect();
    assert_eq!(linux.len(), 9, "{results:#?}");
    for r in &linux {
        assert_eq!(r["status"], "passed", "{r:#}\nstderr: {stderr}");
        assert_eq!(r["exit_code"], 0);
        // `nativeguard emulate` prints one `<name>: <step>` line per step it performed.
        let tail = r["stdout_tail"].as_str().unwrap();
        assert!(
            !tail.is_empty() && tail.lines().all(|l| l.contains(": ")),
            "{r:#}"
        );
    }
    let windows: Vec<&Value> = results
        .iter()
        .filter(|r| r["platform"] == "windows")
        .collect();
    if art_available() {
        assert_eq!(windows.len(), 5, "{results:#?}");
        for r in &windows {
            assert_eq!(r["status"], "skipped");
            assert_eq!(
                r["reason"],
                "platform: the test supports windows; this host is linux"
            );
        }
        assert_eq!(results.len(), 14);
    } else {
        eprintln!(
            "skipped: ../shared/datasets/atomic-red-team not found: Windows tests not listed"
        );
        assert_eq!(results.len(), 9);
    }
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn list_json_has_one_object_per_test() {
    let output = nativeguard(&["atomic", "list", "--format", "json", "T1106"]);
    assert_eq!(output.status.code(), Some(0));
    let items = json(&output);
    assert_eq!(items.len(), if art_available() { 14 } else { 9 });
    assert_eq!(items[0]["technique"], "T1106");
    assert_eq!(items[0]["guid"], "b4765afb-8708-4231-9a8a-b02633607f59");
    assert_eq!(items[0]["platforms"], serde_json::json!(["linux"]));
    assert!(items[0]["name"].as_str().unwrap().contains("libc"));
}

#[test]
fn explicit_path_selection_and_table_output() {
    let path = fixture_atomics();
    let path = path.to_str().unwrap();
    let output = nativeguard(&[
        "atomic", "run", "T1106", "--path", path, "-n", "2", "--format", "json",
    ]);
    let results = json(&output);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["guid"], "ce4e76e6-de70-4392-9efe-b281fc2b4087");
    assert_eq!(results[0]["status"], "skipped");
    assert_eq!(output.status.code(), Some(0));

    let output = nativeguard(&["atomic", "list", "--path", path]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert_eq!(table.lines().count(), 33, "{table}");

    let output = nativeguard(&["atomic", "run", "T1106", "--path", path, "--guid", "nope"]);
    assert_eq!(output.status.code(), Some(1));
}

const HEADER: &str = "attack_technique: T9999\ndisplay_name: Test technique\natomic_tests:\n";

#[test]
fn exit_codes_failed_invalid_and_bad_input() {
    let failing = atomics_with(
        "failing",
        &format!(
            "{HEADER}- name: fails\n  description: exits 4\n  supported_platforms: [linux]\n  \
             executor:\n    name: sh\n    command: echo out; echo err >&2; exit 4\n"
        ),
    );
    let output = nativeguard(&[
        "atomic",
        "run",
        "T9999",
        "--path",
        failing.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(6));
    let results = json(&output);
    assert_eq!(results[0]["status"], "failed");
    assert_eq!(results[0]["exit_code"], 4);
    assert_eq!(results[0]["reason"], "exit code 4");
    assert_eq!(results[0]["stdout_tail"], "out\n");
    assert_eq!(results[0]["stderr_tail"], "err\n");

    let half_invalid = atomics_with(
        "invalid",
        &format!(
            "{HEADER}- name: fine\n  description: ok\n  supported_platforms: [linux]\n  \
             executor:\n    name: sh\n    command: 'true'\n- name: broken\n  description: ok\n  \
             supported_platforms: [linux]\n  colour: red\n  executor:\n    name: sh\n    command: 'true'\n"
        ),
    );
    let output = nativeguard(&[
        "atomic",
        "run",
        "T9999",
        "--path",
        half_invalid.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("atomic_tests[1].colour"), "{stderr}");

    let typed = atomics_with(
        "typed",
        &format!(
            "{HEADER}- name: typed\n  description: ok\n  supported_platforms: [linux]\n  input_arguments:\n    \
             count:\n      description: a number\n      type: integer\n      default: 1\n  \
             executor:\n    name: sh\n    command: 'echo #{{count}}'\n"
        ),
    );
    let dir = typed.path().to_str().unwrap();
    let output = nativeguard(&[
        "atomic",
        "run",
        "T9999",
        "--path",
        dir,
        "--input",
        "count=many",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("input 'count'"));
    let output = nativeguard(&[
        "atomic", "run", "T9999", "--path", dir, "--input", "count=12", "--format", "json",
    ]);
    assert_eq!(json(&output)[0]["stdout_tail"], "12\n");

    let output = nativeguard(&["atomic", "run", "../etc"]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn a_named_art_folder_that_does_not_exist_is_an_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_nativeguard"))
        .args(["atomic", "list", "T1106"])
        .env("NATIVEGUARD_ART_ATOMICS", "/nonexistent/atomics")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/atomics"), "{stderr}");

    let fixtures = fixture_atomics();
    let output = Command::new(env!("CARGO_BIN_EXE_nativeguard"))
        .args(["atomic", "list", "--format", "json", "T1106"])
        .env("NATIVEGUARD_ART_ATOMICS", &fixtures)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(json(&output).len(), 14);
}
