//! The reference evaluator: straight from the parsed rule, with no routing index, no literal
//! prefilter and no precompiled matchers. Slow and obviously correct; the optimized engine is
//! tested against it (`tests/differential.rs`).

use crate::ast::{Cond, DetectionAst, Item, RefMode, Selection, Tok, ValueMatch};
use crate::pipeline::Target;
use nativeguard_event::{Event, Value};

/// Lowercases per character, without context rules, so that lowercasing commutes with
/// concatenation (a substring's lowercase is a substring of the lowercase).
pub(crate) fn lower(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.chars().map(lower_char).collect()
}

/// A character's simple lowercase mapping: always one character, so that `?` matches any
/// character of the original text as one (as Python's `re` does under IGNORECASE, which
/// pySigma's backends rely on). It differs from the full mapping (`char::to_lowercase`) only
/// for U+0130 `İ`, whose full lowercase is two characters (`i` + U+0307).
pub(crate) fn lower_char(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    c.to_lowercase().next().unwrap_or(c)
}

/// The form in which field names are compared: ASCII-lowercased, spaces removed (Windows
/// Defender writes `Threat Name` where rules say `ThreatName`).
pub(crate) fn field_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    key.extend(field_key_chars(name));
    key
}

/// The characters of [`field_key`], for comparing two names without building either key.
pub(crate) fn field_key_chars(name: &str) -> impl Iterator<Item = char> + '_ {
    name.chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_lowercase())
}

/// Every field of an event by its dotted name, nested objects descended, in source order.
pub(crate) fn flatten(event: &Event) -> Vec<(String, &Value)> {
    fn walk<'a>(
        prefix: &str,
        fields: &'a nativeguard_event::Fields,
        out: &mut Vec<(String, &'a Value)>,
    ) {
        for (name, value) in fields.iter() {
            let full = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            if let Value::Object(inner) = value {
                walk(&full, inner, out);
            } else {
                out.push((full, value));
            }
        }
    }
    let mut out = Vec::new();
    walk("", &event.fields, &mut out);
    out
}

/// A field by name: the first field whose dotted name, or whose name after one of the
/// pipeline's prefixes, equals `field` in [`field_key`] form (ASCII case and spaces ignored);
/// if that very name comes again (a key repeated in one JSON object), its last value.
pub(crate) fn lookup<'a>(
    flat: &[(String, &'a Value)],
    prefixes: &[String],
    field: &str,
) -> Option<&'a Value> {
    let key = field_key(field);
    let (first, _) = flat.iter().find(|(name, _)| {
        field_key(name) == key
            || prefixes.iter().any(|p| {
                name.strip_prefix(p.as_str())
                    .is_some_and(|rest| field_key(rest) == key)
            })
    })?;
    flat.iter()
        .rfind(|(name, _)| name == first)
        .map(|(_, v)| *v)
}

/// Wildcard match of tokens against text, character by character (backtracking on `*`).
pub(crate) fn glob(toks: &[Tok], text: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        C(char),
        Star,
        One,
    }
    let pat: Vec<P> = toks
        .iter()
        .flat_map(|t| match t {
            Tok::Lit(s) => s.chars().map(P::C).collect::<Vec<_>>(),
            Tok::Star => vec![P::Star],
            Tok::One => vec![P::One],
        })
        .collect();
    let txt: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < txt.len() {
        match pat.get(p) {
            Some(P::Star) => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(P::One) => {
                p += 1;
                t += 1;
            }
            Some(P::C(c)) if *c == txt[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    p = bp + 1;
                    t = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|x| *x == P::Star)
}

fn lower_toks(toks: &[Tok]) -> Vec<Tok> {
    toks.iter()
        .map(|t| match t {
            Tok::Lit(s) => Tok::Lit(lower(s)),
            other => other.clone(),
        })
        .collect()
}

/// Evaluation context for one event.
pub(crate) struct Ctx<'a> {
    pub flat: &'a [(String, &'a Value)],
    pub prefixes: &'a [String],
    pub target: Option<&'a Target>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        flat: &'a [(String, &'a Value)],
        prefixes: &'a [String],
        target: Option<&'a Target>,
    ) -> Self {
        Ctx {
            flat,
            prefixes,
            target,
        }
    }

    fn field(&self, name: &str) -> Option<&'a Value> {
        let name = self.target.map_or(name, |t| t.rename(name));
        lookup(self.flat, self.prefixes, name)
    }
}

fn scalar_matches(vm: &ValueMatch, value: &Value, ctx: &Ctx<'_>) -> bool {
    if let Value::List(items) = value {
        return items.iter().any(|v| scalar_matches(vm, v, ctx));
    }
    let Some(text) = value.to_text() else {
        return false;
    };
    match vm {
        ValueMatch::Str { toks, cased: true } => glob(toks, &text),
        ValueMatch::Str { toks, cased: false } => glob(&lower_toks(toks), &lower(&text)),
        ValueMatch::Regex(re) => re.is_match(&text),
        ValueMatch::Cidr(net) => parse_ip(&text).is_some_and(|ip| net.contains(ip)),
        ValueMatch::Num(op, n) => value.as_f64().is_some_and(|v| op.holds(v, *n)),
        ValueMatch::FieldRef { field, mode, cased } => {
            let Some(other) = ctx.field(field).and_then(Value::to_text) else {
                return false;
            };
            let (a, b) = if *cased {
                (text.to_string(), other.to_string())
            } else {
                (lower(&text), lower(&other))
            };
            match mode {
                RefMode::Equal => a == b,
                RefMode::Contains => a.contains(&b),
                RefMode::StartsWith => a.starts_with(&b),
                RefMode::EndsWith => a.ends_with(&b),
            }
        }
        ValueMatch::Null | ValueMatch::Exists(_) | ValueMatch::Unresolved => false,
    }
}

/// A keyword against one value of the event: also the values of objects inside a list, which
/// no field name reaches but a search across the entire event does.
fn keyword_matches(vm: &ValueMatch, value: &Value, ctx: &Ctx<'_>) -> bool {
    match value {
        Value::List(items) => items.iter().any(|v| keyword_matches(vm, v, ctx)),
        Value::Object(fields) => fields.iter().any(|(_, v)| keyword_matches(vm, v, ctx)),
        scalar => scalar_matches(vm, scalar, ctx),
    }
}

/// Parses an IP address as logs write it (`[v6]`, `v6%zone`, surrounding spaces).
pub(crate) fn parse_ip(text: &str) -> Option<std::net::IpAddr> {
    let t = text.trim().trim_start_matches('[').trim_end_matches(']');
    let t = t.split('%').next().unwrap_or(t);
    t.parse().ok()
}

fn item_matches(item: &Item, ctx: &Ctx<'_>) -> bool {
    let one = |vm: &ValueMatch| -> bool {
        match &item.field {
            Some(field) => {
                let value = ctx.field(field);
                match vm {
                    ValueMatch::Null => value.is_none_or(Value::is_null),
                    ValueMatch::Exists(want) => value.is_some() == *want,
                    _ => value.is_some_and(|v| scalar_matches(vm, v, ctx)),
                }
            }
            None => ctx.flat.iter().any(|(_, v)| keyword_matches(vm, v, ctx)),
        }
    };
    let result = if item.all {
        item.values.iter().all(one)
    } else {
        item.values.iter().any(one)
    };
    result != item.negate
}

fn selection_matches(sel: &Selection, ctx: &Ctx<'_>) -> bool {
    sel.alternatives
        .iter()
        .any(|items| items.iter().all(|i| item_matches(i, ctx)))
}

fn cond_matches(cond: &Cond, det: &DetectionAst, ctx: &Ctx<'_>) -> bool {
    match cond {
        Cond::And(parts) => parts.iter().all(|c| cond_matches(c, det, ctx)),
        Cond::Or(parts) => parts.iter().any(|c| cond_matches(c, det, ctx)),
        Cond::Not(inner) => !cond_matches(inner, det, ctx),
        Cond::Sel(i) => det
            .selections
            .get(*i)
            .is_some_and(|s| selection_matches(s, ctx)),
        Cond::AtLeast(n, members) => {
            members
                .iter()
                .filter(|&&i| {
                    det.selections
                        .get(i)
                        .is_some_and(|s| selection_matches(s, ctx))
                })
                .count()
                >= *n
        }
    }
}

/// Whether a detection (and none of its filters) matches the event.
pub(crate) fn detection_matches(
    det: &DetectionAst,
    filters: &[DetectionAst],
    ctx: &Ctx<'_>,
) -> bool {
    cond_matches(&det.condition, det, ctx)
        && !filters.iter().any(|f| cond_matches(&f.condition, f, ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modifiers::parse_sigma_string;

    #[test]
    fn glob_handles_stars_and_question_marks() {
        let g = |p: &str, t: &str| glob(&parse_sigma_string(p), t);
        assert!(g("a*c", "abbbc"));
        assert!(g("*", ""));
        assert!(g("a?c", "abc"));
        assert!(!g("a?c", "ac"));
        assert!(g("*ab*ab", "xxabyyab"));
        assert!(!g("*ab*ab", "xxabyyba"));
        assert!(g(r"a\*", "a*"));
        assert!(!g(r"a\*", "ab"));
    }
}
