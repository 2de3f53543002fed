//! # nativeguard-logs
//!
//! EVTX, JSON and JSONL readers that turn Windows logs into nativeguard Events.
//!
//! (Design note to be written by this crate's owner: purpose, main types, data flow.)
#![deny(missing_docs)]
