//! `nativeguard validate`: run a technique's tests under every control and report, in the seed
//! page's shape, whether each control acted. The loop lives in `nativeguard_validate`; this file
//! turns arguments into options and the report into files, stdout and an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use nativeguard_validate::catalog::{read_rule_paths, read_rules};
use nativeguard_validate::expectations::Expectations;
use nativeguard_validate::process::{ControlChoice, ProcessOptions, ProcessRunner};
use nativeguard_validate::{render, validate, windows, Inputs};

use crate::exit_code;

/// Report formats.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown in the seed page's shape.
    Md,
    /// A self-contained HTML page with the tests × controls matrix.
    Html,
    /// JSON (crates/validate/schema/report.schema.json).
    Json,
}

/// Which analysis control watches the detection run.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Controls {
    /// The eBPF sensor when root and it starts; the per-command tracer otherwise.
    Auto,
    /// The eBPF sensor (`monitor`) only.
    Sensor,
    /// The per-command tracer (`trace`) only.
    Trace,
}

/// Arguments of `nativeguard validate`.
#[derive(clap::Args)]
pub struct Args {
    /// The ATT&CK technique to validate.
    #[arg(default_value = "T1106")]
    technique: String,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    format: Format,
    /// Also write every format into DIR (TECHNIQUE.md, .html, .json, -navigator.json, -junit.xml).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write an ATT&CK Navigator layer (format 4.5) scoring the technique by validated coverage.
    #[arg(long, value_name = "FILE")]
    navigator: Option<PathBuf>,
    /// Write JUnit XML (one testcase per test × control and per rule).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// The analysis control for the detection run.
    #[arg(long, value_enum, default_value_t = Controls::Auto)]
    controls: Controls,
    /// Linux rules for the analysis control (repeatable; default: its embedded rules).
    #[arg(long, value_name = "PATH")]
    rules: Vec<PathBuf>,
}

/// Runs `nativeguard validate`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let expectations = Expectations::builtin(&args.technique)?;
    let technique = expectations.technique.id.clone();

    let rule_files: Vec<(String, String)> = if args.rules.is_empty() {
        nativeguard_rules::LINUX
            .iter()
            .map(|r| (r.path.to_string(), r.text.to_string()))
            .collect()
    } else {
        read_rule_paths(&args.rules)?
    };
    let (linux_rules, rule_errors) =
        read_rules(rule_files.iter().map(|(p, t)| (p.as_str(), t.as_str())));
    for err in &rule_errors {
        eprintln!("nativeguard validate: warning: {err}");
    }

    let exe = std::env::current_exe().context("finding the nativeguard binary")?;
    let mut options = ProcessOptions::new(exe);
    options.choice = match args.controls {
        Controls::Auto => ControlChoice::Auto,
        Controls::Sensor => ControlChoice::Sensor,
        Controls::Trace => ControlChoice::Trace,
    };
    options.rules = args.rules.clone();
    let mut runner = ProcessRunner::new(options)?;
    let windows = windows::validate_embedded(&expectations);
    let report = validate(
        &mut runner,
        Inputs {
            expectations: &expectations,
            linux_rules: &linux_rules,
            windows,
        },
    );
    drop(runner);

    let write = |path: &PathBuf, text: &str| -> anyhow::Result<()> {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write(
            &dir.join(format!("{technique}.md")),
            &render::markdown(&report),
        )?;
        write(
            &dir.join(format!("{technique}.html")),
            &render::html(&report),
        )?;
        write(
            &dir.join(format!("{technique}.json")),
            &render::json(&report),
        )?;
        write(
            &dir.join(format!("{technique}-navigator.json")),
            &render::navigator(&report),
        )?;
        write(
            &dir.join(format!("{technique}-junit.xml")),
            &render::junit(&report),
        )?;
    }
    if let Some(path) = &args.navigator {
        write(path, &render::navigator(&report))?;
    }
    if let Some(path) = &args.junit {
        write(path, &render::junit(&report))?;
    }
    let text = match args.format {
        Format::Md => render::markdown(&report),
        Format::Html => render::html(&report),
        Format::Json => render::json(&report),
    };
    print!("{text}");

    for failure in &report.failures {
        eprintln!(
            "nativeguard validate: missed: {} ({}): {}",
            failure.entry, failure.control, failure.message
        );
    }
    for error in &report.errors {
        eprintln!("nativeguard validate: error: {error}");
    }
    Ok(if !report.failures.is_empty() {
        exit_code::CONTROL_MISSED.into()
    } else if !report.errors.is_empty() {
        exit_code::FAILURE.into()
    } else {
        exit_code::SUCCESS.into()
    })
}
