//! `nativeguard rules`.

use std::process::ExitCode;

/// Subcommands of `nativeguard rules`.
#[derive(clap::Subcommand)]
pub enum Command {}

/// Runs `nativeguard rules`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {}
}
