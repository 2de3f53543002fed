//! The runner against real processes: substitution, prerequisites, cleanup after failure and
//! timeout, process-group kills reaching grandchildren, and the skip rules.

use nativeguard_atomic::{
    check_inputs, parse_technique, run_test, Error, Mode, RunOptions, SkipKind, Status, Technique,
    TestResult,
};
use std::path::Path;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A fresh scratch directory for one test, removed when the guard drops (also on a panic).
fn scratch(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("nativeguard-atomic-{name}-"))
        .tempdir()
        .unwrap()
}

fn technique(yaml: &str) -> Technique {
    let parsed = parse_technique("test.yaml", yaml);
    assert!(parsed.errors.is_empty(), "{:#?}", parsed.errors);
    parsed.technique.unwrap()
}

/// One linux `sh` test with the given extra keys (indented two spaces) and executor keys.
fn one_test(extra: &str, executor: &str) -> Technique {
    technique(&format!(
        "attack_technique: T1106\ndisplay_name: Native API\natomic_tests:\n- name: t\n  \
         description: d\n  supported_platforms: [linux]\n{extra}  executor:\n    name: sh\n{executor}"
    ))
}

fn options() -> RunOptions {
    RunOptions {
        timeout: Duration::from_secs(20),
        ..RunOptions::default()
    }
}

fn run(t: &Technique, options: &RunOptions) -> TestResult {
    run_test(t, Path::new("/atomics"), &t.tests[0], options)
}

/// Whether `pid` is gone (no /proc entry) or dead awaiting its reaper (zombie).
fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn wait_dead(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if is_dead(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn inputs_defaults_overrides_and_atomics_folder_are_substituted() {
    let t = one_test(
        "  input_arguments:\n    word:\n      description: w\n      type: string\n      default: hello\n    \
         count:\n      description: c\n      type: integer\n      default: 3\n",
        "    command: |\n      echo \"#{word} #{count} PathToAtomicsFolder/T1106\"\n",
    );
    let result = run(&t, &options());
    assert_eq!(result.status, Status::Passed, "{result:?}");
    assert_eq!(result.stdout_tail, "hello 3 /atomics/T1106\n");

    let mut with_input = options();
    with_input.inputs = vec![
        ("count".into(), "7".into()),
        ("word".into(), "#{count}".into()),
    ];
    check_inputs(&[&t.tests[0]], &with_input.inputs).unwrap();
    let result = run(&t, &with_input);
    // A value is inserted as is: it is not expanded again.
    assert_eq!(result.stdout_tail, "#{count} 7 /atomics/T1106\n");
}

#[test]
fn inputs_are_type_checked_and_must_exist() {
    let t = one_test(
        "  input_arguments:\n    count:\n      description: c\n      type: integer\n      default: 3\n",
        "    command: 'echo #{count}'\n",
    );
    let tests = [&t.tests[0]];
    let err = check_inputs(&tests, &[("count".into(), "many".into())]).unwrap_err();
    assert!(
        matches!(&err, Error::Input { name, .. } if name == "count"),
        "{err}"
    );
    assert!(err.to_string().contains("int_parsing"), "{err}");
    let err = check_inputs(&tests, &[("nope".into(), "1".into())]).unwrap_err();
    assert!(err.to_string().contains("inputs: count"), "{err}");
}

#[test]
fn unmet_prerequisite_skips_and_get_prereqs_meets_it() {
    let dir = scratch("prereq");
    let flag = dir.path().join("flag");
    let t = one_test(
        &format!(
            "  dependencies:\n  - description: the flag file exists\n    prereq_command: test -f {f}\n    \
             get_prereq_command: touch {f}\n",
            f = flag.display()
        ),
        "    command: echo ran\n",
    );
    let result = run(&t, &options());
    assert_eq!(result.status, Status::Skipped);
    assert_eq!(result.skip, Some(SkipKind::Prerequisite));
    assert!(
        result
            .reason
            .as_deref()
            .unwrap()
            .contains("the flag file exists"),
        "{result:?}"
    );

    let check = RunOptions {
        mode: Mode::CheckPrereqs,
        ..options()
    };
    assert_eq!(run(&t, &check).status, Status::Failed);
    assert!(!flag.exists(), "checking must not change anything");

    let get = RunOptions {
        mode: Mode::GetPrereqs,
        ..options()
    };
    let result = run(&t, &get);
    assert_eq!(result.status, Status::Passed, "{result:?}");
    assert!(flag.exists());
    assert_eq!(run(&t, &check).status, Status::Passed);
    let result = run(&t, &options());
    assert_eq!(result.status, Status::Passed);
    assert_eq!(result.stdout_tail, "ran\n");
}

#[test]
fn cleanup_runs_after_a_failing_command() {
    let dir = scratch("cleanup-fail");
    let cleaned = dir.path().join("cleaned");
    let t = one_test(
        "",
        &format!(
            "    command: echo before; exit 3\n    cleanup_command: touch {}\n",
            cleaned.display()
        ),
    );
    let result = run(&t, &options());
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.exit_code, Some(3));
    assert_eq!(result.reason.as_deref(), Some("exit code 3"));
    assert_eq!(result.stdout_tail, "before\n");
    assert_eq!(result.cleanup_exit_code, Some(0));
    assert!(cleaned.exists(), "cleanup did not run after the failure");

    // --cleanup runs only the cleanup.
    std::fs::remove_file(&cleaned).unwrap();
    let only = RunOptions {
        mode: Mode::Cleanup,
        ..options()
    };
    let result = run(&t, &only);
    assert_eq!(result.status, Status::Passed);
    assert!(cleaned.exists());
}

#[test]
fn timeout_kills_the_process_group_then_cleanup_runs() {
    let dir = scratch("timeout");
    let cleaned = dir.path().join("cleaned");
    let grandchild = dir.path().join("grandchild.pid");
    // sh (child) -> sh (grandchild) -> sleep (great-grandchild), all in the test's group.
    let t = one_test(
        "",
        &format!(
            "    command: |\n      sh -c 'sleep 300 & echo $! > {g}; wait'\n    cleanup_command: touch {c}\n",
            g = grandchild.display(),
            c = cleaned.display()
        ),
    );
    // Long enough for the shells to start on a loaded CI machine, short enough to stay quick.
    let quick = RunOptions {
        timeout: Duration::from_millis(2000),
        ..options()
    };
    let started = Instant::now();
    let result = run(&t, &quick);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(result.status, Status::Failed);
    assert!(
        result
            .reason
            .as_deref()
            .unwrap()
            .starts_with("timed out after 2.0s"),
        "{result:?}"
    );
    assert!(cleaned.exists(), "cleanup did not run after the timeout");
    let pid = read_pid(&grandchild);
    assert!(wait_dead(pid), "grandchild {pid} survived the timeout");
}

#[test]
fn processes_left_behind_are_killed_and_do_not_block_the_run() {
    let dir = scratch("background");
    let pid_file = dir.path().join("bg.pid");
    // The background sleep keeps stdout open; the run must still end when the shell exits.
    let t = one_test(
        "",
        &format!(
            "    command: sleep 300 & echo $! > {}\n",
            pid_file.display()
        ),
    );
    let started = Instant::now();
    let result = run(&t, &options());
    assert_eq!(result.status, Status::Passed, "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let pid = read_pid(&pid_file);
    assert!(wait_dead(pid), "background process {pid} outlived its test");
}

#[test]
fn skip_rules_explain_themselves() {
    let windows = technique(
        "attack_technique: T1106\ndisplay_name: Native API\natomic_tests:\n- name: w\n  description: d\n  \
         supported_platforms: [windows]\n  executor:\n    name: command_prompt\n    command: calc.exe\n",
    );
    let result = run(&windows, &options());
    assert_eq!(result.skip, Some(SkipKind::Platform));
    assert_eq!(result.platform, "windows");
    assert_eq!(
        result.reason.as_deref(),
        Some("platform: the test supports windows; this host is linux")
    );

    let network = one_test("", "    command: curl -s https://example.org\n");
    let result = run(&network, &options());
    assert_eq!(result.skip, Some(SkipKind::Network));
    assert!(result
        .reason
        .as_deref()
        .unwrap()
        .contains("--allow-network"));

    let url_input = one_test(
        "  input_arguments:\n    site:\n      description: s\n      type: url\n      default: example.org\n",
        "    command: 'echo #{site}'\n",
    );
    let result = run(&url_input, &options());
    assert_eq!(result.skip, Some(SkipKind::Network));
    assert!(result
        .reason
        .as_deref()
        .unwrap()
        .contains("url input 'site'"));
    let allowed = RunOptions {
        allow_network: true,
        ..options()
    };
    assert_eq!(run(&url_input, &allowed).status, Status::Passed);

    let elevated = one_test("", "    elevation_required: true\n    command: sudo id\n");
    let not_root = RunOptions {
        is_root: false,
        ..options()
    };
    let result = run(&elevated, &not_root);
    assert_eq!(result.skip, Some(SkipKind::Elevation));

    let manual = technique(
        "attack_technique: T1106\ndisplay_name: Native API\natomic_tests:\n- name: m\n  description: d\n  \
         supported_platforms: [linux]\n  executor:\n    name: manual\n    steps: open the settings and click\n",
    );
    let result = run(&manual, &options());
    assert_eq!(result.skip, Some(SkipKind::Executor));
}

#[test]
fn get_prereqs_that_download_need_allow_network() {
    let t = one_test(
        "  dependencies:\n  - description: the tool is present\n    prereq_command: 'false'\n    \
         get_prereq_command: wget -q -O /tmp/x https://example.org/tool\n",
        "    command: echo ran\n",
    );
    let get = RunOptions {
        mode: Mode::GetPrereqs,
        ..options()
    };
    let result = run(&t, &get);
    assert_eq!(result.skip, Some(SkipKind::Network));
    let reason = result.reason.unwrap();
    assert!(
        reason.contains("get_prereq_command for 'the tool is present'"),
        "{reason}"
    );
    assert!(reason.contains("--allow-network"), "{reason}");
    // A plain run only checks the prerequisite, which does not reach the network.
    assert_eq!(run(&t, &options()).skip, Some(SkipKind::Prerequisite));
}
