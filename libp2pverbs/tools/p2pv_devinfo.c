/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * p2pv_devinfo: P2PDMA providers, RDMA devices and how each device reaches
 * each provider, in the style of ibv_devinfo.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/p2pverbs.h>

struct rdev {
	char name[64];
	char pci[P2PV_PCI_ADDR_LEN];	/* "" if not PCI */
};

static const char *sysroot(void)
{
	const char *r = getenv("P2PV_SYSFS_ROOT");

	return (r && *r) ? r : "/sys";
}

static int rdev_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rdev *)a)->name, ((const struct rdev *)b)->name);
}

static struct rdev *list_rdma(int *num, const char *only)
{
	char dir[PATH_MAX];
	struct rdev *l = NULL, *tmp;
	struct dirent *e;
	int n = 0;
	DIR *d;

	*num = 0;
	snprintf(dir, sizeof(dir), "%s/class/infiniband", sysroot());
	d = opendir(dir);
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(l->name))
			continue;
		if (only && strcmp(only, e->d_name))
			continue;
		tmp = realloc(l, (size_t)(n + 1) * sizeof(*l));
		if (!tmp)
			break;
		l = tmp;
		memset(&l[n], 0, sizeof(l[n]));
		memcpy(l[n].name, e->d_name, strlen(e->d_name) + 1);
		n++;
	}
	closedir(d);
	if (l)
		qsort(l, (size_t)n, sizeof(*l), rdev_cmp);
	*num = n;
	return l;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_reasons(uint32_t r)
{
	static const char *const names[] = { "acs-redirect", "no-common-bridge",
					     "host-bridge-denied", "not-pci",
					     "iommu", "revocable-only" };
	int i, first = 1;

	for (i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (r & (1U << i)) {
			printf("%s%s", first ? "" : ",", names[i]);
			first = 0;
		}
	if (first)
		printf("-");
}

static void usage(const char *argv0)
{
	printf("Usage: %s [options]\n"
	       "  -d, --ib-dev=DEV   only this RDMA device\n"
	       "  -v, --verbose      path details: ports, ACS state, reasons\n"
	       "  -j, --json         JSON output\n"
	       "  -g, --dot          Graphviz output of the topology\n"
	       "  -h, --help         this help\n"
	       "The sysfs root is taken from P2PV_SYSFS_ROOT (default /sys).\n",
	       argv0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ib-dev", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "dot", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int verbose = 0, json = 0, dot = 0, np = 0, nd = 0, i, j, h, c;
	const char *only = NULL;
	struct p2pv_provider *prov;
	struct p2pv_path *paths;
	struct rdev *devs;

	while ((c = getopt_long(argc, argv, "d:vjgh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': only = optarg; break;
		case 'v': verbose = 1; break;
		case 'j': json = 1; break;
		case 'g': dot = 1; break;
		case 'h': usage(argv[0]); return 0;
		default: usage(argv[0]); return 2;
		}
	}
	if (json && dot) {
		fprintf(stderr, "%s: --json and --dot are exclusive\n", argv[0]);
		return 2;
	}
	prov = p2pv_get_provider_list(&np, sizeof(struct p2pv_provider));
	if (!prov) {
		fprintf(stderr, "%s: %s\n", argv[0], p2pv_last_error());
		return 1;
	}
	devs = list_rdma(&nd, only);
	if (only && !nd) {
		fprintf(stderr, "%s: RDMA device %s not found\n", argv[0], only);
		p2pv_free_provider_list(prov);
		return 1;
	}
	paths = calloc((size_t)(np ? np : 1) * (size_t)(nd ? nd : 1), sizeof(*paths));
	if (!paths) {
		fprintf(stderr, "%s: out of memory\n", argv[0]);
		return 1;
	}
	for (i = 0; i < np; i++)
		for (j = 0; j < nd; j++)
			if (p2pv_query_path_by_name(prov[i].pci_addr, devs[j].name,
						    &paths[i * nd + j], sizeof(struct p2pv_path)) < 0)
				paths[i * nd + j].num_hops = -1;
	/* a device's PCI function as the library finds it (the client side
	 * of its paths: itself, or the parent an auxiliary device or
	 * sub-function DMAs through); without a provider there is no path */
	for (j = 0; j < nd; j++)
		for (i = 0; i < np && !devs[j].pci[0]; i++)
			if (paths[i * nd + j].num_hops >= 0)
				snprintf(devs[j].pci, sizeof(devs[j].pci), "%s",
					 paths[i * nd + j].client_pci_addr);

	if (json) {
		printf("{\n  \"providers\": [");
		for (i = 0; i < np; i++)
			printf("%s\n    {\"pci_addr\": \"%s\", \"kind\": \"%s\", \"size\": %llu, \"available\": %llu, \"published\": %s}",
			       i ? "," : "", prov[i].pci_addr,
			       prov[i].kind == P2PV_PROVIDER_NVME_CMB ? "nvme-cmb" : "generic-bar",
			       (unsigned long long)prov[i].size,
			       (unsigned long long)prov[i].available,
			       prov[i].published ? "true" : "false");
		printf("\n  ],\n  \"rdma_devices\": [");
		for (j = 0; j < nd; j++) {
			printf("%s\n    {\"name\": ", j ? "," : "");
			json_str(devs[j].name);
			printf(", \"pci_addr\": ");
			if (devs[j].pci[0])
				json_str(devs[j].pci);
			else
				printf("null");
			printf("}");
		}
		printf("\n  ],\n  \"paths\": [");
		for (i = 0, c = 0; i < np; i++)
			for (j = 0; j < nd; j++) {
				struct p2pv_path *p = &paths[i * nd + j];

				if (p->num_hops < 0)
					continue;
				printf("%s\n    {\"provider\": \"%s\", \"device\": ",
				       c++ ? "," : "", prov[i].pci_addr);
				json_str(devs[j].name);
				printf(", \"class\": \"%s\", \"mode\": \"%s\", \"reasons\": %u, \"distance\": %d, \"source\": \"%s\", \"acs_redirects\": %d, \"reason\": ",
				       p2pv_path_class_str(p->path_class),
				       p2pv_map_mode_str(p->mode), p->reasons,
				       p->distance, p2pv_answer_source_str(p->source),
				       p->acs_redirects);
				json_str(p->reason);
				printf(", \"hops\": [");
				for (h = 0; h < p->num_hops; h++)
					printf("%s{\"pci_addr\": \"%s\", \"acs\": \"%s\"}",
					       h ? ", " : "", p->hops[h].pci_addr,
					       p2pv_acs_state_str(p->hops[h].acs));
				printf("]}");
			}
		printf("\n  ]\n}\n");
	} else if (dot) {
		printf("digraph p2pverbs {\n  rankdir=TB;\n  node [fontname=\"monospace\"];\n");
		/* nodes and upward edges from every hop list; duplicates are
		 * merged by Graphviz */
		for (i = 0; i < np; i++) {
			printf("  \"%s\" [shape=box3d, label=\"%s\\n%s\"];\n",
			       prov[i].pci_addr, prov[i].pci_addr,
			       prov[i].kind == P2PV_PROVIDER_NVME_CMB ? "NVMe CMB" : "BAR");
		}
		for (j = 0; j < nd; j++)
			printf("  \"%s\" [shape=ellipse, style=bold];\n", devs[j].name);
		for (i = 0; i < np; i++)
			for (j = 0; j < nd; j++) {
				struct p2pv_path *p = &paths[i * nd + j];

				if (p->num_hops < 0)
					continue;
				for (h = 0; h < p->num_hops; h++) {
					struct p2pv_hop *x = &p->hops[h];
					const char *parent = NULL;

					if (x->is_bridge)
						printf("  \"%s\" [shape=diamond%s];\n",
						       x->pci_addr,
						       x->acs == P2PV_ACS_REDIRECT ?
						       ", color=red, xlabel=\"ACS\"" : "");
					if (x->side == 0)
						parent = h + 1 < p->num_hops &&
							 p->hops[h + 1].side != 1 ?
							 p->hops[h + 1].pci_addr :
							 p->provider_host_bridge;
					else if (x->side == 1)
						parent = h > 0 && p->hops[h - 1].side != 0 ?
							 p->hops[h - 1].pci_addr :
							 p->client_host_bridge;
					if (!parent || !parent[0])
						continue;
					if (!strncmp(parent, "pci", 3))
						printf("  \"%s\" [shape=house];\n", parent);
					printf("  \"%s\" -> \"%s\";\n", parent, x->pci_addr);
				}
				if (devs[j].pci[0])
					printf("  \"%s\" -> \"%s\" [style=dotted, arrowhead=none];\n",
					       devs[j].pci, devs[j].name);
				printf("  \"%s\" -> \"%s\" [style=dashed, constraint=false, label=\"%s/%s [%s]\"%s];\n",
				       prov[i].pci_addr, devs[j].name,
				       p2pv_path_class_str(p->path_class),
				       p2pv_map_mode_str(p->mode),
				       p2pv_answer_source_str(p->source),
				       p->mode == P2PV_MAP_REFUSED ? ", color=red" :
				       p->mode == P2PV_MAP_BUS_ADDR ? ", color=darkgreen" :
				       p->mode == P2PV_MAP_UNKNOWN ? ", color=gray" : "");
			}
		printf("}\n");
	} else {
		printf("P2PDMA providers: %d\n", np);
		for (i = 0; i < np; i++)
			printf("  %-14s %-11s size %llu available %llu%s\n",
			       prov[i].pci_addr,
			       prov[i].kind == P2PV_PROVIDER_NVME_CMB ? "nvme-cmb" : "generic-bar",
			       (unsigned long long)prov[i].size,
			       (unsigned long long)prov[i].available,
			       prov[i].published ? "" : " (not published)");
		printf("RDMA devices: %d\n", nd);
		for (j = 0; j < nd; j++)
			printf("  %-14s %s\n", devs[j].name,
			       devs[j].pci[0] ? devs[j].pci : "(not PCI: CPU access)");
		if (np && nd) {
			printf("\n%-14s", "provider");
			for (j = 0; j < nd; j++)
				printf(" %-24s", devs[j].name);
			printf("\n");
			for (i = 0; i < np; i++) {
				printf("%-14s", prov[i].pci_addr);
				for (j = 0; j < nd; j++) {
					struct p2pv_path *p = &paths[i * nd + j];
					char cell[48];

					if (p->num_hops < 0)
						snprintf(cell, sizeof(cell), "error");
					else
						snprintf(cell, sizeof(cell), "%s/%s/%s",
							 p2pv_path_class_str(p->path_class),
							 p2pv_map_mode_str(p->mode),
							 p2pv_answer_source_str(p->source));
					printf(" %-24s", cell);
				}
				printf("\n");
			}
			printf("(class/mode/source: kernel = the kernel's own decision, sysfs-estimate =\n"
			       " the library's estimate from sysfs where the kernel cannot be asked,\n"
			       " \"unknown\" where sysfs cannot tell without root)\n");
		}
		if (verbose)
			for (i = 0; i < np; i++)
				for (j = 0; j < nd; j++) {
					struct p2pv_path *p = &paths[i * nd + j];

					printf("\n%s -> %s:\n", prov[i].pci_addr, devs[j].name);
					if (p->num_hops < 0) {
						printf("  error\n");
						continue;
					}
					printf("  class %s, mode %s, distance %d, source %s\n  reasons: ",
					       p2pv_path_class_str(p->path_class),
					       p2pv_map_mode_str(p->mode), p->distance,
					       p2pv_answer_source_str(p->source));
					print_reasons(p->reasons);
					printf("\n  %s\n", p->reason);
					for (h = 0; h < p->num_hops; h++)
						printf("    %s%-14s acs %-8s ctrl 0x%04x%s\n",
						       p->hops[h].side == 1 ? "  " : "",
						       p->hops[h].pci_addr,
						       p2pv_acs_state_str(p->hops[h].acs),
						       p->hops[h].acs_ctrl,
						       p->hops[h].side == 2 ? "  (common)" : "");
				}
	}
	free(paths);
	free(devs);
	p2pv_free_provider_list(prov);
	return 0;
}
