#!/bin/bash
# In-guest part of bench/mpi-two-hosts.sh, in both guests of
# tests/vm/two-hosts.sh:
#   mpi-guest.sh server|client KEYDIR MPI-BW SIZES BYTES REPEAT
# Both bring up the link and sshd; the server runs MPI-BW (bench/mpi-bw.c)
# with mpirun_ucx (the settings of vm.mpi.two-hosts), one rank per guest,
# buffers on each guest's ivshmem, and leaves its output in mpi-bw.log of
# its results directory.
. "$(dirname "$0")/../tests/vm/guest/lib.sh"

role=$1 keys=$2 prog=$3 sizes=$4 bytes=$5 repeat=$6
rc_functions
peer_link "$role"
peer_sshd "$keys"
if [ "$role" = client ]; then
	peer_wait_released 1700 || fail "client: never released"
	exit 0
fi
trap 'peer_release || true' EXIT
wait_for 300 ssh p2pv-client true || fail "server: cannot ssh to p2pv-client"
log=$P2PV_RESULTS/mpi-bw.log
timeout 1500 "${mpirun_ucx[@]}" "$prog" --provider "$ivshmem" --sizes "$sizes" --bytes "$bytes" \
	--repeat "$repeat" >"$log" 2>&1 || { cat "$log"; fail "server: mpi-bw failed"; }
cat "$log"
