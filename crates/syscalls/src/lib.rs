//! # nativeguard-syscalls
//!
//! Generated syscall tables (names, numbers, argument types) per ABI.
//!
//! (Design note to be written by this crate's owner: purpose, main types, data flow.)
#![deny(missing_docs)]
