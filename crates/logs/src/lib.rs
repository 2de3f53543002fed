//! # nativeguard-logs
//!
//! Readers that stream Windows event logs as [`nativeguard_event::Event`]s for the Sigma
//! engine: `.evtx` files (through the `evtx` crate), JSON documents (one object or an array),
//! JSON Lines / NDJSON (flattened Sysmon, winlogbeat), whole directories, and JSONL on stdin.
//!
//! ## Data flow
//! ```text
//! paths --discover()--> [Input] --Reader::open()--> Reader::events() --> Result<Event, Error>...
//!   .evtx : evtx record --render JSON bytes--> decode (serde visitor) --> Event
//!   .json : framer (one value at a time) -----> decode ----------------> Event
//!   .jsonl: one line at a time ----------------> decode ----------------> Event
//! ```
//! - **Streaming, flat memory**: one event (or one EVTX chunk) is in memory at a time; nothing
//!   collects a file's events. A consumer that rarely needs the built event (the rule engine)
//!   reads JSON Lines and EVTX records through [`EventTexts`], which hands each event's fields
//!   to a [`FieldSink`] without building it, and decodes only the events it asks for.
//! - **Every item is a `Result`**: a corrupt file, chunk or record is an [`Error`] naming the
//!   file and the record (EventRecordID, or line), and reading goes on. [`Error::scope`] says
//!   how much input it cost, so callers can count `(ok, err)` exactly.
//! - **Bounded**: an event larger than [`MAX_EVENT_BYTES`] or nested deeper than
//!   [`MAX_NESTING_DEPTH`] is skipped with an error; directories deeper than
//!   [`MAX_DIRECTORY_DEPTH`] are not walked; symbolic-link loops are walked once. Field names
//!   are interned: each reader keeps up to 65,536 names of up to 64 bytes (then starts over),
//!   and the text of the first names met, up to 1 MiB for the whole program, is kept for the
//!   life of the program and shared by every reader (names past that are reference-counted).
//! - **No `serde_json::Value` detour**: JSON is decoded by a serde visitor straight into the
//!   event's fields. A UTF-8 byte order mark at the start of a file is skipped. Of a key
//!   repeated in one object the event keeps both values; lookups and rules see the last, as
//!   serde_json, jq, Python and Go read it, and keyword searches see both.
//! - **Truncation is reported**: a chunk cut short, and chunks the EVTX file header names that
//!   the file no longer holds (a copy cut on a chunk boundary), are chunk errors; a JSON
//!   document broken between its values is an error for the rest of the file.
//!
//! ## Field names (what Windows Sigma rules see)
//! An EVTX record (and a JSON object in the EVTX rendering, `{"Event": {"System": ...}}`, as
//! `evtx_dump` writes it) becomes flat fields: `Channel`, `EventID` (an integer),
//! `Provider_Name`, `Provider_Guid`, `Computer`, `EventRecordID`, `TimeCreated`, `Level`,
//! `Task`, `Opcode`, `Keywords`, `Version`, `Execution_ProcessID`, `Execution_ThreadID`,
//! `Security_UserID`, `Correlation_ActivityID` (any `System` attribute is `<Element>_<Name>`),
//! then every `EventData`/`UserData` field by its name (`Image`, `CommandLine`, ...; a name with
//! spaces, as Windows Defender writes them, also without its spaces: `ThreatName`). Unnamed
//! `Data` elements are kept under `Data` (a string or a list), where keyword searches see them.
//!
//! A winlogbeat object keeps its nesting (`winlog.event_data.Image` resolves) and also gets the
//! bare names: every `event_data`/`user_data` field, and `Channel`, `EventID`, `Provider_Name`,
//! `Computer`, `EventRecordID`, `Task`, `Opcode`, `Keywords` from `winlog.*`. Any other object
//! is taken as it is.
//!
//! An event's timestamp is the first of `@timestamp`, `TimeCreated` (EVTX: `System/TimeCreated`),
//! `timestamp`, `UtcTime`, `EventTime` that parses, else (EVTX) the record header's time. Its
//! `origin.record_id` is the EVTX record header's number (exported logs renumber it from 1;
//! the `EventRecordID` field keeps the original), or the line a JSON object starts on.
//!
//! ```
//! use nativeguard_event::Value;
//! use nativeguard_logs::{JsonLayout, JsonReader};
//!
//! let line = r##"{"Event":{"System":{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational",
//!   "TimeCreated":{"#attributes":{"SystemTime":"2019-03-19T23:30:12.345678Z"}}},
//!   "EventData":{"Image":"C:\\Windows\\System32\\cmd.exe"}}}"##.replace('\n', "");
//! let mut events = JsonReader::new(line.as_bytes(), "sysmon.jsonl", JsonLayout::Lines);
//! let event = events.next().unwrap()?;
//! assert_eq!(event.get("EventID"), Some(&Value::Int(1)));
//! assert_eq!(event.get_str("Image"), Some("C:\\Windows\\System32\\cmd.exe"));
//! assert_eq!(event.timestamp.unwrap().to_string(), "2019-03-19T23:30:12.345678Z");
//! assert!(events.next().is_none());
//! # Ok::<(), nativeguard_logs::Error>(())
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod decode;
mod direct;
mod error;
mod evtx;
mod input;
mod json;
mod names;

pub use error::{ChunkNumber, Error, RecordLocation, Scope};
pub use evtx::{EvtxReader, EvtxStream, EVTX_MAGIC};
pub use input::{discover, Discovery, Format, Input, Reader};
pub use json::{JsonLayout, JsonReader};
use nativeguard_event::{Event, FieldSink};

/// Events read one at a time, each handed to a [`FieldSink`] without being built, or decoded
/// into an [`Event`]: for consumers that rarely need the built event (the rule engine needs it
/// only for a detection). JSON Lines ([`JsonReader`]) and EVTX ([`EvtxReader::streamed`]).
pub trait EventTexts {
    /// Reads the next event without decoding it; its record id (a JSON line's number, an EVTX
    /// record's). `None` at the end; an error for an event that could not be read (reading
    /// goes on).
    fn read_event_text(&mut self) -> Option<Result<u64, Error>>;
    /// Hands the fields of the event last read to `sink`, as
    /// [`Fields::feed`](nativeguard_event::Fields::feed) would report the decoded event. False
    /// when this event takes the full decoder: use [`EventTexts::decode_event`] then. On false
    /// the sink may have seen part of the event.
    fn stream_event<S: FieldSink>(&mut self, sink: &mut S) -> bool;
    /// Decodes the event last read.
    fn decode_event(&mut self) -> Result<Event, Error>;
}

/// For the `json_direct` fuzz target: whether the direct JSON parser takes `bytes` on; panics
/// when it does and gives other fields than the serde path would.
#[doc(hidden)]
pub fn check_direct_json_decoder(bytes: &[u8]) -> bool {
    direct::check_against_serde(bytes)
}

/// The largest event read, in bytes of JSON (a JSONL line, one value of a JSON document, or an
/// EVTX record rendered as JSON). Larger events are skipped with [`Error::TooLarge`].
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// How deeply objects and arrays may nest inside one event before it is skipped with
/// [`Error::TooDeep`].
pub const MAX_NESTING_DEPTH: usize = 64;

/// How deep [`discover`] walks below a directory given to it.
pub const MAX_DIRECTORY_DEPTH: usize = 64;
