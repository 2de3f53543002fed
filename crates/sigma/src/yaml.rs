//! YAML documents as a small tree that remembers the line of every node.
//!
//! Built from `yaml-rust2`'s event parser so that every error can name a line, with the YAML 1.2
//! core schema for plain scalars (`yes`/`no` stay strings). Bounded: nesting deeper than
//! [`MAX_YAML_DEPTH`] or more than [`MAX_YAML_NODES`] nodes per document (aliases count again
//! each time they are used) stop the document with an error.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting of sequences and mappings accepted in one YAML document.
pub const MAX_YAML_DEPTH: usize = 64;
/// Most nodes accepted in one YAML document, alias expansions included.
pub const MAX_YAML_NODES: usize = 200_000;

/// A YAML node with the (1-based) line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub line: usize,
    pub kind: NodeKind,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    /// A plain decimal scalar: its value, and its spelling in the source (`1.10`), which is
    /// the text a Sigma value means (the spec treats values as strings).
    Float(f64, String),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in source order (keys are rendered as text).
    Map(Vec<(String, Node)>),
}

impl Node {
    /// Text of a scalar node (integers and booleans in canonical form, decimals as spelled);
    /// `None` for null and collections.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(_, spelling) => Some(spelling.clone()),
            NodeKind::Bool(b) => Some(b.to_string()),
            NodeKind::Null | NodeKind::Seq(_) | NodeKind::Map(_) => None,
        }
    }

    /// The string, when this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The entries, when this is a mapping.
    pub fn as_map(&self) -> Option<&[(String, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Looks a mapping key up.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// A short name of the node's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "boolean",
            NodeKind::Int(_) => "integer",
            NodeKind::Float(..) => "number",
            NodeKind::Str(_) => "string",
            NodeKind::Seq(_) => "list",
            NodeKind::Map(_) => "mapping",
        }
    }
}

/// One YAML document of a stream, or why it could not be read.
#[derive(Debug, PartialEq)]
pub(crate) enum Document {
    Ok(Node),
    Err { line: usize, message: String },
}

/// Parses every document of a YAML stream. A scanner error ends the stream (the YAML scanner
/// cannot resynchronise); documents read before it are kept.
pub(crate) fn parse_documents(text: &str) -> Vec<Document> {
    let mut builder = TreeBuilder::default();
    let result = Parser::new_from_str(text).load(&mut builder, true);
    if let Err(err) = result {
        builder.stream_failed(err.marker().line(), stream_error_message(err.info()));
    }
    builder.finish()
}

/// How a YAML syntax error that ends the stream is reported.
pub(crate) fn stream_error_message(info: &str) -> String {
    format!("invalid YAML: {info}")
}

enum Frame {
    Seq(usize, Vec<Node>, usize),
    Map(usize, Vec<(String, Node)>, Option<String>, usize),
}

/// Documents built from the YAML parser's events (live, or replayed from a
/// [`crate::recording`]).
#[derive(Default)]
pub(crate) struct TreeBuilder {
    stack: Vec<Frame>,
    anchors: Vec<(usize, Node)>,
    finished: Vec<Document>,
    nodes: usize,
    /// Set when the current document broke a limit; its remaining events are ignored.
    doc_failed: bool,
}

impl TreeBuilder {
    /// The stream ended with a syntax error at `line`: the documents read before it stay.
    pub(crate) fn stream_failed(&mut self, line: usize, message: String) {
        self.finished.push(Document::Err { line, message });
    }

    /// Every document read, in order.
    pub(crate) fn finish(self) -> Vec<Document> {
        self.finished
    }

    fn fail(&mut self, line: usize, message: String) {
        if !self.doc_failed {
            self.doc_failed = true;
            self.finished.push(Document::Err { line, message });
        }
    }

    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => self.finished.push(Document::Ok(node)),
            Some(Frame::Seq(_, items, _)) => items.push(node),
            Some(Frame::Map(_, entries, key, _)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => {
                    let text = node_key_text(&node);
                    *key = Some(text);
                }
            },
        }
    }

    fn count(&mut self, n: usize, line: usize) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_YAML_NODES {
            self.fail(
                line,
                format!("document has more than {MAX_YAML_NODES} YAML nodes (MAX_YAML_NODES)"),
            );
            return false;
        }
        true
    }
}

fn node_key_text(node: &Node) -> String {
    node.scalar_text().unwrap_or_else(|| match node.kind {
        NodeKind::Null => String::new(),
        _ => format!("<{}>", node.type_name()),
    })
}

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(_, v)| 1 + count_nodes(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        self.event(ev, mark.line());
    }
}

impl TreeBuilder {
    /// Takes one parser event, which starts on `line`.
    pub(crate) fn event(&mut self, ev: Event, line: usize) {
        match ev {
            Event::DocumentStart => {
                self.stack.clear();
                self.anchors.clear();
                self.nodes = 0;
                self.doc_failed = false;
            }
            Event::DocumentEnd | Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            _ if self.doc_failed => {}
            Event::Alias(id) => {
                let found = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone());
                match found {
                    Some(node) => {
                        if self.count(count_nodes(&node), line) {
                            self.push_node(node, 0);
                        }
                    }
                    None => self.fail(line, "alias refers to an unknown anchor".into()),
                }
            }
            Event::Scalar(value, style, anchor, _tag) => {
                if !self.count(1, line) {
                    return;
                }
                let kind = if style == TScalarStyle::Plain {
                    resolve_plain(value)
                } else {
                    NodeKind::Str(value)
                };
                self.push_node(Node { line, kind }, anchor);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if !self.count(1, line) {
                    return;
                }
                if self.stack.len() >= MAX_YAML_DEPTH {
                    self.fail(
                        line,
                        format!("YAML nesting deeper than {MAX_YAML_DEPTH} (MAX_YAML_DEPTH)"),
                    );
                    return;
                }
                if matches!(ev, Event::SequenceStart(..)) {
                    self.stack.push(Frame::Seq(line, Vec::new(), anchor));
                } else {
                    self.stack.push(Frame::Map(line, Vec::new(), None, anchor));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq(start, items, anchor)) => self.push_node(
                    Node {
                        line: start,
                        kind: NodeKind::Seq(items),
                    },
                    anchor,
                ),
                Some(Frame::Map(start, entries, _, anchor)) => self.push_node(
                    Node {
                        line: start,
                        kind: NodeKind::Map(entries),
                    },
                    anchor,
                ),
                None => self.fail(line, "unbalanced YAML collection".into()),
            },
        }
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(value: String) -> NodeKind {
    match value.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        _ => {}
    }
    let bytes = value.as_bytes();
    let digits_start = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let body = &value[digits_start..];
    if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = value.parse::<i64>() {
            return NodeKind::Int(i);
        }
    }
    if let Some(hex) = value.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return NodeKind::Int(i);
        }
    }
    let looks_float = body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && body.bytes().any(|b| b.is_ascii_digit())
        && body.contains('.');
    if looks_float {
        if let Ok(f) = value.parse::<f64>() {
            return NodeKind::Float(f, value);
        }
    }
    NodeKind::Str(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        match parse_documents(text).into_iter().next() {
            Some(Document::Ok(n)) => n,
            other => panic!("expected a document, got {other:?}"),
        }
    }

    #[test]
    fn remembers_lines_and_types() {
        let n = one("a: 1\nb:\n  - x\n  - 'yes'\nc: yes\nd: ~\ne: 1.5\n");
        assert_eq!(n.get("a").map(|v| &v.kind), Some(&NodeKind::Int(1)));
        let b = n.get("b").expect("b");
        assert_eq!(b.line, 3);
        assert_eq!(n.get("c").and_then(Node::as_str), Some("yes"));
        assert_eq!(n.get("d").map(|v| &v.kind), Some(&NodeKind::Null));
        assert_eq!(
            n.get("e").map(|v| &v.kind),
            Some(&NodeKind::Float(1.5, "1.5".into()))
        );
        let spelled = one("a: 1.10\nb: -0.50\n");
        assert_eq!(
            spelled.get("a").and_then(Node::scalar_text).as_deref(),
            Some("1.10")
        );
        assert_eq!(
            spelled.get("b").and_then(Node::scalar_text).as_deref(),
            Some("-0.50")
        );
    }

    #[test]
    fn multi_document_streams_and_errors_with_lines() {
        let docs = parse_documents("a: 1\n---\nb: 2\n---\nc: [\n");
        assert!(matches!(docs[0], Document::Ok(_)));
        assert!(matches!(docs[1], Document::Ok(_)));
        match &docs[2] {
            Document::Err { line, .. } => assert!(*line >= 5, "line {line}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn depth_limit_is_enforced() {
        let deep = "[".repeat(MAX_YAML_DEPTH + 1) + &"]".repeat(MAX_YAML_DEPTH + 1);
        let docs = parse_documents(&deep);
        assert!(
            matches!(&docs[0], Document::Err { message, .. } if message.contains("MAX_YAML_DEPTH"))
        );
        let ok = "[".repeat(MAX_YAML_DEPTH) + &"]".repeat(MAX_YAML_DEPTH);
        assert!(matches!(parse_documents(&ok)[0], Document::Ok(_)));
    }

    #[test]
    fn node_limit_stops_alias_bombs() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for name in 'b'..='h' {
            text.push_str(&format!(
                "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = name;
        }
        let docs = parse_documents(&text);
        assert!(
            matches!(&docs[0], Document::Err { message, .. } if message.contains("MAX_YAML_NODES"))
        );
    }
}
