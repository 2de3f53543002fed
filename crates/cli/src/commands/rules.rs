//! `nativeguard rules`: load Sigma rules and report what loaded and what did not.

use crate::exit_code;
use nativeguard_sigma::{Pipeline, RuleKind, RuleSetBuilder};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Subcommands of `nativeguard rules`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Load rule files (directories recursively: *.yml, *.yaml) and report every rule that
    /// failed, with file, line and reason. Exit code 3 when any failed.
    Check(CheckArgs),
}

/// Output formats of `rules check`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Human-readable summary.
    Table,
    /// `{"loaded": N, "failed": [{"path": "...", "error": "..."}]}`.
    Json,
}

/// Arguments of `nativeguard rules check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Rule files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Runs `nativeguard rules`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check(args) => check(args),
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>, unreadable: &mut Vec<(String, String)>) {
    if path.is_dir() {
        let entries = match std::fs::read_dir(path) {
            Ok(e) => e,
            Err(e) => {
                unreadable.push((path.display().to_string(), e.to_string()));
                return;
            }
        };
        let mut children: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        children.sort();
        for child in children {
            if child.is_dir()
                || matches!(
                    child.extension().and_then(|e| e.to_str()),
                    Some("yml" | "yaml")
                )
            {
                collect(&child, out, unreadable);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    for p in &args.paths {
        if !p.exists() {
            failed.push((p.display().to_string(), "no such file or directory".into()));
            continue;
        }
        collect(p, &mut files, &mut failed);
    }
    let mut builder = RuleSetBuilder::new(Pipeline::windows());
    for f in &files {
        let path = f.display().to_string();
        match std::fs::read(f) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => {
                    for e in builder.add_file(&path, &text) {
                        failed.push((path.clone(), e.to_string()));
                    }
                }
                Err(_) => failed.push((path, "not UTF-8 text".into())),
            },
            Err(e) => failed.push((path, e.to_string())),
        }
    }
    let (set, errors) = builder.build();
    for e in errors {
        failed.push((e.path.clone(), e.to_string()));
    }
    let count = |kind: RuleKind| set.rules().iter().filter(|r| r.kind == kind).count();
    match args.format {
        Format::Json => {
            let failed: Vec<serde_json::Value> = failed
                .iter()
                .map(|(path, error)| serde_json::json!({"path": path, "error": error}))
                .collect();
            println!(
                "{}",
                serde_json::json!({"loaded": set.len(), "failed": failed})
            );
        }
        Format::Table => {
            for (_, error) in &failed {
                println!("FAILED  {error}");
            }
            println!(
                "{} files, {} rules loaded ({} detection, {} correlation, {} filter), {} failed",
                files.len(),
                set.len(),
                count(RuleKind::Detection),
                count(RuleKind::Correlation),
                count(RuleKind::Filter),
                failed.len()
            );
            let unrouted = set.unrouted_rules().count();
            if unrouted > 0 {
                println!(
                    "{unrouted} rules have a log source the Windows pipeline does not route \
                     (e.g. linux, cloud, web): they load but see no Windows event"
                );
            }
            for (rule, placeholder) in set.unresolved_placeholders() {
                println!(
                    "note: {} ({}): placeholder %{placeholder}% has no values; it matches nothing",
                    rule.title, rule.path
                );
            }
        }
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        exit_code::INPUT_SKIPPED.into()
    })
}
