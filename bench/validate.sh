#!/usr/bin/env bash
# `nativeguard validate T1106` end to end: wall time per analysis control and the alert latency
# of every Linux test (from just before the test is spawned to its alert reaching validate).
# Usage: bench/validate.sh [path/to/nativeguard]   (default: target/release/nativeguard)
# Needs root for the sensor run; the tracer run is done as the current user.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/nativeguard}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for controls in sensor trace; do
    if [ "$controls" = sensor ] && [ "$(id -u)" != 0 ]; then
        echo "sensor: skipped (not root)"; continue
    fi
    start=$(date +%s.%N)
    "$bin" validate T1106 --controls "$controls" --format json > "$out/$controls.json" 2>"$out/$controls.err" || true
    end=$(date +%s.%N)
    python3 - "$out/$controls.json" "$controls" "$start" "$end" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
controls, start, end = sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
t = report["totals"]
print(f"{controls}: wall {end - start:.1f} s; detection {t['detection_passed']}/{t['detection_checked']}, "
      f"prevention {t['prevention_passed']}/{t['prevention_checked']}, coverage {t['coverage_percent']}%")
lat = []
for test in report["tests"]:
    if test["platform"] != "linux":
        continue
    ms = test["latency_ms"]
    if ms is not None and not test["baseline"]:
        lat.append(ms)
    print(f"  {test['emulation']:<20} detection={test['detection']:<8} latency={ms if ms is not None else '-':>5} ms"
          f"  prevented={test['prevented']}")
if lat:
    lat.sort()
    print(f"  alert latency: min {lat[0]} ms, median {lat[len(lat)//2]} ms, max {lat[-1]} ms")
PY
done
