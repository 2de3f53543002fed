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
use nativeguard_event::{linux, Event};
use nativeguard_sigma::{Detection, Engine, Level, Pipeline, RuleSet, RuleSetBuilder};
use nativeguard_tracer::{ChildExit, Tracer};
use std::cell::RefCell;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, TryRecvError};
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
    let rules = if args.rules.is_empty() {
        // The embedded ruleset compiles on its own thread beside the command (see
        // `PendingRules`): its rules are tested to load, and the few events of the command's
        // first milliseconds wait in the report's queue instead of the command waiting.
        PendingRules::new(load_embedded_rules)
    } else {
        // A user's rules load before their command runs, so that a rule error is known
        // before anything happens (and no rule at all is an error, not a silent trace).
        let (rules, rule_errors) = load_rules(
            RuleSetBuilder::new(Pipeline::linux()).without_literal_index(),
            nativeguard_rules::LINUX,
            &args.rules,
        );
        report_rule_errors(&rule_errors);
        if rules.is_empty() && !rule_errors.is_empty() {
            anyhow::bail!("no rule could be loaded from the --rules paths");
        }
        let rules = Arc::new(rules);
        // Still routed ahead of the first event, on the side (see `prepare`).
        PendingRules::new(move || {
            prepare(&rules);
            Ok(rules)
        })
    };
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
    let report = RefCell::new(Report::new(
        Printer::new(format, out),
        rules,
        args.min_level,
        args.events,
    ));
    let traced = Tracer::new(args.command.iter().cloned())
        .learn(args.learn.is_some())
        .command_stdout_to_stderr(args.output.is_none())
        .run_with(
            || report.borrow_mut().start_rules(),
            |event| report.borrow_mut().event(event),
        );
    // Events already seen are evaluated and written even when the trace failed (an exec
    // failure still has its execve event).
    let (alerts, finished, rules) = report.into_inner().finish();
    // The process ends right after this: its exit frees the rules' many allocations at once
    // (dropping them one by one took up to 0.15 ms, after everything was written).
    std::mem::forget(rules);
    let result = traced.context("trace failed")?;
    finished?;

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
    // Formatted first: eprintln! writes each piece of a format to unbuffered stderr.
    let summary = format!(
        "nativeguard trace: events: {}, alerts: {alerts}, processes: {}; the command {ended}\n",
        result.stats.events, result.stats.processes
    );
    let _ = std::io::stderr().write_all(summary.as_bytes());
    // Everything is written: the command's exit is the trace's, without the runtime's exit
    // handlers (see `exit_code::end_now`).
    exit_code::end_now(if result.exit.success() {
        exit_code::SUCCESS
    } else {
        exit_code::CHILD_FAILED
    })
}

/// Loads the embedded Linux ruleset (on the loader thread) and prepares it for the first
/// events. Its load errors are printed; no rule at all is an error.
fn load_embedded_rules() -> Result<Arc<RuleSet>, String> {
    // A traced command makes few events (a shell running `/bin/true` 300 times: 604), and
    // indexing the rules' literals costs more than it saves below about 1,400.
    let (rules, rule_errors) = load_rules(
        RuleSetBuilder::new(Pipeline::linux()).without_literal_index(),
        nativeguard_rules::LINUX,
        &[],
    );
    report_rule_errors(&rule_errors);
    if rules.is_empty() {
        return Err("no embedded Linux rule could be loaded".to_string());
    }
    let rules = Arc::new(rules);
    prepare(&rules);
    Ok(rules)
}

fn report_rule_errors(rule_errors: &[String]) {
    for error in rule_errors {
        eprintln!("nativeguard trace: rule not loaded: {error}");
    }
}

/// Routes the rule set for the tracer's event types now: the engine sorts out the rules of an
/// event type (and builds any literal search) at its first event, which would otherwise happen
/// while the command waits in its exec stop. One event per type, with nothing but the routing
/// field (the linux pipeline routes on `EventType`), fills the rule set's shared cache.
fn prepare(rules: &Arc<RuleSet>) {
    let mut engine = rules.engine();
    let mut detections = Vec::new();
    for event_type in [
        linux::event_type::PROCESS_CREATION,
        linux::event_type::SYSCALL,
    ] {
        let mut event = Event::new();
        event.insert("EventType", event_type);
        engine.evaluate(&event, &mut detections);
        detections.clear();
    }
}

/// Most events held while the rules are still loading. Loading takes milliseconds and the
/// command's start-up makes a handful of events; should loading ever lag far behind a busy
/// command, the trace waits for the rules rather than holding events without bound.
const MAX_QUEUED_EVENTS: usize = 10_000;

/// The result of loading a ruleset.
type Loaded = Result<Arc<RuleSet>, String>;

/// A ruleset compiled on a thread of its own, started once the command has been released
/// (`Tracer::run_with`), so it runs beside the command rather than beside the start-up that
/// the command waits for. Measured on 2 cores against starting it with the trace: the command
/// exec'd 5.1 ms after trace's own exec instead of 7.6 (median of 20, kernel timestamps), a
/// 1-call trace took 11.7 ms instead of 12.1 (median of 60), and 1M `getppid()` calls did not
/// move (1.132x bare against 1.133x, paired, 100 rounds). At nice 19 it starved behind other
/// processes while the trace waited for it.
///
/// The loader hands its result over a channel and is never joined: joining would also wait
/// for its thread's exit (its stack and its allocator pages handed back), which happened while
/// the command sat in its exec stop.
struct PendingRules(LoaderState);

/// Where a [`PendingRules`] is.
enum LoaderState {
    /// Not started: the loading to run.
    Waiting(Box<dyn FnOnce() -> Loaded + Send>),
    /// Started: where the loader thread sends its result.
    Running(Receiver<Loaded>),
    /// The result, received.
    Done(Loaded),
}

impl PendingRules {
    /// Rules that `load` will build once started (or waited for).
    fn new(load: impl FnOnce() -> Loaded + Send + 'static) -> Self {
        PendingRules(LoaderState::Waiting(Box::new(load)))
    }

    /// Starts loading, if not started yet.
    fn start(&mut self) {
        let placeholder = LoaderState::Done(Err(NO_RESULT.to_string()));
        self.0 = match std::mem::replace(&mut self.0, placeholder) {
            LoaderState::Waiting(load) => {
                let (send, receive) = std::sync::mpsc::sync_channel(1);
                std::thread::spawn(move || {
                    // A loader that panicked is a load failure, reported at the end.
                    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(load))
                        .unwrap_or_else(|panic| {
                            let why = panic
                                .downcast_ref::<&str>()
                                .map(ToString::to_string)
                                .or_else(|| panic.downcast_ref::<String>().cloned())
                                .unwrap_or_default();
                            Err(format!("the rule loader failed: {why}"))
                        });
                    // The receiver is gone only when the trace has ended.
                    let _ = send.send(loaded);
                });
                LoaderState::Running(receive)
            }
            started => started,
        };
    }

    /// Whether the rules are loaded (or failed to), without waiting.
    fn is_finished(&mut self) -> bool {
        if let LoaderState::Running(receive) = &self.0 {
            match receive.try_recv() {
                Ok(loaded) => self.0 = LoaderState::Done(loaded),
                Err(TryRecvError::Disconnected) => {
                    self.0 = LoaderState::Done(Err(NO_RESULT.to_string()))
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        matches!(self.0, LoaderState::Done(_))
    }

    /// Waits for the rules (starting them if need be).
    fn wait(mut self) -> Loaded {
        self.start();
        match self.0 {
            LoaderState::Running(receive) => receive
                .recv()
                .unwrap_or_else(|_| Err(NO_RESULT.to_string())),
            LoaderState::Done(loaded) => loaded,
            LoaderState::Waiting(_) => Err(NO_RESULT.to_string()),
        }
    }
}

/// Why the rules are missing when their loader ended without a result.
const NO_RESULT: &str = "the rule loader ended without a result";

/// Where the report is with its rules.
enum RuleState {
    /// Still loading: events wait here, in order.
    Loading {
        rules: PendingRules,
        queued: Vec<Event>,
    },
    /// Every event is evaluated as it comes.
    Ready(Box<Engine>),
    /// No rules: events are still printed (`--events`), the trace fails at the end.
    Failed,
}

/// The rules running on the events and where their alerts go.
struct Report<W: Write> {
    printer: Printer<W>,
    rules: RuleState,
    /// See [`MAX_QUEUED_EVENTS`] (a field so tests can make it small).
    max_queued: usize,
    detections: Vec<Detection>,
    min_level: Option<Level>,
    print_events: bool,
    alerts: u64,
    /// Why the rules did not load.
    load_error: Option<String>,
    /// The first write error; the trace goes on (the command is not disturbed), the error is
    /// reported at the end.
    write_error: Option<std::io::Error>,
}

impl<W: Write> Report<W> {
    fn new(
        printer: Printer<W>,
        rules: PendingRules,
        min_level: Option<Level>,
        print_events: bool,
    ) -> Self {
        Report {
            printer,
            rules: RuleState::Loading {
                rules,
                queued: Vec::new(),
            },
            max_queued: MAX_QUEUED_EVENTS,
            detections: Vec::new(),
            min_level,
            print_events,
            alerts: 0,
            load_error: None,
            write_error: None,
        }
    }

    /// Starts loading the rules, if not started yet.
    fn start_rules(&mut self) {
        if let RuleState::Loading { rules, .. } = &mut self.rules {
            rules.start();
        }
    }

    /// Takes one event from the tracer: queued while the rules load (the command is not held
    /// up), else evaluated, after every event queued before it.
    fn event(&mut self, event: Event) {
        let must_wait = match &mut self.rules {
            RuleState::Loading { rules, queued } => {
                rules.start();
                if !rules.is_finished() && queued.len() < self.max_queued {
                    queued.push(event);
                    return;
                }
                true
            }
            RuleState::Ready(_) | RuleState::Failed => false,
        };
        if must_wait {
            self.wait_for_rules();
        }
        self.evaluate(&event);
    }

    /// Waits for the rules if they are still loading, then evaluates the queued events in
    /// their order.
    fn wait_for_rules(&mut self) {
        let RuleState::Loading { rules, queued } =
            std::mem::replace(&mut self.rules, RuleState::Failed)
        else {
            return;
        };
        match rules.wait() {
            Ok(rules) => self.rules = RuleState::Ready(Box::new(rules.engine())),
            Err(error) => self.load_error = Some(error),
        }
        for event in queued {
            self.evaluate(&event);
        }
    }

    fn evaluate(&mut self, event: &Event) {
        self.detections.clear();
        if let RuleState::Ready(engine) = &mut self.rules {
            engine.evaluate(event, &mut self.detections);
        }
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

    /// Evaluates what is still queued and closes the output. Returns the alert count,
    /// whether everything was evaluated and written, and the rules (for the caller to drop
    /// or not).
    fn finish(mut self) -> (u64, anyhow::Result<W>, RuleState) {
        self.wait_for_rules();
        let finished = self.printer.finish();
        let result = match (self.load_error, self.write_error) {
            (Some(error), _) => Err(anyhow::anyhow!(error)),
            (None, Some(error)) => Err(error).context("cannot write alerts"),
            (None, None) => finished.context("cannot write alerts"),
        };
        (self.alerts, result, self.rules)
    }
}

/// Writes the learned profile and says what it holds.
fn write_profile(path: &Path, learned: &nativeguard_tracer::Learner) -> anyhow::Result<()> {
    std::fs::write(path, learned.to_oci_json()?)
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

    /// A rule on `process_creation` events whose image ends in `/true`.
    const TRUE_RULE: &str = "title: runs true\nid: 0f6c1e55-53c7-4c39-a1a4-0c3b8d7f0a11\n\
        author: test\nlogsource:\n  product: linux\n  category: process_creation\n\
        detection:\n  s:\n    Image|endswith: /true\n  condition: s\nlevel: low\n";

    fn true_rule() -> Result<Arc<RuleSet>, String> {
        let mut builder = nativeguard_sigma::RuleSetBuilder::new(Pipeline::linux());
        let failed = builder.add_file("true.yml", TRUE_RULE);
        let (rules, build_errors) = builder.build();
        if !failed.is_empty() || !build_errors.is_empty() || rules.is_empty() {
            return Err(format!("{failed:?} {build_errors:?}"));
        }
        Ok(Arc::new(rules))
    }

    fn exec_of(image: &str) -> Event {
        let info = linux::ProcessInfo {
            pid: 7,
            image: image.to_string(),
            ..linux::ProcessInfo::default()
        };
        linux::process_creation(&info, "execve", linux::SyscallOrigin::Libc)
    }

    /// The `Image` of every alert written, in order.
    fn alerted_images(report: Report<Vec<u8>>) -> (u64, Vec<String>) {
        let (alerts, written, _) = report.finish();
        let written = written.unwrap_or_else(|error| panic!("{error:#}"));
        let images = String::from_utf8_lossy(&written)
            .lines()
            .map(|line| {
                let item: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                item["event"]["Image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        (alerts, images)
    }

    #[test]
    fn events_before_the_rules_are_ready_are_evaluated_in_order() {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let rules = PendingRules::new(move || {
            // The rules arrive only once the test has sent its first events.
            let _ = held.recv();
            true_rule()
        });
        let mut report = Report::new(Printer::new(Format::Jsonl, Vec::new()), rules, None, false);
        for image in ["/usr/bin/true", "/usr/bin/false", "/bin/true"] {
            report.event(exec_of(image));
        }
        let queued = match &report.rules {
            RuleState::Loading { queued, .. } => queued.len(),
            _ => panic!("the rules were ready before they were released"),
        };
        assert_eq!(queued, 3);
        assert_eq!(report.alerts, 0, "nothing is evaluated before the rules");
        release.send(()).unwrap_or_else(|e| panic!("{e}"));
        while let RuleState::Loading { rules, .. } = &mut report.rules {
            if rules.is_finished() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // The next event finds the rules ready: the queue is evaluated first, in order.
        report.event(exec_of("/sbin/true"));
        assert!(matches!(report.rules, RuleState::Ready(_)));
        assert_eq!(report.alerts, 3);
        report.event(exec_of("/usr/local/bin/true"));
        let (alerts, images) = alerted_images(report);
        assert_eq!(alerts, 4);
        assert_eq!(
            images,
            [
                "/usr/bin/true",
                "/bin/true",
                "/sbin/true",
                "/usr/local/bin/true"
            ]
        );
    }

    #[test]
    fn the_rules_load_only_once_started() {
        let (loading, loaded) = std::sync::mpsc::channel::<()>();
        let rules = PendingRules::new(move || {
            let _ = loading.send(());
            true_rule()
        });
        let mut report = Report::new(Printer::new(Format::Jsonl, Vec::new()), rules, None, false);
        let wait = std::time::Duration::from_millis(50);
        assert!(
            loaded.recv_timeout(wait).is_err(),
            "loading before the start"
        );
        report.start_rules();
        assert!(
            loaded.recv_timeout(wait * 100).is_ok(),
            "not loading once started"
        );
        report.start_rules();
        report.event(exec_of("/bin/true"));
        assert_eq!(alerted_images(report), (1, vec!["/bin/true".to_string()]));
    }

    #[test]
    fn a_trace_without_events_still_gets_its_rules() {
        let rules = PendingRules::new(true_rule);
        let report = Report::new(Printer::new(Format::Jsonl, Vec::new()), rules, None, false);
        let (alerts, finished, rules) = report.finish();
        assert_eq!(alerts, 0);
        assert!(finished.is_ok());
        assert!(
            matches!(rules, RuleState::Ready(_)),
            "the rules never loaded"
        );
    }

    /// The `true_rule` set, delivered by the loader thread 50 ms late.
    fn rules_ready_in_50_ms() -> PendingRules {
        PendingRules::new(|| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            true_rule()
        })
    }

    #[test]
    fn events_still_queued_at_the_end_are_evaluated() {
        let rules = rules_ready_in_50_ms();
        let mut report = Report::new(Printer::new(Format::Jsonl, Vec::new()), rules, None, false);
        report.event(exec_of("/bin/true"));
        report.event(exec_of("/bin/sh"));
        assert_eq!(alerted_images(report), (1, vec!["/bin/true".to_string()]));
    }

    #[test]
    fn a_full_queue_waits_for_the_rules() {
        let rules = rules_ready_in_50_ms();
        let mut report = Report::new(Printer::new(Format::Jsonl, Vec::new()), rules, None, false);
        report.max_queued = 2;
        for _ in 0..3 {
            report.event(exec_of("/bin/true"));
        }
        // The third event did not fit: the report waited for the rules and evaluated all three.
        assert!(matches!(report.rules, RuleState::Ready(_)));
        assert_eq!(report.alerts, 3);
    }

    #[test]
    fn rules_that_fail_to_load_fail_the_trace_but_keep_the_events() {
        let rules = PendingRules::new(|| Err("no rule".to_string()));
        let mut report = Report::new(Printer::new(Format::Jsonl, Vec::new()), rules, None, true);
        report.event(exec_of("/bin/true"));
        report.event(exec_of("/bin/sh"));
        assert_eq!(report.alerts, 0);
        let (_, finished, _) = report.finish();
        let error = finished.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(error, "no rule");
        let panicking = PendingRules::new(|| panic!("loader bug"));
        let (_, finished, _) = Report::new(
            Printer::new(Format::Jsonl, Vec::new()),
            panicking,
            None,
            false,
        )
        .finish();
        let error = finished.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("loader bug"), "{error}");
    }

    #[test]
    fn the_trace_ruleset_alerts_like_the_indexed_one() {
        let (indexed, errors) = load_rules(
            RuleSetBuilder::new(Pipeline::linux()),
            nativeguard_rules::LINUX,
            &[],
        );
        assert!(errors.is_empty(), "{errors:?}");
        let indexed = Arc::new(indexed);
        // What `trace` evaluates: unindexed, and prepared.
        let traced = load_embedded_rules().unwrap_or_else(|e| panic!("{e}"));
        let memfd_exec = {
            let info = linux::ProcessInfo {
                pid: 9,
                image: "memfd:x".to_string(),
                exe_is_memfd: true,
                ..linux::ProcessInfo::default()
            };
            linux::process_creation(&info, "execveat", linux::SyscallOrigin::Libc)
        };
        let foreign_write = linux::syscall(
            &linux::ProcessInfo {
                pid: 9,
                image: "/usr/bin/python3".to_string(),
                ..linux::ProcessInfo::default()
            },
            &linux::SyscallRecord {
                name: "process_vm_writev".to_string(),
                number: 311,
                arch: "x86_64".to_string(),
                args: [1, 0, 1, 0, 1, 0],
                ret: Some(8),
                origin: linux::SyscallOrigin::Libc,
                origin_path: None,
                target_pid: Some(1),
                target_is_child: Some(false),
                path: None,
                decoded: Vec::new(),
            },
        );
        let ids = |set: &Arc<RuleSet>, event: &Event| -> Vec<String> {
            let mut found = Vec::new();
            set.engine().evaluate(event, &mut found);
            found.iter().map(|d| d.rule.id.clone()).collect()
        };
        for event in [&memfd_exec, &foreign_write, &exec_of("/usr/bin/true")] {
            assert_eq!(ids(&indexed, event), ids(&traced, event), "{event:?}");
        }
        assert!(
            !ids(&traced, &memfd_exec).is_empty(),
            "no embedded rule saw a memfd exec"
        );
        assert!(
            !ids(&traced, &foreign_write).is_empty(),
            "no embedded rule saw a write into another process"
        );
    }

    #[test]
    fn embedded_linux_rules_load() {
        let (rules, errors) = load_rules(
            RuleSetBuilder::new(Pipeline::linux()),
            nativeguard_rules::LINUX,
            &[],
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert!(rules.len() >= 12, "{}", rules.len());
        let (_, errors) = load_rules(
            RuleSetBuilder::new(Pipeline::linux()),
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
