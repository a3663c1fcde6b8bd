/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-guest checks of the kernel's /dev/p2pmem dma-buf exporter.
 *
 *   p2pmem-test query    PROVIDER CLIENT-BDF
 *   p2pmem-test edu      PROVIDER EDU-BDF EXPECTED-MODE [attach-only]
 *   p2pmem-test negative PROVIDER
 *   p2pmem-test zero     PROVIDER
 *   p2pmem-test revoke   PROVIDER
 *   p2pmem-test revoke-dma PROVIDER EDU-BDF remove|reset|aer
 *   p2pmem-test late-fence PROVIDER
 *   p2pmem-test kill-alloc PROVIDER CLIENT-BDF MIB
 *   p2pmem-test alloc-latency PROVIDER
 *
 * PROVIDER is the PCI name of a published P2PDMA provider (its node is
 * /dev/p2pmem/PROVIDER), EXPECTED-MODE one of refused, bus_addr,
 * host_bridge.  Every subcommand exits 0 on success and prints "FAIL: ..."
 * and exits 1 otherwise.  "edu" prints one "MATRIX" line per transfer;
 * "attach-only" runs every check of the attachment (the refused pinned
 * attach, the revocable attach, ATTACH_QUERY) but no DMA, for a path QEMU
 * cannot carry (see p2pmem-lib.sh, qemu_can_dma).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/p2pmem.h>

#include "p2pmem-client.h"
#include "t-report.h"

/* Test-only ioctls of lib/test_p2pmem_edu.c (kernel-patches/0013-0014) */
#define P2PMEM_EDU_REVOCABLE	(1U << 0)
#define P2PMEM_EDU_SLOW_UNMAP	(1U << 1)
#define P2PMEM_EDU_LATE_FENCE	(1U << 2)
#define EDU_LATE_FENCE_S	15.0	/* EDU_LATE_FENCE_MS */

struct p2pmem_edu_attach {
	int32_t fd;
	uint32_t flags;
	uint32_t slot;
	uint32_t reserved;
	uint64_t dma_addr;
};

struct p2pmem_edu_dma {
	uint32_t slot;
	uint32_t len;
	uint64_t offset;
	uint32_t seed;
	uint32_t reserved;
	uint64_t dma_addr;
};

#define P2PMEM_EDU_IOC_ATTACH	_IOWR(0xB9, 0x40, struct p2pmem_edu_attach)
#define P2PMEM_EDU_IOC_DMA	_IOWR(0xB9, 0x41, struct p2pmem_edu_dma)
#define P2PMEM_EDU_IOC_DETACH	_IOW(0xB9, 0x42, uint32_t)
#define EDU_MAX_LEN		4095	/* see lib/test_p2pmem_edu.c */

static const char *const mode_names[] = {
	[P2PMEM_MAP_REFUSED] = "refused",
	[P2PMEM_MAP_BUS_ADDR] = "bus_addr",
	[P2PMEM_MAP_HOST_BRIDGE] = "host_bridge",
	[P2PMEM_MAP_CPU] = "cpu",
};

static const char *provider;

static const char *mode_name(uint32_t mode)
{
	return mode < sizeof(mode_names) / sizeof(mode_names[0]) ?
	       mode_names[mode] : "?";
}

static int open_provider(void)
{
	int fd = p2pmem_open_node(provider, O_RDWR);

	if (fd < 0)
		t_fail("open /dev/p2pmem/%s: %s", provider, strerror(-fd));
	return fd;
}

/* A number from sysfs: DIR is "bus/pci/devices" or "class/p2pmem" */
static uint64_t sysfs_u64(const char *dir, const char *dev, const char *attr)
{
	char path[256];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/%s/%s/%s", dir, dev, attr);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llu", &v) != 1)
		t_fail("read %s", path);
	fclose(f);
	return v;
}

static uint64_t available(void)
{
	return sysfs_u64("bus/pci/devices", provider, "p2pmem/available");
}

static uint64_t sysfs_class_u64(const char *attr)
{
	return sysfs_u64("class/p2pmem", provider, attr);
}

static uint64_t user_limit(void)
{
	return sysfs_class_u64("user_limit");
}

static void set_user_limit(uint64_t limit)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/p2pmem/%s/user_limit", provider);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%llu\n", (unsigned long long)limit) < 0 || fclose(f))
		t_fail("write %s: %s", path, strerror(errno));
}

static int alloc_buf(int node, uint64_t size)
{
	int fd = p2pmem_try_alloc(node, size, O_RDWR | O_CLOEXEC, 0);

	if (fd < 0)
		t_fail("allocate %" PRIu64 " bytes from %s: %s", size, provider,
		     strerror(-fd));
	return fd;
}

static volatile uint8_t *map_buf(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		t_fail("mmap dma-buf: %s", strerror(errno));
	return p;
}

static struct p2pmem_map_query query(int node, const char *bdf)
{
	struct p2pmem_map_query q;

	memset(&q, 0, sizeof(q));
	if (p2pmem_set_client(bdf, &q))
		t_fail("bad PCI address %s", bdf);
	if (ioctl(node, P2PMEM_IOC_MAP_QUERY, &q))
		t_fail("MAP_QUERY %s: %s", bdf, strerror(errno));
	return q;
}

static int cmd_query(const char *bdf)
{
	int node = open_provider();
	struct p2pmem_map_query q = query(node, bdf);

	printf("provider %s client %s: mode=%s reasons=%#x distance=%d\n",
	       provider, bdf, mode_name(q.mode), q.reasons, q.distance);
	close(node);
	return 0;
}

static uint8_t pattern(uint32_t seed, size_t i)
{
	return (uint8_t)(seed + i);
}

/* Attach the edu to BUF; returns the slot, or -errno */
static int edu_attach(int edu, int buf, uint32_t flags)
{
	struct p2pmem_edu_attach a = { .fd = buf, .flags = flags };

	return ioctl(edu, P2PMEM_EDU_IOC_ATTACH, &a) ? -errno : (int)a.slot;
}

static void edu_detach(int edu, int slot)
{
	uint32_t s = slot;

	if (ioctl(edu, P2PMEM_EDU_IOC_DETACH, &s))
		t_fail("edu detach: %s", strerror(errno));
}

static int edu_dma(int edu, int slot, uint64_t offset, uint32_t len,
		   uint32_t seed, struct p2pmem_edu_dma *d)
{
	memset(d, 0, sizeof(*d));
	d->slot = slot;
	d->offset = offset;
	d->len = len;
	d->seed = seed;
	return ioctl(edu, P2PMEM_EDU_IOC_DMA, d) ? -errno : 0;
}

static int open_edu(void)
{
	int edu = open("/dev/p2pmem-edu", O_RDWR | O_CLOEXEC);

	if (edu < 0)
		t_fail("open /dev/p2pmem-edu: %s", strerror(errno));
	return edu;
}

/*
 * What the kernel says attachment 0 of BUF got: the importer, its mode and
 * flags, as the stored decision of the attach, not a new computation.
 */
static struct p2pmem_attach_query attach_query(int node, int buf)
{
	struct p2pmem_attach_query a;

	memset(&a, 0, sizeof(a));
	a.dmabuf_fd = buf;
	if (ioctl(node, P2PMEM_IOC_ATTACH_QUERY, &a))
		t_fail("ATTACH_QUERY: %s", strerror(errno));
	return a;
}

/*
 * An importer that cannot be revoked (like RDMA drivers that pin dma-bufs
 * without invalidate_mappings) is refused on every path, and the refusal
 * names its reason in the kernel log.
 */
static void check_pinned_refused(int edu, int buf, const char *bdf)
{
	int ret = edu_attach(edu, buf, 0);

	if (ret >= 0)
		t_fail("non-revocable attach of %s accepted", bdf);
	if (ret != -EOPNOTSUPP)
		t_fail("non-revocable attach of %s: %s, expected EOPNOTSUPP",
		       bdf, strerror(-ret));
	printf("ok: non-revocable attach of %s -> EOPNOTSUPP\n", bdf);
}

static int cmd_edu(const char *bdf, const char *expected, bool run_dma)
{
	static const struct { uint64_t offset; uint32_t len; } xfers[] = {
		{ 0, EDU_MAX_LEN },
		{ 3 * 4096 + 100, 1000 },
		{ (1 << 20) - EDU_MAX_LEN, EDU_MAX_LEN },
	};
	const size_t size = 1 << 20;
	int node = open_provider();
	struct p2pmem_map_query q = query(node, bdf);
	struct p2pmem_attach_query aq;
	struct p2pmem_edu_dma d;
	volatile uint8_t *map;
	int edu, buf, ret, slot;
	size_t x, i;

	if (strcmp(mode_name(q.mode), expected))
		t_fail("query %s -> %s: mode %s, expected %s (reasons %#x)",
		     provider, bdf, mode_name(q.mode), expected, q.reasons);

	edu = open_edu();
	buf = alloc_buf(node, size);
	map = map_buf(buf, size);

	check_pinned_refused(edu, buf, bdf);
	slot = edu_attach(edu, buf, P2PMEM_EDU_REVOCABLE);
	if (q.mode == P2PMEM_MAP_REFUSED) {
		if (slot != -EOPNOTSUPP)
			t_fail("edu attach on a refused path: %s, expected EOPNOTSUPP",
			       slot < 0 ? strerror(-slot) : "accepted");
		printf("MATRIX provider=%s client=%s mode=refused reasons=%#x distance=%d dma_addr=-\n",
		       provider, bdf, q.reasons, q.distance);
		goto out;
	}
	if (slot < 0)
		t_fail("revocable edu attach: %s", strerror(-slot));
	if (!(q.reasons & P2PMEM_REASON_REVOCABLE_ONLY))
		t_fail("query of a DMA path does not say it is for revocable importers only");

	aq = attach_query(node, buf);
	if (aq.mode != q.mode || strcmp(aq.importer, bdf) ||
	    !(aq.flags & P2PMEM_ATTACH_REVOCABLE) || !(aq.flags & P2PMEM_ATTACH_MAPPED))
		t_fail("ATTACH_QUERY: importer %s mode %s flags %#x, expected %s %s revocable+mapped",
		       aq.importer, mode_name(aq.mode), aq.flags, bdf, mode_name(q.mode));
	printf("ok: ATTACH_QUERY reports %s attached with mode %s\n", aq.importer,
	       mode_name(aq.mode));

	if (!run_dma) {
		printf("MATRIX provider=%s client=%s mode=%s reasons=%#x distance=%d dma_addr=not-emulated\n",
		       provider, bdf, mode_name(aq.mode), q.reasons, q.distance);
		edu_detach(edu, slot);
		goto out;
	}
	for (x = 0; x < sizeof(xfers) / sizeof(xfers[0]); x++) {
		uint32_t seed = 0x5a + 17 * x;

		ret = edu_dma(edu, slot, xfers[x].offset, xfers[x].len, seed, &d);
		if (ret)
			t_fail("edu DMA to offset %" PRIu64 ": %s", xfers[x].offset,
			     strerror(-ret));
		for (i = 0; i < xfers[x].len; i++)
			if (map[xfers[x].offset + i] != pattern(seed, i))
				t_fail("byte %zu of transfer %zu: %#x, expected %#x",
				     i, x, map[xfers[x].offset + i],
				     pattern(seed, i));
		printf("MATRIX provider=%s client=%s mode=%s reasons=%#x distance=%d offset=%#" PRIx64 " dma_addr=%#" PRIx64 "\n",
		       provider, bdf, mode_name(aq.mode), q.reasons, q.distance,
		       xfers[x].offset, (uint64_t)d.dma_addr);
	}
	edu_detach(edu, slot);
out:

	/* Bytes around the transfers must still be the zeroes of allocation */
	if (map[4096 * 3 + 99] || map[4096 * 3 + 1100] || map[size / 2])
		t_fail("DMA wrote outside its range");

	munmap((void *)map, size);
	close(buf);
	close(edu);
	close(node);
	return 0;
}

static void expect_alloc_error(int node, uint64_t size, uint32_t fd_flags,
			       uint32_t flags, int err, const char *what)
{
	int fd = p2pmem_try_alloc(node, size, fd_flags, flags);

	if (fd >= 0)
		t_fail("%s: allocation succeeded, expected %s", what, strerror(err));
	if (-fd != err)
		t_fail("%s: %s, expected %s", what, strerror(-fd), strerror(err));
	printf("ok: %s -> %s\n", what, strerror(err));
}

static void check_raw_ioctls(int node)
{
	struct p2pmem_alloc a;
	struct p2pmem_map_query q;

	memset(&a, 0, sizeof(a));
	a.size = 4096;
	a.reserved = 1;
	if (!ioctl(node, P2PMEM_IOC_ALLOC, &a) || errno != EINVAL)
		t_fail("non-zero reserved field accepted");

	memset(&q, 0, sizeof(q));
	q.reserved1 = 1;
	if (!ioctl(node, P2PMEM_IOC_MAP_QUERY, &q) || errno != EINVAL)
		t_fail("query with non-zero reserved field accepted");

	memset(&q, 0, sizeof(q));
	q.client_domain = 0x7ff;
	q.client_bus = 0xfe;
	if (!ioctl(node, P2PMEM_IOC_MAP_QUERY, &q) || errno != ENODEV)
		t_fail("query of a nonexistent device: %s, expected ENODEV",
		     strerror(errno));

	if (!ioctl(node, _IO('P', 0x7f)) || errno != ENOTTY)
		t_fail("unknown ioctl: %s, expected ENOTTY", strerror(errno));

	if (!ioctl(node, P2PMEM_IOC_ALLOC, (void *)16) || errno != EFAULT)
		t_fail("bad pointer: %s, expected EFAULT", strerror(errno));
	printf("ok: reserved fields, unknown ioctl, bad pointer, unknown client\n");
}

static void check_size_rounding(int node)
{
	int fd = alloc_buf(node, 1);
	off_t size = lseek(fd, 0, SEEK_END);

	if (size != 4096)
		t_fail("1-byte allocation has size %lld, expected 4096",
		     (long long)size);
	close(fd);
	printf("ok: 1 byte rounds up to one page\n");
}

/* Allocate 1 MiB chunks until the pool is exhausted, then free them all */
static void check_exhaustion(int node, uint64_t start)
{
	const uint64_t chunk = 1 << 20;
	int fds[4096], n = 0, fd;

	for (;;) {
		fd = p2pmem_try_alloc(node, chunk, O_CLOEXEC, 0);
		if (fd < 0)
			break;
		if (n == (int)(sizeof(fds) / sizeof(fds[0])))
			t_fail("pool never ran out");
		fds[n++] = fd;
	}
	/*
	 * ENOMEM when the pool runs out first, EDQUOT when the cap (set to
	 * the pool size) does: with nobody else in the pool they coincide.
	 */
	if (fd != -ENOMEM && fd != -EDQUOT)
		t_fail("exhausted pool: %s, expected ENOMEM or EDQUOT",
		       strerror(-fd));
	if (available() >= chunk)
		t_fail("%s with %" PRIu64 " bytes available", strerror(-fd),
		       available());
	printf("ok: pool exhausted after %d MiB -> %s\n", n, strerror(-fd));

	while (n)
		close(fds[--n]);
	if (available() != start)
		t_fail("available %" PRIu64 " after freeing, started at %" PRIu64,
		     available(), start);
}

static int cmd_negative(void)
{
	int node = open_provider();
	uint64_t start = available(), limit;

	expect_alloc_error(node, 0, O_CLOEXEC, 0, EINVAL, "zero size");
	expect_alloc_error(node, UINT64_MAX, O_CLOEXEC, 0, EINVAL,
			   "size overflowing when page aligned");
	expect_alloc_error(node, UINT64_MAX - 4095, O_CLOEXEC, 0, EDQUOT,
			   "largest page-aligned size");
	expect_alloc_error(node, 1ULL << 50, O_CLOEXEC, 0, EDQUOT, "1 PiB");
	expect_alloc_error(node, user_limit() + 4096, O_CLOEXEC, 0, EDQUOT,
			   "one page more than user_limit");
	expect_alloc_error(node, 4096, O_CLOEXEC | O_NONBLOCK, 0, EINVAL,
			   "unknown fd_flags");
	expect_alloc_error(node, 4096, O_CLOEXEC | O_WRONLY, 0, EINVAL,
			   "write-only access mode");
	expect_alloc_error(node, 4096, O_CLOEXEC | O_ACCMODE, 0, EINVAL,
			   "access mode 3");
	expect_alloc_error(node, 4096, O_CLOEXEC, 1, EINVAL, "unknown flags");
	check_raw_ioctls(node);
	check_size_rounding(node);
	/* The whole pool for userspace, to exhaust it */
	limit = user_limit();
	set_user_limit(sysfs_u64("bus/pci/devices", provider, "p2pmem/size"));
	check_exhaustion(node, start);
	set_user_limit(limit);
	if (sysfs_class_u64("user_allocated"))
		t_fail("user_allocated %" PRIu64 " with nothing allocated",
		       sysfs_class_u64("user_allocated"));

	if (available() != start)
		t_fail("available %" PRIu64 " at the end, started at %" PRIu64,
		     available(), start);
	printf("ok: available back at %" PRIu64 " bytes\n", start);
	close(node);
	return 0;
}

/* the offset of the first non-zero byte of MAP[0..SIZE), or SIZE */
static size_t first_nonzero(const volatile uint8_t *map, size_t size)
{
	const volatile uint64_t *w = (const volatile uint64_t *)map;
	size_t i, b;

	for (i = 0; i < size / 8; i++)
		if (w[i])
			for (b = 0; b < 8; b++)
				if (map[8 * i + b])
					return 8 * i + b;
	return size;
}

/*
 * Take every free byte of the pool: 1 MiB buffers until none is left, then
 * pages for what remains.  The pool hands out memory only once the zero
 * worker cleared it, so this waits for it.  Returns the number of buffers
 * in FDS and their total size in *TOTAL.
 */
static int take_whole_pool(int node, int *fds, size_t *sizes, int max,
			   uint64_t *total)
{
	uint64_t chunk;
	int n = 0, fd;

	*total = 0;
	for (chunk = 1 << 20; chunk >= 4096; chunk = chunk == 4096 ? 0 : 4096) {
		for (;;) {
			fd = p2pmem_try_alloc(node, chunk, O_RDWR | O_CLOEXEC,
					      0);
			if (fd == -ENOMEM || fd == -EDQUOT)
				break;
			if (fd < 0)
				t_fail("allocate %" PRIu64 " bytes: %s", chunk,
				       strerror(-fd));
			if (n == max)
				t_fail("pool never ran out");
			sizes[n] = chunk;
			fds[n++] = fd;
			*total += chunk;
		}
	}
	return n;
}

/*
 * Memory is zeroed between owners.  The first owner takes every free byte
 * of the pool and writes a secret into all of it; the second owner again
 * takes every free byte, so it necessarily gets the memory the secret was
 * written to, and must read zeroes throughout.  (Memory never written reads
 * zero anyway: a test that re-allocated less could pass on fresh memory.)
 * The buffers are 1 MiB and smaller, so that the test does not depend on
 * the pool being in one piece.
 */
static int cmd_zero(void)
{
	static int fds[8192];
	static size_t sizes[8192];
	struct rlimit nofile = { .rlim_cur = 8192 + 64, .rlim_max = 8192 + 64 };
	int node = open_provider();
	uint64_t limit = user_limit(), start, total, first = 0;
	volatile uint8_t *map;
	size_t bad;
	int n, i, round;

	/* Pieces of a pool in several ranges may take more than 1024 fds */
	if (setrlimit(RLIMIT_NOFILE, &nofile))
		t_fail("setrlimit: %s", strerror(errno));

	set_user_limit(sysfs_u64("bus/pci/devices", provider, "p2pmem/size"));
	start = available();
	for (round = 0; round < 2; round++) {
		n = take_whole_pool(node, fds, sizes, 8192, &total);
		if (!round)
			first = total;
		else if (total < first)
			t_fail("round 1 got %" PRIu64 " bytes, round 0 %" PRIu64,
			       total, first);
		for (i = 0; i < n; i++) {
			map = map_buf(fds[i], sizes[i]);
			bad = first_nonzero(map, sizes[i]);
			if (bad != sizes[i])
				t_fail("round %d: byte %zu of a new %zu-byte buffer is %#x",
				       round, bad, sizes[i], map[bad]);
			if (!round)
				memset((void *)map, 0xa5, sizes[i]);
			munmap((void *)map, sizes[i]);
			close(fds[i]);
		}
	}
	set_user_limit(limit);
	if (available() != start)
		t_fail("available %" PRIu64 ", started at %" PRIu64, available(),
		       start);
	printf("ok: a secret written to all %" PRIu64 " free bytes of the pool is not seen by the next owner of them\n",
	       first);
	close(node);
	return 0;
}

static sigjmp_buf sigbus_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(sigbus_jmp, 1);
}

static int read_faults(volatile uint8_t *p)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	volatile int faulted = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(sigbus_jmp, 1))
		faulted = 1;
	else
		(void)*p;
	signal(SIGBUS, SIG_DFL);
	return faulted;
}

static int cmd_revoke(void)
{
	const size_t size = 1 << 20;
	struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW };
	int node = open_provider();
	volatile uint8_t *map;
	char path[256];
	int fd, sysfs;

	fd = alloc_buf(node, size);
	map = map_buf(fd, size);
	map[0] = 0x42;
	if (map[0] != 0x42 || read_faults(map + size - 1))
		t_fail("mapping does not work before removal");

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", provider);
	sysfs = open(path, O_WRONLY);
	if (sysfs < 0 || write(sysfs, "1", 1) != 1)
		t_fail("remove %s: %s", provider, strerror(errno));
	close(sysfs);
	printf("ok: removed %s with a buffer mapped\n", provider);

	if (!read_faults(map))
		t_fail("mapping still readable after removal");
	if (!read_faults(map + size / 2))
		t_fail("never-touched page readable after removal");
	printf("ok: mapping gives SIGBUS after removal\n");

	if (p2pmem_try_alloc(node, 4096, O_CLOEXEC, 0) != -ENODEV)
		t_fail("allocation from a removed provider did not fail with ENODEV");
	if (!ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync) || errno != ENODEV)
		t_fail("DMA_BUF_IOCTL_SYNC on a revoked buffer: %s, expected ENODEV",
		     strerror(errno));
	printf("ok: node gives ENODEV, sync gives ENODEV\n");

	if (munmap((void *)map, size) || close(fd) || close(node))
		t_fail("closing after removal: %s", strerror(errno));
	printf("ok: all descriptors closed\n");
	return 0;
}

static void write_sysfs_1(const char *dev, const char *attr)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", dev, attr);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, "1", 1) != 1)
		t_fail("write 1 to %s: %s", path, strerror(errno));
	close(fd);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The edu maps a buffer revocably, with an unmap that lags 500 ms behind
 * the invalidation, and writes into it; then the provider is removed or
 * reset.  The remove/reset write must not return before the edu unmapped
 * (the exporter waits for it: the caller checks the kernel log order), the
 * mapping is dead afterwards, and after a reset the provider serves new
 * buffers that the edu can use again.
 *
 * "aer" resets the provider's link by PCI error recovery instead: the
 * command in $P2PV_AER_INJECT injects a fatal error above the provider and
 * returns once recovery finished.  Recovery runs in the AER driver, not in
 * this process, so only the outcome is checked here: the same as a reset.
 */
static int cmd_revoke_dma(const char *bdf, const char *how)
{
	const size_t size = 1 << 20;
	int node = open_provider(), edu = open_edu();
	struct p2pmem_edu_dma d;
	volatile uint8_t *map;
	int buf, slot, ret;
	bool aer = !strcmp(how, "aer");
	bool reset = aer || !strcmp(how, "reset");
	const char *inject = getenv("P2PV_AER_INJECT");
	double t0, took;

	buf = alloc_buf(node, size);
	map = map_buf(buf, size);
	slot = edu_attach(edu, buf, P2PMEM_EDU_REVOCABLE | P2PMEM_EDU_SLOW_UNMAP);
	if (slot < 0)
		t_fail("revocable edu attach: %s", strerror(-slot));
	if (strcmp(attach_query(node, buf).importer, bdf))
		t_fail("ATTACH_QUERY does not name %s", bdf);
	if (edu_dma(edu, slot, 4096, 100, 7, &d) || map[4096] != 7)
		t_fail("edu DMA before the %s", how);

	t0 = now();
	if (aer) {
		if (!inject)
			t_fail("aer: P2PV_AER_INJECT names no command");
		if (system(inject))
			t_fail("%s failed (its reason above)", inject);
	} else {
		write_sysfs_1(provider, reset ? "reset" : "remove");
	}
	took = now() - t0;
	printf("ok: %s of %s with a live edu mapping took %.3f s\n", how,
	       provider, took);
	if (took < 0.5 && !aer)
		t_fail("%s returned after %.3f s, before the edu's 0.5 s unmap", how,
		       took);

	ret = edu_dma(edu, slot, 4096, 100, 9, &d);
	if (ret != -ENODEV)
		t_fail("edu DMA after the %s: %s, expected ENODEV", how,
		       ret ? strerror(-ret) : "succeeded");
	if (!read_faults(map))
		t_fail("CPU mapping still readable after the %s", how);
	printf("ok: after the %s the edu gets ENODEV and the CPU SIGBUS\n", how);
	edu_detach(edu, slot);
	munmap((void *)map, size);
	close(buf);

	if (reset) {
		buf = alloc_buf(node, size);
		slot = edu_attach(edu, buf, P2PMEM_EDU_REVOCABLE);
		if (slot < 0 || edu_dma(edu, slot, 0, 64, 3, &d))
			t_fail("edu on a new buffer after the reset: %s",
			       strerror(slot < 0 ? -slot : errno));
		map = map_buf(buf, size);
		if (map[0] != 3 || map[63] != 3 + 63)
			t_fail("edu DMA after the reset wrote %#x %#x", map[0],
			       map[63]);
		printf("ok: new buffers and attachments work after the reset\n");
		edu_detach(edu, slot);
		munmap((void *)map, size);
		close(buf);
	}
	close(edu);
	close(node);
	return 0;
}

/*
 * Memory a device may still write must not go back to the pool, however
 * long the device takes (issue 17).  The edu maps a buffer of PROVIDER
 * revocably; told to unmap, it unmaps at once but publishes a write fence
 * that signals only EDU_LATE_FENCE_S later, as DMA it had queued would.
 * An FLR of PROVIDER through sysfs revokes the buffer; meanwhile the pool
 * is polled every 20 ms.  The buffer's memory must not be back before the
 * fence signalled, nor the reset return before that.
 */
static int cmd_late_fence(void)
{
	const size_t size = 1 << 20;
	int node = open_provider(), edu = open_edu();
	double t0, back = -1, took = -1;
	struct p2pmem_edu_dma d;
	int buf, slot, status, ret;
	uint64_t before;
	pid_t pid;

	buf = alloc_buf(node, size);
	slot = edu_attach(edu, buf, P2PMEM_EDU_REVOCABLE | P2PMEM_EDU_LATE_FENCE);
	if (slot < 0)
		t_fail("edu attach with a late fence: %s", strerror(-slot));
	ret = edu_dma(edu, slot, 0, 64, 5, &d);
	if (ret)
		t_fail("edu DMA before the reset: %s", strerror(-ret));
	before = available();

	t0 = now();
	pid = fork();
	if (pid < 0)
		t_fail("fork: %s", strerror(errno));
	if (!pid) {
		write_sysfs_1(provider, "reset");
		_exit(0);
	}
	while (back < 0 || took < 0) {
		if (back < 0 && available() >= before + size)
			back = now() - t0;
		if (took < 0 && waitpid(pid, &status, WNOHANG) == pid)
			took = now() - t0;
		if (now() - t0 > 120)
			t_fail("after 120 s: reset %s, memory %s", took < 0 ?
			       "still running" : "done", back < 0 ?
			       "not back" : "back");
		usleep(20000);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		t_fail("the reset of %s failed", provider);
	printf("ok: reset of %s with a late importer fence returned after %.3f s; the buffer's %zu bytes were back in the pool after %.3f s\n",
	       provider, took, size, back);
	if (back < EDU_LATE_FENCE_S)
		t_fail("the buffer's memory was back in the pool %.3f s after the reset began, before the importer's fence signalled (%.0f s after it was told)",
		       back, EDU_LATE_FENCE_S);
	if (took < EDU_LATE_FENCE_S)
		t_fail("the reset returned after %.3f s, before the importer's fence signalled",
		       took);
	printf("ok: the memory went back only after the importer's fence signalled\n");

	ret = edu_dma(edu, slot, 0, 64, 6, &d);
	if (ret != -ENODEV)
		t_fail("edu DMA after the reset: %s, expected ENODEV",
		       ret ? strerror(-ret) : "succeeded");
	edu_detach(edu, slot);
	close(buf);
	close(edu);
	close(node);
	return 0;
}

static double query_seconds(int node, const char *bdf)
{
	double t0 = now();

	query(node, bdf);
	return now() - t0;
}

/*
 * SIZE bytes of the pool freed just now: the zero worker clears them before
 * anyone can have them again, and an allocation that needs them waits.
 */
static void dirty_pool(int node, uint64_t size)
{
	close(alloc_buf(node, size));
}

/*
 * One attempt: SIZE bytes are freed, then a child allocates SIZE bytes,
 * which needs that memory and waits for the zero worker; as soon as the
 * child is accounted (it waits), a query and a one-page allocation are
 * timed, then the child is killed and the time from the kill to its exit
 * is stored in *t_kill.  Returns 1 if the child never saw its allocation
 * return (the kill landed during the wait, or the worker finished and the
 * child died on the way back; *t_kill tells which), 0 if the allocation
 * returned first.
 */
static int kill_alloc_once(int node, const char *bdf, uint64_t size,
			   uint64_t start, double *t_kill)
{
	double t_query, t_alloc, t0;
	int done[2], fd, status;
	char c;
	pid_t pid;

	dirty_pool(node, size);
	if (pipe(done))
		t_fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		t_fail("fork: %s", strerror(errno));
	if (!pid) {
		close(done[0]);
		fd = p2pmem_try_alloc(node, size, O_RDWR | O_CLOEXEC, 0);
		c = fd >= 0 ? 'y' : 'n';
		if (write(done[1], &c, 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	close(done[1]);

	t0 = now();
	while (available() == start) {
		if (now() - t0 > 30)
			t_fail("the %" PRIu64 " MiB allocation was never accounted",
			       size >> 20);
	}
	t_query = query_seconds(node, bdf);
	t0 = now();
	fd = alloc_buf(node, 4096);
	t_alloc = now() - t0;
	close(fd);

	t0 = now();
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	*t_kill = now() - t0;
	if (read(done[0], &c, 1) == 1) {
		close(done[0]);
		printf("attempt: the allocation finished before the kill (%c)\n", c);
		return 0;
	}
	close(done[0]);
	printf("attempt: killed during the %" PRIu64 " MiB allocation; meanwhile MAP_QUERY took %.3f s and a 4 KiB allocation %.3f s; kill to exit %.3f s\n",
	       size >> 20, t_query, t_alloc, *t_kill);
	return 1;
}

/*
 * How long an allocation of SIZE takes when it needs SIZE bytes freed just
 * before and nothing interrupts it: the time the worker takes to zero them
 */
static double full_alloc_seconds(int node, uint64_t size)
{
	double t0, t;
	int fd;

	dirty_pool(node, size);
	t0 = now();
	fd = alloc_buf(node, size);

	t = now() - t0;
	close(fd);
	return t;
}

static int cmd_kill_alloc(const char *bdf, const char *mib)
{
	uint64_t size = strtoull(mib, NULL, 0) << 20;
	int node = open_provider();
	uint64_t start = available();
	double t_full, t_kill = 0;
	int attempt;

	/*
	 * An allocation never zeroes: it takes zeroed memory or waits for the
	 * zero worker.  With SIZE bytes freed just before and less than SIZE
	 * zeroed, it waits; the kill must end that wait at once, not when the
	 * worker is done: the time from the kill to the child's exit is
	 * compared with an uninterrupted allocation of the same size.  A
	 * kernel that waits unkillably takes about as long as what was left of
	 * the zeroing.
	 */
	t_full = full_alloc_seconds(node, size);
	printf("an uninterrupted %" PRIu64 " MiB allocation takes %.3f s\n",
	       size >> 20, t_full);
	if (t_full < 0.2)
		t_fail("%" PRIu64 " MiB are zeroed in %.3f s: too fast to tell a kill from the end of the wait",
		       size >> 20, t_full);
	if (available() != start)
		t_fail("available %" PRIu64 " after the uninterrupted allocation, started at %" PRIu64,
		       available(), start);

	for (attempt = 0; attempt < 10; attempt++)
		if (kill_alloc_once(node, bdf, size, start, &t_kill))
			break;
	if (attempt == 10)
		t_fail("10 allocations of %" PRIu64 " MiB all finished before the kill",
		       size >> 20);
	if (t_kill > t_full / 4)
		t_fail("the killed allocation took %.3f s to end, an uninterrupted one %.3f s: the kill did not end the wait",
		       t_kill, t_full);
	printf("ok: killed while waiting for %" PRIu64 " MiB of zeroed memory: it ended %.3f s after the kill, %.0fx sooner than the uninterrupted wait (%.3f s)\n",
	       size >> 20, t_kill, t_full / t_kill, t_full);

	/* The killed allocation gives everything back: pool and accounting */
	if (available() != start)
		t_fail("available %" PRIu64 " after the kill, started at %" PRIu64,
		       available(), start);
	if (sysfs_class_u64("user_allocated"))
		t_fail("user_allocated %" PRIu64 " after the kill",
		       sysfs_class_u64("user_allocated"));
	printf("ok: pool whole (%" PRIu64 " bytes) and nothing accounted after the kill\n",
	       start);
	close(node);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Latency of ALLOC and of an allocating mmap() of the node from an idle
 * pool, 4 KiB against 32 MiB: the median of 5, each after a pause long
 * enough for the zero worker to clear what the one before freed (2 s of
 * zeroing per 32 MiB of NVMe CMB under TCG).  Prints; checks nothing, as
 * timing on a loaded machine is no test.
 */
static int cmd_alloc_latency(void)
{
	const uint64_t sizes[] = { 4096, 32 << 20 };
	double t[2][2][5], t0, med[2][2];
	int node = open_provider(), s, m, i, fd;
	void *map;

	for (i = 0; i < 5; i++) {
		for (s = 0; s < 2; s++) {
			for (m = 0; m < 2; m++) {
				sleep(3);
				t0 = now();
				if (!m) {
					fd = alloc_buf(node, sizes[s]);
					t[s][m][i] = now() - t0;
					close(fd);
					continue;
				}
				map = mmap(NULL, sizes[s], PROT_READ | PROT_WRITE,
					   MAP_SHARED, node, 0);
				t[s][m][i] = now() - t0;
				if (map == MAP_FAILED)
					t_fail("mmap %" PRIu64 " bytes of the node: %s",
					       sizes[s], strerror(errno));
				munmap(map, sizes[s]);
			}
		}
	}
	for (s = 0; s < 2; s++)
		for (m = 0; m < 2; m++) {
			qsort(t[s][m], 5, sizeof(double), cmp_double);
			med[s][m] = t[s][m][2];
		}
	for (m = 0; m < 2; m++)
		printf("alloc-latency %s %s: 4 KiB %.1f us, 32 MiB %.1f us, ratio %.2f (median of 5, idle pool)\n",
		       provider, m ? "mmap" : "ALLOC", med[0][m] * 1e6,
		       med[1][m] * 1e6, med[1][m] / med[0][m]);
	close(node);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		t_fail("usage: %s query|edu|negative|zero|revoke|revoke-dma|late-fence|kill-alloc|alloc-latency PROVIDER [ARGS]",
		     argv[0]);
	provider = argv[2];

	if (!strcmp(argv[1], "query") && argc == 4)
		return cmd_query(argv[3]);
	if (!strcmp(argv[1], "edu") && argc == 5)
		return cmd_edu(argv[3], argv[4], true);
	if (!strcmp(argv[1], "edu") && argc == 6 && !strcmp(argv[5], "attach-only"))
		return cmd_edu(argv[3], argv[4], false);
	if (!strcmp(argv[1], "alloc-latency") && argc == 3)
		return cmd_alloc_latency();
	if (!strcmp(argv[1], "revoke-dma") && argc == 5)
		return cmd_revoke_dma(argv[3], argv[4]);
	if (!strcmp(argv[1], "late-fence") && argc == 3)
		return cmd_late_fence();
	if (!strcmp(argv[1], "kill-alloc") && argc == 5)
		return cmd_kill_alloc(argv[3], argv[4]);
	if (!strcmp(argv[1], "negative") && argc == 3)
		return cmd_negative();
	if (!strcmp(argv[1], "zero") && argc == 3)
		return cmd_zero();
	if (!strcmp(argv[1], "revoke") && argc == 3)
		return cmd_revoke();
	t_fail("bad arguments");
}
