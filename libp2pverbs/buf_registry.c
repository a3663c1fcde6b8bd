/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * The registry of buffers: every live buffer of the library by its pointer,
 * and the P2P ones by address range, with the pointer queries that answer
 * from it.  A pointer p2pv_buf_free() does not find there was never handed
 * out, or was freed already, and is not touched.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "p2pv_priv.h"

struct p2pv_rmap p2pv_p2p_ranges = P2PV_RMAP_INIT;
static struct p2pv_rmap live_bufs = P2PV_RMAP_INIT;
static uint64_t last_serial;

/* A forked child inherits every buffer: the shared mapping and the dma-buf
 * fd are copied by fork() itself, so the child keeps the whole registry. */
__attribute__((constructor)) static void ranges_fork_safe(void)
{
	p2pv_rmap_fork_safe(&p2pv_p2p_ranges);
	p2pv_rmap_fork_safe(&live_bufs);
}


struct ptr_lookup {
	struct p2pv_ptr_info info;
	struct p2pv_buf_ref ref;
};

static P2PV_HOT void copy_info(void *val, uintptr_t addr, void *arg)
{
	struct p2pv_buf_entry *b = val;
	struct ptr_lookup *l = arg;
	struct p2pv_ptr_info *info = &l->info;
	size_t off = addr - (uintptr_t)b->pub.addr;

	l->ref = b->ref;
	info->comp_mask = 0;
	info->buf = &b->pub;
	info->dmabuf_fd = b->pub.dmabuf_fd;
	info->offset = off;
	info->dmabuf_offset = b->pub.dmabuf_offset + off;
	info->remaining = b->pub.length - off;
	memcpy(info->provider, b->pub.provider, sizeof(info->provider));
}

/* The buffer containing [ptr, ptr + length) if that range is still its
 * mapping.  The check is against the kernel's view of the address space,
 * not the registry's: the program may have unmapped the buffer. */
int p2pv_ptr_lookup(const void *ptr, size_t length, struct p2pv_ptr_info *info)
{
	struct ptr_lookup l;
	uintptr_t start = (uintptr_t)ptr, end;

	if (p2pv_rmap_lookup(&p2pv_p2p_ranges, start, copy_info, &l) < 0)
		return p2pv_err(ENOENT, "%p is not in P2P memory", ptr);
	end = start + (length && length < l.info.remaining ? length :
						  l.info.remaining);
	if (!p2pv_vma_matches(start, end, &l.ref.mapping))
		return p2pv_err(ENOENT, "%p is no longer mapped from the P2P buffer %p (unmapped by the program?)",
				ptr, (void *)l.info.buf);
	*info = l.info;
	return 0;
}

P2PV_HOT int p2pv_ptr_find(const void *ptr, struct p2pv_ptr_info *info,
		  struct p2pv_buf_ref *ref)
{
	struct ptr_lookup l;

	if (p2pv_rmap_lookup(&p2pv_p2p_ranges, (uintptr_t)ptr, copy_info, &l) < 0)
		return -1;
	*info = l.info;
	*ref = l.ref;
	return 0;
}

static P2PV_HOT void copy_ref(void *val, uintptr_t addr, void *arg)
{
	(void)addr;
	*(struct p2pv_buf_ref *)arg = ((struct p2pv_buf_entry *)val)->ref;
}

P2PV_HOT int p2pv_buf_find(const struct p2pv_buf *buf, struct p2pv_buf_ref *ref)
{
	return p2pv_rmap_lookup(&live_bufs, (uintptr_t)buf, copy_ref, ref);
}

P2PV_EXPORT int p2pv_ptr_query(const void *ptr, struct p2pv_ptr_info *info,
			       size_t inlen)
{
	struct p2pv_ptr_info tmp;

	if (p2pv_out_check(info, inlen, P2PV_PTR_INFO_LEN_1_0,
			   "p2pv_ptr_query") < 0 ||
	    p2pv_ptr_lookup(ptr, 1, &tmp) < 0)
		return -1;
	p2pv_out_fill(info, inlen, &tmp, sizeof(tmp));
	return 0;
}

P2PV_EXPORT int p2pv_is_p2p(const void *ptr)
{
	struct p2pv_ptr_info tmp;
	int saved = errno, r;

	r = p2pv_rmap_lookup(&p2pv_p2p_ranges, (uintptr_t)ptr, NULL, NULL) == 0 &&
	    p2pv_ptr_lookup(ptr, 1, &tmp) == 0;
	errno = saved;
	return r;
}

/* Identify the buffer's mapping, give it a serial and enter it: 0 or -1 */
int p2pv_buf_register(struct p2pv_buf_entry *e, uintptr_t map_addr)
{
	uintptr_t key = (uintptr_t)&e->pub;

	e->ref.serial = __atomic_add_fetch(&last_serial, 1, __ATOMIC_RELAXED);
	if (p2pv_vma_identify(map_addr, &e->ref.mapping) < 0 ||
	    p2pv_rmap_insert(&live_bufs, key, key + 1, e) < 0)
		return -1;
	if (e->pub.type == P2PV_MEM_P2P &&
	    p2pv_rmap_insert(&p2pv_p2p_ranges, (uintptr_t)e->pub.addr,
			     (uintptr_t)e->pub.addr + e->pub.length, e) < 0) {
		int err = errno;

		p2pv_rmap_remove(&live_bufs, key, NULL);
		errno = err;
		return -1;
	}
	return 0;
}

/* Take the buffer out (once: a second call, or a foreign pointer, finds
 * nothing and touches nothing): the entry, or NULL + EINVAL */
struct p2pv_buf_entry *p2pv_buf_unregister(struct p2pv_buf *pub)
{
	void *val = NULL;
	struct p2pv_buf_entry *e;

	if (p2pv_rmap_remove(&live_bufs, (uintptr_t)pub, &val) < 0) {
		p2pv_err(EINVAL, "p2pv_buf_free: %p is not a live buffer of libp2pverbs (freed twice?)",
			 (void *)pub);
		return NULL;
	}
	e = val;
	if (e->pub.type == P2PV_MEM_P2P) {
		p2pv_rmap_remove(&p2pv_p2p_ranges, (uintptr_t)pub->addr, NULL);
		p2pv_mr_buffer_gone(e->ref.serial);
	}
	return e;
}
