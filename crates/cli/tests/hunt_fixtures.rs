//! `nativeguard hunt` end to end on the committed subset (runs on a fresh clone): five CC0
//! EVTX files from EVTX-to-MITRE-Attack and the five SigmaHQ rules that fire on them
//! (crates/logs/tests/fixtures/README.md lists files, sources and the expected detections).
//! Every output format carries the DRL 1.1 author.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../logs/tests/fixtures")
}

fn hunt(format: &str) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_nativeguard"))
        .args(["hunt", "--format", format, "--rules"])
        .arg(fixtures().join("sigmahq-rules"))
        .arg(fixtures().join("evtx-to-mitre-attack"))
        .output()
        .expect("nativeguard runs");
    (
        output.status.code(),
        String::from_utf8(output.stdout).expect("utf-8"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// (EVTX file name, rule id) -> detections, expected.
fn expected() -> BTreeMap<(String, String), usize> {
    [
        (
            "ID1-WMIexec process execution.evtx",
            "61065c72-5d7d-44ef-bf41-6a36684b545f",
            1,
        ),
        (
            "ID4103-4104-Payload download via PowerShell.evtx",
            "ae7fbf8e-f3cb-49fd-8db4-5f3bed522c71",
            1,
        ),
        (
            "ID4674,5142-Mimikatz print spool privileges requested.evtx",
            "06d71506-7beb-4f22-8888-e2e5e2ca7fd8",
            4,
        ),
        (
            "ID4688-Interactive shell using AT schedule task.evtx",
            "60fc936d-2eb0-4543-8a13-911c750a1dfc",
            1,
        ),
        (
            "ID4738-Do not require Kerberos preauthentication.evtx",
            "f6de9536-0441-4b3f-a646-f4e00f300ffd",
            1,
        ),
    ]
    .into_iter()
    .map(|(file, rule, n)| ((file.to_string(), rule.to_string()), n))
    .collect()
}

#[test]
fn committed_cc0_samples_give_the_expected_detections() {
    let (code, stdout, stderr) = hunt("jsonl");
    assert_eq!(code, Some(0), "{stderr}");
    let mut got: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in stdout.lines() {
        let d: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        let path = d["source"]["path"].as_str().expect("source.path");
        let file = Path::new(path)
            .file_name()
            .expect("file name")
            .to_string_lossy();
        let rule = d["rule"]["id"].as_str().expect("rule.id");
        *got.entry((file.into_owned(), rule.to_string()))
            .or_insert(0) += 1;
        // The contract's fields (issue 2 / contracts §3).
        assert!(d["rule"]["title"].is_string() && d["rule"]["level"].is_string());
        assert!(
            d["rule"]["author"].as_str().is_some_and(|a| !a.is_empty()),
            "DRL 1.1"
        );
        assert!(d["rule"]["tags"].is_array() && d["rule"]["status"].is_string());
        assert!(d["source"]["record_id"].is_u64());
        assert!(d["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(d["event"]["EventID"].is_i64());
        assert!(d.get("correlation").is_none());
    }
    assert_eq!(got, expected(), "{stderr}");
    assert!(
        stderr.contains("5 files, 11 events, 8 detections from 5 rules"),
        "{stderr}"
    );
}

#[test]
fn every_format_renders_the_same_detections() {
    let (_, json, _) = hunt("json");
    let array: serde_json::Value = serde_json::from_str(&json).expect("one JSON array");
    assert_eq!(array.as_array().map(Vec::len), Some(8));
    let (_, csv, _) = hunt("csv");
    let mut rows = csv.lines();
    assert!(rows
        .next()
        .is_some_and(|h| h.starts_with("timestamp,level,rule_id,rule_title,status,author")));
    // Event fields can hold line breaks inside quoted cells, so count rule ids, not lines.
    assert_eq!(
        csv.matches(",06d71506-7beb-4f22-8888-e2e5e2ca7fd8,")
            .count(),
        4
    );
    let (_, table, _) = hunt("table");
    assert!(table.starts_with("TIME"));
    assert_eq!(table.matches("Mimikatz Use").count(), 4);
    // The author of every rule is shown (DRL 1.1), e.g. the Kerberoast rule's.
    assert!(table.contains("@neu5ron"), "{table}");
}

/// JSON Lines are streamed to the engine (an event is built only for a detection); with a
/// time filter every event is built. Both must find the same detections, also on lines the
/// streaming parser hands back (a float, winlogbeat's nesting).
#[test]
fn streamed_json_lines_give_the_detections_of_built_events() {
    let (_, stdout, _) = hunt("jsonl");
    let mut lines = String::new();
    for (i, line) in stdout.lines().enumerate() {
        let d: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        let mut event = d["event"].clone();
        if i % 3 == 1 {
            event["Fraction"] = serde_json::json!(0.5);
        }
        if i % 3 == 2 {
            event = serde_json::json!({ "winlog": { "event_data": event.clone() }, "Channel": event["Channel"], "EventID": event["EventID"] });
        }
        lines.push_str(&event.to_string());
        lines.push_str("\n\n");
    }
    // Removed when the guard drops, also when an assertion fails.
    let dir = tempfile::Builder::new()
        .prefix("nativeguard-stream-")
        .tempdir()
        .expect("temp dir");
    let path = dir.path().join("detected.jsonl");
    std::fs::write(&path, lines).expect("written");
    let detections = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_nativeguard"))
            .args(["hunt", "--format", "jsonl", "--rules"])
            .arg(fixtures().join("sigmahq-rules"))
            .args(extra)
            .arg(&path)
            .output()
            .expect("nativeguard runs");
        assert_eq!(output.status.code(), Some(0));
        let mut got: Vec<(String, u64)> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| {
                let d: serde_json::Value = serde_json::from_str(line).expect("JSON");
                let id = d["rule"]["id"].as_str().expect("rule.id").to_string();
                (id, d["source"]["record_id"].as_u64().expect("record id"))
            })
            .collect();
        got.sort();
        got
    };
    let streamed = detections(&[]);
    let built = detections(&["--from", "1970-01-01"]);
    assert_eq!(streamed, built);
    assert_eq!(streamed.len(), 8, "{streamed:?}");
}
