/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* sysfs access with a configurable root (P2PV_SYSFS_ROOT, default /sys). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p2pv_priv.h"

int p2pv_fmt(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= n)
		return p2pv_err(ENAMETOOLONG, "string too long: %.64s...", out);
	return 0;
}

const char *p2pv_sysfs_root(void)
{
	const char *r = secure_getenv("P2PV_SYSFS_ROOT");

	return (r && *r) ? r : "/sys";
}

int p2pv_sibling_path(char *out, size_t n, const char *sub)
{
	const char *root = p2pv_sysfs_root();
	size_t len = strlen(root);
	int r;

	while (len > 1 && root[len - 1] == '/')
		len--;
	while (len > 0 && root[len - 1] != '/')
		len--;			/* drop the last component */
	while (len > 1 && root[len - 1] == '/')
		len--;
	if (len == 1 && root[0] == '/')
		len = 0;		/* "/sys" -> "" + "/proc/..." */
	r = snprintf(out, n, "%.*s/%s", (int)len, root, sub);
	if (r < 0 || (size_t)r >= n)
		return p2pv_err(ENAMETOOLONG, "path too long: %s/../%s", root, sub);
	return 0;
}

int p2pv_dev_path(char *out, size_t n, const char *bdf)
{
	char sub[64];

	if (p2pv_parse_bdf(bdf, NULL, NULL, NULL, NULL) < 0)
		return -1;
	snprintf(sub, sizeof(sub), "dev/p2pmem/%s", bdf);
	return p2pv_sibling_path(out, n, sub);
}

int p2pv_read_str(const char *path, char *buf, size_t n)
{
	ssize_t r;
	int fd;

	if (n == 0)
		return p2pv_err(EINVAL, "read %s: no buffer", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return p2pv_err(errno, "cannot open %s: %s", path, strerror(errno));
	r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return p2pv_err(errno, "cannot read %s: %s", path, strerror(errno));
	buf[r] = 0;
	while (r > 0 && isspace((unsigned char)buf[r - 1]))
		buf[--r] = 0;
	return 0;
}

int p2pv_read_u64(const char *path, uint64_t *val)
{
	char buf[64], *end;
	unsigned long long v;

	if (p2pv_read_str(path, buf, sizeof(buf)) < 0)
		return -1;
	if (!buf[0] || buf[0] == '-' || isspace((unsigned char)buf[0]))
		return p2pv_err(EINVAL, "%s: not a number: \"%s\"", path, buf);
	errno = 0;
	v = strtoull(buf, &end, 0);
	if (errno == ERANGE)
		return p2pv_err(ERANGE, "%s: number out of range: \"%s\"", path, buf);
	if (*end)
		return p2pv_err(EINVAL, "%s: not a number: \"%s\"", path, buf);
	*val = v;
	return 0;
}

static int parse_bdf(const char *s, unsigned *dom, unsigned *bus,
		     unsigned *dev, unsigned *fn)
{
	unsigned d, b, v, f;
	int len = -1;
	size_t i;

	if (!s || strlen(s) >= P2PV_PCI_ADDR_LEN)
		return -1;
	for (i = 0; s[i]; i++)
		if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
			return -1;
	if (sscanf(s, "%x:%2x:%2x.%1x%n", &d, &b, &v, &f, &len) != 4 ||
	    len != (int)strlen(s) || d > 0xffff || v > 0x1f || f > 7)
		return -1;
	if (dom)
		*dom = d;
	if (bus)
		*bus = b;
	if (dev)
		*dev = v;
	if (fn)
		*fn = f;
	return 0;
}

int p2pv_is_bdf(const char *s)
{
	return parse_bdf(s, NULL, NULL, NULL, NULL) == 0;
}

int p2pv_parse_bdf(const char *s, unsigned *dom, unsigned *bus, unsigned *dev,
		   unsigned *fn)
{
	if (!s)
		return p2pv_err(EINVAL, "no PCI address given");
	if (parse_bdf(s, dom, bus, dev, fn) < 0)
		return p2pv_err(EINVAL, "invalid PCI address \"%s\"", s);
	return 0;
}

int p2pv_bdf_cmp(const char *a, const char *b)
{
	unsigned x[4], y[4];
	int i;

	if (parse_bdf(a, &x[0], &x[1], &x[2], &x[3]) < 0 ||
	    parse_bdf(b, &y[0], &y[1], &y[2], &y[3]) < 0)
		return strcmp(a, b);
	for (i = 0; i < 4; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}
