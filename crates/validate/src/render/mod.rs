//! Report renderers: Markdown (the seed page's shape), self-contained HTML with a tests ×
//! controls matrix, JSON, ATT&CK Navigator layer 4.5, and JUnit XML. Each is a pure function
//! from [`Report`](crate::model::Report) to text.

mod html;
mod junit;
mod markdown;
mod navigator;

pub use html::html;
pub use junit::junit;
pub use markdown::markdown;
pub use navigator::navigator;

use crate::model::{Report, RuleStatus, TestResult, TestStatus, Verdict};

/// The JSON report (`schema/report.schema.json`).
pub fn json(report: &Report) -> String {
    // Serializing plain data with string keys cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// A rule result in words, for every renderer.
pub(crate) fn rule_status_text(status: RuleStatus) -> &'static str {
    match status {
        RuleStatus::ValidatedLive => "validated (live)",
        RuleStatus::ValidatedOnSamples => "validated on samples",
        RuleStatus::Failed => "FAILED",
        RuleStatus::NoSample => "no sample: not validated",
        RuleStatus::NotExercised => "not exercised: not validated",
        RuleStatus::Missing => "MISSING from the rule set",
    }
}

/// A test's detection result in words.
pub(crate) fn detection_text(test: &TestResult, control: &str) -> String {
    match (test.status, test.detection) {
        (TestStatus::Skipped, _) => format!(
            "skipped: {}",
            test.reason.as_deref().unwrap_or("not applicable")
        ),
        (_, Verdict::NotRun) => "NOT RUN".to_string(),
        (_, Verdict::Pass) if test.baseline => {
            format!("observed by the {control}, no alert (baseline)")
        }
        (_, Verdict::Pass) => format!(
            "detected by the {control}{}",
            test.latency_ms
                .map(|l| format!(" in {l} ms"))
                .unwrap_or_default()
        ),
        (_, Verdict::Fail) if test.baseline => "FAILED (baseline)".to_string(),
        (_, Verdict::Fail) => "MISSED".to_string(),
    }
}

/// A test's prevention result in words.
pub(crate) fn prevention_text(test: &TestResult) -> String {
    let denial = test
        .denials
        .first()
        .map(|d| format!(" ({} denied by {})", d.syscall, d.layer))
        .unwrap_or_default();
    match (test.status, test.prevention, test.prevented) {
        (TestStatus::Skipped, _, _) => "skipped".to_string(),
        (_, Verdict::NotRun, _) => "NOT RUN".to_string(),
        (_, Verdict::Pass, Some(true)) => format!("prevented{denial}"),
        (_, Verdict::Pass, _) => "allowed to run, as expected".to_string(),
        (_, Verdict::Fail, Some(true)) => format!("FAILED: blocked but must run{denial}"),
        (_, Verdict::Fail, _) => "NOT PREVENTED".to_string(),
    }
}
