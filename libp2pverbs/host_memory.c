/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Host memory backend: page-aligned anonymous memory. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "p2p_memory.h"
#include "p2pv_priv.h"

static int host_alloc(const char *provider, size_t length, size_t alignment,
		      struct p2pv_mem_chunk *out)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t map_len;
	void *p;

	(void)provider;
	if (!length)
		return p2pv_err(EINVAL, "host memory: zero length");
	if (length > SIZE_MAX - page)
		return p2pv_err(EOVERFLOW, "host memory: length %zu too large",
				length);
	map_len = (length + page - 1) & ~(page - 1);
	p = p2pv_mmap_aligned(map_len, alignment, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return p2pv_err(errno, "host memory: mmap of %zu bytes: %s",
				map_len, strerror(errno));
	memset(out, 0, sizeof(*out));
	out->map_addr = out->addr = p;
	out->map_length = map_len;
	out->length = length;
	out->fd = -1;
	return 0;
}

static void host_free(struct p2pv_mem_chunk *c)
{
	if (c->map_addr)
		munmap(c->map_addr, c->map_length);
	c->map_addr = c->addr = NULL;
}

const struct p2pv_mem_ops p2pv_host_memory_ops = {
	.name = "host",
	.is_p2p = 0,
	.alloc = host_alloc,
	.free = host_free,
};
