#!/bin/bash
# One of two guests linked by run-vm.sh --peer-net (see tests/vm/two-hosts.sh):
#   two-hosts.sh server|client [KEYDIR]
# Brings up the link (guest/lib.sh peer_link: the virtio-net NIC with an IPv6
# unique-local address, fd70:3270:7665::1 server, ::2 client, rxe0 on it), then
# over rdma_cm: ib_write_bw -R --use_p2p (P2P memory at both ends), then
# p2pv_rdma_cm (the client writes into the server's P2P buffer, the server
# checks the bytes).  The server waits for each client with a bounded timeout;
# the client retries each connection until the server listens (bounded too).
# Exit status: this role's success.
. "$(dirname "$0")/lib.sh"

role=${1:-}
[ "$role" = server ] || [ "$role" = client ] || fail "usage: two-hosts.sh server|client"

bw_port=18515
cm_port=7471
logs=/tmp/two-hosts
mkdir -p "$logs"

# save LOG: a copy in the results directory for the host
save() { cp "$1" "$P2PV_RESULTS/" 2>/dev/null || true; }

peer_link "$role"
pass "$role: $nic ($(cat "/sys/class/net/$nic/address")) $my_addr, rxe0 active"

# check_p2p_header LOG: perftest's header names a P2P provider and the buffer
# went through ibv_reg_dmabuf_mr (as in perftest-p2p.sh)
check_p2p_header() {
	grep -q 'Calling ibv_reg_dmabuf_mr' "$1" || { cat "$1"; fail "$role: buffer not registered as dma-buf"; }
	grep -Eq '^ P2P provider +: [0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] ' "$1" ||
		{ cat "$1"; fail "$role: no P2P provider in the header"; }
}

# client_retry SECONDS LOG CMD...: run CMD (each try bounded to 120 s) until
# it succeeds, for at most SECONDS: the server may not listen yet.
client_retry() {
	local deadline=$(($(date +%s) + $1)) log=$2 try=1
	shift 2
	until timeout 120 "$@" >"$log" 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] ||
			{ cat "$log"; save "$log"; fail "$role: $1 failed (last of $try tries)"; }
		try=$((try + 1))
		sleep 2
	done
	echo "  $1: succeeded on try $try"
}

bw_args=(-R --ipv6-addr -d rxe0 -p "$bw_port" --use_p2p -F -s 65536 -n 200)
log=$logs/write-bw-$role.log
if [ "$role" = server ]; then
	timeout 420 ib_write_bw "${bw_args[@]}" >"$log" 2>&1 ||
		{ cat "$log"; save "$log"; fail "server: ib_write_bw -R failed (or no client within 420 s)"; }
else
	client_retry 300 "$log" ib_write_bw "${bw_args[@]}" "$server_addr"
fi
save "$log"
check_p2p_header "$log"
grep -E '^ (P2P|Device)' "$log"
avg=$(awk '$1 == 65536 && NF >= 5 { print $4 }' "$log")
if [ "$role" = client ]; then
	[ -n "$avg" ] || { cat "$log"; fail "client: ib_write_bw printed no result row"; }
	awk -v a="$avg" 'BEGIN { exit !(a > 0) }' || fail "client: ib_write_bw average bandwidth is $avg"
fi
pass "$role: ib_write_bw -R --use_p2p 64 KiB over $nic: ${avg:-(no row on this side)} MiB/s average"

ex=$P2PV_BUILD/libp2pverbs/p2pv_rdma_cm
[ -x "$ex" ] || fail "$ex not built"
log=$logs/rdma-cm-$role.log
if [ "$role" = server ]; then
	timeout 300 "$ex" -p "$cm_port" -b "$server_addr" >"$log" 2>&1 ||
		{ cat "$log"; save "$log"; fail "server: p2pv_rdma_cm failed (or no client within 300 s)"; }
	grep -q '^verified .* into P2P memory of ' "$log" || { cat "$log"; fail "server: no verification line"; }
else
	client_retry 240 "$log" "$ex" -p "$cm_port" "$server_addr"
	grep -q '^wrote .* from P2P memory' "$log" || { cat "$log"; fail "client: source not in P2P memory"; }
fi
save "$log"
cat "$log"
pass "$role: p2pv_rdma_cm"
