#!/bin/bash
# One of two guests of tests/vm/two-hosts.sh running Debian's Open MPI over
# UCX, and libfabric's verbs provider, with P2P memory at both ends (issue 18):
#   mpi-two-hosts.sh server|client KEYDIR [PHASES]
# Both guests bring up the link (peer_link) and an ssh server with the run's
# keys (peer_sshd).  The server drives everything from there, as a user on a
# cluster's head node would, over ssh:
#   mpi    one mpirun, one rank per guest, of tests/vm/progs/mpi-p2p: every
#          check (RMA with fences and locks, P2P->P2P rendezvous messages,
#          MPI_Allreduce; the engine's MRs over the buffers) once on buffers
#          from an mmap of /dev/p2pmem/<ivshmem>, once on buffers from
#          p2pv_buf_alloc() (with ATTACH_QUERY); user_allocated back after;
#   fault  a job whose rank 1 window is in ivshmem memory of the client;
#          once it runs, the client's QEMU unplugs that ivshmem (device_del
#          through the monitor relay of two-hosts.sh; needs the rootports or
#          switch topology); the job must end with UCX's error naming the
#          remote access failure, no kernel warning on either guest,
#          user_allocated back; device_add brings the ivshmem back, empty;
#   fi     fi-rma-p2p: libfabric's verbs provider, FI_EP_MSG, the client
#          writes its P2P buffer into the server's with fi_write(), the
#          server checks it (after "fault": on the re-added provider).
# PHASES (default "mpi fault fi") picks some of them, in this order.
# The client waits until the server releases it, then checks its own kernel
# log and P2P accounting.  Each guest's exit status is its verdict.
. "$(dirname "$0")/lib.sh"

role=${1:-}
keys=${2:-}
phases=" ${3:-mpi fault fi} "
case "$role" in server | client) ;; *) keys= ;; esac
[ -n "$keys" ] || fail "usage: mpi-two-hosts.sh server|client KEYDIR"
logs=/tmp/mpi-two-hosts
mkdir -p "$logs"
save() { cp "$1" "$P2PV_RESULTS/" 2>/dev/null || true; }

rc_functions
peer_link "$role"
peer_sshd "$keys"
pass "$role: $(hostname) $my_addr on $nic, rxe0 active, sshd up"

# user_allocated PROVIDER: bytes userspace holds from PROVIDER
user_allocated() { cat "/sys/class/p2pmem/$1/user_allocated"; }
# accounting_back: every provider's userspace allocations are back in the pool
accounting_back() {
	local p
	for p in $nvme $ivshmem; do
		[ "$(user_allocated "$p")" = 0 ] || return 1
	done
}

if [ "$role" = client ]; then
	# the server has our ivshmem unplugged and plugged again during the
	# fault job; afterwards it is back (maybe at another address)
	peer_wait_released 1100 || fail "client: the server never released this guest"
	splats=$(splat_count)
	[ "$splats" = 0 ] || { dmesg; fail "client: $splats kernel warnings"; }
	ivshmem=$(pci_devs 1af4:1110)
	[ -n "$ivshmem" ] || fail "client: the ivshmem function is gone (removed, never re-added)"
	wait_for 10 accounting_back ||
		fail "client: user_allocated nvme $(user_allocated "$nvme"), ivshmem $(user_allocated "$ivshmem")"
	pass "client: no kernel warnings; user_allocated back to 0 on $nvme and $ivshmem"
	exit 0
fi

# --- the server: a user on the head node ------------------------------------
on_client() { ssh p2pv-client "$@"; }
# whatever happens here, the client then checks itself and ends
trap 'peer_release || true' EXIT
wait_for 300 on_client true || fail "server: cannot ssh to p2pv-client"
pass "server: ssh p2pv-client works (key authentication, host key checked)"
on_client test -c "/dev/p2pmem/$ivshmem" ||
	fail "server: p2pv-client has no /dev/p2pmem/$ivshmem (topologies differ?)"

mpi_prog=$(find_prog mpi-p2p)

# run_job NAME ALLOCS: the healthy job, a round of checks per allocator
# (mpi-p2p --alloc); both ranks must pass every check of every round
run_job() {
	local log=$logs/$1.log start=$(date +%s) alloc what
	timeout 600 "${mpirun_ucx[@]}" "$mpi_prog" --provider "$ivshmem" --ibdev rxe0 --alloc "$2" \
		>"$log" 2>&1 || { cat "$log"; save "$log"; fail "server: mpirun ($1) failed"; }
	save "$log"
	cat "$log"
	for alloc in ${2//,/ }; do
		what="mmap of the node"
		[ "$alloc" = mmap ] || what=p2pv_buf_alloc
		[ "$(grep -c "^ok: rank [01]: every check passed ($what)\$" "$log")" = 2 ] ||
			fail "server: $1: not both ranks passed the round on $what"
	done
	[ "$(grep -c '^ok: rank [01]: every check passed$' "$log")" = 2 ] ||
		fail "server: $1: not both ranks passed"
	grep -q '^ok: rank 1 on p2pv-client ' "$log" || fail "server: $1: rank 1 not on p2pv-client"
	pass "server: $1: mpirun across both guests, every check on both ranks ($2), $(($(date +%s) - start)) s"
}

want() { [[ "$phases" == *" $1 "* ]]; }

if want mpi; then
	run_job mpi mmap,p2pverbs
	wait_for 10 accounting_back || fail "server: user_allocated not back to 0 after the jobs"
	pass "server: user_allocated back to 0 after the jobs"
fi

# --- the fault: the provider under rank 1's window removed during the job
if want fault; then
	# the QEMU bus of the ivshmem (run-vm.sh place_devices): a root port or
	# a switch port, which can take a device_add; pcie.0 cannot
	case "$P2PV_TOPOLOGY" in
	rootports) ivshmem_bus=rp1 ;;
	switch) ivshmem_bus=dn1 ;;
	*) fail "server: the fault needs a hot-pluggable topology (rootports, switch), not $P2PV_TOPOLOGY" ;;
	esac
	client_results=${P2PV_RESULTS%-server}-client
	# client_monitor COMMAND: the answer of the client's QEMU monitor
	client_monitor() {
		on_client "rm -f $client_results/monitor-reply; echo '$1' >$client_results/monitor-request;
			for i in \$(seq 300); do [ -e $client_results/monitor-reply ] && exec cat $client_results/monitor-reply; sleep 0.2; done; exit 1"
	}
	log=$logs/mpi-fault.log
	start=$(date +%s)
	timeout 600 "${mpirun_ucx[@]}" "$mpi_prog" --provider "$ivshmem" --ibdev rxe0 --fault 240 \
		>"$log" 2>&1 &
	job=$!
	# rank 1's "ready:" line, forwarded by mpirun
	wait_for 300 grep -q '^ready: rank 1 ' "$log" || { cat "$log"; fail "server: the fault job never got ready"; }
	held=$(on_client cat "/sys/class/p2pmem/$ivshmem/user_allocated")
	# unplugged from outside, as an operator pulls a device: QEMU's
	# device_del (the client asks its QEMU's monitor through the relay of
	# two-hosts.sh); the guest's pciehp removes it after the attention
	# button's 5 s
	reply=$(client_monitor "device_del p2pv-ivshmem") ||
		fail "server: device_del p2pv-ivshmem on p2pv-client: no answer"
	grep -qi error <<<"$reply" && fail "server: device_del p2pv-ivshmem: $reply"
	on_client "for i in \$(seq 300); do [ -e /dev/p2pmem/$ivshmem ] || exit 0; sleep 0.2; done; exit 1" ||
		fail "server: $ivshmem still there on p2pv-client 60 s after device_del"
	removed=$(($(date +%s) - start))
	rc=0
	wait "$job" || rc=$?
	save "$log"
	cat "$log"
	[ "$rc" != 0 ] || fail "server: the fault job succeeded after its window's provider was removed"
	[ "$rc" != 124 ] || fail "server: the fault job hung after its window's provider was removed"
	# UCX (error handling mode "none", as pml/osc ucx run it) treats the
	# error completion as fatal and aborts rank 0, naming the completion
	# status; had it returned the error, rank 0 would print it ("fault:")
	grep -E 'completion with error: remote access error|^fault: rank 0: epoch [0-9]+ .* failed' "$log" ||
		fail "server: the job ended ($rc) without an error naming the remote access failure"
	pass "server: fault job: $ivshmem (holding $held bytes) removed on p2pv-client after $removed s, job ended with status $rc and the error above"

	# the client: no kernel warnings, its ivshmem comes back empty and works
	on_client "dmesg" >"$logs/client-dmesg.log"
	save "$logs/client-dmesg.log"
	grep -E 'BUG:|WARNING:|Oops|KASAN|possible circular locking|suspicious RCU' "$logs/client-dmesg.log" &&
		fail "server: kernel warnings on p2pv-client after the removal"
	grep -iE 'withheld|never unmap' "$logs/client-dmesg.log" &&
		fail "server: p2pv-client withheld memory of a revoked buffer"
	# plugged in again, on memory of its own: QEMU 7.2 aborts when a
	# device_add reuses the memory backend of an unplugged ivshmem
	# (qemu_ram_set_idstr assertion)
	# (the size of the BAR: as this guest's own ivshmem, resource2)
	bar_mb=$(($(stat -c %s "/sys/bus/pci/devices/$ivshmem/resource2") >> 20))
	for cmd in "object_add memory-backend-ram,id=ivshmem-replug,size=${bar_mb}M,share=on" \
		"device_add ivshmem-plain,id=p2pv-ivshmem,memdev=ivshmem-replug,bus=$ivshmem_bus"; do
		reply=$(client_monitor "$cmd") || fail "server: $cmd on p2pv-client: no answer"
		grep -qi error <<<"$reply" && fail "server: $cmd on p2pv-client: $reply"
	done
	on_client "for i in \$(seq 300); do [ -c /dev/p2pmem/$ivshmem ] && exit 0; sleep 0.2; done; exit 1" ||
		fail "server: $ivshmem did not come back on p2pv-client after device_add"
	[ "$(on_client cat "/sys/class/p2pmem/$ivshmem/user_allocated")" = 0 ] ||
		fail "server: the re-added $ivshmem on p2pv-client has memory allocated"
	splats=$(splat_count)
	[ "$splats" = 0 ] || { dmesg; fail "server: $splats kernel warnings on this guest"; }
	wait_for 10 accounting_back || fail "server: user_allocated not back to 0 after the fault job"
	pass "server: after the fault: no kernel warnings on either guest, user_allocated 0 here, $ivshmem back on p2pv-client and empty"
	# the libfabric check below then runs on the re-added provider
fi

# --- libfabric: verbs provider, FI_EP_MSG, fi_write into the server's P2P buffer
if want "fi"; then
	fi_prog=$(find_prog fi-rma-p2p)
	fi_port=7472
	# Debian's libfabric; its verbs provider only looks at network
	# interfaces named by FI_VERBS_IFACE (default "ib"): rxe0's is $nic,
	# named alike on both guests
	on_client test -e "/sys/class/net/$nic" || fail "server: p2pv-client has no $nic"
	fi_env=(env -u LD_LIBRARY_PATH FI_VERBS_IFACE="$nic" FI_LOG_LEVEL=warn)
	log=$logs/fi-server.log
	"${fi_env[@]}" timeout 300 "$fi_prog" server "$server_addr" "$fi_port" "$ivshmem" rxe0 \
		>"$log" 2>&1 &
	fi_server=$!
	clog=$logs/fi-client.log
	deadline=$(($(date +%s) + 120)) try=1
	until on_client "${fi_env[@]}" timeout 120 "$fi_prog" client "$server_addr" "$fi_port" "$ivshmem" rxe0 >"$clog" 2>&1; do
		rc=$?
		{ [ "$rc" = 3 ] && [ "$(date +%s)" -lt "$deadline" ]; } ||
			{ cat "$clog" "$log"; save "$clog"; fail "server: fi-rma-p2p client on p2pv-client failed ($rc)"; }
		try=$((try + 1))
		sleep 2
	done
	wait "$fi_server" || { cat "$log" "$clog"; save "$log"; fail "server: fi-rma-p2p server failed"; }
	save "$log"
	save "$clog"
	cat "$clog" "$log"
	grep -q '^verified .* by fi_write into P2P memory' "$log" || fail "server: fi-rma-p2p did not verify"
	pass "server: libfabric verbs fi_write from the client's P2P buffer into ours (client try $try)"
fi

exit 0
