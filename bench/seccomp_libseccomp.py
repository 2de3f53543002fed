#!/usr/bin/python3
"""The anchor side of bench/seccomp.md: libseccomp (python3-seccomp, Debian bookworm 2.5.4) on
Docker's default profile, and the socket(0x1_0000_0010) bypass against a libseccomp filter.

Run: /usr/bin/python3 bench/seccomp_libseccomp.py [PROFILE]   (apt-get install python3-seccomp)

The profile's includes/excludes are resolved as moby does for an amd64 host with Docker's
default capabilities; every x86 ABI is added to the filter for the three-ABI figure.
"""
import ctypes
import errno
import json
import os
import platform
import sys
import tempfile
import time

import seccomp

DEFAULT_CAPS = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}
OPS = {
    "SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_LT": seccomp.LT,
    "SCMP_CMP_LE": seccomp.LE, "SCMP_CMP_GT": seccomp.GT, "SCMP_CMP_GE": seccomp.GE,
    "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ,
}


def kernel():
    return tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])


def applies(entry):
    exc, inc = entry.get("excludes") or {}, entry.get("includes") or {}
    if "amd64" in (exc.get("arches") or []) or any(c in DEFAULT_CAPS for c in exc.get("caps") or []):
        return False
    if inc.get("arches") and "amd64" not in inc["arches"]:
        return False
    if any(c not in DEFAULT_CAPS for c in inc.get("caps") or []):
        return False
    if inc.get("minKernel") and kernel() < tuple(int(x) for x in inc["minKernel"].split(".")[:2]):
        return False
    return True


def action(name, errno_ret):
    if name == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if name == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(errno_ret if errno_ret is not None else errno.EPERM)
    raise ValueError(name)


def build(profile, arches, optimize):
    f = seccomp.SyscallFilter(defaction=action(profile["defaultAction"], profile.get("defaultErrnoRet")))
    for arch in arches:
        if not f.exist_arch(arch):
            f.add_arch(arch)
    f.set_attr(seccomp.Attr.CTL_OPTIMIZE, optimize)
    for entry in profile["syscalls"]:
        if not applies(entry):
            continue
        act = action(entry["action"], entry.get("errnoRet"))
        args = [seccomp.Arg(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0))
                for a in entry.get("args") or []]
        for name in entry["names"]:
            try:
                if len({a["index"] for a in entry.get("args") or []}) < len(args):
                    for arg in args:  # runc: repeated index -> one rule per condition
                        f.add_rule(act, name, arg)
                else:
                    f.add_rule(act, name, *args)
            except (RuntimeError, ValueError):
                pass  # name unknown to libseccomp on these arches, as runc ignores it
    return f


def size(f):
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return len(out.read()) // 8


def netlink_bypass():
    """socket(0x1_0000_0010, SOCK_RAW, 0) under a libseccomp rule denying socket(AF_NETLINK)."""
    pid = os.fork()
    if pid == 0:
        f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        f.add_rule(seccomp.ERRNO(errno.EACCES), "socket", seccomp.Arg(0, seccomp.EQ, 16))
        f.load()
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        fd = libc.syscall(ctypes.c_long(41), ctypes.c_long(0x1_0000_0010), ctypes.c_long(3), ctypes.c_long(0))
        err = ctypes.get_errno()
        plain = libc.syscall(ctypes.c_long(41), ctypes.c_long(16), ctypes.c_long(3), ctypes.c_long(0))
        print(f"libseccomp rule socket(arg0 == AF_NETLINK) -> ERRNO(EACCES): "
              f"socket(16, SOCK_RAW, 0) = {plain} (errno {ctypes.get_errno()}); "
              f"socket(0x1_0000_0010, SOCK_RAW, 0) = {fd}"
              + (f" (errno {err})" if fd < 0 else " -> a netlink socket: BYPASS"), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "../../shared/datasets/seccomp/default.json")
    profile = json.load(open(path))
    print(f"libseccomp {seccomp.get_api()=} on {path}")
    for label, arches in [("x86_64", [seccomp.Arch.X86_64]),
                          ("x86_64+x86+x32", [seccomp.Arch.X86_64, seccomp.Arch.X86, seccomp.Arch.X32])]:
        for optimize, kind in [(1, "linear"), (2, "binary tree")]:
            times = []
            for _ in range(20):
                start = time.perf_counter()
                f = build(profile, arches, optimize)
                n = size(f)
                times.append(time.perf_counter() - start)
            times.sort()
            print(f"{label} {kind}: {n} instructions, build+export {times[len(times)//2]*1e3:.1f} ms (median of 20, python)")
    netlink_bypass()


if __name__ == "__main__":
    main()
