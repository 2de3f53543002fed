//! The seccomp filters the traced command installs before exec, compiled by
//! `nativeguard-seccomp` for every ABI of the host (an `int 0x80` call from a 64-bit program
//! is checked against the i386 table, not let through).

use crate::decode::{TrapWhen, TRAP_LIST};
use crate::precompiled_filter;
use crate::sys::FilterInstruction;
use crate::Error;
use nativeguard_seccomp::bpf::{self, SeccompData, SockFilter};
use nativeguard_seccomp::{compile, Action, CmpOp, CompileOptions, Policy, Program, Rule};
use nativeguard_syscalls::{Arch, AUDIT_ARCH_I386};

/// The `SECCOMP_RET_TRACE` action (its data is not used).
const TRACE: Action = Action::Trace(0);

/// The detection policy: trap the calls of [`TRAP_LIST`] under their argument conditions,
/// allow everything else — including calls from other ABIs and numbers newer than the
/// tables, so tracing never changes what the program can do.
pub(crate) fn detection_policy() -> Policy {
    let mut rules = Vec::new();
    for &(name, when) in TRAP_LIST {
        match when {
            TrapWhen::Always => rules.push(Rule::new(&[name], TRACE)),
            TrapWhen::BitsSet { index, mask } => {
                rules.push(Rule::new(&[name], TRACE).with(index, CmpOp::MaskedEq, mask, mask));
            }
            TrapWhen::AnyBitSet { index, mask } => {
                // "Some bit of mask set" as one masked equality per non-empty subset of mask.
                let mut subset = mask;
                while subset != 0 {
                    rules.push(Rule::new(&[name], TRACE).with(
                        index,
                        CmpOp::MaskedEq,
                        mask,
                        subset,
                    ));
                    subset = (subset - 1) & mask;
                }
            }
        }
    }
    Policy {
        default_action: Action::Allow,
        arches: Arch::host_abis().to_vec(),
        rules,
        ..Policy::default()
    }
}

fn to_instructions(program: &Program) -> Vec<FilterInstruction> {
    program
        .instructions
        .iter()
        .map(|i| FilterInstruction {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

fn filter_error(err: nativeguard_seccomp::Error) -> Error {
    Error::Filter {
        message: err.to_string(),
    }
}

fn compile_for(policy: &Policy, arches: &[Arch], unmatched: Action) -> Result<Program, Error> {
    let options = CompileOptions {
        too_new_action: None,
        bad_arch_action: unmatched,
        ..CompileOptions::default()
    };
    compile(policy, arches, &options).map_err(filter_error)
}

fn build(policy: &Policy, unmatched: Action) -> Result<Vec<FilterInstruction>, Error> {
    compile_for(policy, Arch::host_abis(), unmatched).map(|program| to_instructions(&program))
}

/// Traps the calls of [`TRAP_LIST`], allows the rest, for every ABI of the host: the filter
/// compiled ahead of time ([`precompiled_filter`]) when there is one for the host's ABIs, else
/// compiled now.
pub(crate) fn detection_filter() -> Result<Vec<FilterInstruction>, Error> {
    match precompiled_for(Arch::host_abis()) {
        Some(instructions) => Ok(instructions
            .iter()
            .map(|&(code, jt, jf, k)| FilterInstruction { code, jt, jf, k })
            .collect()),
        None => compile_detection_filter(Arch::host_abis()),
    }
}

/// One instruction of a precompiled filter: code, jump if true, jump if false, constant.
type Instruction = (u16, u8, u8, u32);

/// The sets of ABIs with a precompiled filter: the constant's name in [`precompiled_filter`],
/// the ABIs, the instructions.
const PRECOMPILED: [(&str, &[Arch], &[Instruction]); 2] = [
    (
        "X86_HOST",
        &[Arch::X86_64, Arch::I386, Arch::X32],
        precompiled_filter::X86_HOST,
    ),
    (
        "AARCH64_HOST",
        &[Arch::Aarch64],
        precompiled_filter::AARCH64_HOST,
    ),
];

/// The precompiled filter for this set of ABIs, if there is one.
fn precompiled_for(arches: &[Arch]) -> Option<&'static [Instruction]> {
    PRECOMPILED
        .iter()
        .find(|(_, abis, _)| *abis == arches)
        .map(|&(_, _, instructions)| instructions)
}

/// Compiles the detection filter for `arches`.
///
/// i386's `mmap` is old mmap (number 90), whose protection is in a struct in memory, where
/// the filter cannot look: every such call stops (the decoder reads the struct). A policy rule
/// applies to every ABI it is compiled for, so the i386 part is compiled apart, and an arch
/// test in front sends i386 calls to it.
pub(crate) fn compile_detection_filter(arches: &[Arch]) -> Result<Vec<FilterInstruction>, Error> {
    if !arches.contains(&Arch::I386) {
        return compile_for(&detection_policy(), arches, Action::Allow)
            .map(|program| to_instructions(&program));
    }
    let others: Vec<Arch> = arches
        .iter()
        .copied()
        .filter(|&a| a != Arch::I386)
        .collect();
    let main = compile_for(&detection_policy(), &others, Action::Allow)?;
    let mut i386_policy = detection_policy();
    i386_policy.rules.retain(|rule| rule.names != ["mmap"]);
    i386_policy.rules.push(Rule::new(&["mmap"], TRACE));
    let i386 = compile_for(&i386_policy, &[Arch::I386], Action::Allow)?;
    let main_len = u32::try_from(main.instructions.len()).unwrap_or(u32::MAX);
    let mut instructions = vec![
        SockFilter::stmt(bpf::LD | bpf::W | bpf::ABS, SeccompData::ARCH_OFFSET),
        SockFilter::jump(bpf::JMP | bpf::JEQ | bpf::K, AUDIT_ARCH_I386, 0, 1),
        SockFilter::stmt(bpf::JMP | bpf::JA, main_len),
    ];
    instructions.extend(main.instructions);
    instructions.extend(i386.instructions);
    let program = Program {
        instructions,
        arches: arches.to_vec(),
    };
    nativeguard_seccomp::verify(&program).map_err(filter_error)?;
    Ok(to_instructions(&program))
}

/// Traps every call, of every ABI.
pub(crate) fn learn_filter() -> Result<Vec<FilterInstruction>, Error> {
    let policy = Policy {
        default_action: TRACE,
        arches: Arch::host_abis().to_vec(),
        ..Policy::default()
    };
    build(&policy, TRACE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nativeguard_seccomp::{simulate, SeccompData};

    /// The filter as the seccomp crate's program, for its simulator and cache emulation.
    fn as_program(filter: &[FilterInstruction]) -> Program {
        Program {
            instructions: filter
                .iter()
                .map(|i| nativeguard_seccomp::SockFilter {
                    code: i.code,
                    jt: i.jt,
                    jf: i.jf,
                    k: i.k,
                })
                .collect(),
            arches: Arch::host_abis().to_vec(),
        }
    }

    fn verdict(program: &[FilterInstruction], arch: Arch, name: &str, args: [u64; 6]) -> u32 {
        let program = as_program(program);
        let nr = nativeguard_syscalls::lookup(arch, name).unwrap_or(u32::MAX);
        simulate(&program, &SeccompData::new(arch, nr, args))
    }

    #[test]
    fn detection_filter_traps_only_sensitive_calls() {
        let filter = detection_filter().unwrap_or_else(|e| panic!("{e}"));
        let trace = TRACE.to_ret();
        let allow = Action::Allow.to_ret();
        let x = Arch::X86_64;
        assert_eq!(verdict(&filter, x, "getppid", [0; 6]), allow);
        assert_eq!(verdict(&filter, x, "execve", [0; 6]), trace);
        assert_eq!(verdict(&filter, Arch::I386, "execve", [0; 6]), trace);
        assert_eq!(verdict(&filter, Arch::I386, "memfd_create", [0; 6]), trace);
        assert_eq!(verdict(&filter, Arch::I386, "getppid", [0; 6]), allow);
        // PROT_EXEC decides for mmap / mprotect, on every ABI (i386's mmap2 too).
        assert_eq!(verdict(&filter, x, "mmap", [0, 4096, 3, 0x22, 0, 0]), allow);
        assert_eq!(verdict(&filter, x, "mmap", [0, 4096, 5, 0x2, 3, 0]), trace);
        assert_eq!(
            verdict(&filter, x, "mprotect", [0, 4096, 7, 0, 0, 0]),
            trace
        );
        assert_eq!(
            verdict(&filter, Arch::I386, "mmap2", [0, 4096, 4, 0, 0, 0]),
            trace
        );
        // open for reading passes; for writing (or O_RDWR) stops.
        assert_eq!(
            verdict(&filter, x, "openat", [0, 0, 0x80000, 0, 0, 0]),
            allow
        );
        assert_eq!(
            verdict(&filter, x, "openat", [0, 0, 0x80002, 0, 0, 0]),
            trace
        );
        assert_eq!(verdict(&filter, x, "openat", [0, 0, 0x241, 0, 0, 0]), trace);
        assert_eq!(verdict(&filter, x, "open", [0, 1, 0, 0, 0, 0]), trace);
        // A number above every table is let through, not answered ENOSYS.
        let unknown = SeccompData::new(x, 4000, [0; 6]);
        assert_eq!(simulate(&as_program(&filter), &unknown), allow);
    }

    #[test]
    fn learn_filter_traps_everything() {
        let filter = learn_filter().unwrap_or_else(|e| panic!("{e}"));
        let trace = TRACE.to_ret();
        for (arch, name) in [
            (Arch::X86_64, "getppid"),
            (Arch::I386, "socketcall"),
            (Arch::X86_64, "no_such_call"),
        ] {
            assert_eq!(verdict(&filter, arch, name, [0; 6]), trace, "{name}");
        }
    }

    /// The kernel answers every call outside the trap list from its action cache, without
    /// running the filter: untraced calls cost a bit test, not a filter run.
    #[test]
    fn untraced_calls_are_answered_by_the_kernel_cache() {
        let program = as_program(&detection_filter().unwrap_or_else(|e| panic!("{e}")));
        // x32 numbers lie outside the kernel's per-arch bitmaps, so only the native ABIs count.
        for &arch in Arch::host_abis().iter().filter(|&&a| a != Arch::X32) {
            for syscall in arch.syscalls() {
                let trapped = TRAP_LIST.iter().any(|(name, _)| *name == syscall.name);
                assert_eq!(
                    nativeguard_seccomp::kernel_caches_allow(&program, arch, syscall.nr),
                    !trapped,
                    "{arch:?} {}",
                    syscall.name
                );
            }
        }
    }
    fn as_tuples(filter: &[FilterInstruction]) -> Vec<(u16, u8, u8, u32)> {
        filter.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
    }

    #[test]
    fn precompiled_detection_filters_are_current() {
        for (name, arches, instructions) in PRECOMPILED {
            let compiled = compile_detection_filter(arches).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                instructions.to_vec(),
                as_tuples(&compiled),
                "{name} is stale: run `cargo test -p nativeguard-tracer --lib -- --ignored \
                 write_precompiled_filters`"
            );
        }
        assert_eq!(
            detection_filter().map(|f| as_tuples(&f)).ok(),
            compile_detection_filter(Arch::host_abis())
                .map(|f| as_tuples(&f))
                .ok(),
            "the host does not get its filter"
        );
    }

    /// Writes `precompiled_filter.rs` (after a change to the trap list or to the compiler).
    #[test]
    #[ignore = "a generator: run it to refresh src/precompiled_filter.rs"]
    fn write_precompiled_filters() {
        let mut text = String::from(PRECOMPILED_HEADER);
        for (name, arches, _) in PRECOMPILED {
            let compiled = compile_detection_filter(arches).unwrap_or_else(|e| panic!("{e}"));
            let names: Vec<&str> = arches.iter().map(|a| a.as_str()).collect();
            text += &format!(
                "\n/// {}: {} instructions.\npub(crate) const {name}: &[(u16, u8, u8, u32)] = &[\n",
                names.join(" + "),
                compiled.len()
            );
            for (code, jt, jf, k) in as_tuples(&compiled) {
                text += &format!("    ({code:#06x}, {jt}, {jf}, {k:#x}),\n");
            }
            text += "];\n";
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/precompiled_filter.rs");
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    const PRECOMPILED_HEADER: &str = "\
//! The detection filter (`filter::compile_detection_filter`) compiled ahead of time for each
//! host's set of ABIs (`filter::PRECOMPILED`): compiled at start-up it took about 0.2 ms, on
//! cold caches, while the command waited to be released. Each instruction is code, jump if
//! true, jump if false, constant. Generated by `cargo test -p nativeguard-tracer --lib --
//! --ignored write_precompiled_filters`; `precompiled_detection_filters_are_current` checks it.
";

    #[test]
    fn i386_old_mmap_with_prot_exec_is_trapped() {
        // i386's old mmap (number 90) takes one argument, a pointer to
        // struct mmap_arg_struct { addr, len, prot, flags, fd, offset }: its prot is in
        // memory, where the filter cannot look, and its argument 2 is whatever ecx held.
        // The decoder reads the struct (Sensitive::OldMmap), so the filter must stop it.
        let filter = detection_filter().unwrap_or_else(|e| panic!("{e}"));
        let trace = TRACE.to_ret();
        assert_eq!(
            verdict(&filter, Arch::I386, "mmap", [0x9000, 0, 0, 0, 0, 0]),
            trace,
            "old mmap (its struct asks for PROT_EXEC) is not trapped"
        );
    }
}
