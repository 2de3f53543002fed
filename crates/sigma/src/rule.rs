//! What a rule is, independent of how it matches: metadata, levels, log sources, detections.

use nativeguard_event::Timestamp;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// A rule's severity. Ordered from `Informational` (lowest) to `Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    /// Enrichment only.
    Informational,
    /// Notable, rarely an incident.
    Low,
    /// Worth a review (the default when a rule gives no level).
    #[default]
    Medium,
    /// Prompt review.
    High,
    /// Almost certainly an incident.
    Critical,
}

impl Level {
    /// The Sigma spelling (`informational`, `low`, `medium`, `high`, `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;

    /// Parses a Sigma level, ignoring case; `info` is accepted for `informational`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Ok(Level::Informational),
            "low" => Ok(Level::Low),
            "medium" => Ok(Level::Medium),
            "high" => Ok(Level::High),
            "critical" => Ok(Level::Critical),
            other => Err(format!(
                "unknown level '{other}' (expected informational, low, medium, high or critical)"
            )),
        }
    }
}

/// A rule's `logsource` (values as written, lowercased).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LogSource {
    /// e.g. `windows`, `linux`.
    pub product: Option<String>,
    /// e.g. `process_creation`.
    pub category: Option<String>,
    /// e.g. `security`, `sysmon`.
    pub service: Option<String>,
}

/// What kind of Sigma document a rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// A detection rule (`detection:`), matched against single events.
    Detection,
    /// A correlation rule (`correlation:`), matched over windows of detections.
    Correlation,
    /// A filter (`filter:`), excluding events from the rules it names.
    Filter,
}

/// A loaded rule's metadata, shared by every detection it raises.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInfo {
    /// `id` (empty when the rule has none).
    pub id: String,
    /// `title`.
    pub title: String,
    /// `name` (used by correlations and filters to refer to rules).
    pub name: Option<String>,
    /// `level` (medium when absent).
    pub level: Level,
    /// `status`.
    pub status: Option<String>,
    /// `author` (DRL 1.1: every alert carries it).
    pub author: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `description`.
    pub description: Option<String>,
    /// `references`.
    pub references: Vec<String>,
    /// `falsepositives`.
    pub falsepositives: Vec<String>,
    /// `date`.
    pub date: Option<String>,
    /// `modified`.
    pub modified: Option<String>,
    /// `logsource`.
    pub logsource: LogSource,
    /// The file the rule came from.
    pub path: String,
    /// 1-based line where the rule's YAML document starts.
    pub line: usize,
    /// Detection, correlation or filter.
    pub kind: RuleKind,
}

/// A rule that matched, or a correlation that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The rule (for a correlation: the correlation rule).
    pub rule: Arc<RuleInfo>,
    /// Set when a correlation rule fired.
    pub correlation: Option<CorrelationHit>,
}

/// What a correlation saw when it fired.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationHit {
    /// The `group-by` fields and their values for this group.
    pub group: Vec<(String, String)>,
    /// The count (event_count, value_count, temporal: number of distinct rules) or the aggregate
    /// (value_sum, value_avg, value_percentile, value_median) that met the condition.
    pub value: f64,
    /// Time of the first event in the window.
    pub first: Option<Timestamp>,
    /// Time of the event that made the correlation fire.
    pub last: Option<Timestamp>,
    /// Ids (or titles, for rules without id) of the rules whose events made up the window.
    pub rules: Vec<String>,
}
