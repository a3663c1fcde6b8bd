/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Choosing among 24 NVMe CMBs: nearest, tie-breaks, exhaustion, refusal. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <infiniband/p2pverbs.h>

#include "test.h"
#include "topo_common.h"

static struct fakesys fs;

/*
 * Three root ports 00:0k.0 (k = 1..3), each with a switch: up port
 * <k*16>:00.0, downstream ports <k*16+1>:0d.0 (d = 0..8).  Ports d = 0..7
 * hold NVMe CMBs <k*16+2+d>:00.0; port 8 of switches 1 and 2 holds NICs
 * mlx5_0 and mlx5_1.  avail(k, d) gives each provider's available bytes.
 */
static char prov_path[4][8][256];

static void build(uint64_t (*avail)(int k, int d))
{
	char rp[64], up[128], down[192], bdf[32];
	int k, d;

	fs_pci(&fs, "pci0000:00", "0000:00:00.0", CLS_HOST, 0x8086, 0x1234,
	       FS_NO_ACS, -1);
	for (k = 1; k <= 3; k++) {
		snprintf(bdf, sizeof(bdf), "0000:00:%02x.0", k);
		fs_pci(&fs, "pci0000:00", bdf, CLS_BRIDGE, 0x8086, 0x1111, 0,
		       T_ROOT_PORT);
		snprintf(rp, sizeof(rp), "pci0000:00/%s", bdf);
		snprintf(bdf, sizeof(bdf), "0000:%02x:00.0", k * 16);
		fs_pci(&fs, rp, bdf, CLS_BRIDGE, 0x10b5, 0x8796, FS_NO_ACS, T_UP);
		snprintf(up, sizeof(up), "%s/%s", rp, bdf);
		for (d = 0; d <= 8; d++) {
			snprintf(bdf, sizeof(bdf), "0000:%02x:%02x.0", k * 16 + 1, d);
			fs_pci(&fs, up, bdf, CLS_BRIDGE, 0x10b5, 0x8796, 0, T_DOWN);
			snprintf(down, sizeof(down), "%s/%s", up, bdf);
			if (d < 8) {
				snprintf(bdf, sizeof(bdf), "0000:%02x:00.0",
					 k * 16 + 2 + d);
				snprintf(prov_path[k][d], sizeof(prov_path[k][d]), "%s",
					 fs_pci(&fs, down, bdf, CLS_NVME, 0x144d,
						0xa80a, FS_NO_ACS, T_EP));
				fs_provider(&fs, prov_path[k][d], 1 << 24,
					    avail(k, d), 1);
			} else if (k < 3) {
				snprintf(bdf, sizeof(bdf), "0000:%02x:00.0",
					 k * 16 + 10);
				fs_ibdev(&fs, k == 1 ? "mlx5_0" : "mlx5_1",
					 fs_pci(&fs, down, bdf, CLS_NIC, 0x15b3,
						0x101b, FS_NO_ACS, T_EP));
			}
		}
	}
}

static uint64_t all_equal(int k, int d)
{
	(void)k;
	(void)d;
	return 1 << 20;
}

static uint64_t varied(int k, int d)
{
	/* switch 1: d=5 has the most; switch 3: d=0 has more than anyone */
	if (k == 3 && d == 0)
		return 1 << 23;
	if (k == 1 && d == 5)
		return 1 << 22;
	return (uint64_t)(1 << 20) + (uint64_t)d * 4096;
}

static void t_count(void)
{
	struct p2pv_provider *l;
	int n;

	fs_init(&fs);
	build(all_equal);
	l = p2pv_get_provider_list(&n, sizeof(struct p2pv_provider));
	CHECK_INT(n, 24);
	if (l && n == 24) {
		CHECK_STR(l[0].pci_addr, "0000:12:00.0");
		CHECK_STR(l[23].pci_addr, "0000:39:00.0");
	}
	p2pv_free_provider_list(l);
	fs_fini(&fs);
}

static void t_nearest_one_device(void)
{
	const char *names[] = { "mlx5_0" };
	struct p2pv_provider out;
	struct p2pv_path path;

	fs_init(&fs);
	fs_cpuinfo(&fs, "AuthenticAMD", 0x19);
	build(varied);
	/* under its own switch (PIX) beats the biggest one elsewhere (PHB) */
	CHECK_INT(p2pv_choose_provider_by_name(names, 1, 0, &out, sizeof(out), &path, sizeof(path)), 0);
	CHECK_STR(out.pci_addr, "0000:17:00.0");	/* switch 1, d = 5 */
	CHECK_INT(path.path_class, P2PV_PATH_PIX);
	CHECK_INT(path.mode, P2PV_MAP_BUS_ADDR);
	names[0] = "mlx5_1";
	CHECK_INT(p2pv_choose_provider_by_name(names, 1, 0, &out, sizeof(out), &path, sizeof(path)), 0);
	CHECK_STR(out.pci_addr, "0000:29:00.0");	/* switch 2, most available */
	fs_fini(&fs);
}

static void t_tie_break_address(void)
{
	const char *names[] = { "mlx5_0" };
	struct p2pv_provider out;

	fs_init(&fs);
	build(all_equal);
	CHECK_INT(p2pv_choose_provider_by_name(names, 1, 0, &out, sizeof(out), NULL, 0), 0);
	CHECK_STR(out.pci_addr, "0000:12:00.0");
	fs_fini(&fs);
}

static void t_two_devices(void)
{
	const char *names[] = { "mlx5_0", "mlx5_1" };
	struct p2pv_provider out;
	struct p2pv_path paths[2];

	fs_init(&fs);
	fs_cpuinfo(&fs, "AuthenticAMD", 0x19);
	build(varied);
	/* each switch-1/2 provider is PIX+PHB; switch-3 ones PHB+PHB */
	CHECK_INT(p2pv_choose_provider_by_name(names, 2, 0, &out, sizeof(out), paths, sizeof(*paths)), 0);
	CHECK_STR(out.pci_addr, "0000:17:00.0");
	CHECK_INT(paths[0].path_class, P2PV_PATH_PIX);
	CHECK_INT(paths[1].path_class, P2PV_PATH_PHB);
	CHECK_INT(paths[1].mode, P2PV_MAP_HOST_BRIDGE);
	fs_fini(&fs);
}

static void t_exhaustion(void)
{
	const char *names[] = { "mlx5_0" };
	struct p2pv_provider out;

	fs_init(&fs);
	build(varied);
	fs_provider(&fs, prov_path[1][5], 1 << 24, 0, 1);	/* exhausted */
	CHECK_INT(p2pv_choose_provider_by_name(names, 1, 0, &out, sizeof(out), NULL, 0), 0);
	CHECK_STR(out.pci_addr, "0000:19:00.0");		/* d = 7 next */
	/* too small for the request */
	CHECK_INT(p2pv_choose_provider_by_name(names, 1, (1 << 20) + 7 * 4096,
					       &out, sizeof(out), NULL, 0), 0);
	CHECK_STR(out.pci_addr, "0000:19:00.0");
	fs_provider(&fs, prov_path[1][7], 1 << 24, 0, 0);	/* unpublished */
	CHECK_INT(p2pv_choose_provider_by_name(names, 1, 0, &out, sizeof(out), NULL, 0), 0);
	CHECK_STR(out.pci_addr, "0000:18:00.0");
	CHECK_INT(p2pv_choose_provider_by_name(names, 1, 1ULL << 30, &out, sizeof(out), NULL, 0), -1);
	CHECK_INT(errno, ENODEV);
	CHECK(strstr(p2pv_last_error(), "no usable") != NULL);
	fs_fini(&fs);
}

static void t_refused_everywhere(void)
{
	const char *names[] = { "mlx5_0", "mlx5_1" };
	struct p2pv_provider out;

	/* Intel, host bridge not whitelisted: nothing reaches both NICs */
	fs_init(&fs);
	build(all_equal);
	CHECK_INT(p2pv_choose_provider_by_name(names, 2, 0, &out, sizeof(out), NULL, 0), -1);
	CHECK_INT(errno, ENODEV);
	CHECK(strstr(p2pv_last_error(), "24 refused") != NULL);
	fs_fini(&fs);
}

static void t_no_device(void)
{
	struct p2pv_provider out;

	fs_init(&fs);
	build(varied);
	/* no client: the provider with the most memory */
	CHECK_INT(p2pv_choose_provider_by_name(NULL, 0, 0, &out, sizeof(out), NULL, 0), 0);
	CHECK_STR(out.pci_addr, "0000:32:00.0");
	CHECK_INT(p2pv_choose_provider(NULL, 0, 0, &out, sizeof(out), NULL, 0), 0);
	CHECK_INT(p2pv_choose_provider(NULL, 1, 0, &out, sizeof(out), NULL, 0), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(p2pv_choose_provider_by_name(NULL, 0, 0, NULL, sizeof(struct p2pv_provider), NULL, 0), -1);
	fs_fini(&fs);
}

static const struct tcase cases[] = {
	{ "count", t_count },
	{ "nearest_one_device", t_nearest_one_device },
	{ "tie_break_address", t_tie_break_address },
	{ "two_devices", t_two_devices },
	{ "exhaustion", t_exhaustion },
	{ "refused_everywhere", t_refused_everywhere },
	{ "no_device", t_no_device },
	{ NULL, NULL },
};

TEST_MAIN(cases)
