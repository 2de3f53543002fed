//! The Windows rules on the committed samples: every rule of the embedded set has samples and
//! is validated by them, and the check can fail (a positive that does not fire, a negative that
//! does).

use nativeguard_validate::expectations::Expectations;
use nativeguard_validate::model::{RuleOrigin, RuleStatus};
use nativeguard_validate::windows::{
    embedded_samples, validate_embedded, validate_samples, SampleFile,
};

/// The embedded Windows ruleset as (path, text) pairs.
fn windows_rules() -> Vec<(&'static str, &'static str)> {
    nativeguard_rules::WINDOWS
        .iter()
        .map(|r| (r.path, r.text))
        .collect()
}

/// The seed's Turla named-pipe rule, which these tests give doctored samples.
const TURLA_RULE: &str = "739915e4-1e70-4778-8b8a-17db02f66db1";

#[test]
fn every_embedded_windows_rule_is_validated_on_samples() {
    let exp = Expectations::builtin("T1106").unwrap();
    let result = validate_embedded(&exp);
    assert!(result.errors.is_empty(), "{:#?}", result.errors);
    assert_eq!(
        result.rules.len(),
        nativeguard_rules::WINDOWS.len(),
        "one result per embedded Windows rule"
    );
    for rule in &result.rules {
        assert_eq!(
            rule.result,
            RuleStatus::ValidatedOnSamples,
            "{} {}: {}",
            rule.id,
            rule.title,
            rule.evidence
        );
    }
    assert!(result.failures.is_empty(), "{:#?}", result.failures);
    let seeds = result
        .rules
        .iter()
        .filter(|r| r.origin == RuleOrigin::Seed)
        .count();
    assert_eq!(seeds, 9);
    assert_eq!(result.splunk.len(), 2);
    for s in &result.splunk {
        assert!(s.validated, "{}: {}", s.name, s.evidence);
        assert!(s.port_rule_id.is_some());
    }
}

#[test]
fn a_rule_without_samples_is_said_plainly_and_not_validated() {
    let exp = Expectations::builtin("T1106").unwrap();
    let rules = windows_rules();
    let turla = TURLA_RULE;
    let samples: Vec<SampleFile<'_>> = embedded_samples()
        .into_iter()
        .filter(|s| s.rule_id != turla)
        .collect();
    let result = validate_samples(&exp, &rules, &samples);
    let rule = result.rules.iter().find(|r| r.id == turla).unwrap();
    assert_eq!(rule.result, RuleStatus::NoSample);
    assert!(!rule.validated);
    assert!(
        rule.evidence.contains("no positive sample"),
        "{}",
        rule.evidence
    );
}

#[test]
fn a_negative_that_fires_or_a_positive_that_does_not_fails_the_rule() {
    let exp = Expectations::builtin("T1106").unwrap();
    let rules = windows_rules();
    let turla = TURLA_RULE;
    let positive = r#"{"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 17, "PipeName": "\\atctl"}"#;
    // Swapped: the positive event filed as negative, a benign pipe filed as positive.
    let benign = r#"{"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 17, "PipeName": "\\lsass"}"#;
    let samples = vec![
        SampleFile {
            rule_id: turla,
            kind: "positive",
            path: "p.jsonl",
            text: benign,
        },
        SampleFile {
            rule_id: turla,
            kind: "negative",
            path: "n.jsonl",
            text: positive,
        },
    ];
    let result = validate_samples(&exp, &rules, &samples);
    let rule = result.rules.iter().find(|r| r.id == turla).unwrap();
    assert_eq!(rule.result, RuleStatus::Failed, "{}", rule.evidence);
    assert_eq!(
        rule.evidence,
        "0/1 positive events fired it, 1/1 negative events fired it"
    );
    assert!(result.failures.iter().any(|f| f.control == turla));
}

#[test]
fn a_malformed_sample_line_is_reported_with_its_place() {
    let exp = Expectations::builtin("T1106").unwrap();
    let rules = windows_rules();
    let turla = TURLA_RULE;
    let text = "{\"Channel\": \"Microsoft-Windows-Sysmon/Operational\", \"EventID\": 17, \"PipeName\": \"\\\\atctl\"}\nnot json\n";
    let samples = vec![SampleFile {
        rule_id: turla,
        kind: "positive",
        path: "bad.jsonl",
        text,
    }];
    let result = validate_samples(&exp, &rules, &samples);
    assert!(
        result
            .errors
            .iter()
            .any(|e| e.contains("bad.jsonl") && e.contains('2')),
        "{:?}",
        result.errors
    );
    let rule = result.rules.iter().find(|r| r.id == turla).unwrap();
    assert_eq!(
        rule.result,
        RuleStatus::ValidatedOnSamples,
        "the good line still counts"
    );
}
