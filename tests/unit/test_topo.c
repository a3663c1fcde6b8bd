/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Path class, mapping mode and ACS state from fake sysfs trees. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/p2pverbs.h>

#include "test.h"
#include "topo_common.h"

static struct fakesys fs;

static void t_same_device(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	/* sibling function of the NIC */
	CHECK_INT(p2pv_query_path_by_name("0000:04:00.1", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_DEV);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	CHECK_INT(p.distance, 2);
	CHECK_INT(p.source, P2PV_SOURCE_SYSFS_ESTIMATE);
	CHECK_STR(p.client_pci_addr, "0000:04:00.0");
	/* the NIC's own function as provider */
	fs_provider(&fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:04:00.0",
		    4096, 4096, 1);
	CHECK_INT(p2pv_query_path_by_name("0000:04:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_DEV);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	CHECK_INT(p.distance, 0);
	CHECK_INT(p.num_hops, 1);
	fs_fini(&fs);
}

static void t_switch_acs_off(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PIX);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	CHECK_INT(p.reasons, P2PV_REASON_REVOCABLE_ONLY);
	CHECK_INT(p.distance, 4);
	CHECK_INT(p.acs_redirects, 0);
	CHECK_INT(p.num_hops, 5);
	CHECK_STR(p.hops[0].pci_addr, "0000:03:00.0");
	CHECK_STR(p.hops[2].pci_addr, "0000:01:00.0");
	CHECK_INT(p.hops[2].side, 2);
	CHECK_STR(p.hops[4].pci_addr, "0000:04:00.0");
	CHECK_INT(p.hops[1].acs, P2PV_ACS_OFF);
	CHECK_INT(p.hops[2].acs, P2PV_ACS_NONE);
	CHECK_STR(p.provider_host_bridge, "pci0000:00");
	fs_fini(&fs);
}

static void t_switch_acs_on_intel(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, FS_ACS_RR | FS_ACS_CR, 0);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PIX);
	CHECK_INT(p.mode, P2PV_MAP_REFUSED);
	CHECK(p.reasons & P2PV_REASON_ACS_REDIRECT);
	CHECK(p.reasons & P2PV_REASON_HOST_BRIDGE_DENIED);
	CHECK_INT(p.distance, -1);
	CHECK_INT(p.acs_redirects, 1);
	CHECK_INT(p.hops[1].acs, P2PV_ACS_REDIRECT);
	CHECK_INT(p.hops[1].acs_ctrl, FS_ACS_RR | FS_ACS_CR);
	CHECK(strstr(p.reason, "8086:1234") != NULL);
	/* the same redirect on the client side counts too */
	fs_fini(&fs);
	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, FS_ACS_EC);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_REFUSED);
	CHECK_INT(p.hops[3].acs, P2PV_ACS_REDIRECT);
	fs_fini(&fs);
}

static void t_switch_acs_on_amd(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, FS_ACS_RR, 0);
	fs_cpuinfo(&fs, "AuthenticAMD", 0x19);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_HOST_BRIDGE);
	CHECK_INT(p.reasons, P2PV_REASON_ACS_REDIRECT | P2PV_REASON_REVOCABLE_ONLY);
	CHECK_INT(p.distance, 4);
	CHECK_INT(p.iommu, 0);
	/* with an IOMMU group on the client */
	fs_writes(&fs, "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:04:00.0/iommu_group/.keep", "");
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_HOST_BRIDGE);
	CHECK(p.reasons & P2PV_REASON_IOMMU);
	CHECK(p.iommu);
	CHECK(strstr(p.reason, "IOMMU") != NULL);
	/* pre-Zen AMD is not enough */
	fs_cpuinfo(&fs, "AuthenticAMD", 0x15);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_REFUSED);
	fs_fini(&fs);
}

static void t_switch_acs_uf_only(void)
{
	struct p2pv_path p;

	/* Upstream Forwarding alone is not a redirect for the kernel */
	fs_init(&fs);
	topo_switch(&fs, 0x1234, FS_ACS_UF, 0);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	CHECK_INT(p.hops[1].acs, P2PV_ACS_OFF);
	fs_fini(&fs);
}

static void t_several_switches(void)
{
	struct p2pv_path p;
	const char *q;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	/* a second switch below 02:00.0's sibling: 02:02.0 -> 05:00.0 up ->
	 * 06:00.0 down -> 07:00.0 provider */
	fs_pci(&fs, "pci0000:00/0000:00:01.0/0000:01:00.0", "0000:02:02.0",
	       CLS_BRIDGE, 0x10b5, 0x8747, 0, T_DOWN);
	fs_pci(&fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:02.0",
	       "0000:05:00.0", CLS_BRIDGE, 0x10b5, 0x8725, FS_NO_ACS, T_UP);
	fs_pci(&fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:02.0/0000:05:00.0",
	       "0000:06:00.0", CLS_BRIDGE, 0x10b5, 0x8725, 0, T_DOWN);
	q = fs_pci(&fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:02.0/0000:05:00.0/0000:06:00.0",
		   "0000:07:00.0", CLS_NVME, 0x144d, 0xa808, FS_NO_ACS, T_EP);
	fs_provider(&fs, q, 1 << 20, 1 << 20, 1);
	CHECK_INT(p2pv_query_path_by_name("0000:07:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PXB);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	CHECK_INT(p.distance, 6);
	CHECK_INT(p.num_hops, 7);
	fs_fini(&fs);
}

/* provider under root port 00:01.0, NIC under root port 00:02.0 */
static void topo_two_root_ports(uint16_t hb_dev, int with_hb_dev)
{
	const char *p;

	if (with_hb_dev)
		fs_pci(&fs, "pci0000:00", "0000:00:00.0", CLS_HOST, 0x8086,
		       hb_dev, FS_NO_ACS, -1);
	fs_pci(&fs, "pci0000:00", "0000:00:01.0", CLS_BRIDGE, 0x8086,
	       with_hb_dev ? 0x1111 : hb_dev, 0, T_ROOT_PORT);
	fs_pci(&fs, "pci0000:00", "0000:00:02.0", CLS_BRIDGE, 0x8086, 0x1112, 0,
	       T_ROOT_PORT);
	p = fs_pci(&fs, "pci0000:00/0000:00:01.0", "0000:01:00.0", CLS_NVME,
		   0x8086, 0xf1a5, FS_NO_ACS, T_EP);
	fs_provider(&fs, p, 1 << 20, 1 << 20, 1);
	p = fs_pci(&fs, "pci0000:00/0000:00:02.0", "0000:02:00.0", CLS_NIC,
		   0x15b3, 0x101b, FS_NO_ACS, T_EP);
	fs_ibdev(&fs, "mlx5_0", p);
}

static void t_host_bridge_intel(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_two_root_ports(0x2030, 1);		/* Skylake-E: whitelisted */
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PHB);
	CHECK_INT(p.mode, P2PV_MAP_HOST_BRIDGE);
	CHECK_INT(p.reasons, P2PV_REASON_NO_COMMON_BRIDGE | P2PV_REASON_REVOCABLE_ONLY);
	CHECK_INT(p.distance, 4);
	fs_fini(&fs);

	fs_init(&fs);
	topo_two_root_ports(0x3c00, 1);		/* same-host-bridge entry */
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_HOST_BRIDGE);
	fs_fini(&fs);

	fs_init(&fs);
	topo_two_root_ports(0x1234, 1);		/* not whitelisted */
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PHB);
	CHECK_INT(p.mode, P2PV_MAP_REFUSED);
	CHECK_INT(p.reasons, P2PV_REASON_NO_COMMON_BRIDGE |
			     P2PV_REASON_HOST_BRIDGE_DENIED);
	fs_fini(&fs);

	fs_init(&fs);
	topo_two_root_ports(0x09a2, 0);		/* root port as "host bridge" */
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_HOST_BRIDGE);
	fs_fini(&fs);
}

static void t_host_bridge_amd(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_two_root_ports(0x1234, 1);
	fs_cpuinfo(&fs, "AuthenticAMD", 0x17);
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PHB);
	CHECK_INT(p.mode, P2PV_MAP_HOST_BRIDGE);
	CHECK(strstr(p.reason, "AMD") != NULL);
	fs_fini(&fs);
}

static void topo_two_hosts(const char *host2, const char *rp2, const char *hb2,
			   const char *nic, uint16_t hb_dev)
{
	const char *p;
	char parent[128];

	fs_pci(&fs, "pci0000:00", "0000:00:00.0", CLS_HOST, 0x8086, hb_dev,
	       FS_NO_ACS, -1);
	fs_pci(&fs, "pci0000:00", "0000:00:01.0", CLS_BRIDGE, 0x8086, 0x1111, 0,
	       T_ROOT_PORT);
	p = fs_pci(&fs, "pci0000:00/0000:00:01.0", "0000:01:00.0", CLS_NVME,
		   0x8086, 0xf1a5, FS_NO_ACS, T_EP);
	fs_provider(&fs, p, 1 << 20, 1 << 20, 1);
	fs_pci(&fs, host2, hb2, CLS_HOST, 0x8086, hb_dev, FS_NO_ACS, -1);
	fs_pci(&fs, host2, rp2, CLS_BRIDGE, 0x8086, 0x1111, 0, T_ROOT_PORT);
	snprintf(parent, sizeof(parent), "%s/%s", host2, rp2);
	p = fs_pci(&fs, parent, nic, CLS_NIC, 0x15b3, 0x101b, FS_NO_ACS, T_EP);
	fs_ibdev(&fs, "mlx5_1", p);
}

#define PROV_DIR "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0"

/* SYS is the inter-socket link: two host bridges on one NUMA node are PHB */
static void t_across_host_bridges(void)
{
	struct p2pv_path p;

	/* two root buses of domain 0, each on its own NUMA node */
	fs_init(&fs);
	topo_two_hosts("pci0000:80", "0000:80:01.0", "0000:80:00.0",
		       "0000:81:00.0", 0x3c00);
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_1", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PHB);		/* NUMA unknown */
	fs_writes(&fs, PROV_DIR "/numa_node", "0\n");
	fs_writes(&fs, "sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0/numa_node",
		  "0\n");
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_1", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PHB);		/* one node */
	CHECK_INT(p.comp_mask, P2PV_PATH_MASK_NUMA);
	CHECK_INT(p.client_numa_node, 0);
	fs_writes(&fs, "sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0/numa_node",
		  "1\n");
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_1", &p, sizeof(p)), 0);
	CHECK_INT(p.client_numa_node, 1);
	CHECK_INT(p.path_class, P2PV_PATH_SYS);
	CHECK_INT(p.mode, P2PV_MAP_REFUSED);	/* 3c00 needs one host bridge */
	CHECK_STR(p.client_host_bridge, "pci0000:80");
	fs_fini(&fs);

	fs_init(&fs);
	topo_two_hosts("pci0000:80", "0000:80:01.0", "0000:80:00.0",
		       "0000:81:00.0", 0x2030);
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_1", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PHB);
	CHECK_INT(p.mode, P2PV_MAP_HOST_BRIDGE);
	fs_fini(&fs);

	/* two PCI domains, AMD */
	fs_init(&fs);
	topo_two_hosts("pci0001:00", "0001:00:01.0", "0001:00:00.0",
		       "0001:01:00.0", 0x1234);
	fs_cpuinfo(&fs, "AuthenticAMD", 0x19);
	fs_writes(&fs, PROV_DIR "/numa_node", "0\n");
	fs_writes(&fs, "sys/devices/pci0001:00/0001:00:01.0/0001:01:00.0/numa_node",
		  "3\n");
	CHECK_INT(p2pv_query_path_by_name("0000:01:00.0", "mlx5_1", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_SYS);
	CHECK_INT(p.mode, P2PV_MAP_HOST_BRIDGE);
	CHECK_STR(p.client_pci_addr, "0001:01:00.0");
	fs_fini(&fs);
}

static void t_rxe_cpu(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	fs_ibdev(&fs, "rxe0", NULL);
	fs_writes(&fs, "sys/devices/virtual/net/eth9/type", "1\n");
	fs_ibdev(&fs, "siw0", "virtual/net/eth9");
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "rxe0", &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_CPU);
	CHECK_INT(p.mode, P2PV_MAP_CPU);
	CHECK_INT(p.reasons, P2PV_REASON_NOT_PCI | P2PV_REASON_REVOCABLE_ONLY);
	CHECK_STR(p.client_pci_addr, "");
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "siw0", &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_CPU);
	fs_fini(&fs);
}

static void t_ibv_device_and_ctx(void)
{
	struct ibv_device dev;
	struct ibv_context ctx;
	struct p2pv_path p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	memset(&dev, 0, sizeof(dev));
	memset(&ctx, 0, sizeof(ctx));
	strcpy(dev.name, "mlx5_0");
	ctx.device = &dev;
	CHECK_INT(p2pv_query_path("0000:03:00.0", &dev, &p, sizeof(p)), 0);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	CHECK_INT(p2pv_query_path_ctx("0000:03:00.0", &ctx, &p, sizeof(p)), 0);
	CHECK_INT(p.path_class, P2PV_PATH_PIX);
	CHECK_INT(p2pv_query_path("0000:03:00.0", NULL, &p, sizeof(p)), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(p2pv_query_path_ctx("0000:03:00.0", NULL, &p, sizeof(p)), -1);
	strcpy(dev.name, "mlx5_9");
	CHECK_INT(p2pv_query_path("0000:03:00.0", &dev, &p, sizeof(p)), -1);
	CHECK_INT(errno, ENODEV);
	CHECK(strstr(p2pv_last_error(), "mlx5_9") != NULL);
	fs_fini(&fs);
}

static void t_kernel_node_fallback(void)
{
	struct p2pv_path p;

	/* a node that is not the p2pmem char device: the ioctl fails and the
	 * sysfs answer is used */
	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	fs_writes(&fs, "dev/p2pmem/0000:03:00.0", "");
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.source, P2PV_SOURCE_SYSFS_ESTIMATE);
	CHECK_INT(p.mode, P2PV_MAP_BUS_ADDR);
	CHECK(strstr(p.reason, "[kernel]") == NULL);
	fs_fini(&fs);
}

static void t_provider_list(void)
{
	struct p2pv_provider *l, one;
	int n = -1;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	fs_provider(&fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:04:00.1",
		    8192, 4096, 0);
	l = p2pv_get_provider_list(&n, sizeof(struct p2pv_provider));
	CHECK(l != NULL);
	CHECK_INT(n, 2);
	if (l && n == 2) {
		CHECK_STR(l[0].pci_addr, "0000:03:00.0");
		CHECK_INT(l[0].kind, P2PV_PROVIDER_NVME_CMB);
		CHECK_INT(l[0].size, 1 << 20);
		CHECK_INT(l[0].published, 1);
		CHECK_INT(l[0].pci_class, CLS_NVME);
		CHECK_INT(l[0].vendor_id, 0x8086);
		CHECK_STR(l[1].pci_addr, "0000:04:00.1");
		CHECK_INT(l[1].kind, P2PV_PROVIDER_GENERIC_BAR);
		CHECK_INT(l[1].size, 8192);
		CHECK_INT(l[1].available, 4096);
		CHECK_INT(l[1].published, 0);
	}
	p2pv_free_provider_list(l);
	CHECK_INT(p2pv_query_provider("0000:04:00.0", &one, sizeof(one)), -1);
	CHECK_INT(errno, ENODEV);
	CHECK_INT(p2pv_query_provider("0000:03:00.0", &one, sizeof(one)), 0);
	CHECK_INT(one.kind, P2PV_PROVIDER_NVME_CMB);
	fs_fini(&fs);

	/* no sysfs at all: empty list, not an error */
	setenv("P2PV_SYSFS_ROOT", "/nonexistent/p2pv", 1);
	l = p2pv_get_provider_list(&n, sizeof(struct p2pv_provider));
	CHECK(l != NULL);
	CHECK_INT(n, 0);
	p2pv_free_provider_list(l);
	unsetenv("P2PV_SYSFS_ROOT");
}

static void t_strings(void)
{
	CHECK_STR(p2pv_path_class_str(P2PV_PATH_PXB), "PXB");
	CHECK_STR(p2pv_path_class_str((enum p2pv_path_class)99), "?");
	CHECK_STR(p2pv_map_mode_str(P2PV_MAP_HOST_BRIDGE), "host-bridge");
	CHECK_STR(p2pv_acs_state_str(P2PV_ACS_REDIRECT), "redirect");
	CHECK_STR(p2pv_policy_str(P2PV_POLICY_PREFERRED), "preferred");
}

static const struct tcase cases[] = {
	{ "same_device", t_same_device },
	{ "switch_acs_off", t_switch_acs_off },
	{ "switch_acs_on_intel", t_switch_acs_on_intel },
	{ "switch_acs_on_amd", t_switch_acs_on_amd },
	{ "switch_acs_uf_only", t_switch_acs_uf_only },
	{ "several_switches", t_several_switches },
	{ "host_bridge_intel", t_host_bridge_intel },
	{ "host_bridge_amd", t_host_bridge_amd },
	{ "across_host_bridges", t_across_host_bridges },
	{ "rxe_cpu", t_rxe_cpu },
	{ "ibv_device_and_ctx", t_ibv_device_and_ctx },
	{ "kernel_node_fallback", t_kernel_node_fallback },
	{ "provider_list", t_provider_list },
	{ "strings", t_strings },
	{ NULL, NULL },
};

TEST_MAIN(cases)
