//! Receiving the kernel's audit records for one sandboxed run: audit turned on if it was off
//! (and back off afterwards), a reader thread on the audit log multicast group, and the
//! bookkeeping that lets several nativeguard runs share the system's one audit switch.
//!
//! Sharing: `AUDIT_LOCK` is held exclusively while a run checks or changes the switch; every
//! run that relies on audit holds `AUDIT_USERS` shared until it ends. The file `AUDIT_LOCK`
//! says whether nativeguard turned audit on. The run that ends last (it gets `AUDIT_USERS`
//! exclusively) turns it back off if nativeguard turned it on; a run that crashed releases its
//! locks with its process, and the next run to end restores the switch.

use crate::audit::{parse_record, LandlockAudit};
use crate::supervisor::{Denial, DenialSink};
use crate::sys::{self, AuditSocket, HandoverGate};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Held exclusively while a run checks or changes the audit switch; holds the marker.
const AUDIT_LOCK: &str = "/run/nativeguard-audit.lock";
/// Held shared by every run relying on audit.
const AUDIT_USERS: &str = "/run/nativeguard-audit.users";
/// The marker's text: nativeguard turned audit on (and raised the backlog limit from the
/// number that follows), and the last run must undo both.
const TURNED_ON_BY_NATIVEGUARD: &str = "audit turned on by nativeguard sandbox; backlog_limit was ";
/// The backlog limit while nativeguard has audit on: the kernel's default (64 records, about
/// 16 denials with their SYSCALL, PROCTITLE and EOE records) lost most of a burst of denials
/// in our measurements; 8192 is what auditd is usually configured with.
const RUN_BACKLOG_LIMIT: u32 = 8192;
/// How often the reader looks for the end of the run between records.
const READ_TIMEOUT_MS: i32 = 20;
/// After the command exits, the reader sends itself a marker message through audit: it is
/// queued behind every record already logged, so once it arrives nothing of the run is still
/// on its way — except the end records of the sandbox's domains, logged when their last
/// process is gone, which it then waits for. DRAIN_MAX bounds the whole wait (a daemon the
/// command left behind keeps its domain alive); DRAIN_QUIET replaces the marker when it
/// cannot be sent.
const DRAIN_MAX: Duration = Duration::from_secs(2);
const DRAIN_QUIET: Duration = Duration::from_millis(200);

/// The sink shared by the supervisor thread and the audit reader.
pub type SharedSink = Arc<Mutex<DenialSink>>;

/// Gives one denial to a shared sink (a sink that panicked earlier still receives).
pub fn deliver(sink: &SharedSink, denial: &Denial) {
    let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
    (sink)(denial);
}

/// Whether Landlock denials can be read from audit here, and the audit switch's state.
/// `Err` says why not, for the user.
pub fn probe(landlock_abi: u32) -> Result<u32, String> {
    if landlock_abi < 7 {
        return Err(format!(
            "Landlock ABI {landlock_abi} does not log denials to audit (ABI 7, Linux 6.15, does)"
        ));
    }
    if !sys::in_initial_pid_namespace() {
        return Err("audit names processes by their pid in the initial pid namespace, and this process runs in another".into());
    }
    AuditSocket::read_log().map_err(|err| {
        format!("cannot join the audit log multicast group: {err} (needs root: CAP_AUDIT_READ)")
    })?;
    let status = AuditSocket::control()
        .and_then(|control| control.status())
        .map_err(|err| {
            format!("cannot read the audit status: {err} (needs root: CAP_AUDIT_CONTROL)")
        })?;
    Ok(status.enabled)
}

/// The audit switch: 0 off, 1 on, 2 on and locked (needs CAP_AUDIT_CONTROL).
pub fn audit_enabled() -> std::io::Result<u32> {
    AuditSocket::control()
        .and_then(|control| control.status())
        .map(|status| status.enabled)
}

/// The audit switch once no nativeguard run relies on audit: waits for the runs in progress
/// to end (their last one restores the switch), then reads it while new runs wait.
pub fn audit_switch_at_rest() -> std::io::Result<u32> {
    let lock = open_lock(AUDIT_LOCK)?;
    let users = open_lock(AUDIT_USERS)?;
    loop {
        // Under the switch lock no run starts or ends; the users lock is free when none runs.
        // Waiting for it while holding the switch lock would deadlock with a run that needs
        // the switch lock to end, so poll.
        lock.lock()?;
        if users.try_lock().is_ok() {
            let enabled = audit_enabled();
            users.unlock()?;
            lock.unlock()?;
            return enabled;
        }
        lock.unlock()?;
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What the reader found.
#[derive(Debug, Default)]
struct ReaderSummary {
    reported: u64,
    kernel_count: Option<u64>,
    saw_domain: bool,
    dropped_events: u64,
    overflowed: bool,
    unparsed: u64,
    error: Option<String>,
}

/// Audit records being read for one run.
pub struct AuditSession {
    lock: File,
    users: Option<File>,
    /// Closed when the command has exited: wakes the reader at once.
    stop: Option<std::io::PipeWriter>,
    reader: Option<JoinHandle<ReaderSummary>>,
    lost_before: Option<u32>,
}

fn open_lock(path: &str) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// The backlog limit to restore when nativeguard turned audit on; `None` when it did not.
fn marked(lock: &mut File) -> Option<u32> {
    let mut text = String::new();
    lock.rewind().ok()?;
    // The marker is one short line; anything longer is not ours.
    lock.take(128).read_to_string(&mut text).ok()?;
    text.strip_prefix(TURNED_ON_BY_NATIVEGUARD)?
        .trim_end()
        .parse()
        .ok()
}

/// Writes the marker (with the backlog limit to restore), or clears it.
fn set_mark(lock: &mut File, backlog_limit: Option<u32>) -> std::io::Result<()> {
    lock.set_len(0)?;
    lock.rewind()?;
    if let Some(limit) = backlog_limit {
        writeln!(lock, "{TURNED_ON_BY_NATIVEGUARD}{limit}")?;
    }
    lock.sync_data()
}

impl AuditSession {
    /// Turns audit on if needed (`probe` told the user it would be), joins the multicast
    /// group and starts the reader.
    pub fn start(gate: Arc<HandoverGate>, sink: SharedSink) -> Result<AuditSession, String> {
        let lock =
            open_lock(AUDIT_LOCK).map_err(|err| format!("cannot open {AUDIT_LOCK}: {err}"))?;
        lock.lock()
            .map_err(|err| format!("cannot lock {AUDIT_LOCK}: {err}"))?;
        let users =
            open_lock(AUDIT_USERS).map_err(|err| format!("cannot open {AUDIT_USERS}: {err}"))?;
        users
            .lock_shared()
            .map_err(|err| format!("cannot lock {AUDIT_USERS}: {err}"))?;
        // From here on, `session` restores the switch if anything below fails.
        let mut session = AuditSession {
            lock,
            users: Some(users),
            stop: None,
            reader: None,
            lost_before: None,
        };
        let control = AuditSocket::control().map_err(|err| format!("audit socket: {err}"))?;
        let status = control
            .status()
            .map_err(|err| format!("reading the audit status: {err}"))?;
        session.lost_before = Some(status.lost);
        if status.enabled == 0 {
            // The marker first: if anything below fails, the restore sees what to undo.
            set_mark(&mut session.lock, Some(status.backlog_limit))
                .map_err(|err| format!("writing {AUDIT_LOCK}: {err}"))?;
            control
                .set_enabled(1)
                .map_err(|err| format!("turning audit on: {err}"))?;
            if status.backlog_limit != 0 && status.backlog_limit < RUN_BACKLOG_LIMIT {
                control
                    .set_backlog_limit(RUN_BACKLOG_LIMIT)
                    .map_err(|err| format!("raising the audit backlog limit: {err}"))?;
            }
        }
        let socket =
            AuditSocket::read_log().map_err(|err| format!("joining the audit log group: {err}"))?;
        session
            .lock
            .unlock()
            .map_err(|err| format!("unlocking {AUDIT_LOCK}: {err}"))?;
        let (stopped, stop) =
            std::io::pipe().map_err(|err| format!("creating the reader's stop pipe: {err}"))?;
        session.stop = Some(stop);
        session.reader = Some(std::thread::spawn(move || {
            read_denials(&socket, &gate, &sink, &stopped)
        }));
        Ok(session)
    }

    /// Waits for the last records (the command has exited), stops the reader and restores
    /// the audit switch. Returns the number of Landlock denials reported and notes.
    pub fn finish(mut self) -> (u64, Vec<String>) {
        let mut notes = Vec::new();
        let summary = self.stop_reader();
        let reported = summary.reported;
        if let Some(error) = &summary.error {
            notes.push(format!("reading audit records failed: {error}"));
        }
        if summary.overflowed {
            notes.push(
                "some audit records were dropped (the socket's buffer was full): Landlock denials may be missing"
                    .into(),
            );
        }
        if summary.dropped_events > 0 {
            notes.push(format!(
                "{} audit events were dropped before the command's pid was known",
                summary.dropped_events
            ));
        }
        if summary.unparsed > 0 {
            notes.push(format!(
                "{} audit records could not be parsed",
                summary.unparsed
            ));
        }
        match summary.kernel_count {
            Some(counted) if counted > reported => notes.push(format!(
                "the kernel counted {counted} Landlock denials, {reported} were reported"
            )),
            None if summary.saw_domain => notes.push(
                "the kernel's own count of Landlock denials did not arrive in time; the report may be incomplete"
                    .into(),
            ),
            _ => {}
        }
        if let Some(before) = self.lost_before {
            if let Ok(status) = AuditSocket::control().and_then(|control| control.status()) {
                if status.lost > before {
                    notes.push(format!(
                        "the kernel lost {} audit records during the run (system-wide): Landlock denials may be missing",
                        status.lost - before
                    ));
                }
                if status.enabled == 0 {
                    notes.push(
                        "audit was turned off during the run (not by this run): Landlock denials after that were not reported"
                            .into(),
                    );
                }
            }
        }
        if let Some(note) = self.restore() {
            notes.push(note);
        }
        (reported, notes)
    }

    fn stop_reader(&mut self) -> ReaderSummary {
        drop(self.stop.take());
        match self.reader.take().map(JoinHandle::join) {
            Some(Ok(summary)) => summary,
            Some(Err(_)) => ReaderSummary {
                error: Some("the audit reader panicked".into()),
                ..ReaderSummary::default()
            },
            None => ReaderSummary::default(),
        }
    }

    /// Leaves the users; if this was the last run relying on audit and nativeguard turned
    /// it on, turns it off. Says what it did when that changed the system.
    fn restore(&mut self) -> Option<String> {
        let users = self.users.take()?;
        // Leave the users only while holding the switch lock: a run that starts, or a reader
        // waiting for rest, never sees this run gone with its restore still to do.
        let locked = self.lock.lock();
        drop(users);
        if locked.is_err() {
            return Some(format!(
                "cannot lock {AUDIT_LOCK}: audit may stay on (check with `auditctl -s`)"
            ));
        }
        let note = (|| {
            let backlog_limit = marked(&mut self.lock)?;
            let users = open_lock(AUDIT_USERS).ok()?;
            if users.try_lock().is_err() {
                return Some("audit left on: another nativeguard run still uses it and turns it off when it ends".into());
            }
            let restored = AuditSocket::control().and_then(|control| {
                control.set_enabled(0)?;
                control.set_backlog_limit(backlog_limit)
            });
            Some(
                match restored.and_then(|()| set_mark(&mut self.lock, None)) {
                    Ok(()) => {
                        format!("audit turned back off (backlog limit {backlog_limit} restored)")
                    }
                    Err(err) => format!(
                    "could not turn audit back off: {err} (run `auditctl -e 0 -b {backlog_limit}`)"
                ),
                },
            )
        })();
        let _ = self.lock.unlock();
        note
    }
}

impl Drop for AuditSession {
    /// A run that fails before `finish` still stops its reader and restores the switch.
    fn drop(&mut self) {
        if self.users.is_some() {
            self.stop_reader();
            self.restore();
        }
    }
}

/// The reader thread: records in, denials of the sandbox's domains out, until the run ends
/// and its last records have arrived.
fn read_denials(
    socket: &AuditSocket,
    gate: &HandoverGate,
    sink: &SharedSink,
    stopped: &std::io::PipeReader,
) -> ReaderSummary {
    let mut audit = LandlockAudit::default();
    let mut summary = ReaderSummary::default();
    let mut buffer = vec![0u8; sys::AUDIT_BUFFER_BYTES];
    let mut records = Vec::new();
    let mut denials = Vec::new();
    let mut ended: Option<Instant> = None;
    let mut marker: Option<String> = None;
    let mut marker_seen = false;
    let mut marker_tried = false;
    loop {
        records.clear();
        let read = if ended.is_none() {
            // Until the command exits, wake on records or on the stop pipe's hang-up.
            match sys::poll_two(socket.as_fd(), stopped.as_fd(), READ_TIMEOUT_MS) {
                Ok(ready) => {
                    if ready.second {
                        ended = Some(Instant::now());
                    }
                    if ready.first_readable {
                        socket.read_records(&mut buffer, 0, &mut records)
                    } else {
                        Ok(())
                    }
                }
                Err(err) => Err(err),
            }
        } else {
            socket.read_records(&mut buffer, READ_TIMEOUT_MS, &mut records)
        };
        match read {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(libc::ENOBUFS) => summary.overflowed = true,
            Err(err) => {
                summary.error = Some(err.to_string());
                break;
            }
        }
        if let Some(pid) = gate.child_pid() {
            audit.set_child(pid, &mut denials);
        }
        for (kind, text) in records.drain(..) {
            if kind == sys::AUDIT_TRUSTED_APP {
                if let Some(marker) = &marker {
                    let needle = marker.as_bytes();
                    marker_seen |= text.windows(needle.len()).any(|window| window == needle)
                        && parse_record(kind, &text).is_ok_and(|record| {
                            record.get("pid") == Some(&std::process::id().to_string())
                        });
                }
                continue;
            }
            match parse_record(kind, &text) {
                Ok(record) => audit.push(record, &mut denials),
                Err(_) => summary.unparsed += 1,
            }
        }
        for denial in denials.drain(..) {
            deliver(sink, &denial);
        }
        if ended.is_some() && !marker_tried {
            marker_tried = true;
            // A random nonce, and the sender's pid checked below: a process of the sandbox
            // that may write to audit cannot end the wait early with a forged marker.
            let nonce = std::hash::BuildHasher::build_hasher(
                &std::collections::hash_map::RandomState::new(),
            );
            let text = format!(
                "nativeguard sandbox: end of run {}-{} {:016x}",
                std::process::id(),
                gate.child_pid().unwrap_or(0),
                std::hash::Hasher::finish(&nonce)
            );
            let sent = AuditSocket::control().and_then(|control| control.send_user_message(&text));
            marker = sent.is_ok().then_some(text);
        }
        if let Some(at) = ended {
            let arrived = match &marker {
                Some(_) => marker_seen,
                None => at.elapsed() >= DRAIN_QUIET,
            };
            let domains_done = !audit.saw_domain() || audit.all_domains_ended();
            if (arrived && domains_done) || at.elapsed() >= DRAIN_MAX {
                break;
            }
        }
    }
    audit.finish(&mut denials);
    for denial in denials.drain(..) {
        deliver(sink, &denial);
    }
    summary.reported = audit.reported;
    summary.kernel_count = audit.kernel_count();
    summary.saw_domain = audit.saw_domain();
    summary.dropped_events = audit.dropped_events;
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_records_the_backlog_limit_to_restore() {
        let marker = tempfile::Builder::new()
            .prefix("ng-audit-marker-")
            .tempfile()
            .unwrap();
        let path = marker.path();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .unwrap();
        assert_eq!(marked(&mut file), None, "an empty lock file is no marker");
        set_mark(&mut file, Some(64)).unwrap();
        assert_eq!(marked(&mut file), Some(64));
        set_mark(&mut file, None).unwrap();
        assert_eq!(marked(&mut file), None);
        // Someone else's text is not a marker, and an overlong file is not read whole.
        std::fs::write(path, "audit turned on by someone else\n").unwrap();
        assert_eq!(marked(&mut file), None);
        std::fs::write(
            path,
            format!("{TURNED_ON_BY_NATIVEGUARD}{}", "9".repeat(4096)),
        )
        .unwrap();
        assert_eq!(marked(&mut file), None);
    }
}
