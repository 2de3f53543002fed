//! Loading rules: files to parsed rules, then references (filters, correlations) resolved.

use crate::error::LoadError;
use crate::parse::{merge, parse_rule, without_action, Body, ParsedRule, Placeholders};
use crate::pipeline::Pipeline;
use crate::recording::replay_documents;
use crate::ruleset::RuleSet;
use crate::yaml::{parse_documents, Document, Node, NodeKind};
use std::collections::HashMap;

/// Collects rules from files, then builds an immutable [`RuleSet`].
pub struct RuleSetBuilder {
    pub(crate) pipeline: Pipeline,
    placeholders: Placeholders,
    /// Bumped by every `set_placeholders`, so rules parsed earlier are parsed again in `build`.
    placeholder_generation: u64,
    pub(crate) parsed: Vec<ParsedRule>,
    /// Documents that use `expand`, kept to be parsed again with later placeholder values:
    /// (index into `parsed`, document, generation it was parsed with).
    expand_docs: Vec<(usize, Node, u64)>,
    /// Whether the built set searches events for its rules' literals first (see
    /// [`RuleSetBuilder::without_literal_index`]).
    index_literals: bool,
}

impl RuleSetBuilder {
    /// A builder whose rules will be routed and renamed by `pipeline`.
    pub fn new(pipeline: Pipeline) -> Self {
        RuleSetBuilder {
            pipeline,
            placeholders: Placeholders::new(),
            placeholder_generation: 0,
            parsed: Vec::new(),
            expand_docs: Vec::new(),
            index_literals: true,
        }
    }

    /// Builds a set that evaluates every rule routed to an event, rather than first searching
    /// the event for the literals the rules require. Working out those literals took a fifth
    /// of the embedded Linux ruleset's load, and building their searches (an automaton per
    /// field the rules name, at the first event of each routing key) 1.2 ms; evaluating
    /// without them costs 0.8 µs more per event. A source of few events, such as one traced
    /// command, is answered sooner without them. The answers are the same.
    pub fn without_literal_index(mut self) -> Self {
        self.index_literals = false;
        self
    }

    /// Parses and compiles every YAML document of one file; a failing document fails alone.
    /// Returns the errors (with path, line, rule id/title when known, and why).
    ///
    /// Sigma 1 multi-document files are understood: a document with `action: global` is merged
    /// into every later document, `action: reset` forgets it, and `action: repeat` repeats the
    /// previous document with its own keys merged over it.
    pub fn add_file(&mut self, path: &str, text: &str) -> Vec<LoadError> {
        self.add_documents(path, parse_documents(text))
    }

    /// [`RuleSetBuilder::add_file`] from a recording of the file's YAML made by
    /// [`crate::record_yaml`] (the rules built into the binary are recorded when it is built),
    /// which skips scanning the YAML. A recording that is not `text`'s, or that does not decode,
    /// is ignored and `text` is parsed: the rules and errors are the same either way.
    pub fn add_recorded(&mut self, path: &str, text: &str, recording: &[u8]) -> Vec<LoadError> {
        let documents = replay_documents(recording, text).unwrap_or_else(|| parse_documents(text));
        self.add_documents(path, documents)
    }

    fn add_documents(&mut self, path: &str, documents: Vec<Document>) -> Vec<LoadError> {
        let mut errors = Vec::new();
        let mut global: Option<Node> = None;
        let mut previous: Option<Node> = None;
        for doc in documents {
            let node = match doc {
                Document::Ok(node) => node,
                Document::Err { line, message } => {
                    errors.push(LoadError {
                        path: path.to_string(),
                        line: Some(line),
                        rule_id: None,
                        title: None,
                        message,
                    });
                    continue;
                }
            };
            if node.kind == NodeKind::Null {
                continue;
            }
            let action = node
                .get("action")
                .and_then(Node::as_str)
                .map(str::to_string);
            let node = match action.as_deref() {
                Some("global") => {
                    global = Some(without_action(&node));
                    continue;
                }
                Some("reset") => {
                    global = None;
                    continue;
                }
                Some("repeat") => match &previous {
                    Some(prev) => merge(prev, &without_action(&node)),
                    None => {
                        errors.push(LoadError {
                            path: path.to_string(),
                            line: Some(node.line),
                            rule_id: None,
                            title: None,
                            message: "'action: repeat' with no previous document".into(),
                        });
                        continue;
                    }
                },
                Some(other) => {
                    errors.push(LoadError {
                        path: path.to_string(),
                        line: Some(node.line),
                        rule_id: None,
                        title: None,
                        message: format!("unknown 'action: {other}' (global, reset or repeat)"),
                    });
                    continue;
                }
                None => match &global {
                    Some(g) => merge(g, &node),
                    None => node,
                },
            };
            match parse_rule(&node, path, &self.placeholders) {
                Ok(rule) => {
                    if uses_expand(&node) {
                        self.expand_docs.push((
                            self.parsed.len(),
                            node.clone(),
                            self.placeholder_generation,
                        ));
                    }
                    self.parsed.push(rule);
                }
                Err(failure) => errors.push(LoadError {
                    path: path.to_string(),
                    line: Some(failure.fail.line),
                    rule_id: failure.id,
                    title: failure.title,
                    message: failure.fail.message,
                }),
            }
            previous = Some(node);
        }
        errors
    }

    /// Placeholder values for the `expand` modifier (placeholder name, without `%`, -> values;
    /// values may use wildcards). Applies to every rule, also those added before the call. A
    /// placeholder left without values makes its value match nothing; the rule still loads and
    /// [`RuleSet::unresolved_placeholders`] lists it.
    pub fn set_placeholders(&mut self, values: HashMap<String, Vec<String>>) {
        self.placeholders = values
            .into_iter()
            .map(|(k, v)| (k.trim_matches('%').to_string(), v))
            .collect();
        self.placeholder_generation += 1;
    }

    /// Resolves correlation and filter references; errors name the correlation or filter.
    pub fn build(mut self) -> (RuleSet, Vec<LoadError>) {
        let mut errors = Vec::new();
        for (index, node, generation) in std::mem::take(&mut self.expand_docs) {
            if generation == self.placeholder_generation {
                continue;
            }
            match parse_rule(
                &node,
                &self.parsed[index].info.path.clone(),
                &self.placeholders,
            ) {
                Ok(rule) => self.parsed[index] = rule,
                Err(failure) => {
                    // The earlier parse succeeded, so only the new values can be at fault.
                    errors.push(LoadError {
                        path: self.parsed[index].info.path.clone(),
                        line: Some(failure.fail.line),
                        rule_id: failure.id,
                        title: failure.title,
                        message: format!(
                            "with the placeholder values given: {}",
                            failure.fail.message
                        ),
                    });
                }
            }
        }
        let (set, mut more) = RuleSet::from_parsed(self.pipeline, self.parsed, self.index_literals);
        errors.append(&mut more);
        (set, errors)
    }
}

fn uses_expand(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Map(entries) => entries
            .iter()
            .any(|(k, v)| k.split('|').any(|m| m.trim() == "expand") || uses_expand(v)),
        NodeKind::Seq(items) => items.iter().any(uses_expand),
        _ => false,
    }
}

/// Whether a parsed rule is referenced by this name or id.
pub(crate) fn answers_to(rule: &ParsedRule, reference: &str) -> bool {
    (!rule.info.id.is_empty() && rule.info.id == reference)
        || rule.info.name.as_deref() == Some(reference)
}

/// Kind check used by reference resolution.
pub(crate) fn is_detection(rule: &ParsedRule) -> bool {
    matches!(rule.body, Body::Detection(_))
}
