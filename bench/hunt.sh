#!/usr/bin/env bash
# Hunt benchmarks for issue 2's "Must show" (results: bench/hunt.md).
#
# 1. The full SigmaHQ set (rules, rules-emerging-threats, rules-threat-hunting) over
#    ../shared/datasets/evtx-attack-samples: events/s per core for parse-only (EVTX -> events,
#    no rules) and for the hunt, and their ratio, measured in one run (target: <= 1.5x).
# 2. The same over JSONL generated from those samples (target: >= 200k events/s per core).
#    Each round is followed by probes of the machine's own pace (core latency and throughput,
#    memory latency), printed beside the round's figures: this VM shares its host, and its
#    slow periods often show there (a probe takes 0.1 s, a round several seconds).
# 3. Peak RSS of `nativeguard hunt` over >= 1 GB of EVTX (the samples passed N times; target
#    <= 150 MB), and its throughput with --threads 1 and 2.
#
# Usage: bench/hunt.sh [ROUNDS]   (needs ../shared/datasets; builds in release)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
ROUNDS="${1:-3}"
DATA=../shared/datasets
SIGMA="$DATA/sigmahq"
SAMPLES="$DATA/evtx-attack-samples"
RULES=(--rules "$SIGMA/rules" --rules "$SIGMA/rules-emerging-threats" --rules "$SIGMA/rules-threat-hunting")
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

cargo build --release -q -p nativeguard-logs --example hunt_bench
cargo build --release -q -p nativeguard
BIN="$CARGO_TARGET_DIR/release"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== commit: $(git rev-parse --short HEAD)  date: $(date -u +%FT%TZ)"
echo
echo "== 1+2. hunt vs parse-only, EVTX and JSONL, one thread, CPU time (fastest of $ROUNDS rounds)"
"$BIN/examples/hunt_bench" "${RULES[@]}" --rounds "$ROUNDS" --pace --jsonl "$TMP/samples.jsonl" -- "$SAMPLES"
echo

EVTX_BYTES=$(find "$SAMPLES" -name '*.evtx' -printf '%s\n' | awk '{s += $1} END {print s}')
REPEAT=$(( (1000000000 + EVTX_BYTES - 1) / EVTX_BYTES ))
INPUTS=()
for _ in $(seq "$REPEAT"); do INPUTS+=("$SAMPLES"); done
echo "== 3. nativeguard hunt over $REPEAT x the samples = $(( REPEAT * EVTX_BYTES / 1000000 )) MB of EVTX"
for threads in 1 2; do
    /usr/bin/time -f "threads=$threads: peak RSS %M KB, %e s wall, %U s user, %S s sys" \
        "$BIN/nativeguard" hunt "${RULES[@]}" --threads "$threads" --format jsonl "${INPUTS[@]}" \
        > "$TMP/detections.jsonl" 2> "$TMP/stderr" || true
    grep -E '^hunt:|^threads=' "$TMP/stderr"
    echo "  $(wc -l < "$TMP/detections.jsonl") detection lines"
done
