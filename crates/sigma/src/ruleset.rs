//! The built rule set (immutable, shared) and the per-stream [`Engine`].
//!
//! Hot path per event: flatten fields once into slots (a field's ids come from the previous
//! event's layout by `Name` pointer, else from a per-engine name cache; texts go into one
//! buffer), read the routing key from the slots, fetch that key's bucket (built once per
//! distinct key and shared by every engine), lowercase the values the bucket looks at into one
//! buffer, find which required literals occur (per field: a Teddy SIMD gate then an
//! overlapping Aho-Corasick search for small literal sets, an Aho-Corasick NFA for large ones,
//! each value's answer remembered in the engine's memo, since values repeat from event to
//! event; keywords: one search over all values), then evaluate only the rules with a literal of
//! each of their required sets found, plus the few rules without a required literal.

use crate::builder::{answers_to, is_detection};
use crate::compile::{
    compile_detection, packed_search, required_literal_sets, uses_keywords, Expr, FieldTable,
    FnvBuild, Literal, Source, MAX_REQUIRED_SETS,
};
use crate::correlation::{CorrRule, CorrelationState};
use crate::error::LoadError;
use crate::eval::{FieldLoader, Scratch};
use crate::parse::{Body, ParsedRule};
use crate::pipeline::{Pipeline, Route, Target};
use crate::rule::{Detection, RuleInfo};
use aho_corasick::AhoCorasick;
use nativeguard_event::Event;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most distinct routing keys whose buckets are kept; past it the cache starts over.
pub const MAX_ROUTE_CACHE: usize = 4096;

/// A detection rule, parsed, with its filters and where it applies.
pub(crate) struct DetRule {
    /// Index into `RuleSet::rules`.
    pub rule: usize,
    pub ast: crate::ast::DetectionAst,
    pub filters: Vec<crate::ast::DetectionAst>,
    pub route: Route,
    /// Whether the rule raises detections of its own (false when only correlations use it).
    pub emit: bool,
    /// Correlations fed by this rule.
    pub feeds: Vec<usize>,
}

/// A detection compiled for one kind of event.
pub(crate) struct Variant {
    pub det: u32,
    pub expr: Expr,
    /// Index into `RuleSet::targets` (None: every event).
    pub target: Option<u32>,
}

/// The rules to consider for one routing key.
pub(crate) struct Bucket {
    /// Variants evaluated on every event of the key.
    pub always: Vec<u32>,
    /// Variants evaluated when each of their literal sets has a literal in the event.
    pub filtered: Vec<u32>,
    /// Per field id: an automaton over the literals that must be in that field, run on that
    /// field's values only.
    pub field_scans: Vec<Option<Scan>>,
    /// Over the literals of keyword lists, run on every value.
    pub keyword_scan: Option<Scan>,
    /// Total patterns of all scans (for per-event pattern stamps).
    pub patterns: usize,
    /// Index of the target the bucket belongs to, for renames of group-by fields.
    pub targets: Vec<u32>,
    /// Some rule searches every value (keywords): lowercase every value.
    pub all_values: bool,
}

/// One Aho-Corasick automaton and, per pattern, the variants' literal sets holding it.
pub(crate) struct Scan {
    /// Unique in the process: names this scan in an engine's memo of scanned values.
    pub id: u64,
    pub automaton: AhoCorasick,
    /// For small literal sets, a SIMD (Teddy) searcher that tells whether any literal occurs;
    /// the automaton's own prefilter (rare bytes) fires on common bytes far more often.
    pub gate: Option<aho_corasick::packed::Searcher>,
    /// Per pattern: the literal sets (as [`set_ref`]s) that hold it.
    pub sets: Vec<Vec<u32>>,
    /// Where this scan's pattern ids start in the bucket's pattern stamps.
    pub offset: usize,
}

impl Scan {
    /// A scan over `literals` alone (for tests of what uses scans).
    #[cfg(test)]
    pub fn of(literals: &[&str]) -> Option<Scan> {
        let mut index = LiteralIndex::default();
        for (variant, literal) in (0u32..).zip(literals) {
            index.add(literal, set_ref(variant, 0));
        }
        index.build(&mut 0)
    }

    /// Appends the index of every pattern found in `text` (a pattern may repeat). Most values
    /// hold none, so a plain (gate- or automaton-accelerated) match test comes first; only a
    /// hit pays for the overlapping search that finds every literal.
    pub fn find_all(&self, text: &str, hits: &mut Vec<u32>) {
        let hit = match &self.gate {
            Some(gate) => gate.find(text).is_some(),
            None => self.automaton.is_match(text),
        };
        if hit {
            hits.extend(
                self.automaton
                    .find_overlapping_iter(text)
                    .map(|m| m.pattern().as_u32()),
            );
        }
    }
}

/// Buckets by routing key, and by the set of targets a key selects (many keys, e.g. every
/// Security EventID, select the same targets and so share one bucket).
#[derive(Default)]
struct BucketCache {
    by_key: HashMap<String, Arc<Bucket>>,
    by_targets: HashMap<Vec<u32>, Arc<Bucket>>,
}

/// An immutable, shareable set of compiled rules.
pub struct RuleSet {
    pub(crate) rules: Vec<Arc<RuleInfo>>,
    pub(crate) pipeline: Pipeline,
    pub(crate) dets: Vec<DetRule>,
    pub(crate) corrs: Vec<CorrRule>,
    pub(crate) variants: Vec<Variant>,
    pub(crate) targets: Vec<Target>,
    pub(crate) fields: FieldTable,
    /// Per routing key of the pipeline, the field ids that may hold it, first present wins.
    key_fields: Vec<Vec<u32>>,
    /// Variants of rules routed to every event.
    everywhere: Vec<u32>,
    /// Per variant: the literal sets it is evaluated on (none: evaluated on every event).
    required_sets: Vec<Vec<Vec<Literal>>>,
    pub(crate) keywords: Vec<bool>,
    buckets: Mutex<BucketCache>,
    unresolved: Vec<(usize, String)>,
    unrouted: Vec<usize>,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rules.len())
            .field("pipeline", &self.pipeline.name())
            .finish()
    }
}

impl RuleSet {
    pub(crate) fn from_parsed(
        pipeline: Pipeline,
        parsed: Vec<ParsedRule>,
        index_literals: bool,
    ) -> (RuleSet, Vec<LoadError>) {
        let mut errors = Vec::new();
        let err = |rule: &ParsedRule, line: usize, message: String| LoadError {
            path: rule.info.path.clone(),
            line: Some(line),
            rule_id: Some(rule.info.id.clone()).filter(|s| !s.is_empty()),
            title: Some(rule.info.title.clone()),
            message,
        };
        // Filters attach to the detections they name.
        let mut filters_of: HashMap<usize, Vec<crate::ast::DetectionAst>> = HashMap::new();
        for rule in &parsed {
            if let Body::Filter(f) = &rule.body {
                for reference in &f.rules {
                    let found: Vec<usize> = (0..parsed.len())
                        .filter(|&i| is_detection(&parsed[i]) && answers_to(&parsed[i], reference))
                        .collect();
                    if found.is_empty() {
                        errors.push(err(
                            rule,
                            f.line,
                            format!("filter names rule '{reference}', which is not loaded"),
                        ));
                    }
                    for i in found {
                        filters_of.entry(i).or_default().push(f.detection.clone());
                    }
                }
            }
        }
        let mut rules = Vec::with_capacity(parsed.len());
        let mut dets = Vec::new();
        let mut det_of_parsed = HashMap::new();
        let mut unresolved = Vec::new();
        let mut corr_asts = Vec::new();
        for (i, rule) in parsed.iter().enumerate() {
            let index = rules.len();
            rules.push(Arc::new(rule.info.clone()));
            for name in &rule.unresolved {
                unresolved.push((index, name.clone()));
            }
            match &rule.body {
                Body::Detection(ast) => {
                    det_of_parsed.insert(i, dets.len());
                    dets.push(DetRule {
                        rule: index,
                        ast: ast.clone(),
                        filters: filters_of.remove(&i).unwrap_or_default(),
                        route: pipeline.route(&rule.info.logsource),
                        emit: true,
                        feeds: Vec::new(),
                    });
                }
                Body::Correlation(c) => corr_asts.push((i, index, c.clone())),
                Body::Filter(_) => {}
            }
        }
        let corrs =
            crate::correlation::resolve(&parsed, corr_asts, &det_of_parsed, &mut dets, &mut errors);
        let mut set = RuleSet {
            rules,
            pipeline,
            dets,
            corrs,
            variants: Vec::new(),
            targets: Vec::new(),
            fields: FieldTable::default(),
            key_fields: Vec::new(),
            everywhere: Vec::new(),
            required_sets: Vec::new(),
            keywords: Vec::new(),
            buckets: Mutex::new(BucketCache::default()),
            unresolved,
            unrouted: Vec::new(),
        };
        set.compile(index_literals);
        (set, errors)
    }

    /// Compiles every detection for its targets; with `index_literals`, also the literal sets
    /// each variant requires, which buckets search events for before evaluating it (see
    /// [`crate::RuleSetBuilder::without_literal_index`]).
    fn compile(&mut self, index_literals: bool) {
        let literal_sets = |expr: &Expr| {
            if index_literals {
                required_literal_sets(expr)
            } else {
                Vec::new()
            }
        };
        for (d, det) in self.dets.iter().enumerate() {
            let det_id = u32::try_from(d).unwrap_or(u32::MAX);
            match &det.route {
                Route::Nowhere => self.unrouted.push(det.rule),
                Route::Everything => {
                    let expr = compile_detection(&det.ast, &det.filters, None, &mut self.fields);
                    self.everywhere.push(self.variants.len() as u32);
                    self.required_sets.push(literal_sets(&expr));
                    self.keywords.push(uses_keywords(&expr));
                    self.variants.push(Variant {
                        det: det_id,
                        expr,
                        target: None,
                    });
                }
                Route::Targets(targets) => {
                    for t in targets {
                        let t_index = match self.targets.iter().position(|x| x == t) {
                            Some(i) => i,
                            None => {
                                self.targets.push(t.clone());
                                self.targets.len() - 1
                            }
                        };
                        let expr =
                            compile_detection(&det.ast, &det.filters, Some(t), &mut self.fields);
                        self.required_sets.push(literal_sets(&expr));
                        self.keywords.push(uses_keywords(&expr));
                        self.variants.push(Variant {
                            det: det_id,
                            expr,
                            target: Some(t_index as u32),
                        });
                    }
                }
            }
        }
        // Routing keys are read from the slots the event is flattened into, like rule fields.
        self.key_fields = self
            .pipeline
            .keys
            .iter()
            .map(|(_, alternatives)| alternatives.iter().map(|f| self.fields.intern(f)).collect())
            .collect();
        // Correlation group-by and value fields are read through the same slots.
        for c in &self.corrs {
            for f in c.all_fields() {
                self.fields.intern(&f);
                for t in &self.targets {
                    self.fields.intern(t.rename(&f));
                }
            }
        }
    }

    /// Per variant: how many required literal sets it has.
    pub(crate) fn required_set_counts(&self) -> impl Iterator<Item = usize> + '_ {
        self.required_sets.iter().map(Vec::len)
    }

    /// Every loaded rule (detections, correlations, filters), in load order.
    pub fn rules(&self) -> &[Arc<RuleInfo>] {
        &self.rules
    }

    /// Number of loaded rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule is loaded.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rules whose log source the pipeline does not route: loaded, but they see no event.
    pub fn unrouted_rules(&self) -> impl Iterator<Item = &Arc<RuleInfo>> {
        self.unrouted.iter().map(|&i| &self.rules[i])
    }

    /// `(rule, placeholder)` for every `expand` placeholder that had no values: those values
    /// match nothing.
    pub fn unresolved_placeholders(&self) -> impl Iterator<Item = (&Arc<RuleInfo>, &str)> {
        self.unresolved
            .iter()
            .map(|(i, n)| (&self.rules[*i], n.as_str()))
    }

    /// The pipeline the rules were compiled with.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// A per-stream evaluator (holds correlation windows and scratch buffers).
    pub fn engine(self: &Arc<Self>) -> Engine {
        Engine {
            set: Arc::clone(self),
            scratch: Scratch::new(
                self.fields.len(),
                self.required_set_counts(),
                self.dets.len(),
            ),
            local_buckets: HashMap::default(),
            key: String::new(),
            key_values: Vec::new(),
            route_key: String::new(),
            route_bucket: None,
            correlations: CorrelationState::new(self.corrs.len()),
        }
    }

    /// The bucket for an event's routing key (as [`Engine`] writes it) and key values
    /// (lowercased), built on first use.
    pub(crate) fn bucket(&self, key: &str, values: &[Option<String>]) -> Arc<Bucket> {
        let mut cache = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(b) = cache.by_key.get(key) {
            return Arc::clone(b);
        }
        if cache.by_key.len() >= MAX_ROUTE_CACHE {
            cache.by_key.clear();
        }
        let accepted: Vec<u32> = (0..self.targets.len())
            .filter(|&t| self.targets[t].accepts(values))
            .map(|t| t as u32)
            .collect();
        if let Some(b) = cache.by_targets.get(&accepted) {
            let b = Arc::clone(b);
            cache.by_key.insert(key.to_string(), Arc::clone(&b));
            return b;
        }
        let mut always = Vec::new();
        let mut filtered = Vec::new();
        let mut per_field: HashMap<u32, LiteralIndex> = HashMap::new();
        let mut keywords = LiteralIndex::default();
        let mut all_values = false;
        let candidates =
            self.everywhere
                .iter()
                .copied()
                .chain((0..self.variants.len() as u32).filter(|&v| {
                    self.variants[v as usize]
                        .target
                        .is_some_and(|t| accepted.contains(&t))
                }));
        for v in candidates {
            all_values |= self.keywords[v as usize];
            let sets = &self.required_sets[v as usize];
            if sets.is_empty() {
                always.push(v);
                continue;
            }
            filtered.push(v);
            for (set, lits) in (0u32..).zip(sets) {
                for (lit, source) in lits {
                    match source {
                        Source::Keywords => keywords.add(lit, set_ref(v, set)),
                        Source::Field(f) => {
                            per_field.entry(*f).or_default().add(lit, set_ref(v, set))
                        }
                    }
                }
            }
        }
        let mut patterns = 0;
        let mut unindexed = false;
        let mut field_scans: Vec<Option<Scan>> = (0..self.fields.len()).map(|_| None).collect();
        for (field, index) in per_field {
            match index.build(&mut patterns) {
                Some(scan) => field_scans[field as usize] = Some(scan),
                None => unindexed = true,
            }
        }
        // The keyword search runs once over all values joined by a separator; a literal
        // holding the separator could match across two values, so it is not indexed.
        if keywords
            .patterns
            .iter()
            .any(|p| p.contains(crate::eval::VALUE_SEPARATOR))
        {
            unindexed = true;
            keywords = LiteralIndex::default();
        }
        let keyword_scan = if keywords.patterns.is_empty() {
            None
        } else {
            let scan = keywords.build(&mut patterns);
            unindexed |= scan.is_none();
            scan
        };
        if unindexed {
            // Could not index: evaluate those rules unconditionally instead.
            always.append(&mut filtered);
        }
        let bucket = Arc::new(Bucket {
            always,
            filtered,
            field_scans,
            keyword_scan,
            patterns,
            targets: accepted.clone(),
            all_values,
        });
        cache.by_key.insert(key.to_string(), Arc::clone(&bucket));
        cache.by_targets.insert(accepted, Arc::clone(&bucket));
        bucket
    }
}

/// Most literals for which a bucket's automaton is built as a DFA.
const MAX_DFA_LITERALS: usize = 200;

/// A variant's required literal set as one number: the variant, and which of its (at most
/// [`MAX_REQUIRED_SETS`]) sets; [`Scratch`] takes it apart.
pub(crate) fn set_ref(variant: u32, set: u32) -> u32 {
    variant * MAX_REQUIRED_SETS as u32 + set
}

/// Literals and the required sets holding them, on the way to an automaton.
#[derive(Default)]
struct LiteralIndex {
    patterns: Vec<String>,
    ids: HashMap<String, usize>,
    sets: Vec<Vec<u32>>,
}

impl LiteralIndex {
    fn add(&mut self, literal: &str, set: u32) {
        let id = match self.ids.get(literal) {
            Some(&id) => id,
            None => {
                self.patterns.push(literal.to_string());
                self.sets.push(Vec::new());
                self.ids
                    .insert(literal.to_string(), self.patterns.len() - 1);
                self.patterns.len() - 1
            }
        };
        if self.sets[id].last() != Some(&set) {
            self.sets[id].push(set);
        }
    }

    fn build(self, offset: &mut usize) -> Option<Scan> {
        // A DFA searches fastest but is slow to build and large for thousands of literals.
        let kind = if self.patterns.len() <= MAX_DFA_LITERALS {
            aho_corasick::AhoCorasickKind::DFA
        } else {
            aho_corasick::AhoCorasickKind::ContiguousNFA
        };
        // No prefilter: over thousands of literals its rare bytes are common bytes, and it
        // costs more than it skips (small sets are gated by Teddy below instead).
        let automaton = AhoCorasick::builder()
            .kind(Some(kind))
            .prefilter(false)
            .build(&self.patterns)
            .or_else(|_| AhoCorasick::new(&self.patterns))
            .ok()?;
        let gate = packed_search(&self.patterns);
        static NEXT_SCAN_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let scan = Scan {
            id: NEXT_SCAN_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            automaton,
            gate,
            sets: self.sets,
            offset: *offset,
        };
        *offset += scan.sets.len();
        Some(scan)
    }
}

/// Evaluates events against a [`RuleSet`], keeping per-stream state (correlation windows).
pub struct Engine {
    pub(crate) set: Arc<RuleSet>,
    scratch: Scratch,
    local_buckets: HashMap<String, Arc<Bucket>, FnvBuild>,
    key: String,
    key_values: Vec<Option<String>>,
    /// The previous event's routing key and bucket.
    route_key: String,
    route_bucket: Option<Arc<Bucket>>,
    correlations: CorrelationState,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("set", &self.set).finish()
    }
}

impl Engine {
    /// The rule set this engine evaluates.
    pub fn rule_set(&self) -> &Arc<RuleSet> {
        &self.set
    }

    /// Evaluates one event; pushes a Detection per matching rule and per correlation that fires.
    pub fn evaluate(&mut self, event: &Event, out: &mut Vec<Detection>) {
        self.scratch.load(event, &self.set);
        self.evaluate_loaded(Some(event), out);
    }

    /// Evaluates one event whose fields `fill` hands to a [`FieldLoader`] (a
    /// [`nativeguard_event::FieldSink`]) without building it; pushes a Detection per matching
    /// rule, as [`Engine::evaluate`] does for the built event. False, with nothing evaluated,
    /// when `fill` returns false or the set has correlations (their windows need the event's
    /// time): evaluate the built event then.
    pub fn evaluate_streamed(
        &mut self,
        fill: impl FnOnce(&mut FieldLoader<'_>) -> bool,
        out: &mut Vec<Detection>,
    ) -> bool {
        if !self.set.corrs.is_empty() || !fill(&mut FieldLoader::new(&mut self.scratch, &self.set))
        {
            return false;
        }
        self.evaluate_loaded(None, out);
        true
    }

    /// Routes and evaluates the event in the scratch space (`event`: the same, built, for the
    /// correlations).
    fn evaluate_loaded(&mut self, event: Option<&Event>, out: &mut Vec<Detection>) {
        // Borrowed field by field: the set and the bucket are read while the scratch space
        // changes, without cloning (and counting) their `Arc`s per event.
        let Engine {
            set,
            scratch,
            local_buckets,
            key,
            key_values,
            route_key,
            route_bucket,
            correlations,
        } = self;
        let set: &RuleSet = set;
        // Routing key, computed once, without allocating: each key field's text as the event
        // has it (NUL when absent), separated by US. It is lowercased, for the rule set, only
        // when the engine has not seen it.
        key.clear();
        for alternatives in &set.key_fields {
            match scratch.first_single_text(alternatives) {
                Some(text) => key.push_str(text),
                None => key.push('\u{0}'),
            }
            key.push('\u{1f}');
        }
        // Events mostly come in runs of one kind: the previous event's bucket first.
        let bucket: &Arc<Bucket> = match route_bucket {
            Some(bucket) if route_key == key => bucket,
            _ => {
                let bucket = match local_buckets.get(key.as_str()) {
                    Some(b) => Arc::clone(b),
                    None => {
                        key_values.clear();
                        for alternatives in &set.key_fields {
                            key_values.push(
                                scratch
                                    .first_single_text(alternatives)
                                    .map(crate::reference::lower),
                            );
                        }
                        let b = set.bucket(key, key_values);
                        if local_buckets.len() >= MAX_ROUTE_CACHE {
                            local_buckets.clear();
                        }
                        local_buckets.insert(key.clone(), Arc::clone(&b));
                        b
                    }
                };
                route_key.clone_from(key);
                route_bucket.insert(bucket)
            }
        };
        scratch.lower_values(bucket.all_values);
        let matched = scratch.run_bucket(set, bucket);
        for &d in &matched {
            let det = &set.dets[d as usize];
            if det.emit {
                out.push(Detection {
                    rule: Arc::clone(&set.rules[det.rule]),
                    correlation: None,
                });
            }
        }
        if let Some(event) = event.filter(|_| !set.corrs.is_empty()) {
            correlations.process(set, event, &matched, &bucket.targets, scratch, out);
        }
    }
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("always", &self.always.len())
            .field("filtered", &self.filtered.len())
            .finish()
    }
}
