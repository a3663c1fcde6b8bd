/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Chains: a PCI function and its upstream bridges up to the host bridge, from
 * the sysfs directory hierarchy.  An RDMA device is represented by the PCI
 * function that does its DMA: itself, or its nearest PCI ancestor for
 * auxiliary devices and sub-functions (mlx5_core.sf.N).  Only a device with
 * no PCI ancestor at all (rxe, siw) has no DMA: the kernel gives it CPU
 * access.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <linux/pci_regs.h>

#include "p2pv_priv.h"

#define PCI_CLASS_BRIDGE_PCI	0x0604	/* <linux/pci_ids.h>, not UAPI */
#define MAX_COMPONENTS		256

uint32_t p2pv_dir_class(const char *dir)
{
	char path[PATH_MAX];
	uint64_t v;

	if (p2pv_fmt(path, sizeof(path), "%s/class", dir) < 0 ||
	    p2pv_read_u64(path, &v) < 0 || v > 0xffffff)
		return 0;
	return (uint32_t)v;
}

int p2pv_dir_numa_node(const char *dir)
{
	char path[PATH_MAX], buf[32];

	if (p2pv_fmt(path, sizeof(path), "%s/numa_node", dir) < 0 ||
	    p2pv_read_str(path, buf, sizeof(buf)) < 0 || !buf[0])
		return -1;
	return atoi(buf);
}

static void fill_hop(const char *dir, const char *bdf, struct p2pv_hop *h,
		     int8_t *pcie_type)
{
	uint8_t *cfg = malloc(P2PV_CONFIG_SIZE);
	ssize_t n = cfg ? p2pv_read_config(dir, cfg) : -1;

	memset(h, 0, sizeof(*h));
	snprintf(h->pci_addr, sizeof(h->pci_addr), "%s", bdf);
	h->acs = cfg ? p2pv_config_acs(cfg, n, &h->acs_ctrl) : P2PV_ACS_UNKNOWN;
	*pcie_type = (int8_t)(cfg ? p2pv_config_pcie_type(cfg, n) :
			      P2PV_PCIE_TYPE_UNKNOWN);
	h->is_bridge = (p2pv_dir_class(dir) >> 8) == PCI_CLASS_BRIDGE_PCI;
	free(cfg);
}


/* "/" + comp[0] + ... + "/" + comp[last - 1] */
static int join_components(char *out, size_t n, char *const *comp, int last)
{
	size_t len = 0;
	int i, r;

	out[0] = 0;
	for (i = 0; i < last; i++) {
		r = snprintf(out + len, n - len, "/%s", comp[i]);
		if (r < 0 || (size_t)r >= n - len)
			return p2pv_err(ENAMETOOLONG, "sysfs path too long");
		len += (size_t)r;
	}
	return 0;
}

/* A switch is counted by its upstream port.  When config space cannot be
 * read, the hierarchy tells: below a root port, bridges alternate upstream
 * and downstream ports, so a bridge an odd number of levels below the top is
 * an upstream port. */
static void mark_upstream_ports(struct p2pv_chain *c)
{
	int k, from_top;

	for (k = 0; k < c->n; k++) {
		from_top = c->n - 1 - k;
		if (c->pcie_type[k] >= 0)
			c->upstream_port[k] =
				c->pcie_type[k] == PCI_EXP_TYPE_UPSTREAM;
		else
			c->upstream_port[k] = c->hop[k].is_bridge &&
					      (from_top & 1);
	}
}

/*
 * Build the chain of the nearest PCI function at or above the resolved
 * sysfs directory REAL.  1: none (a device without DMA), 0 done, -1 error.
 */
static int chain_from_dir(const char *real, struct p2pv_chain *c)
{
	char buf[PATH_MAX], *comp[MAX_COMPONENTS], *s, *save = NULL;
	int ncomp = 0, first, k;
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", real);
	for (s = strtok_r(buf, "/", &save); s && ncomp < MAX_COMPONENTS;
	     s = strtok_r(NULL, "/", &save))
		comp[ncomp++] = s;
	while (ncomp > 0 && !p2pv_is_bdf(comp[ncomp - 1]))
		ncomp--;	/* auxiliary device, sub-function, ...: go up */
	first = ncomp;
	while (first > 0 && p2pv_is_bdf(comp[first - 1]))
		first--;
	if (first == ncomp || first == 0 || !p2pv_is_host_bridge_name(comp[first - 1]))
		return 1;
	if (ncomp - first > P2PV_CHAIN_MAX)
		return p2pv_err(E2BIG, "%s: PCI hierarchy too deep", real);

	memset(c, 0, sizeof(*c));
	c->is_pci = 1;
	snprintf(c->host, sizeof(c->host), "%s", comp[first - 1]);
	if (join_components(c->host_dir, sizeof(c->host_dir), comp, first) < 0 ||
	    join_components(c->dev_dir, sizeof(c->dev_dir), comp, ncomp) < 0)
		return -1;
	c->n = ncomp - first;
	for (k = 0; k < c->n; k++) {
		char dir[PATH_MAX];

		if (join_components(dir, sizeof(dir), comp, ncomp - k) < 0)
			return -1;
		fill_hop(dir, comp[ncomp - 1 - k], &c->hop[k], &c->pcie_type[k]);
	}
	mark_upstream_ports(c);
	if (p2pv_fmt(buf, sizeof(buf), "%s/iommu_group", c->dev_dir) == 0 &&
	    stat(buf, &st) == 0)
		c->iommu = 1;
	c->numa_node = p2pv_dir_numa_node(c->dev_dir);
	return 0;
}

int p2pv_chain_pci(const char *bdf, struct p2pv_chain *c)
{
	char link[PATH_MAX], real[PATH_MAX];
	int r;

	if (p2pv_parse_bdf(bdf, NULL, NULL, NULL, NULL) < 0)
		return -1;
	if (p2pv_fmt(link, sizeof(link), "%s/bus/pci/devices/%s",
		     p2pv_sysfs_root(), bdf) < 0)
		return -1;
	if (!realpath(link, real))
		return p2pv_err(errno == ENOENT ? ENODEV : errno,
				"PCI device %s not found (%s): %s", bdf, link,
				strerror(errno));
	r = chain_from_dir(real, c);
	if (r > 0)
		return p2pv_err(ENODEV, "%s is not a PCI function", real);
	return r;
}

int p2pv_chain_ibdev(const char *ibdev, struct p2pv_chain *c)
{
	char dir[PATH_MAX], link[PATH_MAX], real[PATH_MAX];
	struct stat st;
	int r;

	if (!ibdev || !*ibdev || strchr(ibdev, '/'))
		return p2pv_err(EINVAL, "invalid RDMA device name");
	if (p2pv_fmt(dir, sizeof(dir), "%s/class/infiniband/%s",
		     p2pv_sysfs_root(), ibdev) < 0)
		return -1;
	if (stat(dir, &st) < 0)
		return p2pv_err(ENODEV, "RDMA device %s not found in %s", ibdev,
				dir);
	memset(c, 0, sizeof(*c));
	c->numa_node = -1;
	if (p2pv_fmt(link, sizeof(link), "%s/device", dir) < 0)
		return -1;
	if (!realpath(link, real))
		return 0;	/* no parent device: software device */
	r = chain_from_dir(real, c);
	if (r > 0) {
		memset(c, 0, sizeof(*c));
		c->numa_node = -1;
		return 0;	/* no PCI ancestor: no DMA */
	}
	return r;
}
