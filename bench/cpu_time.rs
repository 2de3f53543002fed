//! Exact CPU time for the benchmark programs (each includes this file by path: they live in
//! different crates and share no library for it).
//!
//! The counters readable without `unsafe` move in ticks: `/proc/self/stat`'s utime and stime
//! in 10 ms, `/proc/thread-self/schedstat` in the scheduler's tick (4 ms here; it moves in
//! between only when something asks the scheduler). On a 0.4 s round that is 1–2.5% of
//! rounding, and taking the fastest of several rounds favours the ones rounded down.
//! `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)` asks the scheduler for the runtime so far, to
//! the nanosecond.

/// CPU seconds (user + system) this process has used so far, every thread included.
pub fn cpu_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the whole call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    if status != 0 {
        // A benchmark without its clock has nothing to report.
        eprintln!(
            "clock_gettime(CLOCK_PROCESS_CPUTIME_ID): {}",
            std::io::Error::last_os_error()
        );
        std::process::exit(2);
    }
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}
