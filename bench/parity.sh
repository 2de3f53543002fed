#!/bin/bash
# What the sensor's kernel-side change for tracer parity costs: an executable mmap of a file
# now has its descriptor's file looked up (memfd or unlinked: reported; else dropped), where
# before the filter dropped every non-anonymous one on its flags alone. Needs root.
#
#   bench/parity.sh [ROUNDS] [N]     (default 5 rounds of 200000 mmap+munmap pairs)
#
# Bare and under `nativeguard monitor` alternate round by round; medians of CPU time per pair
# for PROT_READ (the sys_enter program's floor: dropped by the PROT_EXEC check) and
# PROT_READ|PROT_EXEC (plus the new file lookup), ratios measured in one run.
# Also runs the user-space enrichment bench (crates/sensor/benches/enrich.rs).
set -euo pipefail
ROUNDS=${1:-5}
N=${2:-200000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[ "$(id -u)" = 0 ] || { echo "skipped: needs root"; exit 0; }
mkdir -p "$CARGO_TARGET_DIR"
WORK=$(mktemp -d "$CARGO_TARGET_DIR/bench-parity.XXXXXX")
MON_PID=
trap '[ -n "$MON_PID" ] && kill $MON_PID 2>/dev/null; rm -rf "$WORK"' EXIT
(cd "$ROOT" && cargo build -q -p nativeguard) # the kernel side is what is measured: debug is fine
NG=$CARGO_TARGET_DIR/debug/nativeguard
cc -O2 -o "$WORK/load" "$ROOT/bench/parity_mmap.c"
FILE=$(readlink -f /bin/true)

median() { awk -v c="$1" '{print $c}' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a/b}'; }

echo "host: $(uname -r), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
	"$WORK/load" "$N" r "$FILE" >>"$WORK/r_bare"
	"$WORK/load" "$N" rx "$FILE" >>"$WORK/rx_bare"
	rm -f "$WORK/ready"
	"$NG" monitor --format jsonl --ready-file "$WORK/ready" >"$WORK/alerts.jsonl" 2>"$WORK/monitor.err" &
	MON_PID=$!
	for _ in $(seq 300); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
	"$WORK/load" "$N" r "$FILE" >>"$WORK/r_mon"
	"$WORK/load" "$N" rx "$FILE" >>"$WORK/rx_mon"
	kill -INT $MON_PID; wait $MON_PID || true; MON_PID=
	echo "round $round (wall cpu ns/pair): r $(tail -1 "$WORK/r_bare") -> $(tail -1 "$WORK/r_mon"), rx $(tail -1 "$WORK/rx_bare") -> $(tail -1 "$WORK/rx_mon"); $(tail -1 "$WORK/monitor.err")"
done
rb=$(median 2 <"$WORK/r_bare"); rm=$(median 2 <"$WORK/r_mon")
xb=$(median 2 <"$WORK/rx_bare"); xm=$(median 2 <"$WORK/rx_mon")
echo "mmap PROT_READ      (CPU): bare ${rb} ns/pair, monitor ${rm}, ratio $(ratio "$rm" "$rb")"
echo "mmap PROT_READ|EXEC (CPU): bare ${xb} ns/pair, monitor ${xm}, ratio $(ratio "$xm" "$xb")"
echo "added by the file lookup (monitor's extra ns on an exec mapping minus on a read one): $(awk -v a="$xm" -v b="$xb" -v c="$rm" -v d="$rb" 'BEGIN {printf "%.1f", (a-b)-(c-d)}') ns/pair"
echo "== user-space enrichment (crates/sensor/benches/enrich.rs)"
(cd "$ROOT" && cargo bench -q -p nativeguard-sensor --bench enrich 2>/dev/null)
