#!/bin/bash
# Registration by address of P2P memory while the address space changes
# (issue 17): plain ibv_reg_mr() on a mapping of /dev/p2pmem/<bdf> or of a
# dma-buf against a concurrent munmap (also with anonymous memory mapped in
# its place), mremap (moved, shrunk) and fork, ROUNDS rounds each on
# ivshmem: every registration succeeds or fails with EFAULT, every MR
# deregisters, no buffer leaks, and the harness sees no kernel splat.  Then
# MAP_PRIVATE mappings of the node and of a dma-buf are never registered as
# the buffer (both providers); registering host memory does not wait for
# the mmap lock (the dma-buf lookup runs only where pinning failed); and
# deregistering an MR waits for no grace period, a P2P MR costing at most
# twice a host MR (ivshmem, 4 KiB and 1 MiB).  Details in
# tests/vm/progs/reg-mr-race.c.
#
# On the debug flavour kmemleak must find nothing and the log no splat.
#
# usage: reg-mr-race.sh [ROUNDS]     (default 10000 per change)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/p2pmem-lib.sh"

rounds=${1:-10000}
prog=$(find_prog reg-mr-race)
rxe_pair
p2pmem_node "$ivshmem"
p2pmem_node "$nvme"
kmemleak_begin

failed=()
for change in munmap mremap fork; do
	"$prog" "$ivshmem" rxe0 race "$change" "$rounds" || failed+=("race $change")
done
for prov in $ivshmem $nvme; do
	"$prog" "$prov" rxe0 private || failed+=("private $prov")
done
"$prog" "$ivshmem" rxe0 host-lock 50 || failed+=("host-lock")
# a grace period is some milliseconds (12 ms at the median here); an MR
# freed without waiting for one deregisters in tens of microseconds
"$prog" "$ivshmem" rxe0 dereg-time 100 2 3000 || failed+=("dereg-time")
[ ${#failed[@]} = 0 ] || fail "failed: ${failed[*]}"
leak_check "reg-mr-race"
splats=$(splat_count)
[ "$splats" = 0 ] || fail "$splats kernel splats in the log"
pass "registration by address holds against munmap, mremap and fork ($rounds rounds each)"
