/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * The ABI of libp2pverbs 1.0 stays: a program built against 1.0's header
 * keeps working with this library.
 *
 * - layout: the offset and size of every field of every public struct, and
 *   each struct's size, as this header has them, against the record of 1.0
 *   (p2pverbs-1.0.abi, written when 1.0 was cut).  A later header may
 *   append fields and grow structs; it may not move or resize a 1.0 field.
 * - prototypes: every exported function is assigned to a pointer of its
 *   1.0 type below; a changed prototype does not compile.
 * - inlen: the output structs as a 1.0 program (exactly the 1.0 sizes, a
 *   canary after them), as a later program (a larger struct: the bytes past
 *   this library's struct come back zero) and as a broken one (too small:
 *   EINVAL, the struct untouched) passes them.
 *
 * Run over the fake verbs shim and a fake sysfs tree.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <infiniband/p2pverbs.h>

#include "fakeverbs.h"
#include "test.h"
#include "topo_common.h"

/* ---- prototypes of 1.0 ---- */
static const void *const prototypes_1_0[] __attribute__((used)) = {
	(const char *(*)(void))p2pv_last_error,
	(struct p2pv_provider *(*)(int *, size_t))p2pv_get_provider_list,
	(void (*)(struct p2pv_provider *))p2pv_free_provider_list,
	(int (*)(const char *, struct p2pv_provider *, size_t))p2pv_query_provider,
	(const char *(*)(enum p2pv_answer_source))p2pv_answer_source_str,
	(int (*)(const char *, struct ibv_device *, struct p2pv_path *, size_t))p2pv_query_path,
	(int (*)(const char *, struct ibv_context *, struct p2pv_path *, size_t))p2pv_query_path_ctx,
	(int (*)(const char *, const char *, struct p2pv_path *, size_t))p2pv_query_path_by_name,
	(const char *(*)(enum p2pv_path_class))p2pv_path_class_str,
	(const char *(*)(enum p2pv_map_mode))p2pv_map_mode_str,
	(const char *(*)(enum p2pv_acs_state))p2pv_acs_state_str,
	(int (*)(struct ibv_device *const *, int, uint64_t, struct p2pv_provider *,
		 size_t, struct p2pv_path *, size_t))p2pv_choose_provider,
	(int (*)(const char *const *, int, uint64_t, struct p2pv_provider *,
		 size_t, struct p2pv_path *, size_t))p2pv_choose_provider_by_name,
	(int (*)(enum p2pv_policy))p2pv_set_policy,
	(enum p2pv_policy (*)(void))p2pv_get_policy,
	(const char *(*)(enum p2pv_policy))p2pv_policy_str,
	(struct p2pv_buf *(*)(const char *, struct ibv_device *, size_t))p2pv_buf_alloc,
	(struct p2pv_buf *(*)(const struct p2pv_buf_alloc_attr *, size_t))p2pv_buf_alloc_attr,
	(struct p2pv_buf *(*)(int, uint64_t, size_t, const char *))p2pv_buf_import,
	(int (*)(struct p2pv_buf *))p2pv_buf_free,
	(int (*)(const void *))p2pv_is_p2p,
	(int (*)(const void *, struct p2pv_ptr_info *, size_t))p2pv_ptr_query,
	(struct ibv_mr *(*)(struct ibv_pd *, struct p2pv_buf *, size_t, size_t, int))p2pv_reg_buf,
	(struct ibv_mr *(*)(struct ibv_pd *, void *, size_t, int))p2pv_reg_mr,
	(struct ibv_mr *(*)(struct ibv_pd *, void *, size_t, uint64_t, int))p2pv_reg_mr_iova,
	(struct ibv_mr *(*)(struct ibv_pd *, void *, size_t, uint64_t, unsigned int))p2pv_reg_mr_iova2,
	(int (*)(struct ibv_mr *))p2pv_dereg_mr,
	(int (*)(const struct ibv_mr *, struct p2pv_mr_info *, size_t))p2pv_mr_query,
	(int (*)(struct ibv_pd *))p2pv_dmabuf_mr_supported,
};

/* ---- layout ---- */
#define FIELD(T, f) { #T, #f, offsetof(struct T, f), sizeof(((struct T *)0)->f) }
#define SIZE(T) { #T, "sizeof", 0, sizeof(struct T) }
static const struct field {
	const char *type, *name;
	size_t offset, size;
} layout[] = {
	FIELD(p2pv_provider, comp_mask), FIELD(p2pv_provider, pci_addr),
	FIELD(p2pv_provider, size), FIELD(p2pv_provider, available),
	FIELD(p2pv_provider, kind), FIELD(p2pv_provider, published),
	FIELD(p2pv_provider, pci_class), FIELD(p2pv_provider, vendor_id),
	FIELD(p2pv_provider, device_id), FIELD(p2pv_provider, numa_node),
	SIZE(p2pv_provider),
	FIELD(p2pv_hop, pci_addr), FIELD(p2pv_hop, acs),
	FIELD(p2pv_hop, acs_ctrl), FIELD(p2pv_hop, is_bridge),
	FIELD(p2pv_hop, side), SIZE(p2pv_hop),
	FIELD(p2pv_path, comp_mask), FIELD(p2pv_path, path_class),
	FIELD(p2pv_path, mode), FIELD(p2pv_path, reasons),
	FIELD(p2pv_path, distance), FIELD(p2pv_path, source),
	FIELD(p2pv_path, acs_redirects), FIELD(p2pv_path, acs_unknown),
	FIELD(p2pv_path, iommu), FIELD(p2pv_path, client_pci_addr),
	FIELD(p2pv_path, provider_host_bridge),
	FIELD(p2pv_path, client_host_bridge), FIELD(p2pv_path, num_hops),
	FIELD(p2pv_path, hops), FIELD(p2pv_path, reason),
	FIELD(p2pv_path, provider_numa_node),
	FIELD(p2pv_path, client_numa_node), SIZE(p2pv_path),
	FIELD(p2pv_buf, comp_mask), FIELD(p2pv_buf, addr),
	FIELD(p2pv_buf, length), FIELD(p2pv_buf, dmabuf_fd),
	FIELD(p2pv_buf, dmabuf_offset), FIELD(p2pv_buf, type),
	FIELD(p2pv_buf, provider), SIZE(p2pv_buf),
	FIELD(p2pv_buf_alloc_attr, comp_mask),
	FIELD(p2pv_buf_alloc_attr, provider), FIELD(p2pv_buf_alloc_attr, near),
	FIELD(p2pv_buf_alloc_attr, length),
	FIELD(p2pv_buf_alloc_attr, alignment),
	FIELD(p2pv_buf_alloc_attr, flags), SIZE(p2pv_buf_alloc_attr),
	FIELD(p2pv_ptr_info, comp_mask), FIELD(p2pv_ptr_info, buf),
	FIELD(p2pv_ptr_info, dmabuf_fd), FIELD(p2pv_ptr_info, dmabuf_offset),
	FIELD(p2pv_ptr_info, offset), FIELD(p2pv_ptr_info, remaining),
	FIELD(p2pv_ptr_info, provider), SIZE(p2pv_ptr_info),
	FIELD(p2pv_mr_info, comp_mask), FIELD(p2pv_mr_info, type),
	FIELD(p2pv_mr_info, mode), FIELD(p2pv_mr_info, path_class),
	FIELD(p2pv_mr_info, source), FIELD(p2pv_mr_info, mode_known),
	FIELD(p2pv_mr_info, dmabuf_fd), FIELD(p2pv_mr_info, dmabuf_offset),
	FIELD(p2pv_mr_info, iova), FIELD(p2pv_mr_info, provider),
	FIELD(p2pv_mr_info, reasons), FIELD(p2pv_mr_info, importer),
	FIELD(p2pv_mr_info, reg_method), SIZE(p2pv_mr_info),
};

/* each line of the 1.0 record: "<struct> <field> <offset> <size>", or
 * "<struct> sizeof 0 <size>" */
static void t_layout(void)
{
	char type[64], name[64];
	size_t off, size, i;
	int lines = 0, found;
	FILE *f = fopen(P2PV_ABI_FILE, "r");

	CHECK(f != NULL);
	if (!f)
		return;
	while (fscanf(f, "%63s %63s %zu %zu", type, name, &off, &size) == 4) {
		lines++;
		found = 0;
		for (i = 0; i < sizeof(layout) / sizeof(layout[0]); i++) {
			const struct field *l = &layout[i];

			if (strcmp(l->type, type) || strcmp(l->name, name))
				continue;
			found = 1;
			if (!strcmp(name, "sizeof") ? l->size < size :
			    l->offset != off || l->size != size) {
				fprintf(stderr, "struct %s: %s is %zu bytes at %zu, 1.0 had %zu at %zu\n",
					type, name, l->size, l->offset, size, off);
				t_failed++;
			}
		}
		if (!found) {
			fprintf(stderr, "struct %s: field %s of 1.0 is gone\n", type, name);
			t_failed++;
		}
	}
	fclose(f);
	CHECK(lines > 60);
	CHECK(prototypes_1_0[0] != NULL);
}

/* print this header's layout in the record's format (to cut a release) */
static void t_print_layout(void)
{
	size_t i;

	for (i = 0; i < sizeof(layout) / sizeof(layout[0]); i++)
		printf("%s %s %zu %zu\n", layout[i].type, layout[i].name,
		       layout[i].offset, layout[i].size);
}

/* ---- inlen ---- */
static struct fakesys fs;

#define EXTRA 64
/* a struct of `size` bytes followed by EXTRA bytes, all 0xa5 */
static unsigned char *fresh(size_t size)
{
	unsigned char *p = malloc(size + EXTRA);

	memset(p, 0xa5, size + EXTRA);
	return p;
}

static int all(const unsigned char *p, size_t n, unsigned char v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

/*
 * call(out, inlen) fills a struct of `size` bytes in 1.0 (ok: its first
 * field after comp_mask tells a filled struct); checked with the exact
 * size, a larger struct and a smaller one.
 */
typedef int (*fill_fn)(void *out, size_t inlen);
static void check_fill(const char *what, fill_fn call, size_t size)
{
	int failed = t_failed;
	unsigned char *p;

	p = fresh(size);		/* a 1.0 program */
	if (call(p, size) != 0) {
		fprintf(stderr, "%s, inlen %zu: %s\n", what, size, p2pv_last_error());
		t_failed++;
	}
	CHECK(all(p + size, EXTRA, 0xa5));	/* nothing written past it */
	CHECK(!all(p, size, 0xa5));		/* cleared and filled */
	free(p);
	p = fresh(size);		/* a later program: a larger struct */
	CHECK_INT(call(p, size + EXTRA), 0);
	CHECK(all(p + size, EXTRA, 0));
	free(p);
	p = fresh(size);		/* too small: refused, untouched */
	errno = 0;
	CHECK_INT(call(p, size / 2), -1);
	CHECK_INT(errno, EINVAL);
	CHECK(all(p, size + EXTRA, 0xa5));
	free(p);
	if (t_failed != failed)
		fprintf(stderr, "(%s)\n", what);
}

static int fill_provider(void *out, size_t inlen)
{
	return p2pv_query_provider("0000:03:00.0", out, inlen);
}

static int fill_path(void *out, size_t inlen)
{
	return p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", out, inlen);
}

static int fill_choice(void *out, size_t inlen)
{
	const char *names[] = { "mlx5_0" };

	return p2pv_choose_provider_by_name(names, 1, 0, out, inlen, NULL, 0);
}

static struct p2pv_buf *buf;
static struct ibv_mr *mr;

static int fill_ptr_info(void *out, size_t inlen)
{
	return p2pv_ptr_query((char *)buf->addr + 10, out, inlen);
}

static int fill_mr_info(void *out, size_t inlen)
{
	return p2pv_mr_query(mr, out, inlen);
}

static void t_inlen(void)
{
	static struct ibv_device dev;
	static struct ibv_context ctx;
	static struct ibv_pd pd;
	size_t stride = sizeof(struct p2pv_provider) + EXTRA;
	const struct p2pv_provider *first;
	unsigned char *list;
	int fd, n, i;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	strcpy(dev.name, "mlx5_0");
	ctx.device = &dev;
	pd.context = &ctx;
	memset(flog(), 0, sizeof(*flog()));
	fd = memfd_create("abi", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	buf = p2pv_buf_import(fd, 0, 8192, "0000:03:00.0");
	CHECK(buf != NULL);
	if (!buf)
		return;
	mr = p2pv_reg_buf(&pd, buf, 0, 0, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr != NULL);
	check_fill("p2pv_query_provider", fill_provider, sizeof(struct p2pv_provider));
	check_fill("p2pv_query_path_by_name", fill_path, sizeof(struct p2pv_path));
	check_fill("p2pv_choose_provider_by_name", fill_choice, sizeof(struct p2pv_provider));
	check_fill("p2pv_ptr_query", fill_ptr_info, sizeof(struct p2pv_ptr_info));
	check_fill("p2pv_mr_query", fill_mr_info, sizeof(struct p2pv_mr_info));

	/* the list of a later program: its elements stride apart */
	list = (unsigned char *)p2pv_get_provider_list(&n, stride);
	CHECK(list != NULL);
	CHECK_INT(n, 2);
	for (i = 0; list && i < n; i++) {
		first = (const struct p2pv_provider *)(void *)(list + (size_t)i * stride);
		CHECK_STR(first->pci_addr, i ? "0000:04:00.1" : "0000:03:00.0");
		CHECK(all(list + (size_t)i * stride + sizeof(struct p2pv_provider),
			  EXTRA, 0));
	}
	p2pv_free_provider_list((struct p2pv_provider *)(void *)list);
	p2pv_dereg_mr(mr);
	p2pv_buf_free(buf);
	close(fd);
	fs_fini(&fs);
}

static const struct tcase cases[] = {
	{ "layout", t_layout },
	{ "print_layout", t_print_layout },
	{ "inlen", t_inlen },
	{ NULL, NULL },
};

TEST_MAIN(cases)
