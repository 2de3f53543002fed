//! The crate's one error type.

/// Everything that can go wrong in the validation loop, with where it happened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No expectation data for the technique.
    #[error("no validation data for {technique}: only {} can be validated", known.join(", "))]
    NoExpectations {
        /// The technique asked for.
        technique: String,
        /// The techniques that have data.
        known: Vec<String>,
    },
    /// The expectation data is malformed.
    #[error("{path}:{}: {message}", line.map_or_else(|| "-".to_string(), |l| l.to_string()))]
    Expectations {
        /// The data file.
        path: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A rule file could not be read.
    #[error("{path}:{}: {message}", line.map_or_else(|| "-".to_string(), |l| l.to_string()))]
    Rule {
        /// The rule file.
        path: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A sample file could not be read.
    #[error("{path}:{line}: {message}")]
    Sample {
        /// The sample file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A control subcommand could not be run or did not behave.
    #[error("`{command}`: {message}")]
    Control {
        /// The command line.
        command: String,
        /// What happened.
        message: String,
    },
    /// An I/O operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
