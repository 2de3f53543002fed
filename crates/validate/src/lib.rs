//! # nativeguard-validate
//!
//! Control validation: for one ATT&CK technique, does each control the seed page maps to it
//! actually act? `nativeguard validate T1106` runs every applicable test under the analysis
//! control (D3FEND System Call Analysis: the eBPF sensor, or the per-command tracer), then
//! again under the prevention control (D3FEND System Call Filtering: `sandbox` with the shipped
//! hardening policy), validates the Windows rules that cannot run here on committed sample
//! events, and reports the result beside every entry of the seed page.
//!
//! ## Main types
//! - [`expectations::Expectations`]: what each control must do, as data
//!   (`expectations/T1106.yml`, compiled in): the seed's controls, each Linux test's intended
//!   rules, what the sandbox must block, which tests are benign baselines.
//! - [`runner::ControlRunner`]: the seam to the outside world (list tests, run one under the
//!   analysis control, run one under the prevention control). [`process::ProcessRunner`] runs
//!   the real `nativeguard` subcommands as child processes; tests use canned outcomes.
//! - [`windows`]: the embedded Windows ruleset over `samples/windows/`, in-process.
//! - [`model::Report`]: the result; [`render`] turns it into Markdown (the seed page's shape),
//!   HTML (tests × controls matrix), JSON (`schema/report.schema.json`), an ATT&CK Navigator
//!   layer (4.5) and JUnit XML.
//!
//! ## Data flow
//! ```text
//! expectations ─┐
//! atomic list ──┼─▶ validate(): per Linux test ─▶ runner.detect()  ─▶ alerts, latency ─┐
//! Linux rules ──┘                              └▶ runner.prevent() ─▶ denials ────────┼─▶ Report ─▶ render::*
//! WINDOWS rules + samples ─▶ windows::validate_samples() ─────────────────────────────┘
//! ```
//! A control that could not run is an error in the report, never a pass; a Windows rule without
//! a sample is "no sample", never validated.
//!
//! ```
//! use nativeguard_validate::expectations::Expectations;
//! use nativeguard_validate::model::{RuleStatus, TestStatus};
//! use nativeguard_validate::runner::*;
//! use nativeguard_validate::{render, validate, windows, Error, Inputs};
//!
//! /// A runner with no controls at all: every check must come out "not run".
//! struct Nothing;
//! impl ControlRunner for Nothing {
//!     fn list_tests(&mut self, _: &str) -> Result<Vec<ListedTest>, Error> { Ok(vec![]) }
//!     fn start_analysis(&mut self) -> Result<nativeguard_validate::model::AnalysisControl, Error> {
//!         Err(Error::Control { command: "monitor".into(), message: "absent".into() })
//!     }
//!     fn detect(&mut self, _: &str) -> Result<DetectionOutcome, Error> { unreachable!() }
//!     fn stop_analysis(&mut self) -> Result<Vec<String>, Error> { Ok(vec![]) }
//!     fn prevention_control(&self) -> nativeguard_validate::model::PreventionControl {
//!         nativeguard_validate::model::PreventionControl {
//!             command: "sandbox".into(), policy: "-".into(), landlock: "-".into(),
//!         }
//!     }
//!     fn prevent(&mut self, _: &str) -> Result<PreventionOutcome, Error> {
//!         Err(Error::Control { command: "sandbox".into(), message: "absent".into() })
//!     }
//! }
//!
//! let exp = Expectations::builtin("T1106").unwrap();
//! let report = validate(&mut Nothing, Inputs {
//!     expectations: &exp,
//!     linux_rules: &[],
//!     windows: windows::validate_embedded(&exp),
//! });
//! assert!(!report.passed(), "nothing ran, so nothing passed");
//! assert!(report.tests.iter().any(|t| t.status == TestStatus::Skipped)); // ART's Windows tests
//! assert!(report.rules.iter().any(|r| r.result == RuleStatus::ValidatedOnSamples));
//! assert!(render::markdown(&report).starts_with("# T1106: Native API"));
//! ```
#![deny(missing_docs)]

pub mod catalog;
mod embedded;
mod error;
pub mod expectations;
pub mod model;
pub mod process;
pub mod render;
pub mod runner;
mod validation;
pub mod windows;

pub use error::Error;
pub use validation::{validate, Inputs};
