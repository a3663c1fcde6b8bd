/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakesys.h"

static void die(const char *what, const char *path)
{
	fprintf(stderr, "fakesys: %s %s: %s\n", what, path, strerror(errno));
	abort();
}

static void mkdir_p(const char *path)
{
	char tmp[PATH_MAX], *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			die("mkdir", tmp);
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		die("mkdir", tmp);
}

static void parent_of(const char *path, char *out, size_t n)
{
	char *s;

	snprintf(out, n, "%s", path);
	s = strrchr(out, '/');
	if (s)
		*s = 0;
}

void fs_init(struct fakesys *fs)
{
	snprintf(fs->top, sizeof(fs->top), "%s/p2pv-fakesys-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(fs->top))
		die("mkdtemp", fs->top);
	snprintf(fs->sys, sizeof(fs->sys), "%s/sys", fs->top);
	mkdir_p(fs->sys);
	fs->seqnum = 0;
	fs->quiet = 0;
	fs_writes(fs, "sys/bus/pci/devices/.keep", "");
	fs_writes(fs, "sys/class/infiniband/.keep", "");
	fs_writes(fs, "dev/p2pmem/.keep", "");
	fs_cpuinfo(fs, "GenuineIntel", 6);
	setenv("P2PV_SYSFS_ROOT", fs->sys, 1);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

void fs_fini(struct fakesys *fs)
{
	nftw(fs->top, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	unsetenv("P2PV_SYSFS_ROOT");
}

static void write_file(struct fakesys *fs, const char *rel, const void *data,
		       size_t len)
{
	char path[PATH_MAX], dir[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fs->top, rel);
	parent_of(path, dir, sizeof(dir));
	mkdir_p(dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open", path);
	if (len && write(fd, data, len) != (ssize_t)len)
		die("write", path);
	close(fd);
}

void fs_uevent(struct fakesys *fs)
{
	char v[32];

	snprintf(v, sizeof(v), "%llu\n", ++fs->seqnum);
	write_file(fs, "sys/kernel/uevent_seqnum", v, strlen(v));
}

void fs_write(struct fakesys *fs, const char *rel, const void *data, size_t len)
{
	write_file(fs, rel, data, len);
	if (!fs->quiet)
		fs_uevent(fs);
}

void fs_writes(struct fakesys *fs, const char *rel, const char *text)
{
	fs_write(fs, rel, text, strlen(text));
}

void fs_cpuinfo(struct fakesys *fs, const char *vendor, int family)
{
	char buf[512];

	snprintf(buf, sizeof(buf),
		 "processor\t: 0\nvendor_id\t: %s\ncpu family\t: %d\nmodel\t\t: 1\n\n"
		 "processor\t: 1\nvendor_id\t: %s\ncpu family\t: %d\n\n",
		 vendor, family, vendor, family);
	fs_writes(fs, "proc/cpuinfo", buf);
}

static void put16(uint8_t *c, unsigned off, unsigned v)
{
	c[off] = v & 0xff;
	c[off + 1] = (v >> 8) & 0xff;
}

static void put32(uint8_t *c, unsigned off, uint32_t v)
{
	put16(c, off, v & 0xffff);
	put16(c, off + 2, v >> 16);
}

static void make_config(uint8_t *c, uint16_t ven, uint16_t dev, uint32_t cls,
			int acs_ctrl, int pcie_type)
{
	memset(c, 0, 4096);
	put16(c, 0, ven);
	put16(c, 2, dev);
	c[9] = cls & 0xff;
	c[10] = (cls >> 8) & 0xff;
	c[11] = (cls >> 16) & 0xff;
	if (pcie_type >= 0) {
		put16(c, 6, 0x10);		/* capability list */
		c[0x34] = 0x40;
		c[0x40] = 0x01;			/* PM cap first */
		c[0x41] = 0x50;
		c[0x50] = 0x10;			/* PCIe */
		c[0x51] = 0x00;
		put16(c, 0x52, (unsigned)(pcie_type << 4) | 2);
	}
	/* extended caps: AER (0x0001) at 0x100 -> ACS at 0x148 */
	if (acs_ctrl >= 0) {
		put32(c, 0x100, 0x0001u | (1u << 16) | (0x148u << 20));
		put32(c, 0x148, 0x000du | (1u << 16));
		put16(c, 0x14c, 0x005f);	/* capabilities */
		put16(c, 0x14e, (unsigned)acs_ctrl);
	} else {
		put32(c, 0x100, 0x0001u | (1u << 16));
	}
}

const char *fs_pci(struct fakesys *fs, const char *parent, const char *bdf,
		   uint32_t cls, uint16_t ven, uint16_t dev, int acs_ctrl,
		   int pcie_type)
{
	static char rel[PATH_MAX];
	char p[PATH_MAX + 64], target[PATH_MAX + 64], link[PATH_MAX + 64];
	uint8_t cfg[4096];

	snprintf(rel, sizeof(rel), "%s/%s", parent, bdf);
	snprintf(p, sizeof(p), "sys/devices/%s/class", rel);
	snprintf(target, sizeof(target), "0x%06x\n", cls);
	fs_writes(fs, p, target);
	snprintf(p, sizeof(p), "sys/devices/%s/vendor", rel);
	snprintf(target, sizeof(target), "0x%04x\n", ven);
	fs_writes(fs, p, target);
	snprintf(p, sizeof(p), "sys/devices/%s/device", rel);
	snprintf(target, sizeof(target), "0x%04x\n", dev);
	fs_writes(fs, p, target);
	make_config(cfg, ven, dev, cls, acs_ctrl, pcie_type);
	snprintf(p, sizeof(p), "sys/devices/%s/config", rel);
	fs_write(fs, p, cfg, sizeof(cfg));
	snprintf(target, sizeof(target), "%s/devices/%s", fs->sys, rel);
	snprintf(link, sizeof(link), "%s/bus/pci/devices/%s", fs->sys, bdf);
	unlink(link);
	if (symlink(target, link) < 0)
		die("symlink", link);
	return rel;
}

void fs_truncate_config(struct fakesys *fs, const char *devpath, size_t len)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/sys/devices/%s/config", fs->top, devpath);
	if (truncate(p, (off_t)len) < 0)
		die("truncate", p);
	if (!fs->quiet)
		fs_uevent(fs);
}

void fs_provider(struct fakesys *fs, const char *devpath, uint64_t size,
		 uint64_t avail, int published)
{
	char p[PATH_MAX + 64], v[64];

	snprintf(p, sizeof(p), "sys/devices/%s/p2pmem/size", devpath);
	snprintf(v, sizeof(v), "%llu\n", (unsigned long long)size);
	fs_writes(fs, p, v);
	snprintf(p, sizeof(p), "sys/devices/%s/p2pmem/available", devpath);
	snprintf(v, sizeof(v), "%llu\n", (unsigned long long)avail);
	fs_writes(fs, p, v);
	snprintf(p, sizeof(p), "sys/devices/%s/p2pmem/published", devpath);
	fs_writes(fs, p, published ? "1\n" : "0\n");
}

void fs_ibdev(struct fakesys *fs, const char *name, const char *devpath)
{
	char p[PATH_MAX + 64], target[PATH_MAX + 64];

	snprintf(p, sizeof(p), "sys/class/infiniband/%s/node_type", name);
	fs_writes(fs, p, "1: CA\n");
	if (!devpath)
		return;
	snprintf(p, sizeof(p), "%s/class/infiniband/%s/device", fs->sys, name);
	snprintf(target, sizeof(target), "%s/devices/%s", fs->sys, devpath);
	if (symlink(target, p) < 0)
		die("symlink", p);
}
