/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * Reporting helpers of the in-guest test programs: "ok: ..." lines on
 * stdout, "FAIL: ..." on stderr and exit status 1, and a monotonic clock
 * in milliseconds for bounded waits.  A program that runs one of several
 * cases names it in t_case, and every line then says which case it is about.
 */
#ifndef P2PV_T_REPORT_H
#define P2PV_T_REPORT_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *t_case;

__attribute__((format(printf, 1, 2), noreturn))
static inline void t_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "FAIL: ");
	if (t_case)
		fprintf(stderr, "%s: ", t_case);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

__attribute__((format(printf, 1, 2)))
static inline void t_ok(const char *fmt, ...)
{
	va_list ap;

	printf("ok: ");
	if (t_case)
		printf("%s: ", t_case);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

#define T_CHECK(cond, ...)                  \
	do {                                \
		if (!(cond))                \
			t_fail(__VA_ARGS__); \
	} while (0)

static inline uint64_t t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif /* P2PV_T_REPORT_H */
