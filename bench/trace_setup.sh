# Sourced by bench/trace.sh and bench/trace_pairs.sh: builds the workload (1M getppid()) and
# the floor into a temporary directory ($work, removed on exit) and picks the nativeguard to
# time ($ng: $NATIVEGUARD, or a release build made here).
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cc -O2 -o "$work/getppid" "$root/bench/trace_getppid.c"
cc -O2 -o "$work/trace_floor" "$root/bench/trace_floor.c"
if [ -n "${NATIVEGUARD:-}" ]; then
    ng=$NATIVEGUARD
else
    (cd "$root" && cargo build --release -q -p nativeguard)
    ng="$CARGO_TARGET_DIR/release/nativeguard"
fi

# The x86_64 calls `nativeguard trace` traps (crates/tracer/src/decode.rs TRAP_LIST), for
# `strace --seccomp-bpf -e trace=...`: the same stops, so that the two compare as tracers.
trap_list=execve,execveat,memfd_create,ptrace,process_vm_writev,process_vm_readv,mprotect,pkey_mprotect,mmap,mremap,init_module,finit_module,bpf,open,openat,openat2,creat,personality
