/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Bad or truncated sysfs contents and bad arguments: clean errors. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/p2pverbs.h>

#include "test.h"
#include "topo_common.h"

static struct fakesys fs;
#define NVME_DIR "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0/0000:03:00.0"

static void t_garbage_size(void)
{
	struct p2pv_provider one, *l;
	int n;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	fs_writes(&fs, NVME_DIR "/p2pmem/size", "12abc\n");
	CHECK_INT(p2pv_query_provider("0000:03:00.0", &one, sizeof(one)), -1);
	CHECK_INT(errno, EINVAL);
	CHECK(strstr(p2pv_last_error(), "size") != NULL);
	/* the list skips the bad provider and keeps the good one */
	l = p2pv_get_provider_list(&n, sizeof(struct p2pv_provider));
	CHECK(l != NULL);
	CHECK_INT(n, 1);
	if (l && n == 1)
		CHECK_STR(l[0].pci_addr, "0000:04:00.1");
	p2pv_free_provider_list(l);
	fs_writes(&fs, NVME_DIR "/p2pmem/size", "-5\n");
	CHECK_INT(p2pv_query_provider("0000:03:00.0", &one, sizeof(one)), -1);
	fs_writes(&fs, NVME_DIR "/p2pmem/size", "99999999999999999999999\n");
	CHECK_INT(p2pv_query_provider("0000:03:00.0", &one, sizeof(one)), -1);
	CHECK_INT(errno, ERANGE);
	fs_writes(&fs, NVME_DIR "/p2pmem/size", "");
	CHECK_INT(p2pv_query_provider("0000:03:00.0", &one, sizeof(one)), -1);
	fs_writes(&fs, NVME_DIR "/p2pmem/size", "4096\n");
	fs_writes(&fs, NVME_DIR "/p2pmem/available", "8192\n");
	CHECK_INT(p2pv_query_provider("0000:03:00.0", &one, sizeof(one)), -1);
	CHECK(strstr(p2pv_last_error(), "available") != NULL);
	fs_fini(&fs);
}

static void t_missing_files(void)
{
	struct p2pv_provider one;
	char p[4200];

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	snprintf(p, sizeof(p), "%s/%s/p2pmem/available", fs.top, NVME_DIR);
	unlink(p);
	CHECK_INT(p2pv_query_provider("0000:03:00.0", &one, sizeof(one)), -1);
	CHECK_INT(errno, ENOENT);
	CHECK(strstr(p2pv_last_error(), "available") != NULL);
	/* class missing: still a provider, kind from the driver link */
	snprintf(p, sizeof(p), "%s/%s/class", fs.top, NVME_DIR);
	unlink(p);
	fs_writes(&fs, NVME_DIR "/p2pmem/available", "0\n");
	CHECK_INT(p2pv_query_provider("0000:03:00.0", &one, sizeof(one)), 0);
	CHECK_INT(one.kind, P2PV_PROVIDER_GENERIC_BAR);
	fs_writes(&fs, "sys/bus/pci/drivers/nvme/.keep", "");
	snprintf(p, sizeof(p), "%s/%s/driver", fs.top, NVME_DIR);
	CHECK_INT(symlink("../../../../../../bus/pci/drivers/nvme", p), 0);
	CHECK_INT(p2pv_query_provider("0000:03:00.0", &one, sizeof(one)), 0);
	CHECK_INT(one.kind, P2PV_PROVIDER_NVME_CMB);
	fs_fini(&fs);
}

static void t_short_config(void)
{
	struct p2pv_path p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, FS_ACS_RR, 0);
	/* (file shrinks from here on) cut inside the ACS capability */
	fs_truncate_config(&fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0", 0x14a);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.hops[1].acs, P2PV_ACS_UNKNOWN);
	/* as an unprivileged reader sees it: 64 bytes */
	fs_truncate_config(&fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0", 64);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.hops[1].acs, P2PV_ACS_UNKNOWN);
	CHECK_INT(p.acs_unknown, 1);
	/* the port might redirect: never the optimistic bus-addr */
	CHECK_INT(p.mode, P2PV_MAP_UNKNOWN);
	CHECK_INT(p.source, P2PV_SOURCE_SYSFS_ESTIMATE);
	CHECK(strstr(p.reason, "unknown") != NULL);
	CHECK(strstr(p.reason, "[sysfs-estimate]") != NULL);
	/* 256 bytes: conventional config space, no ACS */
	fs_truncate_config(&fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0", 256);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.hops[1].acs, P2PV_ACS_NONE);
	/* empty */
	fs_truncate_config(&fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0", 0);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.hops[1].acs, P2PV_ACS_UNKNOWN);
	fs_fini(&fs);
}

static void t_looping_ext_caps(void)
{
	uint8_t cfg[4096];
	struct p2pv_path p;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	memset(cfg, 0, sizeof(cfg));
	/* ext cap at 0x100 pointing to itself */
	cfg[0x100] = 0x01;
	cfg[0x102] = 0x01;
	cfg[0x103] = 0x10;		/* next = 0x100 */
	fs_write(&fs, "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0/config",
		 cfg, sizeof(cfg));
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", &p, sizeof(p)), 0);
	CHECK_INT(p.hops[1].acs, P2PV_ACS_NONE);
	fs_fini(&fs);
}

static void t_bad_addresses(void)
{
	struct p2pv_provider one;
	struct p2pv_path p;
	static const char *const bad[] = {
		"", "0000:03:00", "0000:03:00.8", "0000:03:20.0", "zzzz:03:00.0",
		"0000:03:00.0x", "../../etc", "0000:003:00.0", " 0000:03:00.0",
		"00000000000000000000:03:00.0",
	};
	size_t i;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		CHECK_INT(p2pv_query_provider(bad[i], &one, sizeof(one)), -1);
		CHECK_INT(errno, EINVAL);
		CHECK_INT(p2pv_query_path_by_name(bad[i], "mlx5_0", &p, sizeof(p)), -1);
		CHECK_INT(errno, EINVAL);
	}
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "../mlx5_0", &p, sizeof(p)), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "", &p, sizeof(p)), -1);
	CHECK_INT(p2pv_query_path_by_name("0000:09:00.0", "mlx5_0", &p, sizeof(p)), -1);
	CHECK_INT(errno, ENODEV);
	fs_fini(&fs);
}

static void t_null_arguments(void)
{
	struct p2pv_provider one;
	struct p2pv_path p;
	struct p2pv_mr_info mi;
	struct p2pv_ptr_info pi;
	int n;

	CHECK(p2pv_get_provider_list(NULL, sizeof(struct p2pv_provider)) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_last_error()[0] != 0);
	p2pv_free_provider_list(NULL);
	CHECK_INT(p2pv_query_provider(NULL, &one, sizeof(one)), -1);
	CHECK_INT(p2pv_query_provider("0000:03:00.0", NULL, sizeof(struct p2pv_provider)), -1);
	CHECK_INT(p2pv_query_path_by_name(NULL, NULL, &p, sizeof(p)), -1);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", "mlx5_0", NULL, sizeof(struct p2pv_path)), -1);
	CHECK_INT(p2pv_query_path_by_name("0000:03:00.0", NULL, &p, sizeof(p)), -1);
	CHECK(p2pv_buf_alloc(NULL, NULL, 0) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_buf_alloc(NULL, NULL, SIZE_MAX) == NULL);
	CHECK_INT(errno, EOVERFLOW);
	CHECK(p2pv_buf_import(-1, 0, 4096, NULL) == NULL);
	CHECK_INT(errno, EBADF);
	CHECK(p2pv_buf_import(0, 0, 0, NULL) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_buf_import(0, UINT64_MAX - 10, 4096, NULL) == NULL);
	CHECK(p2pv_buf_import(0, 0, 4096, "bogus") == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(p2pv_buf_free(NULL), -1);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_reg_buf(NULL, NULL, 0, 0, 0) == NULL);
	CHECK(p2pv_reg_mr(NULL, &n, 4, 0) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_reg_mr_iova2(NULL, &n, 4, 0, 0) == NULL);
	CHECK_INT(p2pv_dereg_mr(NULL), -1);
	CHECK_INT(p2pv_mr_query(NULL, &mi, sizeof(mi)), -1);
	CHECK_INT(p2pv_dmabuf_mr_supported(NULL), -1);
	CHECK_INT(p2pv_ptr_query(NULL, &pi, sizeof(pi)), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_INT(p2pv_ptr_query(&n, NULL, sizeof(struct p2pv_ptr_info)), -1);
	CHECK_INT(p2pv_is_p2p(NULL), 0);
	CHECK_INT(p2pv_choose_provider_by_name(NULL, -1, 0, &one, sizeof(one), NULL, 0), -1);
	CHECK_INT(p2pv_set_policy((enum p2pv_policy)7), -1);
	CHECK_INT(errno, EINVAL);
}

static const struct tcase cases[] = {
	{ "garbage_size", t_garbage_size },
	{ "missing_files", t_missing_files },
	{ "short_config", t_short_config },
	{ "looping_ext_caps", t_looping_ext_caps },
	{ "bad_addresses", t_bad_addresses },
	{ "null_arguments", t_null_arguments },
	{ NULL, NULL },
};

TEST_MAIN(cases)
