//! Loading Sigma rules for `hunt`, `monitor` and `trace`: the embedded ruleset, or the
//! `--rules` files and folders instead. Every rule that does not load comes back as a
//! `path:line: why` line, and the others still load.

use nativeguard_rules::EmbeddedRule;
use nativeguard_sigma::{RuleSet, RuleSetBuilder};
use std::path::{Path, PathBuf};

/// Fills `builder` (which sets the pipeline and how the set is built) from `paths` (files or
/// folders, recursively), or from `embedded` when no path is given. Returns the ruleset and
/// what failed to load.
pub fn load_rules(
    mut builder: RuleSetBuilder,
    embedded: &[EmbeddedRule],
    paths: &[PathBuf],
) -> (RuleSet, Vec<String>) {
    let mut errors = Vec::new();
    if paths.is_empty() {
        for rule in embedded {
            let failed = builder.add_recorded(rule.path, rule.text, rule.recording);
            errors.extend(failed.iter().map(ToString::to_string));
        }
    } else {
        let mut files = Vec::new();
        let mut unreadable = Vec::new();
        for path in paths {
            collect_rule_files(path, &mut files, &mut unreadable);
        }
        for file in files {
            let label = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    let failed = builder.add_file(&label, &text);
                    errors.extend(failed.iter().map(ToString::to_string));
                }
                Err(error) => unreadable.push(format!("{label}: cannot read: {error}")),
            }
        }
        errors.extend(unreadable);
    }
    let (rules, build_errors) = builder.build();
    errors.extend(build_errors.iter().map(ToString::to_string));
    (rules, errors)
}

/// `.yml`/`.yaml` files under `path` (itself if it is a file), sorted per directory.
fn collect_rule_files(path: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    let label = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(error) => return errors.push(format!("{label}: cannot read: {error}")),
    };
    if !meta.is_dir() {
        files.push(path.to_path_buf());
        return;
    }
    let mut children: Vec<PathBuf> = match std::fs::read_dir(path) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(error) => return errors.push(format!("{label}: cannot read: {error}")),
    };
    children.sort();
    for child in children {
        if child.is_dir() {
            collect_rule_files(&child, files, errors);
        } else if child
            .extension()
            .is_some_and(|ext| ext == "yml" || ext == "yaml")
        {
            files.push(child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nativeguard_sigma::Pipeline;

    /// The embedded rules load from their build-time recordings exactly as from their text: the
    /// same rules (every field of each) and no errors, for both sets.
    #[test]
    fn embedded_rules_load_alike_from_recordings_and_from_text() {
        for (pipeline, set) in [
            (Pipeline::windows(), nativeguard_rules::WINDOWS),
            (Pipeline::linux(), nativeguard_rules::LINUX),
        ] {
            let (recorded, errors) = load_rules(RuleSetBuilder::new(pipeline.clone()), set, &[]);
            assert!(errors.is_empty(), "{errors:?}");
            let mut builder = RuleSetBuilder::new(pipeline);
            for rule in set {
                assert!(builder.add_file(rule.path, rule.text).is_empty());
                assert!(!rule.recording.is_empty(), "{} has no recording", rule.path);
            }
            let (parsed, errors) = builder.build();
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(recorded.len(), parsed.len());
            for (a, b) in recorded.rules().iter().zip(parsed.rules()) {
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn bad_rules_fail_alone_and_missing_paths_are_reported() {
        let temp = tempfile::Builder::new()
            .prefix("ng-rule-loading-")
            .tempdir()
            .expect("temp dir");
        let dir = temp.path();
        std::fs::create_dir(dir.join("sub")).expect("sub dir");
        let good = "title: t\nid: 5d1c6a5e-0b8f-4a57-9a52-2a4f4f5a0c11\nlogsource:\n  product: linux\n  category: process_creation\ndetection:\n  s:\n    Image|endswith: /true\n  condition: s\nlevel: low\n";
        std::fs::write(dir.join("sub/good.yml"), good).expect("write");
        std::fs::write(dir.join("bad.yml"), "title: [unclosed\n").expect("write");
        std::fs::write(dir.join("notes.txt"), "not a rule").expect("write");
        let missing = dir.join("missing.yml");
        let (rules, errors) = load_rules(
            RuleSetBuilder::new(Pipeline::linux()),
            &[],
            &[dir.to_path_buf(), missing],
        );
        assert_eq!(rules.len(), 1, "errors: {errors:?}");
        assert_eq!(errors.len(), 2, "errors: {errors:?}");
        assert!(errors.iter().any(|e| e.contains("bad.yml")), "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("missing.yml: cannot read")),
            "{errors:?}"
        );
    }
}
