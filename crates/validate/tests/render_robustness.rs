//! renderers on values that come from rules and events.

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
        PreventionControl {
            command: "sandbox".into(),
            policy: "-".into(),
            landlock: "-".into(),
        }
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
    let (mut rules, errors) = read_rules(nativeguard_rules::LINUX.iter().map(|r| (r.path, r.text)));
    assert!(errors.is_empty());
    let (custom, errors) = read_rules([(
        "local/custom.yml",
        "title: Local rule\nid: ruleidxé-local\nlevel: informational\nlogsource: {product: linux}\n\
         detection: {sel: {a: b}, condition: sel}\n",
    )]);
    assert!(errors.is_empty(), "{errors:?}");
    rules.extend(custom);
    let rules: Vec<RuleMeta> = rules;
    let mut runner = Runner {
        exp: exp.clone(),
        extra,
    };
    let report = validate(
        &mut runner,
        Inputs {
            expectations: &exp,
            linux_rules: &rules,
            windows: validate_embedded(&exp),
        },
    );
    let html = std::panic::catch_unwind(|| render::html(&report));
    assert!(html.is_ok(), "render::html panicked on rule id {extra:?}");
}

/// The sensor could not be stopped cleanly (or a Windows sample line was unreadable, or a
/// Windows rule did not load): `report.errors` is non-empty, `passed()` is false and the CLI
/// exits 1, but the JUnit XML — the artefact CI gates on — has no failure and no error: errors
/// not tied to a test or rule are dropped by `render::junit`.
#[test]
fn junit_reports_run_level_errors() {
    struct Stuck(Runner);
    impl ControlRunner for Stuck {
        fn list_tests(&mut self, t: &str) -> Result<Vec<ListedTest>, Error> {
            self.0.list_tests(t)
        }
        fn start_analysis(&mut self) -> Result<AnalysisControl, Error> {
            self.0.start_analysis()
        }
        fn detect(&mut self, e: &str) -> Result<DetectionOutcome, Error> {
            self.0.detect(e)
        }
        fn stop_analysis(&mut self) -> Result<Vec<String>, Error> {
            Err(Error::Control {
                command: "monitor".into(),
                message: "did not stop".into(),
            })
        }
        fn prevention_control(&self) -> PreventionControl {
            self.0.prevention_control()
        }
        fn prevent(&mut self, e: &str) -> Result<PreventionOutcome, Error> {
            self.0.prevent(e)
        }
    }
    let exp = Expectations::builtin("T1106").unwrap();
    let (rules, _) = read_rules(nativeguard_rules::LINUX.iter().map(|r| (r.path, r.text)));
    let mut runner = Stuck(Runner {
        exp: exp.clone(),
        extra: "e325d8e1-c0e6-4d16-be67-bf6bf64dfb1f",
    });
    let report = validate(
        &mut runner,
        Inputs {
            expectations: &exp,
            linux_rules: &rules,
            windows: validate_embedded(&exp),
        },
    );
    assert!(!report.passed(), "{:?}", report.errors);
    let xml = render::junit(&report);
    let head = xml.lines().nth(1).unwrap().to_string();
    assert!(
        !(head.contains("failures=\"0\"") && head.contains("errors=\"0\"")),
        "report failed ({:?}) but JUnit says: {head}",
        report.errors
    );
}
