//! # nativeguard-tracer
//!
//! Per-command System Call Analysis without root: ptrace + seccomp tracer and profile learning.
//!
//! (Design note to be written by this crate's owner: purpose, main types, data flow.)
#![deny(missing_docs)]
