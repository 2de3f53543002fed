//! JUnit XML: one testcase per test × control and per rule, so CI can gate on the run.

use std::fmt::Write as _;

use super::{detection_text, prevention_text, rule_status_text};
use crate::model::{Report, RuleStatus, TestResult, TestStatus, Verdict};

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

enum Outcome {
    Pass,
    Failure(String),
    Error(String),
    Skipped(String),
}

struct Case {
    class: String,
    name: String,
    seconds: f64,
    outcome: Outcome,
}

fn failures_for(report: &Report, test: &TestResult, control: &str) -> String {
    let messages: Vec<&str> = report
        .failures
        .iter()
        .filter(|f| f.entry == test.name && f.control == control)
        .map(|f| f.message.as_str())
        .collect();
    messages.join("; ")
}

fn test_case(
    report: &Report,
    test: &TestResult,
    control: &str,
    verdict: Verdict,
    text: String,
) -> Case {
    let outcome = match (test.status, verdict) {
        (TestStatus::Skipped, _) => Outcome::Skipped(text),
        (_, Verdict::Pass) => Outcome::Pass,
        (_, Verdict::Fail) => Outcome::Failure(failures_for(report, test, control)),
        (_, Verdict::NotRun) => Outcome::Error(format!("{control} did not run on this test")),
    };
    Case {
        class: format!("{}.{control}", report.technique),
        name: test.emulation.clone().unwrap_or_else(|| test.name.clone()),
        seconds: test.latency_ms.map_or(0.0, |ms| ms as f64 / 1000.0),
        outcome,
    }
}

fn suite(out: &mut String, name: &str, cases: &[Case]) {
    let count = |f: fn(&Outcome) -> bool| cases.iter().filter(|c| f(&c.outcome)).count();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        esc(name),
        cases.len(),
        count(|o| matches!(o, Outcome::Failure(_))),
        count(|o| matches!(o, Outcome::Error(_))),
        count(|o| matches!(o, Outcome::Skipped(_)))
    );
    for case in cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            esc(&case.class),
            esc(&case.name),
            case.seconds
        );
        match &case.outcome {
            Outcome::Pass => {
                let _ = writeln!(out, "/>");
            }
            Outcome::Failure(message) => {
                let _ = writeln!(
                    out,
                    "><failure message=\"{}\">{}</failure></testcase>",
                    esc(message),
                    esc(message)
                );
            }
            Outcome::Error(message) => {
                let _ = writeln!(out, "><error message=\"{}\"/></testcase>", esc(message));
            }
            Outcome::Skipped(message) => {
                let _ = writeln!(out, "><skipped message=\"{}\"/></testcase>", esc(message));
            }
        }
    }
    let _ = writeln!(out, "  </testsuite>");
}

/// Renders the report as JUnit XML.
pub fn junit(report: &Report) -> String {
    let control = report.analysis_control.kind.as_str();
    let detection: Vec<Case> = report
        .tests
        .iter()
        .map(|t| test_case(report, t, control, t.detection, detection_text(t, control)))
        .collect();
    let prevention: Vec<Case> = report
        .tests
        .iter()
        .map(|t| test_case(report, t, "sandbox", t.prevention, prevention_text(t)))
        .collect();
    let rules: Vec<Case> = report
        .rules
        .iter()
        .map(|r| Case {
            class: format!("{}.rules.{}", report.technique, r.platform),
            name: format!("{} {}", r.id, r.title),
            seconds: 0.0,
            outcome: match r.result {
                RuleStatus::ValidatedLive | RuleStatus::ValidatedOnSamples => Outcome::Pass,
                RuleStatus::Failed | RuleStatus::Missing => {
                    Outcome::Failure(format!("{}: {}", rule_status_text(r.result), r.evidence))
                }
                RuleStatus::NoSample | RuleStatus::NotExercised => {
                    Outcome::Skipped(format!("{}: {}", rule_status_text(r.result), r.evidence))
                }
            },
        })
        .collect();
    // What kept part of the run from happening (a control that did not stop, a rule that did
    // not load): each an error, so that CI gating on the JUnit file fails as the report does.
    let run: Vec<Case> = report
        .errors
        .iter()
        .enumerate()
        .map(|(index, message)| Case {
            class: format!("{}.run", report.technique),
            name: format!("error {}", index + 1),
            seconds: 0.0,
            outcome: Outcome::Error(message.clone()),
        })
        .collect();
    let all = detection.len() + prevention.len() + rules.len() + run.len();
    let count = |f: fn(&Outcome) -> bool| {
        detection
            .iter()
            .chain(&prevention)
            .chain(&rules)
            .chain(&run)
            .filter(|c| f(&c.outcome))
            .count()
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"nativeguard validate {}\" tests=\"{all}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        esc(&report.technique),
        count(|o| matches!(o, Outcome::Failure(_))),
        count(|o| matches!(o, Outcome::Error(_))),
        count(|o| matches!(o, Outcome::Skipped(_)))
    );
    suite(
        &mut out,
        &format!("{} detection ({control})", report.technique),
        &detection,
    );
    suite(
        &mut out,
        &format!("{} prevention (sandbox)", report.technique),
        &prevention,
    );
    suite(&mut out, &format!("{} rules", report.technique), &rules);
    if !run.is_empty() {
        suite(&mut out, &format!("{} run", report.technique), &run);
    }
    let _ = writeln!(out, "</testsuites>");
    out
}
