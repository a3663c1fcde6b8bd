/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* P2P buffers: allocation through the memory backends (as the policy says
 * when no provider is named), import of dma-bufs, and freeing; the
 * registry (buf_registry.c) knows them. */
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
	struct p2pv_buf_entry e;	/* first: the user sees &e.pub */
	const struct p2pv_mem_ops *ops;
	struct p2pv_mem_chunk chunk;
	int allocated;			/* from the provider by this process */
};

static struct buf_priv *container_of_pub(struct p2pv_buf *pub)
{
	return (struct buf_priv *)((char *)pub - offsetof(struct buf_priv, e.pub));
}

static void release(struct buf_priv *b)
{
	/* a range the program unmapped (and maybe reused) is not ours to unmap */
	if (b->chunk.map_addr &&
	    !p2pv_vma_matches((uintptr_t)b->chunk.map_addr,
			      (uintptr_t)b->chunk.map_addr + b->chunk.map_length,
			      &b->e.ref.mapping))
		b->chunk.map_addr = NULL;
	b->ops->free(&b->chunk);
	free(b);
}

static struct p2pv_buf *finish(struct buf_priv *b, const char *provider)
{
	struct p2pv_buf *pub = &b->e.pub;
	int err;

	pub->addr = b->chunk.addr;
	pub->length = b->chunk.length;
	pub->dmabuf_fd = b->chunk.fd;
	pub->dmabuf_offset = b->chunk.fd_offset;
	pub->type = b->ops->is_p2p ? P2PV_MEM_P2P : P2PV_MEM_HOST;
	snprintf(pub->provider, sizeof(pub->provider), "%s",
		 provider ? provider : "");
	if (p2pv_buf_register(&b->e, (uintptr_t)b->chunk.map_addr) == 0)
		return pub;
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
		if (errno != ENOMEM && errno != EDQUOT && errno != ENODEV)
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
	/* a named provider: the kernel's P2PMEM_IOC_ALLOC decides (no node:
	 * no such provider or not published; too little memory; quota) */
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
	struct p2pv_buf_entry *e;
	struct buf_priv *b;

	if (!pub)
		return p2pv_err(EINVAL, "p2pv_buf_free: NULL buffer");
	e = p2pv_buf_unregister(pub);
	if (!e)
		return -1;
	b = container_of_pub(&e->pub);
	if (b->allocated)
		p2pv_freemem_note_free(pub->provider, pub->length);
	release(b);
	return 0;
}
