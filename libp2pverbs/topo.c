/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Topology: providers, PCI chains, ACS, host bridges and the mapping mode a
 * client would get, mirroring drivers/pci/p2pdma.c (Linux 6.12).  The kernel's
 * answer (P2PMEM_IOC_MAP_QUERY) wins when the provider's node exists.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/p2pmem.h>

#include "p2pv_priv.h"

#define PCI_CLASS_BRIDGE_PCI	0x0604
#define PCI_CLASS_NVME		0x010802
#define PCI_EXT_CAP_ID_ACS	0x000d
#define PCI_ACS_CTRL		0x06
#define PCI_ACS_RR		0x0004
#define PCI_ACS_CR		0x0008
#define PCI_ACS_EC		0x0020
#define PCI_CAP_ID_EXP		0x10
#define PCI_EXP_TYPE_ROOT_PORT	0x4

static int path_join(char *out, size_t n, const char *a, const char *b)
{
	int r = snprintf(out, n, "%s/%s", a, b);

	if (r < 0 || (size_t)r >= n)
		return p2pv_err(ENAMETOOLONG, "path too long: %s/%s", a, b);
	return 0;
}

static int read_hex_file(const char *dir, const char *name, uint64_t *v)
{
	char p[PATH_MAX];

	if (path_join(p, sizeof(p), dir, name) < 0)
		return -1;
	return p2pv_read_u64(p, v);
}

/* Read up to 4096 bytes of config space; returns bytes read or -1. */
static ssize_t read_config(const char *dir, uint8_t *cfg)
{
	char p[PATH_MAX];
	ssize_t got = 0, r;
	int fd;

	if (path_join(p, sizeof(p), dir, "config") < 0)
		return -1;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (got < 4096) {
		r = read(fd, cfg + got, 4096 - (size_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	close(fd);
	return got;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

/* ACS state from the extended capability list, like pci_bridge_has_acs_redir() */
static enum p2pv_acs_state config_acs(const uint8_t *cfg, ssize_t n,
				      uint16_t *ctrl)
{
	unsigned pos = 0x100;
	int ttl = (4096 - 0x100) / 8;
	uint32_t hdr;

	*ctrl = 0;
	if (n < 0x100)
		return P2PV_ACS_UNKNOWN;	/* missing or unprivileged read (64 bytes) */
	if (n == 0x100)
		return P2PV_ACS_NONE;		/* conventional PCI: no ext space */
	while (ttl-- > 0) {
		if ((ssize_t)pos + 4 > n)
			return P2PV_ACS_UNKNOWN;
		hdr = le32(cfg + pos);
		if (hdr == 0 || hdr == 0xffffffff)
			return P2PV_ACS_NONE;
		if ((hdr & 0xffff) == PCI_EXT_CAP_ID_ACS) {
			if ((ssize_t)pos + PCI_ACS_CTRL + 2 > n)
				return P2PV_ACS_UNKNOWN;
			*ctrl = le16(cfg + pos + PCI_ACS_CTRL);
			return (*ctrl & (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC)) ?
				P2PV_ACS_REDIRECT : P2PV_ACS_OFF;
		}
		pos = (hdr >> 20) & 0xffc;
		if (pos < 0x100)
			return P2PV_ACS_NONE;
	}
	return P2PV_ACS_NONE;
}

/* PCIe device/port type from the standard capability list, -1 unknown */
static int config_pcie_type(const uint8_t *cfg, ssize_t n)
{
	unsigned pos;
	int ttl = 48;

	if (n < 0x40 || !(le16(cfg + 0x06) & 0x10))
		return -1;
	pos = cfg[0x34] & 0xfc;
	while (pos >= 0x40 && ttl-- > 0) {
		if ((ssize_t)pos + 4 > n)
			return -1;
		if (cfg[pos] == PCI_CAP_ID_EXP)
			return (cfg[pos + 2] >> 4) & 0xf;
		pos = cfg[pos + 1] & 0xfc;
	}
	return -1;
}

static uint32_t dir_class(const char *dir)
{
	uint64_t v;

	if (read_hex_file(dir, "class", &v) < 0 || v > 0xffffff)
		return 0;
	return (uint32_t)v;
}

static void fill_hop(const char *dir, const char *bdf, struct p2pv_hop *h)
{
	uint8_t *cfg = malloc(4096);
	ssize_t n = cfg ? read_config(dir, cfg) : -1;

	memset(h, 0, sizeof(*h));
	snprintf(h->pci_addr, sizeof(h->pci_addr), "%s", bdf);
	h->acs = cfg ? config_acs(cfg, n, &h->acs_ctrl) : P2PV_ACS_UNKNOWN;
	h->is_bridge = (dir_class(dir) >> 8) == PCI_CLASS_BRIDGE_PCI;
	free(cfg);
}

static int is_host_name(const char *s)
{
	unsigned d, b;
	int len = -1;

	return sscanf(s, "pci%4x:%2x%n", &d, &b, &len) == 2 &&
	       len == (int)strlen(s);
}

/* Build the chain from a resolved sysfs directory of a PCI function. */
static int chain_from_dir(const char *real, struct p2pv_chain *c)
{
	char buf[PATH_MAX], *comp[256];
	int ncomp = 0, i, first, k;
	char *s, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", real);
	for (s = strtok_r(buf, "/", &save); s && ncomp < 256;
	     s = strtok_r(NULL, "/", &save))
		comp[ncomp++] = s;
	first = ncomp;
	while (first > 0 && p2pv_is_bdf(comp[first - 1]))
		first--;
	if (first == ncomp || first == 0 || !is_host_name(comp[first - 1]))
		return 1;	/* not a PCI function */
	if (ncomp - first > (int)(sizeof(c->hop) / sizeof(c->hop[0])))
		return p2pv_err(E2BIG, "%s: PCI hierarchy too deep", real);

	memset(c, 0, sizeof(*c));
	c->is_pci = 1;
	snprintf(c->host, sizeof(c->host), "%s", comp[first - 1]);
	snprintf(c->dev_dir, sizeof(c->dev_dir), "%s", real);
	/* host_dir: the prefix of real ending with the host component */
	{
		size_t len = 0;

		c->host_dir[0] = 0;
		for (i = 0; i < first; i++) {
			int r = snprintf(c->host_dir + len,
					 sizeof(c->host_dir) - len, "/%s",
					 comp[i]);
			if (r < 0 || (size_t)r >= sizeof(c->host_dir) - len)
				return p2pv_err(ENAMETOOLONG, "path too long");
			len += (size_t)r;
		}
	}
	c->n = ncomp - first;
	for (k = 0; k < c->n; k++) {
		/* hop k is comp[ncomp-1-k]; its dir is the prefix up to it */
		char dir[PATH_MAX];
		size_t len = 0;

		dir[0] = 0;
		for (i = 0; i < ncomp - k; i++) {
			int r = snprintf(dir + len, sizeof(dir) - len, "/%s",
					 comp[i]);
			if (r < 0 || (size_t)r >= sizeof(dir) - len)
				return p2pv_err(ENAMETOOLONG, "path too long");
			len += (size_t)r;
		}
		fill_hop(dir, comp[ncomp - 1 - k], &c->hop[k]);
	}
	{
		char p[PATH_MAX];
		struct stat st;

		if (path_join(p, sizeof(p), real, "iommu_group") == 0 &&
		    stat(p, &st) == 0)
			c->iommu = 1;
	}
	return 0;
}

int p2pv_chain_pci(const char *bdf, struct p2pv_chain *c)
{
	char link[PATH_MAX], real[PATH_MAX];
	int r;

	if (p2pv_parse_bdf(bdf, NULL, NULL, NULL, NULL) < 0)
		return -1;
	if (snprintf(link, sizeof(link), "%s/bus/pci/devices/%s",
		     p2pv_sysfs_root(), bdf) >= (int)sizeof(link))
		return p2pv_err(ENAMETOOLONG, "sysfs path too long");
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
	if (snprintf(dir, sizeof(dir), "%s/class/infiniband/%s",
		     p2pv_sysfs_root(), ibdev) >= (int)sizeof(dir) - 8)
		return p2pv_err(ENAMETOOLONG, "sysfs path too long");
	if (stat(dir, &st) < 0)
		return p2pv_err(ENODEV, "RDMA device %s not found in %s", ibdev,
				dir);
	memset(c, 0, sizeof(*c));
	if (p2pv_fmt(link, sizeof(link), "%s/device", dir) < 0)
		return -1;
	if (!realpath(link, real))
		return 0;	/* no parent device: software device */
	r = chain_from_dir(real, c);
	if (r > 0) {
		memset(c, 0, sizeof(*c));
		return 0;	/* parent is not PCI */
	}
	return r;
}

/* ---------------------------------------------------------------- */
/* Host bridges (kernel: cpu_supports_p2pdma, host_bridge_whitelist) */

static int cpu_supports_p2pdma(void)
{
	char path[PATH_MAX], line[256];
	int amd = 0, family = -1;
	FILE *f;

	if (p2pv_sibling_path(path, sizeof(path), "proc/cpuinfo") < 0)
		return 0;
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		if (!strncmp(line, "vendor_id", 9)) {
			if (amd || family >= 0)
				break;	/* second CPU: cpu 0 is done */
			amd = strstr(colon, "AuthenticAMD") != NULL;
		} else if (!strncmp(line, "cpu family", 10)) {
			family = atoi(colon + 1);
		}
		if (line[0] == '\n')
			break;
	}
	fclose(f);
	return amd && family >= 0x17;
}

static const struct {
	uint16_t vendor, device;
	int same_host_bridge;
} hb_whitelist[] = {
	/* same table as drivers/pci/p2pdma.c (6.12) */
	{ 0x8086, 0x3c00, 1 }, { 0x8086, 0x3c01, 1 },
	{ 0x8086, 0x2f00, 1 }, { 0x8086, 0x2f01, 1 },
	{ 0x8086, 0x2030, 0 }, { 0x8086, 0x2031, 0 },
	{ 0x8086, 0x2032, 0 }, { 0x8086, 0x2033, 0 },
	{ 0x8086, 0x2020, 0 }, { 0x8086, 0x09a2, 0 },
};

/* The host bridge "device": devfn 00.0 on the root bus or a root port
 * first on it (kernel: pci_host_bridge_dev). */
static int host_bridge_dev(const char *host_dir, uint16_t *vendor,
			   uint16_t *device, char *bdf_out, size_t n)
{
	char best[P2PV_PCI_ADDR_LEN] = "", dir[PATH_MAX];
	unsigned dv, fn, bdev = 0, bfn = 0;
	struct dirent *e;
	uint64_t v;
	DIR *d;

	d = opendir(host_dir);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!p2pv_is_bdf(e->d_name))
			continue;
		p2pv_parse_bdf(e->d_name, NULL, NULL, &dv, &fn);
		if (!best[0] || dv * 8 + fn < bdev * 8 + bfn) {
			if (p2pv_fmt(best, sizeof(best), "%s", e->d_name) < 0)
				continue;
			bdev = dv;
			bfn = fn;
		}
	}
	closedir(d);
	if (!best[0] || path_join(dir, sizeof(dir), host_dir, best) < 0)
		return -1;
	if (bdev || bfn) {
		uint8_t *cfg = malloc(4096);
		ssize_t len = cfg ? read_config(dir, cfg) : -1;
		int type = cfg ? config_pcie_type(cfg, len) : -1;

		free(cfg);
		if (type != PCI_EXP_TYPE_ROOT_PORT)
			return -1;
	}
	if (read_hex_file(dir, "vendor", &v) < 0)
		return -1;
	*vendor = (uint16_t)v;
	if (read_hex_file(dir, "device", &v) < 0)
		return -1;
	*device = (uint16_t)v;
	snprintf(bdf_out, n, "%s", best);
	return 0;
}

static int hb_allowed(const char *host_dir, int same, char *why, size_t n)
{
	uint16_t ven, dev;
	char bdf[P2PV_PCI_ADDR_LEN];
	size_t i;

	if (host_bridge_dev(host_dir, &ven, &dev, bdf, sizeof(bdf)) < 0) {
		snprintf(why, n, "no host bridge device under %s",
			 strrchr(host_dir, '/') ? strrchr(host_dir, '/') + 1 :
						  host_dir);
		return 0;
	}
	for (i = 0; i < sizeof(hb_whitelist) / sizeof(hb_whitelist[0]); i++) {
		if (hb_whitelist[i].vendor != ven ||
		    hb_whitelist[i].device != dev)
			continue;
		if (hb_whitelist[i].same_host_bridge && !same) {
			snprintf(why, n, "host bridge %s (%04x:%04x) is whitelisted only within one host bridge",
				 bdf, ven, dev);
			return 0;
		}
		return 1;
	}
	snprintf(why, n, "host bridge %s (%04x:%04x) not in the P2PDMA whitelist",
		 bdf, ven, dev);
	return 0;
}

static int host_bridge_ok(struct p2pv_topo_ctx *ctx,
			  const struct p2pv_chain *a,
			  const struct p2pv_chain *b, char *why, size_t n)
{
	int same = !strcmp(a->host_dir, b->host_dir);

	if (!ctx->cpu_checked) {
		ctx->cpu_ok = cpu_supports_p2pdma();
		ctx->cpu_checked = 1;
	}
	if (ctx->cpu_ok) {
		snprintf(why, n, "AMD Zen CPU");
		return 1;
	}
	if (same) {
		if (hb_allowed(a->host_dir, 1, why, n)) {
			snprintf(why, n, "whitelisted host bridge");
			return 1;
		}
		return 0;
	}
	if (hb_allowed(a->host_dir, 0, why, n) &&
	    hb_allowed(b->host_dir, 0, why, n)) {
		snprintf(why, n, "whitelisted host bridges");
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- */

static void kernel_answer(const char *provider, const struct p2pv_chain *cli,
			  struct p2pv_path *path)
{
	struct p2pmem_map_query q;
	unsigned dom, bus, dev, fn;
	char node[PATH_MAX];
	int fd, r;

	if (!cli->is_pci || p2pv_dev_path(node, sizeof(node), provider) < 0 ||
	    p2pv_parse_bdf(cli->hop[0].pci_addr, &dom, &bus, &dev, &fn) < 0)
		return;
	fd = open(node, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	memset(&q, 0, sizeof(q));
	q.client_domain = dom;
	q.client_bus = (uint8_t)bus;
	q.client_devfn = (uint8_t)((dev << 3) | fn);
	r = ioctl(fd, P2PMEM_IOC_MAP_QUERY, &q);
	close(fd);
	if (r < 0 || q.mode > P2PMEM_MAP_CPU)
		return;
	path->source = P2PV_SOURCE_KERNEL;
	path->mode = (enum p2pv_map_mode)q.mode;
	path->reasons = q.reasons;
	path->distance = q.distance;
	path->iommu = !!(q.reasons & P2PMEM_REASON_IOMMU);
}

static void describe(struct p2pv_path *p, const char *hb_why)
{
	char acs[128] = "";
	size_t len = 0;
	int i;

	for (i = 0; i < p->num_hops; i++) {
		if (p->hops[i].acs != P2PV_ACS_REDIRECT)
			continue;
		int r = snprintf(acs + len, sizeof(acs) - len, "%s%s",
				 len ? "," : "", p->hops[i].pci_addr);
		if (r < 0 || (size_t)r >= sizeof(acs) - len)
			break;
		len += (size_t)r;
	}
	switch (p->mode) {
	case P2PV_MAP_CPU:
		snprintf(p->reason, sizeof(p->reason),
			 "client is not a PCI device: CPU access");
		break;
	case P2PV_MAP_BUS_ADDR:
		snprintf(p->reason, sizeof(p->reason),
			 "PCI bus addresses below a common bridge, no ACS redirect%s",
			 p->acs_unknown ? " (ACS state partly unknown)" : "");
		break;
	case P2PV_MAP_HOST_BRIDGE:
		snprintf(p->reason, sizeof(p->reason),
			 "through the host bridge%s%s%s%s%s%s",
			 (p->reasons & P2PV_REASON_ACS_REDIRECT) ? ", ACS redirect at " : "",
			 (p->reasons & P2PV_REASON_ACS_REDIRECT) ? (len ? acs : "a port") : "",
			 (p->reasons & P2PV_REASON_NO_COMMON_BRIDGE) ? ", no common bridge" : "",
			 hb_why && *hb_why ? " (" : "", hb_why ? hb_why : "",
			 hb_why && *hb_why ? ")" : "");
		if (p->iommu)
			strncat(p->reason, ", IOMMU",
				sizeof(p->reason) - strlen(p->reason) - 1);
		break;
	default:
		snprintf(p->reason, sizeof(p->reason), "refused%s%s%s%s",
			 (p->reasons & P2PV_REASON_ACS_REDIRECT) ? ": ACS redirect" : "",
			 (p->reasons & P2PV_REASON_NO_COMMON_BRIDGE) ? ": no common bridge" : "",
			 hb_why && *hb_why ? "; " : "", hb_why ? hb_why : "");
		break;
	}
	if (p->source == P2PV_SOURCE_KERNEL)
		strncat(p->reason, " [kernel]",
			sizeof(p->reason) - strlen(p->reason) - 1);
}

void p2pv_path_compute(struct p2pv_topo_ctx *ctx, const char *provider,
		       const struct p2pv_chain *prov,
		       const struct p2pv_chain *cli, struct p2pv_path *path)
{
	int i, j, ci = -1, cj = -1, acs = 0, unk = 0;
	unsigned pd, pb, pv, cd, cb, cv;
	char why[160] = "";

	memset(path, 0, sizeof(*path));
	snprintf(path->provider_host_bridge, sizeof(path->provider_host_bridge),
		 "%s", prov->host);
	if (!cli->is_pci) {
		path->path_class = P2PV_PATH_CPU;
		path->mode = P2PV_MAP_CPU;
		path->reasons = P2PV_REASON_NOT_PCI;
		path->distance = -1;
		for (i = 0; i < prov->n && path->num_hops < P2PV_MAX_HOPS; i++)
			path->hops[path->num_hops++] = prov->hop[i];
		describe(path, NULL);
		return;
	}
	snprintf(path->client_pci_addr, sizeof(path->client_pci_addr), "%s",
		 cli->hop[0].pci_addr);
	snprintf(path->client_host_bridge, sizeof(path->client_host_bridge),
		 "%s", cli->host);
	path->iommu = cli->iommu;

	/* common upstream function, as calc_map_type_and_dist() walks it */
	for (i = 0; i < prov->n && ci < 0; i++)
		for (j = 0; j < cli->n; j++)
			if (!strcmp(prov->hop[i].pci_addr, cli->hop[j].pci_addr) &&
			    !strcmp(prov->host_dir, cli->host_dir)) {
				ci = i;
				cj = j;
				break;
			}
	if (ci >= 0) {
		for (i = 0; i <= ci; i++) {
			path->hops[path->num_hops] = prov->hop[i];
			path->hops[path->num_hops++].side = i == ci ? 2 : 0;
		}
		for (j = cj - 1; j >= 0; j--) {
			path->hops[path->num_hops] = cli->hop[j];
			path->hops[path->num_hops++].side = 1;
		}
		path->distance = ci + cj;
	} else {
		for (i = 0; i < prov->n; i++)
			path->hops[path->num_hops++] = prov->hop[i];
		for (j = cli->n - 1; j >= 0; j--) {
			path->hops[path->num_hops] = cli->hop[j];
			path->hops[path->num_hops++].side = 1;
		}
		path->distance = prov->n + cli->n;
	}
	for (i = 0; i < path->num_hops; i++) {
		acs += path->hops[i].acs == P2PV_ACS_REDIRECT;
		unk += path->hops[i].acs == P2PV_ACS_UNKNOWN;
	}
	path->acs_redirects = acs;
	path->acs_unknown = unk;

	/* class */
	p2pv_parse_bdf(prov->hop[0].pci_addr, &pd, &pb, &pv, NULL);
	p2pv_parse_bdf(cli->hop[0].pci_addr, &cd, &cb, &cv, NULL);
	if (pd == cd && pb == cb && pv == cv && !strcmp(prov->host_dir, cli->host_dir))
		path->path_class = P2PV_PATH_DEV;
	else if (ci >= 0)
		path->path_class = path->distance <= 4 ? P2PV_PATH_PIX : P2PV_PATH_PXB;
	else if (!strcmp(prov->host_dir, cli->host_dir))
		path->path_class = P2PV_PATH_PHB;
	else
		path->path_class = P2PV_PATH_SYS;

	/* mode */
	if (ci >= 0 && !acs) {
		path->mode = P2PV_MAP_BUS_ADDR;
	} else {
		if (ci >= 0)
			path->reasons |= P2PV_REASON_ACS_REDIRECT;
		else
			path->reasons |= P2PV_REASON_NO_COMMON_BRIDGE;
		if (host_bridge_ok(ctx, prov, cli, why, sizeof(why))) {
			path->mode = P2PV_MAP_HOST_BRIDGE;
			if (cli->iommu)
				path->reasons |= P2PV_REASON_IOMMU;
		} else {
			path->mode = P2PV_MAP_REFUSED;
			path->reasons |= P2PV_REASON_HOST_BRIDGE_DENIED;
			path->distance = -1;
		}
	}
	path->source = P2PV_SOURCE_SYSFS;
	kernel_answer(provider, cli, path);
	describe(path, path->source == P2PV_SOURCE_SYSFS ? why : NULL);
}

/* ---------------------------------------------------------------- */
/* Public: providers and paths                                       */

static int read_provider(const char *bdf, struct p2pv_provider *p)
{
	char dir[PATH_MAX], sub[PATH_MAX], drv[PATH_MAX];
	uint64_t v;
	ssize_t r;

	memset(p, 0, sizeof(*p));
	snprintf(p->pci_addr, sizeof(p->pci_addr), "%s", bdf);
	if (snprintf(dir, sizeof(dir), "%s/bus/pci/devices/%s",
		     p2pv_sysfs_root(), bdf) >= (int)sizeof(dir) - 32)
		return p2pv_err(ENAMETOOLONG, "sysfs path too long");
	if (read_hex_file(dir, "p2pmem/size", &p->size) < 0 ||
	    read_hex_file(dir, "p2pmem/available", &p->available) < 0 ||
	    read_hex_file(dir, "p2pmem/published", &v) < 0)
		return -1;
	p->published = v != 0;
	if (p->available > p->size)
		return p2pv_err(EINVAL, "%s: p2pmem/available %llu > size %llu",
				bdf, (unsigned long long)p->available,
				(unsigned long long)p->size);
	p->pci_class = dir_class(dir);
	if (read_hex_file(dir, "vendor", &v) == 0)
		p->vendor_id = (uint16_t)v;
	if (read_hex_file(dir, "device", &v) == 0)
		p->device_id = (uint16_t)v;
	p->numa_node = -1;
	if (p2pv_fmt(sub, sizeof(sub), "%s/numa_node", dir) == 0) {
		char buf[32];

		if (p2pv_read_str(sub, buf, sizeof(buf)) == 0 && buf[0])
			p->numa_node = atoi(buf);
	}
	p->kind = P2PV_PROVIDER_GENERIC_BAR;
	if (p->pci_class == PCI_CLASS_NVME) {
		p->kind = P2PV_PROVIDER_NVME_CMB;
	} else if (!p->pci_class) {
		r = -1;
		if (p2pv_fmt(sub, sizeof(sub), "%s/driver", dir) == 0)
			r = readlink(sub, drv, sizeof(drv) - 1);
		if (r > 0) {
			drv[r] = 0;
			if (!strcmp(strrchr(drv, '/') ? strrchr(drv, '/') + 1 : drv,
				    "nvme"))
				p->kind = P2PV_PROVIDER_NVME_CMB;
		}
	}
	return 0;
}

P2PV_EXPORT int p2pv_query_provider(const char *pci_addr,
				    struct p2pv_provider *out)
{
	char p[PATH_MAX];
	struct stat st;

	if (!out)
		return p2pv_err(EINVAL, "p2pv_query_provider: NULL output");
	if (p2pv_parse_bdf(pci_addr, NULL, NULL, NULL, NULL) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/bus/pci/devices/%s/p2pmem",
		 p2pv_sysfs_root(), pci_addr);
	if (stat(p, &st) < 0)
		return p2pv_err(ENOENT, "%s is not a P2PDMA provider (no %s)",
				pci_addr, p);
	return read_provider(pci_addr, out);
}

static int prov_cmp(const void *a, const void *b)
{
	return p2pv_bdf_cmp(((const struct p2pv_provider *)a)->pci_addr,
			    ((const struct p2pv_provider *)b)->pci_addr);
}

P2PV_EXPORT struct p2pv_provider *p2pv_get_provider_list(int *num)
{
	struct p2pv_provider *list = NULL, *tmp;
	char dir[PATH_MAX], p[PATH_MAX];
	size_t n = 0, cap = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (!num) {
		p2pv_err(EINVAL, "p2pv_get_provider_list: NULL count");
		return NULL;
	}
	*num = 0;
	snprintf(dir, sizeof(dir), "%s/bus/pci/devices", p2pv_sysfs_root());
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)	/* no PCI at all: empty list */
			return calloc(1, sizeof(*list));
		p2pv_err(errno, "cannot open %s: %s", dir, strerror(errno));
		return NULL;
	}
	while ((e = readdir(d))) {
		if (!p2pv_is_bdf(e->d_name))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s/p2pmem", dir, e->d_name) >=
			    (int)sizeof(p) || stat(p, &st) < 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			tmp = realloc(list, cap * sizeof(*list));
			if (!tmp) {
				free(list);
				closedir(d);
				p2pv_err(ENOMEM, "out of memory");
				return NULL;
			}
			list = tmp;
		}
		if (read_provider(e->d_name, &list[n]) < 0)
			continue;	/* unreadable provider: skipped */
		n++;
	}
	closedir(d);
	if (!list)
		return calloc(1, sizeof(*list));
	qsort(list, n, sizeof(*list), prov_cmp);
	*num = (int)n;
	return list;
}

P2PV_EXPORT void p2pv_free_provider_list(struct p2pv_provider *list)
{
	free(list);
}

P2PV_EXPORT int p2pv_query_path_by_name(const char *provider,
					const char *ibdev_name,
					struct p2pv_path *path)
{
	struct p2pv_topo_ctx ctx = { 0 };
	struct p2pv_chain *pc, *cc;
	int ret = -1;

	if (!path)
		return p2pv_err(EINVAL, "p2pv_query_path: NULL path");
	if (p2pv_parse_bdf(provider, NULL, NULL, NULL, NULL) < 0)
		return -1;
	pc = malloc(sizeof(*pc));
	cc = malloc(sizeof(*cc));
	if (!pc || !cc) {
		p2pv_err(ENOMEM, "out of memory");
		goto out;
	}
	if (p2pv_chain_pci(provider, pc) < 0 ||
	    p2pv_chain_ibdev(ibdev_name, cc) < 0)
		goto out;
	p2pv_path_compute(&ctx, provider, pc, cc, path);
	ret = 0;
out:
	free(pc);
	free(cc);
	return ret;
}

P2PV_EXPORT int p2pv_query_path(const char *provider, struct ibv_device *device,
				struct p2pv_path *path)
{
	if (!device)
		return p2pv_err(EINVAL, "p2pv_query_path: NULL device");
	return p2pv_query_path_by_name(provider, device->name, path);
}

P2PV_EXPORT int p2pv_query_path_ctx(const char *provider,
				    struct ibv_context *ctx,
				    struct p2pv_path *path)
{
	if (!ctx || !ctx->device)
		return p2pv_err(EINVAL, "p2pv_query_path_ctx: NULL context");
	return p2pv_query_path_by_name(provider, ctx->device->name, path);
}

P2PV_EXPORT const char *p2pv_path_class_str(enum p2pv_path_class c)
{
	static const char *const s[] = { "DEV", "PIX", "PXB", "PHB", "SYS", "CPU" };

	return (unsigned)c < sizeof(s) / sizeof(s[0]) ? s[c] : "?";
}

P2PV_EXPORT const char *p2pv_map_mode_str(enum p2pv_map_mode m)
{
	static const char *const s[] = { "refused", "bus-addr", "host-bridge", "cpu" };

	return (unsigned)m < sizeof(s) / sizeof(s[0]) ? s[m] : "?";
}

P2PV_EXPORT const char *p2pv_acs_state_str(enum p2pv_acs_state a)
{
	static const char *const s[] = { "none", "off", "redirect", "unknown" };

	return (unsigned)a < sizeof(s) / sizeof(s[0]) ? s[a] : "?";
}
