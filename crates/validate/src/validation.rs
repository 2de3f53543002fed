//! The validation loop: tests × controls → [`Report`].

use std::collections::BTreeSet;

use crate::catalog::{level_rank, RuleMeta};
use crate::expectations::{Expectations, LinuxTestExpectation, Run};
use crate::model::*;
use crate::runner::{ControlRunner, DetectionOutcome, ListedTest, PreventionOutcome};
use crate::windows::WindowsValidation;

/// Inputs of one run besides the runner.
pub struct Inputs<'a> {
    /// What each control must do.
    pub expectations: &'a Expectations,
    /// The Linux rules the analysis control runs (to tell "missing" from "did not fire").
    pub linux_rules: &'a [RuleMeta],
    /// The Windows rules' sample validation (done in-process, see [`crate::windows`]).
    pub windows: WindowsValidation,
}

struct LinuxTest<'a> {
    name: String,
    guid: Option<String>,
    expectation: &'a LinuxTestExpectation,
}

/// Runs every applicable test under the analysis control, then again under the prevention
/// control, and assembles the report. Errors from the runner never abort the loop: they are
/// recorded in the report (`errors`) and the affected checks stay "not run".
pub fn validate(runner: &mut dyn ControlRunner, inputs: Inputs<'_>) -> Report {
    let exp = inputs.expectations;
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let mut failures = Vec::new();

    let listed = match runner.list_tests(&exp.technique.id) {
        Ok(listed) => listed,
        Err(err) => {
            notes.push(format!(
                "the atomic runner could not list {}'s tests ({err}); the tests come from the \
                 expectation data instead",
                exp.technique.id
            ));
            Vec::new()
        }
    };
    let (linux_tests, mut tests) = plan_tests(exp, &listed, &mut errors, &mut notes);

    // Detection run.
    let analysis = match runner.start_analysis() {
        Ok(control) => control,
        Err(err) => {
            errors.push(format!(
                "detection run: no analysis control could start: {err}"
            ));
            AnalysisControl {
                kind: AnalysisKind::None,
                command: String::new(),
                reason: err.to_string(),
                rules: String::new(),
            }
        }
    };
    let control_name = analysis.kind.as_str().to_string();
    let mut detections: Vec<Option<DetectionOutcome>> = Vec::new();
    for test in &linux_tests {
        if analysis.kind == AnalysisKind::None {
            detections.push(None);
            continue;
        }
        match runner.detect(&test.expectation.emulation) {
            Ok(outcome) => detections.push(Some(outcome)),
            Err(err) => {
                errors.push(format!("detection run: {}: {err}", test.name));
                detections.push(None);
            }
        }
    }
    if analysis.kind != AnalysisKind::None {
        match runner.stop_analysis() {
            Ok(more) => notes.extend(more),
            Err(err) => errors.push(format!("stopping the {control_name}: {err}")),
        }
    }

    // Prevention run.
    let prevention_control = runner.prevention_control();
    let mut preventions: Vec<Option<PreventionOutcome>> = Vec::new();
    for test in &linux_tests {
        match runner.prevent(&test.expectation.emulation) {
            Ok(outcome) => preventions.push(Some(outcome)),
            Err(err) => {
                errors.push(format!("prevention run: {}: {err}", test.name));
                preventions.push(None);
            }
        }
    }

    let mut linux_results = Vec::new();
    for ((test, detection), prevention) in linux_tests.iter().zip(detections).zip(preventions) {
        linux_results.push(judge_test(
            exp,
            inputs.linux_rules,
            &control_name,
            test,
            detection,
            prevention,
            &mut failures,
            &mut errors,
        ));
    }

    let mut rules = judge_linux_rules(exp, inputs.linux_rules, &linux_results);
    let WindowsValidation {
        rules: windows_rules,
        splunk,
        failures: windows_failures,
        notes: windows_notes,
        errors: windows_errors,
    } = inputs.windows;
    failures.extend(windows_failures);
    notes.extend(windows_notes);
    errors.extend(windows_errors);
    // Windows first: the seed page lists its Sigma rules before anything Linux.
    let mut all_rules = windows_rules;
    all_rules.append(&mut rules);

    tests.splice(0..0, linux_results);
    let policy_controls = judge_policy_controls(exp, &analysis, &tests);
    let totals = totals(&tests, &all_rules);

    Report {
        technique: exp.technique.id.clone(),
        technique_info: TechniqueInfo {
            id: exp.technique.id.clone(),
            name: exp.technique.name.clone(),
            tactics: exp
                .technique
                .tactics
                .iter()
                .map(|t| t.name.clone())
                .collect(),
            tactic_shortnames: exp
                .technique
                .tactics
                .iter()
                .map(|t| t.shortname.clone())
                .collect(),
            url: exp.technique.url.clone(),
            description: exp.technique.description.trim().to_string(),
            attack_version: exp.technique.attack_version.clone(),
            attribution: exp.technique.attribution.trim().to_string(),
            terms_url: exp.technique.terms_url.clone(),
        },
        generated: nativeguard_event::Timestamp::now().to_string(),
        nativeguard_version: env!("CARGO_PKG_VERSION").to_string(),
        analysis_control: analysis,
        prevention_control,
        policy_controls,
        tests,
        rules: all_rules,
        splunk,
        totals,
        failures,
        errors,
        notes,
    }
}

/// Pairs the atomic runner's Linux tests with expectations; Windows tests become "skipped".
fn plan_tests<'a>(
    exp: &'a Expectations,
    listed: &[ListedTest],
    errors: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> (Vec<LinuxTest<'a>>, Vec<TestResult>) {
    let mut linux = Vec::new();
    let mut others = Vec::new();
    let mut matched = BTreeSet::new();
    for test in listed {
        let is_linux = test
            .platforms
            .iter()
            .any(|p| p.eq_ignore_ascii_case("linux"));
        if !is_linux {
            others.push(skipped_test(
                test.name.clone(),
                test.guid.clone(),
                &test.platforms,
            ));
            continue;
        }
        let name = test.name.to_ascii_lowercase();
        let unmatched = || {
            exp.linux_tests
                .iter()
                .filter(|e| !matched.contains(e.emulation.as_str()))
        };
        // By GUID; else by the emulation's name in the test's name (longest first, so
        // `libc-exec` never claims `inline-syscall-exec`'s test).
        let expectation = unmatched()
            .find(|e| e.guid.is_some() && e.guid == test.guid)
            .or_else(|| {
                unmatched()
                    .filter(|e| {
                        name.contains(&e.emulation) || name.contains(&e.emulation.replace('-', " "))
                    })
                    .max_by_key(|e| e.emulation.len())
            });
        match expectation {
            Some(expectation) => {
                matched.insert(expectation.emulation.as_str());
                linux.push(LinuxTest {
                    name: test.name.clone(),
                    guid: test.guid.clone(),
                    expectation,
                });
            }
            None => {
                errors.push(format!(
                    "test `{}` ({}) has no expectation: add it to expectations/{}.yml",
                    test.name,
                    test.guid.as_deref().unwrap_or("no guid"),
                    exp.technique.id
                ));
                let mut result =
                    skipped_test(test.name.clone(), test.guid.clone(), &test.platforms);
                result.source = TestSource::Nativeguard;
                result.platform = "linux".into();
                result.status = TestStatus::Error;
                result.reason = Some("no expectation for this test".into());
                others.push(result);
            }
        }
    }
    for expectation in &exp.linux_tests {
        if matched.contains(expectation.emulation.as_str()) {
            continue;
        }
        if !listed.is_empty() {
            notes.push(format!(
                "`atomic list {}` has no test for emulation `{}`; it was run directly",
                exp.technique.id, expectation.emulation
            ));
        }
        linux.push(LinuxTest {
            name: format!("nativeguard emulate {}", expectation.emulation),
            guid: expectation.guid.clone(),
            expectation,
        });
    }
    for test in &exp.windows_tests {
        let known = others
            .iter()
            .any(|t| t.guid.as_deref() == Some(test.guid.as_str()) || t.name == test.name);
        if !known {
            others.push(skipped_test(
                test.name.clone(),
                Some(test.guid.clone()),
                &["windows".to_string()],
            ));
        }
    }
    (linux, others)
}

fn skipped_test(name: String, guid: Option<String>, platforms: &[String]) -> TestResult {
    let platform = platforms
        .first()
        .cloned()
        .unwrap_or_else(|| "unknown".into());
    TestResult {
        name,
        guid,
        platform: platform.clone(),
        source: TestSource::AtomicRedTeam,
        emulation: None,
        status: TestStatus::Skipped,
        reason: Some(format!(
            "{} only: cannot run on Linux",
            if platforms.is_empty() {
                "another platform".to_string()
            } else {
                platforms.join("/")
            }
        )),
        baseline: false,
        expected_rules: Vec::new(),
        detected: false,
        rules: Vec::new(),
        latency_ms: None,
        alerts: Vec::new(),
        observed: None,
        detection: Verdict::NotRun,
        expected_prevented: None,
        prevented: None,
        denials: Vec::new(),
        prevention: Verdict::NotRun,
    }
}

fn rule_label(rules: &[RuleMeta], id: &str) -> String {
    match rules.iter().find(|r| r.id == id) {
        Some(rule) => format!("{id} ({})", rule.title),
        None => id.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
fn judge_test(
    exp: &Expectations,
    linux_rules: &[RuleMeta],
    control: &str,
    test: &LinuxTest<'_>,
    detection: Option<DetectionOutcome>,
    prevention: Option<PreventionOutcome>,
    failures: &mut Vec<Failure>,
    errors: &mut Vec<String>,
) -> TestResult {
    let e = test.expectation;
    let mut result = TestResult {
        name: test.name.clone(),
        guid: test.guid.clone(),
        platform: "linux".into(),
        source: TestSource::Nativeguard,
        emulation: Some(e.emulation.clone()),
        status: TestStatus::Ran,
        reason: None,
        baseline: e.baseline,
        expected_rules: e.rules.clone(),
        detected: false,
        rules: Vec::new(),
        latency_ms: None,
        alerts: Vec::new(),
        observed: None,
        detection: Verdict::NotRun,
        expected_prevented: Some(e.prevented),
        prevented: None,
        denials: Vec::new(),
        prevention: Verdict::NotRun,
    };
    let mut fail = |control: &str, message: String| {
        failures.push(Failure {
            entry: test.name.clone(),
            control: control.to_string(),
            message,
        })
    };

    match detection {
        None => {}
        Some(outcome) if outcome.exit_code != Some(0) => {
            let mut why = format!(
                "did not run to completion under the {control} (exit {}): {}",
                exit_text(outcome.exit_code),
                outcome.stderr_tail.trim()
            );
            if control == "trace" && outcome.stderr_tail.contains("ptrace") {
                // The kernel allows one tracer per process, and `trace` already is it.
                why.push_str(
                    " (a process traced by `nativeguard trace` cannot be ptrace-attached by \
                     another; run as root to validate this test with the sensor)",
                );
            }
            errors.push(format!("detection run: `{}` {why}", test.name));
            result.reason = Some(format!("detection run: {why}"));
        }
        Some(outcome) => {
            let mut first: Vec<AlertSummary> = Vec::new();
            for alert in outcome.alerts {
                if !first.iter().any(|a| a.id == alert.id) {
                    first.push(alert);
                }
            }
            result.rules = first.iter().map(|a| a.id.clone()).collect();
            result.detected = !first.is_empty();
            result.observed = Some(outcome.observed_exec);
            result.latency_ms = first
                .iter()
                .filter(|a| e.rules.is_empty() || e.rules.contains(&a.id))
                .map(|a| a.latency_ms)
                .min();
            let mut ok = true;
            for rule in &e.rules {
                if !result.rules.contains(rule) {
                    ok = false;
                    let why = if linux_rules.iter().any(|r| &r.id == rule) {
                        "did not fire".to_string()
                    } else {
                        "is not in the rule set in use".to_string()
                    };
                    fail(
                        control,
                        format!("expected rule {} {why}", rule_label(linux_rules, rule)),
                    );
                }
            }
            for forbidden in &exp.forbidden_rules {
                if result.rules.contains(&forbidden.id) {
                    ok = false;
                    fail(
                        control,
                        format!(
                            "rule {} fired but must not ({})",
                            rule_label(linux_rules, &forbidden.id),
                            forbidden.why
                        ),
                    );
                }
            }
            if e.baseline {
                if !outcome.observed_exec {
                    ok = false;
                    fail(
                        control,
                        "baseline not observed: no process_creation event through libc".into(),
                    );
                }
                for alert in first
                    .iter()
                    .filter(|a| level_rank(&a.level) >= level_rank("low"))
                {
                    ok = false;
                    fail(
                        control,
                        format!(
                            "false positive on a benign baseline: {} ({}) at level {}",
                            alert.id, alert.title, alert.level
                        ),
                    );
                }
            }
            result.alerts = first;
            result.detection = if ok { Verdict::Pass } else { Verdict::Fail };
        }
    }

    if let Some(mut outcome) = prevention {
        // Prevented: the test failed inside the sandbox (exit 6) at a step a control refused,
        // and the sandbox reported denying that step's call. A failure for any other reason
        // (a crash, a missing program, ENOENT or EAGAIN) is not a block, whatever else the
        // sandbox denied on the way.
        let explaining = outcome
            .blocked
            .as_deref()
            .and_then(|line| denial_explaining(line, &outcome.denials));
        let blocked = outcome.exit_code == Some(6) && explaining.is_some();
        if let Some(index) = explaining {
            // The evidence first: renderers name the first denial.
            let denial = outcome.denials.remove(index);
            outcome.denials.insert(0, denial);
        }
        let ran = outcome.exit_code == Some(0);
        if !blocked && !ran {
            errors.push(format!(
                "prevention run: `{}` neither ran nor reported a block inside the sandbox \
                 (exit {}): {}",
                test.name,
                exit_text(outcome.exit_code),
                outcome.stderr_tail.trim()
            ));
        } else {
            result.prevented = Some(blocked);
            result.denials = outcome.denials;
            result.prevention = if blocked == e.prevented {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            if blocked && !e.prevented {
                let denial = result
                    .denials
                    .first()
                    .map(|d| d.detail.clone())
                    .unwrap_or_default();
                fail(
                    "sandbox",
                    format!("blocked, but the hardening policy must let it run: {denial}"),
                );
            } else if !blocked && e.prevented {
                fail(
                    "sandbox",
                    "ran to completion inside the sandbox: the hardening policy did not block it"
                        .into(),
                );
            }
        }
    }
    result
}

/// Which of `denials` explains the emulation's `blocked: STEP: HOW` line: the step must have
/// failed the way a control fails it (EPERM, a seccomp errno action; EACCES, Landlock; or a
/// seccomp kill), and the sandbox must have denied the call the step makes.
fn denial_explaining(line: &str, denials: &[Denial]) -> Option<usize> {
    let (step, how) = line.trim().strip_prefix("blocked:")?.rsplit_once(':')?;
    if !matches!(how.trim(), "EPERM" | "EACCES" | "killed by SIGSYS") {
        return None;
    }
    // `mprotect(PROT_READ|PROT_EXEC)` makes mprotect, `execve (vfork child)` execve.
    let call: String = step
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let calls: &[&str] = match call.as_str() {
        "fork" => &["fork", "vfork", "clone", "clone3"],
        "vfork" => &["vfork", "clone", "clone3"],
        // glibc's posix_spawn clones, and reports the child's failed exec as its own error.
        "posix_spawn" => &["clone", "clone3", "vfork", "execve", "execveat"],
        "execve" => &["execve", "execveat"],
        call => &[call],
    };
    denials
        .iter()
        .position(|d| calls.contains(&d.syscall.as_str()))
}

fn exit_text(code: Option<i32>) -> String {
    code.map_or_else(|| "by signal or timeout".to_string(), |c| c.to_string())
}

fn judge_linux_rules(
    exp: &Expectations,
    linux_rules: &[RuleMeta],
    tests: &[TestResult],
) -> Vec<RuleResult> {
    let ran: Vec<&TestResult> = tests
        .iter()
        .filter(|t| t.detection != Verdict::NotRun)
        .collect();
    let mut results = Vec::new();
    let mut ids: Vec<(String, Option<&RuleMeta>)> = linux_rules
        .iter()
        .map(|r| (r.id.clone(), Some(r)))
        .collect();
    for test in &exp.linux_tests {
        for id in &test.rules {
            if !ids.iter().any(|(i, _)| i == id) {
                ids.push((id.clone(), None));
            }
        }
    }
    for (id, meta) in ids {
        let expecting: Vec<&str> = exp
            .linux_tests
            .iter()
            .filter(|t| t.rules.contains(&id))
            .map(|t| t.emulation.as_str())
            .collect();
        let fired_on: Vec<String> = ran
            .iter()
            .filter(|t| t.rules.contains(&id))
            .map(|t| {
                let latency = t
                    .alerts
                    .iter()
                    .find(|a| a.id == id)
                    .map(|a| format!(" ({} ms)", a.latency_ms))
                    .unwrap_or_default();
                format!("{}{latency}", t.emulation.as_deref().unwrap_or(&t.name))
            })
            .collect();
        let missed_on: Vec<&str> = ran
            .iter()
            .filter(|t| t.expected_rules.contains(&id) && !t.rules.contains(&id))
            .filter_map(|t| t.emulation.as_deref())
            .collect();
        let checked = ran
            .iter()
            .filter(|t| t.expected_rules.contains(&id))
            .count();
        let forbidden = exp.forbidden_rules.iter().find(|f| f.id == id);
        // Alerts at level low or above on a benign baseline are false positives.
        let false_positive_on: Vec<&str> = ran
            .iter()
            .filter(|t| t.baseline)
            .filter(|t| {
                t.alerts
                    .iter()
                    .any(|a| a.id == id && level_rank(&a.level) >= level_rank("low"))
            })
            .filter_map(|t| t.emulation.as_deref())
            .collect();
        let (result, evidence) = if meta.is_none() {
            (
                RuleStatus::Missing,
                format!(
                    "expected by {} but not in the rule set in use",
                    expecting.join(", ")
                ),
            )
        } else if let Some(forbidden) = forbidden {
            if fired_on.is_empty() {
                (
                    RuleStatus::NotExercised,
                    format!(
                        "negative check: must stay silent on every test ({}); silent on {}/{} \
                         tests that ran",
                        forbidden.why,
                        ran.len(),
                        ran.len()
                    ),
                )
            } else {
                (
                    RuleStatus::Failed,
                    format!("must stay silent but fired on {}", fired_on.join(", ")),
                )
            }
        } else if !false_positive_on.is_empty() {
            (
                RuleStatus::Failed,
                format!(
                    "false positive on the benign baseline {}; fired on {}",
                    false_positive_on.join(", "),
                    fired_on.join(", ")
                ),
            )
        } else if expecting.is_empty() {
            let also = if fired_on.is_empty() {
                String::new()
            } else {
                format!("; fired on {}", fired_on.join(", "))
            };
            (
                RuleStatus::NotExercised,
                format!("no test is designed to fire it{also}"),
            )
        } else if !missed_on.is_empty() {
            (
                RuleStatus::Failed,
                format!(
                    "did not fire on {} (expected on {})",
                    missed_on.join(", "),
                    expecting.join(", ")
                ),
            )
        } else if checked == 0 {
            (
                RuleStatus::NotExercised,
                format!("its tests ({}) did not run", expecting.join(", ")),
            )
        } else {
            (
                RuleStatus::ValidatedLive,
                format!("fired on {}", fired_on.join(", ")),
            )
        };
        results.push(RuleResult {
            title: meta.map_or_else(|| id.clone(), |m| m.title.clone()),
            level: meta.and_then(|m| m.level.clone()),
            status: meta.and_then(|m| m.status.clone()),
            author: meta.and_then(|m| m.author.clone()),
            platform: "linux".into(),
            origin: RuleOrigin::Linux,
            seed_path: None,
            seed_url: None,
            current_path: None,
            path: meta.map(|m| m.path.clone()),
            validated: result == RuleStatus::ValidatedLive,
            result,
            evidence,
            note: None,
            id,
        });
    }
    results
}

fn judge_policy_controls(
    exp: &Expectations,
    analysis: &AnalysisControl,
    tests: &[TestResult],
) -> Vec<PolicyControlResult> {
    let linux: Vec<&TestResult> = tests
        .iter()
        .filter(|t| t.source == TestSource::Nativeguard)
        .collect();
    exp.policy_controls
        .iter()
        .map(|control| {
            let verdicts: Vec<Verdict> = linux
                .iter()
                .map(|t| match control.run {
                    Run::Detection => t.detection,
                    Run::Prevention => t.prevention,
                })
                .collect();
            let passed = verdicts.iter().filter(|v| **v == Verdict::Pass).count();
            let failed = verdicts.iter().filter(|v| **v == Verdict::Fail).count();
            let not_run = verdicts.len() - passed - failed;
            let implemented_by = match control.run {
                Run::Detection => match analysis.kind {
                    AnalysisKind::Sensor => "nativeguard monitor (eBPF sensor) + Linux Sigma rules",
                    AnalysisKind::Trace => "nativeguard trace (ptrace tracer) + Linux Sigma rules",
                    AnalysisKind::None => "no analysis control could run",
                },
                Run::Prevention => {
                    "nativeguard sandbox (seccomp + Landlock, shipped T1106 hardening policy)"
                }
            };
            let verb = match control.run {
                Run::Detection => "detected by their intended rules (baselines observed, silent)",
                Run::Prevention => "blocked or allowed as the hardening policy must",
            };
            let mut result = format!("{passed}/{} Linux tests {verb}", verdicts.len());
            if not_run > 0 {
                result.push_str(&format!("; {not_run} not run"));
            }
            PolicyControlResult {
                id: control.id.clone(),
                name: control.name.clone(),
                url: control.url.clone(),
                run: control.run,
                implemented_by: implemented_by.to_string(),
                passed,
                checked: passed + failed,
                validated: !verdicts.is_empty() && passed == verdicts.len(),
                result,
            }
        })
        .collect()
}

fn totals(tests: &[TestResult], rules: &[RuleResult]) -> Totals {
    let count_tests = |s: TestStatus| tests.iter().filter(|t| t.status == s).count();
    let count_rules = |s: RuleStatus| rules.iter().filter(|r| r.result == s).count();
    let verdicts =
        |f: fn(&TestResult) -> Verdict, v: Verdict| tests.iter().filter(|t| f(t) == v).count();
    let mut totals = Totals {
        tests: tests.len(),
        tests_ran: count_tests(TestStatus::Ran),
        tests_skipped: count_tests(TestStatus::Skipped),
        tests_error: count_tests(TestStatus::Error),
        detection_passed: verdicts(|t| t.detection, Verdict::Pass),
        detection_checked: verdicts(|t| t.detection, Verdict::Pass)
            + verdicts(|t| t.detection, Verdict::Fail),
        prevention_passed: verdicts(|t| t.prevention, Verdict::Pass),
        prevention_checked: verdicts(|t| t.prevention, Verdict::Pass)
            + verdicts(|t| t.prevention, Verdict::Fail),
        rules: rules.len(),
        rules_validated_live: count_rules(RuleStatus::ValidatedLive),
        rules_validated_on_samples: count_rules(RuleStatus::ValidatedOnSamples),
        rules_failed: count_rules(RuleStatus::Failed),
        rules_no_sample: count_rules(RuleStatus::NoSample),
        rules_not_exercised: count_rules(RuleStatus::NotExercised),
        rules_missing: count_rules(RuleStatus::Missing),
        coverage_percent: 0,
    };
    // Every Linux test owes two verdicts (detection, prevention); every rule one result.
    let linux_tests = tests
        .iter()
        .filter(|t| t.source == TestSource::Nativeguard)
        .count();
    let entries = 2 * linux_tests + rules.len();
    let validated = totals.detection_passed
        + totals.prevention_passed
        + totals.rules_validated_live
        + totals.rules_validated_on_samples;
    totals.coverage_percent = (validated * 100)
        .checked_div(entries)
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0);
    totals
}
