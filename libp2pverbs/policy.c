/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "p2pv_priv.h"

static int api_policy = P2PV_POLICY_ENABLED;

static const char *const names[] = { "disabled", "enabled", "preferred",
				     "required" };

P2PV_EXPORT const char *p2pv_policy_str(enum p2pv_policy p)
{
	return (unsigned)p < 4 ? names[p] : "?";
}

P2PV_EXPORT int p2pv_set_policy(enum p2pv_policy p)
{
	if ((unsigned)p > P2PV_POLICY_REQUIRED)
		return p2pv_err(EINVAL, "invalid P2P policy %d", (int)p);
	__atomic_store_n(&api_policy, (int)p, __ATOMIC_RELAXED);
	return 0;
}

P2PV_EXPORT enum p2pv_policy p2pv_get_policy(void)
{
	const char *env = secure_getenv("P2PV_P2P_POLICY");
	int i;

	if (env)
		for (i = 0; i < 4; i++)
			if (!strcasecmp(env, names[i]))
				return (enum p2pv_policy)i;
	return (enum p2pv_policy)__atomic_load_n(&api_policy, __ATOMIC_RELAXED);
}
