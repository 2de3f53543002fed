/* Load generators for bench/monitor.sh (built by it with cc -O2).
 *   monitor_load getppid N        N getppid() calls; prints "WALL CPU" ns per call
 *   monitor_load spawn N PATH     N fork + execve(PATH) + wait; prints "WALL CPU" us per spawn
 * CPU is user + system time of this process and its waited-for children (getrusage): on a
 * loaded machine it is what the probes cost the workload, without time spent preempted.
 *   monitor_load storm SECONDS PATH  fork+exec PATH in a loop for SECONDS; prints the count
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>

static double cpu(void)
{
	struct rusage self, children;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	return self.ru_utime.tv_sec + self.ru_stime.tv_sec + children.ru_utime.tv_sec +
	       children.ru_stime.tv_sec +
	       (self.ru_utime.tv_usec + self.ru_stime.tv_usec + children.ru_utime.tv_usec +
		children.ru_stime.tv_usec) / 1e6;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int spawn(const char *path)
{
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = { (char *)path, NULL };
		char *envp[] = { NULL };
		execve(path, argv, envp);
		_exit(127);
	}
	int status;
	waitpid(pid, &status, 0);
	return pid < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	long n = atol(argv[2]);
	if (!strcmp(argv[1], "getppid")) {
		double start = now(), start_cpu = cpu();
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		printf("%.2f %.2f\n", (now() - start) * 1e9 / n, (cpu() - start_cpu) * 1e9 / n);
	} else if (!strcmp(argv[1], "spawn") && argc == 4) {
		double start = now(), start_cpu = cpu();
		for (long i = 0; i < n; i++)
			if (spawn(argv[3]))
				return 1;
		printf("%.2f %.2f\n", (now() - start) * 1e6 / n, (cpu() - start_cpu) * 1e6 / n);
	} else if (!strcmp(argv[1], "storm") && argc == 4) {
		double end = now() + n;
		long count = 0;
		while (now() < end) {
			if (spawn(argv[3]))
				return 1;
			count++;
		}
		printf("%ld\n", count);
	} else {
		return 2;
	}
	return 0;
}
