//! Pipelines: which events a rule's `logsource` applies to, and how its field names map onto
//! the events' field names. Pipelines are data (YAML, see `pipelines/windows.yml` for the
//! documented schema), never code.

use crate::error::Error;
use crate::rule::LogSource;
use crate::yaml::{parse_documents, Document, Node, NodeKind};

/// Log-source routing and field renames, parsed from YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    name: String,
    /// Routing keys: a key's name and the event fields (alternatives, first present wins) that
    /// hold its value.
    pub(crate) keys: Vec<(String, Vec<String>)>,
    /// Prefixes under which sources nest the fields that rules name (e.g. `winlog.event_data.`).
    pub(crate) field_prefixes: Vec<String>,
    /// Whether rules whose log source no entry covers see every event (`unrouted: all`) or none
    /// (`unrouted: skip`).
    pub(crate) unrouted_all: bool,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    product: Option<String>,
    category: Option<String>,
    service: Option<String>,
    targets: Vec<Target>,
}

/// One kind of event a log source covers: a value set per routing key (`None` = any value) and
/// the field renames that apply to such events.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    /// Per routing key (same order as `Pipeline::keys`): accepted values, lowercased.
    pub conds: Vec<Option<Vec<String>>>,
    /// Rule field name -> event field name.
    pub rename: Vec<(String, String)>,
}

impl Target {
    /// Whether an event with these (lowercased) routing key values is of this target.
    pub fn accepts(&self, key_values: &[Option<String>]) -> bool {
        self.conds
            .iter()
            .zip(key_values)
            .all(|(cond, value)| match cond {
                None => true,
                Some(list) => value.as_ref().is_some_and(|v| list.contains(v)),
            })
    }

    /// The event field a rule's field name maps to (names compared as field lookups compare
    /// them: ignoring ASCII case and spaces).
    pub fn rename<'a>(&'a self, field: &'a str) -> &'a str {
        use crate::reference::field_key_chars;
        self.rename
            .iter()
            .find(|(from, _)| field_key_chars(from).eq(field_key_chars(field)))
            .map_or(field, |(_, to)| to.as_str())
    }
}

/// Where a rule's events are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    /// Only events of these targets.
    Targets(Vec<Target>),
    /// Every event, without renames.
    Everything,
    /// No event: the pipeline knows no such log source.
    Nowhere,
}

fn err(name: &str, line: usize, message: impl Into<String>) -> Error {
    Error::Pipeline {
        name: name.to_string(),
        line,
        message: message.into(),
    }
}

fn strings(name: &str, node: &Node, what: &str) -> Result<Vec<String>, Error> {
    match &node.kind {
        NodeKind::Seq(items) => items
            .iter()
            .map(|i| {
                i.scalar_text()
                    .ok_or_else(|| err(name, i.line, format!("{what} must be strings")))
            })
            .collect(),
        _ => node
            .scalar_text()
            .map(|s| vec![s])
            .ok_or_else(|| err(name, node.line, format!("{what} must be strings"))),
    }
}

impl Pipeline {
    /// Parses a pipeline from YAML (schema documented in `pipelines/windows.yml`).
    pub fn parse(name: &str, yaml: &str) -> Result<Pipeline, Error> {
        let doc = match parse_documents(yaml).into_iter().next() {
            Some(Document::Ok(node)) => node,
            Some(Document::Err { line, message }) => return Err(err(name, line, message)),
            None => return Err(err(name, 1, "empty pipeline")),
        };
        let top = doc
            .as_map()
            .ok_or_else(|| err(name, doc.line, "a pipeline is a mapping"))?;
        let mut pipeline = Pipeline {
            name: name.to_string(),
            keys: Vec::new(),
            field_prefixes: Vec::new(),
            unrouted_all: false,
            entries: Vec::new(),
        };
        let mut logsources = None;
        for (key, value) in top {
            match key.as_str() {
                "name" | "description" => {}
                "keys" => {
                    let entries = value
                        .as_map()
                        .ok_or_else(|| err(name, value.line, "'keys' maps key names to fields"))?;
                    for (k, fields) in entries {
                        pipeline
                            .keys
                            .push((k.clone(), strings(name, fields, "key fields")?));
                    }
                }
                "field_prefixes" => {
                    pipeline.field_prefixes = strings(name, value, "field_prefixes")?
                }
                "unrouted" => {
                    pipeline.unrouted_all = match value.as_str() {
                        Some("all") => true,
                        Some("skip") => false,
                        _ => return Err(err(name, value.line, "'unrouted' is 'all' or 'skip'")),
                    }
                }
                "logsources" => logsources = Some(value),
                other => {
                    return Err(err(
                        name,
                        value.line,
                        format!("unknown pipeline key '{other}'"),
                    ))
                }
            }
        }
        if let Some(list) = logsources {
            let NodeKind::Seq(items) = &list.kind else {
                return Err(err(name, list.line, "'logsources' is a list"));
            };
            for item in items {
                pipeline.entries.push(pipeline.parse_entry(item)?);
            }
        }
        Ok(pipeline)
    }

    fn parse_entry(&self, item: &Node) -> Result<Entry, Error> {
        let name = &self.name;
        let ls = item
            .get("logsource")
            .ok_or_else(|| err(name, item.line, "entry has no 'logsource'"))?;
        let field = |k: &str| {
            ls.get(k)
                .and_then(Node::scalar_text)
                .map(|s| s.to_lowercase())
        };
        let mut entry = Entry {
            product: field("product"),
            category: field("category"),
            service: field("service"),
            targets: Vec::new(),
        };
        let targets = item
            .get("targets")
            .ok_or_else(|| err(name, item.line, "entry has no 'targets'"))?;
        let NodeKind::Seq(list) = &targets.kind else {
            return Err(err(name, targets.line, "'targets' is a list"));
        };
        for t in list {
            let map = t
                .as_map()
                .ok_or_else(|| err(name, t.line, "a target is a mapping"))?;
            let mut conds = vec![None; self.keys.len()];
            let mut rename = Vec::new();
            for (k, v) in map {
                if k == "rename" {
                    let pairs = v.as_map().ok_or_else(|| {
                        err(name, v.line, "'rename' maps rule fields to event fields")
                    })?;
                    for (from, to) in pairs {
                        let to = to
                            .scalar_text()
                            .ok_or_else(|| err(name, to.line, "rename targets are field names"))?;
                        rename.push((from.clone(), to));
                    }
                    continue;
                }
                let index = self
                    .keys
                    .iter()
                    .position(|(key, _)| key == k)
                    .ok_or_else(|| {
                        err(
                            name,
                            v.line,
                            format!("'{k}' is not one of the pipeline's keys"),
                        )
                    })?;
                let values = strings(name, v, "target values")?;
                conds[index] = Some(values.into_iter().map(|s| s.to_lowercase()).collect());
            }
            entry.targets.push(Target { conds, rename });
        }
        Ok(entry)
    }

    /// The Windows pipeline shipped with nativeguard (`pipelines/windows.yml`).
    pub fn windows() -> Pipeline {
        Self::builtin("windows", include_str!("../pipelines/windows.yml"))
    }

    /// The Linux pipeline shipped with nativeguard (`pipelines/linux.yml`).
    pub fn linux() -> Pipeline {
        Self::builtin("linux", include_str!("../pipelines/linux.yml"))
    }

    fn builtin(name: &str, yaml: &str) -> Pipeline {
        // The shipped files are tested to parse (tests below); an empty pipeline that routes
        // nothing is the fail-closed fallback should that ever break.
        Self::parse(name, yaml).unwrap_or_else(|_| Pipeline {
            name: name.to_string(),
            keys: Vec::new(),
            field_prefixes: Vec::new(),
            unrouted_all: false,
            entries: Vec::new(),
        })
    }

    /// No routing and no renames: every rule sees every event.
    pub fn none() -> Pipeline {
        Pipeline {
            name: "none".into(),
            keys: Vec::new(),
            field_prefixes: Vec::new(),
            unrouted_all: true,
            entries: Vec::new(),
        }
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where events of a rule's log source are. An entry covers a rule when its product (if
    /// it names one) equals the rule's, and its category and service equal the rule's (both
    /// absent counts as equal).
    pub(crate) fn route(&self, ls: &LogSource) -> Route {
        let mut targets: Vec<Target> = Vec::new();
        for entry in &self.entries {
            let product_ok = entry.product.is_none() || entry.product == ls.product;
            if product_ok && entry.category == ls.category && entry.service == ls.service {
                for t in &entry.targets {
                    if !targets.contains(t) {
                        targets.push(t.clone());
                    }
                }
            }
        }
        if !targets.is_empty() {
            Route::Targets(targets)
        } else if self.unrouted_all {
            Route::Everything
        } else {
            Route::Nowhere
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(product: &str, category: Option<&str>, service: Option<&str>) -> LogSource {
        LogSource {
            product: Some(product.into()),
            category: category.map(Into::into),
            service: service.map(Into::into),
        }
    }

    #[test]
    fn shipped_pipelines_parse() {
        for (name, text) in [
            ("windows", include_str!("../pipelines/windows.yml")),
            ("linux", include_str!("../pipelines/linux.yml")),
        ] {
            let p = Pipeline::parse(name, text).expect(name);
            assert!(!p.entries.is_empty(), "{name}");
        }
    }

    #[test]
    fn process_creation_routes_to_sysmon_1_and_security_4688_with_renames() {
        let p = Pipeline::windows();
        let Route::Targets(targets) = p.route(&ls("windows", Some("process_creation"), None))
        else {
            panic!("not routed");
        };
        let key = |c: &str, e: &str| vec![Some(c.to_lowercase()), Some(e.to_string())];
        let sysmon1 = key("Microsoft-Windows-Sysmon/Operational", "1");
        let sec4688 = key("Security", "4688");
        let sysmon4688 = key("Microsoft-Windows-Sysmon/Operational", "4688");
        let security1 = key("Security", "1");
        assert!(targets
            .iter()
            .any(|t| t.accepts(&sysmon1) && t.rename("Image") == "Image"));
        assert!(targets.iter().any(|t| t.accepts(&sec4688)
            && t.rename("Image") == "NewProcessName"
            && t.rename("ParentImage") == "ParentProcessName"));
        assert!(!targets
            .iter()
            .any(|t| t.accepts(&sysmon4688) || t.accepts(&security1)));
    }

    #[test]
    fn services_route_by_channel_and_unknown_products_nowhere() {
        let p = Pipeline::windows();
        let Route::Targets(t) = p.route(&ls("windows", None, Some("security"))) else {
            panic!("security not routed");
        };
        assert!(t[0].accepts(&[Some("security".into()), Some("4624".into())]));
        assert!(!t[0].accepts(&[Some("system".into()), Some("4624".into())]));
        assert_eq!(
            p.route(&ls("aws", None, Some("cloudtrail"))),
            Route::Nowhere
        );
        assert_eq!(
            Pipeline::none().route(&ls("aws", None, None)),
            Route::Everything
        );
    }

    #[test]
    fn bad_pipelines_name_the_line() {
        let e = Pipeline::parse("x", "keys:\n  channel: [Channel]\nlogsources:\n  - logsource: {}\n    targets:\n      - {nope: 1}\n")
            .unwrap_err();
        assert!(matches!(e, Error::Pipeline { line: 6, .. }), "{e}");
        assert!(Pipeline::parse("x", "bogus: 1").is_err());
    }
}
