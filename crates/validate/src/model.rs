//! The report: what every control did with every test and rule of one technique.
//!
//! Plain data, built by [`crate::validate`] and read by the renderers in [`crate::render`]. It
//! serializes as the JSON report (`schema/report.schema.json`), so field names here are the
//! wire format: change them only with the schema.

use serde::Serialize;

use crate::expectations::Run;

/// A whole validation run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The technique id (`T1106`).
    pub technique: String,
    /// The technique as the seed page shows it.
    pub technique_info: TechniqueInfo,
    /// When the run finished (RFC 3339, UTC).
    pub generated: String,
    /// The nativeguard version that ran it.
    pub nativeguard_version: String,
    /// The analysis control used for the detection run, and why.
    pub analysis_control: AnalysisControl,
    /// The prevention control (sandbox + shipped policy).
    pub prevention_control: PreventionControl,
    /// The seed's policy / process controls with their results.
    pub policy_controls: Vec<PolicyControlResult>,
    /// Every test: Atomic Red Team's and nativeguard's.
    pub tests: Vec<TestResult>,
    /// Every detection rule: Windows (validated on samples) and Linux (validated live).
    pub rules: Vec<RuleResult>,
    /// The seed's Splunk detections and the Sigma port that carries each.
    pub splunk: Vec<SplunkResult>,
    /// Counts over everything above.
    pub totals: Totals,
    /// Every control that did not act where it was expected to (or acted where it must not).
    pub failures: Vec<Failure>,
    /// Things that kept part of the run from happening (a test that could not start, a
    /// subcommand that is missing). Never counted as a pass.
    pub errors: Vec<String>,
    /// Things worth knowing that change no result.
    pub notes: Vec<String>,
}

/// The technique header of the report.
#[derive(Debug, Clone, Serialize)]
pub struct TechniqueInfo {
    /// `T1106`.
    pub id: String,
    /// `Native API`.
    pub name: String,
    /// Tactic display names.
    pub tactics: Vec<String>,
    /// Tactic short names (ATT&CK Navigator's `tactic`).
    pub tactic_shortnames: Vec<String>,
    /// The ATT&CK page.
    pub url: String,
    /// Verbatim excerpt of ATT&CK's description.
    pub description: String,
    /// ATT&CK release of the excerpt.
    pub attack_version: String,
    /// MITRE's copyright designation (ATT&CK terms of use).
    pub attribution: String,
    /// Link to the terms of use.
    pub terms_url: String,
}

/// Which analysis control watched the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalysisKind {
    /// `nativeguard monitor`: the host-wide eBPF sensor, watching from outside.
    Sensor,
    /// `nativeguard trace`: the per-command ptrace tracer around each test.
    Trace,
    /// Neither could run.
    None,
}

impl AnalysisKind {
    /// Lower-case name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AnalysisKind::Sensor => "sensor",
            AnalysisKind::Trace => "trace",
            AnalysisKind::None => "none",
        }
    }
}

/// The analysis control used for the detection run.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisControl {
    /// Sensor, tracer, or none.
    pub kind: AnalysisKind,
    /// The command line that ran it.
    pub command: String,
    /// Why this one was used (e.g. "not root: the eBPF sensor needs root").
    pub reason: String,
    /// The Linux rules it ran: `embedded` or the `--rules` paths.
    pub rules: String,
}

/// The prevention control.
#[derive(Debug, Clone, Serialize)]
pub struct PreventionControl {
    /// The command line that wraps each test.
    pub command: String,
    /// Where the seccomp policy came from.
    pub policy: String,
    /// Where the Landlock policy came from.
    pub landlock: String,
}

/// A D3FEND technique with the result of the run that exercises it.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyControlResult {
    /// `D3-SCA`.
    pub id: String,
    /// `System Call Analysis`.
    pub name: String,
    /// The seed's link.
    pub url: String,
    /// Which run exercises it.
    pub run: Run,
    /// The nativeguard control implementing it.
    pub implemented_by: String,
    /// Tests where it acted as expected.
    pub passed: usize,
    /// Tests where it was checked.
    pub checked: usize,
    /// Whether it acted as expected on every checked test (false when nothing was checked).
    pub validated: bool,
    /// One-line result.
    pub result: String,
}

/// Where a test comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestSource {
    /// Atomic Red Team's T1106 file.
    AtomicRedTeam,
    /// nativeguard's Linux tests (`nativeguard emulate`).
    Nativeguard,
}

/// Whether a test ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    /// It ran in at least one run.
    Ran,
    /// It cannot run here (another platform).
    Skipped,
    /// It should have run but could not start or finish.
    Error,
}

/// A control's verdict on one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The control did what was expected.
    Pass,
    /// The control did not act where expected, or acted where it must not.
    Fail,
    /// The test did not run, so the control was not checked.
    NotRun,
}

/// One alert raised during a test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertSummary {
    /// Rule id.
    pub id: String,
    /// Rule title.
    pub title: String,
    /// Rule level.
    pub level: String,
    /// Rule author (DRL 1.1).
    pub author: Option<String>,
    /// Milliseconds from the test's start to the alert reaching the loop.
    pub latency_ms: u64,
}

/// One denial reported by the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// The denied syscall (or the blocked operation).
    pub syscall: String,
    /// `seccomp` or `landlock`.
    pub layer: String,
    /// The line as reported.
    pub detail: String,
}

/// Every control's result on one test.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// Test name.
    pub name: String,
    /// Test GUID (`auto_generated_guid`), when it has one.
    pub guid: Option<String>,
    /// The platform it was run for (`linux`, `windows`).
    pub platform: String,
    /// Atomic Red Team or nativeguard.
    pub source: TestSource,
    /// The `nativeguard emulate` name behind it.
    pub emulation: Option<String>,
    /// Ran, skipped or error.
    pub status: TestStatus,
    /// Why it was skipped or failed to run.
    pub reason: Option<String>,
    /// A benign baseline: must be observed and raise nothing at level low or above.
    pub baseline: bool,
    /// Rule ids that had to fire.
    pub expected_rules: Vec<String>,
    /// Whether any rule fired on it.
    pub detected: bool,
    /// Rule ids that fired, in order of first alert.
    pub rules: Vec<String>,
    /// Milliseconds from the start to the first alert of an expected rule (any rule for a
    /// test that expects none).
    pub latency_ms: Option<u64>,
    /// Each rule's first alert.
    pub alerts: Vec<AlertSummary>,
    /// Whether the analysis control saw the test's exec (process_creation through libc).
    pub observed: Option<bool>,
    /// The analysis control's verdict.
    pub detection: Verdict,
    /// Whether the hardening policy must block it (null for tests not run here).
    pub expected_prevented: Option<bool>,
    /// Whether the sandbox blocked it (null when the prevention run did not run it).
    pub prevented: Option<bool>,
    /// The denials reported.
    pub denials: Vec<Denial>,
    /// The prevention control's verdict.
    pub prevention: Verdict,
}

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleOrigin {
    /// One of the seed page's nine Sigma rules.
    Seed,
    /// Another SigmaHQ rule of the embedded Windows set (T1106-tagged or a successor).
    SigmaHq,
    /// A Splunk detection ported to Sigma.
    SplunkPort,
    /// A Linux rule (nativeguard's or SigmaHQ's) run live by the analysis control.
    Linux,
}

/// How a rule was validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleStatus {
    /// Linux: fired on every test that expects it.
    ValidatedLive,
    /// Windows: every positive sample fired it, no negative did.
    ValidatedOnSamples,
    /// It did not fire where expected, or fired where it must not.
    Failed,
    /// Windows: no committed sample. Not validated.
    NoSample,
    /// Linux: no test exercises it. Not validated.
    NotExercised,
    /// Expected by a test but absent from the rule set in use.
    Missing,
}

/// One detection rule's result.
#[derive(Debug, Clone, Serialize)]
pub struct RuleResult {
    /// Rule id.
    pub id: String,
    /// Rule title.
    pub title: String,
    /// Rule level.
    pub level: Option<String>,
    /// Sigma status (`test`, `deprecated`, ...).
    pub status: Option<String>,
    /// Rule author (DRL 1.1).
    pub author: Option<String>,
    /// `windows` or `linux`.
    pub platform: String,
    /// Seed, SigmaHQ, Splunk port, Linux.
    pub origin: RuleOrigin,
    /// The path as the seed page names it.
    pub seed_path: Option<String>,
    /// The seed page's link.
    pub seed_url: Option<String>,
    /// The rule's SigmaHQ path today.
    pub current_path: Option<String>,
    /// The file it was loaded from (embedded path or `--rules` file).
    pub path: Option<String>,
    /// Whether it is validated (live or on samples). Never true for "no sample".
    pub validated: bool,
    /// How.
    pub result: RuleStatus,
    /// What was seen, in words.
    pub evidence: String,
    /// What changed since the seed, when it matters.
    pub note: Option<String>,
}

/// A seed Splunk detection and its Sigma port.
#[derive(Debug, Clone, Serialize)]
pub struct SplunkResult {
    /// Splunk detection id.
    pub id: String,
    /// Detection name.
    pub name: String,
    /// The path as the seed page names it.
    pub seed_path: String,
    /// The seed page's link.
    pub seed_url: String,
    /// The id of the Sigma rule that ports it, when the embedded set has one.
    pub port_rule_id: Option<String>,
    /// Whether the port is validated on samples.
    pub validated: bool,
    /// What was seen.
    pub evidence: String,
}

/// Counts over the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Tests listed.
    pub tests: usize,
    /// Tests that ran.
    pub tests_ran: usize,
    /// Tests skipped (another platform).
    pub tests_skipped: usize,
    /// Tests that could not run.
    pub tests_error: usize,
    /// Detection verdicts that passed.
    pub detection_passed: usize,
    /// Detection verdicts checked (pass + fail).
    pub detection_checked: usize,
    /// Prevention verdicts that passed.
    pub prevention_passed: usize,
    /// Prevention verdicts checked (pass + fail).
    pub prevention_checked: usize,
    /// Rules listed.
    pub rules: usize,
    /// Linux rules validated live.
    pub rules_validated_live: usize,
    /// Windows rules validated on samples.
    pub rules_validated_on_samples: usize,
    /// Rules that failed.
    pub rules_failed: usize,
    /// Windows rules without a sample.
    pub rules_no_sample: usize,
    /// Linux rules no test exercises.
    pub rules_not_exercised: usize,
    /// Expected rules absent from the rule set.
    pub rules_missing: usize,
    /// Validated entries / all entries, 0-100 (the Navigator score).
    pub coverage_percent: u32,
}

/// A control that did not act as expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The test or rule concerned.
    pub entry: String,
    /// The control concerned (`sensor`, `trace`, `sandbox`, a rule id).
    pub control: String,
    /// What was expected and what happened.
    pub message: String,
}

impl Report {
    /// Whether every checked control acted as expected and nothing kept a check from running.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.errors.is_empty()
    }
}
