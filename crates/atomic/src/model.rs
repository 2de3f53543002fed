//! The Atomic Red Team model and its validator.
//!
//! The rules are those of Atomic Red Team's own validator (`atomic_red_team/models.py` and
//! `validator.py`, pydantic models checked by its CI), including its error codes, so that a file
//! rejected here is rejected there for the same reason:
//! - technique: `attack_technique` matches `T\d{4}(\.\d{3})?`, `display_name` has ≥ 5 characters,
//!   `atomic_tests` is a non-empty list;
//! - test: only the known keys (`extra_forbidden`), non-empty `name` and `description`,
//!   `supported_platforms` from the fixed list, an `executor` whose `name` selects the kind
//!   (`manual` needs `steps` of ≥ 10 characters, the others a non-empty `command`), input
//!   arguments whose `default` has the declared type, every `#{name}` used in a command,
//!   cleanup, prerequisite or manual step is declared and every declared argument is used,
//!   `dependency_executor_name` only with dependencies and never empty, `elevation_required`
//!   set when a Linux/macOS command uses `sudo`, and a GUID used once.
//!
//! A test that breaks a rule is rejected alone (its error names the field); a technique-level
//! error rejects the file.

use crate::error::Error;
use crate::yaml::{self, Kind, Node};
use std::fmt;

/// One technique's file: its tests, in file order.
#[derive(Debug, Clone)]
pub struct Technique {
    /// ATT&CK id, `T1106` or `T1003.001`.
    pub attack_technique: String,
    /// The technique's name.
    pub display_name: String,
    /// The tests that passed validation.
    pub tests: Vec<AtomicTest>,
    /// Where the file came from (a path, or `shipped:` for the project's embedded tests).
    pub path: String,
}

/// One atomic test.
#[derive(Debug, Clone)]
pub struct AtomicTest {
    /// 1-based position in its file (Atomic Red Team's test number).
    pub number: usize,
    /// Line of the test in its file.
    pub line: usize,
    /// The test's name.
    pub name: String,
    /// `auto_generated_guid`, lower-case, when present.
    pub guid: Option<String>,
    /// Long description (Markdown).
    pub description: String,
    /// Platforms the test runs on.
    pub supported_platforms: Vec<Platform>,
    /// Declared input arguments, in file order.
    pub input_arguments: Vec<InputArgument>,
    /// Executor for the prerequisite commands (defaults to the test's executor).
    pub dependency_executor: Option<ExecutorKind>,
    /// Prerequisites.
    pub dependencies: Vec<Dependency>,
    /// How the test runs.
    pub executor: Executor,
}

impl AtomicTest {
    /// The executor that runs this test's prerequisite commands.
    pub fn prereq_executor(&self) -> ExecutorKind {
        self.dependency_executor.unwrap_or(self.executor.kind)
    }

    /// The declared argument called `name`.
    pub fn input(&self, name: &str) -> Option<&InputArgument> {
        self.input_arguments.iter().find(|a| a.name == name)
    }
}

/// A platform of `supported_platforms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Platform {
    /// `windows`
    Windows,
    /// `macos`
    Macos,
    /// `linux`
    Linux,
    /// `office-365`
    Office365,
    /// `azure-ad`
    AzureAd,
    /// `google-workspace`
    GoogleWorkspace,
    /// `saas`
    Saas,
    /// `iaas`
    Iaas,
    /// `containers`
    Containers,
    /// `iaas:gcp`
    IaasGcp,
    /// `iaas:azure`
    IaasAzure,
    /// `iaas:aws`
    IaasAws,
    /// `esxi`
    Esxi,
}

impl Platform {
    /// Every platform, in the order of Atomic Red Team's list.
    pub const ALL: [Platform; 13] = [
        Platform::Windows,
        Platform::Macos,
        Platform::Linux,
        Platform::Office365,
        Platform::AzureAd,
        Platform::GoogleWorkspace,
        Platform::Saas,
        Platform::Iaas,
        Platform::Containers,
        Platform::IaasGcp,
        Platform::IaasAzure,
        Platform::IaasAws,
        Platform::Esxi,
    ];

    /// The name used in atomic files.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Windows => "windows",
            Platform::Macos => "macos",
            Platform::Linux => "linux",
            Platform::Office365 => "office-365",
            Platform::AzureAd => "azure-ad",
            Platform::GoogleWorkspace => "google-workspace",
            Platform::Saas => "saas",
            Platform::Iaas => "iaas",
            Platform::Containers => "containers",
            Platform::IaasGcp => "iaas:gcp",
            Platform::IaasAzure => "iaas:azure",
            Platform::IaasAws => "iaas:aws",
            Platform::Esxi => "esxi",
        }
    }

    /// Parses a name used in atomic files.
    pub fn from_name(name: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The platform this program runs on, if it is one atomic tests target.
    pub fn host() -> Option<Platform> {
        if cfg!(target_os = "linux") {
            Some(Platform::Linux)
        } else if cfg!(target_os = "macos") {
            Some(Platform::Macos)
        } else if cfg!(target_os = "windows") {
            Some(Platform::Windows)
        } else {
            None
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An input argument.
#[derive(Debug, Clone)]
pub struct InputArgument {
    /// The name used in `#{name}`.
    pub name: String,
    /// What it is.
    pub description: String,
    /// Its type.
    pub kind: ArgType,
    /// The default, rendered as the text substituted into commands (`None`: null).
    pub default: Option<String>,
}

/// The type of an input argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    /// A file path (any string).
    Path,
    /// Any string.
    String,
    /// A URL, domain name or IP address.
    Url,
    /// An integer.
    Integer,
    /// A floating-point number.
    Float,
}

impl ArgType {
    fn from_name(name: &str) -> Option<ArgType> {
        Some(match name {
            "path" | "Path" => ArgType::Path,
            "string" | "String" => ArgType::String,
            "url" | "Url" => ArgType::Url,
            "integer" | "Integer" => ArgType::Integer,
            "float" | "Float" => ArgType::Float,
            _ => return None,
        })
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ArgType::Path => "path",
            ArgType::String => "string",
            ArgType::Url => "url",
            ArgType::Integer => "integer",
            ArgType::Float => "float",
        }
    }

    /// Checks a value given on the command line (`--input name=value`) against this type.
    /// Returns Atomic Red Team's error code and a message when it does not fit.
    pub fn check(self, value: &str) -> Result<(), (&'static str, String)> {
        match self {
            ArgType::Path | ArgType::String => Ok(()),
            ArgType::Integer => value
                .trim()
                .parse::<i64>()
                .map(|_| ())
                .map_err(|_| ("int_parsing", format!("'{value}' is not a valid integer"))),
            ArgType::Float => value
                .trim()
                .parse::<f64>()
                .map(|_| ())
                .map_err(|_| ("float_parsing", format!("'{value}' is not a valid float"))),
            ArgType::Url => {
                if is_url(value)
                    || is_domain_name(value)
                    || value.parse::<std::net::IpAddr>().is_ok()
                {
                    Ok(())
                } else {
                    Err((
                        "url_parsing",
                        format!("'{value}' is not a URL, a domain name or an IP address"),
                    ))
                }
            }
        }
    }
}

/// A prerequisite.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// What is needed.
    pub description: String,
    /// Exits 0 when the prerequisite is met.
    pub prereq_command: String,
    /// Meets the prerequisite (often by downloading something).
    pub get_prereq_command: Option<String>,
}

/// The kind of executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorKind {
    /// `sh -c`.
    Sh,
    /// `bash -c`.
    Bash,
    /// PowerShell (`pwsh` off Windows).
    Powershell,
    /// `cmd.exe` (Windows only).
    CommandPrompt,
    /// Steps a person performs.
    Manual,
}

impl ExecutorKind {
    fn from_name(name: &str) -> Option<ExecutorKind> {
        Some(match name {
            "sh" => ExecutorKind::Sh,
            "bash" => ExecutorKind::Bash,
            "powershell" => ExecutorKind::Powershell,
            "command_prompt" => ExecutorKind::CommandPrompt,
            "manual" => ExecutorKind::Manual,
            _ => return None,
        })
    }

    /// The name used in atomic files.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutorKind::Sh => "sh",
            ExecutorKind::Bash => "bash",
            ExecutorKind::Powershell => "powershell",
            ExecutorKind::CommandPrompt => "command_prompt",
            ExecutorKind::Manual => "manual",
        }
    }
}

/// How a test runs.
#[derive(Debug, Clone)]
pub struct Executor {
    /// Which executor.
    pub kind: ExecutorKind,
    /// The command (for `manual`: the steps).
    pub command: String,
    /// Undoes what the command did.
    pub cleanup_command: Option<String>,
    /// Needs root / administrator.
    pub elevation_required: bool,
}

/// The result of reading one file: the technique (with its valid tests) unless the file itself
/// is invalid, and every problem found.
#[derive(Debug)]
pub struct Parsed {
    /// The technique, when its own fields are valid.
    pub technique: Option<Technique>,
    /// Every problem: YAML errors, technique errors, and one or more per rejected test.
    pub errors: Vec<Error>,
}

const TEST_KEYS: [&str; 9] = [
    "test_number",
    "name",
    "description",
    "supported_platforms",
    "executor",
    "dependencies",
    "input_arguments",
    "dependency_executor_name",
    "auto_generated_guid",
];

/// Parses and validates one atomic file. `path` is only used in messages.
pub fn parse_technique(path: &str, text: &str) -> Parsed {
    let root = match yaml::parse(path, text) {
        Ok(root) => root,
        Err(e) => {
            return Parsed {
                technique: None,
                errors: vec![e],
            }
        }
    };
    let mut errors = Vec::new();
    let mut invalid = |node: &Node, field: String, code: &'static str, message: String| {
        errors.push(Error::Invalid {
            path: path.to_owned(),
            line: node.line,
            field,
            code,
            message,
        })
    };
    if !matches!(root.kind, Kind::Map(_)) {
        invalid(
            &root,
            "(file)".into(),
            "model_type",
            format!("a technique file is a mapping, found {}", root.type_name()),
        );
        return Parsed {
            technique: None,
            errors,
        };
    }
    let mut technique_ok = true;
    let attack_technique = match root.get("attack_technique") {
        None => {
            invalid(
                &root,
                "attack_technique".into(),
                "missing",
                "field required".into(),
            );
            technique_ok = false;
            String::new()
        }
        Some(node) => match node.as_str() {
            Some(id) if id.chars().count() < 5 => {
                invalid(
                    node,
                    "attack_technique".into(),
                    "string_too_short",
                    format!("'{id}' should have at least 5 characters"),
                );
                technique_ok = false;
                id.to_owned()
            }
            Some(id) if !contains_technique_id(id) => {
                invalid(
                    node,
                    "attack_technique".into(),
                    "string_pattern_mismatch",
                    format!("'{id}' should match pattern 'T\\d{{4}}(?:\\.\\d{{3}})?'"),
                );
                technique_ok = false;
                id.to_owned()
            }
            Some(id) => id.to_owned(),
            None => {
                invalid(
                    node,
                    "attack_technique".into(),
                    "string_type",
                    format!("should be a string, found {}", node.type_name()),
                );
                technique_ok = false;
                String::new()
            }
        },
    };
    let display_name = match root.get("display_name") {
        None => {
            invalid(
                &root,
                "display_name".into(),
                "missing",
                "field required".into(),
            );
            technique_ok = false;
            String::new()
        }
        Some(node) => match node.as_str() {
            Some(name) if name.chars().count() >= 5 => name.to_owned(),
            Some(name) => {
                invalid(
                    node,
                    "display_name".into(),
                    "string_too_short",
                    format!("'{name}' should have at least 5 characters"),
                );
                technique_ok = false;
                name.to_owned()
            }
            None => {
                invalid(
                    node,
                    "display_name".into(),
                    "string_type",
                    format!("should be a string, found {}", node.type_name()),
                );
                technique_ok = false;
                String::new()
            }
        },
    };
    let mut tests = Vec::new();
    match root.get("atomic_tests") {
        None => {
            invalid(
                &root,
                "atomic_tests".into(),
                "missing",
                "field required".into(),
            );
            technique_ok = false;
        }
        Some(node) => match &node.kind {
            Kind::Seq(items) if items.is_empty() => {
                invalid(
                    node,
                    "atomic_tests".into(),
                    "too_short",
                    "should have at least 1 test".into(),
                );
                technique_ok = false;
            }
            Kind::Seq(items) => {
                for (index, item) in items.iter().enumerate() {
                    let mut test_errors = Vec::new();
                    let test = parse_test(index, item, &mut |node, field, code, message| {
                        test_errors.push((node.line, field, code, message))
                    });
                    let rejected = !test_errors.is_empty();
                    for (line, field, code, message) in test_errors {
                        errors.push(Error::Invalid {
                            path: path.to_owned(),
                            line,
                            field,
                            code,
                            message,
                        });
                    }
                    if let (Some(test), false) = (test, rejected) {
                        tests.push(test);
                    }
                }
            }
            _ => {
                invalid(
                    node,
                    "atomic_tests".into(),
                    "list_type",
                    format!("should be a list, found {}", node.type_name()),
                );
                technique_ok = false;
            }
        },
    }
    Parsed {
        technique: technique_ok.then(|| Technique {
            attack_technique,
            display_name,
            tests,
            path: path.to_owned(),
        }),
        errors,
    }
}

type Report<'a> = dyn FnMut(&Node, String, &'static str, String) + 'a;

/// `T\d{4}(?:\.\d{3})?` searched anywhere in the string (pydantic's pattern semantics).
fn contains_technique_id(text: &str) -> bool {
    let bytes = text.as_bytes();
    (0..bytes.len()).any(|i| {
        bytes[i] == b'T'
            && bytes.len() >= i + 5
            && bytes[i + 1..i + 5].iter().all(u8::is_ascii_digit)
    })
}

/// A technique id as given on a command line: exactly `T1234` or `T1234.001`.
pub fn is_technique_id(text: &str) -> bool {
    let b = text.as_bytes();
    let base = b.len() >= 5 && b[0] == b'T' && b[1..5].iter().all(u8::is_ascii_digit);
    base && (b.len() == 5
        || (b.len() == 9 && b[5] == b'.' && b[6..].iter().all(u8::is_ascii_digit)))
}

fn string_field(
    parent: &Node,
    key: &str,
    field: &str,
    min_chars: usize,
    report: &mut Report<'_>,
) -> Option<String> {
    let Some(node) = parent.get(key) else {
        report(parent, field.to_owned(), "missing", "field required".into());
        return None;
    };
    match node.as_str() {
        Some(s) if s.chars().count() >= min_chars => Some(s.to_owned()),
        Some(_) => {
            report(
                node,
                field.to_owned(),
                "string_too_short",
                format!("should have at least {min_chars} character(s)"),
            );
            None
        }
        None => {
            report(
                node,
                field.to_owned(),
                "string_type",
                format!("should be a string, found {}", node.type_name()),
            );
            None
        }
    }
}

fn optional_string(node: Option<&Node>, field: &str, report: &mut Report<'_>) -> Option<String> {
    let node = node?;
    match &node.kind {
        Kind::Null => None,
        Kind::Str(s) => Some(s.clone()),
        _ => {
            report(
                node,
                field.to_owned(),
                "string_type",
                format!("should be a string, found {}", node.type_name()),
            );
            None
        }
    }
}

fn parse_test(index: usize, node: &Node, report: &mut Report<'_>) -> Option<AtomicTest> {
    let at = |field: &str| format!("atomic_tests[{index}].{field}");
    let Kind::Map(entries) = &node.kind else {
        report(
            node,
            format!("atomic_tests[{index}]"),
            "model_type",
            format!("a test is a mapping, found {}", node.type_name()),
        );
        return None;
    };
    for (key, _) in entries {
        let name = key.as_str().unwrap_or("");
        if !TEST_KEYS.contains(&name) {
            report(
                key,
                at(name),
                "extra_forbidden",
                format!("'{name}' is not a field of an atomic test"),
            );
        }
    }
    let name = string_field(node, "name", &at("name"), 1, report);
    let description = string_field(node, "description", &at("description"), 1, report);
    let supported_platforms = parse_platforms(node, &at("supported_platforms"), report);
    let executor = parse_executor(node, &at("executor"), report);
    let dependencies = parse_dependencies(node, &at("dependencies"), report);
    let input_arguments = parse_input_arguments(
        node,
        &at("input_arguments"),
        executor.as_ref(),
        &dependencies,
        report,
    );
    let dependency_executor =
        parse_dependency_executor(node, &at("dependency_executor_name"), &dependencies, report);
    let guid = parse_guid(node, &at("auto_generated_guid"), report);

    if let (Some(executor), Some(platforms)) = (&executor, &supported_platforms) {
        let unix = platforms.contains(&Platform::Linux) || platforms.contains(&Platform::Macos);
        let sudo = executor.command.contains("sudo")
            || executor
                .cleanup_command
                .as_deref()
                .is_some_and(|c| c.contains("sudo"));
        if unix && executor.kind != ExecutorKind::Manual && !executor.elevation_required && sudo {
            let at_node = node
                .get("executor")
                .and_then(|e| e.get("elevation_required"))
                .or_else(|| node.get("executor"))
                .unwrap_or(node);
            report(
                at_node,
                at("executor.elevation_required"),
                "elevation_required_but_not_provided",
                "the command uses sudo, so elevation_required must be true".into(),
            );
        }
    }
    Some(AtomicTest {
        number: index + 1,
        line: node.line,
        name: name?,
        guid: guid?,
        description: description?,
        supported_platforms: supported_platforms?,
        input_arguments: input_arguments?,
        dependency_executor: dependency_executor?,
        dependencies: dependencies?,
        executor: executor?,
    })
}

fn parse_platforms(node: &Node, field: &str, report: &mut Report<'_>) -> Option<Vec<Platform>> {
    let Some(list) = node.get("supported_platforms") else {
        report(node, field.to_owned(), "missing", "field required".into());
        return None;
    };
    let Kind::Seq(items) = &list.kind else {
        report(
            list,
            field.to_owned(),
            "list_type",
            format!("should be a list, found {}", list.type_name()),
        );
        return None;
    };
    if items.is_empty() {
        report(
            list,
            field.to_owned(),
            "too_short",
            "should name at least one platform".into(),
        );
        return None;
    }
    let mut platforms = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match item.as_str().and_then(Platform::from_name) {
            Some(p) => platforms.push(p),
            None => {
                let known: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
                report(
                    item,
                    format!("{field}[{i}]"),
                    "literal_error",
                    format!("should be one of {}", known.join(", ")),
                );
                ok = false;
            }
        }
    }
    ok.then_some(platforms)
}

fn parse_executor(node: &Node, field: &str, report: &mut Report<'_>) -> Option<Executor> {
    let Some(exec) = node.get("executor") else {
        report(node, field.to_owned(), "missing", "field required".into());
        return None;
    };
    if !matches!(exec.kind, Kind::Map(_)) {
        report(
            exec,
            field.to_owned(),
            "model_attributes_type",
            format!("should be a mapping, found {}", exec.type_name()),
        );
        return None;
    }
    let Some(name_node) = exec.get("name") else {
        report(
            exec,
            format!("{field}.name"),
            "union_tag_not_found",
            "the executor needs a name (manual, powershell, sh, bash, command_prompt)".into(),
        );
        return None;
    };
    let Some(kind) = name_node.as_str().and_then(ExecutorKind::from_name) else {
        report(
            name_node,
            format!("{field}.name"),
            "union_tag_invalid",
            "should be one of manual, powershell, sh, bash, command_prompt".into(),
        );
        return None;
    };
    let elevation_required = match exec.get("elevation_required").map(|n| &n.kind) {
        None | Some(Kind::Bool(false)) => Some(false),
        Some(Kind::Bool(true)) => Some(true),
        Some(Kind::Int(0)) => Some(false),
        Some(Kind::Int(1)) => Some(true),
        Some(Kind::Str(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" | "t" | "y" => Some(true),
            "false" | "no" | "off" | "0" | "f" | "n" => Some(false),
            _ => None,
        },
        Some(_) => None,
    };
    let Some(elevation_required) = elevation_required else {
        let at = exec.get("elevation_required").unwrap_or(exec);
        report(
            at,
            format!("{field}.elevation_required"),
            "bool_parsing",
            "should be a boolean".into(),
        );
        return None;
    };
    if kind == ExecutorKind::Manual {
        let steps = string_field(exec, "steps", &format!("{field}.steps"), 10, report)?;
        return Some(Executor {
            kind,
            command: steps,
            cleanup_command: None,
            elevation_required,
        });
    }
    let command = string_field(exec, "command", &format!("{field}.command"), 1, report);
    let cleanup_command = optional_string(
        exec.get("cleanup_command"),
        &format!("{field}.cleanup_command"),
        report,
    );
    Some(Executor {
        kind,
        command: command?,
        cleanup_command,
        elevation_required,
    })
}

fn parse_dependencies(
    node: &Node,
    field: &str,
    report: &mut Report<'_>,
) -> Option<Vec<Dependency>> {
    let Some(list) = node.get("dependencies") else {
        return Some(Vec::new());
    };
    let items = match &list.kind {
        Kind::Null => return Some(Vec::new()),
        Kind::Seq(items) => items,
        _ => {
            report(
                list,
                field.to_owned(),
                "list_type",
                format!("should be a list, found {}", list.type_name()),
            );
            return None;
        }
    };
    let mut deps = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        if !matches!(item.kind, Kind::Map(_)) {
            report(item, at, "model_type", "a dependency is a mapping".into());
            ok = false;
            continue;
        }
        let description =
            string_field(item, "description", &format!("{at}.description"), 1, report);
        let prereq = string_field(
            item,
            "prereq_command",
            &format!("{at}.prereq_command"),
            1,
            report,
        );
        let get_field = format!("{at}.get_prereq_command");
        if item.get("get_prereq_command").is_none() {
            report(item, get_field.clone(), "missing", "field required".into());
            ok = false;
        }
        let get = optional_string(item.get("get_prereq_command"), &get_field, report);
        match (description, prereq) {
            (Some(description), Some(prereq_command)) => deps.push(Dependency {
                description,
                prereq_command,
                get_prereq_command: get,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(deps)
}

/// The `#{name}` keys used in `text` (`#{(.*?)}` on one line, as Atomic Red Team extracts them).
pub fn mustache_keys(text: &str) -> Vec<&str> {
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        let after = &rest[start + 2..];
        let line_end = after.find('\n').unwrap_or(after.len());
        match after[..line_end].find('}') {
            Some(end) => {
                keys.push(&after[..end]);
                rest = &after[end + 1..];
            }
            None => rest = &after[line_end..],
        }
    }
    keys
}

fn parse_input_arguments(
    node: &Node,
    field: &str,
    executor: Option<&Executor>,
    dependencies: &Option<Vec<Dependency>>,
    report: &mut Report<'_>,
) -> Option<Vec<InputArgument>> {
    // The keys used by the commands that parsed (Atomic Red Team checks the same set).
    let mut texts: Vec<&str> = Vec::new();
    if let Some(executor) = executor {
        texts.push(&executor.command);
        texts.extend(executor.cleanup_command.as_deref());
    }
    for dep in dependencies.iter().flatten() {
        texts.push(&dep.prereq_command);
        texts.extend(dep.get_prereq_command.as_deref());
    }
    let mut used: Vec<&str> = texts.iter().flat_map(|t| mustache_keys(t)).collect();
    used.sort_unstable();
    used.dedup();

    let entries: &[(Node, Node)] = match node.get("input_arguments") {
        None => &[],
        Some(args) => match &args.kind {
            Kind::Null => {
                report(
                    args,
                    field.to_owned(),
                    "empty_input_arguments",
                    "input_arguments is empty: give arguments or remove the key".into(),
                );
                return None;
            }
            Kind::Map(entries) => entries,
            _ => {
                report(
                    args,
                    field.to_owned(),
                    "dict_type",
                    format!("should be a mapping, found {}", args.type_name()),
                );
                return None;
            }
        },
    };
    let mut ok = true;
    let mut arguments = Vec::new();
    for (key, value) in entries {
        let name = key.as_str().unwrap_or("");
        let at = format!("{field}.{name}");
        if name.chars().count() < 2
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            report(
                key,
                at.clone(),
                "string_pattern_mismatch",
                format!(
                    "argument name '{name}' should match ^[\\w_-]+$ with at least 2 characters"
                ),
            );
            ok = false;
        }
        if !used.contains(&name) {
            report(
                key,
                at.clone(),
                "unused_input_argument",
                format!("'{name}' is not used in any of the commands"),
            );
            ok = false;
        }
        match parse_argument(name, value, &at, report) {
            Some(arg) => arguments.push(arg),
            None => ok = false,
        }
    }
    let at_node = node.get("input_arguments").unwrap_or(node);
    for key in used {
        if !entries.iter().any(|(k, _)| k.as_str() == Some(key)) {
            report(
                at_node,
                field.to_owned(),
                "missing_input_argument",
                format!("'{key}' is used in a command but not defined in input_arguments"),
            );
            ok = false;
        }
    }
    ok.then_some(arguments)
}

fn parse_argument(
    name: &str,
    node: &Node,
    field: &str,
    report: &mut Report<'_>,
) -> Option<InputArgument> {
    if !matches!(node.kind, Kind::Map(_)) {
        report(
            node,
            field.to_owned(),
            "model_type",
            "an input argument is a mapping".into(),
        );
        return None;
    }
    let description = string_field(
        node,
        "description",
        &format!("{field}.description"),
        0,
        report,
    );
    let Some(type_node) = node.get("type") else {
        report(
            node,
            format!("{field}.type"),
            "union_tag_not_found",
            "the argument needs a type".into(),
        );
        return None;
    };
    let Some(kind) = type_node.as_str().and_then(ArgType::from_name) else {
        report(
            type_node,
            format!("{field}.type"),
            "union_tag_invalid",
            "should be one of url, string, path, integer, float".into(),
        );
        return None;
    };
    let default_field = format!("{field}.default");
    let Some(default) = node.get("default") else {
        report(node, default_field, "missing", "field required".into());
        return None;
    };
    let mut bad = |code: &'static str, message: String| {
        report(default, default_field.clone(), code, message);
        None
    };
    let rendered = match (&default.kind, kind) {
        (Kind::Null, _) => None,
        (Kind::Str(s), ArgType::Path | ArgType::String) => Some(s.clone()),
        (_, ArgType::Path | ArgType::String) => {
            return bad(
                "string_type",
                format!("should be a string, found {}", default.type_name()),
            )
        }
        (Kind::Int(i), ArgType::Integer) => Some(i.to_string()),
        (Kind::Bool(b), ArgType::Integer) => Some(u8::from(*b).to_string()),
        (Kind::Float(f), ArgType::Integer) if f.fract() == 0.0 && f.is_finite() => {
            Some(format!("{f:.0}"))
        }
        (Kind::Str(s), ArgType::Integer) => match s.trim().parse::<i64>() {
            Ok(i) => Some(i.to_string()),
            Err(_) => return bad("int_parsing", format!("'{s}' is not a valid integer")),
        },
        (_, ArgType::Integer) => {
            return bad(
                "int_type",
                format!("should be an integer, found {}", default.type_name()),
            )
        }
        (Kind::Float(f), ArgType::Float) => Some(format!("{f:?}")),
        (Kind::Int(i), ArgType::Float) => Some(i.to_string()),
        (_, ArgType::Float) => {
            return bad(
                "float_type",
                format!("should be a float, found {}", default.type_name()),
            )
        }
        (Kind::Str(s), ArgType::Url) => match ArgType::Url.check(s) {
            Ok(()) => Some(s.clone()),
            Err((code, message)) => return bad(code, message),
        },
        (_, ArgType::Url) => {
            return bad(
                "url_type",
                format!("should be a URL string, found {}", default.type_name()),
            )
        }
    };
    Some(InputArgument {
        name: name.to_owned(),
        description: description?,
        kind,
        default: rendered,
    })
}

fn parse_dependency_executor(
    node: &Node,
    field: &str,
    dependencies: &Option<Vec<Dependency>>,
    report: &mut Report<'_>,
) -> Option<Option<ExecutorKind>> {
    let Some(value) = node.get("dependency_executor_name") else {
        return Some(None);
    };
    match &value.kind {
        Kind::Null => {
            report(
                value,
                field.to_owned(),
                "empty_dependency_executor_name",
                "dependency_executor_name is empty: name an executor or remove the key".into(),
            );
            return None;
        }
        Kind::Str(s) if s.is_empty() => {
            report(
                value,
                field.to_owned(),
                "empty_dependency_executor_name",
                "dependency_executor_name is empty: name an executor or remove the key".into(),
            );
            return None;
        }
        _ => {}
    }
    let no_dependencies = node.get("dependencies").is_none()
        || matches!(dependencies, Some(deps) if deps.is_empty()
            && !matches!(node.get("dependencies").map(|d| &d.kind), Some(Kind::Null)));
    if no_dependencies {
        report(
            value,
            field.to_owned(),
            "invalid_dependency_executor_name",
            "dependency_executor_name is not needed when there are no dependencies: remove it"
                .into(),
        );
        return None;
    }
    match value.as_str().and_then(ExecutorKind::from_name) {
        Some(kind) => Some(Some(kind)),
        None => {
            report(
                value,
                field.to_owned(),
                "literal_error",
                "should be one of manual, powershell, sh, bash, command_prompt".into(),
            );
            None
        }
    }
}

fn parse_guid(node: &Node, field: &str, report: &mut Report<'_>) -> Option<Option<String>> {
    let Some(value) = node.get("auto_generated_guid") else {
        return Some(None);
    };
    match &value.kind {
        Kind::Null => Some(None),
        Kind::Str(s) => match normalize_uuid(s) {
            Some(uuid) => Some(Some(uuid)),
            None => {
                report(
                    value,
                    field.to_owned(),
                    "uuid_parsing",
                    format!("'{s}' is not a UUID"),
                );
                None
            }
        },
        _ => {
            report(
                value,
                field.to_owned(),
                "uuid_type",
                "should be a UUID string".into(),
            );
            None
        }
    }
}

/// Canonical lower-case hyphenated form of a UUID given hyphenated or as 32 hex digits.
pub fn normalize_uuid(text: &str) -> Option<String> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let hyphens_ok = if text.contains('-') {
        let groups: Vec<usize> = text.split('-').map(str::len).collect();
        groups == [8, 4, 4, 4, 12]
    } else {
        true
    };
    if !hyphens_ok || hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// A URL with a scheme (`scheme:rest`, no spaces), as pydantic's `AnyUrl` requires.
fn is_url(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    scheme_ok && !rest.is_empty() && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$`
fn is_domain_name(text: &str) -> bool {
    let labels: Vec<&str> = text.split('.').collect();
    let label_ok = |l: &str, min: usize| {
        let b = l.as_bytes();
        let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        b.len() >= min
            && b.len() <= 63
            && b.first().is_some_and(inner)
            && b.last().is_some_and(inner)
            && b.iter().all(|c| inner(c) || *c == b'-')
    };
    labels.len() >= 2
        && labels[..labels.len() - 1].iter().all(|l| label_ok(l, 1))
        && labels.last().is_some_and(|l| label_ok(l, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mustache_keys_are_found_per_line() {
        assert_eq!(mustache_keys("a #{x} b #{y}\n#{z"), vec!["x", "y"]);
        assert_eq!(mustache_keys("#{}"), vec![""]);
    }

    #[test]
    fn technique_ids() {
        assert!(is_technique_id("T1106"));
        assert!(is_technique_id("T1003.001"));
        assert!(!is_technique_id("T1106/../x"));
        assert!(!is_technique_id("W1003"));
        assert!(contains_technique_id("xT1234"));
    }

    #[test]
    fn url_values() {
        assert!(ArgType::Url.check("https://example.org/x").is_ok());
        assert!(ArgType::Url.check("example.org").is_ok());
        assert!(ArgType::Url.check("10.0.0.1").is_ok());
        assert!(ArgType::Url.check("::1").is_ok());
        assert_eq!(
            ArgType::Url
                .check("PathToAtomicsFolder\\x.exe")
                .unwrap_err()
                .0,
            "url_parsing"
        );
        assert_eq!(ArgType::Integer.check("x").unwrap_err().0, "int_parsing");
        assert!(ArgType::Float.check("1.5").is_ok());
    }

    #[test]
    fn uuids() {
        assert_eq!(
            normalize_uuid("0F7C5301-6859-45BA-8B4D-1FAC30FC31ED").as_deref(),
            Some("0f7c5301-6859-45ba-8b4d-1fac30fc31ed")
        );
        assert!(normalize_uuid("0f7c5301-685945ba-8b4d-1fac30fc31ed0").is_none());
    }
}
