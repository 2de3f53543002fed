#!/usr/bin/env bash
# `nativeguard trace` on 1M getppid() as a ratio to bare, with a confidence interval: what
# bench/trace.sh's paired estimate gives, over more rounds and fewer variants, so that a
# difference of a percent can be told from noise on a shared 2-core VM (one round's ratio
# strays by about 10% here).
#
# Each round runs bare, the floor (bench/trace_floor.c), `nativeguard trace` and, with
# BASELINE=path, another nativeguard, and `strace -f --seccomp-bpf` with the same trap list
# (when installed; STRACE=0 skips it), once each, in an order rotated from round to round (no
# variant always runs first or right after another). For each variant it prints the median of
# the per-round ratios to bare (bench/trace.sh's "paired") and their geometric mean with a 95%
# confidence interval (normal approximation on the log ratios). Last, trace over the floor in the
# same rounds: the tracer's own share, apart from the platform's.
#
# Usage: bench/trace_pairs.sh [ROUNDS]   (default 100; about 0.9 s a round)
# NATIVEGUARD=path/to/nativeguard times that binary instead of building one.
set -euo pipefail

rounds=${1:-100}
# shellcheck source=bench/trace_setup.sh
. "$(dirname "$0")/trace_setup.sh"

labels=(bare floor trace)
commands=("" "$work/trace_floor" "$ng trace --format jsonl --")
if [ -n "${BASELINE:-}" ]; then
    labels+=(baseline)
    commands+=("$BASELINE trace --format jsonl --")
fi
if [ "${STRACE:-1}" != 0 ] && command -v strace >/dev/null; then
    labels+=(strace)
    commands+=("strace -f --seccomp-bpf -e trace=$trap_list -o /dev/null")
fi
count=${#labels[@]}

echo "bench/trace_pairs.sh: 1000000 getppid() calls, $rounds rotated rounds, $(nproc) cores, $(uname -r)"
echo "binary $ng, commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
    for step in $(seq 0 $((count - 1))); do
        variant=$(( (step + round) % count ))
        start=$(date +%s%N)
        # Word splitting of the command is wanted: it is a program and its arguments.
        # shellcheck disable=SC2086
        ${commands[$variant]} "$work/getppid" 1000000 >/dev/null 2>&1
        end=$(date +%s%N)
        echo $(( end - start )) >>"$work/${labels[$variant]}"
    done
done

for variant in "${labels[@]}"; do
    printf '%s median %.1f ms; ' "$variant" \
        "$(sort -n "$work/$variant" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] / 1e6}')"
done
echo
# Prints the median and the geometric mean (95% CI) of the per-round ratios $2 / $1.
ratios() {
    paste "$work/$1" "$work/$2" | awk '{printf "%.6f\n", $2 / $1}' | sort -n >"$work/ratios"
    awk -v label="$2 over $1" '
        {r[NR] = $1; x = log($1); s += x; ss += x * x}
        END {
            m = s / NR; se = sqrt((ss - NR * m * m) / (NR - 1) / NR)
            printf "%-19s median %.3fx, geometric mean %.3fx (95%% CI %.3f-%.3f), %d rounds\n",
                label ":", r[int((NR + 1) / 2)], exp(m), exp(m - 1.96 * se), exp(m + 1.96 * se), NR
        }' "$work/ratios"
}
for variant in "${labels[@]:1}"; do
    ratios bare "$variant"
done
# What the tracer adds to what any seccomp-based tracer pays on this machine at this time.
ratios floor trace
if [ -n "${BASELINE:-}" ]; then
    ratios baseline trace
fi
# Against the tracer the issue names, stopping for the same calls (and, lacking argument
# conditions, for every mmap, mprotect and open too).
if [[ " ${labels[*]} " == *" strace "* ]]; then
    ratios strace trace
fi
