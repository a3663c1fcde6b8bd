/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* p2pmem backend: dma-bufs of the provider's node (p2pmem_node.c), mapped. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "p2p_memory.h"
#include "p2pv_priv.h"

int p2pv_map_dmabuf(int fd, uint64_t offset, size_t length, size_t alignment,
		    struct p2pv_mem_chunk *out)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t start = offset & ~(page - 1);
	uint64_t lead = offset - start;
	size_t map_len;
	void *p;

	if (fd < 0)
		return p2pv_err(EBADF, "dma-buf: invalid fd %d", fd);
	if (!length)
		return p2pv_err(EINVAL, "dma-buf: zero length");
	if (length > SIZE_MAX - lead - page || offset > UINT64_MAX - length ||
	    start > (uint64_t)LLONG_MAX)
		return p2pv_err(EOVERFLOW, "dma-buf: offset %llu + length %zu overflows",
				(unsigned long long)offset, length);
	map_len = (size_t)((lead + length + page - 1) & ~(page - 1));
	p = p2pv_mmap_aligned(map_len, alignment, PROT_READ | PROT_WRITE,
			      MAP_SHARED, fd, (off_t)start);
	if (p == MAP_FAILED)
		return p2pv_err(errno, "dma-buf: mmap of fd %d (%zu bytes at %llu): %s",
				fd, map_len, (unsigned long long)start,
				strerror(errno));
	memset(out, 0, sizeof(*out));
	out->map_addr = p;
	out->map_length = map_len;
	out->addr = (char *)p + lead;
	out->length = length;
	out->fd = fd;
	out->fd_offset = offset;
	return 0;
}

static int p2pmem_alloc(const char *provider, size_t length, size_t alignment,
			struct p2pv_mem_chunk *out)
{
	int fd, err;

	if (!provider || !*provider)
		return p2pv_err(EINVAL, "p2pmem: no provider given");
	if (!length)
		return p2pv_err(EINVAL, "p2pmem: zero length");
	fd = p2pv_node_alloc(provider, length);
	if (fd < 0)
		return -1;
	if (p2pv_map_dmabuf(fd, 0, length, alignment, out) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return 0;
}

static void p2pmem_free(struct p2pv_mem_chunk *c)
{
	if (c->map_addr)
		munmap(c->map_addr, c->map_length);
	if (c->fd >= 0)
		close(c->fd);
	c->map_addr = c->addr = NULL;
	c->fd = -1;
}

const struct p2pv_mem_ops p2pv_p2pmem_memory_ops = {
	.name = "p2pmem",
	.is_p2p = 1,
	.alloc = p2pmem_alloc,
	.free = p2pmem_free,
};
