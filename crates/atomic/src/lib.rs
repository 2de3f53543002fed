//! # nativeguard-atomic
//!
//! Offensive tests for the validation loop: an [Atomic Red Team] model, validator and runner,
//! and safe Linux emulations of native API abuse (MITRE ATT&CK T1106).
//!
//! ## Data flow
//! ```text
//!   atomic YAML ──yaml::parse (bounded, lines kept)──> model::parse_technique ──> Technique
//!        │                                              (ART's validation rules, one
//!        │                                               error per field, bad tests fail alone)
//!   catalog::Catalog (shipped atomics/ + ART's folder; Validator: GUIDs across files)
//!        │
//!   runner::run_test (platform, executor, elevation, network gate, prerequisites,
//!        │            command in its own process group with a timeout, cleanup always)
//!        v
//!   TestResult { status passed/failed/skipped, reason, exit code, duration, output tails }
//! ```
//! The project's Linux T1106 tests (`atomics/T1106/T1106.yaml`, embedded) run
//! `nativeguard emulate NAME`, backed by [`emulate::Emulation`]: fork/exec through libc, inline
//! `syscall`, an anonymous-page stub, memfd + execveat, clone3/vfork/posix_spawn, python3
//! ctypes, ptrace POKEDATA and process_vm_writev into the emulator's own child, and an RWX page.
//! All `unsafe` code is in the private `sys` module.
//!
//! ## Main types
//! - [`Technique`], [`AtomicTest`], [`InputArgument`], [`Executor`], [`Dependency`]: the model.
//! - [`parse_technique`] / [`Validator`]: reading and validating files; [`Parsed`] keeps the
//!   valid tests and every [`Error`].
//! - [`Catalog`]: where files come from (lookup order documented there).
//! - [`run_test`], [`RunOptions`], [`TestResult`]: the runner.
//! - [`Emulation`]: the emulations.
//!
//! ## Example
//! ```
//! use nativeguard_atomic::{parse_technique, Platform};
//!
//! let yaml = r#"
//! attack_technique: T1106
//! display_name: Native API
//! atomic_tests:
//! - name: Echo
//!   description: Prints its input.
//!   supported_platforms: [linux]
//!   input_arguments:
//!     word:
//!       description: What to print
//!       type: string
//!       default: hello
//!   executor:
//!     name: sh
//!     command: 'echo #{word}'
//! "#;
//! let parsed = parse_technique("example.yaml", yaml);
//! assert!(parsed.errors.is_empty());
//! let technique = parsed.technique.unwrap();
//! assert_eq!(technique.tests[0].supported_platforms, [Platform::Linux]);
//! assert_eq!(technique.tests[0].input_arguments[0].default.as_deref(), Some("hello"));
//!
//! // A declared argument that no command uses is rejected, naming the field.
//! let bad = yaml.replace("'echo #{word}'", "'echo hi'");
//! let parsed = parse_technique("bad.yaml", &bad);
//! assert!(parsed.errors[0].to_string().contains("atomic_tests[0].input_arguments.word"));
//! ```
//!
//! [Atomic Red Team]: https://github.com/redcanaryco/atomic-red-team
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod catalog;
pub mod emulate;
mod error;
mod model;
mod runner;
mod sys;
mod validate;
pub mod yaml;

pub use catalog::{art_atomics_folder, Catalog, Loaded, ShippedFile, ART_ENV, SHIPPED};
pub use emulate::Emulation;
pub use error::{errno_name, Error};
pub use model::{
    is_technique_id, mustache_keys, normalize_uuid, parse_technique, ArgType, AtomicTest,
    Dependency, Executor, ExecutorKind, InputArgument, Parsed, Platform, Technique,
};
pub use runner::{
    check_inputs, find_in_path, network_indicator, run_test, substitute, Mode, RunOptions,
    SkipKind, Status, TestResult, TAIL_BYTES,
};
pub use validate::Validator;
