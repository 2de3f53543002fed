//! The OCI writer never widens a policy: OCI readers (runc, and ours) take conditions on a
//! repeated argument index as separate rules, any one of which suffices.

use nativeguard_seccomp::{
    compile, simulate, Action, CmpOp, CompileOptions, Error, Policy, ResolveOptions, Rule,
    SeccompData,
};
use nativeguard_syscalls::{lookup, Arch};

fn socket_family_range() -> Policy {
    Policy {
        default_action: Action::Errno(1),
        rules: vec![Rule::new(&["socket"], Action::Allow)
            .with(0, CmpOp::Ge, 1, 0)
            .with(0, CmpOp::Le, 2, 0)],
        ..Policy::default()
    }
}

/// "1 <= family <= 2" holds both conditions; written as one OCI entry it would read back as
/// "family >= 1 or family <= 2" and let socket(AF_NETLINK) through. The writer refuses it.
#[test]
fn two_conditions_on_one_argument_are_refused_not_widened() {
    let policy = socket_family_range();
    // What the rule means, compiled: AF_NETLINK (16) is denied, AF_UNIX (1) allowed.
    let program = compile(&policy, &[Arch::X86_64], &CompileOptions::default()).unwrap();
    let socket = lookup(Arch::X86_64, "socket").unwrap();
    let call = |family| SeccompData::new(Arch::X86_64, socket, [family, 3, 0, 0, 0, 0]);
    assert_eq!(
        Action::from_ret(simulate(&program, &call(16))),
        Some(Action::Errno(1))
    );
    assert_eq!(
        Action::from_ret(simulate(&program, &call(1))),
        Some(Action::Allow)
    );
    match policy.to_oci_json() {
        Err(Error::Rule {
            rule,
            syscall,
            message,
        }) => {
            assert_eq!((rule, syscall.as_str()), (0, "socket"));
            assert!(message.contains("argument 0"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Conditions on different arguments are one OCI entry and keep their meaning ("and").
#[test]
fn conditions_on_different_arguments_round_trip() {
    let policy = Policy {
        default_action: Action::Errno(1),
        rules: vec![Rule::new(&["socket"], Action::Allow)
            .with(0, CmpOp::Eq, 1, 0)
            .with(1, CmpOp::Eq, 1, 0)],
        ..Policy::default()
    };
    let opts = ResolveOptions {
        arches: vec![Arch::X86_64],
        ..ResolveOptions::default()
    };
    let again = Policy::from_oci_json(&policy.to_oci_json().unwrap(), &opts).unwrap();
    assert_eq!(again.rules, policy.rules);
}
