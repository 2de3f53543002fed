//! `nativeguard validate`.

use std::process::ExitCode;

/// Arguments of `nativeguard validate`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `nativeguard validate`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`validate` is not built yet")
}
