//! The real format: every Atomic Red Team file parses, every deliberately invalid case of the
//! format's own test data is rejected for its reason (naming the field), and the project's
//! shipped T1106 file is valid.

use nativeguard_atomic::{
    parse_technique, Catalog, Error, ExecutorKind, Platform, Validator, SHIPPED,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/art")
}

/// `../shared/datasets/atomic-red-team` beside the repository, if present.
fn shared_art() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/datasets/atomic-red-team");
    dir.is_dir().then_some(dir)
}

fn check_corpus(atomics: &Path) -> (usize, usize) {
    let catalog = match Catalog::load_dir(atomics, None) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    for error in &catalog.errors {
        eprintln!("{error}");
    }
    assert!(catalog.errors.is_empty(), "{} errors", catalog.errors.len());
    let mut per_platform: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_executor: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tests = 0;
    for (_, test) in catalog.tests() {
        tests += 1;
        for p in &test.supported_platforms {
            *per_platform.entry(p.as_str()).or_default() += 1;
        }
        *per_executor.entry(test.executor.kind.as_str()).or_default() += 1;
    }
    eprintln!(
        "{}: {} files, {tests} tests",
        atomics.display(),
        catalog.files.len()
    );
    eprintln!("tests per platform: {per_platform:?}");
    eprintln!("tests per executor: {per_executor:?}");
    (catalog.files.len(), tests)
}

#[test]
fn every_atomic_red_team_file_parses() {
    match shared_art() {
        Some(art) => {
            let (files, tests) = check_corpus(&art.join("atomics"));
            // The dataset README lists 341 technique files.
            assert_eq!(files, 341);
            assert!(tests > 1500, "{tests} tests");
        }
        None => {
            eprintln!("skipped: ../shared/datasets/atomic-red-team not found; fixture subset only")
        }
    }
    let (files, tests) = check_corpus(&fixtures().join("atomics"));
    assert_eq!((files, tests), (3, 33));
}

/// (entry, ART error type, field the error must name).
const INVALID_CASES: &[(&str, &str, &str)] = &[
    (
        "elevation_required_but_not_provided.yaml",
        "elevation_required_but_not_provided",
        "atomic_tests[0].executor.elevation_required",
    ),
    (
        "empty_dependency_executor_name.yaml",
        "empty_dependency_executor_name",
        "atomic_tests[0].dependency_executor_name",
    ),
    (
        "empty_input_arguments.yaml",
        "empty_input_arguments",
        "atomic_tests[0].input_arguments",
    ),
    (
        "extra_forbidden.yaml",
        "extra_forbidden",
        "atomic_tests[0].random_field",
    ),
    (
        "float_type.yaml",
        "float_type",
        "atomic_tests[0].input_arguments.gsecdump_exe.default",
    ),
    (
        "int_parsing.yaml",
        "int_parsing",
        "atomic_tests[0].input_arguments.gsecdump_exe.default",
    ),
    (
        "invalid_dependency_executor_name.yaml",
        "invalid_dependency_executor_name",
        "atomic_tests[0].dependency_executor_name",
    ),
    ("invalid_directory", "invalid_directory", "directory"),
    ("invalid_filename.yml", "invalid_filename", "filename"),
    (
        "missing_input_argument.yaml",
        "missing_input_argument",
        "atomic_tests[0].input_arguments",
    ),
    (
        "reused_guid.yaml",
        "reused_guid",
        "atomic_tests[1].auto_generated_guid",
    ),
    (
        "string_pattern_mismatch.yaml",
        "string_pattern_mismatch",
        "attack_technique",
    ),
    ("string_too_short.yaml", "string_too_short", "display_name"),
    (
        "unused_input_argument.yaml",
        "unused_input_argument",
        "atomic_tests[0].input_arguments.gsecdump_bin_hash",
    ),
    (
        "url_parsing.yaml",
        "url_parsing",
        "atomic_tests[0].input_arguments.gsecdump_exe.default",
    ),
];

fn check_test_data(dir: &Path) {
    let mut entries: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    let listed: Vec<&str> = INVALID_CASES.iter().map(|c| c.0).collect();
    assert_eq!(
        entries, listed,
        "every test_data entry has an expected reason"
    );
    for (entry, code, field) in INVALID_CASES {
        let parsed = Validator::new().check_entry(&dir.join(entry));
        let found = parsed.errors.iter().any(
            |e| matches!(e, Error::Invalid { code: c, field: f, .. } if c == code && f == field),
        );
        let shown: Vec<String> = parsed.errors.iter().map(|e| e.to_string()).collect();
        assert!(found, "{entry}: expected {code} at {field}, got {shown:#?}");
        eprintln!("{entry}: rejected: {}", shown.join(" | "));
    }
}

#[test]
fn every_invalid_test_data_case_is_rejected_naming_the_field() {
    check_test_data(&fixtures().join("test_data"));
    match shared_art() {
        Some(art) => check_test_data(&art.join("atomic_red_team/test_data")),
        None => {
            eprintln!("skipped: ../shared/datasets/atomic-red-team not found; fixture copy only")
        }
    }
}

#[test]
fn test_data_cases_load_once_their_one_defect_is_fixed() {
    // The valid counterpart of each case: the same file with the defect repaired must load,
    // so the rejection above comes from that defect and nothing else.
    let dir = fixtures().join("test_data");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let repaired = [
        (
            "elevation",
            read("elevation_required_but_not_provided.yaml").replace("name: bash", "name: bash\n    elevation_required: true"),
        ),
        ("extra", read("extra_forbidden.yaml").replace("  random_field: abc123\n", "").replace("W1003", "T1003")),
        ("float", read("float_type.yaml").replace("default: PathToAtomicsFolder\\..\\ExternalPayloads\\gsecdump.exe", "default: 1.5")),
        ("int", read("int_parsing.yaml").replace("default: PathToAtomicsFolder\\..\\ExternalPayloads\\gsecdump.exe", "default: '42'")),
        ("url", read("url_parsing.yaml").replace("default: PathToAtomicsFolder\\..\\ExternalPayloads\\gsecdump.exe", "default: https://example.org/g.exe")),
        ("short", read("string_too_short.yaml").replace("display_name: OS", "display_name: OS Credential Dumping")),
        ("pattern", read("string_pattern_mismatch.yaml").replace("W1003", "T1003")),
        ("missing", read("missing_input_argument.yaml").replace("  executor:", "  input_arguments:\n    gsecdump_exe:\n      description: x\n      type: path\n      default: g.exe\n  executor:")),
    ];
    for (what, text) in repaired {
        let parsed = parse_technique(what, &text);
        let shown: Vec<String> = parsed.errors.iter().map(|e| e.to_string()).collect();
        assert!(parsed.errors.is_empty(), "{what}: {shown:#?}");
        assert_eq!(parsed.technique.unwrap().tests.len(), 1, "{what}");
    }
}

#[test]
fn shipped_t1106_is_valid_linux_and_merges_with_art() {
    assert_eq!(SHIPPED.len(), 1);
    let mut validator = Validator::new();
    let parsed = validator.check_file(SHIPPED[0].path, SHIPPED[0].text);
    assert!(parsed.errors.is_empty(), "{:#?}", parsed.errors);
    let technique = parsed.technique.unwrap();
    assert_eq!(technique.attack_technique, "T1106");
    assert_eq!(technique.tests.len(), 9);
    for test in &technique.tests {
        assert_eq!(test.supported_platforms, [Platform::Linux], "{}", test.name);
        assert_eq!(test.executor.kind, ExecutorKind::Sh);
        assert!(test.guid.is_some());
        assert!(
            test.description.contains("What a control should see"),
            "{}",
            test.name
        );
        assert!(test.executor.command.contains(" emulate "), "{}", test.name);
    }
    // The shipped file on disk is the one embedded.
    let on_disk = std::fs::read_to_string(repo_root().join(SHIPPED[0].path)).unwrap();
    assert_eq!(on_disk, SHIPPED[0].text);
    // No GUID collides with Atomic Red Team's own T1106 tests.
    let art = std::fs::read_to_string(fixtures().join("atomics/T1106/T1106.yaml")).unwrap();
    let parsed = validator.check_file("T1106.yaml", &art);
    assert!(parsed.errors.is_empty(), "{:#?}", parsed.errors);
    assert_eq!(parsed.technique.unwrap().tests.len(), 5);
}

#[test]
fn a_bad_test_fails_alone() {
    let text = r#"
attack_technique: T1106
display_name: Native API
atomic_tests:
- name: good
  description: fine
  supported_platforms: [linux]
  executor: {name: sh, command: "true"}
- name: bad
  description: unknown platform
  supported_platforms: [plan9]
  executor: {name: sh, command: "true"}
"#;
    let parsed = parse_technique("mixed.yaml", text);
    assert_eq!(parsed.errors.len(), 1);
    let message = parsed.errors[0].to_string();
    assert!(
        message.starts_with("mixed.yaml:11: atomic_tests[1].supported_platforms[0]"),
        "{message}"
    );
    assert_eq!(parsed.technique.unwrap().tests.len(), 1);
}
