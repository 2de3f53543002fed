//! `nativeguard trace`.

use std::process::ExitCode;

/// Arguments of `nativeguard trace`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `nativeguard trace`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`trace` is not built yet")
}
