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
  * gen/extra_numbers.tsv: numbers newer than linux-raw-sys 0.12.1 (such as x86_64 uprobe, Linux
    6.16), each with the kernel table line it comes from.
  * Entry points that differ from the generic prototype, from the kernel's syscall tables:
    i386's 16-bit uid calls (`setuid` is `sys_setuid16(old_uid_t)`: the `*16` prototypes of
    syscalls.h), and x32's own numbers 512-547, most of which run `compat_sys_*` entry points
    (X32_ENTRY below, from arch/x86/entry/syscalls/syscall_64.tbl) declared in
    include/linux/compat.h, whose `compat_long_t` / `compat_size_t` arguments are 32-bit.

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

# The kernel reads the low 16 bits of these (umode_t is unsigned short; old_uid_t and old_gid_t
# are i386's 16-bit ids).
SHORT_TYPES = {"old_uid_t", "old_gid_t", "umode_t", "unsigned short", "short", "u16", "__u16"}
INT_TYPES = {
    "int", "unsigned int", "unsigned", "signed int", "u32", "__u32", "s32", "__s32", "pid_t",
    "uid_t", "gid_t", "key_serial_t", "timer_t", "clockid_t", "qid_t", "rwf_t", "key_t", "mqd_t",
    "uint32_t", "enum landlock_rule_type",
    # 32-bit in the compat entry points of x32's own calls.
    "compat_long_t", "compat_ulong_t", "compat_size_t", "compat_pid_t", "compat_aio_context_t",
}
LONG_TYPES = {
    "long", "unsigned long", "long long", "unsigned long long", "size_t", "ssize_t", "loff_t",
    "off_t", "u64", "__u64", "s64", "__s64", "aio_context_t", "old_sigset_t", "time_t",
    "__kernel_old_time_t", "__kernel_ulong_t", "__kernel_long_t",
}

# x32's own numbers (512-547) and their entry points, from arch/x86/entry/syscalls/syscall_64.tbl
# (Linux 5.11 to 6.18): compat_sys_* take compat.h's prototypes, sys_* the generic ones.
X32_ENTRY = {
    "rt_sigaction": "compat_sys_rt_sigaction", "rt_sigreturn": "compat_sys_x32_rt_sigreturn",
    "ioctl": "compat_sys_ioctl", "readv": "sys_readv", "writev": "sys_writev",
    "recvfrom": "compat_sys_recvfrom", "sendmsg": "compat_sys_sendmsg",
    "recvmsg": "compat_sys_recvmsg", "execve": "compat_sys_execve", "ptrace": "compat_sys_ptrace",
    "rt_sigpending": "compat_sys_rt_sigpending",
    "rt_sigtimedwait": "compat_sys_rt_sigtimedwait_time64",
    "rt_sigqueueinfo": "compat_sys_rt_sigqueueinfo", "sigaltstack": "compat_sys_sigaltstack",
    "timer_create": "compat_sys_timer_create", "mq_notify": "compat_sys_mq_notify",
    "kexec_load": "compat_sys_kexec_load", "waitid": "compat_sys_waitid",
    "set_robust_list": "compat_sys_set_robust_list",
    "get_robust_list": "compat_sys_get_robust_list", "vmsplice": "sys_vmsplice",
    "move_pages": "sys_move_pages", "preadv": "compat_sys_preadv64",
    "pwritev": "compat_sys_pwritev64", "rt_tgsigqueueinfo": "compat_sys_rt_tgsigqueueinfo",
    "recvmmsg": "compat_sys_recvmmsg_time64", "sendmmsg": "compat_sys_sendmmsg",
    "process_vm_readv": "sys_process_vm_readv", "process_vm_writev": "sys_process_vm_writev",
    "setsockopt": "sys_setsockopt", "getsockopt": "sys_getsockopt",
    "io_setup": "compat_sys_io_setup", "io_submit": "compat_sys_io_submit",
    "execveat": "compat_sys_execveat", "preadv2": "compat_sys_preadv64v2",
    "pwritev2": "compat_sys_pwritev64v2",
}
X32_BIT = 0x40000000
POINTER_TYPES = {"cap_user_header_t", "cap_user_data_t", "__sighandler_t"}


def classify(decl):
    """Returns 'Short', 'Int', 'Long' or 'Pointer' for one C parameter declaration."""
    decl = decl.strip()
    if "*" in decl or "[" in decl:
        return "Pointer"
    words = [w for w in re.split(r"\s+", decl) if w not in ("const", "__user", "volatile")]
    # Drop the parameter name when present (the last word when two or more words remain and the
    # remaining prefix is itself a known type).
    for n in (len(words), len(words) - 1):
        ty = " ".join(words[:n])
        if ty in SHORT_TYPES:
            return "Short"
        if ty in INT_TYPES:
            return "Int"
        if ty in LONG_TYPES:
            return "Long"
        if ty in POINTER_TYPES:
            return "Pointer"
    raise ValueError(f"unclassified C type: {decl!r}")


def parse_prototypes(path, prefix="sys_", classify_params=True):
    """Returns {name: [types]} (or, unclassified, {name: [parameter declarations]})."""
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    protos = {}
    pattern = r"asmlinkage\s+long\s+" + prefix + r"(\w+)\s*\(([^;]*?)\)\s*;"
    for m in re.finditer(pattern, text, flags=re.S):
        name, params = m.group(1), " ".join(m.group(2).split())
        if params in ("void", ""):
            protos[name] = []
        else:
            protos[name] = [classify(p) if classify_params else p for p in params.split(",")]
    return protos


def parse_curated(path):
    """Returns {(abi directory or '*', name): [types]}."""
    kinds = {"S": "Short", "I": "Int", "L": "Long", "P": "Pointer"}
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


def parse_extra_numbers(path):
    """Returns {abi directory: {name: number}} (x32 numbers get the x32 bit here)."""
    extra = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        abi, name, nr = line.rstrip("\n").split("\t")[:3]
        extra.setdefault(abi, {})[name] = int(nr) | (X32_BIT if abi == "x32" else 0)
    return extra


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
    # Classified on use: compat.h declares many calls no table here runs.
    compat = parse_prototypes(
        os.path.join(a.headers, "include/linux/compat.h"), "compat_sys_", classify_params=False)
    curated = parse_curated(os.path.join(HERE, "curated.tsv"))
    extra = parse_extra_numbers(os.path.join(HERE, "extra_numbers.tsv"))

    out = ["// @generated by crates/syscalls/gen/gen.py — do not edit by hand.",
           "// Numbers: linux-raw-sys 0.12.1 src/<arch>/general.rs (Linux UAPI unistd headers).",
           "// Argument types: include/linux/syscalls.h and include/linux/compat.h of Debian",
           "// linux-headers-6.1.0-54-common 6.1.190-1, plus crates/syscalls/gen/curated.tsv.",
           "// Numbers newer than linux-raw-sys: crates/syscalls/gen/extra_numbers.tsv.",
           "",
           "use crate::{ArgType::{Int as I, Long as L, Pointer as P, Short as S}, Syscall};",
           ""]
    missing = []
    for const, d in ARCHES:
        numbers = parse_numbers(os.path.join(a.raw_sys, "src", d, "general.rs"))
        for name, nr in extra.get(d, {}).items():
            if numbers.get(name, nr) != nr:
                sys.exit(f"extra_numbers.tsv: {d} {name} is {numbers[name]} in linux-raw-sys")
            numbers[name] = nr
        rows = []
        for name, nr in sorted(numbers.items(), key=lambda kv: kv[1]):
            cands = [name, ALIASES.get(name, name)]
            m = SUFFIX_32.match(name)
            if m and const == "I386":
                cands.append(m.group(1))
            if const == "I386" and name + "16" in protos:
                # i386's plain uid calls are the 16-bit ones (setuid -> sys_setuid16).
                cands.insert(0, name + "16")
            if name.endswith("_time64"):
                cands.append(name[: -len("_time64")])
            elif name.endswith("time64"):
                cands.append(name[: -len("64")])
            args = curated.get((d, name), curated.get(("*", name)))
            entry = X32_ENTRY.get(name) if const == "X32" and 512 <= nr - X32_BIT <= 547 else None
            if args is None and entry is not None:
                if entry.startswith("compat_sys_"):
                    params = compat.get(entry[len("compat_sys_"):])
                    args = None if params is None else [classify(p) for p in params]
                else:
                    args = protos.get(entry[len("sys_"):])
            elif args is None:
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
