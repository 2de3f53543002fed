#!/usr/bin/env bash
# Cost of `nativeguard trace` on a syscall-heavy command, as ratios to the bare run measured in
# the same run: 1M getppid() bare, under `nativeguard trace` (target <= 1.10x: getppid is not
# trapped, so the seccomp filter allows it in the kernel), under `strace -f --seccomp-bpf` with
# the same trap list, and under plain `strace -f` (every call stops twice).
#
# Usage: bench/trace.sh [CALLS] [RUNS]   (defaults: 1000000 calls, 11 runs; medians reported)
# Needs: cc, a release build of nativeguard (built here), strace (optional; apt-get install strace).
set -euo pipefail

calls=${1:-1000000}
runs=${2:-11}
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cc -O2 -o "$work/getppid" "$root/bench/trace_getppid.c"
(cd "$root" && cargo build --release -q -p nativeguard)
ng="$CARGO_TARGET_DIR/release/nativeguard"

# The same set `nativeguard trace` traps (crates/tracer/src/decode.rs TRAP_LIST), for strace.
trap_list=execve,execveat,memfd_create,ptrace,process_vm_writev,process_vm_readv,mprotect,pkey_mprotect,mmap,mremap,init_module,finit_module,bpf,open,openat,openat2,personality

# Wall time in nanoseconds of one run of a command.
elapsed() {
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    echo $(( end - start ))
}

# Median of numbers (nanoseconds) on stdin, in seconds.
median() {
    sort -n | awk '{a[NR]=$1} END {printf "%.4f", a[int((NR+1)/2)]/1e9}'
}

ratio() {
    echo "$1 / $2" | bc -l | xargs printf '%.2f'
}

have_strace=false
command -v strace >/dev/null && have_strace=true

echo "bench/trace.sh: $calls getppid() calls, median of $runs interleaved runs, $(nproc) cores, $(uname -r)"
echo "commit $(git -C "$root" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ)"
# Interleaved (bare, trace, strace --seccomp-bpf) rounds, so that load from other processes
# on the machine falls on every variant alike.
: >"$work/bare"; : >"$work/trace"; : >"$work/seccomp"
for _ in $(seq "$runs"); do
    elapsed "$work/getppid" "$calls" >>"$work/bare"
    elapsed "$ng" trace --format jsonl -- "$work/getppid" "$calls" >>"$work/trace"
    if $have_strace; then
        elapsed strace -f --seccomp-bpf -e trace="$trap_list" -o /dev/null "$work/getppid" "$calls" >>"$work/seccomp"
    fi
done
bare=$(median <"$work/bare")
traced=$(median <"$work/trace")
printf '%-34s %8ss  %6s\n' "bare" "$bare" "1.00x"
printf '%-34s %8ss  %6sx\n' "nativeguard trace" "$traced" "$(ratio "$traced" "$bare")"
if $have_strace; then
    seccomp=$(median <"$work/seccomp")
    printf '%-34s %8ss  %6sx\n' "strace -f --seccomp-bpf (same set)" "$seccomp" "$(ratio "$seccomp" "$bare")"
    # Plain strace stops twice per call: one run shows the order of magnitude.
    plain=$(elapsed strace -f -o /dev/null "$work/getppid" "$calls" | median)
    printf '%-34s %8ss  %6sx  (1 run)\n' "strace -f" "$plain" "$(ratio "$plain" "$bare")"
else
    echo "strace: not installed (apt-get install strace) - skipped"
fi
