/* The workload of bench/trace.sh: N getppid() system calls (default 1,000,000), made through
 * syscall(2) so that libc cannot cache the answer. getppid is not in nativeguard trace's trap
 * list, so under `trace` it should cost nothing extra: the seccomp filter allows it in the
 * kernel and the tracer never wakes up. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    long sum = 0;
    for (long i = 0; i < n; i++)
        sum += syscall(SYS_getppid);
    return sum == 0;
}
