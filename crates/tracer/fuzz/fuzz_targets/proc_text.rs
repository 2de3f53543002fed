//! The `/proc` and `/etc/passwd` text parsers: total on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nativeguard_tracer::procfs;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = procfs::parse_status(&text);
    let _ = procfs::parse_passwd(&text);
    let _ = procfs::cgroup_v2_path(&text);
    let name = procfs::exe_name(&text);
    assert!(!name.is_memfd || name.image.starts_with("memfd:"));
    let _ = procfs::command_line(data);
});
