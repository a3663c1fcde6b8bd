/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * In-guest checks of libp2pverbs on the real kernel, rxe and rdma-core.
 *
 *   p2pverbs-test verbs  DEV0 DEV1 NVME IVSHMEM
 *   p2pverbs-test policy PROVIDER NOT-A-PROVIDER
 *
 * "verbs": DEV0 and DEV1 are two rxe devices reaching each other (rxe_pair
 * of tests/vm/guest/lib.sh), NVME and IVSHMEM the PCI names of the two
 * published providers.  P2P buffers come from each provider by name, from
 * the provider nearest to DEV0 and from any provider; each is registered on
 * DEV0 three ways (p2pv_reg_buf by the dma-buf fd; p2pv_reg_mr and
 * p2pv_reg_mr_iova2, which hand the address to the kernel, which resolves the
 * mapping), after a plain ibv_reg_mr of libibverbs has been checked to
 * register P2P memory too, and RDMA WRITE and READ move data
 * between each MR and host memory registered on DEV1, both with the P2P MR
 * as the remote and as the local side, checked byte for byte through the
 * CPU mapping.  Also p2pv_ptr_query/p2pv_is_p2p on P2P and other pointers,
 * p2pv_mr_query (mode "cpu" for rxe), p2pv_dmabuf_mr_supported, path and
 * provider choice queries, ibv_dereg_mr of both kinds of MR.
 *
 * "policy": the P2P policy levels through the API and the P2PV_P2P_POLICY
 * environment variable, against a real provider and a PCI function that is
 * not one (no P2P memory there).
 *
 * "graph": the provider x device graph and the available memory are cached:
 * an allocation behind the library's back is not seen by
 * p2pv_choose_provider() until a uevent (here: "change" written to the
 * provider's uevent file) rebuilds the graph; an allocation the cache sent to
 * an exhausted provider moves on to the next one.
 *
 * Prints "ok: ..." per check; on failure "FAIL: ..." and exit status 1.
 */
#include <infiniband/p2pverbs.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "p2pv-rdma.h"
#include "p2pmem-client.h"

#define BUF_LEN		(256u * 1024)
#define XFER		(16u * 1024)
#define ACCESS		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

/* the three registrations of each P2P buffer, at different offsets */
enum reg_kind { REG_BUF, REG_MR, REG_IOVA2, NUM_REG };
static const char *const reg_name[] = { "p2pv_reg_buf", "p2pv_reg_mr",
					"p2pv_reg_mr_iova2" };
static const size_t reg_off[] = { 0, 64 * 1024 + 0x40, 128 * 1024 + 0x100 };
#define REG_LEN		(48u * 1024)

static struct t_side s0, s1;
static uint8_t *host;		/* host memory on DEV1 */
static struct ibv_mr *host_mr;
static unsigned int seed = 1;
static void check_not_p2p(const void *p, const char *what)
{
	struct p2pv_ptr_info info;

	T_CHECK(!p2pv_is_p2p(p), "p2pv_is_p2p(%s) is true", what);
	errno = 0;
	T_CHECK(p2pv_ptr_query(p, &info, sizeof(info)) == -1 && errno == ENOENT,
		"p2pv_ptr_query(%s): expected -1/ENOENT, errno %d", what, errno);
	T_CHECK(p2pv_last_error()[0], "p2pv_ptr_query(%s): no error message", what);
}

static void check_ptr(struct p2pv_buf *b, size_t off)
{
	struct p2pv_ptr_info info;
	const char *p = (const char *)b->addr + off;

	T_CHECK(p2pv_is_p2p(p), "p2pv_is_p2p(buffer+%zu) is false", off);
	memset(&info, 0xff, sizeof(info));
	T_CHECK(!p2pv_ptr_query(p, &info, sizeof(info)), "p2pv_ptr_query(buffer+%zu): %s",
		off, p2pv_last_error());
	T_CHECK(info.buf == b && info.offset == off &&
		info.remaining == b->length - off &&
		info.dmabuf_fd == b->dmabuf_fd &&
		info.dmabuf_offset == b->dmabuf_offset + off &&
		!strcmp(info.provider, b->provider),
		"p2pv_ptr_query(buffer+%zu): buf %p/%p offset %zu remaining %zu fd %d/%d dmabuf_offset %llu provider %s/%s",
		off, (void *)info.buf, (void *)b, info.offset, info.remaining,
		info.dmabuf_fd, b->dmabuf_fd,
		(unsigned long long)info.dmabuf_offset, info.provider,
		b->provider);
}

static void check_mr_info(struct ibv_mr *mr, struct p2pv_buf *b, size_t off,
			  enum p2pv_mr_reg_method method, const char *how)
{
	struct p2pv_mr_info mi;

	memset(&mi, 0xff, sizeof(mi));
	T_CHECK(!p2pv_mr_query(mr, &mi, sizeof(mi)), "p2pv_mr_query (%s): %s", how,
		p2pv_last_error());
	T_CHECK(mi.reg_method == method,
		"p2pv_mr_query (%s): registered %d, expected %d", how,
		(int)mi.reg_method, (int)method);
	/* the mode is what the MR's attachment got, named by the kernel */
	T_CHECK(mi.comp_mask == (P2PV_MR_INFO_MASK_ATTACHMENT |
				 P2PV_MR_INFO_MASK_REG_METHOD) &&
		mi.source == P2PV_SOURCE_ATTACHMENT &&
		!strcmp(mi.importer, mr->context->device->name),
		"p2pv_mr_query (%s): source %s importer \"%s\", expected attachment %s",
		how, p2pv_answer_source_str(mi.source), mi.importer,
		mr->context->device->name);
	T_CHECK(mi.type == P2PV_MEM_P2P && mi.mode_known &&
		mi.mode == P2PV_MAP_CPU && mi.path_class == P2PV_PATH_CPU,
		"p2pv_mr_query (%s): type %d mode_known %d mode %s class %s, expected P2P, cpu, CPU",
		how, (int)mi.type, mi.mode_known, p2pv_map_mode_str(mi.mode),
		p2pv_path_class_str(mi.path_class));
	T_CHECK(!strcmp(mi.provider, b->provider) &&
		mi.dmabuf_fd == b->dmabuf_fd &&
		mi.dmabuf_offset == b->dmabuf_offset + off &&
		mi.iova == (uintptr_t)b->addr + off,
		"p2pv_mr_query (%s): provider %s fd %d dmabuf_offset %llu iova %#llx, expected %s %d %llu %p",
		how, mi.provider, mi.dmabuf_fd,
		(unsigned long long)mi.dmabuf_offset,
		(unsigned long long)mi.iova, b->provider, b->dmabuf_fd,
		(unsigned long long)(b->dmabuf_offset + off),
		(void *)((char *)b->addr + off));
	T_CHECK(mr->addr == (char *)b->addr + off && mr->length == REG_LEN,
		"%s: mr addr %p length %zu, expected %p %u", how, mr->addr,
		mr->length, (void *)((char *)b->addr + off), REG_LEN);
}

/* XFER bytes at P (registered in MR on DEV0) against host memory on DEV1,
 * in the four combinations; guard bytes around P must not change. */
static void traffic(struct ibv_mr *mr, volatile uint8_t *p, const char *tag)
{
	uint8_t before = p[-1], after = p[XFER];
	uint64_t raddr = (uintptr_t)p, hraddr = (uintptr_t)host;
	long bad;

	/* DEV1 writes into P2P memory */
	t_fill(host, XFER, ++seed);
	t_rdma(&s1, IBV_WR_RDMA_WRITE, host, host_mr->lkey, raddr, mr->rkey, XFER);
	bad = t_verify(p, XFER, seed);
	T_CHECK(bad < 0, "%s: RDMA WRITE into P2P memory: byte %ld differs", tag, bad);
	T_CHECK(p[-1] == before && p[XFER] == after,
		"%s: RDMA WRITE into P2P memory changed bytes outside the range", tag);

	/* DEV1 reads P2P memory */
	t_fill(p, XFER, ++seed);
	memset(host, 0, XFER);
	t_rdma(&s1, IBV_WR_RDMA_READ, host, host_mr->lkey, raddr, mr->rkey, XFER);
	bad = t_verify(host, XFER, seed);
	T_CHECK(bad < 0, "%s: RDMA READ of P2P memory: byte %ld differs", tag, bad);

	/* DEV0 writes from P2P memory (P2P MR as the local source) */
	t_fill(p, XFER, ++seed);
	memset(host, 0, XFER);
	t_rdma(&s0, IBV_WR_RDMA_WRITE, (void *)p, mr->lkey, hraddr,
	       host_mr->rkey, XFER);
	bad = t_verify(host, XFER, seed);
	T_CHECK(bad < 0, "%s: RDMA WRITE from P2P memory: byte %ld differs", tag, bad);

	/* DEV0 reads into P2P memory (P2P MR as the local sink) */
	t_fill(host, XFER, ++seed);
	t_fill(p, XFER, 0xee);
	t_rdma(&s0, IBV_WR_RDMA_READ, (void *)p, mr->lkey, hraddr,
	       host_mr->rkey, XFER);
	bad = t_verify(p, XFER, seed);
	T_CHECK(bad < 0, "%s: RDMA READ into P2P memory: byte %ld differs", tag, bad);
	T_CHECK(p[-1] == before && p[XFER] == after,
		"%s: RDMA READ into P2P memory changed bytes outside the range", tag);
	t_ok("%s: RDMA WRITE and READ, P2P MR remote and local, %u bytes each, byte for byte",
	     tag, XFER);
}

static void one_buffer(struct p2pv_buf *b, const char *how,
		       const char *expect_provider, const char *nvme,
		       const char *ivshmem)
{
	struct ibv_mr *mr[NUM_REG];
	char tag[160];
	size_t i;
	int k;

	T_CHECK(b, "%s: p2pv_buf_alloc: %s", how, p2pv_last_error());
	T_CHECK(b->type == P2PV_MEM_P2P && b->dmabuf_fd >= 0 &&
		b->length == BUF_LEN && b->addr,
		"%s: type %d fd %d length %zu, expected P2P memory of %u bytes",
		how, (int)b->type, b->dmabuf_fd, b->length, BUF_LEN);
	if (expect_provider)
		T_CHECK(!strcmp(b->provider, expect_provider),
			"%s: provider %s, expected %s", how, b->provider,
			expect_provider);
	else
		T_CHECK(!strcmp(b->provider, nvme) || !strcmp(b->provider, ivshmem),
			"%s: provider \"%s\" is neither %s nor %s", how,
			b->provider, nvme, ivshmem);
	for (i = 0; i < BUF_LEN; i++)
		T_CHECK(!((volatile uint8_t *)b->addr)[i],
			"%s: new buffer not zeroed at byte %zu", how, i);
	t_ok("%s: %u bytes of zeroed P2P memory from %s, dma-buf fd %d",
	     how, BUF_LEN, b->provider, b->dmabuf_fd);

	check_ptr(b, 0);
	check_ptr(b, 4097);
	check_ptr(b, BUF_LEN - 1);
	{
		struct p2pv_ptr_info info;
		const char *end = (const char *)b->addr + BUF_LEN;

		/* the next byte may belong to a neighbouring mapping, not to b */
		T_CHECK(p2pv_ptr_query(end, &info, sizeof(info)) < 0 || info.buf != b,
			"%s: the byte after the buffer is reported inside it", how);
	}
	t_ok("%s: p2pv_ptr_query/p2pv_is_p2p: buffer, offsets, dma-buf offsets", how);

	{
		/* libibverbs' own ibv_reg_mr: the kernel resolves the mapping;
		 * the library does not know the MR */
		struct ibv_mr *plain = ibv_reg_mr(s0.pd, b->addr, 4096, ACCESS);
		struct p2pv_mr_info mi;

		T_CHECK(plain, "%s: plain ibv_reg_mr of P2P memory: %s", how,
			strerror(errno));
		errno = 0;
		T_CHECK(p2pv_mr_query(plain, &mi, sizeof(mi)) < 0 && errno == ENOENT,
			"%s: p2pv_mr_query of a plain ibv_reg_mr MR: expected ENOENT",
			how);
		T_CHECK(!ibv_dereg_mr(plain), "ibv_dereg_mr: %s", strerror(errno));
		t_ok("%s: plain ibv_reg_mr registers the P2P mapping (kernel-resolved)",
		     how);
	}

	mr[REG_BUF] = p2pv_reg_buf(s0.pd, b, reg_off[REG_BUF], REG_LEN, ACCESS);
	mr[REG_MR] = p2pv_reg_mr(s0.pd, (char *)b->addr + reg_off[REG_MR],
				 REG_LEN, ACCESS);
	mr[REG_IOVA2] = p2pv_reg_mr_iova2(s0.pd, (char *)b->addr + reg_off[REG_IOVA2],
					  REG_LEN,
					  (uintptr_t)b->addr + reg_off[REG_IOVA2],
					  ACCESS);
	for (k = 0; k < NUM_REG; k++) {
		snprintf(tag, sizeof(tag), "%s, %s", how, reg_name[k]);
		T_CHECK(mr[k], "%s: registration failed: %s", tag, p2pv_last_error());
		check_mr_info(mr[k], b, reg_off[k],
			      k == REG_BUF ? P2PV_MR_REG_DMABUF : P2PV_MR_REG_MAPPING,
			      tag);
	}
	t_ok("%s: 3 registrations; p2pv_mr_query: P2P, mode cpu, class CPU, dma-buf offsets and iovas, how registered",
	     how);

	errno = 0;
	T_CHECK(!p2pv_reg_mr(s0.pd, (char *)b->addr + BUF_LEN - 100, 4096, ACCESS) &&
		errno == EINVAL,
		"%s: registration across the end of the buffer: errno %d, expected EINVAL",
		how, errno);
	t_ok("%s: registration across the end of the buffer refused: %s", how,
	     p2pv_last_error());

	for (k = 0; k < NUM_REG; k++) {
		snprintf(tag, sizeof(tag), "%s, %s", how, reg_name[k]);
		traffic(mr[k], (volatile uint8_t *)b->addr + reg_off[k] + 0x10, tag);
	}

	/* the struct ibv_mr is freed by the deregistration: asking
	 * p2pv_mr_query() about it afterwards would read freed memory (the
	 * unit tests check that the record goes, with the MR kept readable) */
	for (k = 0; k < NUM_REG; k++)
		T_CHECK(!p2pv_dereg_mr(mr[k]), "%s, %s: p2pv_dereg_mr: %s", how,
			reg_name[k], p2pv_last_error());
	t_ok("%s: P2P MRs deregistered (p2pv_dereg_mr)", how);
}

static int cmd_verbs(const char *dev0, const char *dev1, const char *nvme,
		     const char *ivshmem)
{
	const char *names[2] = { dev0, dev1 };
	struct ibv_device **list;
	struct p2pv_path path, paths[2];
	struct p2pv_provider prov;
	struct p2pv_mr_info mi;
	struct p2pv_buf *b, *keep;
	struct ibv_mr *mr;
	uint8_t *heap;
	int stack_var = 0, r;
	const char *const provs[2] = { nvme, ivshmem };
	int i;

	T_CHECK(!getenv("P2PV_P2P_POLICY"), "P2PV_P2P_POLICY is set in the environment");
	T_CHECK(p2pv_get_policy() == P2PV_POLICY_ENABLED,
		"default policy is %s, expected enabled",
		p2pv_policy_str(p2pv_get_policy()));
	/* a failed P2P allocation must fail here, not fall back silently */
	T_CHECK(!p2pv_set_policy(P2PV_POLICY_REQUIRED), "p2pv_set_policy");
	list = t_open_pair(&s0, &s1, dev0, dev1);
	t_ok("RC QPs %s <-> %s connected (GID index 0, global routing)", dev0, dev1);

	host = aligned_alloc(4096, BUF_LEN);
	heap = malloc(4096);
	T_CHECK(host && heap, "out of memory");
	/* plain verbs registration of host memory: the library does not know it */
	host_mr = ibv_reg_mr(s1.pd, host, BUF_LEN, ACCESS);
	T_CHECK(host_mr, "ibv_reg_mr of host memory on %s: %s", dev1, strerror(errno));
	errno = 0;
	T_CHECK(p2pv_mr_query(host_mr, &mi, sizeof(mi)) < 0 && errno == ENOENT,
		"p2pv_mr_query of a host-memory MR: expected ENOENT");
	t_ok("host memory through plain ibv_reg_mr: ordinary MR, p2pv_mr_query ENOENT");

	r = p2pv_dmabuf_mr_supported(s0.pd);
	T_CHECK(r == 1, "p2pv_dmabuf_mr_supported(%s) = %d: %s", dev0, r, p2pv_last_error());
	r = p2pv_dmabuf_mr_supported(s1.pd);
	T_CHECK(r == 1, "p2pv_dmabuf_mr_supported(%s) = %d: %s", dev1, r, p2pv_last_error());
	t_ok("p2pv_dmabuf_mr_supported: 1 on %s and %s", dev0, dev1);

	for (i = 0; i < 2; i++) {
		T_CHECK(!p2pv_query_provider(provs[i], &prov, sizeof(prov)), "p2pv_query_provider(%s): %s",
			provs[i], p2pv_last_error());
		T_CHECK(prov.published && prov.size >= BUF_LEN &&
			prov.available <= prov.size &&
			prov.kind == (i == 0 ? P2PV_PROVIDER_NVME_CMB : P2PV_PROVIDER_GENERIC_BAR),
			"provider %s: published %d size %llu available %llu kind %d",
			provs[i], prov.published, (unsigned long long)prov.size,
			(unsigned long long)prov.available, (int)prov.kind);
		T_CHECK(!p2pv_query_path_by_name(provs[i], dev0, &path, sizeof(path)),
			"p2pv_query_path_by_name(%s, %s): %s", provs[i], dev0,
			p2pv_last_error());
		T_CHECK(path.mode == P2PV_MAP_CPU && path.path_class == P2PV_PATH_CPU &&
			(path.reasons & P2PV_REASON_NOT_PCI) && !path.client_pci_addr[0],
			"path %s -> %s: mode %s class %s reasons %#x, expected cpu/CPU/not-pci",
			provs[i], dev0, p2pv_map_mode_str(path.mode),
			p2pv_path_class_str(path.path_class), path.reasons);
	}
	t_ok("providers %s (nvme-cmb) and %s (generic-bar) published; paths to %s: CPU/cpu, not-pci",
	     nvme, ivshmem, dev0);
	T_CHECK(!p2pv_choose_provider_by_name(names, 2, BUF_LEN, &prov, sizeof(prov), paths, sizeof(*paths)),
		"p2pv_choose_provider_by_name(%s, %s): %s", dev0, dev1, p2pv_last_error());
	T_CHECK((!strcmp(prov.pci_addr, nvme) || !strcmp(prov.pci_addr, ivshmem)) &&
		paths[0].mode == P2PV_MAP_CPU && paths[1].mode == P2PV_MAP_CPU,
		"chosen provider %s, modes %s/%s", prov.pci_addr,
		p2pv_map_mode_str(paths[0].mode), p2pv_map_mode_str(paths[1].mode));
	t_ok("nearest provider for %s and %s: %s (cpu for both)", dev0, dev1, prov.pci_addr);

	check_not_p2p(&stack_var, "a stack variable");
	check_not_p2p(heap, "malloc memory");
	check_not_p2p(host, "registered host memory");
	check_not_p2p(NULL, "NULL");
	t_ok("p2pv_ptr_query/p2pv_is_p2p: stack, heap, host MR memory and NULL are not P2P");

	b = p2pv_buf_alloc(nvme, NULL, BUF_LEN);
	one_buffer(b, "named NVMe CMB", nvme, nvme, ivshmem);
	/* kept while the next ones come and go: lookups among several buffers */
	keep = b;
	b = p2pv_buf_alloc(ivshmem, NULL, BUF_LEN);
	one_buffer(b, "named ivshmem", ivshmem, nvme, ivshmem);
	T_CHECK(!p2pv_buf_free(b), "p2pv_buf_free: %s", p2pv_last_error());
	b = p2pv_buf_alloc(NULL, s0.dev, BUF_LEN);
	one_buffer(b, "nearest to rxe0", NULL, nvme, ivshmem);
	T_CHECK(!p2pv_buf_free(b), "p2pv_buf_free: %s", p2pv_last_error());
	b = p2pv_buf_alloc(NULL, NULL, BUF_LEN);
	one_buffer(b, "any provider", NULL, nvme, ivshmem);
	{
		void *addr = b->addr;

		T_CHECK(!p2pv_buf_free(b), "p2pv_buf_free: %s", p2pv_last_error());
		T_CHECK(!p2pv_is_p2p(addr), "a freed buffer is still P2P memory");
		addr = keep->addr;
		T_CHECK(!p2pv_buf_free(keep), "p2pv_buf_free: %s", p2pv_last_error());
		T_CHECK(!p2pv_is_p2p(addr), "a freed buffer is still P2P memory");
	}
	t_ok("buffers freed; their addresses are no longer P2P memory");

	/* the program unmaps a P2P buffer and maps anonymous memory in its
	 * place: registering that address registers host memory (RDMA WRITE
	 * lands in the anonymous memory), and p2pv_mr_query says so;
	 * p2pv_reg_buf still registers the buffer (the WRITE lands in it) */
	b = p2pv_buf_alloc(ivshmem, NULL, BUF_LEN);
	T_CHECK(b, "p2pv_buf_alloc(%s): %s", ivshmem, p2pv_last_error());
	{
		uint8_t *addr = b->addr, *again, *view;
		long bad;
		int k;

		T_CHECK(!munmap(addr, BUF_LEN), "munmap: %s", strerror(errno));
		again = mmap(addr, BUF_LEN, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		T_CHECK(again == addr, "mmap at %p: %s", (void *)addr, strerror(errno));
		T_CHECK(!p2pv_is_p2p(addr), "an unmapped buffer is still P2P memory");
		for (k = 0; k < 2; k++) {
			const char *how = k ? "p2pv_reg_mr" : "p2pv_reg_mr_iova2";

			mr = k ? p2pv_reg_mr(s0.pd, addr, BUF_LEN, ACCESS) :
				 p2pv_reg_mr_iova2(s0.pd, addr, BUF_LEN,
						   (uintptr_t)addr, ACCESS);
			T_CHECK(mr, "%s of remapped memory: %s", how, p2pv_last_error());
			memset(&mi, 0xff, sizeof(mi));
			T_CHECK(!p2pv_mr_query(mr, &mi, sizeof(mi)) && mi.type == P2PV_MEM_HOST &&
				mi.reg_method == P2PV_MR_REG_HOST &&
				mi.comp_mask == P2PV_MR_INFO_MASK_REG_METHOD &&
				mi.dmabuf_fd == -1 && !mi.provider[0],
				"%s of remapped memory: p2pv_mr_query type %d registered %d fd %d provider \"%s\", expected host memory",
				how, (int)mi.type, (int)mi.reg_method, mi.dmabuf_fd, mi.provider);
			t_fill(host, XFER, ++seed);
			memset(addr, 0, XFER);
			t_rdma(&s1, IBV_WR_RDMA_WRITE, host, host_mr->lkey,
			       (uintptr_t)addr, mr->rkey, XFER);
			bad = t_verify(addr, XFER, seed);
			T_CHECK(bad < 0, "%s of remapped memory: RDMA WRITE missed the anonymous memory at byte %ld",
				how, bad);
			T_CHECK(!p2pv_dereg_mr(mr), "p2pv_dereg_mr: %s", p2pv_last_error());
		}
		t_ok("munmap + anonymous mmap at a P2P buffer's address: p2pv_reg_mr_iova2 and p2pv_reg_mr register the anonymous memory (RDMA WRITE lands there; p2pv_mr_query: host memory)");

		mr = p2pv_reg_buf(s0.pd, b, 0, REG_LEN, ACCESS);
		T_CHECK(mr, "p2pv_reg_buf of an unmapped buffer: %s", p2pv_last_error());
		check_mr_info(mr, b, 0, P2PV_MR_REG_DMABUF, "p2pv_reg_buf, unmapped buffer");
		memset(addr, 0, XFER);
		t_fill(host, XFER, ++seed);
		t_rdma(&s1, IBV_WR_RDMA_WRITE, host, host_mr->lkey,
		       (uintptr_t)addr, mr->rkey, XFER);
		view = mmap(NULL, BUF_LEN, PROT_READ, MAP_SHARED, b->dmabuf_fd,
			    (off_t)b->dmabuf_offset);
		T_CHECK(view != MAP_FAILED, "mmap of the buffer's dma-buf: %s",
			strerror(errno));
		bad = t_verify(view, XFER, seed);
		T_CHECK(bad < 0, "p2pv_reg_buf of an unmapped buffer: RDMA WRITE missed the buffer at byte %ld",
			bad);
		for (bad = 0; bad < XFER && !addr[bad]; bad++)
			;
		T_CHECK(bad == XFER, "p2pv_reg_buf of an unmapped buffer: RDMA WRITE reached the anonymous memory");
		munmap(view, BUF_LEN);
		T_CHECK(!p2pv_dereg_mr(mr), "p2pv_dereg_mr: %s", p2pv_last_error());
		t_ok("p2pv_reg_buf of that buffer registers the buffer itself (RDMA WRITE lands in its dma-buf, not in the anonymous memory)");

		T_CHECK(!p2pv_buf_free(b), "p2pv_buf_free: %s", p2pv_last_error());
		T_CHECK(p2pv_buf_free(b) < 0 && errno == EINVAL,
			"second p2pv_buf_free: errno %d", errno);
		((volatile char *)addr)[0] = 1;	/* left to the program */
		munmap(addr, BUF_LEN);
	}
	t_ok("double free refused; the program's mapping left alone");

	/* host memory through the library, deregistered either way */
	mr = p2pv_reg_mr(s0.pd, heap, 4096, IBV_ACCESS_LOCAL_WRITE);
	T_CHECK(mr, "p2pv_reg_mr of host memory: %s", p2pv_last_error());
	T_CHECK(!p2pv_dereg_mr(mr), "p2pv_dereg_mr of a host MR: %s", p2pv_last_error());
	T_CHECK(!ibv_dereg_mr(host_mr), "ibv_dereg_mr of a host MR: %s",
		strerror(errno));
	t_ok("host MRs deregistered: p2pv_dereg_mr and ibv_dereg_mr");

	t_close_pair(&s0, &s1, list);
	free(host);
	free(heap);
	t_ok("every verbs object destroyed");
	return 0;
}

/* p2pv_buf_alloc with stderr captured into err (NUL terminated) */
static struct p2pv_buf *alloc_capture(const char *pci, size_t len, char *err,
				      size_t n, int *saved_errno)
{
	struct p2pv_buf *b;
	FILE *tmp = tmpfile();
	int saved;
	size_t got;

	T_CHECK(tmp, "tmpfile: %s", strerror(errno));
	fflush(stderr);
	saved = dup(2);
	T_CHECK(saved >= 0 && dup2(fileno(tmp), 2) == 2, "redirecting stderr: %s",
		strerror(errno));
	errno = 0;
	b = p2pv_buf_alloc(pci, NULL, len);
	*saved_errno = errno;
	fflush(stderr);
	T_CHECK(dup2(saved, 2) == 2, "restoring stderr: %s", strerror(errno));
	close(saved);
	rewind(tmp);
	got = fread(err, 1, n - 1, tmp);
	err[got] = 0;
	fclose(tmp);
	return b;
}

static int cmd_policy(const char *prov, const char *notprov)
{
	static const enum p2pv_policy all[] = { P2PV_POLICY_DISABLED,
		P2PV_POLICY_ENABLED, P2PV_POLICY_PREFERRED, P2PV_POLICY_REQUIRED };
	struct p2pv_provider info;
	char err[4096];
	struct p2pv_buf *b;
	uint64_t too_big;
	int e, i;

	T_CHECK(!getenv("P2PV_P2P_POLICY"), "P2PV_P2P_POLICY is set in the environment");
	T_CHECK(p2pv_get_policy() == P2PV_POLICY_ENABLED, "default policy %s, expected enabled",
		p2pv_policy_str(p2pv_get_policy()));
	for (i = 0; i < 4; i++) {
		T_CHECK(!p2pv_set_policy(all[i]) && p2pv_get_policy() == all[i],
			"p2pv_set_policy(%s)", p2pv_policy_str(all[i]));
	}
	errno = 0;
	T_CHECK(p2pv_set_policy((enum p2pv_policy)7) < 0 && errno == EINVAL,
		"p2pv_set_policy(7) accepted");
	t_ok("p2pv_set_policy/p2pv_get_policy round trip; invalid value refused");
	T_CHECK(!p2pv_query_provider(prov, &info, sizeof(info)), "p2pv_query_provider(%s): %s", prov,
		p2pv_last_error());
	too_big = info.size + 4096;
	errno = 0;
	T_CHECK(p2pv_query_provider(notprov, &info, sizeof(info)) < 0 && errno == ENODEV,
		"%s is reported as a P2PDMA provider", notprov);

	/* a named provider serves or fails, under every policy: never host
	 * memory in its place, never a word on stderr */
	for (i = 0; i < 4; i++) {
		p2pv_set_policy(all[i]);
		b = alloc_capture(notprov, BUF_LEN, err, sizeof(err), &e);
		T_CHECK(!b && e == (all[i] == P2PV_POLICY_DISABLED ? EPERM : ENODEV) &&
			strstr(p2pv_last_error(), notprov) && !err[0],
			"%s, named %s: buffer %p errno %d message \"%s\" stderr \"%s\"",
			p2pv_policy_str(all[i]), notprov, (void *)b, e,
			p2pv_last_error(), err);
		if (all[i] == P2PV_POLICY_DISABLED)
			continue;
		/* the kernel's answer: no range that large (or over the
		 * administrator's user_limit) */
		b = alloc_capture(prov, (size_t)too_big, err, sizeof(err), &e);
		T_CHECK(!b && (e == ENOMEM || e == EDQUOT) && !err[0],
			"%s, %llu bytes from %s: buffer %p errno %d message \"%s\"",
			p2pv_policy_str(all[i]), (unsigned long long)too_big, prov,
			(void *)b, e, p2pv_last_error());
		b = alloc_capture(prov, BUF_LEN, err, sizeof(err), &e);
		T_CHECK(b && b->type == P2PV_MEM_P2P && !strcmp(b->provider, prov) && !err[0],
			"%s, %s: %s (stderr: %s)", p2pv_policy_str(all[i]), prov,
			b ? "not P2P" : p2pv_last_error(), err);
		p2pv_buf_free(b);
	}
	t_ok("named provider: that provider or an error under every policy, nothing on stderr");

	/* the library chooses: the policy decides what happens without one */
	p2pv_set_policy(P2PV_POLICY_REQUIRED);
	b = alloc_capture(NULL, (size_t)too_big * 4, err, sizeof(err), &e);
	T_CHECK(!b && e == ENODEV && strstr(p2pv_last_error(), "required") && !err[0],
		"required, nearest provider of %llu bytes: buffer %p errno %d message \"%s\"",
		(unsigned long long)too_big * 4, (void *)b, e, p2pv_last_error());
	t_ok("required, no provider large enough: fails, \"%s\"", p2pv_last_error());

	p2pv_set_policy(P2PV_POLICY_PREFERRED);
	b = alloc_capture(NULL, (size_t)too_big * 4, err, sizeof(err), &e);
	T_CHECK(b && b->type == P2PV_MEM_HOST && b->dmabuf_fd == -1 && !b->provider[0] &&
		!p2pv_is_p2p(b->addr) && !err[0] &&
		strstr(p2pv_last_error(), "host memory instead"),
		"preferred, nothing large enough: buffer %p, message \"%s\", stderr \"%s\"",
		(void *)b, p2pv_last_error(), err);
	p2pv_buf_free(b);
	t_ok("preferred, no provider large enough: host memory, reason kept: \"%s\"",
	     p2pv_last_error());

	p2pv_set_policy(P2PV_POLICY_ENABLED);
	b = alloc_capture(NULL, (size_t)too_big * 4, err, sizeof(err), &e);
	T_CHECK(b && b->type == P2PV_MEM_HOST && !err[0] && !p2pv_last_error()[0],
		"enabled, nothing large enough: buffer %p, message \"%s\", stderr \"%s\"",
		(void *)b, p2pv_last_error(), err);
	p2pv_buf_free(b);
	b = alloc_capture(NULL, BUF_LEN, err, sizeof(err), &e);
	T_CHECK(b && b->type == P2PV_MEM_P2P && !err[0], "enabled, nearest: not P2P");
	p2pv_buf_free(b);
	t_ok("enabled: P2P memory when available, silent host-memory fallback otherwise");

	p2pv_set_policy(P2PV_POLICY_DISABLED);
	b = alloc_capture(NULL, BUF_LEN, err, sizeof(err), &e);
	T_CHECK(b && b->type == P2PV_MEM_HOST && !err[0],
		"disabled: %s", b ? "P2P memory allocated" : p2pv_last_error());
	p2pv_buf_free(b);
	t_ok("disabled: host memory even though %s has P2P memory", prov);

	/* the environment variable wins over the API */
	p2pv_set_policy(P2PV_POLICY_REQUIRED);
	T_CHECK(!setenv("P2PV_P2P_POLICY", "disabled", 1), "setenv");
	T_CHECK(p2pv_get_policy() == P2PV_POLICY_DISABLED, "P2PV_P2P_POLICY=disabled ignored");
	b = alloc_capture(NULL, BUF_LEN, err, sizeof(err), &e);
	T_CHECK(b && b->type == P2PV_MEM_HOST, "P2PV_P2P_POLICY=disabled over API required: %s",
		b ? "P2P memory allocated" : p2pv_last_error());
	p2pv_buf_free(b);
	p2pv_set_policy(P2PV_POLICY_ENABLED);
	T_CHECK(!setenv("P2PV_P2P_POLICY", "REQUIRED", 1), "setenv");
	T_CHECK(p2pv_get_policy() == P2PV_POLICY_REQUIRED, "P2PV_P2P_POLICY=REQUIRED ignored");
	b = alloc_capture(NULL, (size_t)too_big * 4, err, sizeof(err), &e);
	T_CHECK(!b && strstr(p2pv_last_error(), "required"),
		"P2PV_P2P_POLICY=REQUIRED over API enabled: allocation did not fail");
	T_CHECK(!setenv("P2PV_P2P_POLICY", "preferred", 1), "setenv");
	b = alloc_capture(NULL, (size_t)too_big * 4, err, sizeof(err), &e);
	T_CHECK(b && b->type == P2PV_MEM_HOST && !err[0],
		"P2PV_P2P_POLICY=preferred over API enabled: buffer %p, stderr \"%s\"",
		(void *)b, err);
	p2pv_buf_free(b);
	T_CHECK(!setenv("P2PV_P2P_POLICY", "bogus", 1), "setenv");
	T_CHECK(p2pv_get_policy() == P2PV_POLICY_ENABLED,
		"P2PV_P2P_POLICY=bogus: policy %s, expected the API's enabled",
		p2pv_policy_str(p2pv_get_policy()));
	unsetenv("P2PV_P2P_POLICY");
	t_ok("P2PV_P2P_POLICY overrides p2pv_set_policy (disabled, REQUIRED, preferred); unknown values ignored");
	return 0;
}

/* P2PMEM_IOC_ALLOC of size bytes from bdf behind the library's back:
 * the dma-buf fd, or -errno */
static int raw_alloc(const char *bdf, uint64_t size)
{
	char node[64];
	int fd, r;

	snprintf(node, sizeof(node), "/dev/p2pmem/%s", bdf);
	fd = open(node, O_RDWR | O_CLOEXEC);
	T_CHECK(fd >= 0, "open %s: %s", node, strerror(errno));
	r = p2pmem_try_alloc(fd, size, O_RDWR | O_CLOEXEC, 0);
	close(fd);
	return r;
}

/* "change" into the device's uevent file: a uevent, as when a driver
 * binds or a device comes */
static void uevent(const char *bdf)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/uevent", bdf);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	T_CHECK(fd >= 0 && write(fd, "change", 6) == 6, "writing %s: %s", path,
		strerror(errno));
	close(fd);
}

static uint64_t sysfs_available(const char *bdf)
{
	struct p2pv_provider p;

	T_CHECK(!p2pv_query_provider(bdf, &p, sizeof(p)), "p2pv_query_provider(%s): %s",
		bdf, p2pv_last_error());
	return p.available;
}

static int cmd_graph(const char *dev0, const char *nvme, const char *ivshmem)
{
	const char *names[1] = { dev0 };
	struct p2pv_buf_alloc_attr attr;
	struct p2pv_provider a, c;
	struct ibv_device **list, *dev = NULL;
	struct p2pv_buf *b;
	const char *other;
	uint64_t before, left;
	int fd, n, i;

	list = ibv_get_device_list(&n);
	for (i = 0; list && i < n; i++)
		if (!strcmp(list[i]->name, dev0))
			dev = list[i];
	T_CHECK(dev, "no RDMA device %s", dev0);
	T_CHECK(!p2pv_set_policy(P2PV_POLICY_REQUIRED), "p2pv_set_policy");

	/* cached: an allocation behind the library's back is not seen ... */
	T_CHECK(!p2pv_choose_provider_by_name(names, 1, 0, &a, sizeof(a), NULL, 0),
		"p2pv_choose_provider(%s): %s", dev0, p2pv_last_error());
	T_CHECK(!strcmp(a.pci_addr, nvme) || !strcmp(a.pci_addr, ivshmem),
		"chose %s", a.pci_addr);
	before = a.available;
	T_CHECK(before == sysfs_available(a.pci_addr),
		"first choice: %s with %llu available, sysfs says %llu",
		a.pci_addr, (unsigned long long)before,
		(unsigned long long)sysfs_available(a.pci_addr));
	fd = raw_alloc(a.pci_addr, 1 << 20);
	T_CHECK(fd >= 0, "P2PMEM_IOC_ALLOC of 1 MiB from %s: %s", a.pci_addr,
		strerror(-fd));
	left = sysfs_available(a.pci_addr);
	T_CHECK(left < before, "%s: available %llu after 1 MiB of %llu",
		a.pci_addr, (unsigned long long)left, (unsigned long long)before);
	T_CHECK(!p2pv_choose_provider_by_name(names, 1, 0, &c, sizeof(c), NULL, 0) &&
		!strcmp(c.pci_addr, a.pci_addr) && c.available == before,
		"second choice: %s with %llu available, expected %s with the cached %llu",
		c.pci_addr, (unsigned long long)c.available, a.pci_addr,
		(unsigned long long)before);
	t_ok("p2pv_choose_provider answers from the cache: %s still %llu bytes available after 1 MiB allocated behind its back",
	     a.pci_addr, (unsigned long long)before);
	/* ... until a uevent rebuilds the graph */
	uevent(a.pci_addr);
	T_CHECK(!p2pv_choose_provider_by_name(names, 1, 0, &c, sizeof(c), NULL, 0),
		"choice after a uevent: %s", p2pv_last_error());
	T_CHECK(c.available == sysfs_available(c.pci_addr) &&
		(strcmp(c.pci_addr, a.pci_addr) || c.available == left),
		"after a uevent: %s with %llu available, sysfs says %llu; %s has %llu",
		c.pci_addr, (unsigned long long)c.available,
		(unsigned long long)sysfs_available(c.pci_addr), a.pci_addr,
		(unsigned long long)left);
	t_ok("after a uevent on %s the graph is rebuilt: %s, %llu bytes available",
	     a.pci_addr, c.pci_addr, (unsigned long long)c.available);
	close(fd);

	/* the cache sends an allocation to a provider exhausted behind its
	 * back: the allocation moves on to the next one */
	uevent(a.pci_addr);
	T_CHECK(!p2pv_choose_provider_by_name(names, 1, BUF_LEN, &a, sizeof(a), NULL, 0),
		"p2pv_choose_provider: %s", p2pv_last_error());
	other = strcmp(a.pci_addr, nvme) ? nvme : ivshmem;
	left = sysfs_available(a.pci_addr);
	fd = raw_alloc(a.pci_addr, left - BUF_LEN / 2);
	T_CHECK(fd >= 0, "P2PMEM_IOC_ALLOC of %llu bytes from %s: %s",
		(unsigned long long)(left - BUF_LEN / 2), a.pci_addr, strerror(-fd));
	T_CHECK(sysfs_available(a.pci_addr) < BUF_LEN, "%s not exhausted", a.pci_addr);
	T_CHECK(!p2pv_choose_provider_by_name(names, 1, BUF_LEN, &c, sizeof(c), NULL, 0) &&
		!strcmp(c.pci_addr, a.pci_addr),
		"choice with %s exhausted behind the library's back: %s (cached)",
		a.pci_addr, c.pci_addr);
	memset(&attr, 0, sizeof(attr));
	attr.near = dev;
	attr.length = BUF_LEN;
	b = p2pv_buf_alloc_attr(&attr, sizeof(attr));
	T_CHECK(b && b->type == P2PV_MEM_P2P && !strcmp(b->provider, other),
		"allocation near %s with %s exhausted: %s", dev0, a.pci_addr,
		b ? b->provider : p2pv_last_error());
	t_ok("allocation near %s: the cache chose %s, exhausted behind its back; the library moved on to %s",
	     dev0, a.pci_addr, b->provider);
	T_CHECK(!p2pv_choose_provider_by_name(names, 1, BUF_LEN, &c, sizeof(c), NULL, 0) &&
		!strcmp(c.pci_addr, other),
		"choice after the failed allocation: %s, expected %s", c.pci_addr,
		other);
	t_ok("the failed allocation refreshed the cache: p2pv_choose_provider now answers %s",
	     other);
	T_CHECK(!p2pv_buf_free(b), "p2pv_buf_free: %s", p2pv_last_error());
	close(fd);
	ibv_free_device_list(list);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && !strcmp(argv[1], "verbs"))
		return cmd_verbs(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 4 && !strcmp(argv[1], "policy"))
		return cmd_policy(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "graph"))
		return cmd_graph(argv[2], argv[3], argv[4]);
	t_fail("usage: %s verbs DEV0 DEV1 NVME IVSHMEM | policy PROVIDER NOT-A-PROVIDER | graph DEV0 NVME IVSHMEM",
	       argc ? argv[0] : "p2pverbs-test");
}
