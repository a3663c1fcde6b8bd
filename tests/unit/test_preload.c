/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Routing of plain verbs registrations.  This binary is linked against the
 * real libibverbs and run with
 *   LD_PRELOAD=libp2pverbs-preload.so:libfakeverbs.so
 * so its ibv_reg_mr() calls reach the preload library first and the fake
 * verbs shim instead of the real libibverbs below it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <infiniband/p2pverbs.h>

#include "fakeverbs.h"
#include "test.h"
#include "topo_common.h"

static struct fakesys fs;
static struct ibv_device dev;
static struct ibv_context ctx;
static struct ibv_pd pd;

static struct fakeverbs_log *flog(void)
{
	struct fakeverbs_log *(*fn)(void);

	*(void **)&fn = dlsym(RTLD_DEFAULT, "fakeverbs_log");
	if (!fn) {
		fprintf(stderr, "not running over the fake verbs shim (LD_PRELOAD unset?)\n");
		exit(1);
	}
	return fn();
}

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

static struct p2pv_buf *import(int *fdp, uint64_t off, size_t len)
{
	int fd = memfd_create("fake-dmabuf", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		return NULL;
	*fdp = fd;
	return p2pv_buf_import(fd, off, len, "0000:03:00.0");
}

/* setup() and a 3-page buffer imported from a memfd (NULL: failed, checked) */
static struct p2pv_buf *setup_with_buf(int *fdp)
{
	struct p2pv_buf *b;

	setup();
	b = import(fdp, 0, 3 * 4096);
	CHECK(b != NULL);
	return b;
}

static void t_preload_active(void)
{
	CHECK(dlsym(RTLD_DEFAULT, "fakeverbs_log") != NULL);
	/* the first ibv_reg_mr found is the preload library's */
	Dl_info info;
	void *sym = dlsym(RTLD_DEFAULT, "ibv_reg_mr");

	CHECK(sym && dladdr(sym, &info) &&
	      strstr(info.dli_fname, "libp2pverbs-preload") != NULL);
}

static void t_host_passthrough(void)
{
	char *host = malloc(4096);
	volatile int access = IBV_ACCESS_LOCAL_WRITE;
	struct p2pv_mr_info mi;
	struct ibv_mr *mr;

	setup();
	mr = ibv_reg_mr(&pd, host, 100, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_mr");
	CHECK(flog()->addr == host);
	CHECK_INT(flog()->length, 100);
	CHECK_INT(flog()->dmabuf_calls, 0);
	CHECK_INT(p2pv_mr_query(mr, &mi), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_INT(ibv_dereg_mr(mr), 0);
	CHECK_INT(flog()->dereg_calls, 1);
	/* non-constant access: verbs.h sends it to ibv_reg_mr_iova2 */
	mr = ibv_reg_mr(&pd, host + 8, 50, access);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_mr_iova2");
	CHECK_INT(flog()->iova, (uintptr_t)(host + 8));
	ibv_dereg_mr(mr);
	mr = ibv_reg_mr_iova(&pd, host, 64, 0x5000, IBV_ACCESS_LOCAL_WRITE);
	CHECK_STR(flog()->last, "ibv_reg_mr_iova");
	CHECK_INT(flog()->iova, 0x5000);
	ibv_dereg_mr(mr);
	CHECK_INT(flog()->dmabuf_calls, 0);
	free(host);
	fs_fini(&fs);
}

static void t_p2p_routed(void)
{
	struct p2pv_mr_info mi;
	struct p2pv_buf *b;
	struct ibv_mr *mr;
	int fd;

	setup();
	b = import(&fd, 8192, 65536);
	CHECK(b != NULL);
	if (!b)
		return;
	mr = ibv_reg_mr(&pd, (char *)b->addr + 100, 200, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_dmabuf_mr");
	CHECK_INT(flog()->fd, b->dmabuf_fd);
	CHECK_INT(flog()->offset, 8192 + 100);
	CHECK_INT(flog()->length, 200);
	CHECK_INT(flog()->iova, (uintptr_t)b->addr + 100);
	CHECK_INT(flog()->access, IBV_ACCESS_LOCAL_WRITE);
	CHECK_INT(p2pv_mr_query(mr, &mi), 0);
	CHECK_INT(mi.type, P2PV_MEM_P2P);
	CHECK_INT(mi.mode_known, 1);
	CHECK_INT(mi.mode, P2PV_MAP_BUS_ADDR);
	CHECK_INT(mi.path_class, P2PV_PATH_PIX);
	CHECK_INT(mi.source, P2PV_SOURCE_SYSFS);
	CHECK_INT(mi.dmabuf_offset, 8292);
	CHECK_STR(mi.provider, "0000:03:00.0");
	CHECK_INT(ibv_dereg_mr(mr), 0);
	CHECK_INT(flog()->dereg_calls, 1);

	/* explicit iova through both iova entry points */
	mr = ibv_reg_mr_iova2(&pd, b->addr, 4096, 0x10000, IBV_ACCESS_LOCAL_WRITE);
	CHECK_STR(flog()->last, "ibv_reg_dmabuf_mr");
	CHECK_INT(flog()->iova, 0x10000);
	CHECK_INT(flog()->offset, 8192);
	CHECK_INT(p2pv_mr_query(mr, &mi), 0);
	CHECK_INT(mi.iova, 0x10000);
	ibv_dereg_mr(mr);
	CHECK_INT(p2pv_mr_query(mr, &mi), -1);	/* forgotten on dereg */
	mr = ibv_reg_mr_iova(&pd, (char *)b->addr + 4096, 4096, 0x20000,
			     IBV_ACCESS_LOCAL_WRITE);
	CHECK_STR(flog()->last, "ibv_reg_dmabuf_mr");
	CHECK_INT(flog()->iova, 0x20000);
	CHECK_INT(flog()->offset, 8192 + 4096);
	ibv_dereg_mr(mr);
	CHECK_INT(flog()->dmabuf_calls, 3);

	/* crossing the end of the buffer: refused, nothing registered */
	errno = 0;
	mr = ibv_reg_mr(&pd, (char *)b->addr + 65536 - 10, 20, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(flog()->dmabuf_calls, 3);

	/* failure of the driver is reported */
	flog()->dmabuf_errno = EOPNOTSUPP;
	mr = ibv_reg_mr(&pd, b->addr, 64, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr == NULL);
	CHECK_INT(errno, EOPNOTSUPP);
	CHECK(strstr(p2pv_last_error(), "ibv_reg_dmabuf_mr") != NULL);
	flog()->dmabuf_errno = 0;

	CHECK_INT(p2pv_buf_free(b), 0);
	/* after free the range is ordinary memory again (if still mapped
	 * by chance, it goes to the plain entry point) */
	close(fd);
	fs_fini(&fs);
}

static void t_library_api(void)
{
	struct p2pv_mr_info mi;
	struct p2pv_buf *b;
	struct ibv_mr *mr;
	char host[64];
	int fd;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	mr = p2pv_reg_buf(&pd, b, 0, 0, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_dmabuf_mr");
	CHECK_INT(flog()->length, 3 * 4096);
	CHECK_INT(p2pv_mr_query(mr, &mi), 0);
	CHECK_INT(p2pv_dereg_mr(mr), 0);
	mr = p2pv_reg_buf(&pd, b, 4096, 100, IBV_ACCESS_LOCAL_WRITE);
	CHECK_INT(flog()->offset, 4096);
	CHECK_INT(flog()->iova, (uintptr_t)b->addr + 4096);
	p2pv_dereg_mr(mr);
	CHECK(p2pv_reg_buf(&pd, b, 3 * 4096, 0, 0) == NULL);
	CHECK(p2pv_reg_buf(&pd, b, 4096, 3 * 4096, 0) == NULL);
	/* p2pv_reg_mr hands the address to ibv_reg_mr_iova2, which the
	 * preload library routes to ibv_reg_dmabuf_mr and describes: that
	 * description stays */
	mr = p2pv_reg_mr(&pd, (char *)b->addr + 1, 10, IBV_ACCESS_LOCAL_WRITE);
	CHECK_STR(flog()->last, "ibv_reg_dmabuf_mr");
	CHECK_INT(flog()->offset, 1);
	CHECK_INT(p2pv_mr_query(mr, &mi), 0);
	CHECK_INT(mi.reg_method, P2PV_MR_REG_DMABUF);
	CHECK_INT(mi.dmabuf_offset, 1);
	p2pv_dereg_mr(mr);
	mr = p2pv_reg_mr(&pd, host, sizeof(host), IBV_ACCESS_LOCAL_WRITE);
	CHECK_STR(flog()->last, "ibv_reg_mr");
	p2pv_dereg_mr(mr);
	mr = p2pv_reg_mr_iova2(&pd, host, sizeof(host), 77, IBV_ACCESS_LOCAL_WRITE);
	CHECK_STR(flog()->last, "ibv_reg_mr_iova2");
	CHECK_INT(flog()->iova, 77);
	p2pv_dereg_mr(mr);
	p2pv_buf_free(b);
	close(fd);
	fs_fini(&fs);
}

/*
 * An MR deregistered behind the library's back (plain ibv_dereg_mr() of
 * libibverbs, no preload) leaves a stale entry; a new MR at the same address
 * must replace it, not inherit its description.
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
	mr = p2pv_reg_buf(&pd, b, 0, 4096, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr != NULL);
	CHECK_INT(p2pv_mr_query(mr, &mi), 0);
	CHECK_INT(mi.dmabuf_offset, 0);
	flog()->next_mr = mr;		/* "freed" unseen, handed out again */
	again = p2pv_reg_buf(&pd, b, 8192, 4096, IBV_ACCESS_LOCAL_WRITE);
	CHECK(again == mr);
	CHECK_INT(p2pv_mr_query(mr, &mi), 0);
	CHECK_INT(mi.dmabuf_offset, 8192);
	CHECK_INT(mi.iova, (uintptr_t)b->addr + 8192);
	CHECK_INT(p2pv_dereg_mr(mr), 0);
	CHECK_INT(p2pv_mr_query(mr, &mi), -1);
	p2pv_buf_free(b);
	close(fd);
	fs_fini(&fs);
}

/*
 * The program unmaps a P2P buffer and maps anonymous memory at the same
 * address: that is host memory now and must be registered as such, by the
 * routed ibv_reg_mr() and by p2pv_reg_mr() alike.  p2pv_reg_buf() registers
 * the buffer itself, whatever is mapped.
 */
static void t_stale_mapping(void)
{
	struct p2pv_mr_info mi;
	struct p2pv_buf *b;
	struct ibv_mr *mr;
	void *addr, *again;
	int fd;

	b = setup_with_buf(&fd);
	if (!b)
		return;
	addr = b->addr;
	CHECK_INT(p2pv_is_p2p(addr), 1);
	CHECK_INT(munmap(addr, 3 * 4096), 0);
	again = mmap(addr, 3 * 4096, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(again == addr);
	CHECK_INT(p2pv_is_p2p(addr), 0);
	CHECK_INT(p2pv_ptr_query(addr, NULL), -1);
	CHECK_INT(errno, ENOENT);
	mr = ibv_reg_mr(&pd, addr, 4096, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_mr");
	CHECK_INT(flog()->dmabuf_calls, 0);
	CHECK_INT(p2pv_mr_query(mr, &mi), -1);
	ibv_dereg_mr(mr);
	/* p2pv_reg_mr() hands the address to the kernel (here through the
	 * preload library's ibv_reg_mr_iova2, which passes it on) */
	mr = p2pv_reg_mr(&pd, (char *)addr + 4096, 4096, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_mr_iova2");
	CHECK_INT(flog()->dmabuf_calls, 0);
	CHECK_INT(p2pv_mr_query(mr, &mi), 0);
	CHECK_INT(mi.type, P2PV_MEM_HOST);
	CHECK_INT(mi.reg_method, P2PV_MR_REG_HOST);
	p2pv_dereg_mr(mr);
	/* the buffer itself, by its dma-buf */
	mr = p2pv_reg_buf(&pd, b, 0, 0, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr != NULL);
	CHECK_STR(flog()->last, "ibv_reg_dmabuf_mr");
	CHECK_INT(flog()->fd, b->dmabuf_fd);
	CHECK_INT(p2pv_mr_query(mr, &mi), 0);
	CHECK_INT(mi.type, P2PV_MEM_P2P);
	CHECK_INT(mi.reg_method, P2PV_MR_REG_DMABUF);
	p2pv_dereg_mr(mr);
	/* freeing it leaves the program's new mapping alone */
	CHECK_INT(p2pv_buf_free(b), 0);
	((volatile char *)addr)[100] = 1;	/* still mapped: no SIGSEGV */
	munmap(addr, 3 * 4096);
	close(fd);
	fs_fini(&fs);
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
	CHECK(p2pv_reg_mr(&pd, NULL, 4096, IBV_ACCESS_LOCAL_WRITE) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(strstr(p2pv_last_error(), "NULL address") != NULL);
	CHECK(p2pv_reg_mr(&pd, host, 0, IBV_ACCESS_LOCAL_WRITE) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_reg_mr_iova2(&pd, NULL, 64, 0, 0) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_reg_mr_iova(NULL, host, 64, 0, 0) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(flog()->calls, 0);
	CHECK_INT(p2pv_dereg_mr(NULL), -1);
	CHECK_INT(errno, EINVAL);
	mr = p2pv_reg_mr(&pd, b->addr, 64, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr != NULL);
	/* comp_mask says what was filled; the struct needs no initialising */
	memset(&mi, 0xff, sizeof(mi));
	CHECK_INT(p2pv_mr_query(mr, &mi), 0);
	CHECK_INT(mi.comp_mask, P2PV_MR_INFO_MASK_ATTACHMENT |
				P2PV_MR_INFO_MASK_REG_METHOD);
	CHECK_STR(mi.importer, "");	/* no kernel node in a unit test */
	CHECK_INT(mi.source, P2PV_SOURCE_SYSFS);
	flog()->dereg_errno = EBUSY;
	CHECK_INT(p2pv_dereg_mr(mr), -1);
	CHECK_INT(errno, EBUSY);
	CHECK(strstr(p2pv_last_error(), "ibv_dereg_mr") != NULL);
	flog()->dereg_errno = 0;
	free(mr);	/* the fake kept it after the failed dereg */
	p2pv_buf_free(b);
	close(fd);
	fs_fini(&fs);
}

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
	fs_fini(&fs);
}

static const struct tcase cases[] = {
	{ "preload_active", t_preload_active },
	{ "host_passthrough", t_host_passthrough },
	{ "p2p_routed", t_p2p_routed },
	{ "library_api", t_library_api },
	{ "stale_mr", t_stale_mr },
	{ "dmabuf_probe", t_dmabuf_probe },
	{ "stale_mapping", t_stale_mapping },
	{ "bad_args", t_bad_args },
	{ NULL, NULL },
};

TEST_MAIN(cases)
