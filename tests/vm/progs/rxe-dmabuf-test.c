/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-guest checks of soft-RoCE (rxe) memory regions on /dev/p2pmem dma-bufs.
 *
 *   rxe-dmabuf-test verbs  PROVIDER DEV0 DEV1
 *   rxe-dmabuf-test revoke PROVIDER DEV0 DEV1
 *   rxe-dmabuf-test reset  PROVIDER DEV0 DEV1     (P2PV_RESET_DONE=FILE)
 *
 * PROVIDER is the PCI name of a published P2PDMA provider (its node is
 * /dev/p2pmem/PROVIDER), or "udmabuf" for host memory exported by udmabuf,
 * an exporter that is not dynamic and needs CPU-access calls; DEV0 and DEV1 are two rxe devices that reach each
 * other (rxe0 and rxe1 of rxe_pair in guest/lib.sh), GID index 0 on port 1.
 * One process connects an RC QP on DEV0 to an RC QP on DEV1.
 *
 * "verbs" registers the P2P dma-buf with ibv_reg_dmabuf_mr() on both devices
 * and runs RDMA WRITE, RDMA READ, SEND/RECV, compare-and-swap and
 * fetch-and-add with the P2P MR as source and as destination (host memory on
 * the other side), checking the data byte for byte through the CPU mapping of
 * the dma-buf; then the registration errors; then it closes and unmaps the
 * dma-buf and checks that the MRs still work.
 *
 * "revoke" runs RDMA WRITEs into a P2P MR in a loop.  After some successful
 * writes it prints "ready: remove PROVIDER" and keeps writing; the caller then
 * removes the provider (echo 1 >/sys/bus/pci/devices/PROVIDER/remove).  The
 * loop must end with an error completion (remote access error) within
 * REVOKE_DEADLINE seconds; then every object is destroyed and every
 * descriptor closed, all of which must succeed.
 *
 * "reset" is "revoke" for a provider that is reset rather than removed: the
 * caller resets it and then creates the file named by $P2PV_RESET_DONE,
 * which stands for "the provider is gone" in the checks after the error.
 *
 * With RXE_DMABUF_REG=address in the environment, the P2P memory is
 * registered by its address in the dma-buf's CPU mapping with plain
 * ibv_reg_mr_iova() instead: the kernel resolves the mapping to the dma-buf,
 * and every check must come out the same.
 *
 * Every wait is bounded.  Prints "ok: ..." per check; on failure prints
 * "FAIL: ..." and exits 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* usleep, O_CLOEXEC; the CMake build defines it */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <linux/p2pmem.h>
#include <linux/udmabuf.h>

#include "t-report.h"

#define BUF_SIZE	(1u << 20)
#define PAGE		4096u
#define POLL_TIMEOUT_MS	10000
#define REVOKE_READY	50	/* writes before "ready" */
#define REVOKE_DEADLINE	120	/* seconds */
#define ACCESS_ALL	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

/* iovas of the P2P MRs: unlike the dma-buf offsets, to check translation */
#define IOVA0		0x40000000ull		/* DEV0: whole buffer */
#define IOVA1		0x7f0000000000ull	/* DEV1: whole buffer */
#define SUB_OFFSET	(PAGE + 0x64)		/* DEV1: a sub-range ... */
#define SUB_IOVA	(0x90000000ull + 0x64)	/* ... with a page offset */
#define SUB_LENGTH	(64u * 1024)

static const char *provider;

static void ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void ok(const char *fmt, ...)
{
	va_list ap;

	printf("ok: [%s] ", provider);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* One side of the connection: an rxe device with its PD, CQ, QP, host MR */
struct side {
	const char *name;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	union ibv_gid gid;
	uint8_t *host;		/* host memory, BUF_SIZE */
	struct ibv_mr *host_mr;
	struct ibv_mr *p2p_mr;	/* the whole dma-buf */
};

/* The P2P buffer: a dma-buf from the provider and its CPU mapping */
static int node = -1, buf_fd = -1;
static volatile uint8_t *p2p;
static bool reg_by_address;	/* RXE_DMABUF_REG=address */

static void open_side(struct side *s, const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	int i;

	memset(s, 0, sizeof(*s));
	s->name = name;
	if (!list)
		t_fail("ibv_get_device_list: %s", strerror(errno));
	for (i = 0; list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			s->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!s->ctx)
		t_fail("cannot open RDMA device %s", name);
	if (ibv_query_gid(s->ctx, 1, 0, &s->gid))
		t_fail("%s: ibv_query_gid: %s", name, strerror(errno));
	s->pd = ibv_alloc_pd(s->ctx);
	s->cq = ibv_create_cq(s->ctx, 64, NULL, NULL, 0);
	if (!s->pd || !s->cq)
		t_fail("%s: PD/CQ: %s", name, strerror(errno));
	s->host = aligned_alloc(PAGE, BUF_SIZE);
	if (!s->host)
		t_fail("out of memory");
	memset(s->host, 0, BUF_SIZE);
	s->host_mr = ibv_reg_mr(s->pd, s->host, BUF_SIZE, ACCESS_ALL);
	if (!s->host_mr)
		t_fail("%s: ibv_reg_mr: %s", name, strerror(errno));
}

static void create_qp(struct side *s)
{
	struct ibv_qp_init_attr init = {
		.send_cq = s->cq,
		.recv_cq = s->cq,
		.cap = { .max_send_wr = 32, .max_recv_wr = 32,
			 .max_send_sge = 1, .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
	};
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = 1,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_ATOMIC,
	};

	s->qp = ibv_create_qp(s->pd, &init);
	if (!s->qp)
		t_fail("%s: ibv_create_qp: %s", s->name, strerror(errno));
	if (ibv_modify_qp(s->qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		t_fail("%s: QP to INIT: %s", s->name, strerror(errno));
}

/* RoCE v2: the address is the peer's GID, index 0 is the link-local one */
static void connect_qp(struct side *s, const struct side *peer)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_RTR,
		.path_mtu = IBV_MTU_1024,
		.dest_qp_num = peer->qp->qp_num,
		.rq_psn = 0,
		.max_dest_rd_atomic = 4,
		.min_rnr_timer = 12,
		.ah_attr = {
			.is_global = 1,
			.grh = { .dgid = peer->gid, .sgid_index = 0,
				 .hop_limit = 1 },
			.port_num = 1,
		},
	};

	if (ibv_modify_qp(s->qp, &attr, IBV_QP_STATE | IBV_QP_AV |
			  IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		t_fail("%s: QP to RTR: %s", s->name, strerror(errno));

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	attr.timeout = 14;
	attr.retry_cnt = 7;
	attr.rnr_retry = 7;
	attr.sq_psn = 0;
	attr.max_rd_atomic = 4;
	if (ibv_modify_qp(s->qp, &attr, IBV_QP_STATE | IBV_QP_TIMEOUT |
			  IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			  IBV_QP_MAX_QP_RD_ATOMIC))
		t_fail("%s: QP to RTS: %s", s->name, strerror(errno));
}

/* A QP pair in error (after an access error) is replaced by a fresh one */
static void reconnect(struct side *a, struct side *b)
{
	if (ibv_destroy_qp(a->qp) || ibv_destroy_qp(b->qp))
		t_fail("ibv_destroy_qp: %s", strerror(errno));
	create_qp(a);
	create_qp(b);
	connect_qp(a, b);
	connect_qp(b, a);
}

/* Wait for one completion, at most POLL_TIMEOUT_MS; returns its status */
static enum ibv_wc_status wait_wc(struct side *s, struct ibv_wc *wc)
{
	uint64_t deadline = t_now_ms() + POLL_TIMEOUT_MS;
	int n;

	for (;;) {
		n = ibv_poll_cq(s->cq, 1, wc);
		if (n < 0)
			t_fail("%s: ibv_poll_cq: %d", s->name, n);
		if (n == 1)
			return wc->status;
		if (t_now_ms() > deadline)
			t_fail("%s: no completion within %d ms", s->name,
			     POLL_TIMEOUT_MS);
		usleep(50);
	}
}

static void expect_success(struct side *s, const char *what)
{
	struct ibv_wc wc;

	if (wait_wc(s, &wc) != IBV_WC_SUCCESS)
		t_fail("%s: %s completed with %s", s->name, what,
		     ibv_wc_status_str(wc.status));
}

static void post_send(struct side *s, struct ibv_send_wr *wr, const char *what)
{
	struct ibv_send_wr *bad;
	int ret = ibv_post_send(s->qp, wr, &bad);

	if (ret)
		t_fail("%s: post %s: %s", s->name, what, strerror(ret));
}

/* An RDMA WRITE or READ of len bytes; local (lkey, laddr), remote (rkey, raddr) */
static void rdma(struct side *s, enum ibv_wr_opcode op, uint32_t lkey,
		 uint64_t laddr, uint32_t rkey, uint64_t raddr, uint32_t len,
		 const char *what)
{
	struct ibv_sge sge = { .addr = laddr, .length = len, .lkey = lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = op,
		.wr.rdma = { .remote_addr = raddr, .rkey = rkey },
	};

	post_send(s, &wr, what);
	expect_success(s, what);
}

static void atomic(struct side *s, enum ibv_wr_opcode op, uint32_t lkey,
		   uint64_t laddr, uint32_t rkey, uint64_t raddr,
		   uint64_t compare_add, uint64_t swap, const char *what)
{
	struct ibv_sge sge = { .addr = laddr, .length = 8, .lkey = lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = op,
		.wr.atomic = { .remote_addr = raddr, .rkey = rkey,
			       .compare_add = compare_add, .swap = swap },
	};

	post_send(s, &wr, what);
	expect_success(s, what);
}

static uint8_t pattern(uint32_t seed, size_t i)
{
	return (uint8_t)(seed * 131 + i + (i >> 8) * 7);
}

static void fill_p2p(size_t off, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p2p[off + i] = pattern(seed, i);
}

static void fill_host(uint8_t *p, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern(seed, i);
}

static void check_p2p_data(size_t off, size_t len, uint32_t seed,
			   const char *what)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p2p[off + i] != pattern(seed, i))
			t_fail("%s: dma-buf byte %zu is %#x, expected %#x", what,
			     off + i, p2p[off + i], pattern(seed, i));
}

static void check_p2p(size_t off, size_t len, uint32_t seed, const char *what)
{
	check_p2p_data(off, len, seed, what);
	/* the bytes around the target are untouched */
	if ((off && p2p[off - 1] != 0) ||
	    (off + len < BUF_SIZE && p2p[off + len] != 0))
		t_fail("%s: write outside of [%zu, %zu)", what, off, off + len);
}

static void check_host(const uint8_t *p, size_t len, uint32_t seed,
		       const char *what)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != pattern(seed, i))
			t_fail("%s: host byte %zu is %#x, expected %#x", what, i,
			     p[i], pattern(seed, i));
}

static void clear_all(struct side *a, struct side *b)
{
	size_t i;

	for (i = 0; i < BUF_SIZE; i += 8)
		*(volatile uint64_t *)(p2p + i) = 0;
	memset(a->host, 0, BUF_SIZE);
	memset(b->host, 0, BUF_SIZE);
}

static uint64_t p2p_u64(size_t off)
{
	return *(volatile uint64_t *)(p2p + off);
}

static void set_p2p_u64(size_t off, uint64_t v)
{
	*(volatile uint64_t *)(p2p + off) = v;
}

/* A udmabuf of BUF_SIZE bytes of a sealed memfd: host memory as a dma-buf */
static int open_udmabuf(void)
{
	struct udmabuf_create c = { .flags = UDMABUF_FLAGS_CLOEXEC,
				    .size = BUF_SIZE };
	int dev, fd, memfd;

	memfd = memfd_create("rxe-dmabuf-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, BUF_SIZE) ||
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK))
		t_fail("sealed memfd: %s", strerror(errno));
	c.memfd = memfd;
	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		t_fail("open /dev/udmabuf: %s", strerror(errno));
	fd = ioctl(dev, UDMABUF_CREATE, &c);
	if (fd < 0)
		t_fail("UDMABUF_CREATE: %s", strerror(errno));
	close(dev);
	close(memfd);
	return fd;
}

static void open_buffer(void)
{
	char path[256];
	struct p2pmem_alloc a = {
		.size = BUF_SIZE, .fd_flags = O_RDWR | O_CLOEXEC, .fd = -1,
	};
	void *m;

	if (!strcmp(provider, "udmabuf")) {
		buf_fd = open_udmabuf();
		goto map;
	}
	snprintf(path, sizeof(path), "/dev/p2pmem/%s", provider);
	node = open(path, O_RDWR | O_CLOEXEC);
	if (node < 0)
		t_fail("open %s: %s", path, strerror(errno));
	if (ioctl(node, P2PMEM_IOC_ALLOC, &a))
		t_fail("allocate %u bytes from %s: %s", BUF_SIZE, provider,
		     strerror(errno));
	buf_fd = a.fd;
map:
	m = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, buf_fd, 0);
	if (m == MAP_FAILED)
		t_fail("mmap dma-buf: %s", strerror(errno));
	p2p = m;
}

static struct ibv_mr *reg_p2p(struct side *s, uint64_t offset, size_t len,
			      uint64_t iova)
{
	struct ibv_mr *mr;

	if (reg_by_address)
		mr = ibv_reg_mr_iova(s->pd, (void *)(p2p + offset), len, iova,
				     ACCESS_ALL);
	else
		mr = ibv_reg_dmabuf_mr(s->pd, offset, len, iova, buf_fd,
				       ACCESS_ALL);
	if (!mr)
		t_fail("%s: %s(offset %#" PRIx64 ", length %zu, iova %#"
		     PRIx64 "): %s%s", s->name, reg_by_address ?
		     "ibv_reg_mr_iova" : "ibv_reg_dmabuf_mr", offset, len, iova,
		     strerror(errno), errno == EOPNOTSUPP ?
		     " (is the patched rxe provider and kernel in use?)" : "");
	return mr;
}

static void setup(struct side *a, struct side *b, const char *dev0,
		  const char *dev1)
{
	open_buffer();
	open_side(a, dev0);
	open_side(b, dev1);
	a->p2p_mr = reg_p2p(a, 0, BUF_SIZE, IOVA0);
	b->p2p_mr = reg_p2p(b, 0, BUF_SIZE, IOVA1);
	ok("%s on %s and %s", reg_by_address ?
	   "ibv_reg_mr_iova on the dma-buf's mapping" : "ibv_reg_dmabuf_mr",
	   dev0, dev1);
	create_qp(a);
	create_qp(b);
	connect_qp(a, b);
	connect_qp(b, a);
	ok("RC QP %s/%#x connected to %s/%#x", dev0, a->qp->qp_num, dev1,
	   b->qp->qp_num);
}

static void test_write_read(struct side *a, struct side *b)
{
	/* crosses pages and packets, starts and ends unaligned */
	const size_t off = 3 * PAGE + 123, len = 10000;
	const size_t hoff = 5 * PAGE + 7;

	/* WRITE, P2P source: DEV0's P2P MR -> DEV1's host memory */
	clear_all(a, b);
	fill_p2p(off, len, 1);
	rdma(a, IBV_WR_RDMA_WRITE, a->p2p_mr->lkey, IOVA0 + off,
	     b->host_mr->rkey, (uintptr_t)b->host + hoff, len, "write from p2p");
	check_host(b->host + hoff, len, 1, "write from p2p");
	ok("RDMA WRITE from a P2P MR (%zu bytes)", len);

	/* WRITE, P2P destination: DEV0's host memory -> DEV1's P2P MR */
	clear_all(a, b);
	fill_host(a->host + hoff, len, 2);
	rdma(a, IBV_WR_RDMA_WRITE, a->host_mr->lkey, (uintptr_t)a->host + hoff,
	     b->p2p_mr->rkey, IOVA1 + off, len, "write to p2p");
	check_p2p(off, len, 2, "write to p2p");
	ok("RDMA WRITE into a P2P MR (%zu bytes)", len);

	/* READ, P2P source: DEV1's P2P MR -> DEV0's host memory */
	clear_all(a, b);
	fill_p2p(off, len, 3);
	rdma(a, IBV_WR_RDMA_READ, a->host_mr->lkey, (uintptr_t)a->host + hoff,
	     b->p2p_mr->rkey, IOVA1 + off, len, "read from p2p");
	check_host(a->host + hoff, len, 3, "read from p2p");
	ok("RDMA READ from a P2P MR (%zu bytes)", len);

	/* READ, P2P destination: DEV1's host memory -> DEV0's P2P MR */
	clear_all(a, b);
	fill_host(b->host + hoff, len, 4);
	rdma(a, IBV_WR_RDMA_READ, a->p2p_mr->lkey, IOVA0 + off,
	     b->host_mr->rkey, (uintptr_t)b->host + hoff, len, "read to p2p");
	check_p2p(off, len, 4, "read to p2p");
	ok("RDMA READ into a P2P MR (%zu bytes)", len);
}

static void test_sub_range(struct side *a, struct side *b)
{
	struct ibv_mr *sub = reg_p2p(b, SUB_OFFSET, SUB_LENGTH, SUB_IOVA);
	const size_t at = 1000, len = 5000;

	/* iova SUB_IOVA + x is dma-buf byte SUB_OFFSET + x */
	clear_all(a, b);
	fill_host(a->host, len, 5);
	rdma(a, IBV_WR_RDMA_WRITE, a->host_mr->lkey, (uintptr_t)a->host,
	     sub->rkey, SUB_IOVA + at, len, "write to sub-range");
	check_p2p(SUB_OFFSET + at, len, 5, "write to sub-range");
	ok("MR at dma-buf offset %#x, iova %#llx: data lands at offset + (addr - iova)",
	   SUB_OFFSET, SUB_IOVA);

	/* the MR ends at SUB_LENGTH: one byte more is a remote access error */
	{
		struct ibv_sge sge = { .addr = (uintptr_t)a->host, .length = 16,
				       .lkey = a->host_mr->lkey };
		struct ibv_send_wr wr = {
			.sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_RDMA_WRITE,
			.wr.rdma = { .remote_addr = SUB_IOVA + SUB_LENGTH - 15,
				     .rkey = sub->rkey },
		};
		struct ibv_wc wc;

		post_send(a, &wr, "write past the MR");
		if (wait_wc(a, &wc) != IBV_WC_REM_ACCESS_ERR)
			t_fail("write past the end of a P2P MR completed with %s",
			     ibv_wc_status_str(wc.status));
		if (p2p[SUB_OFFSET + SUB_LENGTH] != 0)
			t_fail("write past the end of a P2P MR changed memory");
	}
	ok("RDMA WRITE past the end of a P2P MR: remote access error, memory untouched");
	if (ibv_dereg_mr(sub))
		t_fail("ibv_dereg_mr(sub-range): %s", strerror(errno));
}

static void post_recv(struct side *s, uint32_t lkey, uint64_t addr,
		      uint32_t len)
{
	struct ibv_sge sge = { .addr = addr, .length = len, .lkey = lkey };
	struct ibv_recv_wr wr = { .sg_list = &sge, .num_sge = 1 }, *bad;
	int ret = ibv_post_recv(s->qp, &wr, &bad);

	if (ret)
		t_fail("%s: ibv_post_recv: %s", s->name, strerror(ret));
}

static void send_recv(struct side *a, struct side *b, uint32_t slkey,
		      uint64_t saddr, uint32_t rlkey, uint64_t raddr,
		      uint32_t len, const char *what)
{
	struct ibv_sge sge = { .addr = saddr, .length = len, .lkey = slkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
	};
	struct ibv_wc wc;

	post_recv(b, rlkey, raddr, len);
	post_send(a, &wr, what);
	expect_success(a, what);
	if (wait_wc(b, &wc) != IBV_WC_SUCCESS || wc.opcode != IBV_WC_RECV ||
	    wc.byte_len != len)
		t_fail("%s: receive completed with %s, opcode %d, %u bytes", what,
		     ibv_wc_status_str(wc.status), wc.opcode, wc.byte_len);
}

static void test_send_recv(struct side *a, struct side *b)
{
	const size_t off = 7 * PAGE + 1, len = 3000;

	clear_all(a, b);
	fill_p2p(off, len, 6);
	send_recv(a, b, a->p2p_mr->lkey, IOVA0 + off, b->host_mr->lkey,
		  (uintptr_t)b->host, len, "send from p2p");
	check_host(b->host, len, 6, "send from p2p");
	ok("SEND from a P2P MR, RECV into host memory");

	clear_all(a, b);
	fill_host(a->host, len, 7);
	send_recv(a, b, a->host_mr->lkey, (uintptr_t)a->host, b->p2p_mr->lkey,
		  IOVA1 + off, len, "recv into p2p");
	check_p2p(off, len, 7, "recv into p2p");
	ok("SEND from host memory, RECV into a P2P MR");
}

static void test_atomics(struct side *a, struct side *b)
{
	const size_t off = 9 * PAGE + 64;
	const uint64_t v0 = 0x0123456789abcdefull, v1 = 0xfedcba9876543210ull;
	uint64_t *res = (uint64_t *)(a->host + 128);
	uint64_t *hv = (uint64_t *)(b->host + 256);

	/* P2P MR as the target of the atomic (DEV1), result in host memory */
	clear_all(a, b);
	set_p2p_u64(off, v0);
	atomic(a, IBV_WR_ATOMIC_CMP_AND_SWP, a->host_mr->lkey, (uintptr_t)res,
	       b->p2p_mr->rkey, IOVA1 + off, v0, v1, "cas on p2p");
	if (*res != v0 || p2p_u64(off) != v1)
		t_fail("CAS on P2P: returned %#" PRIx64 ", memory %#" PRIx64,
		     *res, p2p_u64(off));
	atomic(a, IBV_WR_ATOMIC_CMP_AND_SWP, a->host_mr->lkey, (uintptr_t)res,
	       b->p2p_mr->rkey, IOVA1 + off, v0, 42, "failing cas on p2p");
	if (*res != v1 || p2p_u64(off) != v1)
		t_fail("CAS with a wrong compare value on P2P: returned %#" PRIx64
		     ", memory %#" PRIx64, *res, p2p_u64(off));
	ok("compare-and-swap on a P2P MR (swapping and not swapping)");

	atomic(a, IBV_WR_ATOMIC_FETCH_AND_ADD, a->host_mr->lkey, (uintptr_t)res,
	       b->p2p_mr->rkey, IOVA1 + off, 0x1111, 0, "fadd on p2p");
	if (*res != v1 || p2p_u64(off) != v1 + 0x1111)
		t_fail("FADD on P2P: returned %#" PRIx64 ", memory %#" PRIx64,
		     *res, p2p_u64(off));
	if (p2p_u64(off - 8) || p2p_u64(off + 8))
		t_fail("atomics on P2P changed neighbouring words");
	ok("fetch-and-add on a P2P MR");

	/* host memory as the target (DEV1), result into the P2P MR (DEV0) */
	clear_all(a, b);
	*hv = v0;
	atomic(a, IBV_WR_ATOMIC_CMP_AND_SWP, a->p2p_mr->lkey, IOVA0 + off,
	       b->host_mr->rkey, (uintptr_t)hv, v0, v1, "cas into p2p");
	if (p2p_u64(off) != v0 || *hv != v1)
		t_fail("CAS result into P2P: returned %#" PRIx64 ", memory %#" PRIx64,
		     p2p_u64(off), *hv);
	atomic(a, IBV_WR_ATOMIC_FETCH_AND_ADD, a->p2p_mr->lkey, IOVA0 + off + 8,
	       b->host_mr->rkey, (uintptr_t)hv, 5, 0, "fadd into p2p");
	if (p2p_u64(off + 8) != v1 || *hv != v1 + 5)
		t_fail("FADD result into P2P: returned %#" PRIx64 ", memory %#" PRIx64,
		     p2p_u64(off + 8), *hv);
	ok("compare-and-swap and fetch-and-add returning into a P2P MR");

	/*
	 * A misaligned atomic on the P2P MR must be refused without touching
	 * memory: rxe rejects it when it is posted (EINVAL); a provider that
	 * lets it through must complete it in error.
	 */
	{
		struct ibv_sge sge = { .addr = (uintptr_t)res, .length = 8,
				       .lkey = a->host_mr->lkey };
		struct ibv_send_wr wr = {
			.sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD,
			.send_flags = IBV_SEND_SIGNALED,
			.wr.atomic = { .remote_addr = IOVA1 + off + 4,
				       .rkey = b->p2p_mr->rkey,
				       .compare_add = 1 },
		};
		struct ibv_send_wr *bad;
		const char *how;
		struct ibv_wc wc;
		int ret;

		set_p2p_u64(off, 0);
		ret = ibv_post_send(a->qp, &wr, &bad);
		if (ret && ret != EINVAL)
			t_fail("post misaligned fadd: %s, expected EINVAL",
			     strerror(ret));
		if (!ret) {
			if (wait_wc(a, &wc) == IBV_WC_SUCCESS)
				t_fail("misaligned atomic on a P2P MR succeeded");
			how = ibv_wc_status_str(wc.status);
		} else {
			how = "EINVAL when posted";
		}
		if (p2p_u64(off) || p2p_u64(off + 8) != v1)
			t_fail("misaligned atomic on a P2P MR changed memory");
		ok("misaligned atomic on a P2P MR refused (%s), memory untouched",
		   how);
	}
}

static void expect_reg_error(struct ibv_pd *pd, uint64_t offset, size_t len,
			     uint64_t iova, int fd, int access, int err,
			     const char *what)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_dmabuf_mr(pd, offset, len, iova, fd, access);
	if (mr) {
		ibv_dereg_mr(mr);
		t_fail("ibv_reg_dmabuf_mr with %s succeeded", what);
	}
	if (errno != err)
		t_fail("ibv_reg_dmabuf_mr with %s: %s, expected %s", what,
		     strerror(errno), strerror(err));
	ok("ibv_reg_dmabuf_mr with %s: %s", what, strerror(err));
}

static void test_reg_errors(struct side *a)
{
	int closed, other;

	expect_reg_error(a->pd, BUF_SIZE, PAGE, BUF_SIZE, buf_fd, ACCESS_ALL,
			 EINVAL, "offset at the end of the dma-buf");
	expect_reg_error(a->pd, PAGE, BUF_SIZE, PAGE, buf_fd, ACCESS_ALL, EINVAL,
			 "offset + length beyond the dma-buf");
	expect_reg_error(a->pd, 0, BUF_SIZE + PAGE, 0, buf_fd, ACCESS_ALL, EINVAL,
			 "length beyond the dma-buf");
	expect_reg_error(a->pd, PAGE, SIZE_MAX - PAGE + 2, PAGE, buf_fd,
			 ACCESS_ALL, EINVAL, "offset + length overflowing");
	expect_reg_error(a->pd, 0, 0, 0, buf_fd, ACCESS_ALL, EINVAL,
			 "length 0");
	expect_reg_error(a->pd, 0, PAGE, 0x10008, buf_fd, ACCESS_ALL, EINVAL,
			 "iova page offset 8, dma-buf offset 0");
	expect_reg_error(a->pd, 0x10, PAGE, 0x20, buf_fd, ACCESS_ALL, EINVAL,
			 "iova page offset 0x20, dma-buf offset 0x10");
	expect_reg_error(a->pd, 0, PAGE, 0, buf_fd, IBV_ACCESS_REMOTE_WRITE,
			 EINVAL, "remote write without local write");
	expect_reg_error(a->pd, 0, PAGE, 0, buf_fd,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND, EINVAL,
			 "access flag MW_BIND");
	expect_reg_error(a->pd, 0, PAGE, 0, buf_fd,
			 IBV_ACCESS_LOCAL_WRITE | 1 << 15, EINVAL,
			 "an undefined access flag");

	closed = dup(buf_fd);
	if (closed < 0 || close(closed))
		t_fail("dup/close: %s", strerror(errno));
	expect_reg_error(a->pd, 0, PAGE, 0, closed, ACCESS_ALL, EBADF,
			 "a closed fd");
	expect_reg_error(a->pd, 0, PAGE, 0, -1, ACCESS_ALL, EBADF, "fd -1");
	other = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (other < 0)
		t_fail("open /dev/null: %s", strerror(errno));
	expect_reg_error(a->pd, 0, PAGE, 0, other, ACCESS_ALL, EINVAL,
			 "an fd that is no dma-buf");
	close(other);
}

/* The MRs keep the dma-buf alive: close the fd and unmap, then use them */
static void test_after_close(struct side *a, struct side *b)
{
	const size_t off = 11 * PAGE + 5, len = 8000;

	if (munmap((void *)p2p, BUF_SIZE) || close(buf_fd))
		t_fail("closing the dma-buf: %s", strerror(errno));
	p2p = NULL;
	buf_fd = -1;

	memset(a->host, 0, BUF_SIZE);
	memset(b->host, 0, BUF_SIZE);
	fill_host(a->host, len, 8);
	rdma(a, IBV_WR_RDMA_WRITE, a->host_mr->lkey, (uintptr_t)a->host,
	     b->p2p_mr->rkey, IOVA1 + off, len, "write after close");
	/* DEV0's MR reads what DEV1's MR wrote: the same memory */
	rdma(a, IBV_WR_RDMA_WRITE, a->p2p_mr->lkey, IOVA0 + off,
	     b->host_mr->rkey, (uintptr_t)b->host, len, "write from p2p after close");
	check_host(b->host, len, 8, "after close");
	rdma(a, IBV_WR_RDMA_READ, a->host_mr->lkey, (uintptr_t)a->host + PAGE,
	     b->p2p_mr->rkey, IOVA1 + off, len, "read after close");
	check_host(a->host + PAGE, len, 8, "read after close");
	ok("dma-buf fd closed and unmapped: the MRs still move the data");
}

static void teardown(struct side *s)
{
	if (s->p2p_mr && ibv_dereg_mr(s->p2p_mr))
		t_fail("%s: ibv_dereg_mr(p2p): %s", s->name, strerror(errno));
	if (ibv_dereg_mr(s->host_mr))
		t_fail("%s: ibv_dereg_mr(host): %s", s->name, strerror(errno));
	if (ibv_destroy_qp(s->qp))
		t_fail("%s: ibv_destroy_qp: %s", s->name, strerror(errno));
	if (ibv_destroy_cq(s->cq))
		t_fail("%s: ibv_destroy_cq: %s", s->name, strerror(errno));
	if (ibv_dealloc_pd(s->pd))
		t_fail("%s: ibv_dealloc_pd: %s", s->name, strerror(errno));
	if (ibv_close_device(s->ctx))
		t_fail("%s: ibv_close_device: %s", s->name, strerror(errno));
	free(s->host);
}

static int cmd_verbs(const char *dev0, const char *dev1)
{
	struct side a, b;

	setup(&a, &b, dev0, dev1);
	test_write_read(&a, &b);
	test_sub_range(&a, &b);
	/* the QP pair is in error after the out-of-range write: reconnect */
	reconnect(&a, &b);
	test_send_recv(&a, &b);
	test_atomics(&a, &b);
	/* misaligned atomic put the QPs in error as well */
	reconnect(&a, &b);
	test_reg_errors(&a);
	test_after_close(&a, &b);
	teardown(&a);
	teardown(&b);
	if (node >= 0 && close(node))
		t_fail("close node: %s", strerror(errno));
	ok("all objects destroyed");
	return 0;
}

/* Until the provider was removed, or for "reset" the caller says it was reset */
static void wait_revocation_done(bool reset, uint64_t deadline)
{
	const char *done = getenv("P2PV_RESET_DONE");
	char dev[256];

	if (reset && !done)
		t_fail("reset: P2PV_RESET_DONE names no file");
	snprintf(dev, sizeof(dev), "/sys/bus/pci/devices/%s", provider);
	while (reset ? access(done, F_OK) != 0 : access(dev, F_OK) == 0) {
		if (t_now_ms() > deadline)
			t_fail("%s not %s %d s after the test started", provider,
			       reset ? "reset" : "removed", REVOKE_DEADLINE);
		usleep(10000);
	}
}

static int cmd_revoke(const char *dev0, const char *dev1, bool reset)
{
	const uint32_t len = 4096;
	uint64_t deadline;
	struct side a, b;
	unsigned long n;
	struct ibv_wc wc;

	setup(&a, &b, dev0, dev1);
	fill_host(a.host, len, 9);
	deadline = t_now_ms() + REVOKE_DEADLINE * 1000ull;
	for (n = 0;; n++) {
		struct ibv_sge sge = { .addr = (uintptr_t)a.host, .length = len,
				       .lkey = a.host_mr->lkey };
		struct ibv_send_wr wr = {
			.sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_RDMA_WRITE,
			.wr.rdma = { .remote_addr = IOVA1 + (n % 64) * len,
				     .rkey = b.p2p_mr->rkey },
		};

		if (n == REVOKE_READY) {
			check_p2p_data(0, len, 9, "writes before removal");
			printf("ready: %s %s\n", reset ? "reset" : "remove",
			       provider);
			fflush(stdout);
		}
		if (t_now_ms() > deadline)
			t_fail("%lu RDMA WRITEs into the P2P MR succeeded and none failed within %d s",
			     n, REVOKE_DEADLINE);
		post_send(&a, &wr, "write");
		if (wait_wc(&a, &wc) != IBV_WC_SUCCESS)
			break;
		if (n >= REVOKE_READY)
			usleep(1000);
	}
	if (n <= REVOKE_READY)
		t_fail("RDMA WRITE %lu failed before the provider was removed: %s",
		     n, ibv_wc_status_str(wc.status));
	if (wc.status != IBV_WC_REM_ACCESS_ERR)
		t_fail("RDMA WRITE into a revoked P2P MR completed with %s, expected %s",
		     ibv_wc_status_str(wc.status),
		     ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR));
	ok("RDMA WRITE into the revoked P2P MR: %s after %lu good writes",
	   ibv_wc_status_str(wc.status), n);

	/*
	 * The exporter revokes the attachments one after the other; once the
	 * provider is gone (or reset), all of them are.  Then the P2P MR on
	 * DEV0 is revoked too: using it locally fails.
	 */
	wait_revocation_done(reset, deadline);
	reconnect(&a, &b);
	{
		struct ibv_sge sge = { .addr = IOVA0, .length = len,
				       .lkey = a.p2p_mr->lkey };
		struct ibv_send_wr wr = {
			.sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_RDMA_WRITE,
			.wr.rdma = { .remote_addr = (uintptr_t)b.host,
				     .rkey = b.host_mr->rkey },
		};

		post_send(&a, &wr, "write from revoked");
		if (wait_wc(&a, &wc) == IBV_WC_SUCCESS)
			t_fail("RDMA WRITE from a revoked P2P MR succeeded");
		ok("RDMA WRITE from the revoked P2P MR: %s",
		   ibv_wc_status_str(wc.status));
	}

	teardown(&a);
	teardown(&b);
	if (munmap((void *)p2p, BUF_SIZE) || close(buf_fd) || close(node))
		t_fail("closing after removal: %s", strerror(errno));
	ok("dereg, destroy and close after revocation");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		t_fail("usage: %s verbs|revoke|reset PROVIDER DEV0 DEV1", argv[0]);
	provider = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	reg_by_address = getenv("RXE_DMABUF_REG") &&
			 !strcmp(getenv("RXE_DMABUF_REG"), "address");

	if (!strcmp(argv[1], "verbs"))
		return cmd_verbs(argv[3], argv[4]);
	if (!strcmp(argv[1], "revoke"))
		return cmd_revoke(argv[3], argv[4], false);
	if (!strcmp(argv[1], "reset"))
		return cmd_revoke(argv[3], argv[4], true);
	t_fail("bad arguments");
}
