//! Review: syscalls the running kernel has that the tables lack are treated as holes.
#![cfg(target_arch = "x86_64")]

use nativeguard_seccomp::{
    compile, simulate, sys, Action, CompileOptions, Policy, Rule, SeccompData,
};
use nativeguard_syscalls::{lookup, Arch};

/// x86_64 336 is `uprobe` (Linux 6.16, `sys_uprobe`, -ENXIO outside a uprobe trampoline). The
/// table stops at 335 (uretprobe) and skips to 424, so 336 is a "hole" that takes uretprobe's
/// verdict: an allow-list that allows uretprobe also lets uprobe run.
#[test]
fn x86_64_uprobe_336_is_not_a_hole() {
    let policy = Policy {
        default_action: Action::Errno(1),
        rules: vec![Rule::new(
            &["uretprobe", "write", "exit_group"],
            Action::Allow,
        )],
        ..Policy::default()
    };
    let program = compile(&policy, Arch::host_abis(), &CompileOptions::default()).unwrap();
    let data = SeccompData::new(Arch::X86_64, 336, [0; 6]);
    let verdict = Action::from_ret(simulate(&program, &data));
    // The kernel: with the filter loaded, 336 runs and answers -ENXIO (6) on Linux >= 6.16.
    if let Ok(got) = sys::probe_in_child(
        &program,
        &[sys::Probe {
            arch: Arch::X86_64,
            nr: 336,
            args: [0; 6],
        }],
    ) {
        eprintln!("kernel answer to x86_64 336 under the filter: {}", got[0]);
    }
    assert_eq!(
        lookup(Arch::X86_64, "uprobe"),
        Some(336),
        "table lacks uprobe"
    );
    assert_eq!(
        verdict,
        Some(Action::Errno(1)),
        "336 is not named by the policy"
    );
}
