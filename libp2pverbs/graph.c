/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * The provider x RDMA device graph, computed once per process and reused.
 * Providers (their chains, open nodes and available memory) are listed when
 * the graph is built; devices join when first named; the path of a pair is
 * computed the first time it is asked for.
 *
 * The graph is dropped and rebuilt lazily when the machine may have changed:
 * every device or driver that comes or goes emits a uevent.  On the real
 * sysfs the library listens for them on a NETLINK_KOBJECT_UEVENT socket
 * (kernel group 1, non-blocking), opened before the graph is built, so that
 * checking for a change costs one recv() that finds nothing; any message at
 * all, or an overflow of the socket, drops the graph.  Where no uevent can
 * reach the process (a user namespace: the kernel sends them to the initial
 * one only), where the socket cannot be opened, and under a fake
 * P2PV_SYSFS_ROOT, the check reads <sysfs>/kernel/uevent_seqnum instead.
 * An operation on a provider that fails with ENODEV drops the graph too, and
 * so does a change of the sysfs root.  Without either source nothing is
 * reused.
 *
 * fork(): a child must not read the parent's socket (a message one of them
 * reads is gone for the other), so the child closes its copy and rebuilds
 * on its first use, listening on a socket of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>

#include "p2pv_priv.h"

static struct p2pv_graph graph = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.seq_fd = -1,
	.uevent_fd = -1,
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
	if (graph.uevent_fd >= 0)
		close(graph.uevent_fd);
	graph.uevent_fd = -1;
	graph.valid = 0;
	pthread_mutex_unlock(&graph.lock);
}

__attribute__((constructor)) static void graph_fork_safe(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void drop_devices(void)
{
	int i;

	for (i = 0; i < graph.ndev; i++) {
		free(graph.dev[i]->chain);
		free(graph.dev[i]->paths);
		free(graph.dev[i]->have);
		free(graph.dev[i]);
	}
	free(graph.dev);
	graph.dev = NULL;
	graph.ndev = 0;
}

static void drop_all(void)
{
	int i;

	drop_devices();
	for (i = 0; i < graph.nprov; i++) {
		free(graph.prov[i].chain);
		if (graph.prov[i].node_fd >= 0)
			close(graph.prov[i].node_fd);
	}
	free(graph.prov);
	graph.prov = NULL;
	graph.nprov = 0;
	graph.valid = 0;
}

void p2pv_graph_invalidate(void)
{
	pthread_mutex_lock(&graph.lock);
	graph.valid = 0;
	pthread_mutex_unlock(&graph.lock);
}

/* The kernel's uevent counter; -1 when it cannot be read */
static int read_seqnum(uint64_t *seq)
{
	char path[PATH_MAX], buf[32], *end;
	ssize_t r;

	if (graph.seq_fd < 0) {
		if (p2pv_fmt(path, sizeof(path), "%s/kernel/uevent_seqnum",
			     graph.root) < 0)
			return -1;
		graph.seq_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (graph.seq_fd < 0)
			return -1;
	}
	r = pread(graph.seq_fd, buf, sizeof(buf) - 1, 0);
	if (r <= 0)
		return -1;
	buf[r] = 0;
	*seq = strtoull(buf, &end, 10);
	return end == buf ? -1 : 0;
}

/* Does this process see the kernel's uevents?  Not from inside a user
 * namespace: uevents of devices go to the initial one's sockets only. */
static int uevents_reach_us(void)
{
	char map[128];
	unsigned long a, b, n;

	if (p2pv_read_str("/proc/self/uid_map", map, sizeof(map)) < 0 ||
	    sscanf(map, "%lu %lu %lu", &a, &b, &n) != 3)
		return 0;
	return a == 0 && b == 0 && n == 4294967295UL;
}

static void uevent_close(void)
{
	if (graph.uevent_fd >= 0)
		close(graph.uevent_fd);
	graph.uevent_fd = -1;
}

static int uevent_open(void)
{
	struct sockaddr_nl sa;
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    NETLINK_KOBJECT_UEVENT);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = 1;	/* the kernel's uevents */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read and discard whatever arrived: 1 if anything did (or the socket
 * overflowed or broke: then it is closed and the counter takes over) */
static int uevent_drain(void)
{
	char c;
	int any = 0;

	for (;;) {
		ssize_t r = recv(graph.uevent_fd, &c, 1, MSG_DONTWAIT | MSG_TRUNC);

		if (r >= 0) {
			any = 1;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return any;
		if (errno == EINTR)
			continue;
		if (errno == ENOBUFS) {		/* overflow: events were lost */
			any = 1;
			continue;
		}
		uevent_close();
		graph.no_uevents = 1;
		return 1;
	}
}

/*
 * Arm the change detection before a build, so that whatever happens from
 * now on is seen by the next check.  A socket armed but never used drains
 * events of the past first.
 */
static void watch_arm(void)
{
	uint64_t seq;

	if (!graph.no_uevents && graph.uevent_fd < 0) {
		if (strcmp(graph.root, "/sys") || !uevents_reach_us() ||
		    (graph.uevent_fd = uevent_open()) < 0)
			graph.no_uevents = 1;
	}
	if (graph.uevent_fd >= 0) {
		uevent_drain();
		if (graph.uevent_fd >= 0)
			return;
	}
	graph.have_seq = read_seqnum(&seq) == 0;
	graph.seqnum = seq;
}

/* 1 if the machine may have changed since watch_arm() */
static int changed(void)
{
	uint64_t seq;

	if (graph.uevent_fd >= 0)
		return uevent_drain();
	if (!graph.have_seq || read_seqnum(&seq) < 0)
		return 1;
	return seq != graph.seqnum;
}

/* A different sysfs root (P2PV_SYSFS_ROOT) is a different machine */
static void check_root(void)
{
	const char *root = p2pv_sysfs_root();

	if (!strcmp(graph.root, root))
		return;
	uevent_close();
	if (graph.seq_fd >= 0)
		close(graph.seq_fd);
	graph.seq_fd = -1;
	graph.no_uevents = 0;
	graph.have_seq = 0;
	graph.valid = 0;
	snprintf(graph.root, sizeof(graph.root), "%s", root);
}

static int build(void)
{
	struct p2pv_provider *list;
	int n, i;

	drop_all();
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
		struct p2pv_graph_provider *gp = &graph.prov[graph.nprov];
		int saved = errno;

		gp->info = list[i];
		gp->chain = malloc(sizeof(*gp->chain));
		if (!gp->chain || p2pv_chain_pci(list[i].pci_addr, gp->chain) < 0) {
			free(gp->chain);
			continue;	/* not reachable as PCI: not usable */
		}
		gp->node_fd = p2pv_node_open(list[i].pci_addr);
		errno = saved;
		graph.nprov++;
	}
	free(list);
	graph.valid = 1;
	return 0;
}

int p2pv_graph_lock(void)
{
	pthread_mutex_lock(&graph.lock);
	check_root();
	if (graph.valid && !changed())
		return 0;
	watch_arm();
	if (build() < 0) {
		pthread_mutex_unlock(&graph.lock);
		return -1;
	}
	return 0;
}

void p2pv_graph_unlock(void)
{
	pthread_mutex_unlock(&graph.lock);
}

/* Provider i's available memory re-read into the cache (0 if unreadable) */
static void refresh_available(int i)
{
	uint64_t avail;
	int saved = errno;

	if (p2pv_provider_available(graph.prov[i].info.pci_addr, &avail) < 0)
		avail = 0;
	graph.prov[i].info.available = avail;
	errno = saved;
}

void p2pv_graph_refresh_available(void)
{
	int i;

	for (i = 0; i < graph.nprov; i++)
		refresh_available(i);
}

/*
 * An allocation of length bytes from provider bdf ended with err (0: it
 * succeeded).  Success or lack of memory re-reads the provider's available
 * memory; after a failure the cache says it cannot serve this length even
 * if the pool's counter says otherwise (ENOMEM: no contiguous range).
 */
void p2pv_graph_note_alloc(const char *bdf, size_t length, int err)
{
	int i;

	pthread_mutex_lock(&graph.lock);
	i = graph.valid ? p2pv_graph_find_provider(bdf) : -1;
	if (i >= 0 && err == ENODEV) {
		graph.valid = 0;	/* the provider went away */
	} else if (i >= 0 && (!err || err == ENOMEM || err == EDQUOT ||
			      err == ENOSPC)) {
		refresh_available(i);
		if (err && length && graph.prov[i].info.available >= length)
			graph.prov[i].info.available = length - 1;
	}
	pthread_mutex_unlock(&graph.lock);
}

/* A buffer of length bytes from bdf was freed: its memory counts as
 * available again (when an MR still holds it, the next allocation that
 * fails for it re-reads the truth) */
void p2pv_graph_note_free(const char *bdf, size_t length)
{
	struct p2pv_provider *p;
	int i;

	pthread_mutex_lock(&graph.lock);
	i = graph.valid ? p2pv_graph_find_provider(bdf) : -1;
	if (i >= 0) {
		p = &graph.prov[i].info;
		if (p->available < p->size)
			p->available = length < p->size - p->available ?
				       p->available + length : p->size;
	}
	pthread_mutex_unlock(&graph.lock);
}

struct p2pv_graph *p2pv_graph_get(void)
{
	return &graph;
}

int p2pv_graph_find_provider(const char *bdf)
{
	int i;

	for (i = 0; i < graph.nprov; i++)
		if (!strcmp(graph.prov[i].info.pci_addr, bdf))
			return i;
	return -1;
}

/* Devices are allocated one by one: callers hold pointers to several */
struct p2pv_graph_device *p2pv_graph_device(const char *ibdev)
{
	struct p2pv_graph_device *d, **tmp;
	int i;

	for (i = 0; i < graph.ndev; i++)
		if (!strcmp(graph.dev[i]->name, ibdev))
			return graph.dev[i];
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
	d->paths = calloc(graph.nprov ? (size_t)graph.nprov : 1, sizeof(*d->paths));
	d->have = calloc(graph.nprov ? (size_t)graph.nprov : 1, 1);
	if (!d->chain || !d->paths || !d->have) {
		p2pv_err(ENOMEM, "out of memory");
		goto fail;
	}
	if (p2pv_chain_ibdev(ibdev, d->chain) < 0)
		goto fail;
	snprintf(d->name, sizeof(d->name), "%s", ibdev);
	/* the kernel names a DMA importer by its PCI function, a CPU importer
	 * by the ib_device's own name */
	snprintf(d->importer, sizeof(d->importer), "%s",
		 d->chain->is_pci ? d->chain->hop[0].pci_addr : ibdev);
	graph.dev[graph.ndev++] = d;
	return d;
fail:
	free(d->chain);
	free(d->paths);
	free(d->have);
	free(d);
	return NULL;
}

const struct p2pv_path *p2pv_graph_path(struct p2pv_graph_device *d, int prov)
{
	struct p2pv_graph_provider *gp = &graph.prov[prov];

	if (!d->have[prov]) {
		p2pv_path_compute(&graph.ctx, gp->chain, d->chain, gp->node_fd,
				  &d->paths[prov]);
		d->have[prov] = 1;
	}
	return &d->paths[prov];
}

P2PV_EXPORT int p2pv_query_path_by_name(const char *provider,
					const char *ibdev_name,
					struct p2pv_path *path, size_t inlen)
{
	struct p2pv_graph_device *d;
	int i, ret = -1;

	if (p2pv_out_check(path, inlen, P2PV_PATH_LEN_1_0, "p2pv_query_path") < 0)
		return -1;
	if (p2pv_parse_bdf(provider, NULL, NULL, NULL, NULL) < 0)
		return -1;
	if (!ibdev_name)
		return p2pv_err(EINVAL, "p2pv_query_path: NULL device");
	if (p2pv_graph_lock() < 0)
		return -1;
	i = p2pv_graph_find_provider(provider);
	if (i < 0) {
		p2pv_graph_unlock();
		return p2pv_err(ENODEV, "%s is not a P2PDMA provider", provider);
	}
	d = p2pv_graph_device(ibdev_name);
	if (d) {
		p2pv_out_fill(path, inlen, p2pv_graph_path(d, i),
			      sizeof(struct p2pv_path));
		ret = 0;
	}
	p2pv_graph_unlock();
	return ret;
}

P2PV_EXPORT int p2pv_query_path(const char *provider, struct ibv_device *device,
				struct p2pv_path *path, size_t inlen)
{
	if (!device)
		return p2pv_err(EINVAL, "p2pv_query_path: NULL device");
	return p2pv_query_path_by_name(provider, device->name, path, inlen);
}

P2PV_EXPORT int p2pv_query_path_ctx(const char *provider,
				    struct ibv_context *ctx,
				    struct p2pv_path *path, size_t inlen)
{
	if (!ctx || !ctx->device)
		return p2pv_err(EINVAL, "p2pv_query_path_ctx: NULL context");
	return p2pv_query_path_by_name(provider, ctx->device->name, path, inlen);
}
