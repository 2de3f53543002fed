//! `nativeguard policy`.

use std::process::ExitCode;

/// Subcommands of `nativeguard policy`.
#[derive(clap::Subcommand)]
pub enum Command {}

/// Runs `nativeguard policy`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {}
}
