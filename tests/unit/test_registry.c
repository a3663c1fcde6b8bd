/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* The address-range registry (internal) and the public pointer queries. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
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

/*
 * Readers look ranges up while a writer inserts and removes others.  The
 * test shows that they really ran at the same time: each reader counts the
 * lookups during which the writer completed an operation (its operation
 * counter moved between the reader's two samples), and the writer keeps
 * going until every reader has seen enough of them (or 20 s pass: then the
 * readers never ran beside it, and the test fails).  Every answer is
 * checked: the fixed range is always there, and a churned range found
 * carries its own value.
 */
#define READERS 3
#define OVERLAPS_WANTED 200

static struct p2pv_rmap shared = P2PV_RMAP_INIT;
static int stop;
static unsigned long writer_ops;
static long overlaps[READERS], wrong[READERS];

static void copy_val(void *val, uintptr_t addr, void *arg)
{
	(void)addr;
	*(void **)arg = val;
}

static void *reader(void *arg)
{
	long id = (long)(intptr_t)arg;
	unsigned int seed = (unsigned int)id + 1;
	unsigned long before;
	uintptr_t s;
	void *v;

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		before = __atomic_load_n(&writer_ops, __ATOMIC_ACQUIRE);
		v = NULL;
		if (p2pv_rmap_lookup(&shared, 0x500, copy_val, &v) < 0 ||
		    v != (void *)0x400)
			wrong[id]++;
		s = 0x10000 + (uintptr_t)(rand_r(&seed) % 50) * 0x100;
		if (p2pv_rmap_lookup(&shared, s + 0x10, copy_val, &v) == 0 &&
		    v != (void *)s)
			wrong[id]++;
		if (__atomic_load_n(&writer_ops, __ATOMIC_ACQUIRE) != before)
			overlaps[id]++;
	}
	return NULL;
}

static int readers_saw_enough(void)
{
	int i;

	for (i = 0; i < READERS; i++)
		if (__atomic_load_n(&overlaps[i], __ATOMIC_RELAXED) < OVERLAPS_WANTED)
			return 0;
	return 1;
}

static void t_threads(void)
{
	struct timespec t0, now;
	pthread_t th[READERS];
	unsigned long k;
	int i;

	CHECK_INT(p2pv_rmap_insert(&shared, 0x400, 0x600, (void *)0x400), 0);
	for (i = 0; i < READERS; i++)
		CHECK_INT(pthread_create(&th[i], NULL, reader, (void *)(intptr_t)i), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (k = 0;; k++) {
		uintptr_t s = 0x10000 + (uintptr_t)(k % 50) * 0x100;

		if (p2pv_rmap_insert(&shared, s, s + 0x80, (void *)s) < 0)
			p2pv_rmap_remove(&shared, s, NULL);
		__atomic_add_fetch(&writer_ops, 1, __ATOMIC_RELEASE);
		if (k >= 2000 && readers_saw_enough())
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 20)
			break;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < READERS; i++) {
		printf("reader %d: %ld lookups overlapped the writer's %lu operations\n",
		       i, overlaps[i], k);
		CHECK(overlaps[i] >= OVERLAPS_WANTED);
		CHECK_INT(wrong[i], 0);
	}
	p2pv_rmap_destroy(&shared);
}

/*
 * No allocation, and so no system call of the allocator, while a map's
 * lock is held: the test's own calls to malloc/realloc/calloc/free (the
 * registry is compiled into this binary, linked with --wrap) check that
 * the map being filled is not locked by this thread.
 */
static struct p2pv_rmap *watched;
static int allocs_under_lock;

static void check_unlocked(void)
{
	if (!watched)
		return;
	if (pthread_mutex_trylock(&watched->lock) == 0)
		pthread_mutex_unlock(&watched->lock);
	else
		allocs_under_lock++;
}

void *__real_malloc(size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_calloc(size_t k, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_calloc(size_t k, size_t n);
void __wrap_free(void *p);

void *__wrap_malloc(size_t n)
{
	check_unlocked();
	return __real_malloc(n);
}

void *__wrap_realloc(void *p, size_t n)
{
	check_unlocked();
	return __real_realloc(p, n);
}

void *__wrap_calloc(size_t k, size_t n)
{
	check_unlocked();
	return __real_calloc(k, n);
}

void __wrap_free(void *p)
{
	check_unlocked();
	__real_free(p);
}

static void t_no_alloc_locked(void)
{
	struct p2pv_rmap m = P2PV_RMAP_INIT;
	uintptr_t k;

	watched = &m;
	for (k = 0; k < 1000; k++)	/* the array grows several times */
		CHECK_INT(p2pv_rmap_insert(&m, k * 16, k * 16 + 8, NULL), 0);
	CHECK_INT(p2pv_rmap_insert(&m, 4, 12, NULL), -1);	/* overlap */
	CHECK_INT(p2pv_rmap_count(&m), 1000);
	for (k = 0; k < 1000; k += 2)
		CHECK_INT(p2pv_rmap_remove(&m, k * 16, NULL), 0);
	watched = NULL;
	p2pv_rmap_destroy(&m);
	CHECK_INT(allocs_under_lock, 0);
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
	CHECK_INT(p2pv_ptr_query((char *)a->addr + 5000, &pi, sizeof(pi)), 0);
	CHECK(pi.buf == a);
	CHECK_INT(pi.offset, 5000);
	CHECK_INT(pi.dmabuf_offset, 5000);
	CHECK_INT(pi.remaining, 2 * page - 5000);
	CHECK_STR(pi.provider, "0000:03:00.0");
	CHECK_INT(pi.dmabuf_fd, a->dmabuf_fd);
	CHECK_INT(p2pv_ptr_query((char *)b->addr + 10, &pi, sizeof(pi)), 0);
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
	CHECK_INT(p2pv_ptr_query(b, &pi, sizeof(pi)), -1);
	CHECK_INT(errno, ENOENT);
	close(fd);
}

/*
 * fork() while other threads register and free buffers: every child must
 * find consistent maps and usable locks (pthread_atfork in the library), see
 * its parent's buffers, and share their memory rather than copy it.
 */
#define FORK_THREADS 8
#define FORK_OPS 10000
#define FORK_SLOTS 8

static int churn_fd;
static volatile int churn_failed;

static void *churn(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	struct p2pv_buf *slot[FORK_SLOTS] = { NULL };
	long page = sysconf(_SC_PAGESIZE);
	int op, i;

	for (op = 0; op < FORK_OPS; op++) {
		i = rand_r(&seed) % FORK_SLOTS;
		if (slot[i]) {
			if (p2pv_is_p2p((char *)slot[i]->addr + slot[i]->length - 1) != 1 ||
			    p2pv_buf_free(slot[i]) < 0)
				churn_failed = 1;
			slot[i] = NULL;
		} else {
			slot[i] = p2pv_buf_import(churn_fd,
						  (uint64_t)(rand_r(&seed) % 64) * page,
						  (size_t)(1 + rand_r(&seed) % 4) * page,
						  NULL);
			if (!slot[i])
				churn_failed = 1;
		}
	}
	for (i = 0; i < FORK_SLOTS; i++)
		if (slot[i] && p2pv_buf_free(slot[i]) < 0)
			churn_failed = 1;
	return NULL;
}

/* the child's checks; its exit status says which one failed */
static int fork_child(struct p2pv_buf *mine)
{
	struct p2pv_ptr_info pi;
	struct p2pv_buf *b;

	if (p2pv_ptr_query((char *)mine->addr + 10, &pi, sizeof(pi)) < 0 || pi.buf != mine)
		return 2;
	((volatile char *)mine->addr)[0] = 'c';
	b = p2pv_buf_import(churn_fd, 0, 4096, NULL);
	if (!b || p2pv_buf_free(b) < 0)
		return 3;
	if (p2pv_buf_free(mine) < 0 || p2pv_is_p2p(mine))
		return 4;
	return 0;
}

/* wait for PID at most 20 s: a child stuck on a lock never exits */
static int wait_child(pid_t pid)
{
	struct timespec nap = { 0, 1000000 };
	int st, i;

	for (i = 0; i < 20000; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		nanosleep(&nap, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void t_fork_threads(void)
{
	pthread_t th[FORK_THREADS];
	struct p2pv_buf *mine;
	int i, forks = 0, bad = 0;

	churn_fd = memfd_create("p2pv-fork", MFD_CLOEXEC);
	CHECK(churn_fd >= 0 && ftruncate(churn_fd, 128 * sysconf(_SC_PAGESIZE)) == 0);
	mine = p2pv_buf_import(churn_fd, 0, 4096, "0000:03:00.0");
	CHECK(mine != NULL);
	if (!mine)
		return;
	((volatile char *)mine->addr)[0] = 'p';
	for (i = 0; i < FORK_THREADS; i++)
		CHECK_INT(pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)(i + 1)), 0);
	for (forks = 0; forks < 200; forks++) {
		pid_t pid = fork();
		int st;

		if (pid == 0)
			_exit(fork_child(mine));
		CHECK(pid > 0);
		if (pid < 0)
			break;
		st = wait_child(pid);
		if (st) {
			fprintf(stderr, "fork %d: child %s %d\n", forks,
				st < 0 ? "hung, killed after 20 s;" : "exit status", st);
			bad++;
		}
		/* MAP_SHARED: the child's store is the parent's memory too */
		CHECK_INT(((volatile char *)mine->addr)[0], 'c');
		((volatile char *)mine->addr)[0] = 'p';
	}
	for (i = 0; i < FORK_THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(bad, 0);
	CHECK_INT(churn_failed, 0);
	/* the children freed their copies only */
	CHECK_INT(p2pv_is_p2p(mine->addr), 1);
	CHECK_INT(p2pv_buf_free(mine), 0);
	close(churn_fd);
	printf("%d forks while %d threads did %d imports and frees each\n",
	       forks, FORK_THREADS, FORK_OPS);
}

static const struct tcase cases[] = {
	{ "many", t_many },
	{ "overlap", t_overlap },
	{ "threads", t_threads },
	{ "no_alloc_locked", t_no_alloc_locked },
	{ "public_queries", t_public_queries },
	{ "fork_threads", t_fork_threads },
	{ NULL, NULL },
};

TEST_MAIN(cases)
