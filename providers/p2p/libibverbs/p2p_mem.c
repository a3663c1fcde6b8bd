// SPDX-License-Identifier: GPL-2.0 or Linux-OpenIB
/*
 * PCI peer-to-peer memory for ibv_alloc_buf().
 *
 * A parent domain allocated with IBV_PARENT_DOMAIN_INIT_ATTR_P2P_MEM takes
 * its buffers from a P2P memory provider of the kernel: a PCI function whose
 * BAR memory the kernel publishes as /dev/p2pmem/<pci-name> (an NVMe CMB, a
 * device BAR).  P2PMEM_IOC_ALLOC on that node returns zeroed memory as a
 * dma-buf, so ibv_reg_buf_mr() registers it through the dma-buf MR path and
 * the kernel decides, when the RDMA device attaches, how the device reaches
 * the memory or that it cannot.
 *
 * None of this depends on the RDMA provider: the provider only has to create
 * parent domains and register dma-buf MRs.  The P2P choice is kept here, in
 * a table keyed by the parent domain, because a parent domain is a provider
 * object libibverbs cannot extend.  A request for P2P memory is never
 * answered with host memory: every failure is an errno.
 */

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/p2pmem.h>

#include <ccan/list.h>
#include <util/util.h>

#include "ibverbs.h"

#define P2PMEM_DIR "/dev/p2pmem"

struct p2p_domain {
	struct list_node entry;
	struct ibv_pd *pd;	/* the parent domain handed to the user */
	int node_fd;		/* the provider's node, open for writing */
	char name[NAME_MAX + 1];
	unsigned int nbufs;	/* buffers not yet given back */
};

struct p2p_buf {
	struct ibv_buf ibv_buf;
	size_t map_length;
};

static pthread_mutex_t p2p_domains_lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(p2p_domains);

static struct p2p_domain *find_domain_locked(struct ibv_pd *pd)
{
	struct p2p_domain *d;

	list_for_each(&p2p_domains, d, entry)
		if (d->pd == pd)
			return d;
	return NULL;
}

static const char *map_mode_str(uint32_t mode)
{
	switch (mode) {
	case P2PMEM_MAP_REFUSED:
		return "refused";
	case P2PMEM_MAP_BUS_ADDR:
		return "PCI bus address";
	case P2PMEM_MAP_HOST_BRIDGE:
		return "through the host bridge";
	case P2PMEM_MAP_CPU:
		return "CPU access";
	}
	return "unknown";
}

/*
 * The PCI function of the RDMA device, from sysfs; false for a device with no
 * PCI function behind it (rxe, siw).
 */
static bool device_pci_addr(struct ibv_context *context, uint32_t *domain,
			    uint8_t *bus, uint8_t *devfn)
{
	char path[IBV_SYSFS_PATH_MAX + 32], target[PATH_MAX];
	unsigned int dom, b, dev, fn;
	const char *base;
	ssize_t len;

	snprintf(path, sizeof(path), "%s/device/subsystem",
		 context->device->ibdev_path);
	len = readlink(path, target, sizeof(target) - 1);
	if (len < 0)
		return false;
	target[len] = 0;
	base = strrchr(target, '/');
	if (!base || strcmp(base, "/pci"))
		return false;

	snprintf(path, sizeof(path), "%s/device", context->device->ibdev_path);
	len = readlink(path, target, sizeof(target) - 1);
	if (len < 0)
		return false;
	target[len] = 0;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (sscanf(base, "%x:%x:%x.%x", &dom, &b, &dev, &fn) != 4)
		return false;
	*domain = dom;
	*bus = b;
	*devfn = (dev << 3) | fn;
	return true;
}

/*
 * The kernel's answer for a PCI RDMA device, without allocating: its
 * P2PDMA distance (for choosing the nearest provider) and the reasons of a
 * refusal (for telling the user).  False for a device with no PCI function.
 */
static bool map_query(struct ibv_context *context, int node_fd,
		      struct p2pmem_map_query *q)
{
	memset(q, 0, sizeof(*q));
	if (!device_pci_addr(context, &q->client_domain, &q->client_bus,
			     &q->client_devfn))
		return false;
	return ioctl(node_fd, P2PMEM_IOC_MAP_QUERY, q) == 0;
}

/*
 * Ask the kernel how this RDMA device would reach memory of the provider:
 * allocate one page, register it as a dma-buf MR on the base PD, and read the
 * mode the attachment got (P2PMEM_IOC_ATTACH_QUERY).  This is the decision
 * every MR on this provider's memory will get, for every kind of device, PCI
 * or not.  Returns 0 and the mode, or an errno: EOPNOTSUPP when the kernel
 * refuses the pair or the device cannot register dma-buf MRs.
 */
static int probe_node(struct ibv_pd *pd, int node_fd, uint32_t *mode)
{
	struct p2pmem_alloc req = {
		.size = sysconf(_SC_PAGESIZE),
		.fd_flags = O_RDWR | O_CLOEXEC,
	};
	struct p2pmem_attach_query q = {};
	struct ibv_mr *mr;
	int err = 0;

	if (ioctl(node_fd, P2PMEM_IOC_ALLOC, &req))
		return errno;
	mr = ibv_reg_dmabuf_mr(pd, 0, req.size, 0, req.fd,
			       IBV_ACCESS_LOCAL_WRITE);
	if (!mr) {
		err = errno;
		goto out;
	}
	q.dmabuf_fd = req.fd;
	if (ioctl(node_fd, P2PMEM_IOC_ATTACH_QUERY, &q))
		err = errno;
	else
		*mode = q.mode;
	ibv_dereg_mr(mr);
out:
	close(req.fd);
	return err;
}

static void report_refusal(struct ibv_context *context, int node_fd,
			   const char *name, int err)
{
	struct p2pmem_map_query q;

	if (err != EOPNOTSUPP) {
		verbs_err(verbs_get_ctx(context),
			  "P2P memory: %s for %s: %s\n", name,
			  context->device->name, strerror(err));
		return;
	}
	if (map_query(context, node_fd, &q) && q.mode == P2PMEM_MAP_REFUSED)
		verbs_err(verbs_get_ctx(context),
			  "P2P memory: the kernel refuses %s to %s (reasons 0x%x)\n",
			  name, context->device->name, q.reasons);
	else
		verbs_err(verbs_get_ctx(context),
			  "P2P memory: %s cannot register a dma-buf MR of %s: the kernel refused the attachment or the provider has no dma-buf MRs\n",
			  context->device->name, name);
}

static int open_node(const char *name)
{
	char path[sizeof(P2PMEM_DIR) + NAME_MAX + 1];

	snprintf(path, sizeof(path), P2PMEM_DIR "/%s", name);
	return open(path, O_RDWR | O_CLOEXEC);
}

/*
 * A provider named by its PCI name or its node path: the kernel must accept
 * the pair; nothing else is tried.
 */
static int choose_named(struct ibv_pd *pd, const char *p2p_mem,
			struct p2p_domain *d)
{
	struct ibv_context *context = pd->context;
	const char *name = p2p_mem;
	uint32_t mode;
	int err;

	if (!strncmp(name, P2PMEM_DIR "/", sizeof(P2PMEM_DIR)))
		name += sizeof(P2PMEM_DIR);
	if (!*name || strchr(name, '/') || strlen(name) >= sizeof(d->name) ||
	    name[0] == '.')
		return EINVAL;

	d->node_fd = open_node(name);
	if (d->node_fd < 0) {
		err = errno;
		verbs_err(verbs_get_ctx(context),
			  "P2P memory: %s/%s: %s\n", P2PMEM_DIR, name,
			  strerror(err));
		return err;
	}
	err = probe_node(pd, d->node_fd, &mode);
	if (err) {
		report_refusal(context, d->node_fd, name, err);
		close(d->node_fd);
		return err;
	}
	snprintf(d->name, sizeof(d->name), "%s", name);
	verbs_debug(verbs_get_ctx(context), "P2P memory: %s reaches %s by %s\n",
		    context->device->name, name, map_mode_str(mode));
	return 0;
}

/* Order of preference of the kernel's mapping modes: lower is nearer. */
static int mode_rank(uint32_t mode)
{
	switch (mode) {
	case P2PMEM_MAP_BUS_ADDR:
		return 0;
	case P2PMEM_MAP_HOST_BRIDGE:
		return 1;
	default:
		return 2;
	}
}

/*
 * "The provider nearest to this device": of the providers the kernel lets the
 * device attach to, the one with the best mode (bus address, then host
 * bridge, then CPU access), then the shortest P2PDMA distance for a PCI
 * device, then the first name.  The first error stands for all when none is
 * usable; ENODEV when the kernel publishes no provider at all.
 */
static int choose_nearest(struct ibv_pd *pd, struct p2p_domain *d)
{
	struct ibv_context *context = pd->context;
	int best_rank = INT_MAX, best_dist = INT_MAX, first_err = 0;
	struct dirent **names;
	int n, i;

	d->node_fd = -1;
	n = scandir(P2PMEM_DIR, &names, NULL, alphasort);
	if (n < 0)
		n = 0;
	for (i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		struct p2pmem_map_query q;
		int fd, err, rank, dist;
		uint32_t mode;

		if (name[0] == '.')
			continue;
		fd = open_node(name);
		err = fd < 0 ? errno : probe_node(pd, fd, &mode);
		if (err) {
			if (fd >= 0)
				report_refusal(context, fd, name, err);
			if (!first_err)
				first_err = err;
			if (fd >= 0)
				close(fd);
			continue;
		}
		rank = mode_rank(mode);
		dist = map_query(context, fd, &q) && q.distance >= 0 ?
			       q.distance : INT_MAX;
		if (rank < best_rank || (rank == best_rank && dist < best_dist)) {
			if (d->node_fd >= 0)
				close(d->node_fd);
			d->node_fd = fd;
			snprintf(d->name, sizeof(d->name), "%s", name);
			best_rank = rank;
			best_dist = dist;
		} else {
			close(fd);
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	if (n > 0)
		free(names);

	if (d->node_fd >= 0) {
		verbs_debug(verbs_get_ctx(context),
			    "P2P memory: nearest provider of %s is %s\n",
			    context->device->name, d->name);
		return 0;
	}
	if (!first_err) {
		verbs_err(verbs_get_ctx(context),
			  "P2P memory: the kernel has no P2P memory provider (%s is empty or missing)\n",
			  P2PMEM_DIR);
		return ENODEV;
	}
	return first_err;
}

struct ibv_pd *_ibv_alloc_p2p_parent_domain(struct ibv_context *context,
					    struct ibv_parent_domain_init_attr *attr)
{
	struct ibv_parent_domain_init_attr provider_attr = *attr;
	struct p2p_domain *d;
	int err;

	if (!attr->pd || attr->pd->context != context) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		errno = ENOMEM;
		return NULL;
	}

	err = attr->p2p_mem ? choose_named(attr->pd, attr->p2p_mem, d) :
			      choose_nearest(attr->pd, d);
	if (err)
		goto err_free;

	/* The provider makes the parent domain with every other attribute. */
	provider_attr.comp_mask &= ~IBV_PARENT_DOMAIN_INIT_ATTR_P2P_MEM;
	d->pd = get_ops(context)->alloc_parent_domain(context, &provider_attr);
	if (!d->pd) {
		err = errno;
		verbs_err(verbs_get_ctx(context),
			  "P2P memory: %s cannot create a parent domain: %s\n",
			  context->device->name, strerror(err));
		goto err_close;
	}

	pthread_mutex_lock(&p2p_domains_lock);
	list_add_tail(&p2p_domains, &d->entry);
	pthread_mutex_unlock(&p2p_domains_lock);
	return d->pd;

err_close:
	close(d->node_fd);
err_free:
	free(d);
	errno = err;
	return NULL;
}

bool p2p_domain_alloc_buf(struct ibv_pd *pd, size_t size,
			  struct ibv_buf **buf, void **addr)
{
	size_t page = sysconf(_SC_PAGESIZE);
	struct p2pmem_alloc req = {
		.fd_flags = O_RDWR | O_CLOEXEC,
	};
	struct p2p_domain *d;
	struct p2p_buf *pbuf;
	void *p;
	int err;

	pthread_mutex_lock(&p2p_domains_lock);
	d = find_domain_locked(pd);
	if (!d) {
		pthread_mutex_unlock(&p2p_domains_lock);
		return false;
	}

	*addr = NULL;
	if (!size || size > SIZE_MAX - page) {
		err = EINVAL;
		goto out;
	}
	pbuf = calloc(1, sizeof(*pbuf));
	if (!pbuf) {
		err = ENOMEM;
		goto out;
	}
	pbuf->map_length = align(size, page);
	req.size = pbuf->map_length;
	if (ioctl(d->node_fd, P2PMEM_IOC_ALLOC, &req)) {
		err = errno;
		verbs_err(verbs_get_ctx(pd->context),
			  "P2P memory: %zu bytes from %s: %s\n", size, d->name,
			  strerror(err));
		goto err_free;
	}
	p = mmap(NULL, pbuf->map_length, PROT_READ | PROT_WRITE, MAP_SHARED,
		 req.fd, 0);
	if (p == MAP_FAILED) {
		err = errno;
		close(req.fd);
		goto err_free;
	}
	ibv_buf_init_dmabuf(&pbuf->ibv_buf, pd, p, size, req.fd);
	d->nbufs++;
	*buf = &pbuf->ibv_buf;
	*addr = p;
	err = 0;
	goto out;

err_free:
	free(pbuf);
out:
	pthread_mutex_unlock(&p2p_domains_lock);
	if (err)
		errno = err;
	return true;
}

bool p2p_domain_free_buf(struct ibv_buf *buf)
{
	struct p2p_buf *pbuf = container_of(buf, struct p2p_buf, ibv_buf);
	struct p2p_domain *d;

	pthread_mutex_lock(&p2p_domains_lock);
	d = find_domain_locked(buf->pd);
	if (d) {
		munmap(buf->addr, pbuf->map_length);
		close(buf->dmabuf_fd);
		d->nbufs--;
		free(pbuf);
	}
	pthread_mutex_unlock(&p2p_domains_lock);
	return d;
}

bool p2p_domain_dealloc(struct ibv_pd *pd, int *ret)
{
	struct p2p_domain *d;

	pthread_mutex_lock(&p2p_domains_lock);
	d = find_domain_locked(pd);
	if (!d) {
		pthread_mutex_unlock(&p2p_domains_lock);
		return false;
	}
	if (d->nbufs) {
		/* The buffers' handles point at this parent domain. */
		*ret = EBUSY;
	} else {
		*ret = get_ops(pd->context)->dealloc_pd(pd);
		if (!*ret) {
			list_del(&d->entry);
			close(d->node_fd);
			free(d);
		}
	}
	pthread_mutex_unlock(&p2p_domains_lock);
	return true;
}
