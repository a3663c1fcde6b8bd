/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * PCI configuration space as sysfs gives it: the ACS control register and the
 * PCIe port type.  Without root, sysfs returns only the first 64 bytes; what
 * lies beyond is then unknown, never assumed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "p2pv_priv.h"

ssize_t p2pv_read_config(const char *dir, uint8_t cfg[P2PV_CONFIG_SIZE])
{
	char path[PATH_MAX];
	ssize_t got = 0, r;
	int fd;

	if (p2pv_fmt(path, sizeof(path), "%s/config", dir) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (got < P2PV_CONFIG_SIZE) {
		r = read(fd, cfg + got, (size_t)(P2PV_CONFIG_SIZE - got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	close(fd);
	return got;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

/* ACS state from the extended capability list, as pci_bridge_has_acs_redir()
 * reads it */
enum p2pv_acs_state p2pv_config_acs(const uint8_t *cfg, ssize_t n,
				    uint16_t *ctrl)
{
	unsigned pos = PCI_CFG_SPACE_SIZE;
	int ttl = (PCI_CFG_SPACE_EXP_SIZE - PCI_CFG_SPACE_SIZE) / 8;
	uint32_t hdr;

	*ctrl = 0;
	if (n < PCI_CFG_SPACE_SIZE)
		return P2PV_ACS_UNKNOWN;	/* unprivileged read: 64 bytes */
	if (n == PCI_CFG_SPACE_SIZE)
		return P2PV_ACS_NONE;		/* conventional PCI: no ext space */
	while (ttl-- > 0) {
		if ((ssize_t)pos + 4 > n)
			return P2PV_ACS_UNKNOWN;
		hdr = le32(cfg + pos);
		if (hdr == 0 || hdr == 0xffffffff)
			return P2PV_ACS_NONE;
		if (PCI_EXT_CAP_ID(hdr) == PCI_EXT_CAP_ID_ACS) {
			if ((ssize_t)pos + PCI_ACS_CTRL + 2 > n)
				return P2PV_ACS_UNKNOWN;
			*ctrl = le16(cfg + pos + PCI_ACS_CTRL);
			return (*ctrl & (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC)) ?
				P2PV_ACS_REDIRECT : P2PV_ACS_OFF;
		}
		pos = PCI_EXT_CAP_NEXT(hdr);
		if (pos < PCI_CFG_SPACE_SIZE)
			return P2PV_ACS_NONE;
	}
	return P2PV_ACS_NONE;
}

/* PCIe device/port type (PCI_EXP_TYPE_*), P2PV_PCIE_TYPE_UNKNOWN when the
 * capability list is not readable, P2PV_PCIE_TYPE_NONE for conventional PCI */
int p2pv_config_pcie_type(const uint8_t *cfg, ssize_t n)
{
	unsigned pos;
	int ttl = 48;

	if (n < PCI_STATUS + 2)
		return P2PV_PCIE_TYPE_UNKNOWN;
	if (!(le16(cfg + PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return P2PV_PCIE_TYPE_NONE;
	pos = cfg[PCI_CAPABILITY_LIST] & 0xfc;
	while (pos >= 0x40 && ttl-- > 0) {
		if ((ssize_t)pos + PCI_EXP_FLAGS + 2 > n)
			return P2PV_PCIE_TYPE_UNKNOWN;
		if (cfg[pos + PCI_CAP_LIST_ID] == PCI_CAP_ID_EXP)
			return (le16(cfg + pos + PCI_EXP_FLAGS) &
				PCI_EXP_FLAGS_TYPE) >> 4;
		pos = cfg[pos + PCI_CAP_LIST_NEXT] & 0xfc;
	}
	return P2PV_PCIE_TYPE_NONE;
}
