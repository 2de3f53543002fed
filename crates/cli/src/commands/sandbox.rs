//! `nativeguard sandbox`.

use std::process::ExitCode;

/// Arguments of `nativeguard sandbox`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `nativeguard sandbox`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sandbox` is not built yet")
}
