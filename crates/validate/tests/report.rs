//! The loop over a fake runner, and every renderer checked against its format: the JSON report
//! against schema/report.schema.json, the Navigator layer against the 4.5 spec (schema written
//! from ../shared/specs/attack-navigator/layerformat.md), the Markdown against the seed page's
//! resource list, the HTML in headless Chromium.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use nativeguard_validate::catalog::{read_rules, RuleMeta};
use nativeguard_validate::expectations::Expectations;
use nativeguard_validate::model::*;
use nativeguard_validate::runner::*;
use nativeguard_validate::windows::validate_embedded;
use nativeguard_validate::{render, validate, Error, Inputs};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// Canned outcomes: every test fires its expected rules (unless told otherwise), every test is
/// blocked by the sandbox.
struct FakeRunner {
    exp: Expectations,
    drop_rule: Option<&'static str>,
    sensor_fails: bool,
    let_run: Option<&'static str>,
    calls: Vec<String>,
}

impl FakeRunner {
    fn new() -> Self {
        FakeRunner {
            exp: Expectations::builtin("T1106").unwrap(),
            drop_rule: None,
            sensor_fails: false,
            let_run: None,
            calls: Vec::new(),
        }
    }
}

impl ControlRunner for FakeRunner {
    fn list_tests(&mut self, _technique: &str) -> Result<Vec<ListedTest>, Error> {
        let mut tests: Vec<ListedTest> = self
            .exp
            .linux_tests
            .iter()
            .map(|t| ListedTest {
                technique: "T1106".into(),
                name: format!("Linux test of {}", t.emulation.replace('-', "_")),
                guid: t.guid.clone(),
                platforms: vec!["linux".into()],
            })
            .collect();
        tests.extend(self.exp.windows_tests.iter().map(|t| ListedTest {
            technique: "T1106".into(),
            name: t.name.clone(),
            guid: Some(t.guid.clone()),
            platforms: vec!["windows".into()],
        }));
        Ok(tests)
    }

    fn start_analysis(&mut self) -> Result<AnalysisControl, Error> {
        if self.sensor_fails {
            return Err(Error::Control {
                command: "monitor".into(),
                message: "`monitor` is not built yet".into(),
            });
        }
        Ok(AnalysisControl {
            kind: AnalysisKind::Sensor,
            command: "nativeguard monitor --format jsonl".into(),
            reason: "root with eBPF".into(),
            rules: "embedded".into(),
        })
    }

    fn detect(&mut self, emulation: &str) -> Result<DetectionOutcome, Error> {
        self.calls.push(format!("detect {emulation}"));
        let expectation = self.exp.linux_test(emulation).unwrap();
        let alerts = expectation
            .rules
            .iter()
            .filter(|r| Some(r.as_str()) != self.drop_rule)
            .enumerate()
            .map(|(i, id)| AlertSummary {
                id: id.clone(),
                title: format!("rule {id}"),
                level: "high".into(),
                author: Some("nativeguard".into()),
                latency_ms: 10 + i as u64,
            })
            .collect();
        Ok(DetectionOutcome {
            exit_code: Some(0),
            alerts,
            observed_exec: true,
            events: 5,
            stderr_tail: String::new(),
        })
    }

    fn stop_analysis(&mut self) -> Result<Vec<String>, Error> {
        Ok(vec!["sensor: 0 lost events".into()])
    }

    fn prevention_control(&self) -> PreventionControl {
        PreventionControl {
            command: "nativeguard sandbox ...".into(),
            policy: "shipped".into(),
            landlock: "shipped".into(),
        }
    }

    fn prevent(&mut self, emulation: &str) -> Result<PreventionOutcome, Error> {
        self.calls.push(format!("prevent {emulation}"));
        if self.let_run == Some(emulation) {
            return Ok(PreventionOutcome {
                exit_code: Some(0),
                ..PreventionOutcome::default()
            });
        }
        Ok(PreventionOutcome {
            exit_code: Some(6),
            denials: vec![Denial {
                syscall: "memfd_create".into(),
                layer: "seccomp".into(),
                detail: "{\"denied\":\"memfd_create\"}".into(),
            }],
            blocked: Some("blocked: memfd_create: EPERM".into()),
            stderr_tail: String::new(),
        })
    }
}

fn linux_rules() -> Vec<RuleMeta> {
    let (rules, errors) = read_rules(nativeguard_rules::LINUX.iter().map(|r| (r.path, r.text)));
    assert!(errors.is_empty(), "{errors:?}");
    rules
}

fn run(runner: &mut FakeRunner, rules: &[RuleMeta]) -> Report {
    let exp = Expectations::builtin("T1106").unwrap();
    let windows = validate_embedded(&exp);
    validate(
        runner,
        Inputs {
            expectations: &exp,
            linux_rules: rules,
            windows,
        },
    )
}

#[test]
fn all_controls_acting_gives_a_passing_report() {
    let mut runner = FakeRunner::new();
    let report = run(&mut runner, &linux_rules());
    assert!(
        report.passed(),
        "{:#?} {:#?}",
        report.failures,
        report.errors
    );
    assert_eq!(runner.calls.len(), 18, "9 tests × (detection, prevention)");
    let linux: Vec<&TestResult> = report
        .tests
        .iter()
        .filter(|t| t.source == TestSource::Nativeguard)
        .collect();
    assert_eq!(linux.len(), 9);
    for t in &linux {
        assert_eq!(t.detection, Verdict::Pass, "{}", t.name);
        assert_eq!(t.prevention, Verdict::Pass, "{}", t.name);
        assert!(t.guid.is_some(), "{} paired with its atomic test", t.name);
    }
    let memfd = linux
        .iter()
        .find(|t| t.emulation.as_deref() == Some("memfd-exec"))
        .unwrap();
    assert_eq!(memfd.rules, vec!["d9df4ebb-6ea0-4190-821e-745541353d4f"]);
    assert_eq!(memfd.latency_ms, Some(10));
    assert_eq!(memfd.prevented, Some(true));
    let skipped = report
        .tests
        .iter()
        .filter(|t| t.status == TestStatus::Skipped)
        .count();
    assert_eq!(skipped, 5, "ART's five Windows tests");
    assert!(report.policy_controls.iter().all(|c| c.validated));
    assert_eq!(report.totals.rules_validated_on_samples, 19);
}

#[test]
fn a_rule_that_does_not_fire_is_a_named_miss() {
    let mut runner = FakeRunner::new();
    runner.drop_rule = Some("d9df4ebb-6ea0-4190-821e-745541353d4f");
    let report = run(&mut runner, &linux_rules());
    assert!(!report.passed());
    let missed: Vec<&Failure> = report.failures.iter().collect();
    assert_eq!(
        missed.len(),
        2,
        "memfd-exec and python-ctypes both expect it: {missed:#?}"
    );
    assert!(missed
        .iter()
        .all(|f| f.message.contains("d9df4ebb") && f.message.contains("did not fire")));
    assert!(missed
        .iter()
        .any(|f| f.entry.contains("memfd") || f.entry.contains("Fileless")));
    let rule = report
        .rules
        .iter()
        .find(|r| r.id.starts_with("d9df4ebb"))
        .unwrap();
    assert_eq!(rule.result, RuleStatus::Failed);
}

#[test]
fn a_rule_removed_from_the_set_is_reported_missing() {
    let mut runner = FakeRunner::new();
    runner.drop_rule = Some("e33912b7-e739-498b-8564-a63a4ca1f30c");
    let rules: Vec<RuleMeta> = linux_rules()
        .into_iter()
        .filter(|r| !r.id.starts_with("e33912b7"))
        .collect();
    let report = run(&mut runner, &rules);
    let failure = report
        .failures
        .iter()
        .find(|f| f.message.contains("e33912b7"))
        .unwrap();
    assert!(
        failure.message.contains("not in the rule set"),
        "{}",
        failure.message
    );
    let rule = report
        .rules
        .iter()
        .find(|r| r.id.starts_with("e33912b7"))
        .unwrap();
    assert_eq!(rule.result, RuleStatus::Missing);
    assert!(!rule.validated);
}

#[test]
fn a_test_the_sandbox_lets_run_is_a_miss() {
    let mut runner = FakeRunner::new();
    runner.let_run = Some("ptrace-poke");
    let report = run(&mut runner, &linux_rules());
    let failure = report
        .failures
        .iter()
        .find(|f| f.control == "sandbox")
        .unwrap();
    assert!(
        failure.message.contains("did not block"),
        "{}",
        failure.message
    );
    let test = report
        .tests
        .iter()
        .find(|t| t.emulation.as_deref() == Some("ptrace-poke"))
        .unwrap();
    assert_eq!(test.prevented, Some(false));
    assert_eq!(test.prevention, Verdict::Fail);
}

#[test]
fn a_control_that_cannot_start_is_an_error_never_a_pass() {
    let mut runner = FakeRunner::new();
    runner.sensor_fails = true;
    let report = run(&mut runner, &linux_rules());
    assert!(!report.passed());
    assert!(report.errors.iter().any(|e| e.contains("not built yet")));
    assert!(report.tests.iter().all(|t| t.detection == Verdict::NotRun));
    let sca = report
        .policy_controls
        .iter()
        .find(|c| c.id == "D3-SCA")
        .unwrap();
    assert!(!sca.validated);
    assert_eq!(report.analysis_control.kind, AnalysisKind::None);
}

fn compile_schema(path: &Path) -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn errors_of(validator: &jsonschema::Validator, value: &serde_json::Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn json_report_matches_its_schema_and_the_issue_fields() {
    let validator =
        compile_schema(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json"));
    for runner in [FakeRunner::new(), {
        let mut r = FakeRunner::new();
        r.drop_rule = Some("d9df4ebb-6ea0-4190-821e-745541353d4f");
        r.sensor_fails = false;
        r
    }] {
        let mut runner = runner;
        let report = run(&mut runner, &linux_rules());
        let value: serde_json::Value = serde_json::from_str(&render::json(&report)).unwrap();
        let errors = errors_of(&validator, &value);
        assert!(errors.is_empty(), "{errors:#?}");
        // The fields the issue names.
        assert_eq!(value["technique"], "T1106");
        for test in value["tests"].as_array().unwrap() {
            for key in [
                "name",
                "guid",
                "platform",
                "detected",
                "rules",
                "latency_ms",
                "prevented",
            ] {
                assert!(test.get(key).is_some(), "test lacks {key}");
            }
        }
        for rule in value["rules"].as_array().unwrap() {
            for key in ["id", "title", "validated", "evidence"] {
                assert!(rule.get(key).is_some(), "rule lacks {key}");
            }
        }
    }
    // The schema can fail: a report with a rule "validated" without evidence is rejected.
    let mut runner = FakeRunner::new();
    let report = run(&mut runner, &linux_rules());
    let mut value: serde_json::Value = serde_json::from_str(&render::json(&report)).unwrap();
    value["rules"][0]["result"] = "no-sample".into();
    value["rules"][0]["validated"] = true.into();
    assert!(
        !errors_of(&validator, &value).is_empty(),
        "no sample can never be validated"
    );
}

#[test]
fn navigator_layer_follows_the_4_5_spec() {
    let validator = compile_schema(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/navigator-layer-4.5.schema.json"),
    );
    let spec = shared().join("specs/attack-navigator/layerformat.md");
    match std::fs::read_to_string(&spec) {
        Ok(text) => {
            // The spec's own 4.5 example passes the schema; its 3.0 sample layer does not.
            let start = text.find("```json").unwrap() + "```json".len();
            let end = start + text[start..].find("```").unwrap();
            let example: serde_json::Value = serde_json::from_str(&text[start..end]).unwrap();
            assert!(errors_of(&validator, &example).is_empty());
            let old = shared().join("specs/attack-navigator/sample_layer.json");
            let old: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(old).unwrap()).unwrap();
            assert!(
                !errors_of(&validator, &old).is_empty(),
                "a 3.0 layer is not a 4.5 layer"
            );
        }
        Err(_) => eprintln!(
            "skipped: {} absent; checking our layer only",
            spec.display()
        ),
    }
    let mut runner = FakeRunner::new();
    let report = run(&mut runner, &linux_rules());
    let layer: serde_json::Value = serde_json::from_str(&render::navigator(&report)).unwrap();
    let errors = errors_of(&validator, &layer);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(layer["versions"]["layer"], "4.5");
    assert_eq!(layer["techniques"][0]["techniqueID"], "T1106");
    assert_eq!(layer["techniques"][0]["tactic"], "execution");
    let full = layer["techniques"][0]["score"].as_u64().unwrap();
    assert_eq!(full, u64::from(report.totals.coverage_percent));
    // Rules no test exercises (kernel module load, SigmaHQ's auditd rules...) count against it.
    let t = &report.totals;
    let entries = t.detection_checked + t.prevention_checked + t.rules;
    let validated = t.detection_passed
        + t.prevention_passed
        + t.rules_validated_live
        + t.rules_validated_on_samples;
    assert_eq!(full as usize, validated * 100 / entries);

    let mut runner = FakeRunner::new();
    runner.drop_rule = Some("d9df4ebb-6ea0-4190-821e-745541353d4f");
    let report = run(&mut runner, &linux_rules());
    let layer: serde_json::Value = serde_json::from_str(&render::navigator(&report)).unwrap();
    let score = layer["techniques"][0]["score"].as_u64().unwrap();
    assert!(score < full, "a miss lowers the score ({score} < {full})");
}

/// The seed page's resources: `* [text](url)` links and the bare ART test names.
fn seed_resources(seed: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_lists = false;
    for line in seed.lines() {
        if line.starts_with("## Policy") {
            in_lists = true;
        }
        if !in_lists {
            continue;
        }
        let Some(item) = line.strip_prefix("* ") else {
            continue;
        };
        match item
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("]("))
        {
            Some((text, _)) => out.push(text.to_string()),
            None => out.push(item.trim().to_string()),
        }
    }
    out
}

#[test]
fn markdown_lists_every_seed_resource_with_a_result() {
    let seed_path = shared().join("seed-artifacts/000_198ffa4d9d55ccd3.txt");
    let Ok(seed) = std::fs::read_to_string(&seed_path) else {
        eprintln!("skipped: seed page {} absent", seed_path.display());
        return;
    };
    let resources = seed_resources(&seed);
    assert_eq!(resources.len(), 2 + 9 + 2 + 1, "{resources:#?}");
    let mut runner = FakeRunner::new();
    let report = run(&mut runner, &linux_rules());
    let md = render::markdown(&report);
    let results = [
        "validated",
        "FAILED",
        "no sample",
        "skipped",
        "NOT",
        "MISSING",
        "MISSED",
        "prevented",
    ];
    for resource in &resources {
        let line = md
            .lines()
            .find(|l| l.starts_with("* ") && l.contains(resource.as_str()))
            .unwrap_or_else(|| panic!("{resource} is not in the report"));
        assert!(
            results.iter().any(|r| line.contains(r)),
            "no result beside {resource}: {line}"
        );
    }
    // The seed's section headings, in order.
    let headings = [
        "# T1106: Native API",
        "## Policy / Process Controls",
        "## Technical Controls",
        "## Offensive Security Tests",
    ];
    let mut at = 0;
    for h in headings {
        let found = md[at..]
            .find(h)
            .unwrap_or_else(|| panic!("{h} missing or out of order"));
        at += found;
    }
    assert!(
        md.contains("© 2025 The MITRE Corporation"),
        "ATT&CK attribution"
    );
}

#[test]
fn junit_counts_match_the_report() {
    let mut runner = FakeRunner::new();
    runner.drop_rule = Some("d9df4ebb-6ea0-4190-821e-745541353d4f");
    let report = run(&mut runner, &linux_rules());
    let xml = render::junit(&report);
    assert!(xml.starts_with("<?xml"));
    let cases = xml.matches("<testcase ").count();
    assert_eq!(cases, 2 * report.tests.len() + report.rules.len());
    // memfd-exec and python-ctypes fail detection; the rule fails too.
    assert_eq!(xml.matches("<failure ").count(), 3, "{xml}");
    let opens = xml.matches("<testsuite ").count();
    assert_eq!(opens, 3);
    assert_eq!(xml.matches("</testsuite>").count(), opens);
}

#[test]
fn html_matrix_renders_in_headless_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("skipped: no chromium on PATH (Debian: apt-get install chromium)");
        return;
    };
    let mut runner = FakeRunner::new();
    runner.drop_rule = Some("d9df4ebb-6ea0-4190-821e-745541353d4f");
    let report = run(&mut runner, &linux_rules());
    let html = render::html(&report);
    assert!(
        !html.contains("http-equiv") && !html.contains("<script") && !html.contains("<link"),
        "self-contained"
    );
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    let profile = dir.path().join("profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("id=\"matrix\""),
        "the matrix table is in the rendered DOM"
    );
    // One row per test, and a cell per test × control.
    let start = dom.find("id=\"matrix\"").unwrap();
    let end = start + dom[start..].find("</table>").unwrap();
    let matrix = &dom[start..end];
    let rows = matrix.matches("<tr data-test=").count();
    assert_eq!(rows, report.tests.len());
    let columns = matrix.matches("data-control=").count();
    let cells = matrix.matches("<td class=").count();
    assert_eq!(cells, rows * columns, "{rows} rows × {columns} controls");
    assert!(
        matrix.contains("✘ missed"),
        "the dropped rule shows as missed"
    );
    assert!(matrix.contains("✔ fired"));
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for class in ["pass", "fail", "skip"] {
        counts.insert(
            class,
            matrix.matches(&format!("<td class=\"{class}\"")).count(),
        );
    }
    assert!(
        counts["fail"] >= 2 && counts["pass"] > 0 && counts["skip"] > 0,
        "{counts:?}"
    );
}

#[test]
fn a_rule_alerting_on_a_baseline_fails_even_if_it_fires_where_expected() {
    struct Noisy(FakeRunner);
    impl ControlRunner for Noisy {
        fn list_tests(&mut self, t: &str) -> Result<Vec<ListedTest>, Error> {
            self.0.list_tests(t)
        }
        fn start_analysis(&mut self) -> Result<AnalysisControl, Error> {
            self.0.start_analysis()
        }
        fn detect(&mut self, emulation: &str) -> Result<DetectionOutcome, Error> {
            let mut outcome = self.0.detect(emulation)?;
            if emulation == "spawn-variants" {
                outcome.alerts.push(AlertSummary {
                    id: "e325d8e1-c0e6-4d16-be67-bf6bf64dfb1f".into(),
                    title: "Direct Syscall Bypassing Libc".into(),
                    level: "high".into(),
                    author: None,
                    latency_ms: 8,
                });
            }
            Ok(outcome)
        }
        fn stop_analysis(&mut self) -> Result<Vec<String>, Error> {
            self.0.stop_analysis()
        }
        fn prevention_control(&self) -> PreventionControl {
            self.0.prevention_control()
        }
        fn prevent(&mut self, emulation: &str) -> Result<PreventionOutcome, Error> {
            self.0.prevent(emulation)
        }
    }
    let exp = Expectations::builtin("T1106").unwrap();
    let mut runner = Noisy(FakeRunner::new());
    let report = validate(
        &mut runner,
        Inputs {
            expectations: &exp,
            linux_rules: &linux_rules(),
            windows: validate_embedded(&exp),
        },
    );
    let failure = report
        .failures
        .iter()
        .find(|f| f.entry.contains("spawn"))
        .unwrap();
    assert!(
        failure.message.contains("false positive"),
        "{}",
        failure.message
    );
    let rule = report
        .rules
        .iter()
        .find(|r| r.id.starts_with("e325d8e1"))
        .unwrap();
    assert_eq!(rule.result, RuleStatus::Failed, "{}", rule.evidence);
    assert!(rule.evidence.contains("spawn-variants"));
}
