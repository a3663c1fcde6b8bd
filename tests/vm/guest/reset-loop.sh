#!/bin/bash
# NVMe function level resets under load, repeatedly: ROUNDS times (default
# 10) reset the controller through sysfs while rxe streams RDMA WRITEs into a
# CMB MR and the edu maps another CMB buffer (rxe-dmabuf.sh reset: both are
# revoked, the reset waits for them, new CMB MRs work afterwards).  On the
# debug flavour it ends with kmemleak and splat counts.
#
# usage: reset-loop.sh [ROUNDS]
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")
rounds=${1:-10}

kmemleak_begin
start=$(date +%s)
modes=()
for ((i = 0; i < rounds; i++)); do modes+=(reset); done
bash "$here/rxe-dmabuf.sh" "${modes[@]}" || fail "reset rounds"
echo "reset loop: $rounds rounds in $(($(date +%s) - start)) s"
leak_check "reset loop"
splats=$(splat_count)
echo "reset loop: kernel splats $splats"
[ "$splats" = 0 ] || { dmesg; fail "$splats kernel splats"; }
pass "$rounds NVMe resets under a live rxe MR and edu mapping: no splats$([ "${P2PV_DEBUG_KERNEL:-0}" = 0 ] || echo ", no leaks")"
