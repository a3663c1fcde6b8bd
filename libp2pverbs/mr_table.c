/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * The MR table, the record of every MR the library registered on P2P
 * memory: open addressing (linear probing, deletion by backward
 * shift), records inline, one lock.  A record is keyed by what names the MR
 * to the kernel - its verbs context and handle - and answers only for the
 * MR it was made for: the struct ibv_mr pointer, lkey, rkey, protection
 * domain, address and length must all match.  An MR deregistered past the
 * library (libibverbs' own ibv_dereg_mr()) leaves its record behind; the
 * kernel may give its handle, and the allocator its pointer, to the next
 * MR, whose keys differ: the stale record is then dropped, never reported.
 * A registration writes one record into an array allocated long before: no
 * allocator and no memmove under the lock.  The answer of p2pv_mr_query()
 * is allocated when first asked for.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "p2pv_priv.h"

#define MRT_MIN_BITS 6
static struct {
	pthread_mutex_t lock;
	unsigned bits;			/* capacity 1 << bits, 0: none yet */
	size_t n;
	struct p2pv_mr_rec *slot;
	uint64_t last_serial;
} mrt = { .lock = PTHREAD_MUTEX_INITIALIZER };

static P2PV_HOT size_t mrt_home(const struct ibv_context *context,
				uint32_t handle, unsigned bits)
{
	uint64_t k = ((uint64_t)(uintptr_t)context >> 4) ^
		     ((uint64_t)handle << 20) ^ handle;

	return (size_t)(k * 0x9e3779b97f4a7c15ULL >> (64 - bits));
}

/* the slot holding (context, handle), or the free slot where it would go;
 * locked, with a table */
static P2PV_HOT struct p2pv_mr_rec *mrt_find(const struct ibv_context *context,
					uint32_t handle)
{
	size_t mask = ((size_t)1 << mrt.bits) - 1;
	size_t i = mrt_home(context, handle, mrt.bits);

	while (mrt.slot[i].context && (mrt.slot[i].context != context ||
				       mrt.slot[i].handle != handle))
		i = (i + 1) & mask;
	return &mrt.slot[i];
}

/* the record was made for this MR (and not for one that had its handle or
 * its pointer before) */
static P2PV_HOT bool rec_is_for(const struct p2pv_mr_rec *r, const struct ibv_mr *mr)
{
	return r->mr == mr && r->lkey == mr->lkey && r->rkey == mr->rkey &&
	       r->pd == mr->pd && r->addr == (uintptr_t)mr->addr &&
	       r->length == mr->length;
}

static P2PV_HOT bool mrt_has_room(size_t n)
{
	return mrt.bits && ((n + 1) << 1) <= ((size_t)1 << mrt.bits);
}

/* the records moved into the empty table r of 1 << bits slots; locked;
 * returns the old table, for the caller to free after the lock */
static struct p2pv_mr_rec *mrt_install(struct p2pv_mr_rec *r, unsigned bits)
{
	struct p2pv_mr_rec *old = mrt.slot;
	size_t i, oldcap = mrt.bits ? (size_t)1 << mrt.bits : 0;

	mrt.slot = r;
	mrt.bits = bits;
	for (i = 0; i < oldcap; i++)
		if (old[i].context)
			*mrt_find(old[i].context, old[i].handle) = old[i];
	return old;
}

/*
 * Take the lock with room for one more record: a table twice as large is
 * allocated with the lock dropped.  Without memory the full table still
 * takes records up to its capacity.  0 locked, -1 unlocked.
 */
static P2PV_HOT int mrt_lock_with_room(void)
{
	struct p2pv_mr_rec *bigger = NULL, *old = NULL;
	unsigned want = 0;

	for (;;) {
		pthread_mutex_lock(&mrt.lock);
		if (mrt_has_room(mrt.n))
			break;
		if (bigger && want == (mrt.bits ? mrt.bits + 1 : MRT_MIN_BITS)) {
			old = mrt_install(bigger, want);
			bigger = NULL;
			break;
		}
		want = mrt.bits ? mrt.bits + 1 : MRT_MIN_BITS;
		pthread_mutex_unlock(&mrt.lock);
		free(bigger);
		bigger = calloc((size_t)1 << want, sizeof(*bigger));
		if (!bigger) {
			pthread_mutex_lock(&mrt.lock);
			if (mrt.bits && mrt.n + 1 < ((size_t)1 << mrt.bits))
				return 0;
			pthread_mutex_unlock(&mrt.lock);
			return -1;
		}
	}
	if (!old && !bigger)
		return 0;
	pthread_mutex_unlock(&mrt.lock);
	free(old);
	free(bigger);
	return mrt_lock_with_room();
}

/* remove the record of slot s, shifting the probe chain back; locked */
static P2PV_HOT void mrt_delete(struct p2pv_mr_rec *s)
{
	size_t mask = ((size_t)1 << mrt.bits) - 1;
	size_t hole = (size_t)(s - mrt.slot), i = hole, home;

	for (;;) {
		i = (i + 1) & mask;
		if (!mrt.slot[i].context)
			break;
		home = mrt_home(mrt.slot[i].context, mrt.slot[i].handle,
				mrt.bits);
		/* can the record at i move back to the hole? */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			mrt.slot[hole] = mrt.slot[i];
			hole = i;
		}
	}
	mrt.slot[hole].context = NULL;
	mrt.n--;
}

/* A forked child owns none of its parent's MRs (verbs objects do not cross
 * fork()), so its table starts empty: p2pv_mr_query() there says ENOENT. */
static void mrt_fork_prepare(void)
{
	pthread_mutex_lock(&mrt.lock);
}

static void mrt_fork_parent(void)
{
	pthread_mutex_unlock(&mrt.lock);
}

static void mrt_fork_child(void)
{
	size_t i;

	for (i = 0; mrt.bits && i < (size_t)1 << mrt.bits; i++) {
		if (mrt.slot[i].context)
			free(mrt.slot[i].answer);
		mrt.slot[i].context = NULL;
	}
	mrt.n = 0;
	pthread_mutex_unlock(&mrt.lock);
}

__attribute__((constructor)) static void mrt_fork_safe(void)
{
	pthread_atfork(mrt_fork_prepare, mrt_fork_parent, mrt_fork_child);
}

/*
 * A record already there for this (context, handle) is stale: its MR was
 * deregistered past p2pv_dereg_mr() and the kernel handed the handle out
 * again; the new MR replaces it.  Without memory for a larger table the MR
 * is registered all the same; only p2pv_mr_query() will not know it.
 */
P2PV_HOT void p2pv_mr_remember(struct ibv_mr *mr, struct p2pv_mr_rec *rec)
{
	struct p2pv_mr_info *stale = NULL;
	struct p2pv_mr_rec *s;

	rec->context = mr->context;
	rec->handle = mr->handle;
	rec->lkey = mr->lkey;
	rec->rkey = mr->rkey;
	rec->mr = mr;
	rec->pd = mr->pd;
	if (!rec->context || mrt_lock_with_room() < 0)
		return;		/* nothing to key it by, or no memory */
	rec->serial = ++mrt.last_serial;
	s = mrt_find(rec->context, rec->handle);
	if (!s->context) {
		*s = *rec;
		mrt.n++;
	} else {
		stale = s->answer;
		*s = *rec;
	}
	pthread_mutex_unlock(&mrt.lock);
	if (stale)
		free(stale);
}

/*
 * The record of mr (answer included when there is one), or -1: none, or
 * only a stale one of an MR that had mr's handle before (then dropped).
 */
int p2pv_mr_lookup(const struct ibv_mr *mr, struct p2pv_mr_rec *rec,
		     struct p2pv_mr_info *answer)
{
	struct p2pv_mr_info *stale = NULL;
	struct p2pv_mr_rec *s;
	int ret = -1;

	if (!mr->context)
		return -1;
	pthread_mutex_lock(&mrt.lock);
	if (mrt.n) {
		s = mrt_find(mr->context, mr->handle);
		if (s->context && rec_is_for(s, mr)) {
			*rec = *s;
			if (s->answer)
				*answer = *s->answer;
			ret = 0;
		} else if (s->context) {
			stale = s->answer;
			mrt_delete(s);
		}
	}
	pthread_mutex_unlock(&mrt.lock);
	free(stale);
	return ret;
}

/* keep the answer worked out for the record of serial; the caller frees
 * what is not kept */
struct p2pv_mr_info *p2pv_mr_keep_answer(const struct ibv_mr *mr,
					 uint64_t serial,
					 struct p2pv_mr_info *answer)
{
	struct p2pv_mr_rec *s;

	pthread_mutex_lock(&mrt.lock);
	if (mrt.n) {
		s = mrt_find(mr->context, mr->handle);
		if (s->context && s->serial == serial && !s->answer) {
			s->answer = answer;
			answer = NULL;
		}
	}
	pthread_mutex_unlock(&mrt.lock);
	return answer;
}

void p2pv_mr_buffer_gone(uint64_t buf_serial)
{
	size_t i;

	if (!__atomic_load_n(&mrt.n, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&mrt.lock);
	for (i = 0; mrt.bits && i < (size_t)1 << mrt.bits; i++) {
		struct p2pv_mr_rec *r = &mrt.slot[i];

		if (!r->context || r->buf_serial != buf_serial)
			continue;
		r->dmabuf_fd = -1;
		if (r->answer)
			r->answer->dmabuf_fd = -1;
	}
	pthread_mutex_unlock(&mrt.lock);
}

/* drop the record of mr, if there is one */
P2PV_HOT void p2pv_mr_forget(const struct ibv_mr *mr)
{
	struct p2pv_mr_info *answer = NULL;
	struct p2pv_mr_rec *s;

	if (!mr->context || !__atomic_load_n(&mrt.n, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&mrt.lock);
	if (mrt.n) {
		s = mrt_find(mr->context, mr->handle);
		/* a stale record of this handle goes too */
		if (s->context) {
			answer = s->answer;
			mrt_delete(s);
		}
	}
	pthread_mutex_unlock(&mrt.lock);
	if (answer)
		free(answer);
}

