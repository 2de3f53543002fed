//! A bounded YAML reader that keeps the line of every node.
//!
//! Atomic files are untrusted input, so the tree is built from `yaml-rust2`'s event stream with
//! explicit limits (size, nesting depth, node count including alias expansions) instead of a
//! recursive loader. Plain scalars are resolved with the YAML 1.2 core schema, the schema
//! ruamel's safe loader (the one Atomic Red Team's own validator uses) applies; duplicate keys and
//! more than one document are rejected, as ruamel does.

use crate::error::Error;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// Largest atomic file read, in bytes (the largest Atomic Red Team file is about 100 KiB).
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Deepest nesting of sequences and mappings (atomic files nest five levels).
pub const MAX_DEPTH: usize = 64;
/// Most nodes in one file, counting every node an alias copies (bounds "billion laughs").
pub const MAX_NODES: usize = 200_000;

/// One YAML node with the 1-based line and column where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub line: usize,
    pub col: usize,
}

/// The resolved value of a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The string value, if this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in a mapping whose keys are strings.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short name of the node's type for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        line: usize,
        col: usize,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        line: usize,
        col: usize,
        anchor: usize,
    },
}

/// Parses one YAML document into a tree. An empty stream yields a `Null` node.
pub(crate) fn parse(path: &str, text: &str) -> Result<Node, Error> {
    if text.len() > MAX_FILE_BYTES {
        return Err(Error::Limit {
            path: path.to_owned(),
            line: 0,
            what: "file size in bytes",
            limit: MAX_FILE_BYTES,
        });
    }
    let syntax = |line: usize, col: usize, message: String| Error::Yaml {
        path: path.to_owned(),
        line,
        col,
        message,
    };
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: Vec<(usize, Node, usize)> = Vec::new(); // (anchor id, node, node count)
    let mut nodes = 0usize;
    let mut documents = 0usize;
    let mut root: Option<Node> = None;
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| syntax(e.marker().line(), e.marker().col() + 1, e.info().to_owned()))?;
        let (line, col) = (mark.line(), mark.col() + 1);
        let is_sequence = matches!(event, Event::SequenceStart(..));
        let finished: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(syntax(
                        line,
                        col,
                        "expected a single document, found another".into(),
                    ));
                }
                None
            }
            Event::Scalar(value, style, anchor, tag) => {
                let kind = resolve_scalar(value, style, tag.as_ref())
                    .map_err(|message| syntax(line, col, message))?;
                Some((Node { kind, line, col }, anchor))
            }
            Event::Alias(id) => {
                let Some((_, node, count)) = anchors.iter().find(|(a, _, _)| *a == id) else {
                    return Err(syntax(line, col, "alias to an unknown anchor".into()));
                };
                nodes = nodes.saturating_add(*count);
                if nodes > MAX_NODES {
                    return Err(limit(
                        path,
                        line,
                        "nodes (after alias expansion)",
                        MAX_NODES,
                    ));
                }
                Some((node.clone(), 0))
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                if let Some(tag) = tag {
                    let core = tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!";
                    if !core || !matches!(tag.suffix.as_str(), "seq" | "map") {
                        return Err(syntax(
                            line,
                            col,
                            format!("unsupported tag {}{}", tag.handle, tag.suffix),
                        ));
                    }
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(limit(path, line, "nesting depth", MAX_DEPTH));
                }
                stack.push(if is_sequence {
                    Frame::Seq {
                        items: Vec::new(),
                        line,
                        col,
                        anchor,
                    }
                } else {
                    Frame::Map {
                        entries: Vec::new(),
                        key: None,
                        line,
                        col,
                        anchor,
                    }
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq {
                    items,
                    line,
                    col,
                    anchor,
                }) => Some((
                    Node {
                        kind: Kind::Seq(items),
                        line,
                        col,
                    },
                    anchor,
                )),
                Some(Frame::Map {
                    entries,
                    line,
                    col,
                    anchor,
                    ..
                }) => Some((
                    Node {
                        kind: Kind::Map(entries),
                        line,
                        col,
                    },
                    anchor,
                )),
                None => return Err(syntax(line, col, "unbalanced collection end".into())),
            },
        };
        let Some((node, anchor)) = finished else {
            continue;
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(limit(path, node.line, "nodes", MAX_NODES));
        }
        if anchor != 0 {
            let count = count_nodes(&node);
            anchors.retain(|(a, _, _)| *a != anchor);
            anchors.push((anchor, node.clone(), count));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    if !matches!(node.kind, Kind::Str(_) | Kind::Int(_) | Kind::Bool(_)) {
                        return Err(syntax(
                            node.line,
                            node.col,
                            format!("mapping key is {}, expected a string", node.type_name()),
                        ));
                    }
                    if entries.iter().any(|(k, _)| k.kind == node.kind) {
                        return Err(syntax(
                            node.line,
                            node.col,
                            format!("duplicate key {}", describe_key(&node)),
                        ));
                    }
                    *key = Some(node);
                }
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(root.unwrap_or(Node {
        kind: Kind::Null,
        line: 1,
        col: 1,
    }))
}

fn limit(path: &str, line: usize, what: &'static str, limit: usize) -> Error {
    Error::Limit {
        path: path.to_owned(),
        line,
        what,
        limit,
    }
}

fn describe_key(node: &Node) -> String {
    match &node.kind {
        Kind::Str(s) => format!("'{s}'"),
        Kind::Int(i) => i.to_string(),
        Kind::Bool(b) => b.to_string(),
        _ => node.type_name().to_owned(),
    }
}

fn count_nodes(node: &Node) -> usize {
    // Iterative so that a deep tree cannot exhaust the stack (depth is bounded anyway).
    let mut count = 0usize;
    let mut pending = vec![node];
    while let Some(n) = pending.pop() {
        count += 1;
        match &n.kind {
            Kind::Seq(items) => pending.extend(items.iter()),
            Kind::Map(entries) => {
                for (k, v) in entries {
                    pending.push(k);
                    pending.push(v);
                }
            }
            _ => {}
        }
    }
    count
}

/// Resolves a scalar: quoted and block scalars are strings; plain scalars follow the YAML 1.2
/// core schema (null, bool, int, float, else string). Core tags are honoured, others rejected.
fn resolve_scalar(
    value: String,
    style: TScalarStyle,
    tag: Option<&yaml_rust2::parser::Tag>,
) -> Result<Kind, String> {
    if let Some(tag) = tag {
        let core = tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!";
        let invalid = || format!("'{value}' is not a valid !!{}", tag.suffix);
        return match (core, tag.suffix.as_str()) {
            (true, "str") => Ok(Kind::Str(value)),
            (true, "null") => match resolve_plain(&value) {
                Kind::Null => Ok(Kind::Null),
                _ => Err(invalid()),
            },
            (true, "bool") => match resolve_plain(&value) {
                Kind::Bool(b) => Ok(Kind::Bool(b)),
                _ => Err(invalid()),
            },
            (true, "int") => match resolve_plain(&value) {
                Kind::Int(i) => Ok(Kind::Int(i)),
                _ => Err(invalid()),
            },
            (true, "float") => match resolve_plain(&value) {
                Kind::Float(f) => Ok(Kind::Float(f)),
                Kind::Int(i) => Ok(Kind::Float(i as f64)),
                _ => Err(invalid()),
            },
            _ => Err(format!("unsupported tag {}{}", tag.handle, tag.suffix)),
        };
    }
    Ok(match style {
        TScalarStyle::Plain => resolve_plain(&value),
        _ => Kind::Str(value),
    })
}

fn resolve_plain(value: &str) -> Kind {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Kind::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Kind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Kind::Float(f64::NAN),
        _ => {}
    }
    if let Some(int) = parse_core_int(value) {
        return Kind::Int(int);
    }
    if is_core_float(value) {
        if let Ok(float) = value.parse::<f64>() {
            return Kind::Float(float);
        }
    }
    Kind::Str(value.to_owned())
}

fn parse_core_int(value: &str) -> Option<i64> {
    if let Some(hex) = value.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = value.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<i64>().ok()
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_core_float(value: &str) -> bool {
    let bytes = value.strip_prefix(['-', '+']).unwrap_or(value).as_bytes();
    let mut i = 0;
    let int_digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp_digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Kind {
        match parse("t.yaml", text) {
            Ok(node) => node.kind,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn core_schema_scalars() {
        assert_eq!(kind("~"), Kind::Null);
        assert_eq!(kind("True"), Kind::Bool(true));
        assert_eq!(kind("yes"), Kind::Str("yes".into()));
        assert_eq!(kind("0x1F"), Kind::Int(31));
        assert_eq!(kind("-12"), Kind::Int(-12));
        assert_eq!(kind("1.5e3"), Kind::Float(1500.0));
        assert_eq!(kind("'12'"), Kind::Str("12".into()));
        assert_eq!(kind("0000:00:30"), Kind::Str("0000:00:30".into()));
        assert_eq!(kind("!!str 5"), Kind::Str("5".into()));
    }

    #[test]
    fn lines_are_kept() {
        let node = parse("t.yaml", "a: 1\nb:\n  - x\n").unwrap();
        let b = node.get("b").unwrap();
        let Kind::Seq(items) = &b.kind else { panic!() };
        assert_eq!(items[0].line, 3);
    }

    #[test]
    fn duplicate_keys_and_second_documents_are_rejected() {
        let err = parse("t.yaml", "a: 1\na: 2\n").unwrap_err().to_string();
        assert!(err.contains("duplicate key 'a'"), "{err}");
        assert!(err.starts_with("t.yaml:2:"), "{err}");
        let err = parse("t.yaml", "a: 1\n---\nb: 2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("single document"), "{err}");
    }

    #[test]
    fn file_size_limit() {
        let text = "#".repeat(MAX_FILE_BYTES + 1);
        assert!(matches!(
            parse("t.yaml", &text),
            Err(Error::Limit {
                limit: MAX_FILE_BYTES,
                ..
            })
        ));
    }

    #[test]
    fn depth_limit() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(matches!(
            parse("t.yaml", &deep),
            Err(Error::Limit {
                limit: MAX_DEPTH,
                ..
            })
        ));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse("t.yaml", &ok).is_ok());
    }

    #[test]
    fn alias_expansion_is_bounded() {
        // Each level doubles the expanded size: 2^20 nodes from a 400-byte file.
        let mut text = String::from("a0: &a0 [x, x]\n");
        for i in 1..20 {
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}]\n", p = i - 1));
        }
        assert!(matches!(
            parse("t.yaml", &text),
            Err(Error::Limit {
                limit: MAX_NODES,
                ..
            })
        ));
    }
}
