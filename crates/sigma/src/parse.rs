//! YAML documents to rules: metadata, detections (items, modifiers, values), conditions,
//! correlations and filters. Every error names the line it found the problem on.

use crate::ast::{CmpOp, Cond, DetectionAst, Item, Network, RefMode, Selection, Tok, ValueMatch};
use crate::condition::parse_condition;
use crate::error::{Fail, Res};
use crate::modifiers::{
    base64, base64_offsets, expand_placeholders, parse_sigma_string, plain_text, utf16, windash,
    wrap, Expanded,
};
use crate::rule::{Level, LogSource, RuleInfo, RuleKind};
use crate::yaml::{Node, NodeKind};
use nativeguard_event::Value;
use std::collections::HashMap;
use std::net::IpAddr;

/// Largest compiled size of one `re` value, in bytes (`regex`'s size limit).
pub const MAX_REGEX_SIZE: usize = 10 << 20;

/// Placeholder values for `expand`, by name (without `%`).
pub(crate) type Placeholders = HashMap<String, Vec<String>>;

/// A correlation's count or aggregate comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CountOp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl CountOp {
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CountOp::Gt => left > right,
            CountOp::Gte => left >= right,
            CountOp::Lt => left < right,
            CountOp::Lte => left <= right,
            CountOp::Eq => left == right,
            CountOp::Neq => left != right,
        }
    }
}

/// The correlation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
    ValueMedian,
}

/// A parsed `correlation:` section.
#[derive(Debug, Clone)]
pub(crate) struct CorrelationAst {
    pub kind: CorrelationType,
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_nanos: i64,
    pub condition: Vec<(CountOp, f64)>,
    pub field: Option<String>,
    pub percentile: f64,
    /// alias -> (rule id or name -> field)
    pub aliases: HashMap<String, HashMap<String, String>>,
    pub generate: bool,
    pub line: usize,
}

/// A parsed `filter:` section.
#[derive(Debug, Clone)]
pub(crate) struct FilterAst {
    pub rules: Vec<String>,
    pub detection: DetectionAst,
    pub line: usize,
}

/// What a document defines.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Detection(DetectionAst),
    Correlation(CorrelationAst),
    Filter(FilterAst),
}

/// One parsed rule document.
#[derive(Debug, Clone)]
pub(crate) struct ParsedRule {
    pub info: RuleInfo,
    pub body: Body,
    /// Placeholders used by `expand` that had no values when the rule was parsed.
    pub unresolved: Vec<String>,
}

/// A rule document that failed, with whatever metadata was read.
pub(crate) struct ParseFailure {
    pub id: Option<String>,
    pub title: Option<String>,
    pub fail: Fail,
}

/// Parses one YAML document into a rule.
pub(crate) fn parse_rule(
    doc: &Node,
    path: &str,
    placeholders: &Placeholders,
) -> Result<ParsedRule, ParseFailure> {
    let id = doc.get("id").and_then(Node::scalar_text);
    let title = doc.get("title").and_then(Node::scalar_text);
    parse_rule_inner(doc, path, placeholders).map_err(|fail| ParseFailure { id, title, fail })
}

fn text_list(node: Option<&Node>, what: &str) -> Res<Vec<String>> {
    match node {
        None => Ok(Vec::new()),
        Some(n) => match &n.kind {
            NodeKind::Null => Ok(Vec::new()),
            NodeKind::Seq(items) => items
                .iter()
                .map(|i| {
                    i.scalar_text().ok_or_else(|| {
                        Fail::new(i.line, format!("{what} must be a list of strings"))
                    })
                })
                .collect(),
            _ => n
                .scalar_text()
                .map(|s| vec![s])
                .ok_or_else(|| Fail::new(n.line, format!("{what} must be a list of strings"))),
        },
    }
}

fn opt_text(node: &Node, key: &str) -> Res<Option<String>> {
    match node.get(key) {
        None => Ok(None),
        Some(n) if n.kind == NodeKind::Null => Ok(None),
        Some(n) => match &n.kind {
            // A list of authors is joined, so DRL attribution keeps every name.
            NodeKind::Seq(_) => Ok(Some(text_list(Some(n), key)?.join(", "))),
            _ => n
                .scalar_text()
                .map(Some)
                .ok_or_else(|| Fail::new(n.line, format!("'{key}' must be a string"))),
        },
    }
}

fn parse_logsource(doc: &Node) -> Res<LogSource> {
    let Some(ls) = doc.get("logsource") else {
        return Ok(LogSource::default());
    };
    if ls.kind == NodeKind::Null {
        return Ok(LogSource::default());
    }
    if ls.as_map().is_none() {
        return Err(Fail::new(ls.line, "'logsource' must be a mapping"));
    }
    let field =
        |k: &str| -> Res<Option<String>> { Ok(opt_text(ls, k)?.map(|s| s.trim().to_lowercase())) };
    Ok(LogSource {
        product: field("product")?,
        category: field("category")?,
        service: field("service")?,
    })
}

fn parse_rule_inner(doc: &Node, path: &str, placeholders: &Placeholders) -> Res<ParsedRule> {
    if doc.as_map().is_none() {
        return Err(Fail::new(
            doc.line,
            format!("a rule must be a YAML mapping, found a {}", doc.type_name()),
        ));
    }
    let title =
        opt_text(doc, "title")?.ok_or_else(|| Fail::new(doc.line, "rule has no 'title'"))?;
    let level = match opt_text(doc, "level")? {
        None => Level::default(),
        Some(l) => l
            .parse()
            .map_err(|e: String| Fail::new(doc.get("level").map_or(doc.line, |n| n.line), e))?,
    };
    let kinds = ["detection", "correlation", "filter"]
        .iter()
        .filter(|k| doc.get(k).is_some())
        .count();
    if kinds > 1 {
        return Err(Fail::new(
            doc.line,
            "a rule has exactly one of 'detection', 'correlation' and 'filter'",
        ));
    }
    let mut unresolved = Vec::new();
    let (kind, body) = if let Some(det) = doc.get("detection") {
        let ast = parse_detection(det, placeholders, &mut unresolved)?;
        (RuleKind::Detection, Body::Detection(ast))
    } else if let Some(corr) = doc.get("correlation") {
        (
            RuleKind::Correlation,
            Body::Correlation(parse_correlation(corr, doc)?),
        )
    } else if let Some(filter) = doc.get("filter") {
        (
            RuleKind::Filter,
            Body::Filter(parse_filter(filter, placeholders, &mut unresolved)?),
        )
    } else {
        return Err(Fail::new(
            doc.line,
            "rule has no 'detection', 'correlation' or 'filter' section",
        ));
    };
    let info = RuleInfo {
        id: opt_text(doc, "id")?.unwrap_or_default(),
        title,
        name: opt_text(doc, "name")?,
        level,
        status: opt_text(doc, "status")?,
        author: opt_text(doc, "author")?,
        tags: text_list(doc.get("tags"), "tags")?,
        description: opt_text(doc, "description")?,
        references: text_list(doc.get("references"), "references")?,
        falsepositives: text_list(doc.get("falsepositives"), "falsepositives")?,
        date: opt_text(doc, "date")?,
        modified: opt_text(doc, "modified")?,
        logsource: parse_logsource(doc)?,
        path: path.to_string(),
        line: doc.line,
        kind,
    };
    Ok(ParsedRule {
        info,
        body,
        unresolved,
    })
}

/// Parses a `detection:` (or a filter's) section: every key but `condition` and `timeframe` is a
/// search identifier.
fn parse_detection(
    det: &Node,
    placeholders: &Placeholders,
    unresolved: &mut Vec<String>,
) -> Res<DetectionAst> {
    let entries = det
        .as_map()
        .ok_or_else(|| Fail::new(det.line, "'detection' must be a mapping"))?;
    let mut names = Vec::new();
    let mut selections = Vec::new();
    let mut condition = None;
    for (key, value) in entries {
        match key.as_str() {
            "condition" => condition = Some(value),
            // Sigma 1 aggregation window; meaningless without an aggregation.
            "timeframe" | "rules" => {}
            _ => {
                names.push(key.clone());
                selections.push(parse_selection(key, value, placeholders, unresolved)?);
            }
        }
    }
    let cond_node = condition.ok_or_else(|| Fail::new(det.line, "detection has no 'condition'"))?;
    let parse_one = |n: &Node| -> Res<Cond> {
        let text = n.scalar_text().ok_or_else(|| {
            Fail::new(n.line, "'condition' must be a string or a list of strings")
        })?;
        parse_condition(&text, &names).map_err(|e| Fail::new(n.line, e))
    };
    let condition = match &cond_node.kind {
        NodeKind::Seq(items) if !items.is_empty() => {
            let conds = items.iter().map(parse_one).collect::<Res<Vec<_>>>()?;
            if conds.len() == 1 {
                conds.into_iter().next().unwrap_or(Cond::Or(Vec::new()))
            } else {
                Cond::Or(conds)
            }
        }
        _ => parse_one(cond_node)?,
    };
    Ok(DetectionAst {
        selections,
        condition,
    })
}

fn parse_selection(
    name: &str,
    node: &Node,
    placeholders: &Placeholders,
    unresolved: &mut Vec<String>,
) -> Res<Selection> {
    let mut alternatives = Vec::new();
    match &node.kind {
        NodeKind::Map(entries) => {
            alternatives.push(parse_map(entries, node.line, placeholders, unresolved)?)
        }
        NodeKind::Seq(items) => {
            let mut keywords = Vec::new();
            for item in items {
                match &item.kind {
                    NodeKind::Map(entries) => {
                        alternatives.push(parse_map(entries, item.line, placeholders, unresolved)?)
                    }
                    NodeKind::Seq(_) => {
                        return Err(Fail::new(
                            item.line,
                            format!("search identifier '{name}' holds a nested list"),
                        ))
                    }
                    _ => keywords.push(item),
                }
            }
            if !keywords.is_empty() {
                let items = parse_item(None, &[], &keywords, node.line, placeholders, unresolved)?;
                alternatives.push(items);
            }
            if items.is_empty() {
                return Err(Fail::new(
                    node.line,
                    format!("search identifier '{name}' is an empty list"),
                ));
            }
        }
        NodeKind::Null => {
            return Err(Fail::new(
                node.line,
                format!("search identifier '{name}' is empty"),
            ))
        }
        _ => {
            let items = parse_item(None, &[], &[node], node.line, placeholders, unresolved)?;
            alternatives.push(items);
        }
    }
    Ok(Selection { alternatives })
}

fn parse_map(
    entries: &[(String, Node)],
    line: usize,
    placeholders: &Placeholders,
    unresolved: &mut Vec<String>,
) -> Res<Vec<Item>> {
    if entries.is_empty() {
        return Err(Fail::new(line, "empty mapping in a search identifier"));
    }
    let mut items = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or("").trim();
        let modifiers: Vec<&str> = parts.map(str::trim).collect();
        let values: Vec<&Node> = match &value.kind {
            NodeKind::Seq(list) => list.iter().collect(),
            _ => vec![value],
        };
        if values.is_empty() {
            return Err(Fail::new(
                value.line,
                format!("'{key}' has an empty list of values"),
            ));
        }
        let field = if field.is_empty() { None } else { Some(field) };
        items.extend(parse_item(
            field,
            &modifiers,
            &values,
            value.line,
            placeholders,
            unresolved,
        )?);
    }
    Ok(items)
}

/// Intermediate value while modifiers are applied.
enum Raw {
    Toks(Vec<Tok>),
    Bytes(Vec<u8>),
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Str,
    Regex,
    Cidr,
    Exists,
    FieldRef,
    Num(CmpOp),
}

/// Applies `modifiers` to `values` and builds one item, or, for `all` over values that expand
/// into several (windash, base64offset, placeholders), one item per value, all required.
fn parse_item(
    field: Option<&str>,
    modifiers: &[&str],
    values: &[&Node],
    line: usize,
    placeholders: &Placeholders,
    unresolved: &mut Vec<String>,
) -> Res<Vec<Item>> {
    let fail = |m: String| Fail::new(line, m);
    let mut kind = Kind::Str;
    let (mut starts, mut ends) = (false, false);
    let (mut all, mut cased, mut negate, mut expand) = (false, false, false, false);
    let mut regex_flags = String::new();
    let mut transforms: Vec<&str> = Vec::new();
    let set_kind = |kind: &mut Kind, k: Kind, name: &str| -> Res<()> {
        if *kind != Kind::Str {
            return Err(Fail::new(
                line,
                format!("modifier '{name}' cannot be combined with another type modifier"),
            ));
        }
        *kind = k;
        Ok(())
    };
    for &m in modifiers {
        match m {
            "contains" => (starts, ends) = (true, true),
            "startswith" => ends = true,
            "endswith" => starts = true,
            "all" => all = true,
            "cased" => cased = true,
            "neq" => negate = true,
            "expand" => expand = true,
            "re" => set_kind(&mut kind, Kind::Regex, m)?,
            "i" | "m" | "s" => {
                if kind != Kind::Regex {
                    return Err(fail(format!("modifier '{m}' is only valid after 're'")));
                }
                if !regex_flags.contains(m) {
                    regex_flags.push_str(m);
                }
            }
            "cidr" => set_kind(&mut kind, Kind::Cidr, m)?,
            "exists" => set_kind(&mut kind, Kind::Exists, m)?,
            "fieldref" => set_kind(&mut kind, Kind::FieldRef, m)?,
            "gt" => set_kind(&mut kind, Kind::Num(CmpOp::Gt), m)?,
            "gte" => set_kind(&mut kind, Kind::Num(CmpOp::Gte), m)?,
            "lt" => set_kind(&mut kind, Kind::Num(CmpOp::Lt), m)?,
            "lte" => set_kind(&mut kind, Kind::Num(CmpOp::Lte), m)?,
            "base64" | "base64offset" | "utf16le" | "wide" | "utf16be" | "utf16" | "windash" => {
                transforms.push(m)
            }
            "minute" | "hour" | "day" | "week" | "month" | "year" => {
                return Err(fail(format!(
                    "time modifier '{m}' is not supported (no SigmaHQ rule uses it; the field's date format is source specific)"
                )))
            }
            "" => return Err(fail("empty modifier ('||')".into())),
            other => return Err(fail(format!("unknown modifier '{other}'"))),
        }
    }
    if field.is_none()
        && matches!(
            kind,
            Kind::Exists | Kind::FieldRef | Kind::Cidr | Kind::Num(_)
        )
    {
        return Err(fail(
            "keyword lists (no field name) take only string modifiers".into(),
        ));
    }
    if kind != Kind::Str && !transforms.is_empty() && kind != Kind::FieldRef {
        return Err(fail(format!(
            "modifier '{}' cannot be used with a type modifier",
            transforms[0]
        )));
    }
    // Keywords search anywhere in a value.
    if field.is_none() && kind == Kind::Str && !starts && !ends {
        (starts, ends) = (true, true);
    }
    let mut out = Vec::new();
    // Where each listed value's matches start in `out`.
    let mut value_starts = Vec::with_capacity(values.len());
    for node in values {
        value_starts.push(out.len());
        if node.kind == NodeKind::Null {
            match kind {
                Kind::Str => out.push(ValueMatch::Null),
                _ => {
                    return Err(Fail::new(
                        node.line,
                        "null is only valid as a plain value".to_string(),
                    ))
                }
            }
            continue;
        }
        if let NodeKind::Seq(_) | NodeKind::Map(_) = node.kind {
            return Err(Fail::new(
                node.line,
                format!("a value cannot be a {}", node.type_name()),
            ));
        }
        let text = node.scalar_text().unwrap_or_default();
        match kind {
            Kind::Exists => match node.kind {
                NodeKind::Bool(b) => out.push(ValueMatch::Exists(b)),
                _ => return Err(Fail::new(node.line, "'exists' takes true or false")),
            },
            Kind::Num(op) => {
                let n = match node.kind {
                    NodeKind::Int(i) => i as f64,
                    NodeKind::Float(f, _) => f,
                    _ => text.trim().parse::<f64>().map_err(|_| {
                        Fail::new(
                            node.line,
                            format!("'{text}' is not a number (numeric modifier)"),
                        )
                    })?,
                };
                out.push(ValueMatch::Num(op, n));
            }
            Kind::Cidr => out.push(ValueMatch::Cidr(
                parse_cidr(&text).map_err(|e| Fail::new(node.line, e))?,
            )),
            Kind::FieldRef => {
                let mode = match (starts, ends) {
                    (true, true) => RefMode::Contains,
                    (false, true) => RefMode::StartsWith,
                    (true, false) => RefMode::EndsWith,
                    (false, false) => RefMode::Equal,
                };
                out.push(ValueMatch::FieldRef {
                    field: text,
                    mode,
                    cased,
                });
            }
            Kind::Regex => {
                let pattern = if regex_flags.is_empty() {
                    text.clone()
                } else {
                    format!("(?{regex_flags}){text}")
                };
                let re = crate::ast::RegexValue::new(pattern, MAX_REGEX_SIZE).map_err(|e| {
                    Fail::new(node.line, format!("invalid regular expression: {e}"))
                })?;
                out.push(ValueMatch::Regex(re));
            }
            Kind::Str => {
                let mut texts = if expand {
                    let lookup = |name: &str| placeholders.get(name).cloned();
                    match expand_placeholders(&text, &lookup)
                        .map_err(|e| Fail::new(node.line, e))?
                    {
                        Expanded::Values(v) => v,
                        Expanded::Missing(name) => {
                            if !unresolved.contains(&name) {
                                unresolved.push(name.clone());
                            }
                            out.push(ValueMatch::Unresolved);
                            continue;
                        }
                    }
                } else {
                    vec![text]
                };
                // An unquoted decimal means the text its author wrote (`1.10`); compared
                // whole, it also matches the number in a numeric field, which events render
                // canonically (`1.1`).
                let canonical = match node.kind {
                    NodeKind::Float(number, _) if !starts && !ends && transforms.is_empty() => {
                        Value::Float(number).to_text().map(|t| t.into_owned())
                    }
                    _ => None,
                };
                if let Some(canonical) = canonical.filter(|c| !texts.contains(c)) {
                    texts.push(canonical);
                }
                for text in texts {
                    let mut raws = vec![Raw::Toks(parse_sigma_string(&text))];
                    for &t in &transforms {
                        raws = apply_transform(t, raws).map_err(|e| Fail::new(node.line, e))?;
                    }
                    for raw in raws {
                        match raw {
                            Raw::Toks(toks) => out.push(ValueMatch::Str {
                                toks: wrap(toks, starts, ends),
                                cased,
                            }),
                            Raw::Bytes(_) => {
                                return Err(Fail::new(
                                    node.line,
                                    "utf16 modifiers must be followed by base64 or base64offset",
                                ))
                            }
                        }
                    }
                }
            }
        }
    }
    let ranges: Vec<(usize, usize)> = value_starts
        .iter()
        .zip(
            value_starts
                .iter()
                .skip(1)
                .chain(std::iter::once(&out.len())),
        )
        .map(|(&start, &end)| (start, end))
        .collect();
    if all && !negate && ranges.iter().any(|(start, end)| end - start != 1) {
        // `all` joins the listed values; the variants one value expands into are alternatives
        // of that value: every value must match, in any of its variants.
        return Ok(ranges
            .into_iter()
            .map(|(start, end)| Item {
                field: field.map(str::to_string),
                values: out[start..end].to_vec(),
                all: false,
                negate: false,
            })
            .collect());
    }
    Ok(vec![Item {
        field: field.map(str::to_string),
        values: out,
        all,
        negate,
    }])
}

fn apply_transform(modifier: &str, raws: Vec<Raw>) -> Result<Vec<Raw>, String> {
    let bytes_of = |raw: Raw| -> Result<Vec<u8>, String> {
        match raw {
            Raw::Bytes(b) => Ok(b),
            Raw::Toks(t) => plain_text(&t)
                .map(String::into_bytes)
                .ok_or_else(|| format!("'{modifier}' cannot encode a value with wildcards")),
        }
    };
    let text_of = |raw: Raw| -> Result<String, String> {
        match raw {
            Raw::Toks(t) => plain_text(&t)
                .ok_or_else(|| format!("'{modifier}' cannot encode a value with wildcards")),
            Raw::Bytes(_) => Err(format!("'{modifier}' cannot follow another encoding")),
        }
    };
    let mut out = Vec::new();
    for raw in raws {
        match modifier {
            "base64" => out.push(Raw::Toks(vec![Tok::Lit(base64(&bytes_of(raw)?))])),
            "base64offset" => out.extend(
                base64_offsets(&bytes_of(raw)?)
                    .into_iter()
                    .map(|s| Raw::Toks(vec![Tok::Lit(s)])),
            ),
            "utf16le" | "wide" => out.push(Raw::Bytes(utf16(&text_of(raw)?, false, false))),
            "utf16be" => out.push(Raw::Bytes(utf16(&text_of(raw)?, true, false))),
            "utf16" => out.push(Raw::Bytes(utf16(&text_of(raw)?, false, true))),
            "windash" => match raw {
                Raw::Toks(t) => out.extend(windash(&t)?.into_iter().map(Raw::Toks)),
                Raw::Bytes(_) => return Err("'windash' cannot follow an encoding".into()),
            },
            other => return Err(format!("unknown transformation '{other}'")),
        }
    }
    Ok(out)
}

fn parse_cidr(text: &str) -> Result<Network, String> {
    let (addr, prefix) = text.trim().split_once('/').unwrap_or((text.trim(), ""));
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("'{text}' is not a CIDR network (bad address)"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = if prefix.is_empty() {
        max
    } else {
        prefix
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("'{text}' is not a CIDR network (bad prefix length)"))?
    };
    Ok(Network { addr, prefix })
}

/// Parses `Xs`, `Xm`, `Xh`, `Xd` (also `Xw`, `XM`, `Xy` as pySigma does) into nanoseconds.
pub(crate) fn parse_timespan(text: &str) -> Option<i64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number: i64 = text[..text.len() - unit.len_utf8()].trim().parse().ok()?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'M' => 30 * 86_400,
        'y' => 365 * 86_400,
        _ => return None,
    };
    number
        .checked_mul(seconds)?
        .checked_mul(1_000_000_000)
        .filter(|n| *n >= 0)
}

/// A correlation condition: comparisons, the aggregated field, the percentile.
type CountConditions = (Vec<(CountOp, f64)>, Option<String>, Option<f64>);

fn parse_count_conditions(node: &Node) -> Res<CountConditions> {
    let entries = node.as_map().ok_or_else(|| {
        Fail::new(
            node.line,
            "correlation 'condition' must be a mapping like {gte: 10}",
        )
    })?;
    let mut ops = Vec::new();
    let mut field = None;
    let mut percentile = None;
    for (key, value) in entries {
        let number = || -> Res<f64> {
            match value.kind {
                NodeKind::Int(i) => Ok(i as f64),
                NodeKind::Float(f, _) => Ok(f),
                _ => Err(Fail::new(
                    value.line,
                    format!("correlation condition '{key}' needs a number"),
                )),
            }
        };
        match key.as_str() {
            "gt" => ops.push((CountOp::Gt, number()?)),
            "gte" => ops.push((CountOp::Gte, number()?)),
            "lt" => ops.push((CountOp::Lt, number()?)),
            "lte" => ops.push((CountOp::Lte, number()?)),
            "eq" => ops.push((CountOp::Eq, number()?)),
            "neq" => ops.push((CountOp::Neq, number()?)),
            "percentile" => percentile = Some(number()?),
            "field" => {
                field = Some(
                    match &value.kind {
                        NodeKind::Seq(items) if items.len() == 1 => items[0].scalar_text(),
                        _ => value.scalar_text(),
                    }
                    .ok_or_else(|| {
                        Fail::new(
                            value.line,
                            "correlation condition 'field' must be a field name",
                        )
                    })?,
                )
            }
            other => {
                return Err(Fail::new(
                    value.line,
                    format!("unknown correlation condition '{other}'"),
                ))
            }
        }
    }
    Ok((ops, field, percentile))
}

fn parse_correlation(node: &Node, doc: &Node) -> Res<CorrelationAst> {
    if node.as_map().is_none() {
        return Err(Fail::new(node.line, "'correlation' must be a mapping"));
    }
    let type_node = node
        .get("type")
        .ok_or_else(|| Fail::new(node.line, "correlation has no 'type'"))?;
    let kind = match type_node.as_str().unwrap_or("") {
        "event_count" => CorrelationType::EventCount,
        "value_count" => CorrelationType::ValueCount,
        "temporal" => CorrelationType::Temporal,
        "temporal_ordered" => CorrelationType::TemporalOrdered,
        "value_sum" => CorrelationType::ValueSum,
        "value_avg" => CorrelationType::ValueAvg,
        "value_percentile" => CorrelationType::ValuePercentile,
        "value_median" => CorrelationType::ValueMedian,
        other => {
            return Err(Fail::new(
                type_node.line,
                format!("unknown correlation type '{other}'"),
            ))
        }
    };
    let rules = text_list(node.get("rules"), "correlation 'rules'")?;
    if rules.is_empty() {
        return Err(Fail::new(node.line, "correlation has no 'rules'"));
    }
    let group_by = text_list(node.get("group-by"), "'group-by'")?;
    let ts_node = node
        .get("timespan")
        .or_else(|| node.get("timeframe"))
        .ok_or_else(|| Fail::new(node.line, "correlation has no 'timespan'"))?;
    let timespan_nanos = ts_node
        .scalar_text()
        .and_then(|t| parse_timespan(&t))
        .ok_or_else(|| Fail::new(ts_node.line, "'timespan' must look like 30s, 5m, 1h or 2d"))?;
    let (condition, field, percentile) = match node.get("condition") {
        Some(c) => parse_count_conditions(c)?,
        None => (Vec::new(), None, None),
    };
    let needs_field = matches!(
        kind,
        CorrelationType::ValueCount
            | CorrelationType::ValueSum
            | CorrelationType::ValueAvg
            | CorrelationType::ValuePercentile
            | CorrelationType::ValueMedian
    );
    if needs_field && field.is_none() {
        return Err(Fail::new(
            node.line,
            "this correlation type needs 'field' in its condition",
        ));
    }
    let is_temporal = matches!(
        kind,
        CorrelationType::Temporal | CorrelationType::TemporalOrdered
    );
    if condition.is_empty() && !is_temporal {
        return Err(Fail::new(
            node.line,
            "correlation has no 'condition' (e.g. gte: 10)",
        ));
    }
    let mut aliases = HashMap::new();
    if let Some(a) = node.get("aliases") {
        let entries = a
            .as_map()
            .ok_or_else(|| Fail::new(a.line, "'aliases' must be a mapping"))?;
        for (alias, per_rule) in entries {
            let map = per_rule.as_map().ok_or_else(|| {
                Fail::new(
                    per_rule.line,
                    format!("alias '{alias}' must map rule names to fields"),
                )
            })?;
            let mut fields = HashMap::new();
            for (rule, field) in map {
                let field = field
                    .scalar_text()
                    .ok_or_else(|| Fail::new(field.line, "alias fields must be field names"))?;
                fields.insert(rule.clone(), field);
            }
            aliases.insert(alias.clone(), fields);
        }
    }
    let generate = match node.get("generate").or_else(|| doc.get("generate")) {
        None => false,
        Some(n) => match n.kind {
            NodeKind::Bool(b) => b,
            _ => return Err(Fail::new(n.line, "'generate' must be true or false")),
        },
    };
    let percentile = match kind {
        CorrelationType::ValueMedian => 50.0,
        _ => percentile.unwrap_or(50.0),
    };
    if !(0.0..=100.0).contains(&percentile) {
        return Err(Fail::new(
            node.line,
            "'percentile' must be between 0 and 100",
        ));
    }
    Ok(CorrelationAst {
        kind,
        rules,
        group_by,
        timespan_nanos,
        condition,
        field,
        percentile,
        aliases,
        generate,
        line: node.line,
    })
}

fn parse_filter(
    node: &Node,
    placeholders: &Placeholders,
    unresolved: &mut Vec<String>,
) -> Res<FilterAst> {
    let rules = text_list(node.get("rules"), "filter 'rules'")?;
    if rules.is_empty() {
        return Err(Fail::new(node.line, "filter has no 'rules' to apply to"));
    }
    let detection = parse_detection(node, placeholders, unresolved)?;
    Ok(FilterAst {
        rules,
        detection,
        line: node.line,
    })
}

/// Merges `overlay` into `base` (mappings recursively; everything else is replaced), for the
/// Sigma 1 multi-document `action: global|repeat`.
pub(crate) fn merge(base: &Node, overlay: &Node) -> Node {
    match (&base.kind, &overlay.kind) {
        (NodeKind::Map(b), NodeKind::Map(o)) => {
            let mut entries = b.clone();
            for (k, v) in o {
                match entries.iter_mut().find(|(bk, _)| bk == k) {
                    Some((_, existing)) => *existing = merge(existing, v),
                    None => entries.push((k.clone(), v.clone())),
                }
            }
            Node {
                line: overlay.line,
                kind: NodeKind::Map(entries),
            }
        }
        _ => overlay.clone(),
    }
}

/// Removes the `action` key of a Sigma 1 multi-document part.
pub(crate) fn without_action(node: &Node) -> Node {
    match &node.kind {
        NodeKind::Map(entries) => Node {
            line: node.line,
            kind: NodeKind::Map(
                entries
                    .iter()
                    .filter(|(k, _)| k != "action")
                    .cloned()
                    .collect(),
            ),
        },
        _ => node.clone(),
    }
}
