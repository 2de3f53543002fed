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
use nativeguard_event::{linux, Event, Value};
use nativeguard_seccomp::{Policy, ResolveOptions};
use nativeguard_sigma::{Detection, Engine, Level, Pipeline, RuleSet, RuleSetBuilder};
use nativeguard_tracer::{ChildExit, Learner, Tracer};
use std::cell::RefCell;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Arguments of `nativeguard trace`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Output: alerts go to stdout (or --output FILE); while they use stdout, the command's own \
stdout is sent to stderr so stdout carries only alerts. With --output the command's stdio is \
untouched. Exit code: 0 if the command exited 0, 6 if it failed or was killed, 1 if it could \
not be traced.

Only the sensitive calls stop the command (exec, memfd_create, ptrace, process_vm_*, \
PROT_EXEC mmap/mprotect, module and BPF loads, opens for writing, personality); the seccomp \
filter lets every other call through in the kernel. The command runs with no_new_privs \
unless trace runs as root; without root, set-uid, set-gid and file-capability programs run \
without those privileges, and trace names the ones it saw. A command that itself uses ptrace on its children cannot: a \
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
    /// With --learn: add this run to the profile already in OUT.json (one an earlier --learn
    /// wrote) instead of replacing it, so that several runs make one profile. A missing file
    /// starts an empty one.
    #[arg(long, requires = "learn")]
    merge: bool,
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
    let load: Load = if args.rules.is_empty() {
        // The embedded ruleset compiles on its own thread beside the command (see `Report`):
        // its rules are tested to load, and the few events of the command's first
        // milliseconds wait in the report's queue instead of the command waiting.
        Box::new(load_embedded_rules)
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
        Box::new(move || {
            prepare(&rules);
            Ok(rules)
        })
    };
    let out: Box<dyn Write + Send> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        // Unlocked: the loader thread writes the alerts of the events queued before the rules.
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let format = args.format.unwrap_or(if args.output.is_some() {
        Format::Jsonl
    } else {
        Format::for_stdout()
    });
    let report = RefCell::new(Report::new(
        Printer::new(format, out),
        load,
        args.min_level,
        args.events,
    ));
    if let (Some(path), true) = (&args.learn, args.merge) {
        // Checked before the command runs: a profile that cannot be added to fails the trace
        // before anything happens. The run is added to what the file holds when it ends.
        check_learned_profile(path)?;
    }
    // Without root, a traced exec gains no privileges: the programs that would have are named
    // at the end, since the run may have failed for that alone.
    // SAFETY: geteuid and getegid have no preconditions.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let mut executed = std::collections::BTreeSet::new();
    let mut refused_tracing = None;
    let traced = Tracer::new(args.command.iter().cloned())
        .learn(args.learn.is_some())
        .command_stdout_to_stderr(args.output.is_none())
        .run_with(
            || report.borrow_mut().start_rules(),
            |event| {
                if euid != 0
                    && event.get_str("EventType") == Some(linux::event_type::PROCESS_CREATION)
                {
                    if let Some(image) = event.get_str("Image") {
                        executed.insert(image.to_string());
                    }
                }
                if refused_tracing.is_none() {
                    refused_tracing = tracing_refused_by_this_trace(&event);
                }
                report.borrow_mut().event(event)
            },
        );
    // Events already seen are evaluated and written even when the trace failed (an exec
    // failure still has its execve event).
    let (alerts, finished, rules) = report.into_inner().finish();
    // The process ends right after this: its exit frees the rules' many allocations at once
    // (dropping them one by one took up to 0.15 ms, after everything was written).
    std::mem::forget(rules);
    let result = traced.context("trace failed")?;
    finished?;

    if let (Some(path), Some(learned)) = (&args.learn, result.learned) {
        write_profile(path, learned, args.merge)?;
        if !result.exit.success() {
            eprintln!(
                "nativeguard trace: note: the command did not succeed; the profile lets this \
                 failing run pass"
            );
        }
    }
    if let Some(call) = refused_tracing {
        eprintln!(
            "nativeguard trace: note: {call} failed with EPERM because trace already traces \
             that process (a process has one tracer): the command did not run as it would \
             untraced; `nativeguard monitor` (root) sees it without a tracer"
        );
    }
    for image in &executed {
        if let Some(privilege) = privilege_ignored_under_trace(Path::new(image), euid, egid) {
            eprintln!(
                "nativeguard trace: note: {image} is {privilege}, which an exec traced \
                 without root does not honour (ptrace, no_new_privs): it ran with your \
                 privileges, and may have failed where an untraced run would not"
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

/// The command's own ptrace call that failed only because this trace is its target's tracer:
/// `PTRACE_TRACEME` by a traced process, or `PTRACE_ATTACH`/`PTRACE_SEIZE` on a descendant
/// (every descendant of the command is traced), refused with EPERM. Described as
/// `REQUEST by pid P`.
fn tracing_refused_by_this_trace(event: &Event) -> Option<String> {
    if event.get_str("SYSCALL") != Some("ptrace") {
        return None;
    }
    let eperm = -i64::from(libc::EPERM);
    if event.get("exit").and_then(|v| v.as_i64()) != Some(eperm) {
        return None;
    }
    let request = event.get_str("PtraceRequest")?;
    let on_a_tracee = match request {
        "PTRACE_TRACEME" => true,
        "PTRACE_ATTACH" | "PTRACE_SEIZE" => {
            matches!(event.get("TargetIsChild"), Some(Value::Bool(true)))
        }
        _ => false,
    };
    let pid = event
        .get("ProcessId")
        .and_then(|v| v.as_i64())
        .unwrap_or_default();
    on_a_tracee.then(|| format!("{request} by pid {pid}"))
}

/// What `path` would grant when executed by user `uid` and group `gid` that an exec under a
/// tracer without root does not: set-uid or set-gid to another user or group, or file
/// capabilities. `None` when nothing (or the file is gone).
fn privilege_ignored_under_trace(path: &Path, uid: u32, gid: u32) -> Option<&'static str> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    if meta.mode() & libc::S_ISUID != 0 && meta.uid() != uid {
        return Some("set-uid");
    }
    if meta.mode() & libc::S_ISGID != 0 && meta.gid() != gid {
        return Some("set-gid");
    }
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: both strings are NUL-terminated; a null buffer of size 0 asks for the size only.
    let size = unsafe {
        libc::getxattr(
            c_path.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    (size > 0).then_some("given file capabilities")
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

/// The loading of a ruleset, to run on its own thread.
type Load = Box<dyn FnOnce() -> Loaded + Send>;

/// Where the report is with its rules.
enum RuleState {
    /// Still loading: events wait here, in order.
    Loading { queued: Vec<Event> },
    /// Every event is evaluated as it comes.
    Ready(Box<Engine>),
    /// No rules: events are still printed (`--events`), the trace fails at the end.
    Failed,
}

/// The rules running on the events and where their alerts go.
///
/// The ruleset compiles on a thread of its own, started once the command has been resumed
/// into its exec (`Tracer::run_with`), so it runs beside the command rather than beside the
/// start-up that the command waits for. Measured on 2 cores against starting it with the trace: the command
/// exec'd 5.1 ms after trace's own exec instead of 7.6 (median of 20, kernel timestamps), a
/// 1-call trace took 11.7 ms instead of 12.1 (median of 60), and 1M `getppid()` calls did not
/// move (1.132x bare against 1.133x, paired, 100 rounds). Started as soon as the command was
/// released, it took the second core just when the command, ready to install its filter,
/// could have used it: time outside a 1M-call command's loop, over the floor, was 3.79 ms
/// against 2.51 now (40 rotated rounds; bench/trace.md, session 18). At nice 19 it starved
/// behind other processes while the trace waited for it.
///
/// Events that come before the rules are queued, and the loader thread evaluates them (and
/// writes their alerts) as soon as the rules are built. Left to the tracer, they waited for
/// its next event, which for a long command came only at its end: evaluating two start-up
/// events there, on caches gone cold, held up the trace's exit by 0.15-0.19 ms.
///
/// The loader is never joined: joining would also wait for its thread's exit (its stack and
/// its allocator pages handed back), which happened while the command sat in its exec stop.
struct Report<W: Write + Send + 'static> {
    shared: Arc<SharedReport<W>>,
    /// The loading, until it is started.
    load: Option<Load>,
}

/// What the tracer's thread and the loader thread share.
struct SharedReport<W: Write> {
    /// `None` once [`Report::finish`] has taken it.
    state: Mutex<Option<ReportState<W>>>,
    /// Signalled when the rules have arrived (built, or failed).
    rules_arrived: Condvar,
}

/// The report's state, behind [`SharedReport::state`].
struct ReportState<W: Write> {
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

impl<W: Write + Send + 'static> Report<W> {
    fn new(
        printer: Printer<W>,
        load: impl FnOnce() -> Loaded + Send + 'static,
        min_level: Option<Level>,
        print_events: bool,
    ) -> Self {
        let state = ReportState {
            printer,
            rules: RuleState::Loading { queued: Vec::new() },
            max_queued: MAX_QUEUED_EVENTS,
            detections: Vec::new(),
            min_level,
            print_events,
            alerts: 0,
            load_error: None,
            write_error: None,
        };
        Report {
            shared: Arc::new(SharedReport {
                state: Mutex::new(Some(state)),
                rules_arrived: Condvar::new(),
            }),
            load: Some(Box::new(load)),
        }
    }

    /// Starts loading the rules, if not started yet.
    fn start_rules(&mut self) {
        let Some(load) = self.load.take() else {
            return;
        };
        let shared = Arc::clone(&self.shared);
        let failed_to_start = Arc::clone(&self.shared);
        let started = std::thread::Builder::new().spawn(move || {
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
            shared.rules_loaded(loaded);
        });
        if let Err(error) = started {
            failed_to_start.rules_loaded(Err(format!("cannot start the rule loader: {error}")));
        }
    }

    /// Takes one event from the tracer: queued while the rules load, or before they start
    /// to (the command is not held up), else evaluated.
    fn event(&mut self, event: Event) {
        let mut guard = self.shared.lock();
        let Some(state) = guard.as_mut() else {
            return;
        };
        let max_queued = state.max_queued;
        if let RuleState::Loading { queued } = &mut state.rules {
            if queued.len() < max_queued {
                queued.push(event);
                return;
            }
            drop(guard);
            self.start_rules();
            guard = self.shared.wait_for_rules(self.shared.lock());
        }
        if let Some(state) = guard.as_mut() {
            state.evaluate(&event);
        }
    }

    /// Waits for the rules (and the evaluation of every queued event) and closes the output.
    /// Returns the alert count, whether everything was evaluated and written, and the rules
    /// (for the caller to drop or not).
    fn finish(mut self) -> (u64, anyhow::Result<W>, RuleState) {
        self.start_rules();
        let taken = self.shared.wait_for_rules(self.shared.lock()).take();
        let Some(state) = taken else {
            let gone = anyhow::anyhow!("the report was already finished");
            return (0, Err(gone), RuleState::Failed);
        };
        let finished = state.printer.finish();
        let result = match (state.load_error, state.write_error) {
            (Some(error), _) => Err(anyhow::anyhow!(error)),
            (None, Some(error)) => Err(error).context("cannot write alerts"),
            (None, None) => finished.context("cannot write alerts"),
        };
        (state.alerts, result, state.rules)
    }
}

impl<W: Write> SharedReport<W> {
    /// The state, even if a thread panicked while holding it (what it wrote stays written).
    fn lock(&self) -> MutexGuard<'_, Option<ReportState<W>>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits, with `guard` released meanwhile, until the rules are no longer loading.
    fn wait_for_rules<'a>(
        &'a self,
        mut guard: MutexGuard<'a, Option<ReportState<W>>>,
    ) -> MutexGuard<'a, Option<ReportState<W>>> {
        while matches!(
            guard.as_ref().map(|state| &state.rules),
            Some(RuleState::Loading { .. })
        ) {
            guard = self
                .rules_arrived
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
        guard
    }

    /// On the loader thread: takes the rules (or why they failed), then evaluates the events
    /// queued meanwhile, in order, and wakes a tracer waiting for them.
    fn rules_loaded(&self, loaded: Loaded) {
        // Wakes the waiters even if an evaluation below panics.
        struct WakeOnExit<'a>(&'a Condvar);
        impl Drop for WakeOnExit<'_> {
            fn drop(&mut self) {
                self.0.notify_all();
            }
        }
        let _wake = WakeOnExit(&self.rules_arrived);
        let mut guard = self.lock();
        let Some(state) = guard.as_mut() else {
            return;
        };
        let next = match loaded {
            Ok(rules) => RuleState::Ready(Box::new(rules.engine())),
            Err(error) => {
                state.load_error = Some(error);
                RuleState::Failed
            }
        };
        if let RuleState::Loading { queued } = std::mem::replace(&mut state.rules, next) {
            for event in queued {
                state.evaluate(&event);
            }
        }
    }
}

impl<W: Write> ReportState<W> {
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
}

/// Whether a run can be added to `path`: it is missing, empty, or a profile an earlier
/// `--learn` wrote. Read under a shared lock, so that a concurrent `--merge` run's write is
/// never seen half done.
fn check_learned_profile(path: &Path) -> anyhow::Result<()> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    file.lock_shared()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    learned_in(&mut file, path).map(drop)
}

/// What `file` (open at its start) holds: `None` when empty, an error naming `path` when it is
/// not a profile `--learn` wrote.
fn learned_in(file: &mut File, path: &Path) -> anyhow::Result<Option<Learner>> {
    let mut text = String::new();
    file.read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let policy = Policy::from_oci_json(&text, &ResolveOptions::default())
        .with_context(|| format!("{}", path.display()))?;
    let learned = Learner::from_policy(&policy).with_context(|| format!("{}", path.display()))?;
    Ok(Some(learned))
}

/// Writes the learned profile and says what it holds. With `merge`, the run is added to what
/// the file holds now, under an exclusive lock: runs learning into one file at the same time
/// each add their calls, and none is lost.
fn write_profile(path: &Path, mut learned: Learner, merge: bool) -> anyhow::Result<()> {
    let written = |error| {
        anyhow::Error::new(error).context(format!("cannot write the profile to {}", path.display()))
    };
    let mut held_before = None;
    if merge {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(written)?;
        file.lock().map_err(written)?;
        let current = learned_in(&mut file, path)?;
        held_before = Some(current.as_ref().map_or(0, Learner::len));
        if let Some(current) = current {
            learned.absorb(current);
        }
        let json = learned.to_oci_json()?;
        file.set_len(0).map_err(written)?;
        file.seek(SeekFrom::Start(0)).map_err(written)?;
        file.write_all(json.as_bytes()).map_err(written)?;
    } else {
        std::fs::write(path, learned.to_oci_json()?).map_err(written)?;
    }
    let before = match held_before {
        Some(count) => format!(" ({count} in the profile before this run)"),
        None => String::new(),
    };
    eprintln!(
        "nativeguard trace: learned {} syscalls{before}; profile written to {}",
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
    fn only_ptrace_refused_for_our_own_tracing_is_noted() {
        let call = |request: &str, exit: i64, target_is_child: bool| {
            let mut event = Event::new();
            event.insert("SYSCALL", "ptrace");
            event.insert("PtraceRequest", request);
            event.insert("exit", exit);
            event.insert("TargetIsChild", target_is_child);
            event.insert("ProcessId", 42u32);
            tracing_refused_by_this_trace(&event)
        };
        let eperm = -i64::from(libc::EPERM);
        assert_eq!(
            call("PTRACE_ATTACH", eperm, true).as_deref(),
            Some("PTRACE_ATTACH by pid 42")
        );
        assert!(call("PTRACE_SEIZE", eperm, true).is_some());
        assert!(call("PTRACE_TRACEME", eperm, false).is_some());
        // Another process's: refused for reasons of its own (Yama, another user).
        assert_eq!(call("PTRACE_ATTACH", eperm, false), None);
        assert_eq!(call("PTRACE_ATTACH", 0, true), None);
        assert_eq!(call("PTRACE_ATTACH", -i64::from(libc::ESRCH), true), None);
        assert_eq!(call("PTRACE_POKEDATA", eperm, true), None);
    }

    #[test]
    fn set_id_bits_and_file_capabilities_are_named_for_others_only() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let program = dir.path().join("program");
        std::fs::write(&program, b"#!/bin/sh\n").unwrap_or_else(|e| panic!("{e}"));
        let meta = std::fs::metadata(&program).unwrap_or_else(|e| panic!("{e}"));
        let (owner, group) = (meta.uid(), meta.gid());
        let (other_user, other_group) = (owner.wrapping_add(1), group.wrapping_add(1));
        let set_mode = |mode: u32| {
            std::fs::set_permissions(&program, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("{e}"));
        };
        let note = |uid, gid| privilege_ignored_under_trace(&program, uid, gid);
        set_mode(0o755);
        assert_eq!(note(other_user, other_group), None);
        set_mode(0o4755);
        assert_eq!(note(other_user, other_group), Some("set-uid"));
        // Set-uid to oneself grants nothing.
        assert_eq!(note(owner, other_group), None);
        set_mode(0o2755);
        assert_eq!(note(other_user, other_group), Some("set-gid"));
        assert_eq!(note(other_user, group), None);
        assert_eq!(
            privilege_ignored_under_trace(&dir.path().join("gone"), 0, 0),
            None
        );
        // File capabilities: CAP_NET_RAW permitted and effective (struct vfs_cap_data, v2).
        set_mode(0o755);
        let mut caps = Vec::new();
        for word in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
            caps.extend_from_slice(&word.to_le_bytes());
        }
        let c_path = std::ffi::CString::new(program.as_os_str().as_encoded_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        // SAFETY: NUL-terminated strings and a buffer of the given length.
        let set = unsafe {
            libc::setxattr(
                c_path.as_ptr(),
                c"security.capability".as_ptr(),
                caps.as_ptr().cast(),
                caps.len(),
                0,
            )
        };
        if set != 0 {
            eprintln!(
                "skipped the file-capabilities case: setxattr(security.capability) failed: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
        assert_eq!(
            note(other_user, other_group),
            Some("given file capabilities")
        );
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

    impl Report<Vec<u8>> {
        /// How many events wait for the rules (`None` once they have arrived).
        fn queued(&self) -> Option<usize> {
            match self.shared.lock().as_ref().map(|state| &state.rules) {
                Some(RuleState::Loading { queued }) => Some(queued.len()),
                _ => None,
            }
        }

        fn alerts(&self) -> u64 {
            self.shared.lock().as_ref().map_or(0, |state| state.alerts)
        }

        fn set_max_queued(&self, max: usize) {
            if let Some(state) = self.shared.lock().as_mut() {
                state.max_queued = max;
            }
        }

        /// Waits (up to 10 s) until `alerts` alerts have been written.
        fn wait_for_alerts(&self, alerts: u64) {
            for _ in 0..10_000 {
                if self.alerts() >= alerts {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            panic!("{} alerts, not {alerts}", self.alerts());
        }
    }

    fn jsonl_report(load: impl FnOnce() -> Loaded + Send + 'static) -> Report<Vec<u8>> {
        Report::new(Printer::new(Format::Jsonl, Vec::new()), load, None, false)
    }

    #[test]
    fn events_before_the_rules_are_ready_are_evaluated_in_order_when_they_arrive() {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let mut report = jsonl_report(move || {
            // The rules arrive only once the test has sent its first events.
            let _ = held.recv();
            true_rule()
        });
        report.start_rules();
        for image in ["/usr/bin/true", "/usr/bin/false", "/bin/true"] {
            report.event(exec_of(image));
        }
        assert_eq!(report.queued(), Some(3));
        assert_eq!(report.alerts(), 0, "nothing is evaluated before the rules");
        release.send(()).unwrap_or_else(|e| panic!("{e}"));
        // The loader evaluates the queue itself: no further event is needed.
        report.wait_for_alerts(2);
        assert_eq!(report.queued(), None);
        report.event(exec_of("/sbin/true"));
        assert_eq!(
            report.alerts(),
            3,
            "an event after the rules is evaluated at once"
        );
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
        let mut report = jsonl_report(move || {
            let _ = loading.send(());
            true_rule()
        });
        let wait = std::time::Duration::from_millis(50);
        report.event(exec_of("/bin/sh"));
        assert!(
            loaded.recv_timeout(wait).is_err(),
            "loading before the start (an event alone queues)"
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
        let (alerts, finished, rules) = jsonl_report(true_rule).finish();
        assert_eq!(alerts, 0);
        assert!(finished.is_ok());
        assert!(
            matches!(rules, RuleState::Ready(_)),
            "the rules never loaded"
        );
    }

    /// The `true_rule` set, delivered by the loader thread 50 ms late.
    fn rules_ready_in_50_ms() -> Loaded {
        std::thread::sleep(std::time::Duration::from_millis(50));
        true_rule()
    }

    #[test]
    fn events_still_queued_at_the_end_are_evaluated() {
        let mut report = jsonl_report(rules_ready_in_50_ms);
        report.event(exec_of("/bin/true"));
        report.event(exec_of("/bin/sh"));
        assert_eq!(report.queued(), Some(2));
        assert_eq!(alerted_images(report), (1, vec!["/bin/true".to_string()]));
    }

    #[test]
    fn a_full_queue_waits_for_the_rules() {
        let mut report = jsonl_report(rules_ready_in_50_ms);
        report.set_max_queued(2);
        for _ in 0..3 {
            report.event(exec_of("/bin/true"));
        }
        // The third event did not fit: the report waited for the rules, and all three were
        // evaluated before it returned.
        assert_eq!(report.queued(), None);
        assert_eq!(report.alerts(), 3);
    }

    #[test]
    fn rules_that_fail_to_load_fail_the_trace_but_keep_the_events() {
        let mut report = Report::new(
            Printer::new(Format::Jsonl, Vec::new()),
            || Err("no rule".to_string()),
            None,
            true,
        );
        report.event(exec_of("/bin/true"));
        report.event(exec_of("/bin/sh"));
        let (alerts, finished, _) = report.finish();
        assert_eq!(alerts, 0);
        let error = finished.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(error, "no rule");
        let (_, finished, _) = jsonl_report(|| panic!("loader bug")).finish();
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
