//! Helpers shared by the CLI's integration tests (each test file uses a subset).
#![allow(dead_code)]

/// Whether the tests run as root (real uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// The Linux T1106 emulations, by the names `nativeguard emulate` takes.
pub fn emulation_names() -> impl Iterator<Item = &'static str> {
    nativeguard_atomic::Emulation::ALL
        .into_iter()
        .map(|e| e.name())
}
