//! `/proc/PID/maps` text is the kernel's, but a watched program names its own files (and may
//! put spaces, newlines or invalid UTF-8 in them): the parser and the origin lookup must hold
//! for any text. Every mapping parsed is file-backed with an ordered-or-not range, and a path the
//! lookup returns is one of the parsed paths whose file name is the name asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativeguard_sensor::process::{mapping_path, parse_file_mappings};

fuzz_target!(|data: &[u8]| {
    // First 8 bytes: the address looked up; the next byte: how long the name is.
    if data.len() < 9 {
        return;
    }
    let address = u64::from_le_bytes(data[..8].try_into().unwrap());
    let name_len = usize::from(data[8]).min(data.len() - 9);
    let name = String::from_utf8_lossy(&data[9..9 + name_len]);
    let text = String::from_utf8_lossy(&data[9 + name_len..]);
    let mappings = parse_file_mappings(&text);
    for mapping in &mappings {
        assert!(mapping.path.starts_with('/'));
    }
    if let Some(path) = mapping_path(&mappings, address, &name) {
        assert!(mappings
            .iter()
            .any(|m| m.path == path && m.start <= address && address < m.end));
        let file = path.strip_suffix(" (deleted)").unwrap_or(path);
        let file = file.rsplit('/').next().unwrap_or(file);
        assert!(file.starts_with(name.as_ref()));
    }
});
