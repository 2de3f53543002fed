//! JSON text -> event fields, in one pass with no intermediate `serde_json::Value`.
//!
//! Three shapes are recognised while parsing, so that Windows rules apply to all of them:
//! - the EVTX rendering (`{"Event": {"System": {...}, "EventData": {...}}}`, as the `evtx`
//!   crate and `evtx_dump` write it): flattened to `Channel`, `EventID`, `Provider_Name`, ...
//!   and one field per named `Data` element (see [`crate`] for the list);
//! - winlogbeat (`{"winlog": {"channel", "event_id", "event_data": {...}}}`): kept nested, and
//!   the routing fields and every `event_data`/`user_data` name are also exposed bare;
//! - anything else (flattened Sysmon JSON, ...): taken as it is, nested objects kept nested.

use crate::names::Names;
use crate::MAX_NESTING_DEPTH;
use nativeguard_event::{Fields, Name, Value};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cell::{Cell, RefCell};
use std::fmt;

/// Why one JSON value could not become an event.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// Not JSON, or not an object.
    Json(serde_json::Error),
    /// Deeper than [`MAX_NESTING_DEPTH`].
    TooDeep,
}

/// Parses one JSON object into `out` (empty), its field names taken from (and added to)
/// `names`; `unescaped` is the direct parser's scratch space, kept from event to event.
pub(crate) fn decode_object(
    bytes: &[u8],
    out: &mut Fields,
    names: &mut Names,
    unescaped: &mut String,
) -> Result<(), DecodeError> {
    names.start_event();
    // Valid UTF-8 is checked once for the whole text (cheaper than serde_json checking each
    // string on its own), with SIMD (std's check cost a tenth of reading a JSON line); text
    // that is not is left to serde_json, which says where it breaks.
    let text = simdutf8::basic::from_utf8(bytes).ok();
    if let Some(text) = text {
        match crate::direct::decode_plain(text, out, names, unescaped) {
            Ok(winlog_at) => {
                if let Some(index) = winlog_at {
                    let cx = Context {
                        too_deep: Cell::new(false),
                        names: RefCell::new(std::mem::take(names)),
                    };
                    expose_winlogbeat(out, index, &cx);
                    *names = cx.names.into_inner();
                }
                return Ok(());
            }
            Err(crate::direct::Unhandled) => {
                *out = Fields::new();
                names.restart_event();
            }
        }
    }
    decode_with_serde(text, bytes, out, names)
}

/// [`decode_object`] by serde_json alone (`text` is `bytes` when they are UTF-8).
pub(crate) fn decode_with_serde(
    text: Option<&str>,
    bytes: &[u8],
    out: &mut Fields,
    names: &mut Names,
) -> Result<(), DecodeError> {
    let cx = Context {
        too_deep: Cell::new(false),
        names: RefCell::new(std::mem::take(names)),
    };
    let result = match text {
        Some(text) => decode_with(serde_json::Deserializer::from_str(text), out, &cx),
        None => decode_with(serde_json::Deserializer::from_slice(bytes), out, &cx),
    };
    *names = cx.names.into_inner();
    match result {
        Ok(()) => Ok(()),
        Err(_) if cx.too_deep.get() => Err(DecodeError::TooDeep),
        Err(err) => Err(DecodeError::Json(err)),
    }
}

fn decode_with<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    out: &mut Fields,
    cx: &Context,
) -> Result<(), serde_json::Error> {
    TopSeed { out, cx }.deserialize(&mut de)?;
    de.end()
}

/// What every visitor of one decode shares.
struct Context {
    /// Set when a value nests deeper than [`MAX_NESTING_DEPTH`] (serde_json's error then
    /// becomes [`DecodeError::TooDeep`]).
    too_deep: Cell<bool>,
    names: RefCell<Names>,
}

impl Context {
    fn name(&self, text: &str) -> Name {
        self.names.borrow_mut().get(text)
    }

    /// The name `<first>_<second>` (EVTX `System` attributes: `Provider_Name`).
    fn joined_name(&self, first: &str, second: &str) -> Name {
        self.names.borrow_mut().get_joined(first, second)
    }
}

/// A map key, borrowed from the input when it has no escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl std::ops::Deref for Key<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Key::Owned(v))
    }
}

/// Any JSON value, as a [`Value`]; objects and arrays count against [`MAX_NESTING_DEPTH`].
#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    depth: usize,
    cx: &'a Context,
}

impl<'a> ValueSeed<'a> {
    fn nested(self) -> Result<Self, ()> {
        if self.depth >= MAX_NESTING_DEPTH {
            self.cx.too_deep.set(true);
            return Err(());
        }
        Ok(ValueSeed {
            depth: self.depth + 1,
            cx: self.cx,
        })
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.into()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v.into_boxed_str()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested().map_err(|()| too_deep_error::<A::Error>())?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested().map_err(|()| too_deep_error::<A::Error>())?;
        let mut fields = Fields::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(inner)?;
            fields.insert(self.cx.name(&key), value);
        }
        Ok(Value::Object(fields))
    }
}

fn too_deep_error<E: de::Error>() -> E {
    E::custom(format_args!(
        "nested deeper than {MAX_NESTING_DEPTH} levels"
    ))
}

/// The top-level object: recognises the EVTX (`Event`) and winlogbeat (`winlog`) shapes.
struct TopSeed<'a> {
    out: &'a mut Fields,
    cx: &'a Context,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (one event)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let values = ValueSeed {
            depth: 1,
            cx: self.cx,
        };
        let mut winlog_at = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match &*key {
                "Event" => map.next_value_seed(EvtxEventSeed {
                    out: self.out,
                    values,
                })?,
                name => {
                    let value = map.next_value_seed(values)?;
                    if name == "winlog" && matches!(value, Value::Object(_)) {
                        winlog_at = Some(self.out.len());
                    }
                    self.out.insert(self.cx.name(name), value);
                }
            }
        }
        if let Some(index) = winlog_at {
            expose_winlogbeat(self.out, index, self.cx);
        }
        Ok(())
    }
}

/// winlogbeat field -> the name the EVTX rendering (and so every Windows rule) uses.
const WINLOGBEAT_ALIASES: &[(&str, &str)] = &[
    ("channel", "Channel"),
    ("event_id", "EventID"),
    ("provider_name", "Provider_Name"),
    ("computer_name", "Computer"),
    ("record_id", "EventRecordID"),
    ("task", "Task"),
    ("opcode", "Opcode"),
    ("keywords", "Keywords"),
];

/// Adds the bare names of a winlogbeat event (the `winlog` object is field `index` of `out`):
/// routing fields under their EVTX names, and every `event_data`/`user_data` field. A name the
/// event already has at top level is left alone (the first name wins on lookup anyway).
fn expose_winlogbeat(out: &mut Fields, index: usize, cx: &Context) {
    let Some((_, Value::Object(winlog))) = out.iter().nth(index) else {
        return;
    };
    let mut added: Vec<(Name, Value)> = Vec::new();
    for (name, value) in winlog.iter() {
        if let Some((_, alias)) = WINLOGBEAT_ALIASES.iter().find(|(from, _)| *from == name) {
            // winlogbeat 8 writes event_id as a string; EVTX has a number.
            let value = match (alias, value) {
                (&"EventID", Value::Str(s)) => s.parse::<i64>().map_or(value.clone(), Value::Int),
                _ => value.clone(),
            };
            added.push((cx.name(alias), value));
        } else if matches!(name, "event_data" | "user_data") {
            if let Value::Object(data) = value {
                for (field, value) in data.iter_names() {
                    added.push((field.clone(), value.clone()));
                }
            }
        }
    }
    for (name, value) in added {
        if out.get_direct(&name).is_none() {
            out.insert(name, value);
        }
    }
}

/// The `Event` object of the EVTX rendering: `System`, `EventData`, `UserData` flattened into
/// `out`; anything else (`RenderingInfo`, ...) kept under its own name.
struct EvtxEventSeed<'a, 'b> {
    out: &'a mut Fields,
    values: ValueSeed<'b>,
}

impl<'de> DeserializeSeed<'de> for EvtxEventSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// A visitor for an object of the EVTX rendering that stores any other value it meets (a
/// string where an object was expected) under the object's own name.
trait StoreOther: Sized {
    fn store(self, value: Value);
    fn values(&self) -> ValueSeed<'_>;
}

impl StoreOther for EvtxEventSeed<'_, '_> {
    fn store(self, value: Value) {
        self.out.insert(self.values.cx.name("Event"), value);
    }
    fn values(&self) -> ValueSeed<'_> {
        self.values
    }
}

impl StoreOther for SystemSeed<'_, '_> {
    fn store(self, value: Value) {
        self.out.insert(self.values.cx.name("System"), value);
    }
    fn values(&self) -> ValueSeed<'_> {
        self.values
    }
}

impl StoreOther for SystemElementSeed<'_, '_, '_> {
    fn store(self, value: Value) {
        let value = system_number(self.name, value);
        self.out.insert(self.values.cx.name(self.name), value);
    }
    fn values(&self) -> ValueSeed<'_> {
        self.values
    }
}

impl StoreOther for AttributesSeed<'_, '_, '_> {
    fn store(self, value: Value) {
        let name = self.values.cx.joined_name(self.element, "attributes");
        self.out.insert(name, value);
    }
    fn values(&self) -> ValueSeed<'_> {
        self.values
    }
}

impl StoreOther for DataSeed<'_, '_, '_> {
    fn store(self, value: Value) {
        insert_data(self.out, self.name, value, self.values.cx);
    }
    fn values(&self) -> ValueSeed<'_> {
        self.values
    }
}

/// The scalar and array `visit_*` methods of a [`StoreOther`] visitor.
macro_rules! store_other_values {
    () => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
            self.store(Value::Bool(v));
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
            self.store(Value::Int(v));
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
            self.store(Value::from(v));
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
            self.store(Value::Float(v));
            Ok(())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
            self.store(Value::Str(v.into()));
            Ok(())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            self.store(Value::Null);
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
            let value = self.values().visit_seq(seq)?;
            self.store(value);
            Ok(())
        }
    };
}

impl<'de> Visitor<'de> for EvtxEventSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an EVTX event object")
    }
    store_other_values!();
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match &*key {
                "System" => map.next_value_seed(SystemSeed {
                    out: &mut *self.out,
                    values: self.values,
                })?,
                "EventData" | "UserData" => map.next_value_seed(DataSeed {
                    out: &mut *self.out,
                    values: self.values,
                    name: &key,
                    levels: DATA_LEVELS,
                })?,
                "#attributes" => {
                    map.next_value::<IgnoredAny>()?;
                }
                name => {
                    let value = map.next_value_seed(self.values)?;
                    self.out.insert(self.values.cx.name(name), value);
                }
            }
        }
        Ok(())
    }
}

/// `System`: each child by its own name; attributes as `<Element>_<Attribute>`
/// (`Provider_Name`, `Execution_ProcessID`), except `TimeCreated`'s `SystemTime`, which is
/// `TimeCreated`; an element with attributes and text (`EventID` with `Qualifiers`) keeps its
/// text under its own name.
struct SystemSeed<'a, 'b> {
    out: &'a mut Fields,
    values: ValueSeed<'b>,
}

impl<'de> DeserializeSeed<'de> for SystemSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SystemSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an EVTX System object")
    }
    store_other_values!();
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            map.next_value_seed(SystemElementSeed {
                out: &mut *self.out,
                values: self.values,
                name: &key,
            })?;
        }
        Ok(())
    }
}

/// One child of `System`, streamed into `out` (no intermediate object): its text or value
/// under its name, its attributes as `<Element>_<Attribute>`.
struct SystemElementSeed<'a, 'b, 'k> {
    out: &'a mut Fields,
    values: ValueSeed<'b>,
    name: &'k str,
}

impl<'de> DeserializeSeed<'de> for SystemElementSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SystemElementSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an EVTX System element")
    }
    store_other_values!();
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(child) = map.next_key_seed(KeySeed)? {
            match &*child {
                "#attributes" => map.next_value_seed(AttributesSeed {
                    out: &mut *self.out,
                    values: self.values,
                    element: self.name,
                })?,
                "#text" => {
                    let value = map.next_value_seed(self.values)?;
                    let value = system_number(self.name, value);
                    self.out.insert(self.values.cx.name(self.name), value);
                }
                child => {
                    let value = map.next_value_seed(self.values)?;
                    let name = self.values.cx.joined_name(self.name, child);
                    self.out.insert(name, value);
                }
            }
        }
        Ok(())
    }
}

/// The `#attributes` of a `System` element.
struct AttributesSeed<'a, 'b, 'k> {
    out: &'a mut Fields,
    values: ValueSeed<'b>,
    element: &'k str,
}

impl<'de> DeserializeSeed<'de> for AttributesSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AttributesSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("EVTX attributes")
    }
    store_other_values!();
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(attribute) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(self.values)?;
            let cx = self.values.cx;
            let name = match (self.element, &*attribute) {
                ("TimeCreated", "SystemTime") => cx.name("TimeCreated"),
                (element, attribute) => cx.joined_name(element, attribute),
            };
            let value = system_number(&name, value);
            self.out.insert(name, value);
        }
        Ok(())
    }
}

/// `System` values that are numbers. Some renderings (forwarded events) carry them as text;
/// they become integers so every source agrees (`EventID` is always an integer).
pub(crate) const SYSTEM_NUMBERS: &[&str] = &[
    "EventID",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "EventRecordID",
    "Execution_ProcessID",
    "Execution_ThreadID",
    "EventID_Qualifiers",
];

fn system_number(name: &str, value: Value) -> Value {
    match &value {
        Value::Str(text) if SYSTEM_NUMBERS.contains(&name) => {
            text.trim().parse::<i64>().map_or(value, Value::Int)
        }
        _ => value,
    }
}

/// How many element levels of `EventData`/`UserData` are flattened into top-level names:
/// `UserData` wraps its fields in one element named after the event
/// (`UserData.Operation_ClientFailure.Operation`), so two.
pub(crate) const DATA_LEVELS: usize = 2;

/// `EventData` / `UserData`: every named field at top level; unnamed `Data` values under
/// `Data` (a string or a list), where keyword searches find them; `#attributes` dropped.
struct DataSeed<'a, 'b, 'k> {
    out: &'a mut Fields,
    values: ValueSeed<'b>,
    name: &'k str,
    levels: usize,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an EVTX EventData or UserData object")
    }
    store_other_values!();
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match &*key {
                "#attributes" => {
                    map.next_value::<IgnoredAny>()?;
                }
                "#text" => {
                    let value = map.next_value_seed(self.values)?;
                    self.out.insert(self.values.cx.name(self.name), value);
                }
                name if self.levels > 1 => {
                    map.next_value_seed(DataSeed {
                        out: &mut *self.out,
                        values: self.values,
                        name,
                        levels: self.levels - 1,
                    })?;
                }
                name => {
                    let value = map.next_value_seed(self.values)?;
                    insert_data(self.out, name, value, self.values.cx);
                }
            }
        }
        Ok(())
    }
}

/// Adds one `EventData`/`UserData` field. A name with spaces (Windows Defender's
/// `Threat Name`, `Process Name`) is also added without them, the name Sigma rules use
/// (`ThreatName`), as SigmaHQ's own regression runner sees it.
fn insert_data(out: &mut Fields, name: &str, value: Value, cx: &Context) {
    if name.contains(' ') {
        out.insert(cx.name(&name.replace(' ', "")), value.clone());
    }
    out.insert(cx.name(name), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `decode_object` with a reader's state fresh.
    fn decode_into(bytes: &[u8], fields: &mut Fields) -> Result<(), DecodeError> {
        decode_object(bytes, fields, &mut Names::default(), &mut String::new())
    }

    fn decode(json: &str) -> Fields {
        let mut fields = Fields::new();
        decode_into(json.as_bytes(), &mut fields).expect("decodes");
        fields
    }

    #[test]
    fn flattens_the_evtx_rendering() {
        let f = decode(
            r##"{"Event":{"#attributes":{"xmlns":"x"},"System":{
              "Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing","Guid":"{5}"}},
              "EventID":{"#attributes":{"Qualifiers":16384},"#text":4688},
              "Level":0,"Keywords":"0x8020000000000000",
              "TimeCreated":{"#attributes":{"SystemTime":"2019-03-19T23:30:12.345678Z"}},
              "EventRecordID":"42","Correlation":null,
              "Execution":{"#attributes":{"ProcessID":4,"ThreadID":8}},
              "Channel":"Security","Computer":"pc"},
              "EventData":{"NewProcessName":"C:\\x.exe","CommandLine":"x \"a\""}}}"##,
        );
        assert_eq!(f.get_direct("EventID"), Some(&Value::Int(4688)));
        assert_eq!(f.get_direct("EventID_Qualifiers"), Some(&Value::Int(16384)));
        assert_eq!(f.get_direct("Channel"), Some(&Value::from("Security")));
        assert_eq!(
            f.get_direct("Provider_Name"),
            Some(&Value::from("Microsoft-Windows-Security-Auditing"))
        );
        assert_eq!(
            f.get_direct("TimeCreated"),
            Some(&Value::from("2019-03-19T23:30:12.345678Z"))
        );
        assert_eq!(f.get_direct("Execution_ProcessID"), Some(&Value::Int(4)));
        // Forwarded events render numbers as text; they still come out as integers.
        assert_eq!(f.get_direct("EventRecordID"), Some(&Value::Int(42)));
        assert_eq!(f.get_direct("Correlation"), Some(&Value::Null));
        assert_eq!(
            f.get_direct("NewProcessName"),
            Some(&Value::from("C:\\x.exe"))
        );
        assert_eq!(f.get_direct("CommandLine"), Some(&Value::from("x \"a\"")));
        assert!(f.get_direct("Event").is_none());
        assert!(f.get_direct("xmlns").is_none());
    }

    #[test]
    fn flattens_user_data_and_keeps_unnamed_data_searchable() {
        let f = decode(
            r##"{"Event":{"System":{"EventID":5858},
               "UserData":{"Operation_ClientFailure":{"#attributes":{"xmlns":"w"},
                 "Operation":"ExecMethod","ClientProcessId":25920}}}}"##,
        );
        assert_eq!(f.get_direct("Operation"), Some(&Value::from("ExecMethod")));
        assert_eq!(f.get_direct("ClientProcessId"), Some(&Value::Int(25920)));
        let f = decode(r##"{"Event":{"EventData":{"Threat Name":"EICAR","Path":"p"}}}"##);
        assert_eq!(f.get_direct("ThreatName"), Some(&Value::from("EICAR")));
        assert_eq!(f.get_direct("Threat Name"), Some(&Value::from("EICAR")));
        let f = decode(r##"{"Event":{"System":{},"EventData":{"Data":["a","b"],"Binary":"00"}}}"##);
        assert_eq!(
            f.get_direct("Data"),
            Some(&Value::List(vec![Value::from("a"), Value::from("b")]))
        );
        assert_eq!(f.get_direct("Binary"), Some(&Value::from("00")));
        let f = decode(r##"{"Event":{"EventData":{"Data":{"#text":"only"}}}}"##);
        assert_eq!(f.get_direct("Data"), Some(&Value::from("only")));
    }

    #[test]
    fn exposes_winlogbeat_names_bare_and_nested() {
        let f = decode(
            r##"{"@timestamp":"2020-01-01T00:00:00Z","winlog":{"channel":"Microsoft-Windows-Sysmon/Operational",
               "event_id":"1","provider_name":"Microsoft-Windows-Sysmon",
               "event_data":{"Image":"C:\\w.exe","Channel":"not-me"}}}"##,
        );
        assert_eq!(
            f.get("winlog.event_data.Image"),
            Some(&Value::from("C:\\w.exe"))
        );
        assert_eq!(f.get_direct("Image"), Some(&Value::from("C:\\w.exe")));
        assert_eq!(f.get_direct("EventID"), Some(&Value::Int(1)));
        assert_eq!(
            f.get_direct("Channel"),
            Some(&Value::from("Microsoft-Windows-Sysmon/Operational"))
        );
        assert_eq!(
            f.get_direct("Provider_Name"),
            Some(&Value::from("Microsoft-Windows-Sysmon"))
        );
    }

    #[test]
    fn keeps_other_objects_as_they_are() {
        let f = decode(r##"{"EventID":1,"Image":"a","process":{"parent":{"name":"b"}},"n":null}"##);
        assert_eq!(f.get("process.parent.name"), Some(&Value::from("b")));
        assert_eq!(f.get_direct("EventID"), Some(&Value::Int(1)));
        assert_eq!(f.get_direct("n"), Some(&Value::Null));
    }

    #[test]
    fn rejects_non_objects_and_trailing_garbage() {
        for bad in ["[1]", "1", "\"x\"", "{\"a\":1} x", "{\"a\":", ""] {
            let mut f = Fields::new();
            assert!(
                matches!(
                    decode_into(bad.as_bytes(), &mut f),
                    Err(DecodeError::Json(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn nesting_limit_is_enforced_at_exactly_max_depth() {
        let nested = |levels: usize| {
            let mut s = String::new();
            for _ in 0..levels {
                s.push_str("{\"a\":");
            }
            s.push('1');
            for _ in 0..levels {
                s.push('}');
            }
            s
        };
        let mut f = Fields::new();
        assert!(decode_into(nested(MAX_NESTING_DEPTH).as_bytes(), &mut f).is_ok());
        let mut f = Fields::new();
        assert!(matches!(
            decode_into(nested(MAX_NESTING_DEPTH + 1).as_bytes(), &mut f),
            Err(DecodeError::TooDeep)
        ));
        let arrays = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let mut f = Fields::new();
        assert!(matches!(
            decode_into(arrays.as_bytes(), &mut f),
            Err(DecodeError::TooDeep)
        ));
    }
}
