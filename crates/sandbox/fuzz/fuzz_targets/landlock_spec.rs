//! The Landlock allow-list reader never panics, and what it accepts obeys its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_sandbox::landlock::{parse_landlock_spec, MAX_ENTRIES};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = parse_landlock_spec(Path::new("fuzz.json"), text) {
        for list in [&spec.read, &spec.write, &spec.execute, &spec.interpreters] {
            assert!(list.len() <= MAX_ENTRIES);
            assert!(list
                .iter()
                .all(|entry| entry.starts_with('/') || entry.starts_with('$')));
        }
    }
});
