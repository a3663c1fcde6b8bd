/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "p2pv_priv.h"

static __thread char last_error[512];

int p2pv_err(int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	errno = errnum ? errnum : EIO;
	return -1;
}

P2PV_EXPORT const char *p2pv_last_error(void)
{
	return last_error;
}
