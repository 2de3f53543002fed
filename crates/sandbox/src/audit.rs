//! Landlock denials from the kernel's audit records (Linux 6.15+, Landlock ABI 7).
//!
//! Landlock has no user-space callback: a denied open or write just fails with EACCES. What it
//! does have is audit logging. Each denial by a domain whose logging is on produces an
//! `AUDIT_LANDLOCK_ACCESS` (1423) record, in the same audit event as the call's
//! `AUDIT_SYSCALL` (1300) record; the first logged denial of a domain also produces an
//! `AUDIT_LANDLOCK_DOMAIN` (1424) `status=allocated` record naming the pid that created the
//! domain, and the domain's end a `status=deallocated denials=N` record with the kernel's own
//! count:
//! ```text
//! type=1423 audit(1795735037.790:66830): domain=1faed72b0 blockers=fs.read_file path="/etc/hostname" dev="vda" ino=611
//! type=1424 audit(1795735037.790:66830): domain=1faed72b0 status=allocated mode=enforcing pid=28622 uid=0 exe="/usr/bin/x" comm="x"
//! type=1300 audit(1795735037.790:66830): arch=c000003e syscall=257 success=no exit=-13 ... ppid=28560 pid=28622 ... exe="/usr/bin/cat"
//! type=1320 audit(1795735037.790:66830):
//! type=1424 audit(1795735037.850:66831): domain=1faed72b0 status=deallocated denials=2
//! ```
//! [`LandlockAudit`] groups records into events by serial, learns which domains are the
//! sandbox's (allocated by the pid that called `landlock_restrict_self`), and turns each of
//! their access records into a [`Denial`]. Records of other domains are ignored.
//!
//! What it takes, found by experiment on Linux 6.18 (see `bench/sandbox.md`):
//! * audit enabled (`AUDIT_SET enabled=1`): Landlock logs nothing while it is off;
//! * a `NETLINK_AUDIT` socket in the `AUDIT_NLGRP_READLOG` multicast group (CAP_AUDIT_READ);
//!   `AUDIT_GET`/`AUDIT_SET` need CAP_AUDIT_CONTROL;
//! * `LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON`: by default only denials before the next
//!   `execve` are logged, i.e. none of the command's own.
//!
//! Parsing is bounded ([`MAX_RECORD_BYTES`], [`MAX_FIELDS`], [`MAX_OPEN_EVENTS`],
//! [`MAX_RECORDS_PER_EVENT`], [`MAX_HELD_EVENTS`], [`MAX_DOMAINS`]) and never panics on malformed text: a record that
//! cannot be parsed is an [`Error::AuditRecord`] naming its type and byte offset.

use crate::error::{Error, Layer};
use crate::supervisor::{abi_of, Denial};
use nativeguard_syscalls as syscalls;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

/// `AUDIT_SYSCALL`.
pub const AUDIT_SYSCALL: u16 = 1300;
/// `AUDIT_EOE`: the end of a multi-record event.
pub const AUDIT_EOE: u16 = 1320;
/// `AUDIT_LANDLOCK_ACCESS`.
pub const AUDIT_LANDLOCK_ACCESS: u16 = 1423;
/// `AUDIT_LANDLOCK_DOMAIN`.
pub const AUDIT_LANDLOCK_DOMAIN: u16 = 1424;

/// The longest record text parsed (the kernel's `MAX_AUDIT_MESSAGE_LENGTH` is 8970).
pub const MAX_RECORD_BYTES: usize = 8970;
/// The most fields kept from one record.
pub const MAX_FIELDS: usize = 128;
/// Events kept open (waiting for their end) at once; the oldest is closed beyond that.
pub const MAX_OPEN_EVENTS: usize = 256;
/// Closed events held until the sandboxed child's pid is known; older ones are dropped.
pub const MAX_HELD_EVENTS: usize = 4096;
/// Records kept per event (a real event has a handful; the rest of a runaway one is dropped).
pub const MAX_RECORDS_PER_EVENT: usize = 64;
/// Landlock domains of the sandbox tracked (the child's own, and any it allocates itself).
pub const MAX_DOMAINS: usize = 64;

/// One audit record: its type, event serial and `key=value` fields (strings decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Record type (`AUDIT_*`).
    pub kind: u16,
    /// Serial number of the event the record belongs to.
    pub serial: u64,
    /// Fields in order, values unquoted and hex-decoded where the kernel encoded them.
    pub fields: Vec<(String, String)>,
}

impl Record {
    /// The value of the first field named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        self.get(key).and_then(|value| value.parse().ok())
    }

    fn hex(&self, key: &str) -> Option<u64> {
        self.get(key)
            .and_then(|value| u64::from_str_radix(value, 16).ok())
    }
}

/// Fields whose values the kernel writes with `audit_log_untrustedstring`: quoted, or as hex
/// when they hold a quote, a space or a control character.
const UNTRUSTED_STRING_FIELDS: [&str; 6] = ["path", "exe", "comm", "name", "cwd", "dev"];

/// Parses one record's text: `audit(SECONDS.MILLIS:SERIAL): key=value ...`.
pub fn parse_record(kind: u16, text: &[u8]) -> Result<Record, Error> {
    let error = |offset: usize, message: &str| Error::AuditRecord {
        kind,
        offset,
        message: message.to_string(),
    };
    let text = &text[..text.len().min(MAX_RECORD_BYTES)];
    let text = String::from_utf8_lossy(text);
    let header_end = text
        .find("): ")
        .or_else(|| text.strip_suffix("):").map(str::len))
        .ok_or_else(|| error(0, "no audit(...) header"))?;
    let header = text[..header_end]
        .strip_prefix("audit(")
        .ok_or_else(|| error(0, "the record does not start with audit("))?;
    let serial = header
        .rsplit_once(':')
        .and_then(|(_, serial)| serial.parse::<u64>().ok())
        .ok_or_else(|| error(6, "no event serial in the header"))?;
    let body_start = (header_end + 3).min(text.len());
    let mut fields = Vec::new();
    let mut rest = &text[body_start..];
    while let Some(start) = rest.find(|c: char| c != ' ') {
        rest = &rest[start..];
        let offset = text.len() - rest.len();
        if fields.len() == MAX_FIELDS {
            break;
        }
        let Some(equals) = rest.find('=').filter(|&at| !rest[..at].contains(' ')) else {
            // A word without a value (`(null)` in some records): skip it.
            rest = rest.find(' ').map_or("", |space| &rest[space..]);
            continue;
        };
        let key = &rest[..equals];
        let value_text = &rest[equals + 1..];
        let (value, consumed) = match value_text.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let close = value_text[1..]
                    .find(quote)
                    .ok_or_else(|| error(offset + equals + 1, "unterminated quoted value"))?;
                (value_text[1..=close].to_string(), close + 2)
            }
            _ => {
                let end = value_text.find(' ').unwrap_or(value_text.len());
                let raw = &value_text[..end];
                let value = if UNTRUSTED_STRING_FIELDS.contains(&key) {
                    decode_hex(raw).unwrap_or_else(|| raw.to_string())
                } else {
                    raw.to_string()
                };
                (value, end)
            }
        };
        fields.push((key.to_string(), value));
        rest = &value_text[consumed.min(value_text.len())..];
    }
    Ok(Record {
        kind,
        serial,
        fields,
    })
}

/// An unquoted untrusted string is hex; `(null)` and other words that are not stay as they
/// are.
fn decode_hex(raw: &str) -> Option<String> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) || !raw.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..raw.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&raw[at..at + 2], 16).ok())
        .collect();
    bytes.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// What Landlock said about one denied access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditedAccess {
    /// Landlock domain that denied it (the sandbox's, or one the command created).
    pub domain: u64,
    /// The missing rights: `fs.read_file`, `fs.write_file`, `net.connect_tcp`...
    pub blockers: Vec<String>,
    /// The object: `path`, `dev`, `ino` for files; the record's other fields for the rest.
    pub object: Vec<(String, String)>,
}

impl AuditedAccess {
    /// The object as a user reads it: the quoted path, or its fields.
    pub fn object_text(&self) -> String {
        match self.object.iter().find(|(key, _)| key == "path") {
            Some((_, path)) => format!("{path:?}"),
            None => self
                .object
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// One audit event: the records sharing a serial.
#[derive(Debug)]
struct Event {
    serial: u64,
    records: Vec<Record>,
}

/// Turns the stream of audit records into the sandbox's Landlock denials.
#[derive(Debug, Default)]
pub struct LandlockAudit {
    /// The pid that called `landlock_restrict_self` for the sandbox (as audit sees pids).
    child: Option<u32>,
    open: VecDeque<Event>,
    held: VecDeque<Event>,
    /// The sandbox's domains, with the kernel's denial count once deallocated.
    domains: HashMap<u64, Option<u64>>,
    /// Denials produced.
    pub reported: u64,
    /// Events dropped because too many were held before the child's pid was known.
    pub dropped_events: u64,
}

impl LandlockAudit {
    /// Tracks the domain created by `pid` once it is known; held events are replayed.
    pub fn set_child(&mut self, pid: u32, out: &mut Vec<Denial>) {
        if self.child.is_some() {
            return;
        }
        self.child = Some(pid);
        for event in std::mem::take(&mut self.held) {
            self.resolve(event, out);
        }
    }

    /// Takes one record in arrival order; denials of the sandbox's domains go to `out` as
    /// their events complete.
    pub fn push(&mut self, record: Record, out: &mut Vec<Denial>) {
        if record.kind == AUDIT_EOE {
            if let Some(at) = self.open.iter().position(|e| e.serial == record.serial) {
                if let Some(event) = self.open.remove(at) {
                    self.close(event, out);
                }
            }
            return;
        }
        let interesting = matches!(
            record.kind,
            AUDIT_SYSCALL | AUDIT_LANDLOCK_ACCESS | AUDIT_LANDLOCK_DOMAIN
        );
        // A deallocation is an event of its own, logged when the domain's last user is gone.
        if record.kind == AUDIT_LANDLOCK_DOMAIN && record.get("status") == Some("deallocated") {
            let event = Event {
                serial: record.serial,
                records: vec![record],
            };
            self.close(event, out);
            return;
        }
        match self.open.iter_mut().find(|e| e.serial == record.serial) {
            Some(event) => {
                if interesting && event.records.len() < MAX_RECORDS_PER_EVENT {
                    event.records.push(record);
                }
            }
            None => {
                if !interesting {
                    return;
                }
                if self.open.len() == MAX_OPEN_EVENTS {
                    if let Some(oldest) = self.open.pop_front() {
                        self.close(oldest, out);
                    }
                }
                self.open.push_back(Event {
                    serial: record.serial,
                    records: vec![record],
                });
            }
        }
    }

    /// Closes every open event (at the end of the run: no more records will complete them).
    pub fn finish(&mut self, out: &mut Vec<Denial>) {
        while let Some(event) = self.open.pop_front() {
            self.close(event, out);
        }
    }

    /// Whether some domain of the sandbox logged a denial and every such domain has ended
    /// (its deallocation record, which follows all of its access records, has arrived).
    pub fn all_domains_ended(&self) -> bool {
        !self.domains.is_empty() && self.domains.values().all(Option::is_some)
    }

    /// Whether any record of the sandbox's domains arrived.
    pub fn saw_domain(&self) -> bool {
        !self.domains.is_empty()
    }

    /// The kernel's count of denials over the sandbox's ended domains (it counts every
    /// denial, logged or not).
    pub fn kernel_count(&self) -> Option<u64> {
        if self.domains.is_empty() || !self.all_domains_ended() {
            return None;
        }
        Some(self.domains.values().flatten().sum())
    }

    fn close(&mut self, event: Event, out: &mut Vec<Denial>) {
        if self.child.is_none() {
            if !event.records.iter().any(|r| r.kind != AUDIT_SYSCALL) {
                return;
            }
            if self.held.len() == MAX_HELD_EVENTS {
                self.held.pop_front();
                self.dropped_events += 1;
            }
            self.held.push_back(event);
            return;
        }
        self.resolve(event, out);
    }

    fn resolve(&mut self, event: Event, out: &mut Vec<Denial>) {
        for record in &event.records {
            if record.kind != AUDIT_LANDLOCK_DOMAIN {
                continue;
            }
            let Some(domain) = record.hex("domain") else {
                continue;
            };
            match record.get("status") {
                Some("allocated") => {
                    let ours = self.child.is_some() && record.number::<u32>("pid") == self.child;
                    if ours && self.domains.len() < MAX_DOMAINS {
                        self.domains.entry(domain).or_insert(None);
                    }
                }
                Some("deallocated") => {
                    if let Some(count) = self.domains.get_mut(&domain) {
                        *count = Some(record.number("denials").unwrap_or(0));
                    }
                }
                _ => {}
            }
        }
        let call = event.records.iter().find(|r| r.kind == AUDIT_SYSCALL);
        for record in &event.records {
            if record.kind != AUDIT_LANDLOCK_ACCESS {
                continue;
            }
            let Some(domain) = record.hex("domain") else {
                continue;
            };
            if !self.domains.contains_key(&domain) {
                continue;
            }
            out.push(denial(domain, record, call));
            self.reported += 1;
        }
    }
}

/// The report of one access record, with the call from its event's SYSCALL record.
fn denial(domain: u64, access: &Record, call: Option<&Record>) -> Denial {
    let blockers = access
        .get("blockers")
        .map(|list| list.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let object = access
        .fields
        .iter()
        .filter(|(key, _)| key != "domain" && key != "blockers")
        .cloned()
        .collect();
    let arch_and_nr =
        call.and_then(|call| Some((call.hex("arch")?, call.number::<u32>("syscall")?)));
    let arch = arch_and_nr.and_then(|(arch, nr)| abi_of(u32::try_from(arch).ok()?, nr));
    let nr = arch_and_nr.map_or(0, |(_, nr)| nr);
    let syscall = match (arch, arch_and_nr) {
        (Some(arch), Some((_, nr))) => {
            syscalls::name(arch, nr).map_or_else(|| format!("syscall_{nr:#x}"), str::to_string)
        }
        (None, Some((_, nr))) => format!("syscall_{nr:#x}"),
        _ => "(no syscall record)".to_string(),
    };
    // exit=-13: the errno the call returned; a call that went on after the denial (a
    // directory listing that skips an entry) has another exit value: Landlock's is EACCES.
    let errno = call
        .and_then(|call| call.number::<i64>("exit"))
        .filter(|exit| (-4095..0).contains(exit))
        .and_then(|exit| i32::try_from(-exit).ok())
        .unwrap_or(libc::EACCES);
    Denial {
        syscall,
        arch,
        nr,
        args: Vec::new(),
        pid: call.and_then(|call| call.number("pid")).unwrap_or(0),
        exe: call
            .and_then(|call| call.get("exe"))
            .filter(|exe| *exe != "(null)")
            .map(PathBuf::from),
        layer: Layer::Landlock,
        errno,
        killed: false,
        reason: None,
        landlock: Some(AuditedAccess {
            domain,
            blockers,
            object,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records as Linux 6.18 printed them for `cat /etc/hostname` run under a domain that
    /// handles fs.read_file without a rule for /etc (captured on the development machine).
    const EVENT: [(u16, &str); 5] = [
        (
            1423,
            r#"audit(1795735037.790:66829): domain=1faed72b0 blockers=fs.read_file path="/etc/locale.alias" dev="vda" ino=686"#,
        ),
        (
            1424,
            r#"audit(1795735037.790:66829): domain=1faed72b0 status=allocated mode=enforcing pid=28622 uid=0 exe="/root/.pyenv/versions/3.11.7/bin/python3.11" comm="python3""#,
        ),
        (
            1300,
            r#"audit(1795735037.790:66829): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=7ffe8bed6080 a2=80000 a3=0 items=0 ppid=28560 pid=28622 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="cat" exe="/usr/bin/cat" key=(null)"#,
        ),
        (
            1327,
            "audit(1795735037.790:66829): proctitle=636174002F6574632F686F73746E616D65",
        ),
        (1320, "audit(1795735037.790:66829): "),
    ];
    const SECOND: [(u16, &str); 3] = [
        (
            1423,
            r#"audit(1795735037.790:66830): domain=1faed72b0 blockers=fs.read_file path="/etc/hostname" dev="vda" ino=611"#,
        ),
        (
            1300,
            r#"audit(1795735037.790:66830): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=7ffe8bed792b a2=0 a3=0 items=0 ppid=28560 pid=28622 auid=4294967295 uid=0 comm="cat" exe="/usr/bin/cat" key=(null)"#,
        ),
        (1320, "audit(1795735037.790:66830): "),
    ];
    const END: (u16, &str) = (
        1424,
        "audit(1795735037.850:66831): domain=1faed72b0 status=deallocated denials=2",
    );

    fn feed(audit: &mut LandlockAudit, records: &[(u16, &str)], out: &mut Vec<Denial>) {
        for (kind, text) in records {
            audit.push(parse_record(*kind, text.as_bytes()).unwrap(), out);
        }
    }

    #[test]
    fn parses_header_quoted_bare_and_hex_fields() {
        let record = parse_record(1300, EVENT[2].1.as_bytes()).unwrap();
        assert_eq!(record.serial, 66829);
        assert_eq!(record.get("arch"), Some("c000003e"));
        assert_eq!(record.get("exit"), Some("-13"));
        assert_eq!(record.get("exe"), Some("/usr/bin/cat"));
        assert_eq!(record.get("key"), Some("(null)"));
        // A path with a space is hex-encoded by the kernel.
        let record = parse_record(
            1423,
            b"audit(1.2:3): domain=1 blockers=fs.read_file path=2F746D702F6120622E747874 dev=\"vda\" ino=9",
        )
        .unwrap();
        assert_eq!(record.get("path"), Some("/tmp/a b.txt"));
        assert_eq!(record.get("ino"), Some("9"));
    }

    #[test]
    fn malformed_records_are_errors_with_their_place() {
        for (text, offset) in [
            ("no header", 0),
            ("audit(1.2): x=1", 6),
            ("audit(1.2:3): path=\"/etc", 19),
        ] {
            match parse_record(1423, text.as_bytes()) {
                Err(Error::AuditRecord {
                    kind: 1423,
                    offset: at,
                    ..
                }) => assert_eq!(at, offset, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn parsing_is_bounded() {
        let mut text = String::from("audit(1.2:3):");
        for index in 0..MAX_FIELDS * 2 {
            text.push_str(&format!(" k{index}=v"));
        }
        let record = parse_record(1300, text.as_bytes()).unwrap();
        assert_eq!(record.fields.len(), MAX_FIELDS);
        let long = format!("audit(1.2:3): path=\"{}\"", "a".repeat(MAX_RECORD_BYTES));
        // Cut at MAX_RECORD_BYTES: the closing quote is gone.
        assert!(parse_record(1423, long.as_bytes()).is_err());
    }

    #[test]
    fn denials_of_the_child_domain_are_reported_with_their_call() {
        let mut audit = LandlockAudit::default();
        let mut out = Vec::new();
        audit.set_child(28622, &mut out);
        feed(&mut audit, &EVENT, &mut out);
        feed(&mut audit, &SECOND, &mut out);
        assert!(!audit.all_domains_ended());
        feed(&mut audit, &[END], &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        let denial = &out[1];
        assert_eq!(denial.syscall, "openat");
        assert_eq!(denial.pid, 28622);
        assert_eq!(
            denial.exe.as_deref(),
            Some(std::path::Path::new("/usr/bin/cat"))
        );
        assert_eq!(denial.errno, libc::EACCES);
        assert_eq!(denial.layer, Layer::Landlock);
        let access = denial.landlock.as_ref().unwrap();
        assert_eq!(access.blockers, ["fs.read_file"]);
        assert_eq!(access.object_text(), "\"/etc/hostname\"");
        assert!(audit.all_domains_ended());
        assert_eq!(audit.kernel_count(), Some(2));
        assert_eq!(audit.reported, 2);
    }

    #[test]
    fn events_before_the_pid_is_known_are_held_and_others_ignored() {
        let mut audit = LandlockAudit::default();
        let mut out = Vec::new();
        feed(&mut audit, &EVENT, &mut out);
        assert!(out.is_empty());
        // Another process's domain: never reported.
        let mut other = LandlockAudit::default();
        other.set_child(1, &mut out);
        feed(&mut other, &EVENT, &mut out);
        feed(&mut other, &SECOND, &mut out);
        assert!(out.is_empty());
        audit.set_child(28622, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].landlock.as_ref().unwrap().object_text(),
            "\"/etc/locale.alias\""
        );
    }

    #[test]
    fn held_and_open_events_are_bounded() {
        let mut audit = LandlockAudit::default();
        let mut out = Vec::new();
        for serial in 0..(MAX_HELD_EVENTS + MAX_OPEN_EVENTS + 10) {
            let text = format!("audit(1.2:{serial}): domain=5 blockers=fs.read_file path=\"/x\"");
            audit.push(parse_record(1423, text.as_bytes()).unwrap(), &mut out);
        }
        assert!(audit.open.len() <= MAX_OPEN_EVENTS);
        assert!(audit.held.len() <= MAX_HELD_EVENTS);
        assert_eq!(audit.dropped_events, 10);
        // One event that never ends keeps at most MAX_RECORDS_PER_EVENT records.
        let mut audit = LandlockAudit::default();
        for _ in 0..MAX_RECORDS_PER_EVENT * 3 {
            let text = "audit(1.2:7): domain=5 blockers=fs.read_file path=\"/x\"";
            audit.push(parse_record(1423, text.as_bytes()).unwrap(), &mut out);
        }
        assert_eq!(audit.open.len(), 1);
        assert_eq!(audit.open[0].records.len(), MAX_RECORDS_PER_EVENT);
    }

    #[test]
    fn domains_tracked_are_bounded() {
        let mut audit = LandlockAudit::default();
        let mut out = Vec::new();
        audit.set_child(9, &mut out);
        for domain in 0..MAX_DOMAINS * 2 {
            let text = format!(
                "audit(1.2:{domain}): domain={:x} status=allocated mode=enforcing pid=9 uid=0",
                domain + 1
            );
            audit.push(parse_record(1424, text.as_bytes()).unwrap(), &mut out);
            let end = format!("audit(1.2:{domain}): ");
            audit.push(parse_record(1320, end.as_bytes()).unwrap(), &mut out);
        }
        assert_eq!(audit.domains.len(), MAX_DOMAINS);
    }
}
