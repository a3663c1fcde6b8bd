/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A syzkaller-style random call generator for the /dev/p2pmem UAPI.
 *
 *   p2pmem-fuzz [-s SEED] [-n CALLS] [-t SECONDS] [-l LOGFILE] [-p PROFILE]
 *               [-b BYTES] [-r]
 *   p2pmem-fuzz replay FILE [-l LOGFILE] [-r]
 *
 * Each call picks an operation and mostly-valid, sometimes garbage, arguments
 * over small pools of live objects: provider nodes (every /dev/p2pmem/<pci>),
 * dma-buf fds, CPU mappings of them and rxe0 MRs on them.  Operations:
 * open/close of nodes, P2PMEM_IOC_ALLOC, P2PMEM_IOC_MAP_QUERY, mmap, munmap
 * (whole, head, tail), mremap, madvise/mprotect, touching mapped bytes (SIGBUS
 * and SIGSEGV are caught), DMA_BUF_IOCTL_SYNC, lseek, dup, close,
 * ibv_reg_dmabuf_mr/ibv_dereg_mr on rxe0, unknown ioctls on nodes and
 * dma-bufs, poll/read/write/fstat, and "close everything in random order".
 * Every result is checked and counted; errors are expected.  Pools bound the
 * number of fds, mappings (at most MAP_MAX bytes each) and MRs.
 *
 * -p PROFILE weights the operations towards one area: all (default), mm
 * (mmap/munmap/mremap/madvise/touch), mr (rxe registration), alloc (pool
 * exhaustion, open/close), ioctl (garbage ioctls, MAP_QUERY, SYNC, lseek).
 *
 * -b BYTES (default 8192): budget of allocated (zeroed) bytes per call for the
 * big sizes; see gen_size().
 *
 * The PRNG is splitmix64 seeded with SEED; the generator looks at the pool
 * state, so one seed gives the same calls as long as the kernel answers the
 * same.  The log (-l) has one line per call, written and flushed before the
 * call and completed with its result after it:
 *
 *   <n> <op> <a0> <a1> <a2> <a3> <a4> <a5> = <ret> <errno>
 *
 * Arguments name pool slots, not fds, so "replay FILE" runs exactly the
 * logged calls again (a truncated last line, from a crash, is run too) and
 * counts the calls whose result differs from the log.
 *
 * Two results are failures, not counts: every successful ALLOC is mapped and
 * must read zero (the exporter zeroes memory between owners, and the fuzzer
 * dirties what it frees), and a SIGBUS from a mapping of a live provider's
 * buffer means the exporter took memory away that it still owes.  -r says a
 * provider may be removed during the run: then a SIGBUS (and a buffer that
 * cannot be mapped any more) is the expected revocation.
 *
 * At the end everything is closed in random order; totals (calls per op,
 * errno histogram) go to stdout.  Exit status 0 unless a check above failed
 * or the fuzzer itself went wrong (bad usage, an unexpected signal).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <linux/dma-buf.h>
#include <linux/p2pmem.h>

#include "t-report.h"

#define PAGE		4096ull
#define NODE_SLOTS	6
#define BUF_SLOTS	16
#define MAP_SLOTS	16
#define MR_SLOTS	16
#define MAP_MAX		(64ull << 20)	/* longest mapping asked for */
#define TOUCH_MAX	(64u << 10)	/* longest memset/read of a mapping */
#define MAX_NODES	16
#define MAX_PCI		64
#define MAX_ERRNO	256

enum op {
	OP_OPEN, OP_CLOSE_NODE, OP_ALLOC, OP_QUERY, OP_MMAP, OP_MUNMAP,
	OP_TOUCH, OP_SYNC, OP_LSEEK, OP_DUP, OP_CLOSE_BUF, OP_REG_MR,
	OP_DEREG_MR, OP_IOCTL_NODE, OP_IOCTL_BUF, OP_MISC, OP_MREMAP,
	OP_MADVISE, OP_CLOSE_ALL, OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"open", "close_node", "alloc", "query", "mmap", "munmap", "touch",
	"sync", "lseek", "dup", "close_buf", "reg_mr", "dereg_mr",
	"ioctl_node", "ioctl_buf", "misc", "mremap", "madvise", "close_all",
};

/* relative weights of the generator, per profile (-p) */
static unsigned op_weight[OP_COUNT] = {
	[OP_OPEN] = 30, [OP_CLOSE_NODE] = 12, [OP_ALLOC] = 110,
	[OP_QUERY] = 50, [OP_MMAP] = 90, [OP_MUNMAP] = 45, [OP_TOUCH] = 130,
	[OP_SYNC] = 50, [OP_LSEEK] = 25, [OP_DUP] = 25, [OP_CLOSE_BUF] = 60,
	[OP_REG_MR] = 70, [OP_DEREG_MR] = 40, [OP_IOCTL_NODE] = 35,
	[OP_IOCTL_BUF] = 35, [OP_MISC] = 30, [OP_MREMAP] = 20,
	[OP_MADVISE] = 25, [OP_CLOSE_ALL] = 2,
};

/* ---- state ------------------------------------------------------------- */

struct map {
	uint8_t *addr;		/* NULL: free slot */
	size_t len;
	int prot;
};

static int nodes[NODE_SLOTS], bufs[BUF_SLOTS];
static struct map maps[MAP_SLOTS];
static struct ibv_mr *mrs[MR_SLOTS];
static struct ibv_context *rxe;
static struct ibv_pd *pd;

static char node_path[MAX_NODES][300];
static int nnodes;
static struct { uint32_t domain; uint8_t bus, devfn; } pci[MAX_PCI];
static int npci;

static uint8_t scratch[2 * PAGE] __attribute__((aligned(4096)));
static uint8_t *noaccess;	/* a PROT_NONE page */

static uint64_t op_calls[OP_COUNT], op_ok[OP_COUNT], op_us[OP_COUNT];
static uint64_t errno_hist[MAX_ERRNO];
static uint64_t signals_caught, calls, mismatches, sig_hist[NSIG];
static uint64_t zero_budget = 8192, bytes_allocated;	/* see gen_size() */
static bool removal_expected;	/* -r */
#define ZERO_CHECK_FULL	(1u << 20)	/* read every byte of this much */
#define ZERO_CHECK_STRIDE 256		/* beyond it, one word per stride */

static FILE *logfp;

/* ---- PRNG: splitmix64 -------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rn(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned percent)
{
	return rn(100) < percent;
}

/* ---- signals of touched mappings ---------------------------------------- */

static sigjmp_buf touch_jmp;
static volatile sig_atomic_t touch_armed;

static void on_fault(int sig)
{
	if (touch_armed) {
		touch_armed = 0;
		siglongjmp(touch_jmp, sig);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- discovery ---------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void discover(void)
{
	DIR *d = opendir("/dev/p2pmem");
	struct dirent *e;

	while (d && (e = readdir(d)) && nnodes < MAX_NODES) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(node_path[nnodes++], sizeof(node_path[0]),
			 "/dev/p2pmem/%s", e->d_name);
	}
	if (d)
		closedir(d);
	qsort(node_path, nnodes, sizeof(node_path[0]), cmp_str);

	d = opendir("/sys/bus/pci/devices");
	while (d && (e = readdir(d)) && npci < MAX_PCI) {
		unsigned dom, bus, dev, fn;

		if (sscanf(e->d_name, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
			continue;
		pci[npci].domain = dom;
		pci[npci].bus = bus;
		pci[npci].devfn = (dev << 3) | fn;
		npci++;
	}
	if (d)
		closedir(d);
}

static void open_rxe(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	int i;

	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), "rxe0"))
			rxe = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	if (rxe)
		pd = ibv_alloc_pd(rxe);
	if (rxe && !pd)
		t_fail("rxe0: ibv_alloc_pd: %s", strerror(errno));
}

/* ---- helpers of the executor -------------------------------------------- */

static void close_slot(int *fd)
{
	if (*fd >= 0 && close(*fd))
		t_fail("close(%d): %s", *fd, strerror(errno));
	*fd = -1;
}

/* the "close" operation on a slot: EBADF when it holds nothing */
static long close_op(int *slot)
{
	long ret = *slot < 0 ? -1 : 0;

	if (*slot < 0)
		errno = EBADF;
	close_slot(slot);
	return ret;
}

static void unmap_slot(struct map *m)
{
	if (m->addr && munmap(m->addr, m->len))
		t_fail("munmap(%p, %zu): %s", (void *)m->addr, m->len,
		       strerror(errno));
	m->addr = NULL;
	m->len = 0;
}

static void dereg_slot(struct ibv_mr **mr)
{
	int err;

	if (*mr && (err = ibv_dereg_mr(*mr)))
		t_fail("ibv_dereg_mr: %s", strerror(err));
	*mr = NULL;
}

static void *ioctl_arg(uint64_t sel, uint64_t fill)
{
	uint64_t s = fill | 1;
	size_t i;

	for (i = 0; i < sizeof(scratch); i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		scratch[i] = (uint8_t)s;
	}
	switch (sel % 6) {
	case 0: return scratch;
	case 1: return NULL;
	case 2: return (void *)0xffffffff81000000ull;	/* kernel text */
	case 3: return noaccess;
	case 4: return scratch + sizeof(scratch) - 3;	/* runs off the end */
	default:					/* zeroes */
		memset(scratch, 0, sizeof(scratch));
		return scratch;
	}
}

/* the random ioctls must not be ones that create fds */
static bool creates_fd(unsigned long cmd)
{
	return cmd == P2PMEM_IOC_ALLOC
#ifdef DMA_BUF_IOCTL_EXPORT_SYNC_FILE
	       || cmd == DMA_BUF_IOCTL_EXPORT_SYNC_FILE
#endif
		;
}

static const int madv_table[] = {
	MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED,
	MADV_DONTNEED, MADV_REMOVE, MADV_DONTFORK, MADV_DOFORK,
	MADV_DONTDUMP, MADV_COLD, MADV_PAGEOUT, MADV_POPULATE_READ,
	MADV_POPULATE_WRITE, MADV_FREE,
};
#define NMADV	(sizeof(madv_table) / sizeof(madv_table[0]))

/* touch a mapping; a SIGBUS or SIGSEGV is the result, as -signal in *err */
static __attribute__((noinline)) long do_touch(const uint64_t a[6], int *err)
{
	struct map *m = &maps[a[0] % MAP_SLOTS];
	volatile long ret = 0;
	size_t off, n;
	int sig;

	if (!m->addr || !m->len) {
		*err = EINVAL;
		return -1;
	}
	off = a[1] % m->len;
	n = a[3] % TOUCH_MAX + 1;
	if (n > m->len - off)
		n = m->len - off;
	sig = sigsetjmp(touch_jmp, 1);
	if (sig) {
		signals_caught++;
		if (sig == SIGBUS && !removal_expected)
			t_fail("SIGBUS touching byte %zu of a %zu-byte mapping of a live provider's buffer",
			       off, m->len);
		*err = -sig;
		return -1;
	}
	touch_armed = 1;
	switch (a[2] % 6) {
	case 0:
		ret = *(volatile uint8_t *)(m->addr + off);
		break;
	case 1:
		*(volatile uint8_t *)(m->addr + off) = (uint8_t)a[4];
		break;
	case 2:
		ret = (long)(*(volatile uint64_t *)(m->addr + (off & ~7ul)) & 0xffff);
		break;
	case 3:
		*(volatile uint64_t *)(m->addr + (off & ~7ul)) = a[4];
		break;
	case 4:
		memset(m->addr + off, (int)(a[4] & 0xff), n);
		break;
	default: {
		uint8_t sum = 0;
		size_t i;

		for (i = 0; i < n; i += 64)
			sum += ((volatile uint8_t *)m->addr)[off + i];
		ret = sum;
	}
	}
	touch_armed = 0;
	return ret;
}

/*
 * A new buffer must read zero.  Every byte of the first ZERO_CHECK_FULL, and
 * one word per ZERO_CHECK_STRIDE after that: the fuzzer's writes (memsets
 * of up to TOUCH_MAX) are caught wherever a freed, dirtied range comes back,
 * at a bounded cost per call under emulation.
 */
static void check_new_buffer_zero(int fd, uint64_t size)
{
	volatile const uint8_t *p;
	volatile size_t i = 0;
	size_t full = size < ZERO_CHECK_FULL ? size : ZERO_CHECK_FULL;
	int sig;

	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		if (removal_expected)
			return;
		t_fail("a new %" PRIu64 "-byte buffer cannot be mapped: %s",
		       size, strerror(errno));
	}
	sig = sigsetjmp(touch_jmp, 1);
	if (sig) {
		munmap((void *)p, size);
		if (removal_expected && sig == SIGBUS)
			return;
		t_fail("signal %d reading byte %zu of a new %" PRIu64 "-byte buffer",
		       sig, (size_t)i, size);
	}
	touch_armed = 1;
	for (i = 0; i < full; i++)
		if (p[i])
			t_fail("byte %zu of a new %" PRIu64 "-byte buffer is %#x: memory not zeroed between owners",
			       (size_t)i, size, p[i]);
	for (i = full; i + 8 <= size; i += ZERO_CHECK_STRIDE)
		if (*(volatile const uint64_t *)(p + i))
			t_fail("bytes %zu..%zu of a new %" PRIu64 "-byte buffer are not zero: memory not zeroed between owners",
			       (size_t)i, (size_t)i + 7, size);
	touch_armed = 0;
	munmap((void *)p, size);
}

/* ---- the executor: one call, arguments from the generator or a log ------ */

/* Returns the syscall-ish result; *err is errno (or the signal, negated). */
static long execute(enum op op, const uint64_t a[6], int *err)
{
	long ret = 0;

	errno = 0;
	*err = 0;
	switch (op) {
	case OP_OPEN: {
		int *slot = &nodes[a[0] % NODE_SLOTS];
		int flags = (int)(a[2] & (O_ACCMODE | O_CLOEXEC | O_NONBLOCK |
					  O_APPEND | O_SYNC));
		const char *path = a[1] % (nnodes + 1) < (uint64_t)nnodes ?
			node_path[a[1] % (nnodes + 1)] : "/dev/p2pmem";

		close_slot(slot);
		ret = *slot = open(path, flags);
		break;
	}
	case OP_CLOSE_NODE:
		ret = close_op(&nodes[a[0] % NODE_SLOTS]);
		break;
	case OP_ALLOC: {
		struct p2pmem_alloc al = {
			.size = a[1], .fd_flags = (uint32_t)a[2],
			.flags = (uint32_t)a[3], .reserved = (uint32_t)a[4],
			.fd = (int32_t)(a[4] >> 32),
		};
		int *slot = &bufs[a[5] % BUF_SLOTS];

		close_slot(slot);
		ret = ioctl(nodes[a[0] % NODE_SLOTS], P2PMEM_IOC_ALLOC, &al);
		if (ret == 0) {
			if (al.fd < 0)
				t_fail("ALLOC returned 0 and fd %d", al.fd);
			bytes_allocated += al.size;
			*slot = al.fd;
			ret = al.fd;
			check_new_buffer_zero(al.fd, al.size);
		}
		break;
	}
	case OP_QUERY: {
		struct p2pmem_map_query q = {
			.reserved0 = (uint16_t)a[4], .reserved1 = (uint32_t)a[5],
			.mode = 0xdeadbeef, .distance = 12345,
		};

		if (npci && a[1] < (uint64_t)npci) {
			q.client_domain = pci[a[1]].domain;
			q.client_bus = pci[a[1]].bus;
			q.client_devfn = pci[a[1]].devfn;
		} else {
			q.client_domain = (uint32_t)a[2];
			q.client_bus = (uint8_t)a[3];
			q.client_devfn = (uint8_t)(a[3] >> 8);
		}
		ret = ioctl(nodes[a[0] % NODE_SLOTS], P2PMEM_IOC_MAP_QUERY, &q);
		if (ret == 0 && q.mode > P2PMEM_MAP_CPU)
			t_fail("MAP_QUERY: mode %u", q.mode);
		if (ret == 0)
			ret = q.mode;
		break;
	}
	case OP_MMAP: {
		int fd = bufs[a[0] % BUF_SLOTS];
		struct map *m = &maps[a[1] % MAP_SLOTS];
		size_t len = a[3] > MAP_MAX ? MAP_MAX : a[3];
		int prot = (int)(a[4] & (PROT_READ | PROT_WRITE | PROT_EXEC));
		int flags = (int)(a[5] & (MAP_SHARED | MAP_PRIVATE |
					  MAP_SHARED_VALIDATE | MAP_POPULATE |
					  MAP_NORESERVE | MAP_LOCKED |
					  MAP_NONBLOCK));
		void *p;

		unmap_slot(m);
		p = mmap(NULL, len, prot, flags, fd, (off_t)a[2]);
		if (p == MAP_FAILED) {
			ret = -1;
		} else {
			m->addr = p;
			m->len = len;
			m->prot = prot;
		}
		break;
	}
	case OP_MUNMAP: {
		struct map *m = &maps[a[0] % MAP_SLOTS];
		size_t pages = m->len / PAGE, k;

		if (!m->addr) {
			ret = -1;
			errno = EINVAL;
			break;
		}
		k = pages > 1 ? 1 + a[2] % (pages - 1) : 0;
		if (a[1] % 3 == 0 || !k) {
			unmap_slot(m);
		} else if (a[1] % 3 == 1) {	/* the tail */
			ret = munmap(m->addr + (pages - k) * PAGE, k * PAGE);
			if (!ret)
				m->len = (pages - k) * PAGE;
		} else {			/* the head */
			ret = munmap(m->addr, k * PAGE);
			if (!ret) {
				m->addr += k * PAGE;
				m->len -= k * PAGE;
			}
		}
		break;
	}
	case OP_TOUCH:
		ret = do_touch(a, err);
		if (*err)
			return ret;
		break;
	case OP_SYNC: {
		struct dma_buf_sync s = { .flags = a[1] };

		ret = ioctl(bufs[a[0] % BUF_SLOTS], DMA_BUF_IOCTL_SYNC, &s);
		break;
	}
	case OP_LSEEK:
		ret = lseek(bufs[a[0] % BUF_SLOTS], (off_t)a[1], (int)a[2]);
		break;
	case OP_DUP: {
		int fd = bufs[a[0] % BUF_SLOTS];
		int *slot = &bufs[a[1] % BUF_SLOTS];
		int nfd;

		if (slot == &bufs[a[0] % BUF_SLOTS]) {
			ret = -1;
			errno = EEXIST;
			break;
		}
		nfd = a[2] & 1 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : dup(fd);
		if (nfd >= 0) {
			close_slot(slot);
			*slot = nfd;
		}
		ret = nfd;
		break;
	}
	case OP_CLOSE_BUF:
		ret = close_op(&bufs[a[0] % BUF_SLOTS]);
		break;
	case OP_REG_MR: {
		struct ibv_mr **slot = &mrs[a[1] % MR_SLOTS];
		struct ibv_mr *mr;

		if (!pd) {
			ret = -1;
			errno = ENODEV;
			break;
		}
		dereg_slot(slot);
		mr = ibv_reg_dmabuf_mr(pd, a[2], a[3], a[4],
				       bufs[a[0] % BUF_SLOTS], (int)(uint32_t)a[5]);
		if (mr)
			*slot = mr;
		else
			ret = -1;
		break;
	}
	case OP_DEREG_MR: {
		struct ibv_mr **slot = &mrs[a[0] % MR_SLOTS];

		if (!*slot) {
			ret = -1;
			errno = EINVAL;
			break;
		}
		dereg_slot(slot);
		break;
	}
	case OP_IOCTL_NODE:
	case OP_IOCTL_BUF: {
		int fd = op == OP_IOCTL_NODE ? nodes[a[0] % NODE_SLOTS] :
					       bufs[a[0] % BUF_SLOTS];
		unsigned long cmd = (uint32_t)a[1];

		if (creates_fd(cmd)) {
			ret = -1;
			errno = EPERM;	/* never issued */
			break;
		}
		ret = ioctl(fd, cmd, ioctl_arg(a[2], a[3]));
		break;
	}
	case OP_MISC: {
		int fd = a[0] & 1 ? bufs[(a[0] >> 1) % BUF_SLOTS] :
				    nodes[(a[0] >> 1) % NODE_SLOTS];

		switch (a[1] % 5) {
		case 0: {
			struct pollfd p = { .fd = fd, .events = (short)a[2] };

			ret = poll(&p, 1, 0);
			if (ret > 0)
				ret = p.revents;
			break;
		}
		case 1:
			ret = read(fd, scratch, a[2] % sizeof(scratch));
			break;
		case 2:
			ret = write(fd, scratch, a[2] % sizeof(scratch));
			break;
		case 3: {
			struct stat st;

			ret = fstat(fd, &st);
			if (!ret)
				ret = (long)(st.st_size & 0x7fffffff);
			break;
		}
		default:
			ret = fcntl(fd, F_SETFL, (int)(a[2] & (O_NONBLOCK | O_APPEND)));
			break;
		}
		break;
	}
	case OP_MREMAP: {
		struct map *m = &maps[a[0] % MAP_SLOTS];
		size_t len = a[1] > MAP_MAX ? MAP_MAX : a[1];
		void *p;

		if (!m->addr) {
			ret = -1;
			errno = EINVAL;
			break;
		}
		p = mremap(m->addr, m->len, len, (int)(a[2] & MREMAP_MAYMOVE));
		if (p == MAP_FAILED) {
			ret = -1;
		} else {
			m->addr = p;
			m->len = len;
			if (!len)
				m->addr = NULL;
		}
		break;
	}
	case OP_MADVISE: {
		struct map *m = &maps[a[0] % MAP_SLOTS];
		size_t pages = m->len / PAGE, off, n;

		if (!m->addr || !pages) {
			ret = -1;
			errno = EINVAL;
			break;
		}
		off = a[2] % pages;
		n = a[3] % (pages - off) + 1;
		if (a[1] % (NMADV + 1) < NMADV) {
			ret = madvise(m->addr + off * PAGE, n * PAGE,
				      madv_table[a[1] % (NMADV + 1)]);
		} else {
			/* mprotect of the whole mapping keeps the bookkeeping simple */
			int prot = (int)(a[4] & (PROT_READ | PROT_WRITE));

			ret = mprotect(m->addr, m->len, prot);
			if (!ret)
				m->prot = prot;
		}
		break;
	}
	case OP_CLOSE_ALL: {
		/* a random order of every object, MRs included */
		int order[NODE_SLOTS + BUF_SLOTS + MAP_SLOTS + MR_SLOTS];
		int n = (int)(sizeof(order) / sizeof(order[0])), i;
		uint64_t s = a[0] | 1;

		for (i = 0; i < n; i++)
			order[i] = i;
		for (i = n - 1; i > 0; i--) {
			int j, t;

			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			j = (int)(s % (uint64_t)(i + 1));
			t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (i = 0; i < n; i++) {
			int k = order[i];

			if (k < NODE_SLOTS)
				close_slot(&nodes[k]);
			else if ((k -= NODE_SLOTS) < BUF_SLOTS)
				close_slot(&bufs[k]);
			else if ((k -= BUF_SLOTS) < MAP_SLOTS)
				unmap_slot(&maps[k]);
			else
				dereg_slot(&mrs[k - MAP_SLOTS]);
		}
		break;
	}
	default:
		ret = -1;
		errno = ENOSYS;
	}
	if (ret < 0 && *err == 0)
		*err = errno ? errno : EIO;
	return ret;
}

/* ---- the generator ------------------------------------------------------ */

static int pick_live(const void *pool, int n, size_t elem, bool (*live)(const void *))
{
	int i, cnt = 0, k;

	for (i = 0; i < n; i++)
		cnt += live((const char *)pool + i * elem);
	if (!cnt || chance(8))
		return (int)rn(n);
	k = (int)rn(cnt);
	for (i = 0; i < n; i++)
		if (live((const char *)pool + i * elem) && k-- == 0)
			return i;
	return 0;
}

static int pick_free(const void *pool, int n, size_t elem, bool (*live)(const void *))
{
	int i, k = (int)rn(n);

	for (i = 0; i < n; i++) {
		int j = (k + i) % n;

		if (!live((const char *)pool + j * elem))
			return j;
	}
	return k;	/* full: the executor releases the occupant */
}

static bool fd_live(const void *p) { return *(const int *)p >= 0; }
static bool map_live(const void *p) { return ((const struct map *)p)->addr != NULL; }
static bool mr_live(const void *p) { return *(struct ibv_mr *const *)p != NULL; }

#define LIVE_NODE()	pick_live(nodes, NODE_SLOTS, sizeof(int), fd_live)
#define LIVE_BUF()	pick_live(bufs, BUF_SLOTS, sizeof(int), fd_live)
#define LIVE_MAP()	pick_live(maps, MAP_SLOTS, sizeof(struct map), map_live)
#define LIVE_MR()	pick_live(mrs, MR_SLOTS, sizeof(void *), mr_live)
#define FREE_NODE()	pick_free(nodes, NODE_SLOTS, sizeof(int), fd_live)
#define FREE_BUF()	pick_free(bufs, BUF_SLOTS, sizeof(int), fd_live)
#define FREE_MAP()	pick_free(maps, MAP_SLOTS, sizeof(struct map), map_live)
#define FREE_MR()	pick_free(mrs, MR_SLOTS, sizeof(void *), mr_live)

/*
 * Every allocation is zeroed with memset_io(), which under TCG runs at tens of
 * MB/s on an emulated BAR: the generator asks for big sizes (1 MiB and up,
 * down to pool exhaustion) only while the bytes it got so far stay within
 * zero_budget bytes per call (-b).  Deterministic like the rest: it only looks
 * at the results of earlier calls.
 */
/* a size: mostly pages, sometimes 0, 1, odd, huge, overflowing */
static uint64_t gen_size(void)
{
	bool big = bytes_allocated <= zero_budget * calls;

	switch (rn(16)) {
	case 0: return 0;
	case 1: return 1 + rn(PAGE);
	case 2: return PAGE * (1 + rn(256)) + rn(2) * rn(PAGE);
	case 3: return big ? (1ull << 20) << rn(5) : PAGE;	/* 1..16 MiB */
	case 4: return (uint64_t)-1 - rn(2 * PAGE);		/* overflow */
	case 5: return 1ull << (32 + rn(30));			/* huge */
	case 6: return rnd();
	case 7: return big ? (1ull << 26) - rn(2) * (1ull << 24) + rn(2) * PAGE :
			     PAGE * 2;				/* exhaustion */
	default: return PAGE * (1 + rn(16));
	}
}

static uint64_t gen_offset(void)
{
	switch (rn(8)) {
	case 0: return rnd();
	case 1: return rn(PAGE * 32);				/* unaligned */
	case 2: return (uint64_t)-PAGE;
	case 3: case 4: return PAGE * rn(16);
	default: return 0;
	}
}

static uint32_t gen_ioctl_cmd(uint32_t magic)
{
	unsigned dir = (unsigned)rn(4), nr, size;

	switch (rn(6)) {
	case 0: return (uint32_t)rnd();
	case 1: return P2PMEM_IOC_MAP_QUERY ^ (1u << rn(32));	/* one bit off */
	case 2: return DMA_BUF_SET_NAME;
	case 3: nr = (unsigned)rn(8); break;
	default: nr = (unsigned)rn(256); break;
	}
	size = rn(3) ? (unsigned)rn(64) : (unsigned)rn(1u << 14);
	return (uint32_t)_IOC(dir, rn(4) ? magic : (unsigned)rn(256), nr, size);
}

/* -p PROFILE: shift the weights towards one area */
static void set_profile(const char *p)
{
	static const struct { const char *name; enum op ops[6]; } prof[] = {
		{ "mm", { OP_MMAP, OP_MUNMAP, OP_TOUCH, OP_MREMAP, OP_MADVISE, OP_CLOSE_BUF } },
		{ "mr", { OP_REG_MR, OP_DEREG_MR, OP_CLOSE_BUF, OP_DUP, OP_ALLOC, OP_TOUCH } },
		{ "alloc", { OP_ALLOC, OP_CLOSE_BUF, OP_OPEN, OP_CLOSE_NODE, OP_DUP, OP_CLOSE_ALL } },
		{ "ioctl", { OP_IOCTL_NODE, OP_IOCTL_BUF, OP_QUERY, OP_SYNC, OP_LSEEK, OP_MISC } },
	};
	size_t i, j;

	if (!strcmp(p, "all"))
		return;
	for (i = 0; i < sizeof(prof) / sizeof(prof[0]); i++) {
		if (strcmp(p, prof[i].name))
			continue;
		for (j = 0; j < 6; j++)
			op_weight[prof[i].ops[j]] *= 4;
		return;
	}
	t_fail("unknown profile %s (all, mm, mr, alloc, ioctl)", p);
}

static enum op gen_op(void)
{
	static unsigned total;
	unsigned r, i;

	if (!total)
		for (i = 0; i < OP_COUNT; i++)
			total += op_weight[i];
	r = (unsigned)rn(total);
	for (i = 0; i < OP_COUNT; i++) {
		if (r < op_weight[i])
			return (enum op)i;
		r -= op_weight[i];
	}
	return OP_TOUCH;
}

static enum op generate(uint64_t a[6])
{
	enum op op = gen_op();
	int b;

	memset(a, 0, 6 * sizeof(a[0]));
	switch (op) {
	case OP_OPEN:
		a[0] = FREE_NODE();
		a[1] = chance(95) ? rn(nnodes) : (uint64_t)nnodes;
		a[2] = chance(85) ? (O_RDWR | O_CLOEXEC) : rnd();
		break;
	case OP_CLOSE_NODE:
		a[0] = LIVE_NODE();
		break;
	case OP_ALLOC:
		a[0] = LIVE_NODE();
		a[1] = gen_size();
		a[2] = chance(85) ? (rn(2) ? (O_RDWR | O_CLOEXEC) : O_RDWR) :
		       chance(50) ? (1u << rn(32)) : rnd();
		a[3] = chance(90) ? 0 : rnd();
		a[4] = chance(90) ? rnd() & ~0xffffffffull : rnd();
		a[5] = FREE_BUF();
		break;
	case OP_QUERY:
		a[0] = LIVE_NODE();
		a[1] = chance(80) ? rn(npci) : (uint64_t)npci + rn(8);
		a[2] = chance(70) ? 0 : chance(50) ? rn(4) : rnd();
		a[3] = rnd();
		a[4] = chance(90) ? 0 : rnd();
		a[5] = chance(90) ? 0 : rnd();
		break;
	case OP_MMAP:
		a[0] = LIVE_BUF();
		a[1] = FREE_MAP();
		a[2] = gen_offset();
		a[3] = chance(70) ? PAGE * (1 + rn(16)) : gen_size();
		a[4] = chance(80) ? (PROT_READ | PROT_WRITE) : rn(8);
		a[5] = chance(80) ? MAP_SHARED :
		       chance(50) ? MAP_PRIVATE : rnd();
		break;
	case OP_MUNMAP:
		a[0] = LIVE_MAP();
		a[1] = rn(3);
		a[2] = rnd();
		break;
	case OP_TOUCH:
		a[0] = LIVE_MAP();
		a[1] = rnd();
		a[2] = rn(6);
		a[3] = rn(4) ? rn(256) : rnd();
		a[4] = rnd();
		break;
	case OP_SYNC:
		a[0] = LIVE_BUF();
		a[1] = chance(80) ? (rn(2) ? DMA_BUF_SYNC_END : DMA_BUF_SYNC_START) |
				    (1 + rn(3)) : rnd();
		break;
	case OP_LSEEK:
		a[0] = LIVE_BUF();
		a[1] = chance(60) ? 0 : gen_offset();
		a[2] = chance(90) ? rn(5) : rnd();
		break;
	case OP_DUP:
		a[0] = LIVE_BUF();
		a[1] = FREE_BUF();
		a[2] = rn(2);
		break;
	case OP_CLOSE_BUF:
		a[0] = LIVE_BUF();
		break;
	case OP_REG_MR:
		b = LIVE_BUF();
		a[0] = (uint64_t)b;
		a[1] = FREE_MR();
		a[2] = chance(70) ? 0 : gen_offset();
		a[3] = chance(70) ? PAGE * (1 + rn(16)) : gen_size();
		a[4] = chance(50) ? a[2] : rnd();
		a[5] = chance(85) ? rn(16) /* LOCAL/REMOTE W/R/ATOMIC */ : rnd();
		break;
	case OP_DEREG_MR:
		a[0] = LIVE_MR();
		break;
	case OP_IOCTL_NODE:
		a[0] = LIVE_NODE();
		a[1] = gen_ioctl_cmd(P2PMEM_IOC_MAGIC);
		a[2] = rn(6);
		a[3] = rnd();
		break;
	case OP_IOCTL_BUF:
		a[0] = LIVE_BUF();
		a[1] = gen_ioctl_cmd(DMA_BUF_BASE);
		a[2] = rn(6);
		a[3] = rnd();
		break;
	case OP_MISC:
		a[0] = rn(2) ? ((uint64_t)LIVE_BUF() << 1 | 1) :
			       (uint64_t)LIVE_NODE() << 1;
		a[1] = rn(5);
		a[2] = rnd();
		break;
	case OP_MREMAP:
		a[0] = LIVE_MAP();
		a[1] = chance(80) ? PAGE * rn(32) : gen_size();
		a[2] = rn(2);
		break;
	case OP_MADVISE:
		a[0] = LIVE_MAP();
		a[1] = rn(NMADV + 1);
		a[2] = rnd();
		a[3] = rnd();
		a[4] = rn(4);
		break;
	case OP_CLOSE_ALL:
		a[0] = rnd();
		break;
	default:
		break;
	}
	return op;
}

/* ---- driver ------------------------------------------------------------- */

static const char *errno_label(int e)
{
	static char buf[32];

	if (e < 0) {
		snprintf(buf, sizeof(buf), "SIG%s", sigabbrev_np(-e) ? sigabbrev_np(-e) : "?");
		return buf;
	}
	if (e == 0)
		return "0";
	return strerrorname_np(e) ? strerrorname_np(e) : "E?";
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void count(enum op op, long ret, int err)
{
	calls++;
	op_calls[op]++;
	if (ret >= 0 && err == 0) {
		op_ok[op]++;
		errno_hist[0]++;
	} else if (err < 0) {
		sig_hist[-err < NSIG ? -err : 0]++;
	} else {
		errno_hist[err < MAX_ERRNO ? err : MAX_ERRNO - 1]++;
	}
}

static void log_call(uint64_t n, enum op op, const uint64_t a[6])
{
	if (!logfp)
		return;
	fprintf(logfp, "%" PRIu64 " %s %#" PRIx64 " %#" PRIx64 " %#" PRIx64
		" %#" PRIx64 " %#" PRIx64 " %#" PRIx64, n, op_names[op],
		a[0], a[1], a[2], a[3], a[4], a[5]);
	fflush(logfp);
}

static void log_result(long ret, int err)
{
	if (!logfp)
		return;
	fprintf(logfp, " = %ld %s\n", ret, errno_label(err));
	if (ferror(logfp))
		t_fail("writing the log: %s", strerror(errno));
}

static void close_everything(uint64_t order)
{
	uint64_t a[6] = { order };
	int err;

	execute(OP_CLOSE_ALL, a, &err);
}

static void report(const char *what, uint64_t ms)
{
	int i;

	printf("%s: %" PRIu64 " calls in %" PRIu64 " ms, %" PRIu64
	       " signals caught in touched mappings, %" PRIu64 " MiB allocated\n",
	       what, calls, ms, signals_caught, bytes_allocated >> 20);
	printf("per op (calls/succeeded):");
	for (i = 0; i < OP_COUNT; i++)
		printf(" %s=%" PRIu64 "/%" PRIu64, op_names[i], op_calls[i], op_ok[i]);
	printf("\nms per op:");
	for (i = 0; i < OP_COUNT; i++)
		printf(" %s=%" PRIu64, op_names[i], op_us[i] / 1000);
	printf("\nerrno histogram:");
	for (i = 0; i < MAX_ERRNO; i++) {
		if (!errno_hist[i])
			continue;
		if (i == 0)
			printf(" ok=%" PRIu64, errno_hist[i]);
		else
			printf(" %s=%" PRIu64, errno_label(i), errno_hist[i]);
	}
	for (i = 0; i < NSIG; i++)
		if (sig_hist[i])
			printf(" %s=%" PRIu64, errno_label(-i), sig_hist[i]);
	printf("\n");
	fflush(stdout);
}

static void setup(void)
{
	struct sigaction sa;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (i = 0; i < NODE_SLOTS; i++)
		nodes[i] = -1;
	for (i = 0; i < BUF_SLOTS; i++)
		bufs[i] = -1;
	noaccess = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (noaccess == MAP_FAILED)
		t_fail("mmap: %s", strerror(errno));
	discover();
	open_rxe();
	printf("p2pmem-fuzz: %d provider node(s)", nnodes);
	for (i = 0; i < nnodes; i++)
		printf(" %s", node_path[i]);
	printf(", %d PCI functions, rxe0 %s\n", npci, pd ? "open" : "absent");
	fflush(stdout);
}

static void teardown(void)
{
	close_everything(rnd());
	if (pd && ibv_dealloc_pd(pd))
		t_fail("ibv_dealloc_pd");
	if (rxe && ibv_close_device(rxe))
		t_fail("ibv_close_device");
	if (logfp && fclose(logfp))
		t_fail("closing the log: %s", strerror(errno));
}

static int op_by_name(const char *s)
{
	int i;

	for (i = 0; i < OP_COUNT; i++)
		if (!strcmp(s, op_names[i]))
			return i;
	return -1;
}

static int replay(const char *file)
{
	FILE *f = fopen(file, "r");
	char line[512], name[32], res[64];
	uint64_t start = t_now_ms(), n, a[6];
	long want;
	int op, err, k;

	if (!f)
		t_fail("%s: %s", file, strerror(errno));
	rng_state = 0;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		k = sscanf(line, "%" SCNu64 " %31s %" SCNx64 " %" SCNx64 " %" SCNx64
			   " %" SCNx64 " %" SCNx64 " %" SCNx64 " = %ld %63s", &n, name,
			   &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &want, res);
		if (k < 8)
			continue;
		if ((op = op_by_name(name)) < 0)
			t_fail("%s: unknown op %s", file, name);
		log_call(n, (enum op)op, a);
		uint64_t t0 = now_us();
		long ret = execute((enum op)op, a, &err);

		op_us[op] += now_us() - t0;

		log_result(ret, err);
		count((enum op)op, ret, err);
		/* fd numbers differ: the replay holds FILE open */
		if (k == 10 && (op == OP_OPEN || op == OP_ALLOC || op == OP_DUP) &&
		    want >= 0 && ret >= 0)
			want = ret;
		if (k == 10 && (want != ret || strcmp(res, errno_label(err))))
			mismatches++;
	}
	fclose(f);
	teardown();
	report("replay", t_now_ms() - start);
	printf("replay: %" PRIu64 " calls with a result other than the log's\n",
	       mismatches);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: p2pmem-fuzz [-s SEED] [-n CALLS] [-t SECONDS] [-l LOGFILE] [-p all|mm|mr|alloc|ioctl] [-b BYTES] [-r]\n"
			"       p2pmem-fuzz replay FILE [-l LOGFILE] [-r]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t seed = 1, ncalls = 10000, secs = 0, start, i, a[6];
	const char *logname = NULL, *replay_file = NULL, *profile = "all";
	int c;

	if (argc > 2 && !strcmp(argv[1], "replay")) {
		replay_file = argv[2];
		argc -= 2;
		argv += 2;
	}
	while ((c = getopt(argc, argv, "s:n:t:l:p:b:r")) != -1) {
		switch (c) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'n': ncalls = strtoull(optarg, NULL, 0); break;
		case 't': secs = strtoull(optarg, NULL, 0); break;
		case 'l': logname = optarg; break;
		case 'p': profile = optarg; break;
		case 'b': zero_budget = strtoull(optarg, NULL, 0); break;
		case 'r': removal_expected = true; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (logname && !(logfp = fopen(logname, "w")))
		t_fail("%s: %s", logname, strerror(errno));

	set_profile(profile);
	setup();
	if (replay_file)
		return replay(replay_file);

	rng_state = seed;
	if (logfp)
		fprintf(logfp, "# p2pmem-fuzz -s %" PRIu64 " -n %" PRIu64 " -p %s -b %" PRIu64 "\n",
			seed, ncalls, profile, zero_budget);
	start = t_now_ms();
	for (i = 0; i < ncalls; i++) {
		enum op op;
		uint64_t t0;
		long ret;
		int err;

		if (secs && (i & 63) == 0 && t_now_ms() - start >= secs * 1000)
			break;
		op = generate(a);
		log_call(i, op, a);
		t0 = now_us();
		ret = execute(op, a, &err);
		op_us[op] += now_us() - t0;
		log_result(ret, err);
		count(op, ret, err);
	}
	teardown();
	printf("seed %" PRIu64 " profile %s: ", seed, profile);
	report("fuzz", t_now_ms() - start);
	return 0;
}
