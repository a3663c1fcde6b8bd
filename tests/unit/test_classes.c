/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Path classes with the ecosystem's meaning, and the devices and readers
 * the sysfs walk must not get wrong: several switches, non-root readers,
 * ACS above and at the common upstream port, SR-IOV VFs, sub-functions,
 * host bridges without devfn 00.0, and the graph's reuse.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <infiniband/p2pverbs.h>

#include "test.h"
#include "topo_common.h"

static struct fakesys fs;

#define RP "pci0000:00/0000:00:01.0"
#define USP RP "/0000:01:00.0"
#define DSP_A USP "/0000:02:00.0"
#define DSP_B USP "/0000:02:01.0"
#define NIC_DIR DSP_B "/0000:04:00.0"

/*
 * topo_switch() plus a second switch below the first one's port A:
 *   02:00.0 (DSP) -- 05:00.0 (USP) -- 06:00.0 (DSP) -- 07:00.0 NVMe provider
 */
static void topo_two_switches(int acs_inner)
{
	const char *p;

	topo_switch(&fs, 0x1234, 0, 0);
	fs_pci(&fs, DSP_A, "0000:05:00.0", CLS_BRIDGE, 0x10b5, 0x8725,
	       FS_NO_ACS, T_UP);
	fs_pci(&fs, DSP_A "/0000:05:00.0", "0000:06:00.0", CLS_BRIDGE, 0x10b5,
	       0x8725, acs_inner, T_DOWN);
	p = fs_pci(&fs, DSP_A "/0000:05:00.0/0000:06:00.0", "0000:07:00.0",
		   CLS_NVME, 0x8086, 0xf1a5, FS_NO_ACS, T_EP);
	fs_provider(&fs, p, 1 << 20, 1 << 20, 1);
}

static void t_pix_one_switch(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PIX);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	CHECK_INT(p.distance, 4);
	fs_fini(&fs);
}

static void t_pxb_several_switches(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_two_switches(0);
	CHECK_INT(p2pv_query_path_by_name("0000:07:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PXB);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	CHECK_INT(p.distance, 6);
	fs_fini(&fs);
}

/* An unprivileged reader sees 64 bytes of config space: the switch count
 * still follows from the hierarchy, the mode is unknown, not bus-addr */
static void t_non_root_reads(void)
{
	static const char *const dirs[] = {
		RP, USP, DSP_A, DSP_B, DSP_A "/0000:05:00.0",
		DSP_A "/0000:05:00.0/0000:06:00.0",
	};
	struct p2pv_provider best;
	struct p2pv_path p;
	const char *dev = "mlx5_0";
	size_t i;

	fs_init(&fs);
	topo_two_switches(0);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		fs_truncate_config(&fs, dirs[i], 64);
	CHECK_INT(p2pv_query_path_by_name("0000:07:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PXB);
	CHECK_INT(p.mode, P2PV_MAP_UNKNOWN);
	CHECK_INT(p.source, P2PV_SOURCE_SYSFS_ESTIMATE);
	CHECK(p.acs_unknown > 0);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PIX);
	CHECK_INT(p.mode, P2PV_MAP_UNKNOWN);
	/* the port above the NIC counts even for its sibling function, as in
	 * the P2PDMA core: every path is unknown, and choose still ranks by
	 * class among them */
	CHECK_INT(p2pv_choose_provider_by_name(&dev, 1, 0, &best, sizeof(best), &p, sizeof(p)), 0);
	CHECK_STR(best.pci_addr, "0000:04:00.1");
	CHECK_INT(p.path_class, P2PV_PATH_DEV);
	CHECK_INT(p.mode, P2PV_MAP_UNKNOWN);
	fs_fini(&fs);
}

/* Unknown never ranks above a confirmed host-bridge path */
static void t_unknown_ranks_last(void)
{
	struct p2pv_provider best;
	struct p2pv_path p;
	const char *dev = "mlx5_0";

	fs_init(&fs);
	/* 03:00.0 behind an unreadable port; 04:00.1 is gone */
	topo_switch(&fs, 0x2020, 0, 0);
	fs_writes(&fs, "sys/devices/" DSP_B "/0000:04:00.1/p2pmem/published",
		  "0\n");
	fs_truncate_config(&fs, DSP_A, 64);
	/* a provider on another root port, through a whitelisted bridge */
	fs_pci(&fs, "pci0000:00", "0000:00:02.0", CLS_BRIDGE, 0x8086, 0x1111,
	       FS_ACS_RR, T_ROOT_PORT);
	fs_provider(&fs, fs_pci(&fs, "pci0000:00/0000:00:02.0", "0000:08:00.0",
				CLS_MEM, 0x1af4, 0x1110, FS_NO_ACS, T_EP),
		    1 << 20, 1 << 20, 1);
	CHECK_INT(p2pv_query_path_by_name("0000:08:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_HOST_BRIDGE);
	CHECK_INT(p2pv_choose_provider_by_name(&dev, 1, 0, &best, sizeof(best), &p, sizeof(p)), 0);
	CHECK_STR(best.pci_addr, "0000:08:00.0");
	fs_fini(&fs);
}

/* ACS is checked from the provider up to and including the common
 * upstream port, as the P2PDMA core does; a root port above it is not on
 * the path */
static void t_acs_root_port_and_common(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	fs_pci(&fs, "pci0000:00", "0000:00:01.0", CLS_BRIDGE, 0x8086, 0x1111,
	       FS_ACS_RR | FS_ACS_CR, T_ROOT_PORT);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	CHECK_INT(p.acs_redirects, 0);
	fs_pci(&fs, RP, "0000:01:00.0", CLS_BRIDGE, 0x10b5, 0x8747, FS_ACS_RR,
	       T_UP);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.acs_redirects, 1);
	CHECK(p.reasons & P2PV_REASON_ACS_REDIRECT);
	CHECK_INT(p.mode, P2PV_MAP_REFUSED);	/* 8086:1234 not whitelisted */
	fs_fini(&fs);
}

/* A VF sits next to its PF in sysfs: its own function on the same path */
static void t_sriov_vf(void)
{
	struct p2pv_path p;
	const char *vf;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	vf = fs_pci(&fs, DSP_B, "0000:04:00.2", CLS_NIC, 0x15b3, 0x101c,
		    FS_NO_ACS, T_EP);
	fs_ibdev(&fs, "mlx5_2", vf);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_2", &p, sizeof(p)), 0);
	CHECK_STR(p.client_pci_addr, "0000:04:00.2");
	CHECK_INT(p.path_class, P2PV_PATH_PIX);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	CHECK_INT(p2pv_query_path_by_name("0000:04:00.1", "mlx5_2", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_DEV);
	fs_fini(&fs);
}

/* An auxiliary device (mlx5 sub-function) DMAs through its PCI parent: it
 * is that function's path, not a CPU importer */
static void t_subfunction(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	fs_writes(&fs, "sys/devices/" NIC_DIR "/mlx5_core.sf.2/sfnum", "2\n");
	fs_ibdev(&fs, "mlx5_3", NIC_DIR "/mlx5_core.sf.2");
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_3", &p, sizeof(p)), 0);
	CHECK_STR(p.client_pci_addr, "0000:04:00.0");
	CHECK_INT(p.path_class, P2PV_PATH_PIX);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	fs_fini(&fs);
}

/* Root bus without 00.0: the first function stands for the host bridge
 * only if it is a root port - unknown when its type cannot be read */
static void t_host_bridge_without_devfn0(void)
{
	struct p2pv_path p;
	const char *q;

	fs_init(&fs);
	fs_pci(&fs, "pci0000:00", "0000:00:01.0", CLS_BRIDGE, 0x8086, 0x09a2,
	       0, T_ROOT_PORT);
	fs_pci(&fs, "pci0000:00", "0000:00:02.0", CLS_BRIDGE, 0x8086, 0x09a2,
	       0, T_ROOT_PORT);
	q = fs_pci(&fs, "pci0000:00/0000:00:01.0", "0000:01:00.0", CLS_NVME,
		   0x8086, 0xf1a5, FS_NO_ACS, T_EP);
	fs_provider(&fs, q, 1 << 20, 1 << 20, 1);
	q = fs_pci(&fs, "pci0000:00/0000:00:02.0", "0000:02:00.0", CLS_NIC,
		   0x15b3, 0x101b, FS_NO_ACS, T_EP);
	fs_ibdev(&fs, "mlx5_0", q);
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PHB);
	CHECK_INT(p.mode, P2PV_MAP_HOST_BRIDGE);
	fs_truncate_config(&fs, "pci0000:00/0000:00:01.0", 64);
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_UNKNOWN);
	CHECK(strstr(p.reason, "not readable") != NULL);
	/* an endpoint first on the bus does not stand for the host bridge */
	fs_pci(&fs, "pci0000:00", "0000:00:01.0", CLS_MEM, 0x8086, 0x09a2,
	       FS_NO_ACS, T_EP);
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_REFUSED);
	fs_fini(&fs);
}

/* The graph is reused until a uevent says the machine changed */
static void t_graph_reused(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	fs.quiet = 1;		/* a change the kernel would not announce */
	fs_pci(&fs, USP, "0000:02:00.0", CLS_BRIDGE, 0x10b5, 0x8747,
	       FS_ACS_RR, T_DOWN);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);	/* cached */
	fs_uevent(&fs);
	fs.quiet = 0;
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.acs_redirects, 1);
	CHECK_INT(p.mode, P2PV_MAP_REFUSED);
	fs_fini(&fs);
}

static const struct tcase cases[] = {
	{ "pix_one_switch", t_pix_one_switch },
	{ "pxb_several_switches", t_pxb_several_switches },
	{ "non_root_reads", t_non_root_reads },
	{ "unknown_ranks_last", t_unknown_ranks_last },
	{ "acs_root_port_and_common", t_acs_root_port_and_common },
	{ "sriov_vf", t_sriov_vf },
	{ "subfunction", t_subfunction },
	{ "host_bridge_without_devfn0", t_host_bridge_without_devfn0 },
	{ "graph_reused", t_graph_reused },
	{ NULL, NULL },
};

TEST_MAIN(cases)
