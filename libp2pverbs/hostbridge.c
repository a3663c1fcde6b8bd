/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * An estimate, for when the kernel cannot be asked (no node, or no
 * permission to open it): whether P2P traffic may cross a host bridge, as
 * the P2PDMA core of Linux 7.3 decides it (cpu_supports_p2pdma(),
 * host_bridge_whitelist()): AMD Zen CPUs, or host bridges on its
 * whitelist.  The table below is a copy of the kernel's and will drift
 * from it; it never overrides an answer of the kernel (MAP_QUERY or
 * ATTACH_QUERY), and every path it contributes to says
 * P2PV_SOURCE_SYSFS_ESTIMATE.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "p2pv_priv.h"

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

#define HB_ANY_DEVICE	0xffff	/* PCI_ANY_ID in the kernel's table */

static const struct {
	uint16_t vendor, device;
	int same_host_bridge;
} hb_whitelist[] = {
	/* the table of drivers/pci/p2pdma.c (Linux 7.3) */
	{ 0x8086, 0x3c00, 1 }, { 0x8086, 0x3c01, 1 },
	{ 0x8086, 0x2f00, 1 }, { 0x8086, 0x2f01, 1 },
	{ 0x8086, 0x2030, 0 }, { 0x8086, 0x2031, 0 },
	{ 0x8086, 0x2032, 0 }, { 0x8086, 0x2033, 0 },
	{ 0x8086, 0x2020, 0 }, { 0x8086, 0x09a2, 0 },
	/* DSA and IAX (SPR, GNR-D, DMR), QAT 4xxx..6xxx */
	{ 0x8086, 0x0b25, 0 }, { 0x8086, 0x0cfe, 0 },
	{ 0x8086, 0x11fb, 0 }, { 0x8086, 0x1212, 0 },
	{ 0x8086, 0x1216, 0 }, { 0x8086, 0x4940, 0 },
	{ 0x8086, 0x4942, 0 }, { 0x8086, 0x4944, 0 },
	{ 0x8086, 0x4946, 0 }, { 0x8086, 0x4948, 0 },
	/* Google SoCs: any device */
	{ 0x1ae0, HB_ANY_DEVICE, 0 },
	/* Nvidia CPUs */
	{ 0x10de, 0x2f95, 0 }, { 0x10de, 0x2f96, 0 },
	{ 0x10de, 0x2f97, 0 }, { 0x10de, 0x2f98, 0 },
};

/*
 * The device that stands for the host bridge (kernel: pci_host_bridge_dev):
 * the first function on the root bus, if it is devfn 00.0 or a root port.
 * 1 found, 0 none, -1 unknown (its port type is not readable).
 */
static int host_bridge_dev(const char *host_dir, char *dir, size_t dir_len,
			   char *bdf, size_t bdf_len)
{
	unsigned dv, fn, best_devfn = 0x100;
	struct dirent *e;
	uint8_t *cfg;
	ssize_t len;
	int type;
	DIR *d;

	d = opendir(host_dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (!p2pv_is_bdf(e->d_name))
			continue;
		p2pv_parse_bdf(e->d_name, NULL, NULL, &dv, &fn);
		if (dv * 8 + fn < best_devfn &&
		    p2pv_fmt(bdf, bdf_len, "%s", e->d_name) == 0)
			best_devfn = dv * 8 + fn;
	}
	closedir(d);
	if (best_devfn == 0x100 ||
	    p2pv_fmt(dir, dir_len, "%s/%s", host_dir, bdf) < 0)
		return 0;
	if (best_devfn == 0)
		return 1;
	cfg = malloc(P2PV_CONFIG_SIZE);
	len = cfg ? p2pv_read_config(dir, cfg) : -1;
	type = cfg ? p2pv_config_pcie_type(cfg, len) : P2PV_PCIE_TYPE_UNKNOWN;
	free(cfg);
	if (type == P2PV_PCIE_TYPE_UNKNOWN)
		return -1;
	return type == PCI_EXP_TYPE_ROOT_PORT;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* 1 allowed, 0 not, -1 unknown; why says which */
static int whitelisted(const char *host_dir, int same, char *why, size_t n)
{
	char dir[PATH_MAX], bdf[P2PV_PCI_ADDR_LEN], path[PATH_MAX];
	uint64_t vendor, device;
	size_t i;
	int r;

	r = host_bridge_dev(host_dir, dir, sizeof(dir), bdf, sizeof(bdf));
	if (r < 0) {
		snprintf(why, n, "host bridge of %s unknown: config space of %s not readable",
			 base_name(host_dir), bdf);
		return -1;
	}
	if (r == 0) {
		snprintf(why, n, "no host bridge device under %s",
			 base_name(host_dir));
		return 0;
	}
	if (p2pv_fmt(path, sizeof(path), "%s/vendor", dir) < 0 ||
	    p2pv_read_u64(path, &vendor) < 0 ||
	    p2pv_fmt(path, sizeof(path), "%s/device", dir) < 0 ||
	    p2pv_read_u64(path, &device) < 0) {
		snprintf(why, n, "host bridge %s: vendor/device not readable", bdf);
		return -1;
	}
	for (i = 0; i < sizeof(hb_whitelist) / sizeof(hb_whitelist[0]); i++) {
		if (hb_whitelist[i].vendor != vendor ||
		    (hb_whitelist[i].device != device &&
		     hb_whitelist[i].device != HB_ANY_DEVICE))
			continue;
		if (hb_whitelist[i].same_host_bridge && !same) {
			snprintf(why, n, "host bridge %s (%04x:%04x) is whitelisted only within one host bridge",
				 bdf, (unsigned)vendor, (unsigned)device);
			return 0;
		}
		snprintf(why, n, "host bridge %s (%04x:%04x) on the library's copy of the kernel's whitelist",
			 bdf, (unsigned)vendor, (unsigned)device);
		return 1;
	}
	snprintf(why, n, "host bridge %s (%04x:%04x) not on the library's copy of the kernel's whitelist",
		 bdf, (unsigned)vendor, (unsigned)device);
	return 0;
}

int p2pv_host_bridge_allowed(struct p2pv_topo_ctx *ctx,
			     const struct p2pv_chain *a,
			     const struct p2pv_chain *b, char *why, size_t n)
{
	int same = !strcmp(a->host_dir, b->host_dir), ra, rb;

	if (!ctx->cpu_checked) {
		ctx->cpu_ok = cpu_supports_p2pdma();
		ctx->cpu_checked = 1;
	}
	if (ctx->cpu_ok) {
		snprintf(why, n, "AMD Zen CPU");
		return 1;
	}
	ra = whitelisted(a->host_dir, same, why, n);
	if (same || ra == 0)
		return ra;
	rb = whitelisted(b->host_dir, 0, why, n);
	if (rb <= 0)
		return rb;
	if (ra < 0)
		return whitelisted(a->host_dir, 0, why, n);
	return 1;
}
