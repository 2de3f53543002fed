//! `nativeguard emulate NAME`: one safe Linux T1106 emulation.
//!
//! Exit codes (contracts §4): 0 when the behaviour ran; 6 (CHILD_FAILED) when a control
//! blocked a step, with `blocked: <step>: <errno name>` on stderr; 1 on a setup failure or an
//! unsupported platform.

use crate::exit_code;
use nativeguard_atomic::{Emulation, Error};
use std::io::Write;
use std::process::ExitCode;

/// Arguments of `nativeguard emulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The emulation: libc-exec, inline-syscall-exec, anon-stub-exec, memfd-exec,
    /// spawn-variants, python-ctypes, ptrace-poke, vm-writev, mprotect-rwx.
    #[arg(value_parser = parse_name, required_unless_present = "list")]
    name: Option<Emulation>,
    /// List the emulations and what each does.
    #[arg(long)]
    list: bool,
}

fn parse_name(name: &str) -> Result<Emulation, String> {
    Emulation::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Emulation::ALL.iter().map(|e| e.name()).collect();
        format!("unknown emulation '{name}' (one of: {})", names.join(", "))
    })
}

/// Runs `nativeguard emulate`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Some(emulation) = args.name.filter(|_| !args.list) else {
        for emulation in Emulation::ALL {
            println!("{:<20} {}", emulation.name(), emulation.summary());
        }
        return Ok(exit_code::SUCCESS.into());
    };
    match emulation.run() {
        Ok(report) => {
            for step in &report.steps {
                println!("{}: {step}", emulation.name());
            }
            Ok(exit_code::SUCCESS.into())
        }
        Err(err @ (Error::Blocked { .. } | Error::KilledBySeccomp { .. })) => {
            // One write: `validate` parses this line, and a sandbox reporting its denials on
            // the same stderr meanwhile must not split it (`eprintln!` writes each piece of
            // the format apart).
            let line = format!("{err}\n");
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
            Ok(exit_code::CHILD_FAILED.into())
        }
        Err(err) => {
            eprintln!("nativeguard: emulate {}: {err}", emulation.name());
            Ok(exit_code::FAILURE.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_list_the_choices() {
        assert_eq!(parse_name("memfd-exec"), Ok(Emulation::MemfdExec));
        let err = parse_name("nope").unwrap_err();
        assert!(err.contains("vm-writev"), "{err}");
    }
}
