/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * libp2pverbs under concurrency, fork() and resource limits, on the real
 * kernel, rxe and rdma-core.
 *
 *   p2pverbs-stress threads DEV0 DEV1 THREADS OPS PROVIDER...
 *   p2pverbs-stress fork    DEV0 DEV1 PROVIDER
 *   p2pverbs-stress nofile  PROVIDER
 *   p2pverbs-stress pool    PROVIDER
 *
 * "threads": THREADS threads do OPS operations each -- allocate a P2P buffer
 * from a random provider, register it (p2pv_reg_buf, p2pv_reg_mr or
 * p2pv_reg_mr_iova2, random sub-range), deregister, free, and register a
 * sub-range of one buffer all threads share -- on one protection domain of
 * DEV1, while the main thread keeps RDMA WRITEs from DEV0 flowing into that
 * shared buffer and checks every byte.  Each buffer carries its owner's tag
 * at both ends, checked before it is freed (no two buffers share memory, no
 * buffer changes under its owner).  At the end every pool is back to its
 * starting size and the process holds the file descriptors it started with.
 *
 * "fork": after registration, fork() behaves as docs/user-guide.md says: the
 * child sees the parent's P2P buffers (shared memory, not copy-on-write),
 * none of its MRs, and can register the inherited buffers on verbs objects of
 * its own and move data with RDMA; the parent's MRs keep working, and a
 * buffer freed by the child stays with the parent.
 *
 * "nofile": RLIMIT_NOFILE bounds the buffers of a process (one fd each);
 * "pool": an exhausted pool refuses further allocation.  Both fail with a
 * clear errno and message, leave no partial buffer behind, and every pool
 * byte and fd returns.
 *
 * Prints "ok: ..." per check; on failure "FAIL: ..." and exit status 1.
 */
#include <infiniband/p2pverbs.h>

#include <dirent.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p2pv-rdma.h"

#define ACCESS		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)
#define SHARED_LEN	(256u * 1024)
#define XFER		(16u * 1024)
#define SLOTS		8
#define MAX_PROVS	8

static uint64_t available(const char *prov)
{
	struct p2pv_provider p;

	T_CHECK(!p2pv_query_provider(prov, &p, sizeof(p)), "p2pv_query_provider(%s): %s",
		prov, p2pv_last_error());
	return p.available;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	T_CHECK(d, "opendir /proc/self/fd");
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

/*
 * The library keeps a few descriptors of its own once it has looked at the
 * machine (provider nodes, /proc/self/maps, the uevent socket or sequence
 * number), and it looks lazily (the graph when something first asks for a
 * path, a choice or an MR's mode): one allocation and one choice first, so
 * that they are part of the count.
 */
static int open_fds_after_warm_up(const char *prov)
{
	struct p2pv_buf *buf = p2pv_buf_alloc(prov, NULL, 4096);
	struct p2pv_provider p;

	T_CHECK(buf, "first allocation: %s", p2pv_last_error());
	T_CHECK(!p2pv_buf_free(buf), "p2pv_buf_free: %s", p2pv_last_error());
	T_CHECK(!p2pv_choose_provider_by_name(NULL, 0, 0, &p, sizeof(p), NULL, 0),
		"p2pv_choose_provider: %s", p2pv_last_error());
	return open_fds();
}

/* ---- threads ------------------------------------------------------------ */

struct stress {
	struct ibv_pd *pd;
	const char *const *provs;
	int nprovs;
	long ops;
	struct p2pv_buf *shared;
	volatile int done;
};

struct worker {
	pthread_t th;
	int id;
	unsigned int seed;
	const struct stress *st;
	long allocs, regs, deregs, frees;
	char err[512];		/* first failure; the thread stops there */
};

struct slot {
	struct p2pv_buf *b;
	struct ibv_mr *mr;
	uint32_t tag;
};

__attribute__((format(printf, 2, 3)))
static int wfail(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
	return -1;
}

static void put_tag(struct slot *s)
{
	volatile uint8_t *p = s->b->addr;

	memcpy((void *)p, &s->tag, 4);
	memcpy((void *)(p + s->b->length - 4), &s->tag, 4);
}

static int tag_ok(const struct slot *s)
{
	const volatile uint8_t *p = s->b->addr;
	uint32_t head, tail;

	memcpy(&head, (const void *)p, 4);
	memcpy(&tail, (const void *)(p + s->b->length - 4), 4);
	return head == s->tag && tail == s->tag;
}

/* The MR covers [addr, addr + len) of B and says so through the library */
static int check_mr(struct worker *w, struct ibv_mr *mr, struct p2pv_buf *b,
		    void *addr, size_t len, const char *how)
{
	struct p2pv_mr_info mi;
	size_t off = (size_t)((char *)addr - (char *)b->addr);

	if (!mr)
		return wfail(w, "%s on %s (%zu bytes at +%zu): %s", how,
			     b->provider, len, off, p2pv_last_error());
	if (mr->addr != addr || mr->length != len)
		return wfail(w, "%s: MR says %p+%zu, registered %p+%zu", how,
			     mr->addr, mr->length, addr, len);
	if (p2pv_mr_query(mr, &mi, sizeof(mi)) < 0)
		return wfail(w, "%s: p2pv_mr_query: %s", how, p2pv_last_error());
	if (mi.type != P2PV_MEM_P2P || strcmp(mi.provider, b->provider) ||
	    mi.dmabuf_offset != b->dmabuf_offset + off || mi.dmabuf_fd != b->dmabuf_fd)
		return wfail(w, "%s: p2pv_mr_query: provider %s offset %llu fd %d, expected %s %zu %d",
			     how, mi.provider, (unsigned long long)mi.dmabuf_offset,
			     mi.dmabuf_fd, b->provider, b->dmabuf_offset + off,
			     b->dmabuf_fd);
	return 0;
}

static int do_alloc(struct worker *w, struct slot *s, long op)
{
	const struct stress *st = w->st;
	const char *prov = st->provs[rand_r(&w->seed) % st->nprovs];
	size_t len = (size_t)(1 + rand_r(&w->seed) % 16) * 4096;

	s->b = p2pv_buf_alloc(prov, NULL, len);
	if (!s->b)
		return wfail(w, "p2pv_buf_alloc(%s, %zu): %s", prov, len,
			     p2pv_last_error());
	if (s->b->type != P2PV_MEM_P2P || strcmp(s->b->provider, prov) ||
	    p2pv_is_p2p((char *)s->b->addr + len - 1) != 1)
		return wfail(w, "p2pv_buf_alloc(%s): not P2P memory of %s", prov, prov);
	s->tag = ((uint32_t)w->id << 24) ^ (uint32_t)op;
	put_tag(s);
	w->allocs++;
	return 0;
}

static int do_reg(struct worker *w, struct slot *s)
{
	size_t off = (size_t)(rand_r(&w->seed) % 4) * 1024 + (size_t)(rand_r(&w->seed) % 64);
	size_t len = 1 + (size_t)rand_r(&w->seed) % (s->b->length - off);
	char *addr = (char *)s->b->addr + off;
	const char *how;

	switch (rand_r(&w->seed) % 3) {
	case 0:
		how = "p2pv_reg_buf";
		s->mr = p2pv_reg_buf(w->st->pd, s->b, off, len, ACCESS);
		break;
	case 1:
		how = "p2pv_reg_mr";
		s->mr = p2pv_reg_mr(w->st->pd, addr, len, ACCESS);
		break;
	default:
		how = "p2pv_reg_mr_iova2";
		s->mr = p2pv_reg_mr_iova2(w->st->pd, addr, len, (uintptr_t)addr,
					  ACCESS);
		break;
	}
	w->regs++;
	return check_mr(w, s->mr, s->b, addr, len, how);
}

static int do_dereg(struct worker *w, struct ibv_mr **mr)
{
	int ret = p2pv_dereg_mr(*mr);

	*mr = NULL;
	w->deregs++;
	return ret ? wfail(w, "p2pv_dereg_mr: %s", strerror(ret < 0 ? errno : ret)) : 0;
}

static int do_free(struct worker *w, struct slot *s)
{
	if (!tag_ok(s))
		return wfail(w, "buffer of %s at %p lost its tag %#x: memory shared or changed",
			     s->b->provider, s->b->addr, s->tag);
	if (p2pv_buf_free(s->b) < 0)
		return wfail(w, "p2pv_buf_free: %s", p2pv_last_error());
	s->b = NULL;
	w->frees++;
	return 0;
}

/* A registration of the buffer every thread shares, while RDMA hits it */
static int reg_shared(struct worker *w)
{
	struct p2pv_buf *b = w->st->shared;
	size_t off = (size_t)rand_r(&w->seed) % (b->length / 2);
	size_t len = 1 + (size_t)rand_r(&w->seed) % (b->length - off);
	struct ibv_mr *mr;

	mr = p2pv_reg_mr(w->st->pd, (char *)b->addr + off, len, ACCESS);
	w->regs++;
	if (check_mr(w, mr, b, (char *)b->addr + off, len, "p2pv_reg_mr (shared)"))
		return -1;
	return do_dereg(w, &mr);
}

/* One operation on a random slot; returns how many operations it made */
static int one_op(struct worker *w, struct slot *slots, long op)
{
	struct slot *s = &slots[rand_r(&w->seed) % SLOTS];
	int dice = rand_r(&w->seed) % 10;

	if (!s->b)
		return do_alloc(w, s, op) ? -1 : 1;
	if (s->mr)
		return do_dereg(w, &s->mr) ? -1 : 1;
	if (dice < 2)
		return reg_shared(w) ? -1 : 2;
	if (dice < 7)
		return do_reg(w, s) ? -1 : 1;
	return do_free(w, s) ? -1 : 1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct slot slots[SLOTS];
	long op = 0;
	int i, n;

	memset(slots, 0, sizeof(slots));
	while (op < w->st->ops) {
		n = one_op(w, slots, op);
		if (n < 0)
			return NULL;
		op += n;
	}
	for (i = 0; i < SLOTS; i++) {
		if (slots[i].mr && do_dereg(w, &slots[i].mr))
			return NULL;
		if (slots[i].b && do_free(w, &slots[i]))
			return NULL;
	}
	return NULL;
}

static int cmd_threads(const char *dev0, const char *dev1, int nthreads,
		       long ops, const char *const *provs, int nprovs)
{
	uint64_t before[MAX_PROVS];
	struct worker *w = calloc((size_t)nthreads, sizeof(*w));
	char *joined = calloc((size_t)nthreads, 1);
	struct ibv_mr *src_mr, *dst_mr;
	struct t_side s0, s1;
	struct ibv_device **list;
	struct stress st;
	uint8_t *src;
	long writes = 0, total[4] = { 0 };
	int fds, i, running;
	uint64_t t0;

	T_CHECK(w && joined && nthreads > 0 && ops > 0, "bad thread or operation count");
	T_CHECK(nprovs <= MAX_PROVS, "at most %d providers", MAX_PROVS);
	list = t_open_pair(&s0, &s1, dev0, dev1);
	src = aligned_alloc(4096, XFER);
	T_CHECK(src, "out of memory");
	src_mr = ibv_reg_mr(s0.pd, src, XFER, ACCESS);
	T_CHECK(src_mr, "ibv_reg_mr (host): %s", strerror(errno));
	memset(&st, 0, sizeof(st));
	st.pd = s1.pd;
	st.provs = provs;
	st.nprovs = nprovs;
	st.ops = ops;
	st.shared = p2pv_buf_alloc(provs[0], NULL, SHARED_LEN);
	T_CHECK(st.shared, "p2pv_buf_alloc(%s): %s", provs[0], p2pv_last_error());
	dst_mr = p2pv_reg_buf(s1.pd, st.shared, 0, 0, ACCESS);
	T_CHECK(dst_mr, "p2pv_reg_buf (shared): %s", p2pv_last_error());
	for (i = 0; i < nprovs; i++)
		before[i] = available(provs[i]);
	fds = open_fds_after_warm_up(provs[0]);

	t0 = t_now_ms();
	for (i = 0; i < nthreads; i++) {
		w[i].id = i + 1;
		w[i].seed = (unsigned int)(i + 1) * 7919u;
		w[i].st = &st;
		T_CHECK(!pthread_create(&w[i].th, NULL, worker_main, &w[i]),
			"pthread_create");
	}
	/* RDMA WRITE into the shared buffer until every worker is done */
	do {
		unsigned int seed = (unsigned int)writes + 100;
		size_t off = (size_t)(writes % (SHARED_LEN / XFER)) * XFER;
		long bad;

		t_fill(src, XFER, seed);
		t_rdma(&s0, IBV_WR_RDMA_WRITE, src, src_mr->lkey,
		       (uintptr_t)st.shared->addr + off, dst_mr->rkey, XFER);
		bad = t_verify((uint8_t *)st.shared->addr + off, XFER, seed);
		T_CHECK(bad < 0, "RDMA WRITE %ld into the shared buffer: byte %ld differs",
			writes, bad);
		writes++;
		running = 0;
		for (i = 0; i < nthreads; i++) {
			if (!joined[i])
				joined[i] = !pthread_tryjoin_np(w[i].th, NULL);
			running += !joined[i];
		}
	} while (running);
	for (i = 0; i < nthreads; i++) {
		T_CHECK(!w[i].err[0], "thread %d: %s", w[i].id, w[i].err);
		total[0] += w[i].allocs;
		total[1] += w[i].regs;
		total[2] += w[i].deregs;
		total[3] += w[i].frees;
	}
	t_ok("%d threads x %ld operations in %.1f s: %ld allocations, %ld registrations, %ld deregistrations, %ld frees; %ld RDMA WRITEs into the shared buffer verified meanwhile",
	     nthreads, ops, (double)(t_now_ms() - t0) / 1000, total[0], total[1],
	     total[2], total[3], writes);
	T_CHECK(total[0] == total[3] && total[1] == total[2],
		"unbalanced: %ld allocations, %ld frees, %ld registrations, %ld deregistrations",
		total[0], total[3], total[1], total[2]);
	for (i = 0; i < nprovs; i++)
		T_CHECK(available(provs[i]) == before[i],
			"%s: %llu bytes available, %llu before", provs[i],
			(unsigned long long)available(provs[i]),
			(unsigned long long)before[i]);
	T_CHECK(open_fds() == fds, "%d fds open, %d before", open_fds(), fds);
	t_ok("every pool back to its size, no fd left open (%d)", fds);

	T_CHECK(!p2pv_dereg_mr(dst_mr), "p2pv_dereg_mr (shared)");
	T_CHECK(!p2pv_buf_free(st.shared), "p2pv_buf_free (shared)");
	T_CHECK(!ibv_dereg_mr(src_mr), "ibv_dereg_mr (host)");
	free(src);
	free(joined);
	free(w);
	t_close_pair(&s0, &s1, list);
	return 0;
}

/* ---- fork --------------------------------------------------------------- */

/* In the child: the inherited buffer, fresh verbs objects, RDMA into it */
static int fork_child(const char *dev0, const char *dev1, struct p2pv_buf *b,
		      struct ibv_mr *parent_mr)
{
	struct p2pv_mr_info mi;
	struct ibv_device **list;
	struct ibv_mr *src_mr, *mr;
	struct t_side c0, c1;
	uint8_t *src;
	void *addr;
	long bad;

	T_CHECK(p2pv_is_p2p(b->addr) == 1, "child: the inherited buffer is not P2P memory");
	bad = t_verify(b->addr, XFER, 1);
	T_CHECK(bad < 0, "child: parent's data differs at byte %ld", bad);
	T_CHECK(p2pv_mr_query(parent_mr, &mi, sizeof(mi)) < 0 && errno == ENOENT,
		"child: the parent's MR is in the child's table");
	list = t_open_pair(&c0, &c1, dev0, dev1);
	src = aligned_alloc(4096, XFER);
	T_CHECK(src, "out of memory");
	t_fill(src, XFER, 2);
	src_mr = ibv_reg_mr(c0.pd, src, XFER, ACCESS);
	T_CHECK(src_mr, "child: ibv_reg_mr (host): %s", strerror(errno));
	mr = p2pv_reg_mr(c1.pd, b->addr, b->length, ACCESS);
	T_CHECK(mr, "child: p2pv_reg_mr on the inherited buffer: %s", p2pv_last_error());
	T_CHECK(!p2pv_mr_query(mr, &mi, sizeof(mi)) && mi.dmabuf_fd == b->dmabuf_fd,
		"child: the child's MR is not a dma-buf MR of the inherited fd");
	t_rdma(&c0, IBV_WR_RDMA_WRITE, src, src_mr->lkey, (uintptr_t)b->addr,
	       mr->rkey, XFER);
	bad = t_verify(b->addr, XFER, 2);
	T_CHECK(bad < 0, "child: RDMA WRITE into the inherited buffer: byte %ld differs", bad);
	T_CHECK(!p2pv_dereg_mr(mr) && !ibv_dereg_mr(src_mr), "child: deregistration");
	t_close_pair(&c0, &c1, list);
	free(src);
	addr = b->addr;
	T_CHECK(!p2pv_buf_free(b), "child: p2pv_buf_free: %s", p2pv_last_error());
	T_CHECK(!p2pv_is_p2p(addr), "child: the freed buffer is still registered");
	return 0;
}

static int cmd_fork(const char *dev0, const char *dev1, const char *prov)
{
	/* static: in the child these are the parent's objects, which it must
	 * not use or free; static storage keeps them reachable for the leak
	 * checkers (valgrind, LeakSanitizer) when the child exits */
	static struct ibv_mr *src_mr, *mr;
	static struct ibv_device **list;
	static struct t_side s0, s1;
	static struct p2pv_buf *b;
	static uint8_t *src;
	struct p2pv_mr_info mi;
	uint64_t start;
	pid_t pid;
	int st;
	long bad;

	start = available(prov);
	list = t_open_pair(&s0, &s1, dev0, dev1);
	src = aligned_alloc(4096, XFER);
	T_CHECK(src, "out of memory");
	src_mr = ibv_reg_mr(s0.pd, src, XFER, ACCESS);
	T_CHECK(src_mr, "ibv_reg_mr (host): %s", strerror(errno));
	b = p2pv_buf_alloc(prov, NULL, SHARED_LEN);
	T_CHECK(b, "p2pv_buf_alloc(%s): %s", prov, p2pv_last_error());
	mr = p2pv_reg_buf(s1.pd, b, 0, 0, ACCESS);
	T_CHECK(mr, "p2pv_reg_buf: %s", p2pv_last_error());
	t_fill(src, XFER, 1);
	t_rdma(&s0, IBV_WR_RDMA_WRITE, src, src_mr->lkey, (uintptr_t)b->addr,
	       mr->rkey, XFER);

	fflush(stdout);
	pid = fork();
	T_CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		exit(fork_child(dev0, dev1, b, mr));
	T_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
	T_CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "the child failed (status %#x)", st);
	t_ok("child: saw the parent's buffer and data, none of its MRs; registered the buffer on its own PD, RDMA WRITE verified; freed its copy");

	bad = t_verify(b->addr, XFER, 2);
	T_CHECK(bad < 0, "parent: the child's RDMA WRITE is not in the shared buffer (byte %ld)", bad);
	t_ok("parent: the child's RDMA WRITE is in the buffer (shared, not copy-on-write)");
	T_CHECK(p2pv_is_p2p(b->addr) == 1 && !p2pv_mr_query(mr, &mi, sizeof(mi)),
		"parent: the buffer or the MR is gone after the child freed its copy");
	t_fill(src, XFER, 3);
	t_rdma(&s0, IBV_WR_RDMA_WRITE, src, src_mr->lkey, (uintptr_t)b->addr + XFER,
	       mr->rkey, XFER);
	bad = t_verify((uint8_t *)b->addr + XFER, XFER, 3);
	T_CHECK(bad < 0, "parent: RDMA WRITE after fork: byte %ld differs", bad);
	memset(src, 0, XFER);
	t_rdma(&s0, IBV_WR_RDMA_READ, src, src_mr->lkey, (uintptr_t)b->addr,
	       mr->rkey, XFER);
	bad = t_verify(src, XFER, 2);
	T_CHECK(bad < 0, "parent: RDMA READ after fork: byte %ld differs", bad);
	t_ok("parent: its MR still works after fork: RDMA WRITE and READ verified");

	T_CHECK(!p2pv_dereg_mr(mr) && !ibv_dereg_mr(src_mr), "deregistration");
	T_CHECK(!p2pv_buf_free(b), "p2pv_buf_free: %s", p2pv_last_error());
	free(src);
	t_close_pair(&s0, &s1, list);
	T_CHECK(available(prov) == start, "%s: %llu bytes available, %llu before",
		prov, (unsigned long long)available(prov), (unsigned long long)start);
	t_ok("%s: pool back to %llu bytes", prov, (unsigned long long)start);
	return 0;
}

/* ---- limits ------------------------------------------------------------- */

#define MAX_BUFS 4096

/* Allocate LEN-byte buffers until one fails; returns how many succeeded */
static int alloc_until_failure(const char *prov, size_t len,
			       struct p2pv_buf **bufs, int *err, char *msg,
			       size_t msglen)
{
	int n;

	for (n = 0; n < MAX_BUFS; n++) {
		bufs[n] = p2pv_buf_alloc(prov, NULL, len);
		if (!bufs[n]) {
			*err = errno;
			snprintf(msg, msglen, "%s", p2pv_last_error());
			return n;
		}
	}
	t_fail("%d buffers of %zu bytes and no failure", MAX_BUFS, len);
}

static void free_all(struct p2pv_buf **bufs, int n)
{
	while (n--)
		T_CHECK(!p2pv_buf_free(bufs[n]), "p2pv_buf_free: %s", p2pv_last_error());
}


/* Per process: every buffer holds one fd, so RLIMIT_NOFILE bounds them */
static int cmd_nofile(const char *prov)
{
	static struct p2pv_buf *bufs[MAX_BUFS];
	uint64_t start = available(prov);
	struct rlimit old, low;
	char msg[512];
	int n, err, fds;

	T_CHECK(p2pv_set_policy(P2PV_POLICY_REQUIRED) == 0, "p2pv_set_policy");
	fds = open_fds_after_warm_up(prov);
	T_CHECK(!getrlimit(RLIMIT_NOFILE, &old), "getrlimit");
	low = old;
	low.rlim_cur = (rlim_t)fds + 16;
	T_CHECK(!setrlimit(RLIMIT_NOFILE, &low), "setrlimit: %s", strerror(errno));
	n = alloc_until_failure(prov, 4096, bufs, &err, msg, sizeof(msg));
	T_CHECK(err == EMFILE, "RLIMIT_NOFILE %llu: errno %d (%s), expected EMFILE",
		(unsigned long long)low.rlim_cur, err, msg);
	T_CHECK(n >= 15 && n <= 16, "RLIMIT_NOFILE %d above the %d open: %d buffers",
		16, fds, n);
	T_CHECK(open_fds() == fds + n, "%d fds open after the failure, expected %d",
		open_fds(), fds + n);
	t_ok("RLIMIT_NOFILE 16 above the open fds: %d buffers, then EMFILE: %s", n, msg);
	free_all(bufs, n);
	T_CHECK(!setrlimit(RLIMIT_NOFILE, &old), "setrlimit: %s", strerror(errno));
	T_CHECK(available(prov) == start && open_fds() == fds,
		"after EMFILE: %llu bytes available (%llu before), %d fds (%d before)",
		(unsigned long long)available(prov), (unsigned long long)start,
		open_fds(), fds);
	t_ok("after EMFILE: %llu bytes available, %d fds, as before",
	     (unsigned long long)start, fds);
	return 0;
}

/* Per device: the pool */
static int cmd_pool(const char *prov)
{
	static struct p2pv_buf *bufs[MAX_BUFS];
	uint64_t start;
	char msg[512];
	int n, err, fds;

	T_CHECK(p2pv_set_policy(P2PV_POLICY_REQUIRED) == 0, "p2pv_set_policy");
	fds = open_fds_after_warm_up(prov);
	start = available(prov);
	/* "available" is what userspace may take: the pool, or the cap on it;
	 * the kernel's ALLOC says which ran out: ENOMEM the pool, EDQUOT the
	 * administrator's user_limit */
	n = alloc_until_failure(prov, 1 << 20, bufs, &err, msg, sizeof(msg));
	T_CHECK(err == EDQUOT || err == ENOMEM, "exhausted pool: errno %d (%s)", err, msg);
	T_CHECK((uint64_t)n == start >> 20, "%d buffers of 1 MiB with %llu bytes available",
		n, (unsigned long long)start);
	T_CHECK(available(prov) < (1 << 20), "%llu bytes left after the failure",
		(unsigned long long)available(prov));
	t_ok("pool of %llu bytes: %d buffers of 1 MiB, then %s: %s",
	     (unsigned long long)start, n, err == EDQUOT ? "EDQUOT" : "ENOMEM", msg);
	free_all(bufs, n);
	T_CHECK(available(prov) == start && open_fds() == fds,
		"after exhaustion: %llu bytes available (%llu before), %d fds (%d before)",
		(unsigned long long)available(prov), (unsigned long long)start,
		open_fds(), fds);
	bufs[0] = p2pv_buf_alloc(prov, NULL, start);
	T_CHECK(bufs[0], "the whole pool (%llu bytes) after recovery: %s",
		(unsigned long long)start, p2pv_last_error());
	free_all(bufs, 1);
	t_ok("everything recovered: %llu bytes available, %d fds, the whole pool allocatable at once",
	     (unsigned long long)start, fds);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 7 && !strcmp(argv[1], "threads"))
		return cmd_threads(argv[2], argv[3], atoi(argv[4]), atol(argv[5]),
				   (const char *const *)&argv[6], argc - 6);
	if (argc == 5 && !strcmp(argv[1], "fork"))
		return cmd_fork(argv[2], argv[3], argv[4]);
	if (argc == 3 && !strcmp(argv[1], "nofile"))
		return cmd_nofile(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "pool"))
		return cmd_pool(argv[2]);
	fprintf(stderr,
		"usage: %s threads DEV0 DEV1 THREADS OPS PROVIDER...\n"
		"       %s fork DEV0 DEV1 PROVIDER\n"
		"       %s nofile PROVIDER\n"
		"       %s pool PROVIDER\n", argv[0], argv[0], argv[0], argv[0]);
	return 2;
}
