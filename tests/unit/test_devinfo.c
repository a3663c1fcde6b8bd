/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* p2pv_devinfo on a fake tree: table, -v, --json, --dot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "topo_common.h"

static struct fakesys fs;
static char out[65536];

static int run(const char *args)
{
	char cmd[4096];
	size_t n;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", P2PV_DEVINFO, args);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	return pclose(f);
}

static void build(void)
{
	fs_init(&fs);
	topo_switch(&fs, 0x1234, FS_ACS_RR, 0);
	fs_ibdev(&fs, "rxe0", NULL);
	/* a sub-function: listed with the PCI function that does its DMA */
	fs_writes(&fs, "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:04:00.0/mlx5_core.sf.2/sfnum",
		  "2\n");
	fs_ibdev(&fs, "mlx5_3",
		 "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:04:00.0/mlx5_core.sf.2");
}

static void t_table(void)
{
	build();
	CHECK_INT(run(""), 0);
	CHECK(strstr(out, "P2PDMA providers: 2") != NULL);
	CHECK(strstr(out, "0000:03:00.0   nvme-cmb") != NULL);
	CHECK(strstr(out, "RDMA devices: 3") != NULL);
	CHECK(strstr(out, "mlx5_3         0000:04:00.0") != NULL);
	CHECK(strstr(out, "(not PCI: CPU access)") != NULL);
	CHECK(strstr(out, "PIX/refused/sysfs") != NULL);	/* ACS on, Intel */
	CHECK(strstr(out, "DEV/bus-addr/sysfs") != NULL);
	CHECK(strstr(out, "CPU/cpu/sysfs") != NULL);
	CHECK_INT(run("-v"), 0);
	CHECK(strstr(out, "acs redirect") != NULL);
	CHECK(strstr(out, "acs-redirect,host-bridge-denied") != NULL);
	CHECK_INT(run("-d nosuchdev") != 0, 1);
	CHECK_INT(run("--bogus") != 0, 1);
	fs_fini(&fs);
}

static void t_json(void)
{
	build();
	CHECK_INT(run("--json"), 0);
	CHECK(strstr(out, "\"providers\": [") != NULL);
	CHECK(strstr(out, "{\"pci_addr\": \"0000:03:00.0\", \"kind\": \"nvme-cmb\", \"size\": 1048576") != NULL);
	CHECK(strstr(out, "{\"name\": \"rxe0\", \"pci_addr\": null}") != NULL);
	CHECK(strstr(out, "\"device\": \"mlx5_0\", \"class\": \"PIX\", \"mode\": \"refused\"") != NULL);
	CHECK(strstr(out, "\"source\": \"sysfs-estimate\"") != NULL);
	fs_fini(&fs);
}

static void t_dot(void)
{
	build();
	CHECK_INT(run("--dot"), 0);
	CHECK(strncmp(out, "digraph p2pverbs {", 18) == 0);
	CHECK(strstr(out, "\"0000:02:00.0\" [shape=diamond, color=red") != NULL);
	CHECK(strstr(out, "\"0000:01:00.0\" -> \"0000:02:00.0\";") != NULL);
	CHECK(strstr(out, "\"0000:03:00.0\" -> \"mlx5_0\" [style=dashed, constraint=false, label=\"PIX/refused [sysfs-estimate]\"") != NULL);
	CHECK(strstr(out, "label=\"CPU/cpu [sysfs-estimate]\"") != NULL);
	CHECK(strstr(out, "\"pci0000:00\" [shape=house]") != NULL);
	CHECK(out[strlen(out) - 2] == '}');
	fs_fini(&fs);
}

static const struct tcase cases[] = {
	{ "table", t_table },
	{ "json", t_json },
	{ "dot", t_dot },
	{ NULL, NULL },
};

TEST_MAIN(cases)
