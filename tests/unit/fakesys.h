/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Fake sysfs/proc/dev trees for the unit tests. */
#ifndef FAKESYS_H
#define FAKESYS_H

#include <limits.h>
#include <stdint.h>

struct fakesys {
	char top[PATH_MAX];	/* <tmp>; holds sys/, proc/, dev/ */
	char sys[PATH_MAX];	/* <tmp>/sys = P2PV_SYSFS_ROOT */
	unsigned long long seqnum;	/* sys/kernel/uevent_seqnum */
	int quiet;		/* set: changes emit no uevent */
};

#define FS_NO_ACS (-1)
#define FS_ACS_RR 0x0004
#define FS_ACS_CR 0x0008
#define FS_ACS_UF 0x0010
#define FS_ACS_EC 0x0020

/* Creates the tree and sets P2PV_SYSFS_ROOT; aborts on failure. */
void fs_init(struct fakesys *fs);
/* Removes the tree and unsets P2PV_SYSFS_ROOT. */
void fs_fini(struct fakesys *fs);
/* Bump sys/kernel/uevent_seqnum, as the kernel does for every uevent; every
 * change below does so unless fs->quiet is set. */
void fs_uevent(struct fakesys *fs);
/* Write a file below the top (relative path, parents created). */
void fs_write(struct fakesys *fs, const char *rel, const void *data, size_t len);
void fs_writes(struct fakesys *fs, const char *rel, const char *text);
void fs_cpuinfo(struct fakesys *fs, const char *vendor, int family);
/*
 * PCI function <bdf> under sys/devices/<parent>/ (parent e.g. "pci0000:00"
 * or "pci0000:00/0000:00:01.0"), with class/vendor/device files, a 4096-byte
 * config with an ACS capability whose control register is acs_ctrl (unless
 * FS_NO_ACS), a PCIe capability of type pcie_type (-1: none) and the
 * sys/bus/pci/devices/<bdf> link.  Returns the path relative to sys/devices
 * in a static buffer.
 */
const char *fs_pci(struct fakesys *fs, const char *parent, const char *bdf,
		   uint32_t class_code, uint16_t vendor, uint16_t device,
		   int acs_ctrl, int pcie_type);
/* Replace the config file of bdf with the first len bytes of a valid one */
void fs_truncate_config(struct fakesys *fs, const char *parent_path,
			size_t len);
/* p2pmem/{size,available,published} for an existing function */
void fs_provider(struct fakesys *fs, const char *devpath, uint64_t size,
		 uint64_t avail, int published);
/* class/infiniband/<name>; device link to sys/devices/<devpath> if not NULL */
void fs_ibdev(struct fakesys *fs, const char *name, const char *devpath);

#endif
