//! [`ProcessRunner`]: the controls as child processes of the `nativeguard` binary, run exactly
//! as a user would run them (contracts §4).
//!
//! - Analysis control, sensor: `nativeguard monitor --format jsonl --events --ready-file F`
//!   runs in the background for the whole detection run and watches each test from outside;
//!   alerts and events are attributed to a test by process ancestry (the test's pid and every
//!   process forked below it, from the sensor's own fork/exec events).
//! - Analysis control, tracer: `nativeguard trace --format jsonl --events -- nativeguard emulate
//!   NAME` around each test; everything it prints belongs to the test.
//! - Prevention control: `nativeguard sandbox --policy P --landlock L --format json --
//!   nativeguard emulate NAME`.
//!
//! Latency is measured from just before the test is spawned to the moment its alert line
//! reaches this process, so it includes the control's whole pipeline.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::model::{AlertSummary, AnalysisControl, AnalysisKind, Denial, PreventionControl};
use crate::runner::{ControlRunner, DetectionOutcome, ListedTest, PreventionOutcome};
use crate::Error;

/// The seccomp policy file shipped in `policies/`.
pub const HARDENING_POLICY: &str = "t1106-hardening.json";
/// The Landlock policy file shipped in `policies/`.
pub const LANDLOCK_POLICY: &str = "t1106-landlock.json";
/// How long to keep reading after the sync marker, for lines printed in the same batch.
const SYNC_GRACE: Duration = Duration::from_millis(200);
/// Lines of stderr kept for error messages.
const TAIL_LINES: usize = 12;
/// Longest line kept from a child's output (longer ones are cut, never buffered whole).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Which analysis control to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlChoice {
    /// The sensor when root and it starts; the tracer otherwise.
    Auto,
    /// The sensor or nothing.
    Sensor,
    /// The tracer.
    Trace,
}

/// How to run the controls.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// The `nativeguard` binary.
    pub exe: PathBuf,
    /// Which analysis control.
    pub choice: ControlChoice,
    /// `--rules` paths for the analysis control (empty: its embedded Linux rules).
    pub rules: Vec<PathBuf>,
    /// Seccomp policy (None: the shipped one, compiled in).
    pub policy: Option<PathBuf>,
    /// Landlock policy (None: the shipped one, compiled in).
    pub landlock: Option<PathBuf>,
    /// Longest a single test may run.
    pub test_timeout: Duration,
    /// Longest to wait, after a test exits, for the sensor to catch up with it (it is done
    /// as soon as the sensor reports a marker process started after the test).
    pub settle: Duration,
    /// Longest the sensor may take to attach.
    pub sensor_start_timeout: Duration,
}

impl ProcessOptions {
    /// Defaults for `exe`.
    pub fn new(exe: PathBuf) -> Self {
        ProcessOptions {
            exe,
            choice: ControlChoice::Auto,
            rules: Vec::new(),
            policy: None,
            landlock: None,
            test_timeout: Duration::from_secs(60),
            settle: Duration::from_secs(15),
            sensor_start_timeout: Duration::from_secs(60),
        }
    }
}

/// Runs every control as a child process.
pub struct ProcessRunner {
    options: ProcessOptions,
    kind: AnalysisKind,
    monitor: Option<Monitor>,
    workdir: WorkDir,
    policy: (PathBuf, String),
    landlock: (PathBuf, String),
    exe_canonical: PathBuf,
    /// Tests after which the sensor had not caught up within `settle`.
    lagged: usize,
}

struct Monitor {
    child: Child,
    lines: Receiver<(Instant, String)>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

/// A private temporary directory, removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> Result<WorkDir, Error> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "nativeguard-validate-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&path).map_err(|source| Error::Io {
            what: format!("creating {}", path.display()),
            source,
        })?;
        Ok(WorkDir(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl ProcessRunner {
    /// Prepares the runner: a work directory and the policy files.
    pub fn new(options: ProcessOptions) -> Result<ProcessRunner, Error> {
        let workdir = WorkDir::create()?;
        let policy = policy_file(&workdir.0, options.policy.as_deref(), HARDENING_POLICY)?;
        let landlock = policy_file(&workdir.0, options.landlock.as_deref(), LANDLOCK_POLICY)?;
        let exe_canonical = options
            .exe
            .canonicalize()
            .unwrap_or_else(|_| options.exe.clone());
        Ok(ProcessRunner {
            options,
            kind: AnalysisKind::None,
            monitor: None,
            workdir,
            policy,
            landlock,
            exe_canonical,
            lagged: 0,
        })
    }

    fn exe(&self) -> Command {
        Command::new(&self.options.exe)
    }

    fn rules_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for path in &self.options.rules {
            args.push("--rules".to_string());
            args.push(path.display().to_string());
        }
        args
    }

    fn rules_text(&self) -> String {
        if self.options.rules.is_empty() {
            "the control's embedded Linux rules".to_string()
        } else {
            let paths: Vec<String> = self
                .options
                .rules
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            format!("--rules {}", paths.join(" "))
        }
    }

    fn exe_name(&self) -> String {
        self.options.exe.display().to_string()
    }

    fn start_sensor(&mut self) -> Result<AnalysisControl, Error> {
        let ready = self.workdir.0.join("monitor.ready");
        let _ = std::fs::remove_file(&ready);
        let mut args: Vec<String> = vec![
            "monitor".into(),
            "--format".into(),
            "jsonl".into(),
            "--events".into(),
            "--ready-file".into(),
            ready.display().to_string(),
        ];
        args.extend(self.rules_args());
        let command = format!("{} {}", self.exe_name(), args.join(" "));
        let mut child = self
            .exe()
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| Error::Control {
                command: command.clone(),
                message: format!("could not start: {err}"),
            })?;
        let (tx, rx) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(std::thread::spawn(move || {
                for line in bounded_lines(out) {
                    if tx.send((Instant::now(), line)).is_err() {
                        break;
                    }
                }
            }));
        }
        if let Some(err) = child.stderr.take() {
            let tail = stderr.clone();
            readers.push(std::thread::spawn(move || {
                for line in bounded_lines(err) {
                    if let Ok(mut tail) = tail.lock() {
                        push_tail(&mut tail, line);
                    }
                }
            }));
        }
        let deadline = Instant::now() + self.options.sensor_start_timeout;
        loop {
            if ready.exists() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                for reader in readers {
                    let _ = reader.join();
                }
                let tail = stderr.lock().map(|t| t.join("\n")).unwrap_or_default();
                return Err(Error::Control {
                    command,
                    message: format!(
                        "exited {} before attaching: {}",
                        status_text(status),
                        tail.trim()
                    ),
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Control {
                    command,
                    message: format!(
                        "did not create its ready file within {:?}",
                        self.options.sensor_start_timeout
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.monitor = Some(Monitor {
            child,
            lines: rx,
            stderr,
            readers,
        });
        self.kind = AnalysisKind::Sensor;
        Ok(AnalysisControl {
            kind: AnalysisKind::Sensor,
            command,
            reason: String::new(),
            rules: self.rules_text(),
        })
    }

    fn trace_control(&mut self, reason: String) -> AnalysisControl {
        self.kind = AnalysisKind::Trace;
        let mut args = vec!["trace", "--format", "jsonl", "--events"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        args.extend(self.rules_args());
        AnalysisControl {
            kind: AnalysisKind::Trace,
            command: format!(
                "{} {} -- {} emulate NAME",
                self.exe_name(),
                args.join(" "),
                self.exe_name()
            ),
            reason,
            rules: self.rules_text(),
        }
    }

    fn detect_with_sensor(&mut self, emulation: &str) -> Result<DetectionOutcome, Error> {
        let settle = self.options.settle;
        let timeout = self.options.test_timeout;
        let exe = self.exe_canonical.clone();
        let mut command = self.exe();
        command.args(["emulate", emulation]);
        let Some(monitor) = self.monitor.as_mut() else {
            return Err(Error::Control {
                command: "monitor".into(),
                message: "the sensor is not running".into(),
            });
        };
        // Lines from before the test belong to something else.
        while monitor.lines.try_recv().is_ok() {}
        if let Ok(Some(status)) = monitor.child.try_wait() {
            return Err(Error::Control {
                command: "monitor".into(),
                message: format!("the sensor exited {} during the run", status_text(status)),
            });
        }
        let start = Instant::now();
        let run = run_child(command, timeout, format!("emulate {emulation}"))?;
        let root = run.pid;
        let mut tree: HashSet<u64> = HashSet::from([u64::from(root)]);
        let mut outcome = DetectionOutcome {
            exit_code: run.exit_code,
            stderr_tail: run.stderr_tail,
            ..DetectionOutcome::default()
        };
        // Sync: once the sensor prints the exec of a marker process started after the test
        // ended, everything the test did has been through the ring buffer and the rules.
        let marker = self.sync_marker()?;
        let Some(monitor) = self.monitor.as_mut() else {
            return Err(Error::Control {
                command: "monitor".into(),
                message: "the sensor is not running".into(),
            });
        };
        let mut deadline = Instant::now() + settle;
        let mut synced = false;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let (at, line) = match monitor.lines.recv_timeout(wait) {
                Ok(item) => item,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::Control {
                        command: "monitor".into(),
                        message: "the sensor stopped printing during the run".into(),
                    })
                }
            };
            let Ok(value) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let event = value.get("event").unwrap_or(&Value::Null);
            let pid = number(event, &["ProcessId", "pid"]);
            let ppid = number(event, &["ParentProcessId", "ppid"]);
            if !synced && pid == Some(u64::from(marker)) {
                synced = true;
                deadline = Instant::now() + SYNC_GRACE;
                continue;
            }
            let ours = match (pid, ppid) {
                (Some(pid), _) if tree.contains(&pid) => true,
                (Some(pid), Some(ppid)) if tree.contains(&ppid) => {
                    tree.insert(pid);
                    true
                }
                _ => false,
            };
            if !ours {
                continue;
            }
            record(
                &mut outcome,
                &value,
                at.duration_since(start),
                &exe,
                pid != Some(u64::from(root)),
            );
        }
        if !synced {
            outcome.stderr_tail.push_str(&format!(
                "\n(the sensor had not caught up {settle:?} after the test ended)"
            ));
            self.lagged += 1;
        }
        Ok(outcome)
    }

    /// Starts a short-lived process whose exec the sensor will report after the test's
    /// events; returns its pid.
    fn sync_marker(&mut self) -> Result<u32, Error> {
        let mut child = self
            .exe()
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| Error::Control {
                command: format!("{} --version", self.exe_name()),
                message: format!("could not start the sync marker: {err}"),
            })?;
        let pid = child.id();
        let _ = child.wait();
        Ok(pid)
    }

    fn detect_with_tracer(&mut self, emulation: &str) -> Result<DetectionOutcome, Error> {
        let exe = self.exe_canonical.clone();
        let mut command = self.exe();
        command.args(["trace", "--format", "jsonl", "--events"]);
        command.args(self.rules_args());
        command.arg("--");
        command.arg(&self.options.exe);
        command.args(["emulate", emulation]);
        let start = Instant::now();
        let run = run_child(
            command,
            self.options.test_timeout,
            format!("trace -- emulate {emulation}"),
        )?;
        let mut outcome = DetectionOutcome {
            exit_code: run.exit_code,
            stderr_tail: run.stderr_tail,
            ..DetectionOutcome::default()
        };
        for (at, line) in run.stdout {
            let Ok(value) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            record(&mut outcome, &value, at.duration_since(start), &exe, true);
        }
        Ok(outcome)
    }
}

/// Adds one control output line (alert or event) to a test's outcome.
fn record(
    outcome: &mut DetectionOutcome,
    value: &Value,
    latency: Duration,
    exe: &Path,
    from_descendant: bool,
) {
    let event = value.get("event").unwrap_or(&Value::Null);
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    if let Some(rule) = value.get("rule") {
        outcome.alerts.push(AlertSummary {
            id: text(rule, "id").unwrap_or_default(),
            title: text(rule, "title").unwrap_or_default(),
            level: text(rule, "level").unwrap_or_default(),
            author: text(rule, "author"),
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        });
    } else {
        outcome.events += 1;
    }
    let is_exec = text(event, "EventType").as_deref() == Some("process_creation");
    let via_libc = text(event, "SyscallOrigin").as_deref() == Some("libc");
    // The test binary's own exec does not count: the behaviour is the exec it performs.
    let image = text(event, "Image").unwrap_or_default();
    let is_test_binary = Path::new(&image) == exe;
    if is_exec && via_libc && from_descendant && !is_test_binary {
        outcome.observed_exec = true;
    }
}

fn number(event: &Value, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|key| match event.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

impl ControlRunner for ProcessRunner {
    fn list_tests(&mut self, technique: &str) -> Result<Vec<ListedTest>, Error> {
        let mut command = self.exe();
        command.args(["atomic", "list", technique, "--format", "json"]);
        let run = run_child(
            command,
            self.options.test_timeout,
            format!("atomic list {technique}"),
        )?;
        if run.exit_code != Some(0) {
            return Err(Error::Control {
                command: format!("{} atomic list {technique} --format json", self.exe_name()),
                message: format!(
                    "exit {}: {}",
                    exit_text(run.exit_code),
                    run.stderr_tail.trim()
                ),
            });
        }
        let text: String = run.stdout.into_iter().map(|(_, l)| l + "\n").collect();
        serde_json::from_str(&text).map_err(|err| Error::Control {
            command: format!("{} atomic list {technique} --format json", self.exe_name()),
            message: format!("unreadable output: {err}"),
        })
    }

    fn start_analysis(&mut self) -> Result<AnalysisControl, Error> {
        let uid = nix::unistd::geteuid();
        match self.options.choice {
            ControlChoice::Trace => Ok(self.trace_control("chosen with --controls trace".into())),
            ControlChoice::Sensor => self.start_sensor().map(|mut control| {
                control.reason = "chosen with --controls sensor".into();
                control
            }),
            ControlChoice::Auto if !uid.is_root() => Ok(self.trace_control(format!(
                "not root (uid {uid}): the host-wide eBPF sensor needs root, so the per-command \
                 tracer watched each test instead"
            ))),
            ControlChoice::Auto => match self.start_sensor() {
                Ok(mut control) => {
                    control.reason =
                        "root with eBPF: the host-wide sensor watched every test from outside"
                            .into();
                    Ok(control)
                }
                Err(err) => Ok(self.trace_control(format!(
                    "the eBPF sensor could not start ({err}), so the per-command tracer watched \
                     each test instead"
                ))),
            },
        }
    }

    fn detect(&mut self, emulation: &str) -> Result<DetectionOutcome, Error> {
        match self.kind {
            AnalysisKind::Sensor => self.detect_with_sensor(emulation),
            AnalysisKind::Trace => self.detect_with_tracer(emulation),
            AnalysisKind::None => Err(Error::Control {
                command: "validate".into(),
                message: "no analysis control was started".into(),
            }),
        }
    }

    fn stop_analysis(&mut self) -> Result<Vec<String>, Error> {
        let Some(mut monitor) = self.monitor.take() else {
            return Ok(Vec::new());
        };
        let pid = nix::unistd::Pid::from_raw(i32::try_from(monitor.child.id()).unwrap_or(i32::MAX));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            match monitor.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = monitor.child.kill();
                    let _ = monitor.child.wait();
                    break None;
                }
            }
        };
        drop(monitor.lines);
        for reader in monitor.readers {
            let _ = reader.join();
        }
        let tail = monitor.stderr.lock().map(|t| t.clone()).unwrap_or_default();
        let mut notes: Vec<String> = Vec::new();
        if self.lagged > 0 {
            notes.push(format!(
                "the sensor had not caught up {:?} after {} test(s) ended; alerts after that are not counted",
                self.options.settle, self.lagged
            ));
        }
        notes.extend(
            tail.iter()
                .filter(|l| l.to_ascii_lowercase().contains("lost"))
                .map(|l| format!("sensor: {l}")),
        );
        match status {
            Some(status) if status.success() => {}
            Some(status) => notes.push(format!(
                "the sensor exited {} on SIGTERM: {}",
                status_text(status),
                tail.join(" / ")
            )),
            None => {
                notes.push("the sensor did not stop within 10 s of SIGTERM and was killed".into())
            }
        }
        Ok(notes)
    }

    fn prevention_control(&self) -> PreventionControl {
        PreventionControl {
            command: format!(
                "{exe} sandbox --policy {} --landlock {} --format json -- {exe} emulate NAME",
                self.policy.0.display(),
                self.landlock.0.display(),
                exe = self.exe_name()
            ),
            policy: self.policy.1.clone(),
            landlock: self.landlock.1.clone(),
        }
    }

    fn prevent(&mut self, emulation: &str) -> Result<PreventionOutcome, Error> {
        let mut command = self.exe();
        command.arg("sandbox").arg("--policy").arg(&self.policy.0);
        command.arg("--landlock").arg(&self.landlock.0);
        command.args(["--format", "json", "--"]);
        command.arg(&self.options.exe);
        command.args(["emulate", emulation]);
        let run = run_child(
            command,
            self.options.test_timeout,
            format!("sandbox -- emulate {emulation}"),
        )?;
        let mut outcome = PreventionOutcome {
            exit_code: run.exit_code,
            stderr_tail: run.stderr_tail,
            ..PreventionOutcome::default()
        };
        for line in &run.stderr {
            let trimmed = line.trim();
            if let Some(rest) = trimmed.strip_prefix("blocked:") {
                outcome.blocked = Some(format!("blocked:{rest}"));
                continue;
            }
            let Ok(value) = serde_json::from_str::<Value>(trimmed) else {
                continue;
            };
            if let Some(syscall) = value.get("denied").and_then(Value::as_str) {
                outcome.denials.push(Denial {
                    syscall: syscall.to_string(),
                    layer: value
                        .get("layer")
                        .and_then(Value::as_str)
                        .unwrap_or("seccomp")
                        .to_string(),
                    detail: trimmed.to_string(),
                });
            }
        }
        Ok(outcome)
    }
}

impl Drop for ProcessRunner {
    fn drop(&mut self) {
        // Never leave the sensor attached.
        if let Some(mut monitor) = self.monitor.take() {
            let _ = monitor.child.kill();
            let _ = monitor.child.wait();
        }
    }
}

/// The policy to use: the given file, or the shipped one written into the work directory.
fn policy_file(
    workdir: &Path,
    given: Option<&Path>,
    name: &str,
) -> Result<(PathBuf, String), Error> {
    if let Some(path) = given {
        return Ok((path.to_path_buf(), path.display().to_string()));
    }
    let text = crate::embedded::policy(name).ok_or_else(|| Error::Control {
        command: "sandbox".into(),
        message: format!(
            "the shipped policy policies/{name} was not present when nativeguard was built"
        ),
    })?;
    let path = workdir.join(name);
    std::fs::write(&path, text).map_err(|source| Error::Io {
        what: format!("writing {}", path.display()),
        source,
    })?;
    Ok((path, format!("shipped policies/{name}")))
}

struct ChildRun {
    pid: u32,
    exit_code: Option<i32>,
    stdout: Vec<(Instant, String)>,
    stderr: Vec<String>,
    stderr_tail: String,
}

/// Runs a child to completion (killing it after `timeout`), reading both pipes as it goes.
fn run_child(mut command: Command, timeout: Duration, what: String) -> Result<ChildRun, Error> {
    use std::os::unix::process::CommandExt as _;
    // Its own process group, so a timeout kills the test's children too.
    let mut child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| Error::Control {
            command: what.clone(),
            message: format!("could not start: {err}"),
        })?;
    let pid = child.id();
    let out = child.stdout.take().map(|out| {
        std::thread::spawn(move || {
            bounded_lines(out)
                .map(|line| (Instant::now(), line))
                .collect::<Vec<_>>()
        })
    });
    let err = child
        .stderr
        .take()
        .map(|err| std::thread::spawn(move || bounded_lines(err).collect::<Vec<_>>()));
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                timed_out = true;
                if let Ok(group) = i32::try_from(pid) {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(group),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = child.kill();
                break child.wait().ok();
            }
            Err(err) => {
                return Err(Error::Control {
                    command: what,
                    message: format!("waiting failed: {err}"),
                })
            }
        }
    };
    let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    let mut tail: Vec<String> = stderr.iter().rev().take(TAIL_LINES).cloned().collect();
    tail.reverse();
    if timed_out {
        tail.push(format!("(killed after {timeout:?})"));
    }
    Ok(ChildRun {
        pid,
        exit_code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        stdout,
        stderr,
        stderr_tail: tail.join("\n"),
    })
}

/// Lines of a pipe, each cut at [`MAX_LINE_BYTES`], invalid UTF-8 replaced.
fn bounded_lines(input: impl Read) -> impl Iterator<Item = String> {
    let mut reader = BufReader::new(input);
    std::iter::from_fn(move || {
        let mut buf = Vec::new();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64)
            .read_until(b'\n', &mut buf)
            .ok()?;
        if read == 0 {
            return None;
        }
        if buf.last() != Some(&b'\n') && buf.len() >= MAX_LINE_BYTES {
            // Skip the rest of an over-long line.
            let mut rest = Vec::new();
            let _ = reader.read_until(b'\n', &mut rest);
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        Some(String::from_utf8_lossy(&buf).into_owned())
    })
}

fn push_tail(tail: &mut Vec<String>, line: String) {
    tail.push(line);
    if tail.len() > TAIL_LINES {
        tail.remove(0);
    }
}

fn status_text(status: ExitStatus) -> String {
    exit_text(status.code())
}

fn exit_text(code: Option<i32>) -> String {
    code.map_or_else(|| "by signal".to_string(), |c| format!("with code {c}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_not_buffered() {
        let mut text = "a".repeat(MAX_LINE_BYTES + 10);
        text.push_str("\nshort\n");
        let lines: Vec<String> = bounded_lines(text.as_bytes()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE_BYTES);
        assert_eq!(lines[1], "short");
    }

    #[test]
    fn records_alerts_and_libc_execs_of_descendants_only() {
        let exe = Path::new("/opt/nativeguard");
        let mut outcome = DetectionOutcome::default();
        let alert = serde_json::json!({"rule": {"id": "r1", "title": "T", "level": "high", "author": "A"},
            "event": {"EventType": "syscall", "ProcessId": 5}});
        record(&mut outcome, &alert, Duration::from_millis(7), exe, true);
        let own_exec = serde_json::json!({"event": {"EventType": "process_creation", "SyscallOrigin": "libc", "Image": "/opt/nativeguard"}});
        record(&mut outcome, &own_exec, Duration::ZERO, exe, true);
        assert!(
            !outcome.observed_exec,
            "the test binary's own exec is not the behaviour"
        );
        let root_exec = serde_json::json!({"event": {"EventType": "process_creation", "SyscallOrigin": "libc", "Image": "/usr/bin/true"}});
        record(&mut outcome, &root_exec, Duration::ZERO, exe, false);
        assert!(
            !outcome.observed_exec,
            "an exec by the test's root process is not a descendant's"
        );
        let child_exec = serde_json::json!({"event": {"EventType": "process_creation", "SyscallOrigin": "libc", "Image": "/usr/bin/true"}});
        record(&mut outcome, &child_exec, Duration::ZERO, exe, true);
        assert!(outcome.observed_exec);
        assert_eq!(outcome.alerts.len(), 1);
        assert_eq!(outcome.alerts[0].latency_ms, 7);
        assert_eq!(outcome.events, 3);
    }

    #[test]
    fn a_timeout_kills_the_whole_process_group() {
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & echo $!; wait"]);
        let started = Instant::now();
        let run = run_child(command, Duration::from_millis(300), "sh".into()).unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(run.exit_code, None, "killed");
        assert!(run.stderr_tail.contains("killed after"));
        let grandchild: i32 = run.stdout[0].1.trim().parse().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(grandchild), None).is_ok()
            && !std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                .unwrap_or_default()
                .contains(") Z ");
        assert!(!alive, "the background sleep was killed with its group");
    }

    #[test]
    fn numbers_read_from_either_shape() {
        let event = serde_json::json!({"ProcessId": "42", "ppid": 7});
        assert_eq!(number(&event, &["ProcessId"]), Some(42));
        assert_eq!(number(&event, &["ParentProcessId", "ppid"]), Some(7));
        assert_eq!(number(&event, &["missing"]), None);
    }
}
