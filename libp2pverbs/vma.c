/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Whether an address range is still mapped from the file the library mapped
 * there.  The registry knows where it mapped a buffer, not what the program
 * did afterwards: after munmap() and a new mmap() at the same address the
 * range is other memory, and registering it as the old dma-buf would be a
 * lie.  PROCMAP_QUERY (Linux 6.11) answers in one ioctl on /proc/self/maps;
 * older kernels get the text of /proc/self/maps parsed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/fs.h>

#include "p2pv_priv.h"

#ifndef PROCMAP_QUERY
/* <linux/fs.h> of Linux 6.11; older installed headers lack it */
struct procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};
#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#endif

/* /proc/self/maps of this process (a forked child opens its own) */
static struct {
	pthread_mutex_t lock;
	pid_t pid;
	int fd;
	int no_ioctl;
} maps = { PTHREAD_MUTEX_INITIALIZER, 0, -1, 0 };

/* held across fork() so that a child never inherits it locked by a thread
 * that does not exist there */
static void maps_lock(void)
{
	pthread_mutex_lock(&maps.lock);
}

static void maps_unlock(void)
{
	pthread_mutex_unlock(&maps.lock);
}

__attribute__((constructor)) static void maps_fork_safe(void)
{
	pthread_atfork(maps_lock, maps_unlock, maps_unlock);
}

struct vma {
	uintptr_t start, end;
	struct p2pv_vma_id id;		/* {0, 0}: anonymous */
};

static int query_ioctl(int fd, uintptr_t addr, struct vma *v)
{
	struct procmap_query q;

	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = addr;
	if (ioctl(fd, PROCMAP_QUERY, &q) < 0)
		return -1;
	v->start = (uintptr_t)q.vma_start;
	v->end = (uintptr_t)q.vma_end;
	v->id.dev = makedev(q.dev_major, q.dev_minor);
	v->id.ino = q.inode;
	return 0;
}

static int query_text(uintptr_t addr, struct vma *v)
{
	unsigned long long start, end, ino;
	unsigned maj, min;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx-%llx %*s %*s %x:%x %llu", &start, &end,
			   &maj, &min, &ino) != 5)
			continue;
		if (addr < start || addr >= end)
			continue;
		fclose(f);
		v->start = (uintptr_t)start;
		v->end = (uintptr_t)end;
		v->id.dev = makedev(maj, min);
		v->id.ino = ino;
		return 0;
	}
	fclose(f);
	errno = ENOENT;
	return -1;
}

/*
 * The mapping containing addr; -1 + errno ENOENT when nothing is mapped.
 * Whether the text is read is decided by the ioctl's own answer, never by
 * an errno the caller left behind: once the kernel said it has no
 * PROCMAP_QUERY (ENOTTY before Linux 6.11), every query reads the text.
 */
static int query(uintptr_t addr, struct vma *v)
{
	int use_text, err = 0, ret = -1;

	maps_lock();
	if (maps.pid != getpid()) {
		if (maps.fd >= 0)
			close(maps.fd);
		maps.fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
		maps.pid = getpid();
		maps.no_ioctl = maps.fd < 0;
	}
	if (!maps.no_ioctl) {
		ret = query_ioctl(maps.fd, addr, v);
		err = ret < 0 ? errno : 0;
		if (ret < 0 && err != ENOENT)
			maps.no_ioctl = 1;
	}
	use_text = maps.no_ioctl;
	maps_unlock();
	if (use_text)
		return query_text(addr, v);
	errno = err;
	return ret;
}

int p2pv_vma_identify(uintptr_t addr, struct p2pv_vma_id *id)
{
	struct vma v;

	if (query(addr, &v) < 0)
		return p2pv_err(errno, "no mapping at %#" PRIxPTR, addr);
	*id = v.id;
	return 0;
}

int p2pv_vma_matches(uintptr_t start, uintptr_t end,
		     const struct p2pv_vma_id *id)
{
	uintptr_t addr = start;
	struct vma v;

	while (addr < end) {
		if (query(addr, &v) < 0 || v.start > addr ||
		    v.id.dev != id->dev || v.id.ino != id->ino)
			return 0;
		addr = v.end;
	}
	return 1;
}
