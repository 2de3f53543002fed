//! A scripted set of controls for the validation loop (shared by the integration tests).
#![allow(dead_code)]

use nativeguard_validate::catalog::{read_rules, RuleMeta};
use nativeguard_validate::expectations::Expectations;
use nativeguard_validate::model::*;
use nativeguard_validate::runner::*;
use nativeguard_validate::windows::validate_embedded;
use nativeguard_validate::{validate, Error, Inputs};

/// Detection fires each test's expected rules (and `extra`, at level informational, on every
/// test but the baselines); prevention gives `outcome` for the test `target` and a genuine
/// block for every other; `stop_error` makes stopping the analysis control fail.
pub struct ScriptedControls {
    pub exp: Expectations,
    pub extra: Option<&'static str>,
    pub target: Option<&'static str>,
    pub outcome: PreventionOutcome,
    pub stop_error: bool,
}

impl ScriptedControls {
    /// Every test detected and blocked as expected.
    pub fn new(exp: Expectations) -> ScriptedControls {
        ScriptedControls {
            exp,
            extra: None,
            target: None,
            outcome: genuine_block(),
            stop_error: false,
        }
    }
}

/// A block as the sandbox reports one: the emulation's exec refused by Landlock, and the
/// sandbox's denial of it.
pub fn genuine_block() -> PreventionOutcome {
    PreventionOutcome {
        exit_code: Some(6),
        denials: vec![Denial {
            syscall: "execve".into(),
            layer: "landlock".into(),
            detail: r#"{"denied":"execve","layer":"landlock"}"#.into(),
        }],
        blocked: Some("blocked: execve: EACCES".into()),
        stderr_tail: String::new(),
    }
}

impl ControlRunner for ScriptedControls {
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
        let alert = |id: &str, level: &str| AlertSummary {
            id: id.to_string(),
            title: "t".into(),
            level: level.into(),
            author: None,
            latency_ms: 1,
        };
        let mut alerts: Vec<AlertSummary> = e.rules.iter().map(|id| alert(id, "high")).collect();
        if let Some(extra) = self.extra.filter(|_| !e.baseline) {
            alerts.push(alert(extra, "informational"));
        }
        Ok(DetectionOutcome {
            exit_code: Some(0),
            alerts,
            observed_exec: true,
            events: 1,
            stderr_tail: String::new(),
        })
    }
    fn stop_analysis(&mut self) -> Result<Vec<String>, Error> {
        if self.stop_error {
            return Err(Error::Control {
                command: "monitor".into(),
                message: "did not stop".into(),
            });
        }
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
        if self.target == Some(emulation) {
            return Ok(self.outcome.clone());
        }
        Ok(genuine_block())
    }
}

/// The embedded Linux rules.
pub fn linux_rules() -> Vec<RuleMeta> {
    read_rules(nativeguard_rules::LINUX.iter().map(|r| (r.path, r.text))).0
}

/// The T1106 validation with `controls`, over `rules`.
pub fn run(controls: &mut ScriptedControls, rules: &[RuleMeta]) -> Report {
    let exp = controls.exp.clone();
    validate(
        controls,
        Inputs {
            expectations: &exp,
            linux_rules: rules,
            windows: validate_embedded(&exp),
        },
    )
}
