//! Ring-buffer records come from the kernel, but the decoder must hold for any bytes: it never
//! panics, and whatever it accepts encodes back to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_sensor::wire::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = decode(data) {
        assert_eq!(encode(&record), data);
    }
});
