//! Arbitrary bytes through every event reader: JSON Lines, JSON document and EVTX. None may
//! panic, loop forever or grow without bound; each yields events or errors and ends. JSON
//! Lines and EVTX records are also read as `hunt` reads them: streamed where the reader can,
//! and then the same fields as the decoded event, and as many events and errors as the
//! reader's plain iteration gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_event::FieldsBuilder;
use nativeguard_logs::{EventTexts, EvtxReader, JsonLayout, JsonReader};

/// Reads every event as `hunt` does; `(events, errors)`.
fn stream_all(reader: &mut impl EventTexts, bytes: usize) -> (usize, usize) {
    let (mut events, mut errors) = (0, 0);
    while let Some(read) = reader.read_event_text() {
        assert!(
            events + errors <= bytes + 1,
            "{} items from {bytes} bytes",
            events + errors
        );
        if read.is_err() {
            errors += 1;
            continue;
        }
        let mut streamed = FieldsBuilder::default();
        if reader.stream_event(&mut streamed) {
            let event = reader.decode_event().expect("a streamed event decodes");
            let mut fed = FieldsBuilder::default();
            event.fields.feed(&mut fed);
            assert_eq!(streamed.finish(), fed.finish());
            events += 1;
        } else {
            match reader.decode_event() {
                Ok(_) => events += 1,
                Err(_) => errors += 1,
            }
        }
    }
    (events, errors)
}

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
    stream_all(&mut reader, data.len());
    if let Ok(mut reader) = EvtxReader::from_bytes(data.to_vec(), "fuzz.evtx") {
        let (mut events, mut errors) = (0, 0);
        for item in reader.events() {
            match item {
                Ok(event) => events += usize::from(event.len() < usize::MAX),
                Err(_) => errors += 1,
            }
        }
        if let Ok(mut again) = EvtxReader::from_bytes(data.to_vec(), "fuzz.evtx") {
            assert_eq!(stream_all(&mut again.streamed(), data.len()), (events, errors));
        }
    }
});
