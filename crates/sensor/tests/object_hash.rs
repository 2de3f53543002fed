//! The committed eBPF object must be built from the committed C sources: bpf/build.sh records
//! their SHA-256 in bpf/nativeguard.bpf.o.sha256 (sha256sum format). Edit a source without
//! running build.sh and this test fails.

use sha2::{Digest, Sha256};
use std::path::Path;

#[test]
fn object_was_built_from_these_sources() {
    let bpf = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf");
    let recorded = std::fs::read_to_string(bpf.join("nativeguard.bpf.o.sha256")).unwrap();
    let mut files = Vec::new();
    for line in recorded.lines() {
        let (hash, name) = line.split_once("  ").expect("sha256sum line: HASH  NAME");
        let bytes = std::fs::read(bpf.join(name)).unwrap();
        let actual = format!("{:x}", Sha256::digest(&bytes));
        assert_eq!(
            actual, hash,
            "bpf/{name} changed since the object was built: run bpf/build.sh"
        );
        files.push(name.to_owned());
    }
    // Every C source and header beside the object is covered.
    for entry in std::fs::read_dir(&bpf).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".c") || name.ends_with(".h") {
            assert!(
                files.contains(&name),
                "bpf/{name} is not in the recorded hashes"
            );
        }
    }
}

#[test]
fn embedded_object_is_the_committed_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf/nativeguard.bpf.o");
    let on_disk = std::fs::read(path).unwrap();
    assert_eq!(nativeguard_sensor::object(), on_disk.as_slice());
    assert_eq!(&on_disk[..4], b"\x7fELF");
    assert_eq!(
        nativeguard_sensor::object().as_ptr() as usize % 8,
        0,
        "object must be 8-aligned"
    );
}
