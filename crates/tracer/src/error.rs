//! The crate's one error type. A variant's system error is its `source()`, not part of its
//! message: `{:#}` (anyhow) prints the chain once.

use std::io;

/// Why a trace could not be run or finished.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line was empty.
    #[error("no command to trace")]
    NoCommand,
    /// The program was not found (not a path, and not in any `PATH` directory).
    #[error("cannot find `{program}` in PATH")]
    NotFound {
        /// The program name as given.
        program: String,
    },
    /// An argument or environment entry contained a NUL byte.
    #[error("argument {index} of the command contains a NUL byte")]
    NulInArgument {
        /// Position in the command line (0 is the program).
        index: usize,
    },
    /// The seccomp filter for the trace list could not be built.
    #[error("cannot build the seccomp trace filter: {message}")]
    Filter {
        /// The compiler's message.
        message: String,
    },
    /// Starting the command failed in the tracer (fork, pipe, PTRACE_SEIZE).
    #[error("cannot start the command: {call} failed")]
    Start {
        /// The call that failed.
        call: &'static str,
        /// The system error.
        source: io::Error,
    },
    /// The command's process failed before it became the command.
    #[error("cannot run `{program}`: {step} failed")]
    Exec {
        /// The program.
        program: String,
        /// The step in the child that failed (`execve`, `seccomp(...)`).
        step: &'static str,
        /// The system error.
        source: io::Error,
    },
    /// A ptrace or wait request failed on a tracee in a way that stops the trace.
    #[error("{call} on pid {pid} failed")]
    Trace {
        /// The request.
        call: &'static str,
        /// The tracee.
        pid: i32,
        /// The system error.
        source: io::Error,
    },
    /// A profile to add a run to is not one `--learn` wrote.
    #[error("cannot add to this profile: {message}")]
    Merge {
        /// Why.
        message: String,
    },
    /// The learned profile could not be turned into a policy.
    #[error("cannot write the learned profile: {message}")]
    Learn {
        /// Why.
        message: String,
    },
}
