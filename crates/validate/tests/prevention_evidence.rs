//! Prevention verdicts rest on evidence that the emulation's own step was refused by a control.

use nativeguard_validate::catalog::{read_rules, RuleMeta};
use nativeguard_validate::expectations::Expectations;
use nativeguard_validate::model::*;
use nativeguard_validate::runner::*;
use nativeguard_validate::windows::validate_embedded;
use nativeguard_validate::{validate, Error, Inputs};

/// Detection passes everywhere; prevention returns `outcome` for `target`, and a clean,
/// genuine block for every other test.
struct Runner {
    exp: Expectations,
    target: &'static str,
    outcome: PreventionOutcome,
}

impl ControlRunner for Runner {
    fn list_tests(&mut self, _: &str) -> Result<Vec<ListedTest>, Error> {
        Err(Error::Control {
            command: "atomic list".into(),
            message: "n/a".into(),
        })
    }
    fn start_analysis(&mut self) -> Result<AnalysisControl, Error> {
        Ok(AnalysisControl {
            kind: AnalysisKind::Trace,
            command: "trace".into(),
            reason: String::new(),
            rules: String::new(),
        })
    }
    fn detect(&mut self, emulation: &str) -> Result<DetectionOutcome, Error> {
        let e = self.exp.linux_test(emulation).unwrap();
        Ok(DetectionOutcome {
            exit_code: Some(0),
            alerts: e
                .rules
                .iter()
                .map(|id| AlertSummary {
                    id: id.clone(),
                    title: "t".into(),
                    level: "high".into(),
                    author: None,
                    latency_ms: 1,
                })
                .collect(),
            observed_exec: true,
            events: 1,
            stderr_tail: String::new(),
        })
    }
    fn stop_analysis(&mut self) -> Result<Vec<String>, Error> {
        Ok(vec![])
    }
    fn prevention_control(&self) -> PreventionControl {
        PreventionControl {
            command: "sandbox".into(),
            policy: "-".into(),
            landlock: "-".into(),
        }
    }
    fn prevent(&mut self, emulation: &str) -> Result<PreventionOutcome, Error> {
        if emulation == self.target {
            return Ok(self.outcome.clone());
        }
        Ok(PreventionOutcome {
            exit_code: Some(6),
            denials: vec![Denial {
                syscall: "execve".into(),
                layer: "landlock".into(),
                detail: r#"{"denied":"execve","layer":"landlock"}"#.into(),
            }],
            blocked: Some("blocked: execve: EACCES".into()),
            stderr_tail: String::new(),
        })
    }
}

fn linux_rules() -> Vec<RuleMeta> {
    read_rules(nativeguard_rules::LINUX.iter().map(|r| (r.path, r.text))).0
}

fn judge(target: &'static str, outcome: PreventionOutcome) -> (Report, TestResult) {
    let exp = Expectations::builtin("T1106").unwrap();
    let mut runner = Runner {
        exp: exp.clone(),
        target,
        outcome,
    };
    let rules = linux_rules();
    let report = validate(
        &mut runner,
        Inputs {
            expectations: &exp,
            linux_rules: &rules,
            windows: validate_embedded(&exp),
        },
    );
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
