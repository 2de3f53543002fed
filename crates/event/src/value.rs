//! Field values, field names and the ordered field list.

use serde::ser::{SerializeMap, SerializeSeq};
use std::borrow::{Borrow, Cow};
use std::fmt;
use std::sync::Arc;

/// A field name: text that lives for the whole program (`&'static str`, copied for free) or
/// shared text (`Arc<str>`, cloned by a reference-count increment), so a reader that meets the
/// same name in every event (`EventID`, `Image`, ...) hands out one allocation instead of making
/// one per field and event. It reads as a `&str` (`Deref`, `Borrow<str>`, `AsRef<str>`),
/// compares and hashes as its text, and converts from `&str`, `String`, `Box<str>`, `Cow<str>`
/// and `Arc<str>` (shared), or from a `&'static str` with [`Name::from_static`].
#[derive(Clone)]
pub struct Name(NameText);

#[derive(Clone)]
enum NameText {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    /// A name whose text lives for the whole program: no allocation, no reference count.
    pub const fn from_static(name: &'static str) -> Self {
        Name(NameText::Static(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            NameText::Static(text) => text,
            NameText::Shared(text) => text,
        }
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Name {
    /// As its text, so a set of names can be searched with a `&str`.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Self {
        Name(NameText::Shared(name.into()))
    }
}
impl From<&String> for Name {
    fn from(name: &String) -> Self {
        Name(NameText::Shared(name.as_str().into()))
    }
}
impl From<String> for Name {
    fn from(name: String) -> Self {
        Name(NameText::Shared(name.into()))
    }
}
impl From<Box<str>> for Name {
    fn from(name: Box<str>) -> Self {
        Name(NameText::Shared(name.into()))
    }
}
impl From<Cow<'_, str>> for Name {
    fn from(name: Cow<'_, str>) -> Self {
        Name(NameText::Shared(name.into()))
    }
}
impl From<Arc<str>> for Name {
    fn from(name: Arc<str>) -> Self {
        Name(NameText::Shared(name))
    }
}
impl From<&Name> for Name {
    fn from(name: &Name) -> Self {
        name.clone()
    }
}

/// A field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An explicit null (JSON `null`, an empty EVTX element).
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer (also holds unsigned values up to `i64::MAX`).
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(Box<str>),
    /// A list of values.
    List(Vec<Value>),
    /// Nested named values.
    Object(Fields),
}

impl Value {
    /// The string, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a signed integer: integers, and strings that parse as one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::UInt(u) => i64::try_from(*u).ok(),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a float: numbers, and strings that parse as one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::UInt(u) => Some(*u as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as text for string matching: strings as they are, numbers and booleans in
    /// their canonical decimal form; `None` for null, lists and objects.
    pub fn to_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        match self {
            Value::Str(s) => Some(Cow::Borrowed(s)),
            Value::Int(i) => Some(Cow::Owned(i.to_string())),
            Value::UInt(u) => Some(Cow::Owned(u.to_string())),
            Value::Float(f) => Some(Cow::Owned(f.to_string())),
            Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Value::Null | Value::List(_) | Value::Object(_) => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.into())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s.into_boxed_str())
    }
}
impl From<Box<str>> for Value {
    fn from(s: Box<str>) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i64::from(i))
    }
}
impl From<u32> for Value {
    fn from(u: u32) -> Self {
        Value::Int(i64::from(u))
    }
}
impl From<u64> for Value {
    fn from(u: u64) -> Self {
        match i64::try_from(u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::UInt(u),
        }
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<Vec<Value>> for Value {
    fn from(list: Vec<Value>) -> Self {
        Value::List(list)
    }
}
impl From<Fields> for Value {
    fn from(fields: Fields) -> Self {
        Value::Object(fields)
    }
}

/// An ordered list of named values; the last of two equal names wins on lookup, as JSON
/// parsers read a repeated key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Vec<(Name, Value)>);

impl Fields {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `capacity` fields.
    pub fn with_capacity(capacity: usize) -> Self {
        Fields(Vec::with_capacity(capacity))
    }

    /// Appends a field.
    pub fn insert(&mut self, name: impl Into<Name>, value: impl Into<Value>) {
        self.0.push((name.into(), value.into()));
    }

    /// Appends a field under a dotted path, creating (or reusing) nested objects.
    pub fn insert_path(&mut self, path: &str, value: impl Into<Value>) {
        match path.split_once('.') {
            None => self.insert(path, value),
            Some((head, rest)) => {
                let existing = self
                    .0
                    .iter_mut()
                    .find(|(name, v)| &**name == head && matches!(v, Value::Object(_)));
                match existing {
                    Some((_, Value::Object(inner))) => inner.insert_path(rest, value),
                    _ => {
                        let mut inner = Fields::new();
                        inner.insert_path(rest, value);
                        self.insert(head, Value::Object(inner));
                    }
                }
            }
        }
    }

    /// Looks a field up: the whole name first, then as a dotted path through objects.
    pub fn get(&self, name: &str) -> Option<&Value> {
        if let Some(v) = self.get_direct(name) {
            return Some(v);
        }
        // Try every split point, so keys that themselves contain dots still resolve.
        let mut search_from = 0;
        while let Some(dot) = name[search_from..].find('.') {
            let split = search_from + dot;
            if let Some(Value::Object(inner)) = self.get_direct(&name[..split]) {
                if let Some(v) = inner.get(&name[split + 1..]) {
                    return Some(v);
                }
            }
            search_from = split + 1;
        }
        None
    }

    /// Looks a top-level field up by its exact name.
    pub fn get_direct(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .rfind(|(field, _)| &**field == name)
            .map(|(_, v)| v)
    }

    /// Iterates over the fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(name, v)| (&**name, v))
    }

    /// Iterates over the fields in order, with their shared names (to copy a field without
    /// copying its name's text).
    pub fn iter_names(&self) -> impl Iterator<Item = (&Name, &Value)> {
        self.0.iter().map(|(name, v)| (name, v))
    }

    /// Makes room for at least `additional` more fields.
    pub fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::UInt(u) => serializer.serialize_u64(*u),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::Str(s) => serializer.serialize_str(s),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(fields) => fields.serialize(serializer),
        }
    }
}

impl serde::Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(&**name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_lookup_descends_objects_and_prefers_whole_keys() {
        let mut f = Fields::new();
        f.insert("winlog.event_data.Image", "flat");
        f.insert_path("winlog.event_data.Image", "nested");
        f.insert_path("winlog.event_data.User", "bob");
        assert_eq!(f.get("winlog.event_data.Image"), Some(&Value::from("flat")));
        assert_eq!(f.get("winlog.event_data.User"), Some(&Value::from("bob")));
        assert_eq!(f.get("winlog.event_data.Missing"), None);
        assert_eq!(f.get("winlog.nothing.User"), None);
    }

    #[test]
    fn keys_containing_dots_resolve_inside_objects() {
        let mut inner = Fields::new();
        inner.insert("a.b", 7i64);
        let mut f = Fields::new();
        f.insert("outer", inner);
        assert_eq!(f.get("outer.a.b"), Some(&Value::Int(7)));
    }

    #[test]
    fn numbers_convert_and_render() {
        assert_eq!(Value::from(" 42 ").as_i64(), Some(42));
        assert_eq!(Value::from(u64::MAX), Value::UInt(u64::MAX));
        assert_eq!(Value::Int(-3).to_text().as_deref(), Some("-3"));
        assert_eq!(Value::Null.to_text(), None);
    }

    #[test]
    fn names_convert_from_every_string_type_and_share_their_text() {
        let mut f = Fields::new();
        let owned = String::from("b");
        f.insert("a", 1i64);
        f.insert(&owned, 2i64);
        f.insert(owned, 3i64);
        f.insert(Box::<str>::from("c"), 4i64);
        f.insert(Cow::Borrowed("d"), 5i64);
        let shared = Name::from("e");
        f.insert(&shared, 6i64);
        f.insert(shared.clone(), 7i64);
        let names: Vec<&str> = f.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["a", "b", "b", "c", "d", "e", "e"]);
        let (first_e, _) = f.iter_names().nth(5).expect("seven fields");
        assert!(
            std::ptr::eq(first_e.as_str(), shared.as_str()),
            "a shared name is not copied"
        );
        // The last of two equal names, as JSON parsers read a repeated key.
        assert_eq!(f.get("b"), Some(&Value::Int(3)));
        assert_eq!(format!("{shared} {shared:?}"), "e \"e\"");
        // Static and shared names with the same text are the same name.
        let fixed = Name::from_static("e");
        assert_eq!(fixed, shared);
        let state = std::hash::RandomState::new();
        use std::hash::BuildHasher;
        assert_eq!(state.hash_one(&fixed), state.hash_one(&shared));
        assert_eq!(state.hash_one(&fixed), state.hash_one("e"));
        assert!(Name::from("a") < fixed);
    }

    #[test]
    fn serializes_as_json_object_in_order() {
        let mut f = Fields::new();
        f.insert("b", 1i64);
        f.insert("a", vec![Value::Null, Value::from("x")]);
        let json = serde_json::to_string(&f).expect("serializes");
        assert_eq!(json, r#"{"b":1,"a":[null,"x"]}"#);
    }
}
