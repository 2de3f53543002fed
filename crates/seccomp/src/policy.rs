//! The policy model and its direct interpreter (the reference the compiled program is tested
//! against).

use crate::bpf::{self, SeccompData};
use crate::CompileOptions;
use nativeguard_syscalls::{Arch, X32_SYSCALL_BIT};

/// What the kernel does with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Run the call.
    Allow,
    /// Fail the call with this errno (at most 4095, the kernel's `MAX_ERRNO`).
    Errno(u16),
    /// Kill the whole process.
    KillProcess,
    /// Kill the calling thread.
    KillThread,
    /// Send SIGSYS.
    Trap,
    /// Notify a ptrace tracer with this message (ENOSYS when there is no tracer).
    Trace(u16),
    /// Run the call and log it.
    Log,
    /// Ask the user-space supervisor holding the listener fd.
    UserNotif,
}

impl Action {
    /// The `SECCOMP_RET_*` value of this action.
    pub fn to_ret(self) -> u32 {
        match self {
            Action::Allow => bpf::RET_ALLOW,
            Action::Errno(errno) => bpf::RET_ERRNO | u32::from(errno),
            Action::KillProcess => bpf::RET_KILL_PROCESS,
            Action::KillThread => bpf::RET_KILL_THREAD,
            Action::Trap => bpf::RET_TRAP,
            Action::Trace(data) => bpf::RET_TRACE | u32::from(data),
            Action::Log => bpf::RET_LOG,
            Action::UserNotif => bpf::RET_USER_NOTIF,
        }
    }

    /// The action of a `SECCOMP_RET_*` value, when it is one.
    pub fn from_ret(ret: u32) -> Option<Action> {
        let data = (ret & bpf::RET_DATA) as u16;
        Some(match ret & bpf::RET_ACTION_FULL {
            bpf::RET_ALLOW => Action::Allow,
            bpf::RET_ERRNO => Action::Errno(data),
            bpf::RET_KILL_PROCESS => Action::KillProcess,
            bpf::RET_KILL_THREAD => Action::KillThread,
            bpf::RET_TRAP => Action::Trap,
            bpf::RET_TRACE => Action::Trace(data),
            bpf::RET_LOG => Action::Log,
            bpf::RET_USER_NOTIF => Action::UserNotif,
            _ => return None,
        })
    }

    /// The kernel's precedence: lower is more restrictive (`KILL_PROCESS` first, `ALLOW` last).
    /// When several rules match one call the most restrictive wins, as when the kernel combines
    /// stacked filters.
    pub fn precedence(self) -> i32 {
        (self.to_ret() & bpf::RET_ACTION_FULL) as i32
    }
}

/// How an argument is compared with a rule's value (libseccomp's `SCMP_CMP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `arg == value`.
    Eq,
    /// `arg != value`.
    Ne,
    /// `arg < value` (unsigned).
    Lt,
    /// `arg <= value` (unsigned).
    Le,
    /// `arg > value` (unsigned).
    Gt,
    /// `arg >= value` (unsigned).
    Ge,
    /// `arg & value == value_two`.
    MaskedEq,
}

impl CmpOp {
    /// Every operator.
    pub const ALL: [CmpOp; 7] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::MaskedEq,
    ];
}

/// One comparison on one argument.
///
/// The comparison uses as many low bits of the argument as the kernel reads for that syscall
/// and ABI ([`nativeguard_syscalls::ArgType::bits`]): 32 for an `int` argument or any argument
/// of i386, 64 otherwise. The rule's values are truncated the same way. So `socket` with
/// `arg0 == 16` (AF_NETLINK) also matches `0x1_0000_0010`, as the kernel does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArgCondition {
    /// Argument index, 0 to 5.
    pub index: u8,
    /// Operator.
    pub op: CmpOp,
    /// Operand (the mask for [`CmpOp::MaskedEq`]).
    pub value: u64,
    /// Second operand: the expected masked value for [`CmpOp::MaskedEq`], unused otherwise.
    pub value_two: u64,
}

impl ArgCondition {
    /// Whether `arg` satisfies the condition when the kernel reads `bits` low bits of it.
    pub fn matches(&self, arg: u64, bits: u32) -> bool {
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let (arg, value, two) = (arg & mask, self.value & mask, self.value_two & mask);
        match self.op {
            CmpOp::Eq => arg == value,
            CmpOp::Ne => arg != value,
            CmpOp::Lt => arg < value,
            CmpOp::Le => arg <= value,
            CmpOp::Gt => arg > value,
            CmpOp::Ge => arg >= value,
            CmpOp::MaskedEq => arg & value == two,
        }
    }
}

/// One rule: for any of `names`, when every condition holds, take `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Syscall names (names absent from an ABI's table do not apply to that ABI).
    pub names: Vec<String>,
    /// Action when the rule matches.
    pub action: Action,
    /// Conditions, all of which must hold (an empty list always holds).
    pub conditions: Vec<ArgCondition>,
    /// Free text carried to and from OCI JSON.
    pub comment: Option<String>,
}

impl Rule {
    /// A rule without conditions.
    pub fn new(names: &[&str], action: Action) -> Rule {
        Rule {
            names: names.iter().map(|n| n.to_string()).collect(),
            action,
            conditions: Vec::new(),
            comment: None,
        }
    }

    /// Adds a condition.
    pub fn with(mut self, index: u8, op: CmpOp, value: u64, value_two: u64) -> Rule {
        self.conditions.push(ArgCondition {
            index,
            op,
            value,
            value_two,
        });
        self
    }
}

/// A seccomp policy: a default action and rules. Semantics (shared by the compiler and
/// [`Policy::evaluate`]):
///
/// * a call from an ABI outside the compiled set gets [`CompileOptions::bad_arch_action`];
/// * a number above the ABI's highest known syscall gets [`CompileOptions::too_new_action`]
///   (ENOSYS by default) when set;
/// * a hole (a number below the highest that the ABI's table lacks: x32's x86_64-only numbers,
///   x86_64's reserved 336..=423) has no kernel code behind it — the kernel answers ENOSYS
///   whatever the filter allows — and takes the verdict of the syscall numbered just below it,
///   so that ranges merge across it; below the first syscall it gets the default action;
/// * otherwise the matching rules' most restrictive action (ties: the earlier rule), or
///   [`Policy::default_action`] when none matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Action for calls no rule matches.
    pub default_action: Action,
    /// ABIs named by the policy (`architectures` / `archMap`); informational, since the
    /// compiler takes its ABIs as an argument.
    pub arches: Vec<Arch>,
    /// Rules, in file order.
    pub rules: Vec<Rule>,
    /// OCI `flags` (`SECCOMP_FILTER_FLAG_*` names), kept for the loader.
    pub flags: Vec<String>,
    /// OCI `listenerPath`, kept for the loader.
    pub listener_path: Option<String>,
    /// Skip syscall names unknown on every ABI instead of failing.
    pub tolerate_unknown: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            default_action: Action::Errno(1),
            arches: Vec::new(),
            rules: Vec::new(),
            flags: Vec::new(),
            listener_path: None,
            tolerate_unknown: false,
        }
    }
}

/// Which ABI a call comes from, among `arches`; `None` for ABIs outside the set.
pub(crate) fn abi_of(data: &SeccompData, arches: &[Arch]) -> Option<Arch> {
    arches.iter().copied().find(|&arch| {
        arch.audit_arch() == data.arch
            && match arch {
                Arch::X86_64 => data.nr & X32_SYSCALL_BIT == 0,
                Arch::X32 => data.nr & X32_SYSCALL_BIT != 0,
                _ => true,
            }
    })
}

impl Policy {
    /// The direct interpreter: the verdict (`SECCOMP_RET_*`) of the policy compiled for
    /// `arches` with `options` on `data`, computed from the model without BPF.
    pub fn evaluate(&self, arches: &[Arch], options: &CompileOptions, data: &SeccompData) -> u32 {
        let Some(arch) = abi_of(data, arches) else {
            return options.bad_arch_action.to_ret();
        };
        if data.nr > arch.highest_nr() {
            return options
                .too_new_action
                .unwrap_or(self.default_action)
                .to_ret();
        }
        // A hole takes the verdict of the syscall numbered just below it.
        let table = arch.syscalls();
        let below = table.partition_point(|s| s.nr <= data.nr);
        let Some(syscall) = below.checked_sub(1).and_then(|i| table.get(i)) else {
            return self.default_action.to_ret();
        };
        let mut verdict: Option<Action> = None;
        for rule in &self.rules {
            if !rule.names.iter().any(|n| n == syscall.name) {
                continue;
            }
            let holds = rule.conditions.iter().all(|c| {
                let bits = syscall
                    .args
                    .get(usize::from(c.index))
                    .map_or(arch.register_bits(), |t| t.bits(arch));
                data.args
                    .get(usize::from(c.index))
                    .is_some_and(|&arg| c.matches(arg, bits))
            });
            if holds && verdict.is_none_or(|v| rule.action.precedence() < v.precedence()) {
                verdict = Some(rule.action);
            }
        }
        verdict.unwrap_or(self.default_action).to_ret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_arguments_compare_on_their_low_32_bits() {
        let c = ArgCondition {
            index: 0,
            op: CmpOp::Eq,
            value: 16,
            value_two: 0,
        };
        assert!(c.matches(0x1_0000_0010, 32));
        assert!(!c.matches(0x1_0000_0010, 64));
        let m = ArgCondition {
            index: 0,
            op: CmpOp::MaskedEq,
            value: u64::MAX,
            value_two: 0x10,
        };
        assert!(m.matches(0x1_0000_0010, 32));
        assert!(!m.matches(0x1_0000_0010, 64));
    }

    #[test]
    fn most_restrictive_matching_rule_wins() {
        let policy = Policy {
            default_action: Action::Allow,
            rules: vec![
                Rule::new(&["getppid"], Action::Log),
                Rule::new(&["getppid"], Action::Errno(5)),
                Rule::new(&["getppid"], Action::Errno(6)),
            ],
            ..Policy::default()
        };
        let arches = [Arch::X86_64];
        let opts = CompileOptions::default();
        let call = SeccompData::new(Arch::X86_64, 110, [0; 6]);
        assert_eq!(policy.evaluate(&arches, &opts, &call), bpf::RET_ERRNO | 5);
        let i386 = SeccompData::new(Arch::I386, 64, [0; 6]);
        assert_eq!(
            policy.evaluate(&arches, &opts, &i386),
            bpf::RET_KILL_PROCESS
        );
        let x32 = SeccompData::new(Arch::X32, X32_SYSCALL_BIT | 110, [0; 6]);
        assert_eq!(policy.evaluate(&arches, &opts, &x32), bpf::RET_KILL_PROCESS);
        let newer = SeccompData::new(Arch::X86_64, 4000, [0; 6]);
        assert_eq!(policy.evaluate(&arches, &opts, &newer), bpf::RET_ERRNO | 38);
    }
}
