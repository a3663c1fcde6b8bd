/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * The free-memory table: what each provider has available for this
 * process's allocations, as the allocator last saw it.  The choice ranks
 * providers with it and reads no file; the allocator keeps it true: the
 * value is re-read after each allocation from the provider, whether it
 * succeeded or failed for lack of memory, and a free adds the buffer back.
 * A failure never writes a guess: the next choice sees the provider's own
 * count, so a transient failure (another process's buffer freed a moment
 * later, a race for the last range) does not push later buffers farther
 * away.  Providers this process does not allocate from are re-read when
 * none has enough (frees of other processes).
 *
 * One lock of its own, taken inside the graph's and never around anything
 * else; the sysfs reads happen with it dropped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "p2pv_priv.h"

struct entry {
	char bdf[P2PV_PCI_ADDR_LEN];
	uint64_t available;
	int known;
};

static struct {
	pthread_mutex_t lock;
	struct entry *e;
	size_t n, cap;
} t = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* the entry of bdf; locked; NULL when there is none */
static struct entry *find(const char *bdf)
{
	size_t i;

	for (i = 0; i < t.n; i++)
		if (!strcmp(t.e[i].bdf, bdf))
			return &t.e[i];
	return NULL;
}

static void store(const char *bdf, uint64_t available, int known)
{
	struct entry *bigger = NULL, *old = NULL, *e;
	size_t cap = 0;

	for (;;) {
		pthread_mutex_lock(&t.lock);
		e = find(bdf);
		if (e || t.n < t.cap)
			break;
		if (bigger && cap > t.cap) {
			if (t.n)
				memcpy(bigger, t.e, t.n * sizeof(*t.e));
			old = t.e;
			t.e = bigger;
			t.cap = cap;
			bigger = NULL;
			break;
		}
		cap = t.cap ? t.cap * 2 : 8;
		pthread_mutex_unlock(&t.lock);
		free(bigger);
		bigger = malloc(cap * sizeof(*bigger));
		if (!bigger)
			return;		/* not remembered: read again next time */
	}
	if (!e) {
		e = &t.e[t.n++];
		memset(e, 0, sizeof(*e));
		memcpy(e->bdf, bdf, strnlen(bdf, sizeof(e->bdf) - 1));
	}
	e->available = available;
	e->known = known;
	pthread_mutex_unlock(&t.lock);
	free(old);
	free(bigger);
}

void p2pv_freemem_seed(const char *bdf, uint64_t available)
{
	store(bdf, available, 1);
}

int p2pv_freemem_refresh(const char *bdf, uint64_t *available)
{
	uint64_t avail;
	int saved = errno;

	if (p2pv_provider_available(bdf, &avail) < 0)
		avail = 0;	/* unreadable: nothing to count on */
	errno = saved;
	store(bdf, avail, 1);
	if (available)
		*available = avail;
	return 0;
}

uint64_t p2pv_freemem_get(const char *bdf)
{
	struct entry *e;
	uint64_t avail = 0;
	int known;

	pthread_mutex_lock(&t.lock);
	e = find(bdf);
	known = e && e->known;
	if (known)
		avail = e->available;
	pthread_mutex_unlock(&t.lock);
	if (!known)
		p2pv_freemem_refresh(bdf, &avail);
	return avail;
}

void p2pv_freemem_note_alloc(const char *bdf, int err)
{
	if (!err || err == ENOMEM || err == EDQUOT)
		p2pv_freemem_refresh(bdf, NULL);
}

void p2pv_freemem_note_free(const char *bdf, uint64_t length)
{
	struct entry *e;

	pthread_mutex_lock(&t.lock);
	e = find(bdf);
	if (e && e->known)
		e->available += length;
	pthread_mutex_unlock(&t.lock);
}

/* a child forked while another thread held the lock gets it free */
static void fork_prepare(void)
{
	pthread_mutex_lock(&t.lock);
}

static void fork_done(void)
{
	pthread_mutex_unlock(&t.lock);
}

__attribute__((constructor)) static void freemem_fork_safe(void)
{
	pthread_atfork(fork_prepare, fork_done, fork_done);
}
