/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Providers: PCI functions with a p2pmem/ directory in sysfs. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p2pv_priv.h"

#define PCI_CLASS_STORAGE_EXPRESS 0x010802	/* <linux/pci_ids.h> */

static int provider_dir(char *dir, size_t n, const char *bdf)
{
	return p2pv_fmt(dir, n, "%s/bus/pci/devices/%s", p2pv_sysfs_root(), bdf);
}

/*
 * What userspace may still take of @pool_available bytes: the kernel caps
 * the total of all userspace buffers of a provider at user_limit
 * (/sys/class/p2pmem/<bdf>/); without those files there is no cap.
 */
static uint64_t user_available(const char *bdf, uint64_t pool_available)
{
	char path[PATH_MAX];
	uint64_t limit, allocated;

	if (p2pv_fmt(path, sizeof(path), "%s/class/p2pmem/%s/user_limit",
		     p2pv_sysfs_root(), bdf) < 0 ||
	    p2pv_read_u64(path, &limit) < 0 ||
	    p2pv_fmt(path, sizeof(path), "%s/class/p2pmem/%s/user_allocated",
		     p2pv_sysfs_root(), bdf) < 0 ||
	    p2pv_read_u64(path, &allocated) < 0)
		return pool_available;
	if (allocated >= limit)
		return 0;
	return limit - allocated < pool_available ? limit - allocated :
						    pool_available;
}

int p2pv_provider_available(const char *bdf, uint64_t *available)
{
	char path[PATH_MAX];

	if (p2pv_fmt(path, sizeof(path), "%s/bus/pci/devices/%s/p2pmem/available",
		     p2pv_sysfs_root(), bdf) < 0 ||
	    p2pv_read_u64(path, available) < 0)
		return -1;
	*available = user_available(bdf, *available);
	return 0;
}

static enum p2pv_provider_kind provider_kind(const char *dir, uint32_t class)
{
	char link[PATH_MAX], drv[PATH_MAX];
	const char *base;
	ssize_t r;

	if (class == PCI_CLASS_STORAGE_EXPRESS)
		return P2PV_PROVIDER_NVME_CMB;
	if (class || p2pv_fmt(link, sizeof(link), "%s/driver", dir) < 0)
		return P2PV_PROVIDER_GENERIC_BAR;
	r = readlink(link, drv, sizeof(drv) - 1);
	if (r <= 0)
		return P2PV_PROVIDER_GENERIC_BAR;
	drv[r] = 0;
	base = strrchr(drv, '/') ? strrchr(drv, '/') + 1 : drv;
	return strcmp(base, "nvme") ? P2PV_PROVIDER_GENERIC_BAR :
				      P2PV_PROVIDER_NVME_CMB;
}

static int read_hex(const char *dir, const char *name, uint64_t *v)
{
	char path[PATH_MAX];

	if (p2pv_fmt(path, sizeof(path), "%s/%s", dir, name) < 0)
		return -1;
	return p2pv_read_u64(path, v);
}

static int read_provider(const char *bdf, struct p2pv_provider *p)
{
	char dir[PATH_MAX];
	uint64_t v;

	memset(p, 0, sizeof(*p));
	snprintf(p->pci_addr, sizeof(p->pci_addr), "%s", bdf);
	if (provider_dir(dir, sizeof(dir), bdf) < 0)
		return -1;
	if (read_hex(dir, "p2pmem/size", &p->size) < 0 ||
	    read_hex(dir, "p2pmem/available", &p->available) < 0 ||
	    read_hex(dir, "p2pmem/published", &v) < 0)
		return -1;
	p->published = v != 0;
	if (p->available > p->size)
		return p2pv_err(EINVAL, "%s: p2pmem/available %llu > size %llu",
				bdf, (unsigned long long)p->available,
				(unsigned long long)p->size);
	p->available = user_available(bdf, p->available);
	p->pci_class = p2pv_dir_class(dir);
	if (read_hex(dir, "vendor", &v) == 0)
		p->vendor_id = (uint16_t)v;
	if (read_hex(dir, "device", &v) == 0)
		p->device_id = (uint16_t)v;
	p->numa_node = p2pv_dir_numa_node(dir);
	p->kind = provider_kind(dir, p->pci_class);
	return 0;
}

int p2pv_provider_read(const char *pci_addr, struct p2pv_provider *out)
{
	char p[PATH_MAX];
	struct stat st;

	if (p2pv_parse_bdf(pci_addr, NULL, NULL, NULL, NULL) < 0 ||
	    p2pv_fmt(p, sizeof(p), "%s/bus/pci/devices/%s/p2pmem",
		     p2pv_sysfs_root(), pci_addr) < 0)
		return -1;
	if (stat(p, &st) < 0)
		return p2pv_err(ENODEV, "%s is not a P2PDMA provider (no %s)",
				pci_addr, p);
	return read_provider(pci_addr, out);
}

static int prov_cmp(const void *a, const void *b)
{
	return p2pv_bdf_cmp(((const struct p2pv_provider *)a)->pci_addr,
			    ((const struct p2pv_provider *)b)->pci_addr);
}

P2PV_EXPORT int p2pv_query_provider(const char *pci_addr,
				    struct p2pv_provider *out, size_t inlen)
{
	struct p2pv_provider p;

	if (p2pv_out_check(out, inlen, P2PV_PROVIDER_LEN_1_0,
			   "p2pv_query_provider") < 0 ||
	    p2pv_provider_read(pci_addr, &p) < 0)
		return -1;
	p2pv_out_fill(out, inlen, &p, sizeof(p));
	return 0;
}

struct p2pv_provider *p2pv_provider_list(int *num)
{
	struct p2pv_provider *list = NULL, *tmp;
	char dir[PATH_MAX], p[PATH_MAX];
	size_t n = 0, cap = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;

	*num = 0;
	if (p2pv_fmt(dir, sizeof(dir), "%s/bus/pci/devices", p2pv_sysfs_root()) < 0)
		return NULL;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)	/* no PCI at all: empty list */
			goto empty;
		p2pv_err(EIO, "cannot open %s: %s", dir, strerror(errno));
		return NULL;
	}
	while ((e = readdir(d))) {
		if (!p2pv_is_bdf(e->d_name) ||
		    p2pv_fmt(p, sizeof(p), "%s/%s/p2pmem", dir, e->d_name) < 0 ||
		    stat(p, &st) < 0)
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
		goto empty;
	qsort(list, n, sizeof(*list), prov_cmp);
	*num = (int)n;
	return list;
empty:
	list = calloc(1, sizeof(*list));	/* non-NULL: no provider */
	if (!list)
		p2pv_err(ENOMEM, "out of memory");
	return list;
}

/* The list in the caller's layout: elements inlen bytes apart */
P2PV_EXPORT struct p2pv_provider *p2pv_get_provider_list(int *num, size_t inlen)
{
	struct p2pv_provider *list;
	char *out;
	int n, i;

	if (!num) {
		p2pv_err(EINVAL, "p2pv_get_provider_list: NULL count");
		return NULL;
	}
	*num = 0;
	if (p2pv_out_check(num, inlen, P2PV_PROVIDER_LEN_1_0,
			   "p2pv_get_provider_list") < 0)
		return NULL;
	list = p2pv_provider_list(&n);
	if (!list)
		return NULL;
	out = calloc(n ? (size_t)n : 1, inlen);
	if (!out) {
		free(list);
		p2pv_err(ENOMEM, "out of memory");
		return NULL;
	}
	for (i = 0; i < n; i++)
		p2pv_out_fill(out + (size_t)i * inlen, inlen, &list[i],
			      sizeof(list[i]));
	free(list);
	*num = n;
	return (struct p2pv_provider *)(void *)out;
}

P2PV_EXPORT void p2pv_free_provider_list(struct p2pv_provider *list)
{
	free(list);
}
