//! # nativeguard-sensor
//!
//! The Linux eBPF sensor behind `nativeguard monitor`: host-wide System Call Analysis
//! (D3FEND D3-SCA) for MITRE ATT&CK T1106.
//!
//! ```text
//!  kernel                                         user space (this crate)
//!  tp_btf/sys_enter ── filter: sensitive set ─┐
//!  tp_btf/sched_process_exec/fork/exit ───────┼─> ring buffer ─> wire::decode ─> Enricher ─> Event
//!  bpf_find_vma(ip): where the syscall was ───┘   (lost count    (checked,       (process table,
//!                                                   per CPU)      TryFrom)        nativeguard_event::linux)
//! ```
//!
//! - `bpf/nativeguard.bpf.c` and `bpf/events.h` are the kernel side, compiled with CO-RE into
//!   `bpf/nativeguard.bpf.o`, which is committed and embedded ([`object`]): building this crate
//!   needs no clang. `bpf/build.sh` rebuilds it and records the sources' SHA-256 in
//!   `bpf/nativeguard.bpf.o.sha256`; a test fails when the sources changed without a rebuild.
//! - [`wire`] mirrors `events.h` (`#[repr(C)]`, sizes asserted on both sides) and decodes records
//!   with bounds checks: a bad record is a [`wire::DecodeError`], counted and skipped.
//! - [`process::ProcessTable`] is seeded from `/proc` and kept from fork/exec/exit records;
//!   [`enrich::Enricher`] turns records into `process_creation`, `syscall`, `process_fork` and
//!   `process_exit` events with Image, CommandLine, parent, user, directory and syscall origin.
//!   What the kernel side cannot give is completed from `/proc` while the process lives, so the
//!   fields read as the tracer's (`crates/cli/tests/parity.rs` compares them): `Image` from
//!   `/proc/PID/exe` (checked against the kernel's name of the executed file), the full
//!   `SyscallOriginPath` from `/proc/PID/maps` (the process's, its parent's for a fresh child
//!   that exec'd, or any maps that showed the file's inode; else the kernel's file name), a
//!   command line longer than the kernel's copy from `/proc/PID/cmdline`, the working
//!   directory at each call. Flags are named from `nativeguard_syscalls::flags`.
//! - The kernel filter reports an executable mmap when it is anonymous or maps a memfd or an
//!   unlinked file (code with no file on disk), not a library load, as the tracer does.
//! - [`Sensor`] (in the `sys` module, the only one with `unsafe`) checks support, loads and
//!   attaches, polls the ring buffer and reads the kernel's lost-record counter.
//!
//! Decoding needs no kernel:
//!
//! ```
//! use nativeguard_sensor::wire::{decode, DecodeError};
//! assert!(matches!(decode(&[0u8; 4]), Err(DecodeError::Truncated { .. })));
//! ```
//!
//! Running it needs root and kernel BTF; without them [`Sensor::start`] returns
//! [`Error::Unsupported`] naming what is missing.
#![deny(missing_docs)]

pub mod enrich;
pub mod process;
mod sys;
pub mod wire;

pub use sys::{
    check_support, install_stop_signals, object, stop_requested, Sensor, Stats, KERNEL_BTF,
    PROGRAMS,
};

/// Everything that can go wrong running the sensor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host lacks something the sensor needs (root, BTF, an eBPF feature).
    #[error("the eBPF sensor cannot run here: missing {missing}")]
    Unsupported {
        /// What is missing, precisely.
        missing: String,
    },
    /// The kernel refused to load or attach a program.
    #[error("loading eBPF program {program}: {message}")]
    Load {
        /// The program (function name in bpf/nativeguard.bpf.c).
        program: String,
        /// The loader's error.
        message: String,
    },
    /// A map of the object is missing or of the wrong type.
    #[error("eBPF map {name}: {message}")]
    Map {
        /// The map name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// Waiting on the ring buffer failed.
    #[error("polling the ring buffer: {0}")]
    Poll(#[source] std::io::Error),
    /// Installing the SIGINT/SIGTERM handlers failed.
    #[error("installing the SIGINT/SIGTERM handlers: {0}")]
    Signal(#[source] std::io::Error),
}
