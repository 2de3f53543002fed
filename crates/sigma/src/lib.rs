//! # nativeguard-sigma
//!
//! Sigma rule parsing, compilation, matching and correlation over nativeguard Events (no I/O).
//!
//! (Design note to be written by this crate's owner: purpose, main types, data flow.)
#![deny(missing_docs)]
