//! Correlation rules: references resolved at build time, windows kept per engine.
//!
//! Semantics (documented for users in the crate docs):
//! - Events without a timestamp do not take part in correlations.
//! - A window holds the events of one group whose times lie within `timespan` of the newest:
//!   `newest - t <= timespan`, so both edges are inclusive; an event `timespan + 1ns` older
//!   than the newest has left the window.
//! - The condition is checked each time an event enters a group's window; when it holds, the
//!   correlation fires once and the group's window starts over.
//! - Group-by fields come from the event that entered the window (aliases pick a field per
//!   referenced rule); an absent field groups as the empty string.

use crate::builder::answers_to;
use crate::error::LoadError;
use crate::eval::Scratch;
use crate::parse::{Body, CorrelationAst, CorrelationType, ParsedRule};
use crate::pipeline::{Route, Target};
use crate::rule::{CorrelationHit, Detection};
use crate::ruleset::{DetRule, RuleSet};
use nativeguard_event::{Event, Timestamp};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Most groups one correlation keeps at a time; expired groups are dropped first, then new
/// groups are not tracked until room frees up.
pub const MAX_CORRELATION_GROUPS: usize = 100_000;
/// Most events one group's window keeps (the oldest leave first).
pub const MAX_WINDOW_EVENTS: usize = 10_000;

/// What feeds a correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    Det(usize),
    Corr(usize),
}

/// A correlation with its references resolved.
pub(crate) struct CorrRule {
    pub rule: usize,
    pub ast: CorrelationAst,
    pub inputs: Vec<Input>,
    /// Per input: the names it answers to (id and name), for aliases.
    pub input_names: Vec<Vec<String>>,
    pub input_labels: Vec<String>,
    pub emit: bool,
}

impl CorrRule {
    /// Every field the correlation reads.
    pub fn all_fields(&self) -> Vec<String> {
        let mut out: Vec<String> = self.ast.group_by.clone();
        out.extend(self.ast.field.iter().cloned());
        for per_rule in self.ast.aliases.values() {
            out.extend(per_rule.values().cloned());
        }
        out
    }

    fn group_field(&self, group: &str, input: usize) -> String {
        if let Some(per_rule) = self.ast.aliases.get(group) {
            for name in &self.input_names[input] {
                if let Some(f) = per_rule.get(name) {
                    return f.clone();
                }
            }
        }
        group.to_string()
    }
}

/// Resolves references of every correlation; drops those that cannot be resolved or cycle.
pub(crate) fn resolve(
    parsed: &[ParsedRule],
    asts: Vec<(usize, usize, CorrelationAst)>,
    det_of_parsed: &HashMap<usize, usize>,
    dets: &mut [DetRule],
    errors: &mut Vec<LoadError>,
) -> Vec<CorrRule> {
    let corr_of_parsed: HashMap<usize, usize> = asts
        .iter()
        .enumerate()
        .map(|(c, (p, _, _))| (*p, c))
        .collect();
    let mut resolved: Vec<Option<CorrRule>> = Vec::new();
    for (p, rule_index, ast) in &asts {
        let mut inputs = Vec::new();
        let mut names = Vec::new();
        let mut labels = Vec::new();
        let mut failed = None;
        for reference in &ast.rules {
            let found = (0..parsed.len()).find(|&i| answers_to(&parsed[i], reference));
            match found {
                Some(i) => {
                    let input = match (
                        &parsed[i].body,
                        det_of_parsed.get(&i),
                        corr_of_parsed.get(&i),
                    ) {
                        (Body::Detection(_), Some(&d), _) => Input::Det(d),
                        (Body::Correlation(_), _, Some(&c)) => Input::Corr(c),
                        _ => {
                            failed = Some(format!(
                                "correlation refers to '{reference}', which is a filter"
                            ));
                            break;
                        }
                    };
                    inputs.push(input);
                    let info = &parsed[i].info;
                    names.push(
                        [Some(info.id.clone()), info.name.clone()]
                            .into_iter()
                            .flatten()
                            .filter(|s| !s.is_empty())
                            .collect(),
                    );
                    labels.push(if info.id.is_empty() {
                        info.title.clone()
                    } else {
                        info.id.clone()
                    });
                }
                None => {
                    failed = Some(format!(
                        "correlation refers to rule '{reference}', which is not loaded"
                    ));
                    break;
                }
            }
        }
        let rule = &parsed[*p];
        match failed {
            Some(message) => {
                errors.push(LoadError {
                    path: rule.info.path.clone(),
                    line: Some(ast.line),
                    rule_id: Some(rule.info.id.clone()).filter(|s| !s.is_empty()),
                    title: Some(rule.info.title.clone()),
                    message,
                });
                resolved.push(None);
            }
            None => resolved.push(Some(CorrRule {
                rule: *rule_index,
                ast: ast.clone(),
                inputs,
                input_names: names,
                input_labels: labels,
                emit: true,
            })),
        }
    }
    // Drop correlations that depend on dropped ones or on themselves (cycles), to a fixpoint.
    loop {
        let mut changed = false;
        for c in 0..resolved.len() {
            let broken = resolved[c].as_ref().is_some_and(|r| {
                r.inputs.iter().any(|i| match i {
                    Input::Corr(o) => resolved[*o].is_none() || depends_on(&resolved, *o, c, 0),
                    Input::Det(_) => false,
                })
            });
            if broken {
                let (p, _, ast) = &asts[c];
                let rule = &parsed[*p];
                errors.push(LoadError {
                    path: rule.info.path.clone(),
                    line: Some(ast.line),
                    rule_id: Some(rule.info.id.clone()).filter(|s| !s.is_empty()),
                    title: Some(rule.info.title.clone()),
                    message: "correlation depends on a correlation that did not load or on itself"
                        .into(),
                });
                resolved[c] = None;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Renumber the survivors.
    let mut new_index = vec![usize::MAX; resolved.len()];
    let mut out = Vec::new();
    for (c, r) in resolved.iter().enumerate() {
        if r.is_some() {
            new_index[c] = out.len();
            out.push(c);
        }
    }
    let mut corrs: Vec<CorrRule> = Vec::new();
    for c in out {
        if let Some(mut r) = resolved[c].take() {
            for i in &mut r.inputs {
                if let Input::Corr(o) = i {
                    *o = new_index[*o];
                }
            }
            corrs.push(r);
        }
    }
    // Referenced rules alert on their own only when a correlation says `generate: true`.
    let mut det_generate: HashMap<usize, bool> = HashMap::new();
    let mut corr_generate: HashMap<usize, bool> = HashMap::new();
    for (ci, c) in corrs.iter().enumerate() {
        for i in &c.inputs {
            match i {
                Input::Det(d) => {
                    *det_generate.entry(*d).or_insert(false) |= c.ast.generate;
                    if !dets[*d].feeds.contains(&ci) {
                        dets[*d].feeds.push(ci);
                    }
                }
                Input::Corr(o) => *corr_generate.entry(*o).or_insert(false) |= c.ast.generate,
            }
        }
    }
    for (d, generate) in det_generate {
        dets[d].emit = generate;
    }
    for (c, generate) in corr_generate {
        corrs[c].emit = generate;
    }
    corrs
}

fn depends_on(resolved: &[Option<CorrRule>], from: usize, target: usize, depth: usize) -> bool {
    if from == target {
        return true;
    }
    if depth > resolved.len() {
        return true;
    }
    resolved[from].as_ref().is_some_and(|r| {
        r.inputs.iter().any(|i| match i {
            Input::Corr(o) => depends_on(resolved, *o, target, depth + 1),
            Input::Det(_) => false,
        })
    })
}

#[derive(Debug, Clone)]
struct WindowEvent {
    time: i64,
    input: usize,
    value: Option<String>,
    number: Option<f64>,
}

#[derive(Default)]
struct Group {
    events: VecDeque<WindowEvent>,
}

/// The windows of every correlation, for one stream.
pub(crate) struct CorrelationState {
    groups: Vec<HashMap<Vec<String>, Group>>,
}

impl CorrelationState {
    pub fn new(count: usize) -> Self {
        CorrelationState {
            groups: (0..count).map(|_| HashMap::new()).collect(),
        }
    }

    /// Feeds the detections of one event to the correlations (in dependency order: a
    /// correlation may feed a later one in the same event).
    pub fn process(
        &mut self,
        set: &RuleSet,
        event: &Event,
        matched: &[u32],
        targets: &[u32],
        scratch: &Scratch,
        out: &mut Vec<Detection>,
    ) {
        let Some(Timestamp(now)) = event.timestamp else {
            return;
        };
        let mut fired = vec![false; set.corrs.len()];
        // Correlations only depend on earlier-resolved ones through `Input::Corr`; iterate
        // until nothing new fires so chains resolve regardless of file order.
        let mut progress = true;
        let mut done = vec![false; set.corrs.len()];
        while progress {
            progress = false;
            for (c, corr) in set.corrs.iter().enumerate() {
                if done[c] {
                    continue;
                }
                let ready = corr.inputs.iter().all(|i| match i {
                    Input::Corr(o) => done[*o],
                    Input::Det(_) => true,
                });
                if !ready {
                    continue;
                }
                done[c] = true;
                progress = true;
                let mut inputs: Vec<usize> = (0..corr.inputs.len())
                    .filter(|&i| match corr.inputs[i] {
                        Input::Det(d) => matched.contains(&(d as u32)),
                        Input::Corr(o) => fired[o],
                    })
                    .collect();
                // Counts and aggregates are over events: an event that several referred rules
                // match enters the window once. Temporal types track which rules matched.
                if !matches!(
                    corr.ast.kind,
                    CorrelationType::Temporal | CorrelationType::TemporalOrdered
                ) {
                    inputs.truncate(1);
                }
                for input in inputs {
                    let target = input_target(set, corr.inputs[input], targets);
                    if let Some(hit) = self.add(set, c, corr, input, now, target, scratch) {
                        fired[c] = true;
                        if corr.emit {
                            out.push(Detection {
                                rule: Arc::clone(&set.rules[corr.rule]),
                                correlation: Some(hit),
                            });
                        }
                        break;
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        set: &RuleSet,
        c: usize,
        corr: &CorrRule,
        input: usize,
        now: i64,
        target: Option<&Target>,
        scratch: &Scratch,
    ) -> Option<CorrelationHit> {
        let read = |field: &str| -> Option<&str> {
            let renamed = target.map_or(field, |t| t.rename(field));
            scratch
                .text(set, renamed)
                .or_else(|| scratch.text(set, field))
        };
        let key: Vec<String> = corr
            .ast
            .group_by
            .iter()
            .map(|g| read(&corr.group_field(g, input)).unwrap_or("").to_string())
            .collect();
        let (value, number) = match &corr.ast.field {
            Some(f) => {
                let renamed = target.map_or(f.as_str(), |t| t.rename(f));
                (
                    read(f).map(str::to_string),
                    scratch
                        .number(set, renamed)
                        .or_else(|| scratch.number(set, f)),
                )
            }
            None => (None, None),
        };
        let span = corr.ast.timespan_nanos;
        let groups = &mut self.groups[c];
        if !groups.contains_key(&key) && groups.len() >= MAX_CORRELATION_GROUPS {
            groups.retain(|_, g| {
                g.events
                    .back()
                    .is_some_and(|e| now.saturating_sub(e.time) <= span)
            });
            if groups.len() >= MAX_CORRELATION_GROUPS {
                return None;
            }
        }
        let group = groups.entry(key.clone()).or_default();
        // Keep the window sorted by time (inputs may be out of order across files).
        let at = group.events.partition_point(|e| e.time <= now);
        group.events.insert(
            at,
            WindowEvent {
                time: now,
                input,
                value,
                number,
            },
        );
        while group.events.len() > MAX_WINDOW_EVENTS {
            group.events.pop_front();
        }
        let newest = group.events.back().map_or(now, |e| e.time);
        while group
            .events
            .front()
            .is_some_and(|e| newest.saturating_sub(e.time) > span)
        {
            group.events.pop_front();
        }
        let measured = measure(corr, &group.events)?;
        let holds = if corr.ast.condition.is_empty() {
            measured >= corr.inputs.len() as f64
        } else {
            corr.ast
                .condition
                .iter()
                .all(|(op, v)| op.holds(measured, *v))
        };
        if !holds {
            return None;
        }
        let mut rules: Vec<String> = Vec::new();
        for e in &group.events {
            let label = &corr.input_labels[e.input];
            if !rules.contains(label) {
                rules.push(label.clone());
            }
        }
        let hit = CorrelationHit {
            group: corr.ast.group_by.iter().cloned().zip(key).collect(),
            value: measured,
            first: group.events.front().map(|e| Timestamp(e.time)),
            last: Some(Timestamp(now)),
            rules,
        };
        group.events.clear();
        Some(hit)
    }
}

/// The target whose renames apply to the fields an input's event is read by: for a detection,
/// the first of the event's targets (indices into `RuleSet::targets`) that the rule is routed
/// to (none for a rule routed to every event); for a correlation, the event's first target.
fn input_target<'s>(set: &'s RuleSet, input: Input, targets: &[u32]) -> Option<&'s Target> {
    let mut event_targets = targets.iter().filter_map(|&t| set.targets.get(t as usize));
    match input {
        Input::Det(d) => match set.dets.get(d).map(|det| &det.route) {
            Some(Route::Targets(routed)) => event_targets.find(|t| routed.contains(t)),
            _ => None,
        },
        Input::Corr(_) => event_targets.next(),
    }
}

/// The count or aggregate of a window; `None` when it has nothing to aggregate.
fn measure(corr: &CorrRule, events: &VecDeque<WindowEvent>) -> Option<f64> {
    match corr.ast.kind {
        CorrelationType::EventCount => Some(events.len() as f64),
        CorrelationType::ValueCount => {
            let mut distinct: Vec<&str> =
                events.iter().filter_map(|e| e.value.as_deref()).collect();
            distinct.sort_unstable();
            distinct.dedup();
            Some(distinct.len() as f64)
        }
        CorrelationType::Temporal => {
            let mut seen = vec![false; corr.inputs.len()];
            events.iter().for_each(|e| seen[e.input] = true);
            Some(seen.iter().filter(|s| **s).count() as f64)
        }
        CorrelationType::TemporalOrdered => {
            // Length of the longest prefix of the rule list seen in order.
            let mut next = 0;
            for e in events {
                if next < corr.inputs.len() && e.input == next {
                    next += 1;
                }
            }
            Some(next as f64)
        }
        CorrelationType::ValueSum | CorrelationType::ValueAvg => {
            let nums: Vec<f64> = events.iter().filter_map(|e| e.number).collect();
            if nums.is_empty() {
                return None;
            }
            let sum: f64 = nums.iter().sum();
            Some(if corr.ast.kind == CorrelationType::ValueSum {
                sum
            } else {
                sum / nums.len() as f64
            })
        }
        CorrelationType::ValuePercentile | CorrelationType::ValueMedian => {
            let mut nums: Vec<f64> = events.iter().filter_map(|e| e.number).collect();
            if nums.is_empty() {
                return None;
            }
            nums.sort_by(f64::total_cmp);
            Some(percentile(&nums, corr.ast.percentile))
        }
    }
}

/// Linear-interpolated percentile of sorted values (the median of [1, 2, 3, 4] is 2.5).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    let fraction = rank - low as f64;
    sorted[low] + (sorted[high.min(sorted.len() - 1)] - sorted[low]) * fraction
}
