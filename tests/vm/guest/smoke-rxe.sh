#!/bin/bash
# Smoke test: soft-RoCE over a veth pair carries real RDMA traffic with host
# memory — ibv_devinfo, ibv_rc_pingpong and ib_write_bw between rxe0 and rxe1.
. "$(dirname "$0")/lib.sh"

rxe_pair
out=$(ibv_devinfo -d rxe0)
grep -q 'transport:.*InfiniBand' <<<"$out" || fail "ibv_devinfo: unexpected transport: $out"
grep -q 'link_layer:.*Ethernet' <<<"$out" || fail "ibv_devinfo: rxe0 is not RoCE: $out"
pass "ibv_devinfo shows rxe0 active on Ethernet"

# ibv_rc_pingpong: a server on rxe0, a client on rxe1; both must report the
# transfer and exit 0.
ibv_rc_pingpong -d rxe0 -g 0 -n 100 >/tmp/pp-server.log 2>&1 &
server=$!
wait_for 60 listening 18515 || { cat /tmp/pp-server.log; fail "ibv_rc_pingpong server did not listen"; }
ibv_rc_pingpong -d rxe1 -g 0 -n 100 127.0.0.1 >/tmp/pp-client.log 2>&1 ||
	{ cat /tmp/pp-client.log /tmp/pp-server.log; fail "ibv_rc_pingpong client"; }
wait "$server" || { cat /tmp/pp-server.log; fail "ibv_rc_pingpong server"; }
grep -Eq '[0-9]+ bytes in [0-9.]+ seconds' /tmp/pp-client.log ||
	fail "ibv_rc_pingpong printed no transfer: $(cat /tmp/pp-client.log)"
pass "ibv_rc_pingpong: $(grep -E 'bytes in' /tmp/pp-client.log)"

# ib_write_bw on host memory, 64 KiB messages.
ib_write_bw -d rxe0 -x 0 -F -s 65536 -n 200 >/tmp/bw-server.log 2>&1 &
server=$!
wait_for 60 listening 18515 || { cat /tmp/bw-server.log; fail "ib_write_bw server did not listen"; }
ib_write_bw -d rxe1 -x 0 -F -s 65536 -n 200 127.0.0.1 >/tmp/bw-client.log 2>&1 ||
	{ cat /tmp/bw-client.log /tmp/bw-server.log; fail "ib_write_bw client"; }
wait "$server" || { cat /tmp/bw-server.log; fail "ib_write_bw server"; }
cat /tmp/bw-client.log
# The result row: bytes, iterations, BW peak, BW average (MB/sec), MsgRate.
avg=$(awk '$1 == 65536 && NF >= 5 { print $4 }' /tmp/bw-client.log)
[ -n "$avg" ] || fail "ib_write_bw printed no result row"
awk -v a="$avg" 'BEGIN { exit !(a > 0) }' || fail "ib_write_bw average bandwidth is $avg"
pass "ib_write_bw host memory 64 KiB: $avg MiB/s"
