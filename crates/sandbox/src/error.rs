//! The one error type of this crate.

use std::path::PathBuf;
use thiserror::Error;

/// A confinement layer, named as on the command line (`--allow-missing landlock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The seccomp filter (and its user-notification supervisor).
    Seccomp,
    /// The Landlock path (and TCP port, and scope) rules.
    Landlock,
}

impl Layer {
    /// `seccomp` or `landlock`.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Seccomp => "seccomp",
            Layer::Landlock => "landlock",
        }
    }

    /// Parses `seccomp` or `landlock`.
    pub fn from_name(name: &str) -> Option<Layer> {
        match name {
            "seccomp" => Some(Layer::Seccomp),
            "landlock" => Some(Layer::Landlock),
            _ => None,
        }
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can stop a sandboxed run from starting or being supervised.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The Landlock allow-list file is malformed.
    #[error("{}{}: {message}", path.display(), place(*line, *column))]
    LandlockFile {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when the problem is not tied to a place in the text, such as its size).
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// An ELF or script header of the program could not be read to find its interpreter.
    #[error("{}: byte {offset}: {message}", path.display())]
    Executable {
        /// The program.
        path: PathBuf,
        /// Byte offset of the field that is wrong.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// The seccomp policy could not be used (parse, resolve or compile error).
    #[error("{}: {source}", path.display())]
    Policy {
        /// The policy file (or a description of its origin).
        path: PathBuf,
        /// The compiler's error, with its place.
        source: nativeguard_seccomp::Error,
    },
    /// A layer cannot be applied on this system and the user did not opt out of it.
    #[error("the {layer} layer cannot be applied: {reason} (refusing to run without it; pass --allow-missing {layer} to run anyway)")]
    LayerUnavailable {
        /// Which layer.
        layer: Layer,
        /// Why (the failing call and errno, or the missing feature).
        reason: String,
    },
    /// The policy and the layers given cannot be enforced safely together.
    #[error("{0}")]
    Unsafe(String),
    /// The command to run was not found or is not runnable.
    #[error("{}: {source}", program.display())]
    Command {
        /// The program as given.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A confinement step failed in the child before exec; the command did not run.
    #[error("confining the child failed at {step}: {source}")]
    Confine {
        /// The step (`landlock_restrict_self`, `seccomp(SET_MODE_FILTER)`, ...).
        step: &'static str,
        /// The errno.
        source: std::io::Error,
    },
    /// Starting or waiting for the child failed.
    #[error("running {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A kernel audit record could not be parsed (the run goes on without it).
    #[error("audit record type {kind}: byte {offset}: {message}")]
    AuditRecord {
        /// The record type (`AUDIT_*`).
        kind: u16,
        /// Byte offset in the record's text.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// The supervisor could not take or serve the notification listener.
    #[error("supervisor: {0}")]
    Supervisor(String),
}

/// `:line:column`, or nothing for a problem of the whole file (line 0).
fn place(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}:{column}")
    }
}
