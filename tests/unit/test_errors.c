/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * The error model, entry point by entry point.  Each scenario below makes
 * one public function fail and says which errno the man pages promise for
 * it; the case "scenarios" runs them (errno as promised, and a fresh
 * message in p2pv_last_error()), the case "man_pages" reads the ERRORS
 * sections of libp2pverbs/man/ and checks that the promised (function,
 * errno) pairs and the scenarios are the same set.
 *
 * Run over the fake verbs shim (LD_PRELOAD) and a fake sysfs tree; the
 * kernel's answers (a refused registration, P2PMEM_IOC_ALLOC over the
 * user_limit) are the shim's.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <infiniband/p2pverbs.h>

#include "fakeverbs.h"
#include "test.h"
#include "topo_common.h"

#define ACC IBV_ACCESS_LOCAL_WRITE
#define PROV "0000:03:00.0"		/* NVMe CMB, 1 MiB */
#define NOT_PROV "0000:04:00.0"		/* the NIC: a PCI function, no p2pmem */
#define UNPUB "0000:05:00.0"		/* a provider, not published */
#define BROKEN "0000:06:00.0"		/* a provider without p2pmem/size */

static struct fakesys fs;
static struct ibv_device dev;
static struct ibv_context ctx;
static struct ibv_pd pd;
static int memfd = -1;

struct scenario;
typedef int (*run_fn)(const struct scenario *sc);
struct scenario {
	const char *fn;		/* the public function */
	int err;		/* the errno its man page promises */
	run_fn run;		/* errno of the failed call, 0 if it did not fail */
	const char *what;
};

/* errno of a call that failed, 0 if it succeeded (and is cleaned up) */
#define ERR_PTR(call) ((call) == NULL ? errno : 0)
#define ERR_INT(call) ((call) == -1 ? errno : 0)

static int is(const struct scenario *sc, const char *name)
{
	return !strcmp(sc->fn, name);
}

/* ---- providers ---- */

static int list_null(const struct scenario *sc)
{
	(void)sc;
	return ERR_PTR(p2pv_get_provider_list(NULL, sizeof(struct p2pv_provider)));
}

static int list_unreadable(const struct scenario *sc)
{
	char root[] = "/tmp/p2pv-errors-XXXXXX", p[128];
	const char *saved = getenv("P2PV_SYSFS_ROOT");
	char keep[PATH_MAX];
	int num, err, fd;

	(void)sc;
	snprintf(keep, sizeof(keep), "%s", saved ? saved : "");
	if (!mkdtemp(root))
		return 0;
	snprintf(p, sizeof(p), "%s/bus", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/bus/pci", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/bus/pci/devices", root);
	fd = open(p, O_CREAT | O_WRONLY, 0644);	/* a file, not a directory */
	close(fd);
	setenv("P2PV_SYSFS_ROOT", root, 1);
	err = ERR_PTR(p2pv_get_provider_list(&num, sizeof(struct p2pv_provider)));
	setenv("P2PV_SYSFS_ROOT", keep, 1);
	unlink(p);
	snprintf(p, sizeof(p), "%s/bus/pci", root);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/bus", root);
	rmdir(p);
	rmdir(root);
	return err;
}

static int query_provider_null(const struct scenario *sc)
{
	(void)sc;
	return ERR_INT(p2pv_query_provider(PROV, NULL, sizeof(struct p2pv_provider)));
}

static int query_provider_malformed(const struct scenario *sc)
{
	struct p2pv_provider p;

	(void)sc;
	return ERR_INT(p2pv_query_provider("0000:03:00", &p, sizeof(p)));
}

static int query_provider_not_provider(const struct scenario *sc)
{
	struct p2pv_provider p;

	(void)sc;
	return ERR_INT(p2pv_query_provider(NOT_PROV, &p, sizeof(p)));
}

static int query_provider_missing_file(const struct scenario *sc)
{
	struct p2pv_provider p;

	(void)sc;
	return ERR_INT(p2pv_query_provider(BROKEN, &p, sizeof(p)));
}

static int list_small_inlen(const struct scenario *sc)
{
	int num;

	(void)sc;
	return ERR_PTR(p2pv_get_provider_list(&num, 8));
}

static int query_provider_small_inlen(const struct scenario *sc)
{
	struct p2pv_provider p;

	(void)sc;
	return ERR_INT(p2pv_query_provider(PROV, &p, 8));
}

/* ---- paths ---- */

static int path_call_len(const struct scenario *sc, const char *prov,
			 const char *ibdev, struct p2pv_path *path, size_t len)
{
	struct ibv_device d;
	struct ibv_context c;

	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "%s", ibdev ? ibdev : "");
	c.device = &d;
	if (is(sc, "p2pv_query_path"))
		return ERR_INT(p2pv_query_path(prov, ibdev ? &d : NULL, path, len));
	if (is(sc, "p2pv_query_path_ctx"))
		return ERR_INT(p2pv_query_path_ctx(prov, ibdev ? &c : NULL, path, len));
	return ERR_INT(p2pv_query_path_by_name(prov, ibdev, path, len));
}

static int path_call(const struct scenario *sc, const char *prov,
		     const char *ibdev, struct p2pv_path *path)
{
	return path_call_len(sc, prov, ibdev, path, sizeof(*path));
}

static int path_small_inlen(const struct scenario *sc)
{
	struct p2pv_path p;

	return path_call_len(sc, PROV, "mlx5_0", &p, 100);
}

static int path_null_path(const struct scenario *sc)
{
	return path_call(sc, PROV, "mlx5_0", NULL);
}

static int path_null_device(const struct scenario *sc)
{
	struct p2pv_path p;

	return path_call(sc, PROV, NULL, &p);
}

static int path_malformed(const struct scenario *sc)
{
	struct p2pv_path p;

	return path_call(sc, "03:00.0", "mlx5_0", &p);
}

/* a PCI function that is not a provider: ENODEV, not a computed path */
static int path_not_provider(const struct scenario *sc)
{
	struct p2pv_path p;

	return path_call(sc, NOT_PROV, "mlx5_0", &p);
}

static int path_no_device(const struct scenario *sc)
{
	struct p2pv_path p;

	return path_call(sc, PROV, "mlx5_9", &p);
}

/* ---- choosing ---- */

static int choose_call(const struct scenario *sc, const char *ibdev,
		       uint64_t min, struct p2pv_provider *out)
{
	struct ibv_device d, *dp = &d;
	const char *name = ibdev;

	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "%s", ibdev);
	if (is(sc, "p2pv_choose_provider"))
		return ERR_INT(p2pv_choose_provider(&dp, 1, min, out, sizeof(*out), NULL, 0));
	return ERR_INT(p2pv_choose_provider_by_name(&name, 1, min, out, sizeof(*out), NULL, 0));
}

static int choose_null_out(const struct scenario *sc)
{
	return choose_call(sc, "mlx5_0", 0, NULL);
}

static int choose_bad_count(const struct scenario *sc)
{
	struct p2pv_provider out;

	if (is(sc, "p2pv_choose_provider"))
		return ERR_INT(p2pv_choose_provider(NULL, -1, 0, &out, sizeof(out), NULL, 0));
	return ERR_INT(p2pv_choose_provider_by_name(NULL, 3, 0, &out, sizeof(out), NULL, 0));
}

static int choose_none_fits(const struct scenario *sc)
{
	struct p2pv_provider out;

	return choose_call(sc, "mlx5_0", (uint64_t)1 << 40, &out);
}

static int choose_small_inlen(const struct scenario *sc)
{
	const char *name = "mlx5_0";
	struct p2pv_provider out;
	struct p2pv_path path;

	if (is(sc, "p2pv_choose_provider"))
		return ERR_INT(p2pv_choose_provider(NULL, 0, 0, &out, 16, NULL, 0));
	return ERR_INT(p2pv_choose_provider_by_name(&name, 1, 0, &out,
						    sizeof(out), &path, 16));
}

static int choose_no_device(const struct scenario *sc)
{
	struct p2pv_provider out;

	return choose_call(sc, "mlx5_9", 0, &out);
}

/* ---- policy ---- */

static int policy_bad(const struct scenario *sc)
{
	(void)sc;
	return ERR_INT(p2pv_set_policy((enum p2pv_policy)7));
}

/* ---- buffers ---- */

/* p2pv_buf_alloc() or p2pv_buf_alloc_attr(), as the scenario names */
static int alloc_call(const struct scenario *sc, const char *prov, size_t len,
		      uint64_t comp_mask, uint64_t flags)
{
	struct p2pv_buf_alloc_attr a = {
		.comp_mask = comp_mask,
		.provider = prov,
		.length = len,
		.flags = flags,
	};
	struct p2pv_buf *b;
	int err;

	if (is(sc, "p2pv_buf_alloc"))
		b = p2pv_buf_alloc(prov, NULL, len);
	else
		b = p2pv_buf_alloc_attr(&a, sizeof(a));
	err = b ? 0 : errno;
	if (b)
		p2pv_buf_free(b);
	return err;
}

static int alloc_zero(const struct scenario *sc)
{
	return alloc_call(sc, NULL, 0, 0, 0);
}

static int alloc_malformed(const struct scenario *sc)
{
	return alloc_call(sc, "zz:00.0", 4096, 0, 0);
}

static int alloc_huge(const struct scenario *sc)
{
	return alloc_call(sc, NULL, SIZE_MAX, 0, 0);
}

static int alloc_disabled(const struct scenario *sc)
{
	int err;

	p2pv_set_policy(P2PV_POLICY_DISABLED);
	err = alloc_call(sc, PROV, 4096, 0, 0);
	p2pv_set_policy(P2PV_POLICY_ENABLED);
	return err;
}

static int alloc_no_provider(const struct scenario *sc)
{
	return alloc_call(sc, NOT_PROV, 4096, 0, 0);
}

static int alloc_required_none(const struct scenario *sc)
{
	int err;

	p2pv_set_policy(P2PV_POLICY_REQUIRED);
	err = alloc_call(sc, NULL, (size_t)1 << 30, 0, 0);
	p2pv_set_policy(P2PV_POLICY_ENABLED);
	return err;
}

static int alloc_unpublished(const struct scenario *sc)
{
	return alloc_call(sc, UNPUB, 4096, 0, 0);
}

/* the kernel has no range that large */
static int alloc_too_large(const struct scenario *sc)
{
	int err;

	flog()->alloc_errno = ENOMEM;
	err = alloc_call(sc, PROV, (size_t)1 << 22, 0, 0);
	flog()->alloc_errno = 0;
	return err;
}

/* the node may not be opened by this process */
static int alloc_node_denied(const struct scenario *sc)
{
	int err;

	snprintf(flog()->deny_open, sizeof(flog()->deny_open), "dev/p2pmem/%s", PROV);
	err = alloc_call(sc, PROV, 4096, 0, 0);
	flog()->deny_open[0] = 0;
	return err;
}

static int alloc_quota(const struct scenario *sc)
{
	int err;

	flog()->alloc_errno = EDQUOT;
	err = alloc_call(sc, PROV, 4096, 0, 0);
	flog()->alloc_errno = 0;
	return err;
}

static int alloc_attr_null(const struct scenario *sc)
{
	(void)sc;
	return ERR_PTR(p2pv_buf_alloc_attr(NULL, 0));
}

static int alloc_attr_small_inlen(const struct scenario *sc)
{
	struct p2pv_buf_alloc_attr a = { .length = 4096 };

	(void)sc;
	return ERR_PTR(p2pv_buf_alloc_attr(&a, 8));
}

/* a struct of a later header that sets a field this library lacks */
static int alloc_attr_later_field(const struct scenario *sc)
{
	struct {
		struct p2pv_buf_alloc_attr a;
		uint64_t later;
	} big = { { .length = 4096 }, 1 };

	(void)sc;
	return ERR_PTR(p2pv_buf_alloc_attr(&big.a, sizeof(big)));
}

static int alloc_attr_unknown_mask(const struct scenario *sc)
{
	return alloc_call(sc, NULL, 4096, (uint64_t)1 << 40, 0);
}

static int import_bad_fd(const struct scenario *sc)
{
	(void)sc;
	return ERR_PTR(p2pv_buf_import(-1, 0, 4096, NULL));
}

static int import_zero(const struct scenario *sc)
{
	(void)sc;
	return ERR_PTR(p2pv_buf_import(memfd, 0, 0, NULL));
}

static int import_malformed(const struct scenario *sc)
{
	(void)sc;
	return ERR_PTR(p2pv_buf_import(memfd, 0, 4096, "not-an-address"));
}

static int import_overflow(const struct scenario *sc)
{
	(void)sc;
	return ERR_PTR(p2pv_buf_import(memfd, UINT64_MAX - 100, 4096, NULL));
}

static int import_unmappable(const struct scenario *sc)
{
	int p[2], err;

	(void)sc;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) < 0)
		return 0;
	err = ERR_PTR(p2pv_buf_import(p[0], 0, 4096, NULL));
	close(p[0]);
	close(p[1]);
	return err;
}

static int free_null(const struct scenario *sc)
{
	(void)sc;
	return ERR_INT(p2pv_buf_free(NULL));
}

static int ptr_query_host(const struct scenario *sc)
{
	struct p2pv_ptr_info pi;
	int x = 0;

	(void)sc;
	return ERR_INT(p2pv_ptr_query(&x, &pi, sizeof(pi)));
}

static int ptr_query_null(const struct scenario *sc)
{
	int x = 0;

	(void)sc;
	return ERR_INT(p2pv_ptr_query(&x, NULL, sizeof(struct p2pv_ptr_info)));
}

static int ptr_query_small_inlen(const struct scenario *sc)
{
	struct p2pv_ptr_info pi;
	int x = 0;

	(void)sc;
	return ERR_INT(p2pv_ptr_query(&x, &pi, 4));
}

/* ---- registration ---- */

/* a P2P buffer of PROV: a memfd standing for the dma-buf */
static struct p2pv_buf *p2p_buf(void)
{
	return p2pv_buf_import(memfd, 0, 8192, PROV);
}

static int reg_call(const struct scenario *sc, struct ibv_pd *p, void *addr,
		    size_t len)
{
	struct ibv_mr *mr;
	int err;

	if (is(sc, "p2pv_reg_mr"))
		mr = p2pv_reg_mr(p, addr, len, ACC);
	else if (is(sc, "p2pv_reg_mr_iova"))
		mr = p2pv_reg_mr_iova(p, addr, len, 0x1000, ACC);
	else
		mr = p2pv_reg_mr_iova2(p, addr, len, 0x1000, ACC);
	err = mr ? 0 : errno;
	if (mr)
		p2pv_dereg_mr(mr);
	return err;
}

static int reg_null_pd(const struct scenario *sc)
{
	char host[64];

	return reg_call(sc, NULL, host, sizeof(host));
}

static int reg_crossing(const struct scenario *sc)
{
	struct p2pv_buf *b = p2p_buf();
	int err;

	if (!b)
		return 0;
	err = reg_call(sc, &pd, (char *)b->addr + 8000, 4096);
	p2pv_buf_free(b);
	return err;
}

/* the kernel refuses a registration of the P2P buffer with kerr */
static int reg_kernel_refuses(const struct scenario *sc, int kerr)
{
	struct p2pv_buf *b = p2p_buf();
	int err;

	if (!b)
		return 0;
	flog()->iova2_errno = kerr;
	flog()->dmabuf_errno = kerr;
	if (is(sc, "p2pv_reg_buf")) {
		struct ibv_mr *mr = p2pv_reg_buf(&pd, b, 0, 0, ACC);

		err = mr ? 0 : errno;
		if (mr)
			p2pv_dereg_mr(mr);
	} else {
		err = reg_call(sc, &pd, b->addr, 4096);
	}
	flog()->iova2_errno = 0;
	flog()->dmabuf_errno = 0;
	p2pv_buf_free(b);
	return err;
}

static int reg_efault(const struct scenario *sc)
{
	return reg_kernel_refuses(sc, EFAULT);
}

static int reg_eacces(const struct scenario *sc)
{
	return reg_kernel_refuses(sc, EACCES);
}

static int reg_enodev(const struct scenario *sc)
{
	return reg_kernel_refuses(sc, ENODEV);
}

static int reg_eopnotsupp(const struct scenario *sc)
{
	return reg_kernel_refuses(sc, EOPNOTSUPP);
}

/* host memory the kernel cannot register: the plain verbs call's errno,
 * with a message of the library's */
static int reg_host_efault(const struct scenario *sc)
{
	char *host = malloc(4096);
	int err;

	flog()->reg_errno = EFAULT;
	flog()->iova2_errno = EFAULT;
	err = reg_call(sc, &pd, host, 4096);
	flog()->reg_errno = 0;
	flog()->iova2_errno = 0;
	free(host);
	return err;
}

static int reg_buf_null(const struct scenario *sc)
{
	(void)sc;
	return ERR_PTR(p2pv_reg_buf(&pd, NULL, 0, 0, ACC));
}

static int reg_buf_past_end(const struct scenario *sc)
{
	struct p2pv_buf *b = p2p_buf();
	int err;

	(void)sc;
	if (!b)
		return 0;
	err = ERR_PTR(p2pv_reg_buf(&pd, b, 8192, 0, ACC));
	p2pv_buf_free(b);
	return err;
}

static int dereg_null(const struct scenario *sc)
{
	(void)sc;
	return ERR_INT(p2pv_dereg_mr(NULL));
}

static int dereg_busy(const struct scenario *sc)
{
	char host[64];
	struct ibv_mr *mr = p2pv_reg_mr(&pd, host, sizeof(host), ACC);
	int err;

	(void)sc;
	if (!mr)
		return 0;
	flog()->dereg_errno = EBUSY;
	err = ERR_INT(p2pv_dereg_mr(mr));
	flog()->dereg_errno = 0;
	p2pv_dereg_mr(mr);
	return err;
}

static int mr_query_null(const struct scenario *sc)
{
	(void)sc;
	return ERR_INT(p2pv_mr_query(NULL, NULL, sizeof(struct p2pv_mr_info)));
}

static int mr_query_unknown(const struct scenario *sc)
{
	struct p2pv_mr_info mi;
	struct ibv_mr mr;

	(void)sc;
	memset(&mr, 0, sizeof(mr));
	return ERR_INT(p2pv_mr_query(&mr, &mi, sizeof(mi)));
}

static int mr_query_small_inlen(const struct scenario *sc)
{
	struct p2pv_mr_info mi;
	struct ibv_mr mr;

	(void)sc;
	memset(&mr, 0, sizeof(mr));
	return ERR_INT(p2pv_mr_query(&mr, &mi, 16));
}

static int probe_null(const struct scenario *sc)
{
	(void)sc;
	return ERR_INT(p2pv_dmabuf_mr_supported(NULL));
}

/* p2pv_dmabuf_mr_supported() answers "no" (0) with errno set */
static int probe_answer(int kerr)
{
	int r, err;

	flog()->dmabuf_errno = kerr;
	r = p2pv_dmabuf_mr_supported(&pd);
	err = r == 1 ? 0 : errno;
	flog()->dmabuf_errno = 0;
	return err;
}

static int probe_eopnotsupp(const struct scenario *sc)
{
	(void)sc;
	return probe_answer(EOPNOTSUPP);
}

static int probe_eprotonosupport(const struct scenario *sc)
{
	(void)sc;
	return probe_answer(EPROTONOSUPPORT);
}

static int probe_unexpected(const struct scenario *sc)
{
	(void)sc;
	return probe_answer(EINVAL);
}

#define REG3(err, run, what)                                                 \
	{ "p2pv_reg_mr", err, run, what },                                   \
	{ "p2pv_reg_mr_iova", err, run, what },                              \
	{ "p2pv_reg_mr_iova2", err, run, what }
#define PATH3(err, run, what)                                                \
	{ "p2pv_query_path", err, run, what },                               \
	{ "p2pv_query_path_ctx", err, run, what },                           \
	{ "p2pv_query_path_by_name", err, run, what }
#define CHOOSE2(err, run, what)                                              \
	{ "p2pv_choose_provider", err, run, what },                          \
	{ "p2pv_choose_provider_by_name", err, run, what }
#define ALLOC2(err, run, what)                                               \
	{ "p2pv_buf_alloc", err, run, what },                                \
	{ "p2pv_buf_alloc_attr", err, run, what }

static const struct scenario scenarios[] = {
	{ "p2pv_get_provider_list", EINVAL, list_null, "NULL count" },
	{ "p2pv_get_provider_list", EIO, list_unreadable, "devices not a directory" },
	{ "p2pv_get_provider_list", EINVAL, list_small_inlen, "inlen below 1.0" },
	{ "p2pv_query_provider", EINVAL, query_provider_null, "NULL out" },
	{ "p2pv_query_provider", EINVAL, query_provider_small_inlen, "inlen below 1.0" },
	{ "p2pv_query_provider", EINVAL, query_provider_malformed, "malformed address" },
	{ "p2pv_query_provider", ENODEV, query_provider_not_provider, "not a provider" },
	{ "p2pv_query_provider", ENOENT, query_provider_missing_file, "p2pmem/size missing" },
	PATH3(EINVAL, path_null_path, "NULL path"),
	PATH3(EINVAL, path_null_device, "NULL device"),
	PATH3(EINVAL, path_small_inlen, "inlen below 1.0"),
	PATH3(EINVAL, path_malformed, "malformed provider"),
	PATH3(ENODEV, path_not_provider, "PCI function that is not a provider"),
	PATH3(ENODEV, path_no_device, "no such RDMA device"),
	CHOOSE2(EINVAL, choose_null_out, "NULL out"),
	CHOOSE2(EINVAL, choose_bad_count, "bad device list"),
	CHOOSE2(EINVAL, choose_small_inlen, "out_len or path_len below 1.0"),
	CHOOSE2(ENODEV, choose_none_fits, "no provider large enough"),
	CHOOSE2(ENODEV, choose_no_device, "no such RDMA device"),
	{ "p2pv_set_policy", EINVAL, policy_bad, "unknown policy" },
	ALLOC2(EINVAL, alloc_zero, "zero length"),
	ALLOC2(EINVAL, alloc_malformed, "malformed provider"),
	ALLOC2(EOVERFLOW, alloc_huge, "length too large"),
	ALLOC2(EPERM, alloc_disabled, "named under policy disabled"),
	ALLOC2(ENODEV, alloc_no_provider, "named provider does not exist"),
	ALLOC2(ENODEV, alloc_required_none, "policy required, none can serve"),
	ALLOC2(ENODEV, alloc_unpublished, "named provider not published: no node"),
	ALLOC2(EACCES, alloc_node_denied, "node not accessible"),
	ALLOC2(ENOMEM, alloc_too_large, "kernel: no range that large"),
	ALLOC2(EDQUOT, alloc_quota, "kernel: over user_limit"),
	{ "p2pv_buf_alloc_attr", EINVAL, alloc_attr_null, "NULL attr" },
	{ "p2pv_buf_alloc_attr", EINVAL, alloc_attr_small_inlen, "inlen below 1.0" },
	{ "p2pv_buf_alloc_attr", EOPNOTSUPP, alloc_attr_unknown_mask, "unknown comp_mask" },
	{ "p2pv_buf_alloc_attr", EOPNOTSUPP, alloc_attr_later_field, "a later field set" },
	{ "p2pv_buf_import", EBADF, import_bad_fd, "fd -1" },
	{ "p2pv_buf_import", EINVAL, import_zero, "zero length" },
	{ "p2pv_buf_import", EINVAL, import_malformed, "malformed provider" },
	{ "p2pv_buf_import", EOVERFLOW, import_overflow, "offset + length overflow" },
	{ "p2pv_buf_import", ENODEV, import_unmappable, "a socket" },
	{ "p2pv_buf_free", EINVAL, free_null, "NULL" },
	{ "p2pv_ptr_query", ENOENT, ptr_query_host, "host memory" },
	{ "p2pv_ptr_query", EINVAL, ptr_query_null, "NULL info" },
	{ "p2pv_ptr_query", EINVAL, ptr_query_small_inlen, "inlen below 1.0" },
	REG3(EINVAL, reg_null_pd, "NULL pd"),
	REG3(EINVAL, reg_crossing, "range crosses the buffer's end"),
	REG3(EFAULT, reg_efault, "kernel: not a P2P mapping"),
	REG3(EFAULT, reg_host_efault, "host memory the kernel refuses"),
	REG3(EACCES, reg_eacces, "kernel: read-only"),
	REG3(ENODEV, reg_enodev, "kernel: provider gone"),
	REG3(EOPNOTSUPP, reg_eopnotsupp, "kernel: no path"),
	{ "p2pv_reg_buf", EINVAL, reg_buf_null, "NULL buffer" },
	{ "p2pv_reg_buf", EINVAL, reg_buf_past_end, "offset past the end" },
	{ "p2pv_reg_buf", EACCES, reg_eacces, "kernel: read-only" },
	{ "p2pv_reg_buf", ENODEV, reg_enodev, "kernel: provider gone" },
	{ "p2pv_reg_buf", EOPNOTSUPP, reg_eopnotsupp, "kernel: no path" },
	{ "p2pv_dereg_mr", EINVAL, dereg_null, "NULL" },
	{ "p2pv_dereg_mr", EBUSY, dereg_busy, "ibv_dereg_mr refuses" },
	{ "p2pv_mr_query", EINVAL, mr_query_null, "NULL" },
	{ "p2pv_mr_query", EINVAL, mr_query_small_inlen, "inlen below 1.0" },
	{ "p2pv_mr_query", ENOENT, mr_query_unknown, "an MR the library does not know" },
	{ "p2pv_dmabuf_mr_supported", EINVAL, probe_null, "NULL pd" },
	{ "p2pv_dmabuf_mr_supported", EOPNOTSUPP, probe_eopnotsupp, "no dma-buf MRs" },
	{ "p2pv_dmabuf_mr_supported", EPROTONOSUPPORT, probe_eprotonosupport, "old kernel" },
	{ "p2pv_dmabuf_mr_supported", EIO, probe_unexpected, "unexpected probe error" },
	{ NULL, 0, NULL, NULL },
};

static void setup(void)
{
	const char *p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	p = fs_pci(&fs, "pci0000:00", "0000:05:00.0", CLS_MEM, 0x1b36, 0x10,
		   FS_NO_ACS, T_EP);
	fs_provider(&fs, p, 1 << 20, 1 << 20, 0);
	p = fs_pci(&fs, "pci0000:00", "0000:06:00.0", CLS_MEM, 0x1b36, 0x10,
		   FS_NO_ACS, T_EP);
	{
		char rel[PATH_MAX];

		snprintf(rel, sizeof(rel), "sys/devices/%s/p2pmem/available", p);
		fs_writes(&fs, rel, "4096\n");
		snprintf(rel, sizeof(rel), "sys/devices/%s/p2pmem/published", p);
		fs_writes(&fs, rel, "1\n");
	}
	/* the provider's node: the shim answers its P2PMEM_IOC_ALLOC */
	fs_writes(&fs, "dev/p2pmem/" PROV, "");
	memset(&dev, 0, sizeof(dev));
	strcpy(dev.name, "mlx5_0");
	ctx.device = &dev;
	pd.context = &ctx;
	memset(flog(), 0, sizeof(*flog()));
	memfd = memfd_create("fake-dmabuf", MFD_CLOEXEC);
	CHECK(memfd >= 0 && ftruncate(memfd, 1 << 20) == 0);
}

static void t_scenarios(void)
{
	const struct scenario *sc;
	char before[512];
	int err;

	setup();
	for (sc = scenarios; sc->fn; sc++) {
		/* a known message first: the failure must replace it */
		p2pv_set_policy((enum p2pv_policy)-1);
		snprintf(before, sizeof(before), "%s", p2pv_last_error());
		errno = 0;
		err = sc->run(sc);
		if (err != sc->err) {
			fprintf(stderr, "%s (%s): errno %d (%s), the man page says %s\n",
				sc->fn, sc->what, err, strerror(err),
				strerror(sc->err));
			t_failed++;
			continue;
		}
		if (!p2pv_last_error()[0] || !strcmp(p2pv_last_error(), before)) {
			fprintf(stderr, "%s (%s): errno %d but no message of its own (\"%s\")\n",
				sc->fn, sc->what, err, p2pv_last_error());
			t_failed++;
		}
	}
	close(memfd);
	fs_fini(&fs);
}

/* ---- the man pages ---- */

static const char *const errnames[] = {
	"EINVAL", "EIO", "ENODEV", "ENOENT", "EOVERFLOW", "EOPNOTSUPP", "EPERM",
	"EACCES", "ENOMEM", "EDQUOT", "EBADF", "EFAULT", "EBUSY",
	"EPROTONOSUPPORT", NULL,
};
static const int errvals[] = {
	EINVAL, EIO, ENODEV, ENOENT, EOVERFLOW, EOPNOTSUPP, EPERM,
	EACCES, ENOMEM, EDQUOT, EBADF, EFAULT, EBUSY, EPROTONOSUPPORT,
};

struct pair {
	char fn[64];
	int err;
};

/* "**EINVAL** (p2pv_a, p2pv_b)" lines of every ERRORS section */
static int read_pages(struct pair *out, int max)
{
	char path[PATH_MAX], line[512], name[32], list[400], *tok, *save;
	struct dirent *e;
	int n = 0, in_errors, k;
	DIR *d = opendir(P2PV_MAN_DIR);
	FILE *f;

	CHECK(d != NULL);
	while (d && (e = readdir(d))) {
		if (!strstr(e->d_name, ".md"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", P2PV_MAN_DIR, e->d_name);
		f = fopen(path, "r");
		CHECK(f != NULL);
		in_errors = 0;
		while (f && fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "# ", 2))
				in_errors = !strncmp(line, "# ERRORS", 8);
			if (!in_errors ||
			    sscanf(line, "**%31[A-Z]** (%399[^)])", name, list) != 2)
				continue;
			for (k = 0; errnames[k] && strcmp(errnames[k], name); k++)
				;
			if (!errnames[k]) {
				fprintf(stderr, "%s: %s is not an errno this test knows\n",
					e->d_name, name);
				t_failed++;
				continue;
			}
			for (tok = strtok_r(list, ", ", &save); tok && n < max;
			     tok = strtok_r(NULL, ", ", &save)) {
				snprintf(out[n].fn, sizeof(out[n].fn), "%s", tok);
				out[n++].err = errvals[k];
			}
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

static void t_man_pages(void)
{
	static struct pair doc[512];
	const struct scenario *sc;
	int n = read_pages(doc, 512), i, found;

	CHECK(n > 40);
	/* every promise has a scenario that keeps it */
	for (i = 0; i < n; i++) {
		found = 0;
		for (sc = scenarios; sc->fn && !found; sc++)
			found = !strcmp(sc->fn, doc[i].fn) && sc->err == doc[i].err;
		if (!found) {
			fprintf(stderr, "man page promises %s for %s: no scenario shows it\n",
				strerror(doc[i].err), doc[i].fn);
			t_failed++;
		}
	}
	/* every errno a scenario shows is promised */
	for (sc = scenarios; sc->fn; sc++) {
		found = 0;
		for (i = 0; i < n && !found; i++)
			found = !strcmp(sc->fn, doc[i].fn) && sc->err == doc[i].err;
		if (!found) {
			fprintf(stderr, "%s fails with %s (%s): not in its man page's ERRORS\n",
				sc->fn, strerror(sc->err), sc->what);
			t_failed++;
		}
	}
}

static const struct tcase cases[] = {
	{ "scenarios", t_scenarios },
	{ "man_pages", t_man_pages },
	{ NULL, NULL },
};

TEST_MAIN(cases)
