/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Private declarations of libp2pverbs. */
#ifndef P2PV_PRIV_H
#define P2PV_PRIV_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/p2pverbs.h>

#define P2PV_EXPORT __attribute__((visibility("default")))

/* error.c: set errno and the thread's message; always returns -1 */
int p2pv_err(int errnum, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* sysfs.c */
/* snprintf that reports truncation: 0 or -1 (ENAMETOOLONG, message set) */
int p2pv_fmt(char *out, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *p2pv_sysfs_root(void);
/* <dirname(sysfs root)>/<sub>: "/proc/cpuinfo", "/dev/p2pmem/<bdf>" */
int p2pv_sibling_path(char *out, size_t n, const char *sub);
int p2pv_dev_path(char *out, size_t n, const char *bdf);
int p2pv_read_str(const char *path, char *buf, size_t n);
int p2pv_read_u64(const char *path, uint64_t *val);
int p2pv_parse_bdf(const char *s, unsigned *dom, unsigned *bus,
		   unsigned *dev, unsigned *fn);
int p2pv_is_bdf(const char *s);
int p2pv_bdf_cmp(const char *a, const char *b);

/* topo.c: a PCI function and its upstream bridges */
struct p2pv_chain {
	int is_pci;
	char host[P2PV_PCI_ADDR_LEN];		/* "pci0000:00" */
	char host_dir[PATH_MAX];		/* its sysfs directory */
	char dev_dir[PATH_MAX];			/* the function's directory */
	int n;					/* [0] = function, [n-1] = top */
	struct p2pv_hop hop[P2PV_MAX_HOPS / 2];
	int iommu;
};
int p2pv_chain_pci(const char *bdf, struct p2pv_chain *c);
int p2pv_chain_ibdev(const char *ibdev, struct p2pv_chain *c);
/* per-call context caching the host-bridge decisions */
struct p2pv_topo_ctx {
	int cpu_checked, cpu_ok;
};
void p2pv_path_compute(struct p2pv_topo_ctx *ctx, const char *provider,
		       const struct p2pv_chain *prov,
		       const struct p2pv_chain *cli, struct p2pv_path *path);

/* registry.c: sorted, non-overlapping [start, end) ranges, rwlock */
struct p2pv_range {
	uintptr_t start, end;
	void *val;
};
struct p2pv_rmap {
	pthread_rwlock_t lock;
	struct p2pv_range *r;
	size_t n, cap;
};
#define P2PV_RMAP_INIT { PTHREAD_RWLOCK_INITIALIZER, NULL, 0, 0 }
int p2pv_rmap_insert(struct p2pv_rmap *m, uintptr_t start, uintptr_t end,
		     void *val);
int p2pv_rmap_remove(struct p2pv_rmap *m, uintptr_t start, void **val);
/* Find the range containing addr; while the read lock is held, copy(val,
 * addr, arg) is called.  0 found, -1 (ENOENT) not. */
int p2pv_rmap_lookup(struct p2pv_rmap *m, uintptr_t addr,
		     void (*copy)(void *val, uintptr_t addr, void *arg),
		     void *arg);
size_t p2pv_rmap_count(struct p2pv_rmap *m);
/* Keep M usable across fork(): around fork() its lock is held, so the child
 * gets a consistent map and a usable lock; DROP, when not NULL, empties the
 * child's copy value by value.  Called from constructors (single-threaded). */
void p2pv_rmap_fork_safe(struct p2pv_rmap *m, void (*drop)(void *val));
void p2pv_rmap_destroy(struct p2pv_rmap *m);

/* mr.c, used by libp2pverbs-preload.so (private symbol version) */
struct ibv_mr *__p2pv_route_reg_mr(struct ibv_pd *pd, void *addr,
				   size_t length, uint64_t iova,
				   unsigned int access, int *handled);
void __p2pv_forget_mr(const struct ibv_mr *mr);

#endif
