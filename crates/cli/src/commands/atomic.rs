//! `nativeguard atomic`.

use std::process::ExitCode;

/// Subcommands of `nativeguard atomic`.
#[derive(clap::Subcommand)]
pub enum Command {}

/// Runs `nativeguard atomic`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {}
}
