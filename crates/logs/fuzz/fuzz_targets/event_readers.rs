//! Arbitrary bytes through every event reader: JSON Lines, JSON document and EVTX. None may
//! panic, loop forever or grow without bound; each yields events or errors and ends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_logs::{EvtxReader, JsonLayout, JsonReader};

fuzz_target!(|data: &[u8]| {
    for layout in [JsonLayout::Lines, JsonLayout::Document] {
        let reader = JsonReader::new(data, "fuzz.json", layout);
        // Every item consumes input, so there are at most as many items as bytes (plus one).
        let items = reader.count();
        assert!(items <= data.len() + 1, "{items} items from {} bytes", data.len());
    }
    if let Ok(mut reader) = EvtxReader::from_bytes(data.to_vec(), "fuzz.evtx") {
        for item in reader.events() {
            let _ = item.map(|event| event.len());
        }
    }
});
