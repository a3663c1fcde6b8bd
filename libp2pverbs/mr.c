/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Memory registration on P2P memory through ibv_reg_dmabuf_mr(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "p2pv_priv.h"

static struct p2pv_rmap mrs = P2PV_RMAP_INIT;	/* keyed by struct ibv_mr * */

/* A forked child owns none of its parent's MRs (verbs objects do not cross
 * fork()), so its table starts empty: p2pv_mr_query() there says ENOENT. */
__attribute__((constructor)) static void mrs_fork_safe(void)
{
	p2pv_rmap_fork_safe(&mrs, free);
}

static void copy_mr(void *val, uintptr_t addr, void *arg)
{
	(void)addr;
	*(struct p2pv_mr_info *)arg = *(struct p2pv_mr_info *)val;
}

/*
 * An entry for this struct ibv_mr * already there is stale: its MR was
 * deregistered by a path that bypassed p2pv_dereg_mr() (plain ibv_dereg_mr()
 * without the preload library) and the allocator handed the address out
 * again.  The new MR replaces it.
 */
static void remember_mr(struct ibv_mr *mr, struct p2pv_mr_info *info)
{
	uintptr_t key = (uintptr_t)mr;
	void *stale = NULL;
	int saved = errno;
	int ret;

	ret = p2pv_rmap_insert(&mrs, key, key + 1, info);
	if (ret < 0 && errno == EEXIST &&
	    p2pv_rmap_remove(&mrs, key, &stale) == 0) {
		free(stale);
		ret = p2pv_rmap_insert(&mrs, key, key + 1, info);
	}
	if (ret < 0)
		free(info);	/* registered all the same; only the query is lost */
	errno = saved;
}

static struct ibv_mr *reg_p2p(struct ibv_pd *pd, const struct p2pv_ptr_info *pi,
			      void *addr, size_t length, uint64_t iova,
			      unsigned int access)
{
	struct p2pv_mr_info *info;
	struct p2pv_path path;
	struct ibv_mr *mr;

	if (!length) {
		p2pv_err(EINVAL, "zero-length registration");
		return NULL;
	}
	if (length > pi->remaining) {
		p2pv_err(EINVAL, "range of %zu bytes crosses the end of the P2P buffer (%zu left)",
			 length, pi->remaining);
		return NULL;
	}
	info = calloc(1, sizeof(*info));
	if (!info) {
		p2pv_err(ENOMEM, "out of memory");
		return NULL;
	}
	info->type = P2PV_MEM_P2P;
	info->dmabuf_fd = pi->dmabuf_fd;
	info->dmabuf_offset = pi->dmabuf_offset;
	info->iova = iova;
	info->mode = P2PV_MAP_REFUSED;
	info->path_class = P2PV_PATH_SYS;
	memcpy(info->provider, pi->provider, sizeof(info->provider));
	if (pi->provider[0] && pd->context && pd->context->device &&
	    p2pv_query_path(pi->provider, pd->context->device, &path) == 0) {
		info->mode = path.mode;
		info->path_class = path.path_class;
		info->source = path.source;
		info->mode_known = 1;
	}
	mr = ibv_reg_dmabuf_mr(pd, pi->dmabuf_offset, length, iova,
			       pi->dmabuf_fd, (int)access);
	if (!mr) {
		int err = errno;

		p2pv_err(err, "ibv_reg_dmabuf_mr(fd %d, offset %llu, length %zu): %s%s%s",
			 pi->dmabuf_fd, (unsigned long long)pi->dmabuf_offset,
			 length, strerror(err),
			 info->mode_known ? "; path: " : "",
			 info->mode_known ? p2pv_map_mode_str(info->mode) : "");
		free(info);
		return NULL;
	}
	/* ibv_reg_dmabuf_mr() leaves the dma-buf offset in mr->addr; callers of
	 * ibv_reg_mr()/ibv_reg_mr_iova2() expect the address they registered */
	mr->addr = addr;
	remember_mr(mr, info);
	return mr;
}

P2PV_EXPORT struct ibv_mr *__p2pv_route_reg_mr(struct ibv_pd *pd, void *addr,
				   size_t length, uint64_t iova,
				   unsigned int access, int *handled)
{
	struct p2pv_ptr_info pi;

	*handled = 0;
	if (!pd || !p2pv_is_p2p(addr) || p2pv_ptr_query(addr, &pi) < 0)
		return NULL;
	*handled = 1;
	return reg_p2p(pd, &pi, addr, length, iova, access);
}

P2PV_EXPORT void __p2pv_forget_mr(const struct ibv_mr *mr)
{
	void *info = NULL;
	int saved = errno;

	if (mr && p2pv_rmap_remove(&mrs, (uintptr_t)mr, &info) == 0)
		free(info);
	errno = saved;
}

P2PV_EXPORT struct ibv_mr *p2pv_reg_buf(struct ibv_pd *pd, struct p2pv_buf *buf,
					size_t offset, size_t length, int access)
{
	struct p2pv_ptr_info pi;

	if (!pd || !buf) {
		p2pv_err(EINVAL, "p2pv_reg_buf: NULL %s", pd ? "buffer" : "pd");
		return NULL;
	}
	if (offset >= buf->length) {
		p2pv_err(EINVAL, "p2pv_reg_buf: offset %zu beyond buffer of %zu bytes",
			 offset, buf->length);
		return NULL;
	}
	if (!length)
		length = buf->length - offset;
	if (buf->type != P2PV_MEM_P2P)
		return (ibv_reg_mr)(pd, (char *)buf->addr + offset, length, access);
	if (p2pv_ptr_query((char *)buf->addr + offset, &pi) < 0 || pi.buf != buf) {
		p2pv_err(EINVAL, "p2pv_reg_buf: unknown buffer");
		return NULL;
	}
	return reg_p2p(pd, &pi, (char *)buf->addr + offset, length,
		       (uintptr_t)buf->addr + offset, (unsigned int)access);
}

P2PV_EXPORT struct ibv_mr *p2pv_reg_mr_iova2(struct ibv_pd *pd, void *addr,
					     size_t length, uint64_t iova,
					     unsigned int access)
{
	struct ibv_mr *mr;
	int handled;

	if (!pd) {
		p2pv_err(EINVAL, "p2pv_reg_mr: NULL pd");
		return NULL;
	}
	mr = __p2pv_route_reg_mr(pd, addr, length, iova, access, &handled);
	if (handled)
		return mr;
	return ibv_reg_mr_iova2(pd, addr, length, iova, access);
}

P2PV_EXPORT struct ibv_mr *p2pv_reg_mr(struct ibv_pd *pd, void *addr,
				       size_t length, int access)
{
	struct ibv_mr *mr;
	int handled;

	if (!pd) {
		p2pv_err(EINVAL, "p2pv_reg_mr: NULL pd");
		return NULL;
	}
	mr = __p2pv_route_reg_mr(pd, addr, length, (uintptr_t)addr,
				 (unsigned int)access, &handled);
	if (handled)
		return mr;
	return (ibv_reg_mr)(pd, addr, length, access);
}

P2PV_EXPORT int p2pv_dereg_mr(struct ibv_mr *mr)
{
	if (!mr)
		return p2pv_err(EINVAL, "p2pv_dereg_mr: NULL mr");
	__p2pv_forget_mr(mr);
	return ibv_dereg_mr(mr);
}

P2PV_EXPORT int p2pv_mr_query(const struct ibv_mr *mr, struct p2pv_mr_info *info)
{
	struct p2pv_mr_info tmp;

	if (!mr || !info)
		return p2pv_err(EINVAL, "p2pv_mr_query: NULL argument");
	if (p2pv_rmap_lookup(&mrs, (uintptr_t)mr, copy_mr, &tmp) < 0)
		return p2pv_err(ENOENT, "MR %p was not registered on P2P memory by libp2pverbs",
				(const void *)mr);
	*info = tmp;
	return 0;
}

P2PV_EXPORT int p2pv_dmabuf_mr_supported(struct ibv_pd *pd)
{
	struct ibv_mr *mr;

	if (!pd)
		return p2pv_err(EINVAL, "p2pv_dmabuf_mr_supported: NULL pd");
	errno = 0;
	mr = ibv_reg_dmabuf_mr(pd, 0, 4096, 0, -1, IBV_ACCESS_LOCAL_WRITE);
	if (mr) {	/* should not happen with fd -1, but it means yes */
		ibv_dereg_mr(mr);
		return 1;
	}
	switch (errno) {
	case EBADF:
		return 1;
	case EOPNOTSUPP:
	case EPROTONOSUPPORT:
		p2pv_err(errno, "dma-buf MRs not supported by the device or kernel");
		return 0;
	default:
		return p2pv_err(errno ? errno : EIO,
				"dma-buf MR probe: unexpected error: %s",
				strerror(errno ? errno : EIO));
	}
}
