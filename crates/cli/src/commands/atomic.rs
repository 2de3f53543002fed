//! `nativeguard atomic list|run`: Atomic Red Team tests.
//!
//! Without `--path`, a technique's tests are the project's shipped tests (`atomics/`, embedded
//! in the binary) followed by Atomic Red Team's own file for it, from `$NATIVEGUARD_ART_ATOMICS`,
//! else `../shared/datasets/atomic-red-team/atomics` beside the repository the binary was built
//! from, else the same path relative to the current directory. Tests are numbered in that
//! merged order (`atomic list` shows the numbers `-n` takes).
//!
//! Exit codes: 0 every selected test passed or was skipped (each skip says why); 6
//! (CHILD_FAILED) a test failed; 3 (INPUT_SKIPPED) an atomic file or test was invalid but the
//! others ran; 1 nothing to run, or a bad `--input`.

use crate::exit_code;
use anyhow::{bail, Context};
use nativeguard_atomic::{
    check_inputs, normalize_uuid, run_test, AtomicTest, Catalog, Loaded, Mode, RunOptions, Status,
    TestResult,
};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Subcommands of `nativeguard atomic`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// List atomic tests (one line or JSON object per test).
    List(ListArgs),
    /// Run the tests of one technique: prerequisites, command, cleanup.
    Run(RunArgs),
}

/// Output format.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON array.
    Json,
}

/// Arguments of `nativeguard atomic list`.
#[derive(clap::Args)]
pub struct ListArgs {
    /// Only this technique (T1106, T1003.001).
    technique: Option<String>,
    /// An atomics folder (`<DIR>/<T>/<T>.yaml`) instead of the shipped + Atomic Red Team lookup.
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Arguments of `nativeguard atomic run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The technique (T1106, T1003.001).
    technique: String,
    /// An atomics folder (`<DIR>/<T>/<T>.yaml`) instead of the shipped + Atomic Red Team lookup.
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// Only the test with this number (as `atomic list` shows it).
    #[arg(short = 'n', long = "number", value_name = "N", group = "select")]
    number: Option<usize>,
    /// Only the test with this exact name.
    #[arg(long, group = "select")]
    name: Option<String>,
    /// Only the test with this GUID.
    #[arg(long, group = "select")]
    guid: Option<String>,
    /// Override an input argument (type-checked): `--input name=value`, repeatable.
    #[arg(long = "input", value_name = "NAME=VALUE", value_parser = parse_input)]
    inputs: Vec<(String, String)>,
    /// Only check the prerequisites.
    #[arg(long, conflicts_with_all = ["get_prereqs", "cleanup"])]
    check_prereqs: bool,
    /// Meet unmet prerequisites with their get_prereq_command, then check again.
    #[arg(long, conflicts_with = "cleanup")]
    get_prereqs: bool,
    /// Only run the cleanup commands (a normal run always runs them after the command).
    #[arg(long)]
    cleanup: bool,
    /// Seconds each step may take before its whole process group is killed.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_timeout)]
    timeout: Duration,
    /// Run tests that reach the network (curl, wget, Invoke-WebRequest, URLs, url inputs).
    #[arg(long)]
    allow_network: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

fn parse_input(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got '{text}'")),
    }
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "'{text}' is not a number of seconds between 0 and 86400"
        )),
    }
}

/// Runs `nativeguard atomic`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::List(args) => list(args),
        Command::Run(args) => run_tests(args),
    }
}

fn load(path: Option<&PathBuf>, technique: Option<&str>) -> anyhow::Result<Catalog> {
    if let Some(t) = technique {
        if !nativeguard_atomic::is_technique_id(t) {
            bail!("'{t}' is not an ATT&CK technique id (expected T1234 or T1234.001)");
        }
    }
    let catalog = match path {
        Some(dir) => Catalog::load_dir(dir, technique)
            .with_context(|| format!("reading atomics from {}", dir.display()))?,
        None => Catalog::load_default(technique)?,
    };
    for error in &catalog.errors {
        eprintln!("nativeguard: invalid: {error}");
    }
    if path.is_none() && catalog.art_folder.is_none() {
        eprintln!(
            "nativeguard: note: Atomic Red Team's atomics folder was not found \
             (set {}); only the shipped tests are listed",
            nativeguard_atomic::ART_ENV
        );
    }
    Ok(catalog)
}

fn source(file: &Loaded) -> &str {
    &file.technique.path
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let catalog = load(args.path.as_ref(), args.technique.as_deref())?;
    let rows: Vec<(usize, &Loaded, &AtomicTest)> = numbered(&catalog);
    match args.format {
        Format::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|(n, file, test)| {
                    json!({
                        "technique": file.technique.attack_technique,
                        "name": test.name,
                        "guid": test.guid,
                        "platforms": test.supported_platforms.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                        "number": n,
                        "source": source(file),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        Format::Table => {
            for (n, file, test) in &rows {
                let platforms: Vec<&str> = test
                    .supported_platforms
                    .iter()
                    .map(|p| p.as_str())
                    .collect();
                println!(
                    "{:<11} {:>3}  {:<36}  {:<22}  {}",
                    file.technique.attack_technique,
                    n,
                    test.guid.as_deref().unwrap_or("-"),
                    platforms.join(","),
                    test.name
                );
            }
            eprintln!("{} tests in {} files", rows.len(), catalog.files.len());
        }
    }
    Ok(if catalog.errors.is_empty() {
        exit_code::SUCCESS
    } else {
        exit_code::INPUT_SKIPPED
    }
    .into())
}

/// Tests numbered per technique in lookup order (1-based).
fn numbered(catalog: &Catalog) -> Vec<(usize, &Loaded, &AtomicTest)> {
    let mut counters: std::collections::HashMap<&str, usize> = Default::default();
    catalog
        .tests()
        .map(|(file, test)| {
            let n = counters
                .entry(file.technique.attack_technique.as_str())
                .or_default();
            *n += 1;
            (*n, file, test)
        })
        .collect()
}

fn run_tests(args: RunArgs) -> anyhow::Result<ExitCode> {
    let catalog = load(args.path.as_ref(), Some(&args.technique))?;
    let all = numbered(&catalog);
    if all.is_empty() {
        bail!("no valid atomic tests found for {}", args.technique);
    }
    let guid = match &args.guid {
        Some(g) => Some(normalize_uuid(g).with_context(|| format!("'{g}' is not a GUID"))?),
        None => None,
    };
    let selected: Vec<&(usize, &Loaded, &AtomicTest)> = all
        .iter()
        .filter(|(n, _, test)| {
            args.number.is_none_or(|want| *n == want)
                && args.name.as_ref().is_none_or(|want| &test.name == want)
                && guid
                    .as_ref()
                    .is_none_or(|want| test.guid.as_ref() == Some(want))
        })
        .collect();
    if selected.is_empty() {
        bail!(
            "no test of {} matches the selection ({} tests; see `nativeguard atomic list {}`)",
            args.technique,
            all.len(),
            args.technique
        );
    }
    let tests: Vec<&AtomicTest> = selected.iter().map(|(_, _, t)| *t).collect();
    check_inputs(&tests, &args.inputs)?;

    let mut options = RunOptions {
        mode: if args.check_prereqs {
            Mode::CheckPrereqs
        } else if args.get_prereqs {
            Mode::GetPrereqs
        } else if args.cleanup {
            Mode::Cleanup
        } else {
            Mode::Run
        },
        timeout: args.timeout,
        allow_network: args.allow_network,
        inputs: args.inputs.clone(),
        ..RunOptions::default()
    };
    // The shipped tests call `${NATIVEGUARD_EXE:-nativeguard} emulate NAME`: this binary.
    if let Ok(exe) = std::env::current_exe() {
        options
            .env
            .push(("NATIVEGUARD_EXE".into(), exe.display().to_string()));
    }

    let mut results: Vec<(usize, TestResult)> = Vec::new();
    for (n, file, test) in &selected {
        let result = run_test(&file.technique, &file.atomics_folder, test, &options);
        if args.format == Format::Table {
            print_row(*n, &result);
        }
        results.push((*n, result));
    }
    if args.format == Format::Json {
        let items: Vec<serde_json::Value> = results.iter().map(|(n, r)| to_json(*n, r)).collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
    } else {
        let count = |s: Status| results.iter().filter(|(_, r)| r.status == s).count();
        eprintln!(
            "{} passed, {} failed, {} skipped",
            count(Status::Passed),
            count(Status::Failed),
            count(Status::Skipped)
        );
    }
    let failed = results.iter().any(|(_, r)| r.status == Status::Failed);
    Ok(if failed {
        exit_code::CHILD_FAILED
    } else if !catalog.errors.is_empty() {
        exit_code::INPUT_SKIPPED
    } else {
        exit_code::SUCCESS
    }
    .into())
}

fn to_json(number: usize, r: &TestResult) -> serde_json::Value {
    json!({
        "technique": r.technique,
        "number": number,
        "name": r.name,
        "guid": r.guid,
        "platform": r.platform,
        "status": r.status.as_str(),
        "reason": r.reason,
        "exit_code": r.exit_code,
        "duration_ms": r.duration.as_millis() as u64,
        "stdout_tail": r.stdout_tail,
        "stderr_tail": r.stderr_tail,
        "cleanup_exit_code": r.cleanup_exit_code,
    })
}

fn print_row(number: usize, r: &TestResult) {
    let exit = r
        .exit_code
        .map(|c| c.to_string())
        .unwrap_or_else(|| "-".into());
    println!(
        "{:>3}  {:<7}  exit {:<3} {:>7}ms  {} [{}]",
        number,
        r.status.as_str(),
        exit,
        r.duration.as_millis(),
        r.name,
        r.guid.as_deref().unwrap_or("-"),
    );
    if let Some(reason) = &r.reason {
        println!("     {reason}");
    }
    if r.status == Status::Failed {
        for (label, tail) in [("stdout", &r.stdout_tail), ("stderr", &r.stderr_tail)] {
            for line in tail
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                println!("     {label}: {line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_and_timeouts_are_validated() {
        assert_eq!(parse_input("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_input("=x").is_err());
        assert!(parse_input("novalue").is_err());
        assert_eq!(parse_timeout("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("abc").is_err());
    }
}
