//! Reads logs (EVTX, JSON, JSONL, directories) and writes each event as one JSON line of its
//! flattened fields: how nativeguard sees them, and the JSONL input of the hunt benchmark.
//!
//! `cargo run --release -p nativeguard-logs --example logs_to_jsonl -- PATH... > events.jsonl`
//! Errors go to stderr with a closing `(ok, err)` count.

use std::io::Write;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let paths: Vec<&Path> = args.iter().map(Path::new).collect();
    let found = nativeguard_logs::discover(&paths);
    let (mut ok, mut err) = (0u64, found.errors.len() as u64);
    for error in &found.errors {
        eprintln!("{error}");
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for input in &found.inputs {
        let mut reader = match nativeguard_logs::Reader::open(input, 1) {
            Ok(reader) => reader,
            Err(error) => {
                eprintln!("{error}");
                err += 1;
                continue;
            }
        };
        for item in reader.events() {
            match item {
                Ok(event) => {
                    ok += 1;
                    serde_json::to_writer(&mut out, &event)?;
                    out.write_all(b"\n")?;
                }
                Err(error) => {
                    err += 1;
                    eprintln!("{error}");
                }
            }
        }
    }
    out.flush()?;
    eprintln!("(ok, err) = ({ok}, {err})");
    Ok(())
}
