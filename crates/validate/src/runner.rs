//! The seam between the validation loop and the controls it drives.
//!
//! [`ControlRunner`] is everything the loop needs from the outside world: the technique's test
//! list, one test run under the analysis control, one test run under the prevention control.
//! [`crate::process::ProcessRunner`] implements it by running `nativeguard` subcommands as child
//! processes, as a user would; tests implement it with canned outcomes.

use crate::model::{AlertSummary, AnalysisControl, Denial, PreventionControl};
use crate::Error;

/// A test as `nativeguard atomic list --format json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ListedTest {
    /// Technique id.
    #[serde(default)]
    pub technique: String,
    /// Test name.
    pub name: String,
    /// Test GUID.
    #[serde(default)]
    pub guid: Option<String>,
    /// Supported platforms (`linux`, `windows`, `macos`).
    #[serde(default)]
    pub platforms: Vec<String>,
}

/// What the analysis control reported while one test ran.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectionOutcome {
    /// The test's exit code (`None` when killed by a signal or timed out).
    pub exit_code: Option<i32>,
    /// Every alert attributed to the test, in arrival order.
    pub alerts: Vec<AlertSummary>,
    /// Whether a process_creation event through libc from the test's processes was seen.
    pub observed_exec: bool,
    /// Events attributed to the test.
    pub events: usize,
    /// The last lines of the test's and the control's stderr, for error messages.
    pub stderr_tail: String,
}

/// What the prevention control reported for one test.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreventionOutcome {
    /// The sandboxed command's exit code as `sandbox` passed it through.
    pub exit_code: Option<i32>,
    /// Denials the sandbox reported.
    pub denials: Vec<Denial>,
    /// The emulation's own `blocked: STEP: ERRNO` line, when it printed one.
    pub blocked: Option<String>,
    /// The last lines of stderr.
    pub stderr_tail: String,
}

/// The controls, as the loop sees them.
pub trait ControlRunner {
    /// The technique's tests (all platforms), as the atomic runner lists them.
    fn list_tests(&mut self, technique: &str) -> Result<Vec<ListedTest>, Error>;

    /// Starts (or chooses) the analysis control for the detection run.
    fn start_analysis(&mut self) -> Result<AnalysisControl, Error>;

    /// Runs one emulation under the analysis control.
    fn detect(&mut self, emulation: &str) -> Result<DetectionOutcome, Error>;

    /// Stops the analysis control; returns notes (e.g. lost events) for the report.
    fn stop_analysis(&mut self) -> Result<Vec<String>, Error>;

    /// Describes the prevention control.
    fn prevention_control(&self) -> PreventionControl;

    /// Runs one emulation inside the sandbox with the hardening policy.
    fn prevent(&mut self, emulation: &str) -> Result<PreventionOutcome, Error>;
}
