#!/usr/bin/env python3
"""Generates crates/syscalls/src/generated.rs: syscall names, numbers and argument types per ABI.

Sources (every table says where it came from):
  * Numbers: the `__NR_*` constants of linux-raw-sys 0.12.1 (crates.io, Apache-2.0 WITH
    LLVM-exception / MIT), files src/{x86_64,x86,x32,aarch64}/general.rs, which bindgen produced
    from the Linux UAPI headers asm/unistd_64.h, asm/unistd_32.h, asm/unistd_x32.h and
    asm-generic/unistd.h. They are newer than Debian bookworm's linux-libc-dev 6.1 (mseal,
    listmount, file_getattr...). x32 numbers include __X32_SYSCALL_BIT (0x40000000).
  * Argument types: the `asmlinkage long sys_*(...)` prototypes of include/linux/syscalls.h in
    Debian's linux-headers-6.1.0-54-common (6.1.190-1, GPL-2.0 WITH Linux-syscall-note), read
    with a small C-declaration classifier below; when a prototype is declared several times under
    #ifdef (clone), the last one (the generic #else branch, used by x86_64 and aarch64) wins.
  * gen/curated.tsv: prototypes for syscalls that 6.1's syscalls.h lacks or declares differently
    than the x86_64/aarch64 entry point (added after 6.1, or arch-specific such as x86_64 mmap and
    arch_prctl); each line names its kernel source file.

Usage: python3 crates/syscalls/gen/gen.py [--raw-sys DIR] [--headers DIR]
Defaults look for linux-raw-sys-0.12.1 in ~/.cargo/registry and the headers under
/usr/src/linux-headers-6.1.0-54-common (apt-get install linux-headers-6.1.0-54-common, or
`apt-get download` + `dpkg-deb -x` to a directory passed with --headers).
"""
import argparse
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "generated.rs")

ARCHES = [  # (rust constant, linux-raw-sys directory)
    ("X86_64", "x86_64"),
    ("I386", "x86"),
    ("X32", "x32"),
    ("AARCH64", "aarch64"),
]

# Table name -> prototype name, where the entry point is called differently.
ALIASES = {
    "stat": "newstat", "fstat": "newfstat", "lstat": "newlstat", "uname": "newuname",
    "umount2": "umount", "_llseek": "llseek", "_newselect": "select", "umount": "oldumount",
    "oldstat": "stat", "oldfstat": "fstat", "oldlstat": "lstat", "olduname": "olduname",
    "mmap2": "mmap_pgoff", "fadvise64_64": "fadvise64_64", "sync_file_range2": "sync_file_range2",
    "pread64": "pread64", "pwrite64": "pwrite64", "fstatat64": "fstatat64",
    "sendfile64": "sendfile64", "ugetrlimit": "getrlimit", "sigaction": "sigaction",
}
# i386's 32-bit-uid variants take the same arguments as the generic calls.
SUFFIX_32 = re.compile(r"^(.*)32$")

INT_TYPES = {
    "int", "unsigned int", "unsigned", "signed int", "u32", "__u32", "s32", "__s32", "pid_t",
    "uid_t", "gid_t", "old_uid_t", "old_gid_t", "key_serial_t", "timer_t", "clockid_t", "qid_t",
    "rwf_t", "key_t", "mqd_t", "umode_t", "unsigned short", "short", "u16", "__u16",
    "unsigned char", "char", "uint32_t", "enum landlock_rule_type",
}
LONG_TYPES = {
    "long", "unsigned long", "long long", "unsigned long long", "size_t", "ssize_t", "loff_t",
    "off_t", "u64", "__u64", "s64", "__s64", "aio_context_t", "old_sigset_t", "time_t",
    "__kernel_old_time_t", "compat_ulong_t", "__kernel_ulong_t", "__kernel_long_t",
}
POINTER_TYPES = {"cap_user_header_t", "cap_user_data_t", "__sighandler_t"}


def classify(decl):
    """Returns 'Int', 'Long' or 'Pointer' for one C parameter declaration."""
    decl = decl.strip()
    if "*" in decl or "[" in decl:
        return "Pointer"
    words = [w for w in re.split(r"\s+", decl) if w not in ("const", "__user", "volatile")]
    # Drop the parameter name when present (the last word when two or more words remain and the
    # remaining prefix is itself a known type).
    for n in (len(words), len(words) - 1):
        ty = " ".join(words[:n])
        if ty in INT_TYPES:
            return "Int"
        if ty in LONG_TYPES:
            return "Long"
        if ty in POINTER_TYPES:
            return "Pointer"
    raise ValueError(f"unclassified C type: {decl!r}")


def parse_prototypes(path):
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    protos = {}
    for m in re.finditer(r"asmlinkage\s+long\s+sys_(\w+)\s*\(([^;]*?)\)\s*;", text, flags=re.S):
        name, params = m.group(1), " ".join(m.group(2).split())
        if params in ("void", ""):
            protos[name] = []
        else:
            protos[name] = [classify(p) for p in params.split(",")]
    return protos


def parse_curated(path):
    """Returns {(abi directory or '*', name): [types]}."""
    kinds = {"I": "Int", "L": "Long", "P": "Pointer"}
    protos = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        name, args, abis = line.rstrip("\n").split("\t")[:3]
        types = [] if args == "-" else [kinds[t] for t in args.split(",")]
        for abi in abis.split(","):
            protos[(abi, name)] = types
    return protos


def parse_numbers(path, prefix="__NR_"):
    numbers = {}
    for m in re.finditer(r"pub const " + prefix + r"(\w+): u32 = (\d+);", open(path).read()):
        numbers[m.group(1)] = int(m.group(2))
    return numbers


def main():
    ap = argparse.ArgumentParser()
    default_raw = sorted(glob.glob(os.path.expanduser(
        "~/.cargo/registry/src/*/linux-raw-sys-0.12.1")))
    ap.add_argument("--raw-sys", default=default_raw[-1] if default_raw else None)
    ap.add_argument("--headers", default="/usr/src/linux-headers-6.1.0-54-common")
    a = ap.parse_args()
    if not a.raw_sys or not os.path.isdir(a.raw_sys):
        sys.exit("linux-raw-sys 0.12.1 source not found: `cargo fetch` a crate depending on it, or pass --raw-sys")
    protos = parse_prototypes(os.path.join(a.headers, "include/linux/syscalls.h"))
    curated = parse_curated(os.path.join(HERE, "curated.tsv"))

    out = ["// @generated by crates/syscalls/gen/gen.py — do not edit by hand.",
           "// Numbers: linux-raw-sys 0.12.1 src/<arch>/general.rs (Linux UAPI unistd headers).",
           "// Argument types: include/linux/syscalls.h of Debian linux-headers-6.1.0-54-common",
           "// 6.1.190-1, plus crates/syscalls/gen/curated.tsv.",
           "",
           "use crate::{ArgType::{Int as I, Long as L, Pointer as P}, Syscall};",
           ""]
    missing = []
    for const, d in ARCHES:
        numbers = parse_numbers(os.path.join(a.raw_sys, "src", d, "general.rs"))
        rows = []
        for name, nr in sorted(numbers.items(), key=lambda kv: kv[1]):
            cands = [name, ALIASES.get(name, name)]
            m = SUFFIX_32.match(name)
            if m and const == "I386":
                cands.append(m.group(1))
            if name.endswith("_time64"):
                cands.append(name[: -len("_time64")])
            elif name.endswith("time64"):
                cands.append(name[: -len("64")])
            args = curated.get((d, name), curated.get(("*", name)))
            if args is None:
                args = next((protos[c] for c in cands if c in protos), None)
            if args is None:
                missing.append(f"{d}:{name}")
            rows.append((name, nr, args))
        out.append(f"/// {const}: {len(rows)} syscalls sorted by number.")
        out.append(f"pub(crate) static {const}: &[Syscall] = &[")
        for name, nr, args in rows:
            arg_text = "&[" + ", ".join(t[0] for t in args) + "]"
            out.append(f"    Syscall {{ name: \"{name}\", nr: {nr}, args: {arg_text} }},")
        out.append("];")
        out.append("")
    own = set()
    for _, d in ARCHES:
        own.update(parse_numbers(os.path.join(a.raw_sys, "src", d, "general.rs")))
    others = set()
    for path in glob.glob(os.path.join(a.raw_sys, "src", "*", "general.rs")):
        others.update(parse_numbers(path))
        # arm's private calls (__ARM_NR_breakpoint, __ARM_NR_set_tls, ...).
        others.update(n for n in parse_numbers(path, "__ARM_NR_") if n != "BASE")
    others -= own
    out.append("/// Names of syscalls that exist only on ABIs without a table here (arm, mips, s390x,")
    out.append("/// riscv, ...), from every src/<arch>/general.rs of linux-raw-sys: a policy may name them.")
    out.append("pub(crate) static OTHER_ABI_NAMES: &[&str] = &[")
    for name in sorted(others):
        out.append(f"    \"{name}\",")
    out.append("];")
    out.append("")
    if missing:
        sys.exit(f"no prototype (add them to gen/curated.tsv): {' '.join(missing)}")
    open(OUT, "w").write("\n".join(out))
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
