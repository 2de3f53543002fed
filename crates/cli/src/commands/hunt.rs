//! `nativeguard hunt`.

use std::process::ExitCode;

/// Arguments of `nativeguard hunt`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `nativeguard hunt`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hunt` is not built yet")
}
