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
