#!/bin/bash
# In-guest part of tests/demo.sh: ib_write_bw from rxe1 to rxe0 over a veth
# pair, 64 KiB messages, first on host memory, then on P2P memory
# (--use_p2p=auto: the provider nearest each rxe device, registered through
# dma-buf).  Both reports go to the console and to $P2PV_RESULTS.
. "$(dirname "$0")/lib.sh"

rxe_pair

# run NAME [ib_write_bw options]: server on rxe0, client on rxe1
run() {
	local name=$1 server
	shift
	ib_write_bw -d rxe0 -x 0 -F -s 65536 -n 1000 "$@" >"/tmp/$name-server.log" 2>&1 &
	server=$!
	wait_for 60 listening 18515 || { cat "/tmp/$name-server.log"; fail "ib_write_bw server ($name) did not listen"; }
	ib_write_bw -d rxe1 -x 0 -F -s 65536 -n 1000 "$@" 127.0.0.1 >"$P2PV_RESULTS/$name.txt" 2>&1 ||
		{ cat "$P2PV_RESULTS/$name.txt" "/tmp/$name-server.log"; fail "ib_write_bw ($name)"; }
	wait "$server" || { cat "/tmp/$name-server.log"; fail "ib_write_bw server ($name)"; }
}

run host
run p2p --use_p2p=auto
