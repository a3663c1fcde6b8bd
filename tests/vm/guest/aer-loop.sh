#!/bin/bash
# PCI error recovery under load, repeatedly: ROUNDS times (default 10) run
# rxe-dmabuf.sh aer, which injects a fatal error (AER, through the QEMU
# monitor) into the switch port above the NVMe while rxe streams RDMA WRITEs
# into a CMB MR and the edu maps another CMB buffer, then into the port above
# ivshmem under an edu mapping: each time the provider must revoke before
# the link reset, recovery must succeed and new buffers must work.  Every
# round must show both revocations in its output, so a loop that stopped
# injecting cannot pass.  On the debug flavour it ends with kmemleak and
# splat counts.  Needs run-vm.sh --topology switch --monitor-relay.
#
# usage: aer-loop.sh [ROUNDS]
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")
rounds=${1:-10}

. "$here/p2pmem-lib.sh"

# revoked_first LOG PORT PROVIDER: aer-inject.sh said that PROVIDER revoked
# its buffers before the recovery of PORT reset the link
revoked_first() {
	grep -q "^ok: error injected into $2, recovered, $3 revoked its buffers before the link reset" "$1"
}

kmemleak_begin
start=$(date +%s)
for ((i = 1; i <= rounds; i++)); do
	log=/tmp/aer-round-$i.log
	round_start=$(date +%s)
	bash "$here/rxe-dmabuf.sh" aer 2>&1 | tee "$log" || fail "round $i: rxe-dmabuf.sh aer failed"
	revoked_first "$log" dn0 "$nvme" || fail "round $i: $nvme did not revoke before the recovery of dn0"
	revoked_first "$log" dn1 "$ivshmem" || fail "round $i: $ivshmem did not revoke before the recovery of dn1"
	echo "round $i: AER recovery of $nvme and $ivshmem, both revoked first, in $(($(date +%s) - round_start)) s"
done
echo "AER loop: $rounds rounds in $(($(date +%s) - start)) s"
leak_check "AER loop"
splats=$(splat_count)
echo "AER loop: kernel splats $splats"
[ "$splats" = 0 ] || { dmesg; fail "$splats kernel splats"; }
pass "$rounds rounds of AER recovery of the NVMe (live rxe MR and edu mapping) and ivshmem (edu mapping): no splats$([ "${P2PV_DEBUG_KERNEL:-0}" = 0 ] || echo ", no leaks")"
