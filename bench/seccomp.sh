#!/usr/bin/env bash
# Issue 6 seccomp figures: size/paths of Docker's default profile compiled for x86_64 and for
# x86_64 + i386 + x32, compile time, and 10M getppid() under the profile vs bare (one run,
# ratios). Results are recorded in bench/seccomp.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
profile=../shared/datasets/seccomp/default.json
cargo bench -p nativeguard-seccomp --bench seccomp
if [ -f "$profile" ] && cargo build --release -q -p nativeguard 2>/dev/null; then
    bin="$CARGO_TARGET_DIR/release/nativeguard"
    echo "nativeguard policy stats (x86_64):           $("$bin" policy stats --arch x86_64 --format json "$profile")"
    echo "nativeguard policy stats (x86_64+x86+x32):   $("$bin" policy stats --arch x86_64 --arch x86 --arch x32 --format json "$profile")"
    echo "nativeguard policy stats (aarch64):          $("$bin" policy stats --arch aarch64 --format json "$profile")"
fi
# The anchor: libseccomp on the same profile, and the socket(0x1_0000_0010) bypass against it.
if /usr/bin/python3 -c 'import seccomp' 2>/dev/null; then
    /usr/bin/python3 bench/seccomp_libseccomp.py "$profile"
else
    echo "skipped: libseccomp comparison (apt-get install python3-seccomp)"
fi
