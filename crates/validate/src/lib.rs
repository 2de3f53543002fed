//! # nativeguard-validate
//!
//! The control validation loop and its report renderers.
//!
//! (Design note to be written by this crate's owner: purpose, main types, data flow.)
#![deny(missing_docs)]
