//! The OCI policy reader on arbitrary text: never panics; what it accepts compiles (or fails
//! with an error), and survives a round trip through the writer unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_seccomp::{compile, CompileOptions, Policy, ResolveOptions};
use nativeguard_syscalls::Arch;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let opts = ResolveOptions {
        arches: vec![Arch::X86_64, Arch::I386, Arch::X32],
        ..ResolveOptions::default()
    };
    let Ok(policy) = Policy::from_oci_json(text, &opts) else { return };
    // What the reader accepts never repeats an argument index in a rule (it splits those), so
    // the writer takes it.
    let written = policy.to_oci_json().expect("the reader's policies can be written");
    let again = Policy::from_oci_json(&written, &opts).expect("own output reads back");
    assert_eq!(again.rules, policy.rules);
    assert_eq!(again.default_action, policy.default_action);
    if let Ok(program) = compile(&policy, &opts.arches, &CompileOptions::default()) {
        nativeguard_seccomp::verify(&program).expect("compiled programs verify");
    }
});
