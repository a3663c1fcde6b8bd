/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* mmap() at an address aligned beyond the page size: reserve a larger range,
 * map inside it with MAP_FIXED, give back the rest. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "p2p_memory.h"
#include "p2pv_priv.h"

void *p2pv_mmap_aligned(size_t length, size_t alignment, int prot, int flags,
			int fd, off_t offset)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), lead, tail;
	uintptr_t base, aligned;
	void *res, *p;

	if (alignment <= page)
		return mmap(NULL, length, prot, flags, fd, offset);
	if (length > SIZE_MAX - alignment) {
		errno = EOVERFLOW;
		return MAP_FAILED;
	}
	res = mmap(NULL, length + alignment, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	base = (uintptr_t)res;
	aligned = (base + alignment - 1) & ~(uintptr_t)(alignment - 1);
	p = mmap((void *)aligned, length, prot, flags | MAP_FIXED, fd, offset);
	if (p == MAP_FAILED) {
		int err = errno;

		munmap(res, length + alignment);
		errno = err;
		return MAP_FAILED;
	}
	lead = aligned - base;
	tail = alignment - lead;
	if (lead)
		munmap(res, lead);
	if (tail)
		munmap((char *)p + length, tail);
	return p;
}
