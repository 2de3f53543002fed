//! The optimized evaluator's per-event scratch space and expression evaluation.

use crate::ast::RefMode;
use crate::compile::{CItem, Expr, Source, Test};
use crate::reference::{field_key, lower, parse_ip};
use crate::ruleset::{Bucket, RuleSet};
use nativeguard_event::{Event, Fields, Value};

/// The lowercased text of an event field, by exact (or dotted) name.
pub(crate) fn field_text(event: &Event, name: &str) -> Option<String> {
    event.get(name).and_then(Value::to_text).map(|t| lower(&t))
}

/// One scalar value of the current event.
#[derive(Default)]
struct Entry {
    orig: String,
    /// Lowercased `orig`; filled for values of fields some rule names, or for every value
    /// when a rule of the bucket searches keywords.
    lower: String,
    has_text: bool,
    /// The field ids the value answers to (its name, and its name without a pipeline prefix).
    ids: [u32; 2],
}

const NO_FIELD: u32 = u32::MAX;

/// Where a field's values are among the entries.
#[derive(Clone, Copy, Default)]
struct Slot {
    start: u32,
    len: u32,
    /// The value is a list (so it has no single text for `fieldref`).
    list: bool,
    null: bool,
}

/// A value as a number: what `Value::as_f64` gives (numbers render and parse back exactly).
fn number(e: &Entry) -> Option<f64> {
    if e.has_text {
        e.orig.trim().parse().ok()
    } else {
        None
    }
}

/// Per-event buffers, reused from event to event (no allocation once warm).
pub(crate) struct Scratch {
    entries: Vec<Entry>,
    used: usize,
    slots: Vec<Slot>,
    slot_stamp: Vec<u32>,
    stamp: u32,
    name: String,
    lowered_name: String,
    var_stamp: Vec<u32>,
    det_stamp: Vec<u32>,
    pattern_stamp: Vec<u32>,
    candidates: Vec<u32>,
}

impl Scratch {
    pub fn new(fields: usize, variants: usize, dets: usize) -> Self {
        Scratch {
            entries: Vec::new(),
            used: 0,
            slots: vec![Slot::default(); fields],
            slot_stamp: vec![0; fields],
            stamp: 0,
            name: String::new(),
            lowered_name: String::new(),
            var_stamp: vec![0; variants],
            det_stamp: vec![0; dets],
            pattern_stamp: Vec::new(),
            candidates: Vec::new(),
        }
    }

    fn next_stamp(&mut self) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Wrapped: old stamps could collide, so forget them all.
            self.slot_stamp.iter_mut().for_each(|s| *s = 0);
            self.var_stamp.iter_mut().for_each(|s| *s = 0);
            self.det_stamp.iter_mut().for_each(|s| *s = 0);
            self.pattern_stamp.iter_mut().for_each(|s| *s = 0);
            self.stamp = 1;
        }
    }

    /// Flattens the event into entries and slots, lowercasing each needed value once.
    pub fn load(&mut self, event: &Event, set: &RuleSet, all_values: bool) {
        self.next_stamp();
        self.used = 0;
        self.name.clear();
        self.walk(&event.fields, set);
        for e in &mut self.entries[..self.used] {
            if e.has_text && (all_values || e.ids != [NO_FIELD; 2]) {
                if e.orig.is_ascii() {
                    e.lower.push_str(&e.orig);
                    e.lower.make_ascii_lowercase();
                } else {
                    e.lower.extend(e.orig.chars().flat_map(char::to_lowercase));
                }
            }
        }
    }

    fn walk(&mut self, fields: &Fields, set: &RuleSet) {
        for (name, value) in fields.iter() {
            let base = self.name.len();
            if base > 0 {
                self.name.push('.');
            }
            self.name.push_str(name);
            if let Value::Object(inner) = value {
                self.walk(inner, set);
            } else {
                let start = self.used as u32;
                self.push_value(value);
                let slot = Slot {
                    start,
                    len: self.used as u32 - start,
                    list: matches!(value, Value::List(_)),
                    null: value.is_null(),
                };
                let ids = self.register(set, slot);
                for e in &mut self.entries[start as usize..self.used] {
                    e.ids = ids;
                }
            }
            self.name.truncate(base);
        }
    }

    fn push_value(&mut self, value: &Value) {
        if let Value::List(items) = value {
            for item in items {
                if !matches!(item, Value::Object(_)) {
                    self.push_value(item);
                }
            }
            return;
        }
        if self.used == self.entries.len() {
            self.entries.push(Entry::default());
        }
        let e = &mut self.entries[self.used];
        self.used += 1;
        e.orig.clear();
        e.lower.clear();
        e.has_text = match value {
            Value::Str(s) => {
                e.orig.push_str(s);
                true
            }
            other => match other.to_text() {
                Some(t) => {
                    e.orig.push_str(&t);
                    true
                }
                None => false,
            },
        };
    }

    /// Gives the current name (and its prefix-stripped form) its slot, first one wins.
    fn register(&mut self, set: &RuleSet, slot: Slot) -> [u32; 2] {
        let mut ids = [NO_FIELD; 2];
        self.lowered_name.clear();
        self.lowered_name.extend(
            self.name
                .chars()
                .filter(|c| *c != ' ')
                .map(|c| c.to_ascii_lowercase()),
        );
        if let Some(&id) = set.fields.ids.get(self.lowered_name.as_str()) {
            self.set_slot(id, slot);
            ids[0] = id;
        }
        for prefix in &set.pipeline.field_prefixes {
            if let Some(rest) = self.name.strip_prefix(prefix.as_str()) {
                let rest = field_key(rest);
                if let Some(&id) = set.fields.ids.get(rest.as_str()) {
                    self.set_slot(id, slot);
                    ids[1] = id;
                }
            }
        }
        ids
    }

    fn set_slot(&mut self, id: u32, slot: Slot) {
        let i = id as usize;
        if self.slot_stamp[i] != self.stamp {
            self.slot_stamp[i] = self.stamp;
            self.slots[i] = slot;
        }
    }

    fn slot(&self, id: u32) -> Option<Slot> {
        let i = id as usize;
        (self.slot_stamp.get(i) == Some(&self.stamp)).then(|| self.slots[i])
    }

    /// The first text of a field (for correlation keys and values).
    pub fn text(&self, set: &RuleSet, name: &str) -> Option<&str> {
        let id = *set.fields.ids.get(field_key(name).as_str())?;
        let slot = self.slot(id)?;
        let e = self.entries.get(slot.start as usize)?;
        (slot.len >= 1 && e.has_text).then_some(e.orig.as_str())
    }

    /// The first number of a field.
    pub fn number(&self, set: &RuleSet, name: &str) -> Option<f64> {
        let id = *set.fields.ids.get(field_key(name).as_str())?;
        let slot = self.slot(id)?;
        (slot.len >= 1)
            .then(|| number(&self.entries[slot.start as usize]))
            .flatten()
    }

    /// Evaluates a bucket's rules on the loaded event; returns the matching detections (by
    /// index into `RuleSet::dets`), each once.
    pub fn run_bucket(&mut self, set: &RuleSet, bucket: &Bucket) -> Vec<u32> {
        self.candidates.clear();
        if self.pattern_stamp.len() < bucket.patterns {
            self.pattern_stamp.resize(bucket.patterns, 0);
        }
        for e in &self.entries[..self.used] {
            if !e.has_text || e.lower.is_empty() {
                continue;
            }
            let mut scans = [None, None, None];
            for (i, &id) in e.ids.iter().enumerate() {
                if id != NO_FIELD && (i == 0 || id != e.ids[0]) {
                    scans[i] = bucket.field_scans.get(id as usize).and_then(Option::as_ref);
                }
            }
            scans[2] = bucket.keyword_scan.as_ref();
            for scan in scans.into_iter().flatten() {
                for m in scan.automaton.find_overlapping_iter(e.lower.as_str()) {
                    let p = m.pattern().as_usize();
                    if self.pattern_stamp[scan.offset + p] == self.stamp {
                        continue;
                    }
                    self.pattern_stamp[scan.offset + p] = self.stamp;
                    for &v in &scan.variants[p] {
                        if self.var_stamp[v as usize] != self.stamp {
                            self.var_stamp[v as usize] = self.stamp;
                            self.candidates.push(v);
                        }
                    }
                }
            }
        }
        let mut matched = Vec::new();
        let candidates = std::mem::take(&mut self.candidates);
        for &v in bucket.always.iter().chain(candidates.iter()) {
            let variant = &set.variants[v as usize];
            let d = variant.det as usize;
            if self.det_stamp[d] == self.stamp {
                continue;
            }
            if self.eval(&variant.expr) {
                self.det_stamp[d] = self.stamp;
                matched.push(variant.det);
            }
        }
        self.candidates = candidates;
        matched
    }

    fn eval(&self, expr: &Expr) -> bool {
        match expr {
            Expr::And(parts) => parts.iter().all(|p| self.eval(p)),
            Expr::Or(parts) => parts.iter().any(|p| self.eval(p)),
            Expr::Not(inner) => !self.eval(inner),
            Expr::AtLeast(n, parts) => {
                let mut count = 0;
                for p in parts {
                    if self.eval(p) {
                        count += 1;
                        if count >= *n {
                            return true;
                        }
                    }
                }
                false
            }
            Expr::Item(item) => self.item(item),
        }
    }

    fn item(&self, item: &CItem) -> bool {
        let result = match item.source {
            Source::Field(id) => {
                let slot = self.slot(id);
                let one = |t: &Test| match t {
                    Test::Null => slot.is_none_or(|s| s.null),
                    Test::Exists(want) => slot.is_some() == *want,
                    _ => slot.is_some_and(|s| {
                        self.entries[s.start as usize..(s.start + s.len) as usize]
                            .iter()
                            .any(|e| self.test(t, e))
                    }),
                };
                if item.all {
                    item.tests.iter().all(one)
                } else {
                    item.tests.iter().any(one)
                }
            }
            Source::Keywords => {
                let all = &self.entries[..self.used];
                let one = |t: &Test| all.iter().any(|e| self.test(t, e));
                if item.all {
                    item.tests.iter().all(one)
                } else {
                    item.tests.iter().any(one)
                }
            }
        };
        result != item.negate
    }

    fn test(&self, test: &Test, e: &Entry) -> bool {
        match test {
            Test::Lower(st) => e.has_text && st.matches(&e.lower),
            Test::LowerSet(set) => e.has_text && set.contains(e.lower.as_str()),
            Test::Cased(st) => e.has_text && st.matches(&e.orig),
            Test::Regex(re) => e.has_text && re.is_match(&e.orig),
            Test::Cidr(net) => e.has_text && parse_ip(&e.orig).is_some_and(|ip| net.contains(ip)),
            Test::Num(op, n) => number(e).is_some_and(|v| op.holds(v, *n)),
            Test::FieldRef { slot, mode, cased } => {
                if !e.has_text {
                    return false;
                }
                let Some(other) = self.slot(*slot).filter(|s| !s.list && s.len == 1) else {
                    return false;
                };
                let o = &self.entries[other.start as usize];
                if !o.has_text {
                    return false;
                }
                let (a, b) = if *cased {
                    (&e.orig, &o.orig)
                } else {
                    (&e.lower, &o.lower)
                };
                match mode {
                    RefMode::Equal => a == b,
                    RefMode::Contains => a.contains(b.as_str()),
                    RefMode::StartsWith => a.starts_with(b.as_str()),
                    RefMode::EndsWith => a.ends_with(b.as_str()),
                }
            }
            Test::Null | Test::Exists(_) | Test::Never => false,
        }
    }
}
