#!/bin/bash
# Unmodified perftest 25.01 on P2P memory (issue 13): the stock build of
# build-userspace.sh (<prefix>/perftest-stock: the orig tarball, no patch, no
# --enable-p2p, no libp2pverbs, no LD_PRELOAD) runs
#   ib_write_bw --mmap=/dev/p2pmem/<bdf>
# with the server on rxe0 and the client on rxe1 (RDMA over the veth pair,
# perftest's TCP exchange on 127.0.0.1), for the NVMe CMB and for ivshmem.
# perftest maps the provider node, which allocates P2P memory, and registers
# the pointer with plain ibv_reg_mr().  Checked: the client reports a
# bandwidth; while the pair runs, the provider's available bytes go down by
# both buffers (perftest prints their sizes); afterwards they are back.
. "$(dirname "$0")/lib.sh"

stock=$P2PV_PREFIX/perftest-stock/bin
bw=$stock/ib_write_bw
[ -x "$bw" ] || fail "no stock perftest in $stock (tests/vm/build-userspace.sh builds it)"
unset LD_PRELOAD
logs=/tmp/perftest-stock
mkdir -p "$logs"

# It is stock: no P2P option, not linked against libp2pverbs.
help=$("$bw" --help 2>&1 || true)
grep -q -- '--use_p2p' <<<"$help" && fail "$bw has --use_p2p: not the stock build"
grep -q -- '--mmap=' <<<"$help" || fail "$bw has no --mmap"
needed=$(readelf -d "$bw" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
grep -q p2pverbs <<<"$needed" && fail "$bw is linked against libp2pverbs: $needed"
pass "stock ib_write_bw: no --use_p2p, needs only $needed"

rc_functions
rxe_pair

listening() { ss -Hltn "sport = :$1" | grep -q .; }
available() { cat "/sys/bus/pci/devices/$1/p2pmem/available"; }
# the average bandwidth (MB/s) of the result row for SIZE
bw_avg() { awk -v s="$2" '$1 == s && NF >= 5 { print $4 }' "$1"; }
# the size of the buffer perftest mapped ("allocated mmap buffer of size N")
mmap_size() { sed -n 's/^allocated mmap buffer of size \([0-9]*\) .*/\1/p' "$1" | head -n 1; }

size=65536 iters=3000
for prov in $nvme $ivshmem; do
	node=/dev/p2pmem/$prov
	start=$(available "$prov")
	samples=$logs/$prov-available
	: >"$samples"
	# sample available while the pair runs
	(while :; do available "$prov" >>"$samples"; sleep 0.05; done) &
	sampler=$!
	port=$((18515 + RANDOM % 1000))
	timeout 300 "$bw" -d rxe0 -x 0 -p "$port" --mmap="$node" -F -s "$size" -n "$iters" \
		>"$logs/$prov-server.log" 2>&1 &
	server=$!
	wait_for 60 listening "$port" ||
		{ kill "$sampler"; cat "$logs/$prov-server.log"; fail "$prov: server did not listen"; }
	if ! timeout 300 "$bw" -d rxe1 -x 0 -p "$port" --mmap="$node" -F -s "$size" -n "$iters" 127.0.0.1 \
		>"$logs/$prov-client.log" 2>&1; then
		kill "$sampler" "$server" 2>/dev/null || true
		cat "$logs/$prov-client.log" "$logs/$prov-server.log"
		fail "$prov: ib_write_bw --mmap=$node client failed"
	fi
	wait "$server" || { kill "$sampler"; cat "$logs/$prov-server.log"; fail "$prov: ib_write_bw --mmap=$node server failed"; }
	kill "$sampler"
	wait "$sampler" 2>/dev/null || true
	cat "$logs/$prov-server.log" "$logs/$prov-client.log"

	grep -q 'Calling ibv_reg_dmabuf_mr' "$logs/$prov-server.log" "$logs/$prov-client.log" &&
		fail "$prov: stock perftest used ibv_reg_dmabuf_mr"
	avg=$(bw_avg "$logs/$prov-client.log" "$size")
	[ -n "$avg" ] || fail "$prov: ib_write_bw printed no result row"
	awk -v a="$avg" 'BEGIN { exit !(a > 0) }' || fail "$prov: average bandwidth $avg"

	s_size=$(mmap_size "$logs/$prov-server.log")
	c_size=$(mmap_size "$logs/$prov-client.log")
	[ -n "$s_size" ] && [ -n "$c_size" ] || fail "$prov: perftest did not report its mmap buffers"
	low=$(sort -n "$samples" | head -n 1)
	[ -n "$low" ] || fail "$prov: no sample of available"
	drop=$((start - low))
	[ "$drop" -ge $((s_size + c_size)) ] ||
		fail "$prov: available went from $start down to $low only ($drop bytes), the buffers are $s_size + $c_size bytes: not P2P memory"
	deadline=$(($(date +%s) + 10))
	until [ "$(available "$prov")" = "$start" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || fail "$prov: available $(available "$prov") after the run, $start before"
		sleep 0.2
	done
	pass "$prov: stock ib_write_bw --mmap=$node, $size bytes x $iters: $avg MB/s; available $start -> $low (-$drop: server $s_size + client $c_size) -> $start"
done

dmesg | grep -E 'BUG|WARNING|Oops|KASAN|circular locking|suspicious RCU|suspected memory leak' &&
	fail "kernel warnings during the test"
pass "unmodified perftest runs on P2P memory of both providers"
