/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * libp2pverbs: PCI peer-to-peer (P2PDMA) memory for RDMA verbs.
 *
 * Finds the P2PDMA providers of the machine (NVMe controller memory buffers
 * and other published PCI BARs), tells how an RDMA device would reach each of
 * them, allocates P2P buffers as dma-bufs and registers them as memory
 * regions through ibv_reg_dmabuf_mr().
 *
 * One error model: a function returning int returns 0 (or a documented
 * non-negative answer) on success and -1 with errno set on failure; a
 * function returning a pointer returns NULL with errno set.  Every failure
 * also leaves a one-line message that p2pv_last_error() returns.  The library
 * writes nothing to stderr unless P2PV_DEBUG is set in the environment.
 *
 * ABI (libp2pverbs 1.0, symbol version P2PVERBS_1.0; each later release
 * adds its symbols in a version node of its own): every struct starts with
 * comp_mask.  A struct the caller allocates for the library to fill is
 * passed with its size, inlen = sizeof(*out) as the caller was compiled:
 * the library checks it (EINVAL below the 1.0 size), clears inlen bytes and
 * fills the fields it knows that fit, and comp_mask names the optional
 * fields (P2PV_*_MASK_*) it filled.  An input attribute struct is passed the
 * same way; comp_mask names the optional fields the caller set, and bytes
 * past what this library knows must be zero (else EOPNOTSUPP).  So a
 * program built against an older header keeps working with a newer
 * library, and a newer program gets a clear error from an older one.
 *
 * File descriptors the library hands out (dmabuf_fd of p2pv_buf,
 * p2pv_ptr_info, p2pv_mr_info) stay the library's: valid until the buffer
 * is freed, never to be closed by the caller (dup() one to keep it).
 */
#ifndef INFINIBAND_P2PVERBS_H
#define INFINIBAND_P2PVERBS_H

#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "dddd:bb:dd.f" plus room for a longer domain, NUL terminated */
#define P2PV_PCI_ADDR_LEN 20
/* Most PCI functions reported on one path (provider side + client side) */
#define P2PV_MAX_HOPS 32

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Message of the last failure in this thread ("" if none). */
const char *p2pv_last_error(void);

/* ------------------------------------------------------------------ */
/* Providers                                                           */
/* ------------------------------------------------------------------ */

enum p2pv_provider_kind {
	P2PV_PROVIDER_GENERIC_BAR = 0,	/* any other PCI BAR published to P2PDMA */
	P2PV_PROVIDER_NVME_CMB = 1,	/* NVMe controller memory buffer */
};

struct p2pv_provider {
	uint64_t comp_mask;			/* out: no optional field yet */
	char pci_addr[P2PV_PCI_ADDR_LEN];	/* e.g. "0000:01:00.0" */
	uint64_t size;				/* p2pmem/size, bytes */
	uint64_t available;			/* bytes an allocation can get now:
						 * p2pmem/available, at most what the
						 * kernel's user_limit still allows */
	enum p2pv_provider_kind kind;
	int published;				/* p2pmem/published */
	uint32_t pci_class;			/* 24-bit class code, 0 if unknown */
	uint16_t vendor_id;
	uint16_t device_id;
	int numa_node;				/* -1 if unknown */
};

/*
 * Array of every P2PDMA provider (published or not), sorted by PCI address;
 * its elements are inlen = sizeof(struct p2pv_provider) bytes apart, as the
 * caller was compiled.  Returns NULL on failure; an empty list is a valid
 * result (*num = 0, the returned pointer is non-NULL).  Free with
 * p2pv_free_provider_list().
 */
struct p2pv_provider *p2pv_get_provider_list(int *num_providers, size_t inlen);
void p2pv_free_provider_list(struct p2pv_provider *list);
/* One provider by PCI address. 0 on success, -1 + errno otherwise (EINVAL
 * malformed address, ENODEV no such provider: the same as every call). */
int p2pv_query_provider(const char *pci_addr, struct p2pv_provider *out,
			size_t inlen);

/* ------------------------------------------------------------------ */
/* Paths                                                               */
/* ------------------------------------------------------------------ */

/* Topological class of the path between a provider and a client, from the
 * closest to the farthest, with NCCL's meaning of PIX/PXB/PHB/SYS. */
enum p2pv_path_class {
	P2PV_PATH_DEV = 0,	/* same PCI device (same or sibling function) */
	P2PV_PATH_PIX = 1,	/* below a common bridge, crossing at most one switch */
	P2PV_PATH_PXB = 2,	/* below a common bridge, crossing several switches */
	P2PV_PATH_PHB = 3,	/* through a host bridge, within one NUMA node */
	P2PV_PATH_SYS = 4,	/* across NUMA nodes (the inter-socket link) */
	P2PV_PATH_CPU = 5,	/* the client has no DMA of its own (rxe, siw) */
};

/* How the client reaches the memory; values 0-3 are the kernel UAPI's. */
enum p2pv_map_mode {
	P2PV_MAP_REFUSED = 0,
	P2PV_MAP_BUS_ADDR = 1,
	P2PV_MAP_HOST_BRIDGE = 2,
	P2PV_MAP_CPU = 3,
	/* no kernel answer, and sysfs cannot tell (ACS or the host bridge
	 * unreadable without root): never an optimistic guess */
	P2PV_MAP_UNKNOWN = 4,
};

/* Reason bits; same values as the kernel's P2PMEM_REASON_* */
#define P2PV_REASON_ACS_REDIRECT	(1U << 0)
#define P2PV_REASON_NO_COMMON_BRIDGE	(1U << 1)
#define P2PV_REASON_HOST_BRIDGE_DENIED	(1U << 2)
#define P2PV_REASON_NOT_PCI		(1U << 3)
#define P2PV_REASON_IOMMU		(1U << 4)
/* the kernel accepts only importers that can be revoked (rxe, irdma, mlx5
 * ODP dma-buf MRs); others fail at registration with EOPNOTSUPP */
#define P2PV_REASON_REVOCABLE_ONLY	(1U << 5)

/* Where the mode of a path or an MR came from.  The kernel's answers decide
 * wherever the kernel gives them; an estimate from sysfs stands in only
 * where it cannot (no node, or not allowed to open it), and says so. */
enum p2pv_answer_source {
	P2PV_SOURCE_SYSFS_ESTIMATE = 0,	/* the library's estimate from sysfs */
	P2PV_SOURCE_KERNEL = 1,	/* P2PMEM_IOC_MAP_QUERY on /dev/p2pmem/<bdf> */
	P2PV_SOURCE_ATTACHMENT = 2, /* what the MR's attachment got
				     * (P2PMEM_IOC_ATTACH_QUERY) */
};
/* "sysfs-estimate", "kernel", "attachment" */
const char *p2pv_answer_source_str(enum p2pv_answer_source s);

/* ACS state of one PCI function on a path.  struct p2pv_hop is an element
 * of p2pv_path's hops[] and not extensible itself: a new per-hop field
 * would come as a new array in p2pv_path. */
enum p2pv_acs_state {
	P2PV_ACS_NONE = 0,	/* no ACS capability */
	P2PV_ACS_OFF = 1,	/* capability present, no redirect bit set */
	P2PV_ACS_REDIRECT = 2,	/* RR, CR or EC set: P2P TLPs go upstream */
	P2PV_ACS_UNKNOWN = 3,	/* config space not readable (not root?) */
};

struct p2pv_hop {
	char pci_addr[P2PV_PCI_ADDR_LEN];
	enum p2pv_acs_state acs;
	uint16_t acs_ctrl;		/* ACS control register when known */
	uint8_t is_bridge;		/* PCI class 0x0604 */
	uint8_t side;			/* 0 provider side, 1 client side, 2 common */
};

enum p2pv_path_mask {
	/* provider_numa_node and client_numa_node */
	P2PV_PATH_MASK_NUMA = 1 << 0,
};

struct p2pv_path {
	uint64_t comp_mask;		/* out: P2PV_PATH_MASK_* filled */
	enum p2pv_path_class path_class;
	enum p2pv_map_mode mode;
	uint32_t reasons;		/* P2PV_REASON_* */
	int distance;			/* P2PDMA distance in hops, -1 if refused */
	enum p2pv_answer_source source;
	int acs_redirects;		/* functions with ACS redirect on the path */
	int acs_unknown;		/* functions whose ACS state is unknown */
	int iommu;			/* client has an IOMMU group */
	char client_pci_addr[P2PV_PCI_ADDR_LEN];	/* "" if not PCI */
	char provider_host_bridge[P2PV_PCI_ADDR_LEN];	/* e.g. "pci0000:00" */
	char client_host_bridge[P2PV_PCI_ADDR_LEN];
	int num_hops;			/* provider ... common ... client */
	struct p2pv_hop hops[P2PV_MAX_HOPS];
	char reason[256];		/* one-line human readable explanation */
	int provider_numa_node;		/* P2PV_PATH_MASK_NUMA; -1 unknown */
	int client_numa_node;		/* P2PV_PATH_MASK_NUMA; -1 unknown */
};

/* Path from the provider (PCI address) to an RDMA device. 0 or -1 + errno;
 * inlen = sizeof(*path). */
int p2pv_query_path(const char *provider, struct ibv_device *device,
		    struct p2pv_path *path, size_t inlen);
int p2pv_query_path_ctx(const char *provider, struct ibv_context *ctx,
			struct p2pv_path *path, size_t inlen);
/* Same, naming the RDMA device as in /sys/class/infiniband/<name>. */
int p2pv_query_path_by_name(const char *provider, const char *ibdev_name,
			    struct p2pv_path *path, size_t inlen);

const char *p2pv_path_class_str(enum p2pv_path_class c);	/* "PIX" ... */
const char *p2pv_map_mode_str(enum p2pv_map_mode m);		/* "bus-addr" ... */
const char *p2pv_acs_state_str(enum p2pv_acs_state s);

/* ------------------------------------------------------------------ */
/* Choosing a provider                                                 */
/* ------------------------------------------------------------------ */

/*
 * Nearest provider usable by all of the given RDMA devices with at least
 * min_available bytes available (0: any non-exhausted provider); with no
 * device (num_devices 0) the provider with the most memory available.
 * Ranking: worst mode (bus-addr, host-bridge, cpu, then unknown: a path
 * nobody confirmed never beats a confirmed one), then summed path class,
 * then summed distance, then most available, then PCI address.
 * Unpublished, exhausted and refused providers are skipped.  The provider
 * x device graph is computed once per process and kept up to date by the
 * kernel's uevents (PCI functions, RDMA devices, p2pmem nodes coming or
 * going).  The available memory it ranks by is the allocator's table: read
 * when the graph is built and after each allocation of this process from a
 * provider (success or lack of memory), plus what frees give back, and
 * re-read for every provider when none has enough; after the first call a
 * choice reads no sysfs file.  0 on success (*out filled, with the cached
 * available; paths[i] filled when paths is not NULL), -1 + errno (ENODEV:
 * none usable).  out_len = sizeof(*out), path_len = sizeof(*paths).
 */
int p2pv_choose_provider(struct ibv_device *const *devices, int num_devices,
			 uint64_t min_available, struct p2pv_provider *out,
			 size_t out_len, struct p2pv_path *paths,
			 size_t path_len);
int p2pv_choose_provider_by_name(const char *const *ibdev_names,
				 int num_devices, uint64_t min_available,
				 struct p2pv_provider *out, size_t out_len,
				 struct p2pv_path *paths, size_t path_len);

/* ------------------------------------------------------------------ */
/* Policy (like libfabric's FI_HMEM_P2P_*)                             */
/* ------------------------------------------------------------------ */

/* What p2pv_buf_alloc() does when it chooses the provider itself (no
 * provider named).  A named provider is always that provider or an error. */
enum p2pv_policy {
	P2PV_POLICY_DISABLED = 0,	/* never use P2P memory: host memory */
	P2PV_POLICY_ENABLED = 1,	/* P2P when possible, else host memory */
	P2PV_POLICY_PREFERRED = 2,	/* as enabled; after a fallback,
					 * p2pv_last_error() says why */
	P2PV_POLICY_REQUIRED = 3,	/* P2P or failure */
};

/* Set by the program; the environment variable P2PV_P2P_POLICY
 * (disabled|enabled|preferred|required) overrides it (ignored in setuid
 * programs, like every P2PV_* variable). */
int p2pv_set_policy(enum p2pv_policy policy);
enum p2pv_policy p2pv_get_policy(void);	/* effective policy */
const char *p2pv_policy_str(enum p2pv_policy policy);

/* ------------------------------------------------------------------ */
/* Buffers                                                             */
/* ------------------------------------------------------------------ */

enum p2pv_mem_type {
	P2PV_MEM_HOST = 0,	/* ordinary memory (policy fallback) */
	P2PV_MEM_P2P = 1,	/* P2PDMA memory reachable as a dma-buf */
};

/* Allocated and owned by the library (it may grow at the end) */
struct p2pv_buf {
	uint64_t comp_mask;		/* no optional field yet */
	void *addr;			/* CPU mapping */
	size_t length;
	int dmabuf_fd;			/* -1 for host memory; the library's */
	uint64_t dmabuf_offset;		/* offset of addr in the dma-buf */
	enum p2pv_mem_type type;
	char provider[P2PV_PCI_ADDR_LEN];	/* "" for host memory */
};

/*
 * Allocate length (> 0) bytes of zeroed memory.  pci_addr names the
 * provider: that provider or an error, whatever the policy; the kernel's
 * P2PMEM_IOC_ALLOC decides (EINVAL malformed, ENODEV no node: no such
 * provider or not published, EACCES node not accessible, ENOMEM no range
 * that large, EDQUOT over the administrator's user_limit).  With pci_addr NULL the library chooses: the provider nearest to
 * near as p2pv_choose_provider() ranks them (with near NULL too, the one
 * with the most memory available), and the policy decides what happens
 * when none can serve.
 */
struct p2pv_buf *p2pv_buf_alloc(const char *pci_addr, struct ibv_device *near,
				size_t length);

enum p2pv_buf_alloc_attr_mask {
	P2PV_BUF_ALLOC_ATTR_MASK_ALIGNMENT = 1 << 0,
	P2PV_BUF_ALLOC_ATTR_MASK_FLAGS = 1 << 1,
};

enum p2pv_buf_alloc_flags {
	/* P2P memory or an error, whatever the policy */
	P2PV_BUF_ALLOC_P2P_ONLY = 1 << 0,
};

struct p2pv_buf_alloc_attr {
	uint64_t comp_mask;		/* P2PV_BUF_ALLOC_ATTR_MASK_* */
	const char *provider;		/* as pci_addr of p2pv_buf_alloc() */
	struct ibv_device *near;
	size_t length;
	size_t alignment;		/* MASK_ALIGNMENT: of addr, a power of
					 * two; default the page size */
	uint64_t flags;			/* MASK_FLAGS: P2PV_BUF_ALLOC_* */
};

/* p2pv_buf_alloc() with attributes; inlen = sizeof(*attr) as compiled.
 * Unknown comp_mask bits or flags, or non-zero bytes past the struct this
 * library knows: EOPNOTSUPP. */
struct p2pv_buf *p2pv_buf_alloc_attr(const struct p2pv_buf_alloc_attr *attr,
				     size_t inlen);
/* Adopt an existing dma-buf (the fd is duplicated); maps length (> 0) bytes
 * at offset.  provider may be NULL. */
struct p2pv_buf *p2pv_buf_import(int dmabuf_fd, uint64_t offset, size_t length,
				 const char *provider);
/* 0, or -1 + errno EINVAL (with a message) for NULL, a pointer the library
 * did not hand out, or a buffer already freed. */
int p2pv_buf_free(struct p2pv_buf *buf);

/* ------------------------------------------------------------------ */
/* Pointer queries                                                     */
/* ------------------------------------------------------------------ */

struct p2pv_ptr_info {
	uint64_t comp_mask;		/* out: no optional field yet */
	struct p2pv_buf *buf;		/* buffer containing the pointer */
	int dmabuf_fd;			/* the buffer's, owned by the library */
	uint64_t dmabuf_offset;		/* offset of the pointer in the dma-buf */
	size_t offset;			/* offset of the pointer in buf */
	size_t remaining;		/* bytes from the pointer to buf's end */
	char provider[P2PV_PCI_ADDR_LEN];
};

/* 1 if ptr lies in a P2P buffer of the library that is still mapped where
 * the library mapped it, else 0.  A range the program unmapped (and maybe
 * mapped again with other memory) is not P2P memory any more. */
int p2pv_is_p2p(const void *ptr);
/* 0 and *info filled if p2pv_is_p2p(ptr), -1 + errno ENOENT otherwise;
 * inlen = sizeof(*info). */
int p2pv_ptr_query(const void *ptr, struct p2pv_ptr_info *info, size_t inlen);

/* ------------------------------------------------------------------ */
/* Memory registration                                                 */
/* ------------------------------------------------------------------ */

/* Register [offset, offset+length) of buf: the buffer itself, through
 * ibv_reg_dmabuf_mr() on its dma-buf fd at the matching offset, with iova
 * buf->addr + offset, whatever the program did to the mapping since.
 * length 0 means "to the end of the buffer" (the one call where 0 is not
 * EINVAL); buf must be a live buffer of this library (else EINVAL). */
struct ibv_mr *p2pv_reg_buf(struct ibv_pd *pd, struct p2pv_buf *buf,
			    size_t offset, size_t length, int access);
/* Like ibv_reg_mr/ibv_reg_mr_iova/ibv_reg_mr_iova2: the range is registered
 * by address with ibv_reg_mr_iova2(), and a kernel with the by-address path
 * resolves a range inside a P2P mapping to its dma-buf, so what is
 * registered is what is mapped there at that moment.  A kernel without that
 * path answers EFAULT for a P2P mapping: if the range is still the mapping
 * of a buffer of this library, the library then registers the buffer by its
 * dma-buf fd and offset (reg_method P2PV_MR_REG_FD_FALLBACK); otherwise the
 * kernel's refusal is the answer, with a message.  A range the library
 * knows as P2P memory is remembered for p2pv_mr_query(); nothing else costs
 * more than the plain verbs call.  NULL pd or addr, or length 0: EINVAL; a
 * range crossing the end of a P2P buffer that is still mapped there:
 * EINVAL. */
struct ibv_mr *p2pv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			   int access);
struct ibv_mr *p2pv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length,
				uint64_t iova, int access);
struct ibv_mr *p2pv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length,
				 uint64_t iova, unsigned int access);
/* 0, or -1 + errno (ibv_dereg_mr()'s error, EINVAL for NULL). */
int p2pv_dereg_mr(struct ibv_mr *mr);

enum p2pv_mr_info_mask {
	/* reasons and importer */
	P2PV_MR_INFO_MASK_ATTACHMENT = 1 << 0,
	/* reg_method */
	P2PV_MR_INFO_MASK_REG_METHOD = 1 << 1,
};

/* How an MR was registered, and so what memory it is */
enum p2pv_mr_reg_method {
	/* ibv_reg_mr() of a range that was not (or no longer) the P2P
	 * buffer's mapping: the kernel registered host memory */
	P2PV_MR_REG_HOST = 0,
	/* ibv_reg_mr() of the P2P mapping: the kernel resolved the mapping to
	 * its dma-buf at registration (a dma-buf MR on the buffer) */
	P2PV_MR_REG_MAPPING = 1,
	/* ibv_reg_dmabuf_mr() on the buffer's dma-buf fd and offset
	 * (p2pv_reg_buf()) */
	P2PV_MR_REG_DMABUF = 2,
	/* p2pv_reg_mr*() on a kernel that cannot register a P2P mapping by
	 * address (EFAULT): ibv_reg_dmabuf_mr() on the buffer's dma-buf fd
	 * and offset, after checking the range is still its mapping */
	P2PV_MR_REG_FD_FALLBACK = 3,
};

struct p2pv_mr_info {
	uint64_t comp_mask;		/* out: P2PV_MR_INFO_MASK_* filled */
	enum p2pv_mem_type type;
	enum p2pv_map_mode mode;	/* how the device reaches the memory */
	enum p2pv_path_class path_class;
	enum p2pv_answer_source source;	/* ATTACHMENT: what the MR got */
	int mode_known;			/* 0: mode is P2PV_MAP_UNKNOWN */
	int dmabuf_fd;			/* the buffer's (the library's), -1
					 * once the buffer is freed */
	uint64_t dmabuf_offset;
	uint64_t iova;
	char provider[P2PV_PCI_ADDR_LEN];
	uint32_t reasons;		/* MASK_ATTACHMENT: P2PV_REASON_* */
	char importer[64];		/* MASK_ATTACHMENT: the kernel's name of
					 * the importing device, "" unknown */
	enum p2pv_mr_reg_method reg_method;	/* MASK_REG_METHOD */
};

/*
 * 0 if mr was registered through this library on a range the library knew
 * as P2P memory (p2pv_reg_buf, p2pv_reg_mr*), -1 + errno ENOENT otherwise
 * (host memory registered through the library is not remembered).  The
 * answer is computed on the first query of the MR and kept: the mode is what
 * the MR's attachment got (P2PMEM_IOC_ATTACH_QUERY); an MR of p2pv_reg_mr*
 * whose range is not the buffer's mapping any more (the program unmapped it
 * and perhaps mapped other memory there) reports type P2PV_MEM_HOST and
 * reg_method P2PV_MR_REG_HOST.  Query right after registering when the
 * program remaps memory: the check sees the mapping as it is at the query.
 * inlen = sizeof(*info).
 */
int p2pv_mr_query(const struct ibv_mr *mr, struct p2pv_mr_info *info,
		  size_t inlen);

/* Does the device/kernel support dma-buf MRs?  1 yes, 0 no, -1 error. */
int p2pv_dmabuf_mr_supported(struct ibv_pd *pd);

#ifdef __cplusplus
}
#endif

#endif /* INFINIBAND_P2PVERBS_H */
