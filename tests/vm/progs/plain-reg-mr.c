/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Plain ibv_reg_mr() on P2P memory, from a program that knows nothing of
 * p2pverbs: it links libibverbs only (no libp2pverbs, no LD_PRELOAD) and
 * hands the verbs a pointer into a mapping of P2P memory (issue 13).
 *
 *   plain-reg-mr PROVIDER DEV0 DEV1 CASE
 *
 * tests/vm/progs/CMakeLists.txt builds it three ways:
 *
 *   plain-reg-mr          dynamic, calls ibv_reg_mr() (the exported function)
 *   plain-reg-mr-dlvsym   dynamic, takes ibv_reg_mr and ibv_reg_mr_iova2 as
 *                         NCCL does: dlopen("libibverbs.so.1") and
 *                         dlvsym(h, "ibv_reg_mr", "IBVERBS_1.1")
 *   plain-reg-mr-static   linked with -static against the static rdma-core of
 *                         the userspace prefix, rxe provider built in
 *                         (RDMA_STATIC_PROVIDERS=rxe)
 *
 * PROVIDER is the PCI name of a P2P provider (/dev/p2pmem/PROVIDER); DEV0 and
 * DEV1 are rxe0 and rxe1 of rxe_pair (guest/lib.sh).  P2P memory is
 * registered on DEV0, host memory on DEV1, and an RC QP pair between them
 * moves the data.  CASE is one of:
 *
 *   uapi       P2PMEM_IOC_ALLOC, mmap of the dma-buf, ibv_reg_mr on the
 *              pointer; the dma-buf fd closed after registration;
 *              ATTACH_QUERY names DEV0; also a sub-range through
 *              ibv_reg_mr_iova2 with an iova unlike the address
 *   socket     the buffer is allocated by another process (a child) and
 *              passed over a unix socket (SCM_RIGHTS); this process maps
 *              and registers it; the child sees the data through its own
 *              mapping
 *   node       mmap() of /dev/p2pmem/PROVIDER itself: a zeroed buffer of
 *              the mapping's length, registered; zeroed again for the next
 *              owner; a non-zero offset and MAP_PRIVATE are refused
 *   offset     a mapping of the second half of a dma-buf (mmap offset), a
 *              sub-range of it with a page offset registered
 *   munmap     munmap (and close) right after registration, for a dma-buf
 *              mapping and a node mapping: the MR keeps the memory and RDMA
 *              WRITE/READ still move data through it
 *   cross-end  ranges crossing the end of a mapping (into unmapped space,
 *              into a second P2P mapping): EFAULT
 *   span       ranges spanning host and P2P memory, both orders: EFAULT
 *   readonly   a PROT_READ mapping of an O_RDWR dma-buf registered with a
 *              write access: EACCES; with remote read only it registers and
 *              RDMA READ works
 *   readonly-buf  the same for a dma-buf allocated O_RDONLY, which can be
 *              mapped for reading only (a writable mapping: EACCES)
 *   removed    an MR and mappings live; prints "ready: remove PROVIDER" and
 *              waits (bounded) until the caller has removed the provider:
 *              then an RDMA WRITE into the MR completes with an error, a
 *              registration of the revoked mappings fails with ENODEV, and
 *              everything is released
 *
 * The data checks move 1 MiB (the whole buffer) each way: RDMA WRITE and READ
 * with the P2P MR as the remote side (posted on DEV1) and as the local side
 * (posted on DEV0), compared byte for byte through the CPU mapping or, once
 * it is gone, through host memory.  Every case but "removed" ends with the
 * provider's available bytes and the process's descriptor count back at
 * their start values; "removed" checks the descriptors.
 *
 * Output: "ok: [VARIANT] [PROVIDER] CASE: ..." per check; the first failing
 * check prints "FAIL: [VARIANT] [PROVIDER] CASE: ..." with the errno name and
 * exits 1.  Every wait is bounded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* dlvsym, strerrorname_np; the CMake build defines it */
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <linux/p2pmem.h>

#include "p2pmem-client.h"
#include "p2pv-rdma.h"

#if defined(RDMA_STATIC_PROVIDERS)
#define VARIANT "static"
#elif defined(PLAIN_REG_MR_DLVSYM)
#define VARIANT "dlvsym"
#else
#define VARIANT "dynamic"
#endif

#define BUF_SIZE	(1u << 20)
#define HALF		(BUF_SIZE / 2)
#define PAGE		4096u
#define SUB_OFFSET	(PAGE + 100)	/* a sub-range with a page offset */
#define SUB_LEN		(64u * 1024)
#define SUB_IOVA	(0x7e0000000000ull + 100)
#define ACCESS_RW	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)
#define RELEASE_WAIT_MS	10000	/* for available to come back */
#define REMOVE_WAIT_MS	120000	/* for the caller to remove the provider */

static const char *provider, *case_name;
static int node = -1;			/* /dev/p2pmem/PROVIDER */
static struct t_side a, b;		/* DEV0: P2P MRs; DEV1: host memory */
static uint8_t *host;			/* 2 * BUF_SIZE on DEV1 */
static struct ibv_mr *host_mr;

/* --- reporting ------------------------------------------------------------ */

__attribute__((format(printf, 1, 2), noreturn))
static void fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t_fail("[%s] [%s] %s: %s", VARIANT, provider, case_name, msg);
}

__attribute__((format(printf, 1, 2)))
static void ok(const char *fmt, ...)
{
	va_list ap;

	printf("ok: [%s] [%s] %s: ", VARIANT, provider, case_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* "EFAULT (Bad address)"; four at a time may be live in one message */
static const char *errstr(int e)
{
	static char bufs[4][128];
	static unsigned int next;
	const char *name = strerrorname_np(e);
	char *buf = bufs[next++ % 4];

	snprintf(buf, sizeof(bufs[0]), "%s (%s)", name ? name : "?", strerror(e));
	return buf;
}

/* --- plain registration: the three ways ---------------------------------- */

typedef struct ibv_mr *(*reg_mr_fn)(struct ibv_pd *, void *, size_t, int);
typedef struct ibv_mr *(*reg_mr_iova2_fn)(struct ibv_pd *, void *, size_t,
					  uint64_t, unsigned int);

#ifdef PLAIN_REG_MR_DLVSYM
static reg_mr_fn dl_reg_mr;
static reg_mr_iova2_fn dl_reg_mr_iova2;

/* As NCCL's ibvwrap does: the library by soname, the symbols by version */
static void resolve_verbs(void)
{
	void *h = dlopen("libibverbs.so.1", RTLD_NOW);

	if (!h)
		t_fail("dlopen(libibverbs.so.1): %s", dlerror());
	dl_reg_mr = (reg_mr_fn)dlvsym(h, "ibv_reg_mr", "IBVERBS_1.1");
	dl_reg_mr_iova2 = (reg_mr_iova2_fn)dlvsym(h, "ibv_reg_mr_iova2",
						  "IBVERBS_1.8");
	if (!dl_reg_mr || !dl_reg_mr_iova2)
		t_fail("dlvsym(ibv_reg_mr@IBVERBS_1.1, ibv_reg_mr_iova2@IBVERBS_1.8): %s",
		       dlerror());
	printf("ok: [%s] ibv_reg_mr and ibv_reg_mr_iova2 from dlvsym on dlopen(\"libibverbs.so.1\")\n",
	       VARIANT);
}
#else
static void resolve_verbs(void)
{
}
#endif

/* ibv_reg_mr() of the variant; errno set on failure */
static struct ibv_mr *reg_mr(struct ibv_pd *pd, void *addr, size_t len,
			     int access)
{
#ifdef PLAIN_REG_MR_DLVSYM
	return dl_reg_mr(pd, addr, len, access);
#else
	/* the exported function, not verbs.h's macro that may pick iova2 */
	return (ibv_reg_mr)(pd, addr, len, access);
#endif
}

static struct ibv_mr *reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t len,
				   uint64_t iova, unsigned int access)
{
#ifdef PLAIN_REG_MR_DLVSYM
	return dl_reg_mr_iova2(pd, addr, len, iova, access);
#else
	return ibv_reg_mr_iova2(pd, addr, len, iova, access);
#endif
}

/* A registration that must work */
static struct ibv_mr *must_reg(void *addr, size_t len, int access,
			       const char *what)
{
	struct ibv_mr *mr = reg_mr(a.pd, addr, len, access);

	if (!mr)
		fail("ibv_reg_mr(%s, %zu bytes): %s", what, len, errstr(errno));
	return mr;
}

/* A registration that must fail with errno WANT */
static void expect_reg_errno(void *addr, size_t len, int access, int want,
			     const char *what)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = reg_mr(a.pd, addr, len, access);
	if (mr) {
		ibv_dereg_mr(mr);
		fail("ibv_reg_mr(%s) succeeded, expected %s", what,
		     errstr(want));
	}
	if (errno != want) {
		int got = errno;

		fail("ibv_reg_mr(%s): %s, expected %s", what, errstr(got),
		     errstr(want));
	}
	ok("ibv_reg_mr(%s) -> %s", what, strerrorname_np(want));
}

static void dereg(struct ibv_mr *mr)
{
	if (ibv_dereg_mr(mr))
		fail("ibv_dereg_mr: %s", errstr(errno));
}

/* --- resources and leak checks ------------------------------------------- */

static uint64_t available(void)
{
	uint64_t v = 0;
	int err = p2pmem_read_available(provider, &v);

	if (err)
		fail("%s: p2pmem/available: %s", provider, errstr(-err));
	return v;
}

static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		fail("/proc/self/fd: %s", errstr(errno));
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

struct snap {
	uint64_t avail;
	int fds;
};

static struct snap snapshot(void)
{
	struct snap s = { available(), fd_count() };

	return s;
}

/* Descriptors and the provider's pool back where S had them */
static void check_back(const struct snap *s)
{
	uint64_t deadline = t_now_ms() + RELEASE_WAIT_MS, now;

	while ((now = available()) != s->avail) {
		if (t_now_ms() > deadline)
			fail("available %" PRIu64 " bytes %d ms after the release, %" PRIu64
			     " at the start", now, RELEASE_WAIT_MS, s->avail);
		usleep(10000);
	}
	if (fd_count() != s->fds)
		fail("%d descriptors open, %d at the start", fd_count(), s->fds);
	ok("nothing leaked: available back at %" PRIu64 " bytes, %d descriptors",
	   s->avail, s->fds);
}

/* The pool went down by at least LEN since S */
static void check_taken(const struct snap *s, uint64_t len, const char *what)
{
	uint64_t now = available();

	if (now > s->avail || s->avail - now < len)
		fail("%s: available %" PRIu64 ", %" PRIu64 " before: not %" PRIu64
		     " bytes taken from the provider", what, now, s->avail, len);
}

/* A dma-buf of LEN from the provider */
static int alloc_buf(uint64_t len, uint32_t fd_flags)
{
	int fd = p2pmem_try_alloc(node, len, fd_flags, 0);

	if (fd < 0)
		fail("P2PMEM_IOC_ALLOC of %" PRIu64 " bytes: %s", len,
		     errstr(-fd));
	return fd;
}

static void *map(void *addr, size_t len, int prot, int flags, int fd,
		 off_t off, const char *what)
{
	void *p = mmap(addr, len, prot, flags, fd, off);

	if (p == MAP_FAILED)
		fail("mmap(%s): %s", what, errstr(errno));
	return p;
}

static void unmap(void *p, size_t len)
{
	if (munmap(p, len))
		fail("munmap: %s", errstr(errno));
}

/* ATTACH_QUERY on BUF: its first attachment is DEV0's, by CPU access */
static void check_attached(int buf)
{
	struct p2pmem_attach_query q;

	memset(&q, 0, sizeof(q));
	q.dmabuf_fd = buf;
	if (ioctl(node, P2PMEM_IOC_ATTACH_QUERY, &q))
		fail("ATTACH_QUERY: %s", errstr(errno));
	if (strcmp(q.importer, a.name) || q.mode != P2PMEM_MAP_CPU)
		fail("ATTACH_QUERY: importer \"%s\" mode %u, expected %s by CPU access (%u)",
		     q.importer, q.mode, a.name, P2PMEM_MAP_CPU);
	ok("ATTACH_QUERY: the MR is an attachment of the dma-buf (%s, CPU access)",
	   q.importer);
}

/* --- data movement ------------------------------------------------------- */

/* One RDMA WRITE or READ on S; returns the completion status (bounded wait) */
static enum ibv_wc_status rdma(struct t_side *s, enum ibv_wr_opcode op,
			       uint64_t laddr, uint32_t lkey, uint64_t raddr,
			       uint32_t rkey, uint32_t len)
{
	return t_rdma_status(s, op, (void *)(uintptr_t)laddr, lkey, raddr,
			     rkey, len);
}

static void rdma_ok(struct t_side *s, enum ibv_wr_opcode op, uint64_t laddr,
		    uint32_t lkey, uint64_t raddr, uint32_t rkey, uint32_t len)
{
	enum ibv_wc_status st = rdma(s, op, laddr, lkey, raddr, rkey, len);

	if (st != IBV_WC_SUCCESS)
		fail("%s: %s of %u bytes completed with %s", s->name,
		     op == IBV_WR_RDMA_READ ? "RDMA READ" : "RDMA WRITE", len,
		     ibv_wc_status_str(st));
}

static void verify(const volatile uint8_t *p, size_t len, unsigned int seed,
		   const char *what)
{
	long i = t_verify(p, len, seed);

	if (i >= 0)
		fail("%s: byte %ld is %#x, expected %#x", what, i, p[i],
		     t_pat(seed, (size_t)i));
}

/*
 * RDMA WRITE and READ of LEN bytes through the P2P MR (whose iova for the
 * range is IOVA), on both sides of the connection.  P is the CPU view of the
 * range, or NULL when there is none (after munmap): then the data is checked
 * by reading it back over RDMA into host memory.
 */
static void exercise(struct ibv_mr *mr, volatile uint8_t *p, uint64_t iova,
		     uint32_t len, unsigned int seed)
{
	uint8_t *src = host, *dst = host + BUF_SIZE;
	uint64_t hsrc = (uintptr_t)src, hdst = (uintptr_t)dst;
	uint32_t hk = host_mr->rkey;

	/* DEV1 writes host memory into the P2P MR */
	t_fill(src, len, seed);
	rdma_ok(&b, IBV_WR_RDMA_WRITE, hsrc, host_mr->lkey, iova, mr->rkey, len);
	if (p) {
		verify(p, len, seed, "RDMA WRITE into the P2P MR (CPU view)");
		t_fill(p, len, seed + 1);
	} else {
		t_fill(src, len, seed + 1);
		rdma_ok(&b, IBV_WR_RDMA_WRITE, hsrc, host_mr->lkey, iova,
			mr->rkey, len);
	}
	/* DEV1 reads the P2P MR into host memory */
	memset(dst, 0, len);
	rdma_ok(&b, IBV_WR_RDMA_READ, hdst, host_mr->lkey, iova, mr->rkey, len);
	verify(dst, len, seed + 1, "RDMA READ from the P2P MR");
	ok("%u bytes: RDMA WRITE and READ with the P2P MR as the remote side, byte-exact",
	   len);

	/* DEV0 writes from the P2P MR into host memory */
	if (p)
		t_fill(p, len, seed + 2);
	memset(dst, 0, len);
	rdma_ok(&a, IBV_WR_RDMA_WRITE, iova, mr->lkey, hdst, hk, len);
	verify(dst, len, p ? seed + 2 : seed + 1,
	       "RDMA WRITE from the P2P MR (local)");
	/* DEV0 reads host memory into the P2P MR */
	t_fill(src, len, seed + 3);
	rdma_ok(&a, IBV_WR_RDMA_READ, iova, mr->lkey, hsrc, hk, len);
	if (p) {
		verify(p, len, seed + 3, "RDMA READ into the P2P MR (CPU view)");
	} else {
		memset(dst, 0, len);
		rdma_ok(&b, IBV_WR_RDMA_READ, hdst, host_mr->lkey, iova,
			mr->rkey, len);
		verify(dst, len, seed + 3, "RDMA READ into the P2P MR");
	}
	ok("%u bytes: RDMA WRITE and READ with the P2P MR as the local side, byte-exact",
	   len);
	/* the caller deregisters the MR next: no duplicate READ may follow */
	t_rdma_fence(&b);
}

/* --- cases --------------------------------------------------------------- */

static void case_uapi(void)
{
	struct snap s = snapshot();
	volatile uint8_t *p;
	struct ibv_mr *mr, *sub;
	uint64_t after;
	int fd;

	fd = alloc_buf(BUF_SIZE, O_RDWR | O_CLOEXEC);
	check_taken(&s, BUF_SIZE, "P2PMEM_IOC_ALLOC");
	p = map(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0,
		"the dma-buf");
	after = available();
	mr = must_reg((void *)p, BUF_SIZE, ACCESS_RW, "the dma-buf mapping");
	ok("ibv_reg_mr on a P2PMEM_IOC_ALLOC mapping: lkey %#x rkey %#x",
	   mr->lkey, mr->rkey);
	if (available() != after)
		fail("the registration changed available: %" PRIu64 " -> %" PRIu64,
		     after, available());
	check_attached(fd);
	if (close(fd))
		fail("close(dma-buf): %s", errstr(errno));
	exercise(mr, p, (uintptr_t)p, BUF_SIZE, 10);

	/* A sub-range with a page offset through ibv_reg_mr_iova2 */
	p[SUB_OFFSET - 1] = 0xa5;
	p[SUB_OFFSET + SUB_LEN] = 0x5a;
	sub = reg_mr_iova2(a.pd, (void *)(p + SUB_OFFSET), SUB_LEN, SUB_IOVA,
			   ACCESS_RW);
	if (!sub)
		fail("ibv_reg_mr_iova2(sub-range at %u, iova %#llx): %s",
		     SUB_OFFSET, (unsigned long long)SUB_IOVA, errstr(errno));
	exercise(sub, p + SUB_OFFSET, SUB_IOVA, SUB_LEN, 20);
	if (p[SUB_OFFSET - 1] != 0xa5 || p[SUB_OFFSET + SUB_LEN] != 0x5a)
		fail("RDMA through the sub-range MR touched bytes around it");
	ok("ibv_reg_mr_iova2 of a sub-range at offset %u with iova %#llx: data lands at that offset",
	   SUB_OFFSET, (unsigned long long)SUB_IOVA);
	dereg(sub);
	dereg(mr);
	unmap((void *)p, BUF_SIZE);
	check_back(&s);
}

/* The other process: allocate, fill, pass the fd, check what came back */
static int socket_child(int sk)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte = 'f';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg;
	struct cmsghdr *cm;
	volatile uint8_t *p;
	int fd, rc = 0;

	fd = p2pmem_try_alloc(node, BUF_SIZE, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "child: P2PMEM_IOC_ALLOC: %s\n", errstr(-fd));
		return 2;
	}
	p = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "child: mmap: %s\n", errstr(errno));
		return 2;
	}
	t_fill(p, BUF_SIZE, 77);

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sk, &msg, 0) != 1) {
		fprintf(stderr, "child: sendmsg: %s\n", errstr(errno));
		return 2;
	}
	close(fd);
	/* the parent's last RDMA leaves pattern 33 (exercise seed 30 + 3) */
	if (read(sk, &byte, 1) != 1) {
		fprintf(stderr, "child: no word from the parent\n");
		return 2;
	}
	if (t_verify(p, BUF_SIZE, 33) >= 0) {
		fprintf(stderr, "child: its mapping does not show the parent's RDMA data\n");
		rc = 3;
	}
	munmap((void *)p, BUF_SIZE);
	return rc;
}

static int recv_fd(int sk)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg;
	struct cmsghdr *cm;
	int fd;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	if (recvmsg(sk, &msg, MSG_CMSG_CLOEXEC) != 1)
		fail("recvmsg: %s", errstr(errno));
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)))
		fail("no descriptor in the child's message");
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static void case_socket(void)
{
	struct snap s = snapshot();
	volatile uint8_t *p;
	struct ibv_mr *mr;
	int sk[2], fd, st;
	pid_t child;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sk))
		fail("socketpair: %s", errstr(errno));
	fflush(stdout);
	child = fork();
	if (child < 0)
		fail("fork: %s", errstr(errno));
	if (!child) {
		close(sk[0]);
		_exit(socket_child(sk[1]));
	}
	close(sk[1]);
	fd = recv_fd(sk[0]);
	ok("received a dma-buf allocated by process %d", (int)child);
	p = map(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0,
		"the received dma-buf");
	verify(p, BUF_SIZE, 77, "the child's data through this mapping");
	mr = must_reg((void *)p, BUF_SIZE, ACCESS_RW, "a received dma-buf's mapping");
	ok("ibv_reg_mr on the mapping of a dma-buf from another process: lkey %#x rkey %#x",
	   mr->lkey, mr->rkey);
	check_attached(fd);
	close(fd);
	exercise(mr, p, (uintptr_t)p, BUF_SIZE, 30);
	dereg(mr);
	unmap((void *)p, BUF_SIZE);
	if (write(sk[0], "d", 1) != 1)
		fail("write to the child: %s", errstr(errno));
	if (waitpid(child, &st, 0) != child)
		fail("waitpid: %s", errstr(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("the allocating process exited with status %#x", st);
	ok("the allocating process sees the RDMA data through its own mapping");
	close(sk[0]);
	check_back(&s);
}

static void case_node(void)
{
	char path[128];
	struct snap s = snapshot();
	volatile uint8_t *p;
	struct ibv_mr *mr;
	long nz;
	void *q;
	int fd;

	snprintf(path, sizeof(path), "/dev/p2pmem/%s", provider);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail("open(%s): %s", path, errstr(errno));
	p = map(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0, path);
	check_taken(&s, BUF_SIZE, "mmap of the provider node");
	close(fd);
	for (nz = 0; nz < (long)BUF_SIZE && !p[nz]; nz++)
		;
	if (nz < (long)BUF_SIZE)
		fail("byte %ld of a fresh node mapping is %#x, not zero", nz, p[nz]);
	ok("mmap(%s) gives %u zeroed bytes from the provider", path, BUF_SIZE);
	mr = must_reg((void *)p, BUF_SIZE, ACCESS_RW, "a node mapping");
	ok("ibv_reg_mr on a mapping of the provider node: lkey %#x rkey %#x",
	   mr->lkey, mr->rkey);
	exercise(mr, p, (uintptr_t)p, BUF_SIZE, 40);
	dereg(mr);
	memset((void *)p, 0xee, BUF_SIZE);
	unmap((void *)p, BUF_SIZE);
	check_back(&s);

	/* The next owner gets zeroes, not the previous data */
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail("open(%s): %s", path, errstr(errno));
	p = map(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0, path);
	for (nz = 0; nz < (long)BUF_SIZE && !p[nz]; nz++)
		;
	if (nz < (long)BUF_SIZE)
		fail("byte %ld of the next node mapping is %#x: not zeroed", nz,
		     p[nz]);
	unmap((void *)p, BUF_SIZE);
	ok("the next mapping is zeroed again");

	/* Offset must be 0 */
	q = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, PAGE);
	if (q != MAP_FAILED)
		fail("mmap(%s) at offset %u succeeded", path, PAGE);
	ok("mmap(%s) at offset %u is refused: %s", path, PAGE, errstr(errno));
	q = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (q != MAP_FAILED)
		fail("a MAP_PRIVATE mapping of %s succeeded", path);
	ok("MAP_PRIVATE of %s is refused: %s", path, errstr(errno));
	close(fd);
	check_back(&s);
}

static void case_offset(void)
{
	struct snap s = snapshot();
	volatile uint8_t *full, *half;
	struct ibv_mr *mr;
	int fd;

	fd = alloc_buf(BUF_SIZE, O_RDWR | O_CLOEXEC);
	full = map(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0,
		   "the whole dma-buf");
	half = map(NULL, HALF, PROT_READ | PROT_WRITE, MAP_SHARED, fd, HALF,
		   "the second half of the dma-buf");
	mr = must_reg((void *)(half + SUB_OFFSET), SUB_LEN, ACCESS_RW,
		      "a sub-range of a mapping at offset 512 KiB");
	close(fd);
	exercise(mr, half + SUB_OFFSET, (uintptr_t)(half + SUB_OFFSET), SUB_LEN, 50);
	verify(full + HALF + SUB_OFFSET, SUB_LEN, 53,
	       "the data seen through the mapping of the whole buffer");
	if (full[HALF + SUB_OFFSET - 1] || full[HALF + SUB_OFFSET + SUB_LEN] ||
	    full[SUB_OFFSET])
		fail("RDMA through the sub-range MR touched bytes outside it");
	ok("the MR of a mapping at offset %u covers buffer offset %u: data lands there and nowhere else",
	   HALF, HALF + SUB_OFFSET);
	dereg(mr);
	unmap((void *)half, HALF);
	unmap((void *)full, BUF_SIZE);
	check_back(&s);
}

static void case_munmap(void)
{
	char path[128];
	struct snap s = snapshot();
	struct ibv_mr *mr;
	uint64_t iova;
	void *p;
	int fd;

	/* a dma-buf mapping: fd closed and mapping gone, the MR remains */
	fd = alloc_buf(BUF_SIZE, O_RDWR | O_CLOEXEC);
	p = map(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0,
		"the dma-buf");
	mr = must_reg(p, BUF_SIZE, ACCESS_RW, "the dma-buf mapping");
	iova = (uintptr_t)p;
	close(fd);
	unmap(p, BUF_SIZE);
	check_taken(&s, BUF_SIZE, "after munmap, with the MR");
	ok("dma-buf closed and unmapped after registration; the MR holds the memory");
	exercise(mr, NULL, iova, BUF_SIZE, 60);
	dereg(mr);
	check_back(&s);

	/* a node mapping: no descriptor at all once unmapped */
	snprintf(path, sizeof(path), "/dev/p2pmem/%s", provider);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail("open(%s): %s", path, errstr(errno));
	p = map(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0, path);
	close(fd);
	mr = must_reg(p, BUF_SIZE, ACCESS_RW, "a node mapping");
	iova = (uintptr_t)p;
	unmap(p, BUF_SIZE);
	check_taken(&s, BUF_SIZE, "after munmap of the node mapping, with the MR");
	ok("node mapping unmapped after registration; the MR holds the memory");
	exercise(mr, NULL, iova, BUF_SIZE, 70);
	dereg(mr);
	check_back(&s);
}

/* 2 * BUF_SIZE of address space, nothing accessible yet */
static uint8_t *reserve(void)
{
	return map(NULL, 2 * BUF_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0, "a reservation");
}

static void case_cross_end(void)
{
	struct snap s = snapshot();
	uint8_t *r;
	int fd, fd2;

	fd = alloc_buf(BUF_SIZE, O_RDWR | O_CLOEXEC);
	fd2 = alloc_buf(BUF_SIZE, O_RDWR | O_CLOEXEC);
	r = reserve();
	map(r, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0,
	    "the dma-buf, fixed");
	unmap(r + BUF_SIZE, BUF_SIZE);
	expect_reg_errno(r + HALF, BUF_SIZE, ACCESS_RW, EFAULT,
			 "P2P mapping end + 512 KiB of unmapped space");
	expect_reg_errno(r, BUF_SIZE + 1, ACCESS_RW, EFAULT,
			 "one byte past the end of a P2P mapping");
	map(r + BUF_SIZE, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
	    fd2, 0, "a second dma-buf right after the first");
	expect_reg_errno(r + HALF, BUF_SIZE, ACCESS_RW, EFAULT,
			 "the end of one P2P mapping into the next one");
	unmap(r, 2 * BUF_SIZE);
	close(fd);
	close(fd2);
	check_back(&s);
}

static void case_span(void)
{
	struct snap s = snapshot();
	uint8_t *r;
	int fd;

	fd = alloc_buf(BUF_SIZE, O_RDWR | O_CLOEXEC);

	/* host memory, then P2P memory */
	r = reserve();
	map(r, BUF_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0, "host memory, fixed");
	memset(r, 1, BUF_SIZE);
	map(r + BUF_SIZE, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
	    fd, 0, "the dma-buf after host memory");
	expect_reg_errno(r + HALF, BUF_SIZE, ACCESS_RW, EFAULT,
			 "512 KiB of host memory then 512 KiB of P2P memory");
	unmap(r, 2 * BUF_SIZE);

	/* P2P memory, then host memory */
	r = reserve();
	map(r, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0,
	    "the dma-buf before host memory");
	map(r + BUF_SIZE, BUF_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0, "host memory, fixed");
	memset(r + BUF_SIZE, 1, BUF_SIZE);
	expect_reg_errno(r + HALF, BUF_SIZE, ACCESS_RW, EFAULT,
			 "512 KiB of P2P memory then 512 KiB of host memory");
	unmap(r, 2 * BUF_SIZE);
	close(fd);
	check_back(&s);
}

static void case_readonly(void)
{
	struct snap s = snapshot();
	volatile uint8_t *rw, *ro;
	struct ibv_mr *mr;
	int fd;

	fd = alloc_buf(BUF_SIZE, O_RDWR | O_CLOEXEC);
	ro = map(NULL, BUF_SIZE, PROT_READ, MAP_SHARED, fd, 0,
		 "the dma-buf, read-only");
	expect_reg_errno((void *)ro, BUF_SIZE,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, EACCES,
			 "a PROT_READ P2P mapping, remote write");
	expect_reg_errno((void *)ro, BUF_SIZE, IBV_ACCESS_LOCAL_WRITE, EACCES,
			 "a PROT_READ P2P mapping, local write");

	/* read access only: registers, and DEV1 can read it */
	rw = map(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0,
		 "the dma-buf, read-write");
	t_fill(rw, BUF_SIZE, 80);
	mr = must_reg((void *)ro, BUF_SIZE, IBV_ACCESS_REMOTE_READ,
		      "a PROT_READ P2P mapping, remote read");
	memset(host + BUF_SIZE, 0, BUF_SIZE);
	rdma_ok(&b, IBV_WR_RDMA_READ, (uintptr_t)(host + BUF_SIZE), host_mr->lkey,
		(uintptr_t)ro, mr->rkey, BUF_SIZE);
	verify(host + BUF_SIZE, BUF_SIZE, 80, "RDMA READ of a read-only P2P MR");
	ok("a PROT_READ P2P mapping registers for remote read; RDMA READ of %u bytes byte-exact",
	   BUF_SIZE);
	dereg(mr);
	unmap((void *)rw, BUF_SIZE);
	unmap((void *)ro, BUF_SIZE);
	close(fd);
	check_back(&s);
}

/* A dma-buf that is read-only itself: mapped for reading only */
static void case_readonly_buf(void)
{
	struct snap s = snapshot();
	volatile uint8_t *ro;
	struct ibv_mr *mr;
	long nz;
	void *w;
	int fd;

	fd = alloc_buf(BUF_SIZE, O_RDONLY | O_CLOEXEC);
	w = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (w != MAP_FAILED || errno != EACCES)
		fail("a writable mapping of an O_RDONLY dma-buf: %s, expected EACCES",
		     w == MAP_FAILED ? errstr(errno) : "mapped");
	ok("a writable mapping of an O_RDONLY dma-buf is refused: EACCES");
	ro = map(NULL, BUF_SIZE, PROT_READ, MAP_SHARED, fd, 0,
		 "an O_RDONLY dma-buf, PROT_READ");
	expect_reg_errno((void *)ro, BUF_SIZE,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, EACCES,
			 "a mapping of an O_RDONLY dma-buf, remote write");
	mr = must_reg((void *)ro, BUF_SIZE, IBV_ACCESS_REMOTE_READ,
		      "a mapping of an O_RDONLY dma-buf, remote read");
	memset(host + BUF_SIZE, 0xff, BUF_SIZE);
	rdma_ok(&b, IBV_WR_RDMA_READ, (uintptr_t)(host + BUF_SIZE), host_mr->lkey,
		(uintptr_t)ro, mr->rkey, BUF_SIZE);
	for (nz = 0; nz < (long)BUF_SIZE && !host[BUF_SIZE + nz]; nz++)
		;
	if (nz < (long)BUF_SIZE)
		fail("RDMA READ of a fresh O_RDONLY buffer: byte %ld is %#x, not zero",
		     nz, host[BUF_SIZE + nz]);
	ok("a mapping of an O_RDONLY dma-buf registers for remote read; RDMA READ gives its %u zeroes",
	   BUF_SIZE);
	dereg(mr);
	unmap((void *)ro, BUF_SIZE);
	close(fd);
	check_back(&s);
}

static void case_removed(void)
{
	char dev[128], path[128];
	int fds = fd_count(), fd;
	volatile uint8_t *p, *q, *n;
	enum ibv_wc_status st;
	struct ibv_mr *mr;
	uint64_t deadline;

	snprintf(dev, sizeof(dev), "/sys/bus/pci/devices/%s", provider);
	snprintf(path, sizeof(path), "/dev/p2pmem/%s", provider);

	/* a live MR, a dma-buf mapping and a node mapping without one */
	fd = alloc_buf(BUF_SIZE, O_RDWR | O_CLOEXEC);
	p = map(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0,
		"the dma-buf");
	close(fd);
	fd = alloc_buf(BUF_SIZE, O_RDWR | O_CLOEXEC);
	q = map(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0,
		"a second dma-buf");
	close(fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail("open(%s): %s", path, errstr(errno));
	n = map(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0, path);
	close(fd);
	mr = must_reg((void *)p, BUF_SIZE, ACCESS_RW, "the dma-buf mapping");
	t_fill(host, BUF_SIZE, 90);
	rdma_ok(&b, IBV_WR_RDMA_WRITE, (uintptr_t)host, host_mr->lkey,
		(uintptr_t)p, mr->rkey, BUF_SIZE);
	verify(p, BUF_SIZE, 90, "RDMA WRITE before the removal");
	close(node);
	node = -1;

	printf("ready: remove %s\n", provider);
	fflush(stdout);
	deadline = t_now_ms() + REMOVE_WAIT_MS;
	while (access(dev, F_OK) == 0) {
		if (t_now_ms() > deadline)
			fail("%s still there %d s after \"ready\"", dev,
			     REMOVE_WAIT_MS / 1000);
		usleep(100000);
	}
	ok("%s removed with a live MR and three mappings", provider);

	st = rdma(&b, IBV_WR_RDMA_WRITE, (uintptr_t)host, host_mr->lkey,
		  (uintptr_t)p, mr->rkey, BUF_SIZE);
	if (st == IBV_WC_SUCCESS)
		fail("RDMA WRITE into the MR of a removed provider succeeded");
	ok("RDMA WRITE into the MR of the removed provider completes with %s",
	   ibv_wc_status_str(st));

	expect_reg_errno((void *)q, BUF_SIZE, ACCESS_RW, ENODEV,
			 "a dma-buf mapping of the removed provider");
	expect_reg_errno((void *)n, BUF_SIZE, ACCESS_RW, ENODEV,
			 "a node mapping of the removed provider");
	dereg(mr);
	unmap((void *)p, BUF_SIZE);
	unmap((void *)q, BUF_SIZE);
	unmap((void *)n, BUF_SIZE);
	/* the node was open when counting */
	if (fd_count() != fds - 1)
		fail("%d descriptors open, %d at the start (and the node closed)",
		     fd_count(), fds);
	ok("MR deregistered, mappings gone, no descriptor left");
}

static const struct {
	const char *name;
	void (*run)(void);
} cases[] = {
	{ "uapi", case_uapi },
	{ "socket", case_socket },
	{ "node", case_node },
	{ "offset", case_offset },
	{ "munmap", case_munmap },
	{ "cross-end", case_cross_end },
	{ "span", case_span },
	{ "readonly", case_readonly },
	{ "readonly-buf", case_readonly_buf },
	{ "removed", case_removed },
};

int main(int argc, char **argv)
{
	char path[128];
	struct ibv_device **list;
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 5) {
		fprintf(stderr, "usage: %s PROVIDER DEV0 DEV1 CASE\ncases:", argv[0]);
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			fprintf(stderr, " %s", cases[i].name);
		fprintf(stderr, "\n");
		return 2;
	}
	provider = argv[1];
	case_name = argv[4];
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(cases[i].name, case_name))
			break;
	if (i == sizeof(cases) / sizeof(cases[0]))
		t_fail("unknown case %s", case_name);

	resolve_verbs();
	snprintf(path, sizeof(path), "/dev/p2pmem/%s", provider);
	node = open(path, O_RDWR | O_CLOEXEC);
	if (node < 0)
		fail("open(%s): %s", path, errstr(errno));
	list = t_open_pair(&a, &b, argv[2], argv[3]);
	host = aligned_alloc(PAGE, 2 * BUF_SIZE);
	if (!host)
		fail("out of memory");
	memset(host, 0, 2 * BUF_SIZE);
	host_mr = reg_mr(b.pd, host, 2 * BUF_SIZE, ACCESS_RW);
	if (!host_mr)
		fail("ibv_reg_mr(host memory on %s): %s", b.name, errstr(errno));

	cases[i].run();

	dereg(host_mr);
	free(host);
	t_close_pair(&a, &b, list);
	if (node >= 0)
		close(node);
	printf("PASS: [%s] [%s] %s\n", VARIANT, provider, case_name);
	return 0;
}
