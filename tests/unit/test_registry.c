/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* The address-range registry (internal) and the public pointer queries. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "p2pv_priv.h"
#include "test.h"

#define N 5000

static void t_many(void)
{
	struct p2pv_rmap m = P2PV_RMAP_INIT;
	uintptr_t base = 0x100000;
	size_t i;
	int k;

	/* insert in a scrambled order: [base + i*0x1000, +0x800) */
	for (k = 0; k < N; k++) {
		i = ((size_t)k * 2749) % N;
		CHECK_INT(p2pv_rmap_insert(&m, base + i * 0x1000,
					   base + i * 0x1000 + 0x800,
					   (void *)(i + 1)), 0);
	}
	CHECK_INT(p2pv_rmap_count(&m), N);
	for (i = 0; i < N; i++) {
		uintptr_t s = base + i * 0x1000;

		CHECK_INT(p2pv_rmap_lookup(&m, s, NULL, NULL), 0);
		CHECK_INT(p2pv_rmap_lookup(&m, s + 0x7ff, NULL, NULL), 0);
		CHECK_INT(p2pv_rmap_lookup(&m, s + 0x800, NULL, NULL), -1);
		CHECK_INT(p2pv_rmap_lookup(&m, s - 1, NULL, NULL), -1);
	}
	CHECK_INT(p2pv_rmap_lookup(&m, 0, NULL, NULL), -1);
	CHECK_INT(p2pv_rmap_lookup(&m, UINTPTR_MAX, NULL, NULL), -1);
	/* remove the odd ones */
	for (i = 1; i < N; i += 2) {
		void *v = NULL;

		CHECK_INT(p2pv_rmap_remove(&m, base + i * 0x1000, &v), 0);
		CHECK(v == (void *)(i + 1));
	}
	CHECK_INT(p2pv_rmap_count(&m), N / 2);
	CHECK_INT(p2pv_rmap_lookup(&m, base + 0x1000, NULL, NULL), -1);
	CHECK_INT(p2pv_rmap_lookup(&m, base + 0x2000, NULL, NULL), 0);
	CHECK_INT(p2pv_rmap_remove(&m, base + 0x1000, NULL), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_INT(p2pv_rmap_remove(&m, base + 0x2001, NULL), -1);
	p2pv_rmap_destroy(&m);
}

static void t_overlap(void)
{
	struct p2pv_rmap m = P2PV_RMAP_INIT;

	CHECK_INT(p2pv_rmap_insert(&m, 1000, 2000, NULL), 0);
	CHECK_INT(p2pv_rmap_insert(&m, 3000, 4000, NULL), 0);
	/* every way to overlap */
	CHECK_INT(p2pv_rmap_insert(&m, 1000, 2000, NULL), -1);
	CHECK_INT(errno, EEXIST);
	CHECK_INT(p2pv_rmap_insert(&m, 500, 1001, NULL), -1);
	CHECK_INT(p2pv_rmap_insert(&m, 1999, 2500, NULL), -1);
	CHECK_INT(p2pv_rmap_insert(&m, 1200, 1300, NULL), -1);
	CHECK_INT(p2pv_rmap_insert(&m, 900, 4100, NULL), -1);
	CHECK_INT(p2pv_rmap_insert(&m, 1500, 3500, NULL), -1);
	/* touching is fine */
	CHECK_INT(p2pv_rmap_insert(&m, 2000, 3000, NULL), 0);
	CHECK_INT(p2pv_rmap_insert(&m, 999, 1000, NULL), 0);
	/* empty and wrapping ranges */
	CHECK_INT(p2pv_rmap_insert(&m, 5000, 5000, NULL), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(p2pv_rmap_insert(&m, 6000, 10, NULL), -1);
	CHECK_INT(p2pv_rmap_count(&m), 4);
	p2pv_rmap_destroy(&m);
}

static struct p2pv_rmap shared = P2PV_RMAP_INIT;
static int stop;

static void *reader(void *arg)
{
	long misses = 0;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		/* the fixed range must always be found */
		if (p2pv_rmap_lookup(&shared, 0x500, NULL, NULL) < 0)
			misses++;
	return (void *)misses;
}

static void t_threads(void)
{
	pthread_t th[3];
	void *r;
	int i, k;

	CHECK_INT(p2pv_rmap_insert(&shared, 0x400, 0x600, NULL), 0);
	for (i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, reader, NULL);
	for (k = 0; k < 2000; k++) {
		uintptr_t s = 0x10000 + (uintptr_t)(k % 50) * 0x100;

		if (p2pv_rmap_insert(&shared, s, s + 0x80, NULL) < 0)
			p2pv_rmap_remove(&shared, s, NULL);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], &r);
		CHECK(r == NULL);
	}
	p2pv_rmap_destroy(&shared);
}

static void t_public_queries(void)
{
	long page = sysconf(_SC_PAGESIZE);
	struct p2pv_buf *a, *b;
	struct p2pv_ptr_info pi;
	int fd = memfd_create("p2pv-test", MFD_CLOEXEC);

	CHECK(fd >= 0);
	CHECK_INT(ftruncate(fd, 8 * page), 0);
	a = p2pv_buf_import(fd, 0, (size_t)(2 * page), "0000:03:00.0");
	/* unaligned offset into the same dma-buf */
	b = p2pv_buf_import(fd, (uint64_t)(3 * page + 100), 1000, NULL);
	CHECK(a != NULL && b != NULL);
	if (!a || !b)
		return;
	CHECK_INT(a->type, P2PV_MEM_P2P);
	CHECK(a->dmabuf_fd >= 0 && a->dmabuf_fd != fd);	/* duplicated */
	CHECK_INT(p2pv_is_p2p(a->addr), 1);
	CHECK_INT(p2pv_is_p2p((char *)a->addr + 2 * page - 1), 1);
	CHECK_INT(p2pv_is_p2p((char *)a->addr + 2 * page), 0);
	CHECK_INT(p2pv_ptr_query((char *)a->addr + 5000, &pi), 0);
	CHECK(pi.buf == a);
	CHECK_INT(pi.offset, 5000);
	CHECK_INT(pi.dmabuf_offset, 5000);
	CHECK_INT(pi.remaining, 2 * page - 5000);
	CHECK_STR(pi.provider, "0000:03:00.0");
	CHECK_INT(pi.dmabuf_fd, a->dmabuf_fd);
	CHECK_INT(p2pv_ptr_query((char *)b->addr + 10, &pi), 0);
	CHECK(pi.buf == b);
	CHECK_INT(pi.dmabuf_offset, 3 * page + 110);
	CHECK_INT(pi.remaining, 990);
	CHECK_STR(pi.provider, "");
	/* writes through one mapping are visible through the fd */
	((char *)b->addr)[0] = 'x';
	{
		char c = 0;

		CHECK_INT(pread(fd, &c, 1, 3 * page + 100), 1);
		CHECK_INT(c, 'x');
	}
	CHECK_INT(p2pv_buf_free(a), 0);
	CHECK_INT(p2pv_is_p2p(b->addr), 1);
	CHECK_INT(p2pv_buf_free(b), 0);
	CHECK_INT(p2pv_ptr_query(b, &pi), -1);
	CHECK_INT(errno, ENOENT);
	close(fd);
}

static const struct tcase cases[] = {
	{ "many", t_many },
	{ "overlap", t_overlap },
	{ "threads", t_threads },
	{ "public_queries", t_public_queries },
	{ NULL, NULL },
};

TEST_MAIN(cases)
