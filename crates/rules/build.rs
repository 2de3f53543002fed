//! Embeds every `.yml` under the repository's `rules/<set>/` folders as `(path, text)` pairs.

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
            writeln!(
                code,
                "    EmbeddedRule {{ path: {rel:?}, text: include_str!({:?}) }},",
                abs.display().to_string()
            )
            .ok();
        }
        writeln!(code, "];").ok();
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("embedded.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
