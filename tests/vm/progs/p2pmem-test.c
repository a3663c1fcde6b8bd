/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-guest checks of the kernel's /dev/p2pmem dma-buf exporter.
 *
 *   p2pmem-test query    PROVIDER CLIENT-BDF
 *   p2pmem-test edu      PROVIDER EDU-BDF EXPECTED-MODE
 *   p2pmem-test negative PROVIDER
 *   p2pmem-test zero     PROVIDER
 *   p2pmem-test revoke   PROVIDER
 *
 * PROVIDER is the PCI name of a published P2PDMA provider (its node is
 * /dev/p2pmem/PROVIDER), EXPECTED-MODE one of refused, bus_addr,
 * host_bridge.  Every subcommand exits 0 on success and prints "FAIL: ..."
 * and exits 1 otherwise.  "edu" prints one "MATRIX" line per transfer.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/p2pmem.h>

#include "p2pmem-client.h"
#include "t-report.h"

/* Test-only ioctl of drivers/misc/p2pmem_edu_test.c */
struct p2pmem_edu_dma {
	int32_t fd;
	uint32_t len;
	uint64_t offset;
	uint32_t seed;
	uint32_t mode;
	uint64_t dma_addr;
};

#define P2PMEM_EDU_IOC_DMA	_IOWR('P', 0x40, struct p2pmem_edu_dma)
#define EDU_MAX_LEN		4095	/* see drivers/misc/p2pmem_edu_test.c */

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
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/dev/p2pmem/%s", provider);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		t_fail("open %s: %s", path, strerror(errno));
	return fd;
}

static uint64_t sysfs_u64(const char *dev, const char *attr)
{
	char path[256];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", dev, attr);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llu", &v) != 1)
		t_fail("read %s", path);
	fclose(f);
	return v;
}

static uint64_t available(void)
{
	return sysfs_u64(provider, "p2pmem/available");
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

static int edu_dma(int edu, int buf, uint64_t offset, uint32_t len,
		   uint32_t seed, struct p2pmem_edu_dma *d)
{
	memset(d, 0, sizeof(*d));
	d->fd = buf;
	d->offset = offset;
	d->len = len;
	d->seed = seed;
	return ioctl(edu, P2PMEM_EDU_IOC_DMA, d) ? -errno : 0;
}

static int cmd_edu(const char *bdf, const char *expected)
{
	static const struct { uint64_t offset; uint32_t len; } xfers[] = {
		{ 0, EDU_MAX_LEN },
		{ 3 * 4096 + 100, 1000 },
		{ (1 << 20) - EDU_MAX_LEN, EDU_MAX_LEN },
	};
	const size_t size = 1 << 20;
	int node = open_provider();
	struct p2pmem_map_query q = query(node, bdf);
	struct p2pmem_edu_dma d;
	volatile uint8_t *map;
	int edu, buf, ret;
	size_t x, i;

	if (strcmp(mode_name(q.mode), expected))
		t_fail("query %s -> %s: mode %s, expected %s (reasons %#x)",
		     provider, bdf, mode_name(q.mode), expected, q.reasons);

	edu = open("/dev/p2pmem-edu", O_RDWR | O_CLOEXEC);
	if (edu < 0)
		t_fail("open /dev/p2pmem-edu: %s", strerror(errno));
	buf = alloc_buf(node, size);
	map = map_buf(buf, size);

	for (x = 0; x < sizeof(xfers) / sizeof(xfers[0]); x++) {
		uint32_t seed = 0x5a + 17 * x;

		ret = edu_dma(edu, buf, xfers[x].offset, xfers[x].len, seed, &d);
		if (q.mode == P2PMEM_MAP_REFUSED) {
			if (ret != -EOPNOTSUPP)
				t_fail("edu DMA from refused path: %s, expected EOPNOTSUPP",
				     strerror(-ret));
			printf("MATRIX provider=%s client=%s mode=refused reasons=%#x distance=%d dma_addr=-\n",
			       provider, bdf, q.reasons, q.distance);
			break;
		}
		if (ret)
			t_fail("edu DMA to offset %" PRIu64 ": %s", xfers[x].offset,
			     strerror(-ret));
		if (d.mode != q.mode)
			t_fail("attach used mode %s, query said %s",
			     mode_name(d.mode), mode_name(q.mode));
		for (i = 0; i < xfers[x].len; i++)
			if (map[xfers[x].offset + i] != pattern(seed, i))
				t_fail("byte %zu of transfer %zu: %#x, expected %#x",
				     i, x, map[xfers[x].offset + i],
				     pattern(seed, i));
		printf("MATRIX provider=%s client=%s mode=%s reasons=%#x distance=%d offset=%#" PRIx64 " dma_addr=%#" PRIx64 "\n",
		       provider, bdf, mode_name(d.mode), q.reasons, q.distance,
		       xfers[x].offset, (uint64_t)d.dma_addr);
	}

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
	if (fd != -ENOMEM)
		t_fail("exhausted pool: %s, expected ENOMEM", strerror(-fd));
	if (available() >= chunk)
		t_fail("ENOMEM with %" PRIu64 " bytes available", available());
	printf("ok: pool exhausted after %d MiB -> ENOMEM\n", n);

	while (n)
		close(fds[--n]);
	if (available() != start)
		t_fail("available %" PRIu64 " after freeing, started at %" PRIu64,
		     available(), start);
}

static int cmd_negative(void)
{
	int node = open_provider();
	uint64_t start = available();

	expect_alloc_error(node, 0, O_CLOEXEC, 0, EINVAL, "zero size");
	expect_alloc_error(node, UINT64_MAX, O_CLOEXEC, 0, EINVAL,
			   "size overflowing when page aligned");
	expect_alloc_error(node, UINT64_MAX - 4095, O_CLOEXEC, 0, ENOMEM,
			   "largest page-aligned size");
	expect_alloc_error(node, 1ULL << 50, O_CLOEXEC, 0, ENOMEM, "1 PiB");
	expect_alloc_error(node, start + 4096, O_CLOEXEC, 0, ENOMEM,
			   "one page more than available");
	expect_alloc_error(node, 4096, O_CLOEXEC | O_NONBLOCK, 0, EINVAL,
			   "unknown fd_flags");
	expect_alloc_error(node, 4096, O_CLOEXEC, 1, EINVAL, "unknown flags");
	check_raw_ioctls(node);
	check_size_rounding(node);
	check_exhaustion(node, start);

	if (available() != start)
		t_fail("available %" PRIu64 " at the end, started at %" PRIu64,
		     available(), start);
	printf("ok: available back at %" PRIu64 " bytes\n", start);
	close(node);
	return 0;
}

static int cmd_zero(void)
{
	const size_t size = 1 << 20;
	int node = open_provider();
	uint64_t start = available();
	volatile uint8_t *map;
	int fd, round;
	size_t i;

	for (round = 0; round < 2; round++) {
		fd = alloc_buf(node, size);
		map = map_buf(fd, size);
		for (i = 0; i < size; i++)
			if (map[i])
				t_fail("round %d: byte %zu of a new buffer is %#x",
				     round, i, map[i]);
		memset((void *)map, 0xa5, size);
		munmap((void *)map, size);
		close(fd);
	}
	if (available() != start)
		t_fail("available %" PRIu64 ", started at %" PRIu64, available(),
		     start);
	printf("ok: a secret written before free is not seen by the next allocation\n");
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

int main(int argc, char **argv)
{
	if (argc < 3)
		t_fail("usage: %s query|edu|negative|zero|revoke PROVIDER [ARGS]",
		     argv[0]);
	provider = argv[2];

	if (!strcmp(argv[1], "query") && argc == 4)
		return cmd_query(argv[3]);
	if (!strcmp(argv[1], "edu") && argc == 5)
		return cmd_edu(argv[3], argv[4]);
	if (!strcmp(argv[1], "negative") && argc == 3)
		return cmd_negative();
	if (!strcmp(argv[1], "zero") && argc == 3)
		return cmd_zero();
	if (!strcmp(argv[1], "revoke") && argc == 3)
		return cmd_revoke();
	t_fail("bad arguments");
}
