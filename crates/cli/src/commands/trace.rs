//! `nativeguard trace`: run one command under the ptrace + seccomp tracer, run the Linux rules
//! on its events, and optionally learn a seccomp profile from it.
//!
//! Where things go (so alerts can be parsed while the command prints what it likes):
//! - alerts (and, with `--events`, every event) go to stdout, or to `--output FILE`;
//! - the command's stdout goes to trace's **stderr** when alerts use stdout, so that stdout
//!   holds nothing but alerts; with `--output FILE` the command's stdio is left as it is;
//! - the command's stderr and stdin are always its own (inherited);
//! - a one-line summary goes to stderr at the end.
//!
//! Exit code: 0 when the command exited 0, 6 (CHILD_FAILED) when it exited non-zero or was
//! killed by a signal, 1 when it could not be traced (or alerts could not be written).

use crate::exit_code;
use crate::output::{Format, Printer};
use crate::rule_loading::load_rules;
use anyhow::Context;
use nativeguard_event::Event;
use nativeguard_sigma::{Detection, Level, Pipeline};
use nativeguard_tracer::{ChildExit, Tracer};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `nativeguard trace`.
#[derive(clap::Args)]
#[command(after_help = "\
Output: alerts go to stdout (or --output FILE); while they use stdout, the command's own \
stdout is sent to stderr so stdout carries only alerts. With --output the command's stdio is \
untouched. Exit code: 0 if the command exited 0, 6 if it failed or was killed, 1 if it could \
not be traced.

Only the sensitive calls stop the command (exec, memfd_create, ptrace, process_vm_*, \
PROT_EXEC mmap/mprotect, module and BPF loads, opens for writing, personality); the seccomp \
filter lets every other call through in the kernel. The command runs with no_new_privs \
unless trace runs as root. A command that itself uses ptrace on its children cannot: a \
process has one tracer.")]
pub struct Args {
    /// Sigma rule file or directory (repeatable); replaces the embedded Linux ruleset.
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Alert format (default: table on a terminal, jsonl otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Also print every event (exec and sensitive syscall), not only alerts.
    #[arg(long)]
    events: bool,
    /// Only report alerts of this level or above (informational, low, medium, high, critical).
    #[arg(long = "min-level", value_name = "LEVEL", value_parser = parse_level)]
    min_level: Option<Level>,
    /// Write alerts (and events) to FILE instead of stdout; the command keeps its stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Trace every system call and write the smallest OCI seccomp profile that lets this run
    /// pass (default action ENOSYS; socket, clone, personality and prctl constrained by
    /// argument). Usable with `nativeguard sandbox --policy`.
    #[arg(long, value_name = "OUT.json")]
    learn: Option<PathBuf>,
    /// The command to trace, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

fn parse_level(text: &str) -> Result<Level, String> {
    text.parse::<Level>()
        .map_err(|_| format!("unknown level {text:?} (informational, low, medium, high, critical)"))
}

/// Runs `nativeguard trace`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (rules, rule_errors) = load_rules(Pipeline::linux(), nativeguard_rules::LINUX, &args.rules);
    for error in &rule_errors {
        eprintln!("nativeguard trace: rule not loaded: {error}");
    }
    if rules.is_empty() && !rule_errors.is_empty() {
        anyhow::bail!("no rule could be loaded from the --rules paths");
    }
    let rules = Arc::new(rules);
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let format = args.format.unwrap_or(if args.output.is_some() {
        Format::Jsonl
    } else {
        Format::for_stdout()
    });
    let mut report = Report {
        printer: Printer::new(format, out),
        engine: rules.engine(),
        detections: Vec::new(),
        min_level: args.min_level,
        print_events: args.events,
        alerts: 0,
        write_error: None,
    };
    let result = Tracer::new(args.command.iter().cloned())
        .learn(args.learn.is_some())
        .command_stdout_to_stderr(args.output.is_none())
        .run(|event| report.event(&event))
        .context("trace failed")?;
    let Report {
        printer,
        alerts,
        write_error,
        ..
    } = report;
    let finished = printer.finish();
    if let Some(error) = write_error {
        return Err(error).context("cannot write alerts");
    }
    finished.context("cannot write alerts")?;

    if let (Some(path), Some(learned)) = (&args.learn, &result.learned) {
        write_profile(path, learned)?;
        if !result.exit.success() {
            eprintln!(
                "nativeguard trace: note: the command did not succeed; the profile lets this \
                 failing run pass"
            );
        }
    }
    let ended = match result.exit {
        ChildExit::Code(code) => format!("exited with code {code}"),
        ChildExit::Signal(signal) => format!("was killed by signal {signal}"),
    };
    eprintln!(
        "nativeguard trace: events: {}, alerts: {alerts}, processes: {}; the command {ended}",
        result.stats.events, result.stats.processes
    );
    Ok(if result.exit.success() {
        exit_code::SUCCESS.into()
    } else {
        exit_code::CHILD_FAILED.into()
    })
}

/// The rules running on the events and where their alerts go.
struct Report<W: Write> {
    printer: Printer<W>,
    engine: nativeguard_sigma::Engine,
    detections: Vec<Detection>,
    min_level: Option<Level>,
    print_events: bool,
    alerts: u64,
    /// The first write error; the trace goes on (the command is not disturbed), the error is
    /// reported at the end.
    write_error: Option<std::io::Error>,
}

impl<W: Write> Report<W> {
    fn event(&mut self, event: &Event) {
        self.detections.clear();
        self.engine.evaluate(event, &mut self.detections);
        if self.write_error.is_some() {
            return;
        }
        let mut written = Ok(());
        if self.print_events {
            written = self.printer.event(event);
        }
        for detection in &self.detections {
            if self.min_level.is_some_and(|min| detection.rule.level < min) {
                continue;
            }
            self.alerts += 1;
            if written.is_ok() {
                written = self.printer.detection(detection, event);
            }
        }
        // Alerts appear as they happen, not when the command ends.
        if let Err(error) = written.and_then(|()| self.printer.flush()) {
            self.write_error = Some(error);
        }
    }
}

/// Writes the learned profile and says what it holds.
fn write_profile(path: &Path, learned: &nativeguard_tracer::Learner) -> anyhow::Result<()> {
    std::fs::write(path, learned.to_oci_json())
        .with_context(|| format!("cannot write the profile to {}", path.display()))?;
    eprintln!(
        "nativeguard trace: learned {} syscalls; profile written to {}",
        learned.len(),
        path.display()
    );
    for (arch, number) in learned.unnamed() {
        eprintln!(
            "nativeguard trace: warning: syscall {number} ({arch}) has no name in the tables; \
             the profile cannot allow it"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn parses_the_contract_command_line() {
        let cli = Cli::try_parse_from([
            "trace", "--rules", "r.yml", "--format", "jsonl", "--events", "--learn", "p.json",
            "--", "sh", "-c", "true",
        ]);
        let Ok(cli) = cli else {
            panic!("contract command line rejected");
        };
        assert_eq!(cli.args.rules, vec![PathBuf::from("r.yml")]);
        assert_eq!(cli.args.format, Some(Format::Jsonl));
        assert!(cli.args.events);
        assert_eq!(cli.args.learn, Some(PathBuf::from("p.json")));
        assert_eq!(cli.args.command, ["sh", "-c", "true"]);
        assert!(
            Cli::try_parse_from(["trace"]).is_err(),
            "a command is required"
        );
        assert!(Cli::try_parse_from(["trace", "--min-level", "loud", "--", "x"]).is_err());
    }

    #[test]
    fn embedded_linux_rules_load() {
        let (rules, errors) = load_rules(Pipeline::linux(), nativeguard_rules::LINUX, &[]);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(rules.len() >= 12, "{}", rules.len());
        let (_, errors) = load_rules(
            Pipeline::linux(),
            nativeguard_rules::LINUX,
            &[PathBuf::from("/nonexistent/rules")],
        );
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("/nonexistent/rules: cannot read"),
            "{}",
            errors[0]
        );
    }
}
