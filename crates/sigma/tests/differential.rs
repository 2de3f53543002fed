//! The optimized engine (routing, literal prefilter, compiled matchers) must give exactly the
//! reference evaluator's results, with its literal prefilter and without: on randomly generated
//! rules and events, and on the real SigmaHQ rules with events built from their own literals.

mod common;

use nativeguard_event::{Event, Value};
use nativeguard_sigma::{Detection, Engine, Pipeline, RuleSet, RuleSetBuilder};
use std::sync::Arc;

/// xorshift64*: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Rule fields. Names compare ignoring ASCII case and spaces: `Sp ace` names the events'
/// `Space` and `S pace` alike.
const FIELDS: &[&str] = &["A", "B", "C", "a", "Nested.D", "Sp ace"];
/// Event fields: the rules' and two no rule names, whose values only keyword searches read
/// (the streamed engine keeps those apart until a keyword item is evaluated).
const EVENT_FIELDS: &[&str] = &[
    "A", "B", "C", "a", "Nested.D", "Space", "S pace", "U", "Other.E",
];
const ATOMS: &[&str] = &[
    "ab",
    "AB",
    "b",
    "x",
    "-e",
    "/e",
    "\u{2013}e",
    "10",
    "7",
    "é",
    "É",
    // Lowercase to a shorter text (`i`, 1 byte from 2) and to a longer one (3 bytes from 2),
    // so values' offsets move.
    "İ",
    "\u{23A}",
    "®",
    "a b",
    "*",
    "?",
    "\\",
    "",
];
const MODIFIERS: &[&str] = &[
    "",
    "|contains",
    "|startswith",
    "|endswith",
    "|contains|all",
    "|cased",
    "|contains|cased",
    "|windash|contains",
    "|re",
    "|re|i",
    "|re|m",
    "|gt",
    "|lte",
    "|neq",
    "|contains|all|neq",
    "|exists",
    "|fieldref",
    "|fieldref|contains",
    "|base64offset|contains",
    "|cidr",
];

fn random_text(rng: &mut Rng, max_atoms: usize) -> String {
    (0..=rng.below(max_atoms))
        .map(|_| *rng.pick(ATOMS))
        .collect()
}

fn yaml_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn random_value(rng: &mut Rng, modifier: &str) -> String {
    if modifier.contains("exists") {
        return rng.pick(&["true", "false"]).to_string();
    }
    if modifier.contains("fieldref") {
        return rng.pick(FIELDS).to_string();
    }
    if modifier.contains("gt") || modifier.contains("lte") {
        return rng.pick(&["7", "10", "-1", "7.5"]).to_string();
    }
    if modifier.contains("cidr") {
        return rng
            .pick(&["'10.0.0.0/8'", "'::/0'", "'fe80::/10'", "'10.1.2.3/32'"])
            .to_string();
    }
    if modifier.contains("re") {
        return rng
            .pick(&[
                "'^a'",
                "'b$'",
                "'a.b'",
                "'[0-9]+'",
                "'(?:x|é)'",
                "'ab|'",
                "'(?i)é[a-z]?b'",
                "'.*\\\\'",
                "'.{3,}'",
                "'.{2}'",
            ])
            .to_string();
    }
    if rng.chance(8) {
        return "null".into();
    }
    if rng.chance(8) {
        // Unquoted decimals: their spelling, and the number when compared whole.
        return rng.pick(&["1.10", "1.0", "7.5", "-0.50"]).to_string();
    }
    yaml_quote(&random_text(rng, 3))
}

fn random_rule(rng: &mut Rng, n: usize) -> String {
    let mut text = format!("title: r{n}\nid: r{n}\nlogsource: {{product: test}}\ndetection:\n");
    let selections = 1 + rng.below(3);
    for s in 0..selections {
        text.push_str(&format!("  sel{s}:\n"));
        if rng.chance(15) {
            for _ in 0..=rng.below(2) {
                text.push_str(&format!("    - {}\n", yaml_quote(&random_text(rng, 2))));
            }
            continue;
        }
        for _ in 0..=rng.below(2) {
            let field = rng.pick(FIELDS);
            let modifier = rng.pick(MODIFIERS);
            if rng.chance(30) && !modifier.contains("exists") {
                text.push_str(&format!("    {field}{modifier}:\n"));
                // Up to 10 values, so that the engine's value sets and merged automata (from
                // 4 `contains`, 8 exact values) are exercised too.
                for _ in 0..=rng.below(10) {
                    text.push_str(&format!("      - {}\n", random_value(rng, modifier)));
                }
            } else {
                text.push_str(&format!(
                    "    {field}{modifier}: {}\n",
                    random_value(rng, modifier)
                ));
            }
        }
    }
    let names: Vec<String> = (0..selections).map(|s| format!("sel{s}")).collect();
    let condition = match rng.below(5) {
        0 => names.join(" and "),
        1 => names.join(" or "),
        2 => format!("1 of sel* and not {}", names[0]),
        3 => format!("all of them or not ({})", names.join(" or ")),
        _ => format!("{} of sel*", 1 + rng.below(selections)),
    };
    text.push_str(&format!("  condition: {condition}\n"));
    text
}

fn random_event(rng: &mut Rng) -> Event {
    let mut e = Event::new();
    for _ in 0..rng.below(6) {
        let field = *rng.pick(EVENT_FIELDS);
        let value = match rng.below(10) {
            0 => Value::Null,
            1 => Value::Int(rng.below(20) as i64 - 2),
            2 => Value::List(vec![Value::from(random_text(rng, 3)), Value::Int(7)]),
            // Nested lists count as items of the outer one; objects in lists are seen by keywords.
            3 if rng.chance(30) => Value::List(vec![
                Value::List(vec![Value::from(random_text(rng, 2)), Value::Null]),
                Value::Object(random_event(rng).fields),
                Value::Bool(true),
            ]),
            3 => Value::from(*rng.pick(&["10.0.0.1", "fe80::1", "192.168.1.1", "::1"])),
            4 => Value::from(common::base64(random_text(rng, 4).as_bytes())),
            5 if rng.chance(50) => Value::Float(*rng.pick(&[1.1, 1.0, 7.5, -0.5])),
            5 => Value::from(*rng.pick(&["1.10", "1.1", "1.0", "1", "7.5", "-0.50"])),
            _ => Value::from(random_text(rng, 4)),
        };
        if field.contains('.') {
            e.insert_path(field, value);
        } else {
            e.insert(field, value);
        }
    }
    e
}

fn engine_ids(set: &Arc<RuleSet>, e: &Event) -> Vec<String> {
    let mut out = Vec::new();
    set.engine().evaluate(e, &mut out);
    sorted_ids(out)
}

/// The engine's answer when the event's fields are streamed to it instead of built.
fn streamed_ids(engine: &mut Engine, e: &Event) -> Vec<String> {
    let mut out = Vec::new();
    let streamed = engine.evaluate_streamed(
        |loader| {
            e.fields.feed(loader);
            true
        },
        &mut out,
    );
    assert!(streamed, "a set without correlations takes streamed events");
    sorted_ids(out)
}

fn sorted_ids(detections: Vec<Detection>) -> Vec<String> {
    let mut ids: Vec<String> = detections.into_iter().map(|d| d.rule.id.clone()).collect();
    ids.sort();
    ids
}

fn reference_ids(set: &RuleSet, e: &Event) -> Vec<String> {
    let mut ids: Vec<String> = set
        .reference_matches(e)
        .into_iter()
        .map(|r| r.id.clone())
        .collect();
    ids.sort();
    ids
}

#[test]
fn random_rules_on_random_events() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut compared = 0;
    let mut matched = 0;
    for round in 0..40 {
        let texts: Vec<String> = (0..25)
            .map(|n| random_rule(&mut rng, round * 100 + n))
            .collect();
        let build = |builder: RuleSetBuilder| {
            let mut builder = builder;
            for text in &texts {
                // Random rules may be invalid (e.g. `all` with wildcard-free regex); those fail
                // alone.
                let _ = builder.add_file("random.yml", text);
            }
            builder.build().0
        };
        let set = Arc::new(build(RuleSetBuilder::new(Pipeline::none())));
        let unindexed = Arc::new(build(
            RuleSetBuilder::new(Pipeline::none()).without_literal_index(),
        ));
        let mut engine = set.engine();
        for _ in 0..60 {
            let e = random_event(&mut rng);
            let mut out = Vec::new();
            engine.evaluate(&e, &mut out);
            let ids = sorted_ids(out);
            assert_eq!(ids, reference_ids(&set, &e), "event {e:?}");
            // The same engine, so that streamed and built events share its name caches.
            assert_eq!(streamed_ids(&mut engine, &e), ids, "streamed event {e:?}");
            assert_eq!(engine_ids(&unindexed, &e), ids, "unindexed, event {e:?}");
            compared += 1;
            matched += ids.len();
        }
    }
    eprintln!("compared {compared} events, {matched} matches");
    assert!(
        matched > 100,
        "the generator should produce matches ({matched})"
    );
}

/// Quoted strings and field names of the rule texts: material for events that come close to
/// matching real rules.
fn harvest(text: &str, literals: &mut Vec<String>, fields: &mut Vec<String>) {
    for line in text.lines() {
        let t = line.trim().trim_start_matches("- ");
        if let Some(start) = t.find('\'') {
            if let Some(end) = t[start + 1..].find('\'') {
                let lit = t[start + 1..start + 1 + end]
                    .replace(['*', '?'], "")
                    .replace("\\\\", "\\");
                if !lit.is_empty() {
                    literals.push(lit);
                }
            }
        }
        if let Some((key, _)) = t.split_once(':') {
            let field = key.split('|').next().unwrap_or("");
            if key.contains('|')
                && !field.is_empty()
                && field
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
            {
                fields.push(field.to_string());
            }
        }
    }
}

#[test]
fn sigmahq_rules_on_events_built_from_their_literals() {
    let Some(root) = common::sigmahq() else {
        eprintln!("skipped: ../shared/datasets/sigmahq is absent");
        return;
    };
    let mut paths = Vec::new();
    for folder in [
        "rules/windows/process_creation",
        "rules/windows/registry",
        "rules/windows/powershell",
        "rules-threat-hunting/windows",
        "rules/windows/builtin/security",
    ] {
        common::yaml_files(&root.join(folder), &mut paths);
    }
    let mut builder = RuleSetBuilder::new(Pipeline::windows());
    let (mut literals, mut fields) = (
        Vec::new(),
        vec!["Image".to_string(), "CommandLine".to_string()],
    );
    for p in &paths {
        let text = std::fs::read_to_string(p).expect("readable");
        harvest(&text, &mut literals, &mut fields);
        assert!(builder.add_file(&p.display().to_string(), &text).is_empty());
    }
    fields.sort();
    fields.dedup();
    let set = Arc::new(builder.build().0);
    let mut engine = set.engine();
    let routes: &[(&str, i64, &[&str])] = &[
        ("Microsoft-Windows-Sysmon/Operational", 1, &[]),
        ("Security", 4688, &["NewProcessName", "ParentProcessName"]),
        ("Microsoft-Windows-Sysmon/Operational", 13, &[]),
        ("Microsoft-Windows-Sysmon/Operational", 12, &[]),
        ("Microsoft-Windows-PowerShell/Operational", 4104, &[]),
        ("Security", 4624, &[]),
        ("Security", 5145, &[]),
    ];
    let mut rng = Rng(42);
    let mut matched = 0;
    let events = if cfg!(debug_assertions) { 150 } else { 1500 };
    for _ in 0..events {
        let (channel, id, extra) = *rng.pick(routes);
        let mut e = Event::new();
        e.insert("Channel", channel);
        e.insert("EventID", Value::Int(id));
        let mut names: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for _ in 0..6 {
            names.push(rng.pick(&fields).clone());
        }
        // A field no rule names: keyword rules (such as "Mimikatz Use") still search it.
        if rng.chance(50) {
            names.push("NoRuleNamesThis".to_string());
        }
        for name in names {
            let mut value = String::new();
            for _ in 0..=rng.below(3) {
                let lit = rng.pick(&literals);
                let lit = if rng.chance(30) {
                    lit.to_uppercase()
                } else {
                    lit.clone()
                };
                value.push_str(&lit);
                if rng.chance(50) {
                    value.push(' ');
                }
            }
            e.insert(name, value);
        }
        let got = engine_ids(&set, &e);
        assert_eq!(got, reference_ids(&set, &e), "event {e:?}");
        assert_eq!(streamed_ids(&mut engine, &e), got, "streamed event {e:?}");
        matched += got.len();
    }
    eprintln!("{} rules, {events} events, {matched} matches", set.len());
    assert!(
        matched > 0,
        "events built from rule literals should match some rules"
    );
}
