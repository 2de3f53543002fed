//! The Landlock layer: the allow-list file format, its `$CMD` tokens, and the ruleset built
//! from it for the running kernel's ABI.
//!
//! # File format (JSON)
//! ```json
//! {
//!   "abi": 4,
//!   "read": ["/usr", "/etc", "$CMD"],
//!   "write": ["/tmp", "/dev/null"],
//!   "execute": ["$CMD"],
//!   "interpreters": ["$CMD_INTERP"],
//!   "bind_tcp": [8080],
//!   "connect_tcp": [443],
//!   "unrestricted": ["abstract_unix_socket"]
//! }
//! ```
//! Every key is optional; unknown keys are errors. Paths must be absolute or one of the tokens:
//! `$CMD` (the launched program, resolved through `PATH` and symlinks), `$CMD_INTERP` (the
//! interpreters the kernel loads to run it: the `#!` interpreter of a script and the ELF
//! `PT_INTERP` of the binary, e.g. `/lib64/ld-linux-x86-64.so.2`; nothing for a static binary)
//! and `$CWD` (the working directory). A token only ever names those files: the allow-list is
//! never widened implicitly.
//!
//! * `read`: read files and list directories beneath each path.
//! * `write`: write, truncate, create, remove, rename and link beneath each path, and use
//!   device ioctls on files beneath it.
//! * `execute`: execute (and read) beneath each path — these are the programs the sandbox may
//!   exec.
//! * `interpreters`: execute (and read), because the kernel itself opens them for exec; the
//!   supervisor additionally denies an `execve` that names one of them directly (when the
//!   policy sends `execve` to it), since `ld.so PROGRAM` would otherwise run any readable
//!   file.
//! * `bind_tcp` / `connect_tcp`: allowed TCP ports (ABI 4+).
//! * `unrestricted`: rights deliberately left unhandled, by name: `bind_tcp`, `connect_tcp`,
//!   `abstract_unix_socket`, `signal`. Everything else the kernel's ABI knows is handled, so a
//!   right is never unrestricted without being named here.
//! * `abi`: the lowest Landlock ABI the file needs; an older kernel makes the layer
//!   unavailable instead of silently weaker.

use crate::error::Error;
use crate::sys;
use serde::Deserialize;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest Landlock file accepted.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// The largest number of entries in one list of a Landlock file.
pub const MAX_ENTRIES: usize = 4096;
/// The newest Landlock ABI whose rights this build knows. A newer kernel may know rights that
/// stay unhandled; [`Ruleset::notes`] says so.
pub const KNOWN_ABI: u32 = 7;

/// Filesystem access rights (`LANDLOCK_ACCESS_FS_*`).
pub mod access {
    /// Execute a file.
    pub const EXECUTE: u64 = 1 << 0;
    /// Open a file for writing.
    pub const WRITE_FILE: u64 = 1 << 1;
    /// Open a file for reading.
    pub const READ_FILE: u64 = 1 << 2;
    /// List a directory.
    pub const READ_DIR: u64 = 1 << 3;
    /// Remove a directory.
    pub const REMOVE_DIR: u64 = 1 << 4;
    /// Remove a file.
    pub const REMOVE_FILE: u64 = 1 << 5;
    /// Create a character device.
    pub const MAKE_CHAR: u64 = 1 << 6;
    /// Create a directory.
    pub const MAKE_DIR: u64 = 1 << 7;
    /// Create a regular file.
    pub const MAKE_REG: u64 = 1 << 8;
    /// Create a socket.
    pub const MAKE_SOCK: u64 = 1 << 9;
    /// Create a FIFO.
    pub const MAKE_FIFO: u64 = 1 << 10;
    /// Create a block device.
    pub const MAKE_BLOCK: u64 = 1 << 11;
    /// Create a symlink.
    pub const MAKE_SYM: u64 = 1 << 12;
    /// Link or rename a file from or to a different directory (ABI 2).
    pub const REFER: u64 = 1 << 13;
    /// Truncate a file (ABI 3).
    pub const TRUNCATE: u64 = 1 << 14;
    /// ioctl on character or block devices (ABI 5).
    pub const IOCTL_DEV: u64 = 1 << 15;
    /// Bind a TCP socket to a port (ABI 4).
    pub const NET_BIND_TCP: u64 = 1 << 0;
    /// Connect a TCP socket to a port (ABI 4).
    pub const NET_CONNECT_TCP: u64 = 1 << 1;
    /// Connect to abstract unix sockets outside the domain (ABI 6).
    pub const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
    /// Send signals to processes outside the domain (ABI 6).
    pub const SCOPE_SIGNAL: u64 = 1 << 1;

    /// Rights that apply to a file (not only to directories).
    pub const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;
    /// What a `read` entry grants.
    pub const READ: u64 = READ_FILE | READ_DIR;
    /// What a `write` entry grants.
    pub const WRITE: u64 = WRITE_FILE
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM
        | REFER
        | TRUNCATE
        | IOCTL_DEV;
    /// What an `execute` or `interpreters` entry grants: the kernel opens an executed file
    /// for reading too.
    pub const EXEC: u64 = EXECUTE | READ_FILE;

    /// Filesystem rights the kernel knows at `abi`.
    pub fn fs_rights(abi: u32) -> u64 {
        let mut rights = (1 << 13) - 1;
        if abi >= 2 {
            rights |= REFER;
        }
        if abi >= 3 {
            rights |= TRUNCATE;
        }
        if abi >= 5 {
            rights |= IOCTL_DEV;
        }
        rights
    }

    /// Network rights the kernel knows at `abi`.
    pub fn net_rights(abi: u32) -> u64 {
        if abi >= 4 {
            NET_BIND_TCP | NET_CONNECT_TCP
        } else {
            0
        }
    }

    /// Scopes the kernel knows at `abi`.
    pub fn scopes(abi: u32) -> u64 {
        if abi >= 6 {
            SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        } else {
            0
        }
    }
}

/// A right that the `unrestricted` list may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unrestricted {
    /// TCP bind.
    BindTcp,
    /// TCP connect.
    ConnectTcp,
    /// Abstract unix sockets outside the sandbox.
    AbstractUnixSocket,
    /// Signals to processes outside the sandbox.
    Signal,
}

/// A parsed Landlock allow-list file (paths not yet resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandlockSpec {
    /// Lowest Landlock ABI required.
    #[serde(default)]
    pub abi: Option<u32>,
    /// Read allow-list.
    #[serde(default)]
    pub read: Vec<String>,
    /// Write allow-list.
    #[serde(default)]
    pub write: Vec<String>,
    /// Execute allow-list.
    #[serde(default)]
    pub execute: Vec<String>,
    /// Interpreters the kernel may load (execute right; never direct exec targets).
    #[serde(default)]
    pub interpreters: Vec<String>,
    /// Allowed TCP bind ports.
    #[serde(default)]
    pub bind_tcp: Vec<u16>,
    /// Allowed TCP connect ports.
    #[serde(default)]
    pub connect_tcp: Vec<u16>,
    /// Rights deliberately left unhandled.
    #[serde(default)]
    pub unrestricted: Vec<Unrestricted>,
}

/// Parses a Landlock allow-list file. `path` is used in error messages only.
pub fn parse_landlock_spec(path: &Path, text: &str) -> Result<LandlockSpec, Error> {
    let error = |line: usize, column: usize, message: String| Error::LandlockFile {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    if text.len() > MAX_FILE_BYTES {
        return Err(error(
            0,
            0,
            format!("file exceeds the limit of {MAX_FILE_BYTES} bytes"),
        ));
    }
    let spec: LandlockSpec = serde_json::from_str(text)
        .map_err(|err| error(err.line(), err.column(), err.to_string()))?;
    let lists = [
        ("read", &spec.read),
        ("write", &spec.write),
        ("execute", &spec.execute),
        ("interpreters", &spec.interpreters),
    ];
    for (name, list) in lists {
        if list.len() > MAX_ENTRIES {
            let (line, column) = locate(text, name, None);
            return Err(error(
                line,
                column,
                format!(
                    "\"{name}\" has {} entries; the limit is {MAX_ENTRIES}",
                    list.len()
                ),
            ));
        }
        for entry in list {
            if Token::parse(entry).is_none() && !entry.starts_with('/') {
                let (line, column) = locate(text, name, Some(entry));
                return Err(error(
                    line,
                    column,
                    format!("\"{name}\": {entry:?} is neither an absolute path nor one of $CMD, $CMD_INTERP, $CWD"),
                ));
            }
            if entry.contains('\0') {
                let (line, column) = locate(text, name, Some(entry));
                return Err(error(
                    line,
                    column,
                    format!("\"{name}\": {entry:?} contains a NUL byte"),
                ));
            }
        }
    }
    for (name, ports) in [
        ("bind_tcp", &spec.bind_tcp),
        ("connect_tcp", &spec.connect_tcp),
    ] {
        if ports.len() > MAX_ENTRIES {
            let (line, column) = locate(text, name, None);
            return Err(error(
                line,
                column,
                format!(
                    "\"{name}\" has {} entries; the limit is {MAX_ENTRIES}",
                    ports.len()
                ),
            ));
        }
    }
    let contradictions = [
        (Unrestricted::BindTcp, !spec.bind_tcp.is_empty(), "bind_tcp"),
        (
            Unrestricted::ConnectTcp,
            !spec.connect_tcp.is_empty(),
            "connect_tcp",
        ),
    ];
    for (right, listed, name) in contradictions {
        if listed && spec.unrestricted.contains(&right) {
            let (line, column) = locate(text, "unrestricted", None);
            return Err(error(
                line,
                column,
                format!("\"{name}\" lists ports but \"unrestricted\" also names {name}"),
            ));
        }
    }
    Ok(spec)
}

/// The 1-based line and column of the key `"key"` in the file's text, or of `value` (as a JSON
/// string) after it; (0, 0) when neither is found (the text and the parsed file agree, so that
/// is not expected).
fn locate(text: &str, key: &str, value: Option<&str>) -> (usize, usize) {
    let Some(key_at) = text.find(&format!("\"{key}\"")) else {
        return (0, 0);
    };
    let at = value
        .and_then(|value| serde_json::to_string(value).ok())
        .and_then(|quoted| text[key_at..].find(&quoted).map(|offset| key_at + offset))
        .unwrap_or(key_at);
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |newline| newline + 1) + 1;
    (line, column)
}

/// A `$` token of the file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Command,
    CommandInterpreters,
    WorkingDirectory,
}

impl Token {
    fn parse(entry: &str) -> Option<Token> {
        match entry {
            "$CMD" => Some(Token::Command),
            "$CMD_INTERP" => Some(Token::CommandInterpreters),
            "$CWD" => Some(Token::WorkingDirectory),
            _ => None,
        }
    }
}

/// What the tokens stand for in one run.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The launched program, canonical.
    pub command: PathBuf,
    /// Its interpreters, canonical (script interpreter, then ELF interpreters).
    pub interpreters: Vec<PathBuf>,
    /// The working directory, canonical.
    pub working_directory: PathBuf,
}

/// A path of the allow-list, resolved, with the file it named when resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPath {
    /// Canonical path.
    pub path: PathBuf,
    /// Whether it is a directory (rules apply beneath it) or a file (rules apply to it).
    pub is_dir: bool,
    /// Device and inode, to recognise the same file under another name (a hard link).
    pub identity: (u64, u64),
}

/// The execute side of the allow-list, which the supervisor checks exec paths against.
#[derive(Debug, Clone, Default)]
pub struct ExecAllowList {
    /// Direct exec targets.
    pub execute: Vec<ResolvedPath>,
    /// Interpreters: executable by the kernel, denied as direct targets.
    pub interpreters: Vec<ResolvedPath>,
}

/// The supervisor's reading of an exec path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecVerdict {
    /// On the execute allow-list.
    Allowed,
    /// An interpreter named directly (e.g. `ld.so PROGRAM`).
    InterpreterNamedDirectly,
    /// Not on the execute allow-list.
    NotAllowed,
}

impl ExecAllowList {
    /// Checks a canonical path (and its identity, when the file exists).
    pub fn verdict(&self, path: &Path, identity: Option<(u64, u64)>) -> ExecVerdict {
        let covers = |entry: &ResolvedPath| {
            if entry.is_dir {
                path.starts_with(&entry.path)
            } else {
                path == entry.path || identity == Some(entry.identity)
            }
        };
        let explicitly_executable = self
            .execute
            .iter()
            .any(|entry| !entry.is_dir && covers(entry));
        if !explicitly_executable && self.interpreters.iter().any(covers) {
            return ExecVerdict::InterpreterNamedDirectly;
        }
        if self.execute.iter().any(covers) {
            ExecVerdict::Allowed
        } else {
            ExecVerdict::NotAllowed
        }
    }
}

/// A Landlock ruleset ready for `landlock_restrict_self` in the child.
#[derive(Debug)]
pub struct Ruleset {
    /// The ruleset fd.
    pub fd: OwnedFd,
    /// The kernel's ABI version.
    pub abi: u32,
    /// Filesystem rights handled (denied unless allowed by a rule).
    pub handled_fs: u64,
    /// Network rights handled.
    pub handled_net: u64,
    /// Scopes applied.
    pub scoped: u64,
    /// The execute allow-list, for the supervisor.
    pub exec: ExecAllowList,
    /// Things the user should know: missing paths skipped (narrowing, never widening), rights
    /// a newer kernel knows that this build cannot handle.
    pub notes: Vec<String>,
}

/// Why a Landlock ruleset could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// The kernel cannot apply the layer (no Landlock, too old an ABI, a call failed).
    Unavailable(String),
    /// The allow-list itself is wrong.
    Spec(Error),
}

/// Resolves `spec` with `tokens` and builds the ruleset for the running kernel.
pub fn build_ruleset(
    spec: &LandlockSpec,
    tokens: &Tokens,
    spec_path: &Path,
) -> Result<Ruleset, BuildError> {
    let abi = sys::landlock_abi().map_err(|err| {
        BuildError::Unavailable(format!(
            "Landlock is not supported or not enabled by this kernel ({err})"
        ))
    })?;
    let mut notes = Vec::new();
    if let Some(required) = spec.abi {
        if abi < required {
            return Err(BuildError::Unavailable(format!(
                "{} requires Landlock ABI {required}; the kernel has ABI {abi}",
                spec_path.display()
            )));
        }
    }
    if abi > KNOWN_ABI {
        notes.push(format!(
            "the kernel's Landlock ABI is {abi}; rights added after ABI {KNOWN_ABI} are not handled by this build"
        ));
    }
    let handled_fs = access::fs_rights(abi);
    let mut handled_net = access::net_rights(abi);
    let mut scoped = access::scopes(abi);
    for right in &spec.unrestricted {
        match right {
            Unrestricted::BindTcp => handled_net &= !access::NET_BIND_TCP,
            Unrestricted::ConnectTcp => handled_net &= !access::NET_CONNECT_TCP,
            Unrestricted::AbstractUnixSocket => scoped &= !access::SCOPE_ABSTRACT_UNIX_SOCKET,
            Unrestricted::Signal => scoped &= !access::SCOPE_SIGNAL,
        }
    }
    if abi < 4 && (!spec.bind_tcp.is_empty() || !spec.connect_tcp.is_empty()) {
        notes.push(format!(
            "Landlock ABI {abi} has no TCP rules: the port lists are not enforced"
        ));
    }
    let fd = sys::landlock_create_ruleset(handled_fs, handled_net, scoped, abi)
        .map_err(|err| BuildError::Unavailable(format!("landlock_create_ruleset: {err}")))?;

    let mut exec = ExecAllowList::default();
    let groups: [(&[String], u64, bool); 4] = [
        (&spec.read, access::READ, false),
        (&spec.write, access::WRITE, false),
        (&spec.execute, access::EXEC, true),
        (&spec.interpreters, access::EXEC, true),
    ];
    for (index, (entries, rights, is_exec)) in groups.into_iter().enumerate() {
        for path in expand(entries, tokens) {
            let Some((file, resolved)) = open_beneath(&path, &mut notes) else {
                continue;
            };
            let allowed = if resolved.is_dir {
                rights
            } else {
                rights & access::FILE_RIGHTS
            } & handled_fs;
            if allowed != 0 {
                sys::landlock_add_path_rule(fd.as_fd(), allowed, file.as_fd()).map_err(|err| {
                    BuildError::Unavailable(format!(
                        "landlock_add_rule({}): {err}",
                        resolved.path.display()
                    ))
                })?;
            }
            if is_exec {
                if index == 2 {
                    exec.execute.push(resolved);
                } else {
                    exec.interpreters.push(resolved);
                }
            }
        }
    }
    for (ports, right) in [
        (&spec.bind_tcp, access::NET_BIND_TCP),
        (&spec.connect_tcp, access::NET_CONNECT_TCP),
    ] {
        if handled_net & right == 0 {
            continue;
        }
        for &port in ports {
            sys::landlock_add_net_rule(fd.as_fd(), right, port).map_err(|err| {
                BuildError::Unavailable(format!("landlock_add_rule(port {port}): {err}"))
            })?;
        }
    }
    Ok(Ruleset {
        fd,
        abi,
        handled_fs,
        handled_net,
        scoped,
        exec,
        notes,
    })
}

/// Expands tokens; order and duplicates do not matter to Landlock.
fn expand(entries: &[String], tokens: &Tokens) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for entry in entries {
        match Token::parse(entry) {
            Some(Token::Command) => paths.push(tokens.command.clone()),
            Some(Token::CommandInterpreters) => paths.extend(tokens.interpreters.iter().cloned()),
            Some(Token::WorkingDirectory) => paths.push(tokens.working_directory.clone()),
            None => paths.push(PathBuf::from(entry)),
        }
    }
    paths
}

/// Opens `path` with O_PATH (following symlinks, as Landlock resolves the rule's target).
/// A path that does not exist is skipped with a note: skipping only narrows the allow-list.
fn open_beneath(path: &Path, notes: &mut Vec<String>) -> Option<(File, ResolvedPath)> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(path)
        .and_then(|file| {
            let meta = file.metadata()?;
            let canonical = std::fs::canonicalize(path)?;
            Ok((file, meta, canonical))
        });
    match opened {
        Ok((file, meta, canonical)) => {
            let resolved = ResolvedPath {
                path: canonical,
                is_dir: meta.is_dir(),
                identity: (meta.dev(), meta.ino()),
            };
            Some((file, resolved))
        }
        Err(err) => {
            notes.push(format!("landlock: {} skipped ({err})", path.display()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LandlockSpec, Error> {
        parse_landlock_spec(Path::new("test.json"), text)
    }

    #[test]
    fn parses_every_key() {
        let spec = parse(
            r#"{"abi": 4, "read": ["/usr", "$CMD"], "write": ["/tmp"], "execute": ["$CMD"],
                "interpreters": ["$CMD_INTERP"], "bind_tcp": [8080], "connect_tcp": [443],
                "unrestricted": ["signal"]}"#,
        )
        .unwrap();
        assert_eq!(spec.abi, Some(4));
        assert_eq!(spec.read, ["/usr", "$CMD"]);
        assert_eq!(spec.connect_tcp, [443]);
        assert_eq!(spec.unrestricted, [Unrestricted::Signal]);
    }

    #[test]
    fn rejects_unknown_keys_relative_paths_and_unknown_tokens() {
        let err = parse(r#"{"reed": ["/usr"]}"#).unwrap_err().to_string();
        assert!(
            err.contains("test.json:1:") && err.contains("reed"),
            "{err}"
        );
        let err = parse(r#"{"read": ["usr"]}"#).unwrap_err().to_string();
        assert!(err.contains("neither an absolute path"), "{err}");
        // The entry's own place, not a made-up 0:0.
        let err = parse("{\n  \"read\": [\"/usr\",\n           \"usr\"]}")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("test.json:3:12: \"read\""), "{err}");
        let err = parse("{\"connect_tcp\": [443],\n \"unrestricted\": [\"connect_tcp\"]}")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("test.json:2:2: "), "{err}");
        let err = parse(r#"{"execute": ["$HOME"]}"#).unwrap_err().to_string();
        assert!(err.contains("$HOME"), "{err}");
        let err = parse(r#"{"unrestricted": ["everything"]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("everything"), "{err}");
    }

    #[test]
    fn rejects_ports_that_are_also_unrestricted() {
        let err = parse(r#"{"connect_tcp": [443], "unrestricted": ["connect_tcp"]}"#).unwrap_err();
        assert!(err.to_string().contains("connect_tcp"));
    }

    #[test]
    fn limits_are_enforced() {
        let big = format!(
            "{{\"read\": [{}]}}",
            vec!["\"/\""; MAX_ENTRIES + 1].join(",")
        );
        assert!(big.len() < MAX_FILE_BYTES);
        let err = parse(&big).unwrap_err().to_string();
        assert!(err.contains(&MAX_ENTRIES.to_string()), "{err}");
        let huge = format!("{{\"read\": [\"/{}\"]}}", "a".repeat(MAX_FILE_BYTES));
        let err = parse(&huge).unwrap_err().to_string();
        assert!(err.contains(&MAX_FILE_BYTES.to_string()), "{err}");
    }

    #[test]
    fn rights_grow_with_the_abi() {
        assert_eq!(access::fs_rights(1), 0x1fff);
        assert_eq!(access::fs_rights(2), 0x3fff);
        assert_eq!(access::fs_rights(3), 0x7fff);
        assert_eq!(access::fs_rights(5), 0xffff);
        assert_eq!(access::net_rights(3), 0);
        assert_eq!(access::net_rights(4), 3);
        assert_eq!(access::scopes(5), 0);
        assert_eq!(access::scopes(6), 3);
    }

    #[test]
    fn interpreters_are_not_direct_exec_targets() {
        let file = |path: &str, ino: u64| ResolvedPath {
            path: PathBuf::from(path),
            is_dir: false,
            identity: (1, ino),
        };
        let list = ExecAllowList {
            execute: vec![
                file("/opt/app", 1),
                ResolvedPath {
                    path: "/opt/bin".into(),
                    is_dir: true,
                    identity: (1, 9),
                },
            ],
            interpreters: vec![file("/lib64/ld.so", 2)],
        };
        assert_eq!(
            list.verdict(Path::new("/opt/app"), None),
            ExecVerdict::Allowed
        );
        assert_eq!(
            list.verdict(Path::new("/opt/bin/tool"), None),
            ExecVerdict::Allowed
        );
        assert_eq!(
            list.verdict(Path::new("/opt/binary"), None),
            ExecVerdict::NotAllowed
        );
        assert_eq!(
            list.verdict(Path::new("/lib64/ld.so"), None),
            ExecVerdict::InterpreterNamedDirectly
        );
        // The same inode under another name is the same file (Landlock's rule is on the inode).
        assert_eq!(
            list.verdict(Path::new("/tmp/link"), Some((1, 1))),
            ExecVerdict::Allowed
        );
        assert_eq!(
            list.verdict(Path::new("/tmp/ld"), Some((1, 2))),
            ExecVerdict::InterpreterNamedDirectly
        );
        assert_eq!(
            list.verdict(Path::new("/bin/true"), Some((1, 7))),
            ExecVerdict::NotAllowed
        );
    }
}
