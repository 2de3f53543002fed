//! The profile `trace --learn FILE --merge` reads back: any OCI JSON either is refused or reads
//! back as a learner whose profile reads back as itself (nothing gained or lost on the way).
#![no_main]
use libfuzzer_sys::fuzz_target;
use nativeguard_seccomp::{Policy, ResolveOptions};
use nativeguard_tracer::Learner;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::from_oci_json(text, &ResolveOptions::default()) else {
        return;
    };
    let Ok(learner) = Learner::from_policy(&policy) else {
        return;
    };
    let written = learner.to_policy();
    let again = Learner::from_policy(&written)
        .unwrap_or_else(|e| panic!("a written profile is refused: {e}"));
    assert_eq!(again.to_policy(), written);
    let json = learner
        .to_oci_json()
        .unwrap_or_else(|e| panic!("cannot write: {e}"));
    let parsed = Policy::from_oci_json(&json, &ResolveOptions::default())
        .unwrap_or_else(|e| panic!("cannot read what was written: {e}\n{json}"));
    assert_eq!(parsed, written);
});
