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
leaks=$(kmemleak_count)
splats=$(splat_count)
echo "reset loop: kmemleak reports $leaks, kernel splats $splats"
[ "$leaks" = 0 ] || [ "$leaks" = - ] || { cat /sys/kernel/debug/kmemleak; fail "$leaks kmemleak reports"; }
[ "$splats" = 0 ] || { dmesg; fail "$splats kernel splats"; }
pass "$rounds NVMe resets under a live rxe MR and edu mapping: no leaks, no splats"
