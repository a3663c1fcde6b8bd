/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Memory registration.  The registration calls cost what the verbs call they
 * make costs, plus an in-memory lookup: no system call of their own.
 *
 * - p2pv_reg_mr*(): the range goes to ibv_reg_mr_iova2() by address.  The
 *   kernel resolves a range inside a P2P mapping to its dma-buf when it
 *   registers it, so the MR is on whatever memory is mapped there at that
 *   moment: the truth by construction, whatever the program did to the
 *   mapping.  The kernel always has that path (kernel-patches/0014-0017):
 *   EFAULT means the range is not (entirely) a P2P mapping any more, and
 *   it goes back to the caller as it is.
 * - p2pv_reg_buf(): the buffer itself, ibv_reg_dmabuf_mr() on its fd.
 *
 * What the registry believed (provider, dma-buf fd and offset) is kept per
 * MR; what the MR actually is - host memory or P2P, and the mode its
 * attachment got - is worked out on the first p2pv_mr_query() and kept.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pv_priv.h"

/*
 * The MR table: open addressing (linear probing, deletion by backward
 * shift) keyed by the struct ibv_mr *, records inline, one lock.  A
 * registration writes one record into an array it allocated long before: no
 * allocator, no memmove, no libc lock on the way (under emulation each code
 * or data page a call touches for the first time after the kernel ran costs
 * microseconds).  The answer of p2pv_mr_query() is allocated when first
 * asked for.
 */
struct mr_rec {
	uintptr_t key;			/* struct ibv_mr *; 0: free slot */
	uint64_t serial;		/* tells a reused struct ibv_mr * apart */
	uint64_t iova;
	uint64_t dmabuf_offset;
	uintptr_t addr;			/* the registered range */
	size_t length;
	struct p2pv_vma_id mapping;	/* the buffer's mapping */
	struct p2pv_mr_info *answer;	/* once p2pv_mr_query() asked */
	int dmabuf_fd;
	uint8_t method;			/* enum p2pv_mr_reg_method as registered */
	char provider[P2PV_PCI_ADDR_LEN];
};

#define MRT_MIN_BITS 6
static struct {
	int lock;
	unsigned bits;			/* capacity 1 << bits, 0: none yet */
	size_t n;
	struct mr_rec *slot;
	uint64_t last_serial;
} mrt;

static P2PV_HOT size_t mrt_home(uintptr_t key, unsigned bits)
{
	return (size_t)(((uint64_t)key >> 4) * 0x9e3779b97f4a7c15ULL >> (64 - bits));
}

/* the slot holding key, or the free slot where it would go; locked */
static P2PV_HOT struct mr_rec *mrt_find(uintptr_t key)
{
	size_t mask = ((size_t)1 << mrt.bits) - 1, i = mrt_home(key, mrt.bits);

	while (mrt.slot[i].key && mrt.slot[i].key != key)
		i = (i + 1) & mask;
	return &mrt.slot[i];
}

/* twice the capacity (or the first table); locked; 0 or -1 */
static int mrt_grow(void)
{
	unsigned bits = mrt.bits ? mrt.bits + 1 : MRT_MIN_BITS;
	struct mr_rec *old = mrt.slot, *r;
	size_t i, oldcap = mrt.bits ? (size_t)1 << mrt.bits : 0;

	r = calloc((size_t)1 << bits, sizeof(*r));
	if (!r)
		return -1;
	mrt.slot = r;
	mrt.bits = bits;
	for (i = 0; i < oldcap; i++)
		if (old[i].key)
			*mrt_find(old[i].key) = old[i];
	free(old);
	return 0;
}

/* remove the record of slot s, shifting the probe chain back; locked */
static P2PV_HOT void mrt_delete(struct mr_rec *s)
{
	size_t mask = ((size_t)1 << mrt.bits) - 1;
	size_t hole = (size_t)(s - mrt.slot), i = hole, home;

	for (;;) {
		i = (i + 1) & mask;
		if (!mrt.slot[i].key)
			break;
		home = mrt_home(mrt.slot[i].key, mrt.bits);
		/* can the record at i move back to the hole? */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			mrt.slot[hole] = mrt.slot[i];
			hole = i;
		}
	}
	mrt.slot[hole].key = 0;
	mrt.n--;
}

/* A forked child owns none of its parent's MRs (verbs objects do not cross
 * fork()), so its table starts empty: p2pv_mr_query() there says ENOENT. */
static void mrt_fork_prepare(void)
{
	p2pv_lock(&mrt.lock);
}

static void mrt_fork_parent(void)
{
	p2pv_unlock(&mrt.lock);
}

static void mrt_fork_child(void)
{
	size_t i;

	for (i = 0; mrt.bits && i < (size_t)1 << mrt.bits; i++) {
		if (mrt.slot[i].key)
			free(mrt.slot[i].answer);
		mrt.slot[i].key = 0;
	}
	mrt.n = 0;
	mrt.lock = 0;
}

__attribute__((constructor)) static void mrt_fork_safe(void)
{
	pthread_atfork(mrt_fork_prepare, mrt_fork_parent, mrt_fork_child);
}

/*
 * A record for this struct ibv_mr * already there is stale: its MR was
 * deregistered by a path that bypassed p2pv_dereg_mr() (libibverbs' own
 * ibv_dereg_mr()) and the allocator handed the address out again; the new
 * MR replaces it.  Without memory for a larger table the MR is registered
 * all the same; only p2pv_mr_query() will not know it.
 */
static P2PV_HOT void remember_mr(struct ibv_mr *mr, struct mr_rec *rec)
{
	struct p2pv_mr_info *stale = NULL;
	struct mr_rec *s;

	rec->key = (uintptr_t)mr;
	p2pv_lock(&mrt.lock);
	rec->serial = ++mrt.last_serial;
	if (((mrt.n + 1) << 1) > ((size_t)1 << mrt.bits) && mrt_grow() < 0 &&
	    mrt.n + 1 >= ((size_t)1 << mrt.bits)) {
		p2pv_unlock(&mrt.lock);
		return;
	}
	s = mrt_find(rec->key);
	if (!s->key) {
		*s = *rec;
		mrt.n++;
	} else {
		stale = s->answer;
		*s = *rec;
	}
	p2pv_unlock(&mrt.lock);
	if (stale)
		free(stale);
}

/* the record of mr, answer included when there is one; 0 or -1 */
static int lookup_mr(const struct ibv_mr *mr, struct mr_rec *rec,
		     struct p2pv_mr_info *answer)
{
	struct mr_rec *s;
	int ret = -1;

	p2pv_lock(&mrt.lock);
	if (mrt.n) {
		s = mrt_find((uintptr_t)mr);
		if (s->key) {
			*rec = *s;
			if (s->answer)
				*answer = *s->answer;
			ret = 0;
		}
	}
	p2pv_unlock(&mrt.lock);
	return ret;
}

/* keep the answer worked out for the record of serial; the caller frees
 * what is not kept */
static struct p2pv_mr_info *store_answer(const struct ibv_mr *mr,
					 uint64_t serial,
					 struct p2pv_mr_info *answer)
{
	struct mr_rec *s;

	p2pv_lock(&mrt.lock);
	if (mrt.n) {
		s = mrt_find((uintptr_t)mr);
		if (s->key && s->serial == serial && !s->answer) {
			s->answer = answer;
			answer = NULL;
		}
	}
	p2pv_unlock(&mrt.lock);
	return answer;
}

static P2PV_HOT void new_rec(struct mr_rec *rec, const struct p2pv_ptr_info *pi,
			     const struct p2pv_vma_id *mapping, void *addr,
			     size_t length, uint64_t iova,
			     enum p2pv_mr_reg_method how)
{
	rec->iova = iova;
	rec->dmabuf_offset = pi->dmabuf_offset;
	rec->addr = (uintptr_t)addr;
	rec->length = length;
	rec->mapping = *mapping;
	rec->answer = NULL;
	rec->dmabuf_fd = pi->dmabuf_fd;
	rec->method = (uint8_t)how;
	memcpy(rec->provider, pi->provider, sizeof(rec->provider));
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

/* What the MR is: the record's belief checked against the mapping (for a
 * registration by address) and the attachment */
static void resolve(const struct ibv_mr *mr, const struct mr_rec *rec,
		    struct p2pv_mr_info *info)
{
	memset(info, 0, sizeof(*info));
	info->comp_mask = P2PV_MR_INFO_MASK_REG_METHOD;
	info->iova = rec->iova;
	if (rec->method == P2PV_MR_REG_MAPPING &&
	    !p2pv_vma_matches(rec->addr, rec->addr + rec->length,
			      &rec->mapping)) {
		/* not the buffer's mapping: the kernel registered what was
		 * mapped there, host memory */
		info->type = P2PV_MEM_HOST;
		info->reg_method = P2PV_MR_REG_HOST;
		info->mode = P2PV_MAP_UNKNOWN;
		info->path_class = P2PV_PATH_SYS;
		info->source = P2PV_SOURCE_SYSFS;
		info->dmabuf_fd = -1;
		return;
	}
	info->type = P2PV_MEM_P2P;
	info->reg_method = (enum p2pv_mr_reg_method)rec->method;
	info->dmabuf_fd = rec->dmabuf_fd;
	info->dmabuf_offset = rec->dmabuf_offset;
	memcpy(info->provider, rec->provider, sizeof(info->provider));
	mr_mode(mr, info);
}

static void reg_failed(int err, const char *call, const struct mr_rec *rec,
		       size_t length)
{
	if (err == ENODEV)
		p2pv_graph_invalidate();	/* the provider is gone */
	p2pv_err(err, "%s(%s %s, dma-buf fd %d offset %llu, length %zu): %s%s",
		 call, rec->provider[0] ? "P2P memory of" : "P2P memory",
		 rec->provider, rec->dmabuf_fd,
		 (unsigned long long)rec->dmabuf_offset, length,
		 strerror(err),
		 err == EOPNOTSUPP ?
		 " (no path from this device, or the provider accepts revocable importers only)" :
		 err == EFAULT ?
		 " (the range is not (entirely) a P2P mapping: unmapped, or mapped with memory that cannot be registered)" : "");
}

static P2PV_HOT struct ibv_mr *reg_dmabuf(struct ibv_pd *pd,
					  const struct mr_rec *rec,
					  void *addr, size_t length,
					  unsigned int access)
{
	struct ibv_mr *mr;

	mr = ibv_reg_dmabuf_mr(pd, rec->dmabuf_offset, length, rec->iova,
			       rec->dmabuf_fd, (int)access);
	if (!mr) {
		reg_failed(errno, "ibv_reg_dmabuf_mr", rec, length);
		return NULL;
	}
	/* ibv_reg_dmabuf_mr() leaves the dma-buf offset in mr->addr; callers
	 * of ibv_reg_mr()/ibv_reg_mr_iova2() expect the address they gave */
	mr->addr = addr;
	return mr;
}

/* [addr, addr + length) lies in a P2P buffer as the registry knows it: the
 * kernel resolves the mapping to its dma-buf, or says why not */
static P2PV_HOT struct ibv_mr *reg_p2p_addr(struct ibv_pd *pd,
				   const struct p2pv_ptr_info *pi,
				   const struct p2pv_vma_id *mapping,
				   void *addr, size_t length, uint64_t iova,
				   unsigned int access)
{
	struct mr_rec rec;
	struct ibv_mr *mr;

	new_rec(&rec, pi, mapping, addr, length, iova, P2PV_MR_REG_MAPPING);
	mr = ibv_reg_mr_iova2(pd, addr, length, iova, access);
	if (!mr) {
		reg_failed(errno, "ibv_reg_mr", &rec, length);
		return NULL;
	}
	remember_mr(mr, &rec);
	return mr;
}

static P2PV_HOT int check_reg_args(const struct ibv_pd *pd, const void *addr,
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
static P2PV_HOT int registry_p2p(void *addr, size_t length, struct p2pv_ptr_info *pi,
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

/*
 * The routing of the p2pv_reg_mr*() calls: true when the call is settled
 * here (bad arguments, a range crossing a buffer's end, or P2P memory,
 * registered through the kernel's path), with its result in *mr; false for
 * host memory, which the caller registers through its own verbs entry.
 */
static inline P2PV_HOT bool reg_settled(struct ibv_pd *pd, void *addr,
					size_t length, uint64_t iova,
					unsigned int access, struct ibv_mr **mr)
{
	struct p2pv_ptr_info pi;
	struct p2pv_vma_id id;
	int p2p;

	*mr = NULL;
	if (check_reg_args(pd, addr, length) < 0)
		return true;
	if (!p2pv_any_p2p())
		return false;
	p2p = registry_p2p(addr, length, &pi, &id);
	if (p2p > 0)
		*mr = reg_p2p_addr(pd, &pi, &id, addr, length, iova, access);
	return p2p != 0;
}

P2PV_EXPORT P2PV_HOT struct ibv_mr *p2pv_reg_mr_iova2(struct ibv_pd *pd, void *addr,
					     size_t length, uint64_t iova,
					     unsigned int access)
{
	struct ibv_mr *mr;

	if (reg_settled(pd, addr, length, iova, access, &mr))
		return mr;
	return ibv_reg_mr_iova2(pd, addr, length, iova, access);
}

P2PV_EXPORT P2PV_HOT struct ibv_mr *p2pv_reg_mr_iova(struct ibv_pd *pd, void *addr,
					    size_t length, uint64_t iova,
					    int access)
{
	struct ibv_mr *mr;

	if (reg_settled(pd, addr, length, iova, (unsigned int)access, &mr))
		return mr;
	return ibv_reg_mr_iova(pd, addr, length, iova, access);
}

P2PV_EXPORT P2PV_HOT struct ibv_mr *p2pv_reg_mr(struct ibv_pd *pd, void *addr,
				       size_t length, int access)
{
	struct ibv_mr *mr;

	if (reg_settled(pd, addr, length, (uintptr_t)addr,
			(unsigned int)access, &mr))
		return mr;
	return (ibv_reg_mr)(pd, addr, length, access);
}

P2PV_EXPORT P2PV_HOT struct ibv_mr *p2pv_reg_buf(struct ibv_pd *pd, struct p2pv_buf *buf,
					size_t offset, size_t length, int access)
{
	struct p2pv_ptr_info pi;
	struct p2pv_vma_id id;
	struct mr_rec rec;
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
	pi.dmabuf_fd = buf->dmabuf_fd;
	pi.dmabuf_offset = buf->dmabuf_offset + offset;
	memcpy(pi.provider, buf->provider, sizeof(pi.provider));
	new_rec(&rec, &pi, &id, addr, length, (uintptr_t)addr,
		P2PV_MR_REG_DMABUF);
	mr = reg_dmabuf(pd, &rec, addr, length, (unsigned int)access);
	if (mr)
		remember_mr(mr, &rec);
	return mr;
}

/* drop the record of mr, if there is one */
static P2PV_HOT void forget_mr(const struct ibv_mr *mr)
{
	struct p2pv_mr_info *answer = NULL;
	struct mr_rec *s;

	if (!mr || !__atomic_load_n(&mrt.n, __ATOMIC_RELAXED))
		return;
	p2pv_lock(&mrt.lock);
	if (mrt.n) {
		s = mrt_find((uintptr_t)mr);
		if (s->key) {
			answer = s->answer;
			mrt_delete(s);
		}
	}
	p2pv_unlock(&mrt.lock);
	if (answer)
		free(answer);
}

/* ibv_dereg_mr() returns a positive errno; this library's model is -1 */
P2PV_EXPORT P2PV_HOT int p2pv_dereg_mr(struct ibv_mr *mr)
{
	int ret;

	if (!mr)
		return p2pv_err(EINVAL, "p2pv_dereg_mr: NULL mr");
	forget_mr(mr);
	ret = ibv_dereg_mr(mr);
	if (ret)
		return p2pv_err(ret, "ibv_dereg_mr: %s", strerror(ret));
	return 0;
}

P2PV_EXPORT int p2pv_mr_query(const struct ibv_mr *mr, struct p2pv_mr_info *info)
{
	struct p2pv_mr_info answer, *keep;
	struct mr_rec rec;

	if (!mr || !info)
		return p2pv_err(EINVAL, "p2pv_mr_query: NULL argument");
	rec.answer = NULL;
	if (lookup_mr(mr, &rec, &answer) < 0)
		return p2pv_err(ENOENT, "MR %p was not registered on P2P memory by libp2pverbs",
				(const void *)mr);
	if (!rec.answer) {
		resolve(mr, &rec, &answer);
		keep = malloc(sizeof(*keep));
		if (keep) {
			*keep = answer;
			free(store_answer(mr, rec.serial, keep));
		}
	}
	*info = answer;
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
