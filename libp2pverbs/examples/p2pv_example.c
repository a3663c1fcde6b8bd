/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * p2pv_example: allocate a P2P buffer near the first RDMA device, register
 * it as a memory region and tell how the device reaches it.
 *
 *   p2pv_example [-d ibdev] [-s bytes]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/p2pverbs.h>

int main(int argc, char **argv)
{
	struct ibv_device **list, *dev = NULL;
	const char *want = NULL;
	size_t size = 1 << 20;
	struct p2pv_mr_info info;
	struct ibv_context *ctx;
	struct p2pv_buf *buf;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	int n, i, c, ret = 1;

	while ((c = getopt(argc, argv, "d:s:")) != -1) {
		if (c == 'd')
			want = optarg;
		else if (c == 's')
			size = strtoull(optarg, NULL, 0);
		else
			return 2;
	}
	list = ibv_get_device_list(&n);
	for (i = 0; list && i < n && !dev; i++)
		if (!want || !strcmp(ibv_get_device_name(list[i]), want))
			dev = list[i];
	if (!dev) {
		fprintf(stderr, "no RDMA device%s%s\n", want ? " " : "", want ? want : "");
		goto out_list;
	}
	ctx = ibv_open_device(dev);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	if (!pd) {
		perror("ibv_open_device/ibv_alloc_pd");
		if (ctx)
			ibv_close_device(ctx);
		goto out_list;
	}
	if (p2pv_dmabuf_mr_supported(pd) != 1)
		fprintf(stderr, "note: %s cannot register dma-buf MRs\n",
			ibv_get_device_name(dev));

	/* nearest provider to dev; the policy (P2PV_P2P_POLICY) decides
	 * whether host memory may stand in */
	buf = p2pv_buf_alloc(NULL, dev, size);
	if (!buf) {
		fprintf(stderr, "p2pv_buf_alloc: %s\n", p2pv_last_error());
		goto out_pd;
	}
	printf("buffer: %zu bytes at %p, %s%s\n", buf->length, buf->addr,
	       buf->type == P2PV_MEM_P2P ? "P2P memory of " : "host memory",
	       buf->provider);
	memset(buf->addr, 0x5a, 64);	/* CPU access through the mapping */

	/* like ibv_reg_mr(): the kernel registers the P2P mapping as its
	 * dma-buf (or the library by the dma-buf fd, on a kernel without
	 * that path) */
	mr = p2pv_reg_mr(pd, buf->addr, buf->length,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
			 IBV_ACCESS_REMOTE_WRITE);
	if (!mr) {
		fprintf(stderr, "p2pv_reg_mr: %s\n", p2pv_last_error());
		goto out_buf;
	}
	printf("mr: lkey 0x%x rkey 0x%x\n", mr->lkey, mr->rkey);
	if (p2pv_mr_query(mr, &info, sizeof(info)) == 0 && info.mode_known)
		printf("path: %s, mode %s (%s)\n", p2pv_path_class_str(info.path_class),
		       p2pv_map_mode_str(info.mode),
		       p2pv_answer_source_str(info.source));
	p2pv_dereg_mr(mr);
	ret = 0;
out_buf:
	p2pv_buf_free(buf);
out_pd:
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
out_list:
	if (list)
		ibv_free_device_list(list);
	return ret;
}
