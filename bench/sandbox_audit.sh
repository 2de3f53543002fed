#!/usr/bin/env bash
# Cost of reporting Landlock denials from the kernel's audit records (`nativeguard sandbox`
# as root), measured against the same sandbox without that reporting (run as uid 65534, where
# the denials are enforced but cannot be read) in this one run:
#  1. per run: `sandbox --landlock ... -- /bin/true` (no denial): joining the audit log group,
#     turning audit on and back off when it was off, the end-of-run marker; bare /bin/true too;
#  2. per denial: python3 opening a file the allow-list does not cover, N times: each denial
#     is an AUDIT_LANDLOCK_ACCESS + SYSCALL + PROCTITLE + EOE record to read and report; the
#     reported count is compared with the kernel's own count (the run's notes).
# Needs root. Usage: bench/sandbox_audit.sh [RUNS] [OPENS]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-30}
OPENS=${2:-2000}
if [ "$(id -u)" != 0 ]; then
    echo "skipped: reading audit records needs root" >&2
    exit 0
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p nativeguard
NG="$(realpath "$CARGO_TARGET_DIR/release/nativeguard")"
PY=/usr/bin/python3
TMP=$(mktemp -d)
chmod 755 "$TMP"
trap 'rm -rf "$TMP"' EXIT
echo '{"defaultAction": "SCMP_ACT_ALLOW"}' > "$TMP/allow.json"
cat > "$TMP/landlock.json" <<'JSON'
{"read": ["/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/proc", "/dev", "/tmp"],
 "write": ["/dev/null"], "execute": ["$CMD"], "interpreters": ["$CMD_INTERP"]}
JSON
cat > "$TMP/opens.py" <<'PYEOF'
import sys, time
n = int(sys.argv[1]); t = time.perf_counter(); denied = 0
for _ in range(n):
    try:
        open("/etc/hostname").close()
    except PermissionError:
        denied += 1
print(f"{(time.perf_counter() - t) / n * 1e6:.3f} {denied}")
PYEOF
chmod 644 "$TMP"/*
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
SANDBOX=("$NG" sandbox --policy "$TMP/allow.json" --landlock "$TMP/landlock.json" --)
audit_before=$(auditctl -s 2>/dev/null | awk '/^enabled/ {print $2}' || true)

# Mean wall time of RUNS runs of a command, in ms.
per_run() {
    python3 - "$RUNS" "$@" <<'PYEOF'
import subprocess, sys, time
runs = int(sys.argv[1]); command = sys.argv[2:]
t = time.perf_counter()
for _ in range(runs):
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"{(time.perf_counter() - t) / runs * 1e3:.2f}")
PYEOF
}
bare_ms=$(per_run /bin/true)
nobody_ms=$(per_run "${NOBODY[@]}" "${SANDBOX[@]}" /bin/true)
root_ms=$(per_run "${SANDBOX[@]}" /bin/true)

read -r nobody_us nobody_denied < <("${NOBODY[@]}" "${SANDBOX[@]}" "$PY" -I -S "$TMP/opens.py" "$OPENS" 2>/dev/null)
"${SANDBOX[@]}" "$PY" -I -S "$TMP/opens.py" "$OPENS" > "$TMP/root.out" 2> "$TMP/root.err" || true
read -r root_us root_denied < "$TMP/root.out"
reported=$(grep -c '^denied openat "/etc/hostname"' "$TMP/root.err" || true)
notes=$(grep 'note:' "$TMP/root.err" | grep -v 'audit is off' | sed 's/^nativeguard sandbox: note: /    /' || true)
audit_after=$(auditctl -s 2>/dev/null | awk '/^enabled/ {print $2}' || true)

python3 - "$bare_ms" "$nobody_ms" "$root_ms" "$nobody_us" "$root_us" "$OPENS" "$RUNS" <<'PYEOF'
import sys
bare, nobody, root, nobody_us, root_us = map(float, sys.argv[1:6])
opens, runs = int(sys.argv[6]), int(sys.argv[7])
print(f"per run (/bin/true, {runs} runs): bare {bare:.2f} ms, sandbox without audit (uid 65534) {nobody:.2f} ms, "
      f"sandbox reading audit (root) {root:.2f} ms: +{root - nobody:.2f} ms, ratio {root / nobody:.2f}x")
print(f"per denied open ({opens} opens): not reported (uid 65534) {nobody_us:.2f} us, reported from audit (root) "
      f"{root_us:.2f} us, ratio {root_us / nobody_us:.2f}x")
PYEOF
echo "denials: $root_denied made, $reported reported (uid 65534: $nobody_denied made, none reported)"
[ -n "$notes" ] && echo "notes of the root run:" && echo "$notes"
echo "audit switch: before ${audit_before:-?}, after ${audit_after:-?}"
