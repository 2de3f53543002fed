//! The `nativeguard` binary: arguments in, output out. Every capability lives in a library
//! crate; each subcommand has one file in `commands/` that validates its arguments, calls the
//! library and prints. Exit codes are defined once, in `exit_code.rs`.

mod commands;
mod exit_code;
mod output;
mod rule_loading;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Defense against native API abuse (MITRE ATT&CK T1106): detect, filter, test, validate.
#[derive(Parser)]
#[command(name = "nativeguard", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the controls for a technique: run its tests under every control and report.
    Validate(commands::validate::Args),
    /// Run Sigma rules over Windows event logs (EVTX, JSON, JSONL).
    Hunt(commands::hunt::Args),
    /// Load and check Sigma rules.
    #[command(subcommand)]
    Rules(commands::rules::Command),
    /// Watch the whole host with the eBPF sensor and run Sigma rules on live events (root).
    Monitor(commands::monitor::Args),
    /// Trace one command's system calls without root, emitting sensor-shaped events.
    Trace(commands::trace::Args),
    /// Compile, disassemble, simulate and measure seccomp policies.
    #[command(subcommand)]
    Policy(commands::policy::Command),
    /// Run a command under a seccomp + Landlock policy, reporting every denial.
    Sandbox(commands::sandbox::Args),
    /// List and run Atomic Red Team tests.
    #[command(subcommand)]
    Atomic(commands::atomic::Command),
    /// Run one of the safe Linux T1106 emulations.
    Emulate(commands::emulate::Args),
}

/// Hunting builds and drops hundreds of thousands of small strings per second; mimalloc serves
/// them faster than glibc's malloc (JSONL hunt +10-20% events/s, 1 GB EVTX hunt -13% CPU;
/// bench/hunt.md, session 4). Built with `no_thp`: mimalloc would otherwise ask for transparent
/// huge pages, and the kernel zeroing a 2 MB page before `main` cost every start (every traced
/// or sandboxed command, every validation step) about a millisecond. Version 2 (`v2`): version
/// 3's set-up (a 1 GiB arena with its bitmaps, a page map) cost every start 0.16-0.20 ms more,
/// for hunts no faster (bench/trace.md, session 18). The benchmark harnesses use it too, so they
/// measure what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option: how long freed memory stays committed before it goes back
/// to the system (libmimalloc-sys names no constant for it; 15 in mimalloc.h's `mi_option_e`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the system at once, so peak memory stays that of the live data
/// (a hunt over 1 GB of EVTX: 107 MB with one thread, 108 MB with two). Only for the commands
/// that read large inputs: a short `trace` or `sandbox` would pay one `madvise` per freed
/// range instead (about 30 at the end of a 1-call trace, while the caller waits), and ends
/// before mimalloc's own one-second delay is up.
fn return_freed_memory_at_once() {
    // SAFETY: sets one of mimalloc's option values; any value is valid for this option and
    // mimalloc reads it on each purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

/// The arguments of `trace`, `sandbox` and `emulate`, parsed with only that subcommand built:
/// other commands run these many times (a validation runs each test under each), and building
/// every subcommand's arguments cost 0.25-0.45 ms per start, a third of it for the one used.
/// Anything it does not take as it is (help, a mistake) is left to the full parser, which
/// answers as it always does.
fn parse_one_subcommand(args: &[std::ffi::OsString]) -> Option<Command> {
    fn parse<A: clap::Args + clap::FromArgMatches>(
        name: &'static str,
        args: &[std::ffi::OsString],
    ) -> Option<A> {
        let command = A::augment_args(clap::Command::new(name).no_binary_name(true));
        let matches = command.try_get_matches_from(args).ok()?;
        A::from_arg_matches(&matches).ok()
    }
    let (name, rest) = args.get(1..)?.split_first()?;
    match name.to_str()? {
        "trace" => parse("trace", rest).map(Command::Trace),
        "sandbox" => parse("sandbox", rest).map(Command::Sandbox),
        "emulate" => parse("emulate", rest).map(Command::Emulate),
        _ => None,
    }
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match parse_one_subcommand(&args) {
        Some(command) => Cli { command },
        None => Cli::parse_from(args),
    };
    if matches!(
        cli.command,
        Command::Validate(_) | Command::Hunt(_) | Command::Rules(_) | Command::Monitor(_)
    ) {
        return_freed_memory_at_once();
    }
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(args),
        Command::Hunt(args) => commands::hunt::run(args),
        Command::Rules(cmd) => commands::rules::run(cmd),
        Command::Monitor(args) => commands::monitor::run(args),
        Command::Trace(args) => commands::trace::run(args),
        Command::Policy(cmd) => commands::policy::run(cmd),
        Command::Sandbox(args) => commands::sandbox::run(args),
        Command::Atomic(cmd) => commands::atomic::run(cmd),
        Command::Emulate(args) => commands::emulate::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("nativeguard: error: {err:#}");
            exit_code::FAILURE.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os_args(args: &[&str]) -> Vec<std::ffi::OsString> {
        args.iter().map(Into::into).collect()
    }

    /// The arguments as the full parser reads them, as text (or why it refused them).
    fn full(args: &[std::ffi::OsString]) -> String {
        match Cli::try_parse_from(args).map(|cli| cli.command) {
            Ok(command) => described(&command).unwrap_or_default(),
            Err(error) => format!("refused: {}", error.kind()),
        }
    }

    fn described(command: &Command) -> Option<String> {
        match command {
            Command::Trace(args) => Some(format!("{args:?}")),
            Command::Sandbox(args) => Some(format!("{args:?}")),
            Command::Emulate(args) => Some(format!("{args:?}")),
            _ => None,
        }
    }

    #[test]
    fn one_subcommand_parses_as_the_full_parser_or_not_at_all() {
        let accepted = [
            &["ng", "trace", "--", "/bin/true"][..],
            &[
                "ng", "trace", "--format", "jsonl", "--events", "--", "sh", "-c", "exit 3",
            ],
            &[
                "ng",
                "trace",
                "--rules",
                "a.yml",
                "--rules",
                "b",
                "--min-level",
                "high",
                "--",
                "x",
            ],
            &[
                "ng", "trace", "--learn", "p.json", "--output", "o", "--", "x", "--", "y",
            ],
            &["ng", "trace", "--learn", "p.json", "--merge", "--", "x"],
            &["ng", "sandbox", "--policy", "p.json", "--", "/bin/true"],
            &[
                "ng",
                "sandbox",
                "--policy",
                "p",
                "--landlock",
                "l",
                "--format",
                "json",
                "--allow-missing",
                "landlock",
                "--",
                "x",
            ],
            &["ng", "emulate", "memfd-exec"],
            &["ng", "emulate", "--list"],
        ];
        for args in accepted {
            let args = os_args(args);
            let fast = parse_one_subcommand(&args)
                .as_ref()
                .and_then(described)
                .unwrap_or_else(|| panic!("{args:?} not taken by the one-subcommand parser"));
            assert_eq!(fast, full(&args), "{args:?}");
        }
        // Help, versions, mistakes and other subcommands go to the full parser.
        let left = [
            &["ng", "trace", "--help"][..],
            &["ng", "trace"],
            &["ng", "trace", "--format", "yaml", "--", "x"],
            &["ng", "trace", "--min-level", "loud", "--", "x"],
            &["ng", "trace", "--merge", "--", "x"],
            &["ng", "sandbox", "--", "x"],
            &[
                "ng",
                "sandbox",
                "--policy",
                "p",
                "--allow-missing",
                "aslr",
                "--",
                "x",
            ],
            &["ng", "emulate", "no-such-emulation"],
            &["ng", "emulate"],
            &["ng", "hunt", "x.evtx"],
            &["ng", "--version"],
            &["ng"],
        ];
        for args in left {
            let args = os_args(args);
            assert!(
                parse_one_subcommand(&args).is_none(),
                "{args:?} taken by the one-subcommand parser"
            );
        }
    }
}
