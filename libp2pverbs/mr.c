/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Memory registration on P2P memory through ibv_reg_dmabuf_mr(). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
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

/*
 * The mode of an MR is what its attachment got: the kernel keeps the
 * decision in the attachment and P2PMEM_IOC_ATTACH_QUERY reports it.  When
 * the provider's node cannot be asked (an imported buffer of another
 * exporter, no permission), the graph's answer for the pair stands in and
 * says where it came from.
 */
static void mr_mode(struct ibv_pd *pd, const struct p2pv_ptr_info *pi,
		    struct p2pv_mr_info *info)
{
	const struct p2pv_path *path;
	struct p2pv_graph_device *d;
	struct p2pv_graph *g;
	int saved = errno, i;

	info->mode = P2PV_MAP_UNKNOWN;
	info->path_class = P2PV_PATH_SYS;
	if (!pi->provider[0] || !pd->context || !pd->context->device ||
	    p2pv_graph_lock() < 0)
		goto out;
	g = p2pv_graph_get();
	i = p2pv_graph_find_provider(pi->provider);
	d = i >= 0 ? p2pv_graph_device(pd->context->device->name) : NULL;
	if (d) {
		path = p2pv_graph_path(d, i);
		info->mode = path->mode;
		info->reasons = path->reasons;
		info->path_class = path->path_class;
		info->source = path->source;
		info->comp_mask = P2PV_MR_INFO_MASK_ATTACHMENT;
		if (g->prov[i].node_fd >= 0 &&
		    p2pv_kernel_attach_query(g->prov[i].node_fd, pi->dmabuf_fd,
					     d->importer, &info->mode,
					     &info->reasons) == 0) {
			info->source = P2PV_SOURCE_ATTACHMENT;
			snprintf(info->importer, sizeof(info->importer), "%s",
				 d->importer);
		} else if (errno == ENODEV) {
			g->valid = 0;	/* the provider is gone */
		}
	}
	p2pv_graph_unlock();
out:
	info->mode_known = info->mode != P2PV_MAP_UNKNOWN;
	errno = saved;
}

static struct ibv_mr *reg_p2p(struct ibv_pd *pd, const struct p2pv_ptr_info *pi,
			      void *addr, size_t length, uint64_t iova,
			      unsigned int access)
{
	struct p2pv_mr_info *info;
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
	memcpy(info->provider, pi->provider, sizeof(info->provider));
	mr = ibv_reg_dmabuf_mr(pd, pi->dmabuf_offset, length, iova,
			       pi->dmabuf_fd, (int)access);
	if (!mr) {
		int err = errno;

		mr_mode(pd, pi, info);
		p2pv_err(err, "ibv_reg_dmabuf_mr(fd %d, offset %llu, length %zu): %s; path: %s [%s]%s",
			 pi->dmabuf_fd, (unsigned long long)pi->dmabuf_offset,
			 length, strerror(err), p2pv_map_mode_str(info->mode),
			 p2pv_answer_source_str(info->source),
			 err == EOPNOTSUPP &&
			 (info->reasons & P2PV_REASON_REVOCABLE_ONLY) ?
			 "; the provider accepts revocable importers only" : "");
		free(info);
		return NULL;
	}
	mr_mode(pd, pi, info);
	/* ibv_reg_dmabuf_mr() leaves the dma-buf offset in mr->addr; callers of
	 * ibv_reg_mr()/ibv_reg_mr_iova2() expect the address they registered */
	mr->addr = addr;
	remember_mr(mr, info);
	return mr;
}

/*
 * A range the registry knows but the program has unmapped (and maybe
 * mapped again with other memory) is not P2P memory: it goes to the plain
 * entry point like any other memory.
 */
P2PV_EXPORT struct ibv_mr *__p2pv_route_reg_mr(struct ibv_pd *pd, void *addr,
				   size_t length, uint64_t iova,
				   unsigned int access, int *handled)
{
	struct p2pv_ptr_info pi;
	int saved = errno;

	*handled = 0;
	if (!pd || p2pv_ptr_lookup(addr, length, &pi) < 0) {
		errno = saved;
		return NULL;
	}
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
	char *addr;

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
	addr = (char *)buf->addr + offset;
	if (buf->type != P2PV_MEM_P2P)
		return (ibv_reg_mr)(pd, addr, length, access);
	if (p2pv_ptr_lookup(addr, length, &pi) < 0 || pi.buf != buf) {
		p2pv_err(EINVAL, "p2pv_reg_buf: %p is not a mapped P2P buffer of libp2pverbs",
			 (void *)buf);
		return NULL;
	}
	return reg_p2p(pd, &pi, addr, length, (uintptr_t)addr,
		       (unsigned int)access);
}

static int check_reg_args(const struct ibv_pd *pd, const void *addr,
			  size_t length)
{
	if (!pd || !addr || !length)
		return p2pv_err(EINVAL, "p2pv_reg_mr: %s",
				!pd ? "NULL pd" : !addr ? "NULL address" :
				"zero length");
	return 0;
}

P2PV_EXPORT struct ibv_mr *p2pv_reg_mr_iova2(struct ibv_pd *pd, void *addr,
					     size_t length, uint64_t iova,
					     unsigned int access)
{
	struct ibv_mr *mr;
	int handled;

	if (check_reg_args(pd, addr, length) < 0)
		return NULL;
	mr = __p2pv_route_reg_mr(pd, addr, length, iova, access, &handled);
	if (handled)
		return mr;
	return ibv_reg_mr_iova2(pd, addr, length, iova, access);
}

P2PV_EXPORT struct ibv_mr *p2pv_reg_mr_iova(struct ibv_pd *pd, void *addr,
					    size_t length, uint64_t iova,
					    int access)
{
	struct ibv_mr *mr;
	int handled;

	if (check_reg_args(pd, addr, length) < 0)
		return NULL;
	mr = __p2pv_route_reg_mr(pd, addr, length, iova, (unsigned int)access,
				 &handled);
	if (handled)
		return mr;
	return ibv_reg_mr_iova(pd, addr, length, iova, access);
}

P2PV_EXPORT struct ibv_mr *p2pv_reg_mr(struct ibv_pd *pd, void *addr,
				       size_t length, int access)
{
	struct ibv_mr *mr;
	int handled;

	if (check_reg_args(pd, addr, length) < 0)
		return NULL;
	mr = __p2pv_route_reg_mr(pd, addr, length, (uintptr_t)addr,
				 (unsigned int)access, &handled);
	if (handled)
		return mr;
	return (ibv_reg_mr)(pd, addr, length, access);
}

/* ibv_dereg_mr() returns a positive errno; this library's model is -1 */
P2PV_EXPORT int p2pv_dereg_mr(struct ibv_mr *mr)
{
	int ret;

	if (!mr)
		return p2pv_err(EINVAL, "p2pv_dereg_mr: NULL mr");
	__p2pv_forget_mr(mr);
	ret = ibv_dereg_mr(mr);
	if (ret)
		return p2pv_err(ret, "ibv_dereg_mr: %s", strerror(ret));
	return 0;
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
