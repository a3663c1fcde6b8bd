/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Allocation from the library, registration by plain verbs.
 *
 *   p2pv-unmodified PROVIDER DEV0 DEV1
 *
 * Its memory comes from a memory backend that uses libp2pverbs
 * (p2pv_buf_alloc from PROVIDER, as a plug-in would do), but the program
 * itself registers that memory with the plain ibv_reg_mr() of libibverbs and
 * frees MRs with ibv_dereg_mr(), as an unmodified verbs program does.  The
 * kernel resolves the mapping to its dma-buf and registers that: an ordinary
 * MR as far as libp2pverbs knows (p2pv_mr_query says ENOENT), and RDMA
 * WRITE/READ between DEV0 and DEV1 work on it.
 *
 * Exit status: 0 registered and data verified; 3 ibv_reg_mr() on the P2P
 * memory failed (the line "reg-failed: errno N (message)" tells why);
 * 1 anything else.  Host memory is registered too.  Prints "registered:
 * ordinary MR" once the P2P memory is registered.
 */
#include <infiniband/p2pverbs.h>

#include "p2pv-rdma.h"

#define LEN	(64u * 1024)
#define ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		 IBV_ACCESS_REMOTE_READ)

/* What both exit paths give back once their MRs are deregistered */
static void teardown(struct t_side *s0, struct t_side *s1,
		     struct ibv_device **list, struct p2pv_buf *b, uint8_t *host)
{
	t_close_pair(s0, s1, list);
	T_CHECK(!p2pv_buf_free(b), "p2pv_buf_free: %s", p2pv_last_error());
	free(host);
}

int main(int argc, char **argv)
{
	struct ibv_device **list;
	struct ibv_mr *pmr, *hmr;
	struct p2pv_mr_info mi;
	struct t_side s0, s1;
	struct p2pv_buf *b;
	uint8_t *host;
	long bad;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 4)
		t_fail("usage: %s PROVIDER DEV0 DEV1", argv[0]);
	/* the backend: P2P memory or nothing */
	T_CHECK(!p2pv_set_policy(P2PV_POLICY_REQUIRED), "p2pv_set_policy");
	b = p2pv_buf_alloc(argv[1], NULL, LEN);
	T_CHECK(b && b->type == P2PV_MEM_P2P, "P2P memory from %s: %s", argv[1],
		p2pv_last_error());

	list = t_open_pair(&s0, &s1, argv[2], argv[3]);
	host = aligned_alloc(4096, LEN);
	T_CHECK(host, "out of memory");

	/* ordinary memory: a plain registration */
	hmr = ibv_reg_mr(s1.pd, host, LEN, ACCESS);
	T_CHECK(hmr, "ibv_reg_mr of host memory: %s", strerror(errno));
	T_CHECK(p2pv_mr_query(hmr, &mi, sizeof(mi)) < 0, "host memory MR known as a P2P MR");
	t_ok("ibv_reg_mr of host memory: ordinary MR");

	errno = 0;
	pmr = ibv_reg_mr(s0.pd, b->addr, LEN, ACCESS);
	if (!pmr) {
		int e = errno;

		printf("reg-failed: errno %d (%s)\n", e, strerror(e));
		T_CHECK(!ibv_dereg_mr(hmr), "ibv_dereg_mr: %s", strerror(errno));
		teardown(&s0, &s1, list, b, host);
		return 3;
	}
	errno = 0;
	T_CHECK(p2pv_mr_query(pmr, &mi, sizeof(mi)) < 0 && errno == ENOENT,
		"a plain ibv_reg_mr MR known to libp2pverbs");
	printf("registered: ordinary MR\n");

	/* what ibv_reg_mr() promises; the peer is told mr->addr, as usual */
	T_CHECK(pmr->addr == b->addr && pmr->length == LEN,
		"P2P MR: addr %p length %zu, expected %p %u", pmr->addr,
		pmr->length, b->addr, LEN);
	t_fill(host, LEN, 5);
	t_rdma(&s1, IBV_WR_RDMA_WRITE, host, hmr->lkey, (uintptr_t)pmr->addr,
	       pmr->rkey, LEN);
	bad = t_verify(b->addr, LEN, 5);
	T_CHECK(bad < 0, "RDMA WRITE into P2P memory: byte %ld differs", bad);
	t_fill(b->addr, LEN, 6);
	memset(host, 0, LEN);
	t_rdma(&s1, IBV_WR_RDMA_READ, host, hmr->lkey, (uintptr_t)pmr->addr,
	       pmr->rkey, LEN);
	bad = t_verify(host, LEN, 6);
	T_CHECK(bad < 0, "RDMA READ of P2P memory: byte %ld differs", bad);
	t_ok("RDMA WRITE and READ of %u bytes on the P2P MR, byte for byte", LEN);

	T_CHECK(!ibv_dereg_mr(pmr), "ibv_dereg_mr of the P2P MR: %s", strerror(errno));
	T_CHECK(!ibv_dereg_mr(hmr), "ibv_dereg_mr of the host MR: %s", strerror(errno));
	t_ok("ibv_dereg_mr of both MRs");
	teardown(&s0, &s1, list, b, host);
	return 0;
}
