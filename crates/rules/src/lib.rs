//! # nativeguard-rules
//!
//! The default Sigma rulesets, compiled into the binary so `nativeguard hunt LOGS` and
//! `nativeguard monitor` need no rules path. The rule files live in the repository's `rules/`
//! folder (one folder per set, each with its licenses and sources beside the files); `build.rs`
//! embeds every `.yml` found there, so adding a rule is adding a file.
//!
//! - [`WINDOWS`]: the seed page's Sigma rules (current versions and successors), the other
//!   T1106 rules, and the two Splunk detections ported to Sigma.
//! - [`LINUX`]: nativeguard's Linux T1106 rules and the seed's Linux rules.
//!
//! ```
//! for rule in nativeguard_rules::WINDOWS.iter().chain(nativeguard_rules::LINUX) {
//!     assert!(rule.path.ends_with(".yml") || rule.path.ends_with(".yaml"));
//! }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// One rule file compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedRule {
    /// Path below the repository's `rules/` folder, e.g. `windows/seed/x.yml`.
    pub path: &'static str,
    /// The file's YAML text (may hold several documents).
    pub text: &'static str,
    /// The text's YAML parser events, recorded when the binary was built, for
    /// `RuleSetBuilder::add_recorded` (which parses `text` if they do not match it).
    pub recording: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// A ruleset by name (`windows` or `linux`).
pub fn ruleset(name: &str) -> Option<&'static [EmbeddedRule]> {
    match name {
        "windows" => Some(WINDOWS),
        "linux" => Some(LINUX),
        _ => None,
    }
}
