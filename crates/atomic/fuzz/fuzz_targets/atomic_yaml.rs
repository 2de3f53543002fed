//! The atomic YAML reader and validator on arbitrary input: never panics, stays within its
//! limits, and what it accepts is self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_atomic::{mustache_keys, substitute, Validator};
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut validator = Validator::new();
    let parsed = validator.check_file("fuzz.yaml", text);
    // Parsing the same text twice rejects every GUID of the first pass as reused: GUID
    // tracking must be consistent with what was accepted.
    let again = validator.check_file("fuzz.yaml", text);
    if let (Some(first), Some(second)) = (&parsed.technique, &again.technique) {
        let with_guid = first.tests.iter().filter(|t| t.guid.is_some()).count();
        assert_eq!(second.tests.len(), first.tests.len() - with_guid);
    }
    let Some(technique) = parsed.technique else {
        return;
    };
    for test in &technique.tests {
        // Every key a command uses is declared (the validator guarantees it), so
        // substitution with the defaults leaves no declared `#{name}` behind.
        let values: HashMap<&str, &str> = test
            .input_arguments
            .iter()
            .map(|a| (a.name.as_str(), a.default.as_deref().unwrap_or("")))
            .collect();
        for key in mustache_keys(&test.executor.command) {
            assert!(values.contains_key(key), "undeclared key {key:?} accepted");
        }
        let _ = substitute(&test.executor.command, &values, "/atomics");
    }
});
