//! # nativeguard-seccomp
//!
//! Seccomp policy model, OCI JSON, classic-BPF compiler, disassembler and simulator.
//!
//! (Design note to be written by this crate's owner: purpose, main types, data flow.)
#![deny(missing_docs)]
