/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * libp2pverbs-preload.so: LD_PRELOAD this library under an unmodified verbs
 * program and ibv_reg_mr()/ibv_reg_mr_iova()/ibv_reg_mr_iova2() on a range
 * inside P2P memory register a dma-buf MR; everything else goes straight to
 * the next definition (libibverbs), found with dlsym(RTLD_NEXT).
 *
 * The symbols here are unversioned on purpose: an unversioned definition
 * satisfies the versioned references (ibv_reg_mr@IBVERBS_1.1, ...) of
 * programs linked against libibverbs.  Newer verbs.h turn ibv_reg_mr() into
 * an inline __ibv_reg_mr() that calls either ibv_reg_mr or ibv_reg_mr_iova2;
 * both are covered.  (__ibv_reg_mr itself is a static inline in verbs.h,
 * never an exported symbol.)
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "p2pv_priv.h"

#undef ibv_reg_mr
#undef ibv_reg_mr_iova

typedef struct ibv_mr *(*reg_mr_fn)(struct ibv_pd *, void *, size_t, int);
typedef struct ibv_mr *(*reg_mr_iova_fn)(struct ibv_pd *, void *, size_t,
					 uint64_t, int);
typedef struct ibv_mr *(*reg_mr_iova2_fn)(struct ibv_pd *, void *, size_t,
					  uint64_t, unsigned int);
typedef int (*dereg_mr_fn)(struct ibv_mr *);

static struct {
	reg_mr_fn reg_mr;
	reg_mr_iova_fn reg_mr_iova;
	reg_mr_iova2_fn reg_mr_iova2;
	dereg_mr_fn dereg_mr;
} real;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void resolve(void)
{
	/* dlsym returns void *; go through a union-free cast of the object */
	*(void **)&real.reg_mr = dlsym(RTLD_NEXT, "ibv_reg_mr");
	*(void **)&real.reg_mr_iova = dlsym(RTLD_NEXT, "ibv_reg_mr_iova");
	*(void **)&real.reg_mr_iova2 = dlsym(RTLD_NEXT, "ibv_reg_mr_iova2");
	*(void **)&real.dereg_mr = dlsym(RTLD_NEXT, "ibv_dereg_mr");
}

#define NEED(fn)                                                      \
	do {                                                          \
		pthread_once(&once, resolve);                         \
		if (!real.fn) {                                       \
			errno = ENOSYS;                               \
			return NULL;                                  \
		}                                                     \
	} while (0)

__attribute__((visibility("default")))
struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			  int access)
{
	struct ibv_mr *mr;
	int handled;

	mr = __p2pv_route_reg_mr(pd, addr, length, (uintptr_t)addr,
				 (unsigned int)access, &handled);
	if (handled)
		return mr;
	NEED(reg_mr);
	return real.reg_mr(pd, addr, length, access);
}

__attribute__((visibility("default")))
struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length,
			       uint64_t iova, int access)
{
	struct ibv_mr *mr;
	int handled;

	mr = __p2pv_route_reg_mr(pd, addr, length, iova, (unsigned int)access,
				 &handled);
	if (handled)
		return mr;
	NEED(reg_mr_iova);
	return real.reg_mr_iova(pd, addr, length, iova, access);
}

__attribute__((visibility("default")))
struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length,
				uint64_t iova, unsigned int access)
{
	struct ibv_mr *mr;
	int handled;

	mr = __p2pv_route_reg_mr(pd, addr, length, iova, access, &handled);
	if (handled)
		return mr;
	NEED(reg_mr_iova2);
	return real.reg_mr_iova2(pd, addr, length, iova, access);
}

__attribute__((visibility("default")))
int ibv_dereg_mr(struct ibv_mr *mr)
{
	pthread_once(&once, resolve);
	if (!real.dereg_mr)
		return ENOSYS;
	__p2pv_forget_mr(mr);
	return real.dereg_mr(mr);
}
