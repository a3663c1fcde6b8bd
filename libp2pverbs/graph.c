/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * The topology cache: the provider x RDMA device graph, computed once per
 * process and reused.  Providers (their chains and open nodes) are listed
 * when the graph is built; devices join when first named; the path of a
 * pair is computed the first time it is asked for.
 *
 * What the watch (uevent.c) reports decides what is dropped, lazily, on the
 * next use: a change of RDMA devices drops the devices only; a change of
 * the p2pmem nodes re-lists the providers and drops the devices' paths but
 * keeps their chains; a change on the PCI bus drops everything.  An
 * operation on a provider that fails with ENODEV drops everything too, and
 * so does a change of the sysfs root.  The structure is private to this
 * file: the rest of the library asks through the functions below, under
 * p2pv_graph_lock().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p2pv_priv.h"

struct graph_provider {
	struct p2pv_provider info;	/* as listed when the graph was built */
	struct p2pv_chain *chain;
	int node_fd;			/* -1: node missing or not ours */
};

struct p2pv_graph_device {
	char name[64];
	char importer[64];		/* the kernel's name of the importer */
	struct p2pv_chain *chain;
	struct p2pv_path *paths;	/* [provider], when have[provider] */
	uint8_t *have;
};

static struct {
	pthread_mutex_t lock;
	unsigned stale;			/* P2PV_CHANGED_* not rebuilt yet */
	char root[PATH_MAX];
	struct p2pv_topo_ctx ctx;
	struct graph_provider *prov;
	int nprov;
	struct p2pv_graph_device **dev;
	int ndev;
} graph = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.stale = P2PV_CHANGED_ALL,
};

static void fork_prepare(void)
{
	pthread_mutex_lock(&graph.lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&graph.lock);
}

static void fork_child(void)
{
	p2pv_watch_fork_child();
	graph.stale = P2PV_CHANGED_ALL;
	pthread_mutex_unlock(&graph.lock);
}

__attribute__((constructor)) static void graph_fork_safe(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void drop_device_paths(struct p2pv_graph_device *d)
{
	free(d->paths);
	free(d->have);
	d->paths = NULL;
	d->have = NULL;
}

static void drop_devices(void)
{
	int i;

	for (i = 0; i < graph.ndev; i++) {
		drop_device_paths(graph.dev[i]);
		free(graph.dev[i]->chain);
		free(graph.dev[i]);
	}
	free(graph.dev);
	graph.dev = NULL;
	graph.ndev = 0;
}

static void drop_providers(void)
{
	int i;

	for (i = 0; i < graph.nprov; i++) {
		free(graph.prov[i].chain);
		if (graph.prov[i].node_fd >= 0)
			close(graph.prov[i].node_fd);
	}
	free(graph.prov);
	graph.prov = NULL;
	graph.nprov = 0;
}

void p2pv_graph_invalidate(void)
{
	pthread_mutex_lock(&graph.lock);
	graph.stale = P2PV_CHANGED_ALL;
	pthread_mutex_unlock(&graph.lock);
}

/* The providers as sysfs lists them now, their chains and nodes; the
 * free-memory table learns what each has available */
static int list_providers(void)
{
	struct p2pv_provider *list;
	int n, i;

	drop_providers();
	memset(&graph.ctx, 0, sizeof(graph.ctx));
	list = p2pv_provider_list(&n);
	if (!list)
		return -1;
	graph.prov = calloc(n ? (size_t)n : 1, sizeof(*graph.prov));
	if (!graph.prov) {
		free(list);
		return p2pv_err(ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		struct graph_provider *gp = &graph.prov[graph.nprov];
		int saved = errno;

		gp->info = list[i];
		gp->chain = malloc(sizeof(*gp->chain));
		if (!gp->chain || p2pv_chain_pci(list[i].pci_addr, gp->chain) < 0) {
			free(gp->chain);
			continue;	/* not reachable as PCI: not usable */
		}
		gp->node_fd = p2pv_node_open(list[i].pci_addr);
		errno = saved;
		p2pv_freemem_seed(list[i].pci_addr, list[i].available);
		graph.nprov++;
	}
	free(list);
	return 0;
}

/* Bring what the watch reported up to date; locked */
static int rebuild(unsigned what)
{
	int i;

	if (what & P2PV_CHANGED_DEVICES)
		drop_devices();
	if (what & P2PV_CHANGED_PROVIDERS) {
		for (i = 0; i < graph.ndev; i++)
			drop_device_paths(graph.dev[i]);	/* sized by provider */
		if (list_providers() < 0)
			return -1;
	}
	return 0;
}

int p2pv_graph_lock(void)
{
	const char *root = p2pv_sysfs_root();

	pthread_mutex_lock(&graph.lock);
	/* a different sysfs root (P2PV_SYSFS_ROOT) is a different machine */
	if (strcmp(graph.root, root)) {
		snprintf(graph.root, sizeof(graph.root), "%s", root);
		p2pv_watch_forget(root);
		graph.stale = P2PV_CHANGED_ALL;
	}
	if (graph.stale == P2PV_CHANGED_ALL)
		p2pv_watch_arm();	/* before the build: nothing is missed */
	else
		graph.stale |= p2pv_watch_changes();
	if (graph.stale && rebuild(graph.stale) < 0) {
		graph.stale = P2PV_CHANGED_ALL;
		pthread_mutex_unlock(&graph.lock);
		return -1;
	}
	graph.stale = 0;
	return 0;
}

void p2pv_graph_unlock(void)
{
	pthread_mutex_unlock(&graph.lock);
}

int p2pv_graph_num_providers(void)
{
	return graph.nprov;
}

const struct p2pv_provider *p2pv_graph_provider(int i)
{
	return &graph.prov[i].info;
}

int p2pv_graph_find_provider(const char *bdf)
{
	int i;

	for (i = 0; i < graph.nprov; i++)
		if (!strcmp(graph.prov[i].info.pci_addr, bdf))
			return i;
	return -1;
}

const char *p2pv_graph_device_name(const struct p2pv_graph_device *d)
{
	return d->name;
}

/* room for the paths of every provider; 0 or -1 */
static int device_paths(struct p2pv_graph_device *d)
{
	size_t n = graph.nprov ? (size_t)graph.nprov : 1;

	if (d->paths)
		return 0;
	d->paths = calloc(n, sizeof(*d->paths));
	d->have = calloc(n, 1);
	if (d->paths && d->have)
		return 0;
	drop_device_paths(d);
	return p2pv_err(ENOMEM, "out of memory");
}

/* Devices are allocated one by one: callers hold pointers to several */
struct p2pv_graph_device *p2pv_graph_device(const char *ibdev)
{
	struct p2pv_graph_device *d, **tmp;
	int i;

	for (i = 0; i < graph.ndev; i++)
		if (!strcmp(graph.dev[i]->name, ibdev))
			return device_paths(graph.dev[i]) < 0 ? NULL : graph.dev[i];
	if (strlen(ibdev) >= sizeof(d->name)) {
		p2pv_err(EINVAL, "RDMA device name too long: %.32s...", ibdev);
		return NULL;
	}
	tmp = realloc(graph.dev, (size_t)(graph.ndev + 1) * sizeof(*tmp));
	if (!tmp) {
		p2pv_err(ENOMEM, "out of memory");
		return NULL;
	}
	graph.dev = tmp;
	d = calloc(1, sizeof(*d));
	if (!d) {
		p2pv_err(ENOMEM, "out of memory");
		return NULL;
	}
	d->chain = malloc(sizeof(*d->chain));
	if (!d->chain) {
		p2pv_err(ENOMEM, "out of memory");
		goto fail;
	}
	if (p2pv_chain_ibdev(ibdev, d->chain) < 0 || device_paths(d) < 0)
		goto fail;
	snprintf(d->name, sizeof(d->name), "%s", ibdev);
	/* the kernel names a DMA importer by its PCI function, a CPU importer
	 * by the ib_device's own name */
	snprintf(d->importer, sizeof(d->importer), "%s",
		 d->chain->is_pci ? d->chain->hop[0].pci_addr : ibdev);
	graph.dev[graph.ndev++] = d;
	return d;
fail:
	drop_device_paths(d);
	free(d->chain);
	free(d);
	return NULL;
}

const struct p2pv_path *p2pv_graph_path(struct p2pv_graph_device *d, int prov)
{
	struct graph_provider *gp = &graph.prov[prov];

	if (!d->have[prov]) {
		p2pv_path_compute(&graph.ctx, gp->chain, d->chain, gp->node_fd,
				  &d->paths[prov]);
		d->have[prov] = 1;
	}
	return &d->paths[prov];
}

/*
 * What the attachment of dmabuf_fd by device d got, from the exporter
 * (P2PMEM_IOC_ATTACH_QUERY on the provider's node): 0 with *mode, *reasons
 * and the importer's name, or -1 (no node, no such attachment).  A
 * provider gone (ENODEV) drops the graph.
 */
int p2pv_graph_attach_query(int prov, const struct p2pv_graph_device *d,
			    int dmabuf_fd, enum p2pv_map_mode *mode,
			    uint32_t *reasons, char *importer, size_t n)
{
	int fd = graph.prov[prov].node_fd;

	if (fd < 0 || dmabuf_fd < 0)
		return -1;
	if (p2pv_kernel_attach_query(fd, dmabuf_fd, d->importer, mode,
				     reasons) < 0) {
		if (errno == ENODEV)
			graph.stale = P2PV_CHANGED_ALL;
		return -1;
	}
	snprintf(importer, n, "%s", d->importer);
	return 0;
}
