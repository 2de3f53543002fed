//! Rule files loaded from a recording of their YAML (`record_yaml`, as the rules built into the
//! binary are) must load exactly as from their text: the same errors and the same rules. A
//! recording damaged anywhere after its header (so that it still claims to be the text's) must
//! never panic: it loads, or is ignored and the text parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_sigma::{record_yaml, Pipeline, RuleSetBuilder};

/// Header: magic (8 bytes), text length and hash (8 + 8).
const HEADER_BYTES: usize = 24;

fn load(text: &str, recording: Option<&[u8]>) -> (Vec<String>, Vec<String>) {
    let mut builder = RuleSetBuilder::new(Pipeline::none());
    let mut errors: Vec<String> = match recording {
        Some(recording) => builder.add_recorded("fuzz.yml", text, recording),
        None => builder.add_file("fuzz.yml", text),
    }
    .iter()
    .map(ToString::to_string)
    .collect();
    let (set, build_errors) = builder.build();
    errors.extend(build_errors.iter().map(ToString::to_string));
    let rules = set.rules().iter().map(|rule| format!("{rule:?}")).collect();
    (rules, errors)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let recording = record_yaml(text);
        assert_eq!(load(text, Some(&recording)), load(text, None));
    } else {
        // The rest damages a valid recording of a fixed rule: (offset, byte) pairs.
        let text = "title: t\nid: 1\nlogsource: {product: linux}\ndetection:\n  sel: &a\n    F|contains: ['x', \"y\"]\n  other: *a\n  condition: sel or other\n---\ntitle: u\n";
        let mut recording = record_yaml(text);
        let body = recording.len() - HEADER_BYTES;
        for pair in rest.chunks_exact(2) {
            let at = HEADER_BYTES + usize::from(pair[0]) % body;
            recording[at] = pair[1];
        }
        let _ = load(text, Some(&recording));
    }
});
