//! An event's fields handed over one at a time, without an [`crate::Event`] being built.
//!
//! Building an event costs an allocation per string, a shared name per field and dropping it
//! all again; a consumer that only reads the values (the rule engine) does not need any of
//! that. A source that can (the JSON Lines reader) drives a [`FieldSink`] straight from its
//! input, and [`Fields::feed`] drives one from a built event, so a consumer sees the same
//! calls either way.

use crate::{Fields, Value};

/// A value that is neither a list nor an object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    /// An explicit null.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer (also unsigned values up to `i64::MAX`, as in [`Value::Int`]).
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(&'a str),
}

/// Receives an event's fields in source order, as [`Fields::feed`] reports them.
///
/// Names are borrowed for the call only: a streaming source reuses its buffer.
pub trait FieldSink {
    /// The fields that follow, up to the matching [`FieldSink::end_object`], are inside the
    /// object `name`.
    fn begin_object(&mut self, name: &str);
    /// The object begun last ends.
    fn end_object(&mut self);
    /// The field `name` holds one value.
    fn scalar(&mut self, name: &str, value: Scalar<'_>);
    /// The field `name` holds the integer `value` ([`Scalar::Int`] or [`Scalar::UInt`]), which
    /// the source wrote as `text`: exactly what [`Value::to_text`] renders for it. A sink that
    /// keeps values as text takes it from here instead of rendering the number again.
    fn integer(&mut self, name: &str, value: Scalar<'_>, text: &str) {
        let _ = text;
        self.scalar(name, value);
    }
    /// The field `name` holds a list; its items follow, up to [`FieldSink::end_list`].
    fn begin_list(&mut self, name: &str);
    /// An item of the list begun last. Items of nested lists come as items of the outer list;
    /// objects inside a list come as [`FieldSink::list_object_value`]s.
    fn list_item(&mut self, value: Scalar<'_>);
    /// A value inside an object that is an item of the list begun last, at any depth below
    /// it. No field name reaches it (a name does not index a list), but a keyword search,
    /// which looks at every value of the event, must see it.
    fn list_object_value(&mut self, value: Scalar<'_>);
    /// The list begun last ends.
    fn end_list(&mut self);
}

impl Fields {
    /// Reports every field to `sink`, in order, nested objects and lists included.
    pub fn feed(&self, sink: &mut impl FieldSink) {
        for (name, value) in self.iter_names() {
            match value {
                Value::Object(inner) => {
                    sink.begin_object(name);
                    inner.feed(sink);
                    sink.end_object();
                }
                Value::List(items) => {
                    sink.begin_list(name);
                    feed_items(items, sink);
                    sink.end_list();
                }
                scalar => {
                    if let Some(scalar) = Scalar::of(scalar) {
                        sink.scalar(name, scalar);
                    }
                }
            }
        }
    }
}

fn feed_items(items: &[Value], sink: &mut impl FieldSink) {
    for item in items {
        match item {
            Value::List(inner) => feed_items(inner, sink),
            Value::Object(inner) => inner.feed_as_list_object(sink),
            scalar => {
                if let Some(scalar) = Scalar::of(scalar) {
                    sink.list_item(scalar);
                }
            }
        }
    }
}

impl Fields {
    /// Reports every value of these fields, at any depth, as a
    /// [`FieldSink::list_object_value`]: for an object that is an item of a list.
    pub fn feed_as_list_object(&self, sink: &mut impl FieldSink) {
        for (_, value) in self.iter() {
            feed_list_object_value(value, sink);
        }
    }
}

fn feed_list_object_value(value: &Value, sink: &mut impl FieldSink) {
    match value {
        Value::Object(inner) => inner.feed_as_list_object(sink),
        Value::List(items) => {
            for item in items {
                feed_list_object_value(item, sink);
            }
        }
        scalar => {
            if let Some(scalar) = Scalar::of(scalar) {
                sink.list_object_value(scalar);
            }
        }
    }
}

impl<'a> Scalar<'a> {
    /// The scalar a value is (None for lists and objects).
    pub fn of(value: &'a Value) -> Option<Scalar<'a>> {
        Some(match value {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Int(i) => Scalar::Int(*i),
            Value::UInt(u) => Scalar::UInt(*u),
            Value::Float(f) => Scalar::Float(*f),
            Value::Str(s) => Scalar::Str(s),
            Value::List(_) | Value::Object(_) => return None,
        })
    }
}

/// A sink that keeps nothing: for reading past a value, or for timing a source alone.
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl FieldSink for Discard {
    fn begin_object(&mut self, _: &str) {}
    fn end_object(&mut self) {}
    fn scalar(&mut self, _: &str, _: Scalar<'_>) {}
    fn begin_list(&mut self, _: &str) {}
    fn list_item(&mut self, _: Scalar<'_>) {}
    fn list_object_value(&mut self, _: Scalar<'_>) {}
    fn end_list(&mut self) {}
}

/// Collects what a [`FieldSink`] is handed back into [`Fields`] (lists as they arrive: nested
/// lists' items in the outer list, and the values of objects inside a list as its items too),
/// so two streams can be compared as fields.
#[derive(Debug, Default)]
pub struct FieldsBuilder {
    fields: Fields,
    /// The objects being filled, outermost first, each with the fields around it.
    open: Vec<(String, Fields)>,
    list: Option<(String, Vec<Value>)>,
}

impl FieldsBuilder {
    /// The fields collected (objects left open are closed).
    pub fn finish(mut self) -> Fields {
        while !self.open.is_empty() {
            self.end_object();
        }
        self.fields
    }
}

impl From<Scalar<'_>> for Value {
    fn from(value: Scalar<'_>) -> Self {
        match value {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Int(i) => Value::Int(i),
            Scalar::UInt(u) => Value::UInt(u),
            Scalar::Float(f) => Value::Float(f),
            Scalar::Str(s) => Value::from(s),
        }
    }
}

impl FieldSink for FieldsBuilder {
    fn begin_object(&mut self, name: &str) {
        let around = std::mem::take(&mut self.fields);
        self.open.push((name.to_string(), around));
    }

    fn end_object(&mut self) {
        if let Some((name, around)) = self.open.pop() {
            let inner = std::mem::replace(&mut self.fields, around);
            self.fields.insert(name.as_str(), Value::Object(inner));
        }
    }

    fn scalar(&mut self, name: &str, value: Scalar<'_>) {
        self.fields.insert(name, Value::from(value));
    }

    /// A `text` that is not the number's rendering (a source's bug) is kept instead of the
    /// number, so that comparing the fields with a decoded event's shows it.
    fn integer(&mut self, name: &str, value: Scalar<'_>, text: &str) {
        let number = Value::from(value);
        if number.to_text().as_deref() == Some(text) {
            self.fields.insert(name, number);
        } else {
            self.fields.insert(name, Value::from(text));
        }
    }

    fn begin_list(&mut self, name: &str) {
        self.list = Some((name.to_string(), Vec::new()));
    }

    fn list_item(&mut self, value: Scalar<'_>) {
        if let Some((_, items)) = &mut self.list {
            items.push(Value::from(value));
        }
    }

    fn list_object_value(&mut self, value: Scalar<'_>) {
        self.list_item(value);
    }

    fn end_list(&mut self) {
        if let Some((name, items)) = self.list.take() {
            self.fields.insert(name.as_str(), Value::List(items));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_whose_text_is_not_its_rendering_is_kept_as_that_text() {
        let mut built = FieldsBuilder::default();
        built.integer("a", Scalar::Int(-12), "-12");
        built.integer("b", Scalar::UInt(u64::MAX), "18446744073709551615");
        built.integer("c", Scalar::Int(12), "012");
        let fields = built.finish();
        assert_eq!(fields.get("a"), Some(&Value::Int(-12)));
        assert_eq!(fields.get("b"), Some(&Value::UInt(u64::MAX)));
        assert_eq!(fields.get("c"), Some(&Value::from("012")));
    }

    #[test]
    fn feeds_fields_in_order_with_nested_lists_and_objects_in_lists_flattened() {
        let mut inner = Fields::new();
        inner.insert("b", Value::Null);
        let mut in_list = Fields::new();
        in_list.insert("c", Value::from("deep"));
        in_list.insert("d", Value::Object(inner.clone()));
        in_list.insert("e", Value::List(vec![Value::Int(7)]));
        let mut fields = Fields::new();
        fields.insert("a", Value::Int(-1));
        fields.insert("o", Value::Object(inner.clone()));
        fields.insert(
            "l",
            Value::List(vec![
                Value::from("x"),
                Value::List(vec![Value::Bool(true), Value::UInt(u64::MAX)]),
                Value::Object(in_list),
            ]),
        );
        fields.insert("f", Value::Float(0.5));
        let mut built = FieldsBuilder::default();
        fields.feed(&mut built);
        let mut expected = Fields::new();
        expected.insert("a", Value::Int(-1));
        expected.insert("o", Value::Object(inner));
        expected.insert(
            "l",
            Value::List(vec![
                Value::from("x"),
                Value::Bool(true),
                Value::UInt(u64::MAX),
                Value::from("deep"),
                Value::Null,
                Value::Int(7),
            ]),
        );
        expected.insert("f", Value::Float(0.5));
        assert_eq!(built.finish(), expected);
    }
}
