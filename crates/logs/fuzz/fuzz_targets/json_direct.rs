//! Differential: wherever the direct JSON parser takes an object on, it must give exactly the
//! fields serde_json's path gives (which decodes everything else).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nativeguard_logs::check_direct_json_decoder(data);
});
