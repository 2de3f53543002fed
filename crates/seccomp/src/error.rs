//! The one error type of this crate.

use thiserror::Error;

/// Everything that can go wrong reading, resolving, compiling or checking a policy.
///
/// Each variant names its place: a line and column in the JSON text, a JSON path such as
/// `syscalls[3].args[0].op`, or an instruction index.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The text is not JSON.
    #[error("line {line}, column {column}: invalid JSON: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// A field has the wrong type or an unsupported value.
    #[error("{place}: {message}")]
    Invalid {
        /// JSON path of the field (`syscalls[3].action`).
        place: String,
        /// What is wrong.
        message: String,
    },
    /// A syscall name that is not a Linux syscall on any ABI.
    #[error("{place}: unknown syscall {name:?} (set \"nativeguardTolerateUnknown\": true or --tolerate-unknown to skip it)")]
    UnknownSyscall {
        /// JSON path of the name (`syscalls[3].names[7]`).
        place: String,
        /// The name.
        name: String,
    },
    /// A named input limit was exceeded.
    #[error("{place}: {what} exceeds the limit of {limit}")]
    Limit {
        /// Where.
        place: String,
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The compiled program is longer than the kernel accepts.
    #[error(
        "the program needs {count} instructions; the kernel accepts at most {limit} (BPF_MAXINSNS)"
    )]
    TooManyInstructions {
        /// Instructions needed.
        count: usize,
        /// [`crate::MAX_INSTRUCTIONS`].
        limit: usize,
    },
    /// The program fails verification.
    #[error("instruction {index}: {message}")]
    Verify {
        /// Index of the faulty instruction.
        index: usize,
        /// Why it is rejected.
        message: String,
    },
    /// Compilation was asked for no ABI.
    #[error("no architecture to compile for")]
    NoArch,
    /// A policy rule is unusable for compilation (an argument index past the syscall's).
    #[error("rule {rule} ({syscall}): {message}")]
    Rule {
        /// Index of the rule in [`crate::Policy::rules`].
        rule: usize,
        /// Syscall concerned.
        syscall: String,
        /// Why.
        message: String,
    },
}
