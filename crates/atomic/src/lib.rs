//! # nativeguard-atomic
//!
//! Atomic Red Team model, validator and runner, and the Linux T1106 emulations.
//!
//! (Design note to be written by this crate's owner: purpose, main types, data flow.)
#![deny(missing_docs)]
