//! Data compiled into the binary by `build.rs`: Windows sample events and shipped policies.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// A shipped policy file's text, by file name.
pub fn policy(name: &str) -> Option<&'static str> {
    POLICIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}
