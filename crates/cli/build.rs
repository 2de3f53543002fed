//! Links the stack unwinder into the binary instead of loading `libgcc_s.so.1` at every start.
//!
//! Rust's standard library asks the linker for `-lgcc_s` on glibc targets. Loading that library
//! costs every start of `nativeguard` (each traced or sandboxed command, each validation step)
//! an open, four mappings, its relocations, and its constructor, which runs 12 `CPUID`
//! instructions at about 12 µs each on a virtual machine such as CI's. The same unwinder ships
//! as a static archive, `libgcc_eh.a`, which is what Rust itself links for `+crt-static`
//! builds. A linker script named `libgcc_s.so`, found first on the search path, points the
//! linker at it.
//!
//! Without `libgcc_eh.a` (a C toolchain that lacks it), nothing changes: the binary loads
//! `libgcc_s.so.1` as before, and the build says so.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if target_os != "linux" || target_env != "gnu" || features.split(',').any(|f| f == "crt-static")
    {
        return;
    }
    let Some(archive) = static_unwinder() else {
        println!("cargo:warning=libgcc_eh.a not found: the binary loads libgcc_s.so.1 at start");
        return;
    };
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let script = format!("INPUT({})\n", archive.display());
    if std::fs::write(out_dir.join("libgcc_s.so"), script).is_ok() {
        println!("cargo:rustc-link-search=native={}", out_dir.display());
    }
}

/// Where the C compiler keeps `libgcc_eh.a`, if it has one (it prints the bare name when not).
fn static_unwinder() -> Option<PathBuf> {
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let output = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    (output.status.success() && path.is_absolute() && path.is_file()).then_some(path)
}
