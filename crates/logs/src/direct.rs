//! JSON text -> event fields directly, for the events most JSON logs hold: one object of
//! strings, integers, booleans, nulls, arrays and objects, in any shape but the EVTX
//! rendering's.
//!
//! serde_json calls a visitor per value and scans each string for escapes a few bytes at a
//! time; Windows paths escape a backslash every few characters. This parser builds the
//! [`Value`]s itself and finds the end of each string with `memchr`, which roughly halves the
//! cost of reading JSON Lines. It takes on only what it can give exactly as the serde path in
//! [`crate::decode`] would: anything else (an EVTX `Event` object, a float, a number that does
//! not fit 64 bits, nesting deeper than [`MAX_NESTING_DEPTH`], any syntax error) it hands
//! back, and the serde path decodes the text again. So the shapes recognised, the number
//! rules and every error message stay the serde path's.

use crate::decode::{DATA_LEVELS, SYSTEM_NUMBERS};
use crate::names::Names;
use crate::MAX_NESTING_DEPTH;
use nativeguard_event::{Discard, FieldSink, Fields, FieldsBuilder, Scalar, Value};

/// The text is left to the serde path.
#[derive(Debug, PartialEq)]
pub(crate) struct Unhandled;

/// Parses the object `text` into `out` (empty), its names taken from `names`. `unescaped` is
/// scratch space for strings that hold escapes, kept by the caller from event to event (almost
/// every Windows event escapes a path). Returns where a top-level `winlog` object is among the
/// fields, for the winlogbeat aliases.
pub(crate) fn decode_plain(
    text: &str,
    out: &mut Fields,
    names: &mut Names,
    unescaped: &mut String,
) -> Result<Option<usize>, Unhandled> {
    let mut winlog_at = None;
    Parser::new(text, names, unescaped).object_text(|parser, key| {
        if key == "Event" {
            // The EVTX rendering: flattened by the serde path's visitors.
            return Err(Unhandled);
        }
        let name = parser.names.get(key);
        let value = parser.value(1)?;
        if key == "winlog" && matches!(value, Value::Object(_)) {
            winlog_at = Some(out.len());
        }
        out.insert(name, value);
        Ok(())
    })?;
    Ok(winlog_at)
}

/// Hands the fields of the object `text` to `sink` as the serde path would decode them, without
/// building them: the texts [`decode_plain`] takes on, and the EVTX rendering, flattened as
/// the serde path's visitors flatten it. An event with a top-level `winlog` field is handed
/// back (the serde path's code adds its aliases to the decoded fields), and so is anything
/// [`decode_plain`] hands back. On `Err` the sink has seen part of the event.
pub(crate) fn stream_plain(
    text: &str,
    sink: &mut impl FieldSink,
    names: &mut Names,
    unescaped: &mut String,
) -> Result<(), Unhandled> {
    Parser::new(text, names, unescaped).object_text(|parser, key| match key {
        "winlog" => Err(Unhandled),
        "Event" => parser.stream_evtx_event(sink),
        _ => parser.stream_value(1, key, sink),
    })
}

struct Parser<'a, 'n> {
    text: &'a str,
    bytes: &'a [u8],
    /// The next byte to read.
    at: usize,
    names: &'n mut Names,
    /// The text of the last string that held escapes.
    unescaped: &'n mut String,
}

/// An integer as [`Value::Int`] or [`Value::UInt`] hold it: a plain number, so that streaming
/// one does not build (and drop) a value.
#[derive(Clone, Copy)]
enum Integer {
    Signed(i64),
    Unsigned(u64),
}

impl Integer {
    fn scalar(self) -> Scalar<'static> {
        match self {
            Integer::Signed(int) => Scalar::Int(int),
            Integer::Unsigned(uint) => Scalar::UInt(uint),
        }
    }

    fn value(self) -> Value {
        match self {
            Integer::Signed(int) => Value::Int(int),
            Integer::Unsigned(uint) => Value::UInt(uint),
        }
    }
}

/// A string's text: borrowed from the input, or (when it held escapes) in
/// [`Parser::unescaped`].
enum Text<'a> {
    Borrowed(&'a str),
    Unescaped,
}

impl<'a, 'n> Parser<'a, 'n> {
    fn new(text: &'a str, names: &'n mut Names, unescaped: &'n mut String) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            at: 0,
            names,
            unescaped,
        }
    }

    /// The whole text as one object (whitespace around it allowed), its members read by
    /// `member(parser, key)`.
    fn object_text(
        &mut self,
        member: impl FnMut(&mut Self, &str) -> Result<(), Unhandled>,
    ) -> Result<(), Unhandled> {
        self.skip_whitespace();
        self.expect(b'{')?;
        self.members(member)?;
        self.skip_whitespace();
        if self.at != self.bytes.len() {
            return Err(Unhandled);
        }
        Ok(())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Whitespace at the cursor is rare in logs: one comparison rules it out (every JSON
    /// whitespace byte is at most a space).
    #[inline(always)]
    fn skip_whitespace(&mut self) {
        if self.peek().is_some_and(|b| b <= b' ') {
            self.skip_whitespace_run();
        }
    }

    fn skip_whitespace_run(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), Unhandled> {
        if self.peek() != Some(byte) {
            return Err(Unhandled);
        }
        self.at += 1;
        Ok(())
    }

    /// The members of an object whose `{` was just read, through `member(parser, key)`, which
    /// reads the value; then the closing `}`.
    fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, &str) -> Result<(), Unhandled>,
    ) -> Result<(), Unhandled> {
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_whitespace();
            // An escaped key's text is taken out of `unescaped` for the call: the value may
            // hold escaped strings too.
            let mut owned_key = String::new();
            let key = match self.string()? {
                Text::Borrowed(text) => text,
                Text::Unescaped => {
                    std::mem::swap(&mut owned_key, self.unescaped);
                    owned_key.as_str()
                }
            };
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            member(self, key)?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(Unhandled),
            }
        }
    }

    /// The value at the cursor. `depth` counts as the serde path's does: 1 for a top-level
    /// member's value; an object or array is allowed below [`MAX_NESTING_DEPTH`]. Inlined
    /// into its callers for the strings and integers most values are; objects and arrays,
    /// which recurse, are a call.
    #[inline(always)]
    fn value(&mut self, depth: usize) -> Result<Value, Unhandled> {
        match self.peek() {
            Some(b'"') => Ok(Value::Str(match self.string()? {
                Text::Borrowed(text) => text.into(),
                Text::Unescaped => self.unescaped.as_str().into(),
            })),
            Some(b'{' | b'[') => self.nested_value(depth),
            Some(b't') => self.literal(b"true").map(|()| Value::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|()| Value::Bool(false)),
            Some(b'n') => self.literal(b"null").map(|()| Value::Null),
            Some(b'-' | b'0'..=b'9') => self.integer().map(Integer::value),
            _ => Err(Unhandled),
        }
    }

    /// The object or array at the cursor, for [`Parser::value`].
    fn nested_value(&mut self, depth: usize) -> Result<Value, Unhandled> {
        if depth >= MAX_NESTING_DEPTH {
            return Err(Unhandled);
        }
        let open = self.peek();
        self.at += 1;
        if open == Some(b'[') {
            return self.items(depth + 1).map(Value::List);
        }
        let mut fields = Fields::new();
        self.members(|parser, key| {
            let name = parser.names.get(key);
            let value = parser.value(depth + 1)?;
            fields.insert(name, value);
            Ok(())
        })?;
        Ok(Value::Object(fields))
    }

    /// The integer at the cursor, handed to `sink` as the field `name` with its text.
    #[inline(always)]
    fn stream_integer(&mut self, name: &str, sink: &mut impl FieldSink) -> Result<(), Unhandled> {
        let start = self.at;
        let scalar = self.integer()?.scalar();
        // `integer` takes only the canonical form (no leading zero, no `-0`): the text is the
        // number's rendering.
        let text = self.text.get(start..self.at).ok_or(Unhandled)?;
        sink.integer(name, scalar, text);
        Ok(())
    }

    /// [`Parser::value`], handed to `sink` as the field `name` (inlined the same way).
    #[inline(always)]
    fn stream_value(
        &mut self,
        depth: usize,
        name: &str,
        sink: &mut impl FieldSink,
    ) -> Result<(), Unhandled> {
        match self.peek() {
            Some(b'"') => {
                let text = match self.string()? {
                    Text::Borrowed(text) => text,
                    Text::Unescaped => self.unescaped.as_str(),
                };
                sink.scalar(name, Scalar::Str(text));
                Ok(())
            }
            Some(b'{' | b'[') => self.stream_nested(depth, name, sink),
            Some(b'-' | b'0'..=b'9') => self.stream_integer(name, sink),
            _ => self.scalar(|scalar| sink.scalar(name, scalar)),
        }
    }

    /// The object or array at the cursor, for [`Parser::stream_value`].
    fn stream_nested(
        &mut self,
        depth: usize,
        name: &str,
        sink: &mut impl FieldSink,
    ) -> Result<(), Unhandled> {
        if depth >= MAX_NESTING_DEPTH {
            return Err(Unhandled);
        }
        let open = self.peek();
        self.at += 1;
        if open == Some(b'[') {
            sink.begin_list(name);
            self.stream_items(depth + 1, sink)?;
            sink.end_list();
        } else {
            sink.begin_object(name);
            self.members(|parser, key| parser.stream_value(depth + 1, key, sink))?;
            sink.end_object();
        }
        Ok(())
    }

    /// [`Parser::items`], handed to `sink` as list items: a nested list's items as its own, an
    /// object's values as [`FieldSink::list_object_value`]s (as [`Fields::feed`] does).
    fn stream_items(&mut self, depth: usize, sink: &mut impl FieldSink) -> Result<(), Unhandled> {
        self.each_item(|parser| match parser.peek() {
            // Rare in logs: built, then fed, rather than streamed.
            Some(b'{') => parser.value(depth).map(|object| {
                if let Value::Object(fields) = object {
                    fields.feed_as_list_object(sink);
                }
            }),
            Some(b'[') => {
                if depth >= MAX_NESTING_DEPTH {
                    return Err(Unhandled);
                }
                parser.at += 1;
                parser.stream_items(depth + 1, sink)
            }
            _ => parser.scalar(|scalar| sink.list_item(scalar)),
        })
    }

    /// A string, literal or integer at the cursor, handed to `emit`.
    fn scalar(&mut self, emit: impl FnOnce(Scalar<'_>)) -> Result<(), Unhandled> {
        match self.peek() {
            Some(b'"') => {
                let text = match self.string()? {
                    Text::Borrowed(text) => text,
                    Text::Unescaped => self.unescaped.as_str(),
                };
                emit(Scalar::Str(text));
            }
            Some(b't') => {
                self.literal(b"true")?;
                emit(Scalar::Bool(true));
            }
            Some(b'f') => {
                self.literal(b"false")?;
                emit(Scalar::Bool(false));
            }
            Some(b'n') => {
                self.literal(b"null")?;
                emit(Scalar::Null);
            }
            Some(b'-' | b'0'..=b'9') => {
                emit(self.integer()?.scalar());
            }
            _ => return Err(Unhandled),
        }
        Ok(())
    }

    /// The value of the EVTX rendering's `Event`, handed to `sink` flattened as
    /// `decode::EvtxEventSeed` flattens it: `System` and `EventData`/`UserData` into top-level
    /// names, `#attributes` dropped, anything else under its own name; a value that is not an
    /// object is the field `Event`.
    fn stream_evtx_event(&mut self, sink: &mut impl FieldSink) -> Result<(), Unhandled> {
        if self.peek() != Some(b'{') {
            return self.stream_value(1, "Event", sink);
        }
        self.at += 1;
        self.members(|parser, key| match key {
            "System" => parser.stream_system(sink),
            "EventData" | "UserData" => parser.stream_data(key, DATA_LEVELS, sink),
            "#attributes" => parser.skip_value(),
            _ => parser.stream_value(1, key, sink),
        })
    }

    /// Reads past the value at the cursor, taking on and handing back what
    /// [`Parser::value`] does, without building it.
    fn skip_value(&mut self) -> Result<(), Unhandled> {
        self.stream_value(1, "", &mut Discard)
    }

    /// `System`, as `decode::SystemSeed` flattens it.
    fn stream_system(&mut self, sink: &mut impl FieldSink) -> Result<(), Unhandled> {
        if self.peek() != Some(b'{') {
            return self.stream_value(1, "System", sink);
        }
        self.at += 1;
        let mut joined = String::new();
        self.members(|parser, element| {
            if parser.peek() != Some(b'{') {
                return parser.stream_system_value(element, sink);
            }
            parser.at += 1;
            parser.members(|parser, child| match child {
                "#attributes" => parser.stream_attributes(element, sink),
                "#text" => parser.stream_system_value(element, sink),
                _ => {
                    join(&mut joined, element, child);
                    parser.stream_value(1, &joined, sink)
                }
            })
        })
    }

    /// The `#attributes` of the `System` element `element`: `<element>_<attribute>`, except
    /// `TimeCreated`'s `SystemTime`, which is `TimeCreated` (as `decode::AttributesSeed`).
    fn stream_attributes(
        &mut self,
        element: &str,
        sink: &mut impl FieldSink,
    ) -> Result<(), Unhandled> {
        let mut name = String::new();
        if self.peek() != Some(b'{') {
            join(&mut name, element, "attributes");
            return self.stream_value(1, &name, sink);
        }
        self.at += 1;
        self.members(|parser, attribute| {
            if (element, attribute) == ("TimeCreated", "SystemTime") {
                name.clear();
                name.push_str("TimeCreated");
            } else {
                join(&mut name, element, attribute);
            }
            parser.stream_system_value(&name, sink)
        })
    }

    /// A `System` value under `name`: text that is a number becomes one for the names in
    /// `decode::SYSTEM_NUMBERS`, as `decode::system_number` does.
    fn stream_system_value(
        &mut self,
        name: &str,
        sink: &mut impl FieldSink,
    ) -> Result<(), Unhandled> {
        if !matches!(self.peek(), Some(b'"')) || !SYSTEM_NUMBERS.contains(&name) {
            return self.stream_value(1, name, sink);
        }
        self.scalar(|scalar| match scalar {
            Scalar::Str(text) => match text.trim().parse::<i64>() {
                Ok(number) if is_rendered_integer(text) => {
                    sink.integer(name, Scalar::Int(number), text);
                }
                Ok(number) => sink.scalar(name, Scalar::Int(number)),
                Err(_) => sink.scalar(name, scalar),
            },
            other => sink.scalar(name, other),
        })
    }

    /// `EventData`/`UserData` (or, `levels` down, one of its elements) named `name`, as
    /// `decode::DataSeed` flattens it.
    fn stream_data(
        &mut self,
        name: &str,
        levels: usize,
        sink: &mut impl FieldSink,
    ) -> Result<(), Unhandled> {
        if self.peek() != Some(b'{') {
            return self.stream_data_field(name, sink);
        }
        self.at += 1;
        self.members(|parser, key| match key {
            "#attributes" => parser.skip_value(),
            "#text" => parser.stream_value(1, name, sink),
            _ if levels > 1 => parser.stream_data(key, levels - 1, sink),
            _ => parser.stream_data_field(key, sink),
        })
    }

    /// One `EventData`/`UserData` field, as `decode::insert_data` adds it: a name with
    /// spaces first without them (the value is read twice), then as it is.
    fn stream_data_field(
        &mut self,
        name: &str,
        sink: &mut impl FieldSink,
    ) -> Result<(), Unhandled> {
        if name.contains(' ') {
            let start = self.at;
            self.stream_value(1, &name.replace(' ', ""), sink)?;
            self.at = start;
        }
        self.stream_value(1, name, sink)
    }

    /// The items of an array whose `[` was just read, then the closing `]`.
    fn items(&mut self, depth: usize) -> Result<Vec<Value>, Unhandled> {
        let mut items = Vec::new();
        self.each_item(|parser| {
            items.push(parser.value(depth)?);
            Ok(())
        })?;
        Ok(items)
    }

    /// The items of an array whose `[` was just read, each read by `item(parser)`, then the
    /// closing `]`.
    fn each_item(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), Unhandled>,
    ) -> Result<(), Unhandled> {
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_whitespace();
            item(self)?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(Unhandled),
            }
        }
    }

    /// `true`, `false` or `null` at the cursor. Compared as an array of its known length: one
    /// integer comparison instead of a `memcmp` call.
    fn literal<const N: usize>(&mut self, word: &[u8; N]) -> Result<(), Unhandled> {
        let next = self.bytes.get(self.at..self.at + N).ok_or(Unhandled)?;
        if <[u8; N]>::try_from(next).ok().as_ref() != Some(word) {
            return Err(Unhandled);
        }
        self.at += N;
        Ok(())
    }

    /// An integer as serde_json gives it: non-negative ones as `u64` (an `Int` when it fits),
    /// negative ones as `i64`. Fractions, exponents, `-0` and anything beyond 64 bits are
    /// floats there, left to it.
    #[inline(always)]
    fn integer(&mut self) -> Result<Integer, Unhandled> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let first = self.at;
        let mut magnitude: u64 = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            magnitude = magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(digit - b'0')))
                .ok_or(Unhandled)?;
            self.at += 1;
        }
        let digits = self.at - first;
        let leading_zero = digits > 1 && self.bytes[first] == b'0';
        if digits == 0 || leading_zero || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(Unhandled);
        }
        if !negative {
            return Ok(match i64::try_from(magnitude) {
                Ok(int) => Integer::Signed(int),
                Err(_) => Integer::Unsigned(magnitude),
            });
        }
        // serde_json's rule: a negation that is not negative (`-0`, or beyond i64) is a float.
        let value = (magnitude as i64).wrapping_neg();
        if value >= 0 {
            return Err(Unhandled);
        }
        Ok(Integer::Signed(value))
    }

    /// The string at the cursor (which is on its opening quote).
    #[inline(always)]
    fn string(&mut self) -> Result<Text<'a>, Unhandled> {
        self.expect(b'"')?;
        let start = self.at;
        let stop = start + plain_run(&self.bytes[start..]);
        // Quotes and backslashes are ASCII, so `stop` is a char boundary of the text.
        match self.bytes.get(stop) {
            Some(b'"') => {
                self.at = stop + 1;
                Ok(Text::Borrowed(self.text.get(start..stop).ok_or(Unhandled)?))
            }
            Some(b'\\') => self.escaped_string(start, stop),
            // Raw control characters are not allowed in JSON strings.
            _ => Err(Unhandled),
        }
    }

    /// The rest of a string from `start` whose first escape is at `stop`: unescaped into
    /// [`Parser::unescaped`] (out of line: most strings hold none).
    #[inline(never)]
    fn escaped_string(&mut self, start: usize, mut stop: usize) -> Result<Text<'a>, Unhandled> {
        self.unescaped.clear();
        self.unescaped
            .push_str(self.text.get(start..stop).ok_or(Unhandled)?);
        loop {
            match self.bytes.get(stop) {
                Some(b'"') => {
                    self.at = stop + 1;
                    return Ok(Text::Unescaped);
                }
                Some(b'\\') => {
                    if self.bytes.get(stop + 1) == Some(&b'\\') {
                        // `\\`, the escape of Windows paths.
                        self.unescaped.push('\\');
                        self.at = stop + 2;
                    } else {
                        self.at = stop + 1;
                        self.escape()?;
                    }
                    let run = self.at;
                    stop = run + plain_run(&self.bytes[run..]);
                    self.unescaped
                        .push_str(self.text.get(run..stop).ok_or(Unhandled)?);
                }
                _ => return Err(Unhandled),
            }
        }
    }

    /// The escape after a backslash (just read), appended to [`Parser::unescaped`].
    fn escape(&mut self) -> Result<(), Unhandled> {
        let byte = self.peek().ok_or(Unhandled)?;
        self.at += 1;
        let c = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                let code = match unit {
                    0xD800..=0xDBFF => {
                        // A leading surrogate must be followed by an escaped trailing one
                        // (serde_json rejects it otherwise).
                        if !self.bytes[self.at..].starts_with(b"\\u") {
                            return Err(Unhandled);
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(Unhandled);
                        }
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(Unhandled),
                    unit => unit,
                };
                char::from_u32(code).ok_or(Unhandled)?
            }
            _ => return Err(Unhandled),
        };
        self.unescaped.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, Unhandled> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or(Unhandled)?;
        let mut unit = 0;
        for &digit in digits {
            let value = char::from(digit).to_digit(16).ok_or(Unhandled)?;
            unit = unit * 16 + value;
        }
        self.at += 4;
        Ok(unit)
    }
}

/// `text` streamed into a [`FieldsBuilder`], with whether streaming took it on.
fn stream_into_fields(text: &str) -> (Result<(), Unhandled>, FieldsBuilder) {
    let mut streamed = FieldsBuilder::default();
    let stream = stream_plain(
        text,
        &mut streamed,
        &mut Names::default(),
        &mut String::new(),
    );
    (stream, streamed)
}

/// Whether the direct parser or the streaming one takes `bytes` on; panics when either does
/// and gives other fields than the serde path (for the tests and the `json_direct` fuzz
/// target).
pub(crate) fn check_against_serde(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let (stream, streamed) = stream_into_fields(text);
    let (mut serde, mut names) = (Fields::new(), Names::default());
    names.start_event();
    let decoded = crate::decode::decode_with_serde(Some(text), bytes, &mut serde, &mut names);
    // Streaming reports what feeding the serde path's fields would (it hands back events with
    // a `winlog` field, whose aliases only the serde path's code adds).
    if stream.is_ok() {
        assert!(
            decoded.is_ok(),
            "streamed what the serde path rejects: {text:?}"
        );
        let mut fed = FieldsBuilder::default();
        serde.feed(&mut fed);
        assert_eq!(streamed.finish(), fed.finish(), "{text:?}");
    }
    let (mut direct, mut names) = (Fields::new(), Names::default());
    names.start_event();
    if decode_plain(text, &mut direct, &mut names, &mut String::new()).is_err() {
        return stream.is_ok();
    }
    // Streaming takes on whatever the direct parser does, but events with a `winlog` field.
    let winlog = direct.iter_names().any(|(name, _)| &**name == "winlog");
    assert_eq!(stream.is_ok(), !winlog, "{text:?}");
    assert!(
        decoded.is_ok(),
        "the serde path rejects what the direct parser took: {text:?}"
    );
    // The serde path has the winlogbeat aliases too, after the event's own fields (the direct
    // path's caller adds them with the same code).
    let own: Vec<_> = serde.iter().take(direct.len()).collect();
    assert_eq!(direct.iter().collect::<Vec<_>>(), own, "{text:?}");
    true
}

/// Whether `text` is how an integer renders: digits after an optional `-`, no leading zero,
/// not `-0` (`0042`, `+5` and ` 5` parse, but render otherwise).
fn is_rendered_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && ((digits == "0" && digits.len() == text.len()) || !digits.starts_with('0'))
}

/// `<first>_<second>` in `out` (replacing what it held).
fn join(out: &mut String, first: &str, second: &str) {
    out.clear();
    out.push_str(first);
    out.push('_');
    out.push_str(second);
}

/// How many bytes from the start of `bytes` can stay in a string as they are: up to the first
/// quote, backslash or control character (or the end). Strings are most of a log's text, and
/// most end within 16 bytes: sixteen bytes at a time with SSE2 (part of every x86-64 CPU), the
/// rest eight at a time (bench/hunt.md, session 11: 18% fewer instructions parsing JSONL).
fn plain_run(bytes: &[u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let (blocks, rest) = bytes.as_chunks::<16>();
        let mut offset = 0;
        for block in blocks {
            // SAFETY: `sse2_stops` needs SSE2 only, which every x86-64 CPU has.
            #[allow(unsafe_code)]
            let stops = unsafe { sse2_stops(block) };
            if stops != 0 {
                return offset + stops.trailing_zeros() as usize;
            }
            offset += 16;
        }
        offset + word_run(rest)
    }
    #[cfg(not(target_arch = "x86_64"))]
    word_run(bytes)
}

/// One bit per byte of `block` (bit i for byte i) that is a quote, a backslash or a control
/// character.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn sse2_stops(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_set_epi64x,
    };
    let mut low = [0u8; 8];
    let mut high = [0u8; 8];
    low.copy_from_slice(&block[..8]);
    high.copy_from_slice(&block[8..]);
    let bytes = _mm_set_epi64x(i64::from_le_bytes(high), i64::from_le_bytes(low));
    let byte = |b: u8| _mm_set1_epi8(i8::from_le_bytes([b]));
    let quote = _mm_cmpeq_epi8(bytes, byte(b'"'));
    let backslash = _mm_cmpeq_epi8(bytes, byte(b'\\'));
    // Unsigned: a byte is below 0x20 where min(byte, 0x1f) is the byte itself.
    let control = _mm_cmpeq_epi8(_mm_min_epu8(bytes, byte(0x1f)), bytes);
    let stops = _mm_or_si128(_mm_or_si128(quote, backslash), control);
    // The mask holds 16 bits: the cast keeps them all.
    _mm_movemask_epi8(stops) as u32
}

/// [`plain_run`] eight bytes at a time (SWAR), for the end of the text and other CPUs.
fn word_run(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    // A byte's high bit is set where it is below `n` (for `n` <= 0x80); a false positive can
    // only sit above a true one, so the lowest set bit is the first such byte.
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGH_BITS;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(chunk);
        let word = u64::from_le_bytes(eight);
        let stops = below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word, 0x20);
        if stops != 0 {
            return offset + (stops.trailing_zeros() / 8) as usize;
        }
        offset += 8;
    }
    let rest = chunks.remainder();
    offset
        + rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            .unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_with_serde;

    /// What the serde path gives for `text`: the fields, or that it fails.
    fn by_serde(text: &str) -> Option<Fields> {
        let mut fields = Fields::new();
        let mut names = Names::default();
        names.start_event();
        decode_with_serde(Some(text), text.as_bytes(), &mut fields, &mut names)
            .ok()
            .map(|()| fields)
    }

    fn direct(text: &str) -> Result<Fields, Unhandled> {
        let mut fields = Fields::new();
        let mut names = Names::default();
        names.start_event();
        decode_plain(text, &mut fields, &mut names, &mut String::new()).map(|_| fields)
    }

    /// The direct parser either gives exactly the serde path's fields or hands the text back.
    fn agree(text: &str) -> bool {
        check_against_serde(text.as_bytes())
    }

    #[test]
    fn rendered_integers_are_the_texts_numbers_render_to() {
        for text in [
            "0",
            "7",
            "-7",
            "42",
            "-9223372036854775808",
            "18446744073709551615",
        ] {
            assert!(is_rendered_integer(text), "{text}");
        }
        for text in [
            "", "-", "-0", "00", "042", "+5", " 5", "5 ", "1e3", "1.0", "0x10", "--1",
        ] {
            assert!(!is_rendered_integer(text), "{text}");
        }
    }

    #[test]
    fn plain_runs_end_at_the_first_quote_backslash_or_control_character() {
        for text in [
            "",
            "abc",
            "abcdefgh\"",
            "abcdefghijk\\",
            "é\u{1}",
            "€€€€€€€€€\"",
            "\"",
            "a\u{7f}b\u{80}c\u{1f}",
            "0123456789abcdef0123\u{0}",
        ] {
            let bytes = text.as_bytes();
            let expected = bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(bytes.len());
            assert_eq!(plain_run(bytes), expected, "{text:?}");
        }
        // Every byte value at every place of a 16-byte block, a word and the remainder, after
        // any other.
        let naive = |bytes: &[u8]| {
            bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(bytes.len())
        };
        for len in [7, 19, 45] {
            for before in [b'a', 0xff, 0x21, 0x1f] {
                for byte in 0..=255u8 {
                    for at in 0..len {
                        let mut bytes = vec![before; len];
                        bytes[at] = byte;
                        assert_eq!(
                            plain_run(&bytes),
                            naive(&bytes),
                            "{before} then {byte} at {at} of {len}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn handles_the_usual_event_as_serde_does() {
        let text = r#"{"EventID":1,"Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd /c \"echo \u00e9\ud83d\ude00\" \/ \t","Keywords":"0x8000000000000000","Big":18446744073709551615,"Neg":-9223372036854775808,"Ok":true,"No":false,"Gone":null,"List":[1,"a",[],{}],"Nested":{"A":{"B":"c"}},"":"empty key","K\"ey":"v"}"#;
        assert!(agree(text));
        let fields = direct(text).expect("handled");
        assert_eq!(
            fields.get_direct("CommandLine"),
            Some(&Value::from("cmd /c \"echo é😀\" / \t"))
        );
    }

    /// Objects inside a list are streamed as values only keyword searches see, in order,
    /// as feeding the serde path's event reports them.
    #[test]
    fn streams_the_values_of_objects_in_lists() {
        let text =
            r#"{"items":[1,{"cmd":"run mimikatz","deep":{"x":[2,{"y":"z"}]}},"tail"],"n":1}"#;
        assert!(agree(text));
        let (stream, streamed) = stream_into_fields(text);
        assert!(stream.is_ok());
        let fields = streamed.finish();
        assert_eq!(
            fields.get_direct("items"),
            Some(&Value::List(vec![
                Value::Int(1),
                Value::from("run mimikatz"),
                Value::Int(2),
                Value::from("z"),
                Value::from("tail"),
            ]))
        );
    }

    #[test]
    fn streams_the_evtx_rendering_as_serde_flattens_it() {
        let text = r##"{"Event":{"#attributes":{"xmlns":"x"},"System":{
          "Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing","Guid":"{5}"}},
          "EventID":{"#attributes":{"Qualifiers":"16384"},"#text":"4688"},
          "Level":0,"Keywords":"0x8020000000000000",
          "TimeCreated":{"#attributes":{"SystemTime":"2019-03-19T23:30:12.345678Z"}},
          "EventRecordID":" 42 ","Correlation":null,
          "Execution":{"#attributes":{"ProcessID":4,"ThreadID":"x8"}},
          "Channel":"Security","Computer":"pc","Security":{"#attributes":{"UserID":"S-1-5-18"}}},
          "EventData":{"NewProcessName":"C:\\x.exe","Threat Name":["a",{"b":1}],"Data":["u",2]},
          "UserData":{"Op":{"#attributes":{"x":1},"Operation":"y","#text":"z"}},
          "RenderingInfo":{"Message":"m"}}}"##;
        let mut streamed = FieldsBuilder::default();
        assert_eq!(
            stream_plain(
                text,
                &mut streamed,
                &mut Names::default(),
                &mut String::new()
            ),
            Ok(())
        );
        let streamed = streamed.finish();
        assert_eq!(streamed.get_direct("EventID"), Some(&Value::Int(4688)));
        assert_eq!(
            streamed.get_direct("EventID_Qualifiers"),
            Some(&Value::Int(16384))
        );
        assert_eq!(streamed.get_direct("EventRecordID"), Some(&Value::Int(42)));
        assert_eq!(
            streamed.get_direct("Execution_ThreadID"),
            Some(&Value::from("x8"))
        );
        assert_eq!(
            streamed.get_direct("TimeCreated"),
            Some(&Value::from("2019-03-19T23:30:12.345678Z"))
        );
        assert_eq!(streamed.get_direct("Op"), Some(&Value::from("z")));
        assert!(streamed.get_direct("ThreatName").is_some());
        assert!(streamed.get_direct("Threat Name").is_some());
        // `agree` checked these fields against the serde path's, fed the same way.
        assert!(check_against_serde(text.as_bytes()));
    }

    #[test]
    fn leaves_to_serde_what_it_does_not_give_exactly() {
        for text in [
            r#"{"a":1.5}"#,
            r#"{"a":1e3}"#,
            r#"{"a":-0}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":-9223372036854775809}"#,
            r#"{"a":01}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00x"}"#,
            r#"{"a":"\ud800\u0041"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":1} x"#,
            r#"{"a":tru}"#,
            r#"["a"]"#,
            r#""a""#,
            "",
            r#"{"a":"unterminated}"#,
        ] {
            assert_eq!(direct(text), Err(Unhandled), "{text}");
        }
    }

    #[test]
    fn nesting_is_left_to_serde_where_its_limit_is() {
        let nested =
            |depth: usize| format!("{{\"a\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
        assert!(agree(&nested(MAX_NESTING_DEPTH - 1)));
        assert!(by_serde(&nested(MAX_NESTING_DEPTH)).is_none());
        assert_eq!(direct(&nested(MAX_NESTING_DEPTH)), Err(Unhandled));
    }

    /// A small deterministic generator (no dependency needed for a test).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const PIECES: &[&str] = &[
        "a",
        "B",
        " ",
        "\\\\",
        "\\\"",
        "\\/",
        "\\n",
        "\\t",
        "\\u00e9",
        "\\u0000",
        "\\ud83d\\ude00",
        "\\ud800",
        "é",
        "😀",
        "\t",
        "\\q",
        "C:\\\\Windows",
        "\\u00",
        "{",
        "]",
        "\\b",
        "\\f",
        "\\r",
    ];
    const EVTX_KEYS: &[&str] = &[
        "System",
        "EventData",
        "UserData",
        "#attributes",
        "#text",
        "EventID",
        "Execution",
        "ProcessID",
        "TimeCreated",
        "SystemTime",
        "Threat Name",
        "a b c",
        "Data",
        "Name",
    ];
    const NUMBERS: &[&str] = &[
        "0",
        "-1",
        "7",
        "1.5",
        "-0",
        "1e2",
        "00",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "18446744073709551616",
        "-",
        "1.",
        "2E-3",
    ];

    fn random_value(rng: &mut Rng, depth: usize, out: &mut String) {
        match rng.below(if depth > 3 { 5 } else { 7 }) {
            0 | 1 => random_string(rng, out),
            2 => out.push_str(NUMBERS[rng.below(NUMBERS.len())]),
            // Text that `System` numbers are parsed from.
            3 if rng.below(3) == 0 => {
                out.push_str([r#"" 42 ""#, r#""-7""#, r#""4x""#][rng.below(3)])
            }
            3 => out.push_str(["true", "false", "null", "nul"][rng.below(4)]),
            4 => out.push_str(["", " ", "\n", ",", "}"][rng.below(5)]),
            5 => random_object(rng, depth + 1, out),
            _ => {
                out.push('[');
                for i in 0..rng.below(3) {
                    if i > 0 {
                        out.push(',');
                    }
                    random_value(rng, depth + 1, out);
                }
                out.push(']');
            }
        }
    }

    fn random_string(rng: &mut Rng, out: &mut String) {
        out.push('"');
        for _ in 0..rng.below(5) {
            out.push_str(PIECES[rng.below(PIECES.len())]);
        }
        out.push('"');
    }

    fn random_object(rng: &mut Rng, depth: usize, out: &mut String) {
        out.push('{');
        for i in 0..rng.below(5) {
            if i > 0 {
                out.push_str([",", ", ", ",\n"][rng.below(3)]);
            }
            if rng.below(8) == 0 {
                out.push_str("\"Event\"");
            } else if rng.below(2) == 0 {
                // The names the EVTX rendering's flattening acts on, at any depth.
                out.push('"');
                out.push_str(EVTX_KEYS[rng.below(EVTX_KEYS.len())]);
                out.push('"');
            } else {
                random_string(rng, out);
            }
            out.push_str([":", " : "][rng.below(2)]);
            random_value(rng, depth, out);
        }
        out.push('}');
    }

    #[test]
    fn random_objects_decode_as_serde_decodes_them() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut handled, mut total, mut evtx_streamed) = (0, 0, 0);
        for _ in 0..20_000 {
            let mut text = String::new();
            random_object(&mut rng, 1, &mut text);
            total += 1;
            handled += usize::from(agree(&text));
            let streamed = stream_plain(
                &text,
                &mut FieldsBuilder::default(),
                &mut Names::default(),
                &mut String::new(),
            );
            evtx_streamed += usize::from(streamed.is_ok() && text.contains("\"Event\""));
        }
        // The generator makes valid and invalid text alike; a parser that handed everything
        // back would agree trivially, so a good share must have been handled.
        assert!(handled * 5 > total, "handled {handled} of {total}");
        assert!(
            evtx_streamed > 500,
            "streamed {evtx_streamed} EVTX renderings"
        );
    }
}
