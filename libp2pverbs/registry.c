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

/*
 * Room for one more range: a larger array is allocated with the lock
 * dropped and installed under it (unless another insertion did so first);
 * returns with the lock held, 0, or unlocked, -1 (ENOMEM).
 */
static int lock_with_room(struct p2pv_rmap *m)
{
	struct p2pv_range *bigger = NULL, *old = NULL;
	size_t want = 0;

	for (;;) {
		pthread_mutex_lock(&m->lock);
		if (m->n < m->cap)
			break;
		if (bigger && want > m->cap) {
			if (m->n)
				memcpy(bigger, m->r, m->n * sizeof(*m->r));
			old = m->r;
			m->r = bigger;
			m->cap = want;
			bigger = NULL;
			break;
		}
		want = m->cap ? m->cap * 2 : 64;
		pthread_mutex_unlock(&m->lock);
		free(bigger);
		bigger = malloc(want * sizeof(*bigger));
		if (!bigger) {
			errno = ENOMEM;
			return -1;
		}
	}
	if (!old && !bigger)
		return 0;
	/* what is left over is freed after the lock, and room checked again */
	pthread_mutex_unlock(&m->lock);
	free(old);
	free(bigger);
	return lock_with_room(m);
}

P2PV_HOT int p2pv_rmap_insert(struct p2pv_rmap *m, uintptr_t start, uintptr_t end,
		     void *val)
{
	size_t i;

	if (end <= start)
		return p2pv_err(EINVAL, "empty or wrapping range");
	if (lock_with_room(m) < 0)
		return p2pv_err(ENOMEM, "out of memory");
	i = upper(m, start);
	if ((i > 0 && m->r[i - 1].end > start) || (i < m->n && m->r[i].start < end)) {
		pthread_mutex_unlock(&m->lock);
		return p2pv_err(EEXIST, "range %#lx-%#lx overlaps a registered one",
				(unsigned long)start, (unsigned long)end);
	}
	memmove(&m->r[i + 1], &m->r[i], (m->n - i) * sizeof(*m->r));
	m->r[i].start = start;
	m->r[i].end = end;
	m->r[i].val = val;
	__atomic_store_n(&m->n, m->n + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&m->lock);
	return 0;
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
	pthread_mutex_lock(&m->lock);
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
	pthread_mutex_unlock(&m->lock);
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
	pthread_mutex_lock(&m->lock);
	i = upper(m, addr);
	if (i > 0 && addr < m->r[i - 1].end) {
		found = 1;
		if (copy)
			copy(m->r[i - 1].val, addr, arg);
	}
	pthread_mutex_unlock(&m->lock);
	if (!found) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

size_t p2pv_rmap_count(struct p2pv_rmap *m)
{
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = m->n;
	pthread_mutex_unlock(&m->lock);
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
static struct p2pv_rmap *fork_maps[FORK_MAPS];
static int num_fork_maps;

static void fork_prepare(void)
{
	int i;

	for (i = 0; i < num_fork_maps; i++)
		pthread_mutex_lock(&fork_maps[i]->lock);
}

static void fork_done(void)
{
	int i;

	for (i = num_fork_maps - 1; i >= 0; i--)
		pthread_mutex_unlock(&fork_maps[i]->lock);
}

void p2pv_rmap_fork_safe(struct p2pv_rmap *m)
{
	if (num_fork_maps == FORK_MAPS)
		abort();	/* a static table too small: a build-time mistake */
	if (!num_fork_maps)
		pthread_atfork(fork_prepare, fork_done, fork_done);
	fork_maps[num_fork_maps++] = m;
}

void p2pv_rmap_destroy(struct p2pv_rmap *m)
{
	pthread_mutex_lock(&m->lock);
	free(m->r);
	m->r = NULL;
	m->n = m->cap = 0;
	pthread_mutex_unlock(&m->lock);
}
