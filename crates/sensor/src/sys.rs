//! Everything that talks to the kernel: support checks, loading and attaching the committed
//! eBPF object with aya, reading the ring buffer and the lost-record counter.
//!
//! Dropping a [`Sensor`] closes every program, link and map descriptor, which detaches all
//! programs: nothing stays attached after the process ends or the value is dropped.

use crate::enrich::{Clock, Enricher};
use crate::process::ProcessTable;
use crate::wire;
use crate::Error;
use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf, EbpfLoader};
use nativeguard_event::Event;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[repr(C, align(8))]
struct Aligned<Bytes: ?Sized>(Bytes);

/// The committed object (bpf/nativeguard.bpf.o), 8-byte aligned as the ELF parser expects.
static OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!("../bpf/nativeguard.bpf.o"));

/// The embedded eBPF object's bytes.
pub fn object() -> &'static [u8] {
    &OBJECT.0
}

/// Each program of the object and the BTF tracepoint it attaches to.
pub const PROGRAMS: &[(&str, &str)] = &[
    ("ng_sys_enter", "sys_enter"),
    ("ng_exec", "sched_process_exec"),
    ("ng_fork", "sched_process_fork"),
    ("ng_exit", "sched_process_exit"),
];

/// Where the kernel publishes its BTF (needed for CO-RE and tp_btf).
pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Counters of one sensor run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records read from the ring buffer.
    pub records: u64,
    /// Records that failed to decode (counted, skipped).
    pub decode_errors: u64,
    /// Records the kernel dropped because the ring buffer was full.
    pub lost: u64,
}

/// What the host lacks for the sensor, checked before loading anything: `Err` names it.
pub fn check_support() -> Result<(), Error> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Err(Error::Unsupported {
            missing: format!("root privileges (CAP_BPF and CAP_PERFMON): running as uid {euid}"),
        });
    }
    if !Path::new(KERNEL_BTF).exists() {
        return Err(Error::Unsupported {
            missing: format!(
                "kernel BTF ({KERNEL_BTF} does not exist; CONFIG_DEBUG_INFO_BTF=y is needed)"
            ),
        });
    }
    Ok(())
}

/// The live sensor: attached programs, the ring buffer and the process table.
pub struct Sensor {
    // Field order matters for drop: the ring buffer and counter maps go before the object.
    ring: RingBuf<MapData>,
    lost: PerCpuArray<MapData, u64>,
    _ebpf: Ebpf,
    enricher: Enricher,
    stats: Stats,
    last_decode_error: Option<wire::DecodeError>,
}

impl std::fmt::Debug for Sensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sensor")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn unsupported_or_load(program: &str, err: impl std::fmt::Display) -> Error {
    let message = format!("{err:#}");
    let lower = message.to_lowercase();
    if lower.contains("operation not permitted")
        || lower.contains("function not implemented")
        || lower.contains("not supported")
    {
        Error::Unsupported {
            missing: format!("eBPF support for {program}: {message}"),
        }
    } else {
        Error::Load {
            program: program.to_owned(),
            message,
        }
    }
}

impl Sensor {
    /// Checks support, loads the object, attaches every program, seeds the process table from
    /// `/proc`. The ring buffer is being read as soon as this returns.
    pub fn start() -> Result<Sensor, Error> {
        check_support()?;
        let btf = Btf::from_sys_fs().map_err(|err| Error::Unsupported {
            missing: format!("readable kernel BTF ({KERNEL_BTF}): {err}"),
        })?;
        let self_tgid = std::process::id();
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .override_global("ng_self_tgid", &self_tgid, true)
            .load(object())
            .map_err(|err| unsupported_or_load("the object", err))?;
        for (name, tracepoint) in PROGRAMS {
            let program: &mut BtfTracePoint = ebpf
                .program_mut(name)
                .ok_or_else(|| Error::Load {
                    program: (*name).into(),
                    message: "not in the object".into(),
                })?
                .try_into()
                .map_err(|err| unsupported_or_load(name, err))?;
            program
                .load(tracepoint, &btf)
                .map_err(|err| unsupported_or_load(name, err))?;
            program
                .attach()
                .map_err(|err| unsupported_or_load(name, err))?;
        }
        let ring_map = ebpf.take_map("ng_events").ok_or_else(|| Error::Map {
            name: "ng_events".into(),
            message: "not in the object".into(),
        })?;
        let ring = RingBuf::try_from(ring_map).map_err(|err| Error::Map {
            name: "ng_events".into(),
            message: err.to_string(),
        })?;
        let lost_map = ebpf.take_map("ng_lost").ok_or_else(|| Error::Map {
            name: "ng_lost".into(),
            message: "not in the object".into(),
        })?;
        let lost = PerCpuArray::try_from(lost_map).map_err(|err| Error::Map {
            name: "ng_lost".into(),
            message: err.to_string(),
        })?;

        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let mut table = ProcessTable::new(&passwd);
        let proc_root = PathBuf::from("/proc");
        table.seed_from_proc(&proc_root);
        let enricher = Enricher {
            table,
            proc_root,
            clock: Clock {
                boot_offset_ns: boot_offset_ns(),
            },
            linkage: Default::default(),
            mappings: Default::default(),
            known_files: Default::default(),
        };
        Ok(Sensor {
            ring,
            lost,
            _ebpf: ebpf,
            enricher,
            stats: Stats::default(),
            last_decode_error: None,
        })
    }

    /// Waits up to `timeout` for records, then drains the ring buffer into `out`.
    /// Returns how many events were appended.
    pub fn poll(&mut self, timeout: Duration, out: &mut Vec<Event>) -> Result<usize, Error> {
        let mut pollfd = libc::pollfd {
            fd: self.ring.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: pollfd is a valid, initialised array of one element for the whole call.
        let ready = unsafe { libc::poll(&mut pollfd, 1, millis) };
        if ready < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::Poll(err));
            }
        }
        Ok(self.drain(out))
    }

    /// Reads every record already in the ring buffer, without waiting.
    pub fn drain(&mut self, out: &mut Vec<Event>) -> usize {
        let before = out.len();
        while let Some(item) = self.ring.next() {
            self.stats.records += 1;
            match wire::decode(&item) {
                Ok(record) => {
                    drop(item);
                    if let Some(event) = self.enricher.event(&record) {
                        out.push(event);
                    }
                }
                Err(err) => {
                    self.stats.decode_errors += 1;
                    self.last_decode_error = Some(err);
                }
            }
        }
        out.len() - before
    }

    /// The counters so far, with the kernel's lost-record count summed over CPUs.
    pub fn stats(&self) -> Stats {
        let lost = self
            .lost
            .get(&0, 0)
            .map(|per_cpu| per_cpu.iter().sum::<u64>())
            .unwrap_or(0);
        Stats { lost, ..self.stats }
    }

    /// The most recent decoding error, if any record failed to decode.
    pub fn last_decode_error(&self) -> Option<&wire::DecodeError> {
        self.last_decode_error.as_ref()
    }

    /// The process table.
    pub fn processes(&self) -> &ProcessTable {
        &self.enricher.table
    }
}

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM request a clean stop instead of killing the process: the handler
/// only sets a flag ([`stop_requested`]), and without `SA_RESTART` a pending [`Sensor::poll`]
/// returns at once, so the caller can flush its output and drop the sensor (which detaches).
pub fn install_stop_signals() -> Result<(), Error> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler is async-signal-safe (one atomic
        // store) and lives for the whole program.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = request_stop as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(Error::Signal(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM arrived since [`install_stop_signals`].
pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::SeqCst)
}

/// Wall-clock minus boot-clock, in nanoseconds.
fn boot_offset_ns() -> i64 {
    let read = |clock: libc::clockid_t| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid timespec the call writes into; both clocks always exist on Linux.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    };
    read(libc::CLOCK_REALTIME) - read(libc::CLOCK_BOOTTIME)
}
