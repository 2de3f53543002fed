//! Learning a seccomp profile from a traced run: every syscall the run made, by name, with
//! argument constraints where the argument decides what the call can do.
//!
//! The profile is the smallest one that lets the same run pass:
//! - default action `SCMP_ACT_ERRNO` with ENOSYS: a program meeting a call it did not make
//!   while learning sees "not implemented" and takes its fallback path if it has one (as with
//!   syscalls newer than a profile); EPERM would make it fail as if refused by a permission.
//! - `socket` by address family, `personality` by persona and `prctl` by option: one rule
//!   per value seen (exact match on the `int` argument).
//! - `clone` and `unshare` by flags: namespace-creating flags are refused except those the
//!   run used with that call (`arg0 & NS_FLAGS_NOT_SEEN == 0`), as Docker's profile does.
//! - `clone3`: its flags live in memory a filter cannot read, so it gets ENOSYS (libc then
//!   falls back to `clone`, whose flags are checked) and its flags are allowed on `clone`.
//! - Only the ABIs the run used are listed; names are sorted so the output is deterministic.
//!
//! Several runs make one profile when each run is added to the profile the others wrote
//! ([`Learner::from_policy`], [`Learner::absorb`]; `--learn FILE --merge`): what any of them
//! used is allowed.

use nativeguard_seccomp::{Action, CmpOp, Policy, Rule};
use nativeguard_syscalls::Arch;
use std::collections::{BTreeMap, BTreeSet};

/// `ENOSYS`: the errno of calls the learned profile does not allow.
pub const ENOSYS: u16 = 38;

/// Every `CLONE_NEW*` flag. `CLONE_NEWTIME` (0x80) shares its bit with `clone`'s exit-signal
/// byte, where no valid signal (all are below 65) sets it, so refusing it there is harmless.
pub const CLONE_NAMESPACE_FLAGS: u64 = 0x0000_0080 // CLONE_NEWTIME
    | 0x0002_0000 // CLONE_NEWNS
    | 0x0200_0000 // CLONE_NEWCGROUP
    | 0x0400_0000 // CLONE_NEWUTS
    | 0x0800_0000 // CLONE_NEWIPC
    | 0x1000_0000 // CLONE_NEWUSER
    | 0x2000_0000 // CLONE_NEWPID
    | 0x4000_0000; // CLONE_NEWNET

/// How the arguments of one syscall are learned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Usage {
    /// Allowed with any arguments.
    Any,
    /// Allowed for these values of an `int` argument.
    Values { index: u8, values: BTreeSet<u64> },
    /// `clone` or `unshare`: the namespace flags used.
    CloneFlags { namespaces: u64 },
}

/// What a traced run used, accumulated stop by stop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Learner {
    arches: BTreeSet<Arch>,
    calls: BTreeMap<String, Usage>,
    unnamed: BTreeSet<(Arch, u64)>,
    clone3_namespaces: Option<u64>,
}

/// The `int` argument that decides what a call does, for the calls constrained by value.
fn value_argument(name: &str) -> Option<u8> {
    match name {
        "socket" | "personality" | "prctl" => Some(0),
        _ => None,
    }
}

impl Learner {
    /// A learner that has seen nothing.
    pub fn new() -> Learner {
        Learner::default()
    }

    /// Records one syscall entry. `read` reads the caller's memory (for `clone3`'s flags).
    pub fn record(
        &mut self,
        arch: Arch,
        name: Option<&str>,
        number: u64,
        args: &[u64; 6],
        read: &mut dyn FnMut(u64, &mut [u8]) -> usize,
    ) {
        self.arches.insert(arch);
        let Some(name) = name else {
            self.unnamed.insert((arch, number));
            return;
        };
        if name == "clone3" {
            let mut flags = [0u8; 8];
            let pointer = if arch == Arch::I386 {
                args[0] & 0xffff_ffff
            } else {
                args[0]
            };
            let namespaces = if read(pointer, &mut flags) == flags.len() {
                u64::from_ne_bytes(flags) & CLONE_NAMESPACE_FLAGS
            } else {
                // Unreadable: do not guess that no namespace was asked for.
                CLONE_NAMESPACE_FLAGS
            };
            *self.clone3_namespaces.get_or_insert(0) |= namespaces;
            return;
        }
        if name == "clone" || name == "unshare" {
            let entry = self
                .calls
                .entry(name.to_string())
                .or_insert(Usage::CloneFlags { namespaces: 0 });
            if let Usage::CloneFlags { namespaces } = entry {
                *namespaces |= args[0] & CLONE_NAMESPACE_FLAGS;
            }
            return;
        }
        match value_argument(name) {
            Some(index) => {
                let entry = self
                    .calls
                    .entry(name.to_string())
                    .or_insert_with(|| Usage::Values {
                        index,
                        values: BTreeSet::new(),
                    });
                if let Usage::Values { values, .. } = entry {
                    values.insert(args[usize::from(index)] & 0xffff_ffff);
                }
            }
            None => {
                self.calls.entry(name.to_string()).or_insert(Usage::Any);
            }
        }
    }

    /// A learner holding what an earlier `--learn` run wrote, so that the next run can be
    /// added to it (`nativeguard trace --learn FILE --merge`). Only the shapes [`Learner::to_policy`]
    /// writes are read back; anything else (another default action, a rule of another shape,
    /// an action other than allow) is refused with the rule's place, because merging it could
    /// silently widen or narrow what the profile meant.
    pub fn from_policy(policy: &Policy) -> Result<Learner, crate::Error> {
        let refuse = |why: String| crate::Error::Merge { message: why };
        if policy.default_action != Action::Errno(ENOSYS) {
            return Err(refuse(format!(
                "its default action is {:?}, not the ENOSYS errno --learn writes",
                policy.default_action
            )));
        }
        if !policy.flags.is_empty() || policy.listener_path.is_some() {
            return Err(refuse(
                "it sets filter flags or a listener, which --learn never writes".to_string(),
            ));
        }
        let mut learner = Learner {
            arches: policy.arches.iter().copied().collect(),
            ..Learner::default()
        };
        for (index, rule) in policy.rules.iter().enumerate() {
            let place = |why: &str| {
                refuse(format!(
                    "syscalls[{index}] ({}): {why}",
                    rule.names.join(", ")
                ))
            };
            match (
                rule.action,
                rule.conditions.as_slice(),
                rule.names.as_slice(),
            ) {
                // Allowed with any arguments: wider than any other rule for the name.
                (Action::Allow, [], names) => {
                    for name in names {
                        learner.calls.insert(name.clone(), Usage::Any);
                    }
                }
                (Action::Allow, [condition], [name])
                    if value_argument(name) == Some(condition.index) =>
                {
                    if condition.op != CmpOp::Eq {
                        return Err(place("a value rule must compare with equality"));
                    }
                    let usage =
                        learner
                            .calls
                            .entry(name.clone())
                            .or_insert_with(|| Usage::Values {
                                index: condition.index,
                                values: BTreeSet::new(),
                            });
                    if let Usage::Values { values, .. } = usage {
                        values.insert(condition.value);
                    }
                }
                (Action::Allow, [condition], [name]) if name == "clone" || name == "unshare" => {
                    let refused = condition.value;
                    if condition.index != 0
                        || condition.op != CmpOp::MaskedEq
                        || condition.value_two != 0
                        || refused & !CLONE_NAMESPACE_FLAGS != 0
                    {
                        return Err(place("not the namespace-flags rule --learn writes"));
                    }
                    let namespaces = CLONE_NAMESPACE_FLAGS & !refused;
                    match learner
                        .calls
                        .entry(name.clone())
                        .or_insert(Usage::CloneFlags { namespaces: 0 })
                    {
                        Usage::CloneFlags { namespaces: seen } => *seen |= namespaces,
                        // Allowed with any flags by an earlier rule: stays so.
                        Usage::Any => {}
                        Usage::Values { .. } => return Err(place("not a rule --learn writes")),
                    }
                }
                // clone3's namespaces were folded into clone's rule when it was written.
                (Action::Errno(ENOSYS), [], [name]) if name == "clone3" => {
                    learner.clone3_namespaces = Some(0);
                }
                _ => return Err(place("not a rule --learn writes")),
            }
        }
        Ok(learner)
    }

    /// Adds what `other` holds: a call either allows stays allowed, with the values and
    /// namespaces of both (used to merge runs that wrote one profile concurrently).
    pub fn absorb(&mut self, other: Learner) {
        self.arches.extend(other.arches);
        self.unnamed.extend(other.unnamed);
        if let Some(namespaces) = other.clone3_namespaces {
            *self.clone3_namespaces.get_or_insert(0) |= namespaces;
        }
        for (name, usage) in other.calls {
            let Some(mine) = self.calls.get_mut(&name) else {
                self.calls.insert(name, usage);
                continue;
            };
            match (mine, usage) {
                (Usage::Any, _) => {}
                (mine, Usage::Any) => *mine = Usage::Any,
                (Usage::Values { values, .. }, Usage::Values { values: more, .. }) => {
                    values.extend(more);
                }
                (Usage::CloneFlags { namespaces }, Usage::CloneFlags { namespaces: more }) => {
                    *namespaces |= more;
                }
                // Two shapes for one name cannot come from --learn; allowing any arguments
                // is what both together would need.
                (mine, _) => *mine = Usage::Any,
            }
        }
    }

    /// Syscall numbers the run made that have no name in the tables (they cannot be allowed
    /// by name, so the profile refuses them: report them to the user).
    pub fn unnamed(&self) -> impl Iterator<Item = (Arch, u64)> + '_ {
        self.unnamed.iter().copied()
    }

    /// How many distinct syscalls the run made (by name).
    pub fn len(&self) -> usize {
        self.calls.len() + usize::from(self.clone3_namespaces.is_some())
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The learned policy as OCI `linux.seccomp` JSON (what `--learn FILE` writes; loadable
    /// with `Policy::from_oci_json` and by `nativeguard sandbox --policy`).
    pub fn to_oci_json(&self) -> Result<String, crate::Error> {
        self.to_policy()
            .to_oci_json()
            .map_err(|e| crate::Error::Learn {
                message: e.to_string(),
            })
    }

    /// The smallest policy that lets the learned run pass (see the module notes).
    pub fn to_policy(&self) -> Policy {
        let mut allowed = Vec::new();
        let mut constrained = Vec::new();
        let mut calls = self.calls.clone();
        if let Some(namespaces) = self.clone3_namespaces {
            match calls
                .entry("clone".to_string())
                .or_insert(Usage::CloneFlags { namespaces: 0 })
            {
                Usage::CloneFlags { namespaces: seen } => *seen |= namespaces,
                other => *other = Usage::CloneFlags { namespaces },
            }
        }
        for (name, usage) in &calls {
            match usage {
                Usage::Any => allowed.push(name.as_str()),
                Usage::Values { index, values } => {
                    for &value in values {
                        let mut rule = Rule::new(&[name.as_str()], Action::Allow).with(
                            *index,
                            CmpOp::Eq,
                            value,
                            0,
                        );
                        rule.comment = Some(format!("learned: {name} arg{index} = {value:#x}"));
                        constrained.push(rule);
                    }
                }
                Usage::CloneFlags { namespaces } => {
                    let refused = CLONE_NAMESPACE_FLAGS & !namespaces;
                    let mut rule = Rule::new(&[name.as_str()], Action::Allow).with(
                        0,
                        CmpOp::MaskedEq,
                        refused,
                        0,
                    );
                    rule.comment = Some(format!(
                        "learned: {name} without namespace flags other than {namespaces:#x}"
                    ));
                    constrained.push(rule);
                }
            }
        }
        let mut rules = Vec::new();
        if !allowed.is_empty() {
            let mut rule = Rule::new(&allowed, Action::Allow);
            rule.comment = Some("learned: called with any arguments".to_string());
            rules.push(rule);
        }
        rules.extend(constrained);
        if self.clone3_namespaces.is_some() {
            let mut rule = Rule::new(&["clone3"], Action::Errno(ENOSYS));
            rule.comment = Some(
                "clone3 flags are in memory a filter cannot read: ENOSYS makes libc fall back \
                 to clone, whose flags are checked"
                    .to_string(),
            );
            rules.push(rule);
        }
        Policy {
            default_action: Action::Errno(ENOSYS),
            arches: self.arches.iter().copied().collect(),
            rules,
            ..Policy::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_memory(_: u64, _: &mut [u8]) -> usize {
        0
    }

    #[test]
    fn learns_names_values_and_clone_flags() {
        let mut learner = Learner::new();
        let x = Arch::X86_64;
        learner.record(x, Some("read"), 0, &[0; 6], &mut no_memory);
        learner.record(x, Some("read"), 0, &[1; 6], &mut no_memory);
        learner.record(
            x,
            Some("socket"),
            41,
            &[0x1_0000_0002, 1, 0, 0, 0, 0],
            &mut no_memory,
        );
        learner.record(x, Some("socket"), 41, &[1, 1, 0, 0, 0, 0], &mut no_memory);
        learner.record(
            x,
            Some("clone"),
            56,
            &[0x0120_0011, 0, 0, 0, 0, 0],
            &mut no_memory,
        );
        learner.record(x, None, 999, &[0; 6], &mut no_memory);
        assert_eq!(learner.len(), 3);
        assert_eq!(learner.unnamed().collect::<Vec<_>>(), vec![(x, 999)]);
        let policy = learner.to_policy();
        assert_eq!(policy.default_action, Action::Errno(ENOSYS));
        assert_eq!(policy.arches, vec![x]);
        assert_eq!(policy.rules[0].names, vec!["read".to_string()]);
        assert!(policy.rules[0].conditions.is_empty());
        let clone = &policy.rules[1];
        assert_eq!(clone.names, vec!["clone".to_string()]);
        assert_eq!(clone.conditions[0].op, CmpOp::MaskedEq);
        assert_eq!(clone.conditions[0].value, CLONE_NAMESPACE_FLAGS);
        // The int argument is learned on its low 32 bits: 0x1_0000_0002 is AF_INET (2).
        let families: Vec<u64> = policy.rules[2..]
            .iter()
            .map(|r| r.conditions[0].value)
            .collect();
        assert_eq!(families, vec![1, 2]);
    }

    #[test]
    fn clone3_becomes_enosys_and_its_namespaces_move_to_clone() {
        let mut learner = Learner::new();
        let mut memory = |address: u64, buf: &mut [u8]| {
            assert_eq!(address, 0x1000);
            buf.copy_from_slice(&(0x1000_0000u64 | 0x0001_0000).to_ne_bytes()); // NEWUSER | THREAD
            8
        };
        learner.record(
            Arch::X86_64,
            Some("clone3"),
            435,
            &[0x1000, 88, 0, 0, 0, 0],
            &mut memory,
        );
        let policy = learner.to_policy();
        let clone = policy
            .rules
            .iter()
            .find(|r| r.names == ["clone"])
            .map(|r| r.conditions[0].value);
        assert_eq!(clone, Some(CLONE_NAMESPACE_FLAGS & !0x1000_0000));
        let clone3 = policy.rules.iter().find(|r| r.names == ["clone3"]);
        assert_eq!(clone3.map(|r| r.action), Some(Action::Errno(ENOSYS)));
    }

    #[test]
    fn oci_json_round_trips_and_compiles() {
        use nativeguard_seccomp::{compile, CompileOptions, ResolveOptions};
        let mut learner = Learner::new();
        for (name, arg) in [("openat", 0), ("socket", 1), ("socket", 10), ("prctl", 15)] {
            learner.record(
                Arch::X86_64,
                Some(name),
                0,
                &[arg, 0, 0, 0, 0, 0],
                &mut no_memory,
            );
        }
        learner.record(Arch::I386, Some("read"), 3, &[0; 6], &mut no_memory);
        let json = learner.to_oci_json().unwrap();
        assert_eq!(
            json,
            learner.clone().to_oci_json().unwrap(),
            "deterministic"
        );
        let parsed = Policy::from_oci_json(&json, &ResolveOptions::default())
            .unwrap_or_else(|e| panic!("{e}\n{json}"));
        assert_eq!(parsed, learner.to_policy());
        assert!(json.contains("\"defaultErrnoRet\": 38"), "{json}");
        assert!(json.contains("SCMP_ARCH_X86"), "{json}");
        let program = compile(&parsed, &parsed.arches, &CompileOptions::default());
        assert!(program.is_ok(), "{program:?}");
    }

    /// Records one call of `name` on `arch` whose first argument is `arg0`: the only argument
    /// the learner reads, but for clone3's flags, which are in memory.
    fn saw(learner: &mut Learner, arch: Arch, name: &str, arg0: u64) {
        learner.record(arch, Some(name), 0, &[arg0, 0, 0, 0, 0, 0], &mut no_memory);
    }

    /// A learner that has seen one of each shape the profile can hold.
    fn every_shape() -> Learner {
        let mut learner = Learner::new();
        let x = Arch::X86_64;
        let mut clone3_flags = |_: u64, buf: &mut [u8]| {
            buf.copy_from_slice(&0x0400_0000u64.to_ne_bytes()); // CLONE_NEWUTS
            8
        };
        saw(&mut learner, x, "read", 0);
        saw(&mut learner, x, "socket", 2);
        saw(&mut learner, x, "socket", 10);
        saw(&mut learner, x, "prctl", 15);
        saw(&mut learner, x, "unshare", 0x0002_0000);
        saw(&mut learner, x, "clone", 0x0120_0011);
        learner.record(
            x,
            Some("clone3"),
            435,
            &[0x1000, 88, 0, 0, 0, 0],
            &mut clone3_flags,
        );
        saw(&mut learner, Arch::I386, "write", 0);
        learner
    }

    #[test]
    fn a_written_profile_reads_back_as_the_same_profile() {
        use nativeguard_seccomp::ResolveOptions;
        let learner = every_shape();
        let json = learner.to_oci_json().unwrap_or_else(|e| panic!("{e}"));
        let parsed = Policy::from_oci_json(&json, &ResolveOptions::default())
            .unwrap_or_else(|e| panic!("{e}\n{json}"));
        let read_back = Learner::from_policy(&parsed).unwrap_or_else(|e| panic!("{e}\n{json}"));
        assert_eq!(read_back.to_policy(), learner.to_policy());
        assert_eq!(read_back.len(), learner.len());
    }

    #[test]
    fn a_second_run_adds_to_the_first_runs_profile() {
        let x = Arch::X86_64;
        let mut first = Learner::new();
        saw(&mut first, x, "read", 0);
        saw(&mut first, x, "socket", 2);
        saw(&mut first, x, "clone", 0x2000_0000);
        let mut second = Learner::from_policy(&first.to_policy()).unwrap_or_else(|e| panic!("{e}"));
        saw(&mut second, x, "write", 0);
        saw(&mut second, x, "socket", 1);
        saw(&mut second, x, "clone", 0x0002_0000);
        let policy = second.to_policy();
        assert_eq!(
            policy.rules[0].names,
            vec!["read".to_string(), "write".to_string()]
        );
        let clone = policy.rules.iter().find(|r| r.names == ["clone"]);
        // Both runs' namespaces (NEWPID, then NEWNS) are allowed, no other.
        assert_eq!(
            clone.map(|r| r.conditions[0].value),
            Some(CLONE_NAMESPACE_FLAGS & !(0x2000_0000 | 0x0002_0000))
        );
        let families: Vec<u64> = policy
            .rules
            .iter()
            .filter(|r| r.names == ["socket"])
            .map(|r| r.conditions[0].value)
            .collect();
        assert_eq!(families, vec![1, 2]);
    }

    #[test]
    fn absorbing_another_learner_unions_both_runs() {
        let x = Arch::X86_64;
        let mut first = Learner::new();
        saw(&mut first, x, "read", 0);
        saw(&mut first, x, "socket", 2);
        saw(&mut first, x, "unshare", 0x0002_0000);
        let mut second = Learner::new();
        saw(&mut second, x, "write", 0);
        saw(&mut second, x, "socket", 1);
        saw(&mut second, x, "unshare", 0x4000_0000);
        saw(&mut second, Arch::I386, "read", 0);
        let mut both = first.clone();
        both.absorb(second.clone());
        // The same as one learner that saw both runs.
        let mut one = first;
        for (arch, name, arg0) in [
            (x, "write", 0),
            (x, "socket", 1),
            (x, "unshare", 0x4000_0000),
            (Arch::I386, "read", 0),
        ] {
            saw(&mut one, arch, name, arg0);
        }
        assert_eq!(both.to_policy(), one.to_policy());
        // Allow-any wins over a value rule, whichever side holds it.
        let mut any = Learner::from_policy(&Policy {
            rules: vec![Rule::new(&["socket"], Action::Allow)],
            ..both.to_policy()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        any.absorb(both.clone());
        both.absorb(any.clone());
        for learner in [any, both] {
            let socket = learner
                .to_policy()
                .rules
                .into_iter()
                .filter(|r| r.names.contains(&"socket".to_string()))
                .collect::<Vec<_>>();
            assert_eq!(socket.len(), 1, "{socket:?}");
            assert!(socket[0].conditions.is_empty(), "{socket:?}");
        }
    }

    #[test]
    fn a_profile_not_written_by_learn_is_refused_with_its_place() {
        let mut policy = every_shape().to_policy();
        policy.default_action = Action::Errno(1);
        let refused = Learner::from_policy(&policy).map(|l| l.len());
        assert!(
            matches!(&refused, Err(crate::Error::Merge { message }) if message.contains("default action")),
            "{refused:?}"
        );
        let mut policy = every_shape().to_policy();
        let index = policy.rules.len();
        policy.rules.push(Rule::new(&["ptrace"], Action::Trace(7)));
        let refused = Learner::from_policy(&policy).map(|l| l.len());
        let expected = format!("syscalls[{index}] (ptrace)");
        assert!(
            matches!(&refused, Err(crate::Error::Merge { message }) if message.contains(&expected)),
            "{refused:?}"
        );
        // A socket rule that is not an equality would be read as one: refused.
        let mut policy = every_shape().to_policy();
        policy
            .rules
            .push(Rule::new(&["socket"], Action::Allow).with(0, CmpOp::Ge, 2, 0));
        assert!(Learner::from_policy(&policy).is_err());
    }

    #[test]
    fn unreadable_clone3_flags_allow_no_namespace_less() {
        let mut learner = Learner::new();
        learner.record(
            Arch::X86_64,
            Some("clone3"),
            435,
            &[0x1000, 88, 0, 0, 0, 0],
            &mut no_memory,
        );
        let policy = learner.to_policy();
        let clone = policy.rules.iter().find(|r| r.names == ["clone"]);
        assert_eq!(clone.map(|r| r.conditions[0].value), Some(0));
    }
    #[test]
    fn unshare_allows_only_the_namespaces_the_run_created() {
        use nativeguard_seccomp::{compile, simulate, CompileOptions, SeccompData};
        // The run made a private mount namespace with unshare(CLONE_NEWNS) and cloned
        // threads; namespace flags it never used must stay refused, through unshare as
        // through clone.
        let mut learner = Learner::new();
        let x = Arch::X86_64;
        learner.record(
            x,
            Some("unshare"),
            272,
            &[0x0002_0000, 0, 0, 0, 0, 0],
            &mut no_memory,
        );
        learner.record(
            x,
            Some("clone"),
            56,
            &[0x003d_0f00, 0, 0, 0, 0, 0],
            &mut no_memory,
        );
        let policy = learner.to_policy();
        let program = compile(&policy, &policy.arches, &CompileOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let verdict = |name: &str, flags: u64| {
            let nr = nativeguard_syscalls::lookup(x, name).unwrap_or(u32::MAX);
            simulate(&program, &SeccompData::new(x, nr, [flags, 0, 0, 0, 0, 0]))
        };
        let allow = Action::Allow.to_ret();
        assert_eq!(verdict("unshare", 0x0002_0000), allow, "the run's own call");
        let user_and_net = 0x1000_0000 | 0x4000_0000;
        assert_ne!(
            verdict("clone", user_and_net),
            allow,
            "clone(NEWUSER|NEWNET)"
        );
        assert_ne!(
            verdict("unshare", user_and_net),
            allow,
            "unshare(CLONE_NEWUSER|CLONE_NEWNET) was never made but is allowed"
        );
    }
}
