#!/bin/bash
# In-guest part of bench/run.sh: P2P memory against host memory on the same two
# rxe devices (rxe_pair: rxe0 on veth0, rxe1 on veth1).
#
#   1. registration (build/bench/regbench): host ibv_reg_mr vs P2P
#      ibv_reg_dmabuf_mr, 1 MiB .. 256 MiB (ivshmem) / .. 32 MiB (NVMe CMB);
#   2. one buffer on each of the small-CMB NVMe providers (1st .. Nth);
#   3. perftest: ib_write_bw, ib_read_bw, ib_send_bw, ib_write_lat on host,
#      ivshmem and NVMe CMB memory, several message sizes, interleaved
#      (host, ivshmem, nvme for one size, then the next size).
# Between 2 and 3, the measurements behind issue 17's targets: allocation of
# 4 KiB and 32 MiB from an idle pool (ivshmem and NVMe CMB) and ibv_dereg_mr
# of host against P2P MRs (regbench alloc / dereg).
#
# Raw results go to $P2PV_RESULTS (build/vm-logs/bench/ on the host);
# bench/report.py turns them into the tables and plots.  A perftest run that
# fails is recorded as failed and the benchmark goes on; the script fails only
# when the setup is wrong.
#
# Arguments: KEY=VALUE settings (run-vm.sh passes arguments, not the
# environment): BENCH_REGBENCH (the regbench binary), BENCH_REG_REPS,
# BENCH_ALLOC_REPS, BENCH_DEREG_REPS, BENCH_BW_SIZES, BENCH_LAT_SIZES,
# BENCH_BW_BYTES (bytes moved per bw run, which sets the iteration count),
# BENCH_LAT_ITERS, BENCH_REPEAT.
. "$P2PV_REPO/bench/guest-settings.sh"
. "$P2PV_REPO/tests/vm/guest/lib.sh"

out=$P2PV_RESULTS
mkdir -p "$out/perftest"
regbench=${BENCH_REGBENCH:?}
lib_reps=${BENCH_LIB_REPS:-201}
reg_reps=${BENCH_REG_REPS:-7}
alloc_reps=${BENCH_ALLOC_REPS:-7}
dereg_reps=${BENCH_DEREG_REPS:-51}
bw_sizes=${BENCH_BW_SIZES:-4096 16384 65536 262144}
lat_sizes=${BENCH_LAT_SIZES:-8 4096 65536}
bw_bytes=${BENCH_BW_BYTES:-8388608}
lat_iters=${BENCH_LAT_ITERS:-300}
repeat=${BENCH_REPEAT:-2}

log() { echo "bench: $(cut -d' ' -f1 /proc/uptime)s: $*"; }

# p2p_size BDF: the size of the provider's P2P memory (0 if none)
p2p_size() { cat "/sys/bus/pci/devices/$1/p2pmem/size" 2>/dev/null || echo 0; }

# providers VENDOR:DEVICE: "size bdf" lines of the published providers, largest first
providers() {
	local d
	for d in $(pci_devs "$1"); do
		[ ! -e "/dev/p2pmem/$d" ] || echo "$(p2p_size "$d") $d"
	done | sort -k1,1nr -k2,2
}

mapfile -t ivs < <(providers 1af4:1110)
mapfile -t nvmes < <(providers 1b36:0010)
ivshmem=none ivshmem_size=0 nvme=none nvme_size=0 small=()
mems=(host)
if [ ${#ivs[@]} -gt 0 ]; then
	ivshmem=${ivs[0]#* } ivshmem_size=${ivs[0]%% *}
	mems+=(ivshmem)
fi
if [ ${#nvmes[@]} -gt 0 ]; then
	nvme=${nvmes[0]#* } nvme_size=${nvmes[0]%% *}
	mems+=(nvme)
	for l in "${nvmes[@]:1}"; do small+=("${l#* }"); done
fi
[ ${#mems[@]} = 3 ] ||
	log "WARNING: P2P memory missing (published providers: $(ls /dev/p2pmem 2>&1 | tr '\n' ' ')): measuring ${mems[*]} only"
edu=$(pci_devs 1234:11e8 | head -n1)
[ -n "$edu" ] || fail "no edu device"
log "ivshmem $ivshmem ($ivshmem_size bytes), NVMe CMB $nvme ($nvme_size bytes), ${#small[@]} small NVMe CMBs, edu $edu"

rxe_pair

{
	echo "{"
	echo "  \"kernel\": \"$(uname -r) $(uname -v)\","
	echo "  \"guest_cpus\": $(nproc),"
	echo "  \"guest_mem_kib\": $(awk '/MemTotal/ { print $2 }' /proc/meminfo),"
	echo "  \"ivshmem\": \"$ivshmem\", \"ivshmem_p2p_bytes\": $ivshmem_size,"
	echo "  \"nvme\": \"$nvme\", \"nvme_p2p_bytes\": $nvme_size,"
	echo "  \"small_nvme\": [$(for d in "${small[@]}"; do printf '"%s",' "$d"; done | sed 's/,$//')],"
	echo "  \"small_nvme_p2p_bytes\": [$(for d in "${small[@]}"; do printf '%s,' "$(p2p_size "$d")"; done | sed 's/,$//')],"
	echo "  \"edu\": \"$edu\","
	echo "  \"rxe0_netdev\": \"veth0\", \"rxe1_netdev\": \"veth1\""
	echo "}"
} >"$out/guest-meta.json"
cp /proc/cpuinfo "$out/guest-cpuinfo.txt"

# --- 1. registration against size ------------------------------------------
max_mib() { # the largest power of two (MiB) below half of the provider
	local m=1
	while [ $((m * 4 * 1048576)) -le "$1" ]; do m=$((m * 2)); done
	echo $m
}
iv_max=$(max_mib "$ivshmem_size"); [ "$iv_max" -le 256 ] || iv_max=256
[ "$ivshmem" != none ] || iv_max=256	# host memory only
nv_max=$(max_mib "$nvme_size")
log "registration: ivshmem 1..$iv_max MiB, NVMe CMB 1..$nv_max MiB, $reg_reps repetitions"
"$regbench" sizes rxe0 "$ivshmem" 1 "$iv_max" "$reg_reps" >"$out/reg-ivshmem.jsonl" ||
	fail "regbench sizes $ivshmem"
if [ "$nvme" != none ]; then
	"$regbench" sizes rxe0 "$nvme" 1 "$nv_max" "$reg_reps" >"$out/reg-nvme.jsonl" ||
		fail "regbench sizes $nvme"
fi

# --- 2. registration against the number of providers -----------------------
if [ ${#small[@]} -gt 0 ]; then
	log "registration on each of ${#small[@]} NVMe CMB providers (1 MiB buffers)"
	"$regbench" providers rxe0 1024 "$reg_reps" "$edu" "${small[@]}" >"$out/reg-providers.jsonl" ||
		fail "regbench providers"
fi

# --- 2b. what libp2pverbs adds to the verbs it calls --------------------------
if [ "$ivshmem" != none ]; then
	log "library registration and choice ($lib_reps interleaved samples)"
	"$regbench" library rxe0 "$ivshmem" "$lib_reps" >"$out/reg-library.jsonl" ||
		fail "regbench library"
fi

# --- 2c. issue 17: allocation from an idle pool, deregistration ------------
log "allocation from an idle pool, 4 KiB and 32 MiB ($alloc_reps rounds each)"
for mem in ivshmem nvme; do
	bdf=${!mem}
	[ "$bdf" != none ] || continue
	"$regbench" alloc "$bdf" "$alloc_reps" >"$out/alloc-$mem.jsonl" ||
		fail "regbench alloc $bdf"
done
if [ "$ivshmem" != none ]; then
	log "deregistration, host against P2P MRs of 4 KiB and 1 MiB ($dereg_reps interleaved rounds)"
	"$regbench" dereg rxe0 "$ivshmem" "$dereg_reps" 4 1024 >"$out/dereg.jsonl" ||
		fail "regbench dereg"
fi

# --- 3. perftest ------------------------------------------------------------
listening() { ss -Hltn "sport = :$1" | grep -q .; }
port=18515

# run_pair NAME TEST ARGS...: TEST as server on rxe0 and client on rxe1
# (TCP exchange on 127.0.0.1, GID index 0) with the same ARGS; status 0 if
# both exited 0.  Logs: perftest/NAME-{server,client}.log
run_pair() {
	local name=$1 t=$2 server rc=0 src=0
	shift 2
	port=$((port + 1))
	timeout 180 "$t" -d rxe0 -x 0 -p "$port" "$@" >"$out/perftest/$name-server.log" 2>&1 &
	server=$!
	if ! wait_for 60 listening "$port"; then
		kill "$server" 2>/dev/null
		wait "$server" 2>/dev/null
		echo "server did not listen" >>"$out/perftest/$name-server.log"
		return 1
	fi
	timeout 180 "$t" -d rxe1 -x 0 -p "$port" "$@" 127.0.0.1 >"$out/perftest/$name-client.log" 2>&1 || rc=$?
	[ "$rc" = 0 ] || kill "$server" 2>/dev/null
	wait "$server" || src=$?
	[ "$rc" != 0 ] || rc=$src
	return "$rc"
}

mem_args() {
	case $1 in
	host) ;;
	ivshmem) echo "--use_p2p=$ivshmem" ;;
	nvme) echo "--use_p2p=$nvme" ;;
	esac
}

bw_iters() { # BW_BYTES / size, within 50..5000
	local n=$((bw_bytes / $1))
	[ $n -ge 50 ] || n=50
	[ $n -le 5000 ] || n=5000
	echo $n
}

echo "test mem size rep iters status seconds" >"$out/perftest/runs.txt"
one() { # one TEST MEM SIZE REP ITERS
	local t=$1 mem=$2 size=$3 rep=$4 iters=$5 name start rc=0
	name="$t-$mem-$size-$rep"
	start=$(date +%s.%N)
	# shellcheck disable=SC2046
	run_pair "$name" "$t" -F -s "$size" -n "$iters" $(mem_args "$mem") || rc=$?
	echo "$t $mem $size $rep $iters $rc $(echo "$(date +%s.%N) - $start" | bc)" >>"$out/perftest/runs.txt"
	[ "$rc" = 0 ] || log "$name FAILED ($rc): $(tail -n 2 "$out/perftest/$name-client.log" | tr '\n' ' ')"
}

for rep in $(seq 1 "$repeat"); do
	for t in ib_write_bw ib_read_bw ib_send_bw; do
		for size in $bw_sizes; do
			log "$t $size bytes ($(bw_iters "$size") iterations), run $rep"
			for mem in "${mems[@]}"; do one "$t" "$mem" "$size" "$rep" "$(bw_iters "$size")"; done
		done
	done
	for size in $lat_sizes; do
		log "ib_write_lat $size bytes ($lat_iters iterations), run $rep"
		for mem in "${mems[@]}"; do one ib_write_lat "$mem" "$size" "$rep" "$lat_iters"; done
	done
done
log "done"
