/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Helpers shared by the in-guest libp2pverbs test programs: check/fail
 * reporting and an RC connection between two RDMA devices of one process
 * (rxe0 and rxe1 of rxe_pair in tests/vm/guest/lib.sh: port 1, RoCE GID
 * index 0, global routing).  Only plain verbs here: the programs decide how
 * memory is registered.
 */
#ifndef P2PV_RDMA_H
#define P2PV_RDMA_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>

#include "t-report.h"

/*
 * How long one operation may take to complete.  P2PV_POLL_TIMEOUT_MS
 * overrides it: the debug flavour sets a longer bound (tests/vm/guest/
 * plain-reg-mr.sh says why).
 */
#define T_POLL_TIMEOUT_MS 20000

static inline uint64_t t_poll_timeout_ms(void)
{
	const char *v = getenv("P2PV_POLL_TIMEOUT_MS");
	char *end;
	unsigned long long ms;

	if (!v)
		return T_POLL_TIMEOUT_MS;
	errno = 0;
	ms = strtoull(v, &end, 10);
	T_CHECK(!errno && end != v && !*end && ms > 0,
		"P2PV_POLL_TIMEOUT_MS=%s is not a number of milliseconds", v);
	return ms;
}

/* One RDMA device of the connection */
struct t_side {
	const char *name;
	struct ibv_device *dev;		/* valid while the device list lives */
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	union ibv_gid gid;
	enum ibv_mtu mtu;
};

/* Open device NAME from LIST (a NULL-terminated ibv_get_device_list()). */
static inline void t_open_side(struct t_side *s, struct ibv_device **list,
			       const char *name)
{
	struct ibv_qp_init_attr init;
	struct ibv_port_attr port;
	int i;

	memset(s, 0, sizeof(*s));
	s->name = name;
	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			s->dev = list[i];
	T_CHECK(s->dev, "RDMA device %s not found", name);
	s->ctx = ibv_open_device(s->dev);
	T_CHECK(s->ctx, "ibv_open_device(%s): %s", name, strerror(errno));
	T_CHECK(!ibv_query_port(s->ctx, 1, &port), "%s: ibv_query_port: %s",
		name, strerror(errno));
	T_CHECK(port.state == IBV_PORT_ACTIVE, "%s: port 1 is not active", name);
	s->mtu = port.active_mtu;
	T_CHECK(!ibv_query_gid(s->ctx, 1, 0, &s->gid), "%s: ibv_query_gid: %s",
		name, strerror(errno));
	s->pd = ibv_alloc_pd(s->ctx);
	T_CHECK(s->pd, "%s: ibv_alloc_pd: %s", name, strerror(errno));
	s->cq = ibv_create_cq(s->ctx, 16, NULL, NULL, 0);
	T_CHECK(s->cq, "%s: ibv_create_cq: %s", name, strerror(errno));
	memset(&init, 0, sizeof(init));
	init.send_cq = s->cq;
	init.recv_cq = s->cq;
	init.qp_type = IBV_QPT_RC;
	init.cap.max_send_wr = 8;
	init.cap.max_recv_wr = 8;
	init.cap.max_send_sge = 1;
	init.cap.max_recv_sge = 1;
	s->qp = ibv_create_qp(s->pd, &init);
	T_CHECK(s->qp, "%s: ibv_create_qp: %s", name, strerror(errno));
}

/*
 * The local ACK timeout of the QPs: 14 (4.096 us << 14, 67 ms) as perftest
 * uses, or P2PV_QP_TIMEOUT (0-31).  The debug flavour sets a longer one:
 * tests/vm/guest/plain-reg-mr.sh says why.
 */
static inline uint8_t t_qp_timeout(void)
{
	const char *v = getenv("P2PV_QP_TIMEOUT");
	char *end;
	unsigned long t;

	if (!v)
		return 14;
	errno = 0;
	t = strtoul(v, &end, 10);
	T_CHECK(!errno && end != v && !*end && t <= 31,
		"P2PV_QP_TIMEOUT=%s is not a local ACK timeout (0-31)", v);
	return (uint8_t)t;
}

static inline void t_to_rts(struct t_side *s, const struct t_side *peer)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE |
			    IBV_ACCESS_LOCAL_WRITE;
	T_CHECK(!ibv_modify_qp(s->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			       IBV_QP_PORT | IBV_QP_ACCESS_FLAGS),
		"%s: QP to INIT: %s", s->name, strerror(errno));

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = s->mtu < peer->mtu ? s->mtu : peer->mtu;
	a.dest_qp_num = peer->qp->qp_num;
	a.rq_psn = 0;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = peer->gid;
	a.ah_attr.grh.sgid_index = 0;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	T_CHECK(!ibv_modify_qp(s->qp, &a, IBV_QP_STATE | IBV_QP_AV |
			       IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			       IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			       IBV_QP_MIN_RNR_TIMER),
		"%s: QP to RTR: %s", s->name, strerror(errno));

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	a.timeout = t_qp_timeout();
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 4;
	T_CHECK(!ibv_modify_qp(s->qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN |
			       IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			       IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC),
		"%s: QP to RTS: %s", s->name, strerror(errno));
}

/* Connect the RC QPs of A and B to each other. */
static inline void t_connect(struct t_side *a, struct t_side *b)
{
	t_to_rts(a, b);
	t_to_rts(b, a);
}

/*
 * Open DEV0 into A and DEV1 into B and connect their RC QPs.  Returns the
 * device list, which the sides use until t_close_pair() frees it.
 */
static inline struct ibv_device **t_open_pair(struct t_side *a, struct t_side *b,
					      const char *dev0, const char *dev1)
{
	struct ibv_device **list = ibv_get_device_list(NULL);

	T_CHECK(list, "ibv_get_device_list: %s", strerror(errno));
	t_open_side(a, list, dev0);
	t_open_side(b, list, dev1);
	t_connect(a, b);
	return list;
}

/* Posts WR (signaled) on S, waits (bounded) for its completion: its status */
static inline enum ibv_wc_status t_post_wait(struct t_side *s,
					     struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad = NULL;
	uint64_t bound = t_poll_timeout_ms(), deadline;
	struct ibv_wc wc;
	int n;

	wr->send_flags |= IBV_SEND_SIGNALED;
	errno = ibv_post_send(s->qp, wr, &bad);
	T_CHECK(!errno, "%s: ibv_post_send: %s", s->name, strerror(errno));
	deadline = t_now_ms() + bound;
	do {
		n = ibv_poll_cq(s->cq, 1, &wc);
		T_CHECK(n >= 0, "%s: ibv_poll_cq failed", s->name);
		T_CHECK(n > 0 || t_now_ms() < deadline,
			"%s: no completion within %llu ms", s->name,
			(unsigned long long)bound);
	} while (!n);
	T_CHECK(wc.wr_id == wr->wr_id, "%s: completion of another request",
		s->name);
	return wc.status;
}

/*
 * One RDMA WRITE or READ posted on S: LEN bytes between the local range
 * (LADDR, LKEY) and the remote range (RADDR, RKEY); waits (bounded) for its
 * completion and returns its status.
 */
static inline enum ibv_wc_status t_rdma_status(struct t_side *s,
					       enum ibv_wr_opcode op,
					       void *laddr, uint32_t lkey,
					       uint64_t raddr, uint32_t rkey,
					       uint32_t len)
{
	struct ibv_send_wr wr;
	struct ibv_sge sge;

	memset(&wr, 0, sizeof(wr));
	sge.addr = (uintptr_t)laddr;
	sge.length = len;
	sge.lkey = lkey;
	wr.wr_id = 0x1234;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op;
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	return t_post_wait(s, &wr);
}

/* t_rdma_status() whose completion must be successful */
static inline void t_rdma(struct t_side *s, enum ibv_wr_opcode op,
			  void *laddr, uint32_t lkey, uint64_t raddr,
			  uint32_t rkey, uint32_t len)
{
	enum ibv_wc_status st = t_rdma_status(s, op, laddr, lkey, raddr, rkey,
					      len);

	T_CHECK(st == IBV_WC_SUCCESS, "%s: %s completion: %s (%d)", s->name,
		op == IBV_WR_RDMA_READ ? "RDMA READ" : "RDMA WRITE",
		ibv_wc_status_str(st), (int)st);
}

/*
 * Wait until the peer's responder has handled every request S sent before.
 * Under load rxe retransmits requests whose responses are merely slow, so
 * a duplicate of the last RDMA READ may still be on its way when the READ
 * completes; the responder replays it, and if the MR has been deregistered
 * by then the replay fails, the responder's QP moves to the error state
 * and drops everything after it (the NAK of a completed PSN is ignored).
 * A zero-byte RDMA WRITE (no rkey needed, IB spec C9-88) queued behind any
 * such duplicate completes only once the responder got past it: call this
 * before deregistering an MR the peer has just accessed.
 */
static inline void t_rdma_fence(struct t_side *s)
{
	struct ibv_send_wr wr;
	enum ibv_wc_status st;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = 0xfe4ce;
	wr.opcode = IBV_WR_RDMA_WRITE;
	st = t_post_wait(s, &wr);
	T_CHECK(st == IBV_WC_SUCCESS, "%s: zero-byte RDMA WRITE (fence): %s",
		s->name, ibv_wc_status_str(st));
}

static inline void t_close_side(struct t_side *s)
{
	T_CHECK(!ibv_destroy_qp(s->qp), "%s: ibv_destroy_qp", s->name);
	T_CHECK(!ibv_destroy_cq(s->cq), "%s: ibv_destroy_cq", s->name);
	T_CHECK(!ibv_dealloc_pd(s->pd), "%s: ibv_dealloc_pd", s->name);
	T_CHECK(!ibv_close_device(s->ctx), "%s: ibv_close_device", s->name);
}

static inline void t_close_pair(struct t_side *a, struct t_side *b,
				struct ibv_device **list)
{
	t_close_side(a);
	t_close_side(b);
	ibv_free_device_list(list);
}

/* Byte i of pattern SEED */
static inline uint8_t t_pat(unsigned int seed, size_t i)
{
	return (uint8_t)((i * 131u + seed * 7u + (i >> 9)) ^ seed);
}

static inline void t_fill(volatile uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = t_pat(seed, i);
}

/* Returns the index of the first byte differing from the pattern, or -1 */
static inline long t_verify(const volatile uint8_t *p, size_t len,
			    unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != t_pat(seed, i))
			return (long)i;
	return -1;
}

#endif /* P2PV_RDMA_H */
