//! Program-size limits and long jumps.

use nativeguard_seccomp::{
    compile, simulate, verify, Action, CmpOp, CompileOptions, Error, Policy, Rule, SeccompData,
    MAX_INSTRUCTIONS,
};
use nativeguard_syscalls::Arch;

/// One conditional rule per x86_64 syscall, `per_rule` 64-bit comparisons each.
fn heavy_policy(syscalls: usize, per_rule: usize) -> Policy {
    let rules = Arch::X86_64
        .syscalls()
        .iter()
        .take(syscalls)
        .enumerate()
        .map(|(i, s)| {
            let mut rule = Rule::new(&[s.name], Action::Errno(1 + (i % 7) as u16));
            for c in 0..per_rule {
                rule = rule.with(c as u8, CmpOp::Eq, 0x1_0000_0000 + i as u64, 0);
            }
            rule
        })
        .collect();
    Policy {
        default_action: Action::Allow,
        rules,
        ..Policy::default()
    }
}

#[test]
fn more_than_4096_instructions_is_a_clear_error() {
    let policy = heavy_policy(380, 6);
    match compile(&policy, &[Arch::X86_64], &CompileOptions::default()) {
        Err(Error::TooManyInstructions { count, limit }) => {
            assert!(count > MAX_INSTRUCTIONS, "{count}");
            assert_eq!(limit, MAX_INSTRUCTIONS);
            let message = Error::TooManyInstructions { count, limit }.to_string();
            assert!(message.contains("4096"), "{message}");
        }
        other => panic!(
            "expected TooManyInstructions, got {:?}",
            other.map(|p| p.instructions.len())
        ),
    }
}

#[test]
fn long_jumps_keep_every_verdict() {
    // ~1,500 instructions: the search tree's jumps to argument blocks at the end of the
    // section are farther than 255 and go through `ja` trampolines.
    let policy = heavy_policy(150, 2);
    let arches = [Arch::X86_64];
    let options = CompileOptions::default();
    let program = compile(&policy, &arches, &options).unwrap();
    verify(&program).unwrap();
    assert!(
        program.instructions.len() > 600,
        "{}",
        program.instructions.len()
    );
    let far = program.instructions.iter().any(|i| i.is_ja() && i.k > 255);
    assert!(far, "expected a long ja");
    for (i, s) in Arch::X86_64.syscalls().iter().take(160).enumerate() {
        for args in [[0u64; 6], [0x1_0000_0000 + i as u64; 6], [i as u64; 6]] {
            let data = SeccompData::new(Arch::X86_64, s.nr, args);
            assert_eq!(
                simulate(&program, &data),
                policy.evaluate(&arches, &options, &data),
                "{} {args:x?}",
                s.name
            );
        }
    }
}
