//! Embeds every `.yml` under the repository's `rules/<set>/` folders as `(path, text)` pairs,
//! each with a recording of its YAML parser events (`nativeguard_sigma::record_yaml`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const SETS: &[&str] = &["windows", "linux"];

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.join("../../rules");
    println!("cargo:rerun-if-changed={}", root.display());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let mut recordings = 0;
    let mut code = String::new();
    for set in SETS {
        let base = root.join(set);
        println!("cargo:rerun-if-changed={}", base.display());
        let mut files = Vec::new();
        collect(&base, &mut files);
        files.sort();
        writeln!(code, "/// The `{set}` ruleset.").ok();
        writeln!(
            code,
            "pub static {}: &[EmbeddedRule] = &[",
            set.to_uppercase()
        )
        .ok();
        for file in &files {
            println!("cargo:rerun-if-changed={}", file.display());
            let rel = file
                .strip_prefix(&root)
                .unwrap_or(file)
                .display()
                .to_string();
            let abs = file.canonicalize().unwrap_or_else(|_| file.clone());
            // The file's YAML parser events, replayed at load time instead of scanning the
            // text (`nativeguard_sigma::record_yaml`). A file that cannot be read here gets the
            // recording of an empty text, which does not match it: it is parsed at load time.
            let text = std::fs::read_to_string(file).unwrap_or_default();
            recordings += 1;
            let recording = out_dir.join(format!("recording-{recordings}.bin"));
            std::fs::write(&recording, nativeguard_sigma::record_yaml(&text))
                .expect("OUT_DIR is writable");
            writeln!(
                code,
                "    EmbeddedRule {{ path: {rel:?}, text: include_str!({:?}), recording: include_bytes!({:?}) }},",
                abs.display().to_string(),
                recording.display().to_string()
            )
            .ok();
        }
        writeln!(code, "];").ok();
    }
    std::fs::write(out_dir.join("embedded.rs"), code).expect("OUT_DIR is writable");
}
