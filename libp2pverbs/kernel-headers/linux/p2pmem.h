/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Userspace allocation of PCI peer-to-peer (P2PDMA) memory as dma-bufs.
 *
 * Every PCI device whose BAR memory is registered with the P2PDMA core and
 * published gets a character device /dev/p2pmem/<pci-name>, for example
 * /dev/p2pmem/0000:01:00.0; the class, the node directory and the character
 * device region are all called "p2pmem".  Who may allocate from a provider
 * is decided by the permissions of its node; how much userspace may hold in
 * total is bounded by the administrator's cap in
 * /sys/class/p2pmem/<pci-name>/user_limit.
 *
 * Allocating takes a node opened for writing: P2PMEM_IOC_ALLOC on a node
 * opened O_RDONLY fails with EBADF, as write(2) does on such a descriptor,
 * and mmap() of it, which allocates too, with EACCES, as mmap(2) does for a
 * shared writable mapping of a file opened read-only.  A read-only open may
 * only ask: P2PMEM_IOC_MAP_QUERY and P2PMEM_IOC_ATTACH_QUERY.  Read
 * permission on the node thus lets a user query a provider, write
 * permission lets it take memory.
 *
 * P2PMEM_IOC_ALLOC allocates zeroed memory from the provider and returns it as
 * a dma-buf.  When a device attaches to that dma-buf the exporter decides,
 * once per attachment, how the device will reach the memory (enum
 * p2pmem_map_mode).  P2PMEM_IOC_MAP_QUERY answers that question ahead of
 * time for any PCI device, without allocating; P2PMEM_IOC_ATTACH_QUERY
 * reports what the attachments of an allocated buffer actually got.
 */
#ifndef _UAPI_LINUX_P2PMEM_H
#define _UAPI_LINUX_P2PMEM_H

#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * struct p2pmem_alloc - argument of P2PMEM_IOC_ALLOC
 * @size:	in: bytes to allocate; rounded up to the page size
 * @fd_flags:	in: flags of the new dma-buf file: O_CLOEXEC, and the access
 *		mode O_RDONLY or O_RDWR; nothing else
 * @flags:	in: reserved, must be zero
 * @fd:		out: the dma-buf file descriptor
 * @reserved:	must be zero
 */
struct p2pmem_alloc {
	__aligned_u64 size;
	__u32 fd_flags;
	__u32 flags;
	__s32 fd;
	__u32 reserved;
};

/**
 * enum p2pmem_map_mode - how an importing device reaches the memory
 * @P2PMEM_MAP_REFUSED:		no path the P2PDMA core allows; attach fails
 *				with -EOPNOTSUPP
 * @P2PMEM_MAP_BUS_ADDR:	PCI bus addresses; the path stays below a
 *				common switch with no ACS redirect
 * @P2PMEM_MAP_HOST_BRIDGE:	dma_map_resource(): through a host bridge the
 *				P2PDMA core allows, translated by the IOMMU if
 *				the importer is behind one
 * @P2PMEM_MAP_CPU:		the importer has no DMA device (a software
 *				device such as rxe): CPU access through vmap
 */
enum p2pmem_map_mode {
	P2PMEM_MAP_REFUSED = 0,
	P2PMEM_MAP_BUS_ADDR = 1,
	P2PMEM_MAP_HOST_BRIDGE = 2,
	P2PMEM_MAP_CPU = 3,
};

/* Reasons reported with a mode (bits of the reasons fields below) */
#define P2PMEM_REASON_ACS_REDIRECT	(1U << 0) /* a port on the path redirects */
#define P2PMEM_REASON_NO_COMMON_BRIDGE	(1U << 1) /* path crosses a host bridge */
#define P2PMEM_REASON_HOST_BRIDGE_DENIED (1U << 2) /* host bridge not allowed */
#define P2PMEM_REASON_NOT_PCI		(1U << 3) /* importer is not a PCI device */
#define P2PMEM_REASON_IOMMU		(1U << 4) /* importer's DMA is translated */
/*
 * Every attachment must be revocable: the importer implements
 * dma_buf_attach_ops.invalidate_mappings and unmaps when told.  Others are
 * refused with -EOPNOTSUPP.  MAP_QUERY, which does not know the importer,
 * reports this bit with every mode but REFUSED.
 */
#define P2PMEM_REASON_REVOCABLE_ONLY	(1U << 5)

/**
 * struct p2pmem_map_query - argument of P2PMEM_IOC_MAP_QUERY
 * @client_domain:	in: PCI domain of the importing device
 * @client_bus:		in: its bus number
 * @client_devfn:	in: its device and function, PCI_DEVFN(dev, fn)
 * @reserved0:		must be zero
 * @mode:		out: enum p2pmem_map_mode an attach would get
 * @reasons:		out: P2PMEM_REASON_* bits explaining @mode
 * @distance:		out: P2PDMA distance (hops), -1 when refused
 * @reserved1:		must be zero
 */
struct p2pmem_map_query {
	__u32 client_domain;
	__u8 client_bus;
	__u8 client_devfn;
	__u16 reserved0;
	__u32 mode;
	__u32 reasons;
	__s32 distance;
	__u32 reserved1;
};

#define P2PMEM_IMPORTER_NAME_LEN	64

/* Bits of p2pmem_attach_query.flags */
#define P2PMEM_ATTACH_REVOCABLE		(1U << 0) /* importer can be revoked */
#define P2PMEM_ATTACH_MAPPED		(1U << 1) /* a mapping is live now */

/**
 * struct p2pmem_attach_query - argument of P2PMEM_IOC_ATTACH_QUERY
 * @dmabuf_fd:	in: a dma-buf allocated from this provider
 * @index:	in: which attachment, from 0; -ENOENT past the last one
 * @mode:	out: enum p2pmem_map_mode the attachment got when it attached
 * @reasons:	out: P2PMEM_REASON_* bits explaining @mode
 * @flags:	out: P2PMEM_ATTACH_* bits
 * @reserved:	must be zero
 * @importer:	out: dev_name() of the attached device, NUL terminated: a PCI
 *		name ("0000:03:00.0") for a DMA importer, the device's own
 *		name ("rxe0") for a CPU importer
 *
 * The answer is the decision stored in the attachment, not a new
 * computation: it is what the importer's mappings use.
 */
struct p2pmem_attach_query {
	__s32 dmabuf_fd;
	__u32 index;
	__u32 mode;
	__u32 reasons;
	__u32 flags;
	__u32 reserved;
	char importer[P2PMEM_IMPORTER_NAME_LEN];
};

#define P2PMEM_IOC_MAGIC	0xB9
#define P2PMEM_IOC_ALLOC	_IOWR(P2PMEM_IOC_MAGIC, 0x00, struct p2pmem_alloc)
#define P2PMEM_IOC_MAP_QUERY	_IOWR(P2PMEM_IOC_MAGIC, 0x01, struct p2pmem_map_query)
#define P2PMEM_IOC_ATTACH_QUERY	_IOWR(P2PMEM_IOC_MAGIC, 0x02, struct p2pmem_attach_query)

#endif /* _UAPI_LINUX_P2PMEM_H */
