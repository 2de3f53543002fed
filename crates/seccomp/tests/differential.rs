//! Differential tests: random policies × random `seccomp_data` (every ABI, arguments with high
//! bits set) must get the same verdict from the compiled program run by the simulator, from the
//! direct interpreter of the policy model, from the unoptimized program, and — on a sample, with
//! the filter loaded for real in a forked child — from the kernel.

use fastrand::Rng;
use nativeguard_seccomp::{
    compile, simulate, sys, Action, CmpOp, CompileOptions, Policy, Rule, SeccompData,
};
use nativeguard_syscalls::{lookup, Arch, X32_SYSCALL_BIT};

/// Values that make comparisons interesting: small, boundary, and with high bits set.
const POOL: [u64; 12] = [
    0,
    1,
    2,
    16,
    40,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0010,
    0xffff_ffff_0000_0010,
    u64::MAX,
];

fn value(rng: &mut Rng) -> u64 {
    match rng.u8(0..4) {
        0 => rng.u64(..),
        1 => POOL[rng.usize(..POOL.len())].wrapping_add(rng.u64(0..3)),
        _ => POOL[rng.usize(..POOL.len())],
    }
}

fn action(rng: &mut Rng, kernel_safe: bool) -> Action {
    if kernel_safe {
        return match rng.u8(0..3) {
            0 => Action::Allow,
            _ => Action::Errno(1000 + rng.u16(0..90)),
        };
    }
    match rng.u8(0..8) {
        0 => Action::Allow,
        1 => Action::Errno(rng.u16(..)),
        2 => Action::KillProcess,
        3 => Action::KillThread,
        4 => Action::Trap,
        5 => Action::Trace(rng.u16(..)),
        6 => Action::Log,
        _ => Action::UserNotif,
    }
}

fn random_policy(rng: &mut Rng, names: &[&str], kernel_safe: bool) -> Policy {
    let mut rules = Vec::new();
    for _ in 0..rng.usize(0..12) {
        let count = rng.usize(1..4);
        let picked: Vec<&str> = (0..count)
            .map(|_| names[rng.usize(..names.len())])
            .collect();
        let mut rule = Rule::new(&picked, action(rng, kernel_safe));
        for _ in 0..rng.usize(0..4) {
            let op = CmpOp::ALL[rng.usize(..CmpOp::ALL.len())];
            rule = rule.with(rng.u8(0..6), op, value(rng), value(rng));
        }
        rules.push(rule);
    }
    Policy {
        default_action: action(rng, kernel_safe),
        rules,
        ..Policy::default()
    }
}

fn random_arches(rng: &mut Rng, from: &[Arch]) -> Vec<Arch> {
    let mut arches: Vec<Arch> = from.iter().copied().filter(|_| rng.bool()).collect();
    if arches.is_empty() {
        arches.push(from[rng.usize(..from.len())]);
    }
    arches
}

fn random_options(rng: &mut Rng, kernel_safe: bool) -> CompileOptions {
    CompileOptions {
        too_new_action: match rng.u8(0..3) {
            0 => None,
            1 => Some(Action::Errno(38)),
            _ => Some(action(rng, kernel_safe)),
        },
        bad_arch_action: if kernel_safe {
            Action::Errno(1099)
        } else {
            action(rng, false)
        },
        optimize: true,
    }
}

fn random_nr(rng: &mut Rng, arch: Arch, names: &[&str]) -> u32 {
    let table = arch.syscalls();
    match rng.u8(0..6) {
        0 => rng.u32(..),
        1 => arch.highest_nr() + rng.u32(1..4),
        2 => table[rng.usize(..table.len())].nr,
        3 => arch.syscall_bit() + rng.u32(0..600),
        _ => lookup(arch, names[rng.usize(..names.len())]).unwrap_or(0),
    }
}

/// Names the random rules use: common to the tables plus some ABI-specific ones.
const NAMES: &[&str] = &[
    "read",
    "write",
    "openat",
    "socket",
    "clone",
    "mmap",
    "mprotect",
    "personality",
    "prctl",
    "getppid",
    "getpid",
    "ioctl",
    "kill",
    "socketcall",
    "arch_prctl",
    "uretprobe",
    "mseal",
    "futex",
    "execve",
    "ptrace",
];

#[test]
fn simulator_and_interpreter_agree_on_random_policies() {
    let mut rng = Rng::with_seed(0x5ecc_0e06);
    let mut checked = 0usize;
    for _ in 0..300 {
        let policy = random_policy(&mut rng, NAMES, false);
        let arches = random_arches(&mut rng, &Arch::ALL);
        let options = random_options(&mut rng, false);
        let program = compile(&policy, &arches, &options).unwrap();
        let unoptimized = compile(
            &policy,
            &arches,
            &CompileOptions {
                optimize: false,
                ..options.clone()
            },
        )
        .unwrap();
        assert!(program.instructions.len() <= unoptimized.instructions.len());
        for _ in 0..200 {
            let arch = Arch::ALL[rng.usize(..4)];
            let mut data = SeccompData::new(arch, random_nr(&mut rng, arch, NAMES), [0; 6]);
            for arg in data.args.iter_mut() {
                *arg = value(&mut rng);
            }
            if rng.u8(0..20) == 0 {
                data.arch = rng.u32(..);
            }
            let want = policy.evaluate(&arches, &options, &data);
            let got = simulate(&program, &data);
            if got != want {
                panic!(
                    "{data:x?} on {arches:?}: simulator {got:#x}, interpreter {want:#x}\n{policy:#?}\n{}",
                    nativeguard_seccomp::disassemble(&program)
                );
            }
            assert_eq!(
                simulate(&unoptimized, &data),
                want,
                "unoptimized, {data:x?}"
            );
            checked += 1;
        }
    }
    eprintln!("{checked} verdicts compared");
}

/// Calls that are harmless with any arguments in a throwaway child.
const SAFE: &[&str] = &[
    "getppid",
    "getpid",
    "getuid",
    "getgid",
    "geteuid",
    "getegid",
    "gettid",
    "sched_yield",
    "getpgrp",
    "getsid",
    "getpgid",
    "getpriority",
    "socket",
    "sched_getscheduler",
    "ioprio_get",
    "umask",
];

fn kernel_observed(verdict: u32) -> Option<i64> {
    match Action::from_ret(verdict) {
        Some(Action::Errno(e)) => Some(-i64::from(e.min(4095))),
        _ => None,
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn kernel_agrees_on_a_sample() {
    let mut rng = Rng::with_seed(0x0006_e7e1);
    let mut compared = 0usize;
    for round in 0..40 {
        let mut policy = random_policy(&mut rng, SAFE, true);
        // The child's own calls after installing the filter.
        policy.rules.insert(
            0,
            Rule::new(&["write", "exit_group", "exit"], Action::Allow),
        );
        let mut arches = random_arches(&mut rng, &[Arch::X86_64, Arch::I386, Arch::X32]);
        if !arches.contains(&Arch::X86_64) {
            arches.push(Arch::X86_64);
        }
        let options = random_options(&mut rng, true);
        let program = compile(&policy, &arches, &options).unwrap();
        let mut probes = Vec::new();
        for _ in 0..60 {
            let arch = [Arch::X86_64, Arch::I386, Arch::X32][rng.usize(..3)];
            let nr = if rng.u8(0..10) == 0 {
                arch.highest_nr() + rng.u32(1..3)
            } else {
                lookup(arch, SAFE[rng.usize(..SAFE.len())]).unwrap()
            };
            let mut args = [0u64; 6];
            for arg in args.iter_mut() {
                *arg = value(&mut rng);
            }
            probes.push(sys::Probe { arch, nr, args });
        }
        let observed = match sys::probe_in_child(&program, &probes) {
            Ok(observed) => observed,
            Err(e) if round == 0 && e.kind() == std::io::ErrorKind::Unsupported => {
                eprintln!("skipped: cannot install a seccomp filter here: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(observed.len(), probes.len());
        for (probe, got) in probes.iter().zip(observed) {
            let data = SeccompData::new(probe.arch, probe.nr, probe.args);
            let verdict = simulate(&program, &data);
            assert_eq!(verdict, policy.evaluate(&arches, &options, &data));
            match kernel_observed(verdict) {
                Some(want) => {
                    assert_eq!(got, want, "{probe:x?}: kernel {got}, filter {verdict:#x}")
                }
                // Allowed: the call ran, so the answer is not one of the filter's marker errnos.
                None => assert!(
                    !(-1099..=-1000).contains(&got),
                    "{probe:x?}: kernel {got}, filter allowed"
                ),
            }
            compared += 1;
        }
    }
    eprintln!("{compared} kernel verdicts compared");
}

#[test]
fn x32_numbers_are_not_x86_64_numbers() {
    let policy = Policy {
        default_action: Action::Allow,
        rules: vec![Rule::new(&["getppid"], Action::Errno(1))],
        ..Policy::default()
    };
    let x86_64_only = compile(&policy, &[Arch::X86_64], &CompileOptions::default()).unwrap();
    let x32 = SeccompData::new(Arch::X32, X32_SYSCALL_BIT | 110, [0; 6]);
    // An x86_64-only program must not treat x32's getppid as "some other syscall: allow".
    assert_eq!(
        Action::from_ret(simulate(&x86_64_only, &x32)),
        Some(Action::KillProcess)
    );
    let both = compile(
        &policy,
        &[Arch::X86_64, Arch::X32],
        &CompileOptions::default(),
    )
    .unwrap();
    assert_eq!(
        Action::from_ret(simulate(&both, &x32)),
        Some(Action::Errno(1))
    );
}
