//! Runs atomic tests: prerequisites, the command, and a cleanup that always runs.
//!
//! Each command runs as `sh -c` / `bash -c` / `pwsh -Command` in a process group of its own
//! (`setpgid(0, 0)` before exec). When the leader exits or the per-step timeout expires, the
//! whole group is killed with `SIGKILL` while the leader is still an unreaped zombie (found with
//! `waitid(WNOWAIT)`), so the group id cannot have been reused and grandchildren die with it;
//! a test's processes never outlive it. (A descendant that calls `setsid` leaves the group and
//! is out of reach; the runner stops waiting for its output after a grace period.) If the
//! runner itself dies, the kernel kills each step's shell (`PR_SET_PDEATHSIG`).
//!
//! Skips are decided before anything runs, in this order: platform (`supported_platforms`
//! lacks this host), executor (manual steps, `cmd.exe` off Windows, no `pwsh`), elevation
//! (`elevation_required` and not root), network (see [`network_indicator`]; url-typed inputs
//! used by the command count too) unless `allow_network`, then unmet prerequisites.

use crate::error::Error;
use crate::model::{ArgType, AtomicTest, ExecutorKind, Platform, Technique};
use crate::sys;
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes of stdout and of stderr kept per step (the tail).
pub const TAIL_BYTES: usize = 2048;
/// How long the runner waits for a killed step's pipes to close before giving up on them.
const PIPE_GRACE: Duration = Duration::from_millis(500);

/// What `run_test` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Check the prerequisites, run the command, then always run the cleanup.
    Run,
    /// Only run the prerequisite checks.
    CheckPrereqs,
    /// Run the prerequisite checks, `get_prereq_command` for unmet ones, then check again.
    GetPrereqs,
    /// Only run the cleanup command.
    Cleanup,
}

/// How tests run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// What to do.
    pub mode: Mode,
    /// Limit for each step (each prerequisite check, the command, the cleanup).
    pub timeout: Duration,
    /// Run steps that reach the network.
    pub allow_network: bool,
    /// `--input name=value` overrides (check them first with [`check_inputs`]).
    pub inputs: Vec<(String, String)>,
    /// Extra environment variables for every step.
    pub env: Vec<(String, String)>,
    /// Whether this process is root (tests with `elevation_required` are skipped otherwise).
    pub is_root: bool,
    /// The platform tests must support to run here.
    pub host: Option<Platform>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            mode: Mode::Run,
            timeout: Duration::from_secs(60),
            allow_network: false,
            inputs: Vec::new(),
            env: Vec::new(),
            is_root: sys::effective_uid() == 0,
            host: Platform::host(),
        }
    }
}

/// Outcome of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It ran and exited 0 (for `CheckPrereqs`/`GetPrereqs`: every prerequisite is met).
    Passed,
    /// It ran and failed, timed out, or a prerequisite could not be met.
    Failed,
    /// It did not run; `reason` says why.
    Skipped,
}

impl Status {
    /// `passed`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// Why a test was skipped, when it was: the CLI treats platform skips as expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipKind {
    /// The test does not support this platform.
    Platform,
    /// Its executor is not available here (manual, cmd.exe, no pwsh).
    Executor,
    /// It needs root.
    Elevation,
    /// It reaches the network and `allow_network` is off.
    Network,
    /// A prerequisite is not met.
    Prerequisite,
}

/// The result of one test.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// Technique id.
    pub technique: String,
    /// Number of the test in its file.
    pub number: usize,
    /// Test name.
    pub name: String,
    /// GUID, when the test has one.
    pub guid: Option<String>,
    /// The platform it ran on, or (when skipped for the platform) the ones it supports.
    pub platform: String,
    /// Outcome.
    pub status: Status,
    /// Why it was skipped or failed, and notes (cleanup failures).
    pub reason: Option<String>,
    /// Set when the test was skipped.
    pub skip: Option<SkipKind>,
    /// Exit code of the main step (`None`: did not run, or killed by a signal).
    pub exit_code: Option<i32>,
    /// Wall time of all steps.
    pub duration: Duration,
    /// Last bytes of the main step's stdout.
    pub stdout_tail: String,
    /// Last bytes of the main step's stderr.
    pub stderr_tail: String,
    /// Exit code of the cleanup command, when it ran.
    pub cleanup_exit_code: Option<i32>,
}

/// Checks `--input` overrides against the tests that will run: each name must be an input of at
/// least one of them, and the value must fit the argument's type in every test declaring it.
pub fn check_inputs(tests: &[&AtomicTest], inputs: &[(String, String)]) -> Result<(), Error> {
    for (name, value) in inputs {
        let declared: Vec<ArgType> = tests
            .iter()
            .filter_map(|t| t.input(name).map(|a| a.kind))
            .collect();
        if declared.is_empty() {
            let mut known: Vec<&str> = tests
                .iter()
                .flat_map(|t| t.input_arguments.iter().map(|a| a.name.as_str()))
                .collect();
            known.sort_unstable();
            known.dedup();
            return Err(Error::Input {
                name: name.clone(),
                message: if known.is_empty() {
                    "the selected tests take no inputs".into()
                } else {
                    format!(
                        "not an input of the selected tests (inputs: {})",
                        known.join(", ")
                    )
                },
            });
        }
        for kind in declared {
            if let Err((code, message)) = kind.check(value) {
                return Err(Error::Input {
                    name: name.clone(),
                    message: format!("{message} (type {}, {code})", kind.as_str()),
                });
            }
        }
    }
    Ok(())
}

/// Replaces `#{name}` with its value (values are not expanded again) and then
/// `$PathToAtomicsFolder` / `PathToAtomicsFolder` with `atomics_folder`.
pub fn substitute(text: &str, values: &HashMap<&str, &str>, atomics_folder: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let line_end = after.find('\n').unwrap_or(after.len());
        match after[..line_end].find('}') {
            Some(end) if values.contains_key(&after[..end]) => {
                out.push_str(values[&after[..end]]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("#{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace("$PathToAtomicsFolder", atomics_folder)
        .replace("PathToAtomicsFolder", atomics_folder)
}

/// Words that make a command reach the network (matched as whole words, case-insensitively).
const NETWORK_WORDS: &[&str] = &[
    "curl",
    "wget",
    "invoke-webrequest",
    "iwr",
    "invoke-restmethod",
    "irm",
    "downloadstring",
    "downloadfile",
    "downloaddata",
    "net.webclient",
    "start-bitstransfer",
    "bitsadmin",
    "nc",
    "ncat",
    "netcat",
    "socat",
    "ssh",
    "scp",
    "sftp",
    "ftp",
    "tftp",
    "rsync",
    "telnet",
    "nslookup",
    "dig",
    "ping",
    "git",
    "pip",
    "pip3",
    "apt-get",
    "apt",
    "yum",
    "dnf",
    "apk",
    "brew",
    "install-module",
    "test-netconnection",
    "resolve-dnsname",
    "certutil",
];
/// Substrings that make a command reach the network.
const NETWORK_MARKERS: &[&str] = &["http://", "https://", "ftp://", "/dev/tcp/", "/dev/udp/"];

/// The first sign that `text` reaches the network (`curl`, `https://`, ...), if any. Conservative:
/// a word that merely names a network tool counts.
pub fn network_indicator(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if let Some(marker) = NETWORK_MARKERS.iter().find(|m| lower.contains(*m)) {
        return Some(format!("`{marker}`"));
    }
    lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        .map(|w| w.trim_matches('.'))
        .find(|w| NETWORK_WORDS.contains(w))
        .map(|w| format!("`{w}`"))
}

/// Output of one executed step.
struct Execution {
    exit_code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    spawn_error: Option<String>,
    stdout_tail: String,
    stderr_tail: String,
}

impl Execution {
    fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// Why it did not succeed.
    fn failure(&self, timeout: Duration) -> String {
        if let Some(e) = &self.spawn_error {
            e.clone()
        } else if self.timed_out {
            format!(
                "timed out after {:.1}s: process group killed",
                timeout.as_secs_f64()
            )
        } else if let Some(signal) = self.signal {
            format!("killed by signal {signal}")
        } else {
            format!("exit code {}", self.exit_code.unwrap_or(-1))
        }
    }
}

/// A bounded tail of a stream.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > TAIL_BYTES {
            let excess = self.bytes.len() - TAIL_BYTES;
            self.bytes.drain(..excess);
            self.truncated = true;
        }
    }

    fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        if self.truncated {
            format!("…{text}")
        } else {
            text.into_owned()
        }
    }
}

fn read_tail(
    stream: Option<impl Read + Send + 'static>,
    done: mpsc::Sender<()>,
) -> Arc<Mutex<Tail>> {
    let tail = Arc::new(Mutex::new(Tail::default()));
    let Some(mut stream) = stream else {
        let _ = done.send(());
        return tail;
    };
    let shared = Arc::clone(&tail);
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut t) = shared.lock() {
                        t.push(&buf[..n]);
                    }
                }
            }
        }
        let _ = done.send(());
    });
    tail
}

/// The program and leading arguments for an executor, or why it is unavailable here.
fn interpreter(kind: ExecutorKind) -> Result<(PathBuf, Vec<&'static str>), String> {
    match kind {
        ExecutorKind::Sh => Ok((PathBuf::from("sh"), vec!["-c"])),
        ExecutorKind::Bash => Ok((PathBuf::from("bash"), vec!["-c"])),
        ExecutorKind::Powershell => find_in_path(&["pwsh", "powershell"])
            .map(|p| {
                (
                    p,
                    vec!["-NoLogo", "-NoProfile", "-NonInteractive", "-Command"],
                )
            })
            .ok_or_else(|| {
                "the powershell executor needs pwsh (PowerShell 7), not found in PATH".into()
            }),
        ExecutorKind::CommandPrompt if cfg!(windows) => Ok((PathBuf::from("cmd.exe"), vec!["/c"])),
        ExecutorKind::CommandPrompt => {
            Err("the command_prompt executor runs cmd.exe, which exists only on Windows".into())
        }
        ExecutorKind::Manual => Err("manual test: its steps are performed by a person".into()),
    }
}

/// The first of `names` found as a file in a `PATH` directory.
pub fn find_in_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        names
            .iter()
            .map(|n| dir.join(n))
            .find(|candidate| candidate.is_file())
    })
}

/// Runs one script in its own process group with a timeout.
fn execute(
    kind: ExecutorKind,
    script: &str,
    timeout: Duration,
    env: &[(String, String)],
) -> Execution {
    let mut execution = Execution {
        exit_code: None,
        signal: None,
        timed_out: false,
        spawn_error: None,
        stdout_tail: String::new(),
        stderr_tail: String::new(),
    };
    let (program, args) = match interpreter(kind) {
        Ok(found) => found,
        Err(why) => {
            execution.spawn_error = Some(why);
            return execution;
        }
    };
    let mut command = Command::new(&program);
    command
        .args(args)
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .envs(env.iter().map(|(k, v)| (k, v)));
    sys::kill_with_parent(&mut command);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            execution.spawn_error = Some(format!("could not start {}: {e}", program.display()));
            return execution;
        }
    };
    let pid = child.id() as i32;
    let (done_tx, done_rx) = mpsc::channel();
    let stdout = read_tail(child.stdout.take(), done_tx.clone());
    let stderr = read_tail(child.stderr.take(), done_tx);
    let deadline = Instant::now() + timeout;
    let mut poll = Duration::from_millis(1);
    loop {
        match sys::has_exited(pid) {
            Ok(true) | Err(_) => break,
            Ok(false) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            execution.timed_out = true;
            break;
        }
        std::thread::sleep(poll.min(deadline - now));
        poll = (poll * 2).min(Duration::from_millis(20));
    }
    // The leader is not reaped yet, so its process group id is still reserved: killing the
    // group cannot hit an unrelated process.
    sys::kill_process_group(pid);
    match child.wait() {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            execution.exit_code = status.code();
            execution.signal = status.signal();
        }
        Err(e) => execution.spawn_error = Some(format!("waiting for the step failed: {e}")),
    }
    let grace = Instant::now() + PIPE_GRACE;
    for _ in 0..2 {
        let left = grace.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    execution.stdout_tail = stdout.lock().map(|t| t.text()).unwrap_or_default();
    execution.stderr_tail = stderr.lock().map(|t| t.text()).unwrap_or_default();
    execution
}

/// Runs (or checks, or cleans up after) one test. Never fails: every problem is in the result.
pub fn run_test(
    technique: &Technique,
    atomics_folder: &Path,
    test: &AtomicTest,
    options: &RunOptions,
) -> TestResult {
    let started = Instant::now();
    let mut result = TestResult {
        technique: technique.attack_technique.clone(),
        number: test.number,
        name: test.name.clone(),
        guid: test.guid.clone(),
        platform: options
            .host
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        status: Status::Skipped,
        reason: None,
        skip: None,
        exit_code: None,
        duration: Duration::ZERO,
        stdout_tail: String::new(),
        stderr_tail: String::new(),
        cleanup_exit_code: None,
    };
    let skip = |result: &mut TestResult, kind: SkipKind, reason: String| {
        result.status = Status::Skipped;
        result.skip = Some(kind);
        result.reason = Some(reason);
        result.duration = started.elapsed();
    };

    let supported = options
        .host
        .is_some_and(|h| test.supported_platforms.contains(&h));
    if !supported {
        let list: Vec<&str> = test
            .supported_platforms
            .iter()
            .map(|p| p.as_str())
            .collect();
        result.platform = list.join(",");
        let host = options
            .host
            .map(|p| p.as_str())
            .unwrap_or("an unsupported platform");
        skip(
            &mut result,
            SkipKind::Platform,
            format!(
                "platform: the test supports {}; this host is {host}",
                list.join(", ")
            ),
        );
        return result;
    }
    let needs_command = matches!(options.mode, Mode::Run | Mode::Cleanup);
    if needs_command {
        if let Err(why) = interpreter(test.executor.kind) {
            skip(&mut result, SkipKind::Executor, why);
            return result;
        }
    }
    if test.executor.elevation_required && !options.is_root {
        skip(
            &mut result,
            SkipKind::Elevation,
            "elevation required: run as root".into(),
        );
        return result;
    }

    // Values: defaults, then overrides that this test declares.
    let mut values: HashMap<&str, &str> = test
        .input_arguments
        .iter()
        .map(|a| (a.name.as_str(), a.default.as_deref().unwrap_or("")))
        .collect();
    for (name, value) in &options.inputs {
        if let Some(slot) = values.get_mut(name.as_str()) {
            *slot = value;
        }
    }
    let folder = atomics_folder.display().to_string();
    let fill = |text: &str| substitute(text, &values, &folder);
    let command = fill(&test.executor.command);
    let cleanup = test.executor.cleanup_command.as_deref().map(fill);
    let prereqs: Vec<(String, String, Option<String>)> = test
        .dependencies
        .iter()
        .map(|d| {
            (
                fill(&d.description).trim().to_owned(),
                fill(&d.prereq_command),
                d.get_prereq_command.as_deref().map(fill),
            )
        })
        .collect();

    if !options.allow_network {
        let mut checked: Vec<(&str, &str)> = Vec::new();
        match options.mode {
            Mode::Run => {
                checked.push(("the command", &command));
                checked.extend(cleanup.as_deref().map(|c| ("the cleanup command", c)));
                checked.extend(
                    prereqs
                        .iter()
                        .map(|p| ("a prerequisite check", p.1.as_str())),
                );
            }
            Mode::CheckPrereqs | Mode::GetPrereqs => {
                checked.extend(
                    prereqs
                        .iter()
                        .map(|p| ("a prerequisite check", p.1.as_str())),
                );
            }
            Mode::Cleanup => checked.extend(cleanup.as_deref().map(|c| ("the cleanup command", c))),
        }
        let mut found: Option<String> = checked
            .iter()
            .find_map(|(what, text)| network_indicator(text).map(|i| format!("{i} in {what}")));
        if found.is_none() && options.mode == Mode::Run {
            found = test
                .input_arguments
                .iter()
                .find(|a| {
                    a.kind == ArgType::Url
                        && crate::model::mustache_keys(&test.executor.command)
                            .contains(&a.name.as_str())
                })
                .map(|a| format!("url input '{}' used by the command", a.name));
        }
        if let Some(found) = found {
            skip(
                &mut result,
                SkipKind::Network,
                format!("reaches the network ({found}); pass --allow-network to run it"),
            );
            return result;
        }
    }

    let prereq_kind = test.prereq_executor();
    let env = &options.env;
    let timeout = options.timeout;
    match options.mode {
        Mode::Cleanup => {
            let Some(cleanup) = cleanup else {
                result.status = Status::Passed;
                result.reason = Some("no cleanup_command".into());
                result.duration = started.elapsed();
                return result;
            };
            let run = execute(test.executor.kind, &cleanup, timeout, env);
            finish(&mut result, &run, timeout);
        }
        Mode::CheckPrereqs | Mode::GetPrereqs => {
            let mut unmet = Vec::new();
            for (description, check, get) in &prereqs {
                let mut met = execute(prereq_kind, check, timeout, env).succeeded();
                if !met && options.mode == Mode::GetPrereqs {
                    if let Some(get) = get {
                        if let (false, Some(found)) =
                            (options.allow_network, network_indicator(get))
                        {
                            skip(
                                &mut result,
                                SkipKind::Network,
                                format!(
                                    "get_prereq_command for '{description}' reaches the network \
                                     ({found}); pass --allow-network to run it"
                                ),
                            );
                            return result;
                        }
                        let got = execute(prereq_kind, get, timeout, env);
                        result.stdout_tail = got.stdout_tail;
                        result.stderr_tail = got.stderr_tail;
                        met = execute(prereq_kind, check, timeout, env).succeeded();
                    }
                }
                if !met {
                    unmet.push(description.clone());
                }
            }
            result.status = if unmet.is_empty() {
                Status::Passed
            } else {
                Status::Failed
            };
            result.reason = Some(if prereqs.is_empty() {
                "no prerequisites".into()
            } else if unmet.is_empty() {
                "every prerequisite is met".into()
            } else {
                format!("prerequisite not met: {}", unmet.join("; "))
            });
        }
        Mode::Run => {
            for (description, check, _) in &prereqs {
                let run = execute(prereq_kind, check, timeout, env);
                if !run.succeeded() {
                    let why = if run.spawn_error.is_some() || run.timed_out {
                        format!(" ({})", run.failure(timeout))
                    } else {
                        String::new()
                    };
                    skip(
                        &mut result,
                        SkipKind::Prerequisite,
                        format!("prerequisite not met: {description}{why} (see --get-prereqs)"),
                    );
                    return result;
                }
            }
            let run = execute(test.executor.kind, &command, timeout, env);
            finish(&mut result, &run, timeout);
            // The cleanup runs whatever happened to the command: failure, signal or timeout.
            if let Some(cleanup) = cleanup {
                let cleaned = execute(test.executor.kind, &cleanup, timeout, env);
                result.cleanup_exit_code = cleaned.exit_code;
                if !cleaned.succeeded() {
                    let note = format!("cleanup failed: {}", cleaned.failure(timeout));
                    result.reason = Some(match result.reason.take() {
                        Some(r) => format!("{r}; {note}"),
                        None => note,
                    });
                }
            }
        }
    }
    result.duration = started.elapsed();
    result
}

fn finish(result: &mut TestResult, run: &Execution, timeout: Duration) {
    result.exit_code = run.exit_code;
    result.stdout_tail = run.stdout_tail.clone();
    result.stderr_tail = run.stderr_tail.clone();
    if run.succeeded() {
        result.status = Status::Passed;
    } else {
        result.status = Status::Failed;
        result.reason = Some(run.failure(timeout));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_is_single_pass() {
        let values: HashMap<&str, &str> = [("a", "#{b}"), ("b", "x")].into_iter().collect();
        assert_eq!(
            substitute(
                "echo #{a} #{b} #{c} $PathToAtomicsFolder/T1",
                &values,
                "/at"
            ),
            "echo #{b} x #{c} /at/T1"
        );
    }

    #[test]
    fn network_detection() {
        assert_eq!(network_indicator("curl -s x").as_deref(), Some("`curl`"));
        assert_eq!(network_indicator("IEX (iwr 'h')").as_deref(), Some("`iwr`"));
        assert!(network_indicator("echo HTTPS://x").is_some());
        assert!(
            network_indicator("\"${NATIVEGUARD_EXE:-nativeguard}\" emulate memfd-exec").is_none()
        );
        assert!(network_indicator("echo curly").is_none());
    }

    #[test]
    fn tail_keeps_the_end() {
        let mut tail = Tail::default();
        tail.push(&vec![b'a'; TAIL_BYTES]);
        tail.push(b"end");
        assert!(tail.text().ends_with("aend"));
        assert!(tail.text().starts_with('…'));
        assert_eq!(tail.bytes.len(), TAIL_BYTES);
    }
}
