#!/usr/bin/env bash
# Cost of `nativeguard trace` on a syscall-heavy command, as ratios to the bare run measured in
# the same run: 1M getppid() bare, under `nativeguard trace` (target <= 1.10x: getppid is not
# trapped, so the seccomp filter allows it in the kernel), under `strace -f --seccomp-bpf` with
# the same trap list, and under plain `strace -f` (every call stops twice).
#
# Usage: bench/trace.sh [CALLS] [RUNS]   (defaults: 1000000 calls, 7 runs; medians reported)
# Needs: cc, a release build of nativeguard (built here), strace (optional; apt-get install strace).
set -euo pipefail

calls=${1:-1000000}
runs=${2:-7}
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/targets/tracer}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cc -O2 -o "$work/getppid" "$root/bench/trace_getppid.c"
(cd "$root" && cargo build --release -q -p nativeguard)
ng="$CARGO_TARGET_DIR/release/nativeguard"

# The same set `nativeguard trace` traps (crates/tracer/src/decode.rs TRAP_LIST), for strace.
trap_list=execve,execveat,memfd_create,ptrace,process_vm_writev,process_vm_readv,mprotect,pkey_mprotect,mmap,mremap,init_module,finit_module,bpf,open,openat,openat2,personality

# Median wall time in seconds of `runs` runs of a command.
median() {
    local times=()
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s%N)
        times+=("$(( end - start ))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.4f", a[int((NR+1)/2)]/1e9}'
}

echo "bench/trace.sh: $calls getppid() calls, median of $runs runs, $(nproc) cores, $(uname -r)"
echo "commit $(git -C "$root" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ)"
bare=$(median "$work/getppid" "$calls")
traced=$(median "$ng" trace --format jsonl -- "$work/getppid" "$calls")
printf '%-34s %8ss  %6s\n' "bare" "$bare" "1.00x"
printf '%-34s %8ss  %6sx\n' "nativeguard trace" "$traced" "$(echo "$traced / $bare" | bc -l | xargs printf '%.2f')"
if command -v strace >/dev/null; then
    seccomp=$(median strace -f --seccomp-bpf -e trace="$trap_list" -o /dev/null "$work/getppid" "$calls")
    printf '%-34s %8ss  %6sx\n' "strace -f --seccomp-bpf (same set)" "$seccomp" "$(echo "$seccomp / $bare" | bc -l | xargs printf '%.2f')"
    # Plain strace stops twice per call: one run is enough to see the order of magnitude.
    saved_runs=$runs
    runs=1
    plain=$(median strace -f -o /dev/null "$work/getppid" "$calls")
    runs=$saved_runs
    printf '%-34s %8ss  %6sx  (1 run)\n' "strace -f" "$plain" "$(echo "$plain / $bare" | bc -l | xargs printf '%.2f')"
else
    echo "strace: not installed (apt-get install strace) - skipped"
fi
