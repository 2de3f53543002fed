//! # nativeguard-sensor
//!
//! The Linux eBPF sensor: committed CO-RE programs, their loader, and Events from the kernel.
//!
//! (Design note to be written by this crate's owner: purpose, main types, data flow.)
#![deny(missing_docs)]
