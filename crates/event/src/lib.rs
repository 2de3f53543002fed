//! # nativeguard-event
//!
//! The one event type that every nativeguard source produces — Windows EVTX and JSON logs
//! (`nativeguard-logs`), the Linux eBPF sensor (`nativeguard-sensor`) and the per-command tracer
//! (`nativeguard-tracer`) — and that the Sigma engine (`nativeguard-sigma`) matches.
//!
//! Design:
//! - An [`Event`] is an ordered list of named [`Value`]s ([`Fields`]) plus where it came from
//!   ([`Origin`]) and when it happened ([`Timestamp`]).
//! - Lookup is by name. A name is first looked up whole (flattened sources such as winlogbeat
//!   store `winlog.event_data.Image` as one key), then as a dotted path through nested objects.
//! - Events are small (tens of fields), so fields live in a `Vec` and lookup is a linear scan:
//!   cheaper than hashing for that size and cheap to build field by field from a streaming
//!   parser, with no `serde_json::Value` detour.
//! - A field's [`Name`] is text that lives for the whole program (`&'static str`) or shared
//!   text (`Arc<str>`): readers hand out one `Name` per distinct key, so the names of an event
//!   cost no allocation of their own.
//! - No I/O and no parsing of any input format here: sources own their formats.
//!
//! ```
//! use nativeguard_event::{Event, Value};
//!
//! let mut event = Event::new();
//! event.insert("EventID", Value::Int(1));
//! event.insert("Image", "C:\\Windows\\System32\\cmd.exe");
//! event.insert_path("process.parent.name", "explorer.exe");
//!
//! assert_eq!(event.get("EventID"), Some(&Value::Int(1)));
//! assert_eq!(event.get_str("Image"), Some("C:\\Windows\\System32\\cmd.exe"));
//! assert_eq!(event.get_str("process.parent.name"), Some("explorer.exe"));
//! assert!(event.get("CommandLine").is_none());
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod linux;
mod sink;
mod time;
mod value;

pub use sink::{Discard, FieldSink, FieldsBuilder, Scalar};
pub use time::Timestamp;
pub use value::{Fields, Name, Value};

use std::sync::Arc;

/// Where an event came from: enough to find it again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The file (or `-` for stdin, `sensor`, `trace`) the event was read from.
    pub source: Option<Arc<str>>,
    /// The record number inside that source (EVTX record id, JSONL line number, sensor sequence).
    pub record_id: Option<u64>,
}

/// One event from any source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    /// The event's fields, in source order.
    pub fields: Fields,
    /// When the event happened, if the source says.
    pub timestamp: Option<Timestamp>,
    /// Where the event was read from.
    pub origin: Origin,
}

impl Event {
    /// An empty event.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty event with room for `capacity` top-level fields.
    pub fn with_capacity(capacity: usize) -> Self {
        Event {
            fields: Fields::with_capacity(capacity),
            ..Self::default()
        }
    }

    /// Adds a top-level field (names are not deduplicated; the last one wins on lookup).
    pub fn insert(&mut self, name: impl Into<Name>, value: impl Into<Value>) {
        self.fields.insert(name, value);
    }

    /// Adds a field under a dotted path, creating nested objects as needed.
    pub fn insert_path(&mut self, path: &str, value: impl Into<Value>) {
        self.fields.insert_path(path, value);
    }

    /// Looks a field up by name: the whole name first, then as a dotted path.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// Looks a field up and returns it when it is a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// Iterates over the top-level fields.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter()
    }

    /// Number of top-level fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the event has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl serde::Serialize for Event {
    /// An event serializes as its fields (a JSON object); origin and time are the caller's to add.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.fields.serialize(serializer)
    }
}
