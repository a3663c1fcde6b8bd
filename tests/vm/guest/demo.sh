#!/bin/bash
# In-guest part of tests/demo.sh: ib_write_bw from rxe1 to rxe0 over a veth
# pair, 64 KiB messages, host memory on both ends.  perftest's report goes to
# the console and to $P2PV_RESULTS/ib_write_bw.txt.
. "$(dirname "$0")/lib.sh"

rxe_pair
ib_write_bw -d rxe0 -x 0 -F -s 65536 -n 1000 >/tmp/server.log 2>&1 &
server=$!
sleep 1
ib_write_bw -d rxe1 -x 0 -F -s 65536 -n 1000 127.0.0.1 | tee "$P2PV_RESULTS/ib_write_bw.txt"
wait "$server"
