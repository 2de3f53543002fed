//! The expectation data: which controls a technique has and what each must do.
//!
//! Expectations are YAML compiled into the binary (`expectations/<TECHNIQUE>.yml`), parsed and
//! checked once before anything runs, so a typo in the data fails the run up front instead of
//! turning into a silent "not expected".

use serde::Deserialize;

use crate::Error;

/// Every technique with expectation data, as `(technique id, YAML text)`.
const BUILTIN: &[(&str, &str)] = &[("T1106", include_str!("../expectations/T1106.yml"))];

/// The longest expectation file accepted (the shipped one is a few KiB).
pub const MAX_EXPECTATIONS_BYTES: usize = 1 << 20;

/// What nativeguard expects of every control of one technique.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The technique itself.
    pub technique: Technique,
    /// The seed page's policy / process controls (D3FEND).
    pub policy_controls: Vec<PolicyControl>,
    /// The seed page's Sigma rules, by seed path and current path.
    pub sigma_rules: Vec<SeedSigmaRule>,
    /// The seed page's Splunk detections.
    pub splunk_detections: Vec<SplunkDetection>,
    /// Atomic Red Team's tests of the technique for Windows.
    pub windows_tests: Vec<WindowsTest>,
    /// Rules that must not fire on any test.
    #[serde(default)]
    pub forbidden_rules: Vec<ForbiddenRule>,
    /// nativeguard's Linux tests and what each control must do with them.
    pub linux_tests: Vec<LinuxTestExpectation>,
}

/// An ATT&CK technique as the report shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Technique {
    /// `T1106`.
    pub id: String,
    /// `Native API`.
    pub name: String,
    /// The tactics the technique belongs to.
    pub tactics: Vec<Tactic>,
    /// The technique's ATT&CK page.
    pub url: String,
    /// An excerpt of ATT&CK's description, verbatim.
    pub description: String,
    /// The ATT&CK release the excerpt was taken from.
    pub attack_version: String,
    /// MITRE's required copyright designation.
    pub attribution: String,
    /// ATT&CK's terms of use.
    pub terms_url: String,
}

/// One ATT&CK tactic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tactic {
    /// Navigator's short name (`execution`).
    pub shortname: String,
    /// Display name (`Execution`).
    pub name: String,
    /// `TA0002`.
    pub id: String,
}

/// Which part of the loop exercises a policy control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Run {
    /// The detection run (analysis control around each test).
    Detection,
    /// The prevention run (each test inside the sandbox).
    Prevention,
}

/// A D3FEND technique the seed lists.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyControl {
    /// `D3-SCA`.
    pub id: String,
    /// `System Call Analysis`.
    pub name: String,
    /// The seed's link.
    pub url: String,
    /// The run that exercises it.
    pub run: Run,
}

/// One of the seed's Sigma rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSigmaRule {
    /// Rule id (stable across SigmaHQ's renames).
    pub id: String,
    /// The path as the seed page names it.
    pub seed_path: String,
    /// The seed page's link.
    pub seed_url: String,
    /// The rule's path in SigmaHQ today.
    pub current_path: String,
    /// What changed since the seed, when it matters to the result.
    #[serde(default)]
    pub note: Option<String>,
}

/// One of the seed's Splunk detections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplunkDetection {
    /// The Splunk detection id; the Sigma port names it.
    pub id: String,
    /// The detection's name.
    pub name: String,
    /// The path as the seed page names it.
    pub seed_path: String,
    /// The seed page's link.
    pub seed_url: String,
}

/// An Atomic Red Team test that only runs on Windows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsTest {
    /// Test name.
    pub name: String,
    /// `auto_generated_guid`.
    pub guid: String,
}

/// A rule that must stay silent on every test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForbiddenRule {
    /// Rule id.
    pub id: String,
    /// Why it must not fire.
    pub why: String,
}

/// What the controls must do with one Linux test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinuxTestExpectation {
    /// The `nativeguard emulate` name.
    pub emulation: String,
    /// The test's GUID in the shipped atomics file, to pair it with `atomic list`.
    #[serde(default)]
    pub guid: Option<String>,
    /// A benign baseline: observed, no alert at level low or above.
    #[serde(default)]
    pub baseline: bool,
    /// Rule ids that must all fire in the detection run.
    pub rules: Vec<String>,
    /// Whether the hardening policy must block the test (false: it must let it run).
    pub prevented: bool,
}

impl Expectations {
    /// The compiled-in expectations for `technique` (case-insensitive), if it has any.
    pub fn builtin(technique: &str) -> Result<Expectations, Error> {
        let (id, text) = BUILTIN
            .iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(technique))
            .ok_or_else(|| Error::NoExpectations {
                technique: technique.to_string(),
                known: BUILTIN.iter().map(|(id, _)| id.to_string()).collect(),
            })?;
        Expectations::parse(&format!("expectations/{id}.yml"), text)
    }

    /// Techniques with compiled-in expectations.
    pub fn known_techniques() -> Vec<&'static str> {
        BUILTIN.iter().map(|(id, _)| *id).collect()
    }

    /// Parses and checks expectation data; `origin` names the file in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Expectations, Error> {
        if text.len() > MAX_EXPECTATIONS_BYTES {
            return Err(Error::Expectations {
                path: origin.to_string(),
                line: None,
                message: format!(
                    "{} bytes is over the {MAX_EXPECTATIONS_BYTES}-byte limit",
                    text.len()
                ),
            });
        }
        let expectations: Expectations =
            serde_norway::from_str(text).map_err(|err| Error::Expectations {
                path: origin.to_string(),
                line: err.location().map(|l| l.line()),
                message: err.to_string(),
            })?;
        expectations.check(origin)?;
        Ok(expectations)
    }

    /// Rejects data that would make the loop silently expect nothing.
    fn check(&self, origin: &str) -> Result<(), Error> {
        let fail = |message: String| Error::Expectations {
            path: origin.to_string(),
            line: None,
            message,
        };
        if self.technique.tactics.is_empty() {
            return Err(fail("technique.tactics is empty".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for test in &self.linux_tests {
            if !seen.insert(test.emulation.as_str()) {
                return Err(fail(format!(
                    "linux test `{}` listed twice",
                    test.emulation
                )));
            }
            if test.baseline && !test.rules.is_empty() {
                return Err(fail(format!(
                    "baseline test `{}` may not expect rules to fire",
                    test.emulation
                )));
            }
            if !test.baseline && test.rules.is_empty() {
                return Err(fail(format!(
                    "test `{}` expects no rule: mark it `baseline: true` or name its rules",
                    test.emulation
                )));
            }
            for rule in &test.rules {
                if self.forbidden_rules.iter().any(|f| &f.id == rule) {
                    return Err(fail(format!(
                        "test `{}` expects rule {rule}, which is forbidden on every test",
                        test.emulation
                    )));
                }
            }
        }
        Ok(())
    }

    /// The expectation for an emulation, if any.
    pub fn linux_test(&self, emulation: &str) -> Option<&LinuxTestExpectation> {
        self.linux_tests.iter().find(|t| t.emulation == emulation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_t1106_parses_and_names_every_contract_rule() {
        let exp = Expectations::builtin("t1106").unwrap();
        assert_eq!(exp.technique.id, "T1106");
        assert_eq!(exp.sigma_rules.len(), 9, "the seed lists nine Sigma rules");
        assert_eq!(exp.splunk_detections.len(), 2);
        assert_eq!(exp.windows_tests.len(), 5);
        assert_eq!(exp.policy_controls.len(), 2);
        // contracts §5: every rule with an intended test is expected somewhere.
        for id in [
            "e325d8e1-c0e6-4d16-be67-bf6bf64dfb1f",
            "e506ed97-ef61-41c2-8656-f4f09a41ce5c",
            "d9df4ebb-6ea0-4190-821e-745541353d4f",
            "189b8de2-315a-4328-908e-9cf0fb8d020e",
            "e33912b7-e739-498b-8564-a63a4ca1f30c",
            "10a7f919-caf7-46cc-8d66-14161b8eb008",
            "1a4b45e3-bb6e-4f8c-8d67-eaddb128c84c",
        ] {
            assert!(
                exp.linux_tests
                    .iter()
                    .any(|t| t.rules.iter().any(|r| r == id)),
                "{id} expected by no test"
            );
        }
        assert!(exp.linux_test("libc-exec").unwrap().baseline);
        assert!(exp.linux_test("spawn-variants").unwrap().baseline);
    }

    #[test]
    fn unknown_technique_names_the_known_ones() {
        let err = Expectations::builtin("T1059").unwrap_err().to_string();
        assert!(err.contains("T1059") && err.contains("T1106"), "{err}");
    }

    #[test]
    fn bad_data_is_rejected_with_its_place() {
        let text = include_str!("../expectations/T1106.yml")
            .replace("prevented: true", "prevented: maybe");
        let err = Expectations::parse("x.yml", &text).unwrap_err().to_string();
        assert!(err.starts_with("x.yml:"), "{err}");

        let text = include_str!("../expectations/T1106.yml")
            .replace("rules: [e325d8e1-c0e6-4d16-be67-bf6bf64dfb1f]", "rules: []");
        let err = Expectations::parse("x.yml", &text).unwrap_err().to_string();
        assert!(err.contains("inline-syscall-exec"), "{err}");
    }

    #[test]
    fn oversized_data_is_rejected() {
        let text = "#".repeat(MAX_EXPECTATIONS_BYTES + 1);
        let err = Expectations::parse("big.yml", &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("limit"), "{err}");
    }
}
