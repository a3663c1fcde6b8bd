/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Private declarations of libp2pverbs. */
#ifndef P2PV_PRIV_H
#define P2PV_PRIV_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <infiniband/p2pverbs.h>

#define P2PV_EXPORT __attribute__((visibility("default")))
/*
 * The registration path: kept together in .text.hot.  Under emulation (TCG)
 * every code or data page a call touches after the kernel ran something else
 * costs microseconds, so the few functions a registration runs share pages.
 */
#define P2PV_HOT __attribute__((hot))

/* error.c: set errno and the thread's message; always returns -1 */
int p2pv_err(int errnum, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* the thread's message without touching errno ("" clears it) */
void p2pv_set_message(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* a diagnostic line on stderr, only when P2PV_DEBUG is set */
void p2pv_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* inlen.c: structs passed with their size (see p2pverbs.h).  The sizes of
 * libp2pverbs 1.0, the least a caller may pass; fields appended later do
 * not change them. */
#define P2PV_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define P2PV_PROVIDER_LEN_1_0	P2PV_END(struct p2pv_provider, numa_node)
#define P2PV_PATH_LEN_1_0	P2PV_END(struct p2pv_path, client_numa_node)
#define P2PV_PTR_INFO_LEN_1_0	P2PV_END(struct p2pv_ptr_info, provider)
#define P2PV_MR_INFO_LEN_1_0	P2PV_END(struct p2pv_mr_info, reg_method)
#define P2PV_BUF_ALLOC_ATTR_LEN_1_0 P2PV_END(struct p2pv_buf_alloc_attr, flags)
/* out non-NULL and inlen large enough: 0, or -1 + EINVAL and a message */
int p2pv_out_check(const void *out, size_t inlen, size_t len_1_0,
		   const char *what);
/* clear inlen bytes of out and copy what fits of src (size bytes) */
void p2pv_out_fill(void *out, size_t inlen, const void *src, size_t size);
/* in non-NULL, inlen large enough (EINVAL), bytes past size zero
 * (EOPNOTSUPP): 0 or -1 */
int p2pv_in_check(const void *in, size_t inlen, size_t len_1_0, size_t size,
		  const char *what);

/* sysfs.c */
/* snprintf that reports truncation: 0 or -1 (ENAMETOOLONG, message set) */
int p2pv_fmt(char *out, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *p2pv_sysfs_root(void);
/* <dirname(sysfs root)>/<sub>: "/proc/cpuinfo", "/dev/p2pmem/<bdf>" */
int p2pv_sibling_path(char *out, size_t n, const char *sub);
int p2pv_read_str(const char *path, char *buf, size_t n);
int p2pv_read_u64(const char *path, uint64_t *val);


/* pciaddr.c: PCI addresses, parsed in one place */
int p2pv_parse_bdf(const char *s, unsigned *dom, unsigned *bus,
		   unsigned *dev, unsigned *fn);
int p2pv_is_bdf(const char *s);
int p2pv_bdf_cmp(const char *a, const char *b);
int p2pv_is_host_bridge_name(const char *s);

/* pciconfig.c: configuration space as sysfs shows it */
#define P2PV_CONFIG_SIZE	4096
#define P2PV_PCIE_TYPE_UNKNOWN	(-1)	/* capability list not readable */
#define P2PV_PCIE_TYPE_NONE	(-2)	/* conventional PCI */
ssize_t p2pv_read_config(const char *dir, uint8_t cfg[P2PV_CONFIG_SIZE]);
enum p2pv_acs_state p2pv_config_acs(const uint8_t *cfg, ssize_t n,
				    uint16_t *ctrl);
int p2pv_config_pcie_type(const uint8_t *cfg, ssize_t n);

/* chain.c: a PCI function and its upstream bridges */
#define P2PV_CHAIN_MAX (P2PV_MAX_HOPS / 2)
struct p2pv_chain {
	int is_pci;		/* 0: no PCI function does its DMA (rxe, siw) */
	char host[P2PV_PCI_ADDR_LEN];		/* "pci0000:00" */
	char host_dir[PATH_MAX];		/* its sysfs directory */
	char dev_dir[PATH_MAX];			/* the function's directory */
	int n;					/* [0] = function, [n-1] = top */
	struct p2pv_hop hop[P2PV_CHAIN_MAX];
	int8_t pcie_type[P2PV_CHAIN_MAX];	/* PCI_EXP_TYPE_* or the above */
	uint8_t upstream_port[P2PV_CHAIN_MAX];	/* a switch's upstream port */
	int iommu;
	int numa_node;				/* -1 unknown */
};
int p2pv_chain_pci(const char *bdf, struct p2pv_chain *c);
int p2pv_chain_ibdev(const char *ibdev, struct p2pv_chain *c);
uint32_t p2pv_dir_class(const char *dir);
int p2pv_dir_numa_node(const char *dir);

/* hostbridge.c; the context caches the CPU check */
struct p2pv_topo_ctx {
	int cpu_checked, cpu_ok;
};
/* 1 allowed, 0 not, -1 unknown (why explains) */
int p2pv_host_bridge_allowed(struct p2pv_topo_ctx *ctx,
			     const struct p2pv_chain *a,
			     const struct p2pv_chain *b, char *why, size_t n);

/* p2pmem_node.c: the provider's node and its ioctls; the kernel decides */
int p2pv_node_open(const char *provider);
/* a new buffer of length bytes as a dma-buf fd, or -1 */
int p2pv_node_alloc(const char *provider, size_t length);
int p2pv_kernel_map_query(int node_fd, const char *client_bdf,
			  struct p2pv_path *path);
int p2pv_kernel_attach_query(int node_fd, int dmabuf_fd, const char *importer,
			     enum p2pv_map_mode *mode, uint32_t *reasons);

/* path.c; node_fd < 0: no kernel answer */
void p2pv_path_compute(struct p2pv_topo_ctx *ctx, const struct p2pv_chain *prov,
		       const struct p2pv_chain *cli, int node_fd,
		       struct p2pv_path *path);

/* provider.c: the providers as sysfs lists them, in this library's struct */
int p2pv_provider_available(const char *bdf, uint64_t *available);
struct p2pv_provider *p2pv_provider_list(int *num);
int p2pv_provider_read(const char *pci_addr, struct p2pv_provider *out);

/* uevent.c: what changed since the watch was armed (P2PV_CHANGED_*);
 * called under the graph's lock */
#define P2PV_CHANGED_DEVICES	1U	/* RDMA devices came or went */
#define P2PV_CHANGED_PROVIDERS	2U	/* p2pmem nodes came or went */
#define P2PV_CHANGED_ALL	3U	/* the PCI topology, or unknown */
void p2pv_watch_forget(const char *root);
void p2pv_watch_arm(void);
unsigned p2pv_watch_changes(void);
void p2pv_watch_fork_child(void);

/* graph.c: the provider x device graph (its structure private to it);
 * every call but the lock and p2pv_graph_invalidate() under the lock */
struct p2pv_graph_device;
/* Lock the graph, brought up to date with what changed: 0 or -1 */
int p2pv_graph_lock(void);
void p2pv_graph_unlock(void);
void p2pv_graph_invalidate(void);
int p2pv_graph_num_providers(void);
const struct p2pv_provider *p2pv_graph_provider(int i);
int p2pv_graph_find_provider(const char *bdf);
struct p2pv_graph_device *p2pv_graph_device(const char *ibdev);
const char *p2pv_graph_device_name(const struct p2pv_graph_device *d);
const struct p2pv_path *p2pv_graph_path(struct p2pv_graph_device *d, int prov);
int p2pv_graph_attach_query(int prov, const struct p2pv_graph_device *d,
			    int dmabuf_fd, enum p2pv_map_mode *mode,
			    uint32_t *reasons, char *importer, size_t n);

/* freemem.c: the free-memory table the allocator keeps */
void p2pv_freemem_seed(const char *bdf, uint64_t available);
int p2pv_freemem_refresh(const char *bdf, uint64_t *available);
uint64_t p2pv_freemem_get(const char *bdf);
void p2pv_freemem_note_alloc(const char *bdf, int err);
void p2pv_freemem_note_free(const char *bdf, uint64_t length);

/* choose.c: p2pv_choose_provider_by_name() skipping the nskip providers
 * of skip (the ones an allocation already failed on) */
int p2pv_choose_skip(const char *const *names, int num, uint64_t min_available,
		     const char (*skip)[P2PV_PCI_ADDR_LEN], int nskip,
		     struct p2pv_provider *out);

/* vma.c: is [start, end) still mapped from the file it was mapped from? */
struct p2pv_vma_id {
	uint64_t dev, ino;
};
int p2pv_vma_identify(uintptr_t addr, struct p2pv_vma_id *id);
int p2pv_vma_matches(uintptr_t start, uintptr_t end,
		     const struct p2pv_vma_id *id);

/*
 * The registries' locks are pthread mutexes: a waiter sleeps instead of
 * spinning, so a SCHED_FIFO thread polling on the CPU of the holder cannot
 * starve it.  Held only around a lookup, an insertion or a removal in
 * memory: no system call, no allocation and no message (P2PV_DEBUG writes
 * to stderr) while one is held; tables grow from memory allocated before
 * the lock is taken.
 */
/* registry.c: sorted, non-overlapping [start, end) ranges, one lock */
struct p2pv_range {
	uintptr_t start, end;
	void *val;
};
struct p2pv_rmap {
	pthread_mutex_t lock;
	struct p2pv_range *r;
	size_t n, cap;
};
#define P2PV_RMAP_INIT { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0 }
int p2pv_rmap_insert(struct p2pv_rmap *m, uintptr_t start, uintptr_t end,
		     void *val);
int p2pv_rmap_remove(struct p2pv_rmap *m, uintptr_t start, void **val);
/* Find the range containing addr; while the lock is held, copy(val, addr,
 * arg) is called.  0 found, -1 (ENOENT) not. */
int p2pv_rmap_lookup(struct p2pv_rmap *m, uintptr_t addr,
		     void (*copy)(void *val, uintptr_t addr, void *arg),
		     void *arg);
size_t p2pv_rmap_count(struct p2pv_rmap *m);
/* Keep M usable across fork(): around fork() its lock is held, so the child
 * gets a consistent map and a usable lock (the child keeps the map: a
 * forked child inherits the buffers).  Called from constructors
 * (single-threaded). */
void p2pv_rmap_fork_safe(struct p2pv_rmap *m);
void p2pv_rmap_destroy(struct p2pv_rmap *m);

/* buf.c: what a registration needs to know of a buffer besides its public
 * fields: the file mapped where the library mapped it, and the buffer's
 * serial (never reused), which its MRs' records carry */
struct p2pv_buf_ref {
	struct p2pv_vma_id mapping;
	uint64_t serial;
};
/* buf_registry.c: the live buffers, and the P2P ones by address range */
struct p2pv_buf_entry {
	struct p2pv_buf pub;		/* first: the user sees &pub */
	struct p2pv_buf_ref ref;
};
int p2pv_buf_register(struct p2pv_buf_entry *e, uintptr_t map_addr);
struct p2pv_buf_entry *p2pv_buf_unregister(struct p2pv_buf *pub);
/* the P2P buffer holding [ptr, ptr + length) (length 0: to its
 * end) if that range is still its mapping; -1 + ENOENT otherwise */
int p2pv_ptr_lookup(const void *ptr, size_t length, struct p2pv_ptr_info *info);
/* The registry's answers only: no system call, no message; -1 + ENOENT */
int p2pv_ptr_find(const void *ptr, struct p2pv_ptr_info *info,
		  struct p2pv_buf_ref *ref);
int p2pv_buf_find(const struct p2pv_buf *buf, struct p2pv_buf_ref *ref);
/* mr_table.c: the records of the MRs the library registered on P2P
 * memory, keyed by verbs context and MR handle (see there) */
struct p2pv_mr_rec {
	const struct ibv_context *context;	/* NULL: free slot */
	uint32_t handle;
	uint32_t lkey, rkey;
	const struct ibv_mr *mr;
	const struct ibv_pd *pd;
	uint64_t serial;		/* this record, for the kept answer */
	uint64_t buf_serial;		/* the buffer the MR is on */
	uint64_t iova;
	uint64_t dmabuf_offset;
	uintptr_t addr;			/* the registered range */
	size_t length;
	struct p2pv_vma_id mapping;	/* the buffer's mapping */
	struct p2pv_mr_info *answer;	/* once p2pv_mr_query() asked */
	int dmabuf_fd;			/* -1 once the buffer is freed */
	uint8_t method;			/* enum p2pv_mr_reg_method as registered */
	char provider[P2PV_PCI_ADDR_LEN];
};
/* rec->context and the keys are taken from mr */
void p2pv_mr_remember(struct ibv_mr *mr, struct p2pv_mr_rec *rec);
/* the record made for mr (answer copied when kept): 0, or -1 */
int p2pv_mr_lookup(const struct ibv_mr *mr, struct p2pv_mr_rec *rec,
		   struct p2pv_mr_info *answer);
/* keep answer in the record of serial; returns what was not kept */
struct p2pv_mr_info *p2pv_mr_keep_answer(const struct ibv_mr *mr,
					 uint64_t serial,
					 struct p2pv_mr_info *answer);
void p2pv_mr_forget(const struct ibv_mr *mr);
/* the buffer of this serial is freed; its MRs' records forget its
 * dma-buf fd (the number may be reused for another file from now on) */
void p2pv_mr_buffer_gone(uint64_t serial);

/* the P2P buffers by address range */
extern struct p2pv_rmap p2pv_p2p_ranges;
/* Has this process any P2P buffer at all?  One load: host memory registered
 * through the library costs no more than that */
static inline int p2pv_any_p2p(void)
{
	return __atomic_load_n(&p2pv_p2p_ranges.n, __ATOMIC_ACQUIRE) != 0;
}

#endif
