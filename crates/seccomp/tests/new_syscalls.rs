//! Syscalls newer than linux-raw-sys's tables (gen/extra_numbers.tsv) are named, not holes.
#![cfg(target_arch = "x86_64")]

use nativeguard_seccomp::{
    compile, simulate, sys, Action, CompileOptions, Policy, Rule, SeccompData,
};
use nativeguard_syscalls::{lookup, Arch};

/// x86_64 336 is `uprobe` (Linux 6.16, `sys_uprobe`, -ENXIO outside a uprobe trampoline). As
/// a hole in the table it would take uretprobe's verdict (the number below it): an allow-list
/// that allows uretprobe would let uprobe run.
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
    // The kernel: Linux 6.16+ passes x86_64 uprobe (and uretprobe) to the syscall without
    // consulting any seccomp filter (they are issued by uprobe trampolines), and uprobe outside
    // one answers -ENXIO; an older kernel applies the filter's verdict, EPERM. Either way the
    // call does not succeed.
    match sys::probe_in_child(
        &program,
        &[sys::Probe {
            arch: Arch::X86_64,
            nr: 336,
            args: [0; 6],
        }],
    ) {
        Ok(got) => assert!(
            got[0] == -1 || got[0] == -6,
            "x86_64 336 under the filter answered {}",
            got[0]
        ),
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
            eprintln!("skipped: the kernel's side: cannot load a seccomp filter in a child: {e}")
        }
        Err(e) => panic!("{e}"),
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
