//! Helpers shared by the integration tests (each test file uses a subset).
#![allow(dead_code)]

use nativeguard_event::{Event, Value};
use nativeguard_sigma::{Pipeline, RuleSet, RuleSetBuilder};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A rule file of one detection (`detection` indented under `detection:`).
pub fn rule(detection: &str) -> String {
    format!("title: t\nid: 00000000-0000-4000-8000-000000000001\nlogsource: {{product: test}}\ndetection:\n{detection}\n")
}

/// The rule set of `texts` (file by file, no pipeline), asserting every rule loads.
pub fn build(texts: &[&str], placeholders: Option<HashMap<String, Vec<String>>>) -> Arc<RuleSet> {
    let mut b = RuleSetBuilder::new(Pipeline::none());
    if let Some(p) = placeholders {
        b.set_placeholders(p);
    }
    for (i, t) in texts.iter().enumerate() {
        let errors = b.add_file(&format!("r{i}.yml"), t);
        assert!(errors.is_empty(), "{errors:?}");
    }
    let (set, errors) = b.build();
    assert!(errors.is_empty(), "{errors:?}");
    Arc::new(set)
}

/// An event of `fields`.
pub fn event(fields: &[(&str, Value)]) -> Event {
    let mut e = Event::new();
    for (k, v) in fields {
        e.insert(*k, v.clone());
    }
    e
}

/// A string value.
pub fn s(text: &str) -> Value {
    Value::from(text)
}

/// `../shared/datasets/sigmahq` beside the repository, when it is there.
pub fn sigmahq() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/sigmahq");
    dir.is_dir().then_some(dir)
}

/// Every `.yml`/`.yaml` file under `dir`, in sorted order.
pub fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
            out.push(p);
        }
    }
}

/// Standard base64 with padding (the tests build `base64`/`base64offset` inputs with it).
pub fn base64(bytes: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                B64[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}
