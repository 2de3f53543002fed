//! Parsed detections to compiled expressions: plain enums over interned field slots, string
//! patterns pre-lowercased and classified (exact, prefix, suffix, contains, wildcard), and the
//! literals a rule needs to match at all (for the prefilter).

use crate::ast::{CmpOp, Cond, DetectionAst, Item, Network, RefMode, Tok, ValueMatch};
use crate::pipeline::Target;
use crate::reference::lower;
use std::collections::{HashMap, HashSet};

/// FNV-1a: field names are short and trusted to be few, so a simple fast hash beats SipHash.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Builds [`Fnv`] hashers.
pub(crate) type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

/// Interned field names (in `field_key` form), shared by every compiled rule of a rule set.
#[derive(Debug, Default)]
pub(crate) struct FieldTable {
    pub ids: HashMap<String, u32, FnvBuild>,
}

impl std::fmt::Debug for Fnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fnv")
    }
}

impl FieldTable {
    pub fn intern(&mut self, name: &str) -> u32 {
        let key = crate::reference::field_key(name);
        let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        *self.ids.entry(key).or_insert(next)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }
}

/// One position of a `?` pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum GlobChar {
    Char(char),
    Star,
    One,
}

/// Wildcard matching with one backtrack point (the last star), over the text's characters
/// in place; the same algorithm as the reference evaluator's, without its allocations.
fn glob(pattern: &[GlobChar], text: &str) -> bool {
    let next = |at: usize| text.get(at..).and_then(|rest| rest.chars().next());
    let (mut p, mut t) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while let Some(c) = next(t) {
        match pattern.get(p) {
            Some(GlobChar::Star) => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(GlobChar::One) => {
                p += 1;
                t += c.len_utf8();
            }
            Some(GlobChar::Char(want)) if *want == c => {
                p += 1;
                t += c.len_utf8();
            }
            _ => match backtrack {
                Some((star, from)) => {
                    let skipped = next(from).map_or(1, char::len_utf8);
                    p = star + 1;
                    t = from + skipped;
                    backtrack = Some((star, t));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == GlobChar::Star)
}

/// A compiled string test on one text value.
#[derive(Debug, Clone)]
pub(crate) enum StrTest {
    Exact(String),
    Prefix(String),
    Suffix(String),
    /// The literal and its searcher, built once (std's `str::contains` rebuilds a two-way
    /// searcher on every call, which showed up as a tenth of evaluation time).
    Contains(String, Box<memchr::memmem::Finder<'static>>),
    /// Any text (the pattern `*`).
    Any,
    /// Stars only between literals (`a*b*c`): anchored ends and ordered inner literals.
    Segments {
        first: Option<String>,
        middle: Vec<String>,
        last: Option<String>,
    },
    /// Patterns with `?`: matched character by character (the tokens, the pattern as
    /// characters, and a finder for its longest literal, which every match contains: most
    /// texts are rejected by one substring search instead of a backtracking walk).
    Glob(
        Vec<Tok>,
        Vec<GlobChar>,
        Option<Box<memchr::memmem::Finder<'static>>>,
    ),
}

impl StrTest {
    fn compile(toks: &[Tok], cased: bool) -> StrTest {
        let toks: Vec<Tok> = toks
            .iter()
            .map(|t| match t {
                Tok::Lit(s) if !cased => Tok::Lit(lower(s)),
                other => other.clone(),
            })
            .collect();
        if toks.contains(&Tok::One) {
            let chars = toks
                .iter()
                .flat_map(|t| match t {
                    Tok::Lit(s) => s.chars().map(GlobChar::Char).collect::<Vec<_>>(),
                    Tok::Star => vec![GlobChar::Star],
                    Tok::One => vec![GlobChar::One],
                })
                .collect();
            let longest = toks
                .iter()
                .filter_map(|t| match t {
                    Tok::Lit(s) if !s.is_empty() => Some(s.as_bytes()),
                    _ => None,
                })
                .max_by_key(|s| s.len())
                .map(|s| Box::new(memchr::memmem::Finder::new(s).into_owned()));
            return StrTest::Glob(toks, chars, longest);
        }
        let lit = |t: &Tok| match t {
            Tok::Lit(s) => Some(s.clone()),
            _ => None,
        };
        match toks.as_slice() {
            [] => StrTest::Exact(String::new()),
            [Tok::Star] => StrTest::Any,
            [Tok::Lit(s)] => StrTest::Exact(s.clone()),
            [Tok::Lit(s), Tok::Star] => StrTest::Prefix(s.clone()),
            [Tok::Star, Tok::Lit(s)] => StrTest::Suffix(s.clone()),
            [Tok::Star, Tok::Lit(s), Tok::Star] => StrTest::Contains(
                s.clone(),
                Box::new(memchr::memmem::Finder::new(s.as_bytes()).into_owned()),
            ),
            _ => {
                let first = toks.first().and_then(lit);
                let last = if toks.len() > 1 {
                    toks.last().and_then(lit)
                } else {
                    None
                };
                let inner_start = usize::from(first.is_some());
                let inner_end = toks.len() - usize::from(last.is_some());
                let middle = toks[inner_start..inner_end]
                    .iter()
                    .filter_map(lit)
                    .collect();
                StrTest::Segments {
                    first,
                    middle,
                    last,
                }
            }
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        match self {
            StrTest::Exact(s) => same_short_text(text.as_bytes(), s.as_bytes()),
            StrTest::Prefix(s) => text
                .as_bytes()
                .get(..s.len())
                .is_some_and(|start| same_short_text(start, s.as_bytes())),
            StrTest::Suffix(s) => text
                .len()
                .checked_sub(s.len())
                .and_then(|at| text.as_bytes().get(at..))
                .is_some_and(|end| same_short_text(end, s.as_bytes())),
            StrTest::Contains(_, finder) => finder.find(text.as_bytes()).is_some(),
            StrTest::Any => true,
            StrTest::Segments {
                first,
                middle,
                last,
            } => {
                let mut start = 0;
                let mut end = text.len();
                if let Some(f) = first {
                    if !text.starts_with(f.as_str()) {
                        return false;
                    }
                    start = f.len();
                }
                if let Some(l) = last {
                    if end < start + l.len() || !text.ends_with(l.as_str()) {
                        return false;
                    }
                    end -= l.len();
                }
                let mut window = &text[start..end];
                for m in middle {
                    match window.find(m.as_str()) {
                        Some(at) => window = &window[at + m.len()..],
                        None => return false,
                    }
                }
                true
            }
            StrTest::Glob(_, chars, longest) => {
                longest
                    .as_ref()
                    .is_none_or(|finder| finder.find(text.as_bytes()).is_some())
                    && glob(chars, text)
            }
        }
    }

    /// The longest literal every match must contain (lowercased), if any.
    fn required_literal(&self) -> Option<&str> {
        let best = match self {
            StrTest::Exact(s)
            | StrTest::Prefix(s)
            | StrTest::Suffix(s)
            | StrTest::Contains(s, _) => Some(s.as_str()),
            StrTest::Any => None,
            StrTest::Segments {
                first,
                middle,
                last,
            } => first
                .iter()
                .chain(middle.iter())
                .chain(last.iter())
                .map(String::as_str)
                .max_by_key(|s| s.len()),
            StrTest::Glob(toks, ..) => toks
                .iter()
                .filter_map(|t| match t {
                    Tok::Lit(s) => Some(s.as_str()),
                    _ => None,
                })
                .max_by_key(|s| s.len()),
        };
        best.filter(|s| !s.is_empty())
    }
}

/// `a == b`, inline for texts up to 32 bytes (field names, `Execution_ProcessID` among them,
/// and most literals of `endswith`, `startswith` and exact tests): a `memcmp` call costs more
/// than comparing them.
#[inline(always)]
pub(crate) fn same_short_text(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| -> u64 {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(eight)
    };
    match a.len() {
        // The first and last eight bytes (overlapping below 16) cover the whole text.
        8..=16 => word(a, 0) == word(b, 0) && word(a, a.len() - 8) == word(b, b.len() - 8),
        // The first and last sixteen bytes (overlapping below 32).
        17..=32 => {
            let end = a.len() - 16;
            word(a, 0) == word(b, 0)
                && word(a, 8) == word(b, 8)
                && word(a, end) == word(b, end)
                && word(a, end + 8) == word(b, end + 8)
        }
        0..=7 => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

/// A compiled test of one value.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    Null,
    Exists(bool),
    /// Case-insensitive: tested on the lowercased text.
    Lower(StrTest),
    /// Many case-insensitive exact values, as a set.
    LowerSet(HashSet<String, FnvBuild>),
    /// Many case-insensitive `startswith` (`Prefix`) or `endswith` values: per distinct
    /// length, a set of values, so a test is one lookup per length instead of one comparison
    /// per value.
    LowerAffixSet {
        suffix: bool,
        by_len: Vec<(usize, HashSet<String, FnvBuild>)>,
    },
    /// Many case-insensitive `contains` values: one multi-literal search instead of one
    /// substring search per value.
    LowerContainsAny {
        literals: Vec<String>,
        searcher: ContainsAny,
    },
    /// Case-sensitive: tested on the original text.
    Cased(StrTest),
    Regex(crate::ast::RegexValue),
    Cidr(Network),
    Num(CmpOp, f64),
    FieldRef {
        slot: u32,
        mode: RefMode,
        cased: bool,
    },
    Never,
}

/// Whether a value contains any of a list of literals.
#[derive(Debug, Clone)]
pub(crate) enum ContainsAny {
    /// A SIMD (Teddy, or Rabin-Karp on short values) search, which the library builds for
    /// short lists without an empty literal: most values hold none of the literals, and Teddy
    /// rules a value out in a few vector steps where an automaton walks it byte by byte (the
    /// sample events' `contains` lists: 9.6M instructions an automaton, 1.8M this way).
    Packed(aho_corasick::packed::Searcher),
    /// A contiguous NFA: thousands of these live at once, and a DFA each would cost tens of
    /// MB.
    Automaton(aho_corasick::AhoCorasick),
}

impl ContainsAny {
    fn new(literals: &[String]) -> Option<ContainsAny> {
        // None for too many literals, an empty one, or a CPU without the SIMD it needs: the
        // automaton answers alike.
        if let Some(searcher) = packed_search(literals) {
            return Some(ContainsAny::Packed(searcher));
        }
        aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
            .build(literals)
            .ok()
            .map(ContainsAny::Automaton)
    }

    /// Whether `text` contains one of the literals.
    pub fn is_match(&self, text: &str) -> bool {
        match self {
            ContainsAny::Packed(searcher) => searcher.find(text).is_some(),
            ContainsAny::Automaton(automaton) => automaton.is_match(text),
        }
    }
}

/// Most literals a packed searcher is built for: the library declines more (Teddy's
/// verification would outweigh its scan), after copying them.
const MAX_PACKED_LITERALS: usize = 64;

/// A packed (Teddy) searcher for `literals`, when the library builds one for them.
pub(crate) fn packed_search(literals: &[String]) -> Option<aho_corasick::packed::Searcher> {
    if literals.len() > MAX_PACKED_LITERALS {
        return None;
    }
    aho_corasick::packed::Config::new()
        .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
        .builder()
        .extend(literals)
        .build()
}

/// Where an item's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Field(u32),
    Keywords,
}

/// A compiled detection item.
#[derive(Debug, Clone)]
pub(crate) struct CItem {
    pub source: Source,
    pub tests: Vec<Test>,
    pub all: bool,
    pub negate: bool,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    AtLeast(usize, Vec<Expr>),
    Item(CItem),
}

/// Smallest number of exact values worth a hash set.
const EXACT_SET_MIN: usize = 8;
/// Smallest number of `startswith` or `endswith` values worth sets by length.
const AFFIX_SET_MIN: usize = 8;
/// Smallest number of `contains` values worth one automaton.
const CONTAINS_SET_MIN: usize = 4;

fn compile_item(item: &Item, target: Option<&Target>, fields: &mut FieldTable) -> CItem {
    let source = match &item.field {
        Some(f) => Source::Field(fields.intern(target.map_or(f.as_str(), |t| t.rename(f)))),
        None => Source::Keywords,
    };
    let mut tests = Vec::with_capacity(item.values.len());
    let mut exact_set = HashSet::default();
    for v in &item.values {
        let test = match v {
            ValueMatch::Str { toks, cased: false } => Test::Lower(StrTest::compile(toks, false)),
            ValueMatch::Str { toks, cased: true } => Test::Cased(StrTest::compile(toks, true)),
            ValueMatch::Null => Test::Null,
            ValueMatch::Exists(b) => Test::Exists(*b),
            ValueMatch::Regex(re) => Test::Regex(re.clone()),
            ValueMatch::Cidr(n) => Test::Cidr(*n),
            ValueMatch::Num(op, n) => Test::Num(*op, *n),
            ValueMatch::FieldRef { field, mode, cased } => Test::FieldRef {
                slot: fields.intern(target.map_or(field.as_str(), |t| t.rename(field))),
                mode: *mode,
                cased: *cased,
            },
            ValueMatch::Unresolved => Test::Never,
        };
        // `any` over many exact case-insensitive values: one set lookup instead of a scan.
        if let (false, Test::Lower(StrTest::Exact(s))) = (item.all, &test) {
            exact_set.insert(s.clone());
        }
        tests.push(test);
    }
    if exact_set.len() >= EXACT_SET_MIN {
        tests.retain(|t| !matches!(t, Test::Lower(StrTest::Exact(_))));
        tests.insert(0, Test::LowerSet(exact_set));
    }
    // `any` over many case-insensitive prefixes or suffixes: sets by length.
    for suffix in [false, true] {
        let affix = |t: &Test| match t {
            Test::Lower(StrTest::Prefix(s)) if !suffix && !item.all => Some(s.clone()),
            Test::Lower(StrTest::Suffix(s)) if suffix && !item.all => Some(s.clone()),
            _ => None,
        };
        let values: Vec<String> = tests.iter().filter_map(affix).collect();
        if values.len() >= AFFIX_SET_MIN {
            let mut by_len: Vec<(usize, HashSet<String, FnvBuild>)> = Vec::new();
            for value in values {
                match by_len.iter_mut().find(|(len, _)| *len == value.len()) {
                    Some((_, set)) => {
                        set.insert(value);
                    }
                    None => {
                        let mut set = HashSet::default();
                        let len = value.len();
                        set.insert(value);
                        by_len.push((len, set));
                    }
                }
            }
            tests.retain(|t| affix(t).is_none());
            tests.insert(0, Test::LowerAffixSet { suffix, by_len });
        }
    }
    // `any` over many contained case-insensitive values: one automaton.
    let contained: Vec<String> = tests
        .iter()
        .filter_map(|t| match t {
            Test::Lower(StrTest::Contains(s, _)) if !item.all => Some(s.clone()),
            _ => None,
        })
        .collect();
    if contained.len() >= CONTAINS_SET_MIN {
        if let Some(searcher) = ContainsAny::new(&contained) {
            tests.retain(|t| !matches!(t, Test::Lower(StrTest::Contains(..))));
            tests.insert(
                0,
                Test::LowerContainsAny {
                    literals: contained,
                    searcher,
                },
            );
        }
    }
    CItem {
        source,
        tests,
        all: item.all,
        negate: item.negate,
    }
}

fn compile_cond(
    cond: &Cond,
    det: &DetectionAst,
    target: Option<&Target>,
    fields: &mut FieldTable,
) -> Expr {
    let selection = |i: usize, fields: &mut FieldTable| -> Expr {
        let alternatives = det
            .selections
            .get(i)
            .map_or(&[][..], |s| &s.alternatives[..]);
        let mut ors: Vec<Expr> = alternatives
            .iter()
            .map(|items| {
                let mut ands: Vec<Expr> = items
                    .iter()
                    .map(|it| Expr::Item(compile_item(it, target, fields)))
                    .collect();
                if ands.len() == 1 {
                    ands.remove(0)
                } else {
                    Expr::And(ands)
                }
            })
            .collect();
        if ors.len() == 1 {
            ors.remove(0)
        } else {
            Expr::Or(ors)
        }
    };
    match cond {
        Cond::And(parts) => Expr::And(
            parts
                .iter()
                .map(|c| compile_cond(c, det, target, fields))
                .collect(),
        ),
        Cond::Or(parts) => Expr::Or(
            parts
                .iter()
                .map(|c| compile_cond(c, det, target, fields))
                .collect(),
        ),
        Cond::Not(inner) => Expr::Not(Box::new(compile_cond(inner, det, target, fields))),
        Cond::Sel(i) => selection(*i, fields),
        Cond::AtLeast(n, members) => {
            let parts: Vec<Expr> = members.iter().map(|&i| selection(i, fields)).collect();
            if *n == 1 {
                Expr::Or(parts)
            } else if *n == parts.len() {
                Expr::And(parts)
            } else {
                Expr::AtLeast(*n, parts)
            }
        }
    }
}

/// Compiles a detection, with its filters as `and not`, for events of one target.
pub(crate) fn compile_detection(
    det: &DetectionAst,
    filters: &[DetectionAst],
    target: Option<&Target>,
    fields: &mut FieldTable,
) -> Expr {
    let main = compile_cond(&det.condition, det, target, fields);
    if filters.is_empty() {
        return main;
    }
    let mut parts = vec![main];
    for f in filters {
        parts.push(Expr::Not(Box::new(compile_cond(
            &f.condition,
            f,
            target,
            fields,
        ))));
    }
    Expr::And(parts)
}

/// A literal and the field whose value must contain it (`Keywords`: any value).
pub(crate) type Literal = (String, Source);

/// Whether an expression searches every value (keyword lists).
pub(crate) fn uses_keywords(expr: &Expr) -> bool {
    match expr {
        Expr::And(p) | Expr::Or(p) | Expr::AtLeast(_, p) => p.iter().any(uses_keywords),
        Expr::Not(inner) => uses_keywords(inner),
        Expr::Item(item) => item.source == Source::Keywords,
    }
}

/// Most literal sets a rule variant is gated on. Each set is required on its own (a part of an
/// `and`, or one value of an `|all` list), so the variant is evaluated only when every one of
/// its sets has a literal in the event: a rule such as `Image|endswith: \x.exe` and
/// `CommandLine|contains: -enc` is no longer evaluated on every `x.exe` event.
pub(crate) const MAX_REQUIRED_SETS: usize = 2;
// One bit per set in a `u8` (see `eval::SetsSeen`).
const _: () = assert!(MAX_REQUIRED_SETS < 8);

/// Up to [`MAX_REQUIRED_SETS`] literal sets, each required on its own for `expr` to match (as
/// [`required_literals`] gives one), the most selective first. Empty when no set is known.
pub(crate) fn required_literal_sets(expr: &Expr) -> Vec<Vec<Literal>> {
    let mut sets = Vec::new();
    collect_required_sets(expr, &mut sets);
    sets.sort_by_cached_key(|set| std::cmp::Reverse(quality(set)));
    sets.truncate(MAX_REQUIRED_SETS);
    sets
}

/// The literal sets required on their own by `expr`: every part of an `and`, and every test of
/// an `|all` item, apart; else the one set of [`required_literals`].
fn collect_required_sets(expr: &Expr, out: &mut Vec<Vec<Literal>>) {
    match expr {
        Expr::And(parts) => parts.iter().for_each(|p| collect_required_sets(p, out)),
        Expr::Item(item) if item.all && !item.negate => {
            // Every test must hold for some value: each test's literals on their own.
            out.extend(
                item.tests
                    .iter()
                    .filter_map(|t| test_literals(t, item.source)),
            );
        }
        _ => out.extend(required_literals(expr)),
    }
}

/// Literals of which one occurs (lowercased, as a substring) in any value that passes `test`;
/// `None` when no such set is known.
fn test_literals(test: &Test, source: Source) -> Option<Vec<Literal>> {
    match test {
        Test::Lower(s) | Test::Cased(s) => {
            let lit = s.required_literal()?;
            // A cased literal's lowercase is a substring of the lowercased value.
            Some(vec![(lower(lit), source)])
        }
        Test::LowerSet(set) => {
            if set.iter().any(String::is_empty) {
                None
            } else {
                Some(set.iter().map(|l| (l.clone(), source)).collect())
            }
        }
        Test::LowerAffixSet { by_len, .. } => {
            if by_len.iter().any(|(len, _)| *len == 0) {
                None
            } else {
                Some(
                    by_len
                        .iter()
                        .flat_map(|(_, set)| set.iter())
                        .map(|l| (l.clone(), source))
                        .collect(),
                )
            }
        }
        Test::LowerContainsAny { literals, .. } => {
            if literals.iter().any(String::is_empty) {
                None
            } else {
                Some(literals.iter().map(|l| (l.clone(), source)).collect())
            }
        }
        Test::Regex(re) => Some(
            regex_literals(&re.pattern)?
                .into_iter()
                .map(|l| (l, source))
                .collect(),
        ),
        _ => None,
    }
}

/// Literals of which at least one occurs (lowercased, as a substring) in the value of its field
/// in every event the expression matches; `None` when no such set is known.
pub(crate) fn required_literals(expr: &Expr) -> Option<Vec<Literal>> {
    match expr {
        Expr::Item(item) => {
            if item.negate {
                return None;
            }
            let one = |t: &Test| test_literals(t, item.source);
            if item.all {
                // Every value must match: any one value's literal is required.
                item.tests.iter().filter_map(one).max_by_key(|l| quality(l))
            } else {
                let mut out = Vec::new();
                for t in &item.tests {
                    out.extend(one(t)?);
                }
                if out.is_empty() {
                    None
                } else {
                    Some(out)
                }
            }
        }
        Expr::And(parts) => parts
            .iter()
            .filter_map(required_literals)
            .max_by_key(|l| quality(l)),
        Expr::Or(parts) | Expr::AtLeast(_, parts) => {
            let mut out = Vec::new();
            for p in parts {
                out.extend(required_literals(p)?);
            }
            Some(out)
        }
        Expr::Not(_) => None,
    }
}

/// Literals (lowercased) one of which occurs in every match of `pattern`: the prefixes every
/// match starts with, or, when the regex is a sequence, the prefixes of one of its tails (every
/// match ends with a match of each tail), whichever set is most selective. `None` when no part
/// yields a finite set of non-empty literals (a match may start with anything).
fn regex_literals(pattern: &str) -> Option<Vec<String>> {
    use regex_syntax::hir::HirKind;
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let mut candidates = vec![prefix_literals(&hir)];
    if let HirKind::Concat(parts) = hir.kind() {
        // `(?i)abc` is a sequence of one-letter classes: tails, not single parts, regroup them.
        for start in 1..parts.len() {
            let tail = regex_syntax::hir::Hir::concat(parts[start..].to_vec());
            candidates.push(prefix_literals(&tail));
        }
    }
    candidates.into_iter().flatten().max_by_key(|set| {
        let shortest = set.iter().map(String::len).min().unwrap_or(0);
        (shortest, std::cmp::Reverse(set.len()))
    })
}

/// The lowercased literals one of which starts every match of `hir`, if finite and non-empty.
fn prefix_literals(hir: &regex_syntax::hir::Hir) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let mut seq = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    seq.dedup();
    let literals = seq.literals()?;
    if literals.is_empty() {
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(literals.len());
    for literal in literals {
        // Prefixes are bytes; one cut inside a UTF-8 sequence is trimmed back to whole chars.
        let bytes = literal.as_bytes();
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => std::str::from_utf8(&bytes[..error.valid_up_to()]).ok()?,
        };
        if text.is_empty() {
            return None;
        }
        // `(?i)` gives every case variant of a prefix; they are one literal once lowercased.
        let text = lower(text);
        if !out.contains(&text) {
            out.push(text);
        }
    }
    (out.len() <= 64).then_some(out)
}

/// How selective a literal set is: sets without a common literal (see [`COMMON_TEXT`]) first,
/// then by its shortest literal, then fewer literals.
fn quality(lits: &[Literal]) -> (bool, usize, std::cmp::Reverse<usize>) {
    let shortest = lits.iter().map(|(l, _)| l.len()).min().unwrap_or(0).min(8);
    let rare = !lits.iter().any(|(l, _)| is_common(l));
    (rare, shortest, std::cmp::Reverse(lits.len()))
}

/// Text that most Windows events hold somewhere (lowercased). A required literal found inside
/// one of these, such as `\windows\` or `security`, makes nearly every event a candidate,
/// so another part of an `and` is preferred for the prefilter. Only the choice of literal
/// depends on this list, never a verdict.
const COMMON_TEXT: &[&str] = &[
    "c:\\windows\\system32\\",
    "c:\\windows\\syswow64\\",
    "c:\\program files (x86)\\",
    "c:\\programdata\\",
    "c:\\users\\",
    "\\appdata\\local\\",
    "microsoft-windows-security-auditing",
    "microsoft-windows-sysmon/operational",
    "microsoft corporation",
    "nt authority\\system",
    ".exe",
    ".dll",
];

fn is_common(literal: &str) -> bool {
    COMMON_TEXT.iter().any(|common| common.contains(literal))
}

#[cfg(test)]
mod tests {
    use super::{regex_literals, same_short_text};

    #[test]
    fn regex_literals_are_the_lowercased_prefixes_every_match_starts_with() {
        // Case variants explode, so the prefix is cut short; lowercased they are one literal.
        assert_eq!(
            regex_literals(r"(?i)Invoke-(Expression|Obfuscation)\s+"),
            Some(vec!["invoke-".to_string()])
        );
        assert_eq!(
            regex_literals(r"Invoke-(Expression|Obfuscation)\s+"),
            Some(vec![
                "invoke-expression".to_string(),
                "invoke-obfuscation".to_string()
            ])
        );
        assert_eq!(
            regex_literals(r"cmd\.exe /c"),
            Some(vec!["cmd.exe /c".to_string()])
        );
        // A match may start anywhere, but must hold its literal part.
        assert_eq!(
            regex_literals(r".*powershell"),
            Some(vec!["powershell".to_string()])
        );
        assert_eq!(regex_literals(r".{1000,}"), None);
        // The most selective part of a sequence wins over a common prefix.
        assert_eq!(
            regex_literals(r"(?i)\.exe[\x22']?\s+[^\x22]{0,64}werfaultsecure\.exe"),
            Some(vec!["cure.exe".to_string()])
        );
        // Both are right; the tail `b` is one literal instead of two.
        assert_eq!(regex_literals(r"(a|)b"), Some(vec!["b".into()]));
        assert_eq!(regex_literals(r"[a-z]+x"), Some(vec!["x".into()]));
        assert_eq!(regex_literals(r"[a-z]+"), None);
        assert_eq!(regex_literals(r"(unclosed"), None);
    }

    #[test]
    fn common_literals_lose_to_rare_ones() {
        use super::{quality, Source};
        let set = |lits: &[&str]| -> Vec<(String, Source)> {
            lits.iter()
                .map(|l| (l.to_string(), Source::Keywords))
                .collect()
        };
        // `Image|contains: '\Windows\'` and `CommandLine|contains: '\..\'`: the second.
        assert!(quality(&set(&["\\..\\"])) > quality(&set(&["\\windows\\"])));
        assert!(quality(&set(&["517"])) > quality(&set(&["security"])));
        assert!(quality(&set(&["\\cmd.exe"])) > quality(&set(&["\\ping"])));
    }

    /// Both searches of a `contains` list answer as a substring test of each literal: the
    /// packed one (on texts shorter than Teddy's minimum too) and the automaton, which takes
    /// lists the library does not pack (too long, or holding an empty literal).
    #[test]
    fn contains_any_answers_as_each_literal_would() {
        use super::ContainsAny;
        let short: Vec<String> = ["\\temp\\", "-enc", "mimikatz", "x", "ab"]
            .map(String::from)
            .to_vec();
        let long: Vec<String> = (0..200).map(|i| format!("lit{i}z")).collect();
        let with_empty: Vec<String> = ["abc", "", "def", "ghi"].map(String::from).to_vec();
        let texts = [
            "",
            "a",
            "ab",
            "b",
            "c:\\windows\\temp\\a.exe",
            "powershell -enc aqbfafga",
            "nothing to see here, a long value without any of the literals in it at all ......",
            "ends with mimikatz",
            "lit199z",
            "lit199",
            "q lit7z q",
            "abc",
            "gh",
        ];
        let packed_available = aho_corasick::packed::Searcher::new(["a", "b"]).is_some();
        for (literals, packed) in [
            (&short, packed_available),
            (&long, false),
            (&with_empty, false),
        ] {
            let searcher = ContainsAny::new(literals).expect("a searcher");
            assert_eq!(
                matches!(searcher, ContainsAny::Packed(_)),
                packed,
                "{literals:?}"
            );
            for text in texts {
                let expected = literals.iter().any(|l| text.contains(l.as_str()));
                assert_eq!(
                    searcher.is_match(text),
                    expected,
                    "{literals:?} in {text:?}"
                );
            }
        }
    }

    #[test]
    fn short_texts_compare_as_equality_does() {
        let texts = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "Image",
            "Imagf",
            "EventID",
            "EventIE",
            "Provider",
            "Provides",
            "ProcessId_",
            "ParentImage",
            "ParentImagf",
            "CommandLine_ab",
            "0123456789abcdef",
            "0123456789abcdeF",
            "x123456789abcdef",
            "ParentCommandLine",
            "ParentCommandLinf",
        ];
        for a in texts {
            for b in texts {
                assert_eq!(
                    same_short_text(a.as_bytes(), b.as_bytes()),
                    a == b,
                    "{a:?} {b:?}"
                );
            }
        }
        // A difference at every position of every length up to 40.
        for len in 0..40 {
            let a = "x".repeat(len);
            for at in 0..len {
                let mut b = a.clone().into_bytes();
                b[at] = b'y';
                let b = String::from_utf8(b).expect("ascii");
                assert!(!same_short_text(a.as_bytes(), b.as_bytes()), "{len} {at}");
            }
            assert!(same_short_text(a.as_bytes(), a.clone().as_bytes()));
        }
    }

    /// Exact, prefix and suffix tests answer as `==`, `starts_with` and `ends_with`, for
    /// literals of every length to 40 and texts that differ from them at every position.
    #[test]
    fn affix_tests_answer_as_the_standard_comparisons() {
        use super::StrTest;
        for len in 0..40 {
            let literal: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let mut texts = vec![
                literal.clone(),
                format!("x{literal}"),
                format!("{literal}x"),
                format!("xy{literal}yx"),
                literal.get(1..).unwrap_or_default().to_string(),
            ];
            for at in 0..len {
                let mut changed = literal.clone().into_bytes();
                changed[at] = b'_';
                let changed = String::from_utf8(changed).expect("ascii");
                texts.push(format!("x{changed}"));
                texts.push(format!("{changed}x"));
                texts.push(changed);
            }
            for text in &texts {
                let tests = [
                    (StrTest::Exact(literal.clone()), text == &literal),
                    (StrTest::Prefix(literal.clone()), text.starts_with(&literal)),
                    (StrTest::Suffix(literal.clone()), text.ends_with(&literal)),
                ];
                for (test, expected) in tests {
                    assert_eq!(test.matches(text), expected, "{test:?} on {text:?}");
                }
            }
        }
    }
}
