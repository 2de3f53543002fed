//! The one error type of this crate: every variant names the file and the place in it.

use std::sync::Arc;

/// What went wrong reading an input, and where.
///
/// [`Error::scope`] tells how much input the error cost: one record, one EVTX chunk, or the
/// whole file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file (or directory) could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: Arc<str>,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an EVTX file (bad file header), so none of it was read.
    #[error("{path}: not a readable EVTX file: {message}")]
    EvtxFile {
        /// The file.
        path: Arc<str>,
        /// The parser's reason.
        message: String,
    },
    /// An EVTX chunk (64 KiB, up to a few hundred records) could not be parsed.
    #[error("{path}: chunk {chunk}: {message}")]
    EvtxChunk {
        /// The file.
        path: Arc<str>,
        /// The chunk's number in the file, when known (`?` otherwise).
        chunk: ChunkNumber,
        /// The parser's reason.
        message: String,
    },
    /// One EVTX record could not be parsed or rendered.
    #[error("{path}: {record}: {message}")]
    EvtxRecord {
        /// The file.
        path: Arc<str>,
        /// Which record.
        record: RecordLocation,
        /// The parser's reason.
        message: String,
    },
    /// A JSON document is broken between its values (a missing comma in an array): nothing
    /// after this place can be read.
    #[error("{path}:{line}: {message}; the rest of the file was not read")]
    JsonSyntax {
        /// The file (`-` for stdin).
        path: Arc<str>,
        /// The line of the break (1-based).
        line: u64,
        /// Why.
        message: String,
    },
    /// One JSON value (a JSONL line, or an element of a JSON array) is not valid JSON or not an
    /// object.
    #[error("{path}:{line}: {message}")]
    Json {
        /// The file (`-` for stdin).
        path: Arc<str>,
        /// The line the value starts on (1-based).
        line: u64,
        /// Why.
        message: String,
    },
    /// One event is larger than [`MAX_EVENT_BYTES`](crate::MAX_EVENT_BYTES); it was skipped.
    #[error("{path}:{line}: event larger than {limit} bytes, skipped")]
    TooLarge {
        /// The file.
        path: Arc<str>,
        /// Where the event starts: its line (JSON) or its EventRecordID (EVTX).
        line: u64,
        /// The limit it broke.
        limit: usize,
    },
    /// One event nests objects and arrays deeper than
    /// [`MAX_NESTING_DEPTH`](crate::MAX_NESTING_DEPTH); it was skipped.
    #[error("{path}:{line}: event nested deeper than {limit} levels, skipped")]
    TooDeep {
        /// The file.
        path: Arc<str>,
        /// Where the event starts: its line (JSON) or its EventRecordID (EVTX).
        line: u64,
        /// The limit it broke.
        limit: usize,
    },
}

/// An EVTX chunk number, when the parser knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkNumber(pub Option<u64>);

impl std::fmt::Display for ChunkNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("?"),
        }
    }
}

/// Which EVTX record an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordLocation {
    /// The record with this EventRecordID.
    Id(u64),
    /// A record whose header cannot be read, so only its place is known.
    ChunkOffset {
        /// The chunk it is in.
        chunk: ChunkNumber,
        /// Its offset in that chunk.
        offset: u64,
    },
}

impl std::fmt::Display for RecordLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordLocation::Id(id) => write!(f, "record {id}"),
            RecordLocation::ChunkOffset { chunk, offset } => {
                write!(f, "chunk {chunk} offset {offset:#x}")
            }
        }
    }
}

/// How much input an [`Error`] cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// One record (event) was skipped; reading went on.
    Record,
    /// One EVTX chunk (its records are not counted) was skipped; reading went on.
    Chunk,
    /// The whole file was skipped (or the rest of it, for an I/O error mid-file).
    File,
}

impl Error {
    /// How much input this error cost.
    pub fn scope(&self) -> Scope {
        match self {
            Error::Io { .. } | Error::EvtxFile { .. } | Error::JsonSyntax { .. } => Scope::File,
            Error::EvtxChunk { .. } => Scope::Chunk,
            Error::EvtxRecord { .. }
            | Error::Json { .. }
            | Error::TooLarge { .. }
            | Error::TooDeep { .. } => Scope::Record,
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &str {
        match self {
            Error::Io { path, .. }
            | Error::EvtxFile { path, .. }
            | Error::EvtxChunk { path, .. }
            | Error::EvtxRecord { path, .. }
            | Error::Json { path, .. }
            | Error::JsonSyntax { path, .. }
            | Error::TooLarge { path, .. }
            | Error::TooDeep { path, .. } => path,
        }
    }
}
