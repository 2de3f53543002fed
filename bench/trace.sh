#!/usr/bin/env bash
# Cost of `nativeguard trace` on a syscall-heavy command, as ratios to the bare run measured in
# the same run: 1M getppid() bare, under `nativeguard trace` (target <= 1.10x: getppid is not
# trapped, so the seccomp filter allows it in the kernel), under `strace -f --seccomp-bpf` with
# the same trap list, and under plain `strace -f` (every call stops twice).
#
# The floor (bench/trace_floor.c): the command run under a one-instruction allow-all seccomp
# filter, with no tracer, after one extra exec. Every seccomp-based tracer pays at least that
# (the kernel's seccomp entry on each call, a process start and an exec), so trace over the
# floor is the tracer's own cost and the floor over bare is the platform's.
#
# The same rounds also run the workload with 1 call and with CALLS/10 calls, bare and traced,
# to split trace's cost into
# - per call: the extra time of the last 90% of the calls, ((trace N - trace N/10) -
#   (bare N - bare N/10)) / (0.9 N): the kernel's seccomp entry work for an untrapped call;
# - fixed, for the N-call run: what is left of (trace N - bare N) after N per-call costs
#   (process start, filter, exec and loader stops; the rules load in parallel);
# - start-up of a 1-call command: trace 1 - bare 1. Such a command ends before the rules
#   have loaded, so this includes waiting for them.
#
# Two ratios are printed for each N-call variant: the ratio of the medians (median trace /
# median bare), and the paired estimate, the median over rounds of trace_i / bare_i from the
# same round: load that drifts over the run (another session's build starting) falls on both
# runs of a round alike and cancels in the pair.
#
# Usage: bench/trace.sh [CALLS] [RUNS]   (defaults: 1000000 calls, 11 runs; medians reported)
# NATIVEGUARD=path/to/nativeguard times that binary instead of building one; PLAIN=0 skips
# plain `strace -f`;
# BASELINE=path/to/other/nativeguard also times that one in the same rounds (A/B).
# Needs: cc, bc, a release build of nativeguard (built here), strace (optional).
set -euo pipefail

calls=${1:-1000000}
runs=${2:-11}
tenth=$(( calls / 10 ))
# shellcheck source=bench/trace_setup.sh
. "$(dirname "$0")/trace_setup.sh"

# Wall time in nanoseconds of one run of a command.
elapsed() {
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    echo $(( end - start ))
}

# Median of numbers (nanoseconds) on stdin, in nanoseconds.
median() {
    sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

seconds() {
    echo "$1" | awk '{printf "%.4f", $1/1e9}'
}

ratio() {
    echo "$1 / $2" | bc -l | xargs printf '%.2f'
}

# Median over rounds of (variant run / bare run of the same round), from two files with one
# time per round.
paired() {
    paste "$1" "$2" | awk '{printf "%.6f\n", $1 / $2}' | median | xargs printf '%.2f'
}

# The middle half of the same per-round ratios (quartiles): how far one round strays.
spread() {
    paste "$1" "$2" | awk '{printf "%.6f\n", $1 / $2}' | sort -n |
        awk '{a[NR]=$1} END {printf "%.2f-%.2f", a[int((NR+3)/4)], a[int((3*NR+3)/4)]}'
}

have_strace=false
command -v strace >/dev/null && have_strace=true

echo "bench/trace.sh: $calls getppid() calls, median of $runs interleaved runs, $(nproc) cores, $(uname -r)"
echo "binary $ng, commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Interleaved rounds, so that load from other processes on the machine falls on every
# variant alike.
for variant in bare trace floor bare1 trace1 bare10 trace10 seccomp base base1; do : >"$work/$variant"; done
for _ in $(seq "$runs"); do
    elapsed "$work/getppid" 1 >>"$work/bare1"
    elapsed "$ng" trace --format jsonl -- "$work/getppid" 1 >>"$work/trace1"
    elapsed "$work/getppid" "$tenth" >>"$work/bare10"
    elapsed "$ng" trace --format jsonl -- "$work/getppid" "$tenth" >>"$work/trace10"
    elapsed "$work/getppid" "$calls" >>"$work/bare"
    elapsed "$ng" trace --format jsonl -- "$work/getppid" "$calls" >>"$work/trace"
    elapsed "$work/trace_floor" "$work/getppid" "$calls" >>"$work/floor"
    if [ -n "${BASELINE:-}" ]; then
        elapsed "$BASELINE" trace --format jsonl -- "$work/getppid" 1 >>"$work/base1"
        elapsed "$BASELINE" trace --format jsonl -- "$work/getppid" "$calls" >>"$work/base"
    fi
    if $have_strace; then
        elapsed strace -f --seccomp-bpf -e trace="$trap_list" -o /dev/null "$work/getppid" "$calls" >>"$work/seccomp"
    fi
done
for variant in bare trace floor bare1 trace1 bare10 trace10; do
    declare "$variant=$(median <"$work/$variant")"
done
printf '%-34s %8ss  %6s\n' "bare" "$(seconds "$bare")" "1.00x"
printf '%-34s %8ss  %6sx  paired %sx (middle half of the rounds %s)\n' "nativeguard trace" \
    "$(seconds "$trace")" "$(ratio "$trace" "$bare")" "$(paired "$work/trace" "$work/bare")" \
    "$(spread "$work/trace" "$work/bare")"
per_call=$(echo "(($trace - $trace10) - ($bare - $bare10)) / ($calls - $tenth)" | bc -l)
bare_call=$(echo "($bare - $bare10) / ($calls - $tenth)" | bc -l)
fixed=$(echo "($trace - $bare) - $per_call * $calls" | bc -l)
printf '  per call: %.1f ns bare, +%.1f ns traced (%s%% of the N-call run)\n' \
    "$bare_call" "$per_call" "$(echo "100 * $per_call * $calls / $bare" | bc -l | xargs printf '%.0f')"
printf '  fixed, N-call run: +%.1f ms (%s%%)\n' \
    "$(echo "$fixed / 1000000" | bc -l)" "$(echo "100 * $fixed / $bare" | bc -l | xargs printf '%.0f')"
printf '  start-up, 1-call command: %.1f ms traced vs %.1f ms bare: +%.1f ms (paired +%.1f ms)\n' \
    "$(echo "$trace1 / 1000000" | bc -l)" "$(echo "$bare1 / 1000000" | bc -l)" \
    "$(echo "($trace1 - $bare1) / 1000000" | bc -l)" \
    "$(paste "$work/trace1" "$work/bare1" | awk '{print $1 - $2}' | median | awk '{print $1 / 1e6}')"
printf '%-34s %8ss  %6sx  paired %sx (%s);  trace over the floor: %sx, paired %sx\n' \
    "floor (allow-all filter, no tracer)" "$(seconds "$floor")" "$(ratio "$floor" "$bare")" \
    "$(paired "$work/floor" "$work/bare")" "$(spread "$work/floor" "$work/bare")" \
    "$(ratio "$trace" "$floor")" "$(paired "$work/trace" "$work/floor")"
if [ -n "${BASELINE:-}" ]; then
    base=$(median <"$work/base")
    base1=$(median <"$work/base1")
    printf '%-34s %8ss  %6sx  paired %sx  (1 call: %.1f ms)\n' "baseline trace ($BASELINE)" \
        "$(seconds "$base")" "$(ratio "$base" "$bare")" "$(paired "$work/base" "$work/bare")" \
        "$(echo "$base1 / 1000000" | bc -l)"
fi
if $have_strace; then
    seccomp=$(median <"$work/seccomp")
    printf '%-34s %8ss  %6sx  paired %sx\n' "strace -f --seccomp-bpf (same set)" "$(seconds "$seccomp")" \
        "$(ratio "$seccomp" "$bare")" "$(paired "$work/seccomp" "$work/bare")"
    # Plain strace stops twice per call: one run shows the order of magnitude (PLAIN=0 skips
    # it: on this VM it takes minutes).
    if [ "${PLAIN:-1}" != 0 ]; then
        plain=$(elapsed strace -f -o /dev/null "$work/getppid" "$calls")
        printf '%-34s %8ss  %6sx  (1 run)\n' "strace -f" "$(seconds "$plain")" "$(ratio "$plain" "$bare")"
    fi
else
    echo "strace: not installed (apt-get install strace) - skipped"
fi

# Per call, timed inside the command (the loop alone, none of the tracer's start or exit):
# nanoseconds per getppid bare, under trace and under strace --seccomp-bpf, and the paired
# extra (median over rounds of variant_i - bare_i), PERCALL_RUNS rounds (default: RUNS).
# The same runs are timed whole: what is left outside the loop is each variant's fixed cost
# (process starts; for trace its own start, the command's start-up stops and its exit).
for variant in callbare calltrace callfloor callseccomp wallbare walltrace wallfloor; do : >"$work/$variant"; done
# Runs a command, appending its wall time in nanoseconds to the file named first.
wall() {
    local out=$1 start end
    shift
    start=$(date +%s%N)
    "$@"
    end=$(date +%s%N)
    echo $(( end - start )) >>"$out"
}
for _ in $(seq "${PERCALL_RUNS:-$runs}"); do
    wall "$work/wallbare" "$work/getppid" "$calls" time 2>>"$work/callbare"
    wall "$work/wallfloor" "$work/trace_floor" "$work/getppid" "$calls" time 2>>"$work/callfloor"
    wall "$work/walltrace" "$ng" trace --output /dev/null -- "$work/getppid" "$calls" time 2>"$work/tracestderr" >/dev/null
    head -n 1 "$work/tracestderr" >>"$work/calltrace"
    if $have_strace; then
        strace -f --seccomp-bpf -e trace="$trap_list" -o /dev/null "$work/getppid" "$calls" time \
            2>>"$work/callseccomp"
    fi
done
per_call_line="per call, timed in the command: bare $(median <"$work/callbare" | xargs printf '%.1f') ns"
per_call_line+=", floor +$(paste "$work/callfloor" "$work/callbare" | awk '{print $1 - $2}' | median | xargs printf '%.1f') ns"
per_call_line+=", trace +$(paste "$work/calltrace" "$work/callbare" | awk '{print $1 - $2}' | median | xargs printf '%.1f') ns"
if $have_strace; then
    per_call_line+=", strace --seccomp-bpf +$(paste "$work/callseccomp" "$work/callbare" | awk '{print $1 - $2}' | median | xargs printf '%.1f') ns"
fi
echo "$per_call_line (paired medians)"
# Milliseconds outside the loop, per round: wall time - loop time (ns per call x calls).
outside() {
    paste "$1" "$2" | awk -v n="$calls" '{printf "%.4f\n", ($1 - $2 * n) / 1e6}'
}
outside "$work/wallbare" "$work/callbare" >"$work/outbare"
outside "$work/wallfloor" "$work/callfloor" >"$work/outfloor"
outside "$work/walltrace" "$work/calltrace" >"$work/outtrace"
printf 'outside the loop, ms (fixed costs): bare %.2f, floor %.2f, trace %.2f; paired over bare: floor +%.2f, trace +%.2f\n' \
    "$(median <"$work/outbare")" "$(median <"$work/outfloor")" "$(median <"$work/outtrace")" \
    "$(paste "$work/outfloor" "$work/outbare" | awk '{print $1 - $2}' | median)" \
    "$(paste "$work/outtrace" "$work/outbare" | awk '{print $1 - $2}' | median)"
# What 1.10x leaves for fixed costs once the platform's per-call extra (the floor's: any seccomp
# filter's, which trace's equals) is paid: 10% of the bare run minus that extra over N calls.
# When it is below the floor's own fixed cost, no seccomp-based tracer can meet the target.
floor_call=$(paste "$work/callfloor" "$work/callbare" | awk '{print $1 - $2}' | median)
bare_ms=$(median <"$work/wallbare" | awk '{print $1 / 1e6}')
printf 'for 1.10x bare at this per-call floor (+%.1f ns x %d calls): at most +%.2f ms outside the loop; floor +%.2f, trace +%.2f\n' \
    "$floor_call" "$calls" "$(echo "0.10 * $bare_ms - $floor_call * $calls / 1000000" | bc -l)" \
    "$(paste "$work/outfloor" "$work/outbare" | awk '{print $1 - $2}' | median)" \
    "$(paste "$work/outtrace" "$work/outbare" | awk '{print $1 - $2}' | median)"

# Where a 1-call trace's time goes, from the kernel's own timestamps (perf's sched tracepoints;
# root only): from trace's exec to the command's exec (trace's start-up: its own program, the
# filter, the clone, the seize), to the command's exit, and to trace's exit (the rules, the
# output, trace's own exit). Medians over STARTUP_RUNS runs (default: RUNS).
startup() {
    perf trace -a --no-syscalls -e 'sched:sched_process_exec,sched:sched_process_exit' -- \
        "$@" trace --format jsonl -- "$work/getppid" 1 2>&1 >/dev/null | awk '
        /sched_process_exec/ && !/getppid\// && !start {start = $1}
        /sched_process_exec/ && /getppid\// {exec = $1}
        /sched_process_exit/ && /comm: "getppid"/ {command_exit = $1}
        /sched_process_exit/ && /group_dead: 1/ && !/comm: "getppid"/ {exit_ = $1}
        END {if (exec) printf "%.3f %.3f %.3f\n", exec - start, command_exit - start, exit_ - start}'
}
column_median() {
    awk -v c="$1" '{print $c}' | median | xargs printf '%.2f'
}
if [ "$(id -u)" = 0 ] && command -v perf >/dev/null; then
    for variant in startup basestartup; do : >"$work/$variant"; done
    for _ in $(seq "${STARTUP_RUNS:-$runs}"); do
        startup "$ng" >>"$work/startup"
        if [ -n "${BASELINE:-}" ]; then startup "$BASELINE" >>"$work/basestartup"; fi
    done
    for variant in startup basestartup; do
        [ -s "$work/$variant" ] || continue
        printf '1-call timeline (%s, ms from exec): command exec %s, command exit %s, trace exit %s\n' \
            "$([ "$variant" = startup ] && echo "nativeguard trace" || echo baseline)" \
            "$(column_median 1 <"$work/$variant")" "$(column_median 2 <"$work/$variant")" \
            "$(column_median 3 <"$work/$variant")"
    done
else
    echo "1-call timeline: needs root and perf - skipped"
fi
