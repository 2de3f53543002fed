//! JSON and JSONL readers: one event per JSON object, read as a stream.

use crate::decode::{decode_object, DecodeError};
use crate::names::Names;
use crate::{Error, EventTexts, MAX_EVENT_BYTES, MAX_NESTING_DEPTH};
use nativeguard_event::{Event, FieldSink, Fields, Origin, Timestamp, Value};
use std::io::BufRead;
use std::sync::Arc;

/// How the JSON text is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonLayout {
    /// JSON Lines / NDJSON: one object per line. A bad line fails alone.
    Lines,
    /// A JSON document: one object, an array of objects, or objects one after another (pretty
    /// printed or not). A value that does not parse fails alone; broken structure (an
    /// unterminated string or object, a missing `,` in the array) ends the file with an error.
    Document,
}

/// Streams events out of JSON text; every item is one event or one error.
///
/// Each event's `origin.record_id` is the line its object starts on.
///
/// ```
/// use nativeguard_logs::{JsonLayout, JsonReader};
///
/// let text = "{\"EventID\": 1, \"Image\": \"a.exe\"}\nnot json\n{\"EventID\": 3}\n";
/// let items: Vec<_> = JsonReader::new(text.as_bytes(), "x.jsonl", JsonLayout::Lines).collect();
/// assert_eq!(items.len(), 3);
/// assert!(items[1].is_err());
/// let third = items[2].as_ref().unwrap();
/// assert_eq!(third.origin.record_id, Some(3));
/// ```
pub struct JsonReader<R> {
    input: R,
    path: Arc<str>,
    layout: JsonLayout,
    /// The line the reader is on (1-based).
    line: u64,
    /// The current value's bytes.
    buf: Vec<u8>,
    state: DocumentState,
    /// The field names met so far, shared by every event.
    names: Names,
    /// The direct parser's text of escaped strings, kept so that it does not grow anew for
    /// every event.
    unescaped: String,
    /// How many top-level fields the last event had: the next one likely has as many.
    last_field_count: usize,
    /// The line of the event last read by [`EventTexts::read_event_text`].
    current_line: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DocumentState {
    /// Nothing read yet: a BOM and whether the document is an array are still to be seen.
    Start,
    /// A BOM read: whether the document is an array is still to be seen.
    AfterBom,
    /// Values one after another at top level.
    TopLevel,
    /// Inside a top-level array, before its first element.
    ArrayFirst,
    /// Inside a top-level array, after an element.
    ArrayNext,
    /// End of input, or an error that leaves no safe place to resume.
    Done,
}

impl<R: BufRead> JsonReader<R> {
    /// A reader over `input`; `path` names it in events and errors (`-` for stdin).
    pub fn new(input: R, path: impl Into<Arc<str>>, layout: JsonLayout) -> Self {
        JsonReader {
            input,
            path: path.into(),
            layout,
            line: 1,
            buf: Vec::new(),
            state: DocumentState::Start,
            names: Names::default(),
            unescaped: String::new(),
            last_field_count: DEFAULT_FIELD_COUNT,
            current_line: 0,
        }
    }

    /// Whether the input is JSON Lines, which [`EventTexts::read_event_text`] reads.
    pub fn is_lines(&self) -> bool {
        self.layout == JsonLayout::Lines
    }

    fn io_error(&mut self, source: std::io::Error) -> Error {
        self.state = DocumentState::Done;
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn syntax_error(&mut self, line: u64, message: impl Into<String>) -> Error {
        self.state = DocumentState::Done;
        Error::JsonSyntax {
            path: self.path.clone(),
            line,
            message: message.into(),
        }
    }

    /// Turns the bytes in `buf` (starting on `line`) into an event.
    fn decode(&mut self, line: u64) -> Result<Event, Error> {
        let mut fields = Fields::with_capacity(self.last_field_count);
        decode_object(&self.buf, &mut fields, &mut self.names, &mut self.unescaped).map_err(
            |err| match err {
                DecodeError::TooDeep => Error::TooDeep {
                    path: self.path.clone(),
                    line,
                    limit: MAX_NESTING_DEPTH,
                },
                DecodeError::Json(err) => Error::Json {
                    path: self.path.clone(),
                    // serde_json counts lines within the value.
                    line: line + err.line().saturating_sub(1) as u64,
                    message: err.to_string(),
                },
            },
        )?;
        self.last_field_count = fields.len().clamp(1, MAX_FIELD_COUNT_HINT);
        Ok(Event {
            timestamp: event_timestamp(&fields),
            fields,
            origin: Origin {
                source: Some(self.path.clone()),
                record_id: Some(line),
            },
        })
    }

    fn next_line(&mut self) -> Option<Result<Event, Error>> {
        Some(match self.read_line()? {
            Ok(line) => self.decode(line),
            Err(err) => Err(err),
        })
    }

    /// Reads the next non-blank line into `buf`; its line number.
    fn read_line(&mut self) -> Option<Result<u64, Error>> {
        loop {
            if self.state == DocumentState::Done {
                return None;
            }
            let line = self.line;
            let read = match read_bounded_line(&mut self.input, &mut self.buf, MAX_EVENT_BYTES) {
                Ok(read) => read,
                Err(err) => return Some(Err(self.io_error(err))),
            };
            self.line += 1;
            match read {
                LineRead::Eof => {
                    self.state = DocumentState::Done;
                    return None;
                }
                LineRead::TooLong => {
                    return Some(Err(Error::TooLarge {
                        path: self.path.clone(),
                        line,
                        limit: MAX_EVENT_BYTES,
                    }))
                }
                LineRead::Line => {
                    if line == 1 {
                        strip_bom(&mut self.buf);
                    }
                    if self.buf.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    self.current_line = line;
                    return Some(Ok(line));
                }
            }
        }
    }

    /// The next byte without consuming it; `None` at end of input.
    fn peek(&mut self) -> std::io::Result<Option<u8>> {
        Ok(self.input.fill_buf()?.first().copied())
    }

    fn bump(&mut self, byte: u8) {
        if byte == b'\n' {
            self.line += 1;
        }
        self.input.consume(1);
    }

    /// Skips whitespace; returns the next byte (not consumed).
    fn skip_whitespace(&mut self) -> std::io::Result<Option<u8>> {
        while let Some(byte) = self.peek()? {
            if !byte.is_ascii_whitespace() {
                return Ok(Some(byte));
            }
            self.bump(byte);
        }
        Ok(None)
    }

    /// Reads one JSON value into `buf` (up to [`MAX_EVENT_BYTES`]); returns whether it fit.
    /// Strings are skipped whole so brackets inside them do not count.
    fn scan_value(&mut self, start_line: u64) -> Result<bool, Error> {
        self.buf.clear();
        let mut fits = true;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        let mut seen_any = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(bytes) => bytes,
                Err(err) => return Err(self.io_error(err)),
            };
            if available.is_empty() {
                if depth == 0 && !in_string && seen_any {
                    return Ok(fits);
                }
                return Err(self.syntax_error(start_line, "unexpected end of file inside a value"));
            }
            let mut used = 0;
            let mut finished = false;
            for &byte in available {
                // A scalar has no closing bracket: it ends at the first delimiter after it.
                let after_scalar = !in_string && depth == 0 && seen_any;
                if after_scalar
                    && (byte.is_ascii_whitespace()
                        || matches!(byte, b',' | b']' | b'}' | b'[' | b'{' | b'"'))
                {
                    finished = true;
                    break;
                }
                seen_any = true;
                used += 1;
                if byte == b'\n' {
                    self.line += 1;
                }
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if byte == b'\\' {
                        escaped = true;
                    } else if byte == b'"' {
                        in_string = false;
                    }
                } else {
                    match byte {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
                if fits {
                    if self.buf.len() >= MAX_EVENT_BYTES {
                        fits = false;
                        self.buf.clear();
                    } else {
                        self.buf.push(byte);
                    }
                }
                if !in_string && depth == 0 && matches!(byte, b'}' | b']') {
                    finished = true;
                    break;
                }
            }
            self.input.consume(used);
            if finished {
                return Ok(fits);
            }
        }
    }

    fn next_in_document(&mut self) -> Option<Result<Event, Error>> {
        loop {
            let next = match self.skip_whitespace() {
                Ok(next) => next,
                Err(err) => return Some(Err(self.io_error(err))),
            };
            match (self.state, next) {
                (DocumentState::Done, _) => return None,
                (DocumentState::Start, Some(0xEF)) => {
                    // A UTF-8 byte order mark: EF BB BF.
                    for _ in 0..3 {
                        if let Ok(Some(byte)) = self.peek() {
                            self.bump(byte);
                        }
                    }
                    // The document proper starts after it: it may still be an array.
                    self.state = DocumentState::AfterBom;
                    continue;
                }
                (DocumentState::Start | DocumentState::AfterBom, Some(b'[')) => {
                    self.bump(b'[');
                    self.state = DocumentState::ArrayFirst;
                    continue;
                }
                (DocumentState::Start | DocumentState::AfterBom, _) => {
                    self.state = DocumentState::TopLevel;
                    continue;
                }
                (DocumentState::TopLevel, None) => {
                    self.state = DocumentState::Done;
                    return None;
                }
                (DocumentState::ArrayFirst | DocumentState::ArrayNext, Some(b']')) => {
                    self.bump(b']');
                    self.state = DocumentState::TopLevel;
                    continue;
                }
                (DocumentState::ArrayNext, Some(b',')) => {
                    self.bump(b',');
                    self.state = DocumentState::ArrayFirst;
                    continue;
                }
                (DocumentState::ArrayNext, Some(other)) => {
                    let line = self.line;
                    return Some(Err(self.syntax_error(
                        line,
                        format!(
                            "expected ',' or ']' in the array, found {:?}",
                            other as char
                        ),
                    )));
                }
                (DocumentState::ArrayFirst | DocumentState::ArrayNext, None) => {
                    let line = self.line;
                    return Some(Err(
                        self.syntax_error(line, "unexpected end of file in the array")
                    ));
                }
                (DocumentState::TopLevel | DocumentState::ArrayFirst, Some(_)) => {
                    let line = self.line;
                    let in_array = self.state == DocumentState::ArrayFirst;
                    let fits = match self.scan_value(line) {
                        Ok(fits) => fits,
                        Err(err) => return Some(Err(err)),
                    };
                    if in_array {
                        self.state = DocumentState::ArrayNext;
                    }
                    if !fits {
                        return Some(Err(Error::TooLarge {
                            path: self.path.clone(),
                            line,
                            limit: MAX_EVENT_BYTES,
                        }));
                    }
                    return Some(self.decode(line));
                }
            }
        }
    }
}

/// JSON Lines only: for other layouts [`EventTexts::read_event_text`] gives `None`. A line's
/// record id is its line number. Streaming hands back the events the full decoder takes
/// (winlogbeat aliases, floats, invalid JSON...).
impl<R: BufRead> EventTexts for JsonReader<R> {
    fn read_event_text(&mut self) -> Option<Result<u64, Error>> {
        if self.layout != JsonLayout::Lines {
            return None;
        }
        self.read_line()
    }

    fn stream_event<S: FieldSink>(&mut self, sink: &mut S) -> bool {
        let Ok(text) = simdutf8::basic::from_utf8(&self.buf) else {
            return false;
        };
        // The names' per-event record is left as the last decoded event made it, so that
        // the next decoded one (a detection's, usually of the same kind) is predicted from
        // it. A list's objects, decoded here, may add to it: a prediction is checked before
        // it is used.
        crate::direct::stream_plain(text, sink, &mut self.names, &mut self.unescaped).is_ok()
    }

    fn decode_event(&mut self) -> Result<Event, Error> {
        self.decode(self.current_line)
    }
}

impl<R: BufRead> Iterator for JsonReader<R> {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.layout {
            JsonLayout::Lines => self.next_line(),
            JsonLayout::Document => self.next_in_document(),
        }
    }
}

fn strip_bom(buf: &mut Vec<u8>) {
    if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
        buf.drain(..3);
    }
}

enum LineRead {
    Line,
    TooLong,
    Eof,
}

/// Reads one line (without its `\n`) into `buf`, keeping at most `limit` bytes: a longer line
/// is consumed to its end and reported as [`LineRead::TooLong`], so memory stays bounded.
fn read_bounded_line(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<LineRead> {
    buf.clear();
    let mut too_long = false;
    let mut read_any = false;
    loop {
        let available = match input.fill_buf() {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if available.is_empty() {
            return Ok(match (read_any, too_long) {
                (false, _) => LineRead::Eof,
                (true, true) => LineRead::TooLong,
                (true, false) => LineRead::Line,
            });
        }
        read_any = true;
        let (chunk, used, end) = match memchr::memchr(b'\n', available) {
            Some(at) => (&available[..at], at + 1, true),
            None => (available, available.len(), false),
        };
        if !too_long {
            if buf.len() + chunk.len() > limit {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        input.consume(used);
        if end {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line
            });
        }
    }
}

/// Room made for the first event's fields; later events get the size of the one before.
pub(crate) const DEFAULT_FIELD_COUNT: usize = 32;

/// The most fields room is made for in advance (one huge event does not make every later
/// event's list huge).
pub(crate) const MAX_FIELD_COUNT_HINT: usize = 256;

/// Fields that carry an event's time, in the order they are tried.
const TIME_FIELDS: &[&str] = &[
    "@timestamp",
    "TimeCreated",
    "timestamp",
    "UtcTime",
    "EventTime",
];

/// The event's time from the first of [`TIME_FIELDS`] that parses as RFC 3339.
pub(crate) fn event_timestamp(fields: &Fields) -> Option<Timestamp> {
    TIME_FIELDS
        .iter()
        .find_map(|name| match fields.get_direct(name) {
            Some(Value::Str(text)) => Timestamp::parse_rfc3339(text),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, layout: JsonLayout) -> Vec<Result<Event, Error>> {
        JsonReader::new(text.as_bytes(), "t.json", layout).collect()
    }

    fn counts(items: &[Result<Event, Error>]) -> (usize, usize) {
        let ok = items.iter().filter(|i| i.is_ok()).count();
        (ok, items.len() - ok)
    }

    #[test]
    fn event_texts_stream_or_decode_with_their_line_numbers() {
        let text = "{\"a\":1,\"b\":[\"x\",[2]]}\n\n{\"f\":0.5}\n{\"winlog\":{\"channel\":\"S\"}}\n{\"a\":\n";
        let mut reader = JsonReader::new(text.as_bytes(), "t.jsonl", JsonLayout::Lines);
        let mut seen = Vec::new();
        while let Some(line) = reader.read_event_text() {
            let line = line.expect("lines read");
            let mut sink = nativeguard_event::FieldsBuilder::default();
            let streamed = reader.stream_event(&mut sink);
            let decoded = reader.decode_event();
            if streamed {
                let mut fed = nativeguard_event::FieldsBuilder::default();
                decoded
                    .as_ref()
                    .expect("streamed events decode")
                    .fields
                    .feed(&mut fed);
                assert_eq!(sink.finish(), fed.finish());
            }
            let record = decoded.map(|e| e.origin.record_id);
            seen.push((line, streamed, record.map_err(|e| e.to_string())));
        }
        assert_eq!(seen[0], (1, true, Ok(Some(1))));
        // A float and winlogbeat's aliases take the full decoder.
        assert_eq!(seen[1], (3, false, Ok(Some(3))));
        assert_eq!(seen[2], (4, false, Ok(Some(4))));
        assert_eq!(seen[3].0, 5);
        assert!(
            seen[3]
                .2
                .as_ref()
                .is_err_and(|e| e.starts_with("t.jsonl:5:")),
            "{seen:?}"
        );
        assert_eq!(seen.len(), 4);
        let array = JsonReader::new(&b"[{}]"[..], "t.json", JsonLayout::Document).read_event_text();
        assert!(array.is_none(), "only JSON Lines are read as texts");
    }

    #[test]
    fn lines_fail_alone_and_carry_line_numbers() {
        let items = read(
            "\u{feff}{\"a\":1}\n\n{\"a\":\n{\"a\":3,\"UtcTime\":\"2020-01-01 00:00:00.5\"}\r\n[1]\n",
            JsonLayout::Lines,
        );
        assert_eq!(counts(&items), (2, 2));
        assert_eq!(items[0].as_ref().unwrap().origin.record_id, Some(1));
        let third = items[2].as_ref().unwrap();
        assert_eq!(third.origin.record_id, Some(4));
        assert_eq!(
            third.timestamp.map(|t| t.to_string()).as_deref(),
            Some("2020-01-01T00:00:00.500000Z")
        );
        let err = items[1].as_ref().unwrap_err().to_string();
        assert!(err.starts_with("t.json:3:"), "{err}");
        let err = items[3].as_ref().unwrap_err().to_string();
        assert!(
            err.starts_with("t.json:5:") && err.contains("object"),
            "{err}"
        );
    }

    #[test]
    fn document_reads_one_object_an_array_or_a_sequence() {
        assert_eq!(
            counts(&read("{\"a\": {\"b\": \"}\"}}", JsonLayout::Document)),
            (1, 0)
        );
        let items = read(
            "[\n {\"a\":1},\n {\"a\":\"]\"} ,{\"b\":2}\n]\n",
            JsonLayout::Document,
        );
        assert_eq!(counts(&items), (3, 0));
        assert_eq!(items[1].as_ref().unwrap().origin.record_id, Some(3));
        let items = read("{\n \"a\": 1\n}\n{\n \"a\": 2\n}", JsonLayout::Document);
        assert_eq!(counts(&items), (2, 0));
        assert_eq!(items[1].as_ref().unwrap().origin.record_id, Some(4));
        assert_eq!(counts(&read("[]", JsonLayout::Document)), (0, 0));
        assert_eq!(counts(&read("", JsonLayout::Document)), (0, 0));
    }

    #[test]
    fn document_array_after_a_byte_order_mark_is_read_element_by_element() {
        // Windows tools (PowerShell's `Out-File -Encoding utf8`, Notepad) write a UTF-8 BOM
        // before the JSON array: its objects are events, as without the BOM.
        let items = read("\u{feff}[{\"a\":1},\n{\"a\":2}]\n", JsonLayout::Document);
        assert_eq!(counts(&items), (2, 0), "{items:?}");
        assert_eq!(items[1].as_ref().unwrap().origin.record_id, Some(2));
    }

    #[test]
    fn document_values_that_are_not_objects_fail_alone() {
        let items = read(
            "[{\"a\":1}, 7, \"x\", [1,2], {\"a\":\"b\" \"c\"}, {\"b\":2}]",
            JsonLayout::Document,
        );
        assert_eq!(counts(&items), (2, 4));
        assert!(items[5].is_ok());
    }

    #[test]
    fn broken_document_structure_ends_the_file_with_an_error() {
        let items = read("[{\"a\":1} {\"a\":2}]", JsonLayout::Document);
        assert_eq!(counts(&items), (1, 1));
        let items = read("[{\"a\":1}, {\"a\":\"unterminated}]", JsonLayout::Document);
        assert_eq!(counts(&items), (1, 1));
        let items = read("[{\"a\":1}", JsonLayout::Document);
        assert_eq!(counts(&items), (1, 1));
    }

    #[test]
    fn an_error_that_ends_the_document_does_not_claim_to_cost_one_record() {
        // `Scope::Record` means "one record was skipped; reading went on": here the three
        // objects after the missing comma are never read, and hunt's summary counts one
        // skipped record.
        let items = read(
            "[{\"a\":1} {\"a\":2}, {\"a\":3}, {\"a\":4}]",
            JsonLayout::Document,
        );
        assert_eq!(counts(&items), (1, 1));
        assert_ne!(
            items[1].as_ref().unwrap_err().scope(),
            crate::Scope::Record,
            "{items:?}"
        );
    }

    #[test]
    fn a_repeated_key_reads_as_serde_json_reads_it() {
        // serde_json (like jq, Python and Go) keeps the last of two equal keys; the event keeps
        // both, and lookups found the first, so a line a SIEM reads as whoami.exe was matched
        // by the rules as notepad.exe.
        let line = r#"{"EventID":1,"Image":"C:\\notepad.exe","Image":"C:\\whoami.exe"}"#;
        let serde: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
        let items = read(line, JsonLayout::Lines);
        let event = items[0].as_ref().expect("decodes");
        assert_eq!(event.get_str("Image"), serde["Image"].as_str());
    }

    #[test]
    fn event_size_limit_applies_to_lines_and_documents() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_EVENT_BYTES));
        let fits = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_EVENT_BYTES - 8));
        let text = format!("{big}\n{fits}\n{{\"b\":1}}\n");
        let items = read(&text, JsonLayout::Lines);
        assert_eq!(counts(&items), (2, 1));
        assert!(matches!(items[0], Err(Error::TooLarge { line: 1, .. })));
        let items = read(&format!("[{big},{fits},{{\"b\":1}}]"), JsonLayout::Document);
        assert_eq!(counts(&items), (2, 1));
        assert!(matches!(items[0], Err(Error::TooLarge { .. })));
    }

    #[test]
    fn nesting_limit_is_reported_with_its_line() {
        let deep = format!(
            "{{\"a\":{}1{}}}",
            "[".repeat(MAX_NESTING_DEPTH + 1),
            "]".repeat(MAX_NESTING_DEPTH + 1)
        );
        let items = read(&format!("{{\"a\":1}}\n{deep}\n"), JsonLayout::Lines);
        assert!(
            matches!(items[1], Err(Error::TooDeep { line: 2, .. })),
            "{:?}",
            items[1]
        );
    }

    #[test]
    fn events_share_their_field_names() {
        let items = read(
            "{\"EventID\":1,\"Image\":\"a\"}\n{\"Image\":\"b\",\"EventID\":2}\n",
            JsonLayout::Lines,
        );
        let (first, second) = (items[0].as_ref().unwrap(), items[1].as_ref().unwrap());
        for (name, _) in first.fields.iter_names() {
            let (same, _) = second
                .fields
                .iter_names()
                .find(|(other, _)| other == &name)
                .expect("both events have both names");
            assert!(std::ptr::eq(name.as_str(), same.as_str()), "{name} copied");
        }
        assert_eq!(second.get("EventID"), Some(&Value::Int(2)));
    }

    #[test]
    fn escaped_strings_of_one_event_do_not_leak_into_the_next() {
        // The escaped-string buffer is kept from line to line: each string starts it afresh.
        let items = read(
            concat!(
                r#"{"Image":"C:\\Windows\\System32\\cmd.exe","k\"ey":"a\tb"}"#,
                "\n",
                r#"{"Image":"C:\\x","k\"ey":"\u00e9","Plain":"p"}"#,
                "\n",
            ),
            JsonLayout::Lines,
        );
        let (first, second) = (items[0].as_ref().unwrap(), items[1].as_ref().unwrap());
        assert_eq!(
            first.get_str("Image"),
            Some("C:\\Windows\\System32\\cmd.exe")
        );
        assert_eq!(first.get_str("k\"ey"), Some("a\tb"));
        assert_eq!(second.get_str("Image"), Some("C:\\x"));
        assert_eq!(second.get_str("k\"ey"), Some("é"));
        assert_eq!(second.get_str("Plain"), Some("p"));
    }

    #[test]
    fn invalid_utf8_fails_its_line_alone() {
        let bytes = b"{\"a\":\"\xff\"}\n{\"a\":\"\xc3\xa9\"}\n{\"b\xff\":1}\n";
        let items: Vec<_> = JsonReader::new(&bytes[..], "t.jsonl", JsonLayout::Lines).collect();
        assert_eq!(counts(&items), (1, 2));
        assert!(
            matches!(&items[0], Err(Error::Json { line: 1, message, .. }) if message.contains("unicode")),
            "{:?}",
            items[0]
        );
        assert_eq!(items[1].as_ref().unwrap().get_str("a"), Some("\u{e9}"));
        assert!(matches!(items[2], Err(Error::Json { line: 3, .. })));
    }
}
