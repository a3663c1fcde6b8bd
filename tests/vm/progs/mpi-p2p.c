/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An MPI job whose buffers are P2P memory, for Open MPI over UCX across two
 * hosts (issue 18).  Two ranks, one per host:
 *
 *   mpi-p2p --provider BDF --ibdev DEV [--alloc mmap|p2pverbs[,...]]
 *           [--win BYTES] [--msg BYTES] [--reduce COUNT]
 *           [--fault SECONDS]
 *
 * Every buffer the job hands to MPI is a buffer of its own in P2P memory of
 * /dev/p2pmem/BDF on the rank's host, obtained the way an application would:
 * an mmap() of the provider node (--alloc mmap, the default), or
 * p2pv_buf_alloc() of libp2pverbs (--alloc p2pverbs); "--alloc
 * mmap,p2pverbs" runs every check once with each, in one job (a page more
 * for the window and the messages in the second round).  The job checks, byte
 * for byte, by CPU reads of the receiving buffer on each rank:
 *
 *   rma-fence    MPI_Win_create on P2P memory; MPI_Put into the peer's
 *                window and MPI_Get from it into P2P memory, fence epochs
 *   rma-lock     the same in passive-target epochs (MPI_Win_lock/unlock)
 *   sendrecv     P2P -> P2P messages of --msg bytes both ways (large enough
 *                for UCX's rendezvous protocol), and an unaligned one
 *   allreduce    MPI_Allreduce (MPI_SUM, int64) with send and receive
 *                buffer in P2P memory
 *
 * Then the evidence that the engine moved the data in P2P memory rather than
 * through a bounce buffer (p2p-evidence.h): every buffer is a dma-buf
 * mapping; the rank's MRs on DEV include one of the window's length and two
 * of the message length (lengths nothing else in the job has), i.e. the
 * engine registered the window and both rendezvous buffers themselves (a
 * mapping of P2P memory can only be registered as its dma-buf); and with
 * libp2pverbs buffers, whose dma-buf fd the program holds, ATTACH_QUERY must
 * show a live DEV attachment on the window and both message buffers.
 *
 * --fault SECONDS: rank 0 writes into rank 1's window in passive-target
 * epochs, one every 50 ms, until an epoch fails; once the first epoch has been checked rank 1
 * prints "ready: ..." and waits, for the caller to remove the provider under
 * the window.  Should MPI return the error, rank 0 prints it and aborts the
 * job (exit status 2 from mpirun); with no error within SECONDS the job
 * fails with "no error".
 *
 * Exit status 0 when every check passed on both ranks; a failed check prints
 * "FAIL: rank R: ..." and aborts the job.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mpi.h>

#include <infiniband/p2pverbs.h>
#include "p2p-evidence.h"
#include "t-report.h"

static int rank;

__attribute__((format(printf, 1, 2), noreturn))
static void fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "FAIL: rank %d: ", rank);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	MPI_Abort(MPI_COMM_WORLD, 1);
	exit(1);
}

#define CHECK(cond, ...)                  \
	do {                              \
		if (!(cond))              \
			fail(__VA_ARGS__); \
	} while (0)

/* An MPI call that must succeed (MPI_ERRORS_RETURN is set on the world) */
#define MPI_OK(call)                                                     \
	do {                                                             \
		int rc_ = (call);                                        \
		if (rc_ != MPI_SUCCESS) {                                \
			char s_[MPI_MAX_ERROR_STRING];                   \
			int n_ = 0;                                      \
			MPI_Error_string(rc_, s_, &n_);                  \
			fail("%s: %s", #call, s_);                       \
		}                                                        \
	} while (0)

struct options {
	const char *provider;
	const char *ibdev;
	bool use_lib;		/* this round's allocator */
	bool allocs[2];		/* --alloc, in order: p2pverbs or not */
	int n_allocs;
	size_t win;
	size_t msg;
	size_t reduce;
	int fault_seconds;	/* 0: no fault run */
};

/* One buffer of P2P memory, however it was obtained */
struct p2p_buf {
	const char *name;
	uint8_t *addr;
	size_t len;
	struct p2pv_buf *lib;	/* --alloc p2pverbs */
};

static int node = -1;	/* /dev/p2pmem/<provider>, for ATTACH_QUERY */
static struct options opt = {
	.win = 256 << 10,
	.msg = (1 << 20) + 3 * 4096,	/* a length UCX has no other use for */
	.reduce = 1 << 16,
};

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

static void buf_alloc(struct p2p_buf *b, const char *name, size_t len)
{
	char path[64];

	b->name = name;
	b->len = page_round(len);
	b->lib = NULL;
	if (opt.use_lib) {
		b->lib = p2pv_buf_alloc(opt.provider, NULL, b->len);
		CHECK(b->lib, "p2pv_buf_alloc(%s, %zu) for %s: %s", opt.provider,
		      b->len, name, p2pv_last_error());
		b->addr = b->lib->addr;
		return;
	}
	/* Each mapping of the node is a zeroed buffer of its own */
	snprintf(path, sizeof(path), "/dev/p2pmem/%s", opt.provider);
	int fd = open(path, O_RDWR | O_CLOEXEC);

	CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	b->addr = mmap(NULL, b->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(b->addr != MAP_FAILED, "mmap %s, %zu bytes for %s: %s", path, b->len,
	      name, strerror(errno));
	close(fd);
}

static void buf_free(struct p2p_buf *b)
{
	if (b->lib)
		CHECK(!p2pv_buf_free(b->lib), "p2pv_buf_free %s: %s", b->name,
		      p2pv_last_error());
	else
		CHECK(!munmap(b->addr, b->len), "munmap %s: %s", b->name, strerror(errno));
}

/* The byte at offset I of data that rank R wrote in step STEP */
static uint8_t pattern(int r, int step, size_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)(r + 1) << 40) ^
		     ((uint64_t)step << 52);

	return (uint8_t)(x >> 29 ^ x >> 51);
}

static void fill(uint8_t *p, size_t len, int r, int step)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(r, step, i);
}

/* Compare LEN bytes at P (a CPU read of the receiving buffer) */
static void expect(const char *what, const uint8_t *p, size_t len, int r, int step)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(r, step, i))
			fail("%s: byte %zu of %zu is 0x%02x, rank %d wrote 0x%02x", what, i,
			     len, p[i], r, pattern(r, step, i));
	t_ok("rank %d: %s: %zu bytes from rank %d verified", rank, what, len, r);
}

static void check_rma(MPI_Win win, struct p2p_buf *w, struct p2p_buf *origin,
		      struct p2p_buf *get_dst, int peer)
{
	int n = (int)opt.win;

	/* fence epochs: put into the peer's window, get from it */
	fill(origin->addr, opt.win, rank, 1);
	MPI_OK(MPI_Win_fence(0, win));
	MPI_OK(MPI_Put(origin->addr, n, MPI_BYTE, peer, 0, n, MPI_BYTE, win));
	MPI_OK(MPI_Win_fence(0, win));
	expect("rma-fence MPI_Put into this window", w->addr, opt.win, peer, 1);

	fill(w->addr, opt.win, rank, 2);
	MPI_OK(MPI_Win_fence(0, win));
	MPI_OK(MPI_Get(get_dst->addr, n, MPI_BYTE, peer, 0, n, MPI_BYTE, win));
	MPI_OK(MPI_Win_fence(MPI_MODE_NOSUCCEED, win));
	expect("rma-fence MPI_Get from the peer's window", get_dst->addr, opt.win, peer, 2);

	/* passive target: exclusive lock for the put, shared for the get */
	fill(origin->addr, opt.win, rank, 3);
	MPI_OK(MPI_Barrier(MPI_COMM_WORLD));
	MPI_OK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, peer, 0, win));
	MPI_OK(MPI_Put(origin->addr, n, MPI_BYTE, peer, 0, n, MPI_BYTE, win));
	MPI_OK(MPI_Win_unlock(peer, win));
	MPI_OK(MPI_Barrier(MPI_COMM_WORLD));
	MPI_OK(MPI_Win_lock(MPI_LOCK_SHARED, rank, 0, win));
	expect("rma-lock MPI_Put into this window", w->addr, opt.win, peer, 3);
	MPI_OK(MPI_Win_unlock(rank, win));

	MPI_OK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, rank, 0, win));
	fill(w->addr, opt.win, rank, 4);
	MPI_OK(MPI_Win_unlock(rank, win));
	MPI_OK(MPI_Barrier(MPI_COMM_WORLD));
	MPI_OK(MPI_Win_lock(MPI_LOCK_SHARED, peer, 0, win));
	MPI_OK(MPI_Get(get_dst->addr, n, MPI_BYTE, peer, 0, n, MPI_BYTE, win));
	MPI_OK(MPI_Win_unlock(peer, win));
	expect("rma-lock MPI_Get from the peer's window", get_dst->addr, opt.win, peer, 4);
	MPI_OK(MPI_Barrier(MPI_COMM_WORLD));
}

static void check_sendrecv(struct p2p_buf *s, struct p2p_buf *r, int peer)
{
	int n = (int)opt.msg;

	fill(s->addr, opt.msg, rank, 5);
	MPI_OK(MPI_Sendrecv(s->addr, n, MPI_BYTE, peer, 5, r->addr, n, MPI_BYTE, peer, 5,
			    MPI_COMM_WORLD, MPI_STATUS_IGNORE));
	expect("sendrecv P2P -> P2P", r->addr, opt.msg, peer, 5);

	/* odd length, odd offsets at both ends */
	n -= 4099;
	fill(s->addr + 3, (size_t)n, rank, 6);
	MPI_OK(MPI_Sendrecv(s->addr + 3, n, MPI_BYTE, peer, 6, r->addr + 1, n, MPI_BYTE,
			    peer, 6, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
	expect("sendrecv P2P -> P2P, unaligned", r->addr + 1, (size_t)n, peer, 6);
}

static int64_t contribution(int r, size_t i)
{
	return (int64_t)(i * 2654435761u % 1000003) * (r + 1) - (int64_t)r * 7;
}

static void check_allreduce(struct p2p_buf *s, struct p2p_buf *r)
{
	int64_t *in = (int64_t *)s->addr, *out = (int64_t *)r->addr;

	for (size_t i = 0; i < opt.reduce; i++)
		in[i] = contribution(rank, i);
	MPI_OK(MPI_Allreduce(in, out, (int)opt.reduce, MPI_INT64_T, MPI_SUM,
			     MPI_COMM_WORLD));
	for (size_t i = 0; i < opt.reduce; i++) {
		int64_t want = contribution(0, i) + contribution(1, i);

		CHECK(out[i] == want, "allreduce: element %zu is %" PRId64 ", expected %" PRId64,
		      i, out[i], want);
	}
	t_ok("rank %d: allreduce: %zu int64 sums over P2P send and receive buffers verified",
	     rank, opt.reduce);
}

/*
 * B was registered by the engine itself (p2p-evidence.h).  Every buffer must
 * be a dma-buf mapping.  With a libp2pverbs buffer, which has its dma-buf
 * fd, REQUIRED means an rxe attachment with a live mapping must be there;
 * otherwise the attachments are reported.
 */
static void check_buffer(const struct p2p_buf *b, bool required)
{
	char all[512];
	int n;

	CHECK(p2p_in_dmabuf_mapping(b->addr), "the %s buffer is not in a dma-buf mapping",
	      b->name);
	if (!b->lib)
		return;
	n = p2p_live_attachments(node, b->lib->dmabuf_fd, opt.ibdev, all, sizeof(all));
	CHECK(n >= 0, "ATTACH_QUERY on the %s buffer: %s", b->name, strerror(-n));
	if (required)
		CHECK(n > 0, "the %s buffer has no live attachment by %s (attachments: %s): "
		      "the engine did not register this memory", b->name, opt.ibdev,
		      all[0] ? all : "none");
	printf("%s: rank %d: %s buffer: attachments of its dma-buf: %s\n",
	       n > 0 ? "ok" : "info", rank, b->name, all[0] ? all : "none");
}

/*
 * The rank's MRs on opt.ibdev include one of the window's length and two of
 * the message length (send and receive buffer): lengths no other buffer of
 * the job has (the window is a page longer than any RMA transfer, which the
 * engine registers by its own length).
 */
static void check_mrs(const struct p2p_buf *w, const struct p2p_buf *msg)
{
	char lengths[1024];
	int nw = p2p_mrs_of_length(opt.ibdev, w->len, lengths, sizeof(lengths));
	int nm = p2p_mrs_of_length(opt.ibdev, msg->len, lengths, sizeof(lengths));

	CHECK(nw >= 0 && nm >= 0, "the MRs on %s: %s", opt.ibdev, lengths);
	CHECK(nw >= 1 && nm >= 2, "%d MRs of the window's %zu bytes (1 wanted) and %d of the "
	      "messages' %zu bytes (2 wanted) on %s; this rank's MRs are %s bytes long",
	      nw, w->len, nm, msg->len, opt.ibdev, lengths);
	t_ok("rank %d: %s holds MRs of the window's length (%d) and of the message buffers' "
	     "(%d); all this rank's MRs there: %s", rank, opt.ibdev, nw, nm, lengths);
}

/* --fault: rank 0 writes into rank 1's window until an epoch fails */
static int fault_run(MPI_Win win, struct p2p_buf *w, struct p2p_buf *origin)
{
	int n = (int)opt.win, rc = MPI_SUCCESS;
	char s[MPI_MAX_ERROR_STRING];
	uint64_t deadline;
	long epochs = 0;

	MPI_OK(MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN));
	fill(origin->addr, opt.win, rank, 7);
	if (rank == 0) {
		MPI_OK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 1, 0, win));
		MPI_OK(MPI_Put(origin->addr, n, MPI_BYTE, 1, 0, n, MPI_BYTE, win));
		MPI_OK(MPI_Win_unlock(1, win));
	}
	MPI_OK(MPI_Barrier(MPI_COMM_WORLD));
	if (rank == 1) {
		expect("fault: first MPI_Put into this window", w->addr, opt.win, 0, 7);
		printf("ready: rank 1 window in P2P memory of %s, remove it\n", opt.provider);
		fflush(stdout);
		/* until rank 0 is done: an error there aborts the job */
		MPI_OK(MPI_Barrier(MPI_COMM_WORLD));
		fail("fault: rank 0 finished without an error");
	}
	deadline = t_now_ms() + (uint64_t)opt.fault_seconds * 1000;
	while (rc == MPI_SUCCESS && t_now_ms() < deadline) {
		/* paced: a job in progress, not a link saturated under the
		 * output rank 1's "ready" line travels on */
		usleep(50000);
		rc = MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 1, 0, win);
		if (rc == MPI_SUCCESS)
			rc = MPI_Put(origin->addr, n, MPI_BYTE, 1, 0, n, MPI_BYTE, win);
		if (rc == MPI_SUCCESS)
			rc = MPI_Win_unlock(1, win);
		epochs++;
	}
	if (rc == MPI_SUCCESS)
		fail("fault: %ld epochs into rank 1's window in %d s, no error", epochs,
		     opt.fault_seconds);
	n = 0;
	MPI_Error_string(rc, s, &n);
	printf("fault: rank 0: epoch %ld into rank 1's window failed: %s\n", epochs, s);
	fflush(stdout);
	MPI_Abort(MPI_COMM_WORLD, 2);
	return 2;
}

static size_t parse_size(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || !v || v > (1ull << 30)) {
		fprintf(stderr, "mpi-p2p: bad %s \"%s\"\n", what, s);
		exit(2);
	}
	return (size_t)v;
}

static void usage(void);

/* "mmap", "p2pverbs" or both, comma-separated */
static void parse_allocs(const char *v)
{
	char *list = strdup(v), *save, *tok;

	opt.n_allocs = 0;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (opt.n_allocs == 2 || (strcmp(tok, "mmap") && strcmp(tok, "p2pverbs")))
			usage();
		opt.allocs[opt.n_allocs++] = !strcmp(tok, "p2pverbs");
	}
	free(list);
	if (!opt.n_allocs)
		usage();
}

static void usage(void)
{
	fprintf(stderr, "usage: mpi-p2p --provider BDF --ibdev DEV [--alloc mmap|p2pverbs[,...]]\n"
			"       [--win BYTES] [--msg BYTES] [--reduce COUNT]\n"
			"       [--fault SECONDS]\n");
	exit(2);
}

static void parse(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--provider"))
			opt.provider = v;
		else if (!strcmp(a, "--ibdev"))
			opt.ibdev = v;
		else if (!strcmp(a, "--alloc"))
			parse_allocs(v);
		else if (!strcmp(a, "--win"))
			opt.win = parse_size(v, "window size");
		else if (!strcmp(a, "--msg"))
			opt.msg = parse_size(v, "message size");
		else if (!strcmp(a, "--reduce"))
			opt.reduce = parse_size(v, "reduce count");
		else if (!strcmp(a, "--fault"))
			opt.fault_seconds = (int)parse_size(v, "seconds");
		else
			usage();
	}
	if (!opt.provider || !opt.ibdev || opt.msg <= 8192)
		usage();
	if (!opt.n_allocs)
		opt.n_allocs = 1;	/* mmap */
}

/*
 * One round of every check on buffers from one allocator.  The window and
 * message lengths are the caller's: each round uses lengths of its own, so
 * that MRs a previous round left in the engine's cache cannot pass for this
 * round's (check_mrs()).
 */
static void run_round(int peer, const char *host, const char *peer_host)
{
	struct p2p_buf w, origin, get_dst, msg_s, msg_r, red_s, red_r;
	MPI_Win win;

	/* a page more than any transfer: see check_mrs() */
	buf_alloc(&w, "window", opt.win + (size_t)sysconf(_SC_PAGESIZE));
	buf_alloc(&origin, "rma-origin", opt.win);
	MPI_OK(MPI_Win_create(w.addr, (MPI_Aint)w.len, 1, MPI_INFO_NULL, MPI_COMM_WORLD,
			      &win));
	MPI_OK(MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN));
	t_ok("rank %d on %s (peer on %s): window of %zu bytes in P2P memory of %s (%s)",
	     rank, host, peer_host, w.len, opt.provider,
	     opt.use_lib ? "p2pv_buf_alloc" : "mmap of the node");

	if (opt.fault_seconds)
		exit(fault_run(win, &w, &origin));

	buf_alloc(&get_dst, "rma-get-target", opt.win);
	buf_alloc(&msg_s, "send", opt.msg);
	buf_alloc(&msg_r, "receive", opt.msg);
	buf_alloc(&red_s, "allreduce-send", opt.reduce * sizeof(int64_t));
	buf_alloc(&red_r, "allreduce-receive", opt.reduce * sizeof(int64_t));

	check_rma(win, &w, &origin, &get_dst, peer);
	check_sendrecv(&msg_s, &msg_r, peer);
	check_allreduce(&red_s, &red_r);

	/* registered by the engine: the window (osc ucx maps it), both
	 * rendezvous buffers (zero-copy on both sides) */
	check_buffer(&w, true);
	check_buffer(&msg_s, true);
	check_buffer(&msg_r, true);
	check_buffer(&origin, false);
	check_buffer(&get_dst, false);
	check_buffer(&red_s, false);
	check_buffer(&red_r, false);
	check_mrs(&w, &msg_s);
	MPI_OK(MPI_Barrier(MPI_COMM_WORLD));

	MPI_OK(MPI_Win_free(&win));
	buf_free(&red_r);
	buf_free(&red_s);
	buf_free(&msg_r);
	buf_free(&msg_s);
	buf_free(&get_dst);
	buf_free(&origin);
	buf_free(&w);
	t_ok("rank %d: every check passed (%s)", rank,
	     opt.use_lib ? "p2pv_buf_alloc" : "mmap of the node");
}

int main(int argc, char **argv)
{
	char host[MPI_MAX_PROCESSOR_NAME], peer_host[MPI_MAX_PROCESSOR_NAME] = "";
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char path[64];
	int size, len, peer;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse(argc, argv);
	MPI_Init(&argc, &argv);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	CHECK(size == 2, "run with exactly 2 ranks, not %d", size);
	peer = 1 - rank;
	snprintf(path, sizeof(path), "/dev/p2pmem/%s", opt.provider);
	node = open(path, O_RDWR | O_CLOEXEC);
	CHECK(node >= 0, "open %s: %s", path, strerror(errno));
	MPI_Get_processor_name(host, &len);
	MPI_OK(MPI_Sendrecv(host, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, peer, 0, peer_host,
			    MPI_MAX_PROCESSOR_NAME, MPI_CHAR, peer, 0, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE));
	CHECK(strcmp(host, peer_host), "both ranks run on %s: one rank per host wanted", host);

	for (int i = 0; i < opt.n_allocs; i++) {
		opt.use_lib = opt.allocs[i];
		run_round(peer, host, peer_host);
		opt.win += page;
		opt.msg += page;
	}
	close(node);
	t_ok("rank %d: every check passed", rank);
	MPI_Finalize();
	return 0;
}
