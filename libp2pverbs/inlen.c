/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * The ABI of the structs the caller allocates (p2pverbs.h): the caller
 * passes the size it was compiled with.  An output struct must be at least
 * as large as libp2pverbs 1.0 made it; the library clears what the caller
 * gave and fills what fits, so a larger (newer) struct gets zeros past the
 * fields this library knows.  An input struct may be larger than this
 * library knows only if the bytes past it are zero.
 */
#include <errno.h>
#include <string.h>

#include "p2pv_priv.h"

int p2pv_out_check(const void *out, size_t inlen, size_t len_1_0,
		   const char *what)
{
	if (!out)
		return p2pv_err(EINVAL, "%s: NULL output", what);
	if (inlen < len_1_0)
		return p2pv_err(EINVAL, "%s: inlen %zu is below the %zu bytes of libp2pverbs 1.0",
				what, inlen, len_1_0);
	return 0;
}

void p2pv_out_fill(void *out, size_t inlen, const void *src, size_t size)
{
	memset(out, 0, inlen);
	memcpy(out, src, inlen < size ? inlen : size);
}

int p2pv_in_check(const void *in, size_t inlen, size_t len_1_0, size_t size,
		  const char *what)
{
	const unsigned char *p = in;
	size_t i;

	if (!in)
		return p2pv_err(EINVAL, "%s: NULL attributes", what);
	if (inlen < len_1_0)
		return p2pv_err(EINVAL, "%s: inlen %zu is below the %zu bytes of libp2pverbs 1.0",
				what, inlen, len_1_0);
	for (i = size; i < inlen; i++)
		if (p[i])
			return p2pv_err(EOPNOTSUPP, "%s: byte %zu past the %zu this library knows is set",
					what, i, size);
	return 0;
}
