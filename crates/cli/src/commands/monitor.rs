//! `nativeguard monitor`.

use std::process::ExitCode;

/// Arguments of `nativeguard monitor`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `nativeguard monitor`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`monitor` is not built yet")
}
