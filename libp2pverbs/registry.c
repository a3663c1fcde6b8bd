/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Sorted array of non-overlapping address ranges: O(log n) lookup, O(n)
 * insert/remove (memmove), under the map's lock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "p2pv_priv.h"

/* index of the first range with start > addr */
static P2PV_HOT size_t upper(const struct p2pv_rmap *m, uintptr_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->r[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

P2PV_HOT int p2pv_rmap_insert(struct p2pv_rmap *m, uintptr_t start, uintptr_t end,
		     void *val)
{
	size_t i;
	int ret = 0;

	if (end <= start)
		return p2pv_err(EINVAL, "empty or wrapping range");
	p2pv_lock(&m->lock);
	i = upper(m, start);
	if ((i > 0 && m->r[i - 1].end > start) || (i < m->n && m->r[i].start < end)) {
		ret = p2pv_err(EEXIST, "range %#lx-%#lx overlaps a registered one",
			       (unsigned long)start, (unsigned long)end);
		goto out;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct p2pv_range *r = realloc(m->r, cap * sizeof(*r));

		if (!r) {
			ret = p2pv_err(ENOMEM, "out of memory");
			goto out;
		}
		m->r = r;
		m->cap = cap;
	}
	memmove(&m->r[i + 1], &m->r[i], (m->n - i) * sizeof(*m->r));
	m->r[i].start = start;
	m->r[i].end = end;
	m->r[i].val = val;
	__atomic_store_n(&m->n, m->n + 1, __ATOMIC_RELEASE);
out:
	p2pv_unlock(&m->lock);
	return ret;
}

/* A miss sets errno only: callers that report it write their own message,
 * and p2pv_dereg_mr() of an ordinary MR misses on every call. */
P2PV_HOT int p2pv_rmap_remove(struct p2pv_rmap *m, uintptr_t start, void **val)
{
	size_t i;
	int ret = 0;

	if (!__atomic_load_n(&m->n, __ATOMIC_ACQUIRE)) {
		errno = ENOENT;
		return -1;
	}
	p2pv_lock(&m->lock);
	i = upper(m, start);
	if (i == 0 || m->r[i - 1].start != start) {
		errno = ENOENT;
		ret = -1;
		goto out;
	}
	i--;
	if (val)
		*val = m->r[i].val;
	memmove(&m->r[i], &m->r[i + 1], (m->n - i - 1) * sizeof(*m->r));
	__atomic_store_n(&m->n, m->n - 1, __ATOMIC_RELEASE);
out:
	p2pv_unlock(&m->lock);
	return ret;
}

P2PV_HOT int p2pv_rmap_lookup(struct p2pv_rmap *m, uintptr_t addr,
		     void (*copy)(void *val, uintptr_t addr, void *arg),
		     void *arg)
{
	size_t i;
	int found = 0;

	/* lock-free fast path for processes with no P2P memory at all */
	if (!__atomic_load_n(&m->n, __ATOMIC_ACQUIRE)) {
		errno = ENOENT;
		return -1;
	}
	p2pv_lock(&m->lock);
	i = upper(m, addr);
	if (i > 0 && addr < m->r[i - 1].end) {
		found = 1;
		if (copy)
			copy(m->r[i - 1].val, addr, arg);
	}
	p2pv_unlock(&m->lock);
	if (!found) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

size_t p2pv_rmap_count(struct p2pv_rmap *m)
{
	size_t n;

	p2pv_lock(&m->lock);
	n = m->n;
	p2pv_unlock(&m->lock);
	return n;
}

/*
 * fork() copies a map in whatever state the other threads left it, and a
 * lock held by a thread that does not exist in the child would block the
 * child for ever.  The prepare handler takes every registered map's lock, so
 * the child gets maps between updates; the child, where the forking thread
 * is the only one, starts with the locks free.  No code path holds two map
 * locks, so taking them in any order cannot deadlock.
 */
#define FORK_MAPS 4
static struct {
	struct p2pv_rmap *map;
	void (*drop)(void *val);
} fork_maps[FORK_MAPS];
static int num_fork_maps;

static void fork_prepare(void)
{
	int i;

	for (i = 0; i < num_fork_maps; i++)
		p2pv_lock(&fork_maps[i].map->lock);
}

static void fork_parent(void)
{
	int i;

	for (i = num_fork_maps - 1; i >= 0; i--)
		p2pv_unlock(&fork_maps[i].map->lock);
}

static void fork_child(void)
{
	struct p2pv_rmap *m;
	size_t k;
	int i;

	for (i = 0; i < num_fork_maps; i++) {
		m = fork_maps[i].map;
		m->lock = 0;
		if (!fork_maps[i].drop)
			continue;
		for (k = 0; k < m->n; k++)
			fork_maps[i].drop(m->r[k].val);
		__atomic_store_n(&m->n, 0, __ATOMIC_RELEASE);
	}
}

void p2pv_rmap_fork_safe(struct p2pv_rmap *m, void (*drop)(void *val))
{
	if (num_fork_maps == FORK_MAPS)
		abort();	/* a static table too small: a build-time mistake */
	if (!num_fork_maps)
		pthread_atfork(fork_prepare, fork_parent, fork_child);
	fork_maps[num_fork_maps].map = m;
	fork_maps[num_fork_maps].drop = drop;
	num_fork_maps++;
}

void p2pv_rmap_destroy(struct p2pv_rmap *m)
{
	p2pv_lock(&m->lock);
	free(m->r);
	m->r = NULL;
	m->n = m->cap = 0;
	p2pv_unlock(&m->lock);
}
