/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Choosing the nearest provider from the graph: the paths are computed once
 * per process and so is each provider's available memory (see graph.c for
 * when the cache is refreshed), so a call ranks cached answers and reads no
 * file.  Only when no provider has enough memory in the cache are all of them
 * re-read and ranked once more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pv_priv.h"

struct candidate {
	int prov;
	int worst_mode;		/* 0 bus-addr, 1 host-bridge, 2 cpu, 3 unknown */
	int class_sum;
	long dist_sum;
};

static int mode_rank(enum p2pv_map_mode m)
{
	switch (m) {
	case P2PV_MAP_BUS_ADDR: return 0;
	case P2PV_MAP_HOST_BRIDGE: return 1;
	case P2PV_MAP_CPU: return 2;
	case P2PV_MAP_UNKNOWN: return 3;	/* never above a confirmed path */
	default: return 4;
	}
}

/* the static part of the ranking: mode, class, distance */
static int rank_cmp(const void *pa, const void *pb)
{
	const struct candidate *a = pa, *b = pb;

	if (a->worst_mode != b->worst_mode)
		return a->worst_mode < b->worst_mode ? -1 : 1;
	if (a->class_sum != b->class_sum)
		return a->class_sum < b->class_sum ? -1 : 1;
	if (a->dist_sum != b->dist_sum)
		return a->dist_sum < b->dist_sum ? -1 : 1;
	return a->prov - b->prov;	/* providers are sorted by address */
}

struct tally {
	int exhausted, refused;
	char last_refusal[256];
};

/* Score provider i for every device; 0 usable, -1 refused for one */
static int score(struct p2pv_graph_device **devs, int num, int i,
		 struct candidate *c, struct tally *t)
{
	const struct p2pv_path *p;
	int k;

	memset(c, 0, sizeof(*c));
	c->prov = i;
	for (k = 0; k < num; k++) {
		p = p2pv_graph_path(devs[k], i);
		if (p->mode == P2PV_MAP_REFUSED) {
			t->refused++;
			snprintf(t->last_refusal, sizeof(t->last_refusal),
				 "%s for %.64s: %.150s",
				 p2pv_graph_provider(i)->pci_addr,
				 p2pv_graph_device_name(devs[k]), p->reason);
			return -1;
		}
		if (mode_rank(p->mode) > c->worst_mode)
			c->worst_mode = mode_rank(p->mode);
		c->class_sum += (int)p->path_class;
		c->dist_sum += p->distance;
	}
	return 0;
}

/*
 * Walk the candidates in rank order, one group of equal rank at a time; in
 * the first group where some provider has enough memory, the one with the
 * most wins.  Index of the winner in cand, or -1.
 */
static int pick(struct candidate *cand, int n, uint64_t min_available,
		uint64_t *avail_out, struct tally *t)
{
	uint64_t need = min_available ? min_available : 1, avail, best_avail = 0;
	int lo, hi, j, best = -1;

	for (lo = 0; lo < n && best < 0; lo = hi) {
		for (hi = lo + 1; hi < n; hi++) {
			struct candidate a = cand[lo], b = cand[hi];

			a.prov = b.prov = 0;
			if (rank_cmp(&a, &b))
				break;
		}
		for (j = lo; j < hi; j++) {
			avail = p2pv_freemem_get(p2pv_graph_provider(cand[j].prov)->pci_addr);
			if (avail < need) {
				t->exhausted++;
				continue;
			}
			if (best < 0 || avail > best_avail) {
				best = j;
				best_avail = avail;
			}
		}
	}
	*avail_out = best_avail;
	return best;
}

static int skipped(const char *bdf, const char (*skip)[P2PV_PCI_ADDR_LEN],
		   int nskip)
{
	int k;

	for (k = 0; k < nskip; k++)
		if (!strcmp(bdf, skip[k]))
			return 1;
	return 0;
}

/* out and paths (path_len bytes apart) in the caller's layout */
static int choose_locked(const char *const *names, int num,
			 uint64_t min_available,
			 const char (*skip)[P2PV_PCI_ADDR_LEN], int nskip,
			 struct p2pv_provider *out, size_t out_len,
			 struct p2pv_path *paths, size_t path_len)
{
	int nprov = p2pv_graph_num_providers();
	struct p2pv_graph_device **devs;
	struct p2pv_provider chosen;
	struct candidate *cand;
	struct tally t = { 0 };
	int i, k, n = 0, best, ret = -1;
	uint64_t avail;

	devs = calloc(num ? (size_t)num : 1, sizeof(*devs));
	cand = calloc(nprov ? (size_t)nprov : 1, sizeof(*cand));
	if (!devs || !cand) {
		p2pv_err(ENOMEM, "out of memory");
		goto out;
	}
	for (k = 0; k < num; k++) {
		devs[k] = p2pv_graph_device(names[k]);
		if (!devs[k])
			goto out;
	}
	for (i = 0; i < nprov; i++)
		if (p2pv_graph_provider(i)->published &&
		    !skipped(p2pv_graph_provider(i)->pci_addr, skip, nskip) &&
		    score(devs, num, i, &cand[n], &t) == 0)
			n++;
	qsort(cand, (size_t)n, sizeof(*cand), rank_cmp);
	best = pick(cand, n, min_available, &avail, &t);
	if (best < 0 && n) {
		/* the table may be behind frees of other processes */
		for (k = 0; k < n; k++)
			p2pv_freemem_refresh(p2pv_graph_provider(cand[k].prov)->pci_addr,
					     NULL);
		t.exhausted = 0;
		best = pick(cand, n, min_available, &avail, &t);
	}
	if (best < 0) {
		p2pv_err(ENODEV, "no usable P2PDMA provider (%d found, %d exhausted or too small, %d refused%s%s%s)",
			 nprov, t.exhausted, t.refused,
			 nskip ? ", the others failed to allocate" : "",
			 t.refused ? "; last: " : "", t.last_refusal);
		goto out;
	}
	chosen = *p2pv_graph_provider(cand[best].prov);
	chosen.available = avail;
	p2pv_out_fill(out, out_len, &chosen, sizeof(chosen));
	for (k = 0; paths && k < num; k++)
		p2pv_out_fill((char *)paths + (size_t)k * path_len, path_len,
			      p2pv_graph_path(devs[k], cand[best].prov),
			      sizeof(struct p2pv_path));
	ret = 0;
out:
	free(devs);
	free(cand);
	return ret;
}

P2PV_EXPORT int p2pv_choose_provider_by_name(const char *const *names, int num,
					     uint64_t min_available,
					     struct p2pv_provider *out,
					     size_t out_len,
					     struct p2pv_path *paths,
					     size_t path_len)
{
	int k, ret;

	if (p2pv_out_check(out, out_len, P2PV_PROVIDER_LEN_1_0,
			   "p2pv_choose_provider") < 0 ||
	    (paths && p2pv_out_check(paths, path_len, P2PV_PATH_LEN_1_0,
				     "p2pv_choose_provider") < 0))
		return -1;
	if (num < 0 || (num > 0 && !names) || num > 4096)
		return p2pv_err(EINVAL, "p2pv_choose_provider: bad device list");
	for (k = 0; k < num; k++)
		if (!names[k])
			return p2pv_err(EINVAL, "p2pv_choose_provider: NULL device %d", k);
	if (p2pv_graph_lock() < 0)
		return -1;
	ret = choose_locked(names, num, min_available, NULL, 0, out, out_len,
			    paths, path_len);
	p2pv_graph_unlock();
	return ret;
}

int p2pv_choose_skip(const char *const *names, int num, uint64_t min_available,
		     const char (*skip)[P2PV_PCI_ADDR_LEN], int nskip,
		     struct p2pv_provider *out)
{
	int ret;

	if (p2pv_graph_lock() < 0)
		return -1;
	ret = choose_locked(names, num, min_available, skip, nskip, out,
			    sizeof(*out), NULL, 0);
	p2pv_graph_unlock();
	return ret;
}

P2PV_EXPORT int p2pv_choose_provider(struct ibv_device *const *devices, int num,
				     uint64_t min_available,
				     struct p2pv_provider *out, size_t out_len,
				     struct p2pv_path *paths, size_t path_len)
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
	ret = p2pv_choose_provider_by_name(names, num, min_available, out,
					   out_len, paths, path_len);
	free(names);
	return ret;
}
