//! review: renderers on values that come from rules and events.

use nativeguard_validate::catalog::{read_rules, RuleMeta};
use nativeguard_validate::expectations::Expectations;
use nativeguard_validate::model::*;
use nativeguard_validate::runner::*;
use nativeguard_validate::windows::validate_embedded;
use nativeguard_validate::{render, validate, Error, Inputs};

/// Every test fires its expected rules plus the `--rules` rule `extra`; the sandbox blocks all.
struct Runner {
    exp: Expectations,
    extra: &'static str,
}

impl ControlRunner for Runner {
    fn list_tests(&mut self, _: &str) -> Result<Vec<ListedTest>, Error> {
        Err(Error::Control { command: "atomic list".into(), message: "n/a".into() })
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
        let mut ids = e.rules.clone();
        if !e.baseline {
            ids.push(self.extra.to_string());
        }
        Ok(DetectionOutcome {
            exit_code: Some(0),
            alerts: ids
                .into_iter()
                .map(|id| AlertSummary {
                    id,
                    title: "t".into(),
                    level: "informational".into(),
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
        PreventionControl { command: "sandbox".into(), policy: "-".into(), landlock: "-".into() }
    }
    fn prevent(&mut self, _: &str) -> Result<PreventionOutcome, Error> {
        Ok(PreventionOutcome {
            exit_code: Some(6),
            denials: vec![],
            blocked: Some("blocked: execve: EPERM".into()),
            stderr_tail: String::new(),
        })
    }
}

/// A `--rules` rule whose id is not pure ASCII (Sigma ids are not checked by the reader) and
/// that fires on a test: `html()` slices the id at byte 8 (`&id[..id.len().min(8)]`,
/// html.rs) and panics when byte 8 is inside a character, so `nativeguard validate` dies
/// before writing any report.
#[test]
fn html_survives_a_non_ascii_rule_id() {
    let extra = "ruleidxé-local"; // 'é' occupies bytes 7..9
    let exp = Expectations::builtin("T1106").unwrap();
    let (mut rules, errors) =
        read_rules(nativeguard_rules::LINUX.iter().map(|r| (r.path, r.text)));
    assert!(errors.is_empty());
    let (custom, errors) = read_rules([(
        "local/custom.yml",
        "title: Local rule\nid: ruleidxé-local\nlevel: informational\nlogsource: {product: linux}\n\
         detection: {sel: {a: b}, condition: sel}\n",
    )]);
    assert!(errors.is_empty(), "{errors:?}");
    rules.extend(custom);
    let rules: Vec<RuleMeta> = rules;
    let mut runner = Runner { exp: exp.clone(), extra };
    let report = validate(
        &mut runner,
        Inputs { expectations: &exp, linux_rules: &rules, windows: validate_embedded(&exp) },
    );
    let html = std::panic::catch_unwind(|| render::html(&report));
    assert!(html.is_ok(), "render::html panicked on rule id {extra:?}");
}
