//! Instruction-level optimizer. Each pass returns `(program, changed)`; [`optimize`] repeats
//! them until none changes anything. Every pass keeps the verdict of every input: the tests
//! compare optimized and unoptimized programs on random data.

use crate::bpf::{self, SockFilter};

/// An optimizer pass: the new program and whether it changed anything.
pub type Pass = fn(Vec<SockFilter>) -> (Vec<SockFilter>, bool);

/// Runs every pass until a fixed point.
pub fn optimize(mut code: Vec<SockFilter>) -> Vec<SockFilter> {
    let passes: [Pass; 3] = [thread_jumps, simplify_conditionals, remove_dead];
    // Each pass only shortens jumps or removes instructions, so this terminates; the bound is
    // a guard.
    for _ in 0..64 {
        let mut changed = false;
        for pass in passes {
            let (next, did) = pass(code);
            code = next;
            changed |= did;
        }
        if !changed {
            break;
        }
    }
    code
}

fn target(index: usize, offset: u32) -> usize {
    index + 1 + offset as usize
}

/// A jump to a `ja` goes straight to the `ja`'s target (when the offset fits); a `ja` to a
/// `ret` becomes that `ret`.
pub fn thread_jumps(mut code: Vec<SockFilter>) -> (Vec<SockFilter>, bool) {
    let mut changed = false;
    // Backwards, so that chains collapse in one sweep.
    for index in (0..code.len()).rev() {
        let insn = code[index];
        if insn.is_ja() {
            let to = target(index, insn.k);
            if let Some(&dest) = code.get(to) {
                if dest.class() == bpf::RET {
                    code[index] = dest;
                    changed = true;
                } else if dest.is_ja() {
                    let final_to = target(to, dest.k);
                    let k = (final_to - index - 1) as u32;
                    if k != insn.k {
                        code[index].k = k;
                        changed = true;
                    }
                }
            }
        } else if insn.is_conditional_jump() {
            for taken in [true, false] {
                let offset = if taken { insn.jt } else { insn.jf };
                let to = target(index, u32::from(offset));
                let Some(&dest) = code.get(to) else { continue };
                if !dest.is_ja() {
                    continue;
                }
                let final_offset = target(to, dest.k) - index - 1;
                if final_offset <= 255 && final_offset != offset as usize {
                    if taken {
                        code[index].jt = final_offset as u8;
                    } else {
                        code[index].jf = final_offset as u8;
                    }
                    changed = true;
                }
            }
        }
    }
    (code, changed)
}

/// A conditional jump whose two targets are equal becomes `ja`.
pub fn simplify_conditionals(mut code: Vec<SockFilter>) -> (Vec<SockFilter>, bool) {
    let mut changed = false;
    for insn in code.iter_mut() {
        if insn.is_conditional_jump() && insn.jt == insn.jf {
            *insn = SockFilter::stmt(bpf::JMP | bpf::JA, u32::from(insn.jt));
            changed = true;
        }
    }
    (code, changed)
}

/// Removes instructions no path reaches, and `ja +0`.
pub fn remove_dead(code: Vec<SockFilter>) -> (Vec<SockFilter>, bool) {
    let mut reachable = vec![false; code.len()];
    if let Some(first) = reachable.first_mut() {
        *first = true;
    }
    for index in 0..code.len() {
        if !reachable[index] {
            continue;
        }
        let insn = code[index];
        let mut mark = |to: usize| {
            if let Some(r) = reachable.get_mut(to) {
                *r = true;
            }
        };
        match insn.class() {
            bpf::RET => {}
            bpf::JMP if insn.is_ja() => mark(target(index, insn.k)),
            bpf::JMP => {
                mark(target(index, u32::from(insn.jt)));
                mark(target(index, u32::from(insn.jf)));
            }
            _ => mark(index + 1),
        }
    }
    let keep: Vec<bool> = code
        .iter()
        .zip(&reachable)
        .map(|(insn, &r)| r && !(insn.is_ja() && insn.k == 0))
        .collect();
    if keep.iter().all(|&k| k) {
        return (code, false);
    }
    // new_index[i]: the position of the first kept instruction at or after i.
    let mut new_index = vec![0usize; code.len() + 1];
    let mut count = keep.iter().filter(|&&k| k).count();
    new_index[code.len()] = count;
    for i in (0..code.len()).rev() {
        if keep[i] {
            count -= 1;
        }
        new_index[i] = count;
    }
    let mut out = Vec::with_capacity(new_index[code.len()]);
    for (index, insn) in code.iter().enumerate() {
        if !keep[index] {
            continue;
        }
        let at = new_index[index];
        let remap = |offset: u32| (new_index[target(index, offset)] - at - 1) as u32;
        let mut insn = *insn;
        if insn.is_ja() {
            insn.k = remap(insn.k);
        } else if insn.is_conditional_jump() {
            insn.jt = remap(u32::from(insn.jt)) as u8;
            insn.jf = remap(u32::from(insn.jf)) as u8;
        }
        out.push(insn);
    }
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::{JA, JEQ, JMP, K, RET, RET_ALLOW, RET_ERRNO};

    fn ja(k: u32) -> SockFilter {
        SockFilter::stmt(JMP | JA, k)
    }
    fn ret(k: u32) -> SockFilter {
        SockFilter::stmt(RET | K, k)
    }

    #[test]
    fn passes_table() {
        let jeq = |k, jt, jf| SockFilter::jump(JMP | JEQ | K, k, jt, jf);
        let cases: Vec<(&str, Pass, Vec<SockFilter>, Vec<SockFilter>)> = vec![
            (
                "ja to ret becomes ret",
                thread_jumps,
                vec![ja(1), ret(1), ret(RET_ALLOW)],
                vec![ret(RET_ALLOW), ret(1), ret(RET_ALLOW)],
            ),
            (
                "conditional through ja (the ja itself becomes its ret first)",
                thread_jumps,
                vec![jeq(5, 0, 1), ret(1), ja(1), ret(2), ret(3)],
                vec![jeq(5, 0, 1), ret(1), ret(3), ret(2), ret(3)],
            ),
            (
                "conditional through a ja chain",
                thread_jumps,
                vec![jeq(5, 0, 1), ret(1), ja(0), ja(0), jeq(6, 0, 0), ret(3)],
                vec![jeq(5, 0, 3), ret(1), ja(1), ja(0), jeq(6, 0, 0), ret(3)],
            ),
            (
                "equal targets",
                simplify_conditionals,
                vec![jeq(5, 1, 1), ret(1), ret(2)],
                vec![ja(1), ret(1), ret(2)],
            ),
            (
                "dead code and ja 0",
                remove_dead,
                vec![jeq(5, 1, 3), ret(1), ja(0), ret(RET_ERRNO), ret(9)],
                vec![jeq(5, 0, 1), ret(RET_ERRNO), ret(9)],
            ),
        ];
        for (name, pass, input, want) in cases {
            let (got, changed) = pass(input.clone());
            assert_eq!(got, want, "{name}");
            assert_eq!(changed, input != want, "{name}");
        }
    }
}
