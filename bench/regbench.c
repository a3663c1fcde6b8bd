/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Memory registration benchmark for p2pverbs (runs in the bench guest).
 *
 *   regbench sizes     RDMA-DEV PROVIDER MIN-MIB MAX-MIB REPS
 *   regbench providers RDMA-DEV SIZE-KIB REPS CLIENT-BDF PROVIDER...
 *   regbench library   RDMA-DEV PROVIDER REPS
 *
 * "sizes": for every power-of-two size from MIN-MIB to MAX-MIB, times
 *   - host:  ibv_reg_mr() of an anonymous mmap'd buffer that was touched
 *            (every page faulted in) before the first registration;
 *   - p2p:   ibv_reg_dmabuf_mr() of a dma-buf from /dev/p2pmem/PROVIDER
 *            (P2PMEM_IOC_ALLOC).  On rxe this is dma_buf_get + dynamic attach
 *            (the exporter's mapping decision) + pin + vmap + the MR object;
 *   - the matching ibv_dereg_mr() of each, and P2PMEM_IOC_ALLOC itself
 *     and the close of the fd (min(REPS, 3) times), each allocation from
 *     an idle pool: after the guest's CPUs were idle for a second, when
 *     the exporter's zero worker has cleared what the repetition before
 *     freed (ALLOC never zeroes; it would wait for the worker).
 *   One untimed warm-up registration per buffer, then REPS timed
 *   register/deregister pairs on the same buffer.  PROVIDER "none": host
 *   memory only (a kernel without /dev/p2pmem).
 *
 * "providers": for each PROVIDER k (in the order given), a SIZE-KIB buffer:
 *   - query:  P2PMEM_IOC_MAP_QUERY for CLIENT-BDF (the exporter's mapping
 *             decision, asked ahead of time), median of 10*REPS;
 *   - reg:    ibv_reg_dmabuf_mr() on provider k's buffer while no other
 *             provider's buffer is registered;
 *   - reg_live: the same while the buffers of providers 1..k-1 stay
 *             registered (k-1 live attachments on other providers).
 *   Plus a host reference: ibv_reg_mr() of a touched SIZE-KIB buffer.
 *
 * "library": what libp2pverbs adds to the verbs it calls, at 1 MiB and
 *   16 MiB; each sample of one call is interleaved with one of the others on
 *   the same buffer, so drift of the machine hits them alike:
 *   - p2p:  raw ibv_reg_dmabuf_mr() of the library's buffer (p2pv_buf_alloc
 *           from PROVIDER) against p2pv_reg_mr() (which hands the address to
 *           the kernel: ibv_reg_mr_iova2) and p2pv_reg_buf(); also the plain
 *           ibv_reg_mr() of the buffer's mapping ("raw_mapping": the kernel
 *           resolves the mapping to its dma-buf), when the kernel can;
 *   - host: raw ibv_reg_mr() of touched anonymous memory against
 *           p2pv_reg_mr() of the same memory;
 *   - choose: p2pv_choose_provider() for RDMA-DEV among every provider of
 *           the machine: the first call (builds the graph), then REPS calls.
 *
 * The targets of issue 17 (bench/guest.sh section 4, bench/guest-hostreg.sh):
 *
 *   regbench alloc   PROVIDER REPS
 *   regbench dereg   RDMA-DEV PROVIDER REPS SIZE-KIB...
 *   regbench hostreg RDMA-DEV REPS
 *
 * "alloc": P2PMEM_IOC_ALLOC of 4 KiB and of 32 MiB, and the allocating
 *   mmap() of the node for the same sizes, each from an idle pool: before
 *   every sample the guest's CPUs must have been idle for a second (the
 *   zero worker has cleared what the sample before freed; it runs on a CPU
 *   for as long as it has dirty memory, and nothing else runs in the
 *   bench guest).  The sizes alternate in order from round to round.  Per
 *   size and call: the call alone ("p2p_alloc_idle"), and the call plus
 *   the close()/munmap() that frees the buffer ("p2p_alloc_close_idle").
 *   One untimed allocation by each call first.
 * "dereg": per SIZE-KIB, one touched anonymous buffer (ibv_reg_mr) and one
 *   dma-buf from PROVIDER (ibv_reg_dmabuf_mr); each round registers and
 *   deregisters both, host first in even rounds and P2P first in odd ones,
 *   and times each ibv_dereg_mr() ("dereg_pair").
 * "hostreg": ibv_reg_mr() of touched anonymous memory, 1 MiB and 16 MiB
 *   alternating, REPS rounds ("hostreg", "hostreg_dereg"), once the
 *   guest's CPUs have been idle for a second (not_idle: 1 if they were
 *   not within 120 s); runs on any
 *   kernel, so that the same binary compares two kernels (bench/run.sh
 *   BENCH_BASE_UPTO).
 *
 * Output: one JSON object per line on stdout, times in microseconds
 * (CLOCK_MONOTONIC around the one call), median/min/max over the samples.
 * Errors: "error: ..." on stderr and exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/p2pverbs.h>
#include <infiniband/verbs.h>
#include <linux/p2pmem.h>

#include "p2pmem-client.h"

#define MIB		(1024ull * 1024)
#define ACCESS		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)
#define MAX_PROVIDERS	64

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct stats {
	double median, min, max;
	int n;
};

static struct stats stats_of(double *v, int n)
{
	struct stats s = { 0, 0, 0, n };

	if (n <= 0)
		return s;
	qsort(v, n, sizeof(*v), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

/* one JSON line: {"bench":..., <extra>, "median_us":..., "min_us":..., ...} */
static void emit(const char *bench, const char *extra, double *v, int n)
{
	struct stats s = stats_of(v, n);

	printf("{\"bench\": \"%s\", %s, \"median_us\": %.3f, \"min_us\": %.3f, "
	       "\"max_us\": %.3f, \"samples\": %d}\n",
	       bench, extra, s.median, s.min, s.max, s.n);
	fflush(stdout);
}

static struct ibv_context *open_dev(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;
	int i;

	if (!list)
		die("ibv_get_device_list: %s", strerror(errno));
	for (i = 0; list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!ctx)
		die("cannot open RDMA device %s", name);
	return ctx;
}

/* every mode measures on one protection domain of the named device */
static struct ibv_pd *open_dev_pd(const char *name)
{
	struct ibv_pd *pd = ibv_alloc_pd(open_dev(name));

	if (!pd)
		die("ibv_alloc_pd: %s", strerror(errno));
	return pd;
}

static void close_dev_pd(struct ibv_pd *pd)
{
	struct ibv_context *ctx = pd->context;

	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
}

static int open_provider(const char *bdf)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/dev/p2pmem/%s", bdf);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	return fd;
}

static int p2p_alloc(int node, const char *bdf, uint64_t size)
{
	int fd = p2pmem_try_alloc(node, size, O_RDWR | O_CLOEXEC, 0);

	if (fd < 0)
		die("P2PMEM_IOC_ALLOC %" PRIu64 " bytes from %s: %s", size, bdf,
		    strerror(-fd));
	return fd;
}

static void *host_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu bytes: %s", size, strerror(errno));
	memset(p, 0x5a, size);	/* touched: every page is present */
	return p;
}

static struct ibv_mr *reg_host(struct ibv_pd *pd, void *p, size_t size)
{
	struct ibv_mr *mr = ibv_reg_mr(pd, p, size, ACCESS);

	if (!mr)
		die("ibv_reg_mr %zu bytes: %s", size, strerror(errno));
	return mr;
}

static struct ibv_mr *reg_p2p(struct ibv_pd *pd, int fd, size_t size)
{
	struct ibv_mr *mr = ibv_reg_dmabuf_mr(pd, 0, size, 0, fd, ACCESS);

	if (!mr)
		die("ibv_reg_dmabuf_mr %zu bytes: %s", size, strerror(errno));
	return mr;
}

static void dereg(struct ibv_mr *mr)
{
	if (ibv_dereg_mr(mr))
		die("ibv_dereg_mr: %s", strerror(errno));
}

static int to_int(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || v <= 0 || v > 1 << 20)
		die("bad %s: %s", what, s);
	return (int)v;
}

/* host memory at P, or the dma-buf FD when P is NULL */
static struct ibv_mr *reg_buf(struct ibv_pd *pd, void *p, int fd, size_t size)
{
	return p ? reg_host(pd, p, size) : reg_p2p(pd, fd, size);
}

/* time REPS reg/dereg pairs of one buffer (after one warm-up) */
static void time_reg(struct ibv_pd *pd, void *p, int fd, size_t size, int reps,
		     double *reg, double *unreg)
{
	int i;

	dereg(reg_buf(pd, p, fd, size));
	for (i = 0; i < reps; i++) {
		double t0 = now_us();
		struct ibv_mr *mr = reg_buf(pd, p, fd, size);
		double t1 = now_us();

		dereg(mr);
		reg[i] = t1 - t0;
		unreg[i] = now_us() - t1;
	}
}

/* busy and total jiffies of all CPUs so far, from /proc/stat */
static void cpu_jiffies(unsigned long long *busy, unsigned long long *total)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int i;

	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
			 &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		die("cannot read /proc/stat");
	fclose(f);
	*total = 0;
	for (i = 0; i < 8; i++)
		*total += v[i];
	*busy = *total - v[3] - v[4];	/* less idle and iowait */
}

/*
 * Wait until the CPUs have been idle (under 10 % busy) for two windows of
 * half a second in a row: the zero worker has nothing left to clear.
 * Returns 0, or -1 after 120 s without such a second.
 */
static int wait_idle(void)
{
	const struct timespec half = { 0, 500 * 1000 * 1000 };
	unsigned long long b0, t0, b1, t1;
	int quiet = 0, i;

	cpu_jiffies(&b0, &t0);
	for (i = 0; i < 240 && quiet < 2; i++) {
		nanosleep(&half, NULL);
		cpu_jiffies(&b1, &t1);
		quiet = t1 > t0 && (b1 - b0) * 10 < t1 - t0 ? quiet + 1 : 0;
		b0 = b1;
		t0 = t1;
	}
	return quiet >= 2 ? 0 : -1;
}

static int cmd_sizes(int argc, char **argv)
{
	const char *dev, *bdf;
	int min_mib, max_mib, reps, areps, node;
	struct ibv_pd *pd;
	double *reg, *unreg, *alloc, *rel;
	char extra[256];

	if (argc != 7)
		die("usage: regbench sizes RDMA-DEV PROVIDER MIN-MIB MAX-MIB REPS");
	dev = argv[2];
	bdf = argv[3];
	min_mib = to_int(argv[4], "MIN-MIB");
	max_mib = to_int(argv[5], "MAX-MIB");
	reps = to_int(argv[6], "REPS");
	areps = reps < 3 ? reps : 3;	/* zeroing a big BAR is slow under TCG */

	pd = open_dev_pd(dev);
	node = strcmp(bdf, "none") ? open_provider(bdf) : -1;
	reg = calloc(reps, sizeof(*reg));
	unreg = calloc(reps, sizeof(*unreg));
	alloc = calloc(reps, sizeof(*alloc));
	rel = calloc(reps, sizeof(*rel));
	if (!reg || !unreg || !alloc || !rel)
		die("out of memory");

	for (uint64_t mib = min_mib; mib <= (uint64_t)max_mib; mib *= 2) {
		size_t size = mib * MIB;
		void *p;
		int fd, i;

		/* host memory */
		p = host_alloc(size);
		time_reg(pd, p, -1, size, reps, reg, unreg);
		munmap(p, size);
		snprintf(extra, sizeof(extra),
			 "\"mem\": \"host\", \"dev\": \"%s\", \"size\": %zu", dev, size);
		emit("reg", extra, reg, reps);
		emit("dereg", extra, unreg, reps);
		if (node < 0)
			continue;

		/*
		 * P2P memory: allocation and release, each allocation from
		 * an idle pool: the zero worker has cleared the buffer freed
		 * before (2 s or more per 32 MiB of NVMe CMB under TCG, longer
		 * on a loaded host, so no fixed pause will do).
		 */
		for (i = 0; i < areps; i++) {
			double t0, t1;

			wait_idle();
			t0 = now_us();
			fd = p2p_alloc(node, bdf, size);
			t1 = now_us();
			close(fd);
			alloc[i] = t1 - t0;
			rel[i] = now_us() - t1;
		}
		snprintf(extra, sizeof(extra),
			 "\"mem\": \"p2p\", \"provider\": \"%s\", \"dev\": \"%s\", \"size\": %zu",
			 bdf, dev, size);
		emit("p2p_alloc", extra, alloc, areps);
		emit("p2p_free", extra, rel, areps);

		fd = p2p_alloc(node, bdf, size);
		time_reg(pd, NULL, fd, size, reps, reg, unreg);
		close(fd);
		emit("reg", extra, reg, reps);
		emit("dereg", extra, unreg, reps);
	}

	if (node >= 0)
		close(node);
	close_dev_pd(pd);
	return 0;
}

static int cmd_providers(int argc, char **argv)
{
	struct ibv_mr *live[MAX_PROVIDERS] = { 0 };
	int nodes[MAX_PROVIDERS], fds[MAX_PROVIDERS];
	const char *dev, *client;
	struct p2pmem_map_query q0 = { 0 };
	int n, reps, qreps, k, i;
	struct ibv_pd *pd;
	double *reg, *unreg, *qt;
	char extra[256];
	size_t size;
	void *p;

	if (argc < 7)
		die("usage: regbench providers RDMA-DEV SIZE-KIB REPS CLIENT-BDF PROVIDER...");
	dev = argv[2];
	size = (size_t)to_int(argv[3], "SIZE-KIB") * 1024;
	reps = to_int(argv[4], "REPS");
	client = argv[5];
	if (p2pmem_set_client(client, &q0))
		die("bad CLIENT-BDF %s", client);
	n = argc - 6;
	if (n > MAX_PROVIDERS)
		die("at most %d providers", MAX_PROVIDERS);
	qreps = 10 * reps;

	pd = open_dev_pd(dev);
	reg = calloc(qreps, sizeof(*reg));
	unreg = calloc(qreps, sizeof(*unreg));
	qt = calloc(qreps, sizeof(*qt));
	if (!reg || !unreg || !qt)
		die("out of memory");

	/* host reference in the same run */
	p = host_alloc(size);
	time_reg(pd, p, -1, size, reps, reg, unreg);
	munmap(p, size);
	snprintf(extra, sizeof(extra),
		 "\"mem\": \"host\", \"dev\": \"%s\", \"size\": %zu", dev, size);
	emit("prov_host_reg", extra, reg, reps);

	for (k = 0; k < n; k++) {
		nodes[k] = open_provider(argv[6 + k]);
		fds[k] = p2p_alloc(nodes[k], argv[6 + k], size);
	}

	/* each provider alone: query and registration */
	for (k = 0; k < n; k++) {
		const char *bdf = argv[6 + k];

		for (i = 0; i < qreps; i++) {
			struct p2pmem_map_query q = q0;
			double t0 = now_us();

			if (ioctl(nodes[k], P2PMEM_IOC_MAP_QUERY, &q))
				die("P2PMEM_IOC_MAP_QUERY %s for %s: %s", bdf,
				    client, strerror(errno));
			qt[i] = now_us() - t0;
		}
		snprintf(extra, sizeof(extra),
			 "\"index\": %d, \"provider\": \"%s\", \"client\": \"%s\", \"size\": %zu",
			 k + 1, bdf, client, size);
		emit("prov_query", extra, qt, qreps);

		time_reg(pd, NULL, fds[k], size, reps, reg, unreg);
		snprintf(extra, sizeof(extra),
			 "\"index\": %d, \"provider\": \"%s\", \"dev\": \"%s\", \"size\": %zu, \"live\": 0",
			 k + 1, bdf, dev, size);
		emit("prov_reg", extra, reg, reps);
		emit("prov_dereg", extra, unreg, reps);
	}

	/* provider k while providers 1..k-1 keep a registered buffer */
	for (k = 0; k < n; k++) {
		const char *bdf = argv[6 + k];

		time_reg(pd, NULL, fds[k], size, reps, reg, unreg);
		snprintf(extra, sizeof(extra),
			 "\"index\": %d, \"provider\": \"%s\", \"dev\": \"%s\", \"size\": %zu, \"live\": %d",
			 k + 1, bdf, dev, size, k);
		emit("prov_reg_live", extra, reg, reps);
		live[k] = reg_p2p(pd, fds[k], size);
	}

	for (k = 0; k < n; k++) {
		dereg(live[k]);
		close(fds[k]);
		close(nodes[k]);
	}
	close_dev_pd(pd);
	return 0;
}

/* one registration through one API, deregistered; its time in usec */
enum lib_api { RAW, P2PV_REG_MR, P2PV_REG_BUF, RAW_MAPPING, NUM_APIS };
static const char *const api_name[] = { "raw", "p2pv_reg_mr", "p2pv_reg_buf",
					"raw_mapping" };

static double time_lib_reg(enum lib_api api, struct ibv_pd *pd,
			   struct p2pv_buf *buf, void *host, size_t size)
{
	void *addr = buf ? buf->addr : host;
	struct ibv_mr *mr;
	double t0, t1;

	t0 = now_us();
	if (api == P2PV_REG_BUF)
		mr = p2pv_reg_buf(pd, buf, 0, size, ACCESS);
	else if (api == P2PV_REG_MR)
		mr = p2pv_reg_mr(pd, addr, size, ACCESS);
	else if (api == RAW_MAPPING)
		mr = ibv_reg_mr(pd, addr, size, ACCESS);
	else if (buf)
		mr = ibv_reg_dmabuf_mr(pd, buf->dmabuf_offset, size,
				       (uintptr_t)addr, buf->dmabuf_fd, ACCESS);
	else
		mr = ibv_reg_mr(pd, addr, size, ACCESS);
	t1 = now_us();
	if (!mr)
		die("%s of %zu bytes: %s (%s)", api_name[api], size,
		    strerror(errno), p2pv_last_error());
	if (api == RAW || api == RAW_MAPPING ? ibv_dereg_mr(mr) != 0 :
					       p2pv_dereg_mr(mr) < 0)
		die("deregistration: %s", strerror(errno));
	return t1 - t0;
}

/* REPS rounds; in each, every API once, in rotating order */
static void lib_round(struct ibv_pd *pd, struct p2pv_buf *buf, void *host,
		      size_t size, int apis, int reps, double *t[NUM_APIS])
{
	int i, j;

	for (j = 0; j < apis; j++)	/* warm-up */
		time_lib_reg((enum lib_api)j, pd, buf, host, size);
	for (i = 0; i < reps; i++)
		for (j = 0; j < apis; j++) {
			int api = (i + j) % apis;

			t[api][i] = time_lib_reg((enum lib_api)api, pd, buf,
						 host, size);
		}
}

static int cmd_library(int argc, char **argv)
{
	static const size_t sizes[] = { 1 * MIB, 16 * MIB };
	struct p2pv_provider chosen;
	double *t[NUM_APIS], *ct, t0;
	const char *dev, *bdf;
	struct ibv_pd *pd;
	char extra[256];
	size_t k;
	int reps, j, nprov = 0, napis;

	if (argc != 5)
		die("usage: regbench library RDMA-DEV PROVIDER REPS");
	dev = argv[2];
	bdf = argv[3];
	reps = to_int(argv[4], "REPS");
	pd = open_dev_pd(dev);
	for (j = 0; j < NUM_APIS; j++)
		if (!(t[j] = calloc(reps, sizeof(double))))
			die("out of memory");
	ct = calloc(reps, sizeof(double));
	if (!ct)
		die("out of memory");

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct p2pv_buf *buf = p2pv_buf_alloc(bdf, NULL, sizes[k]);
		void *host;

		if (!buf)
			die("p2pv_buf_alloc(%s, %zu): %s", bdf, sizes[k],
			    p2pv_last_error());
		/* without patches 0018-0022 the kernel refuses the plain
		 * ibv_reg_mr (EFAULT): then there is no raw_mapping column */
		{
			struct ibv_mr *mr = ibv_reg_mr(pd, buf->addr, sizes[k], ACCESS);

			napis = mr ? NUM_APIS : RAW_MAPPING;
			if (mr)
				ibv_dereg_mr(mr);
		}
		lib_round(pd, buf, NULL, sizes[k], napis, reps, t);
		for (j = 0; j < napis; j++) {
			snprintf(extra, sizeof(extra),
				 "\"mem\": \"p2p\", \"api\": \"%s\", \"provider\": \"%s\", \"dev\": \"%s\", \"size\": %zu",
				 api_name[j], bdf, dev, sizes[k]);
			emit("lib_reg", extra, t[j], reps);
		}
		if (p2pv_buf_free(buf) < 0)
			die("p2pv_buf_free: %s", p2pv_last_error());

		host = host_alloc(sizes[k]);
		lib_round(pd, NULL, host, sizes[k], P2PV_REG_BUF, reps, t);
		for (j = 0; j < P2PV_REG_BUF; j++) {
			snprintf(extra, sizeof(extra),
				 "\"mem\": \"host\", \"api\": \"%s\", \"dev\": \"%s\", \"size\": %zu",
				 api_name[j], dev, sizes[k]);
			emit("lib_reg", extra, t[j], reps);
		}
		munmap(host, sizes[k]);
	}

	p2pv_free_provider_list(p2pv_get_provider_list(&nprov, sizeof(struct p2pv_provider)));
	t0 = now_us();
	if (p2pv_choose_provider_by_name(&dev, 1, 0, &chosen, sizeof(chosen), NULL, 0) < 0)
		die("p2pv_choose_provider: %s", p2pv_last_error());
	ct[0] = now_us() - t0;
	snprintf(extra, sizeof(extra),
		 "\"dev\": \"%s\", \"providers\": %d, \"chosen\": \"%s\"",
		 dev, nprov, chosen.pci_addr);
	emit("choose_first", extra, ct, 1);
	for (j = 0; j < reps; j++) {
		t0 = now_us();
		if (p2pv_choose_provider_by_name(&dev, 1, 0, &chosen, sizeof(chosen), NULL, 0) < 0)
			die("p2pv_choose_provider: %s", p2pv_last_error());
		ct[j] = now_us() - t0;
	}
	emit("choose", extra, ct, reps);

	close_dev_pd(pd);
	return 0;
}

static int cmd_alloc(int argc, char **argv)
{
	static const uint64_t sizes[] = { 4096, 32 * MIB };
	enum { ALLOC, MMAP, NUM_CALLS };
	static const char *const call_name[] = { "ALLOC", "mmap" };
	double *t[2][NUM_CALLS], *tc[2][NUM_CALLS];
	int reps, node, i, j, s, c, busy = 0;
	const char *bdf;
	char extra[256];

	if (argc != 4)
		die("usage: regbench alloc PROVIDER REPS");
	bdf = argv[2];
	reps = to_int(argv[3], "REPS");
	node = open_provider(bdf);
	for (s = 0; s < 2; s++)
		for (c = 0; c < NUM_CALLS; c++)
			if (!(t[s][c] = calloc(reps, sizeof(double))) ||
			    !(tc[s][c] = calloc(reps, sizeof(double))))
				die("out of memory");

	/* untimed: the first of each call faults in the process's code and data */
	close(p2p_alloc(node, bdf, sizes[0]));
	{
		void *map = mmap(NULL, sizes[0], PROT_READ | PROT_WRITE, MAP_SHARED, node, 0);

		if (map == MAP_FAILED)
			die("mmap of %s: %s", bdf, strerror(errno));
		munmap(map, sizes[0]);
	}
	for (i = 0; i < reps; i++)
		for (j = 0; j < 2 * NUM_CALLS; j++) {
			double t0, t1;
			void *map;
			int fd;

			s = (j + i) % 2;	/* 4 KiB first in even rounds */
			c = j / 2;
			if (wait_idle())
				busy++;
			t0 = now_us();
			if (c == ALLOC) {
				fd = p2p_alloc(node, bdf, sizes[s]);
				t1 = now_us();
				close(fd);
			} else {
				map = mmap(NULL, sizes[s], PROT_READ | PROT_WRITE,
					   MAP_SHARED, node, 0);
				t1 = now_us();
				if (map == MAP_FAILED)
					die("mmap of %" PRIu64 " bytes of %s: %s",
					    sizes[s], bdf, strerror(errno));
				munmap(map, sizes[s]);
			}
			t[s][c][i] = t1 - t0;
			tc[s][c][i] = now_us() - t0;
		}

	for (s = 0; s < 2; s++)
		for (c = 0; c < NUM_CALLS; c++) {
			snprintf(extra, sizeof(extra),
				 "\"mem\": \"p2p\", \"provider\": \"%s\", \"call\": \"%s\", \"size\": %" PRIu64 ", \"not_idle\": %d",
				 bdf, call_name[c], sizes[s], busy);
			emit("p2p_alloc_idle", extra, t[s][c], reps);
			emit("p2p_alloc_close_idle", extra, tc[s][c], reps);
		}
	close(node);
	return 0;
}

static int cmd_dereg(int argc, char **argv)
{
	const char *dev, *bdf;
	struct ibv_pd *pd;
	double *host_t, *p2p_t;
	char extra[256];
	int reps, node, k;

	if (argc < 6)
		die("usage: regbench dereg RDMA-DEV PROVIDER REPS SIZE-KIB...");
	dev = argv[2];
	bdf = argv[3];
	reps = to_int(argv[4], "REPS");
	pd = open_dev_pd(dev);
	node = open_provider(bdf);
	host_t = calloc(reps, sizeof(double));
	p2p_t = calloc(reps, sizeof(double));
	if (!host_t || !p2p_t)
		die("out of memory");

	for (k = 5; k < argc; k++) {
		size_t size = (size_t)to_int(argv[k], "SIZE-KIB") * 1024;
		void *p = host_alloc(size);
		int fd = p2p_alloc(node, bdf, size), i, j;

		dereg(reg_host(pd, p, size));	/* warm-up */
		dereg(reg_p2p(pd, fd, size));
		for (i = 0; i < reps; i++)
			for (j = 0; j < 2; j++) {
				int host = (i + j) % 2 == 0;	/* host first in even rounds */
				struct ibv_mr *mr = reg_buf(pd, host ? p : NULL, fd, size);
				double t0 = now_us();

				dereg(mr);
				(host ? host_t : p2p_t)[i] = now_us() - t0;
			}
		munmap(p, size);
		close(fd);
		snprintf(extra, sizeof(extra),
			 "\"mem\": \"host\", \"dev\": \"%s\", \"size\": %zu", dev, size);
		emit("dereg_pair", extra, host_t, reps);
		snprintf(extra, sizeof(extra),
			 "\"mem\": \"p2p\", \"provider\": \"%s\", \"dev\": \"%s\", \"size\": %zu",
			 bdf, dev, size);
		emit("dereg_pair", extra, p2p_t, reps);
	}
	close(node);
	close_dev_pd(pd);
	return 0;
}

static int cmd_hostreg(int argc, char **argv)
{
	static const size_t sizes[] = { 1 * MIB, 16 * MIB };
	double *reg[2], *unreg[2];
	struct ibv_pd *pd;
	const char *dev;
	char extra[256];
	void *p[2];
	int reps, i, j, s, not_idle;

	if (argc != 4)
		die("usage: regbench hostreg RDMA-DEV REPS");
	dev = argv[2];
	reps = to_int(argv[3], "REPS");
	pd = open_dev_pd(dev);
	for (s = 0; s < 2; s++) {
		if (!(reg[s] = calloc(reps, sizeof(double))) ||
		    !(unreg[s] = calloc(reps, sizeof(double))))
			die("out of memory");
		p[s] = host_alloc(sizes[s]);
		dereg(reg_host(pd, p[s], sizes[s]));	/* warm-up */
	}
	/*
	 * Since 0010 of the series, a zero worker clears every provider's
	 * user share after boot (seconds on an NVMe CMB under TCG); a
	 * kernel without it has nothing running: measure both on an idle
	 * guest, or the comparison measures the worker.
	 */
	not_idle = wait_idle();
	for (i = 0; i < reps; i++)
		for (j = 0; j < 2; j++) {
			double t0, t1;
			struct ibv_mr *mr;

			s = (i + j) % 2;	/* 1 MiB first in even rounds */
			t0 = now_us();
			mr = reg_host(pd, p[s], sizes[s]);
			t1 = now_us();
			dereg(mr);
			reg[s][i] = t1 - t0;
			unreg[s][i] = now_us() - t1;
		}
	for (s = 0; s < 2; s++) {
		snprintf(extra, sizeof(extra),
			 "\"mem\": \"host\", \"dev\": \"%s\", \"size\": %zu, \"not_idle\": %d",
			 dev, sizes[s], -not_idle);
		emit("hostreg", extra, reg[s], reps);
		emit("hostreg_dereg", extra, unreg[s], reps);
		munmap(p[s], sizes[s]);
	}
	close_dev_pd(pd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "alloc"))
		return cmd_alloc(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "dereg"))
		return cmd_dereg(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "hostreg"))
		return cmd_hostreg(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "library"))
		return cmd_library(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "sizes"))
		return cmd_sizes(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "providers"))
		return cmd_providers(argc, argv);
	die("usage: regbench sizes|providers|library|alloc|dereg|hostreg ... (see the comment at the top of bench/regbench.c)");
}
