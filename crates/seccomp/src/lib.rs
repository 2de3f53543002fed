//! # nativeguard-seccomp
//!
//! Seccomp policies for nativeguard, built in layers after gVisor's `pkg/seccomp`:
//!
//! ```text
//! OCI JSON ─from_oci_json─▶ Policy ──compile──▶ builder (labels, range tree, argument blocks)
//!   (Docker includes/excludes resolved      ──▶ optimizer passes ──▶ verifier ──▶ Program
//!    for arches, caps, kernel version)                                   │
//! Policy::evaluate (direct interpreter) ◀── differential tests ──▶ simulate (cBPF interpreter)
//!                                                                   and the kernel (sys)
//! ```
//!
//! * [`Policy`], [`Rule`], [`Action`], [`ArgCondition`]: the model. [`Policy::from_oci_json`]
//!   reads the OCI runtime-spec `linux.seccomp` object and Docker's profile format (`archMap`,
//!   `includes`/`excludes`); [`Policy::to_oci_json`] writes it back (refusing a rule with two
//!   conditions on one argument, which OCI readers take as "either").
//! * [`compile`]: one program for every requested ABI; the architecture is checked first, x32
//!   numbers (bit 0x40000000) are told from x86_64 numbers in the same `AUDIT_ARCH_X86_64`
//!   section; numbers are dispatched by binary search over ranges of equal outcome; `int`
//!   arguments are compared on their low 32 bits only and 16-bit ones (`umode_t`, i386's
//!   `old_uid_t`) on their low 16 (the kernel truncates them), 64-bit ones across both halves; numbers above the highest known syscall get ENOSYS; more than 4,096
//!   instructions is an error.
//! * Semantics shared by the compiler and [`Policy::evaluate`]: when several rules match a call
//!   the most restrictive action wins (the kernel's order for stacked filters; ties go to the
//!   earlier rule); numbers the ABI's table lacks below its highest syscall take the verdict of
//!   the syscall just below them (the kernel answers ENOSYS to them anyway), which lets ranges
//!   merge; see [`Policy`]. The program's verdict is not always consulted: Linux 6.14+ runs
//!   x86_64 `uretprobe` and 6.16+ `uprobe` (issued by uprobe trampolines) without any filter.
//! * [`bpf`]: [`SockFilter`], [`verify`], [`simulate`], [`disassemble`], [`stats`].
//! * [`optimize`]: instruction-level passes (jump threading, `ja` to `ret`, equal-target
//!   conditionals, dead code), each tested on its own and, through the differential tests and
//!   the `compiler` fuzz target, against the unoptimized program.
//! * [`sys`]: loads a program into a forked child (for tests and the sandbox).
//!
//! ```
//! use nativeguard_seccomp::{compile, simulate, Action, CompileOptions, Policy, Rule, CmpOp, SeccompData};
//! use nativeguard_syscalls::Arch;
//!
//! let policy = Policy {
//!     default_action: Action::Allow,
//!     rules: vec![Rule::new(&["socket"], Action::Errno(1)).with(0, CmpOp::Eq, 16, 0)],
//!     ..Policy::default()
//! };
//! let arches = [Arch::X86_64, Arch::I386, Arch::X32];
//! let program = compile(&policy, &arches, &CompileOptions::default()).unwrap();
//! // socket(0x1_0000_0010, ...) is socket(AF_NETLINK, ...) to the kernel: denied.
//! let call = SeccompData::new(Arch::X86_64, 41, [0x1_0000_0010, 3, 0, 0, 0, 0]);
//! assert_eq!(Action::from_ret(simulate(&program, &call)), Some(Action::Errno(1)));
//! // The same verdict from the policy model itself.
//! assert_eq!(policy.evaluate(&arches, &CompileOptions::default(), &call), simulate(&program, &call));
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod bpf;
mod compile;
mod error;
mod oci;
pub mod optimize;
mod policy;
pub mod sys;

pub use bpf::{
    disassemble, kernel_caches_allow, simulate, stats, verify, Program, SeccompData, SockFilter,
    Stats, MAX_INSTRUCTIONS,
};
pub use compile::{compile, CompileOptions, ENOSYS};
pub use error::Error;
pub use oci::{
    ResolveOptions, DOCKER_DEFAULT_CAPS, MAX_CONDITIONS, MAX_NAMES, MAX_POLICY_BYTES, MAX_RULES,
};
pub use policy::{Action, ArgCondition, CmpOp, Policy, Rule};
