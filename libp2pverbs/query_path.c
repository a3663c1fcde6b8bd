/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* The public path queries: the graph's answer for a provider and a device. */
#include <errno.h>

#include "p2pv_priv.h"

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
