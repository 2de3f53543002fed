//! # nativeguard-sigma
//!
//! Sigma rules (specification v2.1: detection rules, correlation rules, filters, every
//! modifier) compiled for fast matching over [`nativeguard_event::Event`]s. No I/O: callers
//! read files and hand this crate their text.
//!
//! ## Main types
//! - [`Pipeline`]: which events a rule's `logsource` means (routing keys such as `Channel` and
//!   `EventID`) and how rule field names map onto event field names. Pipelines are data:
//!   [`Pipeline::windows`] and [`Pipeline::linux`] load `pipelines/*.yml`.
//! - [`RuleSetBuilder`]: `add_file(path, text)` parses every YAML document of a file (a bad
//!   document fails alone, with file, line and reason in a [`LoadError`]); `build()` resolves
//!   filter and correlation references and compiles.
//! - [`RuleSet`]: immutable, `Send + Sync`, shared through `Arc`. [`RuleSet::rules`] lists
//!   every rule's [`RuleInfo`] (id, title, level, status, author, tags, ...).
//! - [`Engine`]: one per event stream (it holds correlation windows). [`Engine::evaluate`]
//!   pushes a [`Detection`] per matching rule and per correlation that fires.
//!
//! ## Data flow
//! ```text
//! YAML text ──yaml──▶ Node tree (with lines) ──parse──▶ rule AST (modifiers applied)
//!    ──build──▶ per (rule, log-source target): compiled Expr over interned field slots
//! Event ──Engine──▶ slots (once) ──routing key (once)──▶ bucket ──▶ lowercased values (once)
//!    ──literal search (Teddy / Aho-Corasick)──▶ candidate rules ──Expr──▶ Detection
//!                                                         └──▶ correlation windows
//! ```
//! The reference evaluator ([`RuleSet::reference_matches`]) evaluates the AST directly with
//! no routing index or prefilter; tests check the engine against it.
//!
//! Required literals: for each compiled rule, up to two sets of lowercased literals, each such
//! that every matching event holds one of its literals in a given field (from
//! `contains`/`startswith`/`endswith`/exact values, `?`/`*` patterns, and the prefixes of a regex
//! or of one of its tails). Each part of an `and` and each value of an `|all` list gives a set of
//! its own, and the two most selective are kept (preferring literals not found in text most
//! Windows events hold); `or` unites its parts' sets into one. A rule is evaluated only on events
//! holding a literal of each of its sets. A rule with no such set (negations, `fieldref`,
//! numeric comparisons) runs on every event of its bucket.
//!
//! Values of fields no rule names matter to keyword lists only: a streamed event keeps their
//! texts apart (lowercased for the keyword search) and gives them a place among the values only
//! when a rule with a keyword item is about to be evaluated.
//!
//! ## Semantics worth knowing
//! - Strings compare case-insensitively unless `cased`; `re` is case-sensitive unless `|i`.
//! - Field names match ignoring ASCII case and spaces (`ThreatName` finds Defender's
//!   `Threat Name`); a pipeline's `field_prefixes` let `Image` find
//!   `winlog.event_data.Image`. Numbers compare as text for plain values (`EventID: 4688`
//!   matches the integer 4688 and the string "4688") and as numbers for `gt`/`gte`/`lt`/`lte`.
//! - `null` matches an absent or null field; `neq` is "not equal to any value" (so it matches
//!   an absent field); keyword lists search every value of the event (as `contains`).
//! - `expand` placeholders take values from [`RuleSetBuilder::set_placeholders`]; a
//!   placeholder without values matches nothing (the rule loads and
//!   [`RuleSet::unresolved_placeholders`] names it), so the rule cannot match by accident.
//! - Correlations: see the `correlation` module notes (inclusive windows, fire once then reset,
//!   events without timestamps are ignored). Rules referenced by a correlation alert on their
//!   own only when a correlation referencing them says `generate: true`.
//!
//! ```
//! use nativeguard_event::{Event, Value};
//! use nativeguard_sigma::{Pipeline, RuleSetBuilder, Level};
//! use std::sync::Arc;
//!
//! let mut builder = RuleSetBuilder::new(Pipeline::windows());
//! let errors = builder.add_file("whoami.yml", r#"
//! title: Whoami Execution
//! id: 8a3c7d3f-0000-4000-8000-000000000001
//! author: Example
//! level: high
//! logsource: {product: windows, category: process_creation}
//! detection:
//!     selection:
//!         Image|endswith: '\whoami.exe'
//!         CommandLine|contains|windash: ' /all'
//!     condition: selection
//! "#);
//! assert!(errors.is_empty());
//! let (rules, errors) = builder.build();
//! assert!(errors.is_empty());
//! let rules = Arc::new(rules);
//! let mut engine = rules.engine();
//!
//! // Security 4688: NewProcessName is renamed to Image by the Windows pipeline.
//! let mut event = Event::new();
//! event.insert("Channel", "Security");
//! event.insert("EventID", Value::Int(4688));
//! event.insert("NewProcessName", "C:\\Windows\\System32\\WHOAMI.EXE");
//! event.insert("CommandLine", "whoami \u{2013}all");
//! let mut out = Vec::new();
//! engine.evaluate(&event, &mut out);
//! assert_eq!(out.len(), 1);
//! assert_eq!(out[0].rule.level, Level::High);
//! assert_eq!(out[0].rule.author.as_deref(), Some("Example"));
//!
//! // The same fields on a Sysmon 4688 would be another event: no match.
//! let mut other = event.clone();
//! other.fields = Default::default();
//! other.insert("Channel", "Microsoft-Windows-Sysmon/Operational");
//! other.insert("EventID", Value::Int(4688));
//! other.insert("Image", "C:\\Windows\\System32\\whoami.exe");
//! other.insert("CommandLine", "whoami /all");
//! out.clear();
//! engine.evaluate(&other, &mut out);
//! assert!(out.is_empty());
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod ast;
mod builder;
mod compile;
mod condition;
mod correlation;
mod error;
mod eval;
mod modifiers;
mod parse;
mod pipeline;
mod recording;
mod reference;
mod rule;
mod ruleset;
mod yaml;

pub use builder::RuleSetBuilder;
pub use condition::{MAX_CONDITION_DEPTH, MAX_CONDITION_LEN};
pub use correlation::{MAX_CORRELATION_GROUPS, MAX_WINDOW_EVENTS};
pub use error::{Error, LoadError};
pub use eval::FieldLoader;
pub use modifiers::MAX_VALUE_EXPANSION;
pub use parse::MAX_REGEX_SIZE;
pub use pipeline::Pipeline;
pub use recording::record_yaml;
pub use rule::{CorrelationHit, Detection, Level, LogSource, RuleInfo, RuleKind};
pub use ruleset::{Engine, RuleSet, MAX_ROUTE_CACHE};
pub use yaml::{MAX_YAML_DEPTH, MAX_YAML_NODES};

use nativeguard_event::Event;
use std::sync::Arc;

impl RuleSet {
    /// The detection rules matching `event`, computed by the reference evaluator: every rule's
    /// parsed condition evaluated directly (routing checked per rule, no index, no prefilter,
    /// no correlations). Slow; meant for tests and for checking the engine.
    pub fn reference_matches(&self, event: &Event) -> Vec<Arc<RuleInfo>> {
        let key_values: Vec<Option<String>> = self
            .pipeline
            .keys
            .iter()
            .map(|(_, alts)| alts.iter().find_map(|f| eval::field_text(event, f)))
            .collect();
        let flat = reference::flatten(event);
        let mut out = Vec::new();
        for det in &self.dets {
            let targets: Vec<Option<&pipeline::Target>> = match &det.route {
                pipeline::Route::Nowhere => continue,
                pipeline::Route::Everything => vec![None],
                pipeline::Route::Targets(ts) => ts
                    .iter()
                    .filter(|t| t.accepts(&key_values))
                    .map(Some)
                    .collect(),
            };
            let hit = targets.into_iter().any(|t| {
                let ctx = reference::Ctx::new(&flat, &self.pipeline.field_prefixes, t);
                reference::detection_matches(&det.ast, &det.filters, &ctx)
            });
            if hit {
                out.push(Arc::clone(&self.rules[det.rule]));
            }
        }
        out
    }
}
