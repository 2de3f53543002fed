//! Which files to read, in which format, and opening them.

use crate::evtx::{EvtxReader, EVTX_MAGIC};
use crate::json::{JsonLayout, JsonReader};
use crate::{Error, MAX_DIRECTORY_DEPTH};
use nativeguard_event::Event;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The log formats this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Windows XML event log (`.evtx`).
    Evtx,
    /// A JSON document: one object or an array of objects (`.json`).
    Json,
    /// JSON Lines / NDJSON (`.jsonl`, `.ndjson`, and stdin).
    Jsonl,
}

impl Format {
    /// The format a file name's extension names, if any.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "evtx" => Some(Format::Evtx),
            "json" => Some(Format::Json),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The file, or `-` for standard input.
    pub path: PathBuf,
    /// How to read it.
    pub format: Format,
}

impl Input {
    /// Whether this input is standard input.
    pub fn is_stdin(&self) -> bool {
        self.path.as_os_str() == "-"
    }
}

/// The inputs found under the paths given, and what could not be looked at.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Files to read, in the order given (directories sorted by name, walked depth first).
    pub inputs: Vec<Input>,
    /// Paths that could not be read (missing, unreadable directory, too deep, a loop).
    pub errors: Vec<Error>,
    /// Files inside directories that were left out because their extension names no log format.
    pub ignored: usize,
}

/// Expands `paths` into the files to read: `-` is JSONL on standard input; a directory is walked
/// recursively (following symbolic links, each directory once) for `.evtx`, `.json`, `.jsonl`
/// and `.ndjson` files; a file named explicitly is read whatever its name, its format told by
/// its extension or else by its first bytes.
///
/// ```
/// let found = nativeguard_logs::discover(&["-".as_ref(), "/no/such/file.evtx".as_ref()]);
/// assert_eq!(found.inputs.len(), 1);
/// assert!(found.inputs[0].is_stdin());
/// assert_eq!(found.errors.len(), 1);
/// ```
pub fn discover(paths: &[&Path]) -> Discovery {
    let mut found = Discovery::default();
    for path in paths {
        if path.as_os_str() == "-" {
            found.inputs.push(Input {
                path: PathBuf::from("-"),
                format: Format::Jsonl,
            });
            continue;
        }
        match std::fs::metadata(path) {
            Err(source) => found.errors.push(io_error(path, source)),
            Ok(meta) if meta.is_dir() => {
                let mut visited = HashSet::new();
                walk(path, 0, &mut visited, &mut found);
            }
            Ok(_) => match Format::from_extension(path).map_or_else(|| sniff(path), Ok) {
                Ok(format) => found.inputs.push(Input {
                    path: path.to_path_buf(),
                    format,
                }),
                Err(err) => found.errors.push(err),
            },
        }
    }
    found
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string().into(),
        source,
    }
}

fn walk(dir: &Path, depth: usize, visited: &mut HashSet<PathBuf>, found: &mut Discovery) {
    if depth > MAX_DIRECTORY_DEPTH {
        found.errors.push(io_error(
            dir,
            std::io::Error::other(format!(
                "directory nested deeper than {MAX_DIRECTORY_DEPTH} levels, not read"
            )),
        ));
        return;
    }
    match dir.canonicalize() {
        // Already walked: a symbolic link loop, or the same folder reached twice.
        Ok(real) => {
            if !visited.insert(real) {
                return;
            }
        }
        Err(source) => return found.errors.push(io_error(dir, source)),
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) => return found.errors.push(io_error(dir, source)),
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => paths.push(entry.path()),
            Err(source) => found.errors.push(io_error(dir, source)),
        }
    }
    paths.sort();
    for path in paths {
        match std::fs::metadata(&path) {
            Err(source) => found.errors.push(io_error(&path, source)),
            Ok(meta) if meta.is_dir() => walk(&path, depth + 1, visited, found),
            Ok(_) => match Format::from_extension(&path) {
                Some(format) => found.inputs.push(Input { path, format }),
                None => found.ignored += 1,
            },
        }
    }
}

/// Tells a file's format from its first bytes: EVTX by its magic, a JSON array by `[`,
/// otherwise JSON Lines.
fn sniff(path: &Path) -> Result<Format, Error> {
    let mut head = [0u8; 8];
    let mut file = File::open(path).map_err(|source| io_error(path, source))?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(io_error(path, source)),
        }
    }
    let head = &head[..filled];
    if head == EVTX_MAGIC {
        return Ok(Format::Evtx);
    }
    // A UTF-8 byte order mark is not the document's first character.
    let text = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(head);
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    Ok(if first == Some(&b'[') {
        Format::Json
    } else {
        Format::Jsonl
    })
}

/// An open input.
pub enum Reader {
    /// An EVTX file.
    Evtx(EvtxReader<File>),
    /// A JSON or JSONL file.
    Json(JsonReader<BufReader<File>>),
    /// JSONL on standard input.
    Stdin(JsonReader<std::io::StdinLock<'static>>),
}

/// Read buffer for JSON files: large enough that most events are one `fill_buf`.
const JSON_BUFFER_BYTES: usize = 256 * 1024;

impl Reader {
    /// Opens `input`; `threads` EVTX chunks are parsed in parallel (1: none).
    pub fn open(input: &Input, threads: usize) -> Result<Reader, Error> {
        if input.is_stdin() {
            return Ok(Reader::Stdin(JsonReader::new(
                std::io::stdin().lock(),
                "-",
                JsonLayout::Lines,
            )));
        }
        let label: Arc<str> = input.path.display().to_string().into();
        match input.format {
            Format::Evtx => Ok(Reader::Evtx(EvtxReader::open(&input.path, threads)?)),
            Format::Json | Format::Jsonl => {
                let file = File::open(&input.path).map_err(|source| Error::Io {
                    path: label.clone(),
                    source,
                })?;
                let layout = if input.format == Format::Json {
                    JsonLayout::Document
                } else {
                    JsonLayout::Lines
                };
                Ok(Reader::Json(JsonReader::new(
                    BufReader::with_capacity(JSON_BUFFER_BYTES, file),
                    label,
                    layout,
                )))
            }
        }
    }

    /// Every event of the input, or an error where one could not be read.
    pub fn events(&mut self) -> Box<dyn Iterator<Item = Result<Event, Error>> + '_> {
        match self {
            Reader::Evtx(reader) => Box::new(reader.events()),
            Reader::Json(reader) => Box::new(reader),
            Reader::Stdin(reader) => Box::new(reader),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removed when the guard drops, also when the test fails.
    fn temp_dir(name: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("nativeguard-logs-{name}-"))
            .tempdir()
            .expect("temp dir")
    }

    #[test]
    fn directory_depth_limit_stops_the_walk_with_an_error() {
        let dir = temp_dir("depth");
        let root = dir.path();
        let mut deepest = root.to_path_buf();
        for level in 0..=MAX_DIRECTORY_DEPTH + 1 {
            deepest = deepest.join("d");
            std::fs::create_dir(&deepest).expect("mkdir");
            if level == MAX_DIRECTORY_DEPTH - 1 {
                std::fs::write(deepest.join("at_limit.jsonl"), "{}\n").expect("write");
            }
        }
        std::fs::write(deepest.join("too_deep.jsonl"), "{}\n").expect("write");
        let found = discover(&[root]);
        let names: Vec<_> = found
            .inputs
            .iter()
            .filter_map(|i| i.path.file_name())
            .collect();
        assert_eq!(names, ["at_limit.jsonl"]);
        assert_eq!(found.errors.len(), 1);
        assert!(
            found.errors[0]
                .to_string()
                .contains("deeper than 64 levels"),
            "{}",
            found.errors[0]
        );
    }

    #[test]
    fn symbolic_link_loops_are_walked_once() {
        let dir = temp_dir("loop");
        let root = dir.path();
        std::fs::create_dir(root.join("a")).expect("mkdir");
        std::fs::write(root.join("a/x.evtx"), b"ElfFile\0").expect("write");
        std::os::unix::fs::symlink(root, root.join("a/back")).expect("symlink");
        let found = discover(&[root]);
        assert_eq!(found.inputs.len(), 1, "{:?}", found.inputs);
        assert!(found.errors.is_empty());
    }

    #[test]
    fn a_json_array_after_a_byte_order_mark_is_sniffed_as_json() {
        let dir = temp_dir("sniff-bom");
        let path = dir.path().join("export.txt");
        std::fs::write(&path, "\u{feff}[\n  {\"a\": 1}\n]\n").expect("write");
        let found = discover(&[path.as_path()]);
        assert_eq!(found.inputs[0].format, Format::Json);
    }

    #[test]
    fn explicit_files_are_sniffed_when_their_extension_says_nothing() {
        let dir = temp_dir("sniff");
        let root = dir.path();
        std::fs::write(root.join("a.log"), b"ElfFile\0rest").expect("write");
        std::fs::write(root.join("b.txt"), b"  [{\"a\":1}]").expect("write");
        std::fs::write(root.join("c"), b"{\"a\":1}\n").expect("write");
        let paths = [root.join("a.log"), root.join("b.txt"), root.join("c")];
        let found = discover(&paths.iter().map(PathBuf::as_path).collect::<Vec<_>>());
        let inside_dir = discover(&[root]);
        let formats: Vec<_> = found.inputs.iter().map(|i| i.format).collect();
        assert_eq!(formats, [Format::Evtx, Format::Json, Format::Jsonl]);
        // Inside a directory only the known extensions count.
        assert_eq!((inside_dir.inputs.len(), inside_dir.ignored), (0, 3));
    }
}
