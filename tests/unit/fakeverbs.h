/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
#ifndef FAKEVERBS_H
#define FAKEVERBS_H

#include <stddef.h>
#include <stdint.h>

struct fakeverbs_log {
	char last[32];		/* last registration entry point called */
	void *addr;
	size_t length;
	uint64_t iova;
	int access;
	int fd;
	uint64_t offset;
	int calls, dmabuf_calls, dereg_calls;
	int dmabuf_errno;	/* set: ibv_reg_dmabuf_mr fails with it */
	int dereg_errno;	/* set: ibv_dereg_mr returns it (as verbs do) */
	/* set: the next MR is built in this struct instead of a new one, as
	 * when the allocator hands out a deregistered MR's address again */
	struct ibv_mr *next_mr;
	/* set: ibv_dereg_mr() leaves the memory of these static_mr_count MRs
	 * alone (the test's own storage, handed out through next_mr) */
	struct ibv_mr *static_mr;
	int static_mr_count;
	/* set: ibv_reg_mr_iova2 fails with it (EFAULT: the range is not
	 * (entirely) a P2P mapping) */
	int iova2_errno;
	/* set: a kernel without the by-address path for P2P memory (no
	 * kernel-patches/0018-0022): registering a range of a shared file
	 * mapping by address fails with EFAULT, as pinning the pages of a
	 * dma-buf mapping (VM_PFNMAP) does; other memory registers */
	int no_va_path;
	/* set: ibv_reg_mr and ibv_reg_mr_iova (host memory) fail with it */
	int reg_errno;
	/* set: the kernel has no PROCMAP_QUERY (before Linux 6.11): that
	 * ioctl fails with ENOTTY */
	int no_procmap_query;
	/* set: opening a path that contains it fails with EACCES, as for a
	 * node the process may not open */
	char deny_open[64];
	/* set: P2PMEM_IOC_ALLOC fails with it, as the kernel would */
	int alloc_errno;
	/* set: P2PMEM_IOC_ALLOC is answered as the kernel would, with a
	 * memfd of the size asked standing for the dma-buf; alloc_failures
	 * > 0: that many calls fail with alloc_errno first */
	int fake_alloc;
	int alloc_failures;
	/* set: the NETLINK_KOBJECT_UEVENT socket the library opens is one end
	 * of a datagram socket pair; the test writes uevents to uevent_peer */
	int fake_uevents;
	int uevent_fd, uevent_peer;
	/* NETLINK_KOBJECT_UEVENT sockets opened (real or fake) */
	int uevent_sockets;
	/* opendir() calls and the last directory opened, always counted */
	int opendirs;
	char last_opendir[256];
	/* system calls the code under test made through libc's open, openat,
	 * fopen, read, pread, ioctl, getpid, recv, socket: counted while
	 * count_sys is set; last_sys names the last one */
	int count_sys;
	int sys_calls;
	char last_sys[16];
};

struct fakeverbs_log *fakeverbs_log(void);

/* The shim's log, found at run time: the test binary is not linked with
 * the shim, which is preloaded (exits if it is not) */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
static inline struct fakeverbs_log *flog(void)
{
	struct fakeverbs_log *(*fn)(void);

	*(void **)&fn = dlsym(RTLD_DEFAULT, "fakeverbs_log");
	if (!fn) {
		fprintf(stderr, "not running over the fake verbs shim (LD_PRELOAD unset?)\n");
		exit(1);
	}
	return fn();
}

#endif
