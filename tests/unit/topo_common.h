/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Topologies shared by the unit tests. */
#ifndef TOPO_COMMON_H
#define TOPO_COMMON_H

#include "fakesys.h"

#define CLS_HOST 0x060000
#define CLS_BRIDGE 0x060400
#define CLS_NVME 0x010802
#define CLS_NIC 0x020700
#define CLS_MEM 0x058000
#define T_ROOT_PORT 4
#define T_UP 5
#define T_DOWN 6
#define T_EP 0

/*
 * pci0000:00 -- 00:00.0 host bridge (8086:<hb_dev>)
 *            -- 00:01.0 root port -- 01:00.0 switch up
 *                 -- 02:00.0 down (acs_a) -- 03:00.0 NVMe CMB provider
 *                 -- 02:01.0 down (acs_b) -- 04:00.0 NIC (mlx5_0)
 *                                         -- 04:00.1 generic BAR provider
 * Returns the NIC's device path.
 */
static inline void topo_switch(struct fakesys *fs, uint16_t hb_dev, int acs_a,
			       int acs_b)
{
	const char *p;

	fs_pci(fs, "pci0000:00", "0000:00:00.0", CLS_HOST, 0x8086, hb_dev,
	       FS_NO_ACS, -1);
	fs_pci(fs, "pci0000:00", "0000:00:01.0", CLS_BRIDGE, 0x8086, 0x1111, 0,
	       T_ROOT_PORT);
	fs_pci(fs, "pci0000:00/0000:00:01.0", "0000:01:00.0", CLS_BRIDGE,
	       0x10b5, 0x8747, FS_NO_ACS, T_UP);
	fs_pci(fs, "pci0000:00/0000:00:01.0/0000:01:00.0", "0000:02:00.0",
	       CLS_BRIDGE, 0x10b5, 0x8747, acs_a, T_DOWN);
	fs_pci(fs, "pci0000:00/0000:00:01.0/0000:01:00.0", "0000:02:01.0",
	       CLS_BRIDGE, 0x10b5, 0x8747, acs_b, T_DOWN);
	p = fs_pci(fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0",
		   "0000:03:00.0", CLS_NVME, 0x8086, 0xf1a5, FS_NO_ACS, T_EP);
	fs_provider(fs, p, 1 << 20, 1 << 20, 1);
	p = fs_pci(fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0",
		   "0000:04:00.1", CLS_MEM, 0x15b3, 0x1234, FS_NO_ACS, T_EP);
	fs_provider(fs, p, 1 << 21, 1 << 21, 1);
	p = fs_pci(fs, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0",
		   "0000:04:00.0", CLS_NIC, 0x15b3, 0x101b, FS_NO_ACS, T_EP);
	fs_ibdev(fs, "mlx5_0", p);
}

#endif
