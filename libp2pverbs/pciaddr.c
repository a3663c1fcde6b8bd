/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* PCI addresses: "dddd:bb:dd.f" of a function, "pciDDDD:BB" of a host
 * bridge - parsed here and nowhere else. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "p2pv_priv.h"

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

/* "pciDDDD:BB", the name sysfs gives a host bridge */
int p2pv_is_host_bridge_name(const char *s)
{
	unsigned d, b;
	int len = -1;

	return sscanf(s, "pci%4x:%2x%n", &d, &b, &len) == 2 &&
	       len == (int)strlen(s);
}
