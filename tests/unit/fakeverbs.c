/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * A fake of the few libibverbs entry points that libp2pverbs' registration
 * calls touch.  Preloaded, it stands in front of the real libibverbs and
 * records every call; the system calls made through libc are counted and
 * passed on (RTLD_NEXT).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <linux/p2pmem.h>

#include "fakeverbs.h"

#undef ibv_reg_mr
#undef ibv_reg_mr_iova

static struct fakeverbs_log log_;

__attribute__((visibility("default"))) struct fakeverbs_log *fakeverbs_log(void)
{
	return &log_;
}

/*
 * MR handles as the kernel hands them out (the lowest free one: a handle
 * is reused as soon as its MR is deregistered) and keys that differ from
 * one registration to the next, as a driver's key variant does.
 */
#define MAX_HANDLES 8192
static unsigned char handle_used[MAX_HANDLES];
static uint32_t key_variant;

static uint32_t take_handle(void)
{
	uint32_t h;

	for (h = 0; h < MAX_HANDLES - 1 && handle_used[h]; h++)
		;
	handle_used[h] = 1;
	return h;
}

static struct ibv_mr *new_mr(struct ibv_pd *pd, void *addr, size_t length)
{
	struct ibv_mr *mr = log_.next_mr;

	log_.next_mr = NULL;
	if (mr)
		memset(mr, 0, sizeof(*mr));
	else
		mr = calloc(1, sizeof(*mr));
	if (!mr)
		return NULL;
	mr->pd = pd;
	mr->context = pd ? pd->context : NULL;
	mr->addr = addr;
	mr->length = length;
	mr->handle = take_handle();
	mr->lkey = mr->rkey = mr->handle << 8 | (++key_variant & 0xff);
	return mr;
}

/* Is any page of [addr, addr + length) in a shared mapping of a file?
 * (The unit tests' dma-bufs are memfds mapped shared.) */
static int in_shared_file_mapping(const void *addr, size_t length)
{
	unsigned long long start, end, ino, a = (uintptr_t)addr, e = a + length;
	char perms[8], line[512];
	int hit = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return 0;
	while (!hit && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx-%llx %7s %*s %*s %llu", &start, &end,
			   perms, &ino) == 4 &&
		    start < e && a < end && perms[3] == 's' && ino)
			hit = 1;
	fclose(f);
	return hit;
}

/* what a kernel without the by-address path answers, or 0 */
static int va_path_refuses(const void *addr, size_t length)
{
	return log_.no_va_path && in_shared_file_mapping(addr, length) ?
	       EFAULT : 0;
}

static void record(const char *fn, void *addr, size_t length, uint64_t iova,
		   int access)
{
	strncpy(log_.last, fn, sizeof(log_.last) - 1);
	log_.addr = addr;
	log_.length = length;
	log_.iova = iova;
	log_.access = access;
	log_.calls++;
}

__attribute__((visibility("default")))
struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			  int access)
{
	record("ibv_reg_mr", addr, length, (uintptr_t)addr, access);
	if (log_.reg_errno || va_path_refuses(addr, length)) {
		errno = log_.reg_errno ? log_.reg_errno : EFAULT;
		return NULL;
	}
	return new_mr(pd, addr, length);
}

__attribute__((visibility("default")))
struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length,
			       uint64_t iova, int access)
{
	record("ibv_reg_mr_iova", addr, length, iova, access);
	if (log_.reg_errno || va_path_refuses(addr, length)) {
		errno = log_.reg_errno ? log_.reg_errno : EFAULT;
		return NULL;
	}
	return new_mr(pd, addr, length);
}

__attribute__((visibility("default")))
struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length,
				uint64_t iova, unsigned int access)
{
	record("ibv_reg_mr_iova2", addr, length, iova, (int)access);
	if (log_.iova2_errno || va_path_refuses(addr, length)) {
		errno = log_.iova2_errno ? log_.iova2_errno : EFAULT;
		return NULL;
	}
	return new_mr(pd, addr, length);
}

__attribute__((visibility("default")))
struct ibv_mr *ibv_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset,
				 size_t length, uint64_t iova, int fd,
				 int access)
{
	record("ibv_reg_dmabuf_mr", NULL, length, iova, access);
	log_.fd = fd;
	log_.offset = offset;
	log_.dmabuf_calls++;
	if (log_.dmabuf_errno) {
		errno = log_.dmabuf_errno;
		return NULL;
	}
	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	return new_mr(pd, (void *)(uintptr_t)iova, length);
}

__attribute__((visibility("default")))
int ibv_dereg_mr(struct ibv_mr *mr)
{
	log_.dereg_calls++;
	if (log_.dereg_errno)
		return log_.dereg_errno;
	if (mr->handle < MAX_HANDLES)
		handle_used[mr->handle] = 0;
	if (!log_.static_mr || mr < log_.static_mr ||
	    mr >= log_.static_mr + (log_.static_mr_count ? log_.static_mr_count : 1))
		free(mr);
	return 0;
}

/*
 * System calls through libc, counted while log_.count_sys is set and passed
 * on to the next definition (libc).  Only calls made through these symbols
 * are seen: libp2pverbs makes its own that way.
 */
static void *next(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn)
		abort();
	return fn;
}

static void count(const char *name)
{
	if (!log_.count_sys)
		return;
	log_.sys_calls++;
	strncpy(log_.last_sys, name, sizeof(log_.last_sys) - 1);
}

#define FORWARD(ret, name, params, args)                                  \
	__attribute__((visibility("default"))) ret name params            \
	{                                                                 \
		static ret (*real) params;                                \
                                                                          \
		if (!real)                                                \
			*(void **)&real = next(#name);                    \
		count(#name);                                             \
		return real args;                                         \
	}

FORWARD(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))
FORWARD(ssize_t, pread, (int fd, void *buf, size_t n, off_t off),
	(fd, buf, n, off))
FORWARD(ssize_t, pread64, (int fd, void *buf, size_t n, off_t off),
	(fd, buf, n, off))
FORWARD(pid_t, getpid, (void), ())
FORWARD(ssize_t, recv, (int fd, void *buf, size_t n, int flags),
	(fd, buf, n, flags))
/*
 * The uevent socket: counted; with fake_uevents one end of a socket pair
 * (bound as a netlink socket would be), so the test can send uevents.
 */
__attribute__((visibility("default"))) int socket(int domain, int type, int proto)
{
	static int (*real)(int, int, int);
	int sv[2];

	if (!real)
		*(void **)&real = next("socket");
	count("socket");
	if (domain != AF_NETLINK || proto != NETLINK_KOBJECT_UEVENT)
		return real(domain, type, proto);
	log_.uevent_sockets++;
	if (!log_.fake_uevents)
		return real(domain, type, proto);
	if (socketpair(AF_UNIX, SOCK_DGRAM | (type & (SOCK_CLOEXEC | SOCK_NONBLOCK)),
		       0, sv) < 0)
		return -1;
	log_.uevent_fd = sv[0];
	log_.uevent_peer = sv[1];
	return sv[0];
}

__attribute__((visibility("default")))
int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);

	if (!real)
		*(void **)&real = next("bind");
	if (log_.fake_uevents && fd == log_.uevent_fd)
		return 0;
	return real(fd, sa, len);
}

__attribute__((visibility("default"))) DIR *opendir(const char *path)
{
	static DIR *(*real)(const char *);

	if (!real)
		*(void **)&real = next("opendir");
	count("opendir");
	log_.opendirs++;
	strncpy(log_.last_opendir, path, sizeof(log_.last_opendir) - 1);
	return real(path);
}
FORWARD(FILE *, fopen, (const char *path, const char *mode), (path, mode))
FORWARD(FILE *, fopen64, (const char *path, const char *mode), (path, mode))

#define FORWARD_OPEN(name, params, args)                                  \
	__attribute__((visibility("default"))) int name params            \
	{                                                                 \
		static int (*real) params;                                \
		mode_t mode = 0;                                          \
		va_list ap;                                               \
                                                                          \
		va_start(ap, flags);                                      \
		if (flags & (O_CREAT | O_TMPFILE))                        \
			mode = (mode_t)va_arg(ap, int);                   \
		va_end(ap);                                               \
		if (!real)                                                \
			*(void **)&real = next(#name);                    \
		count(#name);                                             \
		if (log_.deny_open[0] && strstr(path, log_.deny_open)) {  \
			errno = EACCES;                                   \
			return -1;                                        \
		}                                                         \
		return real args;                                         \
	}

FORWARD_OPEN(open, (const char *path, int flags, ...), (path, flags, mode))
FORWARD_OPEN(open64, (const char *path, int flags, ...), (path, flags, mode))
FORWARD_OPEN(openat, (int dirfd, const char *path, int flags, ...),
	     (dirfd, path, flags, mode))
FORWARD_OPEN(openat64, (int dirfd, const char *path, int flags, ...),
	     (dirfd, path, flags, mode))

__attribute__((visibility("default"))) int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, ...);
	void *arg;
	va_list ap;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		*(void **)&real = next("ioctl");
	count("ioctl");
	if (log_.no_procmap_query && _IOC_TYPE(req) == 'f' && _IOC_NR(req) == 17) {
		errno = ENOTTY;		/* PROCMAP_QUERY of Linux 6.11 */
		return -1;
	}
	if (req == P2PMEM_IOC_ALLOC &&
	    (log_.alloc_failures > 0 || (log_.alloc_errno && !log_.fake_alloc))) {
		if (log_.alloc_failures > 0)
			log_.alloc_failures--;
		errno = log_.alloc_errno;
		return -1;
	}
	if (req == P2PMEM_IOC_ALLOC && log_.fake_alloc) {
		struct p2pmem_alloc *a = arg;
		int dmabuf = memfd_create("fake-p2pmem", MFD_CLOEXEC);

		if (dmabuf < 0 || ftruncate(dmabuf, (off_t)a->size) < 0)
			return -1;
		a->fd = dmabuf;
		return 0;
	}
	return real(fd, req, arg);
}
