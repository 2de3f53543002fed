//! Real profiles from ../shared/datasets/seccomp (Docker's default and the OCI examples):
//! reading, resolving, compiling, and the size figures of issue 6.

use nativeguard_seccomp::{
    compile, simulate, stats, Action, CompileOptions, Error, Policy, ResolveOptions, SeccompData,
};
use nativeguard_syscalls::{lookup, Arch};
use std::path::PathBuf;

fn dataset(name: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/seccomp")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            eprintln!("skipped: {}: {e}", path.display());
            None
        }
    }
}

fn resolve(arches: &[Arch]) -> ResolveOptions {
    ResolveOptions {
        arches: arches.to_vec(),
        ..ResolveOptions::default()
    }
}

#[test]
fn docker_default_x86_64_is_small_and_shallow() {
    let Some(text) = dataset("default.json") else {
        return;
    };
    let arches = [Arch::X86_64];
    let policy = Policy::from_oci_json(&text, &resolve(&arches)).unwrap();
    let program = compile(&policy, &arches, &CompileOptions::default()).unwrap();
    let s = stats(&program);
    eprintln!("docker default x86_64: {s:?}");
    assert!(s.instructions <= 100, "{s:?}");
    assert!(s.worst_path <= 20, "{s:?}");
}

#[test]
fn docker_default_three_x86_abis_in_one_program() {
    let Some(text) = dataset("default.json") else {
        return;
    };
    let arches = [Arch::X86_64, Arch::I386, Arch::X32];
    let policy = Policy::from_oci_json(&text, &resolve(&arches)).unwrap();
    let program = compile(&policy, &arches, &CompileOptions::default()).unwrap();
    let s = stats(&program);
    eprintln!("docker default x86_64+i386+x32: {s:?}");
    assert!(s.instructions <= 300, "{s:?}");
    let opts = CompileOptions::default();
    for arch in arches {
        for syscall in arch.syscalls() {
            for args in [[0u64; 6], [u64::MAX; 6], [0x1_0000_0028, 1, 0, 0, 0, 0]] {
                let data = SeccompData::new(arch, syscall.nr, args);
                assert_eq!(
                    simulate(&program, &data),
                    policy.evaluate(&arches, &opts, &data),
                    "{arch} {}",
                    syscall.name
                );
            }
        }
    }
}

#[test]
fn docker_default_denies_vsock_even_with_high_bits() {
    let Some(text) = dataset("default.json") else {
        return;
    };
    let arches = [Arch::X86_64];
    let policy = Policy::from_oci_json(&text, &resolve(&arches)).unwrap();
    let program = compile(&policy, &arches, &CompileOptions::default()).unwrap();
    let socket = lookup(Arch::X86_64, "socket").unwrap();
    let verdict = |family| {
        Action::from_ret(simulate(
            &program,
            &SeccompData::new(Arch::X86_64, socket, [family, 1, 0, 0, 0, 0]),
        ))
    };
    assert_eq!(verdict(2), Some(Action::Allow));
    assert_eq!(verdict(40), Some(Action::Errno(1)), "AF_VSOCK");
    assert_eq!(
        verdict(0x1_0000_0028),
        Some(Action::Errno(1)),
        "AF_VSOCK with high bits"
    );
}

#[test]
fn every_shipped_example_reads_and_compiles() {
    for name in [
        "default.json",
        "default-old-format.json",
        "conditional_include.json",
        "example.json",
    ] {
        let Some(text) = dataset(name) else { continue };
        let arches = Arch::host_abis();
        let policy = Policy::from_oci_json(&text, &resolve(arches))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!policy.rules.is_empty(), "{name}");
        let program = compile(&policy, arches, &CompileOptions::default()).unwrap();
        // Round trip through our own writer keeps every verdict.
        let written = policy.to_oci_json().unwrap();
        let again = Policy::from_oci_json(&written, &resolve(arches)).unwrap();
        assert_eq!(again.rules, policy.rules, "{name}");
        let program2 = compile(&again, arches, &CompileOptions::default()).unwrap();
        assert_eq!(program.instructions, program2.instructions, "{name}");
    }
}

#[test]
fn capabilities_change_the_resolved_profile() {
    let Some(text) = dataset("default.json") else {
        return;
    };
    let arches = [Arch::X86_64];
    let mut with_admin = resolve(&arches);
    with_admin.caps.push("CAP_SYS_ADMIN".into());
    let plain = Policy::from_oci_json(&text, &resolve(&arches)).unwrap();
    let admin = Policy::from_oci_json(&text, &with_admin).unwrap();
    let opts = CompileOptions::default();
    let mount = SeccompData::new(Arch::X86_64, lookup(Arch::X86_64, "mount").unwrap(), [0; 6]);
    assert_eq!(
        Action::from_ret(plain.evaluate(&arches, &opts, &mount)),
        Some(Action::Errno(1))
    );
    assert_eq!(
        Action::from_ret(admin.evaluate(&arches, &opts, &mount)),
        Some(Action::Allow)
    );
}

#[test]
fn unknown_syscall_names_its_place_unless_tolerated() {
    let text = r#"{"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                     {"names": ["write", "sockett"], "action": "SCMP_ACT_ALLOW"}]}"#;
    let err = Policy::from_oci_json(text, &ResolveOptions::default()).unwrap_err();
    assert_eq!(
        err,
        Error::UnknownSyscall {
            place: "syscalls[1].names[1]".into(),
            name: "sockett".into()
        }
    );
    let tolerant = ResolveOptions {
        tolerate_unknown: true,
        ..ResolveOptions::default()
    };
    let policy = Policy::from_oci_json(text, &tolerant).unwrap();
    assert_eq!(policy.rules[1].names, vec!["write".to_string()]);
    let flagged = text.replacen('{', r#"{"nativeguardTolerateUnknown": true, "#, 1);
    assert!(Policy::from_oci_json(&flagged, &ResolveOptions::default()).is_ok());
}

#[test]
fn strict_reader_errors() {
    let cases = [
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "arg": []}]}"#,
            "syscalls[0]: unknown key \"arg\"",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_NOPE"}"#,
            "defaultAction: unknown action",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}"#,
            "defaultErrnoRet: errno must be",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
            "syscalls[0].args[0].index",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}"#,
            "syscalls[0].args[0].value",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_IS"}]}]}"#,
            "syscalls[0].args[0].op: unknown operator",
        ),
        (
            "{\"defaultAction\":\n  \"SCMP_ACT_ALLOW\",,}",
            "line 2, column",
        ),
    ];
    for (text, needle) in cases {
        let err = Policy::from_oci_json(text, &ResolveOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err} does not contain {needle}");
    }
}

#[test]
fn limits_are_enforced() {
    let big = format!(
        "{{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"comment\": \"{}\"}}",
        "x".repeat(nativeguard_seccomp::MAX_POLICY_BYTES)
    );
    assert!(matches!(
        Policy::from_oci_json(&big, &ResolveOptions::default()),
        Err(Error::Limit { .. })
    ));
    let entry = r#"{"names": ["read"], "action": "SCMP_ACT_ALLOW"}"#;
    let many = format!(
        "{{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{}]}}",
        vec![entry; nativeguard_seccomp::MAX_RULES + 1].join(",")
    );
    assert!(matches!(
        Policy::from_oci_json(&many, &ResolveOptions::default()),
        Err(Error::Limit {
            what: "number of syscalls entries",
            ..
        })
    ));
    let args = vec![
        r#"{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}"#;
        nativeguard_seccomp::MAX_CONDITIONS + 1
    ]
    .join(",");
    let conds = format!("{{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{{\"names\": [\"read\"], \"action\": \"SCMP_ACT_LOG\", \"args\": [{args}]}}]}}");
    assert!(matches!(
        Policy::from_oci_json(&conds, &ResolveOptions::default()),
        Err(Error::Limit {
            what: "number of args",
            ..
        })
    ));
    let names = vec!["\"read\""; nativeguard_seccomp::MAX_NAMES + 1].join(",");
    let names = format!("{{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{{\"names\": [{names}], \"action\": \"SCMP_ACT_LOG\"}}]}}");
    assert!(matches!(
        Policy::from_oci_json(&names, &ResolveOptions::default()),
        Err(Error::Limit {
            what: "number of names",
            ..
        })
    ));
}

#[test]
fn a_whole_config_json_is_read_through_linux_seccomp() {
    let config = r#"{"ociVersion": "1.0.2", "process": {"args": ["sh"]},
        "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                                   {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}]}}}"#;
    let policy = Policy::from_oci_json(config, &ResolveOptions::default()).unwrap();
    assert_eq!(policy.default_action, Action::Errno(38));
    assert_eq!(policy.arches, vec![Arch::X86_64, Arch::I386]);
    // runc: a repeated argument index makes each condition its own rule (OR).
    assert_eq!(policy.rules.len(), 3);
    let bad = config.replace("\"names\": [\"read\"]", "\"names\": [\"reed\"]");
    let err = Policy::from_oci_json(&bad, &ResolveOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string().split(':').next(),
        Some("linux.seccomp.syscalls[0].names[0]")
    );
}

/// Golden disassembly of a small policy: the layout (arch check first, x32 told apart inside
/// the x86_64 section, binary search, 32-bit `int` compare, shared returns) is pinned here.
/// Updating it is intentional, never automatic.
#[test]
fn disassembly_golden() {
    let policy = Policy {
        default_action: Action::Allow,
        rules: vec![
            nativeguard_seccomp::Rule::new(&["socket"], Action::Errno(1)).with(
                0,
                nativeguard_seccomp::CmpOp::Eq,
                16,
                0,
            ),
            nativeguard_seccomp::Rule::new(&["ptrace"], Action::KillProcess),
        ],
        ..Policy::default()
    };
    let program = compile(&policy, &[Arch::X86_64], &CompileOptions::default()).unwrap();
    let text = nativeguard_seccomp::disassemble(&program);
    let want = "\
0000: ld [arch]
0001: jeq #0xc000003e -> 0003, 0002
0002: ret KILL_PROCESS
0003: ld [nr]
0004: jge #0x66 -> 0008, 0005
0005: jge #0x2a -> 0007, 0006
0006: jge #0x29 -> 0012, 0015
0007: jge #0x65 -> 0014, 0015
0008: jge #0x40000000 -> 0010, 0009
0009: jge #0x1d6 -> 0016, 0015
0010: jge #0x80000000 -> 0011, 0014
0011: jge #0xc0000000 -> 0014, 0016
0012: ld [args[0].lo]
0013: jeq #0x10 -> 0017, 0015
0014: ret KILL_PROCESS
0015: ret ALLOW
0016: ret ERRNO(38)
0017: ret ERRNO(1)
";
    assert_eq!(text, want, "got:\n{text}");
}
