//! Windows rules, which cannot run live here: validated on committed sample events.
//!
//! Every rule of the embedded Windows ruleset (`nativeguard_rules::WINDOWS`) is compiled with
//! the Windows pipeline, exactly as `nativeguard hunt` does, and each rule's committed samples
//! (`samples/windows/<rule id>/positive.jsonl` and `negative.jsonl`, compiled in) are read with
//! the hunt's JSONL reader and evaluated. A rule is validated on samples when it fires on every
//! positive event and on no negative one. A rule without positive samples is "no sample": said
//! plainly, never counted as validated.

use std::sync::Arc;

use nativeguard_logs::{JsonLayout, JsonReader};
use nativeguard_sigma::{Detection, Pipeline, RuleInfo, RuleKind, RuleSetBuilder};

use crate::embedded::SAMPLES;
use crate::expectations::Expectations;
use crate::model::{Failure, RuleOrigin, RuleResult, RuleStatus, SplunkResult};

/// The Windows half of the report.
#[derive(Debug, Clone, Default)]
pub struct WindowsValidation {
    /// One result per Windows rule.
    pub rules: Vec<RuleResult>,
    /// The seed's Splunk detections, each with its port's result.
    pub splunk: Vec<SplunkResult>,
    /// Rules whose samples did not behave.
    pub failures: Vec<Failure>,
    /// Remarks for the report.
    pub notes: Vec<String>,
    /// Samples or rules that could not be read.
    pub errors: Vec<String>,
}

/// One sample file, as embedded.
#[derive(Debug, Clone, Copy)]
pub struct SampleFile<'a> {
    /// The rule id the samples are for.
    pub rule_id: &'a str,
    /// `positive` or `negative`.
    pub kind: &'a str,
    /// Path below the repository root, for messages.
    pub path: &'a str,
    /// JSONL text.
    pub text: &'a str,
}

/// The committed samples.
pub fn embedded_samples() -> Vec<SampleFile<'static>> {
    SAMPLES
        .iter()
        .map(|(rule_id, kind, path, text)| SampleFile {
            rule_id,
            kind,
            path,
            text,
        })
        .collect()
}

/// Validates the embedded Windows ruleset on the committed samples.
pub fn validate_embedded(expectations: &Expectations) -> WindowsValidation {
    let rules: Vec<(&str, &str)> = nativeguard_rules::WINDOWS
        .iter()
        .map(|rule| (rule.path, rule.text))
        .collect();
    validate_samples(expectations, &rules, &embedded_samples())
}

struct Counts {
    events: usize,
    fired: usize,
    other_rules: Vec<String>,
}

/// Validates `rule_files` (path, YAML) on `samples`.
pub fn validate_samples(
    expectations: &Expectations,
    rule_files: &[(&str, &str)],
    samples: &[SampleFile<'_>],
) -> WindowsValidation {
    let mut out = WindowsValidation::default();
    let mut builder = RuleSetBuilder::new(Pipeline::windows());
    for (path, text) in rule_files {
        for err in builder.add_file(path, text) {
            out.errors.push(format!("Windows rule did not load: {err}"));
        }
    }
    let (rule_set, errors) = builder.build();
    out.errors.extend(
        errors
            .iter()
            .map(|e| format!("Windows rule did not load: {e}")),
    );
    let rule_set = Arc::new(rule_set);

    // Which embedded file ports which Splunk detection: the port names the Splunk id.
    let port_of = |splunk_id: &str| -> Option<String> {
        let path = rule_files
            .iter()
            .find(|(_, text)| text.contains(splunk_id))
            .map(|(path, _)| *path)?;
        rule_set
            .rules()
            .iter()
            .find(|r| r.path == path)
            .map(|r| r.id.clone())
    };
    let ports: Vec<(String, Option<String>)> = expectations
        .splunk_detections
        .iter()
        .map(|s| (s.id.clone(), port_of(&s.id)))
        .collect();

    for rule in rule_set.rules() {
        if rule.kind != RuleKind::Detection {
            continue;
        }
        let seed = expectations.sigma_rules.iter().find(|s| s.id == rule.id);
        let is_port = ports
            .iter()
            .any(|(_, port)| port.as_deref() == Some(&rule.id));
        let origin = if seed.is_some() {
            RuleOrigin::Seed
        } else if is_port {
            RuleOrigin::SplunkPort
        } else {
            RuleOrigin::SigmaHq
        };
        let mut count = |kind: &str| -> Option<Counts> {
            let files: Vec<&SampleFile<'_>> = samples
                .iter()
                .filter(|s| s.rule_id == rule.id && s.kind == kind)
                .collect();
            if files.is_empty() {
                return None;
            }
            let mut counts = Counts {
                events: 0,
                fired: 0,
                other_rules: Vec::new(),
            };
            let mut engine = rule_set.engine();
            let mut detections: Vec<Detection> = Vec::new();
            for file in files {
                for item in JsonReader::new(file.text.as_bytes(), file.path, JsonLayout::Lines) {
                    let event = match item {
                        Ok(event) => event,
                        Err(err) => {
                            out.errors.push(format!("sample skipped: {err}"));
                            continue;
                        }
                    };
                    detections.clear();
                    engine.evaluate(&event, &mut detections);
                    counts.events += 1;
                    if detections.iter().any(|d| d.rule.id == rule.id) {
                        counts.fired += 1;
                    }
                    for d in detections.iter().filter(|d| d.rule.id != rule.id) {
                        if !counts.other_rules.contains(&d.rule.id) {
                            counts.other_rules.push(d.rule.id.clone());
                        }
                    }
                }
            }
            Some(counts)
        };
        let positive = count("positive");
        let negative = count("negative");
        let (result, evidence) = judge(rule, positive.as_ref(), negative.as_ref());
        if result == RuleStatus::Failed {
            out.failures.push(Failure {
                entry: rule_label(rule, seed.map(|s| s.seed_path.as_str())),
                control: rule.id.clone(),
                message: evidence.clone(),
            });
        }
        out.rules.push(RuleResult {
            id: rule.id.clone(),
            title: rule.title.clone(),
            level: Some(rule.level.as_str().to_string()),
            status: rule.status.clone(),
            author: rule.author.clone(),
            platform: "windows".into(),
            origin,
            seed_path: seed.map(|s| s.seed_path.clone()),
            seed_url: seed.map(|s| s.seed_url.clone()),
            current_path: seed.map(|s| s.current_path.clone()),
            path: Some(rule.path.clone()),
            validated: result == RuleStatus::ValidatedOnSamples,
            result,
            evidence,
            note: seed.and_then(|s| s.note.clone()),
        });
    }

    // A seed rule the embedded set lacks is a control that cannot act at all.
    for seed in &expectations.sigma_rules {
        if out.rules.iter().any(|r| r.id == seed.id) {
            continue;
        }
        let evidence = "not in nativeguard's Windows ruleset".to_string();
        out.failures.push(Failure {
            entry: seed.seed_path.clone(),
            control: seed.id.clone(),
            message: evidence.clone(),
        });
        out.rules.push(RuleResult {
            id: seed.id.clone(),
            title: seed.id.clone(),
            level: None,
            status: None,
            author: None,
            platform: "windows".into(),
            origin: RuleOrigin::Seed,
            seed_path: Some(seed.seed_path.clone()),
            seed_url: Some(seed.seed_url.clone()),
            current_path: Some(seed.current_path.clone()),
            path: None,
            validated: false,
            result: RuleStatus::Missing,
            evidence,
            note: seed.note.clone(),
        });
    }
    // Seed order first (as the page lists them), then the other rules by path.
    out.rules.sort_by_key(|r| {
        let seed_index = expectations
            .sigma_rules
            .iter()
            .position(|s| s.id == r.id)
            .unwrap_or(usize::MAX);
        (seed_index, r.path.clone())
    });

    for (detection, (splunk_id, port)) in expectations.splunk_detections.iter().zip(ports) {
        let port_result = port
            .as_ref()
            .and_then(|id| out.rules.iter().find(|r| &r.id == id));
        let (validated, evidence) = match port_result {
            Some(rule) => (
                rule.validated,
                format!("{} — {}", rule_status_text(rule.result), rule.evidence),
            ),
            None => {
                let evidence = format!(
                    "no rule in nativeguard's Windows ruleset names Splunk detection {splunk_id}"
                );
                out.failures.push(Failure {
                    entry: detection.seed_path.clone(),
                    control: splunk_id.clone(),
                    message: evidence.clone(),
                });
                (false, evidence)
            }
        };
        out.splunk.push(SplunkResult {
            id: splunk_id,
            name: detection.name.clone(),
            seed_path: detection.seed_path.clone(),
            seed_url: detection.seed_url.clone(),
            port_rule_id: port,
            validated,
            evidence,
        });
    }
    let with_samples = out
        .rules
        .iter()
        .filter(|r| r.result != RuleStatus::NoSample && r.result != RuleStatus::Missing)
        .count();
    out.notes.push(format!(
        "Windows rules cannot run live on Linux: {with_samples} of {} were checked on sample events \
         written by this project (samples/windows/); none was seen on a real Windows host by this run",
        out.rules.len()
    ));
    out
}

fn rule_status_text(status: RuleStatus) -> &'static str {
    crate::render::rule_status_text(status)
}

fn rule_label(rule: &RuleInfo, seed_path: Option<&str>) -> String {
    match seed_path {
        Some(path) => path.to_string(),
        None => format!("{} ({})", rule.title, rule.path),
    }
}

fn judge(
    rule: &RuleInfo,
    positive: Option<&Counts>,
    negative: Option<&Counts>,
) -> (RuleStatus, String) {
    let Some(positive) = positive.filter(|p| p.events > 0) else {
        return (
            RuleStatus::NoSample,
            format!(
                "no positive sample event for {} in samples/windows/",
                rule.id
            ),
        );
    };
    let negative_text = match negative {
        Some(n) if n.events > 0 => format!("{}/{} negative events fired it", n.fired, n.events),
        _ => "no negative sample".to_string(),
    };
    let text = format!(
        "{}/{} positive events fired it, {negative_text}",
        positive.fired, positive.events
    );
    let negatives_fired = negative.map_or(0, |n| n.fired);
    if positive.fired == positive.events && negatives_fired == 0 {
        (RuleStatus::ValidatedOnSamples, text)
    } else {
        (RuleStatus::Failed, text)
    }
}
