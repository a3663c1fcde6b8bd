/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libfabric's verbs provider writing into a remote buffer of P2P memory
 * (issue 18): the program registers a pointer into a mapping of the
 * provider node with fi_mr_reg() as any libfabric application does, and the
 * provider (Debian's libfabric 1.17, verbs, FI_EP_MSG) does the rest.
 *
 *   fi-rma-p2p server ADDR PORT PROVIDER IBDEV [LEN]
 *   fi-rma-p2p client ADDR PORT PROVIDER IBDEV [LEN]
 *
 * ADDR is the server's address on the RDMA link, PROVIDER the PCI name of a
 * P2P provider on this host (/dev/p2pmem/PROVIDER, mapped for LEN bytes;
 * default one page over 1 MiB, a length nothing else in the process
 * registers), IBDEV the RDMA device (rxe0).  The server registers its buffer
 * for remote writes and sends its address and key with the accepted
 * connection; the client fills its own P2P buffer, fi_write()s all of it
 * into the server's buffer, then sends a small message; the RC ordering makes
 * the write visible before that message arrives, and the server then checks
 * every byte by CPU reads of its buffer.  Both sides also check that the
 * provider registered the P2P memory itself: the buffer is a dma-buf
 * mapping and this process holds an MR of its length on IBDEV
 * (p2p-evidence.h).
 *
 * Exit status: 0 verified; 3 the client could not connect (the server may
 * not listen yet: retry); 1 anything else.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "p2p-evidence.h"
#include "t-report.h"

#define FI_VERSION_WANTED FI_VERSION(1, 17)
#define WAIT_MS 60000

/* What the server tells the client when it accepts the connection */
struct remote_buf {
	uint64_t addr;
	uint64_t key;
	uint64_t len;
};

struct fab {
	struct fid_fabric *fabric;
	struct fid_eq *eq;
	struct fid_domain *domain;
	struct fid_ep *ep;
	struct fid_cq *cq;
};

#define FI_CHECK(call)                                                          \
	do {                                                                    \
		int rc_ = (int)(call);                                          \
		if (rc_)                                                        \
			t_fail("%s: %s (%d)", #call, fi_strerror(-rc_), rc_); \
	} while (0)

static uint8_t pattern(size_t i)
{
	uint64_t x = (i + 7) * 0xc2b2ae3d27d4eb4full;

	return (uint8_t)(x >> 31 ^ x >> 47);
}

/* Wait for one EQ event of type WANT; a CM entry with private data in BUF */
static void wait_event(struct fid_eq *eq, uint32_t want, void *buf, size_t len, bool client)
{
	struct fi_eq_err_entry err = { 0 };
	uint32_t event;
	ssize_t n = fi_eq_sread(eq, &event, buf, len, WAIT_MS, 0);

	if (n == -FI_EAVAIL) {
		fi_eq_readerr(eq, &err, 0);
		printf("eq error: %s (%d, provider %d)\n", fi_strerror(err.err), err.err,
		       err.prov_errno);
		/* refused or unreachable: the server does not listen yet */
		exit(client && want == FI_CONNECTED ? 3 : 1);
	}
	if (n < 0)
		t_fail("fi_eq_sread waiting for event %u: %s", want, fi_strerror((int)-n));
	T_CHECK(event == want, "EQ event %u, expected %u", event, want);
}

/* Poll the CQ for one completion (the only operation in flight) */
static void wait_completion(struct fid_cq *cq, const char *what)
{
	struct fi_cq_err_entry err = { 0 };
	struct fi_cq_entry e;
	uint64_t deadline = t_now_ms() + WAIT_MS;
	ssize_t n;

	while ((n = fi_cq_read(cq, &e, 1)) == -FI_EAGAIN)
		T_CHECK(t_now_ms() < deadline, "%s: no completion in %d ms", what, WAIT_MS);
	if (n == -FI_EAVAIL) {
		fi_cq_readerr(cq, &err, 0);
		t_fail("%s completed with an error: %s (provider: %s)", what, fi_strerror(err.err),
		       fi_cq_strerror(cq, err.prov_errno, err.err_data, NULL, 0));
	}
	T_CHECK(n == 1, "%s: fi_cq_read: %s", what, fi_strerror((int)-n));
}

static void *map_p2p(const char *provider, size_t len)
{
	char path[64];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "/dev/p2pmem/%s", provider);
	fd = open(path, O_RDWR | O_CLOEXEC);
	T_CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T_CHECK(p != MAP_FAILED, "mmap %s (%zu bytes): %s", path, len, strerror(errno));
	close(fd);
	return p;
}

/*
 * The verbs provider registered the P2P buffer itself (p2p-evidence.h): it is
 * a dma-buf mapping and this process has an MR of its length on IBDEV, a
 * length nothing else here has.
 */
static void check_registered(const void *p, size_t len, const char *ibdev, const char *role)
{
	char lengths[512];
	int n = p2p_mrs_of_length(ibdev, len, lengths, sizeof(lengths));

	T_CHECK(p2p_in_dmabuf_mapping(p), "%s: the buffer is not in a dma-buf mapping", role);
	T_CHECK(n >= 0, "%s: the MRs on %s: %s", role, ibdev, lengths);
	T_CHECK(n == 1, "%s: %d MRs of the buffer's %zu bytes on %s (this process's: %s): "
		"the provider did not register this memory", role, n, len, ibdev, lengths);
	t_ok("%s: the verbs provider registered the P2P buffer itself: an MR of its %zu bytes "
	     "on %s (this process's MRs: %s)", role, len, ibdev, lengths);
}

static struct fi_info *get_info(const char *addr, const char *port, const char *ibdev,
				bool server)
{
	struct fi_info *hints = fi_allocinfo(), *info = NULL;
	int rc;

	T_CHECK(hints, "fi_allocinfo");
	hints->ep_attr->type = FI_EP_MSG;
	/* the verbs provider takes an unspecified format for IPv4 */
	hints->addr_format = strchr(addr, ':') ? FI_SOCKADDR_IN6 : FI_SOCKADDR_IN;
	hints->caps = FI_MSG | FI_RMA;
	hints->mode = FI_CONTEXT;
	hints->fabric_attr->prov_name = strdup("verbs");
	hints->domain_attr->name = strdup(ibdev);
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED |
				      FI_MR_PROV_KEY;
	rc = fi_getinfo(FI_VERSION_WANTED, addr, port, server ? FI_SOURCE : 0, hints, &info);
	T_CHECK(!rc && info, "fi_getinfo(verbs, FI_EP_MSG, FI_RMA, %s, %s [%s]:%s): %s",
		ibdev, server ? "source" : "destination", addr, port, fi_strerror(-rc));
	fi_freeinfo(hints);
	printf("libfabric %u.%u: provider %s, fabric %s, domain %s\n",
	       FI_MAJOR(fi_version()), FI_MINOR(fi_version()), info->fabric_attr->prov_name,
	       info->fabric_attr->name, info->domain_attr->name);
	return info;
}

/* Domain, endpoint and CQ for INFO, bound to F's EQ */
static void open_ep(struct fab *f, struct fi_info *info)
{
	struct fi_cq_attr cq_attr = { .size = 16, .format = FI_CQ_FORMAT_CONTEXT };

	FI_CHECK(fi_domain(f->fabric, info, &f->domain, NULL));
	FI_CHECK(fi_endpoint(f->domain, info, &f->ep, NULL));
	FI_CHECK(fi_cq_open(f->domain, &cq_attr, &f->cq, NULL));
	FI_CHECK(fi_ep_bind(f->ep, &f->eq->fid, 0));
	FI_CHECK(fi_ep_bind(f->ep, &f->cq->fid, FI_TRANSMIT | FI_RECV));
	FI_CHECK(fi_enable(f->ep));
}

static void close_fab(struct fab *f)
{
	FI_CHECK(fi_close(&f->ep->fid));
	FI_CHECK(fi_close(&f->cq->fid));
	FI_CHECK(fi_close(&f->domain->fid));
	FI_CHECK(fi_close(&f->eq->fid));
	FI_CHECK(fi_close(&f->fabric->fid));
}

int main(int argc, char **argv)
{
	struct fi_eq_attr eq_attr = { .wait_obj = FI_WAIT_UNSPEC };
	uint8_t cm[sizeof(struct fi_eq_cm_entry) + 64];
	struct fi_eq_cm_entry *entry = (struct fi_eq_cm_entry *)cm;
	struct fi_context ctx;
	struct fid_mr *mr, *msg_mr;
	struct remote_buf rb;
	struct fi_info *info;
	struct fab f = { 0 };
	char msg[16] = "";
	size_t len = (1 << 20) + 4096;
	bool server;
	uint8_t *p;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 6 || argc > 7 || (strcmp(argv[1], "server") && strcmp(argv[1], "client")))
		t_fail("usage: %s server|client ADDR PORT PROVIDER IBDEV [LEN]", argv[0]);
	server = !strcmp(argv[1], "server");
	if (argc == 7)
		len = strtoul(argv[6], NULL, 0);
	T_CHECK(len >= 4096 && len <= (64u << 20), "LEN %zu: 4 KiB to 64 MiB", len);

	p = map_p2p(argv[4], len);
	info = get_info(argv[2], argv[3], argv[5], server);
	FI_CHECK(fi_fabric(info->fabric_attr, &f.fabric, NULL));
	FI_CHECK(fi_eq_open(f.fabric, &eq_attr, &f.eq, NULL));

	if (server) {
		struct fid_pep *pep;
		struct fi_info *conn;

		FI_CHECK(fi_passive_ep(f.fabric, info, &pep, NULL));
		FI_CHECK(fi_pep_bind(pep, &f.eq->fid, 0));
		FI_CHECK(fi_listen(pep));
		printf("listening on [%s]:%s\n", argv[2], argv[3]);
		wait_event(f.eq, FI_CONNREQ, cm, sizeof(cm), false);
		conn = entry->info;
		open_ep(&f, conn);
		/* the P2P buffer, for the client's writes */
		FI_CHECK(fi_mr_reg(f.domain, p, len, FI_REMOTE_WRITE, 0, 0, 0, &mr, NULL));
		FI_CHECK(fi_mr_reg(f.domain, msg, sizeof(msg), FI_RECV, 0, 0, 0, &msg_mr, NULL));
		FI_CHECK(fi_recv(f.ep, msg, sizeof(msg), fi_mr_desc(msg_mr), 0, &ctx));
		rb = (struct remote_buf){ (uintptr_t)p, fi_mr_key(mr), len };
		FI_CHECK(fi_accept(f.ep, &rb, sizeof(rb)));
		wait_event(f.eq, FI_CONNECTED, cm, sizeof(cm), false);
		fi_freeinfo(conn);
		FI_CHECK(fi_close(&pep->fid));
		wait_completion(f.cq, "receive of the client's message");
		T_CHECK(!strcmp(msg, "written"), "the client said \"%.15s\"", msg);
		for (size_t i = 0; i < len; i++)
			T_CHECK(p[i] == pattern(i), "byte %zu of %zu is 0x%02x, the client wrote 0x%02x",
				i, len, p[i], pattern(i));
		printf("verified %zu bytes written by fi_write into P2P memory of %s\n", len, argv[4]);
		check_registered(p, len, argv[5], "server");
	} else {
		uint32_t event = 0;
		ssize_t rc;

		open_ep(&f, info);
		for (size_t i = 0; i < len; i++)
			p[i] = pattern(i);
		FI_CHECK(fi_mr_reg(f.domain, p, len, FI_WRITE, 0, 0, 0, &mr, NULL));
		snprintf(msg, sizeof(msg), "written");
		FI_CHECK(fi_mr_reg(f.domain, msg, sizeof(msg), FI_SEND, 0, 0, 0, &msg_mr, NULL));
		FI_CHECK(fi_connect(f.ep, info->dest_addr, NULL, 0));
		rc = fi_eq_sread(f.eq, &event, cm, sizeof(cm), WAIT_MS, 0);
		if (rc == -FI_EAVAIL) {
			struct fi_eq_err_entry err = { 0 };

			fi_eq_readerr(f.eq, &err, 0);
			printf("connect: %s\n", fi_strerror(err.err));
			return 3;
		}
		T_CHECK(rc >= (ssize_t)(sizeof(*entry) + sizeof(rb)) && event == FI_CONNECTED,
			"connect: %zd bytes of CM event (%s), expected the server's buffer", rc,
			rc < 0 ? fi_strerror((int)-rc) : "short");
		memcpy(&rb, entry->data, sizeof(rb));
		T_CHECK(rb.len == len, "the server's buffer is %" PRIu64 " bytes, ours %zu", rb.len,
			len);
		FI_CHECK(fi_write(f.ep, p, len, fi_mr_desc(mr), 0, rb.addr, rb.key, &ctx));
		wait_completion(f.cq, "fi_write");
		FI_CHECK(fi_send(f.ep, msg, sizeof(msg), fi_mr_desc(msg_mr), 0, &ctx));
		wait_completion(f.cq, "send of the message");
		printf("wrote %zu bytes from P2P memory of %s into the server's P2P buffer "
		       "(key 0x%" PRIx64 ")\n", len, argv[4], rb.key);
		check_registered(p, len, argv[5], "client");
	}
	FI_CHECK(fi_close(&mr->fid));
	FI_CHECK(fi_close(&msg_mr->fid));
	close_fab(&f);
	fi_freeinfo(info);
	T_CHECK(!munmap(p, len), "munmap: %s", strerror(errno));
	return 0;
}
