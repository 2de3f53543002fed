//! EVTX reader: the `evtx` crate renders each record as JSON bytes, which are decoded straight
//! into an [`Event`] (no `serde_json::Value` in between).

use crate::decode::{decode_object, DecodeError};
use crate::error::ChunkNumber;
use crate::json::{DEFAULT_FIELD_COUNT, MAX_FIELD_COUNT_HINT};
use crate::names::Names;
use crate::EventTexts;
use crate::{Error, MAX_EVENT_BYTES, MAX_NESTING_DEPTH};
use evtx::err::EvtxError;
use evtx::{EvtxParser, ParserSettings};
use nativeguard_event::{Event, FieldSink, Fields, Origin, Timestamp};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// The magic bytes an EVTX file starts with.
pub const EVTX_MAGIC: &[u8; 8] = b"ElfFile\0";

/// Reads the records of one EVTX file as events.
///
/// Records come out in log order (oldest chunk first). A record that cannot be parsed is one
/// [`Error::EvtxRecord`]; a chunk that cannot be parsed is one [`Error::EvtxChunk`]; reading
/// goes on after both. Each event's `origin.record_id` is the record header's number (what the
/// errors name; an exported log renumbers it from 1 while `EventRecordID` keeps the original)
/// and its timestamp is `System/TimeCreated` (else the record header's time).
///
/// ```no_run
/// let mut reader = nativeguard_logs::EvtxReader::open("Security.evtx".as_ref(), 1)?;
/// let (mut ok, mut err) = (0, 0);
/// for item in reader.events() {
///     match item {
///         Ok(_event) => ok += 1,
///         Err(_error) => err += 1,
///     }
/// }
/// # Ok::<(), nativeguard_logs::Error>(())
/// ```
pub struct EvtxReader<R: Read + Seek> {
    parser: EvtxParser<R>,
    path: Arc<str>,
    /// A chunk cut short by the end of the file: its number and the bytes it has.
    truncated_chunk: Option<(u64, u64)>,
    /// Chunks the file header names past the end of the file: the first one missing and the
    /// header's count (a copy cut on a chunk boundary leaves no partial chunk to notice).
    missing_chunks: Option<(u64, u64)>,
    /// The field names met so far. Chunks parsed on other threads (`threads` > 1) use their
    /// own set while this one is busy.
    names: Arc<Mutex<Names>>,
}

/// EVTX layout: a 4 KiB file header, then 64 KiB chunks.
const FILE_HEADER_BYTES: u64 = 4096;
const CHUNK_BYTES: u64 = 65536;
/// Where the file header keeps its chunk count (a little-endian u16).
const HEADER_CHUNK_COUNT_AT: u64 = 42;

impl EvtxReader<std::fs::File> {
    /// Opens an EVTX file. `threads` chunks are parsed in parallel (1: on the calling thread).
    pub fn open(path: &Path, threads: usize) -> Result<Self, Error> {
        let label: Arc<str> = path.display().to_string().into();
        let file = std::fs::File::open(path).map_err(|source| Error::Io {
            path: label.clone(),
            source,
        })?;
        Self::new(file, label, threads)
    }
}

impl EvtxReader<std::io::Cursor<Vec<u8>>> {
    /// Reads an EVTX file held in memory.
    pub fn from_bytes(bytes: Vec<u8>, path: impl Into<Arc<str>>) -> Result<Self, Error> {
        Self::new(std::io::Cursor::new(bytes), path.into(), 1)
    }
}

impl<R: Read + Seek + Send + 'static> EvtxReader<R> {
    /// Reads EVTX from any seekable input; `path` names it in events and errors.
    pub fn new(mut input: R, path: Arc<str>, threads: usize) -> Result<Self, Error> {
        let io_error = |source| Error::Io {
            path: path.clone(),
            source,
        };
        // The parser reads whole chunks only and says nothing about a partial last one (a file
        // copied while it was written, or cut short): that loss is reported here.
        let length = input.seek(SeekFrom::End(0)).map_err(io_error)?;
        let mut header_count = [0u8; 2];
        let header_chunks = if length >= HEADER_CHUNK_COUNT_AT + 2 {
            input
                .seek(SeekFrom::Start(HEADER_CHUNK_COUNT_AT))
                .map_err(io_error)?;
            input.read_exact(&mut header_count).map_err(io_error)?;
            u64::from(u16::from_le_bytes(header_count))
        } else {
            0
        };
        input.seek(SeekFrom::Start(0)).map_err(io_error)?;
        let partial = length.saturating_sub(FILE_HEADER_BYTES) % CHUNK_BYTES;
        let whole_chunks = length.saturating_sub(FILE_HEADER_BYTES) / CHUNK_BYTES;
        let truncated_chunk =
            (length > FILE_HEADER_BYTES && partial > 0).then_some((whole_chunks, partial));
        let present = whole_chunks + u64::from(partial > 0);
        let missing_chunks = (header_chunks > present).then_some((present, header_chunks));
        let settings = ParserSettings::new()
            .num_threads(threads.max(1))
            .indent(false)
            .separate_json_attributes(false);
        let parser = EvtxParser::from_read_seek(input)
            .map_err(|err| Error::EvtxFile {
                path: path.clone(),
                message: error_chain(&err),
            })?
            .with_configuration(settings);
        Ok(EvtxReader {
            parser,
            path,
            truncated_chunk,
            missing_chunks,
            names: Arc::default(),
        })
    }

    /// Every record, as an event or an error.
    pub fn events(&mut self) -> impl Iterator<Item = Result<Event, Error>> + '_ {
        let path = self.path.clone();
        let for_records = path.clone();
        let truncated = self.truncation_errors().into_iter().map(Err);
        let shared_names = self.names.clone();
        // The parser clones this closure for each chunk: `own_names` starts empty in each.
        let mut own_names = Names::default();
        let mut field_count = DEFAULT_FIELD_COUNT;
        self.parser
            .serialized_records(move |record| {
                let record = record?;
                let id = record.event_record_id;
                let nanos = record.timestamp.as_nanosecond();
                let rendered = record.into_json_bytes()?;
                let json = &rendered.data;
                let event = match shared_names.try_lock() {
                    Ok(mut names) => {
                        to_event(json, id, nanos, &for_records, &mut names, field_count)
                    }
                    Err(_) => to_event(json, id, nanos, &for_records, &mut own_names, field_count),
                };
                if let Ok(event) = &event {
                    field_count = event.fields.len().clamp(1, MAX_FIELD_COUNT_HINT);
                }
                Ok(event)
            })
            .map(move |item| item.unwrap_or_else(|err| Err(from_evtx_error(&path, err))))
            .chain(truncated)
    }

    /// Every record, rendered (on the parser's threads) but not decoded: for a consumer that
    /// takes most events' fields streamed and builds few events (the rule engine builds one
    /// only for a detection). Errors come as [`EvtxReader::events`] gives them.
    pub fn streamed(&mut self) -> EvtxStream<'_> {
        let path = self.path.clone();
        let truncated = self.truncation_errors().into_iter().map(Err);
        let records = self
            .parser
            .serialized_records(|record| {
                let record = record?.into_json_bytes()?;
                Ok(Rendered {
                    id: record.event_record_id,
                    nanos: record.timestamp.as_nanosecond(),
                    json: record.data,
                })
            })
            .map(move |item| item.map_err(|err| from_evtx_error(&path, err)))
            .chain(truncated);
        EvtxStream {
            records: Box::new(records),
            current: None,
            path: self.path.clone(),
            names: self.names.clone(),
            unescaped: String::new(),
            field_count: DEFAULT_FIELD_COUNT,
        }
    }

    fn truncation_errors(&self) -> Vec<Error> {
        let partial = self.truncated_chunk.map(|(chunk, bytes)| Error::EvtxChunk {
            path: self.path.clone(),
            chunk: ChunkNumber(Some(chunk)),
            message: format!(
                "the file ends {bytes} bytes into this chunk (it is truncated); its records were not read"
            ),
        });
        let missing = self.missing_chunks.map(|(first, named)| Error::EvtxChunk {
            path: self.path.clone(),
            chunk: ChunkNumber(Some(first)),
            message: format!(
                "the file header names {named} chunks; the file ends before this one (it is truncated): chunks {first} to {} were not read",
                named - 1
            ),
        });
        partial.into_iter().chain(missing).collect()
    }
}

/// One record as the `evtx` crate renders it: JSON, not yet decoded.
struct Rendered {
    id: u64,
    nanos: i128,
    json: Vec<u8>,
}

/// The records of an EVTX file one at a time ([`EvtxReader::streamed`]): each handed to a
/// [`FieldSink`] without an event being built, or decoded into one.
pub struct EvtxStream<'r> {
    records: Box<dyn Iterator<Item = Result<Rendered, Error>> + 'r>,
    current: Option<Rendered>,
    path: Arc<str>,
    names: Arc<Mutex<Names>>,
    unescaped: String,
    field_count: usize,
}

impl EventTexts for EvtxStream<'_> {
    fn read_event_text(&mut self) -> Option<Result<u64, Error>> {
        match self.records.next()? {
            Ok(record) => {
                let id = record.id;
                self.current = Some(record);
                Some(Ok(id))
            }
            Err(error) => {
                self.current = None;
                Some(Err(error))
            }
        }
    }

    fn stream_event<S: FieldSink>(&mut self, sink: &mut S) -> bool {
        let Some(record) = &self.current else {
            return false;
        };
        // Too large an event is left to the decoder, which reports it.
        if record.json.len() > MAX_EVENT_BYTES {
            return false;
        }
        let Ok(text) = simdutf8::basic::from_utf8(&record.json) else {
            return false;
        };
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        crate::direct::stream_plain(text, sink, &mut names, &mut self.unescaped).is_ok()
    }

    fn decode_event(&mut self) -> Result<Event, Error> {
        let Some(record) = &self.current else {
            return Err(Error::EvtxRecord {
                path: self.path.clone(),
                record: crate::error::RecordLocation::Id(0),
                message: "no record was read".into(),
            });
        };
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        let event = to_event(
            &record.json,
            record.id,
            record.nanos,
            &self.path,
            &mut names,
            self.field_count,
        )?;
        self.field_count = event.fields.len().clamp(1, MAX_FIELD_COUNT_HINT);
        Ok(event)
    }
}

/// One rendered record -> an event, with room for `field_count` fields.
fn to_event(
    json: &[u8],
    record: u64,
    nanos: i128,
    path: &Arc<str>,
    names: &mut Names,
    field_count: usize,
) -> Result<Event, Error> {
    if json.len() > MAX_EVENT_BYTES {
        return Err(Error::TooLarge {
            path: path.clone(),
            line: record,
            limit: MAX_EVENT_BYTES,
        });
    }
    let mut fields = Fields::with_capacity(field_count);
    decode_object(json, &mut fields, names, &mut String::new()).map_err(|err| match err {
        DecodeError::TooDeep => Error::TooDeep {
            path: path.clone(),
            line: record,
            limit: MAX_NESTING_DEPTH,
        },
        DecodeError::Json(err) => Error::EvtxRecord {
            path: path.clone(),
            record: crate::error::RecordLocation::Id(record),
            message: format!("rendered JSON does not decode: {err}"),
        },
    })?;
    // System/TimeCreated first: it is what Windows shows, and some exported logs leave the
    // record header's time at zero (1601-01-01).
    let timestamp = crate::json::event_timestamp(&fields).or_else(|| {
        i64::try_from(nanos)
            .ok()
            // A zero FILETIME (1601) does not fit; nothing logged before 1970 is real either.
            .filter(|&n| n > 0)
            .map(Timestamp::from_unix_nanos)
    });
    Ok(Event {
        fields,
        timestamp,
        origin: Origin {
            source: Some(path.clone()),
            record_id: Some(record),
        },
    })
}

fn from_evtx_error(path: &Arc<str>, err: EvtxError) -> Error {
    use crate::error::RecordLocation;
    let path = path.clone();
    match err {
        EvtxError::FailedToParseChunk { chunk_id, source } => Error::EvtxChunk {
            path,
            chunk: ChunkNumber(Some(chunk_id)),
            message: error_chain(&*source),
        },
        EvtxError::FailedToParseRecord { record_id, source } => Error::EvtxRecord {
            path,
            record: RecordLocation::Id(record_id),
            message: error_chain(&*source),
        },
        EvtxError::FailedToReadRecordAt {
            chunk,
            offset,
            source,
        } => Error::EvtxRecord {
            path,
            record: RecordLocation::ChunkOffset {
                chunk: ChunkNumber(chunk),
                offset,
            },
            message: error_chain(&*source),
        },
        other => Error::EvtxChunk {
            path,
            chunk: ChunkNumber(None),
            message: error_chain(&other),
        },
    }
}

/// An error and its causes on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
