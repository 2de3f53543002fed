//! Arbitrary bytes through every event reader: JSON Lines, JSON document and EVTX. None may
//! panic, loop forever or grow without bound; each yields events or errors and ends. JSON
//! Lines are also read as `hunt` reads them: streamed where the reader can, and then the same
//! fields as the decoded event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_event::FieldsBuilder;
use nativeguard_logs::{EvtxReader, JsonLayout, JsonReader};

fuzz_target!(|data: &[u8]| {
    for layout in [JsonLayout::Lines, JsonLayout::Document] {
        let reader = JsonReader::new(data, "fuzz.json", layout);
        // Every item consumes input, so there are at most as many items as bytes (plus one).
        let items = reader.count();
        assert!(
            items <= data.len() + 1,
            "{items} items from {} bytes",
            data.len()
        );
    }
    let mut reader = JsonReader::new(data, "fuzz.jsonl", JsonLayout::Lines);
    let mut lines = 0;
    while let Some(line) = reader.read_event_text() {
        lines += 1;
        assert!(
            lines <= data.len() + 1,
            "{lines} lines from {} bytes",
            data.len()
        );
        if line.is_err() {
            continue;
        }
        let mut streamed = FieldsBuilder::default();
        if reader.stream_event(&mut streamed) {
            let event = reader.decode_event().expect("a streamed line decodes");
            let mut fed = FieldsBuilder::default();
            event.fields.feed(&mut fed);
            assert_eq!(streamed.finish(), fed.finish());
        } else {
            let _ = reader.decode_event();
        }
    }
    if let Ok(mut reader) = EvtxReader::from_bytes(data.to_vec(), "fuzz.evtx") {
        for item in reader.events() {
            let _ = item.map(|event| event.len());
        }
    }
});
