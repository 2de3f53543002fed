//! Bypasses that libseccomp / Docker / seccompiler filters let through, checked against the
//! real kernel: each filter is loaded in a forked child that makes the raw call.
#![cfg(target_arch = "x86_64")]

use nativeguard_seccomp::{compile, sys, Action, CmpOp, CompileOptions, Policy, Rule};
use nativeguard_syscalls::{lookup, Arch};

const EACCES: i64 = 13;
const ENOSYS: i64 = 38;

/// Runs the probes under the policy compiled for the host's ABIs; `None` when seccomp filters
/// cannot be installed here.
fn run(policy: &Policy, arches: &[Arch], probes: &[sys::Probe]) -> Option<Vec<i64>> {
    let mut policy = policy.clone();
    policy
        .rules
        .push(Rule::new(&["write", "exit_group"], Action::Allow));
    let program = compile(&policy, arches, &CompileOptions::default()).unwrap();
    match sys::probe_in_child(&program, probes) {
        Ok(results) => Some(results),
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
            eprintln!("skipped: cannot load a seccomp filter in a child: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn probe(arch: Arch, name: &str, args: [u64; 6]) -> sys::Probe {
    sys::Probe {
        arch,
        nr: lookup(arch, name).unwrap(),
        args,
    }
}

#[test]
fn netlink_socket_with_high_bits_is_still_denied() {
    // Docker-style rule: socket(AF_NETLINK, ...) denied. The kernel reads `int family` from the
    // low 32 bits, so 0x1_0000_0010 is AF_NETLINK; libseccomp compares 64 bits and allows it.
    let policy = Policy {
        default_action: Action::Allow,
        rules: vec![Rule::new(&["socket"], Action::Errno(EACCES as u16)).with(0, CmpOp::Eq, 16, 0)],
        ..Policy::default()
    };
    const SOCK_RAW: u64 = 3;
    let probes = [
        probe(
            Arch::X86_64,
            "socket",
            [0x1_0000_0010, SOCK_RAW, 0, 0, 0, 0],
        ),
        probe(Arch::X86_64, "socket", [16, SOCK_RAW, 0, 0, 0, 0]),
        probe(
            Arch::X86_64,
            "socket",
            [0xffff_ffff_0000_0010, SOCK_RAW, 0, 0, 0, 0],
        ),
        // AF_UNIX with the same high bits is not AF_NETLINK: it runs (and succeeds).
        probe(Arch::X86_64, "socket", [0x1_0000_0001, 1, 0, 0, 0, 0]),
        probe(Arch::I386, "socket", [0x1_0000_0010, SOCK_RAW, 0, 0, 0, 0]),
    ];
    let Some(got) = run(&policy, Arch::host_abis(), &probes) else {
        return;
    };
    assert_eq!(&got[..3], &[-EACCES, -EACCES, -EACCES]);
    assert!(got[3] >= 0, "AF_UNIX socket: {}", got[3]);
    assert_eq!(got[4], -EACCES, "i386 socket");
}

#[test]
fn int_0x80_and_x32_calls_meet_the_same_rules() {
    let policy = Policy {
        default_action: Action::Allow,
        rules: vec![Rule::new(
            &["getppid", "getpgrp"],
            Action::Errno(EACCES as u16),
        )],
        ..Policy::default()
    };
    let probes = [
        probe(Arch::X86_64, "getppid", [0; 6]),
        probe(Arch::I386, "getppid", [0; 6]),
        probe(Arch::X32, "getppid", [0; 6]),
        probe(Arch::I386, "getpgrp", [0; 6]),
        probe(Arch::I386, "getpid", [0; 6]),
    ];
    let Some(got) = run(&policy, Arch::host_abis(), &probes) else {
        return;
    };
    assert_eq!(&got[..4], &[-EACCES, -EACCES, -EACCES, -EACCES]);
    assert!(got[4] > 0, "i386 getpid allowed: {}", got[4]);
    // A program built for x86_64 alone (as seccompiler builds them) still stops the other ABIs
    // at the arch check instead of reading their numbers as x86_64 ones.
    let options = CompileOptions {
        bad_arch_action: Action::Errno(1),
        ..CompileOptions::default()
    };
    let mut x86_64_only = policy.clone();
    x86_64_only
        .rules
        .push(Rule::new(&["write", "exit_group"], Action::Allow));
    let program = compile(&x86_64_only, &[Arch::X86_64], &options).unwrap();
    let got = match sys::probe_in_child(&program, &probes[1..3]) {
        Ok(got) => got,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(got, vec![-1, -1]);
}

#[test]
fn syscall_newer_than_the_profile_gets_enosys() {
    // An allow-list profile (default EPERM) must answer ENOSYS to a number it does not know, so
    // that libc falls back (e.g. clone3 -> clone) instead of failing hard.
    let policy = Policy {
        default_action: Action::Errno(1),
        rules: vec![Rule::new(&["getppid"], Action::Allow)],
        ..Policy::default()
    };
    let newer = |arch: Arch| sys::Probe {
        arch,
        nr: arch.highest_nr() + 1,
        args: [0; 6],
    };
    let probes = [
        newer(Arch::X86_64),
        newer(Arch::I386),
        newer(Arch::X32),
        probe(Arch::X86_64, "getpid", [0; 6]),
        probe(Arch::X86_64, "getppid", [0; 6]),
    ];
    let Some(got) = run(&policy, Arch::host_abis(), &probes) else {
        return;
    };
    assert_eq!(&got[..4], &[-ENOSYS, -ENOSYS, -ENOSYS, -1]);
    assert!(got[4] > 0);
}
