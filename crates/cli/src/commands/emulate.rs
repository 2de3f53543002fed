//! `nativeguard emulate`.

use std::process::ExitCode;

/// Arguments of `nativeguard emulate`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `nativeguard emulate`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`emulate` is not built yet")
}
