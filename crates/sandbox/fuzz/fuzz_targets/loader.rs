//! The ELF / `#!` loader reader never panics on any image, and bounds what it returns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_sandbox::interp::{parse_loader, Loader, MAX_INTERP_LEN, MAX_SHEBANG_LEN};

fuzz_target!(|data: &[u8]| {
    match parse_loader(data) {
        Ok(Loader::Elf(path)) => assert!(path.as_os_str().len() <= MAX_INTERP_LEN),
        Ok(Loader::Script(path)) => assert!(path.as_os_str().len() <= MAX_SHEBANG_LEN),
        Ok(Loader::None) | Err(_) => {}
    }
});
