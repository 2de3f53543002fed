//! The readers over real files: exact `(ok, err)` counts on committed CC0 EVTX samples and on
//! corrupted copies of them, the fields Windows rules need, and (when ../shared is present)
//! every EVTX of the two public corpora read with the record count their chunk headers give.

use nativeguard_event::{Fields, FieldsBuilder, Timestamp, Value};
use nativeguard_logs::{discover, Error, EventTexts, EvtxReader, Format, Reader, Scope};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
}

const MIMIKATZ: &str =
    "evtx-to-mitre-attack/EVTX_full_APT_attack_steps/ID4674,5142-Mimikatz print spool privileges requested.evtx";
const WMIEXEC: &str = "evtx-to-mitre-attack/TA0002-Execution/T1047-Windows Management Instrumentation/ID1-WMIexec process execution.evtx";

/// `(ok, errors)` of one EVTX held in memory.
fn count_bytes(bytes: Vec<u8>) -> (usize, Vec<Error>) {
    let mut reader = EvtxReader::from_bytes(bytes, "mem.evtx").expect("file header reads");
    let (mut ok, mut errors) = (0, Vec::new());
    for item in reader.events() {
        match item {
            Ok(_) => ok += 1,
            Err(error) => errors.push(error),
        }
    }
    (ok, errors)
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).expect("fixture present")
}

/// The record count an EVTX's chunk headers claim (first..=last record id per chunk): an
/// oracle independent of the parser.
fn records_in_chunk_headers(bytes: &[u8]) -> u64 {
    let mut total = 0;
    let mut offset = 4096;
    while offset + 65536 <= bytes.len() {
        let chunk = &bytes[offset..offset + 512];
        if chunk.starts_with(b"ElfChnk\0") {
            let id = |at: usize| u64::from_le_bytes(chunk[at..at + 8].try_into().expect("8 bytes"));
            let (first, last) = (id(24), id(32));
            if last >= first {
                total += last - first + 1;
            }
        }
        offset += 65536;
    }
    total
}

#[test]
fn fixture_evtx_records_become_flat_windows_events() {
    let mut reader = EvtxReader::open(&fixtures().join(WMIEXEC), 1).expect("opens");
    let events: Vec<_> = reader
        .events()
        .collect::<Result<_, _>>()
        .expect("all records read");
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.get("EventID"), Some(&Value::Int(1)));
    assert_eq!(
        event.get_str("Channel"),
        Some("Microsoft-Windows-Sysmon/Operational")
    );
    assert_eq!(
        event.get_str("Provider_Name"),
        Some("Microsoft-Windows-Sysmon")
    );
    assert!(event
        .get_str("Image")
        .is_some_and(|i| i.to_ascii_lowercase().ends_with(".exe")));
    assert!(event.get_str("CommandLine").is_some());
    assert!(event.get_str("Computer").is_some());
    assert!(event.get("EventRecordID").and_then(Value::as_i64).is_some());
    // origin.record_id is the record header's number (what errors and evtx_dump name), which
    // an exported log renumbers from 1; System/EventRecordID keeps the original.
    assert_eq!(event.origin.record_id, Some(1));
    assert_eq!(event.get("EventRecordID"), Some(&Value::Int(191_969)));
    // The event's time is System/TimeCreated (this exported log's record headers say 1601).
    let created = event
        .get_str("TimeCreated")
        .and_then(Timestamp::parse_rfc3339);
    assert_eq!(
        created.map(|t| t.to_string()),
        event.timestamp.map(|t| t.to_string())
    );
    assert!(event
        .origin
        .source
        .as_deref()
        .is_some_and(|s| s.ends_with("process execution.evtx")));
}

#[test]
fn fixture_evtx_counts_are_exact() {
    for name in [MIMIKATZ, WMIEXEC] {
        let bytes = read_fixture(name);
        let expected = records_in_chunk_headers(&bytes);
        let (ok, errors) = count_bytes(bytes);
        assert_eq!(
            (ok as u64, errors.len()),
            (expected, 0),
            "{name}: {errors:?}"
        );
    }
}

/// Offsets of the record headers of the first chunk, walked by their sizes.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 4096 + 512;
    while bytes.get(at..at + 4) == Some(b"\x2a\x2a\x00\x00") {
        offsets.push(at);
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        at += size as usize;
    }
    offsets
}

#[test]
fn a_record_with_a_broken_header_fails_alone() {
    let mut bytes = read_fixture(MIMIKATZ);
    let records = record_offsets(&bytes);
    assert_eq!(records.len(), 4);
    bytes[records[1]..records[1] + 4].copy_from_slice(&[0; 4]);
    let (ok, errors) = count_bytes(bytes);
    assert_eq!((ok, errors.len()), (3, 1), "{errors:?}");
    assert_eq!(errors[0].scope(), Scope::Record);
    let message = errors[0].to_string();
    assert!(
        message.starts_with("mem.evtx: chunk 0 offset 0xc68:"),
        "{message}"
    );
}

#[test]
fn a_record_with_a_corrupt_body_fails_alone_and_names_its_record_id() {
    let mut bytes = read_fixture(MIMIKATZ);
    let records = record_offsets(&bytes);
    // Garbage in the third record's BinXML, past its 24-byte header.
    for byte in &mut bytes[records[2] + 34..records[2] + 84] {
        *byte = 0xff;
    }
    let (ok, errors) = count_bytes(bytes);
    assert_eq!((ok, errors.len()), (3, 1), "{errors:?}");
    let message = errors[0].to_string();
    assert!(message.starts_with("mem.evtx: record 3:"), "{message}");
}

#[test]
fn a_truncated_file_reports_its_lost_chunk() {
    let bytes = read_fixture(MIMIKATZ);
    let cut = bytes[..4096 + 40_000].to_vec();
    let (ok, errors) = count_bytes(cut);
    assert_eq!((ok, errors.len()), (0, 1));
    assert_eq!(errors[0].scope(), Scope::Chunk);
    assert!(
        errors[0]
            .to_string()
            .contains("chunk 0: the file ends 40000 bytes"),
        "{}",
        errors[0]
    );
    // Not an EVTX at all: the whole file is refused, with its name.
    let err = EvtxReader::from_bytes(b"not an evtx file".to_vec(), "x.evtx").err();
    assert!(err.is_some_and(|e| e.scope() == Scope::File && e.to_string().starts_with("x.evtx:")));
}

#[test]
fn a_file_cut_on_a_chunk_boundary_reports_the_chunks_its_header_names() {
    // The file header says how many chunks the log has (offset 42); a copy cut right after
    // the header, or after a whole chunk, leaves no partial chunk to notice.
    let bytes = read_fixture(MIMIKATZ);
    assert_eq!(u16::from_le_bytes([bytes[42], bytes[43]]), 1);
    let (ok, errors) = count_bytes(bytes[..4096].to_vec());
    assert_eq!(ok, 0);
    assert!(
        !errors.is_empty(),
        "the header's chunk lost without a report"
    );
    assert!(
        errors.iter().all(|e| e.scope() == Scope::Chunk),
        "{errors:?}"
    );
    let big = datasets()
        .join("evtx-attack-samples/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx");
    if let Ok(bytes) = std::fs::read(&big) {
        // 15 chunks by its header; cut after the first.
        assert_eq!(u16::from_le_bytes([bytes[42], bytes[43]]), 15);
        let (ok, errors) = count_bytes(bytes[..4096 + 65536].to_vec());
        assert_eq!(ok, 44);
        assert!(!errors.is_empty(), "14 chunks lost without a report");
    }
}

#[test]
fn discover_walks_fixture_directories_by_extension() {
    let found = discover(&[fixtures().as_path()]);
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    let evtx = found
        .inputs
        .iter()
        .filter(|i| i.format == Format::Evtx)
        .count();
    let jsonl = found
        .inputs
        .iter()
        .filter(|i| i.format == Format::Jsonl)
        .count();
    assert_eq!((evtx, jsonl), (5, 1));
    // README.md, LICENSE files and rules are not logs.
    assert!(found.ignored >= 3);
    let mut events = 0;
    for input in &found.inputs {
        let mut reader = Reader::open(input, 1).expect("opens");
        for item in reader.events() {
            item.expect("fixtures are clean");
            events += 1;
        }
    }
    // 11 EVTX records and 53 JSONL lines.
    assert_eq!(events, 11 + 53);
}

#[test]
fn parallel_chunk_parsing_yields_the_same_events_in_order() {
    let path = datasets().join("evtx-attack-samples");
    let Some(big) = discover(&[path.as_path()])
        .inputs
        .into_iter()
        .filter(|i| i.format == Format::Evtx)
        .max_by_key(|i| records_in_chunk_headers(&std::fs::read(&i.path).unwrap_or_default()))
    else {
        eprintln!("skipped: {} is absent", path.display());
        return;
    };
    let read = |threads| {
        let mut reader = EvtxReader::open(&big.path, threads).expect("opens");
        reader
            .events()
            .map(|item| item.map(|e| e.origin.record_id).map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
    };
    let (one, four) = (read(1), read(4));
    assert!(
        one.len() > 1000,
        "{} records in {}",
        one.len(),
        big.path.display()
    );
    assert_eq!(one, four);
}

#[test]
fn public_corpora_read_every_record_their_chunks_hold() {
    for corpus in ["evtx-attack-samples", "evtx-to-mitre-attack"] {
        let path = datasets().join(corpus);
        if !path.is_dir() {
            eprintln!("skipped: {} is absent", path.display());
            continue;
        }
        let found = discover(&[path.as_path()]);
        let (mut expected, mut ok, mut errors, mut no_channel) = (0, 0, Vec::new(), 0);
        for input in found.inputs.iter().filter(|i| i.format == Format::Evtx) {
            expected += records_in_chunk_headers(&std::fs::read(&input.path).expect("reads"));
            let mut reader = Reader::open(input, 1).expect("opens");
            for item in reader.events() {
                match item {
                    Ok(event) => {
                        ok += 1;
                        assert!(
                            matches!(event.get("EventID"), Some(Value::Int(_))),
                            "{:?}",
                            event.origin
                        );
                        // Event-forwarding bookmarks have no Channel; nothing else may lack it.
                        if event.get("Channel").is_none() {
                            no_channel += 1;
                            assert_eq!(
                                event.get_str("Provider_Name"),
                                Some("Microsoft-Windows-EventForwarder")
                            );
                        }
                    }
                    Err(error) => errors.push(error.to_string()),
                }
            }
        }
        eprintln!(
            "{corpus}: {ok} events ({no_channel} without Channel), {} errors, chunk headers say {expected}",
            errors.len()
        );
        assert_eq!((ok, errors.len()), (expected, 0), "{errors:?}");
    }
}

/// Per record of one EVTX file: its fields as streamed (`None`: handed back), as decoded and
/// fed, and the errors, in order.
type StreamedAndDecoded = (Vec<(Option<Fields>, Fields)>, Vec<String>);

fn stream_and_decode(path: &Path) -> StreamedAndDecoded {
    let mut reader = EvtxReader::open(path, 1).expect("opens");
    let mut stream = reader.streamed();
    let (mut records, mut errors) = (Vec::new(), Vec::new());
    while let Some(read) = stream.read_event_text() {
        if let Err(error) = read {
            errors.push(error.to_string());
            continue;
        }
        let mut streamed = FieldsBuilder::default();
        let took = stream.stream_event(&mut streamed);
        match stream.decode_event() {
            Ok(event) => {
                let mut fed = FieldsBuilder::default();
                event.fields.feed(&mut fed);
                records.push((took.then(|| streamed.finish()), fed.finish()));
            }
            Err(error) => errors.push(error.to_string()),
        }
    }
    (records, errors)
}

/// Streaming an EVTX record to the rule engine reports what its decoded event holds, record
/// by record: on the committed samples, and on every EVTX of both public corpora when present.
#[test]
fn evtx_records_stream_the_fields_they_decode_to() {
    let mut roots = vec![fixtures()];
    for corpus in ["evtx-attack-samples", "evtx-to-mitre-attack"] {
        let path = datasets().join(corpus);
        if path.is_dir() {
            roots.push(path);
        } else {
            eprintln!("skipped: {} is absent", path.display());
        }
    }
    let (mut records, mut streamed) = (0, 0);
    for root in &roots {
        for input in discover(&[root.as_path()])
            .inputs
            .iter()
            .filter(|i| i.format == Format::Evtx)
        {
            let (pairs, errors) = stream_and_decode(&input.path);
            let mut built = EvtxReader::open(&input.path, 1).expect("opens");
            let built_errors: Vec<String> = built
                .events()
                .filter_map(|item| item.err().map(|e| e.to_string()))
                .collect();
            assert_eq!(errors, built_errors, "{}", input.path.display());
            for (at, (stream, fed)) in pairs.into_iter().enumerate() {
                records += 1;
                if let Some(stream) = stream {
                    streamed += 1;
                    assert_eq!(stream, fed, "record {at} of {}", input.path.display());
                }
            }
        }
    }
    // Every record of these corpora is in the shape streaming takes on.
    assert!(records > 60, "{records} records");
    assert_eq!(streamed, records);
}
