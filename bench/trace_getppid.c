/* The workload of bench/trace.sh: N getppid() system calls (default 1,000,000), made through
 * syscall(2) so that libc cannot cache the answer. getppid is not in nativeguard trace's trap
 * list, so under `trace` it should cost nothing extra: the seccomp filter allows it in the
 * kernel and the tracer never wakes up.
 *
 * `trace_getppid N time` also times the loop itself and prints nanoseconds per call on
 * stderr: the per-call cost without anything the tracer does before or after. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int timed = argc > 2 && strcmp(argv[2], "time") == 0;
    struct timespec start, end;
    long sum = 0;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < n; i++)
        sum += syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &end);
    if (timed && n > 0)
        fprintf(stderr, "%.2f\n",
                ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / n);
    return sum == 0;
}
