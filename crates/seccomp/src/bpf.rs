//! Classic BPF as the seccomp kernel accepts it: instructions, the verifier, the simulator
//! (an interpreter of the program on a `seccomp_data`), the disassembler and path statistics.

use crate::Error;
use nativeguard_syscalls::Arch;
use std::fmt::Write as _;

/// The kernel's limit on program length (`BPF_MAXINSNS`).
pub const MAX_INSTRUCTIONS: usize = 4096;

// Instruction classes and fields (linux/bpf_common.h).
/// `BPF_LD`.
pub const LD: u16 = 0x00;
/// `BPF_LDX`.
pub const LDX: u16 = 0x01;
/// `BPF_ST`.
pub const ST: u16 = 0x02;
/// `BPF_STX`.
pub const STX: u16 = 0x03;
/// `BPF_ALU`.
pub const ALU: u16 = 0x04;
/// `BPF_JMP`.
pub const JMP: u16 = 0x05;
/// `BPF_RET`.
pub const RET: u16 = 0x06;
/// `BPF_MISC`.
pub const MISC: u16 = 0x07;
/// `BPF_W`.
pub const W: u16 = 0x00;
/// `BPF_ABS`.
pub const ABS: u16 = 0x20;
/// `BPF_IMM`.
pub const IMM: u16 = 0x00;
/// `BPF_MEM`.
pub const MEM: u16 = 0x60;
/// `BPF_LEN`.
pub const LEN: u16 = 0x80;
/// `BPF_K`.
pub const K: u16 = 0x00;
/// `BPF_X`.
pub const X: u16 = 0x08;
/// `BPF_A` (return source).
pub const A: u16 = 0x10;
/// `BPF_ADD`.
pub const ADD: u16 = 0x00;
/// `BPF_SUB`.
pub const SUB: u16 = 0x10;
/// `BPF_MUL`.
pub const MUL: u16 = 0x20;
/// `BPF_DIV`.
pub const DIV: u16 = 0x30;
/// `BPF_OR`.
pub const OR: u16 = 0x40;
/// `BPF_AND`.
pub const AND: u16 = 0x50;
/// `BPF_LSH`.
pub const LSH: u16 = 0x60;
/// `BPF_RSH`.
pub const RSH: u16 = 0x70;
/// `BPF_NEG`.
pub const NEG: u16 = 0x80;
/// `BPF_MOD`.
pub const MOD: u16 = 0x90;
/// `BPF_XOR`.
pub const XOR: u16 = 0xa0;
/// `BPF_JA`.
pub const JA: u16 = 0x00;
/// `BPF_JEQ`.
pub const JEQ: u16 = 0x10;
/// `BPF_JGT`.
pub const JGT: u16 = 0x20;
/// `BPF_JGE`.
pub const JGE: u16 = 0x30;
/// `BPF_JSET`.
pub const JSET: u16 = 0x40;
/// `BPF_TAX`.
pub const TAX: u16 = 0x00;
/// `BPF_TXA`.
pub const TXA: u16 = 0x80;

/// Scratch memory words (`BPF_MEMWORDS`).
const MEM_WORDS: u32 = 16;
/// `sizeof(struct seccomp_data)`.
pub const SECCOMP_DATA_LEN: u32 = 64;

/// `SECCOMP_RET_KILL_PROCESS`.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_KILL_THREAD`.
pub const RET_KILL_THREAD: u32 = 0x0000_0000;
/// `SECCOMP_RET_TRAP`.
pub const RET_TRAP: u32 = 0x0003_0000;
/// `SECCOMP_RET_ERRNO`.
pub const RET_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_USER_NOTIF`.
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// `SECCOMP_RET_TRACE`.
pub const RET_TRACE: u32 = 0x7ff0_0000;
/// `SECCOMP_RET_LOG`.
pub const RET_LOG: u32 = 0x7ffc_0000;
/// `SECCOMP_RET_ALLOW`.
pub const RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_ACTION_FULL`.
pub const RET_ACTION_FULL: u32 = 0xffff_0000;
/// `SECCOMP_RET_DATA`.
pub const RET_DATA: u32 = 0x0000_ffff;

/// One classic-BPF instruction, laid out as `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SockFilter {
    /// Opcode.
    pub code: u16,
    /// Offset to add when a conditional jump is taken.
    pub jt: u8,
    /// Offset to add when it is not.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

impl SockFilter {
    /// A non-jump instruction.
    pub const fn stmt(code: u16, k: u32) -> Self {
        SockFilter {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }
    /// A jump instruction.
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Self {
        SockFilter { code, jt, jf, k }
    }
    /// `BPF_CLASS(code)`.
    pub fn class(&self) -> u16 {
        self.code & 0x07
    }
    /// Whether the instruction is a conditional jump.
    pub fn is_conditional_jump(&self) -> bool {
        self.class() == JMP && self.code & 0xf0 != JA
    }
    /// Whether the instruction is `ja`.
    pub fn is_ja(&self) -> bool {
        self.code == JMP | JA
    }
    /// The instruction's 8 bytes as the kernel reads them (host byte order).
    pub fn to_bytes(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[0..2].copy_from_slice(&self.code.to_ne_bytes());
        out[2] = self.jt;
        out[3] = self.jf;
        out[4..8].copy_from_slice(&self.k.to_ne_bytes());
        out
    }
}

/// `struct seccomp_data`: what a filter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeccompData {
    /// Syscall number (with the x32 bit for x32 calls).
    pub nr: u32,
    /// `AUDIT_ARCH_*` of the calling ABI.
    pub arch: u32,
    /// Instruction pointer at the call.
    pub instruction_pointer: u64,
    /// The six argument registers, unmodified (64 bits even where the kernel reads 32).
    pub args: [u64; 6],
}

impl SeccompData {
    /// Byte offset of `nr`.
    pub const NR_OFFSET: u32 = 0;
    /// Byte offset of `arch`.
    pub const ARCH_OFFSET: u32 = 4;

    /// Byte offset of the low word of argument `index` (the high word follows at +4).
    pub fn args_offset(index: u8) -> u32 {
        16 + 8 * u32::from(index)
    }

    /// A call of `nr` on `arch` with `args`.
    pub fn new(arch: Arch, nr: u32, args: [u64; 6]) -> Self {
        SeccompData {
            nr,
            arch: arch.audit_arch(),
            instruction_pointer: 0,
            args,
        }
    }

    /// The 32-bit word at byte offset `offset` (little-endian halves, as on x86 and arm64).
    pub fn word(&self, offset: u32) -> Option<u32> {
        let half = |v: u64, high: bool| if high { (v >> 32) as u32 } else { v as u32 };
        match offset {
            0 => Some(self.nr),
            4 => Some(self.arch),
            8 | 12 => Some(half(self.instruction_pointer, offset == 12)),
            16..=60 if offset.is_multiple_of(4) => {
                let index = ((offset - 16) / 8) as usize;
                let value = *self.args.get(index)?;
                Some(half(value, (offset - 16) % 8 == 4))
            }
            _ => None,
        }
    }
}

/// A seccomp program and the ABIs it was compiled for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Program {
    /// The instructions, run from index 0.
    pub instructions: Vec<SockFilter>,
    /// ABIs the program was built for (used by [`stats`] to choose the syscalls it averages over).
    pub arches: Vec<Arch>,
}

impl Program {
    /// The instructions as the bytes of a `struct sock_filter[]` (for files and for loading).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.instructions
            .iter()
            .flat_map(|i| i.to_bytes())
            .collect()
    }

    /// Reads `struct sock_filter[]` bytes (host byte order).
    pub fn from_bytes(bytes: &[u8]) -> Result<Program, Error> {
        if !bytes.len().is_multiple_of(8) {
            return Err(Error::Verify {
                index: bytes.len() / 8,
                message: format!(
                    "{} bytes is not a whole number of instructions",
                    bytes.len()
                ),
            });
        }
        if bytes.len() / 8 > MAX_INSTRUCTIONS {
            return Err(Error::TooManyInstructions {
                count: bytes.len() / 8,
                limit: MAX_INSTRUCTIONS,
            });
        }
        let instructions = bytes
            .chunks_exact(8)
            .map(|c| SockFilter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Ok(Program {
            instructions,
            arches: Vec::new(),
        })
    }

    /// The `(len, filter)` pair of a `struct sock_fprog`; the pointer stays valid while `self`
    /// is borrowed and unmodified.
    pub fn as_sock_fprog(&self) -> (u16, *const SockFilter) {
        (self.instructions.len() as u16, self.instructions.as_ptr())
    }
}

/// Checks a program the way the kernel's `sk_chk_filter` + `seccomp_check_filter` do: length,
/// allowed opcodes, loads inside `seccomp_data`, jumps forward and in bounds, scratch memory
/// indexes, no division by a constant zero, and a `ret` as the last instruction.
pub fn verify(program: &Program) -> Result<(), Error> {
    let code = &program.instructions;
    if code.is_empty() {
        return Err(Error::Verify {
            index: 0,
            message: "empty program".into(),
        });
    }
    if code.len() > MAX_INSTRUCTIONS {
        return Err(Error::TooManyInstructions {
            count: code.len(),
            limit: MAX_INSTRUCTIONS,
        });
    }
    let fail = |index: usize, message: String| Err(Error::Verify { index, message });
    for (index, insn) in code.iter().enumerate() {
        let remaining = code.len() - index - 1;
        match insn.class() {
            LD | LDX => {
                let mode = insn.code & 0xe0;
                let size = insn.code & 0x18;
                match (insn.class(), mode) {
                    (LD, ABS) if size == W => {
                        if insn.k % 4 != 0 || insn.k >= SECCOMP_DATA_LEN {
                            return fail(index, format!("load outside seccomp_data at {}", insn.k));
                        }
                    }
                    (_, IMM) | (_, LEN) if size == W => {}
                    (_, MEM) if size == W => {
                        if insn.k >= MEM_WORDS {
                            return fail(index, format!("scratch memory index {}", insn.k));
                        }
                    }
                    _ => return fail(index, format!("opcode {:#06x} not allowed", insn.code)),
                }
            }
            ST | STX => {
                if insn.code & !0x07 != 0 {
                    return fail(index, format!("opcode {:#06x} not allowed", insn.code));
                }
                if insn.k >= MEM_WORDS {
                    return fail(index, format!("scratch memory index {}", insn.k));
                }
            }
            ALU => {
                let op = insn.code & 0xf0;
                if !matches!(op, ADD | SUB | MUL | DIV | OR | AND | LSH | RSH | NEG | XOR)
                    || insn.code & !0xff != 0
                    || (op == NEG && insn.code != ALU | NEG)
                {
                    // seccomp_check_filter has no BPF_MOD; `neg` has no K/X form.
                    return fail(index, format!("opcode {:#06x} not allowed", insn.code));
                }
                if insn.code & X == K && op == DIV && insn.k == 0 {
                    return fail(index, "division by zero".into());
                }
                if insn.code & X == K && matches!(op, LSH | RSH) && insn.k >= 32 {
                    return fail(index, format!("shift by {}", insn.k));
                }
            }
            JMP => {
                let op = insn.code & 0xf0;
                if !matches!(op, JA | JEQ | JGT | JGE | JSET)
                    || insn.code & !0xff != 0
                    || (op == JA && insn.code != JMP | JA)
                {
                    return fail(index, format!("opcode {:#06x} not allowed", insn.code));
                }
                // The target must be an instruction: pc + 1 + offset < len (bpf_check_classic).
                if op == JA {
                    if insn.k as usize >= remaining {
                        return fail(index, format!("ja +{} jumps past the end", insn.k));
                    }
                } else if insn.jt as usize >= remaining || insn.jf as usize >= remaining {
                    return fail(
                        index,
                        format!("jump +{}/+{} past the end", insn.jt, insn.jf),
                    );
                }
                if remaining == 0 {
                    return fail(index, "program ends with a jump".into());
                }
            }
            RET => {
                if insn.code != RET | K && insn.code != RET | A {
                    return fail(index, format!("opcode {:#06x} not allowed", insn.code));
                }
            }
            _ => {
                if insn.code != MISC | TAX && insn.code != MISC | TXA {
                    return fail(index, format!("opcode {:#06x} not allowed", insn.code));
                }
            }
        }
    }
    let last = code.len() - 1;
    if code[last].class() != RET {
        return fail(last, "the last instruction is not a return".into());
    }
    check_loads_and_stores(code)
}

/// The kernel's `check_load_and_stores`: a scratch-memory load must follow a store to that cell
/// on every path (jumps are known to be forward and in bounds here).
fn check_loads_and_stores(code: &[SockFilter]) -> Result<(), Error> {
    let mut masks = vec![u16::MAX; code.len()];
    let mut valid = 0u16;
    for (pc, insn) in code.iter().enumerate() {
        valid &= masks[pc];
        let class = insn.class();
        if class == ST || class == STX {
            valid |= 1 << insn.k;
        } else if insn.code == LD | MEM || insn.code == LDX | MEM {
            if valid & (1 << insn.k) == 0 {
                return Err(Error::Verify {
                    index: pc,
                    message: format!("scratch memory M[{}] read before any store", insn.k),
                });
            }
        } else if insn.is_ja() {
            masks[pc + 1 + insn.k as usize] &= valid;
            valid = u16::MAX;
        } else if insn.is_conditional_jump() {
            masks[pc + 1 + usize::from(insn.jt)] &= valid;
            masks[pc + 1 + usize::from(insn.jf)] &= valid;
            valid = u16::MAX;
        }
    }
    Ok(())
}

/// Runs the program on `data` and returns the seccomp verdict. A program that would fault
/// (which [`verify`] rejects) answers `SECCOMP_RET_KILL_PROCESS`.
pub fn simulate(program: &Program, data: &SeccompData) -> u32 {
    run(program, data).map_or(RET_KILL_PROCESS, |(ret, _)| ret)
}

/// Runs the program on `data`: the verdict and the number of instructions executed.
pub fn run(program: &Program, data: &SeccompData) -> Result<(u32, usize), Error> {
    let code = &program.instructions;
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; MEM_WORDS as usize];
    let mut pc = 0usize;
    let mut steps = 0usize;
    let fault = |index: usize, message: &str| Error::Verify {
        index,
        message: message.to_string(),
    };
    loop {
        let insn = *code.get(pc).ok_or_else(|| fault(pc, "ran past the end"))?;
        steps += 1;
        let src = if insn.code & X == X { x } else { insn.k };
        match insn.class() {
            LD | LDX => {
                let value = match insn.code & 0xe0 {
                    ABS => data
                        .word(insn.k)
                        .ok_or_else(|| fault(pc, "load outside seccomp_data"))?,
                    IMM => insn.k,
                    LEN => SECCOMP_DATA_LEN,
                    MEM => *mem
                        .get(insn.k as usize)
                        .ok_or_else(|| fault(pc, "scratch index"))?,
                    _ => return Err(fault(pc, "bad load mode")),
                };
                if insn.class() == LD {
                    a = value;
                } else {
                    x = value;
                }
                pc += 1;
            }
            ST | STX => {
                let slot = mem
                    .get_mut(insn.k as usize)
                    .ok_or_else(|| fault(pc, "scratch index"))?;
                *slot = if insn.class() == ST { a } else { x };
                pc += 1;
            }
            ALU => {
                a = match insn.code & 0xf0 {
                    ADD => a.wrapping_add(src),
                    SUB => a.wrapping_sub(src),
                    MUL => a.wrapping_mul(src),
                    // Classic BPF ends the program with 0 on a division by zero
                    // (convert_bpf_filter), i.e. SECCOMP_RET_KILL_THREAD.
                    DIV | MOD if src == 0 => return Ok((0, steps)),
                    DIV => a / src,
                    MOD => a % src,
                    OR => a | src,
                    AND => a & src,
                    XOR => a ^ src,
                    // The kernel takes the shift count modulo 32 (`& 31`).
                    LSH => a.wrapping_shl(src),
                    RSH => a.wrapping_shr(src),
                    NEG => a.wrapping_neg(),
                    _ => return Err(fault(pc, "bad ALU op")),
                };
                pc += 1;
            }
            JMP => {
                let offset = match insn.code & 0xf0 {
                    JA => insn.k as usize,
                    op => {
                        let taken = match op {
                            JEQ => a == src,
                            JGT => a > src,
                            JGE => a >= src,
                            JSET => a & src != 0,
                            _ => return Err(fault(pc, "bad jump op")),
                        };
                        if taken {
                            insn.jt as usize
                        } else {
                            insn.jf as usize
                        }
                    }
                };
                pc = pc + 1 + offset;
            }
            RET => {
                let ret = if insn.code & 0x18 == A { a } else { insn.k };
                return Ok((ret, steps));
            }
            _ => {
                if insn.code & 0xf8 == TXA {
                    a = x;
                } else {
                    x = a;
                }
                pc += 1;
            }
        }
    }
}

/// Whether the kernel's seccomp action cache (Linux 5.11+, `seccomp_cache_prepare`) will allow
/// `nr` on `arch` without running the program: a port of the kernel's `seccomp_is_const_allow`,
/// which emulates the program with only `nr` and `arch` known and gives up at the first load of
/// anything else or any instruction it does not model. A call answered from the cache costs a
/// bit test instead of a filter run, which is what makes an all-allowing path free.
pub fn kernel_caches_allow(program: &Program, arch: Arch, nr: u32) -> bool {
    let code = &program.instructions;
    let mut a = 0u32;
    let mut pc = 0usize;
    while let Some(insn) = code.get(pc) {
        match insn.code {
            c if c == LD | W | ABS => match insn.k {
                SeccompData::NR_OFFSET => a = nr,
                SeccompData::ARCH_OFFSET => a = arch.audit_arch(),
                _ => return false,
            },
            c if c == RET | K => return insn.k == RET_ALLOW,
            c if c == JMP | JA => pc += insn.k as usize,
            c if c == JMP | JEQ | K
                || c == JMP | JGE | K
                || c == JMP | JGT | K
                || c == JMP | JSET | K =>
            {
                let taken = match c & 0xf0 {
                    JEQ => a == insn.k,
                    JGE => a >= insn.k,
                    JGT => a > insn.k,
                    _ => a & insn.k != 0,
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            c if c == ALU | AND | K => a &= insn.k,
            _ => return false,
        }
        pc += 1;
    }
    false
}

/// Names a seccomp return value: `ALLOW`, `ERRNO(1)`, `KILL_PROCESS`...
pub fn describe_return(ret: u32) -> String {
    let data = ret & RET_DATA;
    match ret & RET_ACTION_FULL {
        RET_KILL_PROCESS => "KILL_PROCESS".into(),
        RET_KILL_THREAD => "KILL_THREAD".into(),
        RET_TRAP => format!("TRAP({data})"),
        RET_ERRNO => format!("ERRNO({data})"),
        RET_USER_NOTIF => "USER_NOTIF".into(),
        RET_TRACE => format!("TRACE({data})"),
        RET_LOG => "LOG".into(),
        RET_ALLOW => "ALLOW".into(),
        other => format!("{other:#010x}"),
    }
}

fn field_name(k: u32) -> String {
    match k {
        0 => "nr".into(),
        4 => "arch".into(),
        8 => "ip.lo".into(),
        12 => "ip.hi".into(),
        16..=60 => format!(
            "args[{}].{}",
            (k - 16) / 8,
            if (k - 16) % 8 == 4 { "hi" } else { "lo" }
        ),
        _ => format!("[{k}]"),
    }
}

/// One line per instruction: index, mnemonic, operands and absolute jump targets, e.g.
/// `0003: jge #0x67 -> 0012, 0004`. Returns are decoded (`ret ERRNO(1)`), loads from
/// `seccomp_data` are named (`ld [nr]`).
pub fn disassemble(program: &Program) -> String {
    let mut out = String::new();
    for (index, insn) in program.instructions.iter().enumerate() {
        let src = if insn.code & X == X {
            "x".to_string()
        } else {
            format!("#{:#x}", insn.k)
        };
        let next = index + 1;
        let text = match insn.class() {
            LD | LDX => {
                let reg = if insn.class() == LD { "ld" } else { "ldx" };
                match insn.code & 0xe0 {
                    ABS => format!("{reg} [{}]", field_name(insn.k)),
                    IMM => format!("{reg} #{:#x}", insn.k),
                    LEN => format!("{reg} len"),
                    MEM => format!("{reg} M[{}]", insn.k),
                    _ => format!(".word {:#06x} {}", insn.code, insn.k),
                }
            }
            ST => format!("st M[{}]", insn.k),
            STX => format!("stx M[{}]", insn.k),
            ALU => {
                let op = match insn.code & 0xf0 {
                    ADD => "add",
                    SUB => "sub",
                    MUL => "mul",
                    DIV => "div",
                    MOD => "mod",
                    OR => "or",
                    AND => "and",
                    XOR => "xor",
                    LSH => "lsh",
                    RSH => "rsh",
                    NEG => "neg",
                    _ => "alu?",
                };
                if insn.code & 0xf0 == NEG {
                    op.to_string()
                } else {
                    format!("{op} {src}")
                }
            }
            JMP => {
                let op = match insn.code & 0xf0 {
                    JA => {
                        let _ =
                            writeln!(out, "{index:04}: ja {:04}", next as u64 + u64::from(insn.k));
                        continue;
                    }
                    JEQ => "jeq",
                    JGT => "jgt",
                    JGE => "jge",
                    JSET => "jset",
                    _ => "jmp?",
                };
                format!(
                    "{op} {src} -> {:04}, {:04}",
                    next + insn.jt as usize,
                    next + insn.jf as usize
                )
            }
            RET => {
                if insn.code & 0x18 == A {
                    "ret a".to_string()
                } else {
                    format!("ret {}", describe_return(insn.k))
                }
            }
            _ => {
                if insn.code & 0xf8 == TXA {
                    "txa".into()
                } else {
                    "tax".into()
                }
            }
        };
        let _ = writeln!(out, "{index:04}: {text}");
    }
    out
}

/// Size and cost of a program.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Instruction count.
    pub instructions: usize,
    /// The longest path from the first instruction to a return, in instructions executed.
    pub worst_path: usize,
    /// Mean instructions executed over every known syscall of the program's ABIs (arguments 0).
    pub mean_path: f64,
}

/// Counts instructions, the worst path (longest path in the jump graph) and the mean path over
/// every syscall of [`Program::arches`] (all tabled ABIs when empty).
pub fn stats(program: &Program) -> Stats {
    let code = &program.instructions;
    // Jumps only go forward, so one backward sweep gives each instruction's longest path to a
    // return.
    let mut longest = vec![0usize; code.len()];
    for index in (0..code.len()).rev() {
        let insn = code[index];
        let at = |offset: usize| longest.get(index + 1 + offset).copied().unwrap_or(0);
        longest[index] = 1 + match insn.class() {
            RET => 0,
            JMP if insn.is_ja() => at(insn.k as usize),
            JMP => at(insn.jt as usize).max(at(insn.jf as usize)),
            _ => at(0),
        };
    }
    let arches: &[Arch] = if program.arches.is_empty() {
        &Arch::ALL
    } else {
        &program.arches
    };
    let (mut total, mut count) = (0usize, 0usize);
    for &arch in arches {
        for syscall in arch.syscalls() {
            if let Ok((_, steps)) = run(program, &SeccompData::new(arch, syscall.nr, [0; 6])) {
                total += steps;
                count += 1;
            }
        }
    }
    Stats {
        instructions: code.len(),
        worst_path: longest.first().copied().unwrap_or(0),
        mean_path: if count == 0 {
            0.0
        } else {
            total as f64 / count as f64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(instructions: Vec<SockFilter>) -> Program {
        Program {
            instructions,
            arches: vec![Arch::X86_64],
        }
    }

    #[test]
    fn verifier_rejects_with_the_instruction_index() {
        let cases: Vec<(Vec<SockFilter>, usize, &str)> = vec![
            (vec![], 0, "empty"),
            (vec![SockFilter::stmt(LD | W | ABS, 0)], 0, "not a return"),
            (
                vec![
                    SockFilter::stmt(LD | W | ABS, 64),
                    SockFilter::stmt(RET | K, 0),
                ],
                0,
                "outside seccomp_data",
            ),
            (
                vec![
                    SockFilter::stmt(RET | K, 0),
                    SockFilter::jump(JMP | JEQ | K, 0, 0, 5),
                    SockFilter::stmt(RET | K, 0),
                ],
                1,
                "past the end",
            ),
            (
                vec![
                    SockFilter::stmt(ALU | DIV | K, 0),
                    SockFilter::stmt(RET | K, 0),
                ],
                0,
                "division",
            ),
            (
                vec![SockFilter::stmt(0x17, 0), SockFilter::stmt(RET | K, 0)],
                0,
                "not allowed",
            ),
        ];
        for (code, index, needle) in cases {
            match verify(&program(code.clone())) {
                Err(Error::Verify { index: i, message }) => {
                    assert_eq!(i, index, "{code:?}");
                    assert!(message.contains(needle), "{message}");
                }
                other => panic!("{code:?}: {other:?}"),
            }
        }
        let too_long = vec![SockFilter::stmt(RET | K, 0); MAX_INSTRUCTIONS + 1];
        assert!(matches!(
            verify(&program(too_long)),
            Err(Error::TooManyInstructions { count: 4097, .. })
        ));
        let at_limit = vec![SockFilter::stmt(RET | K, 0); MAX_INSTRUCTIONS];
        assert!(verify(&program(at_limit)).is_ok());
    }

    #[test]
    fn simulator_reads_seccomp_data_halves() {
        let p = program(vec![
            SockFilter::stmt(LD | W | ABS, 20), // args[0].hi
            SockFilter::jump(JMP | JEQ | K, 1, 0, 1),
            SockFilter::stmt(RET | K, RET_ERRNO | 7),
            SockFilter::stmt(RET | K, RET_ALLOW),
        ]);
        verify(&p).unwrap();
        let mut data = SeccompData::new(Arch::X86_64, 41, [0x1_0000_0010, 0, 0, 0, 0, 0]);
        assert_eq!(run(&p, &data).unwrap(), (RET_ERRNO | 7, 3));
        data.args[0] = 0x10;
        assert_eq!(simulate(&p, &data), RET_ALLOW);
        let text = disassemble(&p);
        assert!(text.contains("0000: ld [args[0].hi]"), "{text}");
        assert!(text.contains("0001: jeq #0x1 -> 0002, 0003"), "{text}");
        assert!(text.contains("ret ERRNO(7)"), "{text}");
        let s = stats(&p);
        assert_eq!((s.instructions, s.worst_path), (4, 3));
    }

    #[test]
    fn bytes_round_trip() {
        let p = program(vec![
            SockFilter::jump(JMP | JGE | K, 0x1234_5678, 3, 4),
            SockFilter::stmt(RET | K, RET_ALLOW),
        ]);
        let back = Program::from_bytes(&p.to_bytes()).unwrap();
        assert_eq!(back.instructions, p.instructions);
        assert!(Program::from_bytes(&[0; 7]).is_err());
    }

    #[test]
    fn kernel_cache_emulation_gives_up_on_argument_loads() {
        let x86 = Arch::X86_64.audit_arch();
        let program = program(vec![
            SockFilter::stmt(LD | W | ABS, SeccompData::ARCH_OFFSET),
            SockFilter::jump(JMP | JEQ | K, x86, 1, 0),
            SockFilter::stmt(RET | K, RET_KILL_PROCESS),
            SockFilter::stmt(LD | W | ABS, SeccompData::NR_OFFSET),
            SockFilter::jump(JMP | JEQ | K, 41, 0, 1),
            SockFilter::stmt(LD | W | ABS, SeccompData::args_offset(0)),
            SockFilter::stmt(RET | K, RET_ALLOW),
        ]);
        assert!(kernel_caches_allow(&program, Arch::X86_64, 39));
        assert!(
            !kernel_caches_allow(&program, Arch::X86_64, 41),
            "loads args[0]"
        );
        assert!(
            !kernel_caches_allow(&program, Arch::I386, 39),
            "killed, not allowed"
        );
    }
}
