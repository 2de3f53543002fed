//! The audit record reader and the Landlock event matcher never panic on any stream of
//! records, keep their field limit, and report only Landlock denials, each counted once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_sandbox::audit::{parse_record, LandlockAudit, MAX_FIELDS};
use nativeguard_sandbox::Layer;

/// The record types the matcher looks at, chosen by the first byte of each line.
const KINDS: [u16; 6] = [1300, 1320, 1423, 1424, 1327, 1121];

fuzz_target!(|data: &[u8]| {
    let mut audit = LandlockAudit::default();
    let mut denials = Vec::new();
    for (index, line) in data.split(|&byte| byte == b'\n').enumerate() {
        let Some((&selector, text)) = line.split_first() else {
            continue;
        };
        // The child's pid becomes known part-way through, as in a real run.
        if index == 2 {
            audit.set_child(28622, &mut denials);
        }
        let kind = KINDS[usize::from(selector) % KINDS.len()];
        if let Ok(record) = parse_record(kind, text) {
            assert!(record.fields.len() <= MAX_FIELDS);
            audit.push(record, &mut denials);
        }
    }
    audit.finish(&mut denials);
    assert_eq!(audit.reported, denials.len() as u64);
    assert!(denials
        .iter()
        .all(|denial| denial.layer == Layer::Landlock && denial.landlock.is_some()));
});
