#!/bin/bash
# On the debug kernel flavour (KASAN, lockdep, kmemleak): revoke buffers by
# removing their providers while they are mapped (p2pmem-revoke.sh) and while
# rxe streams RDMA WRITEs into them (rxe-dmabuf.sh revoke), kill a process
# with live dma-buf MRs (rxe-dmabuf.sh killed), register P2P memory with
# plain ibv_reg_mr() from every kind of program, unmap it, remove its
# provider (rxe-dmabuf.sh verbs, plain-reg-mr.sh), then ask kmemleak for
# leaks and the log for splats.  Every count is printed.
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")

[ "$P2PV_DEBUG_KERNEL" = 1 ] || fail "boot the debug flavour (run-vm.sh --debug)"

kmemleak_begin
bash "$here/p2pmem-revoke.sh"
bash "$here/rxe-dmabuf.sh" verbs revoke killed
bash "$here/plain-reg-mr.sh"

leak_check "debug flavour"
splats=$(splat_count)
echo "debug flavour: kernel splats $splats"
[ "$splats" = 0 ] || { dmesg; fail "$splats kernel splats"; }
pass "revocation on the debug flavour: no leaks, no splats"
