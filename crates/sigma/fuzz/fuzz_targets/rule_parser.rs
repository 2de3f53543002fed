//! Arbitrary bytes as a rule file: loading must never panic, and a rule that loads must
//! evaluate on a fixed event (engine and reference evaluator agreeing) without panicking. The
//! event streamed to the engine (as the JSON and EVTX readers hand events over) must match the
//! same rules as the event built, and so must the rules evaluated without their literal
//! prefilter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_event::{Event, Timestamp, Value};
use nativeguard_sigma::{Detection, Pipeline, RuleSetBuilder};
use std::sync::{Arc, OnceLock};

/// Parsed once: the shipped pipelines are not what this target fuzzes.
fn pipelines() -> &'static [Pipeline; 2] {
    static PIPELINES: OnceLock<[Pipeline; 2]> = OnceLock::new();
    PIPELINES.get_or_init(|| [Pipeline::none(), Pipeline::windows()])
}

/// The ids of the rules that fired, sorted (the engine orders them by its index).
fn ids(detections: &[Detection]) -> Vec<&str> {
    let mut ids: Vec<&str> = detections.iter().map(|d| d.rule.id.as_str()).collect();
    ids.sort_unstable();
    ids
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for pipeline in pipelines() {
        let mut builder = RuleSetBuilder::new(pipeline.clone());
        let _ = builder.add_file("fuzz.yml", text);
        let (set, _) = builder.build();
        let set = Arc::new(set);
        let mut event = Event::new();
        event.insert("Channel", "Microsoft-Windows-Sysmon/Operational");
        event.insert("EventID", Value::Int(1));
        event.insert("Image", "C:\\Windows\\System32\\cmd.exe");
        event.insert("CommandLine", "cmd.exe /c whoami -all \u{2013}x aGVsbG8=");
        event.insert("DestinationIp", "10.0.0.1");
        event.insert("Count", Value::Int(7));
        event.insert("List", Value::List(vec![Value::from("a"), Value::Null]));
        event.insert_path("winlog.event_data.User", "SYSTEM");
        // Most likely named by no rule: only keyword lists read it.
        event.insert("Unnamed", "sekurlsa::logonpasswords \\mimilib.dll İ");
        event.timestamp = Some(Timestamp(0));
        let mut engine = set.engine();
        let mut out = Vec::new();
        engine.evaluate(&event, &mut out);
        engine.evaluate(&event, &mut out);
        let reference = set.reference_matches(&event);
        let engine_plain = out.iter().filter(|d| d.correlation.is_none()).count();
        // Correlation-fed rules do not alert alone, so the engine reports at most the reference.
        assert!(engine_plain <= 2 * reference.len());

        let mut built = Vec::new();
        set.engine().evaluate(&event, &mut built);
        let mut streamed = Vec::new();
        // False for a set with correlations (their windows need the built event).
        let fed = set.engine().evaluate_streamed(
            |loader| {
                event.fields.feed(loader);
                true
            },
            &mut streamed,
        );
        if fed {
            assert_eq!(ids(&streamed), ids(&built));
        }

        // Without the literal prefilter (as `trace` runs its rules): the same rules fire.
        let mut again = RuleSetBuilder::new(pipeline.clone()).without_literal_index();
        let _ = again.add_file("fuzz.yml", text);
        let unindexed = Arc::new(again.build().0);
        let mut direct = Vec::new();
        unindexed.engine().evaluate(&event, &mut direct);
        assert_eq!(ids(&direct), ids(&built));
    }
});
