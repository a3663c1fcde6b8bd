#!/bin/bash
# Hot-unplug under load, repeatedly: ROUNDS times (default 20), alternating
# between the ivshmem and the NVMe CMB provider, start an RDMA WRITE loop
# into a fresh P2P buffer, remove the provider under it, expect error
# completions and a clean teardown, rescan and check the provider works
# again.  Run on the debug flavour it ends with kmemleak and splat counts.
#
# usage: hotplug-loop.sh [ROUNDS]
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")
rounds=${1:-20}

RXE_DMABUF_TEST=$P2PV_BUILD/tests/vm/progs/rxe-dmabuf-test
[ -x "$RXE_DMABUF_TEST" ] || fail "rxe-dmabuf-test is not built under $P2PV_BUILD"

# provider PCI-ID: its current address (it can change across rescans)
provider() { pci_devs "$1" | head -n 1; }

rxe_pair
kmemleak_begin
start=$(date +%s)
for ((i = 1; i <= rounds; i++)); do
	if ((i % 2)); then id=1af4:1110; else id=1b36:0010; fi
	prov=$(provider "$id")
	[ -n "$prov" ] || fail "round $i: no $id device"
	wait_for 60 test -c "/dev/p2pmem/$prov" || fail "round $i: no /dev/p2pmem/$prov"
	log=/tmp/hotplug-$i.log
	"$RXE_DMABUF_TEST" revoke "$prov" rxe0 rxe1 >"$log" 2>&1 &
	pid=$!
	wait_for 120 grep -q '^ready:' "$log" || { cat "$log"; fail "round $i: RDMA WRITE loop did not start"; }
	echo 1 >"/sys/bus/pci/devices/$prov/remove"
	wait "$pid" || { cat "$log"; fail "round $i: the loop on $prov did not end cleanly"; }
	grep -q 'remote access error' "$log" || { cat "$log"; fail "round $i: no error completion"; }
	echo 1 >/sys/bus/pci/rescan
	prov=$(provider "$id")
	wait_for 60 test -c "/dev/p2pmem/$prov" || fail "round $i: $id did not come back"
	echo "round $i: removed and re-plugged $id under RDMA WRITEs ($(grep -o 'after [0-9]* good writes' "$log"))"
done
pass "$rounds hot-unplugs under load in $(($(date +%s) - start)) s: error completions, clean teardown, device back each time"

"$RXE_DMABUF_TEST" verbs "$(provider 1af4:1110)" rxe0 rxe1 >/tmp/hotplug-after.log 2>&1 ||
	{ cat /tmp/hotplug-after.log; fail "rxe on re-plugged ivshmem"; }
pass "re-plugged provider carries RDMA again"

splats=$(splat_count)
echo "hot-unplug loop: rounds $rounds, kernel splats $splats"
[ "$splats" = 0 ] || { dmesg; fail "$splats kernel splats"; }
leak_check "hot-unplug loop"
pass "no splats$([ "${P2PV_DEBUG_KERNEL:-0}" = 0 ] || echo ", no leaks")"
