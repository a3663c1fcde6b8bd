/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * p2pv_rdma_cm: an RDMA WRITE into P2P memory of another host, connected with
 * librdmacm.
 *
 * The server allocates a P2P buffer nearest to the RDMA device its connection
 * request arrived on, registers it and returns its address, rkey and length
 * in the private data of the accept.  The client writes a pattern from its own
 * P2P buffer into it with one RDMA WRITE and then sends a message; when the
 * message arrives the write is complete (RC ordering) and the server checks
 * every byte through its CPU mapping of the buffer.
 *
 *   p2pv_rdma_cm [-p port] [-s bytes] [-b addr]   server (default: any
 *                                                 IPv6 or IPv4 address)
 *   p2pv_rdma_cm [-p port] [-s bytes] SERVER      client
 *
 * Both ends require P2P memory (P2PV_P2P_POLICY may relax that).  Exit status
 * 0 means: server, every byte arrived; client, the write and the send
 * completed successfully.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <endian.h>

#include <infiniband/p2pverbs.h>
#include <rdma/rdma_cma.h>
#include <rdma/rdma_verbs.h>

/* what the server tells the client in the private data of the accept */
struct remote_buf {
	uint64_t addr;
	uint64_t length;
	uint32_t rkey;
	uint32_t pad;
};

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 8) + 0x5a);
}

/* what each end registers: a P2P buffer near the connection's device */
struct p2p_mem {
	struct ibv_pd *pd;
	struct p2pv_buf *buf;
	struct ibv_mr *mr;
};

static void p2p_mem_free(struct p2p_mem *m)
{
	if (m->mr)
		p2pv_dereg_mr(m->mr);
	if (m->buf)
		p2pv_buf_free(m->buf);
	if (m->pd)
		ibv_dealloc_pd(m->pd);
}

/* A PD on the connection's device, a buffer nearest to it, its MR */
static int p2p_mem_alloc(struct rdma_cm_id *id, size_t size, int access,
			 struct p2p_mem *m)
{
	struct ibv_device *dev = id->verbs->device;

	m->pd = ibv_alloc_pd(id->verbs);
	if (!m->pd) {
		perror("ibv_alloc_pd");
		return -1;
	}
	m->buf = p2pv_buf_alloc(NULL, dev, size);
	if (!m->buf) {
		fprintf(stderr, "p2pv_buf_alloc: %s\n", p2pv_last_error());
		goto err;
	}
	printf("%s: %zu bytes of %s%s\n", ibv_get_device_name(dev),
	       m->buf->length,
	       m->buf->type == P2PV_MEM_P2P ? "P2P memory of " : "host memory",
	       m->buf->provider);
	m->mr = p2pv_reg_buf(m->pd, m->buf, 0, 0, access);
	if (!m->mr) {
		fprintf(stderr, "p2pv_reg_buf: %s\n", p2pv_last_error());
		goto err;
	}
	return 0;
err:
	p2p_mem_free(m);
	return -1;
}

static int create_qp(struct rdma_cm_id *id, struct ibv_pd *pd)
{
	struct ibv_qp_init_attr attr = {
		.cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1,
			 .max_recv_sge = 1, .max_inline_data = 16 },
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
	};

	if (rdma_create_qp(id, pd, &attr)) {
		perror("rdma_create_qp");
		return -1;
	}
	return 0;
}

static int wait_comp(struct rdma_cm_id *id, int send, const char *what)
{
	struct ibv_wc wc;
	int n = send ? rdma_get_send_comp(id, &wc) : rdma_get_recv_comp(id, &wc);

	if (n <= 0) {
		perror(what);
		return -1;
	}
	if (wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "%s: completion status %s\n", what,
			ibv_wc_status_str(wc.status));
		return -1;
	}
	return 0;
}

static int server(struct rdma_addrinfo *res, size_t size)
{
	struct rdma_cm_id *listen_id, *id;
	struct rdma_conn_param param = { 0 };
	struct remote_buf rb;
	struct p2p_mem m = { 0 };
	struct ibv_mr *msg_mr;
	volatile uint8_t *data;
	char msg[16];
	size_t i, bad = 0;
	int ret = 1;

	if (rdma_create_ep(&listen_id, res, NULL, NULL) || rdma_listen(listen_id, 1)) {
		perror("rdma_create_ep/rdma_listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	if (rdma_get_request(listen_id, &id)) {
		perror("rdma_get_request");
		goto out_listen;
	}
	if (p2p_mem_alloc(id, size, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, &m))
		goto out_mem;
	msg_mr = ibv_reg_mr(m.pd, msg, sizeof(msg), IBV_ACCESS_LOCAL_WRITE);
	if (!msg_mr) {
		perror("ibv_reg_mr");
		goto out_mem;
	}
	if (create_qp(id, m.pd))
		goto out_msg_mr;
	if (rdma_post_recv(id, NULL, msg, sizeof(msg), msg_mr)) {
		perror("rdma_post_recv");
		goto out_qp;
	}
	rb.addr = htobe64((uintptr_t)m.mr->addr);
	rb.length = htobe64(size);
	rb.rkey = htobe32(m.mr->rkey);
	rb.pad = 0;
	param.private_data = &rb;
	param.private_data_len = sizeof(rb);
	param.responder_resources = 1;
	param.initiator_depth = 1;
	if (rdma_accept(id, &param)) {
		perror("rdma_accept");
		goto out_qp;
	}
	printf("accepted: addr 0x%" PRIx64 " rkey 0x%x length %zu\n",
	       (uint64_t)(uintptr_t)m.mr->addr, m.mr->rkey, size);
	if (wait_comp(id, 0, "receive"))
		goto out_disconnect;
	/* the SEND came after the WRITE on the same QP: the data is there */
	data = m.buf->addr;
	for (i = 0; i < size; i++)
		if (data[i] != pattern(i) && bad++ < 4)
			fprintf(stderr, "byte %zu: 0x%02x, expected 0x%02x\n", i,
				data[i], pattern(i));
	if (bad) {
		fprintf(stderr, "FAILED: %zu of %zu bytes differ\n", bad, size);
	} else {
		printf("verified %zu bytes written by the peer into %s memory%s%s\n", size,
		       m.buf->type == P2PV_MEM_P2P ? "P2P" : "host",
		       m.buf->type == P2PV_MEM_P2P ? " of " : "", m.buf->provider);
		ret = 0;
	}
out_disconnect:
	rdma_disconnect(id);
out_qp:
	rdma_destroy_qp(id);
out_msg_mr:
	ibv_dereg_mr(msg_mr);
out_mem:
	p2p_mem_free(&m);
	rdma_destroy_id(id);
out_listen:
	rdma_destroy_ep(listen_id);
	return ret;
}

static int client(struct rdma_addrinfo *res, size_t size)
{
	const struct remote_buf *rb;
	struct rdma_cm_id *id;
	struct p2p_mem m = { 0 };
	uint64_t raddr, rlen;
	uint32_t rkey;
	size_t i;
	int ret = 1;

	if (rdma_create_ep(&id, res, NULL, NULL)) {
		perror("rdma_create_ep");
		return 1;
	}
	if (p2p_mem_alloc(id, size, IBV_ACCESS_LOCAL_WRITE, &m))
		goto out_mem;
	for (i = 0; i < size; i++)	/* CPU stores through the mapping */
		((volatile uint8_t *)m.buf->addr)[i] = pattern(i);
	if (create_qp(id, m.pd))
		goto out_mem;
	if (rdma_connect(id, NULL)) {
		perror("rdma_connect");
		goto out_qp;
	}
	if (!id->event || id->event->param.conn.private_data_len < sizeof(*rb)) {
		fprintf(stderr, "no buffer description in the private data\n");
		goto out_disconnect;
	}
	rb = id->event->param.conn.private_data;
	raddr = be64toh(rb->addr);
	rlen = be64toh(rb->length);
	rkey = be32toh(rb->rkey);
	printf("connected: remote addr 0x%" PRIx64 " rkey 0x%x length %" PRIu64 "\n",
	       raddr, rkey, rlen);
	if (rlen < size) {
		fprintf(stderr, "remote buffer too small (%" PRIu64 " < %zu)\n", rlen, size);
		goto out_disconnect;
	}
	if (rdma_post_write(id, NULL, m.buf->addr, size, m.mr, 0, raddr, rkey)) {
		perror("rdma_post_write");
		goto out_disconnect;
	}
	if (wait_comp(id, 1, "RDMA WRITE"))
		goto out_disconnect;
	if (rdma_post_send(id, NULL, "done", 5, NULL, IBV_SEND_INLINE)) {
		perror("rdma_post_send");
		goto out_disconnect;
	}
	if (wait_comp(id, 1, "SEND"))
		goto out_disconnect;
	printf("wrote %zu bytes from %s memory into the peer's buffer\n", size,
	       m.buf->type == P2PV_MEM_P2P ? "P2P" : "host");
	ret = 0;
out_disconnect:
	rdma_disconnect(id);
out_qp:
	rdma_destroy_qp(id);
out_mem:
	p2p_mem_free(&m);
	rdma_destroy_ep(id);
	return ret;
}

int main(int argc, char **argv)
{
	struct rdma_addrinfo hints = { 0 }, *res;
	const char *port = "7471", *host = NULL, *bind_addr = NULL;
	size_t size = 1 << 20;
	int c, ret, passive;

	while ((c = getopt(argc, argv, "b:p:s:")) != -1) {
		if (c == 'b')
			bind_addr = optarg;
		else if (c == 'p')
			port = optarg;
		else if (c == 's')
			size = strtoull(optarg, NULL, 0);
		else
			return 2;
	}
	if (optind < argc)
		host = argv[optind];
	if (!size)
		return 2;
	/* this example is about P2P memory: no silent fallback to host memory
	 * (P2PV_P2P_POLICY in the environment still overrides) */
	p2pv_set_policy(P2PV_POLICY_REQUIRED);

	hints.ai_port_space = RDMA_PS_TCP;
	passive = !host;
	if (passive) {
		hints.ai_flags = RAI_PASSIVE;
		/* the IPv6 wildcard also takes IPv4 connections */
		if (!bind_addr)
			hints.ai_family = AF_INET6;
		host = bind_addr;
	}
	ret = rdma_getaddrinfo(host, port, &hints, &res);
	if (ret) {
		fprintf(stderr, "rdma_getaddrinfo(%s, %s): %s\n", host ? host : "*", port,
			ret == -1 ? strerror(errno) : gai_strerror(ret));
		return 1;
	}
	ret = passive ? server(res, size) : client(res, size);
	rdma_freeaddrinfo(res);
	return ret;
}
