//! Every emulation runs in this process (whatever user runs the tests) and reports its steps.
//! The CLI tests run them again through `nativeguard emulate`, as root and as `nobody`.

use nativeguard_atomic::{Emulation, Error};

#[test]
fn every_emulation_runs() {
    for emulation in Emulation::ALL {
        let started = std::time::Instant::now();
        match emulation.run() {
            Ok(report) => {
                assert!(!report.steps.is_empty(), "{}", emulation.name());
                for step in &report.steps {
                    eprintln!("{}: {step}", emulation.name());
                }
            }
            Err(Error::Unsupported(why)) if emulation == Emulation::PythonCtypes => {
                eprintln!("skipped: {}: {why}", emulation.name());
            }
            Err(e) => panic!("{}: {e}", emulation.name()),
        }
        // Under 1 s each; python3's own start-up gets more on a loaded machine.
        let limit = if emulation == Emulation::PythonCtypes {
            3.0
        } else {
            1.0
        };
        let took = started.elapsed();
        assert!(
            took.as_secs_f64() < limit,
            "{} took {took:?}",
            emulation.name()
        );
    }
}

#[test]
fn names_round_trip() {
    for emulation in Emulation::ALL {
        assert_eq!(Emulation::from_name(emulation.name()), Some(emulation));
    }
    assert_eq!(Emulation::from_name("rm-rf"), None);
}
