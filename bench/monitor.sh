#!/bin/bash
# Overhead of `nativeguard monitor` (eBPF sensor + default Linux rules), with auditd for
# comparison, all measured in one run. Needs root. Prints ratios; record them in bench/monitor.md.
#
#   bench/monitor.sh [ROUNDS]      (default 5 rounds; medians are reported)
#
# 1. 1M getppid(): bare vs under monitor (a syscall the kernel filter drops: the cost of the
#    sys_enter program itself), target <= 1.20x.
# 2. fork + execve(/bin/true) x5000: bare vs under monitor, target <= 1.05x.
# 3. An exec storm on every core for 10 s under monitor: events/s and lost records (target 0).
# 4. The same 1. and 2. under auditd with one execve rule (if auditd can run here).
# 5. The monitor's peak RSS (VmHWM), target <= 50 MB.
# Bare and instrumented runs alternate round by round so background load hits both alike.
set -euo pipefail
ROUNDS=${1:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# Not under /tmp: SigmaHQ's "Program Executions in Suspicious Folders" rightly flags programs
# run from /tmp, and the load generator must not be what the rules see.
mkdir -p "$CARGO_TARGET_DIR"
WORK=$(mktemp -d "$CARGO_TARGET_DIR/bench-monitor.XXXXXX")
trap 'kill $MON_PID 2>/dev/null || true; auditctl -D >/dev/null 2>&1 || true; [ -n "${AUDITD_PID:-}" ] && kill $AUDITD_PID 2>/dev/null; rm -rf "$WORK"' EXIT
MON_PID=
[ "$(id -u)" = 0 ] || { echo "skipped: needs root"; exit 0; }

(cd "$ROOT" && cargo build --release -q -p nativeguard)
NG=$CARGO_TARGET_DIR/release/nativeguard
cc -O2 -o "$WORK/load" "$ROOT/bench/monitor_load.c"
LOAD=$WORK/load
GETPPID_N=1000000
SPAWN_N=5000

# median of column $1 (1 = wall clock, 2 = CPU time of the load and its children)
median() { awk -v c="${1:-1}" '{print $c}' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a/b}'; }

start_monitor() {
	rm -f "$WORK/ready"
	"$NG" monitor --format jsonl --ready-file "$WORK/ready" >"$WORK/alerts.jsonl" 2>"$WORK/monitor.err" &
	MON_PID=$!
	for _ in $(seq 300); do [ -e "$WORK/ready" ] && return 0; sleep 0.1; done
	echo "monitor did not become ready:"; cat "$WORK/monitor.err"; exit 1
}
# Not called in $(...): `wait` only works on a child of this shell.
stop_monitor() {
	grep VmHWM /proc/$MON_PID/status | awk '{print $2}' >>"$WORK/hwm_kb"
	grep VmRSS /proc/$MON_PID/status | awk '{print $2}' >>"$WORK/rss_kb"
	kill -INT $MON_PID; wait $MON_PID || true; MON_PID=
	tail -1 "$WORK/monitor.err" >"$WORK/summary"
}

echo "host: $(uname -r), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1M getppid() and fork+exec(/bin/true) x$SPAWN_N, $ROUNDS rounds, bare vs monitor"
for round in $(seq "$ROUNDS"); do
	$LOAD getppid $GETPPID_N >>"$WORK/getppid_bare"
	$LOAD spawn $SPAWN_N /bin/true >>"$WORK/spawn_bare"
	start_monitor
	$LOAD getppid $GETPPID_N >>"$WORK/getppid_mon"
	$LOAD spawn $SPAWN_N /bin/true >>"$WORK/spawn_mon"
	stop_monitor
	echo "round $round (wall cpu): getppid $(tail -1 "$WORK/getppid_bare") -> $(tail -1 "$WORK/getppid_mon") ns, spawn $(tail -1 "$WORK/spawn_bare") -> $(tail -1 "$WORK/spawn_mon") us; $(cat "$WORK/summary")"
done
for col in 2 1; do
	what=$([ $col = 2 ] && echo "CPU time" || echo "wall clock")
	gb=$(median $col <"$WORK/getppid_bare"); gm=$(median $col <"$WORK/getppid_mon")
	sb=$(median $col <"$WORK/spawn_bare"); sm=$(median $col <"$WORK/spawn_mon")
	echo "getppid ($what): bare ${gb} ns/call, monitor ${gm} ns/call, ratio $(ratio "$gm" "$gb") (target <= 1.20)"
	echo "spawn   ($what): bare ${sb} us/spawn, monitor ${sm} us/spawn, ratio $(ratio "$sm" "$sb") (target <= 1.05)"
done
gb=$(median 2 <"$WORK/getppid_bare"); sb=$(median 2 <"$WORK/spawn_bare")
echo "alerts raised by the benchmark loads (expected 0): $(grep -c '"rule"' "$WORK/alerts.jsonl" || true)"

echo "== exec storm: $(nproc) parallel fork+exec loops for 10 s under monitor"
start_monitor
mon_cpu_before=$(awk '{print $14 + $15}' /proc/$MON_PID/stat)
pids=()
for _ in $(seq "$(nproc)"); do $LOAD storm 10 /bin/true >>"$WORK/storm" & pids+=($!); done
wait "${pids[@]}"
execs=$(awk '{s+=$1} END {print s}' "$WORK/storm")
mon_cpu_after=$(awk '{print $14 + $15}' /proc/$MON_PID/stat)
stop_monitor
summary=$(cat "$WORK/summary")
echo "$summary"
events=$(echo "$summary" | sed -n 's/.*monitor: \([0-9]*\) events.*/\1/p')
lost=$(echo "$summary" | sed -n 's/.* \([0-9]*\) lost in the kernel.*/\1/p')
echo "monitor CPU (user+system, user-space side) during the storm: $(( (mon_cpu_after - mon_cpu_before) * 1000000 / $(getconf CLK_TCK) / execs )) us per exec"
echo "storm: $execs execs in 10 s ($((execs / 10)) execs/s); monitor read $events events ($((events / 10)) events/s while the storm ran); lost $lost (target 0)"
echo "monitor RSS at stop (VmRSS), largest over all runs: $(sort -n "$WORK/rss_kb" | tail -1) kB; peak (VmHWM, reached while loading BTF): $(sort -n "$WORK/hwm_kb" | tail -1) kB (target <= 51200 kB)"

echo "== auditd with one execve rule (same machine, same run)"
if command -v auditd >/dev/null && command -v auditctl >/dev/null; then
	auditd -n -c /etc/audit >"$WORK/auditd.log" 2>&1 &
	AUDITD_PID=$!
	sleep 1
	if kill -0 $AUDITD_PID 2>/dev/null && auditctl -e 1 >/dev/null && auditctl -a always,exit -F arch=b64 -S execve -k ngbench >/dev/null; then
		cpu() { awk '{print $14 + $15}' /proc/$AUDITD_PID/stat; }
		for round in $(seq "$ROUNDS"); do
			$LOAD getppid $GETPPID_N >>"$WORK/getppid_audit"
			before=$(cpu)
			$LOAD spawn $SPAWN_N /bin/true >>"$WORK/spawn_audit"
			after=$(cpu)
			echo $(( (after - before) * 1000000 / $(getconf CLK_TCK) / SPAWN_N )) >>"$WORK/audit_cpu_us"
		done
		ga=$(median 2 <"$WORK/getppid_audit"); sa=$(median 2 <"$WORK/spawn_audit")
		echo "getppid under auditd (CPU time): ${ga} ns/call, ratio $(ratio "$ga" "$gb") vs bare"
		echo "spawn under auditd (CPU time):   ${sa} us/spawn, ratio $(ratio "$sa" "$sb") vs bare; auditd's own CPU $(median 1 <"$WORK/audit_cpu_us") us per exec"
		auditctl -D >/dev/null
		auditctl -e 0 >/dev/null
	else
		echo "auditd could not run here: $(tail -3 "$WORK/auditd.log" | tr '\n' ' ')"
	fi
	kill $AUDITD_PID 2>/dev/null || true
	AUDITD_PID=
else
	echo "auditd not installed (apt-get install auditd): not measured"
fi
