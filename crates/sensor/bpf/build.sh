#!/bin/sh
# Rebuilds the committed eBPF object from the C sources and records their SHA-256.
# Needs clang (with the BPF target), llvm-strip and libbpf's headers (Debian: clang libbpf-dev).
# `cargo build` never runs this: the object is committed and embedded with include_bytes!.
# vmlinux.h is regenerated only when asked (REGEN_VMLINUX=1, needs bpftool and kernel BTF).
set -eu
cd "$(dirname "$0")"
if [ "${REGEN_VMLINUX:-0}" = 1 ]; then
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > vmlinux.h
fi
clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -c nativeguard.bpf.c -o nativeguard.bpf.o
llvm-strip -g nativeguard.bpf.o
sha256sum events.h nativeguard.bpf.c vmlinux.h > nativeguard.bpf.o.sha256
ls -l nativeguard.bpf.o
