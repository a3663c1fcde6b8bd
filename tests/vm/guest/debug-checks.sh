#!/bin/bash
# On the debug kernel flavour (KASAN, lockdep, kmemleak): revoke buffers by
# removing their providers while they are mapped (p2pmem-revoke.sh) and while
# rxe streams RDMA WRITEs into them (rxe-dmabuf.sh revoke), kill a process
# with live dma-buf MRs (rxe-dmabuf.sh killed), then ask kmemleak for leaks
# and the log for splats.  Every count is printed.
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")

[ "$P2PV_DEBUG_KERNEL" = 1 ] || fail "boot the debug flavour (run-vm.sh --debug)"
[ -w /sys/kernel/debug/kmemleak ] || fail "no kmemleak in this kernel"

bash "$here/p2pmem-revoke.sh"
bash "$here/rxe-dmabuf.sh" revoke killed

# kmemleak reports objects unreferenced for a while and in two scans.
echo clear >/sys/kernel/debug/kmemleak
sleep 6
echo scan >/sys/kernel/debug/kmemleak
sleep 6
echo scan >/sys/kernel/debug/kmemleak
leaks=$(grep -c '^unreferenced object' /sys/kernel/debug/kmemleak || true)
splats=$(dmesg | grep -cE 'BUG:|WARNING:|Oops|KASAN|possible circular locking|suspicious RCU|inconsistent lock state' || true)
echo "debug flavour: kmemleak reports $leaks, kernel splats $splats"
[ "$leaks" = 0 ] || { cat /sys/kernel/debug/kmemleak; fail "$leaks kmemleak reports"; }
[ "$splats" = 0 ] || { dmesg; fail "$splats kernel splats"; }
pass "revocation on the debug flavour: no leaks, no splats"
