/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * A fake of the few libibverbs entry points that the routing touches.
 * Preloaded beneath libp2pverbs-preload.so, it stands where the real
 * libibverbs would be reached through RTLD_NEXT, and records every call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

#include "fakeverbs.h"

#undef ibv_reg_mr
#undef ibv_reg_mr_iova

static struct fakeverbs_log log_;

__attribute__((visibility("default"))) struct fakeverbs_log *fakeverbs_log(void)
{
	return &log_;
}

static struct ibv_mr *new_mr(struct ibv_pd *pd, void *addr, size_t length)
{
	struct ibv_mr *mr = log_.next_mr;

	log_.next_mr = NULL;
	if (mr)
		memset(mr, 0, sizeof(*mr));
	else
		mr = calloc(1, sizeof(*mr));
	if (!mr)
		return NULL;
	mr->pd = pd;
	mr->context = pd ? pd->context : NULL;
	mr->addr = addr;
	mr->length = length;
	mr->lkey = mr->rkey = 0x1234;
	return mr;
}

static void record(const char *fn, void *addr, size_t length, uint64_t iova,
		   int access)
{
	strncpy(log_.last, fn, sizeof(log_.last) - 1);
	log_.addr = addr;
	log_.length = length;
	log_.iova = iova;
	log_.access = access;
	log_.calls++;
}

__attribute__((visibility("default")))
struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			  int access)
{
	record("ibv_reg_mr", addr, length, (uintptr_t)addr, access);
	return new_mr(pd, addr, length);
}

__attribute__((visibility("default")))
struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length,
			       uint64_t iova, int access)
{
	record("ibv_reg_mr_iova", addr, length, iova, access);
	return new_mr(pd, addr, length);
}

__attribute__((visibility("default")))
struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length,
				uint64_t iova, unsigned int access)
{
	record("ibv_reg_mr_iova2", addr, length, iova, (int)access);
	return new_mr(pd, addr, length);
}

__attribute__((visibility("default")))
struct ibv_mr *ibv_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset,
				 size_t length, uint64_t iova, int fd,
				 int access)
{
	record("ibv_reg_dmabuf_mr", NULL, length, iova, access);
	log_.fd = fd;
	log_.offset = offset;
	log_.dmabuf_calls++;
	if (log_.dmabuf_errno) {
		errno = log_.dmabuf_errno;
		return NULL;
	}
	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	return new_mr(pd, (void *)(uintptr_t)iova, length);
}

__attribute__((visibility("default")))
int ibv_dereg_mr(struct ibv_mr *mr)
{
	log_.dereg_calls++;
	if (log_.dereg_errno)
		return log_.dereg_errno;
	free(mr);
	return 0;
}
