//! Loads every SigmaHQ rule under ../shared/datasets/sigmahq/rules* (detection and correlation
//! rules must all load) and reports what deprecated/ and unsupported/ do.

mod common;

use nativeguard_sigma::{Pipeline, RuleSetBuilder};
use std::path::{Path, PathBuf};

/// (files, rules loaded, errors)
fn load_folder(dir: &Path) -> (usize, usize, Vec<String>) {
    let mut files = Vec::new();
    common::yaml_files(dir, &mut files);
    let mut builder = RuleSetBuilder::new(Pipeline::windows());
    let mut errors = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable rule file");
        errors.extend(
            builder
                .add_file(&f.display().to_string(), &text)
                .iter()
                .map(ToString::to_string),
        );
    }
    let (set, build_errors) = builder.build();
    errors.extend(build_errors.iter().map(ToString::to_string));
    (files.len(), set.len(), errors)
}

#[test]
fn every_sigmahq_rule_loads() {
    let Some(root) = common::sigmahq() else {
        eprintln!("skipped: ../shared/datasets/sigmahq is absent");
        return;
    };
    let mut total_failures = Vec::new();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("readable")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("rules"))
        })
        .collect();
    folders.sort();
    for folder in folders {
        let (files, loaded, errors) = load_folder(&folder);
        eprintln!(
            "{}: {files} files, {loaded} rules loaded, {} failed",
            folder.display(),
            errors.len()
        );
        total_failures.extend(errors);
    }
    for f in &total_failures {
        eprintln!("  {f}");
    }
    assert!(
        total_failures.is_empty(),
        "{} rules failed to load",
        total_failures.len()
    );
}

#[test]
fn deprecated_and_unsupported_load_or_say_why() {
    let Some(root) = common::sigmahq() else {
        eprintln!("skipped: ../shared/datasets/sigmahq is absent");
        return;
    };
    for name in ["deprecated", "unsupported"] {
        let (files, loaded, errors) = load_folder(&root.join(name));
        eprintln!(
            "{name}: {files} files, {loaded} rules loaded, {} failed",
            errors.len()
        );
        for e in &errors {
            eprintln!("  {e}");
            // Every failure names its file and line and gives a reason.
            let (place, reason) = e.split_once(": ").expect("path:line: reason");
            assert!(place.contains(".yml:"), "{e}");
            assert!(!reason.trim().is_empty(), "{e}");
        }
        assert!(
            loaded + errors.len() >= files,
            "a file neither loaded nor failed"
        );
    }
}
