/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Memory registration.  The registration calls cost what the verbs call they
 * make costs, plus an in-memory lookup: no system call of their own.
 *
 * - p2pv_reg_mr*(): the range goes to ibv_reg_mr_iova2() by address.  A
 *   kernel with the by-address path (kernel-patches/0018-0022) resolves a
 *   range inside a P2P mapping to its dma-buf when it registers it, so the
 *   MR is on whatever memory is mapped there at that moment.  A kernel
 *   without it answers EFAULT; for a range that is still the mapping of a
 *   buffer of the library, the buffer is registered by its fd and offset
 *   (reg_method P2PV_MR_REG_FD_FALLBACK), else EFAULT goes back as it is.
 * - p2pv_reg_buf(): the buffer itself, ibv_reg_dmabuf_mr() on its fd.
 *
 * What the registry believed (provider, dma-buf fd and offset) is kept per
 * MR in the MR table (mr_table.c) for p2pv_mr_query() (mr_query.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pv_priv.h"

static P2PV_HOT void new_rec(struct p2pv_mr_rec *rec, const struct p2pv_ptr_info *pi,
			     const struct p2pv_buf_ref *ref, void *addr,
			     size_t length, uint64_t iova,
			     enum p2pv_mr_reg_method how)
{
	rec->buf_serial = ref->serial;
	rec->iova = iova;
	rec->dmabuf_offset = pi->dmabuf_offset;
	rec->addr = (uintptr_t)addr;
	rec->length = length;
	rec->mapping = ref->mapping;
	rec->answer = NULL;
	rec->dmabuf_fd = pi->dmabuf_fd;
	rec->method = (uint8_t)how;
	memcpy(rec->provider, pi->provider, sizeof(rec->provider));
}

static void reg_failed(int err, const char *call, const struct p2pv_mr_rec *rec,
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
					  const struct p2pv_mr_rec *rec,
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

/*
 * [addr, addr + length) lies in a P2P buffer as the registry knows it: a
 * kernel with the by-address path (kernel-patches/0018-0022) resolves the
 * mapping to its dma-buf.  A kernel without it cannot pin the pages of a
 * dma-buf mapping and answers EFAULT; if the range is still the buffer's
 * mapping (asked of the kernel on this error path only), the library
 * registers the buffer by its dma-buf fd and offset instead.  Any other
 * answer, or EFAULT for a range that is not the buffer's mapping any more,
 * goes back to the caller.
 */
static P2PV_HOT struct ibv_mr *reg_p2p_addr(struct ibv_pd *pd,
				   const struct p2pv_ptr_info *pi,
				   const struct p2pv_buf_ref *ref,
				   void *addr, size_t length, uint64_t iova,
				   unsigned int access)
{
	uintptr_t start = (uintptr_t)addr;
	struct p2pv_mr_rec rec;
	struct ibv_mr *mr;
	int err;

	new_rec(&rec, pi, ref, addr, length, iova, P2PV_MR_REG_MAPPING);
	mr = ibv_reg_mr_iova2(pd, addr, length, iova, access);
	err = mr ? 0 : errno;
	if (err == EFAULT &&
	    p2pv_vma_matches(start, start + length, &ref->mapping)) {
		rec.method = P2PV_MR_REG_FD_FALLBACK;
		mr = reg_dmabuf(pd, &rec, addr, length, access);
		if (!mr)
			return NULL;
	} else if (!mr) {
		reg_failed(err, "ibv_reg_mr", &rec, length);
		return NULL;
	}
	p2pv_mr_remember(mr, &rec);
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
			struct p2pv_buf_ref *ref)
{
	uintptr_t start = (uintptr_t)addr;

	if (p2pv_ptr_find(addr, pi, ref) < 0)
		return 0;
	if (length <= pi->remaining)
		return 1;
	if (!p2pv_vma_matches(start, start + pi->remaining, &ref->mapping))
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
	struct p2pv_buf_ref ref;
	int p2p;

	*mr = NULL;
	if (check_reg_args(pd, addr, length) < 0)
		return true;
	if (!p2pv_any_p2p())
		return false;
	p2p = registry_p2p(addr, length, &pi, &ref);
	if (p2p > 0)
		*mr = reg_p2p_addr(pd, &pi, &ref, addr, length, iova, access);
	return p2p != 0;
}

/* A registration of host memory through the plain verbs call: its failure
 * gets the library's message like every other one */
static struct ibv_mr *host_reg_failed(const char *call, const void *addr,
				      size_t length)
{
	int err = errno ? errno : EIO;

	p2pv_err(err, "%s(host memory %p, length %zu): %s", call, addr,
		 length, strerror(err));
	return NULL;
}

P2PV_EXPORT P2PV_HOT struct ibv_mr *p2pv_reg_mr_iova2(struct ibv_pd *pd, void *addr,
					     size_t length, uint64_t iova,
					     unsigned int access)
{
	struct ibv_mr *mr;

	if (reg_settled(pd, addr, length, iova, access, &mr))
		return mr;
	mr = ibv_reg_mr_iova2(pd, addr, length, iova, access);
	return mr ? mr : host_reg_failed("ibv_reg_mr_iova2", addr, length);
}

P2PV_EXPORT P2PV_HOT struct ibv_mr *p2pv_reg_mr_iova(struct ibv_pd *pd, void *addr,
					    size_t length, uint64_t iova,
					    int access)
{
	struct ibv_mr *mr;

	if (reg_settled(pd, addr, length, iova, (unsigned int)access, &mr))
		return mr;
	mr = ibv_reg_mr_iova(pd, addr, length, iova, access);
	return mr ? mr : host_reg_failed("ibv_reg_mr_iova", addr, length);
}

P2PV_EXPORT P2PV_HOT struct ibv_mr *p2pv_reg_mr(struct ibv_pd *pd, void *addr,
				       size_t length, int access)
{
	struct ibv_mr *mr;

	if (reg_settled(pd, addr, length, (uintptr_t)addr,
			(unsigned int)access, &mr))
		return mr;
	mr = (ibv_reg_mr)(pd, addr, length, access);
	return mr ? mr : host_reg_failed("ibv_reg_mr", addr, length);
}

P2PV_EXPORT P2PV_HOT struct ibv_mr *p2pv_reg_buf(struct ibv_pd *pd, struct p2pv_buf *buf,
					size_t offset, size_t length, int access)
{
	struct p2pv_ptr_info pi;
	struct p2pv_buf_ref ref;
	struct p2pv_mr_rec rec;
	struct ibv_mr *mr;
	char *addr;

	if (!pd || !buf) {
		p2pv_err(EINVAL, "p2pv_reg_buf: NULL %s", pd ? "buffer" : "pd");
		return NULL;
	}
	if (p2pv_buf_find(buf, &ref) < 0) {
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
	if (buf->type != P2PV_MEM_P2P) {
		mr = (ibv_reg_mr)(pd, addr, length, access);
		return mr ? mr : host_reg_failed("ibv_reg_mr", addr, length);
	}
	pi.dmabuf_fd = buf->dmabuf_fd;
	pi.dmabuf_offset = buf->dmabuf_offset + offset;
	memcpy(pi.provider, buf->provider, sizeof(pi.provider));
	new_rec(&rec, &pi, &ref, addr, length, (uintptr_t)addr,
		P2PV_MR_REG_DMABUF);
	mr = reg_dmabuf(pd, &rec, addr, length, (unsigned int)access);
	if (mr)
		p2pv_mr_remember(mr, &rec);
	return mr;
}

/* ibv_dereg_mr() returns a positive errno; this library's model is -1 */
P2PV_EXPORT P2PV_HOT int p2pv_dereg_mr(struct ibv_mr *mr)
{
	int ret;

	if (!mr)
		return p2pv_err(EINVAL, "p2pv_dereg_mr: NULL mr");
	p2pv_mr_forget(mr);
	ret = ibv_dereg_mr(mr);
	if (ret)
		return p2pv_err(ret, "ibv_dereg_mr: %s", strerror(ret));
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
		return p2pv_err(EIO, "dma-buf MR probe: unexpected error: %s",
				strerror(errno ? errno : EIO));
	}
}
