//! Arguments the kernel reads narrower than their register: 16-bit types (`old_uid_t` of
//! i386's setuid16 family, `umode_t`) and x32's `compat_long_t`. A rule on them must meet a
//! value with the high bits set, which the kernel drops.
#![cfg(target_arch = "x86_64")]

use nativeguard_seccomp::{
    compile, simulate, sys, Action, CmpOp, CompileOptions, Policy, Rule, SeccompData,
};
use nativeguard_syscalls::{lookup, Arch};

const EACCES: i64 = 13;

fn deny_setuid_1234() -> Policy {
    Policy {
        default_action: Action::Allow,
        rules: vec![Rule::new(&["setuid"], Action::Errno(EACCES as u16)).with(
            0,
            CmpOp::Eq,
            1234,
            0,
        )],
        ..Policy::default()
    }
}

/// i386 `setuid` (nr 23) is `sys_setuid16(old_uid_t)`: the kernel keeps 16 bits, so
/// setuid(0x1_04d2) is setuid(1234) and must meet the rule on 1234.
#[test]
fn i386_setuid16_with_bit_16_set_is_still_denied_simulated() {
    let policy = deny_setuid_1234();
    let arches = Arch::host_abis();
    let program = compile(&policy, arches, &CompileOptions::default()).unwrap();
    let nr = lookup(Arch::I386, "setuid").unwrap();
    let plain = SeccompData::new(Arch::I386, nr, [1234, 0, 0, 0, 0, 0]);
    assert_eq!(
        Action::from_ret(simulate(&program, &plain)),
        Some(Action::Errno(13))
    );
    let high = SeccompData::new(Arch::I386, nr, [0x1_0000 | 1234, 0, 0, 0, 0, 0]);
    assert_eq!(
        Action::from_ret(simulate(&program, &high)),
        Some(Action::Errno(13)),
        "setuid16(0x104d2) is setuid(1234) to the kernel"
    );
}

/// The same against the kernel: the child calls i386 setuid(0x1_04d2), then getuid().
#[test]
fn i386_setuid16_with_bit_16_set_is_still_denied_kernel() {
    let mut policy = deny_setuid_1234();
    policy
        .rules
        .push(Rule::new(&["write", "exit_group"], Action::Allow));
    let program = compile(&policy, Arch::host_abis(), &CompileOptions::default()).unwrap();
    let probes = [
        sys::Probe {
            arch: Arch::I386,
            nr: lookup(Arch::I386, "setuid").unwrap(),
            args: [1234, 0, 0, 0, 0, 0],
        },
        sys::Probe {
            arch: Arch::I386,
            nr: lookup(Arch::I386, "setuid").unwrap(),
            args: [0x1_0000 | 1234, 0, 0, 0, 0, 0],
        },
        sys::Probe {
            arch: Arch::X86_64,
            nr: lookup(Arch::X86_64, "getuid").unwrap(),
            args: [0; 6],
        },
    ];
    let got = match sys::probe_in_child(&program, &probes) {
        Ok(got) => got,
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
            eprintln!("skipped: cannot load a seccomp filter in a child: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(got[0], -EACCES);
    // got[1] == 0 and got[2] == 1234 when the kernel ran setuid(1234) past the filter (as root).
    assert_eq!(
        got[1], -EACCES,
        "setuid16(0x104d2) ran: getuid() is now {}",
        got[2]
    );
}

/// x32's ptrace (0x40000000 | 521) is `compat_sys_ptrace(compat_long_t request, compat_long_t
/// pid, ...)`: the kernel keeps the low 32 bits of every argument (kernel/ptrace.c), but the
/// x32 table types them `long` (64 bits) from the native prototype. A rule denying
/// PTRACE_ATTACH (16) misses request 0x1_0000_0010. (x32 is off on the review host's kernel, so
/// this is checked against the simulator only.)
#[test]
fn x32_compat_ptrace_request_with_high_bits_is_still_denied() {
    const PTRACE_ATTACH: u64 = 16;
    let policy = Policy {
        default_action: Action::Allow,
        rules: vec![Rule::new(&["ptrace"], Action::Errno(EACCES as u16)).with(
            0,
            CmpOp::Eq,
            PTRACE_ATTACH,
            0,
        )],
        ..Policy::default()
    };
    let arches = Arch::host_abis();
    let program = compile(&policy, arches, &CompileOptions::default()).unwrap();
    let nr = lookup(Arch::X32, "ptrace").unwrap();
    let plain = SeccompData::new(Arch::X32, nr, [PTRACE_ATTACH, 1, 0, 0, 0, 0]);
    assert_eq!(
        Action::from_ret(simulate(&program, &plain)),
        Some(Action::Errno(13))
    );
    let high = SeccompData::new(
        Arch::X32,
        nr,
        [0x1_0000_0000 | PTRACE_ATTACH, 1, 0, 0, 0, 0],
    );
    assert_eq!(
        Action::from_ret(simulate(&program, &high)),
        Some(Action::Errno(13)),
        "x32 ptrace(0x1_0000_0010, ...) is PTRACE_ATTACH to compat_sys_ptrace"
    );
}
