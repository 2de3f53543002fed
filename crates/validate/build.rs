//! Embeds the committed Windows sample events (`samples/windows/<rule id>/{positive,negative}.jsonl`)
//! and the shipped hardening policies (`policies/*.json`), so `nativeguard validate` works from
//! any directory on a fresh machine.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.join("../..");
    let mut code = String::new();

    let samples = root.join("samples/windows");
    println!("cargo:rerun-if-changed={}", samples.display());
    let mut found = Vec::new();
    files(&samples, "jsonl", &mut found);
    found.sort();
    code.push_str(
        "/// Committed sample events: (rule id, `positive`|`negative`, path, JSONL text).\n",
    );
    code.push_str("pub(crate) static SAMPLES: &[(&str, &str, &str, &str)] = &[\n");
    for file in &found {
        println!("cargo:rerun-if-changed={}", file.display());
        if let Some(dir) = file.parent() {
            println!("cargo:rerun-if-changed={}", dir.display());
        }
        let rule = file
            .parent()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let kind = file
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        let abs = file.canonicalize().unwrap_or_else(|_| file.clone());
        writeln!(
            code,
            "    ({rule:?}, {kind:?}, {rel:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .ok();
    }
    code.push_str("];\n");

    let policies = root.join("policies");
    println!("cargo:rerun-if-changed={}", policies.display());
    let mut found = Vec::new();
    files(&policies, "json", &mut found);
    found.sort();
    code.push_str("/// Shipped policies: (file name, JSON text).\n");
    code.push_str("pub(crate) static POLICIES: &[(&str, &str)] = &[\n");
    for file in &found {
        println!("cargo:rerun-if-changed={}", file.display());
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let abs = file.canonicalize().unwrap_or_else(|_| file.clone());
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .ok();
    }
    code.push_str("];\n");

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("embedded.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
