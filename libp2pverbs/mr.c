/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Memory registration.  The registration calls cost what the verbs call they
 * make costs, plus an in-memory lookup: no system call of their own.
 *
 * - p2pv_reg_mr*(): the range goes to ibv_reg_mr_iova2() by address.  The
 *   kernel resolves a range inside a P2P mapping to its dma-buf when it
 *   registers it, so the MR is on whatever memory is mapped there at that
 *   moment: the truth by construction, whatever the program did to the
 *   mapping.  A kernel that cannot do that fails with EFAULT (the mapping has
 *   no pages to pin); then, and only then, the range is checked to be still
 *   the buffer's mapping and the buffer is registered by its dma-buf.
 * - p2pv_reg_buf(): the buffer itself, ibv_reg_dmabuf_mr() on its fd.
 *
 * What the registry believed (provider, dma-buf fd and offset) is kept per
 * MR; what the MR actually is - host memory or P2P, and the mode its
 * attachment got - is worked out on the first p2pv_mr_query() and kept.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pv_priv.h"

struct mr_entry {
	struct p2pv_mr_info info;	/* the belief, then the answer */
	struct p2pv_vma_id mapping;	/* the buffer's mapping */
	uintptr_t addr;			/* the registered range */
	size_t length;
	uint64_t serial;		/* tells a reused struct ibv_mr * apart */
	int mapping_checked;		/* the range was the buffer's mapping */
	int resolved;			/* info is the answer */
};

static struct p2pv_rmap mrs = P2PV_RMAP_INIT;	/* keyed by struct ibv_mr * */
static uint64_t next_serial;

/* The MR a routed registration (libp2pverbs-preload.so beneath a
 * p2pv_reg_mr*() call) has just remembered itself */
static __thread const struct ibv_mr *routed_mr;

/* A forked child owns none of its parent's MRs (verbs objects do not cross
 * fork()), so its table starts empty: p2pv_mr_query() there says ENOENT. */
__attribute__((constructor)) static void mrs_fork_safe(void)
{
	p2pv_rmap_fork_safe(&mrs, free);
}

static void copy_entry(void *val, uintptr_t addr, void *arg)
{
	(void)addr;
	*(struct mr_entry *)arg = *(struct mr_entry *)val;
}

static void store_entry(void *val, void *arg)
{
	struct mr_entry *e = val, *n = arg;

	if (e->serial == n->serial)	/* still the MR that was resolved */
		*e = *n;
}

/*
 * An entry for this struct ibv_mr * already there is stale: its MR was
 * deregistered by a path that bypassed p2pv_dereg_mr() (plain ibv_dereg_mr()
 * without the preload library) and the allocator handed the address out
 * again.  The new MR replaces it.
 */
static void remember_mr(struct ibv_mr *mr, struct mr_entry *e)
{
	uintptr_t key = (uintptr_t)mr;
	void *stale = NULL;
	int saved = errno;
	int ret;

	e->serial = __atomic_add_fetch(&next_serial, 1, __ATOMIC_RELAXED);
	ret = p2pv_rmap_insert(&mrs, key, key + 1, e);
	if (ret < 0 && errno == EEXIST &&
	    p2pv_rmap_remove(&mrs, key, &stale) == 0) {
		free(stale);
		ret = p2pv_rmap_insert(&mrs, key, key + 1, e);
	}
	if (ret < 0)
		free(e);	/* registered all the same; only the query is lost */
	errno = saved;
}

static struct mr_entry *new_entry(const struct p2pv_ptr_info *pi,
				  const struct p2pv_vma_id *mapping,
				  void *addr, size_t length, uint64_t iova,
				  enum p2pv_mr_reg_method how)
{
	struct mr_entry *e = calloc(1, sizeof(*e));

	if (!e) {
		p2pv_err(ENOMEM, "out of memory");
		return NULL;
	}
	e->info.type = P2PV_MEM_P2P;
	e->info.mode = P2PV_MAP_UNKNOWN;
	e->info.path_class = P2PV_PATH_SYS;
	e->info.dmabuf_fd = pi->dmabuf_fd;
	e->info.dmabuf_offset = pi->dmabuf_offset;
	e->info.iova = iova;
	e->info.reg_method = how;
	memcpy(e->info.provider, pi->provider, sizeof(e->info.provider));
	e->mapping = *mapping;
	e->addr = (uintptr_t)addr;
	e->length = length;
	return e;
}

/*
 * The mode of an MR is what its attachment got: the kernel keeps the
 * decision in the attachment and P2PMEM_IOC_ATTACH_QUERY reports it.  When
 * the provider's node cannot be asked (an imported buffer of another
 * exporter, no permission), the graph's answer for the pair stands in and
 * says where it came from.
 */
static void mr_mode(const struct ibv_mr *mr, struct p2pv_mr_info *info)
{
	const struct p2pv_path *path;
	struct p2pv_graph_device *d;
	struct p2pv_graph *g;
	int saved = errno, i;

	info->mode = P2PV_MAP_UNKNOWN;
	info->path_class = P2PV_PATH_SYS;
	if (!info->provider[0] || !mr->context || !mr->context->device ||
	    p2pv_graph_lock() < 0)
		goto out;
	g = p2pv_graph_get();
	i = p2pv_graph_find_provider(info->provider);
	d = i >= 0 ? p2pv_graph_device(mr->context->device->name) : NULL;
	if (d) {
		path = p2pv_graph_path(d, i);
		info->mode = path->mode;
		info->reasons = path->reasons;
		info->path_class = path->path_class;
		info->source = path->source;
		info->comp_mask |= P2PV_MR_INFO_MASK_ATTACHMENT;
		if (g->prov[i].node_fd >= 0 &&
		    p2pv_kernel_attach_query(g->prov[i].node_fd, info->dmabuf_fd,
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

/* What the MR is: the entry's belief checked against the mapping (for a
 * registration by address) and the attachment */
static void resolve(const struct ibv_mr *mr, struct mr_entry *e)
{
	struct p2pv_mr_info *info = &e->info;

	info->comp_mask = P2PV_MR_INFO_MASK_REG_METHOD;
	if (info->reg_method == P2PV_MR_REG_MAPPING && !e->mapping_checked &&
	    !p2pv_vma_matches(e->addr, e->addr + e->length, &e->mapping)) {
		/* not the buffer's mapping: the kernel registered what was
		 * mapped there, host memory */
		info->type = P2PV_MEM_HOST;
		info->reg_method = P2PV_MR_REG_HOST;
		info->mode = P2PV_MAP_UNKNOWN;
		info->mode_known = 0;
		info->path_class = P2PV_PATH_SYS;
		info->source = P2PV_SOURCE_SYSFS;
		info->dmabuf_fd = -1;
		info->dmabuf_offset = 0;
		info->provider[0] = 0;
	} else {
		mr_mode(mr, info);
	}
	e->resolved = 1;
}

static void reg_failed(int err, const char *call, const struct mr_entry *e,
		       size_t length)
{
	if (err == ENODEV)
		p2pv_graph_invalidate();	/* the provider is gone */
	p2pv_err(err, "%s(%s %s, dma-buf fd %d offset %llu, length %zu): %s%s",
		 call, e->info.provider[0] ? "P2P memory of" : "P2P memory",
		 e->info.provider, e->info.dmabuf_fd,
		 (unsigned long long)e->info.dmabuf_offset, length,
		 strerror(err),
		 err == EOPNOTSUPP ?
		 " (no path from this device, or the provider accepts revocable importers only)" : "");
}

static struct ibv_mr *reg_dmabuf(struct ibv_pd *pd, struct mr_entry *e,
				 void *addr, size_t length,
				 unsigned int access)
{
	struct ibv_mr *mr;

	mr = ibv_reg_dmabuf_mr(pd, e->info.dmabuf_offset, length,
			       e->info.iova, e->info.dmabuf_fd, (int)access);
	if (!mr) {
		reg_failed(errno, "ibv_reg_dmabuf_mr", e, length);
		return NULL;
	}
	/* ibv_reg_dmabuf_mr() leaves the dma-buf offset in mr->addr; callers
	 * of ibv_reg_mr()/ibv_reg_mr_iova2() expect the address they gave */
	mr->addr = addr;
	return mr;
}

/* [addr, addr + length) lies in a P2P buffer as the registry knows it */
static struct ibv_mr *reg_p2p_addr(struct ibv_pd *pd,
				   const struct p2pv_ptr_info *pi,
				   const struct p2pv_vma_id *mapping,
				   void *addr, size_t length, uint64_t iova,
				   unsigned int access)
{
	uintptr_t start = (uintptr_t)addr;
	struct mr_entry *e;
	struct ibv_mr *mr;
	int err;

	e = new_entry(pi, mapping, addr, length, iova, P2PV_MR_REG_MAPPING);
	if (!e)
		return NULL;
	routed_mr = NULL;
	mr = ibv_reg_mr_iova2(pd, addr, length, iova, access);
	if (mr && mr == routed_mr) {
		/* libp2pverbs-preload.so routed it and remembered it */
		routed_mr = NULL;
		free(e);
		return mr;
	}
	if (!mr) {
		err = errno;
		/* a kernel that cannot resolve the mapping: register the
		 * buffer, if the range is still its mapping */
		if (err == EFAULT &&
		    p2pv_vma_matches(start, start + length, mapping)) {
			e->info.reg_method = P2PV_MR_REG_DMABUF;
			e->mapping_checked = 1;
			mr = reg_dmabuf(pd, e, addr, length, access);
		} else {
			reg_failed(err, "ibv_reg_mr", e, length);
		}
		if (!mr) {
			free(e);
			return NULL;
		}
	}
	remember_mr(mr, e);
	return mr;
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

/*
 * Is [addr, addr + length) P2P memory as far as the registry knows?  A
 * range crossing the end of a buffer is EINVAL (-1) while the buffer is
 * still mapped there; if the program has remapped it, the range is not the
 * buffer's (0).  Only this error path asks the kernel about the mapping.
 */
static int registry_p2p(void *addr, size_t length, struct p2pv_ptr_info *pi,
			struct p2pv_vma_id *mapping)
{
	uintptr_t start = (uintptr_t)addr;

	if (p2pv_ptr_find(addr, pi, mapping) < 0)
		return 0;
	if (length <= pi->remaining)
		return 1;
	if (!p2pv_vma_matches(start, start + pi->remaining, mapping))
		return 0;
	return p2pv_err(EINVAL, "range of %zu bytes at %p crosses the end of the P2P buffer %p (%zu bytes left)",
			length, addr, (void *)pi->buf, pi->remaining);
}

P2PV_EXPORT struct ibv_mr *p2pv_reg_mr_iova2(struct ibv_pd *pd, void *addr,
					     size_t length, uint64_t iova,
					     unsigned int access)
{
	struct p2pv_ptr_info pi;
	struct p2pv_vma_id id;
	int p2p;

	if (check_reg_args(pd, addr, length) < 0)
		return NULL;
	p2p = registry_p2p(addr, length, &pi, &id);
	if (p2p < 0)
		return NULL;
	if (p2p)
		return reg_p2p_addr(pd, &pi, &id, addr, length, iova, access);
	return ibv_reg_mr_iova2(pd, addr, length, iova, access);
}

P2PV_EXPORT struct ibv_mr *p2pv_reg_mr_iova(struct ibv_pd *pd, void *addr,
					    size_t length, uint64_t iova,
					    int access)
{
	struct p2pv_ptr_info pi;
	struct p2pv_vma_id id;
	int p2p;

	if (check_reg_args(pd, addr, length) < 0)
		return NULL;
	p2p = registry_p2p(addr, length, &pi, &id);
	if (p2p < 0)
		return NULL;
	if (p2p)
		return reg_p2p_addr(pd, &pi, &id, addr, length, iova,
				    (unsigned int)access);
	return ibv_reg_mr_iova(pd, addr, length, iova, access);
}

P2PV_EXPORT struct ibv_mr *p2pv_reg_mr(struct ibv_pd *pd, void *addr,
				       size_t length, int access)
{
	struct p2pv_ptr_info pi;
	struct p2pv_vma_id id;
	int p2p;

	if (check_reg_args(pd, addr, length) < 0)
		return NULL;
	p2p = registry_p2p(addr, length, &pi, &id);
	if (p2p < 0)
		return NULL;
	if (p2p)
		return reg_p2p_addr(pd, &pi, &id, addr, length,
				    (uintptr_t)addr, (unsigned int)access);
	return (ibv_reg_mr)(pd, addr, length, access);
}

P2PV_EXPORT struct ibv_mr *p2pv_reg_buf(struct ibv_pd *pd, struct p2pv_buf *buf,
					size_t offset, size_t length, int access)
{
	struct p2pv_ptr_info pi;
	struct p2pv_vma_id id;
	struct mr_entry *e;
	struct ibv_mr *mr;
	char *addr;

	if (!pd || !buf) {
		p2pv_err(EINVAL, "p2pv_reg_buf: NULL %s", pd ? "buffer" : "pd");
		return NULL;
	}
	if (p2pv_buf_find(buf, &id) < 0) {
		p2pv_err(EINVAL, "p2pv_reg_buf: %p is not a live buffer of libp2pverbs",
			 (void *)buf);
		return NULL;
	}
	if (offset >= buf->length) {
		p2pv_err(EINVAL, "p2pv_reg_buf: offset %zu beyond buffer of %zu bytes",
			 offset, buf->length);
		return NULL;
	}
	if (!length)
		length = buf->length - offset;
	if (length > buf->length - offset) {
		p2pv_err(EINVAL, "p2pv_reg_buf: range of %zu bytes at offset %zu crosses the end of the buffer (%zu bytes)",
			 length, offset, buf->length);
		return NULL;
	}
	addr = (char *)buf->addr + offset;
	if (buf->type != P2PV_MEM_P2P)
		return (ibv_reg_mr)(pd, addr, length, access);
	memset(&pi, 0, sizeof(pi));
	pi.dmabuf_fd = buf->dmabuf_fd;
	pi.dmabuf_offset = buf->dmabuf_offset + offset;
	memcpy(pi.provider, buf->provider, sizeof(pi.provider));
	e = new_entry(&pi, &id, addr, length, (uintptr_t)addr,
		      P2PV_MR_REG_DMABUF);
	if (!e)
		return NULL;
	mr = reg_dmabuf(pd, e, addr, length, (unsigned int)access);
	if (!mr) {
		free(e);
		return NULL;
	}
	remember_mr(mr, e);
	return mr;
}

/*
 * libp2pverbs-preload.so: a plain ibv_reg_mr*() of a range inside P2P
 * memory becomes ibv_reg_dmabuf_mr() on the buffer, for kernels that cannot
 * resolve the mapping themselves.  A range the registry knows but the
 * program has unmapped (and maybe mapped again with other memory) is not P2P
 * memory: it goes to the plain entry point like any other memory.
 */
P2PV_EXPORT struct ibv_mr *__p2pv_route_reg_mr(struct ibv_pd *pd, void *addr,
				   size_t length, uint64_t iova,
				   unsigned int access, int *handled)
{
	struct p2pv_ptr_info pi;
	struct p2pv_vma_id id;
	struct mr_entry *e;
	struct ibv_mr *mr;
	int saved = errno;

	*handled = 0;
	if (!pd || p2pv_ptr_lookup(addr, length, &pi) < 0 ||
	    p2pv_ptr_find(addr, &pi, &id) < 0) {
		errno = saved;
		return NULL;
	}
	*handled = 1;
	if (!length) {
		p2pv_err(EINVAL, "zero-length registration");
		return NULL;
	}
	if (length > pi.remaining) {
		p2pv_err(EINVAL, "range of %zu bytes crosses the end of the P2P buffer (%zu left)",
			 length, pi.remaining);
		return NULL;
	}
	e = new_entry(&pi, &id, addr, length, iova, P2PV_MR_REG_DMABUF);
	if (!e)
		return NULL;
	mr = reg_dmabuf(pd, e, addr, length, access);
	if (!mr) {
		free(e);
		return NULL;
	}
	remember_mr(mr, e);
	routed_mr = mr;
	return mr;
}

P2PV_EXPORT void __p2pv_forget_mr(const struct ibv_mr *mr)
{
	void *e = NULL;
	int saved = errno;

	if (mr && p2pv_rmap_remove(&mrs, (uintptr_t)mr, &e) == 0)
		free(e);
	errno = saved;
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
	struct mr_entry e;

	if (!mr || !info)
		return p2pv_err(EINVAL, "p2pv_mr_query: NULL argument");
	if (p2pv_rmap_lookup(&mrs, (uintptr_t)mr, copy_entry, &e) < 0)
		return p2pv_err(ENOENT, "MR %p was not registered on P2P memory by libp2pverbs",
				(const void *)mr);
	if (!e.resolved) {
		resolve(mr, &e);
		p2pv_rmap_update(&mrs, (uintptr_t)mr, store_entry, &e);
	}
	*info = e.info;
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
