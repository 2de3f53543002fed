//! The renderers on values that come from rules and events, and on run-level errors.

mod common;

use common::{linux_rules, run, ScriptedControls};
use nativeguard_validate::catalog::read_rules;
use nativeguard_validate::expectations::Expectations;
use nativeguard_validate::render;

/// A `--rules` rule whose id is not pure ASCII (Sigma ids are not checked by the reader) and
/// that fires on a test: `html()` shows the id's first eight characters, and cutting it at
/// byte 8 would panic inside a character, so that `nativeguard validate` died
/// before writing any report.
#[test]
fn html_survives_a_non_ascii_rule_id() {
    let extra = "ruleidxé-local"; // 'é' occupies bytes 7..9
    let mut rules = linux_rules();
    let (custom, errors) = read_rules([(
        "local/custom.yml",
        "title: Local rule\nid: ruleidxé-local\nlevel: informational\nlogsource: {product: linux}\n\
         detection: {sel: {a: b}, condition: sel}\n",
    )]);
    assert!(errors.is_empty(), "{errors:?}");
    rules.extend(custom);
    let mut controls = ScriptedControls::new(Expectations::builtin("T1106").unwrap());
    controls.extra = Some(extra);
    let report = run(&mut controls, &rules);
    let html = std::panic::catch_unwind(|| render::html(&report));
    assert!(html.is_ok(), "render::html panicked on rule id {extra:?}");
}

/// The analysis control could not be stopped cleanly (as a Windows sample line that is
/// unreadable, or a Windows rule that does not load): `report.errors` is non-empty, `passed()`
/// is false and the CLI exits 1, and the JUnit XML, the artefact CI gates on, must fail too.
/// Every test is otherwise detected and blocked, so nothing else can fail it.
#[test]
fn junit_reports_run_level_errors() {
    let mut controls = ScriptedControls::new(Expectations::builtin("T1106").unwrap());
    controls.extra = Some("e325d8e1-c0e6-4d16-be67-bf6bf64dfb1f");
    controls.stop_error = true;
    let report = run(&mut controls, &linux_rules());
    assert!(!report.passed(), "{:?}", report.errors);
    let xml = render::junit(&report);
    let head = xml.lines().nth(1).unwrap().to_string();
    assert!(
        !(head.contains("failures=\"0\"") && head.contains("errors=\"0\"")),
        "report failed ({:?}) but JUnit says: {head}",
        report.errors
    );
}
