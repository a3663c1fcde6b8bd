/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-guest checks that write access to P2P memory needs write permission on
 * every path into it (issue 17, item 3):
 *
 *   write-permission-test node PROVIDER CLIENT-BDF
 *   write-permission-test rdma PROVIDER DEV
 *
 * "node": /dev/p2pmem/PROVIDER opened O_RDONLY may only ask.  ALLOC fails
 * with EBADF and mmap() of the node, which allocates too, with EACCES,
 * whatever the protection; MAP_QUERY (for the PCI device CLIENT-BDF) and
 * ATTACH_QUERY are answered; the provider's pool is untouched.  The same
 * calls on an O_RDWR open succeed.
 *
 * "rdma": on the rxe device DEV, with a dma-buf allocated O_RDONLY from the
 * provider, ibv_reg_dmabuf_mr() for local write, remote write or remote
 * atomic access fails with EACCES and for remote read succeeds; then the
 * REREG_MR command, sent to the kernel directly (rdma-core's rxe provider
 * refuses re-registration before the kernel would see it), must not add
 * write access to that read-only MR, nor change anything else of a dma-buf
 * MR: EOPNOTSUPP.
 *
 * Every check runs even when an earlier one failed; each prints "ok: ..." or
 * "FAIL: ..." and the exit status is 1 if any failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* O_CLOEXEC; the CMake build defines it */
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
#include <unistd.h>

#include <infiniband/verbs.h>
#include <linux/p2pmem.h>
#include <rdma/ib_user_verbs.h>

#include "p2pmem-client.h"
#include "t-report.h"

#define BUF_SIZE	(64u * 1024)

static const char *provider;
static int failures;

__attribute__((format(printf, 2, 3)))
static void check(bool good, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	if (good) {
		printf("ok: [%s] ", provider);
		vprintf(fmt, ap);
		printf("\n");
		fflush(stdout);
	} else {
		fprintf(stderr, "FAIL: [%s] ", provider);
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		failures++;
	}
	va_end(ap);
}

/* "EBADF", or "success" for 0 */
static const char *err_name(int err)
{
	return err ? strerrorname_np(err) : "success";
}

static int open_node(int flags)
{
	int fd = p2pmem_open_node(provider, flags);

	if (fd < 0)
		t_fail("open /dev/p2pmem/%s: %s", provider, strerror(-fd));
	return fd;
}

static uint64_t available(void)
{
	uint64_t v = 0;
	int err = p2pmem_read_available(provider, &v);

	if (err)
		t_fail("%s: p2pmem/available: %s", provider, strerror(-err));
	return v;
}

/* mmap() of the node: 0, or the errno; a mapping made is unmapped */
static int map_node(int node, int prot)
{
	void *m = mmap(NULL, BUF_SIZE, prot, MAP_SHARED, node, 0);

	if (m == MAP_FAILED)
		return errno;
	munmap(m, BUF_SIZE);
	return 0;
}

static int cmd_node(const char *client_bdf)
{
	struct p2pmem_map_query q = { 0 };
	struct p2pmem_attach_query aq = { 0 };
	uint64_t before = available();
	int ro = open_node(O_RDONLY), rw = open_node(O_RDWR);
	int fd, err;

	fd = p2pmem_try_alloc(ro, BUF_SIZE, O_RDWR | O_CLOEXEC, 0);
	check(fd == -EBADF, "ALLOC of an O_RDWR buffer on an O_RDONLY node: %s, expected EBADF",
	      fd >= 0 ? "a dma-buf" : err_name(-fd));
	if (fd >= 0)
		close(fd);
	fd = p2pmem_try_alloc(ro, BUF_SIZE, O_RDONLY | O_CLOEXEC, 0);
	check(fd == -EBADF, "ALLOC of an O_RDONLY buffer on an O_RDONLY node: %s, expected EBADF",
	      fd >= 0 ? "a dma-buf" : err_name(-fd));
	if (fd >= 0)
		close(fd);

	err = map_node(ro, PROT_READ);
	check(err == EACCES, "mmap(PROT_READ, MAP_SHARED) of an O_RDONLY node: %s, expected EACCES",
	      err_name(err));
	err = map_node(ro, PROT_READ | PROT_WRITE);
	check(err == EACCES, "mmap(PROT_READ|PROT_WRITE, MAP_SHARED) of an O_RDONLY node: %s, expected EACCES",
	      err_name(err));
	check(available() == before, "the pool is untouched: %" PRIu64 " bytes available, %" PRIu64 " before",
	      available(), before);

	if (p2pmem_set_client(client_bdf, &q))
		t_fail("bad PCI name %s", client_bdf);
	err = ioctl(ro, P2PMEM_IOC_MAP_QUERY, &q) ? errno : 0;
	check(!err, "MAP_QUERY for %s on an O_RDONLY node: %s (mode %u)",
	      client_bdf, err_name(err), q.mode);

	/* a buffer of the writable open, no attachment: ENOENT at index 0 */
	fd = p2pmem_try_alloc(rw, BUF_SIZE, O_RDWR | O_CLOEXEC, 0);
	check(fd >= 0, "ALLOC on an O_RDWR node: %s", fd >= 0 ? "a dma-buf" : err_name(-fd));
	if (fd >= 0) {
		aq.dmabuf_fd = fd;
		err = ioctl(ro, P2PMEM_IOC_ATTACH_QUERY, &aq) ? errno : 0;
		check(err == ENOENT, "ATTACH_QUERY on an O_RDONLY node is answered: %s (no attachment), expected ENOENT",
		      err_name(err));
		close(fd);
	}
	err = map_node(rw, PROT_READ | PROT_WRITE);
	check(!err, "mmap(PROT_READ|PROT_WRITE, MAP_SHARED) of an O_RDWR node: %s",
	      err_name(err));

	close(ro);
	close(rw);
	check(available() == before, "the pool is whole again: %" PRIu64 " bytes available, %" PRIu64 " before",
	      available(), before);
	return failures ? 1 : 0;
}

static struct ibv_context *open_rdma(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;
	int i;

	if (!list)
		t_fail("ibv_get_device_list: %s", strerror(errno));
	for (i = 0; list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!ctx)
		t_fail("cannot open RDMA device %s", name);
	return ctx;
}

static void reg_refused(struct ibv_pd *pd, int buf, int access, const char *what)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_dmabuf_mr(pd, 0, BUF_SIZE, 0, buf, access);
	check(!mr && errno == EACCES, "ibv_reg_dmabuf_mr for %s on an O_RDONLY dma-buf: %s, expected EACCES",
	      what, mr ? "an MR" : err_name(errno));
	if (mr)
		ibv_dereg_mr(mr);
}

/*
 * The REREG_MR write command as the kernel receives it.  Returns 0 or the
 * errno.
 */
static int rereg_raw(struct ibv_mr *mr, uint32_t flags, struct ibv_pd *pd,
		     int access)
{
	struct ib_uverbs_rereg_mr_resp resp;
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_rereg_mr cmd;
	} req = {
		.hdr = {
			.command = IB_USER_VERBS_CMD_REREG_MR,
			.in_words = sizeof(req) / 4,
			.out_words = sizeof(resp) / 4,
		},
		.cmd = {
			.response = (uintptr_t)&resp,
			.mr_handle = mr->handle,
			.flags = flags,
			.pd_handle = pd->handle,
			.access_flags = access,
		},
	};
	ssize_t n = write(mr->context->cmd_fd, &req, sizeof(req));

	if (n < 0)
		return errno;
	return n == (ssize_t)sizeof(req) ? 0 : EIO;
}

static int cmd_rdma(const char *dev)
{
	struct ibv_context *ctx = open_rdma(dev);
	struct ibv_pd *pd = ibv_alloc_pd(ctx), *pd2 = ibv_alloc_pd(ctx);
	int node = open_node(O_RDWR);
	int buf = p2pmem_try_alloc(node, BUF_SIZE, O_RDONLY | O_CLOEXEC, 0);
	struct ibv_mr *mr;
	int err;

	if (!pd || !pd2)
		t_fail("%s: ibv_alloc_pd: %s", dev, strerror(errno));
	if (buf < 0)
		t_fail("ALLOC of an O_RDONLY buffer: %s", strerror(-buf));

	reg_refused(pd, buf, IBV_ACCESS_LOCAL_WRITE, "local write");
	reg_refused(pd, buf, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,
		    "remote write");
	reg_refused(pd, buf, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_ATOMIC,
		    "remote atomic");

	mr = ibv_reg_dmabuf_mr(pd, 0, BUF_SIZE, 0, buf, IBV_ACCESS_REMOTE_READ);
	if (!mr)
		t_fail("ibv_reg_dmabuf_mr for remote read on an O_RDONLY dma-buf: %s",
		       strerror(errno));
	check(true, "ibv_reg_dmabuf_mr for remote read on an O_RDONLY dma-buf: an MR");

	err = rereg_raw(mr, IBV_REREG_MR_CHANGE_ACCESS, pd,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			IBV_ACCESS_REMOTE_READ);
	check(err == EOPNOTSUPP, "REREG_MR adding local and remote write to that MR: %s, expected EOPNOTSUPP",
	      err_name(err));
	err = rereg_raw(mr, IBV_REREG_MR_CHANGE_PD, pd2, 0);
	check(err == EOPNOTSUPP, "REREG_MR moving a dma-buf MR to another PD: %s, expected EOPNOTSUPP",
	      err_name(err));

	/* whatever the rereg did, the MR and its PDs must go away cleanly */
	if (ibv_dereg_mr(mr))
		t_fail("ibv_dereg_mr: %s", strerror(errno));
	if (ibv_dealloc_pd(pd) || ibv_dealloc_pd(pd2))
		t_fail("ibv_dealloc_pd: %s", strerror(errno));
	ibv_close_device(ctx);
	close(buf);
	close(node);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		t_fail("usage: %s node PROVIDER CLIENT-BDF | rdma PROVIDER DEV",
		       argv[0]);
	provider = argv[2];
	if (!strcmp(argv[1], "node"))
		return cmd_node(argv[3]);
	if (!strcmp(argv[1], "rdma"))
		return cmd_rdma(argv[3]);
	t_fail("unknown command %s", argv[1]);
}
