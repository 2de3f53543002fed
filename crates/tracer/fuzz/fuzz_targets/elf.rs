//! ELF program headers of a file the traced program may have written: total, no overflow.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nativeguard_tracer::elf::is_dynamic(data);
});
