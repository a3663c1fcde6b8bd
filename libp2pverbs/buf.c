/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* P2P buffers: allocation through the memory backends, import of dma-bufs,
 * and the registry of P2P address ranges. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p2pv_priv.h"
#include "p2p_memory.h"

struct buf_priv {
	struct p2pv_buf pub;		/* first: the user sees &pub */
	const struct p2pv_mem_ops *ops;
	struct p2pv_mem_chunk chunk;
	int registered;
};

static struct p2pv_rmap p2p_ranges = P2PV_RMAP_INIT;

/* A forked child inherits every buffer: the shared mapping and the dma-buf
 * fd are copied by fork() itself, so the child keeps the whole registry. */
__attribute__((constructor)) static void ranges_fork_safe(void)
{
	p2pv_rmap_fork_safe(&p2p_ranges, NULL);
}

static void copy_info(void *val, uintptr_t addr, void *arg)
{
	struct buf_priv *b = val;
	struct p2pv_ptr_info *info = arg;
	size_t off = addr - (uintptr_t)b->pub.addr;

	info->buf = &b->pub;
	info->dmabuf_fd = b->pub.dmabuf_fd;
	info->offset = off;
	info->dmabuf_offset = b->pub.dmabuf_offset + off;
	info->remaining = b->pub.length - off;
	memcpy(info->provider, b->pub.provider, sizeof(info->provider));
}

P2PV_EXPORT int p2pv_ptr_query(const void *ptr, struct p2pv_ptr_info *info)
{
	struct p2pv_ptr_info tmp;

	if (p2pv_rmap_lookup(&p2p_ranges, (uintptr_t)ptr, copy_info, &tmp) < 0)
		return p2pv_err(ENOENT, "%p is not in P2P memory", ptr);
	if (info)
		*info = tmp;
	return 0;
}

P2PV_EXPORT int p2pv_is_p2p(const void *ptr)
{
	int saved = errno, r;

	r = p2pv_rmap_lookup(&p2p_ranges, (uintptr_t)ptr, NULL, NULL) == 0;
	errno = saved;
	return r;
}

static struct p2pv_buf *finish(struct buf_priv *b, const char *provider)
{
	b->pub.addr = b->chunk.addr;
	b->pub.length = b->chunk.length;
	b->pub.dmabuf_fd = b->chunk.fd;
	b->pub.dmabuf_offset = b->chunk.fd_offset;
	b->pub.type = b->ops->is_p2p ? P2PV_MEM_P2P : P2PV_MEM_HOST;
	snprintf(b->pub.provider, sizeof(b->pub.provider), "%s",
		 provider ? provider : "");
	if (b->ops->is_p2p) {
		if (p2pv_rmap_insert(&p2p_ranges, (uintptr_t)b->pub.addr,
				     (uintptr_t)b->pub.addr + b->pub.length, b) < 0) {
			int err = errno;

			b->ops->free(&b->chunk);
			free(b);
			errno = err;
			return NULL;
		}
		b->registered = 1;
	}
	return &b->pub;
}

static struct p2pv_buf *alloc_with(const struct p2pv_mem_ops *ops,
				   const char *provider, size_t length)
{
	struct buf_priv *b = calloc(1, sizeof(*b));

	if (!b) {
		p2pv_err(ENOMEM, "out of memory");
		return NULL;
	}
	b->ops = ops;
	if (ops->alloc(provider, length, &b->chunk) < 0) {
		int err = errno;

		free(b);
		errno = err;
		return NULL;
	}
	return finish(b, ops->is_p2p ? provider : NULL);
}

/* Try P2P memory; on failure leave the reason in the thread's error */
static struct p2pv_buf *try_p2p(const char *pci_addr, struct ibv_device *near,
				size_t length)
{
	struct p2pv_provider prov;

	if (pci_addr) {
		if (p2pv_query_provider(pci_addr, &prov) < 0)
			return NULL;
		if (!prov.published) {
			p2pv_err(EACCES, "provider %s is not published", pci_addr);
			return NULL;
		}
		if (prov.available < length) {
			p2pv_err(ENOSPC, "provider %s has %llu bytes available, %zu requested",
				 pci_addr, (unsigned long long)prov.available, length);
			return NULL;
		}
	} else if (p2pv_choose_provider(near ? &near : NULL, near ? 1 : 0,
					length, &prov, NULL) < 0) {
		return NULL;
	}
	return alloc_with(&p2pv_p2pmem_memory_ops, prov.pci_addr, length);
}

P2PV_EXPORT struct p2pv_buf *p2pv_buf_alloc(const char *pci_addr,
					    struct ibv_device *near,
					    size_t length)
{
	enum p2pv_policy pol = p2pv_get_policy();
	struct p2pv_buf *b;

	if (!length) {
		p2pv_err(EINVAL, "p2pv_buf_alloc: zero length");
		return NULL;
	}
	if (length > SIZE_MAX / 2) {
		p2pv_err(EOVERFLOW, "p2pv_buf_alloc: length %zu too large", length);
		return NULL;
	}
	if (pol == P2PV_POLICY_DISABLED)
		return alloc_with(&p2pv_host_memory_ops, NULL, length);
	b = try_p2p(pci_addr, near, length);
	if (b)
		return b;
	if (pol == P2PV_POLICY_REQUIRED) {
		char why[512];

		snprintf(why, sizeof(why), "%s", p2pv_last_error());
		p2pv_err(errno, "P2P memory required (policy \"required\") but unavailable: %s",
			 why);
		return NULL;
	}
	if (pol == P2PV_POLICY_PREFERRED)
		fprintf(stderr, "libp2pverbs: P2P memory unavailable (%s); using host memory\n",
			p2pv_last_error());
	return alloc_with(&p2pv_host_memory_ops, NULL, length);
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
	if (p2pv_map_dmabuf(fd, offset, length, &b->chunk) < 0) {
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
	struct buf_priv *b = (struct buf_priv *)pub;

	if (!pub)
		return p2pv_err(EINVAL, "p2pv_buf_free: NULL buffer");
	if (b->registered &&
	    p2pv_rmap_remove(&p2p_ranges, (uintptr_t)pub->addr, NULL) < 0)
		return -1;	/* not ours (or freed twice) */
	b->ops->free(&b->chunk);
	free(b);
	return 0;
}
