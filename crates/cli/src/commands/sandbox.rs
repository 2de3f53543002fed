//! `nativeguard sandbox`: run a command under a seccomp policy and a Landlock allow-list,
//! reporting every denial on stderr.
//!
//! Text lines: `denied NAME(ARGS) pid PID EXE (LAYER: ERRNO[, REASON])`; a Landlock denial read
//! from the kernel's audit records (root) names the object and the missing rights instead of
//! arguments: `denied openat "/etc/shadow" (fs.read_file) pid PID EXE (landlock: EACCES)`.
//! JSON (`--format json`): one object per line, `{"denied", "args", "pid", "exe", "layer",
//! "errno", "killed", "arch", "nr", "reason"}`, plus `"blockers"`, `"object"` and
//! `"landlock_domain"` for audit-read Landlock denials. Notes about the layers start with
//! `nativeguard sandbox: note:`, before the run and at its end.

use crate::exit_code;
use anyhow::Context;
use nativeguard_sandbox::landlock::parse_landlock_spec;
use nativeguard_sandbox::{Denial, Error, Layer, Sandbox, SandboxConfig};
use nativeguard_seccomp::{Policy, ResolveOptions};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Arguments of `nativeguard sandbox`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seccomp policy: OCI runtime-spec `linux.seccomp` JSON (Docker's profile format too).
    /// Every errno/kill action is reported by the supervisor before it takes effect.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Landlock allow-list (JSON: read, write, execute, interpreters, bind_tcp, connect_tcp,
    /// unrestricted; tokens $CMD, $CMD_INTERP, $CWD). See policies/README.md. As root on Linux
    /// 6.15+, its denials are reported too, read from the kernel's audit records (audit is
    /// turned on for the run if it was off, and back off after; the notes say so).
    #[arg(long, value_name = "FILE")]
    landlock: Option<PathBuf>,
    /// How denials are printed on stderr.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Run even when this layer cannot be applied on this system (`seccomp` or `landlock`).
    /// Without it a missing layer is an error (exit 5). Repeatable.
    #[arg(long = "allow-missing", value_name = "LAYER", value_parser = parse_layer)]
    allow_missing: Vec<Layer>,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

/// Output format of denial reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One line per denial.
    Text,
    /// One JSON object per line.
    Json,
}

fn parse_layer(text: &str) -> Result<Layer, String> {
    Layer::from_name(text)
        .ok_or_else(|| format!("unknown layer {text:?} (expected seccomp or landlock)"))
}

/// The text line of a denial.
fn text_line(denial: &Denial) -> String {
    let exe = denial
        .exe
        .as_ref()
        .map_or_else(|| "?".to_string(), |exe| exe.display().to_string());
    let outcome = if denial.killed {
        "killed".to_string()
    } else {
        nativeguard_sandbox::decode::errno_name(denial.errno)
    };
    let reason = denial
        .reason
        .as_ref()
        .map(|reason| format!(", {reason}"))
        .unwrap_or_default();
    if let Some(access) = &denial.landlock {
        // From the kernel's audit record: the object and the missing rights, not the
        // call's arguments.
        return format!(
            "denied {} {} ({}) pid {} {exe} ({}: {outcome}{reason})",
            denial.syscall,
            access.object_text(),
            access.blockers.join(","),
            denial.pid,
            denial.layer
        );
    }
    format!(
        "denied {} pid {} {exe} ({}: {outcome}{reason})",
        denial.call(),
        denial.pid,
        denial.layer
    )
}

/// The JSON object of a denial.
fn json_line(denial: &Denial) -> String {
    let mut object = serde_json::json!({
        "denied": denial.syscall,
        "args": denial.args,
        "pid": denial.pid,
        "exe": denial.exe.as_ref().map(|exe| exe.display().to_string()),
        "layer": denial.layer.as_str(),
        "errno": nativeguard_sandbox::decode::errno_name(denial.errno),
        "killed": denial.killed,
        "arch": denial.arch.map(|arch| arch.as_str()),
        "nr": denial.nr,
        "reason": denial.reason,
    });
    if let Some(access) = &denial.landlock {
        object["blockers"] = serde_json::json!(access.blockers);
        object["object"] = access
            .object
            .iter()
            .map(|(key, value)| (key.clone(), serde_json::Value::from(value.as_str())))
            .collect::<serde_json::Map<_, _>>()
            .into();
        object["landlock_domain"] = format!("{:x}", access.domain).into();
    }
    object.to_string()
}

/// Runs `nativeguard sandbox`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.policy)
        .with_context(|| format!("reading {}", args.policy.display()))?;
    let policy = Policy::from_oci_json(&text, &ResolveOptions::default())
        .map_err(|err| anyhow::anyhow!("{}: {err}", args.policy.display()))?;
    let landlock = match &args.landlock {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some((parse_landlock_spec(path, &text)?, path.clone()))
        }
    };
    // A profile `trace --learn` wrote lets only what the runs it learned from did: when it
    // denies something, say how to add a run that should pass.
    let learned = nativeguard_tracer::Learner::from_policy(&policy).is_ok();
    let config = SandboxConfig {
        policy,
        policy_path: args.policy.clone(),
        landlock,
        allow_missing: args.allow_missing.clone(),
        command: args.command.clone(),
    };
    let sandbox = match Sandbox::prepare(config) {
        Ok(sandbox) => sandbox,
        Err(err @ Error::LayerUnavailable { .. }) => {
            eprintln!("nativeguard sandbox: {err}");
            return Ok(exit_code::UNSUPPORTED.into());
        }
        Err(err) => return Err(err.into()),
    };
    for note in sandbox.notes() {
        eprintln!("nativeguard sandbox: note: {note}");
    }
    let seccomp_denials = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&seccomp_denials);
    let format = args.format;
    let sink = Box::new(move |denial: &Denial| {
        if denial.layer == Layer::Seccomp {
            counted.fetch_add(1, Ordering::Relaxed);
        }
        let line = match format {
            Format::Text => text_line(denial),
            Format::Json => json_line(denial),
        };
        // One write per line, so that the command's own writes to the same stderr cannot
        // split it. A closed stderr must not stop the supervisor from answering.
        let line = format!("{line}\n");
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    });
    let outcome = sandbox.run(sink);
    if let Ok(outcome) = &outcome {
        for note in &outcome.notes {
            eprintln!("nativeguard sandbox: note: {note}");
        }
    }
    let denied = seccomp_denials.load(Ordering::Relaxed);
    if learned && denied > 0 {
        eprintln!(
            "nativeguard sandbox: note: {denied} call(s) denied by {}, a profile learned by \
             `nativeguard trace --learn`; if this run should pass, `nativeguard trace --learn \
             {} --merge -- COMMAND` adds what it needs",
            args.policy.display(),
            args.policy.display()
        );
    }
    match outcome {
        Ok(outcome) if outcome.status.success() => Ok(exit_code::SUCCESS.into()),
        Ok(_) => Ok(exit_code::CHILD_FAILED.into()),
        Err(err @ Error::LayerUnavailable { .. }) => {
            eprintln!("nativeguard sandbox: {err}");
            Ok(exit_code::UNSUPPORTED.into())
        }
        // The command's own exec was refused by the sandbox (reported above when the policy
        // sends exec to the supervisor): the sandbox worked, the command did not run.
        Err(Error::Spawn { program, source })
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            eprintln!(
                "nativeguard sandbox: could not exec {}: {source}",
                program.display()
            );
            Ok(exit_code::CHILD_FAILED.into())
        }
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nativeguard_syscalls::Arch;

    fn denial() -> Denial {
        Denial {
            syscall: "socket".into(),
            arch: Some(Arch::X86_64),
            nr: 41,
            args: vec!["AF_NETLINK".into(), "SOCK_RAW".into(), "0".into()],
            pid: 1234,
            exe: Some("/usr/bin/foo".into()),
            layer: Layer::Seccomp,
            errno: 1,
            killed: false,
            reason: None,
            landlock: None,
        }
    }

    #[test]
    fn text_line_has_the_contract_shape() {
        assert_eq!(
            text_line(&denial()),
            "denied socket(AF_NETLINK, SOCK_RAW, 0) pid 1234 /usr/bin/foo (seccomp: EPERM)"
        );
    }

    #[test]
    fn json_line_has_the_contract_keys() {
        let value: serde_json::Value = serde_json::from_str(&json_line(&denial())).unwrap();
        assert_eq!(value["denied"], "socket");
        assert_eq!(value["args"][0], "AF_NETLINK");
        assert_eq!(value["pid"], 1234);
        assert_eq!(value["exe"], "/usr/bin/foo");
        assert_eq!(value["layer"], "seccomp");
        assert_eq!(value["errno"], "EPERM");
    }

    #[test]
    fn layers_parse_by_name() {
        assert_eq!(parse_layer("landlock"), Ok(Layer::Landlock));
        assert!(parse_layer("apparmor").is_err());
    }
}
