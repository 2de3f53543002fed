//! `nativeguard hunt` with its embedded default Windows ruleset (rules/windows/).
//!
//! - every embedded rule loads, and carries the author that DRL 1.1 (or the Apache-2.0 port's
//!   credit) requires every alert to repeat;
//! - the two Splunk SSA ports fire on every module they name, in Sysmon and Security 4688
//!   events, and on nothing benign (the Splunk tests' datasets are not available here; the
//!   fixture is generated, see crates/logs/tests/fixtures/README.md);
//! - exit codes: 0 when all input was read, 3 when some was skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const MIMIKATZ_PORT: &str = "eb0e267d-065e-4ad0-99a8-0150805b69ad";
const POWERSPLOIT_PORT: &str = "a31ff736-e438-4f8b-8de9-d06defef096a";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../logs/tests/fixtures")
}

fn hunt(args: &[&str]) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_nativeguard"))
        .arg("hunt")
        .args(args)
        .output()
        .expect("nativeguard runs");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 output");
    let detections = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), detections, stderr)
}

/// A private directory for one test's inputs, removed when the guard drops (also on a panic).
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("nativeguard-hunt-{name}-"))
        .tempdir()
        .expect("temp dir")
}

fn per_rule(detections: &[serde_json::Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for d in detections {
        *counts
            .entry(d["rule"]["id"].as_str().unwrap_or("").to_string())
            .or_insert(0) += 1;
    }
    counts
}

#[test]
fn embedded_windows_rules_all_load_with_authors() {
    let mut builder =
        nativeguard_sigma::RuleSetBuilder::new(nativeguard_sigma::Pipeline::windows());
    for rule in nativeguard_rules::WINDOWS {
        let errors = builder.add_file(rule.path, rule.text);
        assert!(errors.is_empty(), "{}: {errors:?}", rule.path);
    }
    let (rules, errors) = builder.build();
    assert!(errors.is_empty(), "{errors:?}");
    // 9 seed rules + 2 successors + 6 other T1106 rules + 2 Splunk ports.
    assert_eq!(rules.len(), 19);
    assert_eq!(
        rules.unrouted_rules().count(),
        0,
        "every rule reads some Windows log"
    );
    for rule in rules.rules() {
        let author = rule.author.as_deref().unwrap_or("");
        assert!(!author.is_empty(), "{} has no author", rule.path);
    }
    for port in [MIMIKATZ_PORT, POWERSPLOIT_PORT] {
        let rule = rules
            .rules()
            .iter()
            .find(|r| r.id == port)
            .expect("port loaded");
        assert_eq!(
            rule.author.as_deref(),
            Some("Stanislav Miskovic, Splunk (ported by nativeguard)")
        );
        assert!(rule.tags.iter().any(|t| t == "attack.t1106"));
    }
}

#[test]
fn splunk_ports_fire_on_every_module_and_nothing_benign() {
    let fixture = fixtures().join("generated/t1106_service_process_control.jsonl");
    let (code, detections, stderr) =
        hunt(&["--format", "jsonl", fixture.to_str().expect("utf-8 path")]);
    assert_eq!(code, Some(0), "{stderr}");
    let counts = per_rule(&detections);
    // 7 Mimikatz modules and 14 PowerSploit functions, each once as Sysmon 1 and once as
    // Security 4688 (whose NewProcessName the pipeline maps to Image).
    assert_eq!(counts.get(MIMIKATZ_PORT), Some(&14), "{counts:?}\n{stderr}");
    assert_eq!(
        counts.get(POWERSPLOIT_PORT),
        Some(&28),
        "{counts:?}\n{stderr}"
    );
    for d in &detections {
        let id = d["rule"]["id"].as_str().unwrap_or("");
        if id == MIMIKATZ_PORT || id == POWERSPLOIT_PORT {
            let cmd = d["event"]["CommandLine"].as_str().unwrap_or("");
            assert!(
                cmd.to_ascii_lowercase().contains("::") || cmd.contains('-'),
                "port fired on {cmd}"
            );
            assert_ne!(d["event"]["Channel"], "Application");
            assert!(!cmd.contains("sekurlsa"), "benign line detected: {cmd}");
        }
        assert!(
            d["rule"]["author"].is_string(),
            "DRL: every alert carries the author"
        );
        assert!(d["source"]["record_id"].is_u64());
    }
    assert!(stderr.contains("53 events"), "{stderr}");
}

#[test]
fn filters_select_detections_by_level_tag_and_time() {
    let fixture = fixtures().join("generated/t1106_service_process_control.jsonl");
    let path = fixture.to_str().expect("utf-8 path");
    let (_, all, _) = hunt(&["--format", "jsonl", path]);
    let (_, critical, _) = hunt(&["--format", "jsonl", "--min-level", "critical", path]);
    assert!(critical.len() < all.len());
    assert!(critical.iter().all(|d| d["rule"]["level"] == "critical"));
    let (_, tagged, _) = hunt(&["--format", "jsonl", "--tag", "ATTACK.T1569", path]);
    assert_eq!(tagged.len(), 42, "only the two ports carry attack.t1569");
    // Security events of the fixture are stamped 10:01, Sysmon ones 10:00.
    let (_, late, _) = hunt(&["--format", "jsonl", "--from", "2026-11-26T10:01:00Z", path]);
    assert!(late.iter().all(|d| d["event"]["Channel"] == "Security"));
    assert_eq!(per_rule(&late).get(MIMIKATZ_PORT), Some(&7));
}

#[test]
fn skipped_input_is_reported_and_sets_exit_code_3() {
    let dir = scratch("skip");
    let lines = dir.path().join("mixed.jsonl");
    std::fs::write(
        &lines,
        "{\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"EventID\":1,\"CommandLine\":\"x misc::memssp\"}\n{not json\n",
    )
    .expect("write fixture");
    let fake_evtx = dir.path().join("broken.evtx");
    std::fs::write(&fake_evtx, b"ElfFile\0 but not really").expect("write fixture");
    let missing = dir.path().join("missing.evtx");
    let (code, detections, stderr) = hunt(&[
        "--format",
        "jsonl",
        lines.to_str().expect("utf-8"),
        fake_evtx.to_str().expect("utf-8"),
        missing.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(
        per_rule(&detections).get(MIMIKATZ_PORT),
        Some(&1),
        "the good line still counts"
    );
    assert!(stderr.contains("mixed.jsonl:2:"), "{stderr}");
    assert!(stderr.contains("broken.evtx"), "{stderr}");
    assert!(stderr.contains("missing.evtx"), "{stderr}");
    assert!(
        stderr.contains("skipped: 2 files, 0 EVTX chunks, 1 records"),
        "{stderr}"
    );
}

#[test]
fn rules_that_fail_to_load_are_reported_and_the_hunt_goes_on() {
    let dir = scratch("rules");
    std::fs::write(
        dir.path().join("good.yml"),
        "title: Memssp\nid: 6c0a1e5e-0000-4000-8000-000000000001\nauthor: Test\nlogsource: {product: windows, category: process_creation}\ndetection:\n    sel: {CommandLine|contains: 'misc::memssp'}\n    condition: sel\nlevel: high\n",
    )
    .expect("write rule");
    std::fs::write(
        dir.path().join("bad.yml"),
        "title: Broken\nid: 6c0a1e5e-0000-4000-8000-000000000002\nlogsource: {product: windows}\ndetection:\n    sel: {CommandLine|nosuchmodifier: x}\n    condition: sel\n",
    )
    .expect("write rule");
    let fixture = fixtures().join("generated/t1106_service_process_control.jsonl");
    let (code, detections, stderr) = hunt(&[
        "--rules",
        dir.path().to_str().expect("utf-8"),
        "--format",
        "jsonl",
        fixture.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("bad.yml:5:"), "{stderr}");
    assert_eq!(
        detections.len(),
        2,
        "misc::memssp in Sysmon and in 4688: {stderr}"
    );
    assert!(detections.iter().all(|d| d["rule"]["title"] == "Memssp"));
}

#[test]
fn correlation_detections_are_rendered_with_their_group() {
    let dir = scratch("corr");
    std::fs::write(
        dir.path().join("corr.yml"),
        "title: Mimikatz Command Line
id: 6c0a1e5e-0000-4000-8000-000000000003
name: mimikatz_cmd
author: Test
logsource: {product: windows, category: process_creation}
detection:
    sel: {CommandLine|contains: 'mimikatz.exe'}
    condition: sel
level: medium
---
title: Repeated Mimikatz On One Host
id: 6c0a1e5e-0000-4000-8000-000000000004
author: Test
correlation:
    type: event_count
    rules: [mimikatz_cmd]
    group-by: [Computer]
    timespan: 10m
    condition: {gte: 3}
level: high
",
    )
    .expect("write rule");
    let fixture = fixtures().join("generated/t1106_service_process_control.jsonl");
    let (code, detections, stderr) = hunt(&[
        "--rules",
        dir.path().join("corr.yml").to_str().expect("utf-8"),
        "--format",
        "jsonl",
        fixture.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let correlations: Vec<_> = detections
        .iter()
        .filter(|d| d["rule"]["title"] == "Repeated Mimikatz On One Host")
        .collect();
    assert!(!correlations.is_empty(), "{stderr}");
    for d in correlations {
        assert_eq!(d["correlation"]["group"]["Computer"], "ws01.example.test");
        assert!(d["correlation"]["value"].as_f64().is_some_and(|v| v >= 3.0));
        assert_eq!(d["rule"]["author"], "Test");
    }
}
