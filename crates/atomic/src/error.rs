//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong reading, validating or running atomic tests and emulations.
/// Every variant names where: the file and line, the input, or the system call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not well-formed YAML.
    #[error("{path}:{line}:{col}: YAML: {message}")]
    Yaml {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What the YAML reader reported.
        message: String,
    },
    /// The file exceeds one of the reader's limits (see the `MAX_*` constants).
    #[error("{path}:{line}: too many {what} (limit {limit})")]
    Limit {
        /// The file.
        path: String,
        /// 1-based line where the limit was crossed (0: the whole file).
        line: usize,
        /// Which limit.
        what: &'static str,
        /// The limit's value.
        limit: usize,
    },
    /// The file is YAML but breaks a rule of the atomic format. `code` is the error type Atomic
    /// Red Team's own validator uses (`unused_input_argument`, `extra_forbidden`, ...).
    #[error("{path}:{line}: {field}: {message} [{code}]")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line of the offending node.
        line: usize,
        /// The offending field, as a path (`atomic_tests[0].input_arguments.url.default`).
        field: String,
        /// Atomic Red Team's error type for this rule.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// A `--input name=value` override that no selected test accepts, or whose value does not
    /// have the argument's type.
    #[error("input '{name}': {message}")]
    Input {
        /// The argument's name.
        name: String,
        /// Why it was refused.
        message: String,
    },
    /// A technique id that is not `T` followed by four digits and an optional `.NNN`.
    #[error("'{0}' is not an ATT&CK technique id (expected T1234 or T1234.001)")]
    TechniqueId(String),
    /// An emulation step was refused by the kernel or a security control.
    #[error("blocked: {step}: {}", errno_name(*errno))]
    Blocked {
        /// The system call or step that failed (`memfd_create`, `execve`, ...).
        step: &'static str,
        /// The errno it failed with.
        errno: i32,
    },
    /// An emulation's child was killed by `SIGSYS` (a seccomp filter's kill action) at a step.
    #[error("blocked: {step}: killed by SIGSYS")]
    KilledBySeccomp {
        /// The step the child was performing.
        step: &'static str,
    },
    /// An emulation could not set itself up (not a control's doing).
    #[error("setup failed: {step}: {detail}")]
    Setup {
        /// The step.
        step: &'static str,
        /// What happened.
        detail: String,
    },
    /// A test or emulation cannot run here (architecture, missing interpreter).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// The symbolic name of an errno value (`EPERM`), or `errno N` when it is not a common one.
pub fn errno_name(errno: i32) -> String {
    const NAMES: &[(i32, &str)] = &[
        (libc::EPERM, "EPERM"),
        (libc::ENOENT, "ENOENT"),
        (libc::ESRCH, "ESRCH"),
        (libc::EINTR, "EINTR"),
        (libc::EIO, "EIO"),
        (libc::E2BIG, "E2BIG"),
        (libc::ENOEXEC, "ENOEXEC"),
        (libc::EBADF, "EBADF"),
        (libc::ECHILD, "ECHILD"),
        (libc::EAGAIN, "EAGAIN"),
        (libc::ENOMEM, "ENOMEM"),
        (libc::EACCES, "EACCES"),
        (libc::EFAULT, "EFAULT"),
        (libc::EBUSY, "EBUSY"),
        (libc::EEXIST, "EEXIST"),
        (libc::ENODEV, "ENODEV"),
        (libc::EINVAL, "EINVAL"),
        (libc::ENFILE, "ENFILE"),
        (libc::EMFILE, "EMFILE"),
        (libc::ETXTBSY, "ETXTBSY"),
        (libc::ENOSPC, "ENOSPC"),
        (libc::EROFS, "EROFS"),
        (libc::ENAMETOOLONG, "ENAMETOOLONG"),
        (libc::ENOSYS, "ENOSYS"),
        (libc::ELOOP, "ELOOP"),
        (libc::EOPNOTSUPP, "EOPNOTSUPP"),
        (libc::EKEYREJECTED, "EKEYREJECTED"),
    ];
    NAMES
        .iter()
        .find(|(n, _)| *n == errno)
        .map(|(_, name)| (*name).to_owned())
        .unwrap_or_else(|| format!("errno {errno}"))
}
