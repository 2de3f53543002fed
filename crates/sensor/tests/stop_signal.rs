//! SIGINT/SIGTERM request a clean stop instead of killing the monitor (its own test binary:
//! signal dispositions are process-wide).

#[test]
fn sigterm_and_sigint_set_the_stop_flag_instead_of_killing() {
    nativeguard_sensor::install_stop_signals().unwrap();
    assert!(!nativeguard_sensor::stop_requested());
    // SAFETY: raising a signal whose handler was just installed; the handler only stores a flag.
    unsafe { libc::raise(libc::SIGTERM) };
    assert!(
        nativeguard_sensor::stop_requested(),
        "SIGTERM did not request a stop"
    );
    // SAFETY: as above.
    unsafe { libc::raise(libc::SIGINT) };
    assert!(nativeguard_sensor::stop_requested());
}
