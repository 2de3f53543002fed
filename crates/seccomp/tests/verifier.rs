//! `verify` and `simulate` against the kernel's classic-BPF checks and semantics, on
//! hand-written programs (the compiler emits none of these shapes).
#![cfg(target_arch = "x86_64")]

use nativeguard_seccomp::bpf::*;
use nativeguard_seccomp::{simulate, sys, verify, Action, Program, SeccompData};
use nativeguard_syscalls::{lookup, Arch};

fn program(instructions: Vec<SockFilter>) -> Program {
    Program {
        instructions,
        arches: vec![Arch::X86_64],
    }
}

fn work() -> u64 {
    7
}

/// Whether the kernel accepts the program (`None`, with a printed reason, when seccomp is
/// unavailable here).
fn kernel_accepts(p: &Program) -> Option<bool> {
    let control = program(vec![SockFilter::stmt(RET | K, RET_ALLOW)]);
    if let Err(e) = sys::run_in_child(Some(&control), work) {
        eprintln!("skipped: the kernel's side: cannot load a seccomp filter in a child: {e}");
        return None;
    }
    Some(match sys::run_in_child(Some(p), work) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::Unsupported,
    })
}

fn ld_nr() -> SockFilter {
    SockFilter::stmt(LD | W | ABS, SeccompData::NR_OFFSET)
}
fn ret(k: u32) -> SockFilter {
    SockFilter::stmt(RET | K, k)
}

/// The kernel (`bpf_check_classic`) wants `pc + jt + 1 < len`: a conditional jump may not
/// target one past the last instruction, nor may `ja`. It also refuses BPF_MOD (not in
/// `seccomp_check_filter`'s list), shifts by a constant >= 32, `neg|x`, `ja|x` and a scratch
/// load before any store; `verify` must refuse them too.
#[test]
fn verifier_rejects_what_the_kernel_rejects() {
    let cases: Vec<(&str, Vec<SockFilter>)> = vec![
        (
            "jt one past the end",
            vec![
                ld_nr(),
                SockFilter::jump(JMP | JEQ | K, u32::MAX, 1, 0),
                ret(RET_ALLOW),
            ],
        ),
        (
            "ja one past the end",
            vec![ld_nr(), SockFilter::stmt(JMP | JA, 1), ret(RET_ALLOW)],
        ),
        (
            "mod",
            vec![ld_nr(), SockFilter::stmt(ALU | MOD | K, 3), ret(RET_ALLOW)],
        ),
        (
            "lsh #32",
            vec![ld_nr(), SockFilter::stmt(ALU | LSH | K, 32), ret(RET_ALLOW)],
        ),
        (
            "ld M[0] before any store",
            vec![SockFilter::stmt(LD | MEM, 0), ret(RET_ALLOW)],
        ),
    ];
    let mut wrong = Vec::new();
    for (name, code) in cases {
        let p = program(code);
        if let Some(kernel) = kernel_accepts(&p) {
            assert!(!kernel, "{name}: the kernel accepts it");
        }
        if verify(&p).is_ok() {
            wrong.push(name);
        }
    }
    assert!(
        wrong.is_empty(),
        "verify accepts what the kernel rejects: {wrong:?}"
    );
}

/// The verifier's own case, in the simulator: a jump one past the end passes `verify`, then
/// `simulate` runs past the end.
#[test]
fn verified_program_does_not_run_past_the_end() {
    let p = program(vec![
        ld_nr(),
        SockFilter::jump(JMP | JEQ | K, 0, 1, 0),
        ret(RET_ALLOW),
    ]);
    if verify(&p).is_ok() {
        let data = SeccompData::new(Arch::X86_64, 0, [0; 6]);
        assert!(
            run(&p, &data).is_ok(),
            "verified, then {:?}",
            run(&p, &data)
        );
    }
}

/// cBPF division by X = 0 ends the program with return value 0 (SECCOMP_RET_KILL_THREAD), as
/// the kernel's `convert_bpf_filter` codes it; `simulate` carries on with A = 0.
#[test]
fn division_by_zero_x_returns_zero() {
    let p = program(vec![
        SockFilter::stmt(LDX | IMM, 0),
        ld_nr(),
        SockFilter::stmt(ALU | DIV | X, 0),
        ret(RET_ALLOW),
    ]);
    verify(&p).unwrap();
    // The kernel kills the child at its first call (SIGSYS, status 0x1f).
    if let Err(e) = sys::run_in_child(Some(&p), work) {
        eprintln!("kernel: {e}");
    }
    let data = SeccompData::new(Arch::X86_64, 1, [0; 6]);
    assert_eq!(simulate(&p, &data), RET_KILL_THREAD);
}

/// Shifts by X >= 32: the kernel (x86_64 JIT) uses the count modulo 32; `simulate` gives 0.
#[test]
fn shift_by_x_of_32_or_more_matches_the_kernel() {
    let getppid = lookup(Arch::X86_64, "getppid").unwrap();
    for shift in [32u32, 33] {
        let p = program(vec![
            ld_nr(),
            SockFilter::jump(JMP | JEQ | K, getppid, 0, 5),
            SockFilter::stmt(LDX | IMM, shift),
            SockFilter::stmt(LD | IMM, 1),
            SockFilter::stmt(ALU | LSH | X, 0),
            SockFilter::stmt(ALU | OR | K, RET_ERRNO),
            SockFilter::stmt(RET | A, 0),
            ret(RET_ALLOW),
        ]);
        verify(&p).unwrap();
        let probe = sys::Probe {
            arch: Arch::X86_64,
            nr: getppid,
            args: [0; 6],
        };
        let got = match sys::probe_in_child(&p, &[probe]) {
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                eprintln!("skipped: cannot load a seccomp filter in a child: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let sim = simulate(&p, &SeccompData::new(Arch::X86_64, getppid, [0; 6]));
        assert_eq!(
            Action::from_ret(sim),
            Some(Action::Errno((-got[0]) as u16)),
            "lsh x={shift}: kernel {}, simulator {sim:#x}",
            got[0]
        );
    }
}
