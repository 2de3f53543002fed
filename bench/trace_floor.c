/* The floor of bench/trace.sh: what any seccomp-based tracer must cost at least. It installs
 * the smallest seccomp filter there is (one instruction: allow every call, which the kernel
 * answers from its action cache), attaches no tracer, and execs the command:
 *
 *     trace_floor CMD [ARGS...]
 *
 * A task with any filter takes the kernel's seccomp entry path on every system call; a tracer
 * also needs a process start and an exec before the command runs. This program pays both and
 * nothing else, so `nativeguard trace` over it is the tracer's own cost, and it over the bare
 * command is the platform's. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CMD [ARGS...]\n", argv[0]);
        return 2;
    }
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog program = {.len = 1, .filter = &allow};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
        perror("trace_floor: seccomp");
        return 1;
    }
    execvp(argv[1], argv + 1);
    perror("trace_floor: exec");
    return 127;
}
