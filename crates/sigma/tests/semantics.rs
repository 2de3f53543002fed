//! One test per modifier and condition form, run through the engine and checked against the
//! reference evaluator on every event.

mod common;

use common::{build, event, rule, s};
use nativeguard_event::{Event, Timestamp, Value};
use nativeguard_sigma::{Detection, Pipeline, RuleSet, RuleSetBuilder};
use std::collections::HashMap;
use std::sync::Arc;

/// Whether the single rule matches, asserting engine and reference agree.
fn hits(set: &Arc<RuleSet>, e: &Event) -> bool {
    let mut out = Vec::new();
    set.engine().evaluate(e, &mut out);
    let reference = set.reference_matches(e);
    let engine: Vec<String> = out.iter().map(|d| d.rule.id.clone()).collect();
    let refids: Vec<String> = reference.iter().map(|r| r.id.clone()).collect();
    assert_eq!(engine, refids, "engine vs reference on {e:?}");
    !out.is_empty()
}

fn check(detection: &str, cases: &[(&[(&str, Value)], bool)]) {
    let set = build(&[&rule(detection)], None);
    for (fields, want) in cases {
        assert_eq!(hits(&set, &event(fields)), *want, "{detection}\n{fields:?}");
    }
}

#[test]
fn default_is_case_insensitive_and_cased_is_not() {
    check(
        "  sel:\n    Image|endswith: '\\CMD.exe'\n  condition: sel",
        &[
            (&[("Image", s("c:\\windows\\cmd.EXE"))], true),
            (&[("Image", s("c:\\cmd.exe2"))], false),
        ],
    );
    check(
        "  sel:\n    Image|endswith|cased: '\\CMD.exe'\n  condition: sel",
        &[
            (&[("Image", s("c:\\windows\\cmd.exe"))], false),
            (&[("Image", s("C:\\CMD.exe"))], true),
        ],
    );
}

#[test]
fn contains_startswith_endswith_all() {
    check(
        "  sel:\n    CommandLine|contains|all: ['-nop', 'hidden']\n    Image|startswith: 'C:\\Windows'\n  condition: sel",
        &[
            (&[("CommandLine", s("ps -NoP -w HIDDEN")), ("Image", s("c:\\windows\\x.exe"))], true),
            (&[("CommandLine", s("ps -nop")), ("Image", s("c:\\windows\\x.exe"))], false),
            (&[("CommandLine", s("-nop hidden")), ("Image", s("d:\\windows"))], false),
        ],
    );
}

#[test]
fn wildcards_and_escapes() {
    check(
        "  sel:\n    F: 'a*b?c'\n  condition: sel",
        &[
            (&[("F", s("aXXbYc"))], true),
            (&[("F", s("abc"))], false),
            (&[("F", s("abYc"))], true),
        ],
    );
    // Escaped wildcards are literal.
    check(
        "  sel:\n    F: 'a\\*b\\?'\n  condition: sel",
        &[
            (&[("F", s("a*b?"))], true),
            (&[("F", s("aXb?"))], false),
            (&[("F", s("a*bX"))], false),
        ],
    );
    // An escaped backslash before a wildcard: backslash then any text.
    check(
        "  sel:\n    F: 'C:\\\\*'\n  condition: sel",
        &[
            (&[("F", s("C:\\Windows"))], true),
            (&[("F", s("C:Windows"))], false),
        ],
    );
}

#[test]
fn windash_covers_dash_slash_en_em_and_horizontal_bar() {
    let detection = "  sel:\n    CommandLine|windash|contains: ' -enc '\n  condition: sel";
    for dash in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
        check(
            detection,
            &[(
                &[("CommandLine", s(&format!("powershell {dash}enc AAA")))],
                true,
            )],
        );
    }
    check(
        detection,
        &[(&[("CommandLine", s("powershell +enc AAA"))], false)],
    );
}

#[test]
fn base64_and_base64offset_three_offsets() {
    check(
        "  sel:\n    F|base64: 'hello'\n  condition: sel",
        &[
            (&[("F", s("aGVsbG8="))], true),
            (&[("F", s("hello"))], false),
        ],
    );
    let detection = "  sel:\n    F|base64offset|contains: 'Invoke-Mimikatz'\n  condition: sel";
    for prefix in ["", "a", "ab", "abc", "abcd"] {
        let encoded = common::base64(format!("{prefix}Invoke-Mimikatz trailing").as_bytes());
        check(detection, &[(&[("F", s(&encoded))], true)]);
    }
    check(
        detection,
        &[(&[("F", s(&common::base64(b"Invoke-Mimi")))], false)],
    );
}

#[test]
fn utf16_with_base64offset() {
    let detection = "  sel:\n    F|utf16le|base64offset|contains: 'Invoke'\n  condition: sel";
    for prefix in ["", "x", "xy"] {
        let wide: Vec<u8> = format!("{prefix}Invoke-Expression")
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        check(detection, &[(&[("F", s(&common::base64(&wide)))], true)]);
    }
    let narrow = common::base64(b"Invoke-Expression");
    check(detection, &[(&[("F", s(&narrow))], false)]);
    let be: Vec<u8> = "Invoke".encode_utf16().flat_map(u16::to_be_bytes).collect();
    check(
        "  sel:\n    F|utf16be|base64: 'Invoke'\n  condition: sel",
        &[(&[("F", s(&common::base64(&be)))], true)],
    );
    let bom: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("cmd".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    check(
        "  sel:\n    F|utf16|base64: 'cmd'\n  condition: sel",
        &[(&[("F", s(&common::base64(&bom)))], true)],
    );
    check(
        "  sel:\n    F|wide|base64: 'cmd'\n  condition: sel",
        &[(&[("F", s(&common::base64(&bom[2..])))], true)],
    );
}

#[test]
fn regex_with_flags() {
    check(
        "  sel:\n    F|re: '^ab.c$'\n  condition: sel",
        &[(&[("F", s("abXc"))], true), (&[("F", s("ABXC"))], false)],
    );
    check(
        "  sel:\n    F|re|i: '^ab.c$'\n  condition: sel",
        &[(&[("F", s("ABXC"))], true)],
    );
    check(
        "  sel:\n    F|re|m: '^second$'\n  condition: sel",
        &[(&[("F", s("first\nsecond\nthird"))], true)],
    );
    check(
        "  sel:\n    F|re: '^second$'\n  condition: sel",
        &[(&[("F", s("first\nsecond"))], false)],
    );
    check(
        "  sel:\n    F|re|s: 'a.b'\n  condition: sel",
        &[(&[("F", s("a\nb"))], true)],
    );
    check(
        "  sel:\n    F|re: 'a.b'\n  condition: sel",
        &[(&[("F", s("a\nb"))], false)],
    );
}

#[test]
fn cidr_v4_and_v6() {
    check(
        "  sel:\n    Ip|cidr: ['10.0.0.0/8', 'fe80::/10', '2001:db8::/32']\n  condition: sel",
        &[
            (&[("Ip", s("10.1.2.3"))], true),
            (&[("Ip", s("11.1.2.3"))], false),
            (&[("Ip", s("fe80::1%eth0"))], true),
            (&[("Ip", s("2001:db8:ffff::1"))], true),
            (&[("Ip", s("2001:db9::1"))], false),
            (&[("Ip", s("::ffff:10.0.0.1"))], true),
            (&[("Ip", s("not an ip"))], false),
        ],
    );
}

#[test]
fn exists_null_and_neq() {
    check(
        "  sel:\n    F|exists: true\n  condition: sel",
        &[(&[("F", Value::Null)], true), (&[("G", s("x"))], false)],
    );
    check(
        "  sel:\n    F|exists: false\n  condition: sel",
        &[(&[("F", s(""))], false), (&[("G", s("x"))], true)],
    );
    check(
        "  sel:\n    F: null\n  condition: sel",
        &[
            (&[("F", Value::Null)], true),
            (&[("G", s("x"))], true),
            (&[("F", s(""))], false),
        ],
    );
    check(
        "  sel:\n    F|neq: ['a', 'b']\n  condition: sel",
        &[
            (&[("F", s("c"))], true),
            (&[("F", s("A"))], false),
            (&[("F", s("b"))], false),
        ],
    );
}

#[test]
fn numeric_comparisons_and_eventid_text_vs_int() {
    check(
        "  sel:\n    N|gt: 10\n  condition: sel",
        &[
            (&[("N", Value::Int(11))], true),
            (&[("N", s("10"))], false),
            (&[("N", s("x"))], false),
        ],
    );
    check(
        "  sel:\n    N|gte: 10\n  condition: sel",
        &[(&[("N", s(" 10 "))], true)],
    );
    check(
        "  sel:\n    N|lt: 1.5\n  condition: sel",
        &[(&[("N", Value::Float(1.25))], true)],
    );
    check(
        "  sel:\n    N|lte: -3\n  condition: sel",
        &[
            (&[("N", Value::Int(-3))], true),
            (&[("N", Value::Int(-2))], false),
        ],
    );
    check(
        "  sel:\n    EventID: 4688\n  condition: sel",
        &[
            (&[("EventID", Value::Int(4688))], true),
            (&[("EventID", s("4688"))], true),
            (&[("EventID", Value::Int(46880))], false),
        ],
    );
    check(
        "  sel:\n    EventID: '4688'\n  condition: sel",
        &[(&[("EventID", Value::Int(4688))], true)],
    );
}

#[test]
fn fieldref_equal_and_partial() {
    check(
        "  sel:\n    A|fieldref: B\n  condition: sel",
        &[
            (&[("A", s("x")), ("B", s("X"))], true),
            (&[("A", s("x")), ("B", s("y"))], false),
            (&[("A", s("x"))], false),
        ],
    );
    check(
        "  sel:\n    A|fieldref|contains: B\n  condition: sel",
        &[(&[("A", s("abcd")), ("B", s("BC"))], true)],
    );
    check(
        "  sel:\n    A|fieldref|startswith: B\n  condition: sel",
        &[(&[("A", s("abcd")), ("B", s("ab"))], true)],
    );
    check(
        "  sel:\n    A|fieldref|endswith: B\n  condition: sel",
        &[(&[("A", s("abcd")), ("B", s("ab"))], false)],
    );
}

#[test]
fn keywords_search_every_value() {
    check(
        "  keywords:\n    - 'mimikatz'\n    - 'sekurlsa'\n  condition: keywords",
        &[
            (&[("A", s("x")), ("B", s("run MimiKatz now"))], true),
            (&[("A", s("x"))], false),
        ],
    );
    check(
        "  keywords:\n    '|all':\n      - 'OabVirtualDirectory'\n      - ' -ExternalUrl '\n  condition: keywords",
        &[
            (&[("A", s("Set-OabVirtualDirectory")), ("B", s("x -externalurl y"))], true),
            (&[("A", s("Set-OabVirtualDirectory"))], false),
        ],
    );
}

#[test]
fn lists_in_events_match_any_element() {
    check(
        "  sel:\n    Tags|contains: 'evil'\n  condition: sel",
        &[
            (
                &[("Tags", Value::List(vec![s("good"), s("evil one")]))],
                true,
            ),
            (&[("Tags", Value::List(vec![]))], false),
        ],
    );
}

#[test]
fn condition_forms() {
    let det =
        "  sel_a:\n    A: 1\n  sel_b:\n    B: 1\n  filter_c:\n    C: 1\n  _hidden:\n    D: 1\n";
    type Case<'a> = (&'a str, &'a [(&'a str, Value)], bool);
    let cases: &[Case] = &[
        ("sel_a and sel_b", &[("A", s("1")), ("B", s("1"))], true),
        ("sel_a and sel_b", &[("A", s("1"))], false),
        ("sel_a or sel_b", &[("B", s("1"))], true),
        (
            "sel_a and not filter_c",
            &[("A", s("1")), ("C", s("1"))],
            false,
        ),
        ("(sel_a or sel_b) and not filter_c", &[("B", s("1"))], true),
        ("1 of sel_*", &[("B", s("1"))], true),
        ("all of sel_*", &[("B", s("1"))], false),
        (
            "all of sel_* and not 1 of filter*",
            &[("A", s("1")), ("B", s("1"))],
            true,
        ),
        ("2 of them", &[("A", s("1")), ("C", s("1"))], true),
        ("2 of them", &[("A", s("1")), ("D", s("1"))], false),
        (
            "all of them",
            &[("A", s("1")), ("B", s("1")), ("C", s("1"))],
            true,
        ),
        ("1 of them", &[("D", s("1"))], false),
        ("not sel_a", &[("B", s("1"))], true),
    ];
    for (cond, fields, want) in cases {
        let set = build(&[&rule(&format!("{det}  condition: {cond}"))], None);
        assert_eq!(hits(&set, &event(fields)), *want, "{cond} {fields:?}");
    }
    // A list of conditions is an OR.
    let set = build(
        &[&rule(&format!(
            "{det}  condition:\n    - sel_a\n    - sel_b"
        ))],
        None,
    );
    assert!(hits(&set, &event(&[("B", s("1"))])));
}

#[test]
fn expand_placeholders_with_and_without_values() {
    let text = rule("  sel:\n    User|expand: '%admins%'\n  condition: sel");
    let set = build(&[&text], None);
    assert!(
        !hits(&set, &event(&[("User", s("%admins%"))])),
        "unresolved matches nothing"
    );
    assert_eq!(set.unresolved_placeholders().count(), 1);
    let values = HashMap::from([(
        "admins".to_string(),
        vec!["root".to_string(), "adm_*".to_string()],
    )]);
    let set = build(&[&text], Some(values));
    assert!(hits(&set, &event(&[("User", s("ADM_bob"))])));
    assert!(hits(&set, &event(&[("User", s("root"))])));
    assert!(!hits(&set, &event(&[("User", s("bob"))])));
}

#[test]
fn placeholders_set_after_files_still_apply() {
    let mut b = RuleSetBuilder::new(Pipeline::none());
    assert!(b
        .add_file(
            "p.yml",
            &rule("  sel:\n    User|expand: '%admins%'\n  condition: sel")
        )
        .is_empty());
    b.set_placeholders(HashMap::from([(
        "%admins%".to_string(),
        vec!["root".to_string()],
    )]));
    let (set, errors) = b.build();
    assert!(errors.is_empty());
    let set = Arc::new(set);
    assert!(hits(&set, &event(&[("User", s("root"))])));
    assert_eq!(set.unresolved_placeholders().count(), 0);
}

#[test]
fn field_names_ignore_case_and_prefixes_from_the_pipeline() {
    let yaml = "name: t\nkeys: {}\nfield_prefixes: [winlog.event_data.]\nunrouted: all\n";
    let mut b = RuleSetBuilder::new(Pipeline::parse("t", yaml).expect("pipeline"));
    assert!(b
        .add_file(
            "r.yml",
            &rule("  sel:\n    Image|endswith: '\\x.exe'\n  condition: sel")
        )
        .is_empty());
    let set = Arc::new(b.build().0);
    let mut e = Event::new();
    e.insert_path("winlog.event_data.Image", "C:\\x.exe");
    assert!(hits(&set, &e));
    assert!(hits(&set, &event(&[("image", s("C:\\x.exe"))])));
}

#[test]
fn filters_exclude_by_id_and_by_name() {
    let det = "title: base\nid: 11111111-0000-4000-8000-000000000000\nname: base_rule\nlogsource: {product: test}\ndetection:\n  sel:\n    A: 1\n  condition: sel\n";
    for reference in ["11111111-0000-4000-8000-000000000000", "base_rule"] {
        let filter = format!("title: f\nlogsource: {{product: test}}\nfilter:\n  rules:\n    - {reference}\n  selection:\n    User|startswith: 'adm_'\n  condition: selection\n");
        let set = build(&[det, &filter], None);
        assert!(hits(&set, &event(&[("A", s("1")), ("User", s("bob"))])));
        assert!(!hits(
            &set,
            &event(&[("A", s("1")), ("User", s("adm_bob"))])
        ));
    }
    let mut b = RuleSetBuilder::new(Pipeline::none());
    b.add_file("f.yml", "title: f\nlogsource: {product: test}\nfilter:\n  rules: [missing]\n  selection:\n    A: 1\n  condition: selection\n");
    let (_, errors) = b.build();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .starts_with("f.yml:4: filter names rule 'missing'"),
        "{}",
        errors[0]
    );
}

#[test]
fn load_errors_name_file_line_and_reason() {
    let mut b = RuleSetBuilder::new(Pipeline::none());
    let errors = b.add_file(
        "bad.yml",
        "title: ok\nlogsource: {}\ndetection:\n  sel:\n    A|nosuchmod: 1\n  condition: sel\n---\ntitle: two\ndetection:\n  sel:\n    A: 1\n  condition: sel and other\n---\ntitle: three\ndetection:\n  sel: {A: 1}\n  condition: sel\n",
    );
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "bad.yml:5: unknown modifier 'nosuchmod'".to_string(),
            "bad.yml:12: condition names 'other', which the detection does not define".to_string(),
        ]
    );
    assert_eq!(errors[0].title.as_deref(), Some("ok"));
    let (set, _) = b.build();
    assert_eq!(set.len(), 1, "the good document still loads");
}

#[test]
fn sigma1_multi_document_global_and_repeat() {
    let text = "action: global\ntitle: g\nlogsource: {product: test}\ndetection:\n  condition: sel\n---\ndetection:\n  sel:\n    A: 1\n---\naction: repeat\ndetection:\n  sel:\n    A: 2\n";
    let set = build(&[text], None);
    assert_eq!(set.len(), 2);
    let mut out = Vec::new();
    set.engine().evaluate(&event(&[("A", s("2"))]), &mut out);
    assert_eq!(out.len(), 1);
}

fn at(seconds: i64, fields: &[(&str, Value)]) -> Event {
    let mut e = event(fields);
    e.timestamp = Some(Timestamp(seconds * 1_000_000_000));
    e
}

fn correlation_set(correlation: &str) -> Arc<RuleSet> {
    let base = "title: login\nid: 22222222-0000-4000-8000-000000000000\nname: failed_login\nlogsource: {product: test}\ndetection:\n  sel:\n    Kind: fail\n  condition: sel\n---\ntitle: success\nname: good_login\nlogsource: {product: test}\ndetection:\n  sel:\n    Kind: ok\n  condition: sel\n";
    build(&[base, correlation], None)
}

fn fire_times(set: &Arc<RuleSet>, events: &[Event]) -> Vec<(usize, Detection)> {
    let mut engine = set.engine();
    let mut fired = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let mut out = Vec::new();
        engine.evaluate(e, &mut out);
        fired.extend(
            out.into_iter()
                .filter(|d| d.correlation.is_some())
                .map(|d| (i, d)),
        );
    }
    fired
}

#[test]
fn event_count_window_edges_are_inclusive() {
    let set = correlation_set("title: brute\ncorrelation:\n  type: event_count\n  rules: [failed_login]\n  group-by: [User]\n  timespan: 10s\n  condition:\n    gte: 3\n");
    let fail = |t, user: &str| at(t, &[("Kind", s("fail")), ("User", s(user))]);
    // 0, 5, 10: the third is exactly 10s after the first -> inside.
    let fired = fire_times(&set, &[fail(0, "a"), fail(5, "a"), fail(10, "a")]);
    assert_eq!(fired.len(), 1);
    let hit = fired[0].1.correlation.as_ref().expect("hit");
    assert_eq!(hit.value, 3.0);
    assert_eq!(hit.group, vec![("User".to_string(), "a".to_string())]);
    assert_eq!(
        hit.rules,
        vec!["22222222-0000-4000-8000-000000000000".to_string()]
    );
    // 0, 5, 10.000000001: the first has left the window.
    let mut late = fail(10, "a");
    late.timestamp = Some(Timestamp(10_000_000_001));
    assert!(fire_times(&set, &[fail(0, "a"), fail(5, "a"), late]).is_empty());
    // Other groups do not count.
    assert!(fire_times(&set, &[fail(0, "a"), fail(1, "b"), fail(2, "a")]).is_empty());
    // Referenced rules stay quiet on their own (generate defaults to false).
    let mut out = Vec::new();
    set.engine().evaluate(&fail(0, "a"), &mut out);
    assert!(out.is_empty());
}

#[test]
fn value_count_temporal_and_ordered() {
    let set = correlation_set("title: spray\ncorrelation:\n  type: value_count\n  rules: [failed_login]\n  group-by: [Source]\n  timespan: 1m\n  condition:\n    field: User\n    gt: 2\n");
    let ev = |t, u: &str| {
        at(
            t,
            &[("Kind", s("fail")), ("User", s(u)), ("Source", s("h"))],
        )
    };
    assert!(fire_times(&set, &[ev(0, "a"), ev(1, "a"), ev(2, "b")]).is_empty());
    assert_eq!(
        fire_times(&set, &[ev(0, "a"), ev(1, "b"), ev(2, "c")]).len(),
        1
    );

    let ordered = correlation_set("title: then\ngenerate: true\ncorrelation:\n  type: temporal_ordered\n  rules: [failed_login, good_login]\n  group-by: [User]\n  timespan: 5s\n");
    let f = |t| at(t, &[("Kind", s("fail")), ("User", s("u"))]);
    let g = |t| at(t, &[("Kind", s("ok")), ("User", s("u"))]);
    assert_eq!(fire_times(&ordered, &[f(0), g(5)]).len(), 1);
    assert!(fire_times(&ordered, &[g(0), f(1)]).is_empty());
    assert!(fire_times(&ordered, &[f(0), g(6)]).is_empty());
    // generate: true keeps the referenced rules' own alerts.
    let mut out = Vec::new();
    ordered.engine().evaluate(&f(0), &mut out);
    assert_eq!(out.len(), 1);

    let temporal = correlation_set("title: both\ncorrelation:\n  type: temporal\n  rules: [failed_login, good_login]\n  group-by: [User]\n  timespan: 5s\n");
    assert_eq!(fire_times(&temporal, &[g(0), f(5)]).len(), 1);
}

#[test]
fn value_aggregates() {
    let ev = |t, n: i64| at(t, &[("Kind", s("fail")), ("Bytes", Value::Int(n))]);
    let sum = correlation_set("title: s\ncorrelation:\n  type: value_sum\n  rules: [failed_login]\n  group-by: []\n  timespan: 1h\n  condition:\n    field: Bytes\n    gt: 100\n    lte: 200\n");
    assert_eq!(fire_times(&sum, &[ev(0, 60), ev(1, 50)]).len(), 1);
    assert!(fire_times(&sum, &[ev(0, 60), ev(1, 150)]).is_empty());
    let avg = correlation_set("title: a\ncorrelation:\n  type: value_avg\n  rules: [failed_login]\n  group-by: []\n  timespan: 1h\n  condition:\n    field: Bytes\n    gte: 10\n");
    let fired = fire_times(&avg, &[ev(0, 5), ev(1, 15)]);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].1.correlation.as_ref().map(|h| h.value), Some(10.0));
    let median = correlation_set("title: m\ncorrelation:\n  type: value_median\n  rules: [failed_login]\n  group-by: []\n  timespan: 1h\n  condition:\n    field: Bytes\n    eq: 2.5\n");
    let fired = fire_times(&median, &[ev(0, 1), ev(1, 2), ev(2, 3), ev(3, 4)]);
    assert_eq!(fired.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![3]);
    let pct = correlation_set("title: p\ncorrelation:\n  type: value_percentile\n  rules: [failed_login]\n  group-by: []\n  timespan: 1h\n  condition:\n    field: Bytes\n    percentile: 100\n    gte: 9\n");
    assert_eq!(fire_times(&pct, &[ev(0, 1), ev(1, 9)]).len(), 1);
}

#[test]
fn correlation_aliases_and_chains() {
    let set = correlation_set("title: inner\nname: inner\ngenerate: true\ncorrelation:\n  type: temporal\n  rules: [failed_login, good_login]\n  aliases:\n    who:\n      failed_login: TargetUser\n      good_login: User\n  group-by: [who]\n  timespan: 5s\n---\ntitle: outer\ncorrelation:\n  type: event_count\n  rules: [inner]\n  group-by: [who]\n  timespan: 1h\n  condition:\n    gte: 2\n");
    let f = |t| at(t, &[("Kind", s("fail")), ("TargetUser", s("u"))]);
    let g = |t| at(t, &[("Kind", s("ok")), ("User", s("u"))]);
    let fired = fire_times(&set, &[f(0), g(1), f(10), g(11)]);
    let titles: Vec<&str> = fired.iter().map(|(_, d)| d.rule.title.as_str()).collect();
    // The inner correlation feeds the outer one (whose generate is false, so inner stays quiet).
    assert_eq!(titles, vec!["outer"]);
    assert_eq!(fired[0].0, 3);
}

#[test]
fn window_event_limit_caps_a_group() {
    use nativeguard_sigma::MAX_WINDOW_EVENTS;
    let cap = correlation_set(&format!(
        "title: many\ncorrelation:\n  type: event_count\n  rules: [failed_login]\n  group-by: [User]\n  timespan: 1h\n  condition:\n    gt: {MAX_WINDOW_EVENTS}\n"
    ));
    let at_cap = correlation_set(&format!(
        "title: many\ncorrelation:\n  type: event_count\n  rules: [failed_login]\n  group-by: [User]\n  timespan: 1h\n  condition:\n    gte: {MAX_WINDOW_EVENTS}\n"
    ));
    let events: Vec<Event> = (0..=MAX_WINDOW_EVENTS as i64)
        .map(|i| {
            let mut e = event(&[("Kind", s("fail")), ("User", s("u"))]);
            e.timestamp = Some(Timestamp(i));
            e
        })
        .collect();
    assert!(
        fire_times(&cap, &events).is_empty(),
        "a window never holds more than the limit"
    );
    assert_eq!(fire_times(&at_cap, &events).len(), 1);
}

#[test]
fn group_limit_stops_tracking_new_groups_until_old_ones_expire() {
    use nativeguard_sigma::MAX_CORRELATION_GROUPS;
    let set = correlation_set("title: pairs\ncorrelation:\n  type: event_count\n  rules: [failed_login]\n  group-by: [User]\n  timespan: 10s\n  condition:\n    gte: 2\n");
    let mut engine = set.engine();
    let mut out = Vec::new();
    let fail = |t: i64, user: String| {
        let mut e = event(&[("Kind", s("fail")), ("User", Value::from(user))]);
        e.timestamp = Some(Timestamp(t));
        e
    };
    for i in 0..MAX_CORRELATION_GROUPS {
        engine.evaluate(&fail(0, format!("u{i}")), &mut out);
    }
    // One group too many: not tracked, so its second event does not fire.
    engine.evaluate(&fail(1, "extra".into()), &mut out);
    engine.evaluate(&fail(2, "extra".into()), &mut out);
    assert!(out.is_empty());
    // An existing group still fires.
    engine.evaluate(&fail(3, "u7".into()), &mut out);
    assert_eq!(out.len(), 1);
    // Once the old groups expired, new groups are tracked again.
    out.clear();
    engine.evaluate(&fail(20_000_000_000, "late".into()), &mut out);
    engine.evaluate(&fail(20_000_000_001, "late".into()), &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn route_cache_limit_keeps_results_right() {
    use nativeguard_sigma::MAX_ROUTE_CACHE;
    let yaml = "name: t\nkeys:\n  kind: [Kind]\nunrouted: skip\nlogsources:\n  - logsource: {product: test}\n    targets:\n      - {kind: hit}\n";
    let mut b = RuleSetBuilder::new(Pipeline::parse("t", yaml).expect("pipeline"));
    assert!(b
        .add_file("r.yml", &rule("  sel:\n    A: 1\n  condition: sel"))
        .is_empty());
    let set = Arc::new(b.build().0);
    let mut engine = set.engine();
    let mut hits = 0;
    for i in 0..MAX_ROUTE_CACHE + 10 {
        let mut out = Vec::new();
        let kind = if i % 100 == 0 {
            "hit".to_string()
        } else {
            format!("k{i}")
        };
        engine.evaluate(
            &event(&[("Kind", Value::from(kind)), ("A", s("1"))]),
            &mut out,
        );
        hits += out.len();
    }
    assert_eq!(hits, (MAX_ROUTE_CACHE + 10).div_ceil(100));
}

#[test]
fn regex_size_limit_refuses_huge_patterns() {
    let mut b = RuleSetBuilder::new(Pipeline::none());
    let errors = b.add_file(
        "re.yml",
        &rule("  sel:\n    A|re: '(?:\\w{100}){100}'\n  condition: sel"),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("size limit"), "{}", errors[0]);
    assert!(b
        .add_file(
            "ok.yml",
            &rule("  sel:\n    A|re: '\\w{10}'\n  condition: sel")
        )
        .is_empty());
}

#[test]
fn placeholder_expansion_limit() {
    use nativeguard_sigma::MAX_VALUE_EXPANSION;
    let many: Vec<String> = (0..MAX_VALUE_EXPANSION).map(|i| format!("v{i}")).collect();
    let mut b = RuleSetBuilder::new(Pipeline::none());
    b.set_placeholders(HashMap::from([
        ("a".to_string(), many.clone()),
        ("b".to_string(), vec!["x".into(), "y".into()]),
    ]));
    let errors = b.add_file(
        "p.yml",
        &rule("  sel:\n    A|expand: '%a%%b%'\n  condition: sel"),
    );
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("MAX_VALUE_EXPANSION")),
        "{errors:?}"
    );
    assert!(b
        .add_file(
            "q.yml",
            &rule("  sel:\n    A|expand: '%a%'\n  condition: sel")
        )
        .is_empty());
}

#[test]
fn one_engine_routes_each_event_by_its_own_channel_and_event_id_in_any_case() {
    let security = "title: s\nid: 00000000-0000-4000-8000-0000000000a1\nlogsource: {product: windows, service: security}\ndetection:\n  s:\n    TargetUserName: bob\n  condition: s\n";
    let process = "title: p\nid: 00000000-0000-4000-8000-0000000000a2\nlogsource: {product: windows, category: process_creation}\ndetection:\n  s:\n    TargetUserName: bob\n  condition: s\n";
    let mut b = RuleSetBuilder::new(Pipeline::windows());
    for (i, t) in [security, process].iter().enumerate() {
        assert!(b.add_file(&format!("r{i}.yml"), t).is_empty());
    }
    let set = Arc::new(b.build().0);
    let sysmon = "Microsoft-Windows-Sysmon/Operational";
    // One engine through runs of one kind and changes of kind, channels in any case: each
    // event's rules are its own route's, as the reference evaluator finds them.
    let sequence: &[(&str, Option<i64>, &[&str])] = &[
        ("Security", Some(4624), &["s"]),
        ("Security", Some(4624), &["s"]),
        ("SECURITY", Some(4625), &["s"]),
        (sysmon, Some(1), &["p"]),
        (sysmon, Some(1), &["p"]),
        (sysmon, Some(3), &[]),
        ("microsoft-windows-sysmon/OPERATIONAL", Some(1), &["p"]),
        ("System", Some(1), &[]),
        ("security", None, &["s"]),
        ("Security", Some(4624), &["s"]),
    ];
    let mut engine = set.engine();
    for (at, (channel, id, want)) in sequence.iter().enumerate() {
        let mut fields = vec![("Channel", s(channel)), ("TargetUserName", s("bob"))];
        if let Some(id) = id {
            fields.push(("EventID", Value::Int(*id)));
        }
        let e = event(&fields);
        let mut out = Vec::new();
        engine.evaluate(&e, &mut out);
        let got: Vec<&str> = out.iter().map(|d| d.rule.title.as_str()).collect();
        assert_eq!(&got, want, "event {at}: {channel} {id:?}");
        let reference: Vec<String> = set
            .reference_matches(&e)
            .iter()
            .map(|r| r.title.clone())
            .collect();
        assert_eq!(got, reference, "event {at}");
    }
}
