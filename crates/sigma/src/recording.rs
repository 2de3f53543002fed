//! A YAML stream's parser events, recorded once and replayed instead of parsing the text again.
//!
//! Scanning YAML is about half of what loading a ruleset costs (`yaml-rust2`; the Linux ruleset,
//! 35 KB, takes 0.5 ms of a 1.2 ms load on a warm core), and the rules embedded in the binary
//! never change: `nativeguard-rules` records them when it is built, and
//! [`crate::RuleSetBuilder::add_recorded`] replays the recording into the same document builder
//! the parser feeds. A recording names the text it was made from (length and FNV-1a hash); one
//! that does not match its text, or that does not decode, is ignored and the text is parsed.
//!
//! Format: the magic `NGYAML1\0`, the text's length and hash (u64, little-endian), then one
//! record per event: a tag byte, the event's line (LEB128), and per tag an anchor or alias id
//! (LEB128) and a string (LEB128 length, UTF-8 bytes); last, an end record.

use crate::yaml::{stream_error_message, Document, TreeBuilder};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

const MAGIC: &[u8; 8] = b"NGYAML1\0";

const DOCUMENT_START: u8 = 1;
const DOCUMENT_END: u8 = 2;
const SEQUENCE_START: u8 = 3;
const SEQUENCE_END: u8 = 4;
const MAPPING_START: u8 = 5;
const MAPPING_END: u8 = 6;
/// A plain (unquoted) scalar: its type is resolved from its text.
const PLAIN_SCALAR: u8 = 7;
/// A quoted or block scalar: always a string.
const OTHER_SCALAR: u8 = 8;
const ALIAS: u8 = 9;
/// The syntax error that ended the stream (its message, from the parser).
const STREAM_ERROR: u8 = 10;
/// The last record: a recording cut short is not taken for a shorter stream.
const END: u8 = 11;

/// Records `text`'s parser events for [`crate::RuleSetBuilder::add_recorded`].
pub fn record_yaml(text: &str) -> Vec<u8> {
    let mut recorder = Recorder {
        out: Vec::with_capacity(text.len() + 64),
    };
    recorder.out.extend_from_slice(MAGIC);
    recorder
        .out
        .extend_from_slice(&(text.len() as u64).to_le_bytes());
    recorder.out.extend_from_slice(&fnv1a(text).to_le_bytes());
    let result = Parser::new_from_str(text).load(&mut recorder, true);
    if let Err(err) = result {
        recorder.record(STREAM_ERROR, err.marker().line());
        recorder.string(err.info());
    }
    recorder.record(END, 0);
    recorder.out
}

struct Recorder {
    out: Vec<u8>,
}

impl Recorder {
    fn record(&mut self, tag: u8, line: usize) {
        self.out.push(tag);
        self.number(line);
    }

    fn number(&mut self, mut n: usize) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.out.push(byte);
                return;
            }
            self.out.push(byte | 0x80);
        }
    }

    fn string(&mut self, text: &str) {
        self.number(text.len());
        self.out.extend_from_slice(text.as_bytes());
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            // Events the document builder ignores are not recorded.
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart => self.record(DOCUMENT_START, line),
            Event::DocumentEnd => self.record(DOCUMENT_END, line),
            Event::SequenceStart(anchor, _) => {
                self.record(SEQUENCE_START, line);
                self.number(anchor);
            }
            Event::SequenceEnd => self.record(SEQUENCE_END, line),
            Event::MappingStart(anchor, _) => {
                self.record(MAPPING_START, line);
                self.number(anchor);
            }
            Event::MappingEnd => self.record(MAPPING_END, line),
            Event::Scalar(value, style, anchor, _) => {
                let tag = if style == TScalarStyle::Plain {
                    PLAIN_SCALAR
                } else {
                    OTHER_SCALAR
                };
                self.record(tag, line);
                self.number(anchor);
                self.string(&value);
            }
            Event::Alias(id) => {
                self.record(ALIAS, line);
                self.number(id);
            }
        }
    }
}

/// The documents of `text` from its recording; `None` when the recording is not `text`'s or
/// does not decode (the caller parses the text instead).
pub(crate) fn replay_documents(recording: &[u8], text: &str) -> Option<Vec<Document>> {
    let mut input = Input {
        bytes: recording,
        at: 0,
    };
    if input.take(MAGIC.len())? != MAGIC
        || input.u64()? != text.len() as u64
        || input.u64()? != fnv1a(text)
    {
        return None;
    }
    let mut builder = TreeBuilder::default();
    loop {
        let tag = input.byte()?;
        let line = input.number()?;
        let event = match tag {
            DOCUMENT_START => Event::DocumentStart,
            DOCUMENT_END => Event::DocumentEnd,
            SEQUENCE_START => Event::SequenceStart(input.number()?, None),
            SEQUENCE_END => Event::SequenceEnd,
            MAPPING_START => Event::MappingStart(input.number()?, None),
            MAPPING_END => Event::MappingEnd,
            PLAIN_SCALAR | OTHER_SCALAR => {
                let anchor = input.number()?;
                let style = if tag == PLAIN_SCALAR {
                    TScalarStyle::Plain
                } else {
                    TScalarStyle::SingleQuoted
                };
                Event::Scalar(input.string()?.to_string(), style, anchor, None)
            }
            ALIAS => Event::Alias(input.number()?),
            STREAM_ERROR => {
                let message = stream_error_message(input.string()?);
                builder.stream_failed(line, message);
                // The error ends the stream: only the end may follow it.
                if input.byte()? != END {
                    return None;
                }
                input.number()?;
                break;
            }
            END => break,
            _ => return None,
        };
        builder.event(event, line);
    }
    (input.at == recording.len()).then(|| builder.finish())
}

/// A recording being decoded: every read is bounds-checked.
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let taken = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(taken)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u64(&mut self) -> Option<u64> {
        let bytes: [u8; 8] = self.take(8)?.try_into().ok()?;
        Some(u64::from_le_bytes(bytes))
    }

    /// A LEB128 number that fits a `usize`.
    fn number(&mut self) -> Option<usize> {
        let mut n: usize = 0;
        for shift in (0..usize::BITS).step_by(7) {
            let byte = self.byte()?;
            let bits = usize::from(byte & 0x7f);
            if bits.checked_shl(shift)? >> shift != bits {
                return None;
            }
            n |= bits << shift;
            if byte & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn string(&mut self) -> Option<&'a str> {
        let len = self.number()?;
        std::str::from_utf8(self.take(len)?).ok()
    }
}

/// FNV-1a, 64 bits: names the text a recording was made from (not a defence against forgery:
/// the recordings are built into the binary with their texts).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_documents;

    /// YAML with what the document builder handles: several documents, anchors and aliases,
    /// quoted, block and plain scalars of every resolved type, flow collections, and comments.
    const STREAMS: &[&str] = &[
        "title: t\nid: 1\nlevel: high\ndetection:\n  sel:\n    Image|endswith:\n      - '\\\\cmd.exe'\n      - \"a\\tb\"\n    Count: 12\n    F: 1.5\n    N: ~\n    B: true\n    Y: yes\n  condition: sel\n",
        "action: global\nlogsource: {product: windows}\n---\ntitle: a\n---\ntitle: b\n...\n",
        "base: &b {x: [1, 2, 3]}\nuse: *b\nagain: [*b, *b]\ntext: |\n  line one\n  line two\nfolded: >\n  a\n  b\n",
        "# only a comment\n",
        "",
        "a: 1\n---\nb: [\n",
        "a: *missing\n",
        "key: 'İ ® é'\n",
    ];

    #[test]
    fn a_replay_builds_what_parsing_builds() {
        for text in STREAMS {
            let recording = record_yaml(text);
            assert_eq!(
                replay_documents(&recording, text),
                Some(parse_documents(text)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_recording_of_another_text_or_damaged_is_not_used() {
        let text = STREAMS[0];
        let recording = record_yaml(text);
        assert_eq!(replay_documents(&recording, STREAMS[1]), None);
        assert_eq!(replay_documents(&recording, &text.replace('t', "T")), None);
        for cut in [0, 8, 24, recording.len() - 1] {
            assert_eq!(
                replay_documents(&recording[..cut], text),
                None,
                "cut at {cut}"
            );
        }
        let mut unknown_tag = recording.clone();
        unknown_tag[24] = 0xff;
        assert_eq!(replay_documents(&unknown_tag, text), None);
        let mut trailing = record_yaml("a: [\n");
        trailing.push(DOCUMENT_END);
        trailing.push(1);
        assert_eq!(replay_documents(&trailing, "a: [\n"), None);
    }

    #[test]
    fn numbers_that_overflow_do_not_decode() {
        let mut input = Input {
            bytes: &[0xff; 11],
            at: 0,
        };
        assert_eq!(input.number(), None);
        let mut input = Input {
            bytes: &[0x80, 0x01],
            at: 0,
        };
        assert_eq!(input.number(), Some(128));
    }
}
