/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * The library's own registration calls and the cost of its answers.  This
 * binary is linked against libp2pverbs and the real libibverbs and run with
 *   LD_PRELOAD=libfakeverbs.so
 * so the verbs calls libp2pverbs makes reach the fake shim, which records
 * them and counts the system calls made through libc.  The fake's
 * ibv_reg_mr_iova2() stands for the kernel, which resolves a P2P mapping to
 * its dma-buf (it accepts the range); with iova2_errno = EFAULT it stands
 * for a range that is not (entirely) a P2P mapping.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <infiniband/p2pverbs.h>

#include "fakeverbs.h"
#include "test.h"
#include "topo_common.h"

#define ACC IBV_ACCESS_LOCAL_WRITE
#define LEN (3 * 4096)

static struct fakesys fs;
static struct ibv_device dev;
static struct ibv_context ctx;
static struct ibv_pd pd;

static void setup(void)
{
	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	memset(&dev, 0, sizeof(dev));
	strcpy(dev.name, "mlx5_0");
	ctx.device = &dev;
	pd.context = &ctx;
	memset(flog(), 0, sizeof(*flog()));
}

/* setup() and a 3-page buffer of "provider" 0000:03:00.0, imported from a
 * memfd at dma-buf offset 8192 (NULL: failed, checked) */
static struct p2pv_buf *setup_with_buf(int *fdp)
{
	struct p2pv_buf *b;
	int fd;

	setup();
	fd = memfd_create("fake-dmabuf", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	*fdp = fd;
	b = p2pv_buf_import(fd, 8192, LEN, "0000:03:00.0");
	CHECK(b != NULL);
	return b;
}

static void teardown(struct p2pv_buf *b, int fd)
{
	CHECK_INT(p2pv_buf_free(b), 0);
	close(fd);
	fs_fini(&fs);
}

/* munmap the buffer's pages and map anonymous memory in their place */
static void remap_anonymous(struct p2pv_buf *b)
{
	void *again;

	CHECK_INT(munmap(b->addr, LEN), 0);
	again = mmap(b->addr, LEN, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(again == b->addr);
}

/* p2pv_reg_mr*() on P2P memory: the address goes to the kernel
 * (ibv_reg_mr_iova2), which resolves the mapping; the MR is remembered */
static void t_kernel_path(void)
{
	static struct ibv_mr kept;
	struct p2pv_mr_info mi;
	struct p2pv_buf *b;
	struct ibv_mr *mr;
	char *p;
	int fd;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	p = (char *)b->addr + 100;
	/* the MR lives in the test's storage: asking about it after the
	 * deregistration reads valid memory (with libibverbs it is freed) */
	flog()->static_mr = &kept;
	flog()->next_mr = &kept;
	mr = p2pv_reg_mr(&pd, p, 200, ACC);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_mr_iova2");
	CHECK(flog()->addr == p);
	CHECK_INT(flog()->length, 200);
	CHECK_INT(flog()->iova, (uintptr_t)p);
	CHECK_INT(flog()->access, ACC);
	CHECK_INT(flog()->dmabuf_calls, 0);
	CHECK(mr && mr->addr == p);
	memset(&mi, 0xff, sizeof(mi));
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.comp_mask, P2PV_MR_INFO_MASK_REG_METHOD |
				P2PV_MR_INFO_MASK_ATTACHMENT);
	CHECK_INT(mi.reg_method, P2PV_MR_REG_MAPPING);
	CHECK_INT(mi.type, P2PV_MEM_P2P);
	CHECK_INT(mi.dmabuf_fd, b->dmabuf_fd);
	CHECK_INT(mi.dmabuf_offset, 8192 + 100);
	CHECK_INT(mi.iova, (uintptr_t)p);
	CHECK_STR(mi.provider, "0000:03:00.0");
	CHECK_INT(mi.mode, P2PV_MAP_BUS_ADDR);	/* no node: the graph's answer */
	CHECK_INT(mi.path_class, P2PV_PATH_PIX);
	CHECK_INT(mi.source, P2PV_SOURCE_SYSFS_ESTIMATE);
	CHECK_INT(p2pv_dereg_mr(mr), 0);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), -1);
	CHECK_INT(errno, ENOENT);
	flog()->static_mr = NULL;

	/* both iova entry points pass the iova on */
	mr = p2pv_reg_mr_iova(&pd, b->addr, 4096, 0x20000, ACC);
	CHECK_STR(flog()->last, "ibv_reg_mr_iova2");
	CHECK_INT(flog()->iova, 0x20000);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.iova, 0x20000);
	CHECK_INT(mi.dmabuf_offset, 8192);
	p2pv_dereg_mr(mr);
	mr = p2pv_reg_mr_iova2(&pd, (char *)b->addr + 4096, 4096, 0x30000, ACC);
	CHECK_STR(flog()->last, "ibv_reg_mr_iova2");
	CHECK_INT(flog()->iova, 0x30000);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.dmabuf_offset, 8192 + 4096);
	p2pv_dereg_mr(mr);
	CHECK_INT(flog()->dmabuf_calls, 0);

	/* the kernel's refusal is the answer, with a message */
	flog()->iova2_errno = EOPNOTSUPP;
	CHECK(p2pv_reg_mr(&pd, b->addr, 64, ACC) == NULL);
	CHECK_INT(errno, EOPNOTSUPP);
	CHECK(strstr(p2pv_last_error(), "ibv_reg_mr") != NULL);
	CHECK(strstr(p2pv_last_error(), "0000:03:00.0") != NULL);
	CHECK_INT(flog()->dmabuf_calls, 0);
	flog()->iova2_errno = 0;
	teardown(b, fd);
}

/* host memory: the matching verbs call, nothing remembered */
static void t_host(void)
{
	char *host = malloc(4096);
	struct p2pv_mr_info mi;
	struct ibv_mr *mr;

	setup();
	mr = p2pv_reg_mr(&pd, host, 100, ACC);
	CHECK_STR(flog()->last, "ibv_reg_mr");
	CHECK(flog()->addr == host);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_INT(p2pv_dereg_mr(mr), 0);
	/* verbs.h sends a non-constant access to ibv_reg_mr_iova2 */
	mr = p2pv_reg_mr_iova(&pd, host, 100, 77, ACC);
	CHECK_STR(flog()->last, "ibv_reg_mr_iova2");
	CHECK_INT(flog()->iova, 77);
	p2pv_dereg_mr(mr);
	mr = p2pv_reg_mr_iova2(&pd, host, 100, 78, ACC);
	CHECK_STR(flog()->last, "ibv_reg_mr_iova2");
	CHECK_INT(flog()->iova, 78);
	p2pv_dereg_mr(mr);
	CHECK_INT(flog()->dmabuf_calls, 0);
	free(host);
	fs_fini(&fs);
}

/*
 * The program unmaps a P2P buffer and maps anonymous memory at the same
 * address.  p2pv_reg_mr() hands the address to the kernel, which registers
 * what is mapped: host memory, and p2pv_mr_query() says so.  p2pv_reg_buf()
 * registers the buffer, whatever is mapped.
 */
static void t_remapped(void)
{
	struct p2pv_mr_info mi;
	struct p2pv_buf *b;
	struct ibv_mr *mr;
	void *addr;
	int fd;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	addr = b->addr;
	remap_anonymous(b);
	CHECK_INT(p2pv_is_p2p(addr), 0);
	{
		struct p2pv_ptr_info pi;

		CHECK_INT(p2pv_ptr_query(addr, &pi, sizeof(pi)), -1);
		CHECK_INT(errno, ENOENT);
	}
	mr = p2pv_reg_mr(&pd, (char *)addr + 4096, 4096, ACC);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_mr_iova2");
	CHECK_INT(flog()->dmabuf_calls, 0);
	memset(&mi, 0xff, sizeof(mi));
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.comp_mask, P2PV_MR_INFO_MASK_REG_METHOD);
	CHECK_INT(mi.reg_method, P2PV_MR_REG_HOST);
	CHECK_INT(mi.type, P2PV_MEM_HOST);
	CHECK_INT(mi.mode_known, 0);
	CHECK_INT(mi.dmabuf_fd, -1);
	CHECK_STR(mi.provider, "");
	CHECK_INT(mi.iova, (uintptr_t)addr + 4096);
	/* kept: the second query gives the same answer */
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.type, P2PV_MEM_HOST);
	p2pv_dereg_mr(mr);

	mr = p2pv_reg_buf(&pd, b, 4096, 0, ACC);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_dmabuf_mr");
	CHECK_INT(flog()->fd, b->dmabuf_fd);
	CHECK_INT(flog()->offset, 8192 + 4096);
	CHECK_INT(flog()->length, 2 * 4096);
	CHECK_INT(flog()->iova, (uintptr_t)addr + 4096);
	CHECK(mr && mr->addr == (char *)addr + 4096);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.reg_method, P2PV_MR_REG_DMABUF);
	CHECK_INT(mi.type, P2PV_MEM_P2P);
	CHECK_INT(mi.dmabuf_offset, 8192 + 4096);
	p2pv_dereg_mr(mr);

	/* freeing the buffer leaves the program's mapping alone */
	CHECK_INT(p2pv_buf_free(b), 0);
	((volatile char *)addr)[100] = 1;
	munmap(addr, LEN);
	close(fd);
	fs_fini(&fs);
}

/* The kernel's EFAULT for a range that is not the buffer's mapping any
 * more goes back to the caller with a message, nothing else tried; for the
 * buffer's own mapping it means a kernel without the by-address path, and
 * the buffer is registered by its fd (t_no_va_path has the details) */
static void t_efault(void)
{
	struct p2pv_buf *b;
	char *p;
	int fd;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	flog()->iova2_errno = EFAULT;
	p = (char *)b->addr + 4096 + 8;
	p2pv_dereg_mr(p2pv_reg_mr(&pd, p, 100, ACC));
	CHECK_INT(flog()->dmabuf_calls, 1);
	flog()->dmabuf_calls = 0;

	remap_anonymous(b);
	errno = 0;
	CHECK(p2pv_reg_mr(&pd, p, 100, ACC) == NULL);
	CHECK_INT(errno, EFAULT);
	CHECK_STR(flog()->last, "ibv_reg_mr_iova2");
	CHECK(strstr(p2pv_last_error(), "ibv_reg_mr") != NULL);
	CHECK(strstr(p2pv_last_error(), "not (entirely) a P2P mapping") != NULL);
	CHECK(p2pv_reg_mr_iova2(&pd, p, 100, 0x1000, ACC) == NULL);
	CHECK_INT(errno, EFAULT);
	CHECK(p2pv_reg_mr_iova(&pd, p, 100, 0x1000, ACC) == NULL);
	CHECK_INT(errno, EFAULT);
	CHECK_INT(flog()->dmabuf_calls, 0);

	/* a provider gone is the kernel's ENODEV */
	flog()->iova2_errno = ENODEV;
	CHECK(p2pv_reg_mr(&pd, (char *)b->addr + 8, 100, ACC) == NULL);
	CHECK_INT(errno, ENODEV);
	flog()->iova2_errno = 0;
	teardown(b, fd);
}

/* p2pv_reg_buf(): the buffer by its dma-buf fd, at an offset, bounded */
static void t_reg_buf(void)
{
	struct p2pv_mr_info mi;
	struct p2pv_buf *b;
	struct ibv_mr *mr;
	int fd;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	mr = p2pv_reg_buf(&pd, b, 0, 0, ACC);	/* length 0: to the end */
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_dmabuf_mr");
	CHECK_INT(flog()->fd, b->dmabuf_fd);
	CHECK_INT(flog()->offset, 8192);
	CHECK_INT(flog()->length, LEN);
	CHECK_INT(flog()->iova, (uintptr_t)b->addr);
	CHECK_INT(flog()->access, ACC);
	CHECK(mr && mr->addr == b->addr);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.reg_method, P2PV_MR_REG_DMABUF);
	CHECK_INT(mi.type, P2PV_MEM_P2P);
	CHECK_INT(mi.mode_known, 1);
	CHECK_INT(mi.mode, P2PV_MAP_BUS_ADDR);
	CHECK_INT(mi.path_class, P2PV_PATH_PIX);
	CHECK_STR(mi.provider, "0000:03:00.0");
	CHECK_INT(p2pv_dereg_mr(mr), 0);
	CHECK_INT(flog()->dereg_calls, 1);
	mr = p2pv_reg_buf(&pd, b, 4096, 100, ACC);
	CHECK(mr != NULL);
	CHECK_INT(flog()->offset, 8192 + 4096);
	CHECK_INT(flog()->length, 100);
	CHECK_INT(flog()->iova, (uintptr_t)b->addr + 4096);
	p2pv_dereg_mr(mr);
	errno = 0;
	CHECK(p2pv_reg_buf(&pd, b, LEN, 0, ACC) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_reg_buf(&pd, b, 4096, LEN, ACC) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_reg_buf(NULL, b, 0, 0, ACC) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_reg_buf(&pd, NULL, 0, 0, ACC) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(flog()->dmabuf_calls, 2);

	/* the driver's refusal is reported */
	flog()->dmabuf_errno = EOPNOTSUPP;
	CHECK(p2pv_reg_buf(&pd, b, 0, 64, ACC) == NULL);
	CHECK_INT(errno, EOPNOTSUPP);
	CHECK(strstr(p2pv_last_error(), "ibv_reg_dmabuf_mr") != NULL);
	flog()->dmabuf_errno = 0;
	teardown(b, fd);
}

/*
 * An MR deregistered behind the library's back (libibverbs' own
 * ibv_dereg_mr()) leaves a stale entry; a new MR at the same address must
 * replace it, not inherit its description.
 */
static void t_stale_mr(void)
{
	struct p2pv_mr_info mi;
	struct ibv_mr *mr, *again;
	struct p2pv_buf *b;
	int fd;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	mr = p2pv_reg_buf(&pd, b, 0, 4096, ACC);
	CHECK(mr != NULL);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.dmabuf_offset, 8192);
	flog()->next_mr = mr;		/* "freed" unseen, handed out again */
	again = p2pv_reg_mr(&pd, (char *)b->addr + 8192, 4096, ACC);
	CHECK(again == mr);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.reg_method, P2PV_MR_REG_MAPPING);
	CHECK_INT(mi.dmabuf_offset, 8192 + 8192);
	CHECK_INT(mi.iova, (uintptr_t)b->addr + 8192);
	/* and once more, by the dma-buf */
	flog()->next_mr = mr;
	again = p2pv_reg_buf(&pd, b, 4096, 4096, ACC);
	CHECK(again == mr);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.reg_method, P2PV_MR_REG_DMABUF);
	CHECK_INT(mi.dmabuf_offset, 8192 + 4096);
	flog()->static_mr = mr;		/* keep it readable after the dereg */
	CHECK_INT(p2pv_dereg_mr(mr), 0);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), -1);
	CHECK_INT(errno, ENOENT);
	flog()->static_mr = NULL;
	free(mr);
	teardown(b, fd);
}

/* One error model: NULL/zero arguments are EINVAL with a message, and
 * p2pv_dereg_mr() returns -1 + errno where ibv_dereg_mr() returns errno */
static void t_bad_args(void)
{
	struct p2pv_mr_info mi;
	struct p2pv_buf *b;
	struct ibv_mr *mr;
	char host[64];
	int fd;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	errno = 0;
	CHECK(p2pv_reg_mr(&pd, NULL, 4096, ACC) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(strstr(p2pv_last_error(), "NULL address") != NULL);
	CHECK(p2pv_reg_mr(&pd, host, 0, ACC) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_reg_mr_iova2(&pd, NULL, 64, 0, 0) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_reg_mr_iova(NULL, host, 64, 0, 0) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(flog()->calls, 0);
	CHECK_INT(p2pv_dereg_mr(NULL), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(p2pv_mr_query(NULL, &mi, sizeof(mi)), -1);
	CHECK_INT(errno, EINVAL);
	mr = p2pv_reg_mr(&pd, b->addr, 64, ACC);
	CHECK(mr != NULL);
	flog()->dereg_errno = EBUSY;
	CHECK_INT(p2pv_dereg_mr(mr), -1);
	CHECK_INT(errno, EBUSY);
	CHECK(strstr(p2pv_last_error(), "ibv_dereg_mr") != NULL);
	flog()->dereg_errno = 0;
	free(mr);	/* the fake kept it after the failed dereg */
	teardown(b, fd);
}

/* p2pv_dmabuf_mr_supported(): a dma-buf MR of fd -1 is EBADF where dma-buf
 * MRs exist */
static void t_dmabuf_probe(void)
{
	setup();
	CHECK_INT(p2pv_dmabuf_mr_supported(&pd), 1);		/* EBADF */
	CHECK_INT(flog()->fd, -1);
	flog()->dmabuf_errno = EOPNOTSUPP;
	CHECK_INT(p2pv_dmabuf_mr_supported(&pd), 0);
	flog()->dmabuf_errno = EPROTONOSUPPORT;
	CHECK_INT(p2pv_dmabuf_mr_supported(&pd), 0);
	flog()->dmabuf_errno = EINVAL;
	CHECK_INT(p2pv_dmabuf_mr_supported(&pd), -1);
	CHECK(strstr(p2pv_last_error(), "unexpected") != NULL);
	flog()->dmabuf_errno = 0;
	CHECK_INT(p2pv_dmabuf_mr_supported(NULL), -1);
	CHECK_INT(errno, EINVAL);
	fs_fini(&fs);
}

/* Crossing the end of a buffer: EINVAL while it is mapped there, nothing
 * registered; once the program has remapped it, the kernel decides */
static void t_crossing_end(void)
{
	struct p2pv_mr_info mi;
	struct ibv_mr *mr;
	struct p2pv_buf *b;
	char *p;
	int fd;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	p = (char *)b->addr + LEN - 10;
	errno = 0;
	CHECK(p2pv_reg_mr(&pd, p, 20, ACC) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(strstr(p2pv_last_error(), "crosses the end") != NULL);
	CHECK(p2pv_reg_mr_iova2(&pd, p, 20, 0, ACC) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_reg_buf(&pd, b, 4096, LEN, ACC) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(flog()->calls, 0);
	remap_anonymous(b);
	mr = p2pv_reg_mr(&pd, (char *)b->addr + 4096, LEN, ACC);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_mr");
	CHECK_INT(flog()->length, LEN);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), -1);	/* not P2P memory */
	p2pv_dereg_mr(mr);
	teardown(b, fd);
}

/*
 * The registration calls make no system call of their own (each one costs
 * tens of microseconds under emulation): the in-memory registry is the only
 * thing asked, and the answer of p2pv_mr_query() is worked out once.
 *
 * Checked by the kernel itself: a forked child installs a seccomp filter
 * that traps every system call (SIGSYS; the handler records its number in
 * memory shared with the parent and makes it fail with ENOSYS), then runs
 * the registrations, the kept query and the deregistrations.  Whatever
 * route a system call takes - a libc wrapper, a fortified variant, an
 * inline syscall instruction - it is seen.  The fake verbs calls build
 * their MRs in static storage: the allocator is not on the path.
 */
#define MAX_TRAPPED 16
struct trapped {
	int n;
	long nr[MAX_TRAPPED];
	void *pc[MAX_TRAPPED];		/* where the system call was made */
	void *caller[MAX_TRAPPED];	/* and, on x86-64, who called there */
};
static struct trapped *trapped;

static void on_sigsys(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;

	(void)sig;
	if (trapped->n < MAX_TRAPPED) {
		trapped->nr[trapped->n] = si->si_syscall;
		trapped->pc[trapped->n] = si->si_call_addr;
#if defined(__x86_64__)
		/* a leaf wrapper of libc: its caller is on top of the stack */
		trapped->caller[trapped->n] =
			*(void **)uc->uc_mcontext.gregs[REG_RSP];
#endif
	}
	trapped->n++;
#if defined(__x86_64__)
	uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#elif defined(__aarch64__)
	uc->uc_mcontext.regs[0] = (unsigned long long)-ENOSYS;
#endif
}

#if defined(__x86_64__)
#define SECCOMP_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_ARCH AUDIT_ARCH_AARCH64
#endif

/* from now on every system call but the few needed to return from the
 * handler and to exit traps; 0, or -1 where the filter cannot be set */
static int trap_all_syscalls(void)
{
#ifdef SECCOMP_ARCH
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_sigreturn, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	/* raw system calls: a sanitizer's interceptor of prctl() would run
	 * its own code (and system calls) after the filter is in place */
	if (sigaction(SIGSYS, &sa, NULL) < 0 ||
	    syscall(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -1;
	return 0;
#else
	return -1;
#endif
}

/* exit_group as a plain system call in a function the compiler sees
 * returning: a sanitizer runs code of its own (and system calls) before a
 * call to a noreturn function such as _exit() */
static __attribute__((noinline)) void child_exit(int code)
{
	syscall(__NR_exit_group, code);
}

#define NMR 5
static void t_no_syscalls(void)
{
	static struct ibv_mr pool[NMR + 1];
	struct ibv_mr *mr[NMR], *kept = NULL;
	struct p2pv_mr_info mi;
	struct p2pv_buf *b;
	char *host = malloc(4096);
	int fd, k, status, round;
	pid_t pid;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	trapped = mmap(NULL, sizeof(*trapped), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(trapped != MAP_FAILED);
	if (trapped == MAP_FAILED)
		return;
	memset(trapped, 0, sizeof(*trapped));
	flog()->static_mr = pool;
	flog()->static_mr_count = NMR + 1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		/* round 0 warms up (tables allocated, symbols bound) and an
		 * MR is asked about once; round 1 runs under the filter */
		for (round = 0; round < 2; round++) {
			if (round == 1) {
				flog()->next_mr = &pool[NMR];
				kept = p2pv_reg_mr(&pd, b->addr, 4096, ACC);
				if (!kept || p2pv_mr_query(kept, &mi, sizeof(mi)) < 0)
					child_exit(5);	/* worked out, kept */
				if (trap_all_syscalls() < 0)
					child_exit(3);
			}
			flog()->next_mr = &pool[0];
			mr[0] = p2pv_reg_mr(&pd, b->addr, 4096, ACC);
			flog()->next_mr = &pool[1];
			mr[1] = p2pv_reg_mr_iova2(&pd, (char *)b->addr + 8, 64, 0, ACC);
			flog()->next_mr = &pool[2];
			mr[2] = p2pv_reg_buf(&pd, b, 0, 0, ACC);
			flog()->next_mr = &pool[3];
			mr[3] = p2pv_reg_mr(&pd, host, 4096, ACC);
			flog()->next_mr = &pool[4];
			mr[4] = p2pv_reg_buf(&pd, b, 4096, 100, ACC);
			for (k = 0; k < NMR; k++)
				if (mr[k] != &pool[k])
					child_exit(4);
			if (round == 1 && (p2pv_mr_query(kept, &mi, sizeof(mi)) < 0 ||
					   mi.reg_method != P2PV_MR_REG_MAPPING))
				child_exit(6);
			for (k = 0; k < NMR; k++)
				if (p2pv_dereg_mr(mr[k]) < 0)
					child_exit(7);
		}
		if (p2pv_dereg_mr(kept) < 0)
			child_exit(8);
		child_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
	for (k = 0; k < trapped->n && k < MAX_TRAPPED; k++) {
		Dl_info where, caller;	/* the child's code is the parent's */

		memset(&where, 0, sizeof(where));
		memset(&caller, 0, sizeof(caller));
		dladdr(trapped->pc[k], &where);
		dladdr(trapped->caller[k], &caller);
		fprintf(stderr, "system call %ld on the registration path, at %p (%s in %s, called from %s in %s)\n",
			trapped->nr[k], trapped->pc[k],
			where.dli_sname ? where.dli_sname : "?",
			where.dli_fname ? where.dli_fname : "?",
			caller.dli_sname ? caller.dli_sname : "?",
			caller.dli_fname ? caller.dli_fname : "?");
	}
	CHECK_INT(trapped->n, 0);
	munmap(trapped, sizeof(*trapped));
	flog()->static_mr = NULL;
	flog()->static_mr_count = 0;
	free(host);
	teardown(b, fd);
}

/*
 * p2pv_choose_provider() after the first call ranks the cached graph with
 * the cached available memory: at most the one check for changes (here the
 * fake tree's uevent counter), no file opened.
 */
static void t_choose_cached(void)
{
	const char *names[] = { "mlx5_0" };
	struct p2pv_provider out;
	int k;

	setup();
	CHECK_INT(p2pv_choose_provider_by_name(names, 1, 0, &out, sizeof(out), NULL, 0), 0);
	CHECK_STR(out.pci_addr, "0000:04:00.1");	/* DEV: same device */
	flog()->count_sys = 1;
	for (k = 0; k < 10; k++) {
		flog()->sys_calls = 0;
		CHECK_INT(p2pv_choose_provider_by_name(names, 1, 0, &out, sizeof(out), NULL, 0), 0);
		CHECK(flog()->sys_calls <= 1);
		CHECK(flog()->sys_calls == 0 || !strcmp(flog()->last_sys, "pread") ||
		      !strcmp(flog()->last_sys, "pread64"));
	}
	flog()->count_sys = 0;
	CHECK_INT(out.available, 1 << 21);

	/* a change nobody announces is not seen: the cache answers */
	fs.quiet = 1;
	fs_provider(&fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:04:00.1",
		    1 << 21, 4096, 1);
	CHECK_INT(p2pv_choose_provider_by_name(names, 1, 0, &out, sizeof(out), NULL, 0), 0);
	CHECK_STR(out.pci_addr, "0000:04:00.1");
	CHECK_INT(out.available, 1 << 21);
	/* more than any provider has in the cache: every provider re-read */
	fs_provider(&fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0/0000:03:00.0",
		    1 << 23, 1 << 23, 1);
	CHECK_INT(p2pv_choose_provider_by_name(names, 1, 1 << 22, &out, sizeof(out), NULL, 0), 0);
	CHECK_STR(out.pci_addr, "0000:03:00.0");
	CHECK_INT(out.available, 1 << 23);
	/* and the re-read value of the other provider is the cache now */
	CHECK_INT(p2pv_choose_provider_by_name(names, 1, 8192, &out, sizeof(out), NULL, 0), 0);
	CHECK_STR(out.pci_addr, "0000:03:00.0");
	/* an announced change rebuilds the graph */
	fs.quiet = 0;
	fs_uevent(&fs);
	CHECK_INT(p2pv_choose_provider_by_name(names, 1, 0, &out, sizeof(out), NULL, 0), 0);
	CHECK_STR(out.pci_addr, "0000:04:00.1");
	CHECK_INT(out.available, 4096);
	fs_fini(&fs);
}

/*
 * On the real sysfs the check for changes is one recv() on the library's
 * NETLINK_KOBJECT_UEVENT socket: the case fails unless that socket was
 * opened and the check is exactly that recv() (a process the kernel's
 * uevents cannot reach - a user namespace - falls back to the counter, and
 * fails here, saying so).  After fork() the child does not read the
 * parent's socket: it rebuilds with a socket of its own, and the parent
 * keeps its own.
 */
static int one_check_is_recv(void)
{
	struct p2pv_provider out;
	int k;

	for (k = 0; k < 5; k++) {
		flog()->sys_calls = 0;
		flog()->last_sys[0] = 0;
		p2pv_choose_provider_by_name(NULL, 0, 0, &out, sizeof(out), NULL, 0);
		/* a uevent may arrive any time: then it reads it too */
		if (flog()->sys_calls == 1)
			break;
	}
	return flog()->sys_calls == 1 && !strcmp(flog()->last_sys, "recv");
}

static void t_uevent_socket(void)
{
	struct p2pv_provider out;
	int status, sockets;
	pid_t pid;

	unsetenv("P2PV_SYSFS_ROOT");
	memset(flog(), 0, sizeof(*flog()));
	/* the host may have no provider at all: ENODEV is an answer too */
	p2pv_choose_provider_by_name(NULL, 0, 0, &out, sizeof(out), NULL, 0);
	if (!flog()->uevent_sockets)
		fprintf(stderr, "no uevent socket opened (a user namespace? /proc/self/uid_map)\n");
	CHECK_INT(flog()->uevent_sockets, 1);
	flog()->count_sys = 1;
	CHECK(one_check_is_recv());
	sockets = flog()->uevent_sockets;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		flog()->sys_calls = 0;
		p2pv_choose_provider_by_name(NULL, 0, 0, &out, sizeof(out), NULL, 0);
		/* rebuilt, listening on a socket of its own */
		_exit(flog()->uevent_sockets == sockets + 1 && one_check_is_recv() ?
		      0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(one_check_is_recv());
	CHECK_INT(flog()->uevent_sockets, sockets);	/* the parent's own */
	flog()->count_sys = 0;
}

/* a kernel uevent: "ACTION@DEVPATH" and KEY=VALUE strings, NUL separated */
static void send_uevent(const char *action, const char *devpath,
			const char *subsystem)
{
	char msg[512];
	int n;

	n = snprintf(msg, sizeof(msg), "%s@%s", action, devpath) + 1;
	n += snprintf(msg + n, sizeof(msg) - (size_t)n, "ACTION=%s", action) + 1;
	n += snprintf(msg + n, sizeof(msg) - (size_t)n, "DEVPATH=%s", devpath) + 1;
	n += snprintf(msg + n, sizeof(msg) - (size_t)n, "SUBSYSTEM=%s", subsystem) + 1;
	n += snprintf(msg + n, sizeof(msg) - (size_t)n, "SEQNUM=4711") + 1;
	CHECK_INT(send(flog()->uevent_peer, msg, (size_t)n, 0), n);
}

/* providers re-listed by the next choice: the PCI devices directory read */
static int providers_relisted(void)
{
	struct p2pv_provider out;

	flog()->opendirs = 0;
	flog()->last_opendir[0] = 0;
	p2pv_choose_provider_by_name(NULL, 0, 0, &out, sizeof(out), NULL, 0);
	return flog()->opendirs > 0 &&
	       strstr(flog()->last_opendir, "/bus/pci/devices") != NULL;
}

/*
 * The watch filters uevents by subsystem: a network device (a veth coming
 * and going) changes nothing; an RDMA device drops the devices only; a
 * p2pmem node or a PCI function re-lists the providers.  The shim stands
 * in for the uevent socket so that the test sends the messages.
 */
static void t_uevent_filter(void)
{
	unsetenv("P2PV_SYSFS_ROOT");
	memset(flog(), 0, sizeof(*flog()));
	flog()->fake_uevents = 1;
	CHECK(providers_relisted());			/* the first build */
	CHECK_INT(flog()->uevent_sockets, 1);
	CHECK(!providers_relisted());			/* cached */
	send_uevent("add", "/devices/virtual/net/veth0", "net");
	send_uevent("remove", "/devices/virtual/net/veth0", "net");
	send_uevent("add", "/devices/virtual/block/loop9", "block");
	CHECK(!providers_relisted());
	send_uevent("add", "/devices/virtual/infiniband/rxe0", "infiniband");
	CHECK(!providers_relisted());
	send_uevent("add", "/devices/virtual/p2pmem/0000:01:00.0", "p2pmem");
	CHECK(providers_relisted());
	CHECK(!providers_relisted());
	send_uevent("remove", "/devices/pci0000:00/0000:00:05.0", "pci");
	CHECK(providers_relisted());
	CHECK(!providers_relisted());
	close(flog()->uevent_peer);
	flog()->fake_uevents = 0;
}

/*
 * The MR table through growth and deletions in every order: each MR keeps
 * its own description, a deregistered one is forgotten.
 */
#define MANY 1500
static void t_many_mrs(void)
{
	static struct ibv_mr *mr[MANY];
	struct p2pv_mr_info mi;
	struct p2pv_buf *b;
	unsigned int seed = 7;
	int fd, k, j, gone;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	for (k = 0; k < MANY; k++) {
		mr[k] = p2pv_reg_buf(&pd, b, (size_t)k % LEN, 1, ACC);
		CHECK(mr[k] != NULL);
	}
	/* deregister two thirds in a shuffled order */
	for (k = MANY - 1; k > 0; k--) {
		struct ibv_mr *t;

		j = (int)(rand_r(&seed) % (unsigned int)(k + 1));
		t = mr[k];
		mr[k] = mr[j];
		mr[j] = t;
	}
	gone = MANY * 2 / 3;
	for (k = 0; k < gone; k++) {
		CHECK_INT(p2pv_mr_query(mr[k], &mi, sizeof(mi)), 0);
		CHECK_INT(p2pv_dereg_mr(mr[k]), 0);
	}
	for (k = gone; k < MANY; k++) {
		CHECK_INT(p2pv_mr_query(mr[k], &mi, sizeof(mi)), 0);
		CHECK_INT(mi.dmabuf_offset, 8192 + (uint64_t)((char *)mr[k]->addr -
							     (char *)b->addr));
		CHECK_INT(mi.reg_method, P2PV_MR_REG_DMABUF);
	}
	for (k = gone; k < MANY; k++)
		CHECK_INT(p2pv_dereg_mr(mr[k]), 0);
	/* the fake frees deregistered MRs: ask with live ones only */
	mr[0] = p2pv_reg_buf(&pd, b, 0, 1, ACC);
	CHECK_INT(p2pv_mr_query(mr[0], &mi, sizeof(mi)), 0);
	CHECK_INT(p2pv_dereg_mr(mr[0]), 0);
	teardown(b, fd);
}

/*
 * A kernel without PROCMAP_QUERY (before Linux 6.11) answers ENOTTY; every
 * query then reads /proc/self/maps, whatever errno the caller left behind
 * (ENOENT from an unrelated call made the library believe "nothing mapped
 * there": a live buffer was not P2P memory and p2pv_buf_free() kept it).
 */
static int mapped(void *addr)
{
	unsigned char v;

	return mincore(addr, 1, &v) == 0;
}

static void t_procmap_enotty(void)
{
	struct p2pv_ptr_info pi;
	struct p2pv_buf *b;
	void *addr;
	int fd;

	setup();
	flog()->no_procmap_query = 1;
	fd = memfd_create("fake-dmabuf", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	b = p2pv_buf_import(fd, 8192, LEN, "0000:03:00.0");
	CHECK(b != NULL);
	if (!b)
		return;
	addr = b->addr;
	errno = ENOENT;
	CHECK_INT(p2pv_is_p2p(addr), 1);
	errno = ENOENT;
	CHECK_INT(p2pv_ptr_query((char *)addr + 10, &pi, sizeof(pi)), 0);
	errno = ENOENT;
	CHECK_INT(p2pv_buf_free(b), 0);
	CHECK_INT(mapped(addr), 0);	/* the library unmapped its buffer */
	flog()->no_procmap_query = 0;
	close(fd);
	fs_fini(&fs);
}

/*
 * An MR deregistered past the library (libibverbs' own ibv_dereg_mr()):
 * the kernel gives its handle, and the allocator its struct ibv_mr, to the
 * next MR, registered without the library.  p2pv_mr_query() must not
 * answer for that MR with the old one's description.
 */
static void t_handle_reused(void)
{
	static struct ibv_mr storage;
	struct p2pv_mr_info mi;
	struct ibv_mr *mr, *again;
	struct p2pv_buf *b;
	char *host = malloc(4096);
	uint32_t handle;
	int fd;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	flog()->static_mr = &storage;
	flog()->next_mr = &storage;
	mr = p2pv_reg_buf(&pd, b, 0, 4096, ACC);
	CHECK(mr == &storage);
	handle = mr->handle;
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(ibv_dereg_mr(mr), 0);		/* past the library */
	flog()->next_mr = &storage;
	again = (ibv_reg_mr)(&pd, host, 4096, ACC);	/* without it */
	CHECK(again == mr);
	CHECK_INT(again->handle, handle);
	errno = 0;
	CHECK_INT(p2pv_mr_query(again, &mi, sizeof(mi)), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_INT(ibv_dereg_mr(again), 0);
	/* the same through the library's own registration of host memory */
	flog()->next_mr = &storage;
	mr = p2pv_reg_buf(&pd, b, 4096, 4096, ACC);
	CHECK_INT(ibv_dereg_mr(mr), 0);
	flog()->next_mr = &storage;
	again = p2pv_reg_mr(&pd, host, 4096, ACC);
	CHECK(again == mr);
	CHECK_INT(p2pv_mr_query(again, &mi, sizeof(mi)), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_INT(p2pv_dereg_mr(again), 0);
	flog()->static_mr = NULL;
	free(host);
	teardown(b, fd);
}

/*
 * An MR outliving its buffer: the buffer's dma-buf fd is closed by
 * p2pv_buf_free() and its number may name another file at once; the MR's
 * description must not hand that number out (nor ask the kernel about it).
 */
static void t_fd_after_free(void)
{
	struct p2pv_mr_info mi;
	struct p2pv_buf *b;
	struct ibv_mr *mr, *mr2;
	int fd, old_fd, other;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	mr = p2pv_reg_buf(&pd, b, 0, 4096, ACC);
	mr2 = p2pv_reg_mr(&pd, (char *)b->addr + 4096, 4096, ACC);
	CHECK(mr != NULL && mr2 != NULL);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);		/* answer kept */
	CHECK_INT(mi.dmabuf_fd, b->dmabuf_fd);
	old_fd = b->dmabuf_fd;
	CHECK_INT(p2pv_buf_free(b), 0);
	other = memfd_create("other-file", MFD_CLOEXEC);
	CHECK(other >= 0);
	if (other != old_fd) {		/* make the number name another file */
		CHECK_INT(dup2(other, old_fd), old_fd);
		close(other);
	}
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.dmabuf_fd, -1);
	CHECK_INT(p2pv_mr_query(mr2, &mi, sizeof(mi)), 0);		/* asked first now */
	CHECK_INT(mi.dmabuf_fd, -1);
	CHECK_INT(p2pv_dereg_mr(mr), 0);
	CHECK_INT(p2pv_dereg_mr(mr2), 0);
	close(old_fd);
	close(fd);
	fs_fini(&fs);
}

/*
 * A kernel with the P2PDMA allocator but without the by-address path
 * (kernel-patches/0018-0022 absent): registering a dma-buf mapping by
 * address is EFAULT there.  p2pv_reg_mr*() of a buffer of the library then
 * registers it by its dma-buf fd and offset, and says so; host memory still
 * goes by address, and a range that is no longer the buffer's mapping gets
 * the kernel's EFAULT.
 */
static void t_no_va_path(void)
{
	struct p2pv_mr_info mi;
	struct p2pv_buf *b;
	struct ibv_mr *mr;
	char *p, *host = malloc(4096);
	void *again;
	int fd, other;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	flog()->no_va_path = 1;
	p = (char *)b->addr + 100;
	mr = p2pv_reg_mr(&pd, p, 200, ACC);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_dmabuf_mr");	/* after the EFAULT */
	CHECK_INT(flog()->calls, 2);
	CHECK_INT(flog()->fd, b->dmabuf_fd);
	CHECK_INT(flog()->offset, 8192 + 100);
	CHECK_INT(flog()->length, 200);
	CHECK_INT(flog()->iova, (uintptr_t)p);
	CHECK(mr && mr->addr == p);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.reg_method, P2PV_MR_REG_FD_FALLBACK);
	CHECK_INT(mi.type, P2PV_MEM_P2P);
	CHECK_INT(mi.dmabuf_offset, 8192 + 100);
	CHECK_INT(mi.iova, (uintptr_t)p);
	CHECK_STR(mi.provider, "0000:03:00.0");
	CHECK_INT(p2pv_dereg_mr(mr), 0);
	/* the iova entry points keep their iova */
	mr = p2pv_reg_mr_iova(&pd, b->addr, 4096, 0x20000, ACC);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_dmabuf_mr");
	CHECK_INT(flog()->iova, 0x20000);
	p2pv_dereg_mr(mr);
	mr = p2pv_reg_mr_iova2(&pd, (char *)b->addr + 4096, 4096, 0x30000, ACC);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_dmabuf_mr");
	CHECK_INT(flog()->offset, 8192 + 4096);
	CHECK_INT(flog()->iova, 0x30000);
	p2pv_dereg_mr(mr);
	/* host memory: by address, as ever */
	flog()->dmabuf_calls = 0;
	mr = p2pv_reg_mr(&pd, host, 4096, ACC);
	CHECK(mr != NULL);
	CHECK_INT(flog()->dmabuf_calls, 0);
	p2pv_dereg_mr(mr);
	/* the driver's refusal of the fallback is the answer */
	flog()->dmabuf_errno = EOPNOTSUPP;
	CHECK(p2pv_reg_mr(&pd, p, 200, ACC) == NULL);
	CHECK_INT(errno, EOPNOTSUPP);
	CHECK(strstr(p2pv_last_error(), "ibv_reg_dmabuf_mr") != NULL);
	flog()->dmabuf_errno = 0;
	/* another file mapped over the buffer: not the buffer any more, the
	 * kernel's EFAULT stands */
	other = memfd_create("other-file", MFD_CLOEXEC);
	CHECK(other >= 0 && ftruncate(other, LEN) == 0);
	again = mmap(b->addr, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		     other, 0);
	CHECK(again == b->addr);
	flog()->dmabuf_calls = 0;
	errno = 0;
	CHECK(p2pv_reg_mr(&pd, p, 200, ACC) == NULL);
	CHECK_INT(errno, EFAULT);
	CHECK_INT(flog()->dmabuf_calls, 0);
	CHECK(strstr(p2pv_last_error(), "not (entirely) a P2P mapping") != NULL);
	/* anonymous memory there: registered by address, as host memory */
	remap_anonymous(b);
	mr = p2pv_reg_mr(&pd, p, 200, ACC);
	CHECK(mr != NULL);
	CHECK_INT(flog()->dmabuf_calls, 0);
	CHECK_INT(p2pv_mr_query(mr, &mi, sizeof(mi)), 0);
	CHECK_INT(mi.reg_method, P2PV_MR_REG_HOST);
	p2pv_dereg_mr(mr);
	flog()->no_va_path = 0;
	close(other);
	free(host);
	teardown(b, fd);
}

/*
 * The free-memory table after a transient failure: the nearest provider
 * (04:00.1, on the NIC's own device) fails one allocation for lack of
 * memory - another process took the last range a moment earlier - and the
 * buffer goes to the next one; the allocation after that goes back to the
 * nearest, whose own count still says it has room.  The kernel's
 * P2PMEM_IOC_ALLOC is the shim's, with a memfd for the dma-buf.
 */
static void t_transient_failure(void)
{
	struct p2pv_buf *b[3];
	int k;

	setup();
	fs_writes(&fs, "dev/p2pmem/0000:03:00.0", "");
	fs_writes(&fs, "dev/p2pmem/0000:04:00.1", "");
	flog()->fake_alloc = 1;
	b[0] = p2pv_buf_alloc(NULL, &dev, 8192);
	CHECK(b[0] != NULL);
	CHECK_STR(b[0] ? b[0]->provider : "", "0000:04:00.1");
	flog()->alloc_failures = 1;
	flog()->alloc_errno = ENOMEM;
	b[1] = p2pv_buf_alloc(NULL, &dev, 8192);
	CHECK(b[1] != NULL);
	CHECK_STR(b[1] ? b[1]->provider : "", "0000:03:00.0");
	CHECK_INT(flog()->alloc_failures, 0);
	flog()->alloc_errno = 0;
	b[2] = p2pv_buf_alloc(NULL, &dev, 8192);
	CHECK(b[2] != NULL);
	CHECK_STR(b[2] ? b[2]->provider : "", "0000:04:00.1");
	for (k = 0; k < 3; k++)
		if (b[k])
			CHECK_INT(p2pv_buf_free(b[k]), 0);
	flog()->fake_alloc = 0;
	fs_fini(&fs);
}

static const struct tcase cases[] = {
	{ "transient_failure", t_transient_failure },
	{ "no_va_path", t_no_va_path },
	{ "uevent_filter", t_uevent_filter },
	{ "handle_reused", t_handle_reused },
	{ "fd_after_free", t_fd_after_free },
	{ "procmap_enotty", t_procmap_enotty },
	{ "many_mrs", t_many_mrs },
	{ "kernel_path", t_kernel_path },
	{ "host", t_host },
	{ "remapped", t_remapped },
	{ "efault", t_efault },
	{ "reg_buf", t_reg_buf },
	{ "stale_mr", t_stale_mr },
	{ "bad_args", t_bad_args },
	{ "dmabuf_probe", t_dmabuf_probe },
	{ "crossing_end", t_crossing_end },
	{ "no_syscalls", t_no_syscalls },
	{ "choose_cached", t_choose_cached },
	{ "uevent_socket", t_uevent_socket },
	{ NULL, NULL },
};

TEST_MAIN(cases)
