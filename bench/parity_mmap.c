/* Load generator for bench/parity.sh (built by it with cc -O2).
 *   parity_mmap N PROT FILE   N mmap(PROT, MAP_PRIVATE, fd of FILE) + munmap pairs;
 *                             PROT is "r" or "rx"; prints "WALL CPU" ns per pair
 * CPU is user + system time of this process (getrusage). An "rx" mapping of a file on disk is
 * a library load: the sensor's kernel side looks up the descriptor's file and drops it; an "r"
 * mapping is dropped by the sensitive-set filter alone (the sys_enter program's floor).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double cpu(void)
{
	struct rusage self;
	getrusage(RUSAGE_SELF, &self);
	return self.ru_utime.tv_sec + self.ru_stime.tv_sec +
	       (self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: parity_mmap N r|rx FILE\n");
		return 2;
	}
	long n = atol(argv[1]);
	int prot = strcmp(argv[2], "rx") == 0 ? PROT_READ | PROT_EXEC : PROT_READ;
	int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	double wall = now(), used = cpu();
	for (long i = 0; i < n; i++) {
		void *page = mmap(NULL, 4096, prot, MAP_PRIVATE, fd, 0);
		if (page == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		munmap(page, 4096);
	}
	printf("%.2f %.2f\n", (now() - wall) * 1e9 / n, (cpu() - used) * 1e9 / n);
	return 0;
}
