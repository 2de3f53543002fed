//! # nativeguard-sandbox
//!
//! Seccomp + Landlock launcher with a user-notification supervisor that reports denials.
//!
//! (Design note to be written by this crate's owner: purpose, main types, data flow.)
#![deny(missing_docs)]
