/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* Minimal unit-test harness: each test binary holds named cases; ctest runs
 * one case per test ("<binary> <case>"). */
#ifndef P2PV_TEST_H
#define P2PV_TEST_H

#include <stdio.h>
#include <string.h>

static int t_failed;

#define CHECK(c)                                                             \
	do {                                                                 \
		if (!(c)) {                                                  \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #c);                               \
			t_failed++;                                          \
		}                                                            \
	} while (0)

#define CHECK_INT(a, b)                                                      \
	do {                                                                 \
		long long _a = (long long)(a), _b = (long long)(b);          \
		if (_a != _b) {                                              \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
				__FILE__, __LINE__, #a, #b, _a, _b);         \
			t_failed++;                                          \
		}                                                            \
	} while (0)

#define CHECK_STR(a, b)                                                      \
	do {                                                                 \
		const char *_a = (a), *_b = (b);                             \
		if (!_a || !_b || strcmp(_a, _b)) {                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s == \"%s\" (got \"%s\")\n", \
				__FILE__, __LINE__, #a, _b ? _b : "(null)",  \
				_a ? _a : "(null)");                         \
			t_failed++;                                          \
		}                                                            \
	} while (0)

struct tcase {
	const char *name;
	void (*fn)(void);
};

static inline int t_run(const struct tcase *cases, int argc, char **argv)
{
	int i, ran = 0, passed = 0, failed = 0;

	for (i = 0; cases[i].name; i++) {
		int before = t_failed;

		if (argc > 1 && strcmp(argv[1], cases[i].name))
			continue;
		ran++;
		cases[i].fn();
		if (t_failed == before) {
			passed++;
			printf("ok   %s\n", cases[i].name);
		} else {
			failed++;
			printf("FAIL %s\n", cases[i].name);
		}
	}
	if (!ran) {
		fprintf(stderr, "no test case named %s\n", argc > 1 ? argv[1] : "");
		return 2;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define TEST_MAIN(cases)                                                     \
	int main(int argc, char **argv)                                      \
	{                                                                    \
		return t_run(cases, argc, argv);                             \
	}

#endif
