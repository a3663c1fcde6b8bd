/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Whether an engine that was handed a pointer into P2P memory registered
 * that memory with the RDMA device itself, asked without the engine's help
 * (shared by mpi-p2p and fi-rma-p2p, which run unmodified engines).
 *
 * A mapping of P2P memory is VM_PFNMAP: the kernel registers it only by
 * resolving it to its dma-buf (patches 0018-0022); pinning it fails.  What
 * can be seen from outside the engine:
 *
 *   - p2p_in_dmabuf_mapping(): the pointer lies in a dma-buf mapping
 *     (/proc/self/maps names the file "/dmabuf:"): P2P memory, not a copy;
 *   - p2p_mrs_of_length(): the MRs the kernel lists for this process on the
 *     device (`rdma -d res show mr`: length, pid; no address), so a buffer
 *     of a length nothing else in the process has is recognised by its MR;
 *   - p2p_live_attachments(): when the program holds the buffer's dma-buf
 *     fd (libp2pverbs buffers), P2PMEM_IOC_ATTACH_QUERY names the devices
 *     attached to that very buffer.  A mapping of the provider node has no
 *     fd, and a dma-buf cannot be reopened through /proc/self/map_files
 *     (ENXIO), so for those the MR list is what there is.
 */
#ifndef P2P_EVIDENCE_H
#define P2P_EVIDENCE_H

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/p2pmem.h>

/* 1 when ADDR lies in a dma-buf mapping, 0 when not (or not mapped) */
static inline int p2p_in_dmabuf_mapping(const void *addr)
{
	uintptr_t a = (uintptr_t)addr, lo, hi;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	int found = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2 && a >= lo && a < hi) {
			found = strstr(line, "/dmabuf:") != NULL;
			break;
		}
	fclose(f);
	return found;
}

/* The number after " KEY " in LINE; *SEEN says whether KEY was there */
static inline uint64_t p2p_field(const char *line, const char *key, int *seen)
{
	size_t n = strlen(key);

	for (const char *p = line; (p = strstr(p, key)); p += n)
		if ((p == line || p[-1] == ' ') && p[n] == ' ') {
			*seen = 1;
			return strtoull(p + n + 1, NULL, 0);
		}
	*seen = 0;
	return 0;
}

/*
 * How many MRs of this process on IBDEV are LEN bytes long; -1 when the
 * list cannot be read.  LENGTHS gets the lengths of all this process's MRs
 * there ("262144 1060864 ..."), or the reason it could not be read.
 */
static inline int p2p_mrs_of_length(const char *ibdev, uint64_t len, char *lengths,
				    size_t lengths_len)
{
	char cmd[96], line[512];
	size_t used = 0;
	int n = 0, s1, s2;
	uint64_t l, pid;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "rdma -d res show mr dev %s 2>&1", ibdev);
	lengths[0] = '\0';
	f = popen(cmd, "r");
	if (!f) {
		snprintf(lengths, lengths_len, "%s: %s", cmd, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		l = p2p_field(line, "mrlen", &s1);
		pid = p2p_field(line, "pid", &s2);
		if (!s1 || !s2 || pid != (uint64_t)getpid())
			continue;
		used += (size_t)snprintf(lengths + used, used < lengths_len ? lengths_len - used : 0,
					 "%s%" PRIu64, used ? " " : "", l);
		n += l == len;
	}
	if (pclose(f) != 0) {
		snprintf(lengths, lengths_len, "`%s` failed", cmd);
		return -1;
	}
	return n;
}

/*
 * The attachments of the dma-buf DMABUF, a buffer of the provider whose node
 * is NODE: how many are by IBDEV with CPU access (rxe) and a live mapping;
 * ALL gets every one as "importer mode N [mapped]".  -errno when it cannot
 * be asked.
 */
static inline int p2p_live_attachments(int node, int dmabuf, const char *ibdev, char *all,
				       size_t all_len)
{
	struct p2pmem_attach_query q;
	size_t used = 0;
	int found = 0;

	all[0] = '\0';
	for (uint32_t i = 0;; i++) {
		memset(&q, 0, sizeof(q));
		q.dmabuf_fd = dmabuf;
		q.index = i;
		if (ioctl(node, P2PMEM_IOC_ATTACH_QUERY, &q))
			return errno == ENOENT ? found : -errno;
		used += (size_t)snprintf(all + used, used < all_len ? all_len - used : 0,
					 "%s%s mode %u%s", i ? ", " : "", q.importer, q.mode,
					 q.flags & P2PMEM_ATTACH_MAPPED ? " mapped" : "");
		if (!strcmp(q.importer, ibdev) && q.mode == P2PMEM_MAP_CPU &&
		    (q.flags & P2PMEM_ATTACH_MAPPED))
			found++;
	}
}

#endif /* P2P_EVIDENCE_H */
