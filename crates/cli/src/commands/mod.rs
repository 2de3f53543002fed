//! One file per subcommand: argument definitions (with help text) and the call into the library.

pub mod atomic;
pub mod emulate;
pub mod hunt;
pub mod monitor;
pub mod policy;
pub mod rules;
pub mod sandbox;
pub mod trace;
pub mod validate;
