//! `nativeguard policy compile|disasm|simulate|stats`: seccomp policies (OCI JSON, Docker's
//! profile format included) compiled to classic BPF by `nativeguard-seccomp`.
//!
//! Phase 1 validates the flags (`Resolve::options`, `parse_action`); phase 2 reads the file,
//! compiles and prints.

use crate::exit_code;
use anyhow::{bail, Context};
use nativeguard_seccomp::{
    bpf, compile, disassemble, stats, Action, CompileOptions, Policy, Program, ResolveOptions,
    SeccompData,
};
use nativeguard_syscalls::{self as syscalls, Arch};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Subcommands of `nativeguard policy`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Compile a policy to a seccomp BPF program (raw `struct sock_filter[]` bytes, C or JSON).
    Compile(CompileArgs),
    /// Print the compiled program, one instruction per line.
    Disasm(DisasmArgs),
    /// Run the compiled program on one call and print the verdict.
    Simulate(SimulateArgs),
    /// Print the program's size and the worst and mean instructions run per syscall.
    Stats(StatsArgs),
}

/// How the policy file is read and compiled (shared by every subcommand).
#[derive(clap::Args)]
pub struct Resolve {
    /// OCI seccomp JSON (a `linux.seccomp` object, a config.json, or a Docker profile).
    file: PathBuf,
    /// ABI to put in the program (x86_64, x86, x32, aarch64); repeat for several ABIs in one
    /// program. Default: every ABI of this host (x86_64 + x86 + x32 on x86_64).
    #[arg(long = "arch", value_name = "ARCH")]
    arches: Vec<String>,
    /// Capabilities for Docker's includes/excludes (comma-separated). Default: Docker's
    /// default set.
    #[arg(long, value_delimiter = ',', value_name = "CAP,...")]
    caps: Option<Vec<String>>,
    /// Kernel version MAJOR.MINOR for `minKernel` (default: this host's).
    #[arg(long, value_name = "X.Y")]
    kernel: Option<String>,
    /// Skip syscall names that no Linux ABI has instead of failing.
    #[arg(long)]
    tolerate_unknown: bool,
    /// Answer for numbers above the highest known syscall: enosys, default (the policy's
    /// default action) or an action (errno:N, kill_process, kill_thread, trap, trace:N, log,
    /// user_notif, allow).
    #[arg(long, default_value = "enosys", value_name = "ACTION")]
    too_new: String,
    /// Answer for calls from an ABI the program does not cover.
    #[arg(long, default_value = "kill_process", value_name = "ACTION")]
    bad_arch: String,
    /// Skip the optimizer passes.
    #[arg(long)]
    no_optimize: bool,
}

/// Output formats of `compile`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum CompileFormat {
    /// `struct sock_filter[]` bytes in host byte order.
    Raw,
    /// A C array of `struct sock_filter`.
    C,
    /// A JSON array of {code, jt, jf, k}.
    Json,
}

/// Arguments of `nativeguard policy compile`.
#[derive(clap::Args)]
pub struct CompileArgs {
    #[command(flatten)]
    resolve: Resolve,
    /// Output format.
    #[arg(long, value_enum, default_value = "raw")]
    format: CompileFormat,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Arguments of `nativeguard policy disasm`.
#[derive(clap::Args)]
pub struct DisasmArgs {
    #[command(flatten)]
    resolve: Resolve,
}

/// Text or JSON output.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable.
    Text,
    /// One JSON object.
    Json,
}

/// Arguments of `nativeguard policy simulate`.
#[derive(clap::Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    resolve: Resolve,
    /// ABI of the call (it is added to the program's ABIs).
    #[arg(long = "call-arch", alias = "abi", value_name = "ARCH")]
    call_arch: Option<String>,
    /// Syscall name or number (x32 numbers with or without the 0x40000000 bit).
    #[arg(long)]
    syscall: String,
    /// Arguments, comma-separated, decimal or 0x-hex, up to six 64-bit values.
    #[arg(long, value_delimiter = ',')]
    args: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Arguments of `nativeguard policy stats`.
#[derive(clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    resolve: Resolve,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Runs `nativeguard policy`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Compile(args) => run_compile(args),
        Command::Disasm(args) => {
            let (_, program, _) = args.resolve.build(None)?;
            print!("{}", disassemble(&program));
            Ok(ExitCode::from(exit_code::SUCCESS))
        }
        Command::Simulate(args) => run_simulate(args),
        Command::Stats(args) => {
            let (_, program, _) = args.resolve.build(None)?;
            let s = stats(&program);
            let arches: Vec<&str> = program.arches.iter().map(|a| a.as_str()).collect();
            match args.format {
                Format::Json => println!(
                    "{}",
                    serde_json::json!({
                        "instructions": s.instructions,
                        "worst_path": s.worst_path,
                        "mean_path": (s.mean_path * 100.0).round() / 100.0,
                    })
                ),
                Format::Text => println!(
                    "{}: {} instructions, worst path {}, mean path {:.2} ({})",
                    args.resolve.file.display(),
                    s.instructions,
                    s.worst_path,
                    s.mean_path,
                    arches.join(" + ")
                ),
            }
            Ok(ExitCode::from(exit_code::SUCCESS))
        }
    }
}

impl Resolve {
    /// Phase 1: the flags, checked without touching the file.
    fn options(
        &self,
        extra_arch: Option<Arch>,
    ) -> anyhow::Result<(ResolveOptions, CompileOptions)> {
        let mut arches = Vec::new();
        for name in &self.arches {
            arches.push(parse_arch(name)?);
        }
        if arches.is_empty() {
            arches.extend_from_slice(Arch::host_abis());
        }
        arches.extend(extra_arch);
        arches.sort();
        arches.dedup();
        let kernel_version = match &self.kernel {
            Some(text) => Some(parse_kernel(text).with_context(|| format!("--kernel {text}"))?),
            None => host_kernel(),
        };
        let mut resolve = ResolveOptions {
            arches,
            kernel_version,
            tolerate_unknown: self.tolerate_unknown,
            ..ResolveOptions::default()
        };
        if let Some(caps) = &self.caps {
            resolve.caps = caps
                .iter()
                .map(|c| {
                    let c = c.trim().to_ascii_uppercase();
                    if c.starts_with("CAP_") {
                        c
                    } else {
                        format!("CAP_{c}")
                    }
                })
                .collect();
        }
        let too_new = match self.too_new.as_str() {
            "enosys" => Some(Action::Errno(nativeguard_seccomp::ENOSYS)),
            "default" => None,
            other => Some(parse_action(other).context("--too-new")?),
        };
        let compile = CompileOptions {
            too_new_action: too_new,
            bad_arch_action: parse_action(&self.bad_arch).context("--bad-arch")?,
            optimize: !self.no_optimize,
        };
        Ok((resolve, compile))
    }

    /// Phase 2: read, resolve, compile.
    fn build(&self, extra_arch: Option<Arch>) -> anyhow::Result<(Policy, Program, CompileOptions)> {
        let (resolve, options) = self.options(extra_arch)?;
        let policy = read_policy(&self.file, &resolve)?;
        let program = compile(&policy, &resolve.arches, &options)
            .with_context(|| format!("{}: cannot compile", self.file.display()))?;
        Ok((policy, program, options))
    }
}

fn read_policy(path: &Path, resolve: &ResolveOptions) -> anyhow::Result<Policy> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Policy::from_oci_json(&text, resolve).with_context(|| format!("{}", path.display()))
}

fn parse_arch(name: &str) -> anyhow::Result<Arch> {
    match Arch::from_name(name) {
        Some(arch) => Ok(arch),
        None => bail!("unknown architecture {name:?} (x86_64, x86, x32, aarch64)"),
    }
}

fn parse_kernel(text: &str) -> anyhow::Result<(u32, u32)> {
    let mut parts = text.split(['.', '-']);
    let major = parts.next().unwrap_or_default().parse()?;
    let minor = parts.next().unwrap_or_default().parse()?;
    Ok((major, minor))
}

fn host_kernel() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_kernel(release.trim()).ok()
}

fn parse_number(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => match text.strip_prefix('-') {
            Some(negative) => negative.parse::<u64>().map(|v| v.wrapping_neg()),
            None => text.replace('_', "").parse::<u64>(),
        },
    };
    parsed.with_context(|| format!("not a number: {text:?}"))
}

/// `allow`, `errno:N`, `kill_process`, `kill_thread` (or `kill`), `trap`, `trace:N`, `log`,
/// `user_notif`.
fn parse_action(text: &str) -> anyhow::Result<Action> {
    let lower = text.to_ascii_lowercase().replace('-', "_");
    let (name, data) = match lower.split_once(':') {
        Some((name, data)) => (
            name.to_string(),
            Some(
                data.parse::<u16>()
                    .context("action data must be 0..=65535")?,
            ),
        ),
        None => (lower, None),
    };
    Ok(match (name.as_str(), data) {
        ("allow", None) => Action::Allow,
        ("errno", Some(n)) => Action::Errno(n),
        ("errno", None) => Action::Errno(1),
        ("kill_process", None) => Action::KillProcess,
        ("kill_thread" | "kill", None) => Action::KillThread,
        ("trap", None) => Action::Trap,
        ("trace", data) => Action::Trace(data.unwrap_or(0)),
        ("log", None) => Action::Log,
        ("user_notif" | "notify", None) => Action::UserNotif,
        _ => bail!("unknown action {text:?} (allow, errno:N, kill_process, kill_thread, trap, trace:N, log, user_notif)"),
    })
}

fn run_compile(args: CompileArgs) -> anyhow::Result<ExitCode> {
    let (_, program, _) = args.resolve.build(None)?;
    let bytes = match args.format {
        CompileFormat::Raw => program.to_bytes(),
        CompileFormat::C => {
            let mut text = format!(
                "/* {} compiled by nativeguard for {}: {} instructions */\nstruct sock_filter filter[] = {{\n",
                args.resolve.file.display(),
                program.arches.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" + "),
                program.instructions.len()
            );
            for insn in &program.instructions {
                text.push_str(&format!(
                    "\t{{ {:#06x}, {}, {}, {:#010x} }},\n",
                    insn.code, insn.jt, insn.jf, insn.k
                ));
            }
            text.push_str("};\n");
            text.into_bytes()
        }
        CompileFormat::Json => {
            let insns: Vec<serde_json::Value> = program
                .instructions
                .iter()
                .map(|i| serde_json::json!({"code": i.code, "jt": i.jt, "jf": i.jf, "k": i.k}))
                .collect();
            let mut text = serde_json::to_string(&insns)?;
            text.push('\n');
            text.into_bytes()
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().lock().write_all(&bytes)?,
    }
    Ok(ExitCode::from(exit_code::SUCCESS))
}

fn run_simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let call_arch = match &args.call_arch {
        Some(name) => parse_arch(name)?,
        None => match args.resolve.arches.first() {
            Some(name) => parse_arch(name)?,
            None => Arch::host(),
        },
    };
    let nr = match parse_number(&args.syscall) {
        Ok(n) => {
            let n = u32::try_from(n).context("syscall numbers are 32-bit")?;
            n | call_arch.syscall_bit()
        }
        Err(_) => match syscalls::lookup(call_arch, &args.syscall) {
            Some(nr) => nr,
            None => bail!("{call_arch} has no syscall named {:?}", args.syscall),
        },
    };
    if args.args.len() > 6 {
        bail!("at most 6 arguments, got {}", args.args.len());
    }
    let mut values = [0u64; 6];
    for (slot, text) in values.iter_mut().zip(&args.args) {
        *slot = parse_number(text)?;
    }
    let (policy, program, options) = args.resolve.build(Some(call_arch))?;
    let data = SeccompData::new(call_arch, nr, values);
    let (verdict, steps) = bpf::run(&program, &data)?;
    let reference = policy.evaluate(&program.arches, &options, &data);
    if verdict != reference {
        bail!(
            "internal error: the program answers {} but the policy model {}; please report",
            bpf::describe_return(verdict),
            bpf::describe_return(reference)
        );
    }
    let name = syscalls::name(call_arch, nr).unwrap_or("unknown");
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "arch": call_arch.as_str(), "syscall": name, "nr": nr, "args": values,
                "action": bpf::describe_return(verdict), "ret": verdict, "instructions_run": steps,
            })
        ),
        Format::Text => println!(
            "{} ({call_arch} {name} nr {nr}, {steps} instructions run)",
            bpf::describe_return(verdict)
        ),
    }
    Ok(ExitCode::from(exit_code::SUCCESS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_and_bad_ones_are_named() {
        assert_eq!(parse_action("errno:38").unwrap(), Action::Errno(38));
        assert_eq!(parse_action("KILL-PROCESS").unwrap(), Action::KillProcess);
        assert_eq!(parse_action("trace:7").unwrap(), Action::Trace(7));
        assert_eq!(parse_action("user_notif").unwrap(), Action::UserNotif);
        let err = parse_action("permit").unwrap_err().to_string();
        assert!(err.contains("permit"), "{err}");
        assert!(parse_action("errno:70000").is_err());
    }

    #[test]
    fn numbers_and_kernel_versions_parse() {
        assert_eq!(parse_number("0x1_0000_0010").unwrap(), 0x1_0000_0010);
        assert_eq!(parse_number("16").unwrap(), 16);
        assert_eq!(parse_number("-100").unwrap(), (-100i64) as u64);
        assert!(parse_number("AF_INET").is_err());
        assert_eq!(parse_kernel("6.18.44-fc-v657").unwrap(), (6, 18));
        assert!(parse_kernel("six").is_err());
    }

    #[test]
    fn arches_default_to_the_host_abis_and_repeat() {
        let resolve = |arches: &[&str]| Resolve {
            file: PathBuf::from("p.json"),
            arches: arches.iter().map(|a| a.to_string()).collect(),
            caps: Some(vec!["sys_admin".into()]),
            kernel: Some("4.4".into()),
            tolerate_unknown: false,
            too_new: "default".into(),
            bad_arch: "errno:1".into(),
            no_optimize: false,
        };
        let (r, c) = resolve(&[]).options(None).unwrap();
        assert_eq!(r.arches, Arch::host_abis().to_vec());
        assert_eq!(r.caps, vec!["CAP_SYS_ADMIN".to_string()]);
        assert_eq!(r.kernel_version, Some((4, 4)));
        assert_eq!(c.too_new_action, None);
        assert_eq!(c.bad_arch_action, Action::Errno(1));
        let (r, _) = resolve(&["x32", "x86_64", "x32"])
            .options(Some(Arch::I386))
            .unwrap();
        assert_eq!(r.arches, vec![Arch::X86_64, Arch::I386, Arch::X32]);
        assert!(resolve(&["mips"]).options(None).is_err());
    }
}
