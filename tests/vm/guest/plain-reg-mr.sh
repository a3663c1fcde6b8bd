#!/bin/bash
# Plain ibv_reg_mr() on P2P memory for every program (issue 13): with no
# libp2pverbs and no LD_PRELOAD, plain-reg-mr (tests/vm/progs/plain-reg-mr.c)
# registers pointers into P2P mappings with ibv_reg_mr() and moves 1 MiB by
# RDMA WRITE and READ between rxe0 and rxe1, byte-compared, on the NVMe CMB
# and on ivshmem, built three ways: dynamic, dlopen + dlvsym as NCCL does,
# static.  Memory from P2PMEM_IOC_ALLOC, from another process over a unix
# socket and from mmap() of /dev/p2pmem/<bdf>; munmap after registration;
# the errors (EFAULT across a mapping's end or across host and P2P memory,
# EACCES for write access to a read-only mapping, also of an O_RDONLY
# dma-buf) with pool and descriptors back.  Last, each variant once: ivshmem
# removed under a live MR and mappings -> error completion and ENODEV; the
# bus is rescanned in between.
#
# Every case runs as its own process and all of them run even when one
# fails; the summary lists each case's verdict and the test fails if any did.
#
# usage: plain-reg-mr.sh [CASE...]     (default: all cases, then "removed")
. "$(dirname "$0")/lib.sh"

cases=(uapi socket node offset munmap cross-end span readonly readonly-buf)
[ $# -eq 0 ] || cases=("$@")
logs=/tmp/plain-reg-mr
mkdir -p "$logs"

rc_functions
unset LD_PRELOAD

declare -A prog
prog[dynamic]=$(find_prog plain-reg-mr)
prog[dlvsym]=$(find_prog plain-reg-mr-dlvsym)
prog[static]=$(find_prog plain-reg-mr-static)
variants=(dynamic dlvsym static)
case_timeout=300

# On the debug flavour (vm.debug.revoke) this runs for the kernel's checkers,
# not for the ways of linking, which the release flavour covers: the dynamic
# variant only.  There each access of the NVMe CMB is a QEMU I/O callback
# under a kernel several times slower, and a 1 MiB RDMA WRITE or READ
# through it took 4-59 s (host load 10).  With the QPs' 67 ms ACK timeout
# rxe1 resent its READ hundreds of times; rxe0 must replay every duplicate
# READ from its PSN to the end, out of the BAR again, so it fell minutes
# behind and the next request waited behind that backlog.  There the QPs
# get a 1 s ACK timeout (18), each operation 180 s, each case 900 s.
if [ "${P2PV_DEBUG_KERNEL:-0}" = 1 ]; then
	variants=(dynamic)
	case_timeout=900
	export P2PV_POLL_TIMEOUT_MS=180000 P2PV_QP_TIMEOUT=18
fi

# What the binaries are: libibverbs only, nothing of p2pverbs.
for v in dynamic dlvsym; do
	needed=$(readelf -d "${prog[$v]}" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
	grep -q 'libibverbs\.so' <<<"$needed" || fail "${prog[$v]} is not linked against libibverbs: $needed"
	grep -q p2pverbs <<<"$needed" && fail "${prog[$v]} is linked against libp2pverbs: $needed"
	pass "$v variant needs: $needed"
done
syms=$(nm -D --undefined-only "${prog[dynamic]}")
grep -q ' ibv_reg_mr@' <<<"$syms" || fail "plain-reg-mr does not call libibverbs' ibv_reg_mr"
syms=$(nm -D --undefined-only "${prog[dlvsym]}")
grep -q ' ibv_reg_mr@' <<<"$syms" && fail "plain-reg-mr-dlvsym links ibv_reg_mr instead of resolving it"
grep -q ' dlvsym@' <<<"$syms" || fail "plain-reg-mr-dlvsym does not call dlvsym"
pass "plain-reg-mr calls ibv_reg_mr@IBVERBS_1.1; plain-reg-mr-dlvsym resolves it with dlvsym"
# (outputs in variables: grep -q closing a pipe early fails the pipeline)
headers=$(readelf -l -d "${prog[static]}" 2>&1 || true)
grep -q 'INTERP\|(NEEDED)' <<<"$headers" && fail "${prog[static]} is dynamically linked"
syms=$(nm "${prog[static]}")
grep -q ' verbs_provider_rxe$' <<<"$syms" || fail "${prog[static]} has no built-in rxe provider"
pass "static variant: no interpreter, no shared library, rxe provider built in"

rxe_pair

results=()
failed=0
# run_case VARIANT PROVIDER CASE: one process; its verdict goes to the summary
run_case() {
	local v=$1 prov=$2 c=$3 log=$logs/$1-$2-$3.log st=0
	timeout "$case_timeout" "${prog[$v]}" "$prov" rxe0 rxe1 "$c" >"$log" 2>&1 || st=$?
	cat "$log"
	if [ "$st" = 0 ]; then
		results+=("PASS  $v  $prov  $c")
	else
		results+=("FAIL  $v  $prov  $c: $(grep -m1 '^FAIL' "$log" || echo "exit status $st")")
		failed=$((failed + 1))
	fi
}

provider_size() { cat "/sys/bus/pci/devices/$1/p2pmem/size"; }
provider_available() { cat "/sys/bus/pci/devices/$1/p2pmem/available"; }

for prov in $nvme $ivshmem; do
	start=$(provider_available "$prov")
	for v in "${variants[@]}"; do
		for c in "${cases[@]}"; do
			run_case "$v" "$prov" "$c"
		done
	done
	now=$(provider_available "$prov")
	[ "$now" = "$start" ] || { results+=("FAIL  $prov: available $now after all cases, $start before"); failed=$((failed + 1)); }
done

# removed: the program signals "ready", the provider goes, the program
# checks the aftermath; then the bus is rescanned and the provider is back.
remove_case() {
	local v=$1 prov=$ivshmem log=$logs/$1-removed.log pid rm_pid='' st=0 rm_st=0
	timeout "$case_timeout" "${prog[$v]}" "$prov" rxe0 rxe1 removed >"$log" 2>&1 &
	pid=$!
	# until the program is ready or gone
	wait_for 120 eval "grep -q '^ready:' $log || ! kill -0 $pid"
	if ! grep -q '^ready:' "$log"; then
		kill "$pid" 2>/dev/null || true
	else
		# in the background: a removal that waited for the program would
		# otherwise hang here instead of failing it
		(echo 1 >"/sys/bus/pci/devices/$prov/remove") &
		rm_pid=$!
	fi
	wait "$pid" || st=$?
	cat "$log"
	if [ -n "$rm_pid" ]; then
		wait_for 60 eval "! kill -0 $rm_pid" || { rm_st=timeout; kill "$rm_pid" 2>/dev/null || true; }
		wait "$rm_pid" || [ "$rm_st" != 0 ] || rm_st=$?
	fi
	[ "$rm_st" = 0 ] || { st=1; echo "FAIL: writing 1 to /sys/bus/pci/devices/$prov/remove: $rm_st"; }
	if [ "$st" = 0 ]; then
		results+=("PASS  $v  $prov  removed")
	else
		results+=("FAIL  $v  $prov  removed: $(grep -m1 '^FAIL' "$log" || echo "exit status $st")")
		failed=$((failed + 1))
	fi
	if [ ! -e "/sys/bus/pci/devices/$prov" ]; then
		echo 1 >/sys/bus/pci/rescan
		wait_for 30 test -c "/dev/p2pmem/$prov" || fail "$prov did not come back after rescan"
		[ "$(provider_available "$prov")" = "$(provider_size "$prov")" ] ||
			fail "$prov after rescan: $(provider_available "$prov") of $(provider_size "$prov") bytes available"
		echo "rescan: $prov is back, $(provider_available "$prov") bytes available"
	fi
}
if [ $# -eq 0 ]; then
	for v in "${variants[@]}"; do
		remove_case "$v"
	done
fi

echo "---- plain-reg-mr summary ----"
printf '%s\n' "${results[@]}"
dmesg | grep -E 'BUG|WARNING|Oops|KASAN|circular locking|suspicious RCU|suspected memory leak' &&
	fail "kernel warnings during the test"
[ "$failed" = 0 ] || fail "$failed of ${#results[@]} plain-reg-mr cases failed"
pass "plain ibv_reg_mr on P2P memory: ${#results[@]} cases passed"
