//! The crate's error type and the per-rule load error.

use std::fmt;

/// Errors of this crate. Rule problems are reported as [`LoadError`]s (one per failing rule, the
/// others still load); `Error` is for whole inputs such as a pipeline file.
#[non_exhaustive]
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// A pipeline definition could not be read.
    #[error("pipeline {name}: line {line}: {message}")]
    Pipeline {
        /// The pipeline's name (as given to [`crate::Pipeline::parse`]).
        name: String,
        /// 1-based line of the problem.
        line: usize,
        /// Why.
        message: String,
    },
}

/// A rule (or a YAML document) that could not be loaded, and why.
///
/// Displays as `path:line: message` (or `path: message` when no line is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file the rule came from, as given to [`crate::RuleSetBuilder::add_file`].
    pub path: String,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// The rule's id, when it was read before the problem.
    pub rule_id: Option<String>,
    /// The rule's title, when it was read before the problem.
    pub title: Option<String>,
    /// Why the rule could not be loaded.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path, line, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

impl std::error::Error for LoadError {}

/// A problem found while parsing or compiling one rule: a line and a reason. Turned into a
/// [`LoadError`] once the file and rule are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fail {
    pub line: usize,
    pub message: String,
}

impl Fail {
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        Fail {
            line,
            message: message.into(),
        }
    }
}

pub(crate) type Res<T> = Result<T, Fail>;
