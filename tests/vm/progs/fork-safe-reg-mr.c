/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Registration of P2P memory by a fork-safe program (issue 20): fork
 * protection marks registered ranges with madvise(MADV_DONTFORK), which
 * splits the mapping's VMA, and the pieces of a P2P mapping (VM_IO,
 * VM_PFNMAP) are never merged again.  Registrations of ranges across the
 * pieces must still become dma-buf MRs of the one buffer.
 *
 *   fork-safe-reg-mr PROVIDER DEV0 DEV1 MEMORY MODE [split]
 *
 * PROVIDER is the PCI name of a P2P provider (/dev/p2pmem/PROVIDER); DEV0
 * and DEV1 are rxe0 and rxe1 of rxe_pair (guest/lib.sh): P2P memory is
 * registered on DEV0, host memory on DEV1, and an RC QP pair between them
 * moves the data.  MEMORY is where the 1 MiB buffer comes from:
 *
 *   node       mmap() of /dev/p2pmem/PROVIDER
 *   dmabuf     P2PMEM_IOC_ALLOC and mmap() of the dma-buf
 *
 * MODE is who splits the mapping:
 *
 *   madvise    the program: madvise(MADV_DONTFORK) on the second quarter
 *              (three VMAs, checked in /proc/self/maps); then registered
 *              and moved through: the whole mapping, a range across both
 *              edges of that quarter, the quarter itself; with the last
 *              quarter mprotect()ed read-only a write registration of the
 *              whole is refused with EACCES and a remote-read one works;
 *              a fork()ed child does not have the quarter, and the whole
 *              mapping still registers and moves data afterwards
 *   fork-init  libibverbs, after ibv_fork_init(), as UCX calls it: the
 *              registrations in the order a message library makes them (a
 *              quarter, the whole mapping, a range across the quarter's
 *              edge; the quarter deregistered, the whole registered again)
 *   fork-env   the same with fork protection from RDMAV_FORK_SAFE=1 in the
 *              environment instead of the call
 *
 * "split" (fork-init, fork-env) requires that the first registration split
 * the mapping: the caller knows that its libibverbs sets up fork
 * protection (a libibverbs that sees the kernel's copy-on-fork support
 * does not, and leaves the mapping whole).
 *
 * Every registration's data moves both ways by RDMA WRITE and READ, with
 * the P2P MR as the remote and as the local side, compared byte for byte
 * through the CPU mapping.  The provider's available bytes are back at
 * their start value at the end.  Output: "ok: MEMORY MODE: ..." per check;
 * the first failing check prints "FAIL: MEMORY MODE: ..." and exits 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* strerrorname_np; the CMake build defines it */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p2pmem-client.h"
#include "p2pv-rdma.h"

#define BUF_SIZE (1u << 20)
#define QUARTER (BUF_SIZE / 4)
#define RELEASE_WAIT_MS 10000
#define ACCESS_RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		   IBV_ACCESS_REMOTE_READ)

static const char *provider, *memory, *mode;
static char case_name[64];		/* "<memory> <mode>", t_case */
static struct t_side a, b;		/* DEV0: P2P MRs; DEV1: host MR */
static uint8_t *host;			/* 2 * BUF_SIZE, registered on DEV1 */
static struct ibv_mr *host_mr;

static const char *errname(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "?";
}

/* The VMAs of this process that overlap [P, P + LEN) */
static int count_vmas(const void *p, size_t len)
{
	uintptr_t lo = (uintptr_t)p, hi = lo + len;
	unsigned long start, end;
	char line[512];
	int n = 0;
	FILE *f;

	f = fopen("/proc/self/maps", "re");
	T_CHECK(f, "/proc/self/maps: %s", errname(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &start, &end) == 2 && start < hi &&
		    end > lo)
			n++;
	fclose(f);
	return n;
}

/* The 1 MiB P2P buffer, mapped shared and writable; its dma-buf fd is
 * closed (the mapping holds the buffer) */
static uint8_t *map_buffer(void)
{
	int node, fd;
	void *p;

	node = p2pmem_open_node(provider, O_RDWR);
	T_CHECK(node >= 0, "open /dev/p2pmem/%s: %s", provider, errname(-node));
	if (!strcmp(memory, "node")) {
		fd = node;
	} else {
		fd = p2pmem_try_alloc(node, BUF_SIZE, O_RDWR | O_CLOEXEC, 0);
		T_CHECK(fd >= 0, "P2PMEM_IOC_ALLOC of %u bytes: %s", BUF_SIZE,
		        errname(-fd));
		close(node);
	}
	p = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T_CHECK(p != MAP_FAILED, "mmap of %u bytes: %s", BUF_SIZE, errname(errno));
	close(fd);
	return p;
}

static struct ibv_mr *reg(uint8_t *p, size_t len, int access, const char *what)
{
	struct ibv_mr *mr = ibv_reg_mr(a.pd, p, len, access);

	T_CHECK(mr, "ibv_reg_mr of %s (%zu bytes, access 0x%x): %s", what, len,
	        access, errname(errno));
	return mr;
}

static void dereg(struct ibv_mr *mr)
{
	int ret = ibv_dereg_mr(mr);

	T_CHECK(!ret, "ibv_dereg_mr: %s", errname(ret));
}

static void rdma_ok(struct t_side *s, enum ibv_wr_opcode op, uint64_t laddr,
		    uint32_t lkey, uint64_t raddr, uint32_t rkey, uint32_t len)
{
	enum ibv_wc_status st = t_rdma_status(s, op, (void *)(uintptr_t)laddr,
					      lkey, raddr, rkey, len);

	T_CHECK(st == IBV_WC_SUCCESS, "%s on %s: %s completion: %s", s->name,
	        op == IBV_WR_RDMA_READ ? "RDMA READ" : "RDMA WRITE",
	        memory, ibv_wc_status_str(st));
}

static void verify(const volatile uint8_t *p, size_t len, unsigned int seed,
		   const char *what)
{
	long bad = t_verify(p, len, seed);

	T_CHECK(bad < 0, "%s: byte %ld of %zu differs", what, bad, len);
}

/*
 * Data through MR, which registers P (LEN bytes) at its address: DEV1
 * writes into it and reads it back, DEV0 writes from it and reads into it,
 * each checked through the CPU mapping or host memory.
 */
static void exercise(struct ibv_mr *mr, uint8_t *p, uint32_t len,
		     unsigned int seed, const char *what)
{
	uint8_t *src = host, *dst = host + BUF_SIZE;
	uint64_t iova = (uintptr_t)p;

	t_fill(src, len, seed);
	rdma_ok(&b, IBV_WR_RDMA_WRITE, (uintptr_t)src, host_mr->lkey, iova,
		mr->rkey, len);
	verify(p, len, seed, "RDMA WRITE into the P2P MR (CPU view)");
	t_fill(p, len, seed + 1);
	memset(dst, 0, len);
	rdma_ok(&b, IBV_WR_RDMA_READ, (uintptr_t)dst, host_mr->lkey, iova,
		mr->rkey, len);
	verify(dst, len, seed + 1, "RDMA READ from the P2P MR");

	t_fill(p, len, seed + 2);
	memset(dst, 0, len);
	rdma_ok(&a, IBV_WR_RDMA_WRITE, iova, mr->lkey, (uintptr_t)dst,
		host_mr->rkey, len);
	verify(dst, len, seed + 2, "RDMA WRITE from the P2P MR");
	t_fill(src, len, seed + 3);
	rdma_ok(&a, IBV_WR_RDMA_READ, iova, mr->lkey, (uintptr_t)src,
		host_mr->rkey, len);
	verify(p, len, seed + 3, "RDMA READ into the P2P MR (CPU view)");
	t_ok("%s (%u bytes): RDMA WRITE and READ both ways, byte-exact", what,
	     len);
}

/* Register P (LEN bytes), move data through it, deregister */
static void reg_exercise(uint8_t *p, uint32_t len, unsigned int seed,
			 const char *what)
{
	struct ibv_mr *mr = reg(p, len, ACCESS_RW, what);

	exercise(mr, p, len, seed, what);
	dereg(mr);
}

/* A child forked now must have the mapping without the quarter at
 * P + QUARTER: the other pieces as the parent has them */
static void check_fork(uint8_t *p)
{
	int head = count_vmas(p, QUARTER);
	int tail = count_vmas(p + 2 * QUARTER, 2 * QUARTER);
	int status;
	pid_t pid;

	pid = fork();
	T_CHECK(pid >= 0, "fork: %s", errname(errno));
	if (!pid)
		_exit(!count_vmas(p + QUARTER, QUARTER) &&
		      count_vmas(p, QUARTER) == head &&
		      count_vmas(p + 2 * QUARTER, 2 * QUARTER) == tail ? 0 : 1);
	T_CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", errname(errno));
	T_CHECK(WIFEXITED(status) && !WEXITSTATUS(status),
	        "the forked child's mapping is not the parent's without the MADV_DONTFORK quarter (status 0x%x)",
	        status);
	t_ok("a forked child has the mapping without the MADV_DONTFORK quarter");
}

static void mode_madvise(uint8_t *p)
{
	struct ibv_mr *mr;
	int vmas;

	T_CHECK(!madvise(p + QUARTER, QUARTER, MADV_DONTFORK),
	        "madvise(MADV_DONTFORK) of the second quarter: %s", errname(errno));
	vmas = count_vmas(p, BUF_SIZE);
	T_CHECK(vmas == 3, "after madvise of the second quarter the mapping is %d VMAs, not 3",
	        vmas);
	t_ok("madvise(MADV_DONTFORK) of the second quarter split the mapping into 3 VMAs");

	reg_exercise(p, BUF_SIZE, 10, "the whole split mapping");
	reg_exercise(p + QUARTER - 4000, QUARTER + 8000, 20,
		     "a range across both edges of the quarter");
	reg_exercise(p + QUARTER, QUARTER, 30, "the MADV_DONTFORK quarter");

	/* write access needs every piece writable */
	T_CHECK(!mprotect(p + 3 * QUARTER, QUARTER, PROT_READ),
	        "mprotect(PROT_READ) of the last quarter: %s", errname(errno));
	mr = ibv_reg_mr(a.pd, p, BUF_SIZE, ACCESS_RW);
	T_CHECK(!mr && errno == EACCES,
	        "write registration of the whole with a read-only last quarter: %s, not EACCES",
	        mr ? "registered" : errname(errno));
	mr = reg(p, BUF_SIZE, IBV_ACCESS_REMOTE_READ,
		 "the whole, read-only last quarter, remote read");
	t_fill(p, 3 * QUARTER, 40);
	memset(host, 0, BUF_SIZE);
	rdma_ok(&b, IBV_WR_RDMA_READ, (uintptr_t)host, host_mr->lkey,
		(uintptr_t)p, mr->rkey, 3 * QUARTER);
	verify(host, 3 * QUARTER, 40, "RDMA READ from the read-only registration");
	dereg(mr);
	T_CHECK(!mprotect(p + 3 * QUARTER, QUARTER, PROT_READ | PROT_WRITE),
	        "mprotect(PROT_READ | PROT_WRITE) of the last quarter: %s",
	        errname(errno));
	t_ok("with a read-only last quarter: write registration EACCES, remote-read registration and RDMA READ work");

	check_fork(p);
	reg_exercise(p, BUF_SIZE, 50, "the whole mapping after fork()");
}

static void mode_fork(uint8_t *p, bool want_split)
{
	struct ibv_mr *quarter, *whole, *across;
	int vmas;

	quarter = reg(p + QUARTER, QUARTER, ACCESS_RW, "the second quarter");
	vmas = count_vmas(p, BUF_SIZE);
	t_ok("after registering the second quarter the mapping is %d VMA%s (%s)",
	     vmas, vmas == 1 ? "" : "s",
	     vmas == 1 ? "libibverbs did not madvise" : "libibverbs madvised the quarter");
	T_CHECK(!want_split || vmas == 3,
	        "libibverbs' fork protection did not split the mapping (%d VMAs)",
	        vmas);
	exercise(quarter, p + QUARTER, QUARTER, 10, "the second quarter");

	whole = reg(p, BUF_SIZE, ACCESS_RW, "the whole mapping");
	exercise(whole, p, BUF_SIZE, 20, "the whole mapping");
	across = reg(p + QUARTER / 2, QUARTER, ACCESS_RW,
		     "a range across the quarter's start");
	exercise(across, p + QUARTER / 2, QUARTER, 30,
		 "a range across the quarter's start");
	dereg(quarter);
	dereg(whole);
	dereg(across);
	reg_exercise(p, BUF_SIZE, 40, "the whole mapping again");
}

int main(int argc, char **argv)
{
	uint64_t avail_before, avail_after, deadline;
	struct ibv_device **list;
	bool want_split;
	uint8_t *p;
	int ret;

	if (argc < 6 || argc > 7 ||
	    (strcmp(argv[4], "node") && strcmp(argv[4], "dmabuf")) ||
	    (strcmp(argv[5], "madvise") && strcmp(argv[5], "fork-init") &&
	     strcmp(argv[5], "fork-env")) ||
	    (argc == 7 && strcmp(argv[6], "split"))) {
		fprintf(stderr, "usage: fork-safe-reg-mr PROVIDER DEV0 DEV1 node|dmabuf madvise|fork-init|fork-env [split]\n");
		return 2;
	}
	provider = argv[1];
	memory = argv[4];
	mode = argv[5];
	want_split = argc == 7;
	snprintf(case_name, sizeof(case_name), "%s %s", memory, mode);
	t_case = case_name;

	if (!strcmp(mode, "fork-init")) {
		ret = ibv_fork_init();
		T_CHECK(!ret, "ibv_fork_init: %s", errname(ret));
		t_ok("ibv_fork_init() succeeded; ibv_is_fork_initialized() says %d",
		     (int)ibv_is_fork_initialized());
	} else if (!strcmp(mode, "fork-env")) {
		T_CHECK(getenv("RDMAV_FORK_SAFE"), "RDMAV_FORK_SAFE is not set");
	}

	ret = p2pmem_read_available(provider, &avail_before);
	T_CHECK(!ret, "p2pmem/available of %s: %s", provider, errname(-ret));
	list = t_open_pair(&a, &b, argv[2], argv[3]);
	host = mmap(NULL, 2 * BUF_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_CHECK(host != MAP_FAILED, "mmap of host memory: %s", errname(errno));
	host_mr = ibv_reg_mr(b.pd, host, 2 * BUF_SIZE, ACCESS_RW);
	T_CHECK(host_mr, "ibv_reg_mr of host memory: %s", errname(errno));

	p = map_buffer();
	if (!strcmp(mode, "madvise"))
		mode_madvise(p);
	else
		mode_fork(p, want_split);

	T_CHECK(!munmap(p, BUF_SIZE), "munmap: %s", errname(errno));
	dereg(host_mr);
	munmap(host, 2 * BUF_SIZE);
	t_close_pair(&a, &b, list);
	/* the memory goes back once the exporter has zeroed it, in a worker */
	deadline = t_now_ms() + RELEASE_WAIT_MS;
	for (;;) {
		ret = p2pmem_read_available(provider, &avail_after);
		T_CHECK(!ret, "p2pmem/available of %s: %s", provider,
		        errname(-ret));
		if (avail_after == avail_before)
			break;
		T_CHECK(t_now_ms() < deadline,
		        "%s: %" PRIu64 " bytes available %d ms after the release, %" PRIu64 " at the start",
		        provider, avail_after, RELEASE_WAIT_MS, avail_before);
		usleep(10000);
	}
	t_ok("%s: every registration worked; pool back to %" PRIu64 " bytes available",
	     provider, avail_after);
	return 0;
}
