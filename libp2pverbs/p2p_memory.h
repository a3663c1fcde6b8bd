/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Memory backends of libp2pverbs: one ops table, one file per backend
 * (host_memory.c, p2pmem_memory.c).
 */
#ifndef P2P_MEMORY_H
#define P2P_MEMORY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct p2pv_mem_chunk {
	void *map_addr;		/* what munmap() gets */
	size_t map_length;
	void *addr;		/* first byte of the buffer */
	size_t length;
	int fd;			/* dma-buf fd, -1 for host memory */
	uint64_t fd_offset;	/* offset of addr in the dma-buf */
};

struct p2pv_mem_ops {
	const char *name;
	int is_p2p;
	/* 0 on success; -1 with errno and p2pv error message set otherwise.
	 * provider is a PCI address (ignored by host); alignment of the CPU
	 * address, a power of two (page size or less: the page size). */
	int (*alloc)(const char *provider, size_t length, size_t alignment,
		     struct p2pv_mem_chunk *out);
	void (*free)(struct p2pv_mem_chunk *chunk);
};

extern const struct p2pv_mem_ops p2pv_host_memory_ops;
extern const struct p2pv_mem_ops p2pv_p2pmem_memory_ops;

/* mmap a dma-buf (offset need not be page aligned); used by p2pmem and
 * by p2pv_buf_import().  Takes ownership of fd on success. */
int p2pv_map_dmabuf(int fd, uint64_t offset, size_t length, size_t alignment,
		    struct p2pv_mem_chunk *out);

/* mmap() whose address is a multiple of alignment (mmap_aligned.c) */
void *p2pv_mmap_aligned(size_t length, size_t alignment, int prot, int flags,
			int fd, off_t offset);

#endif
