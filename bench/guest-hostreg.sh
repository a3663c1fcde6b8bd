#!/bin/bash
# In-guest part of bench/run.sh's kernel comparison (BENCH_BASE_UPTO): host
# memory ibv_reg_mr at 1 MiB and 16 MiB on rxe0 (bench/regbench.c hostreg),
# in a guest booted with either the full series or a prefix of it.  Nothing
# here depends on the series: the same script and binary run on both kernels.
#
# Arguments: KEY=VALUE settings: BENCH_REGBENCH (the regbench binary),
# BENCH_HOSTREG_REPS (rounds, each one registration of either size).
. "$P2PV_REPO/bench/guest-settings.sh"
. "$P2PV_REPO/tests/vm/guest/lib.sh"

out=$P2PV_RESULTS
rxe_pair
echo "{\"kernel\": \"$(uname -r) $(uname -v)\"}" >"$out/guest-meta.json"
echo "bench: $(cut -d' ' -f1 /proc/uptime)s: host ibv_reg_mr 1 and 16 MiB, ${BENCH_HOSTREG_REPS:?} rounds"
"${BENCH_REGBENCH:?}" hostreg rxe0 "$BENCH_HOSTREG_REPS" >"$out/hostreg.jsonl" ||
	fail "regbench hostreg"
echo "bench: $(cut -d' ' -f1 /proc/uptime)s: done"
