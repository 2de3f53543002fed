//! The SigmaHQ regression suite as a project test.
//!
//! For every `../shared/datasets/sigmahq/regression_data/**/info.yml`: the rule it names (looked
//! up by id in `sigmahq/rules*`), loaded alone with the Windows pipeline, run over the EVTX
//! sample it names, must match at least `match_count` events (at least one when no count is
//! given) — SigmaHQ's own runner's rule. Rules that match more are listed (SigmaHQ warns on
//! them). The same readers and engine as `nativeguard hunt` are used, in process.
//!
//! Skips with a printed reason when the dataset is absent (fresh clone without ../shared).

use nativeguard_logs::EvtxReader;
use nativeguard_sigma::{Pipeline, RuleSetBuilder};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn sigmahq_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/sigmahq")
}

/// One `regression_tests_info` entry.
#[derive(Debug)]
struct Case {
    rule_id: String,
    evtx: PathBuf,
    match_count: Option<u64>,
}

/// Reads the fields the suite needs from an info.yml (a fixed, simple layout: see
/// ../shared/datasets/README.md). Commented-out lines are ignored.
fn read_info(info: &Path, root: &Path) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(info).map_err(|e| e.to_string())?;
    let mut rule_id = None;
    let mut section = "";
    let mut cases: Vec<Case> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        if !line.starts_with(' ') && !line.starts_with('-') {
            section = trimmed.split(':').next().unwrap_or("");
            continue;
        }
        let entry = trimmed.trim_start_matches("- ");
        let Some((key, value)) = entry.split_once(':') else {
            continue;
        };
        let value = value.trim().trim_matches(['\'', '"']);
        match (section, key.trim()) {
            ("rule_metadata", "id") if rule_id.is_none() => rule_id = Some(value.to_string()),
            ("regression_tests_info", "name") => cases.push(Case {
                rule_id: String::new(),
                evtx: PathBuf::new(),
                match_count: None,
            }),
            ("regression_tests_info", "path") => {
                if let Some(case) = cases.last_mut() {
                    case.evtx = root.join(value);
                }
            }
            ("regression_tests_info", "match_count") => {
                if let Some(case) = cases.last_mut() {
                    case.match_count = Some(
                        value
                            .parse()
                            .map_err(|_| format!("bad match_count {value:?}"))?,
                    );
                }
            }
            _ => {}
        }
    }
    let rule_id = rule_id.ok_or("no rule_metadata id")?;
    for case in &mut cases {
        case.rule_id.clone_from(&rule_id);
    }
    Ok(cases)
}

fn find_files(dir: &Path, name_ok: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            find_files(&path, name_ok, out);
        } else if name_ok(&path) {
            out.push(path);
        }
    }
}

/// rule id -> rule file, over `sigmahq/rules*`.
fn index_rules(root: &Path) -> HashMap<String, PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return HashMap::new();
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("rules") {
            find_files(
                &entry.path(),
                &|p| p.extension().is_some_and(|e| e == "yml"),
                &mut files,
            );
        }
    }
    let mut index = HashMap::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("id:") {
                index.insert(id.trim().to_string(), file.clone());
            }
        }
    }
    index
}

/// Matches of `rule_id` over `evtx`, and the (ok, err) record counts.
fn run_case(rule_file: &Path, case: &Case) -> Result<(u64, u64, u64), String> {
    let text = std::fs::read_to_string(rule_file).map_err(|e| e.to_string())?;
    let mut builder = RuleSetBuilder::new(Pipeline::windows());
    let errors = builder.add_file(&rule_file.display().to_string(), &text);
    if let Some(error) = errors.first() {
        return Err(format!("rule does not load: {error}"));
    }
    let (rules, errors) = builder.build();
    if let Some(error) = errors.first() {
        return Err(format!("rule does not build: {error}"));
    }
    let rules = Arc::new(rules);
    let mut engine = rules.engine();
    let mut reader = EvtxReader::open(&case.evtx, 1).map_err(|e| e.to_string())?;
    let (mut matches, mut ok, mut err) = (0, 0, 0);
    let mut out = Vec::new();
    for item in reader.events() {
        match item {
            Ok(event) => {
                ok += 1;
                out.clear();
                engine.evaluate(&event, &mut out);
                matches += out.iter().filter(|d| d.rule.id == case.rule_id).count() as u64;
            }
            Err(_) => err += 1,
        }
    }
    Ok((matches, ok, err))
}

#[test]
fn sigmahq_regression_suite() {
    let root = sigmahq_dir();
    let data = root.join("regression_data");
    if !data.is_dir() {
        eprintln!("skipped: {} is absent", data.display());
        return;
    }
    let mut infos = Vec::new();
    find_files(
        &data,
        &|p| p.file_name().is_some_and(|n| n == "info.yml"),
        &mut infos,
    );
    let index = index_rules(&root);
    let (mut passed, mut more, mut skipped) = (0, Vec::new(), Vec::new());
    let mut failures = Vec::new();
    let (mut events, mut record_errors) = (0, 0);
    for info in &infos {
        let cases = match read_info(info, &root) {
            Ok(cases) => cases,
            Err(why) => {
                failures.push(format!("{}: {why}", info.display()));
                continue;
            }
        };
        if cases.is_empty() {
            skipped.push(format!(
                "{}: no regression_tests_info entry",
                info.display()
            ));
        }
        for case in cases {
            let Some(rule_file) = index.get(&case.rule_id) else {
                failures.push(format!(
                    "{}: rule {} not found",
                    info.display(),
                    case.rule_id
                ));
                continue;
            };
            let wanted = case.match_count.unwrap_or(1);
            match run_case(rule_file, &case) {
                Err(why) => failures.push(format!("{}: {why}", rule_file.display())),
                Ok((got, ok, err)) => {
                    events += ok;
                    record_errors += err;
                    if got < wanted {
                        failures.push(format!(
                            "{} ({}): {got} matches, want at least {wanted} (over {} events of {})",
                            rule_file.display(),
                            case.rule_id,
                            ok,
                            case.evtx.display()
                        ));
                    } else {
                        passed += 1;
                        if got > wanted {
                            more.push(format!(
                                "{} ({}): {got} matches, match_count {wanted}",
                                rule_file.display(),
                                case.rule_id
                            ));
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "regression: {} info.yml, {passed} cases passed, {} failed, {} skipped; {events} events read, {record_errors} record errors",
        infos.len(),
        failures.len(),
        skipped.len()
    );
    for line in &skipped {
        eprintln!("  skipped: {line}");
    }
    eprintln!("rules matching more than match_count: {}", more.len());
    for line in &more {
        eprintln!("  more: {line}");
    }
    for line in &failures {
        eprintln!("  FAILED: {line}");
    }
    assert!(passed > 0, "no case ran");
    assert!(
        failures.is_empty(),
        "{} regression cases failed",
        failures.len()
    );
}
