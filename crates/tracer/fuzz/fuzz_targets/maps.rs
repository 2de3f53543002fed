//! `/proc/PID/maps` text (mapping names are chosen by the traced program): parsing never
//! panics, and every lookup answers from a mapping that contains the address.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nativeguard_tracer::maps::Maps;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let maps = Maps::parse(&text);
    for mapping in maps.mappings() {
        for address in [mapping.start, mapping.end.saturating_sub(1), mapping.end] {
            if let Some(found) = maps.find(address) {
                assert!(found.start <= address && address < found.end);
            }
            let _ = maps.classify(address, Some("/usr/bin/x"));
        }
    }
});
