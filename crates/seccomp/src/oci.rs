//! OCI runtime-spec seccomp JSON (`linux.seccomp` of config.json, or the object alone) and
//! Docker's profile format: `archMap`, and `includes` / `excludes` by capability, architecture
//! and minimum kernel, resolved for a given set. Rules follow runc: conditions on distinct
//! arguments are ANDed; when one argument index repeats, each condition becomes its own rule.
//!
//! The reader is strict where leniency would widen a policy: an unknown key (a misspelt `args`
//! would otherwise drop a rule's conditions), an unknown action or operator, an errno above
//! 4095 or a syscall name no Linux ABI has are errors naming their JSON place.

use crate::policy::{Action, ArgCondition, CmpOp, Policy, Rule};
use crate::Error;
use nativeguard_syscalls::{self as syscalls, Arch};
use serde_json::{json, Map, Value};

/// Largest policy text accepted.
pub const MAX_POLICY_BYTES: usize = 4 << 20;
/// Most `syscalls` entries accepted.
pub const MAX_RULES: usize = 10_000;
/// Most names in one entry.
pub const MAX_NAMES: usize = 2_000;
/// Most `args` in one entry.
pub const MAX_CONDITIONS: usize = 64;

/// Docker's default capability set (what `--caps` means when not given).
pub const DOCKER_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The set Docker-style `includes`/`excludes` are resolved for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOptions {
    /// ABIs the policy will be compiled for; an `arches` condition holds when it names any.
    pub arches: Vec<Arch>,
    /// Capabilities held (`CAP_SYS_ADMIN`, ...).
    pub caps: Vec<String>,
    /// Kernel version `(major, minor)`; `None` treats every `minKernel` as satisfied.
    pub kernel_version: Option<(u32, u32)>,
    /// Skip syscall names no ABI knows instead of failing (also set by the policy's
    /// `"nativeguardTolerateUnknown": true`).
    pub tolerate_unknown: bool,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions {
            arches: Arch::host_abis().to_vec(),
            caps: DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
            kernel_version: None,
            tolerate_unknown: false,
        }
    }
}

/// Go's architecture names, as Docker's `includes.arches` uses them.
fn go_arch_names(arch: Arch) -> &'static [&'static str] {
    match arch {
        Arch::X86_64 => &["amd64", "x86_64"],
        Arch::I386 => &["x86", "386", "i386"],
        Arch::X32 => &["x32"],
        Arch::Aarch64 => &["arm64", "aarch64"],
    }
}

fn invalid(place: &str, message: impl Into<String>) -> Error {
    Error::Invalid {
        place: place.to_string(),
        message: message.into(),
    }
}

fn object<'a>(value: &'a Value, place: &str) -> Result<&'a Map<String, Value>, Error> {
    value
        .as_object()
        .ok_or_else(|| invalid(place, "expected an object"))
}

fn string<'a>(value: &'a Value, place: &str) -> Result<&'a str, Error> {
    value
        .as_str()
        .ok_or_else(|| invalid(place, "expected a string"))
}

fn array<'a>(
    value: &'a Value,
    place: &str,
    limit: usize,
    what: &'static str,
) -> Result<&'a [Value], Error> {
    let items = value
        .as_array()
        .ok_or_else(|| invalid(place, "expected an array"))?;
    if items.len() > limit {
        return Err(Error::Limit {
            place: place.to_string(),
            what,
            limit,
        });
    }
    Ok(items)
}

fn strings(value: &Value, place: &str) -> Result<Vec<String>, Error> {
    array(value, place, MAX_NAMES, "number of names")?
        .iter()
        .enumerate()
        .map(|(i, v)| string(v, &format!("{place}[{i}]")).map(str::to_string))
        .collect()
}

fn check_keys(map: &Map<String, Value>, place: &str, known: &[&str]) -> Result<(), Error> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(invalid(
            place,
            format!("unknown key {key:?} (known: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

fn errno_value(value: Option<&Value>, place: &str) -> Result<Option<u16>, Error> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n <= u64::from(u16::MAX) => Ok(Some(n as u16)),
            _ => Err(invalid(
                place,
                format!("errno must be 0..=65535 (the kernel caps it at 4095), got {v}"),
            )),
        },
    }
}

fn parse_action(name: &str, errno: Option<u16>, place: &str) -> Result<Action, Error> {
    const EPERM: u16 = 1;
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(EPERM)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_TRACE" => Action::Trace(errno.unwrap_or(EPERM)),
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" => Action::UserNotif,
        other => return Err(invalid(place, format!("unknown action {other:?}"))),
    })
}

fn action_name(action: Action) -> (&'static str, Option<u16>) {
    match action {
        Action::Allow => ("SCMP_ACT_ALLOW", None),
        Action::Errno(e) => ("SCMP_ACT_ERRNO", Some(e)),
        Action::KillThread => ("SCMP_ACT_KILL_THREAD", None),
        Action::KillProcess => ("SCMP_ACT_KILL_PROCESS", None),
        Action::Trap => ("SCMP_ACT_TRAP", None),
        Action::Trace(d) => ("SCMP_ACT_TRACE", Some(d)),
        Action::Log => ("SCMP_ACT_LOG", None),
        Action::UserNotif => ("SCMP_ACT_NOTIFY", None),
    }
}

fn op_name(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "SCMP_CMP_EQ",
        CmpOp::Ne => "SCMP_CMP_NE",
        CmpOp::Lt => "SCMP_CMP_LT",
        CmpOp::Le => "SCMP_CMP_LE",
        CmpOp::Gt => "SCMP_CMP_GT",
        CmpOp::Ge => "SCMP_CMP_GE",
        CmpOp::MaskedEq => "SCMP_CMP_MASKED_EQ",
    }
}

fn parse_op(name: &str, place: &str) -> Result<CmpOp, Error> {
    CmpOp::ALL
        .into_iter()
        .find(|op| op_name(*op) == name)
        .ok_or_else(|| invalid(place, format!("unknown operator {name:?}")))
}

fn parse_kernel_version(text: &str, place: &str) -> Result<(u32, u32), Error> {
    let mut parts = text.split('.');
    let mut number = || {
        parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .ok_or_else(|| invalid(place, format!("kernel version {text:?} is not MAJOR.MINOR")))
    };
    Ok((number()?, number()?))
}

/// Whether an `includes` (`want = true`) or `excludes` (`want = false`) object selects the
/// resolution set. Docker: an entry is dropped when any exclude condition holds, or when any
/// include condition fails.
fn condition_holds(
    cond: &Map<String, Value>,
    place: &str,
    opts: &ResolveOptions,
    exclude: bool,
) -> Result<bool, Error> {
    check_keys(cond, place, &["arches", "caps", "minKernel"])?;
    let mut checks = Vec::new();
    if let Some(v) = cond.get("arches") {
        let names = strings(v, &format!("{place}.arches"))?;
        if !names.is_empty() {
            checks.push(opts.arches.iter().any(|&a| {
                go_arch_names(a)
                    .iter()
                    .any(|g| names.iter().any(|n| n.eq_ignore_ascii_case(g)))
            }));
        }
    }
    if let Some(v) = cond.get("caps") {
        let caps = strings(v, &format!("{place}.caps"))?;
        if !caps.is_empty() {
            let held = |c: &String| opts.caps.iter().any(|h| h.eq_ignore_ascii_case(c));
            // includes: every listed cap held; excludes: any listed cap held.
            checks.push(if exclude {
                caps.iter().any(held)
            } else {
                caps.iter().all(held)
            });
        }
    }
    if let Some(v) = cond.get("minKernel") {
        if !v.is_null() {
            let min = parse_kernel_version(string(v, &format!("{place}.minKernel"))?, place)?;
            checks.push(opts.kernel_version.is_none_or(|k| k >= min));
        }
    }
    Ok(if exclude {
        checks.iter().any(|&c| c)
    } else {
        checks.iter().all(|&c| c)
    })
}

fn parse_args(value: &Value, place: &str) -> Result<Vec<ArgCondition>, Error> {
    let items = array(value, place, MAX_CONDITIONS, "number of args")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let place = format!("{place}[{i}]");
        let map = object(item, &place)?;
        check_keys(map, &place, &["index", "value", "valueTwo", "op"])?;
        let number = |key: &str, required: bool| -> Result<u64, Error> {
            match map.get(key) {
                None if !required => Ok(0),
                Some(v) => v.as_u64().ok_or_else(|| {
                    invalid(
                        &format!("{place}.{key}"),
                        format!("expected an unsigned 64-bit integer, got {v}"),
                    )
                }),
                None => Err(invalid(&place, format!("missing {key:?}"))),
            }
        };
        let index = number("index", true)?;
        if index > 5 {
            return Err(invalid(
                &format!("{place}.index"),
                format!("argument index {index} (0..=5)"),
            ));
        }
        let op_place = format!("{place}.op");
        let op = parse_op(
            string(
                map.get("op")
                    .ok_or_else(|| invalid(&place, "missing \"op\""))?,
                &op_place,
            )?,
            &op_place,
        )?;
        out.push(ArgCondition {
            index: index as u8,
            op,
            value: number("value", true)?,
            value_two: number("valueTwo", false)?,
        });
    }
    Ok(out)
}

impl Policy {
    /// Reads OCI seccomp JSON (a `linux.seccomp` object, or a whole config.json holding one),
    /// resolving Docker `includes`/`excludes` for `opts`.
    pub fn from_oci_json(text: &str, opts: &ResolveOptions) -> Result<Policy, Error> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(Error::Limit {
                place: "policy".into(),
                what: "size in bytes",
                limit: MAX_POLICY_BYTES,
            });
        }
        let root: Value = serde_json::from_str(text).map_err(|e| Error::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let (root, prefix) = match root.pointer("/linux/seccomp") {
            Some(inner) => (inner, "linux.seccomp."),
            None => (&root, ""),
        };
        let top = object(
            root,
            if prefix.is_empty() {
                "policy"
            } else {
                "linux.seccomp"
            },
        )?;
        let place = |key: &str| format!("{prefix}{key}");
        check_keys(
            top,
            prefix.trim_end_matches('.'),
            &[
                "defaultAction",
                "defaultErrnoRet",
                "architectures",
                "archMap",
                "flags",
                "listenerPath",
                "listenerMetadata",
                "syscalls",
                "nativeguardTolerateUnknown",
            ],
        )?;
        let default_errno = errno_value(top.get("defaultErrnoRet"), &place("defaultErrnoRet"))?;
        let default_action = parse_action(
            string(
                top.get("defaultAction")
                    .ok_or_else(|| invalid(&place("defaultAction"), "missing"))?,
                &place("defaultAction"),
            )?,
            default_errno,
            &place("defaultAction"),
        )?;
        let mut arches = Vec::new();
        if let Some(v) = top.get("architectures") {
            for name in strings(v, &place("architectures"))? {
                arches.extend(Arch::from_name(&name));
            }
        }
        if let Some(v) = top.get("archMap") {
            let map_place = place("archMap");
            for (i, entry) in array(v, &map_place, MAX_RULES, "archMap entries")?
                .iter()
                .enumerate()
            {
                let entry_place = format!("{map_place}[{i}]");
                let entry = object(entry, &entry_place)?;
                check_keys(entry, &entry_place, &["architecture", "subArchitectures"])?;
                if let Some(a) = entry.get("architecture") {
                    arches.extend(Arch::from_name(string(a, &entry_place)?));
                }
                if let Some(subs) = entry.get("subArchitectures").filter(|v| !v.is_null()) {
                    for name in strings(subs, &format!("{entry_place}.subArchitectures"))? {
                        arches.extend(Arch::from_name(&name));
                    }
                }
            }
        }
        arches.sort();
        arches.dedup();
        let flags = match top.get("flags") {
            Some(v) if !v.is_null() => strings(v, &place("flags"))?,
            _ => Vec::new(),
        };
        let listener_path = match top.get("listenerPath") {
            Some(v) if !v.is_null() => Some(string(v, &place("listenerPath"))?.to_string()),
            _ => None,
        };
        let tolerate_unknown = opts.tolerate_unknown
            || match top.get("nativeguardTolerateUnknown") {
                None => false,
                Some(v) => v.as_bool().ok_or_else(|| {
                    invalid(&place("nativeguardTolerateUnknown"), "expected a boolean")
                })?,
            };
        let mut rules = Vec::new();
        if let Some(v) = top.get("syscalls") {
            if !v.is_null() {
                let list_place = place("syscalls");
                for (i, entry) in array(v, &list_place, MAX_RULES, "number of syscalls entries")?
                    .iter()
                    .enumerate()
                {
                    let entry_place = format!("{list_place}[{i}]");
                    rules.extend(parse_entry(entry, &entry_place, opts, tolerate_unknown)?);
                }
            }
        }
        Ok(Policy {
            default_action,
            arches,
            rules,
            flags,
            listener_path,
            tolerate_unknown,
        })
    }

    /// Writes the policy as an OCI `linux.seccomp` object (pretty-printed).
    ///
    /// Fails for a rule with two conditions on one argument: here they must both hold, but OCI
    /// readers (runc, and [`Policy::from_oci_json`]) take conditions on a repeated index as
    /// separate rules, any one of which suffices, so writing it would widen the policy.
    pub fn to_oci_json(&self) -> Result<String, Error> {
        for (index, rule) in self.rules.iter().enumerate() {
            let mut seen = [false; 256];
            for c in &rule.conditions {
                let slot = &mut seen[usize::from(c.index)];
                if *slot {
                    return Err(Error::Rule {
                        rule: index,
                        syscall: rule.names.join(","),
                        message: format!(
                            "two conditions on argument {} must both hold, which OCI JSON cannot \
                             say (its readers take either); split the rule or use one condition",
                            c.index
                        ),
                    });
                }
                *slot = true;
            }
        }
        let (default_name, default_errno) = action_name(self.default_action);
        let mut top = Map::new();
        top.insert("defaultAction".into(), json!(default_name));
        if let Some(errno) = default_errno {
            top.insert("defaultErrnoRet".into(), json!(errno));
        }
        if !self.arches.is_empty() {
            let names: Vec<&str> = self.arches.iter().map(|a| a.oci_name()).collect();
            top.insert("architectures".into(), json!(names));
        }
        if !self.flags.is_empty() {
            top.insert("flags".into(), json!(self.flags));
        }
        if let Some(path) = &self.listener_path {
            top.insert("listenerPath".into(), json!(path));
        }
        if self.tolerate_unknown {
            top.insert("nativeguardTolerateUnknown".into(), json!(true));
        }
        let syscalls: Vec<Value> = self
            .rules
            .iter()
            .map(|rule| {
                let (name, errno) = action_name(rule.action);
                let mut entry = Map::new();
                entry.insert("names".into(), json!(rule.names));
                entry.insert("action".into(), json!(name));
                if let Some(errno) = errno {
                    entry.insert("errnoRet".into(), json!(errno));
                }
                if !rule.conditions.is_empty() {
                    let args: Vec<Value> = rule
                        .conditions
                        .iter()
                        .map(|c| {
                            json!({"index": c.index, "value": c.value, "valueTwo": c.value_two, "op": op_name(c.op)})
                        })
                        .collect();
                    entry.insert("args".into(), Value::Array(args));
                }
                if let Some(comment) = &rule.comment {
                    entry.insert("comment".into(), json!(comment));
                }
                Value::Object(entry)
            })
            .collect();
        top.insert("syscalls".into(), Value::Array(syscalls));
        let mut text = serde_json::to_string_pretty(&Value::Object(top)).unwrap_or_default();
        text.push('\n');
        Ok(text)
    }
}

fn parse_entry(
    entry: &Value,
    place: &str,
    opts: &ResolveOptions,
    tolerate_unknown: bool,
) -> Result<Vec<Rule>, Error> {
    let map = object(entry, place)?;
    check_keys(
        map,
        place,
        &[
            "names", "name", "action", "errnoRet", "args", "comment", "includes", "excludes",
        ],
    )?;
    // Validate the whole entry before deciding whether it applies, so an excluded entry with a
    // mistake is still reported.
    let mut names = Vec::new();
    if let Some(v) = map.get("names") {
        names.extend(
            strings(v, &format!("{place}.names"))?
                .into_iter()
                .enumerate()
                .map(|(i, n)| (format!("{place}.names[{i}]"), n)),
        );
    }
    if let Some(v) = map.get("name") {
        names.push((
            format!("{place}.name"),
            string(v, &format!("{place}.name"))?.to_string(),
        ));
    }
    if names.is_empty() {
        return Err(invalid(place, "no \"names\""));
    }
    let errno = errno_value(map.get("errnoRet"), &format!("{place}.errnoRet"))?;
    let action_place = format!("{place}.action");
    let action = parse_action(
        string(
            map.get("action")
                .ok_or_else(|| invalid(&action_place, "missing"))?,
            &action_place,
        )?,
        errno,
        &action_place,
    )?;
    let conditions = match map.get("args") {
        Some(v) if !v.is_null() => parse_args(v, &format!("{place}.args"))?,
        _ => Vec::new(),
    };
    let comment = match map.get("comment") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let mut known_names = Vec::new();
    for (name_place, name) in names {
        if syscalls::is_known_anywhere(&name) {
            known_names.push(name);
        } else if !tolerate_unknown {
            return Err(Error::UnknownSyscall {
                place: name_place,
                name,
            });
        }
    }
    let mut applies = true;
    if let Some(v) = map.get("excludes") {
        if !v.is_null()
            && condition_holds(
                object(v, &format!("{place}.excludes"))?,
                &format!("{place}.excludes"),
                opts,
                true,
            )?
        {
            applies = false;
        }
    }
    if let Some(v) = map.get("includes") {
        if !v.is_null()
            && !condition_holds(
                object(v, &format!("{place}.includes"))?,
                &format!("{place}.includes"),
                opts,
                false,
            )?
        {
            applies = false;
        }
    }
    if !applies || known_names.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = [0u8; 6];
    for c in &conditions {
        seen[usize::from(c.index)] += 1;
    }
    let rule = |conditions: Vec<ArgCondition>| Rule {
        names: known_names.clone(),
        action,
        conditions,
        comment: comment.clone(),
    };
    // runc: a repeated argument index turns every condition into a rule of its own (OR).
    if seen.iter().any(|&n| n > 1) {
        Ok(conditions.into_iter().map(|c| rule(vec![c])).collect())
    } else {
        Ok(vec![rule(conditions)])
    }
}
