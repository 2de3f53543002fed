//! Prevention verdicts rest on evidence that the emulation's own step was refused by a control.

mod common;

use common::{linux_rules, run, ScriptedControls};
use nativeguard_validate::expectations::Expectations;
use nativeguard_validate::model::*;
use nativeguard_validate::runner::*;

fn judge(target: &'static str, outcome: PreventionOutcome) -> (Report, TestResult) {
    let mut controls = ScriptedControls::new(Expectations::builtin("T1106").unwrap());
    controls.target = Some(target);
    controls.outcome = outcome;
    let report = run(&mut controls, &linux_rules());
    let test = report
        .tests
        .iter()
        .find(|t| t.emulation.as_deref() == Some(target))
        .unwrap()
        .clone();
    (report, test)
}

/// `sandbox` exits 6 (CHILD_FAILED) for ANY non-zero exit of its child: here the emulation
/// could not even start its interpreter (exit 1, "unsupported: python3 is not installed"),
/// and the sandbox merely logged an unrelated, tolerated denial of another syscall. Nothing
/// shows the technique's step was refused, yet the test is reported "prevented" and passes.
#[test]
fn setup_failure_plus_unrelated_denial_is_not_prevention() {
    let (report, test) = judge(
        "python-ctypes",
        PreventionOutcome {
            exit_code: Some(6),
            denials: vec![Denial {
                syscall: "sched_setaffinity".into(),
                layer: "seccomp".into(),
                detail: r#"{"denied":"sched_setaffinity","layer":"seccomp"}"#.into(),
            }],
            blocked: None,
            stderr_tail: "nativeguard: emulate python-ctypes: unsupported: python3 is not \
                          installed (not found in PATH)"
                .into(),
        },
    );
    assert_ne!(test.prevented, Some(true), "reported prevented: {test:?}");
    assert!(
        !report.passed(),
        "a test that never ran passed the prevention check"
    );
}

/// A crash of the emulation (SIGSEGV → sandbox exit 6) with any denial logged on the way is
/// also counted as "prevented".
#[test]
fn crash_plus_unrelated_denial_is_not_prevention() {
    let (report, test) = judge(
        "mprotect-rwx",
        PreventionOutcome {
            exit_code: Some(6),
            denials: vec![Denial {
                syscall: "openat".into(),
                layer: "landlock".into(),
                detail: r#"{"denied":"openat","layer":"landlock"}"#.into(),
            }],
            blocked: None,
            stderr_tail: String::new(),
        },
    );
    assert_ne!(test.prevented, Some(true), "reported prevented: {test:?}");
    assert!(!report.passed());
}

/// `/bin/true` missing (or any other errno, e.g. EAGAIN from fork under RLIMIT_NPROC) is
/// reported by the emulation as `blocked: STEP: ENOENT` and counted as a control's block.
/// A seccomp/Landlock refusal is EPERM/EACCES (or SIGSYS); ENOENT is not a control acting.
#[test]
fn missing_binary_is_not_prevention() {
    let (report, test) = judge(
        "libc-exec",
        PreventionOutcome {
            exit_code: Some(6),
            denials: vec![],
            blocked: Some("blocked: execve: ENOENT".into()),
            stderr_tail: "blocked: execve: ENOENT".into(),
        },
    );
    assert_ne!(test.prevented, Some(true), "reported prevented: {test:?}");
    assert!(!report.passed());
}
