//! The optimized evaluator's per-event scratch space and expression evaluation.

use crate::ast::RefMode;
use crate::compile::{same_short_text, CItem, Expr, FnvBuild, Source, Test, MAX_REQUIRED_SETS};
use crate::reference::{field_key, field_key_chars, lower, parse_ip};
use crate::ruleset::{Bucket, RuleSet, Scan};
use nativeguard_event::{Event, FieldSink, Fields, Name, Scalar, Value};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;

/// The lowercased text of an event field, by exact (or dotted) name.
pub(crate) fn field_text(event: &Event, name: &str) -> Option<String> {
    event.get(name).and_then(Value::to_text).map(|t| lower(&t))
}

/// One scalar value of the current event: where its text and lowercased text are in the
/// scratch buffers (one buffer each per event instead of two strings per value).
#[derive(Clone, Default)]
struct Entry {
    orig: Range<u32>,
    /// Lowercased text; filled for values of fields some rule names, or for every value when a
    /// rule of the bucket searches keywords (empty otherwise).
    lower: Range<u32>,
    has_text: bool,
    /// The field ids the value answers to (its name, and its name without a pipeline prefix).
    ids: [u32; 2],
}

/// Ends each value in the lowercased buffer, so that one keyword search over the whole buffer
/// cannot match across two values (keyword literals holding it are not indexed).
pub(crate) const VALUE_SEPARATOR: char = '\0';

const NO_FIELD: u32 = u32::MAX;

/// Where a field's values are among the entries.
#[derive(Clone, Copy, Default)]
struct Slot {
    start: u32,
    len: u32,
    /// The value is a list (so it has no single text for `fieldref`).
    list: bool,
    null: bool,
    /// The field's place among the event's leaves (see [`Scratch::same_name`]).
    position: u32,
}

/// Per-event buffers, reused from event to event (no allocation once warm).
pub(crate) struct Scratch {
    entries: Vec<Entry>,
    used: usize,
    /// The texts of the values, each followed by [`VALUE_SEPARATOR`].
    text: String,
    /// The lowercased texts, each followed by [`VALUE_SEPARATOR`].
    lowered: String,
    /// The texts of streamed values of fields no rule names, each followed by
    /// [`VALUE_SEPARATOR`]: only keyword searches read them, so they are kept without entries
    /// or slots until a keyword item is evaluated (see [`Scratch::enter_unnamed`]).
    unnamed: String,
    /// Where each value in `unnamed` ends.
    unnamed_ends: Vec<u32>,
    /// One value's lowercased text, while it is checked for a change of length.
    lower_scratch: String,
    slots: Vec<Slot>,
    slot_stamp: Vec<u32>,
    stamp: u32,
    name: String,
    /// Where `name` ended before each object a [`FieldLoader`] is inside.
    name_bases: Vec<usize>,
    lowered_name: String,
    /// Field ids by the event's own (dotted) field name, so that each distinct name is
    /// normalised and looked up in the rule set's table once, not once per event.
    ids_by_name: HashMap<String, [u32; 2], FnvBuild>,
    /// The previous event's leaf fields in order, with their ids.
    layout: Vec<LayoutEntry>,
    /// The leaf name cached for nested fields: no event field is this object.
    no_name: Name,
    /// Leaf fields of the current event so far.
    leaves: usize,
    /// Per variant: which of its required literal sets the event holds a literal of.
    var_sets: Vec<SetsSeen>,
    det_stamp: Vec<u32>,
    pattern_stamp: Vec<u32>,
    candidates: Vec<u32>,
    memo: ScanMemo,
}

/// One leaf field of the previous event.
struct LayoutEntry {
    /// Its name object (top-level fields only).
    leaf: Name,
    /// Its dotted path.
    path: String,
    ids: [u32; 2],
}

/// Most distinct field names remembered per engine (input with endless distinct names, such as
/// JSON keyed by GUIDs, starts the cache over instead of growing it).
const MAX_CACHED_NAMES: usize = 16_384;

/// Appends `text` lowercased char by char, as [`lower`] does, its ASCII runs in bulk.
pub(crate) fn push_lowercase(out: &mut String, text: &str) {
    let mut rest = text;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        // `ascii` is where a multi-byte char starts (or the end): a char boundary.
        let (run, tail) = rest.split_at(ascii);
        let start = out.len();
        out.push_str(run);
        out[start..].make_ascii_lowercase();
        let mut chars = tail.chars();
        if let Some(c) = chars.next() {
            out.push(crate::reference::lower_char(c));
        }
        rest = chars.as_str();
    }
}

fn range(start: usize, end: usize) -> Range<u32> {
    // Events are far below 4 GiB; a larger one saturates (and matches less), it cannot panic.
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    clamp(start)..clamp(end)
}

impl Scratch {
    /// For `fields` field ids, `dets` detections, and per variant how many required literal
    /// sets it has.
    pub fn new(fields: usize, required_sets: impl Iterator<Item = usize>, dets: usize) -> Self {
        Scratch {
            entries: Vec::new(),
            used: 0,
            text: String::new(),
            lowered: String::new(),
            unnamed: String::new(),
            unnamed_ends: Vec::new(),
            lower_scratch: String::new(),
            slots: vec![Slot::default(); fields],
            slot_stamp: vec![0; fields],
            stamp: 0,
            name: String::new(),
            name_bases: Vec::new(),
            lowered_name: String::new(),
            ids_by_name: HashMap::default(),
            layout: Vec::new(),
            no_name: Name::from(""),
            leaves: 0,
            var_sets: required_sets
                .map(|sets| SetsSeen {
                    stamp: 0,
                    seen: 0,
                    all: (1u8 << sets) - 1,
                })
                .collect(),
            det_stamp: vec![0; dets],
            pattern_stamp: Vec::new(),
            candidates: Vec::new(),
            memo: ScanMemo::new(),
        }
    }

    fn next_stamp(&mut self) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Wrapped: old stamps could collide, so forget them all.
            self.slot_stamp.iter_mut().for_each(|s| *s = 0);
            self.var_sets.iter_mut().for_each(|v| v.stamp = 0);
            self.det_stamp.iter_mut().for_each(|s| *s = 0);
            self.pattern_stamp.iter_mut().for_each(|s| *s = 0);
            self.stamp = 1;
        }
    }

    /// Flattens the event into entries and slots.
    pub fn load(&mut self, event: &Event, set: &RuleSet) {
        self.clear();
        self.walk(&event.fields, set);
    }

    /// Forgets the previous event.
    pub fn clear(&mut self) {
        self.next_stamp();
        self.used = 0;
        self.leaves = 0;
        self.name.clear();
        self.name_bases.clear();
        self.text.clear();
        self.lowered.clear();
        self.unnamed.clear();
        self.unnamed_ends.clear();
    }

    /// Lowercases, once, the values rules look at: those of fields some rule names, or every
    /// value when a rule of the bucket searches keywords.
    pub fn lower_values(&mut self, all_values: bool) {
        // Every value at once: ASCII letters in one pass the compiler vectorizes. That keeps
        // lengths, so each value keeps its offsets and the separators `push_value` wrote stay
        // between the values.
        self.lowered.push_str(&self.text);
        self.lowered.make_ascii_lowercase();
        if !self.text.is_ascii() && !self.lower_other_letters_in_place() {
            self.lower_values_one_by_one(all_values);
        } else {
            for e in &mut self.entries[..self.used] {
                if e.has_text {
                    e.lower = e.orig.clone();
                }
            }
        }
        if all_values {
            // After the named values: the keyword search runs over the whole buffer, and no
            // entry's offsets point past the named part. ASCII in one vectorized pass, as above.
            let start = self.lowered.len();
            if self.unnamed.is_ascii() {
                self.lowered.push_str(&self.unnamed);
                self.lowered[start..].make_ascii_lowercase();
            } else {
                push_lowercase(&mut self.lowered, &self.unnamed);
            }
        }
    }

    /// Lowercases, char by char, the values that hold non-ASCII text (such as `Microsoft®
    /// Windows®`), where they are in the buffer. False when one of them changes length (as
    /// `İ` does): then offsets move, and the caller lowercases value by value.
    fn lower_other_letters_in_place(&mut self) -> bool {
        for e in &self.entries[..self.used] {
            let range = e.orig.start as usize..e.orig.end as usize;
            let orig = self.text.get(range.clone()).unwrap_or_default();
            if !e.has_text || orig.is_ascii() {
                continue;
            }
            self.lower_scratch.clear();
            push_lowercase(&mut self.lower_scratch, orig);
            if self.lower_scratch.len() != orig.len() {
                return false;
            }
            self.lowered.replace_range(range, &self.lower_scratch);
        }
        true
    }

    fn lower_values_one_by_one(&mut self, all_values: bool) {
        self.lowered.clear();
        for e in &mut self.entries[..self.used] {
            if e.has_text && (all_values || e.ids != [NO_FIELD; 2]) {
                let orig = self
                    .text
                    .get(e.orig.start as usize..e.orig.end as usize)
                    .unwrap_or_default();
                let start = self.lowered.len();
                push_lowercase(&mut self.lowered, orig);
                e.lower = range(start, self.lowered.len());
                self.lowered.push(VALUE_SEPARATOR);
            }
        }
    }

    /// The text, before lowercasing, of the first of `alternatives` that holds one value (not
    /// a list): a routing key's field, which pipelines may map from several names.
    #[inline]
    pub fn first_single_text(&self, alternatives: &[u32]) -> Option<&str> {
        alternatives.iter().find_map(|&id| {
            let slot = self.slot(id).filter(|s| !s.list && s.len >= 1)?;
            let e = self.entries.get(slot.start as usize)?;
            e.has_text.then(|| self.orig(e))
        })
    }

    fn orig(&self, e: &Entry) -> &str {
        self.text
            .get(e.orig.start as usize..e.orig.end as usize)
            .unwrap_or_default()
    }

    fn lower(&self, e: &Entry) -> &str {
        self.lowered
            .get(e.lower.start as usize..e.lower.end as usize)
            .unwrap_or_default()
    }

    /// A value as a number: what `Value::as_f64` gives (numbers render and parse back exactly).
    fn number_of(&self, e: &Entry) -> Option<f64> {
        if e.has_text {
            self.orig(e).trim().parse().ok()
        } else {
            None
        }
    }

    fn walk(&mut self, fields: &Fields, set: &RuleSet) {
        for (name, value) in fields.iter_names() {
            if let Value::Object(inner) = value {
                let base = self.name.len();
                self.push_name(name);
                self.walk(inner, set);
                self.name.truncate(base);
                continue;
            }
            let ids = self.field_ids(set, name);
            let start = self.used as u32;
            self.push_value(value);
            self.end_field(ids, start, matches!(value, Value::List(_)), value.is_null());
            if let Value::List(items) = value {
                self.push_list_objects(items);
            }
        }
    }

    /// The values of the objects inside a list (at any depth): for keyword searches only, as
    /// a streamed event's [`FieldSink::list_object_value`]s are.
    fn push_list_objects(&mut self, items: &[Value]) {
        for item in items {
            match item {
                Value::Object(_) => self.push_unnamed_value(item),
                Value::List(inner) => self.push_list_objects(inner),
                _ => {}
            }
        }
    }

    /// Every value in `value` (itself, or those inside it) as a value no field name reaches.
    fn push_unnamed_value(&mut self, value: &Value) {
        match value {
            Value::Object(fields) => {
                for (_, inner) in fields.iter() {
                    self.push_unnamed_value(inner);
                }
            }
            Value::List(items) => {
                for item in items {
                    self.push_unnamed_value(item);
                }
            }
            scalar => {
                if let Some(scalar) = Scalar::of(scalar) {
                    self.push_unnamed(scalar);
                }
            }
        }
    }

    /// Gives the field `ids` the values pushed since entry `start`.
    #[inline(always)]
    fn end_field(&mut self, ids: [u32; 2], start: u32, list: bool, null: bool) {
        let slot = Slot {
            start,
            len: self.used as u32 - start,
            list,
            null,
            // The leaf the ids were just looked up for.
            position: self.leaves.saturating_sub(1) as u32,
        };
        self.assign(ids, slot);
        for e in &mut self.entries[start as usize..self.used] {
            e.ids = ids;
        }
    }

    /// A streamed value of a field no rule names: its text only (a null has none).
    #[inline(always)]
    fn push_unnamed(&mut self, value: Scalar<'_>) {
        if push_text(&mut self.unnamed, value) {
            self.unnamed_ends.push(range(0, self.unnamed.len()).end);
            self.unnamed.push(VALUE_SEPARATOR);
        }
    }

    /// Gives the values of unnamed fields entries, for a keyword item about to be evaluated:
    /// after the named ones, with their lowercased texts after everything in `lowered`.
    fn enter_unnamed(&mut self) {
        // Taken out for the loop (and put back, emptied, to keep their capacity).
        let mut unnamed = std::mem::take(&mut self.unnamed);
        let mut ends = std::mem::take(&mut self.unnamed_ends);
        for value in separated_values(&unnamed, &ends) {
            self.push_scalar(Scalar::Str(value));
            let lower_start = self.lowered.len();
            push_lowercase(&mut self.lowered, value);
            let lower = range(lower_start, self.lowered.len());
            self.lowered.push(VALUE_SEPARATOR);
            if let Some(e) = self.entries.get_mut(self.used - 1) {
                e.lower = lower;
                e.ids = [NO_FIELD; 2];
            }
        }
        unnamed.clear();
        ends.clear();
        self.unnamed = unnamed;
        self.unnamed_ends = ends;
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
        self.push_scalar(Scalar::of(value).unwrap_or(Scalar::Null));
    }

    #[inline(always)]
    fn push_scalar(&mut self, value: Scalar<'_>) {
        if self.used == self.entries.len() {
            self.entries.push(Entry::default());
        }
        let start = self.text.len();
        let has_text = push_text(&mut self.text, value);
        let end = self.text.len();
        if has_text {
            // Kept in the text too, so that lowercasing it whole gives the keyword buffer.
            self.text.push(VALUE_SEPARATOR);
        }
        let e = &mut self.entries[self.used];
        self.used += 1;
        e.orig = range(start, end);
        e.lower = 0..0;
        e.has_text = has_text;
    }

    fn push_name(&mut self, name: &str) {
        if !self.name.is_empty() {
            self.name.push('.');
        }
        self.name.push_str(name);
    }

    /// The field ids of the leaf `name` (under the objects in `self.name`): its own and its
    /// prefix-stripped form's.
    fn field_ids(&mut self, set: &RuleSet, name: &Name) -> [u32; 2] {
        // Events of one source mostly repeat the previous event's field order, and readers
        // share one `Name` per distinct name: the same name object at the same position (no
        // enclosing object) is known without building, comparing or hashing the name.
        let nested = !self.name.is_empty();
        if let Some(cached) = self.layout.get(self.leaves) {
            if !nested && std::ptr::eq(cached.leaf.as_str(), name.as_str()) {
                self.leaves += 1;
                return cached.ids;
            }
        }
        self.ids_of(set, name, (!nested).then_some(name))
    }

    /// The field ids of the leaf `name` by its text (`leaf`: its shared name object, for the
    /// next event's pointer comparison above). The previous event's name at the same position
    /// is compared first, then the per-engine cache is asked.
    #[inline(always)]
    fn ids_of(&mut self, set: &RuleSet, name: &str, leaf: Option<&Name>) -> [u32; 2] {
        let position = self.leaves;
        self.leaves += 1;
        if self.name.is_empty() && leaf.is_none() {
            // A top-level name is its own path: compared without building it.
            if let Some(cached) = self
                .layout
                .get(position)
                .filter(|c| same_short_text(c.path.as_bytes(), name.as_bytes()))
            {
                return cached.ids;
            }
        }
        self.ids_of_path(set, name, leaf, position)
    }

    /// [`Scratch::ids_of`] when the name is not the previous event's at `position`, or is
    /// nested: by its path.
    #[inline(never)]
    fn ids_of_path(
        &mut self,
        set: &RuleSet,
        name: &str,
        leaf: Option<&Name>,
        position: usize,
    ) -> [u32; 2] {
        let base = self.name.len();
        self.push_name(name);
        if let Some(cached) = self.layout.get_mut(position) {
            if cached.path == self.name {
                if let Some(leaf) = leaf {
                    cached.leaf.clone_from(leaf);
                }
                self.name.truncate(base);
                return cached.ids;
            }
        }
        let ids = match self.ids_by_name.get(self.name.as_str()) {
            Some(&ids) => ids,
            None => {
                let ids = self.resolve(set);
                if self.ids_by_name.len() >= MAX_CACHED_NAMES {
                    self.ids_by_name.clear();
                }
                self.ids_by_name.insert(self.name.clone(), ids);
                ids
            }
        };
        if position < MAX_CACHED_NAMES {
            // Nested and borrowed names never take the pointer path.
            let leaf = leaf.unwrap_or(&self.no_name);
            match self.layout.get_mut(position) {
                Some(cached) => {
                    cached.leaf.clone_from(leaf);
                    cached.path.clone_from(&self.name);
                    cached.ids = ids;
                }
                None => self.layout.push(LayoutEntry {
                    leaf: leaf.clone(),
                    path: self.name.clone(),
                    ids,
                }),
            }
        }
        self.name.truncate(base);
        ids
    }

    fn assign(&mut self, ids: [u32; 2], slot: Slot) {
        for id in ids {
            if id != NO_FIELD {
                self.set_slot(id, slot);
            }
        }
    }

    /// The field ids of the current name: as it is (lowercased, spaces removed), and without
    /// a pipeline prefix.
    fn resolve(&mut self, set: &RuleSet) -> [u32; 2] {
        let mut ids = [NO_FIELD; 2];
        self.lowered_name.clear();
        self.lowered_name.extend(field_key_chars(&self.name));
        if let Some(&id) = set.fields.ids.get(self.lowered_name.as_str()) {
            ids[0] = id;
        }
        for prefix in &set.pipeline.field_prefixes {
            if let Some(rest) = self.name.strip_prefix(prefix.as_str()) {
                let rest = field_key(rest);
                if let Some(&id) = set.fields.ids.get(rest.as_str()) {
                    ids[1] = id;
                }
            }
        }
        ids
    }

    /// Gives field `id` its values. Of two fields of one event that a rule's field name
    /// reaches, the first is kept, unless the second repeats its very name (a key repeated in
    /// one JSON object): then the last is the field's, as JSON parsers read it, and the
    /// earlier values stay for keyword searches only. (Names differing in case or prefix are
    /// different fields of the source: the Linux events carry `SYSCALL`, the name, before
    /// `syscall`, the number.)
    fn set_slot(&mut self, id: u32, slot: Slot) {
        let i = id as usize;
        if self.slot_stamp[i] == self.stamp {
            let old = self.slots[i];
            if !self.same_name(old.position, slot.position) {
                return;
            }
            let end = (old.start + old.len) as usize;
            for e in self
                .entries
                .get_mut(old.start as usize..end)
                .unwrap_or_default()
            {
                for field in &mut e.ids {
                    if *field == id {
                        *field = NO_FIELD;
                    }
                }
            }
        }
        self.slot_stamp[i] = self.stamp;
        self.slots[i] = slot;
    }

    /// Whether the leaves at two positions of the current event have the same dotted name,
    /// by the layout cache, which holds this event's names up to [`MAX_CACHED_NAMES`] leaves
    /// (past them a repeated name keeps its first value).
    fn same_name(&self, first: u32, second: u32) -> bool {
        match (
            self.layout.get(first as usize),
            self.layout.get(second as usize),
        ) {
            (Some(a), Some(b)) => first != second && a.path == b.path,
            _ => false,
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
        (slot.len >= 1 && e.has_text).then(|| self.orig(e))
    }

    /// The first number of a field.
    pub fn number(&self, set: &RuleSet, name: &str) -> Option<f64> {
        let id = *set.fields.ids.get(field_key(name).as_str())?;
        let slot = self.slot(id)?;
        (slot.len >= 1)
            .then(|| self.number_of(&self.entries[slot.start as usize]))
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
            if e.lower.is_empty() {
                continue;
            }
            for (i, &id) in e.ids.iter().enumerate() {
                if id == NO_FIELD || (i == 1 && id == e.ids[0]) {
                    continue;
                }
                if let Some(scan) = bucket.field_scans.get(id as usize).and_then(Option::as_ref) {
                    let text = self
                        .lowered
                        .get(e.lower.start as usize..e.lower.end as usize);
                    let hits = self.memo.hits(scan, text.unwrap_or_default());
                    mark(
                        scan,
                        hits,
                        self.stamp,
                        &mut self.pattern_stamp,
                        &mut self.var_sets,
                        &mut self.candidates,
                    );
                }
            }
        }
        if let Some(scan) = &bucket.keyword_scan {
            // The whole event's text: never seen twice, so searched without remembering it.
            let hits = self.memo.search(scan, &self.lowered);
            mark(
                scan,
                hits,
                self.stamp,
                &mut self.pattern_stamp,
                &mut self.var_sets,
                &mut self.candidates,
            );
        }
        let mut matched = Vec::new();
        let candidates = std::mem::take(&mut self.candidates);
        if !self.unnamed_ends.is_empty()
            && bucket
                .always
                .iter()
                .chain(candidates.iter())
                .any(|&v| set.keywords[v as usize])
        {
            self.enter_unnamed();
        }
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
            Test::Lower(st) => e.has_text && st.matches(self.lower(e)),
            Test::LowerSet(set) => e.has_text && set.contains(self.lower(e)),
            Test::LowerAffixSet { suffix, by_len } => {
                let text = self.lower(e);
                e.has_text
                    && by_len.iter().any(|(len, set)| {
                        let part = if *suffix {
                            text.len().checked_sub(*len).and_then(|at| text.get(at..))
                        } else {
                            text.get(..*len)
                        };
                        part.is_some_and(|part| set.contains(part))
                    })
            }
            Test::LowerContainsAny { searcher, .. } => {
                e.has_text && searcher.is_match(self.lower(e))
            }
            Test::Cased(st) => e.has_text && st.matches(self.orig(e)),
            Test::Regex(re) => e.has_text && re.is_match(self.orig(e)),
            Test::Cidr(net) => {
                e.has_text && parse_ip(self.orig(e)).is_some_and(|ip| net.contains(ip))
            }
            Test::Num(op, n) => self.number_of(e).is_some_and(|v| op.holds(v, *n)),
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
                    (self.orig(e), self.orig(o))
                } else {
                    (self.lower(e), self.lower(o))
                };
                match mode {
                    RefMode::Equal => a == b,
                    RefMode::Contains => a.contains(b),
                    RefMode::StartsWith => a.starts_with(b),
                    RefMode::EndsWith => a.ends_with(b),
                }
            }
            Test::Null | Test::Exists(_) | Test::Never => false,
        }
    }
}

/// Loads an event's fields into the scratch space as a [`FieldSink`] hands them over, as
/// [`Scratch::load`] loads a built event.
pub struct FieldLoader<'s> {
    scratch: &'s mut Scratch,
    set: &'s RuleSet,
    /// The ids of the list being received, and its first entry.
    list: Option<([u32; 2], u32)>,
}

impl<'s> FieldLoader<'s> {
    pub(crate) fn new(scratch: &'s mut Scratch, set: &'s RuleSet) -> Self {
        scratch.clear();
        FieldLoader {
            scratch,
            set,
            list: None,
        }
    }
}

impl FieldLoader<'_> {
    /// The field `name` holding one value (inlined into both of the sink's scalar calls).
    #[inline(always)]
    fn load_scalar(&mut self, name: &str, value: Scalar<'_>) {
        let s = &mut *self.scratch;
        let ids = s.ids_of(self.set, name, None);
        if ids == [NO_FIELD; 2] {
            s.push_unnamed(value);
            return;
        }
        let start = s.used as u32;
        s.push_scalar(value);
        s.end_field(ids, start, false, value == Scalar::Null);
    }
}

impl FieldSink for FieldLoader<'_> {
    fn begin_object(&mut self, name: &str) {
        let s = &mut *self.scratch;
        s.name_bases.push(s.name.len());
        s.push_name(name);
    }

    fn end_object(&mut self) {
        let s = &mut *self.scratch;
        let base = s.name_bases.pop().unwrap_or(0);
        s.name.truncate(base);
    }

    fn scalar(&mut self, name: &str, value: Scalar<'_>) {
        self.load_scalar(name, value);
    }

    fn integer(&mut self, name: &str, value: Scalar<'_>, text: &str) {
        // The source's contract (`FieldSink::integer`), checked where tests and fuzzing run.
        debug_assert_eq!(Value::from(value).to_text().as_deref(), Some(text));
        // A value is loaded as its text: the number's text is the same as the string's.
        self.load_scalar(name, Scalar::Str(text));
    }

    fn begin_list(&mut self, name: &str) {
        let s = &mut *self.scratch;
        self.list = Some((s.ids_of(self.set, name, None), s.used as u32));
    }

    fn list_item(&mut self, value: Scalar<'_>) {
        match self.list {
            Some((ids, _)) if ids == [NO_FIELD; 2] => self.scratch.push_unnamed(value),
            _ => self.scratch.push_scalar(value),
        }
    }

    fn list_object_value(&mut self, value: Scalar<'_>) {
        self.scratch.push_unnamed(value);
    }

    fn end_list(&mut self) {
        // An unmatched end (a source's bug) must not relabel values it did not list.
        if let Some((ids, start)) = self.list.take() {
            if ids != [NO_FIELD; 2] {
                self.scratch.end_field(ids, start, true, false);
            }
        }
    }
}

/// The values in `text` that end where `ends` say, each followed there by
/// [`VALUE_SEPARATOR`].
fn separated_values<'t>(text: &'t str, ends: &'t [u32]) -> impl Iterator<Item = &'t str> + 't {
    let mut start = 0;
    ends.iter().map(move |&end| {
        let value = text.get(start..end as usize).unwrap_or_default();
        start = end as usize + VALUE_SEPARATOR.len_utf8();
        value
    })
}

/// Appends the text [`Value::to_text`] gives for `value`, written in place (no allocation per
/// number); false for a null, which has none.
#[inline(always)]
fn push_text(out: &mut String, value: Scalar<'_>) -> bool {
    match value {
        Scalar::Str(s) => out.push_str(s),
        Scalar::Int(i) => {
            if i < 0 {
                out.push('-');
            }
            push_decimal(out, i.unsigned_abs());
        }
        Scalar::UInt(u) => push_decimal(out, u),
        Scalar::Float(f) => return write!(out, "{f}").is_ok(),
        Scalar::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Scalar::Null => return false,
    }
    true
}

/// Appends `n` in decimal (what `Display` writes, without the formatting machinery, which
/// cost a tenth of flattening an event): two digits per division.
fn push_decimal(out: &mut String, mut n: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[n as usize * 2..n as usize * 2 + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + n as u8;
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

/// Which required literal sets of a variant the current event (its `stamp`) holds a literal
/// of, one bit per set, and the bits of all of them.
struct SetsSeen {
    stamp: u32,
    seen: u8,
    all: u8,
}

/// Records the sets holding the literals `hits` names, and adds to `candidates`, once each, the
/// variants all of whose sets now have a literal in the event.
fn mark(
    scan: &Scan,
    hits: &[u32],
    stamp: u32,
    pattern_stamp: &mut [u32],
    var_sets: &mut [SetsSeen],
    candidates: &mut Vec<u32>,
) {
    for &p in hits {
        let Some(seen) = pattern_stamp.get_mut(scan.offset + p as usize) else {
            continue;
        };
        if *seen == stamp {
            continue;
        }
        *seen = stamp;
        for &set in scan.sets.get(p as usize).map_or(&[][..], Vec::as_slice) {
            let v = set / MAX_REQUIRED_SETS as u32;
            let bit = 1u8 << (set % MAX_REQUIRED_SETS as u32);
            let state = &mut var_sets[v as usize];
            if state.stamp != stamp {
                state.stamp = stamp;
                state.seen = 0;
            }
            if state.seen & bit == 0 {
                state.seen |= bit;
                if state.seen == state.all {
                    candidates.push(v);
                }
            }
        }
    }
}

/// Slots of the memo of scanned values (a power of two).
const MEMO_SLOTS: usize = 8192;
/// Longest value whose scan is remembered: with [`MEMO_SLOTS`], at most 8 MB of texts.
const MEMO_MAX_TEXT: usize = 1024;

/// The literals found in recently scanned field values, by scan and text. Field values repeat
/// from event to event (the same images, parents, users and command lines), and a repeated
/// value costs a hash and a comparison instead of a search. Direct-mapped: a new value
/// replaces whatever shared its slot, so no input can make it grow or slow a lookup down, and
/// the stored text is compared before an answer is reused, so a collision only costs a search.
struct ScanMemo {
    slots: Vec<MemoSlot>,
    /// How many slots to allocate on first use (a power of two).
    capacity: usize,
    /// Hits of a text searched without being remembered.
    unremembered: Vec<u32>,
}

struct MemoSlot {
    /// The scan's id (`u64::MAX`: empty).
    scan: u64,
    text: String,
    hits: Vec<u32>,
}

impl ScanMemo {
    fn new() -> Self {
        Self::with_capacity(MEMO_SLOTS)
    }

    fn with_capacity(capacity: usize) -> Self {
        ScanMemo {
            slots: Vec::new(),
            capacity: capacity.next_power_of_two(),
            unremembered: Vec::new(),
        }
    }

    /// The patterns of `scan` found in `text`, searched for and not remembered.
    fn search(&mut self, scan: &Scan, text: &str) -> &[u32] {
        self.unremembered.clear();
        scan.find_all(text, &mut self.unremembered);
        &self.unremembered
    }

    /// The patterns of `scan` found in `text`, remembered or searched for.
    fn hits(&mut self, scan: &Scan, text: &str) -> &[u32] {
        if text.len() > MEMO_MAX_TEXT {
            return self.search(scan, text);
        }
        if self.slots.is_empty() {
            self.slots = (0..self.capacity)
                .map(|_| MemoSlot {
                    scan: u64::MAX,
                    text: String::new(),
                    hits: Vec::new(),
                })
                .collect();
        }
        let hash = std::hash::BuildHasher::hash_one(&MEMO_HASH, (scan.id, text));
        let slot = &mut self.slots[hash as usize & (self.capacity - 1)];
        if slot.scan != scan.id || slot.text != text {
            slot.scan = scan.id;
            slot.text.clear();
            slot.text.push_str(text);
            slot.hits.clear();
            scan.find_all(text, &mut slot.hits);
        }
        &slot.hits
    }
}

/// The memo's hash: fast on short strings, fixed (a collision costs one search, never a
/// wrong answer, so there is nothing for input to attack).
const MEMO_HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x6e67);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Pipeline, RuleSetBuilder};

    type Snapshot = (
        Vec<(String, bool, [u32; 2])>,
        Vec<String>,
        Vec<Option<(Vec<String>, bool, bool)>>,
    );

    /// What a loaded event is to the rules: each value of a named field with its text and
    /// fields, in order; the texts of the other values, which only keyword searches read (a
    /// streamed event keeps them apart, a built one among the rest), in any order; and every
    /// field's slot, by the texts of its values.
    fn snapshot(s: &Scratch) -> Snapshot {
        let named = s.entries[..s.used]
            .iter()
            .filter(|e| e.ids != [NO_FIELD; 2])
            .map(|e| (s.orig(e).to_string(), e.has_text, e.ids))
            .collect();
        let mut unnamed: Vec<String> = s.entries[..s.used]
            .iter()
            .filter(|e| e.ids == [NO_FIELD; 2] && e.has_text)
            .map(|e| s.orig(e).to_string())
            .collect();
        unnamed.extend(separated_values(&s.unnamed, &s.unnamed_ends).map(str::to_string));
        unnamed.sort();
        let slots = (0..s.slots.len() as u32)
            .map(|id| {
                s.slot(id).map(|x| {
                    let values = s.entries[x.start as usize..(x.start + x.len) as usize]
                        .iter()
                        .map(|e| s.orig(e).to_string())
                        .collect();
                    (values, x.list, x.null)
                })
            })
            .collect();
        (named, unnamed, slots)
    }

    fn object(fields: Vec<(&str, Value)>) -> Fields {
        let mut out = Fields::new();
        for (name, value) in fields {
            out.insert(name, value);
        }
        out
    }

    #[test]
    fn streamed_fields_load_as_built_events_do() {
        let mut builder = RuleSetBuilder::new(Pipeline::none());
        let rule = "title: t\nlogsource: {product: x}\ndetection:\n  s:\n    o.b: x\n    \
                    o.d.e: 1\n    l: y\n    n: null\n    Image: z\n  condition: s\n";
        assert!(builder.add_file("t.yml", rule).is_empty());
        let set = builder.build().0;
        let first = object(vec![
            ("Image", Value::from("C:\\a.exe")),
            (
                "o",
                Value::Object(object(vec![("b", "x".into()), ("c", Value::Int(1))])),
            ),
            (
                "l",
                Value::List(vec![
                    "y".into(),
                    Value::List(vec!["z".into(), Value::Null]),
                    Value::Object(object(vec![("k", Value::Int(1))])),
                ]),
            ),
            ("n", Value::Null),
            ("Image", "second".into()),
            ("u", Value::UInt(u64::MAX)),
            ("i", Value::Int(-5)),
            ("t", Value::Bool(true)),
            ("f", Value::Float(1.5)),
            ("empty", Value::List(Vec::new())),
        ]);
        let second = object(vec![
            ("l", Value::List(vec![Value::Int(3)])),
            (
                "o",
                Value::Object(object(vec![(
                    "d",
                    Value::Object(object(vec![("e", Value::Int(1))])),
                )])),
            ),
            ("o.b", "flat".into()),
            ("Image", "C:\\b.exe".into()),
        ]);
        let new = || Scratch::new(set.fields.len(), set.required_set_counts(), set.dets.len());
        let (mut built, mut streamed, mut mixed) = (new(), new(), new());
        let mut with_texts = new();
        // Twice over, so that the second round reads names from the layout cache; `mixed`
        // takes them built and streamed in turn; `with_texts` is handed integers with their
        // texts, as the JSON reader hands them.
        for (round, fields) in [&first, &second, &first, &second].into_iter().enumerate() {
            let event = Event {
                fields: fields.clone(),
                ..Event::default()
            };
            built.load(&event, &set);
            fields.feed(&mut FieldLoader::new(&mut streamed, &set));
            fields.feed(&mut IntegersWithTexts(FieldLoader::new(
                &mut with_texts,
                &set,
            )));
            assert_eq!(snapshot(&with_texts), snapshot(&built), "round {round}");
            if round % 2 == 0 {
                mixed.load(&event, &set);
            } else {
                fields.feed(&mut FieldLoader::new(&mut mixed, &set));
            }
            assert_eq!(snapshot(&streamed), snapshot(&built), "round {round}");
            assert_eq!(snapshot(&mixed), snapshot(&built), "round {round}");
        }
    }

    /// Hands integers over with their texts.
    struct IntegersWithTexts<S>(S);

    impl<S: FieldSink> FieldSink for IntegersWithTexts<S> {
        fn begin_object(&mut self, name: &str) {
            self.0.begin_object(name);
        }
        fn end_object(&mut self) {
            self.0.end_object();
        }
        fn scalar(&mut self, name: &str, value: Scalar<'_>) {
            match value {
                Scalar::Int(i) => self.0.integer(name, value, &i.to_string()),
                Scalar::UInt(u) => self.0.integer(name, value, &u.to_string()),
                _ => self.0.scalar(name, value),
            }
        }
        fn begin_list(&mut self, name: &str) {
            self.0.begin_list(name);
        }
        fn list_item(&mut self, value: Scalar<'_>) {
            self.0.list_item(value);
        }
        fn list_object_value(&mut self, value: Scalar<'_>) {
            self.0.list_object_value(value);
        }
        fn end_list(&mut self) {
            self.0.end_list();
        }
    }

    /// Every answer of the memo is the search's, through evictions, slot collisions (one and
    /// two slots make every text collide), two scans over the same texts, and texts too long
    /// to remember.
    #[test]
    fn the_scan_memo_answers_as_a_search_does() {
        for capacity in [1, 2, MEMO_SLOTS] {
            memo_agrees_with_search(ScanMemo::with_capacity(capacity));
        }
    }

    fn memo_agrees_with_search(mut memo: ScanMemo) {
        let scans = [
            Scan::of(&["abc", "bcd", "zz", "a"]).expect("scan"),
            Scan::of(&["dd", "cab"]).expect("scan"),
        ];
        // A fixed pseudo-random walk over a small alphabet: many repeats and far more distinct
        // texts than slots.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut searched, mut remembered) = (Vec::new(), Vec::new());
        for round in 0..40_000 {
            let r = next();
            let len = if round % 997 == 0 {
                MEMO_MAX_TEXT + 1 + (r % 7) as usize
            } else {
                (r % 9) as usize
            };
            let text: String = (0..len)
                .map(|i| b"abcdz"[((r >> (i % 20 * 3)) % 5) as usize] as char)
                .collect();
            let scan = &scans[(r >> 62) as usize % 2];
            searched.clear();
            scan.find_all(&text, &mut searched);
            remembered.clear();
            remembered.extend_from_slice(memo.hits(scan, &text));
            searched.sort_unstable();
            remembered.sort_unstable();
            assert_eq!(remembered, searched, "{text:?} in scan {}", scan.id);
        }
    }

    #[test]
    fn decimals_match_display() {
        for n in [
            0u64,
            7,
            10,
            99,
            100,
            101,
            999,
            4104,
            12_345,
            1_000_000,
            u64::MAX,
        ] {
            let mut out = String::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn a_rule_is_evaluated_only_when_each_of_its_literal_sets_occurs() {
        let mut builder = RuleSetBuilder::new(Pipeline::none());
        let rule = "title: t\nlogsource: {product: x}\ndetection:\n  s:\n    \
                    Image|endswith: '\\x.exe'\n    CommandLine|contains|all: [-enc, hidden]\n  \
                    condition: s\n";
        assert!(builder.add_file("t.yml", rule).is_empty());
        let set = builder.build().0;
        // Two of the three sets (each `|all` value is a set of its own) are required: those of
        // the longest literals, `\x.exe` and `hidden`.
        assert_eq!(set.required_set_counts().collect::<Vec<_>>(), [2]);
        let bucket = set.bucket("", &[]);
        let mut scratch = Scratch::new(set.fields.len(), set.required_set_counts(), set.dets.len());
        let mut candidates = |image: &str, command_line: &str| {
            let event = Event {
                fields: object(vec![
                    ("Image", Value::from(image)),
                    ("CommandLine", Value::from(command_line)),
                ]),
                ..Event::default()
            };
            scratch.load(&event, &set);
            scratch.lower_values(bucket.all_values);
            let matched = scratch.run_bucket(&set, &bucket);
            (scratch.candidates.len(), matched.len())
        };
        assert_eq!(
            candidates("C:\\y.exe", "x -enc hidden"),
            (0, 0),
            "the other sets only"
        );
        assert_eq!(candidates("C:\\x.exe", "x -ENC"), (0, 0), "one set only");
        assert_eq!(
            candidates("C:\\X.EXE", "x HIDDEN"),
            (1, 0),
            "evaluated, no match"
        );
        assert_eq!(candidates("C:\\x.exe", "-enc -w hidden"), (1, 1));
    }
}
