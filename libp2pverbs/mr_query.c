/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * p2pv_mr_query(): what an MR the library registered is.  The record says
 * what the library believed at registration (provider, dma-buf, offset);
 * the answer - host memory or P2P, and the mode the MR's attachment got -
 * is worked out on the first query and kept in the record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pv_priv.h"

/*
 * The mode of an MR is what its attachment got: the kernel keeps the
 * decision in the attachment and P2PMEM_IOC_ATTACH_QUERY reports it.  When
 * the provider's node cannot be asked (an imported buffer of another
 * exporter, no permission), the graph's answer for the pair stands in and
 * says where it came from.
 */
static void mr_mode(const struct ibv_mr *mr, struct p2pv_mr_info *info)
{
	const struct p2pv_path *path;
	struct p2pv_graph_device *d;
	int saved = errno, i;

	info->mode = P2PV_MAP_UNKNOWN;
	info->path_class = P2PV_PATH_SYS;
	if (!info->provider[0] || !mr->context || !mr->context->device ||
	    p2pv_graph_lock() < 0)
		goto out;
	i = p2pv_graph_find_provider(info->provider);
	d = i >= 0 ? p2pv_graph_device(mr->context->device->name) : NULL;
	if (d) {
		path = p2pv_graph_path(d, i);
		info->mode = path->mode;
		info->reasons = path->reasons;
		info->path_class = path->path_class;
		info->source = path->source;
		info->comp_mask |= P2PV_MR_INFO_MASK_ATTACHMENT;
		if (p2pv_graph_attach_query(i, d, info->dmabuf_fd, &info->mode,
					    &info->reasons, info->importer,
					    sizeof(info->importer)) == 0)
			info->source = P2PV_SOURCE_ATTACHMENT;
	}
	p2pv_graph_unlock();
out:
	info->mode_known = info->mode != P2PV_MAP_UNKNOWN;
	errno = saved;
}

/* What the MR is: the record's belief checked against the mapping (for a
 * registration by address) and the attachment */
static void resolve(const struct ibv_mr *mr, const struct p2pv_mr_rec *rec,
		    struct p2pv_mr_info *info)
{
	memset(info, 0, sizeof(*info));
	info->comp_mask = P2PV_MR_INFO_MASK_REG_METHOD;
	info->iova = rec->iova;
	if (rec->method == P2PV_MR_REG_MAPPING &&
	    !p2pv_vma_matches(rec->addr, rec->addr + rec->length,
			      &rec->mapping)) {
		/* not the buffer's mapping: the kernel registered what was
		 * mapped there, host memory */
		info->type = P2PV_MEM_HOST;
		info->reg_method = P2PV_MR_REG_HOST;
		info->mode = P2PV_MAP_UNKNOWN;
		info->path_class = P2PV_PATH_SYS;
		info->source = P2PV_SOURCE_SYSFS_ESTIMATE;
		info->dmabuf_fd = -1;
		return;
	}
	info->type = P2PV_MEM_P2P;
	info->reg_method = (enum p2pv_mr_reg_method)rec->method;
	info->dmabuf_fd = rec->dmabuf_fd;
	info->dmabuf_offset = rec->dmabuf_offset;
	memcpy(info->provider, rec->provider, sizeof(info->provider));
	mr_mode(mr, info);
}

P2PV_EXPORT int p2pv_mr_query(const struct ibv_mr *mr, struct p2pv_mr_info *info,
			      size_t inlen)
{
	struct p2pv_mr_info answer, *keep;
	struct p2pv_mr_rec rec;

	if (!mr)
		return p2pv_err(EINVAL, "p2pv_mr_query: NULL mr");
	if (p2pv_out_check(info, inlen, P2PV_MR_INFO_LEN_1_0,
			   "p2pv_mr_query") < 0)
		return -1;
	rec.answer = NULL;
	if (p2pv_mr_lookup(mr, &rec, &answer) < 0)
		return p2pv_err(ENOENT, "MR %p was not registered on P2P memory by libp2pverbs",
				(const void *)mr);
	if (!rec.answer) {
		resolve(mr, &rec, &answer);
		keep = malloc(sizeof(*keep));
		if (keep) {
			*keep = answer;
			free(p2pv_mr_keep_answer(mr, rec.serial, keep));
		}
	}
	p2pv_out_fill(info, inlen, &answer, sizeof(answer));
	return 0;
}

