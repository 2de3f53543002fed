//! Policy -> classic BPF: the builder (labels, binary search over ranges of equal action,
//! argument comparisons by type, long jumps) and the entry point [`compile`].
//!
//! Layout of a program:
//!
//! ```text
//! ld [arch]; jeq AUDIT_ARCH_A -> section A; jeq AUDIT_ARCH_B -> section B; ret bad-arch
//! section A: ld [nr]; binary search (jge pivots) over ranges of numbers with equal outcome
//!            (x86_64 and x32 share one section: x32 numbers are the ranges above 0x40000000);
//!            argument blocks of syscalls with conditional rules; shared returns
//! ```

use crate::bpf::{self, SockFilter};
use crate::policy::{Action, ArgCondition, CmpOp, Policy};
use crate::{optimize, Error, Program, MAX_INSTRUCTIONS};
use nativeguard_syscalls::{self as syscalls, Arch, Syscall, X32_SYSCALL_BIT};
use std::collections::HashMap;

/// `ENOSYS`, the default answer for numbers above the highest known syscall.
pub const ENOSYS: u16 = 38;

/// Choices the policy file does not make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileOptions {
    /// Action for numbers above the highest syscall the tables know for the ABI (a syscall
    /// newer than the profile); `None` gives them the policy's default action.
    pub too_new_action: Option<Action>,
    /// Action for calls from an ABI the program was not compiled for (e.g. `int 0x80` under an
    /// x86_64-only program).
    pub bad_arch_action: Action,
    /// Run the optimizer passes (off only to test them).
    pub optimize: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            too_new_action: Some(Action::Errno(ENOSYS)),
            bad_arch_action: Action::KillProcess,
            optimize: true,
        }
    }
}

/// Compiles `policy` for `arches` into one verified program.
pub fn compile(
    policy: &Policy,
    arches: &[Arch],
    options: &CompileOptions,
) -> Result<Program, Error> {
    if arches.is_empty() {
        return Err(Error::NoArch);
    }
    check_rules(policy)?;
    let mut arches = arches.to_vec();
    arches.sort();
    arches.dedup();
    let mut b = Builder::default();
    // Sections: one per AUDIT_ARCH value (x86_64 and x32 share AUDIT_ARCH_X86_64).
    let mut sections: Vec<(u32, Vec<Arch>)> = Vec::new();
    for &arch in &arches {
        match sections
            .iter_mut()
            .find(|(audit, _)| *audit == arch.audit_arch())
        {
            Some((_, group)) => group.push(arch),
            None => sections.push((arch.audit_arch(), vec![arch])),
        }
    }
    b.load(bpf::SeccompData::ARCH_OFFSET);
    let section_labels: Vec<Label> = sections.iter().map(|_| b.label()).collect();
    let bad_arch = b.ret_label(options.bad_arch_action.to_ret());
    let rules_by_name = RulesByName::new(policy);
    for ((audit, _), &label) in sections.iter().zip(&section_labels) {
        let next = b.label();
        b.jump(bpf::JEQ, *audit, label, next);
        b.define(next);
    }
    b.ja(bad_arch);
    for ((_, group), &label) in sections.iter().zip(&section_labels) {
        b.define(label);
        b.section(policy, &rules_by_name, group, options)?;
    }
    b.emit_shared_returns();
    let unoptimized = b.finish()?;
    let instructions = if options.optimize {
        optimize::optimize(unoptimized)
    } else {
        unoptimized
    };
    let program = Program {
        instructions,
        arches,
    };
    bpf::verify(&program)?;
    Ok(program)
}

fn check_rules(policy: &Policy) -> Result<(), Error> {
    for (index, rule) in policy.rules.iter().enumerate() {
        for name in &rule.names {
            if !policy.tolerate_unknown && !syscalls::is_known_anywhere(name) {
                return Err(Error::Rule {
                    rule: index,
                    syscall: name.clone(),
                    message: "unknown syscall".into(),
                });
            }
        }
        for c in &rule.conditions {
            if c.index > 5 {
                return Err(Error::Rule {
                    rule: index,
                    syscall: rule.names.join(","),
                    message: format!("argument index {} (syscalls have 6 at most)", c.index),
                });
            }
        }
    }
    Ok(())
}

/// The outcome of a range of syscall numbers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Leaf {
    Return(u32),
    /// Index into the section's argument blocks.
    Block(usize),
}

/// A syscall whose outcome depends on its arguments: conditional rules in the order they are
/// tried (most restrictive first), then the fallback.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ArgBlock {
    rules: Vec<(Vec<(ArgCondition, u32)>, u32)>,
    fallback: u32,
}

/// Which rules name each syscall, in file order: every syscall of every ABI looks its rules up
/// here (Docker's profile names some 400 syscalls in one rule; matching each of the tables'
/// syscalls against every name made most of the compile time).
struct RulesByName<'a>(HashMap<&'a str, Vec<usize>>);

impl<'a> RulesByName<'a> {
    fn new(policy: &'a Policy) -> Self {
        let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
        for (rule_index, rule) in policy.rules.iter().enumerate() {
            for name in &rule.names {
                let rules = index.entry(name.as_str()).or_default();
                // A rule naming a syscall twice still counts once.
                if rules.last() != Some(&rule_index) {
                    rules.push(rule_index);
                }
            }
        }
        RulesByName(index)
    }

    fn get(&self, name: &str) -> &[usize] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }
}

fn outcome(
    policy: &Policy,
    rules_by_name: &RulesByName,
    arch: Arch,
    syscall: &Syscall,
) -> Result<Leaf, ArgBlock> {
    let mut matching: Vec<(usize, &crate::Rule)> = rules_by_name
        .get(syscall.name)
        .iter()
        .map(|&index| (index, &policy.rules[index]))
        .collect();
    // Most restrictive first; ties keep file order (the earlier rule wins).
    matching.sort_by_key(|(i, r)| (r.action.precedence(), *i));
    let mut conditional = Vec::new();
    let mut fallback = policy.default_action.to_ret();
    for (_, rule) in matching {
        if rule.conditions.is_empty() {
            fallback = rule.action.to_ret();
            break;
        }
        let conditions = rule
            .conditions
            .iter()
            .map(|c| {
                let bits = syscall
                    .args
                    .get(usize::from(c.index))
                    .map_or(arch.register_bits(), |t| t.bits(arch));
                (*c, bits)
            })
            .collect();
        conditional.push((conditions, rule.action.to_ret()));
    }
    // Trailing rules that give the fallback's answer anyway need no code.
    while conditional.last().is_some_and(|(_, ret)| *ret == fallback) {
        conditional.pop();
    }
    if conditional.is_empty() {
        Ok(Leaf::Return(fallback))
    } else {
        Err(ArgBlock {
            rules: conditional,
            fallback,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Label(usize);

#[derive(Debug, Clone)]
enum Item {
    Insn(SockFilter),
    Jump {
        op: u16,
        k: u32,
        jt: Label,
        jf: Label,
    },
    Ja(Label),
    Define(Label),
}

/// What the accumulator holds at a point of the code being built, to skip reloading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acc {
    Unknown,
    Word(u32),
}

#[derive(Default)]
struct Builder {
    items: Vec<Item>,
    labels: usize,
    /// Accumulator state on entry of each label, from every jump to it (None when jumps disagree).
    incoming: HashMap<Label, Option<Acc>>,
    /// Accumulator state at the current point; None after an unconditional transfer.
    acc: Option<Acc>,
    returns: Vec<(u32, Label)>,
}

impl Builder {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    fn note_jump(&mut self, target: Label) {
        let acc = self.acc.unwrap_or(Acc::Unknown);
        let entry = self.incoming.entry(target).or_insert(Some(acc));
        if *entry != Some(acc) {
            *entry = Some(Acc::Unknown);
        }
    }

    fn define(&mut self, label: Label) {
        let from_jumps = self.incoming.get(&label).copied().flatten();
        self.acc = match (self.acc, from_jumps) {
            (Some(a), Some(b)) if a == b => Some(a),
            (Some(a), None) => Some(a),
            (None, Some(b)) => Some(b),
            _ => Some(Acc::Unknown),
        };
        self.items.push(Item::Define(label));
    }

    fn load(&mut self, offset: u32) {
        if self.acc != Some(Acc::Word(offset)) {
            self.items.push(Item::Insn(SockFilter::stmt(
                bpf::LD | bpf::W | bpf::ABS,
                offset,
            )));
            self.acc = Some(Acc::Word(offset));
        }
    }

    fn and(&mut self, mask: u32) {
        self.items.push(Item::Insn(SockFilter::stmt(
            bpf::ALU | bpf::AND | bpf::K,
            mask,
        )));
        self.acc = Some(Acc::Unknown);
    }

    fn jump(&mut self, op: u16, k: u32, jt: Label, jf: Label) {
        self.note_jump(jt);
        self.note_jump(jf);
        self.items.push(Item::Jump {
            op: bpf::JMP | op | bpf::K,
            k,
            jt,
            jf,
        });
        self.acc = None;
    }

    fn ja(&mut self, target: Label) {
        self.note_jump(target);
        self.items.push(Item::Ja(target));
        self.acc = None;
    }

    fn ret(&mut self, value: u32) {
        self.items
            .push(Item::Insn(SockFilter::stmt(bpf::RET | bpf::K, value)));
        self.acc = None;
    }

    /// A label for a shared `ret value`, emitted at the end of the current section.
    fn ret_label(&mut self, value: u32) -> Label {
        if let Some((_, label)) = self.returns.iter().find(|(v, _)| *v == value) {
            return *label;
        }
        let label = self.label();
        self.returns.push((value, label));
        label
    }

    fn emit_shared_returns(&mut self) {
        for (value, label) in std::mem::take(&mut self.returns) {
            self.define(label);
            self.ret(value);
        }
    }

    /// One AUDIT_ARCH section: load nr, search the ranges, then the argument blocks.
    fn section(
        &mut self,
        policy: &Policy,
        rules_by_name: &RulesByName,
        group: &[Arch],
        options: &CompileOptions,
    ) -> Result<(), Error> {
        let default = policy.default_action.to_ret();
        let too_new = options.too_new_action.map_or(default, Action::to_ret);
        let bad_arch = options.bad_arch_action.to_ret();
        let has = |arch: Arch| group.contains(&arch);
        // (first number, leaf) in increasing order, covering 0..=u32::MAX.
        let mut ranges: Vec<(u32, Leaf)> = Vec::new();
        let mut blocks: Vec<ArgBlock> = Vec::new();
        let mut block_ids: HashMap<ArgBlock, usize> = HashMap::new();
        let push = |ranges: &mut Vec<(u32, Leaf)>, lo: u32, leaf: Leaf| {
            if ranges.last().is_none_or(|(_, last)| *last != leaf) {
                ranges.push((lo, leaf));
            }
        };
        // (start, ABI or None for a foreign ABI, whether its table starts here). The kernel
        // tells x32 by bit 30 alone, so numbers with bit 31 set alternate between the two.
        let x86_64 = has(Arch::X86_64).then_some(Arch::X86_64);
        let x32 = has(Arch::X32).then_some(Arch::X32);
        let spans: Vec<(u32, Option<Arch>, bool)> = match group.first() {
            Some(Arch::X86_64) | Some(Arch::X32) => vec![
                (0, x86_64, true),
                (X32_SYSCALL_BIT, x32, true),
                (0x8000_0000, x86_64, false),
                (0x8000_0000 | X32_SYSCALL_BIT, x32, false),
            ],
            other => vec![(0, other.copied(), true)],
        };
        for (start, arch, with_table) in spans {
            let Some(arch) = arch else {
                push(&mut ranges, start, Leaf::Return(bad_arch));
                continue;
            };
            if !with_table {
                push(&mut ranges, start, Leaf::Return(too_new));
                continue;
            }
            let mut next = start;
            for syscall in arch.syscalls() {
                // A hole below the first syscall gets the default action; later holes extend
                // the range before them (see `Policy` on holes).
                if syscall.nr > next && next == start {
                    push(&mut ranges, next, Leaf::Return(default));
                }
                let leaf = match outcome(policy, rules_by_name, arch, syscall) {
                    Ok(leaf) => leaf,
                    Err(block) => {
                        let id = *block_ids.entry(block.clone()).or_insert_with(|| {
                            blocks.push(block);
                            blocks.len() - 1
                        });
                        Leaf::Block(id)
                    }
                };
                push(&mut ranges, syscall.nr, leaf);
                next = syscall.nr + 1;
            }
            push(&mut ranges, next, Leaf::Return(too_new));
        }
        let block_labels: Vec<Label> = blocks.iter().map(|_| self.label()).collect();
        let mut leaf_label = |b: &mut Builder, leaf: &Leaf| match leaf {
            Leaf::Return(value) => b.ret_label(*value),
            Leaf::Block(id) => block_labels[*id],
        };
        self.load(bpf::SeccompData::NR_OFFSET);
        self.tree(&ranges, &mut leaf_label);
        for (block, label) in blocks.iter().zip(&block_labels) {
            self.define(*label);
            self.arg_block(block);
        }
        self.emit_shared_returns();
        Ok(())
    }

    /// Binary search: `jge pivot` splits the ranges in halves until one range remains.
    fn tree(
        &mut self,
        ranges: &[(u32, Leaf)],
        leaf_label: &mut impl FnMut(&mut Builder, &Leaf) -> Label,
    ) {
        match ranges {
            [] => {}
            [(_, leaf)] => {
                let target = leaf_label(self, leaf);
                self.ja(target);
            }
            _ => {
                let middle = ranges.len() / 2;
                let (left, right) = ranges.split_at(middle);
                let mut child = |b: &mut Builder, part: &[(u32, Leaf)]| match part {
                    [(_, leaf)] => (leaf_label(b, leaf), false),
                    _ => (b.label(), true),
                };
                let (left_label, left_inner) = child(self, left);
                let (right_label, right_inner) = child(self, right);
                let acc = self.acc;
                self.jump(bpf::JGE, right[0].0, right_label, left_label);
                if left_inner {
                    self.define(left_label);
                    self.acc = acc;
                    self.tree(left, leaf_label);
                }
                if right_inner {
                    self.define(right_label);
                    self.acc = acc;
                    self.tree(right, leaf_label);
                }
            }
        }
    }

    /// Rules in order; each failing condition goes to the next rule, the last rule's to the
    /// fallback; every outcome jumps to a shared return.
    fn arg_block(&mut self, block: &ArgBlock) {
        let fallback = self.ret_label(block.fallback);
        for (rule_index, (conditions, action)) in block.rules.iter().enumerate() {
            let last_rule = rule_index + 1 == block.rules.len();
            let fail = if last_rule { fallback } else { self.label() };
            let matched = self.ret_label(*action);
            for (index, &(condition, bits)) in conditions.iter().enumerate() {
                let last_condition = index + 1 == conditions.len();
                let ok = if last_condition {
                    matched
                } else {
                    self.label()
                };
                self.condition(condition, bits, ok, fail);
                if !last_condition {
                    self.define(ok);
                }
            }
            if !last_rule {
                self.define(fail);
            }
        }
    }

    /// Code that reaches `ok` when the condition holds and `fail` otherwise. 64-bit comparisons
    /// decide on the high words first and look at the low words only when those are equal.
    /// Arguments narrower than 32 bits (16-bit modes and uids) are masked to their width, and
    /// so are the values they are compared with, as the kernel truncates them.
    fn condition(&mut self, c: ArgCondition, bits: u32, ok: Label, fail: Label) {
        let lo_offset = bpf::SeccompData::args_offset(c.index);
        let hi_offset = lo_offset + 4;
        let narrow = (bits < 32).then(|| (1u32 << bits) - 1);
        let width = narrow.unwrap_or(u32::MAX);
        let (v_hi, v_lo) = ((c.value >> 32) as u32, c.value as u32 & width);
        let (t_hi, t_lo) = ((c.value_two >> 32) as u32, c.value_two as u32 & width);
        let wide = bits > 32;
        if c.op == CmpOp::MaskedEq {
            if wide {
                if v_hi == 0 {
                    if t_hi != 0 {
                        self.ja(fail);
                        return;
                    }
                } else {
                    let next = self.label();
                    self.load(hi_offset);
                    if v_hi != u32::MAX {
                        self.and(v_hi);
                    }
                    self.jump(bpf::JEQ, t_hi, next, fail);
                    self.define(next);
                }
            }
            self.load(lo_offset);
            if v_lo != u32::MAX {
                self.and(v_lo);
            }
            self.jump(bpf::JEQ, t_lo, ok, fail);
            return;
        }
        // The high-word stage: decided (ok / fail) unless the high words are equal.
        if wide {
            let next = self.label();
            self.load(hi_offset);
            match c.op {
                CmpOp::Eq => self.jump(bpf::JEQ, v_hi, next, fail),
                CmpOp::Ne => self.jump(bpf::JEQ, v_hi, next, ok),
                CmpOp::Gt | CmpOp::Ge => {
                    let equal = self.label();
                    self.jump(bpf::JGT, v_hi, ok, equal);
                    self.define(equal);
                    self.jump(bpf::JEQ, v_hi, next, fail);
                }
                CmpOp::Lt | CmpOp::Le => {
                    let equal = self.label();
                    self.jump(bpf::JGT, v_hi, fail, equal);
                    self.define(equal);
                    self.jump(bpf::JEQ, v_hi, next, ok);
                }
                CmpOp::MaskedEq => {}
            }
            self.define(next);
        }
        self.load(lo_offset);
        if let Some(mask) = narrow {
            self.and(mask);
        }
        match c.op {
            CmpOp::Eq => self.jump(bpf::JEQ, v_lo, ok, fail),
            CmpOp::Ne => self.jump(bpf::JEQ, v_lo, fail, ok),
            CmpOp::Gt => self.jump(bpf::JGT, v_lo, ok, fail),
            CmpOp::Ge => self.jump(bpf::JGE, v_lo, ok, fail),
            CmpOp::Lt => self.jump(bpf::JGE, v_lo, fail, ok),
            CmpOp::Le => self.jump(bpf::JGT, v_lo, fail, ok),
            CmpOp::MaskedEq => {}
        }
    }

    /// Resolves labels to offsets, inserting `ja` trampolines where a conditional jump would
    /// need an offset above 255, and refusing backward references.
    fn finish(mut self) -> Result<Vec<SockFilter>, Error> {
        loop {
            let (positions, far) = self.layout()?;
            let Some((item_index, far_jt, far_jf)) = far else {
                return self.resolve(&positions);
            };
            let Item::Jump { op, k, jt, jf } = self.items[item_index].clone() else {
                unreachable!("layout reports jumps only")
            };
            let mut inserted = Vec::new();
            let mut retarget = |target: Label, far: bool, this: &mut Builder| {
                if !far {
                    return target;
                }
                let trampoline = this.label();
                inserted.push(Item::Define(trampoline));
                inserted.push(Item::Ja(target));
                trampoline
            };
            let new_jt = retarget(jt, far_jt, &mut self);
            let new_jf = retarget(jf, far_jf, &mut self);
            // The trampolines sit between the jump and the code that followed it, which the jump
            // reached by label only (a conditional jump never falls through implicitly).
            self.items[item_index] = Item::Jump {
                op,
                k,
                jt: new_jt,
                jf: new_jf,
            };
            let at = item_index + 1;
            self.items.splice(at..at, inserted);
            if self.items.len() > 4 * MAX_INSTRUCTIONS {
                break;
            }
        }
        Err(Error::TooManyInstructions {
            count: self.items.len(),
            limit: MAX_INSTRUCTIONS,
        })
    }

    /// Label positions, and the first conditional jump with a target beyond 255.
    #[allow(clippy::type_complexity)]
    fn layout(&self) -> Result<(Vec<usize>, Option<(usize, bool, bool)>), Error> {
        let mut positions = vec![usize::MAX; self.labels];
        let mut pc = 0;
        for item in &self.items {
            match item {
                Item::Define(label) => positions[label.0] = pc,
                _ => pc += 1,
            }
        }
        let mut pc = 0;
        for (index, item) in self.items.iter().enumerate() {
            match item {
                Item::Define(_) => continue,
                Item::Jump { jt, jf, .. } => {
                    let far = |l: &Label| {
                        positions[l.0] != usize::MAX && positions[l.0].saturating_sub(pc + 1) > 255
                    };
                    let (far_jt, far_jf) = (far(jt), far(jf));
                    if far_jt || far_jf {
                        return Ok((positions, Some((index, far_jt, far_jf))));
                    }
                }
                _ => {}
            }
            pc += 1;
        }
        Ok((positions, None))
    }

    fn resolve(&self, positions: &[usize]) -> Result<Vec<SockFilter>, Error> {
        let mut out = Vec::with_capacity(self.items.len());
        for item in &self.items {
            let pc = out.len();
            let offset = |label: &Label| -> Result<usize, Error> {
                let target = positions[label.0];
                if target == usize::MAX || target <= pc {
                    return Err(Error::Verify {
                        index: pc,
                        message: format!("jump to an undefined or earlier label {}", label.0),
                    });
                }
                Ok(target - pc - 1)
            };
            match item {
                Item::Define(_) => {}
                Item::Insn(insn) => out.push(*insn),
                Item::Ja(label) => {
                    out.push(SockFilter::stmt(bpf::JMP | bpf::JA, offset(label)? as u32))
                }
                Item::Jump { op, k, jt, jf } => out.push(SockFilter::jump(
                    *op,
                    *k,
                    offset(jt)? as u8,
                    offset(jf)? as u8,
                )),
            }
        }
        Ok(out)
    }
}
