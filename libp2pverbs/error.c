/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* The error model: errno plus a thread-local message; stderr only on request
 * (P2PV_DEBUG). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "p2pv_priv.h"

static __thread char last_error[512];

static void vdebug(const char *fmt, va_list ap)
{
	const char *env = secure_getenv("P2PV_DEBUG");

	if (!env || !*env || *env == '0')
		return;
	fputs("libp2pverbs: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void p2pv_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdebug(fmt, ap);
	va_end(ap);
}

void p2pv_set_message(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

int p2pv_err(int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	p2pv_debug("%s", last_error);
	errno = errnum ? errnum : EIO;
	return -1;
}

P2PV_EXPORT const char *p2pv_last_error(void)
{
	return last_error;
}
