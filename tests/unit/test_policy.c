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

	p2pv_set_policy(P2PV_POLICY_ENABLED);
	b = alloc_capture(text, sizeof(text));
	CHECK(b != NULL && b->type == P2PV_MEM_HOST);
	CHECK_STR(text, "");
	p2pv_buf_free(b);

	p2pv_set_policy(P2PV_POLICY_PREFERRED);
	b = alloc_capture(text, sizeof(text));
	CHECK(b != NULL && b->type == P2PV_MEM_HOST);
	CHECK(strncmp(text, "libp2pverbs: P2P memory unavailable (", 37) == 0);
	CHECK(strchr(text, '\n') == text + strlen(text) - 1);	/* one line */
	p2pv_buf_free(b);

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
	CHECK(b != NULL);
	CHECK(strstr(text, "using host memory") != NULL);
	p2pv_buf_free(b);
	unsetenv("P2PV_P2P_POLICY");
	p2pv_set_policy(P2PV_POLICY_ENABLED);
	fs_fini(&fs);
}

static void t_named_provider_errors(void)
{
	struct p2pv_buf *b;

	fs_init(&fs);
	topo_switch(&fs, 0x1234, 0, 0);
	p2pv_set_policy(P2PV_POLICY_REQUIRED);
	/* unknown provider */
	b = p2pv_buf_alloc("0000:05:00.0", NULL, 4096);
	CHECK(b == NULL);
	CHECK(strstr(p2pv_last_error(), "0000:05:00.0") != NULL);
	/* too big */
	b = p2pv_buf_alloc("0000:03:00.0", NULL, 2 << 20);
	CHECK(b == NULL);
	CHECK_INT(errno, ENOSPC);
	/* no /dev node (no kernel driver in a unit test) */
	b = p2pv_buf_alloc("0000:03:00.0", NULL, 4096);
	CHECK(b == NULL);
	CHECK(strstr(p2pv_last_error(), "dev/p2pmem/0000:03:00.0") != NULL);
	p2pv_set_policy(P2PV_POLICY_ENABLED);
	fs_fini(&fs);
}

static const struct tcase cases[] = {
	{ "levels", t_levels },
	{ "env_override", t_env_override },
	{ "alloc_fallback", t_alloc_fallback },
	{ "named_provider_errors", t_named_provider_errors },
	{ NULL, NULL },
};

TEST_MAIN(cases)
