/* SPDX-License-Identifier: GPL-2.0 */
/*
 * MPI bandwidth between two ranks, P2P memory against host memory, in one
 * run (bench/mpi-two-hosts.sh; docs/benchmark.md).
 *
 *   mpi-bw --provider BDF [--sizes "S1 S2 ..."] [--bytes N] [--repeat R]
 *
 * For each size, R times, first with host memory and then with P2P memory
 * (an mmap of /dev/p2pmem/BDF) at both ends: rank 0 streams messages of that
 * size to rank 1, 8 in flight (MPI_Isend/MPI_Irecv), about N bytes in all,
 * and rank 1 answers with one zero-byte message once it has received them
 * all; rank 0 times barrier to answer.  The buffers are reused for every
 * message, so after the first round what is measured is the steady state
 * (registrations cached by the engine).  Rank 0 prints one line per
 * measurement:
 *
 *   bw SIZE host|p2p MB/s
 *
 * (MB = 10^6 bytes).  Not a test: nothing is checked but that MPI succeeds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#define IN_FLIGHT 8

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "mpi-bw: %s: %s\n", what, strerror(errno));
	MPI_Abort(MPI_COMM_WORLD, 1);
	exit(1);
}

/* Seconds for COUNT messages of SIZE bytes from rank 0 to rank 1 */
static double stream(char *buf, int size, long count, int rank)
{
	MPI_Request req[IN_FLIGHT];
	double t0;

	MPI_Barrier(MPI_COMM_WORLD);
	t0 = now();
	for (long done = 0; done < count;) {
		int n = count - done < IN_FLIGHT ? (int)(count - done) : IN_FLIGHT;

		for (int i = 0; i < n; i++) {
			if (rank == 0)
				MPI_Isend(buf, size, MPI_BYTE, 1, 1, MPI_COMM_WORLD, &req[i]);
			else
				MPI_Irecv(buf, size, MPI_BYTE, 0, 1, MPI_COMM_WORLD, &req[i]);
		}
		MPI_Waitall(n, req, MPI_STATUSES_IGNORE);
		done += n;
	}
	if (rank == 0)
		MPI_Recv(NULL, 0, MPI_BYTE, 1, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	else
		MPI_Send(NULL, 0, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
	return now() - t0;
}

int main(int argc, char **argv)
{
	const char *provider = NULL, *sizes = "4096 65536 262144 1048576";
	long bytes = 8L << 20, max = 0;
	int repeat = 3, rank;
	char path[64], *host, *p2p, *list, *tok, *save;
	int fd;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--provider"))
			provider = argv[i + 1];
		else if (!strcmp(argv[i], "--sizes"))
			sizes = argv[i + 1];
		else if (!strcmp(argv[i], "--bytes"))
			bytes = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--repeat"))
			repeat = atoi(argv[i + 1]);
	}
	if (!provider || bytes <= 0 || repeat <= 0 || argc % 2 == 0) {
		fprintf(stderr, "usage: mpi-bw --provider BDF [--sizes \"S1 S2 ...\"] "
				"[--bytes N] [--repeat R]\n");
		return 2;
	}
	list = strdup(sizes);
	for (tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		if (atol(tok) > max)
			max = atol(tok);
	if (max <= 0 || max > (64L << 20)) {
		fprintf(stderr, "mpi-bw: sizes must be 1 byte to 64 MiB\n");
		return 2;
	}

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	host = mmap(NULL, (size_t)max, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (host == MAP_FAILED)
		die("mmap of host memory");
	memset(host, 0x5a, (size_t)max);
	snprintf(path, sizeof(path), "/dev/p2pmem/%s", provider);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die(path);
	p2p = mmap(NULL, (size_t)max, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p2p == MAP_FAILED)
		die("mmap of the provider node");
	close(fd);

	strcpy(list, sizes);
	for (tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		int size = atoi(tok);
		long count = bytes / size < 16 ? 16 : bytes / size;

		for (int r = 0; r < repeat; r++) {
			double th = stream(host, size, count, rank);
			double tp = stream(p2p, size, count, rank);

			if (rank == 0) {
				printf("bw %d host %.2f\n", size, (double)size * count / th / 1e6);
				printf("bw %d p2p %.2f\n", size, (double)size * count / tp / 1e6);
				fflush(stdout);
			}
		}
	}
	munmap(p2p, (size_t)max);
	munmap(host, (size_t)max);
	free(list);
	MPI_Finalize();
	return 0;
}
