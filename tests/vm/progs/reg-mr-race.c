// SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB)
/*
 * Registration by address of P2P memory against concurrent changes of the
 * address space (issue 17), and the cost of deregistering such an MR.
 *
 *   reg-mr-race PROVIDER RDMA-DEV race MODE ROUNDS
 *   reg-mr-race PROVIDER RDMA-DEV private
 *   reg-mr-race PROVIDER RDMA-DEV dereg-time REPS MAX-RATIO MAX-MEDIAN-US
 *   reg-mr-race PROVIDER RDMA-DEV host-lock REPS
 *
 * PROVIDER is the PCI name of a device with /dev/p2pmem/PROVIDER, RDMA-DEV
 * an rxe device.  Only libibverbs is used, as a program that knows nothing
 * of P2P memory would: plain ibv_reg_mr() on a pointer.
 *
 * race MODE: each round maps a buffer of P2P memory (even rounds: mmap() of
 * the node; odd rounds: P2PMEM_IOC_ALLOC, mmap() of the dma-buf, the fd
 * closed, so the mapping is the only handle either way) and registers it
 * with ibv_reg_mr() while a second thread changes the range; one of the two
 * first waits a random time of up to what a registration takes:
 *   munmap  unmaps it; every other round maps anonymous memory in its place
 *           (MAP_FIXED), so that the kernel may find host memory where it
 *           failed to pin P2P memory a moment before
 *   mremap  moves it elsewhere; every other round shrinks it instead
 *   fork    forks a child that reads the mapping and exits
 * A registration must succeed or fail with EFAULT (the range went away or
 * changed); in fork mode it must succeed.  Every MR deregisters.  Both
 * outcomes must occur (munmap and mremap), or the race was not exercised.
 * At the end the provider's available bytes are back: no buffer leaked.
 *
 * private: a MAP_PRIVATE mapping of the node and of a dma-buf is refused by
 * mmap() (EINVAL), or, made anyway, is never registered as the buffer: its
 * pages may be copies made on write, which the device would not see.
 *
 * dereg-time: the median time of ibv_dereg_mr() of an MR on P2P memory
 * (registered by address) against one on touched host memory of the same
 * size (4 KiB and 1 MiB), REPS interleaved samples each; fails when the
 * P2P median exceeds MAX-RATIO times the host median, or either median
 * exceeds MAX-MEDIAN-US (a grace period per MR is some milliseconds).
 *
 * host-lock: ibv_reg_mr() of touched host memory must not wait for the
 * mmap lock: its pages are pinned without it, and only a range the pinning
 * path cannot serve is looked up as a dma-buf mapping, under the lock.  The
 * median registration time of a 4 KiB buffer, REPS samples, while another
 * thread keeps the mmap lock taken for writing with mprotect() over a large
 * populated region, must stay below the quiet median plus a quarter of one
 * mprotect() call.
 *
 * Output: "ok: ..." lines; "FAIL: ..." and exit status 1 on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <linux/p2pmem.h>

#include "p2pmem-client.h"
#include "t-report.h"

#define PAGE		4096u
#define BUF_SIZE	(4 * PAGE)
#define ACCESS		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)
#define RELEASE_WAIT_MS	10000

static const char *provider;
static int node = -1;
static struct ibv_context *ctx;
static struct ibv_pd *pd;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t available(void)
{
	uint64_t v = 0;
	int err = p2pmem_read_available(provider, &v);

	T_CHECK(!err, "%s: p2pmem/available: %s", provider, strerror(-err));
	return v;
}

/* The buffers' memory returns when the last reference goes, maybe later */
static void check_available(uint64_t before)
{
	uint64_t deadline = t_now_ms() + RELEASE_WAIT_MS, now;

	while ((now = available()) != before) {
		T_CHECK(t_now_ms() < deadline,
			"available %" PRIu64 " bytes %d ms after the last release, %"
			PRIu64 " before: memory leaked", now, RELEASE_WAIT_MS, before);
		usleep(10000);
	}
	t_ok("nothing leaked: available back at %" PRIu64 " bytes", now);
}

static void open_device(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	char path[256];
	int i;

	T_CHECK(list, "ibv_get_device_list: %s", strerror(errno));
	for (i = 0; list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	T_CHECK(ctx, "RDMA device %s: not found or not opened", name);
	pd = ibv_alloc_pd(ctx);
	T_CHECK(pd, "ibv_alloc_pd: %s", strerror(errno));

	snprintf(path, sizeof(path), "/dev/p2pmem/%s", provider);
	node = open(path, O_RDWR | O_CLOEXEC);
	T_CHECK(node >= 0, "open(%s): %s", path, strerror(errno));
}

/* A fresh buffer whose only handle is the returned mapping */
static void *map_buffer(size_t len, int through_node)
{
	void *p;
	int fd;

	if (through_node) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, node, 0);
		T_CHECK(p != MAP_FAILED, "mmap of the node: %s", strerror(errno));
		return p;
	}
	fd = p2pmem_try_alloc(node, len, O_RDWR | O_CLOEXEC, 0);
	T_CHECK(fd >= 0, "P2PMEM_IOC_ALLOC: %s", strerror(-fd));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T_CHECK(p != MAP_FAILED, "mmap of the dma-buf: %s", strerror(errno));
	close(fd);
	return p;
}

/* ---- race --------------------------------------------------------------- */

enum race_mode { RACE_MUNMAP, RACE_MREMAP, RACE_FORK };

/* What the racing thread does in one round, and what it did */
static struct {
	enum race_mode mode;
	sem_t go;		/* posted when a round starts */
	sem_t done;		/* posted when the change is made */
	int stop;		/* set before the last go */
	void *addr;		/* the buffer's mapping */
	void *spare;		/* a reserved range to move it to (mremap) */
	uint64_t delay_ns;	/* before acting, after the wake-up */
	unsigned int variant;	/* round & 1: which way to change the range */
	void *now_at;		/* where the buffer's mapping ended up */
	size_t now_len;		/* and its length */
	pid_t child;		/* fork */
	int err;		/* errno of the change, or 0 */
} racer;

static void race_change(void)
{
	void *p = racer.addr, *q;

	racer.now_at = p;
	racer.now_len = BUF_SIZE;
	racer.err = 0;
	switch (racer.mode) {
	case RACE_MUNMAP:
		if (munmap(p, BUF_SIZE)) {
			racer.err = errno;
			break;
		}
		racer.now_at = NULL;
		if (racer.variant) {
			/* NOREPLACE: whatever took the range meanwhile stays */
			q = mmap(p, BUF_SIZE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
				 -1, 0);
			if (q != MAP_FAILED)
				racer.now_at = q;	/* host memory, not P2P */
			else if (errno != EEXIST)
				racer.err = errno;
		}
		break;
	case RACE_MREMAP:
		if (racer.variant)
			q = mremap(p, BUF_SIZE, BUF_SIZE,
				   MREMAP_MAYMOVE | MREMAP_FIXED, racer.spare);
		else
			q = mremap(p, BUF_SIZE, BUF_SIZE / 2, 0);
		if (q == MAP_FAILED) {
			racer.err = errno;
			break;
		}
		racer.now_at = q;
		racer.now_len = racer.variant ? BUF_SIZE : BUF_SIZE / 2;
		break;
	case RACE_FORK:
		racer.child = fork();
		if (racer.child < 0) {
			racer.err = errno;
		} else if (racer.child == 0) {
			/* the child's copy of the mapping faults in */
			_exit(*(volatile uint8_t *)p == 0 ? 0 : 3);
		}
		break;
	}
}

static void spin_ns(uint64_t ns)
{
	uint64_t until = now_ns() + ns;

	while (now_ns() < until)
		;
}

/*
 * Both threads sleep between rounds: spinning ones would starve the
 * kernel's own work (rxe tasks, RCU callbacks) on the guest's two CPUs.
 */
static void *racer_thread(void *arg)
{
	(void)arg;
	for (;;) {
		while (sem_wait(&racer.go))
			;
		if (racer.stop)
			return NULL;
		spin_ns(racer.delay_ns);
		race_change();
		sem_post(&racer.done);
	}
}

/* Median time of one ibv_reg_mr() + ibv_dereg_mr() pair of a buffer */
static uint64_t reg_time_ns(void)
{
	uint64_t t[15], t0, v;
	unsigned int i, j;
	struct ibv_mr *mr;
	void *p;

	for (i = 0; i < 15; i++) {
		p = map_buffer(BUF_SIZE, !(i & 1));
		t0 = now_ns();
		mr = ibv_reg_mr(pd, p, BUF_SIZE, ACCESS);
		t[i] = now_ns() - t0;
		T_CHECK(mr, "ibv_reg_mr of a P2P mapping: %s", strerror(errno));
		T_CHECK(!ibv_dereg_mr(mr), "ibv_dereg_mr: %s", strerror(errno));
		munmap(p, BUF_SIZE);
		for (j = i; j > 0 && t[j - 1] > t[j]; j--) {
			v = t[j];
			t[j] = t[j - 1];
			t[j - 1] = v;
		}
	}
	return t[7];
}

static void race(enum race_mode mode, unsigned int rounds)
{
	static const char *const names[] = { "munmap", "mremap", "fork" };
	unsigned int round, registered = 0, refused = 0;
	uint64_t before = available(), reg_ns, start;
	struct ibv_mr *mr;
	int64_t delay;
	pthread_t thread;
	int status;

	racer.mode = mode;
	reg_ns = reg_time_ns();
	t_ok("%s: a registration of a %u-byte mapping takes %" PRIu64 " us",
	     names[mode], BUF_SIZE, reg_ns / 1000);
	racer.spare = mmap(NULL, BUF_SIZE, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_CHECK(racer.spare != MAP_FAILED, "mmap: %s", strerror(errno));
	T_CHECK(!sem_init(&racer.go, 0, 0) && !sem_init(&racer.done, 0, 0),
		"sem_init: %s", strerror(errno));
	T_CHECK(!pthread_create(&thread, NULL, racer_thread, NULL),
		"pthread_create failed");
	srand(17);

	start = t_now_ms();
	for (round = 1; round <= rounds; round++) {
		racer.addr = map_buffer(BUF_SIZE, !(round & 1));
		racer.variant = (round >> 1) & 1;
		/* one of the two waits, up to a registration's time */
		delay = (int64_t)((uint64_t)rand() % (2 * reg_ns + 1)) -
			(int64_t)reg_ns;
		racer.delay_ns = delay > 0 ? (uint64_t)delay : 0;
		sem_post(&racer.go);
		if (delay < 0)
			spin_ns((uint64_t)-delay);
		mr = ibv_reg_mr(pd, racer.addr, BUF_SIZE, ACCESS);
		if (!mr && (mode == RACE_FORK || errno != EFAULT))
			t_fail("%s round %u: ibv_reg_mr: %s, expected %s",
			       names[mode], round, strerror(errno),
			       mode == RACE_FORK ? "success" : "success or EFAULT");
		if (mr)
			registered++;
		else
			refused++;
		while (sem_wait(&racer.done))
			;
		T_CHECK(!racer.err, "%s round %u: the change failed: %s",
			names[mode], round, strerror(racer.err));
		if (mr)
			T_CHECK(!ibv_dereg_mr(mr), "%s round %u: ibv_dereg_mr: %s",
				names[mode], round, strerror(errno));
		if (mode == RACE_FORK) {
			T_CHECK(waitpid(racer.child, &status, 0) == racer.child,
				"waitpid: %s", strerror(errno));
			T_CHECK(WIFEXITED(status) && !WEXITSTATUS(status),
				"fork round %u: the child read the mapping and ended with status %#x",
				round, status);
		}
		if (racer.now_at)
			T_CHECK(!munmap(racer.now_at, racer.now_len), "munmap: %s",
				strerror(errno));
		if (mode == RACE_MREMAP && racer.variant) {
			/* the move took the spare range: reserve one again */
			racer.spare = mmap(NULL, BUF_SIZE, PROT_NONE,
					   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			T_CHECK(racer.spare != MAP_FAILED, "mmap: %s",
				strerror(errno));
		}
		if (round % 2000 == 0)
			printf("%s: %u rounds, %u registered, %u EFAULT\n",
			       names[mode], round, registered, refused);
	}
	racer.stop = 1;
	sem_post(&racer.go);
	pthread_join(thread, NULL);
	munmap(racer.spare, BUF_SIZE);

	t_ok("%s: %u rounds in %" PRIu64 " s: %u registered, %u EFAULT, every MR deregistered",
	     names[mode], rounds, (t_now_ms() - start) / 1000, registered, refused);
	if (mode != RACE_FORK)
		T_CHECK(registered && refused,
			"%s: the change never came %s the registration: the race was not exercised",
			names[mode], registered ? "before" : "after");
	check_available(before);
}

/* ---- private ------------------------------------------------------------ */

/* A MAP_PRIVATE mapping must never stand for the buffer */
static void private_mapping(const char *what, int fd)
{
	struct ibv_mr *mr;
	void *p;

	p = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		T_CHECK(errno == EINVAL, "MAP_PRIVATE mapping of %s: %s, expected EINVAL",
			what, strerror(errno));
		t_ok("a MAP_PRIVATE mapping of %s is refused: EINVAL", what);
		return;
	}
	/* only touch nothing: faults of a private PFN mapping are not ours */
	mr = ibv_reg_mr(pd, p, BUF_SIZE, IBV_ACCESS_LOCAL_WRITE);
	if (mr) {
		ibv_dereg_mr(mr);
		t_fail("ibv_reg_mr of a MAP_PRIVATE mapping of %s registered the buffer",
		       what);
	}
	T_CHECK(errno == EFAULT, "ibv_reg_mr of a MAP_PRIVATE mapping of %s: %s, expected EFAULT",
		what, strerror(errno));
	munmap(p, BUF_SIZE);
	t_ok("a MAP_PRIVATE mapping of %s is not registered as the buffer: EFAULT",
	     what);
}

static void private_mappings(void)
{
	uint64_t before = available();
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/dev/p2pmem/%s", provider);
	private_mapping(path, node);
	fd = p2pmem_try_alloc(node, BUF_SIZE, O_RDWR | O_CLOEXEC, 0);
	T_CHECK(fd >= 0, "P2PMEM_IOC_ALLOC: %s", strerror(-fd));
	private_mapping("a dma-buf", fd);
	close(fd);
	check_available(before);
}

/* ---- dereg-time --------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t dereg_ns(void *p, size_t len)
{
	struct ibv_mr *mr = ibv_reg_mr(pd, p, len, ACCESS);
	uint64_t t0;

	T_CHECK(mr, "ibv_reg_mr(%zu bytes): %s", len, strerror(errno));
	t0 = now_ns();
	T_CHECK(!ibv_dereg_mr(mr), "ibv_dereg_mr: %s", strerror(errno));
	return now_ns() - t0;
}

static void dereg_time(unsigned int reps, double max_ratio,
		       double max_median_us)
{
	static const size_t sizes[] = { PAGE, 1u << 20 };
	uint64_t *host = calloc(reps, sizeof(*host));
	uint64_t *p2p = calloc(reps, sizeof(*p2p));
	uint64_t before = available();
	double ratio, worst = 0, worst_us = 0;
	unsigned int s, i;
	uint8_t *h, *p;

	T_CHECK(host && p2p, "out of memory");
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		h = mmap(NULL, sizes[s], PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		T_CHECK(h != MAP_FAILED, "mmap: %s", strerror(errno));
		memset(h, 1, sizes[s]);
		p = map_buffer(sizes[s], 1);
		dereg_ns(h, sizes[s]);
		dereg_ns(p, sizes[s]);
		for (i = 0; i < reps; i++) {
			host[i] = dereg_ns(h, sizes[s]);
			p2p[i] = dereg_ns(p, sizes[s]);
		}
		qsort(host, reps, sizeof(*host), cmp_u64);
		qsort(p2p, reps, sizeof(*p2p), cmp_u64);
		ratio = (double)p2p[reps / 2] / (double)host[reps / 2];
		printf("dereg-time: %zu bytes: host median %.1f us (min %.1f, max %.1f), "
		       "P2P median %.1f us (min %.1f, max %.1f), P2P/host %.2f\n",
		       sizes[s], host[reps / 2] / 1e3, host[0] / 1e3,
		       host[reps - 1] / 1e3, p2p[reps / 2] / 1e3, p2p[0] / 1e3,
		       p2p[reps - 1] / 1e3, ratio);
		if (ratio > worst)
			worst = ratio;
		if (host[reps / 2] / 1e3 > worst_us)
			worst_us = host[reps / 2] / 1e3;
		if (p2p[reps / 2] / 1e3 > worst_us)
			worst_us = p2p[reps / 2] / 1e3;
		munmap(h, sizes[s]);
		munmap(p, sizes[s]);
	}
	free(host);
	free(p2p);
	T_CHECK(worst_us <= max_median_us,
		"a median deregistration takes %.1f us, more than %.1f: a grace period per MR?",
		worst_us, max_median_us);
	T_CHECK(worst <= max_ratio,
		"deregistering a P2P MR costs %.2f times a host MR's, more than %.2f",
		worst, max_ratio);
	t_ok("deregistering a P2P MR costs at most %.2f times a host MR's", worst);
	check_available(before);
}

/* ---- host-lock ---------------------------------------------------------- */

#define LOCK_REGION	(256u << 20)

static atomic_int lock_stop;

/* Takes the mmap lock for writing again and again, each time for long */
static void *mprotect_thread(void *region)
{
	int prot = PROT_READ;

	while (!atomic_load(&lock_stop)) {
		T_CHECK(!mprotect(region, LOCK_REGION, prot), "mprotect: %s",
			strerror(errno));
		prot ^= PROT_WRITE;
	}
	return NULL;
}

static uint64_t median_reg_ns(void *p, unsigned int reps, uint64_t *t)
{
	struct ibv_mr *mr;
	unsigned int i;
	uint64_t t0;

	for (i = 0; i < reps; i++) {
		t0 = now_ns();
		mr = ibv_reg_mr(pd, p, PAGE, ACCESS);
		t[i] = now_ns() - t0;
		T_CHECK(mr, "ibv_reg_mr of host memory: %s", strerror(errno));
		T_CHECK(!ibv_dereg_mr(mr), "ibv_dereg_mr: %s", strerror(errno));
	}
	qsort(t, reps, sizeof(*t), cmp_u64);
	return t[reps / 2];
}

static void host_lock(unsigned int reps)
{
	uint64_t *t = calloc(reps, sizeof(*t)), quiet, busy, hold, t0;
	pthread_t thread;
	uint8_t *h, *region;

	T_CHECK(t, "out of memory");
	h = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	region = mmap(NULL, LOCK_REGION, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_CHECK(h != MAP_FAILED && region != MAP_FAILED, "mmap: %s",
		strerror(errno));
	memset(h, 1, PAGE);
	memset(region, 1, LOCK_REGION);

	t0 = now_ns();
	T_CHECK(!mprotect(region, LOCK_REGION, PROT_READ), "mprotect: %s",
		strerror(errno));
	hold = now_ns() - t0;
	quiet = median_reg_ns(h, reps, t);

	T_CHECK(!pthread_create(&thread, NULL, mprotect_thread, region),
		"pthread_create failed");
	busy = median_reg_ns(h, reps, t);
	atomic_store(&lock_stop, 1);
	pthread_join(thread, NULL);

	printf("host-lock: mprotect() of %u MiB holds the mmap lock %.1f ms; "
	       "ibv_reg_mr of 4 KiB host memory: median %.1f us quiet, %.1f us "
	       "against the mprotect() loop\n", LOCK_REGION >> 20, hold / 1e6,
	       quiet / 1e3, busy / 1e3);
	T_CHECK(busy < quiet + hold / 4,
		"registering host memory waited for the mmap lock: median %.1f us, %.1f us quiet",
		busy / 1e3, quiet / 1e3);
	t_ok("registering host memory does not wait for the mmap lock");
	munmap(region, LOCK_REGION);
	munmap(h, PAGE);
	free(t);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4)
		t_fail("usage: %s PROVIDER RDMA-DEV race MODE ROUNDS | private | dereg-time REPS MAX-RATIO MAX-MEDIAN-US | host-lock REPS",
		       argv[0]);
	provider = argv[1];
	open_device(argv[2]);

	if (!strcmp(argv[3], "race") && argc == 6) {
		const char *m = argv[4];
		unsigned int rounds = (unsigned int)strtoul(argv[5], NULL, 0);

		if (!strcmp(m, "munmap"))
			race(RACE_MUNMAP, rounds);
		else if (!strcmp(m, "mremap"))
			race(RACE_MREMAP, rounds);
		else if (!strcmp(m, "fork"))
			race(RACE_FORK, rounds);
		else
			t_fail("unknown race mode %s", m);
	} else if (!strcmp(argv[3], "private") && argc == 4) {
		private_mappings();
	} else if (!strcmp(argv[3], "dereg-time") && argc == 7) {
		dereg_time((unsigned int)strtoul(argv[4], NULL, 0),
			   strtod(argv[5], NULL), strtod(argv[6], NULL));
	} else if (!strcmp(argv[3], "host-lock") && argc == 5) {
		host_lock((unsigned int)strtoul(argv[4], NULL, 0));
	} else {
		t_fail("unknown or malformed command %s", argv[3]);
	}

	T_CHECK(!ibv_dealloc_pd(pd), "ibv_dealloc_pd: %s", strerror(errno));
	T_CHECK(!ibv_close_device(ctx), "ibv_close_device: %s", strerror(errno));
	close(node);
	return 0;
}
