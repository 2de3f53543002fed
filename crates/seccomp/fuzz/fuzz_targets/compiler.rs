//! The compiler against the policy interpreter: a policy and calls decoded from the input
//! bytes must get the same verdict from the compiled program (optimized and not) and from
//! `Policy::evaluate`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_seccomp::{
    compile, simulate, verify, Action, CmpOp, CompileOptions, Policy, Rule, SeccompData,
};
use nativeguard_syscalls::Arch;

const NAMES: &[&str] = &[
    "read", "write", "openat", "socket", "clone", "mmap", "mprotect", "personality", "prctl",
    "getppid", "ioctl", "socketcall", "arch_prctl", "uretprobe", "mseal", "futex", "execve",
    "ptrace", "kill", "_llseek",
];

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | u32::from(self.u16()) << 16
    }
    fn u64(&mut self) -> u64 {
        // Mostly small values and values with only high bits, which exercise int truncation.
        match self.u8() % 4 {
            0 => u64::from(self.u8()),
            1 => u64::from(self.u8()) << 32 | u64::from(self.u8()),
            2 => u64::MAX - u64::from(self.u8()),
            _ => u64::from(self.u32()) | u64::from(self.u32()) << 32,
        }
    }
    fn action(&mut self) -> Action {
        match self.u8() % 8 {
            0 => Action::Allow,
            1 => Action::Errno(self.u16()),
            2 => Action::KillProcess,
            3 => Action::KillThread,
            4 => Action::Trap,
            5 => Action::Trace(self.u16()),
            6 => Action::Log,
            _ => Action::UserNotif,
        }
    }
    fn arch(&mut self) -> Arch {
        Arch::ALL[usize::from(self.u8() % 4)]
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let mut arches: Vec<Arch> = (0..1 + b.u8() % 4).map(|_| b.arch()).collect();
    arches.dedup();
    let mut rules = Vec::new();
    for _ in 0..b.u8() % 16 {
        let names: Vec<&str> = (0..1 + b.u8() % 3)
            .map(|_| NAMES[usize::from(b.u8()) % NAMES.len()])
            .collect();
        let mut rule = Rule::new(&names, b.action());
        for _ in 0..b.u8() % 4 {
            let op = CmpOp::ALL[usize::from(b.u8()) % CmpOp::ALL.len()];
            rule = rule.with(b.u8() % 6, op, b.u64(), b.u64());
        }
        rules.push(rule);
    }
    let policy = Policy {
        default_action: b.action(),
        rules,
        ..Policy::default()
    };
    let options = CompileOptions {
        too_new_action: if b.u8() % 2 == 0 { None } else { Some(b.action()) },
        bad_arch_action: b.action(),
        optimize: true,
    };
    let Ok(program) = compile(&policy, &arches, &options) else { return };
    verify(&program).expect("compiled programs verify");
    let plain = compile(&policy, &arches, &CompileOptions { optimize: false, ..options.clone() })
        .expect("the unoptimized program compiles when the optimized one does");
    for _ in 0..32 {
        let arch = b.arch();
        let nr = match b.u8() % 4 {
            0 => b.u32(),
            1 => arch.syscall_bit() | u32::from(b.u16() % 600),
            _ => {
                let table = arch.syscalls();
                table[usize::from(b.u16()) % table.len()].nr
            }
        };
        let mut call = SeccompData::new(arch, nr, [0; 6]);
        for arg in call.args.iter_mut() {
            *arg = b.u64();
        }
        let want = policy.evaluate(&arches, &options, &call);
        assert_eq!(simulate(&program, &call), want, "{call:x?}");
        assert_eq!(simulate(&plain, &call), want, "unoptimized {call:x?}");
    }
});
