//! The parsed form of a rule: what `parse` produces and both evaluators read.
//!
//! Values are already transformed by their modifiers (base64, utf16, windash, wildcards), so an
//! item is a field name plus a list of [`ValueMatch`]es. Placeholders (`expand`) are resolved
//! when the rule is parsed, with the placeholder values known at that time.

use std::net::IpAddr;

/// A pattern token of a Sigma string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Literal text.
    Lit(String),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A comparison used by the numeric modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CmpOp {
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CmpOp::Gt => left > right,
            CmpOp::Gte => left >= right,
            CmpOp::Lt => left < right,
            CmpOp::Lte => left <= right,
        }
    }
}

/// How a `fieldref` compares the two fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefMode {
    Equal,
    Contains,
    StartsWith,
    EndsWith,
}

/// An IP network for `cidr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Network {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if self.addr.is_ipv4() => IpAddr::V4(v4),
                _ => IpAddr::V6(v6),
            },
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// One value of a detection item, after its modifiers.
#[derive(Debug, Clone)]
pub(crate) enum ValueMatch {
    /// A (wildcard) string; `cased` false means compare case-insensitively.
    Str { toks: Vec<Tok>, cased: bool },
    /// `null`: the field is absent or null.
    Null,
    /// `exists: true|false`.
    Exists(bool),
    /// `re` (already compiled with its flags).
    Regex(RegexValue),
    /// `cidr`.
    Cidr(Network),
    /// `gt`/`gte`/`lt`/`lte`.
    Num(CmpOp, f64),
    /// `fieldref`: compare with another field of the same event.
    FieldRef {
        field: String,
        mode: RefMode,
        cased: bool,
    },
    /// An `expand` placeholder with no values: matches nothing (see the crate docs).
    Unresolved,
}

/// `field|modifiers: values`, or a keyword list when `field` is `None`.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// The field name as the rule writes it; `None` searches every value (keywords).
    pub field: Option<String>,
    pub values: Vec<ValueMatch>,
    /// `all`: every value must match (otherwise any).
    pub all: bool,
    /// `neq`: the item matches when none of the values match.
    pub negate: bool,
}

/// A search identifier's definition: an OR of ANDs of items.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    pub alternatives: Vec<Vec<Item>>,
}

/// A condition expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    /// A search identifier, by index into the detection's selections.
    Sel(usize),
    /// `N of` a set of selections (`all of` is N = the set's size).
    AtLeast(usize, Vec<usize>),
}

/// A rule's `detection` section: its selections (by name) and its condition.
#[derive(Debug, Clone)]
pub(crate) struct DetectionAst {
    pub selections: Vec<Selection>,
    pub condition: Cond,
}

/// A compiled `re` value: the pattern (flags included, for literal extraction) and the regex,
/// built once and shared by the compiled and the reference evaluators.
#[derive(Debug, Clone)]
pub(crate) struct RegexValue {
    pub pattern: String,
    pub regex: regex_automata::meta::Regex,
    /// Set when the whole pattern is a counted any-char repetition (`.{1000,}`, `.{150}`):
    /// Sigma's way to test length, which a regex engine answers slowly (tens of µs per long
    /// value) and a count of chars answers exactly.
    min_run: Option<MinRun>,
    /// The pattern has a `$` that is not multi-line. The spec's flavor is PCRE, whose `$` also
    /// matches before a final newline; the regex crate's matches at the very end only, so a
    /// text ending in `\n` is also tried without it. Not for a pattern with `\z`, which PCRE
    /// keeps to the very end (the regex crate cannot tell the two apart).
    end_before_final_newline: bool,
}

/// An unanchored `.{min,max}`: it matches where `min` chars in a row are in its class (a
/// match of exactly `min` chars is then a match, whatever `max` is).
#[derive(Debug, Clone, Copy, PartialEq)]
struct MinRun {
    min: usize,
    /// `.` matches `\n` too (flag `s`); otherwise the chars must be on one line.
    dot_all: bool,
}

impl MinRun {
    fn of(hir: &regex_syntax::hir::Hir) -> Option<MinRun> {
        use regex_syntax::hir::{Dot, Hir, HirKind};
        let HirKind::Repetition(repetition) = hir.kind() else {
            return None;
        };
        let min = usize::try_from(repetition.min).ok()?;
        let dot_all = if *repetition.sub == Hir::dot(Dot::AnyChar) {
            true
        } else if *repetition.sub == Hir::dot(Dot::AnyCharExceptLF) {
            false
        } else {
            return None;
        };
        Some(MinRun { min, dot_all })
    }

    fn is_match(self, text: &str) -> bool {
        // A char is at least one byte: too few bytes is too few chars.
        if text.len() < self.min {
            return false;
        }
        if self.dot_all {
            text.chars().count() >= self.min
        } else {
            text.split('\n')
                .any(|line| line.chars().count() >= self.min)
        }
    }
}

impl RegexValue {
    /// Compiles `pattern` for yes/no matching: without the bounded backtracker, which the
    /// default engine picks for short texts and which clears its visited set on every search
    /// (a tenth of evaluation time), and with room for the many lazy-DFA states of counted
    /// repetitions such as `.{1000,}` (with the default 2 MiB cache the DFA gives up and a
    /// much slower engine runs; the cache grows only for the regexes that need it).
    pub fn new(pattern: String, size_limit: usize) -> Result<RegexValue, String> {
        use regex_automata::meta;
        // Parsed once (the syntax error's text says where and why), with the engine's default
        // syntax settings; the engine and the shortcuts below read the same tree.
        let hir = regex_syntax::Parser::new()
            .parse(&pattern)
            .map_err(|e| e.to_string())?;
        let regex = meta::Builder::new()
            .configure(
                meta::Config::new()
                    .backtrack(false)
                    .nfa_size_limit(Some(size_limit))
                    .hybrid_cache_capacity(REGEX_CACHE_BYTES),
            )
            .build_from_hir(&hir)
            .map_err(|e| match e.size_limit() {
                Some(limit) => format!("compiled regex exceeds the size limit of {limit} bytes"),
                None => e.to_string(),
            })?;
        let min_run = MinRun::of(&hir);
        let end_before_final_newline = !pattern.contains("\\z")
            && hir
                .properties()
                .look_set()
                .contains(regex_syntax::hir::Look::End);
        Ok(RegexValue {
            pattern,
            regex,
            min_run,
            end_before_final_newline,
        })
    }

    /// Whether the regex matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        match self.min_run {
            Some(run) => run.is_match(text),
            None => {
                self.regex.is_match(text)
                    || (self.end_before_final_newline
                        && text
                            .strip_suffix('\n')
                            .is_some_and(|line| self.regex.is_match(line)))
            }
        }
    }
}

/// Lazy-DFA cache per regex and thread, at most.
const REGEX_CACHE_BYTES: usize = 16 << 20;

#[cfg(test)]
mod tests {
    use super::{MinRun, RegexValue};

    #[test]
    fn counted_any_char_patterns_answer_as_the_regex_engine_does() {
        let patterns = [
            ".{3}",
            ".{3,}",
            ".{3,5}",
            ".*",
            ".{1,}",
            "(?s).{3,}",
            "(?i).{4}",
            ".{3,}?",
            "(?s).{6}",
        ];
        let texts = [
            "",
            "ab",
            "abc",
            "ab\ncd",
            "abc\nd",
            "a\nbcd",
            "éèà",
            "éè\nà",
            "ab\n\ncdé",
            "\n\n\n",
            "x\u{2028}yz",
            "€€€€€€",
        ];
        for pattern in patterns {
            let value = RegexValue::new(pattern.to_string(), 1 << 20).expect("valid pattern");
            assert!(
                value.min_run.is_some(),
                "{pattern} is a counted any-char repetition"
            );
            for text in texts {
                assert_eq!(
                    value.is_match(text),
                    value.regex.is_match(text),
                    "{pattern:?} on {text:?}"
                );
            }
        }
    }

    #[test]
    fn only_a_whole_pattern_of_counted_dots_is_a_run() {
        let run_of = |pattern: &str| {
            MinRun::of(
                &regex_syntax::Parser::new()
                    .parse(pattern)
                    .expect("valid pattern"),
            )
        };
        for pattern in [
            "^.{3}", ".{3}$", "a.{3}", ".{3}|b", "[a-z]{3}", "(.{3})x", "x*",
        ] {
            assert_eq!(run_of(pattern), None, "{pattern}");
        }
        assert_eq!(
            run_of("(?s).{1000,}"),
            Some(MinRun {
                min: 1000,
                dot_all: true
            })
        );
        let long = "a".repeat(999) + "\n" + &"b".repeat(999);
        let value = RegexValue::new(".{1000,}".to_string(), 1 << 20).expect("valid pattern");
        assert!(!value.is_match(&long));
        assert!(value.is_match(&(long + "b")));
    }
}
