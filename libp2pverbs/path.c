/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * The path between a provider and a client from their chains: hops, path
 * class, and the mapping mode, from the kernel (P2PMEM_IOC_MAP_QUERY) when
 * its node can be opened, else derived from sysfs the way the P2PDMA core
 * decides it - and UNKNOWN where sysfs cannot tell.
 */
#include <stdio.h>
#include <string.h>

#include "p2pv_priv.h"

/* The exporter attaches only revocable importers, on every path it allows */
static void add_revocable_only(struct p2pv_path *p)
{
	if (p->mode != P2PV_MAP_REFUSED && p->mode != P2PV_MAP_UNKNOWN)
		p->reasons |= P2PV_REASON_REVOCABLE_ONLY;
}

static void describe(struct p2pv_path *p, const char *hb_why)
{
	char acs[128] = "";
	size_t len = 0;
	int i, r;

	for (i = 0; i < p->num_hops; i++) {
		if (p->hops[i].acs != P2PV_ACS_REDIRECT)
			continue;
		r = snprintf(acs + len, sizeof(acs) - len, "%s%s",
			     len ? "," : "", p->hops[i].pci_addr);
		if (r < 0 || (size_t)r >= sizeof(acs) - len)
			break;
		len += (size_t)r;
	}
	switch (p->mode) {
	case P2PV_MAP_CPU:
		snprintf(p->reason, sizeof(p->reason),
			 "client has no DMA of its own: CPU access");
		break;
	case P2PV_MAP_BUS_ADDR:
		snprintf(p->reason, sizeof(p->reason),
			 "PCI bus addresses below a common bridge, no ACS redirect");
		break;
	case P2PV_MAP_HOST_BRIDGE:
		snprintf(p->reason, sizeof(p->reason),
			 "through the host bridge%s%s%s%s%s%s%s",
			 (p->reasons & P2PV_REASON_ACS_REDIRECT) ? ", ACS redirect at " : "",
			 (p->reasons & P2PV_REASON_ACS_REDIRECT) ? (len ? acs : "a port") : "",
			 (p->reasons & P2PV_REASON_NO_COMMON_BRIDGE) ? ", no common bridge" : "",
			 hb_why && *hb_why ? " (" : "", hb_why ? hb_why : "",
			 hb_why && *hb_why ? ")" : "",
			 p->iommu ? ", IOMMU" : "");
		break;
	case P2PV_MAP_UNKNOWN:
		snprintf(p->reason, sizeof(p->reason),
			 "unknown without the kernel's answer: %s",
			 hb_why && *hb_why ? hb_why :
			 "ACS state of the path not readable (not root?)");
		break;
	default:
		snprintf(p->reason, sizeof(p->reason), "refused%s%s%s%s%s",
			 (p->reasons & P2PV_REASON_ACS_REDIRECT) ? ": ACS redirect" : "",
			 (p->reasons & P2PV_REASON_NO_COMMON_BRIDGE) ? ": no common bridge" : "",
			 (p->reasons & P2PV_REASON_NOT_PCI) ? ": importer is not PCI" : "",
			 hb_why && *hb_why ? "; " : "", hb_why ? hb_why : "");
		break;
	}
	if (p->reasons & P2PV_REASON_REVOCABLE_ONLY)
		strncat(p->reason, ", revocable importers only",
			sizeof(p->reason) - strlen(p->reason) - 1);
	snprintf(p->reason + strlen(p->reason),
		 sizeof(p->reason) - strlen(p->reason), " [%s]",
		 p2pv_answer_source_str(p->source));
}

/* index in a of the first hop that is also in b (same host bridge), -1 */
static void find_common(const struct p2pv_chain *a, const struct p2pv_chain *b,
			int *ia, int *ib)
{
	int i, j;

	*ia = *ib = -1;
	if (strcmp(a->host_dir, b->host_dir))
		return;
	for (i = 0; i < a->n; i++)
		for (j = 0; j < b->n; j++)
			if (!strcmp(a->hop[i].pci_addr, b->hop[j].pci_addr)) {
				*ia = i;
				*ib = j;
				return;
			}
}

static void add_hops(struct p2pv_path *path, const struct p2pv_chain *prov,
		     const struct p2pv_chain *cli, int ci, int cj)
{
	int i, j, top_p = ci >= 0 ? ci : prov->n - 1;
	int top_c = ci >= 0 ? cj - 1 : cli->n - 1;

	for (i = 0; i <= top_p && path->num_hops < P2PV_MAX_HOPS; i++) {
		path->hops[path->num_hops] = prov->hop[i];
		path->hops[path->num_hops++].side = i == ci ? 2 : 0;
	}
	for (j = top_c; j >= 0 && path->num_hops < P2PV_MAX_HOPS; j--) {
		path->hops[path->num_hops] = cli->hop[j];
		path->hops[path->num_hops++].side = 1;
	}
}

/* switches crossed below the common bridge: their upstream ports */
static int switches_crossed(const struct p2pv_chain *prov,
			    const struct p2pv_chain *cli, int ci, int cj)
{
	int i, n = 0;

	for (i = 1; i <= ci; i++)
		n += prov->upstream_port[i];
	for (i = 1; i < cj; i++)
		n += cli->upstream_port[i];
	return n;
}

static enum p2pv_path_class path_class(const struct p2pv_chain *prov,
				       const struct p2pv_chain *cli, int ci,
				       int cj)
{
	unsigned pd, pb, pv, cd, cb, cv;

	p2pv_parse_bdf(prov->hop[0].pci_addr, &pd, &pb, &pv, NULL);
	p2pv_parse_bdf(cli->hop[0].pci_addr, &cd, &cb, &cv, NULL);
	if (pd == cd && pb == cb && pv == cv &&
	    !strcmp(prov->host_dir, cli->host_dir))
		return P2PV_PATH_DEV;
	if (ci >= 0)
		return switches_crossed(prov, cli, ci, cj) <= 1 ?
			P2PV_PATH_PIX : P2PV_PATH_PXB;
	if (prov->numa_node >= 0 && cli->numa_node >= 0 &&
	    prov->numa_node != cli->numa_node)
		return P2PV_PATH_SYS;
	return P2PV_PATH_PHB;
}

/* The P2PDMA core's decision as sysfs shows it; hb_why explains */
static void sysfs_mode(struct p2pv_topo_ctx *ctx, const struct p2pv_chain *prov,
		       const struct p2pv_chain *cli, int ci,
		       struct p2pv_path *path, char *hb_why, size_t n)
{
	int allowed;

	if (ci >= 0 && !path->acs_redirects) {
		path->mode = path->acs_unknown ? P2PV_MAP_UNKNOWN :
						 P2PV_MAP_BUS_ADDR;
		return;
	}
	path->reasons |= ci >= 0 ? P2PV_REASON_ACS_REDIRECT :
				   P2PV_REASON_NO_COMMON_BRIDGE;
	allowed = p2pv_host_bridge_allowed(ctx, prov, cli, hb_why, n);
	if (allowed > 0) {
		path->mode = P2PV_MAP_HOST_BRIDGE;
		if (cli->iommu)
			path->reasons |= P2PV_REASON_IOMMU;
	} else if (allowed == 0) {
		path->mode = P2PV_MAP_REFUSED;
		path->reasons |= P2PV_REASON_HOST_BRIDGE_DENIED;
		path->distance = -1;
	} else {
		path->mode = P2PV_MAP_UNKNOWN;
	}
}

void p2pv_path_compute(struct p2pv_topo_ctx *ctx, const struct p2pv_chain *prov,
		       const struct p2pv_chain *cli, int node_fd,
		       struct p2pv_path *path)
{
	char why[160] = "";
	int i, ci, cj;

	memset(path, 0, sizeof(*path));
	path->comp_mask = P2PV_PATH_MASK_NUMA;
	path->provider_numa_node = prov->numa_node;
	path->client_numa_node = cli->numa_node;
	path->source = P2PV_SOURCE_SYSFS_ESTIMATE;
	snprintf(path->provider_host_bridge, sizeof(path->provider_host_bridge),
		 "%s", prov->host);
	if (!cli->is_pci) {
		path->path_class = P2PV_PATH_CPU;
		path->mode = P2PV_MAP_CPU;
		path->reasons = P2PV_REASON_NOT_PCI;
		path->distance = -1;
		add_hops(path, prov, cli, -1, 0);
		add_revocable_only(path);
		describe(path, NULL);
		return;
	}
	snprintf(path->client_pci_addr, sizeof(path->client_pci_addr), "%s",
		 cli->hop[0].pci_addr);
	snprintf(path->client_host_bridge, sizeof(path->client_host_bridge),
		 "%s", cli->host);
	path->iommu = cli->iommu;
	find_common(prov, cli, &ci, &cj);
	add_hops(path, prov, cli, ci, cj);
	path->distance = ci >= 0 ? ci + cj : prov->n + cli->n;
	for (i = 0; i < path->num_hops; i++) {
		path->acs_redirects += path->hops[i].acs == P2PV_ACS_REDIRECT;
		path->acs_unknown += path->hops[i].acs == P2PV_ACS_UNKNOWN;
	}
	path->path_class = path_class(prov, cli, ci, cj);
	if (node_fd >= 0 &&
	    p2pv_kernel_map_query(node_fd, path->client_pci_addr, path) == 0) {
		describe(path, NULL);
		return;
	}
	sysfs_mode(ctx, prov, cli, ci, path, why, sizeof(why));
	add_revocable_only(path);
	describe(path, why);
}

P2PV_EXPORT const char *p2pv_path_class_str(enum p2pv_path_class c)
{
	static const char *const s[] = { "DEV", "PIX", "PXB", "PHB", "SYS", "CPU" };

	return (unsigned)c < sizeof(s) / sizeof(s[0]) ? s[c] : "?";
}

P2PV_EXPORT const char *p2pv_map_mode_str(enum p2pv_map_mode m)
{
	static const char *const s[] = { "refused", "bus-addr", "host-bridge",
					 "cpu", "unknown" };

	return (unsigned)m < sizeof(s) / sizeof(s[0]) ? s[m] : "?";
}

P2PV_EXPORT const char *p2pv_acs_state_str(enum p2pv_acs_state a)
{
	static const char *const s[] = { "none", "off", "redirect", "unknown" };

	return (unsigned)a < sizeof(s) / sizeof(s[0]) ? s[a] : "?";
}

P2PV_EXPORT const char *p2pv_answer_source_str(enum p2pv_answer_source s)
{
	static const char *const n[] = { "sysfs-estimate", "kernel",
					 "attachment" };

	return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}
