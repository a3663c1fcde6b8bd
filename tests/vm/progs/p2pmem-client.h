/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The two /dev/p2pmem UAPI calls every raw client of the exporter makes:
 * an allocation that reports errors as -errno, and the client address of a
 * MAP_QUERY from a PCI name.  Shared by the in-guest tests (p2pmem-test)
 * and the registration benchmark (bench/regbench.c).
 */
#ifndef P2PMEM_CLIENT_H
#define P2PMEM_CLIENT_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include <linux/p2pmem.h>

/* P2PMEM_IOC_ALLOC on NODE; returns the dma-buf fd, or -errno */
static inline int p2pmem_try_alloc(int node, uint64_t size, uint32_t fd_flags,
				   uint32_t flags)
{
	struct p2pmem_alloc a = {
		.size = size,
		.fd_flags = fd_flags,
		.flags = flags,
		.fd = -1,
	};

	if (ioctl(node, P2PMEM_IOC_ALLOC, &a))
		return -errno;
	return a.fd;
}

/* /dev/p2pmem/PROVIDER opened with FLAGS (close-on-exec); the fd, or -errno */
static inline int p2pmem_open_node(const char *provider, int flags)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/dev/p2pmem/%s", provider);
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* PROVIDER's p2pmem/available (bytes free for userspace) into *BYTES;
 * 0, or -errno */
static inline int p2pmem_read_available(const char *provider, uint64_t *bytes)
{
	char path[256];
	unsigned long long v;
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/p2pmem/available",
		 provider);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fscanf(f, "%llu", &v) == 1)
		*bytes = v;
	else
		ret = -EIO;
	fclose(f);
	return ret;
}

/* Q's client from a PCI name "dddd:bb:dd.f"; 0, or -1 when BDF is none */
static inline int p2pmem_set_client(const char *bdf, struct p2pmem_map_query *q)
{
	unsigned int dom, bus, dev, fn;

	if (sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
		return -1;
	q->client_domain = dom;
	q->client_bus = bus;
	q->client_devfn = (dev << 3) | fn;
	return 0;
}

#endif /* P2PMEM_CLIENT_H */
