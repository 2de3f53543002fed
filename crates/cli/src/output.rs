//! Detection and event rendering shared by `hunt`, `monitor` and `trace`: one wire shape, four
//! formats. Nothing here decides *what* to print, only how.
//!
//! ## JSON Lines (`--format jsonl`, the default when stdout is not a terminal)
//! One object per line. A detection:
//! ```text
//! {"rule": {"id", "title", "level", "status", "author", "tags": [...], "path"},
//!  "timestamp": "2019-03-19T23:30:12.345678Z" | null,
//!  "source": {"path": "...", "record_id": 42},
//!  "event": {...the matched event's fields...},
//!  "correlation": {"group": {"field": "value"}, "value", "first", "last", "rules": [...]}}
//! ```
//! `correlation` is present only when a correlation rule fired (its `event` is the event that
//! made it fire). `status` and `author` are `null` when the rule has none; `author` is always
//! there because the Detection Rule License 1.1 requires every alert to carry it. With
//! `--events` (monitor/trace), every event is also written as
//! `{"event": {...}, "timestamp": ..., "source": {...}}`: consumers tell alerts from events by
//! the presence of `rule`.
//!
//! ## JSON (`--format json`)
//! The same objects as one JSON array, written as they come (memory stays flat).
//!
//! ## CSV (`--format csv`)
//! RFC 4180, one header row: `timestamp,level,rule_id,rule_title,status,author,tags,
//! source_path,record_id,correlation,event`; `tags` joined by `;`, `correlation` and `event`
//! as compact JSON. Events (`--events`) have `level` = `event` and empty rule cells.
//!
//! ## Table (`--format table`, the default on a terminal)
//! One header, then per detection a row (time, level, title, source, author, untruncated) and
//! an indented line with the event fields that say the most (see [`SUMMARY_FIELDS`]).

use nativeguard_event::{Event, Timestamp};
use nativeguard_sigma::{CorrelationHit, Detection, RuleInfo};
use serde::ser::SerializeMap;
use serde::Serialize;
use std::io::{self, IsTerminal, Write};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned rows for people.
    Table,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
}

impl Format {
    /// `table` when stdout is a terminal, `jsonl` otherwise (pipes, files).
    pub fn for_stdout() -> Format {
        if io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Jsonl
        }
    }
}

/// Writes detections (and, on request, events) in one format.
pub struct Printer<W: Write> {
    format: Format,
    out: W,
    /// Items written so far (for the JSON array's commas and the table/CSV header).
    written: u64,
}

impl<W: Write> Printer<W> {
    /// A printer writing `format` to `out`.
    pub fn new(format: Format, out: W) -> Self {
        Printer {
            format,
            out,
            written: 0,
        }
    }

    /// Writes one detection of `event`.
    pub fn detection(&mut self, detection: &Detection, event: &Event) -> io::Result<()> {
        let wire = Wire {
            rule: Some(WireRule(&detection.rule)),
            timestamp: event.timestamp.map(Rfc3339),
            source: WireSource(event),
            event,
            correlation: detection.correlation.as_ref().map(WireCorrelation),
        };
        self.item(&wire)
    }

    /// Writes one event that matched nothing in particular (`--events`).
    pub fn event(&mut self, event: &Event) -> io::Result<()> {
        let wire = Wire {
            rule: None,
            timestamp: event.timestamp.map(Rfc3339),
            source: WireSource(event),
            event,
            correlation: None,
        };
        self.item(&wire)
    }

    fn item(&mut self, wire: &Wire<'_>) -> io::Result<()> {
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut self.out, wire)?;
                self.out.write_all(b"\n")?;
            }
            Format::Json => {
                self.out
                    .write_all(if self.written == 0 { b"[\n" } else { b",\n" })?;
                serde_json::to_writer(&mut self.out, wire)?;
            }
            Format::Csv => {
                if self.written == 0 {
                    self.out.write_all(CSV_HEADER.as_bytes())?;
                }
                write_csv_row(&mut self.out, wire)?;
            }
            Format::Table => {
                if self.written == 0 {
                    writeln!(
                        self.out,
                        "{:<27} {:<13} {:<60} {:<40} AUTHOR",
                        "TIME", "LEVEL", "RULE", "SOURCE"
                    )?;
                }
                write_table_row(&mut self.out, wire)?;
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Flushes the items written so far (monitor and trace call this after each batch).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Closes the output (the JSON array's `]`) and flushes; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.format == Format::Json {
            self.out
                .write_all(if self.written == 0 { b"[]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One output item: a detection when `rule` is set, else a bare event.
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<WireRule<'a>>,
    timestamp: Option<Rfc3339>,
    source: WireSource<'a>,
    event: &'a Event,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation: Option<WireCorrelation<'a>>,
}

struct WireRule<'a>(&'a RuleInfo);

impl Serialize for WireRule<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rule = self.0;
        let mut map = s.serialize_map(Some(7))?;
        map.serialize_entry("id", &rule.id)?;
        map.serialize_entry("title", &rule.title)?;
        map.serialize_entry("level", rule.level.as_str())?;
        map.serialize_entry("status", &rule.status)?;
        map.serialize_entry("author", &rule.author)?;
        map.serialize_entry("tags", &rule.tags)?;
        map.serialize_entry("path", &rule.path)?;
        map.end()
    }
}

struct WireSource<'a>(&'a Event);

impl Serialize for WireSource<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let origin = &self.0.origin;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("path", &origin.source.as_deref())?;
        map.serialize_entry("record_id", &origin.record_id)?;
        map.end()
    }
}

struct WireCorrelation<'a>(&'a CorrelationHit);

impl Serialize for WireCorrelation<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hit = self.0;
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("group", &Group(&hit.group))?;
        map.serialize_entry("value", &hit.value)?;
        map.serialize_entry("first", &hit.first.map(Rfc3339))?;
        map.serialize_entry("last", &hit.last.map(Rfc3339))?;
        map.serialize_entry("rules", &hit.rules)?;
        map.end()
    }
}

struct Group<'a>(&'a [(String, String)]);

impl Serialize for Group<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (field, value) in self.0 {
            map.serialize_entry(field, value)?;
        }
        map.end()
    }
}

/// A timestamp written as RFC 3339 text.
#[derive(Clone, Copy)]
struct Rfc3339(Timestamp);

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

const CSV_HEADER: &str = "timestamp,level,rule_id,rule_title,status,author,tags,source_path,record_id,correlation,event\n";

fn write_csv_row(out: &mut impl Write, wire: &Wire<'_>) -> io::Result<()> {
    let rule = wire.rule.as_ref().map(|r| r.0);
    let timestamp = wire.timestamp.map(|t| t.0.to_string()).unwrap_or_default();
    let level = rule.map_or("event", |r| r.level.as_str());
    let tags = rule.map(|r| r.tags.join(";")).unwrap_or_default();
    let origin = &wire.event.origin;
    let record = origin.record_id.map(|r| r.to_string()).unwrap_or_default();
    let correlation = match &wire.correlation {
        Some(hit) => serde_json::to_string(hit)?,
        None => String::new(),
    };
    let event = serde_json::to_string(wire.event)?;
    let cells: [&str; 11] = [
        &timestamp,
        level,
        rule.map_or("", |r| &r.id),
        rule.map_or("", |r| &r.title),
        rule.and_then(|r| r.status.as_deref()).unwrap_or(""),
        rule.and_then(|r| r.author.as_deref()).unwrap_or(""),
        &tags,
        origin.source.as_deref().unwrap_or(""),
        &record,
        &correlation,
        &event,
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write_csv_cell(out, cell)?;
    }
    out.write_all(b"\n")
}

/// One CSV cell, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn write_csv_cell(out: &mut impl Write, cell: &str) -> io::Result<()> {
    if !cell.contains([',', '"', '\n', '\r']) {
        return out.write_all(cell.as_bytes());
    }
    out.write_all(b"\"")?;
    out.write_all(cell.replace('"', "\"\"").as_bytes())?;
    out.write_all(b"\"")
}

/// Event fields shown on a table row's second line, in this order, when the event has them.
pub const SUMMARY_FIELDS: &[&str] = &[
    "EventID",
    "Computer",
    "Image",
    "NewProcessName",
    "CommandLine",
    "ParentImage",
    "ParentProcessName",
    "TargetImage",
    "SourceImage",
    "GrantedAccess",
    "CallTrace",
    "ImageLoaded",
    "TargetFilename",
    "TargetObject",
    "PipeName",
    "ScriptBlockText",
    "QueryName",
    "DestinationIp",
    "ServiceName",
    "SubjectUserName",
    "TargetUserName",
    // Linux (sensor / tracer) events.
    "type",
    "exe",
    "comm",
    "syscall",
    "pid",
];

/// The most characters of one field value shown in a table.
const TABLE_VALUE_CHARS: usize = 120;

fn write_table_row(out: &mut impl Write, wire: &Wire<'_>) -> io::Result<()> {
    let rule = wire.rule.as_ref().map(|r| r.0);
    let time = wire
        .timestamp
        .map(|t| t.0.to_string())
        .unwrap_or_else(|| "-".into());
    let level = rule.map_or("event", |r| r.level.as_str());
    let title = rule.map_or("-", |r| &r.title);
    let origin = &wire.event.origin;
    let source = match (origin.source.as_deref(), origin.record_id) {
        (Some(path), Some(record)) => format!("{}:{record}", short_path(path)),
        (Some(path), None) => short_path(path).to_string(),
        (None, Some(record)) => format!("#{record}"),
        (None, None) => "-".into(),
    };
    let author = printable(rule.and_then(|r| r.author.as_deref()).unwrap_or("-"));
    let (title, source) = (printable(title), printable(&source));
    let marker = if wire.correlation.is_some() {
        " [correlation]"
    } else {
        ""
    };
    writeln!(
        out,
        "{time:<27} {level:<13} {:<60} {source:<40} {author}",
        format!("{}{marker}", truncate(&title, 60 - marker.len()))
    )?;
    let mut line = String::new();
    for name in SUMMARY_FIELDS {
        if let Some(text) = wire.event.get(name).and_then(|v| v.to_text()) {
            if !line.is_empty() {
                line.push_str("  ");
            }
            line.push_str(name);
            line.push('=');
            line.push_str(&truncate(&printable(&text), TABLE_VALUE_CHARS));
        }
    }
    if let Some(hit) = &wire.correlation {
        for (field, value) in &hit.0.group {
            line.push_str(&format!("  {}={}", printable(field), printable(value)));
        }
        line.push_str(&format!("  value={}", hit.0.value));
    }
    if !line.is_empty() {
        writeln!(out, "    {line}")?;
    }
    Ok(())
}

/// The last 40 characters of a path, so rows stay aligned.
fn short_path(path: &str) -> &str {
    let chars = path.chars().count();
    if chars <= 34 {
        return path;
    }
    let skip = chars - 34;
    let start = path.char_indices().nth(skip).map_or(0, |(i, _)| i);
    &path[start..]
}

/// `text` safe for a terminal: line breaks and tabs become spaces, every other control
/// character (ESC, BEL, C1 such as CSI) is written as an escape (`\x1b`). Event fields hold
/// whatever the logged process wrote, and must not drive the analyst's terminal.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use nativeguard_event::{Origin, Value};
    use nativeguard_sigma::{Pipeline, RuleSetBuilder};
    use std::sync::Arc;

    fn rule() -> Arc<RuleInfo> {
        let mut builder = RuleSetBuilder::new(Pipeline::none());
        let errors = builder.add_file(
            "windows/seed/x.yml",
            "title: Suspicious Mshta.EXE Execution Patterns
id: e32f92d1-523e-49c3-9374-bdb13b46a3ba
status: test
author: Nasreddine Bencherchali (Nextron Systems)
tags: [attack.execution, attack.t1106]
logsource: {product: windows, category: process_creation}
detection:
    selection: {Image|endswith: '\\mshta.exe'}
    condition: selection
level: high
",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let (rules, errors) = builder.build();
        assert!(errors.is_empty(), "{errors:?}");
        Arc::clone(&rules.rules()[0])
    }

    fn event() -> Event {
        let mut event = Event::new();
        event.insert("EventID", Value::Int(1));
        event.insert("CommandLine", "mshta \"a,b\"\nx");
        event.timestamp = Timestamp::parse_rfc3339("2019-03-19T23:30:12.345678Z");
        event.origin = Origin {
            source: Some("logs/a.evtx".into()),
            record_id: Some(42),
        };
        event
    }

    fn render(format: Format, items: &[Option<Detection>]) -> String {
        let mut printer = Printer::new(format, Vec::new());
        let event = event();
        for item in items {
            match item {
                Some(d) => printer.detection(d, &event).expect("writes"),
                None => printer.event(&event).expect("writes"),
            }
        }
        String::from_utf8(printer.finish().expect("finishes")).expect("utf-8")
    }

    fn detection() -> Detection {
        Detection {
            rule: rule(),
            correlation: None,
        }
    }

    /// The JSONL wire shape of contracts §3, byte for byte. Updating it is intentional, never
    /// automatic: monitor, trace, validate and users' tooling parse it.
    #[test]
    fn jsonl_wire_shape_golden() {
        let text = render(Format::Jsonl, &[Some(detection()), None]);
        let expected = concat!(
            r#"{"rule":{"id":"e32f92d1-523e-49c3-9374-bdb13b46a3ba","title":"Suspicious Mshta.EXE Execution Patterns","level":"high","status":"test","author":"Nasreddine Bencherchali (Nextron Systems)","tags":["attack.execution","attack.t1106"],"path":"windows/seed/x.yml"},"timestamp":"2019-03-19T23:30:12.345678Z","source":{"path":"logs/a.evtx","record_id":42},"event":{"EventID":1,"CommandLine":"mshta \"a,b\"\nx"}}"#,
            "\n",
            r#"{"timestamp":"2019-03-19T23:30:12.345678Z","source":{"path":"logs/a.evtx","record_id":42},"event":{"EventID":1,"CommandLine":"mshta \"a,b\"\nx"}}"#,
            "\n"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn correlation_hits_carry_their_group_and_window() {
        let mut d = detection();
        d.correlation = Some(CorrelationHit {
            group: vec![("Computer".into(), "pc1".into())],
            value: 3.0,
            first: Timestamp::parse_rfc3339("2019-03-19T23:30:00Z"),
            last: Timestamp::parse_rfc3339("2019-03-19T23:30:12.345678Z"),
            rules: vec!["a".into(), "b".into()],
        });
        let line = render(Format::Jsonl, &[Some(d)]);
        let value: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(value["correlation"]["group"]["Computer"], "pc1");
        assert_eq!(value["correlation"]["value"], 3.0);
        assert_eq!(value["correlation"]["first"], "2019-03-19T23:30:00.000000Z");
        assert_eq!(value["correlation"]["rules"][1], "b");
    }

    #[test]
    fn json_is_one_array_even_when_empty() {
        assert_eq!(render(Format::Json, &[]), "[]\n");
        let text = render(Format::Json, &[Some(detection()), Some(detection())]);
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value.as_array().map(Vec::len), Some(2));
        assert_eq!(
            value[1]["rule"]["author"],
            "Nasreddine Bencherchali (Nextron Systems)"
        );
    }

    #[test]
    fn csv_quotes_cells_and_has_one_header() {
        let text = render(Format::Csv, &[Some(detection()), None]);
        let mut lines = text.split_terminator('\n');
        assert_eq!(lines.next(), Some(CSV_HEADER.trim_end()));
        let row = lines.next().expect("a row");
        assert!(row.starts_with(
            "2019-03-19T23:30:12.345678Z,high,e32f92d1-523e-49c3-9374-bdb13b46a3ba,Suspicious Mshta.EXE Execution Patterns,test,Nasreddine Bencherchali (Nextron Systems),attack.execution;attack.t1106,logs/a.evtx,42,,\"{\"\"EventID\"\":1,"
        ), "{row}");
        // The event's embedded newline stays inside the quoted cell.
        assert!(
            text.contains("\\nx\"\"}\"\n2019-03-19T23:30:12.345678Z,event,,,,,,logs/a.evtx,42,,")
        );
    }

    #[test]
    fn table_rows_carry_the_author_untruncated() {
        let text = render(Format::Table, &[Some(detection())]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TIME"));
        assert!(lines[1].ends_with("Nasreddine Bencherchali (Nextron Systems)"));
        assert!(lines[1].contains("logs/a.evtx:42"));
        assert_eq!(lines[2], "    EventID=1  CommandLine=mshta \"a,b\" x");
    }

    #[test]
    fn table_rows_do_not_pass_terminal_escapes_from_event_data() {
        // The table is what a terminal gets; an event's fields are whatever the logged
        // process wrote (a command line can hold ESC): they must not drive the terminal
        // (clear the screen, retitle the window, hide the rest of the row).
        let mut event = event();
        event.insert("Image", "C:\\x.exe\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m");
        let mut printer = Printer::new(Format::Table, Vec::new());
        printer.detection(&detection(), &event).expect("writes");
        let text = String::from_utf8(printer.finish().expect("finishes")).expect("utf-8");
        assert!(!text.contains(['\u{1b}', '\u{7}', '\u{9b}']), "{text:?}");
    }

    #[test]
    fn long_values_are_cut_on_character_boundaries() {
        assert_eq!(truncate("ééééé", 3), "éé…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(short_path(&"é".repeat(50)).chars().count(), 34);
    }
}
