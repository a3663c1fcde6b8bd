#!/bin/bash
# Soft-RoCE on P2P memory: rxe registers /dev/p2pmem dma-bufs from the NVMe CMB
# and from ivshmem with ibv_reg_dmabuf_mr() as a CPU importer, and RDMA WRITE,
# READ, SEND/RECV and atomics move data in and out of them between rxe0 and
# rxe1, checked through the CPU mapping of the dma-buf; bad registrations fail
# with the right errno and the MRs outlive the dma-buf fd (rxe-dmabuf-test
# verbs).  "revoke": removing the provider while RDMA WRITEs stream into its
# memory makes them complete with an error, not hang and not crash, and every
# object is destroyed afterwards (rxe-dmabuf-test revoke).
#
# "verbs" and "revoke" run again with the P2P memory registered by plain
# ibv_reg_mr_iova() on the dma-buf's mapping (RXE_DMABUF_REG=address): the
# kernel resolves the mapping to the dma-buf, so data, errors, munmap after
# registration and hot-unplug must behave exactly as for ibv_reg_dmabuf_mr().
#
# "killed": a process killed with live dma-buf MRs, QPs and buffers gives all
# of its provider memory back.
#
# "reset": an FLR of the NVMe controller through sysfs while rxe streams RDMA
# WRITEs into a CMB MR and the edu holds a DMA mapping of another CMB buffer
# revokes both, returns only after both let go, and leaves the CMB usable.
#
# "aer": PCI error recovery (AER) resets the link above the NVMe while rxe
# streams RDMA WRITEs into a CMB MR and the edu maps another CMB buffer: both
# are revoked before the link reset, and new CMB buffers work afterwards;
# then the same with the edu on ivshmem (the generic BAR provider).  Needs
# --topology switch --monitor-relay (see aer-inject.sh); not part of "all".
#
# usage: rxe-dmabuf.sh [verbs|revoke|killed|reset|aer|all]...    (default all: each but aer in turn)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/p2pmem-lib.sh"

modes=("${@:-all}")
for mode in "${modes[@]}"; do
	case $mode in
	verbs | revoke | killed | reset | aer | all) ;;
	*) fail "usage: rxe-dmabuf.sh [verbs|revoke|killed|reset|aer|all]..." ;;
	esac
done

# The test program, from the CMake build tree (RXE_DMABUF_TEST overrides).
RXE_DMABUF_TEST=${RXE_DMABUF_TEST:-$P2PV_BUILD/tests/vm/progs/rxe-dmabuf-test}
[ -x "$RXE_DMABUF_TEST" ] || RXE_DMABUF_TEST=$(find "$P2PV_BUILD" -name rxe-dmabuf-test -type f -perm -u+x 2>/dev/null | head -n 1)
if [ -z "$RXE_DMABUF_TEST" ] || [ ! -x "$RXE_DMABUF_TEST" ]; then
	fail "rxe-dmabuf-test is not built under $P2PV_BUILD"
fi

run_verbs() {
	local prov
	for prov in $nvme $ivshmem; do
		p2pmem_node "$prov"
		timeout 600 "$RXE_DMABUF_TEST" verbs "$prov" rxe0 rxe1 || fail "rxe dma-buf verbs on $prov"
		pass "rxe dma-buf MRs on $prov: data path, errors, fd closed after registration"
		RXE_DMABUF_REG=address timeout 600 "$RXE_DMABUF_TEST" verbs "$prov" rxe0 rxe1 ||
			fail "rxe verbs on $prov registered by address"
		pass "plain ibv_reg_mr on the mapping of $prov: data path, errors, unmapped after registration"
	done	# Host memory from udmabuf: a static exporter with CPU-access calls
	timeout 600 "$RXE_DMABUF_TEST" verbs udmabuf rxe0 rxe1 || fail "rxe dma-buf verbs on a udmabuf"
	pass "rxe dma-buf MRs on a udmabuf (host memory): data path, errors, fd closed after registration"
}

# revoke_one PROVIDER: start the RDMA WRITE loop, remove the provider once the
# loop has written, and expect the program to see the error and clean up.
# RXE_DMABUF_REG=address in the environment: registered by address.
revoke_one() {
	local prov=$1 log=/tmp/rxe-revoke-$1.log pid rm_pid st=0 deadline
	p2pmem_node "$prov"
	timeout 300 "$RXE_DMABUF_TEST" revoke "$prov" rxe0 rxe1 >"$log" 2>&1 &
	pid=$!
	deadline=$(($(date +%s) + 120))
	until grep -q '^ready:' "$log"; do
		if ! kill -0 "$pid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" || true
			cat "$log"
			fail "revoke test on $prov did not get ready"
		fi
		sleep 0.2
	done
	# In the background: if the exporter waited for the importer, the removal
	# would block until the program gives up; the program bounds that.
	(echo 1 >"/sys/bus/pci/devices/$prov/remove") &
	rm_pid=$!
	wait "$pid" || st=$?
	cat "$log"
	[ "$st" = 0 ] || fail "revoke test on $prov exited with $st"
	wait_for 60 eval "! kill -0 $rm_pid" || fail "removing $prov does not finish"
	wait "$rm_pid" || fail "writing 1 to /sys/bus/pci/devices/$prov/remove failed"
	[ ! -e "/sys/bus/pci/devices/$prov" ] || fail "$prov still present"
	pass "removing $prov revokes its rxe MRs${RXE_DMABUF_REG:+ (registered by $RXE_DMABUF_REG)}: error completions, clean teardown"
}

# killed_one PROVIDER: SIGKILL the RDMA WRITE loop while its MRs are live;
# the kernel must release MRs, attachments and dma-bufs on its own and give
# the provider its memory back.
killed_one() {
	local prov=$1 log=/tmp/rxe-killed-$1.log pid before now deadline
	local avail=/sys/bus/pci/devices/$1/p2pmem/available
	p2pmem_node "$prov"
	before=$(cat "$avail")
	# not under timeout(1): the signal must reach the program itself
	"$RXE_DMABUF_TEST" revoke "$prov" rxe0 rxe1 >"$log" 2>&1 &
	pid=$!
	wait_for 120 grep -q '^ready:' "$log" || { cat "$log"; fail "RDMA WRITE loop on $prov did not start"; }
	[ "$(cat "$avail")" -lt "$before" ] || fail "$prov: the running test holds no memory"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	deadline=$(($(date +%s) + 30))
	until now=$(cat "$avail") && [ "$now" = "$before" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || fail "$prov: $now bytes available 30 s after SIGKILL, $before before"
		sleep 0.2
	done
	pass "process killed with live MRs on $prov: all $before bytes back"
}

run_killed() {
	local prov
	for prov in $ivshmem $nvme; do
		killed_one "$prov"
	done
}

run_revoke() {
	local prov
	for prov in $ivshmem $nvme; do
		revoke_one "$prov"
	done
	# The bus rescans cleanly, the providers come back and work with rxe.
	echo 1 >/sys/bus/pci/rescan
	for prov in $ivshmem $nvme; do
		p2pmem_node "$prov"
	done
	timeout 600 "$RXE_DMABUF_TEST" verbs "$ivshmem" rxe0 rxe1 || fail "rxe dma-buf verbs after rescan"
	pass "providers are back after rescan and rxe uses them"
	# Hot-unplug under MRs that plain ibv_reg_mr made
	for prov in $ivshmem $nvme; do
		RXE_DMABUF_REG=address revoke_one "$prov"
	done
	echo 1 >/sys/bus/pci/rescan
	for prov in $ivshmem $nvme; do
		p2pmem_node "$prov"
	done
}

run_reset() {
	local log=/tmp/rxe-reset.log done=/tmp/rxe-reset.done pid st=0
	p2pmem_node "$nvme"
	rm -f "$done"
	P2PV_RESET_DONE=$done timeout 300 "$RXE_DMABUF_TEST" reset "$nvme" rxe0 rxe1 >"$log" 2>&1 &
	pid=$!
	wait_for 120 grep -q '^ready:' "$log" || { kill "$pid"; cat "$log"; fail "RDMA WRITE loop on $nvme did not start"; }
	# the edu maps a second CMB buffer and the reset happens in here
	"$P2PMEM_TEST" revoke-dma "$nvme" "$edu" reset || { cat "$log"; fail "reset of $nvme with a live edu mapping"; }
	touch "$done"
	wait "$pid" || st=$?
	cat "$log"
	[ "$st" = 0 ] || fail "rxe side of the reset of $nvme exited with $st"
	pass "FLR of $nvme revokes a live rxe MR and a live edu mapping"
	timeout 600 "$RXE_DMABUF_TEST" verbs "$nvme" rxe0 rxe1 || fail "rxe dma-buf verbs after the reset"
	pass "rxe registers and uses new CMB buffers after the reset"
}

run_aer() {
	local log=/tmp/rxe-aer.log done=/tmp/rxe-aer.done inject pid st=0
	inject="bash $(dirname "$0")/aer-inject.sh"
	[ "$P2PV_TOPOLOGY" = switch ] || fail "aer: needs --topology switch (see aer-inject.sh)"
	p2pmem_node "$nvme"
	rm -f "$done"
	P2PV_RESET_DONE=$done timeout 300 "$RXE_DMABUF_TEST" reset "$nvme" rxe0 rxe1 >"$log" 2>&1 &
	pid=$!
	wait_for 120 grep -q '^ready:' "$log" || { kill "$pid"; cat "$log"; fail "RDMA WRITE loop on $nvme did not start"; }
	# the edu maps a second CMB buffer and the error is injected in here
	P2PV_AER_INJECT="$inject dn0 $nvme" "$P2PMEM_TEST" revoke-dma "$nvme" "$edu" aer ||
		{ kill "$pid"; cat "$log"; fail "AER recovery of $nvme with a live edu mapping"; }
	touch "$done"
	wait "$pid" || st=$?
	cat "$log"
	[ "$st" = 0 ] || fail "rxe side of the AER recovery of $nvme exited with $st"
	pass "AER recovery of $nvme revokes a live rxe MR and a live edu mapping"
	timeout 600 "$RXE_DMABUF_TEST" verbs "$nvme" rxe0 rxe1 || fail "rxe dma-buf verbs after AER recovery"
	pass "rxe registers and uses new CMB buffers after AER recovery"
	p2pmem_node "$ivshmem"
	P2PV_AER_INJECT="$inject dn1 $ivshmem" "$P2PMEM_TEST" revoke-dma "$ivshmem" "$edu" aer ||
		fail "AER recovery of $ivshmem with a live edu mapping"
	pass "AER recovery of $ivshmem (generic BAR provider) revokes a live edu mapping; new buffers work"
}

rxe_pair
for mode in "${modes[@]}"; do
	case $mode in
	verbs) run_verbs ;;
	revoke) run_revoke ;;
	killed) run_killed ;;
	reset) run_reset ;;
	aer) run_aer ;;
	all)
		run_verbs
		run_killed
		run_reset
		run_revoke
		;;
	esac
done

dmesg | grep -E 'BUG|WARNING|Oops|KASAN|circular locking|suspicious RCU|suspected memory leak' && fail "kernel warnings during the test"
pass "no kernel warnings"
