#!/bin/bash
# perftest with P2P memory (--use_p2p, tests/vm/perftest-patches): malformed
# and unknown providers are refused with a clear message and a non-zero exit;
# ib_write_bw runs on a P2P buffer between rxe0 and rxe1 (auto and named
# provider, with and without rdma_cm) and so does every other ib_*_bw /
# ib_*_lat test: both sides' headers name the P2P provider and its mapping,
# and the client prints a result row.  The kernel of this project always
# exports P2P memory: no /dev/p2pmem node is a failure, not another path.
. "$(dirname "$0")/lib.sh"

logs=/tmp/perftest-p2p
mkdir -p "$logs"
rc_functions	# waits for both providers' /dev/p2pmem nodes, fails without them

rxe_pair

help=$(ib_write_bw --help 2>&1 || true)
grep -q -- '--use_p2p' <<<"$help" || fail "ib_write_bw has no --use_p2p: perftest built without libp2pverbs"
pass "perftest built with P2P support"

# expect_refusal NAME PATTERN CMD...: CMD must exit non-zero (not time out)
# and print PATTERN.
expect_refusal() {
	local name=$1 pattern=$2 rc=0
	shift 2
	timeout 120 "$@" >"$logs/$name.log" 2>&1 || rc=$?
	[ "$rc" != 0 ] || { cat "$logs/$name.log"; fail "$name: exited 0"; }
	[ "$rc" != 124 ] || { cat "$logs/$name.log"; fail "$name: hung (timeout)"; }
	grep -q -- "$pattern" "$logs/$name.log" ||
		{ cat "$logs/$name.log"; fail "$name: no \"$pattern\" in the output"; }
	echo "  $name (exit $rc): $(grep -m1 -- "$pattern" "$logs/$name.log")"
}

# Bad provider addresses: refused before any connection is attempted (no
# peer is running), whatever the kernel supports.
expect_refusal malformed 'Invalid P2P provider' \
	ib_write_bw -d rxe0 -x 0 --use_p2p=not-a-pci-address
expect_refusal absent 'P2P not possible: 0000:7f:1f.7 is not a P2PDMA provider' \
	ib_write_bw -d rxe0 -x 0 --use_p2p=0000:7f:1f.7
expect_refusal not-provider "P2P not possible: $edu is not a P2PDMA provider" \
	ib_write_bw -d rxe0 -x 0 --use_p2p="$edu"
expect_refusal with-mmap "Can't use multiple memory types" \
	ib_write_bw -d rxe0 -x 0 --use_p2p --mmap=/tmp/x
pass "bad P2P providers are refused with a clear message and a non-zero exit"

tests_bw="ib_write_bw ib_read_bw ib_send_bw ib_atomic_bw"
tests_lat="ib_write_lat ib_read_lat ib_send_lat ib_atomic_lat"

echo "/dev/p2pmem: $(ls /dev/p2pmem | tr '\n' ' ')"

# run_pair NAME TEST SERVER-ARGS -- CLIENT-ARGS: TEST as server on rxe0 and as
# client on rxe1 (TCP exchange on 127.0.0.1, GID index 0); both must exit 0.
run_pair() {
	local name=$1 t=$2 sargs=() cargs=() server port=$((18515 + RANDOM % 1000))
	shift 2
	while [ "$1" != -- ]; do sargs+=("$1"); shift; done
	shift
	cargs=("$@")
	timeout 300 "$t" -d rxe0 -x 0 -p "$port" "${sargs[@]}" >"$logs/$name-server.log" 2>&1 &
	server=$!
	wait_for 60 listening "$port" ||
		{ cat "$logs/$name-server.log"; fail "$name: server did not listen"; }
	timeout 300 "$t" -d rxe1 -x 0 -p "$port" "${cargs[@]}" 127.0.0.1 >"$logs/$name-client.log" 2>&1 ||
		{ cat "$logs/$name-client.log" "$logs/$name-server.log"; kill "$server" 2>/dev/null; fail "$name: client failed"; }
	wait "$server" || { cat "$logs/$name-server.log"; fail "$name: server failed"; }
}

# check_p2p_header NAME LOG [PROVIDER]: the header names the provider (the
# given one if any), its path class and mapping mode, and the buffer went
# through ibv_reg_dmabuf_mr.
check_p2p_header() {
	local name=$1 log=$2 want=${3:-} bdf='[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]'
	[ -z "$want" ] || bdf=${want//./\\.}
	grep -q 'Calling ibv_reg_dmabuf_mr' "$log" || { cat "$log"; fail "$name: buffer not registered as dma-buf"; }
	grep -Eq "^ P2P provider +: $bdf " "$log" ||
		{ cat "$log"; fail "$name: no (or wrong) P2P provider in the header"; }
	grep -Eq '^ P2P path class +: (DEV|PIX|PXB|PHB|SYS|CPU)[[:space:]]+P2P map mode +: (bus-addr|host-bridge|cpu) ' "$log" ||
		{ cat "$log"; fail "$name: no P2P path class / map mode in the header"; }
}

# the average bandwidth (MB/s) of a bw result row for SIZE
bw_avg() { awk -v s="$2" '$1 == s && NF >= 5 { print $4 }' "$1"; }

# check_result_row NAME LOG: LOG has a perftest result row, "#bytes
# #iterations" and at least three figures after them, one of them above
# zero (a bandwidth or a latency).  A statistic of too few samples may be
# "-nan" (t_stdev under a loaded emulator); the other figures must be there.
check_result_row() {
	awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && NF >= 5 {
		n = 0; pos = 0
		for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+(\.[0-9]+)?$/) { n++; if ($i + 0 > 0) pos = 1 }
		if (n >= 3 && pos) { found = 1; exit }
	} END { exit !found }' "$2" || { cat "$2"; fail "$1: no result row"; }
}

# ib_write_bw, auto on the server, the NVMe CMB by name on the client
run_pair write-bw ib_write_bw --use_p2p=auto -F -s 65536 -n 200 -- --use_p2p="$nvme" -F -s 65536 -n 200
check_p2p_header write-bw-server "$logs/write-bw-server.log"
check_p2p_header write-bw-client "$logs/write-bw-client.log" "$nvme"
grep -E '^ (P2P|Device)' "$logs/write-bw-server.log" "$logs/write-bw-client.log"
avg=$(bw_avg "$logs/write-bw-client.log" 65536)
[ -n "$avg" ] || { cat "$logs/write-bw-client.log"; fail "ib_write_bw printed no result row"; }
awk -v a="$avg" 'BEGIN { exit !(a > 0) }' || fail "ib_write_bw average bandwidth is $avg"
pass "ib_write_bw --use_p2p (auto / $nvme) 64 KiB: $avg MB/s"

# The same over rdma_cm (-R): IPv4 addresses on the veth pair.
ip addr add 192.168.77.1/24 dev veth0
ip addr add 192.168.77.2/24 dev veth1
port=$((19515 + RANDOM % 1000))
timeout 300 ib_write_bw -R -d rxe0 -p "$port" --use_p2p -F -s 65536 -n 200 >"$logs/write-bw-cm-server.log" 2>&1 &
server=$!
wait_for 60 cm_listening || { cat "$logs/write-bw-cm-server.log"; fail "ib_write_bw -R server did not listen"; }
timeout 300 ib_write_bw -R -d rxe1 -p "$port" --use_p2p -F -s 65536 -n 200 192.168.77.1 >"$logs/write-bw-cm-client.log" 2>&1 ||
	{ cat "$logs/write-bw-cm-client.log" "$logs/write-bw-cm-server.log"; kill "$server" 2>/dev/null; fail "ib_write_bw -R client failed"; }
wait "$server" || { cat "$logs/write-bw-cm-server.log"; fail "ib_write_bw -R server failed"; }
check_p2p_header write-bw-cm-server "$logs/write-bw-cm-server.log"
check_p2p_header write-bw-cm-client "$logs/write-bw-cm-client.log"
avg=$(bw_avg "$logs/write-bw-cm-client.log" 65536)
[ -n "$avg" ] || { cat "$logs/write-bw-cm-client.log"; fail "ib_write_bw -R printed no result row"; }
pass "ib_write_bw -R --use_p2p 64 KiB: $avg MB/s"

# Every other bandwidth and latency test on P2P memory.
for t in $tests_bw $tests_lat; do
	[ "$t" != ib_write_bw ] || continue
	run_pair "$t" "$t" --use_p2p -n 100 -- --use_p2p -n 100
	check_p2p_header "$t-server" "$logs/$t-server.log"
	check_p2p_header "$t-client" "$logs/$t-client.log"
	check_result_row "$t" "$logs/$t-client.log"
	pass "$t --use_p2p: $(awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && NF >= 5' "$logs/$t-client.log" | head -n 1 | tr -s ' ')"
done
pass "every ib_*_bw / ib_*_lat test ran on P2P memory"
