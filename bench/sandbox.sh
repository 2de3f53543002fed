#!/usr/bin/env bash
# Cost of the sandbox's reporting path: N memfd_create calls made by python3, allowed without
# a sandbox (each creates and closes an fd) vs denied under `nativeguard sandbox` (each one a
# SECCOMP_RET_USER_NOTIF round trip to the supervisor: decode, report, answer EPERM), and the
# same loop of getppid() under the shipped hardening policy (the filter alone, no
# notification; with the Landlock allow-list) vs bare. Prints per-call times and ratios measured in this one run.
# Usage: bench/sandbox.sh [N]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p nativeguard
NG="$CARGO_TARGET_DIR/release/nativeguard"
# The system python: a pyenv-style shim would exec another file, which the hardening policy denies.
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/deny-memfd.json" <<'JSON'
{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["memfd_create"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
JSON
cat > "$TMP/memfd.py" <<PYEOF
import os, time, sys
n = int(sys.argv[1]); t = time.perf_counter()
for _ in range(n):
    try:
        os.close(os.memfd_create("b"))
    except OSError:
        pass
print((time.perf_counter() - t) / n * 1e6)
PYEOF
cat > "$TMP/getppid.py" <<PYEOF
import os, time, sys
n = int(sys.argv[1]); t = time.perf_counter()
for _ in range(n):
    os.getppid()
print((time.perf_counter() - t) / n * 1e6)
PYEOF
bare_memfd=$("$PY" "$TMP/memfd.py" "$N")
denied_memfd=$("$NG" sandbox --policy "$TMP/deny-memfd.json" -- "$PY" "$TMP/memfd.py" "$N" 2>/dev/null)
bare_getppid=$("$PY" "$TMP/getppid.py" "$((N * 10))")
hardened_getppid=$("$NG" sandbox --policy policies/t1106-hardening.json --landlock policies/t1106-landlock.json -- "$PY" "$TMP/getppid.py" "$((N * 10))" 2>/dev/null)
python3 - "$bare_memfd" "$denied_memfd" "$bare_getppid" "$hardened_getppid" "$N" <<'PYEOF'
import sys
bm, dm, bg, hg, n = map(float, sys.argv[1:])
print(f"memfd_create x{int(n)}: allowed bare {bm:.2f} us/call, denied+reported {dm:.2f} us/call, ratio {dm / bm:.2f}x")
print(f"getppid x{int(n * 10)}: bare {bg:.3f} us/call, under t1106-hardening {hg:.3f} us/call, ratio {hg / bg:.2f}x")
PYEOF
