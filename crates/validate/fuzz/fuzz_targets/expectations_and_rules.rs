//! The validation loop's two text inputs: expectation data and rule files given with `--rules`.
//! Neither parser may panic; expectations that parse must pass their own checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_validate::catalog::read_rules;
use nativeguard_validate::expectations::Expectations;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expectations) = Expectations::parse("fuzz.yml", text) {
        for test in &expectations.linux_tests {
            assert!(test.baseline || !test.rules.is_empty());
        }
    }
    let _ = read_rules([("fuzz.yml", text)]);
});
