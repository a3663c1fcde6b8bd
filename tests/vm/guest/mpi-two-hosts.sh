#!/bin/bash
# One of two guests of tests/vm/two-hosts.sh running Debian's Open MPI over
# UCX, and libfabric's verbs provider, with P2P memory at both ends (issue 18):
#   mpi-two-hosts.sh server|client KEYDIR
# Both guests bring up the link (peer_link) and an ssh server with the run's
# keys (peer_sshd).  The server drives everything from there, as a user on a
# cluster's head node would, over ssh:
#   1. mpirun, one rank per guest, of tests/vm/progs/mpi-p2p with buffers from
#      an mmap of /dev/p2pmem/<ivshmem> (RMA with fences and locks, P2P->P2P
#      rendezvous messages, MPI_Allreduce; each buffer that must have been
#      registered has a live rxe0 attachment of its dma-buf), then the same
#      with buffers from p2pv_buf_alloc() of libp2pverbs;
#   2. fi-rma-p2p: libfabric's verbs provider, FI_EP_MSG, the client writes
#      into the server's P2P buffer with fi_write(), the server checks it;
#   3. the fault: a job whose rank 1 window is in ivshmem memory of the
#      client; once it runs, the client removes the ivshmem function; the job
#      must end with the UCX/MPI error naming it, the client's pool and
#      user_allocated back, the client rescans and the healthy job runs again.
# The client waits until the server says it is done, then checks its own
# kernel log and P2P accounting.  Each guest's exit status is its verdict.
. "$(dirname "$0")/lib.sh"

role=${1:-}
keys=${2:-}
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
	# the server removes and re-adds our ivshmem function during the
	# fault job; afterwards it is back (maybe at another address)
	peer_wait_released 1100 || fail "client: the server never released this guest"
	splats=$(splat_count)
	[ "$splats" = 0 ] || { dmesg; fail "client: $splats kernel warnings"; }
	ivshmem=$(pci_devs 1af4:1110)
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

# run_job NAME ALLOC: the healthy job; both ranks must pass every check
run_job() {
	local log=$logs/$1.log start=$(date +%s)
	timeout 600 "${mpirun_ucx[@]}" "$mpi_prog" --provider "$ivshmem" --ibdev rxe0 --alloc "$2" \
		>"$log" 2>&1 || { cat "$log"; save "$log"; fail "server: mpirun ($1) failed"; }
	save "$log"
	cat "$log"
	[ "$(grep -c '^ok: rank [01]: every check passed' "$log")" = 2 ] ||
		fail "server: $1: not both ranks passed"
	grep -q '^ok: rank 1 on p2pv-client ' "$log" || fail "server: $1: rank 1 not on p2pv-client"
	pass "server: $1: mpirun across both guests, every check on both ranks, $(($(date +%s) - start)) s"
}

run_job mpi-mmap mmap
run_job mpi-p2pverbs p2pverbs
wait_for 10 accounting_back || fail "server: user_allocated not back to 0 after the jobs"
pass "server: user_allocated back to 0 after the jobs"

# --- libfabric: verbs provider, FI_EP_MSG, fi_write into the server's P2P buffer
fi_prog=$(find_prog fi-rma-p2p)
fi_port=7472
log=$logs/fi-server.log
env -u LD_LIBRARY_PATH timeout 300 "$fi_prog" server "$server_addr" "$fi_port" "$ivshmem" rxe0 \
	>"$log" 2>&1 &
fi_server=$!
clog=$logs/fi-client.log
deadline=$(($(date +%s) + 120)) try=1
until on_client timeout 120 "$fi_prog" client "$server_addr" "$fi_port" "$ivshmem" rxe0 >"$clog" 2>&1; do
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

# --- the fault: the provider under rank 1's window removed during the job
ready=/run/p2pv-mpi-fault-ready
log=$logs/mpi-fault.log
on_client rm -f "$ready"
start=$(date +%s)
timeout 600 "${mpirun_ucx[@]}" "$mpi_prog" --provider "$ivshmem" --ibdev rxe0 --fault "$ready" \
	>"$log" 2>&1 &
job=$!
wait_for 300 on_client test -e "$ready" || { cat "$log"; fail "server: the fault job never got ready"; }
held=$(on_client cat "/sys/class/p2pmem/$ivshmem/user_allocated")
on_client "echo 1 >/sys/bus/pci/devices/$ivshmem/remove" || fail "server: removing $ivshmem on p2pv-client failed"
removed=$(($(date +%s) - start))
rc=0
wait "$job" || rc=$?
save "$log"
cat "$log"
[ "$rc" != 0 ] || fail "server: the fault job succeeded after its window's provider was removed"
[ "$rc" != 124 ] || fail "server: the fault job hung after its window's provider was removed"
grep -E '^fault: rank 0: epoch [0-9]+ into rank 1.s window failed: ' "$log" ||
	fail "server: the job ended ($rc) without rank 0 reporting the failed epoch"
grep -iE 'remote access error|access error' "$log" ||
	fail "server: no error naming the remote access failure in the job's output"
pass "server: fault job: $ivshmem (holding $held bytes) removed on p2pv-client after $removed s, job ended with status $rc and the error above"

# the client: no kernel warnings, its ivshmem comes back empty and works
on_client "dmesg" >"$logs/client-dmesg.log"
save "$logs/client-dmesg.log"
grep -E 'BUG:|WARNING:|Oops|KASAN|possible circular locking|suspicious RCU' "$logs/client-dmesg.log" &&
	fail "server: kernel warnings on p2pv-client after the removal"
grep -iE 'withheld|never unmap' "$logs/client-dmesg.log" &&
	fail "server: p2pv-client withheld memory of a revoked buffer"
on_client "echo 1 >/sys/bus/pci/rescan"
wait_for 60 on_client test -c "/dev/p2pmem/$ivshmem" ||
	fail "server: $ivshmem did not come back on p2pv-client after a rescan"
[ "$(on_client cat "/sys/class/p2pmem/$ivshmem/user_allocated")" = 0 ] ||
	fail "server: the re-added $ivshmem on p2pv-client has memory allocated"
splats=$(splat_count)
[ "$splats" = 0 ] || { dmesg; fail "server: $splats kernel warnings on this guest"; }
wait_for 10 accounting_back || fail "server: user_allocated not back to 0 after the fault job"
pass "server: after the fault: no kernel warnings on either guest, user_allocated 0 here, $ivshmem back on p2pv-client and empty"
run_job mpi-after-fault mmap

exit 0
