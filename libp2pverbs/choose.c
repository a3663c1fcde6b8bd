/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Choosing the nearest provider.  Each client chain is resolved once and
 * each provider's chain once per call: P providers x D devices path
 * computations, no provider-vs-provider work beyond one comparison.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pv_priv.h"

struct score {
	int worst_mode;		/* 0 bus-addr, 1 host-bridge, 2 cpu */
	int class_sum;
	long dist_sum;
	uint64_t available;
};

static int mode_rank(enum p2pv_map_mode m)
{
	switch (m) {
	case P2PV_MAP_BUS_ADDR: return 0;
	case P2PV_MAP_HOST_BRIDGE: return 1;
	case P2PV_MAP_CPU: return 2;
	default: return 3;
	}
}

/* <0 if a (provider pa) is better than b */
static int score_cmp(const struct score *a, const char *pa,
		     const struct score *b, const char *pb)
{
	if (a->worst_mode != b->worst_mode)
		return a->worst_mode < b->worst_mode ? -1 : 1;
	if (a->class_sum != b->class_sum)
		return a->class_sum < b->class_sum ? -1 : 1;
	if (a->dist_sum != b->dist_sum)
		return a->dist_sum < b->dist_sum ? -1 : 1;
	if (a->available != b->available)
		return a->available > b->available ? -1 : 1;
	return p2pv_bdf_cmp(pa, pb);
}

P2PV_EXPORT int p2pv_choose_provider_by_name(const char *const *names, int num,
					     uint64_t min_available,
					     struct p2pv_provider *out,
					     struct p2pv_path *paths)
{
	struct p2pv_topo_ctx ctx = { 0 };
	struct p2pv_chain *cli = NULL, *pc = NULL;
	struct p2pv_path *cur = NULL, *bestp = NULL;
	struct p2pv_provider *list = NULL;
	struct score best = { 0 }, s;
	int nprov = 0, i, k, have = 0, ret = -1, refused = 0, exhausted = 0;
	char last_refusal[256] = "";

	if (!out)
		return p2pv_err(EINVAL, "p2pv_choose_provider: NULL output");
	if (num < 0 || (num > 0 && !names) || num > 4096)
		return p2pv_err(EINVAL, "p2pv_choose_provider: bad device list");
	for (k = 0; k < num; k++)
		if (!names[k])
			return p2pv_err(EINVAL, "p2pv_choose_provider: NULL device %d", k);
	list = p2pv_get_provider_list(&nprov);
	if (!list)
		return -1;
	cli = calloc(num ? (size_t)num : 1, sizeof(*cli));
	pc = malloc(sizeof(*pc));
	cur = calloc(num ? (size_t)num : 1, sizeof(*cur));
	bestp = calloc(num ? (size_t)num : 1, sizeof(*bestp));
	if (!cli || !pc || !cur || !bestp) {
		p2pv_err(ENOMEM, "out of memory");
		goto out;
	}
	for (k = 0; k < num; k++)
		if (p2pv_chain_ibdev(names[k], &cli[k]) < 0)
			goto out;

	for (i = 0; i < nprov; i++) {
		struct p2pv_provider *p = &list[i];

		if (!p->published)
			continue;
		if (!p->available || p->available < min_available) {
			exhausted++;
			continue;
		}
		if (num && p2pv_chain_pci(p->pci_addr, pc) < 0)
			continue;
		memset(&s, 0, sizeof(s));
		s.available = p->available;
		for (k = 0; k < num; k++) {
			p2pv_path_compute(&ctx, p->pci_addr, pc, &cli[k], &cur[k]);
			if (cur[k].mode == P2PV_MAP_REFUSED)
				break;
			if (mode_rank(cur[k].mode) > s.worst_mode)
				s.worst_mode = mode_rank(cur[k].mode);
			s.class_sum += (int)cur[k].path_class;
			s.dist_sum += cur[k].distance;
		}
		if (k < num) {
			refused++;
			p2pv_fmt(last_refusal, sizeof(last_refusal), "%s for %s: %s",
				 p->pci_addr, names[k], cur[k].reason);
			continue;
		}
		if (!have || score_cmp(&s, p->pci_addr, &best, out->pci_addr) < 0) {
			best = s;
			*out = *p;
			if (num)
				memcpy(bestp, cur, (size_t)num * sizeof(*cur));
			have = 1;
		}
	}
	if (!have) {
		p2pv_err(ENODEV, "no usable P2PDMA provider (%d found, %d exhausted or too small, %d refused%s%s)",
			 nprov, exhausted, refused, refused ? "; last: " : "",
			 last_refusal);
		goto out;
	}
	if (paths && num)
		memcpy(paths, bestp, (size_t)num * sizeof(*paths));
	ret = 0;
out:
	free(list);
	free(cli);
	free(pc);
	free(cur);
	free(bestp);
	return ret;
}

P2PV_EXPORT int p2pv_choose_provider(struct ibv_device *const *devices, int num,
				     uint64_t min_available,
				     struct p2pv_provider *out,
				     struct p2pv_path *paths)
{
	const char **names;
	int k, ret;

	if (num < 0 || (num > 0 && !devices) || num > 4096)
		return p2pv_err(EINVAL, "p2pv_choose_provider: bad device list");
	names = calloc(num ? (size_t)num : 1, sizeof(*names));
	if (!names)
		return p2pv_err(ENOMEM, "out of memory");
	for (k = 0; k < num; k++) {
		if (!devices[k]) {
			free(names);
			return p2pv_err(EINVAL, "p2pv_choose_provider: NULL device %d", k);
		}
		names[k] = devices[k]->name;
	}
	ret = p2pv_choose_provider_by_name(names, num, min_available, out, paths);
	free(names);
	return ret;
}
