/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * p2pv_bench_lookup: cost of the P2P pointer lookup done by every
 * p2pv_reg_mr*() call, against the number of registered buffers.  Buffers are
 * pages of a memfd imported with p2pv_buf_import().  Not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/p2pverbs.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long page = sysconf(_SC_PAGESIZE);
	int max = argc > 1 ? atoi(argv[1]) : 16384;
	int lookups = 2000000, n = 0, step, fd, i;
	struct p2pv_buf **bufs;
	volatile int sink = 0;

	if (max < 1)
		max = 1;
	fd = memfd_create("p2pv-bench", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)max * page) < 0) {
		perror("memfd");
		return 1;
	}
	bufs = calloc((size_t)max, sizeof(*bufs));
	if (!bufs)
		return 1;
	printf("%10s %14s %14s\n", "buffers", "ns/lookup(hit)", "ns/lookup(miss)");
	for (step = 1; step <= max; step *= 4) {
		double t0, hit, miss;
		char host;

		for (; n < step; n++) {
			bufs[n] = p2pv_buf_import(fd, (uint64_t)n * (uint64_t)page,
						  (size_t)page, NULL);
			if (!bufs[n]) {
				fprintf(stderr, "import: %s\n", p2pv_last_error());
				return 1;
			}
		}
		t0 = now();
		for (i = 0; i < lookups; i++)
			sink += p2pv_is_p2p((char *)bufs[(unsigned)i * 2654435761u % (unsigned)n]->addr + 8);
		hit = (now() - t0) / lookups;
		t0 = now();
		for (i = 0; i < lookups; i++)
			sink += p2pv_is_p2p(&host);
		miss = (now() - t0) / lookups;
		printf("%10d %14.1f %14.1f\n", n, hit, miss);
	}
	for (i = 0; i < n; i++)
		p2pv_buf_free(bufs[i]);
	free(bufs);
	close(fd);
	return sink < 0;
}
