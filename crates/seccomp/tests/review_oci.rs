//! Review: the OCI writer and reader.

use nativeguard_seccomp::{
    compile, simulate, Action, CmpOp, CompileOptions, Policy, ResolveOptions, Rule, SeccompData,
};
use nativeguard_syscalls::{lookup, Arch};

/// A rule with two conditions on one argument means "both hold" in the model (and in the
/// compiled program). `to_oci_json` writes them as one entry with two `args` on index 0, which
/// the reader (after runc) turns into two rules, either of which suffices: the written policy
/// allows what the original denied.
#[test]
fn same_index_conditions_keep_their_meaning_through_the_writer() {
    let policy = Policy {
        default_action: Action::Errno(1),
        rules: vec![Rule::new(&["socket"], Action::Allow)
            .with(0, CmpOp::Ge, 1, 0)
            .with(0, CmpOp::Le, 2, 0)],
        ..Policy::default()
    };
    let opts = ResolveOptions {
        arches: vec![Arch::X86_64],
        ..ResolveOptions::default()
    };
    let again = Policy::from_oci_json(&policy.to_oci_json(), &opts).unwrap();
    let arches = [Arch::X86_64];
    let options = CompileOptions::default();
    // socket(AF_NETLINK = 16, ...)
    let netlink = SeccompData::new(
        Arch::X86_64,
        lookup(Arch::X86_64, "socket").unwrap(),
        [16, 3, 0, 0, 0, 0],
    );
    let before = simulate(&compile(&policy, &arches, &options).unwrap(), &netlink);
    let after = simulate(&compile(&again, &arches, &options).unwrap(), &netlink);
    assert_eq!(Action::from_ret(before), Some(Action::Errno(1)));
    assert_eq!(
        Action::from_ret(after),
        Some(Action::Errno(1)),
        "written:\n{}",
        policy.to_oci_json()
    );
}
