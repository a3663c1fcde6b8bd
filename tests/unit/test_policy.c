/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/* P2P policy levels, environment override and allocation fallback. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/p2pverbs.h>

#include "test.h"
#include "topo_common.h"

static struct fakesys fs;

static void t_levels(void)
{
	unsetenv("P2PV_P2P_POLICY");
	CHECK_INT(p2pv_get_policy(), P2PV_POLICY_ENABLED);	/* default */
	CHECK_INT(p2pv_set_policy(P2PV_POLICY_REQUIRED), 0);
	CHECK_INT(p2pv_get_policy(), P2PV_POLICY_REQUIRED);
	CHECK_INT(p2pv_set_policy((enum p2pv_policy)-1), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(p2pv_get_policy(), P2PV_POLICY_REQUIRED);
	CHECK_INT(p2pv_set_policy(P2PV_POLICY_DISABLED), 0);
	CHECK_INT(p2pv_get_policy(), P2PV_POLICY_DISABLED);
}

static void t_env_override(void)
{
	p2pv_set_policy(P2PV_POLICY_DISABLED);
	setenv("P2PV_P2P_POLICY", "Preferred", 1);
	CHECK_INT(p2pv_get_policy(), P2PV_POLICY_PREFERRED);
	p2pv_set_policy(P2PV_POLICY_REQUIRED);
	CHECK_INT(p2pv_get_policy(), P2PV_POLICY_PREFERRED);	/* env wins */
	setenv("P2PV_P2P_POLICY", "sometimes", 1);		/* ignored */
	CHECK_INT(p2pv_get_policy(), P2PV_POLICY_REQUIRED);
	setenv("P2PV_P2P_POLICY", "disabled", 1);
	CHECK_INT(p2pv_get_policy(), P2PV_POLICY_DISABLED);
	unsetenv("P2PV_P2P_POLICY");
}

/* run alloc with stderr captured; returns the buffer, text in out */
static struct p2pv_buf *alloc_capture(char *out, size_t n)
{
	char path[] = "/tmp/p2pv-stderr-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	struct p2pv_buf *b;
	ssize_t r;
	int err;

	fflush(stderr);
	dup2(fd, 2);
	b = p2pv_buf_alloc(NULL, NULL, 10000);
	err = errno;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	r = pread(fd, out, n - 1, 0);
	out[r > 0 ? r : 0] = 0;
	close(fd);
	unlink(path);
	errno = err;
	return b;
}

static void t_alloc_fallback(void)
{
	struct p2pv_buf *b;
	char text[1024];

	fs_init(&fs);	/* no providers at all */
	unsetenv("P2PV_P2P_POLICY");
	unsetenv("P2PV_DEBUG");

	p2pv_set_policy(P2PV_POLICY_DISABLED);
	b = alloc_capture(text, sizeof(text));
	CHECK(b != NULL);
	if (b) {
		CHECK_INT(b->type, P2PV_MEM_HOST);
		CHECK_INT(b->dmabuf_fd, -1);
		CHECK_INT(b->length, 10000);
		CHECK_INT(((char *)b->addr)[9999], 0);
		((char *)b->addr)[9999] = 1;
		CHECK_INT(p2pv_is_p2p(b->addr), 0);
		CHECK_INT(p2pv_buf_free(b), 0);
	}
	CHECK_STR(text, "");

	/* enabled: silent, and no stale message of the failed attempt */
	p2pv_set_policy(P2PV_POLICY_ENABLED);
	b = alloc_capture(text, sizeof(text));
	CHECK(b != NULL && b->type == P2PV_MEM_HOST);
	CHECK_STR(text, "");
	CHECK_STR(p2pv_last_error(), "");
	p2pv_buf_free(b);

	/* preferred: the reason is kept, nothing on stderr */
	p2pv_set_policy(P2PV_POLICY_PREFERRED);
	b = alloc_capture(text, sizeof(text));
	CHECK(b != NULL && b->type == P2PV_MEM_HOST);
	CHECK_STR(text, "");
	CHECK(strstr(p2pv_last_error(), "host memory instead") != NULL);
	CHECK(strstr(p2pv_last_error(), "no usable") != NULL);
	p2pv_buf_free(b);

	/* stderr only when asked for */
	setenv("P2PV_DEBUG", "1", 1);
	b = alloc_capture(text, sizeof(text));
	CHECK(b != NULL);
	CHECK(strstr(text, "libp2pverbs: P2P memory unavailable (") != NULL);
	CHECK(strstr(text, "using host memory\n") != NULL);
	p2pv_buf_free(b);
	unsetenv("P2PV_DEBUG");

	p2pv_set_policy(P2PV_POLICY_REQUIRED);
	b = alloc_capture(text, sizeof(text));
	CHECK(b == NULL);
	CHECK_INT(errno, ENODEV);
	CHECK(strstr(p2pv_last_error(), "required") != NULL);
	CHECK(strstr(p2pv_last_error(), "no usable") != NULL);
	CHECK_STR(text, "");

	/* env override turns "required" into "preferred" */
	setenv("P2PV_P2P_POLICY", "preferred", 1);
	b = alloc_capture(text, sizeof(text));
	CHECK(b != NULL && b->type == P2PV_MEM_HOST);
	CHECK_STR(text, "");
	p2pv_buf_free(b);
	unsetenv("P2PV_P2P_POLICY");
	p2pv_set_policy(P2PV_POLICY_ENABLED);
	fs_fini(&fs);
}

/* A named provider that cannot serve is an error under every policy:
 * never host memory in its place */
static void t_named_provider_errors(void)
{
	static const enum p2pv_policy all[] = {
		P2PV_POLICY_DISABLED, P2PV_POLICY_ENABLED,
		P2PV_POLICY_PREFERRED, P2PV_POLICY_REQUIRED,
	};
	struct p2pv_buf *b;
	char text[1024];
	size_t i;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	unsetenv("P2PV_P2P_POLICY");
	unsetenv("P2PV_DEBUG");
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		p2pv_set_policy(all[i]);
		/* unknown provider */
		b = p2pv_buf_alloc("0000:05:00.0", NULL, 4096);
		CHECK(b == NULL);
		CHECK_INT(errno, all[i] == P2PV_POLICY_DISABLED ? EPERM : ENODEV);
		CHECK(strstr(p2pv_last_error(), "0000:05:00.0") != NULL);
		/* malformed name */
		b = p2pv_buf_alloc("not-a-bdf", NULL, 4096);
		CHECK(b == NULL);
		CHECK_INT(errno, all[i] == P2PV_POLICY_DISABLED ? EPERM : EINVAL);
		if (all[i] == P2PV_POLICY_DISABLED)
			continue;
		/* no /dev node (no kernel driver in a unit test): the kernel
		 * decides, and here there is none to ask */
		b = p2pv_buf_alloc("0000:03:00.0", NULL, 4096);
		CHECK(b == NULL);
		CHECK_INT(errno, ENODEV);
		CHECK(strstr(p2pv_last_error(), "dev/p2pmem/0000:03:00.0") != NULL);
	}
	/* and nothing was written to stderr on the way */
	p2pv_set_policy(P2PV_POLICY_PREFERRED);
	b = alloc_capture(text, sizeof(text));	/* chooses; falls back */
	CHECK(b != NULL && b->type == P2PV_MEM_HOST);
	CHECK_STR(text, "");
	p2pv_buf_free(b);
	p2pv_set_policy(P2PV_POLICY_ENABLED);
	fs_fini(&fs);
}

/* p2pv_buf_alloc_attr(): validated attributes, P2P_ONLY, alignment */
static void t_alloc_attr(void)
{
	struct p2pv_buf_alloc_attr a;
	struct p2pv_buf *b;

	fs_init(&fs);
	unsetenv("P2PV_P2P_POLICY");
	p2pv_set_policy(P2PV_POLICY_ENABLED);
	memset(&a, 0, sizeof(a));
	a.length = 5000;
	a.comp_mask = P2PV_BUF_ALLOC_ATTR_MASK_ALIGNMENT;
	a.alignment = 1 << 21;
	b = p2pv_buf_alloc_attr(&a, sizeof(a));
	CHECK(b != NULL);
	if (b) {
		CHECK_INT((uintptr_t)b->addr & ((1 << 21) - 1), 0);
		CHECK_INT(b->type, P2PV_MEM_HOST);
		CHECK_INT(p2pv_buf_free(b), 0);
	}
	a.alignment = 3000;			/* not a power of two */
	CHECK(p2pv_buf_alloc_attr(&a, sizeof(a)) == NULL);
	CHECK_INT(errno, EINVAL);
	a.alignment = 4096;
	a.comp_mask |= 1ULL << 40;		/* a bit from the future */
	CHECK(p2pv_buf_alloc_attr(&a, sizeof(a)) == NULL);
	CHECK_INT(errno, EOPNOTSUPP);
	a.comp_mask = 0;
	{
		/* a program built against a later header: a field this
		 * library does not know, set (refused) or zero (fine) */
		struct {
			struct p2pv_buf_alloc_attr a;
			uint64_t later;
		} big = { a, 1 };

		CHECK(p2pv_buf_alloc_attr(&big.a, sizeof(big)) == NULL);
		CHECK_INT(errno, EOPNOTSUPP);
		big.later = 0;
		b = p2pv_buf_alloc_attr(&big.a, sizeof(big));
		CHECK(b != NULL);
		if (b)
			CHECK_INT(p2pv_buf_free(b), 0);
	}
	CHECK(p2pv_buf_alloc_attr(&a, 8) == NULL);	/* inlen too small */
	CHECK_INT(errno, EINVAL);
	CHECK(p2pv_buf_alloc_attr(NULL, sizeof(a)) == NULL);
	CHECK_INT(errno, EINVAL);
	/* P2P only: no host memory under "enabled" either */
	a.comp_mask = P2PV_BUF_ALLOC_ATTR_MASK_FLAGS;
	a.flags = P2PV_BUF_ALLOC_P2P_ONLY;
	CHECK(p2pv_buf_alloc_attr(&a, sizeof(a)) == NULL);
	CHECK_INT(errno, ENODEV);
	CHECK(strstr(p2pv_last_error(), "P2P_ONLY") != NULL);
	a.flags = 1ULL << 9;
	CHECK(p2pv_buf_alloc_attr(&a, sizeof(a)) == NULL);
	CHECK_INT(errno, EOPNOTSUPP);
	fs_fini(&fs);
}

/* Freeing twice, or a pointer the library never handed out: an error with
 * a message, not a crash (the ASan build runs this too) */
static void t_double_free(void)
{
	struct p2pv_buf *b, fake;
	char *heap = malloc(64);

	fs_init(&fs);
	p2pv_set_policy(P2PV_POLICY_DISABLED);
	b = p2pv_buf_alloc(NULL, NULL, 4096);
	CHECK(b != NULL);
	CHECK_INT(p2pv_buf_free(b), 0);
	CHECK_INT(p2pv_buf_free(b), -1);
	CHECK_INT(errno, EINVAL);
	CHECK(strstr(p2pv_last_error(), "freed twice") != NULL);
	memset(&fake, 0, sizeof(fake));
	CHECK_INT(p2pv_buf_free(&fake), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(p2pv_buf_free((struct p2pv_buf *)heap), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(p2pv_buf_free(NULL), -1);
	free(heap);
	p2pv_set_policy(P2PV_POLICY_ENABLED);
	fs_fini(&fs);
}

static const struct tcase cases[] = {
	{ "levels", t_levels },
	{ "env_override", t_env_override },
	{ "alloc_fallback", t_alloc_fallback },
	{ "named_provider_errors", t_named_provider_errors },
	{ "alloc_attr", t_alloc_attr },
	{ "double_free", t_double_free },
	{ NULL, NULL },
};

TEST_MAIN(cases)
