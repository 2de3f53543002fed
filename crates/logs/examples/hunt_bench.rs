//! Hunt throughput against the parse-only floor, measured in one run (bench/hunt.sh runs it).
//!
//! `hunt_bench --rules DIR... [--rounds N] [--repeat N] [--jsonl FILE] [--pace] -- LOGS...`
//!
//! 1. parse-only: every input read into events, no rules (`Reader::events`): the floor;
//! 2. hunt: the same, each event evaluated by the rule set (Windows pipeline), as
//!    `nativeguard hunt` does (EVTX records and JSON Lines streamed to the engine, an event
//!    built only for a detection or when the engine cannot take it streamed);
//! 3. streamed: read as the hunt reads (EVTX records and JSON Lines handed to a sink), no
//!    rules, the fields dropped: what the hunt pays before its rules;
//! 4. with `--jsonl FILE`: the inputs are first written to FILE as JSON Lines (flattened events),
//!    then FILE is parse-only'd and hunted the same way.
//!
//! A round reads the inputs `--repeat` times (default 10) per phase, the phases taking turns
//! pass by pass (in a rotating order), so that the machine's pace, which drifts (it is
//! shared), falls on all three alike. There are `--rounds` rounds; the fastest round of each
//! phase counts, and events/s are also given as the median over rounds and for the fastest
//! single pass. Ratios are given fastest against fastest, and paired: the median over passes
//! of each pass's ratio to the floor's pass of the same turn, a fraction of a second apart.
//! Each pass starts a new engine, so that no pass finds the values the previous one scanned
//! already in the engine's memo.
//! Times are this process's CPU time (user + system, to the nanosecond: `bench/cpu_time.rs`), so
//! events/s is per core: everything runs on one thread.
//!
//! With `--pace`, each round ends with three probes of the machine's own pace, printed beside
//! the round's events/s: a chain of dependent multiplications (the core's latency), eight
//! independent xorshift streams (the core's throughput, which a busy sibling hyperthread
//! shares) and a chase of dependent loads through 64 MB in a random order (the memory
//! system). A turn of passes that is not counted follows (the chase has emptied the caches).

use nativeguard_event::Discard;
use nativeguard_logs::{discover, EventTexts, Format, Input, Reader};
use nativeguard_sigma::{Detection, Engine, Pipeline, RuleSet, RuleSetBuilder};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[path = "../../../bench/cpu_time.rs"]
mod cpu_time;
use cpu_time::cpu_seconds;

/// The `nativeguard` binary's allocator, so these figures are the tool's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What one phase did in a pass, or over a round's passes.
#[derive(Default, Clone, Copy)]
struct Round {
    events: u64,
    errors: u64,
    detections: u64,
    cpu: f64,
    wall: f64,
}

impl Round {
    fn add(&mut self, pass: &Round) {
        self.events += pass.events;
        self.errors += pass.errors;
        self.detections += pass.detections;
        self.cpu += pass.cpu;
        self.wall += pass.wall;
    }
}

/// Each round's totals: the sums of `repeat` consecutive passes.
fn totals(passes: &[Round], repeat: usize) -> Vec<Round> {
    passes
        .chunks(repeat.max(1))
        .map(|round| {
            let mut total = Round::default();
            for pass in round {
                total.add(pass);
            }
            total
        })
        .collect()
}

/// What a pass does with each event.
#[derive(Clone, Copy)]
enum Phase<'r> {
    /// Builds it (`Reader::events`): the parse-only floor.
    Build,
    /// Hands its fields to a sink that keeps nothing, where the reader can stream them, as the
    /// hunt reads them (else builds it): the floor of the hunt's own reading.
    Stream,
    Hunt(&'r Arc<RuleSet>),
}

/// Streams every event to `Discard` (decoding those the reader cannot stream).
fn stream_only(events: &mut impl EventTexts, counts: &mut Counts) {
    while let Some(read) = events.read_event_text() {
        if read.is_err() || (!events.stream_event(&mut Discard) && events.decode_event().is_err()) {
            counts.errors += 1;
        } else {
            counts.events += 1;
        }
    }
}

/// One pass of `phase` over `inputs`.
fn run(inputs: &[Input], phase: Phase<'_>) -> Round {
    let rules = match phase {
        Phase::Hunt(rules) => Some(rules),
        Phase::Build | Phase::Stream => None,
    };
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    let mut counts = Counts::default();
    let mut engine = rules.map(|r| r.engine());
    let mut out = Vec::new();
    for input in inputs {
        let Ok(mut reader) = Reader::open(input, 1) else {
            counts.errors += 1;
            continue;
        };
        match (engine.as_mut(), &mut reader) {
            (Some(engine), Reader::Json(json)) if json.is_lines() => {
                hunt_streamed(json, engine, &mut out, &mut counts);
                continue;
            }
            (Some(engine), Reader::Evtx(evtx)) => {
                hunt_streamed(&mut evtx.streamed(), engine, &mut out, &mut counts);
                continue;
            }
            (None, Reader::Json(json)) if matches!(phase, Phase::Stream) && json.is_lines() => {
                stream_only(json, &mut counts);
                continue;
            }
            (None, Reader::Evtx(evtx)) if matches!(phase, Phase::Stream) => {
                stream_only(&mut evtx.streamed(), &mut counts);
                continue;
            }
            _ => {}
        }
        for item in reader.events() {
            match item {
                Ok(event) => {
                    counts.events += 1;
                    if let Some(engine) = engine.as_mut() {
                        out.clear();
                        engine.evaluate(&event, &mut out);
                        counts.detections += out.len() as u64;
                    }
                }
                Err(_) => counts.errors += 1,
            }
        }
    }
    Round {
        events: counts.events,
        errors: counts.errors,
        detections: counts.detections,
        cpu: cpu_seconds() - cpu0,
        wall: wall0.elapsed().as_secs_f64(),
    }
}

#[derive(Default)]
struct Counts {
    events: u64,
    errors: u64,
    detections: u64,
}

/// As `nativeguard hunt` reads JSON Lines and EVTX: each event streamed to the engine, built
/// only for a detection (or when the engine cannot take it streamed).
fn hunt_streamed(
    events: &mut impl EventTexts,
    engine: &mut Engine,
    out: &mut Vec<Detection>,
    counts: &mut Counts,
) {
    while let Some(read) = events.read_event_text() {
        if read.is_err() {
            counts.errors += 1;
            continue;
        }
        out.clear();
        let streamed = engine.evaluate_streamed(|loader| events.stream_event(loader), out);
        if streamed && out.is_empty() {
            counts.events += 1;
            continue;
        }
        match events.decode_event() {
            Ok(event) => {
                counts.events += 1;
                if !streamed {
                    out.clear();
                    engine.evaluate(&event, out);
                }
                counts.detections += out.len() as u64;
            }
            Err(_) => counts.errors += 1,
        }
    }
}

fn load_rules(dirs: &[PathBuf]) -> (RuleSet, usize) {
    let mut builder = RuleSetBuilder::new(Pipeline::windows());
    let mut failed = 0;
    let mut files = Vec::new();
    for dir in dirs {
        collect(dir, &mut files);
    }
    for file in &files {
        if let Ok(text) = std::fs::read_to_string(file) {
            failed += builder.add_file(&file.display().to_string(), &text).len();
        }
    }
    let (rules, errors) = builder.build();
    (rules, failed + errors.len())
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|e| e.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        children.sort();
        for child in children {
            collect(&child, out);
        }
    } else if path.extension().is_some_and(|e| e == "yml") {
        out.push(path.to_path_buf());
    }
}

fn best(rounds: &[Round]) -> &Round {
    rounds
        .iter()
        .min_by(|a, b| a.cpu.total_cmp(&b.cpu))
        .expect("at least one round")
}

/// The median of `values` (the upper one of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The median over rounds of events/s per core: the typical round, beside the fastest (a
/// round in a quiet moment of the shared machine).
fn median_rate(rounds: &[Round]) -> f64 {
    median(rates(rounds))
}

/// Each round's events/s per core.
fn rates(rounds: &[Round]) -> Vec<f64> {
    rounds.iter().map(|r| r.events as f64 / r.cpu).collect()
}

/// The fastest single pass's events/s per core: the cost with the least interference from the
/// machine's other load (a pass takes tens of milliseconds, a round seconds).
fn fastest_pass_rate(passes: &[Round]) -> f64 {
    passes
        .iter()
        .map(|r| r.events as f64 / r.cpu)
        .fold(0.0, f64::max)
}

/// The median over passes of `phase_i / floor_i`, each pair from one turn of the phases: the
/// machine's pace drifts (other tenants' load), and a drift falls on both passes of a turn
/// alike.
fn paired(phase: &[Round], floor: &[Round]) -> f64 {
    median(
        phase
            .iter()
            .zip(floor)
            .map(|(p, f)| p.cpu / f.cpu)
            .collect(),
    )
}

fn compare(
    label: &str,
    inputs: &[Input],
    rules: &Arc<RuleSet>,
    rounds: usize,
    repeat: usize,
    probe: Option<&PaceProbe>,
) {
    const PARSE: usize = 0;
    const STREAMED: usize = 1;
    const HUNT: usize = 2;
    let phases = [Phase::Build, Phase::Stream, Phase::Hunt(rules)];
    // Every pass of each phase, in order: a round is `repeat` consecutive ones.
    let mut passes: [Vec<Round>; 3] = Default::default();
    let mut paces = Vec::new();
    for _ in 0..rounds {
        for pass in 0..repeat {
            // Rotating the order keeps any phase from always running first after another.
            for turn in 0..phases.len() {
                let phase = (pass + turn) % phases.len();
                passes[phase].push(run(inputs, phases[phase]));
            }
        }
        if let Some(probe) = probe {
            paces.push(probe.measure());
            for phase in phases {
                run(inputs, phase);
            }
        }
    }
    let [parse, streamed, hunt] = passes.each_ref().map(|phase| totals(phase, repeat));
    let (p, s, h) = (best(&parse), best(&streamed), best(&hunt));
    println!(
        "{label}: {} events ({} errors), {} detections ({repeat} passes over the inputs per round, {rounds} rounds)",
        h.events, h.errors, h.detections
    );
    println!(
        "  parse-only: {:.3}s CPU ({:.3}s wall)  {:.0} events/s per core (median over rounds {:.0}, fastest pass {:.0})",
        p.cpu,
        p.wall,
        p.events as f64 / p.cpu,
        median_rate(&parse),
        fastest_pass_rate(&passes[PARSE])
    );
    println!(
        "  hunt:       {:.3}s CPU ({:.3}s wall)  {:.0} events/s per core (median over rounds {:.0}, fastest pass {:.0})",
        h.cpu,
        h.wall,
        h.events as f64 / h.cpu,
        median_rate(&hunt),
        fastest_pass_rate(&passes[HUNT])
    );
    println!(
        "  streamed:   {:.3}s CPU ({:.3}s wall)  {:.0} events/s per core (median over rounds {:.0}, fastest pass {:.0})  (read as the hunt reads, fields dropped)",
        s.cpu,
        s.wall,
        s.events as f64 / s.cpu,
        median_rate(&streamed),
        fastest_pass_rate(&passes[STREAMED])
    );
    // The hunt streams events to the engine instead of building them as parse-only does, so
    // its difference from parse-only is less than what the rules cost; the difference from the
    // streamed floor is what they cost.
    println!(
        "  hunt / parse-only = {:.2}x (paired median over {} passes {:.2}x)   hunt - parse-only {:.2} us/event, {:.1} ns per rule per event",
        h.cpu / p.cpu,
        passes[HUNT].len(),
        paired(&passes[HUNT], &passes[PARSE]),
        (h.cpu - p.cpu) / h.events as f64 * 1e6,
        (h.cpu - p.cpu) / h.events as f64 / rules.len() as f64 * 1e9
    );
    println!(
        "  hunt / streamed   = {:.2}x (paired median over {} passes {:.2}x)   hunt - streamed   {:.2} us/event",
        h.cpu / s.cpu,
        passes[HUNT].len(),
        paired(&passes[HUNT], &passes[STREAMED]),
        (h.cpu - s.cpu) / h.events as f64 * 1e6,
    );
    let per_round = rates(&parse).into_iter().zip(rates(&hunt)).zip(&paces);
    for (i, ((parse_rate, hunt_rate), pace)) in per_round.enumerate() {
        println!(
            "  round {}: parse-only {parse_rate:.0}, hunt {hunt_rate:.0} events/s per core; then core chain {:.1} ms, parallel {:.1} ms, memory {:.1} ns per load",
            i + 1,
            pace.chain_ms,
            pace.parallel_ms,
            pace.load_ns
        );
    }
}

/// What [`PaceProbe::measure`] found.
struct Pace {
    /// Milliseconds for a fixed chain of dependent multiplications.
    chain_ms: f64,
    /// Milliseconds for a fixed amount of independent integer work.
    parallel_ms: f64,
    /// Nanoseconds per load of a chase through memory far larger than the caches.
    load_ns: f64,
}

/// The machine's pace, apart from any benchmark: the core alone, and the memory system alone.
struct PaceProbe {
    /// A single cycle through every slot, in a random order (`next[i]` follows `i`).
    next: Vec<u32>,
}

impl PaceProbe {
    /// 64 MB of `u32`s: far beyond the caches of one core.
    const SLOTS: u32 = 16 << 20;
    const LOADS: u32 = 200_000;
    const CHAIN_STEPS: u64 = 20_000_000;
    const STREAM_STEPS: u64 = 10_000_000;

    fn new() -> PaceProbe {
        // Sattolo's shuffle gives one cycle through all slots, so the chase never settles
        // into a short loop the caches could hold.
        let mut order: Vec<u32> = (0..Self::SLOTS).collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % i as u64) as usize);
        }
        let mut next = vec![0; order.len()];
        for (i, &slot) in order.iter().enumerate() {
            next[slot as usize] = order[(i + 1) % order.len()];
        }
        PaceProbe { next }
    }

    fn measure(&self) -> Pace {
        let started = Instant::now();
        let mut product: u64 = 1;
        for i in 0..Self::CHAIN_STEPS {
            product = (product.wrapping_mul(0x0100_0000_01b3) ^ i).rotate_left(7);
        }
        std::hint::black_box(product);
        let chain_ms = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let mut streams: [u64; 8] = std::array::from_fn(|i| 0x2545_f491_4f6c_dd1d + i as u64);
        for _ in 0..Self::STREAM_STEPS {
            for x in &mut streams {
                *x ^= *x << 13;
                *x ^= *x >> 7;
                *x ^= *x << 17;
            }
            streams = std::hint::black_box(streams);
        }
        let parallel_ms = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let mut slot = 0u32;
        for _ in 0..Self::LOADS {
            slot = self.next[slot as usize];
        }
        std::hint::black_box(slot);
        let load_ns = started.elapsed().as_secs_f64() * 1e9 / f64::from(Self::LOADS);
        Pace {
            chain_ms,
            parallel_ms,
            load_ns,
        }
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let (options, logs) = args.split_at(split);
    let logs: Vec<&Path> = logs.iter().skip(1).map(Path::new).collect();
    let (mut rule_dirs, mut rounds, mut jsonl, mut repeat) = (Vec::new(), 3, None, 10);
    let mut pace = false;
    let mut it = options.iter();
    while let Some(option) = it.next() {
        match option.as_str() {
            "--rules" => rule_dirs.extend(it.next().map(PathBuf::from)),
            "--rounds" => rounds = it.next().and_then(|n| n.parse().ok()).unwrap_or(3),
            "--jsonl" => jsonl = it.next().map(PathBuf::from),
            "--repeat" => repeat = it.next().and_then(|n| n.parse().ok()).unwrap_or(10),
            "--pace" => pace = true,
            other => panic!("unknown option {other}"),
        }
    }
    let started = Instant::now();
    let (rules, failed) = load_rules(&rule_dirs);
    println!(
        "rules: {} loaded, {} failed, {} unrouted, in {:.2}s",
        rules.len(),
        failed,
        rules.unrouted_rules().count(),
        started.elapsed().as_secs_f64()
    );
    let rules = Arc::new(rules);
    let found = discover(&logs);
    let evtx: Vec<Input> = found
        .inputs
        .into_iter()
        .filter(|i| i.format == Format::Evtx)
        .collect();
    println!("inputs: {} EVTX files", evtx.len());
    let probe = pace.then(PaceProbe::new);
    compare("EVTX", &evtx, &rules, rounds, repeat, probe.as_ref());

    if let Some(path) = jsonl {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for input in &evtx {
            let Ok(mut reader) = Reader::open(input, 1) else {
                continue;
            };
            for event in reader.events().flatten() {
                serde_json::to_writer(&mut out, &event)?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
        let size = std::fs::metadata(&path)?.len();
        println!("JSONL: {} ({:.1} MB)", path.display(), size as f64 / 1e6);
        let input = [Input {
            path,
            format: Format::Jsonl,
        }];
        compare("JSONL", &input, &rules, rounds, repeat, probe.as_ref());
    }
    Ok(())
}
