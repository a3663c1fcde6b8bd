/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * The exporter's own answers: P2PMEM_IOC_MAP_QUERY (what an attach by a PCI
 * device would get) and P2PMEM_IOC_ATTACH_QUERY (what the attachments of a
 * buffer did get), on /dev/p2pmem/<bdf>.  Whoever may open the node may
 * allocate, and may ask.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/p2pmem.h>

#include "p2pv_priv.h"

int p2pv_node_open(const char *provider)
{
	char node[PATH_MAX];
	int fd;

	if (p2pv_dev_path(node, sizeof(node), provider) < 0)
		return -1;
	fd = open(node, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return p2pv_err(errno, "cannot open %s: %s", node,
				strerror(errno));
	return fd;
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
