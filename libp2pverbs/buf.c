/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* P2P buffers: allocation through the memory backends, import of dma-bufs,
 * and the registry of P2P address ranges. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "p2pv_priv.h"
#include "p2p_memory.h"

struct buf_priv {
	struct p2pv_buf pub;		/* first: the user sees &pub */
	const struct p2pv_mem_ops *ops;
	struct p2pv_mem_chunk chunk;
	struct p2pv_buf_ref ref;	/* the file mapped at chunk.map_addr,
					 * the buffer's serial */
	int registered;
	int allocated;			/* from pub.provider by this process */
};

/* P2P buffers by address range, and every live buffer by its pointer: a
 * pointer p2pv_buf_free() does not find there was never handed out, or was
 * freed already, and is not touched. */
struct p2pv_rmap p2pv_p2p_ranges = P2PV_RMAP_INIT;
static struct p2pv_rmap live_bufs = P2PV_RMAP_INIT;
static uint64_t last_serial;

/* A forked child inherits every buffer: the shared mapping and the dma-buf
 * fd are copied by fork() itself, so the child keeps the whole registry. */
__attribute__((constructor)) static void ranges_fork_safe(void)
{
	p2pv_rmap_fork_safe(&p2pv_p2p_ranges, NULL);
	p2pv_rmap_fork_safe(&live_bufs, NULL);
}

/* The range is still the mapping this buffer made */
static int still_mapped(const struct buf_priv *b, uintptr_t start,
			uintptr_t end)
{
	return p2pv_vma_matches(start, end, &b->ref.mapping);
}

struct ptr_lookup {
	struct p2pv_ptr_info info;
	struct p2pv_buf_ref ref;
};

static P2PV_HOT void copy_info(void *val, uintptr_t addr, void *arg)
{
	struct buf_priv *b = val;
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
	*(struct p2pv_buf_ref *)arg = ((struct buf_priv *)val)->ref;
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

static struct buf_priv *container_of_pub(struct p2pv_buf *pub)
{
	return (struct buf_priv *)((char *)pub - offsetof(struct buf_priv, pub));
}

static void release(struct buf_priv *b)
{
	/* a range the program unmapped (and maybe reused) is not ours to unmap */
	if (b->chunk.map_addr &&
	    !still_mapped(b, (uintptr_t)b->chunk.map_addr,
			  (uintptr_t)b->chunk.map_addr + b->chunk.map_length))
		b->chunk.map_addr = NULL;
	b->ops->free(&b->chunk);
	free(b);
}

static struct p2pv_buf *finish(struct buf_priv *b, const char *provider)
{
	uintptr_t key = (uintptr_t)b;
	int err;

	b->pub.addr = b->chunk.addr;
	b->pub.length = b->chunk.length;
	b->pub.dmabuf_fd = b->chunk.fd;
	b->pub.dmabuf_offset = b->chunk.fd_offset;
	b->pub.type = b->ops->is_p2p ? P2PV_MEM_P2P : P2PV_MEM_HOST;
	snprintf(b->pub.provider, sizeof(b->pub.provider), "%s",
		 provider ? provider : "");
	b->ref.serial = __atomic_add_fetch(&last_serial, 1, __ATOMIC_RELAXED);
	if (p2pv_vma_identify((uintptr_t)b->chunk.map_addr, &b->ref.mapping) < 0 ||
	    p2pv_rmap_insert(&live_bufs, key, key + 1, b) < 0)
		goto fail;
	if (b->ops->is_p2p) {
		if (p2pv_rmap_insert(&p2pv_p2p_ranges, (uintptr_t)b->pub.addr,
				     (uintptr_t)b->pub.addr + b->pub.length, b) < 0) {
			p2pv_rmap_remove(&live_bufs, key, NULL);
			goto fail;
		}
		b->registered = 1;
	}
	return &b->pub;
fail:
	err = errno;
	b->ops->free(&b->chunk);
	free(b);
	errno = err;
	return NULL;
}

static struct p2pv_buf *alloc_with(const struct p2pv_mem_ops *ops,
				   const char *provider, size_t length,
				   size_t alignment)
{
	struct buf_priv *b = calloc(1, sizeof(*b));

	if (!b) {
		p2pv_err(ENOMEM, "out of memory");
		return NULL;
	}
	b->ops = ops;
	if (ops->alloc(provider, length, alignment, &b->chunk) < 0) {
		int err = errno;

		free(b);
		errno = err;
		return NULL;
	}
	return finish(b, ops->is_p2p ? provider : NULL);
}

/* The provider named by the program: that one or an error */
static int check_named(const char *pci_addr, size_t length)
{
	struct p2pv_provider prov;

	if (p2pv_provider_read(pci_addr, &prov) < 0)
		return -1;
	if (!prov.published)
		return p2pv_err(EACCES, "provider %s is not published", pci_addr);
	if (prov.available < length)
		return p2pv_err(ENOSPC, "provider %s has %llu bytes available, %zu requested",
				pci_addr, (unsigned long long)prov.available,
				length);
	return 0;
}

/* One allocation from provider bdf; the cache of its available memory
 * learns the outcome */
static struct p2pv_buf *alloc_from(const char *bdf, size_t length,
				   size_t alignment)
{
	struct p2pv_buf *b;
	int err;

	b = alloc_with(&p2pv_p2pmem_memory_ops, bdf, length, alignment);
	err = b ? 0 : errno;
	if (b)
		container_of_pub(b)->allocated = 1;
	if (err == ENODEV)
		p2pv_graph_invalidate();	/* the provider went away */
	p2pv_freemem_note_alloc(bdf, err);
	errno = err ? err : errno;
	return b;
}

/* The library chooses: the nearest provider that can serve; when the
 * allocation fails there for lack of memory (the cache of available memory
 * was behind), or because the provider went away, the next one */
#define MAX_TRIES 16
static struct p2pv_buf *alloc_chosen(const struct p2pv_buf_alloc_attr *a,
				     size_t alignment)
{
	char tried[MAX_TRIES][P2PV_PCI_ADDR_LEN];
	const char *name = a->near ? a->near->name : NULL;
	struct p2pv_provider prov;
	struct p2pv_buf *b;
	int n;

	for (n = 0; n < MAX_TRIES; n++) {
		if (p2pv_choose_skip(name ? &name : NULL, name ? 1 : 0,
				     a->length, (const char (*)[P2PV_PCI_ADDR_LEN])tried,
				     n, &prov) < 0)
			return NULL;
		b = alloc_from(prov.pci_addr, a->length, alignment);
		if (b)
			return b;
		if (errno != ENOMEM && errno != EDQUOT && errno != ENOSPC &&
		    errno != ENODEV)
			return NULL;
		snprintf(tried[n], sizeof(tried[n]), "%s", prov.pci_addr);
	}
	return NULL;
}

static struct p2pv_buf *alloc_p2p(const struct p2pv_buf_alloc_attr *a,
				  size_t alignment)
{
	if (!a->provider)
		return alloc_chosen(a, alignment);
	if (check_named(a->provider, a->length) < 0)
		return NULL;
	return alloc_from(a->provider, a->length, alignment);
}

static int check_attr(const struct p2pv_buf_alloc_attr *a, size_t inlen,
		      size_t *alignment)
{
	const uint64_t known = P2PV_BUF_ALLOC_ATTR_MASK_ALIGNMENT |
			       P2PV_BUF_ALLOC_ATTR_MASK_FLAGS;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (p2pv_in_check(a, inlen, P2PV_BUF_ALLOC_ATTR_LEN_1_0, sizeof(*a),
			  "p2pv_buf_alloc_attr") < 0)
		return -1;
	if (a->comp_mask & ~known)
		return p2pv_err(EOPNOTSUPP, "p2pv_buf_alloc_attr: unknown comp_mask bits %#llx",
				(unsigned long long)(a->comp_mask & ~known));
	if ((a->comp_mask & P2PV_BUF_ALLOC_ATTR_MASK_FLAGS) &&
	    (a->flags & ~(uint64_t)P2PV_BUF_ALLOC_P2P_ONLY))
		return p2pv_err(EOPNOTSUPP, "p2pv_buf_alloc_attr: unknown flags %#llx",
				(unsigned long long)a->flags);
	if (!a->length)
		return p2pv_err(EINVAL, "p2pv_buf_alloc: zero length");
	if (a->length > SIZE_MAX / 2)
		return p2pv_err(EOVERFLOW, "p2pv_buf_alloc: length %zu too large",
				a->length);
	*alignment = page;
	if (a->comp_mask & P2PV_BUF_ALLOC_ATTR_MASK_ALIGNMENT) {
		if (!a->alignment || (a->alignment & (a->alignment - 1)) ||
		    a->alignment > ((size_t)1 << 30))
			return p2pv_err(EINVAL, "p2pv_buf_alloc: alignment %zu is not a power of two up to 1 GiB",
					a->alignment);
		if (a->alignment > page)
			*alignment = a->alignment;
	}
	return 0;
}

P2PV_EXPORT struct p2pv_buf *
p2pv_buf_alloc_attr(const struct p2pv_buf_alloc_attr *attr, size_t inlen)
{
	struct p2pv_buf_alloc_attr a = { 0 };
	enum p2pv_policy pol = p2pv_get_policy();
	struct p2pv_buf *b;
	size_t alignment = 0;
	char why[400];
	int p2p_only;

	if (check_attr(attr, inlen, &alignment) < 0)
		return NULL;
	memcpy(&a, attr, inlen < sizeof(a) ? inlen : sizeof(a));
	p2p_only = (a.comp_mask & P2PV_BUF_ALLOC_ATTR_MASK_FLAGS) &&
		   (a.flags & P2PV_BUF_ALLOC_P2P_ONLY);
	if (a.provider && pol == P2PV_POLICY_DISABLED) {
		p2pv_err(EPERM, "provider %s named but P2P memory is disabled (policy \"disabled\")",
			 a.provider);
		return NULL;
	}
	if (pol == P2PV_POLICY_DISABLED && !p2p_only)
		return alloc_with(&p2pv_host_memory_ops, NULL, a.length, alignment);
	if (pol == P2PV_POLICY_DISABLED) {
		p2pv_err(EPERM, "P2P memory asked for but disabled (policy \"disabled\")");
		return NULL;
	}
	b = alloc_p2p(&a, alignment);
	if (b || a.provider)
		return b;	/* a named provider serves or fails */
	if (pol == P2PV_POLICY_REQUIRED || p2p_only) {
		snprintf(why, sizeof(why), "%s", p2pv_last_error());
		p2pv_err(errno, "P2P memory required (%s) but unavailable: %s",
			 p2p_only ? "P2PV_BUF_ALLOC_P2P_ONLY" :
				    "policy \"required\"", why);
		return NULL;
	}
	snprintf(why, sizeof(why), "%s", p2pv_last_error());
	p2pv_debug("P2P memory unavailable (%s); using host memory", why);
	b = alloc_with(&p2pv_host_memory_ops, NULL, a.length, alignment);
	if (b && pol == P2PV_POLICY_PREFERRED)
		p2pv_set_message("host memory instead of P2P memory: %s", why);
	else if (b)
		p2pv_set_message("%s", "");
	return b;
}

P2PV_EXPORT struct p2pv_buf *p2pv_buf_alloc(const char *pci_addr,
					    struct ibv_device *near,
					    size_t length)
{
	struct p2pv_buf_alloc_attr a = {
		.provider = pci_addr,
		.near = near,
		.length = length,
	};

	return p2pv_buf_alloc_attr(&a, sizeof(a));
}

P2PV_EXPORT struct p2pv_buf *p2pv_buf_import(int dmabuf_fd, uint64_t offset,
					     size_t length, const char *provider)
{
	struct buf_priv *b;
	int fd;

	if (dmabuf_fd < 0) {
		p2pv_err(EBADF, "p2pv_buf_import: invalid fd %d", dmabuf_fd);
		return NULL;
	}
	if (!length) {
		p2pv_err(EINVAL, "p2pv_buf_import: zero length");
		return NULL;
	}
	if (provider && *provider &&
	    p2pv_parse_bdf(provider, NULL, NULL, NULL, NULL) < 0)
		return NULL;
	fd = fcntl(dmabuf_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		p2pv_err(errno, "p2pv_buf_import: fd %d: %s", dmabuf_fd,
			 strerror(errno));
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		close(fd);
		p2pv_err(ENOMEM, "out of memory");
		return NULL;
	}
	b->ops = &p2pv_p2pmem_memory_ops;
	if (p2pv_map_dmabuf(fd, offset, length, 0, &b->chunk) < 0) {
		int err = errno;

		close(fd);
		free(b);
		errno = err;
		return NULL;
	}
	return finish(b, provider);
}

P2PV_EXPORT int p2pv_buf_free(struct p2pv_buf *pub)
{
	uintptr_t key = (uintptr_t)pub;
	void *val = NULL;
	struct buf_priv *b;

	if (!pub)
		return p2pv_err(EINVAL, "p2pv_buf_free: NULL buffer");
	/* removal succeeds once per buffer: a second free or a foreign
	 * pointer stops here, before anything is dereferenced */
	if (p2pv_rmap_remove(&live_bufs, key, &val) < 0)
		return p2pv_err(EINVAL, "p2pv_buf_free: %p is not a live buffer of libp2pverbs (freed twice?)",
				(void *)pub);
	b = val;
	if (b->registered)
		p2pv_rmap_remove(&p2pv_p2p_ranges, (uintptr_t)pub->addr, NULL);
	if (b->allocated)
		p2pv_freemem_note_free(b->pub.provider, b->pub.length);
	if (b->registered)
		p2pv_mr_buffer_gone(b->ref.serial);
	release(b);
	return 0;
}
