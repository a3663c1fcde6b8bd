/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * The provider's node, /dev/p2pmem/<bdf>, and all of its ioctls:
 * P2PMEM_IOC_ALLOC (a buffer as a dma-buf), P2PMEM_IOC_MAP_QUERY (what an
 * attach by a PCI device would get) and P2PMEM_IOC_ATTACH_QUERY (what the
 * attachments of a buffer did get).  The node exists while the provider
 * publishes memory; whoever may open it may allocate, and may ask.  What
 * the kernel answers here decides: the library does not predict it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/p2pmem.h>

#include "p2pv_priv.h"

/* "<dirname(sysfs root)>/dev/p2pmem/<bdf>" */
static int node_path(char *out, size_t n, const char *bdf)
{
	char sub[64];

	if (p2pv_parse_bdf(bdf, NULL, NULL, NULL, NULL) < 0)
		return -1;
	snprintf(sub, sizeof(sub), "dev/p2pmem/%s", bdf);
	return p2pv_sibling_path(out, n, sub);
}

/* open for reading and writing: allocating needs both */
static int open_node(const char *provider, char *path, size_t n)
{
	int fd;

	if (node_path(path, n, provider) < 0)
		return -1;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)	/* no node: not a provider, or not published */
		return p2pv_err(errno == ENOENT ? ENODEV : errno,
				"cannot open %s: %s%s", path, strerror(errno),
				errno == ENOENT ? " (no such provider, or it publishes no memory)" : "");
	return fd;
}

int p2pv_node_open(const char *provider)
{
	char path[PATH_MAX];

	return open_node(provider, path, sizeof(path));
}

int p2pv_node_alloc(const char *provider, size_t length)
{
	struct p2pmem_alloc req;
	char path[PATH_MAX];
	int node, err;

	node = open_node(provider, path, sizeof(path));
	if (node < 0)
		return -1;
	memset(&req, 0, sizeof(req));
	req.size = length;
	req.fd_flags = O_RDWR | O_CLOEXEC;
	if (ioctl(node, P2PMEM_IOC_ALLOC, &req) < 0) {
		err = errno;
		close(node);
		return p2pv_err(err, "P2PMEM_IOC_ALLOC of %zu bytes on %s: %s%s",
				length, path, strerror(err),
				err == EDQUOT ? " (over the administrator's user_limit)" :
				err == ENOMEM ? " (no contiguous range that large left)" : "");
	}
	close(node);
	return req.fd;
}

int p2pv_kernel_map_query(int node_fd, const char *client_bdf,
			  struct p2pv_path *path)
{
	struct p2pmem_map_query q;
	unsigned dom, bus, dev, fn;

	if (p2pv_parse_bdf(client_bdf, &dom, &bus, &dev, &fn) < 0)
		return -1;
	memset(&q, 0, sizeof(q));
	q.client_domain = dom;
	q.client_bus = (uint8_t)bus;
	q.client_devfn = (uint8_t)((dev << 3) | fn);
	if (ioctl(node_fd, P2PMEM_IOC_MAP_QUERY, &q) < 0)
		return p2pv_err(errno, "P2PMEM_IOC_MAP_QUERY for %s: %s",
				client_bdf, strerror(errno));
	if (q.mode > P2PMEM_MAP_CPU)
		return p2pv_err(EPROTO, "P2PMEM_IOC_MAP_QUERY: unknown mode %u",
				q.mode);
	path->source = P2PV_SOURCE_KERNEL;
	path->mode = (enum p2pv_map_mode)q.mode;
	path->reasons = q.reasons;
	path->distance = q.distance;
	path->iommu = !!(q.reasons & P2PMEM_REASON_IOMMU);
	return 0;
}

/*
 * The decision stored in the attachment of dmabuf_fd whose importer the
 * kernel names `importer`.  Every attachment of one importer got the same
 * decision (it depends on the provider and the importer only), so the first
 * match is the answer.  0 found, -1 + errno (ENOENT: no such attachment).
 */
int p2pv_kernel_attach_query(int node_fd, int dmabuf_fd, const char *importer,
			     enum p2pv_map_mode *mode, uint32_t *reasons)
{
	struct p2pmem_attach_query q;
	uint32_t index;

	for (index = 0;; index++) {
		memset(&q, 0, sizeof(q));
		q.dmabuf_fd = dmabuf_fd;
		q.index = index;
		if (ioctl(node_fd, P2PMEM_IOC_ATTACH_QUERY, &q) < 0) {
			if (errno == ENOENT)
				return p2pv_err(ENOENT, "no attachment of dma-buf fd %d by %s",
						dmabuf_fd, importer);
			return p2pv_err(errno, "P2PMEM_IOC_ATTACH_QUERY: %s",
					strerror(errno));
		}
		q.importer[sizeof(q.importer) - 1] = 0;
		if (strcmp(q.importer, importer) || q.mode > P2PMEM_MAP_CPU)
			continue;
		*mode = (enum p2pv_map_mode)q.mode;
		*reasons = q.reasons;
		return 0;
	}
}
