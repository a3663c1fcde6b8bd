#!/bin/bash
# The p2pverbs benchmark: P2P memory against host memory, one command.
#
#   flock /tmp/p2pv-vm.lock bench/run.sh      (serialised with other VM users)
#
# Boots one VM (tests/vm/run-vm.sh, topology rc) with, besides the harness's
# NVMe (64 MiB CMB), ivshmem (64 MiB) and edu devices:
#   - a 512 MiB ivshmem-plain (registration up to 256 MiB, and the ivshmem
#     provider of every perftest run: the largest published ivshmem);
#   - 24 NVMe controllers with a 2 MiB CMB each, as functions 0-7 of slots
#     0x10-0x12 of pcie.0 (registration against the number of providers).
# Inside (bench/guest.sh) it measures registration (bench/regbench.c) and
# perftest bandwidth/latency on host, ivshmem and NVMe CMB memory over the same
# rxe pair; then bench/report.py writes build/bench/results.{json,md} and
# build/bench/*.png and prints the table.  See docs/benchmark.md.
#
# With BENCH_BASE_UPTO=<patch> (the start of a series file name, e.g. 0014)
# it also compares host-memory ibv_reg_mr on the full series with the same
# kernel built from the series only up to that patch: it builds that kernel
# (bench/build-base-kernel.sh, in BENCH_BASE_CACHE, default $P2PV_CACHE) and,
# after the bench VM, boots small VMs (plain rc topology) in the order
# series, base, base, series (ABBA, so that a steady drift of the machine's
# load cancels; BENCH_BASE_ROUNDS=1 such quadruple, the next ones alternating
# BAAB and ABBA), each running bench/guest-hostreg.sh.
# BENCH_BASE_KERNEL=<bzImage> compares with a kernel built elsewhere instead;
# BENCH_COMPARE_ONLY=1 runs the comparison alone (no bench VM).
#
# Environment: BENCH_OUT (default <repo>/build/bench), BENCH_SMALL_NVME (24),
# BENCH_REG_REPS (7), BENCH_ALLOC_REPS (7), BENCH_DEREG_REPS (51),
# BENCH_HOSTREG_REPS (101), BENCH_BW_SIZES ("4096 16384 65536 262144"),
# BENCH_LAT_SIZES ("8 4096 65536"), BENCH_BW_BYTES (8388608),
# BENCH_LAT_ITERS (300), BENCH_REPEAT (2), BENCH_TIMEOUT (1800 s),
# P2PV_VERBOSE=1 (guest console live).  Does not take the VM lock itself.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${BENCH_OUT:-$repo/build/bench}
logdir=${P2PV_LOGDIR:-$repo/build/vm-logs}
nsmall=${BENCH_SMALL_NVME:-24}

log() { echo "bench: $*" >&2; }

if [ "$(id -u)" = 0 ]; then
	bash "$repo/tests/setup.sh" >/dev/null
fi

mkdir -p "$out" "$out/img"
rm -f "$out"/*.png "$out"/results.json "$out"/results.md

# regbench, built on the host (the guest sees the host's root) against a
# release build of this tree's libp2pverbs; DT_RPATH (not RUNPATH) so that
# no other libp2pverbs on the guest's LD_LIBRARY_PATH is measured instead
cmake -S "$repo" -B "$out/p2pv-build" -DCMAKE_BUILD_TYPE=Release \
	-DP2PV_VM_TESTS=OFF >/dev/null
cmake --build "$out/p2pv-build" --target p2pverbs -j"$(nproc)" >/dev/null
cc -std=c11 -O2 -Wall -Wextra -Werror -I "$repo/libp2pverbs/kernel-headers" \
	-I "$repo/libp2pverbs" -I "$repo/tests/vm/progs" -o "$out/regbench" \
	"$repo/bench/regbench.c" -L "$out/p2pv-build/libp2pverbs" -lp2pverbs \
	-Wl,--disable-new-dtags,-rpath,"$out/p2pv-build/libp2pverbs" -libverbs

# the two kernels of the comparison, built before anything is booted
series_kernel='' base_kernel=${BENCH_BASE_KERNEL:-} base_desc=''
if [ -n "${BENCH_BASE_UPTO:-}" ] && [ -z "$base_kernel" ]; then
	base_kernel=$(BENCH_OUT=$out P2PV_CACHE=${BENCH_BASE_CACHE:-${P2PV_CACHE:-/var/cache/p2pverbs}} \
		bash "$repo/bench/build-base-kernel.sh" "$BENCH_BASE_UPTO")
	base_desc="series through $(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$out/base-kernel/kernel-patches/series" | tail -n1)"
elif [ -n "$base_kernel" ]; then
	base_desc="given kernel $base_kernel"
fi
if [ -n "$base_kernel" ]; then
	series_kernel=$(bash "$repo/tests/vm/build-kernel.sh")
	log "kernel comparison: series $series_kernel against base $base_kernel ($base_desc)"
fi

# extra devices
qargs=(--qemu-arg -object --qemu-arg memory-backend-ram,id=benchshm,size=512M,share=on
	--qemu-arg -device --qemu-arg ivshmem-plain,memdev=benchshm,bus=pcie.0)
for ((i = 0; i < nsmall; i++)); do
	img="$out/img/nvme$i.img"
	[ -f "$img" ] || truncate -s 1M "$img"
	slot=$((0x10 + i / 8)) fn=$((i % 8))
	dev="nvme,serial=bench-nvme$i,drive=bnvme$i,cmb_size_mb=2,bus=pcie.0,addr=$(printf '0x%x.%d' "$slot" "$fn")"
	[ "$fn" != 0 ] || dev+=",multifunction=on"
	qargs+=(--qemu-arg -drive --qemu-arg "file=$img,if=none,id=bnvme$i,format=raw"
		--qemu-arg -device --qemu-arg "$dev")
done

settings=(
	"BENCH_REGBENCH=$out/regbench"
	"BENCH_REG_REPS=${BENCH_REG_REPS:-7}"
	"BENCH_ALLOC_REPS=${BENCH_ALLOC_REPS:-7}"
	"BENCH_DEREG_REPS=${BENCH_DEREG_REPS:-51}"
	"BENCH_LIB_REPS=${BENCH_LIB_REPS:-201}"
	"BENCH_BW_SIZES=${BENCH_BW_SIZES:-4096 16384 65536 262144}"
	"BENCH_LAT_SIZES=${BENCH_LAT_SIZES:-8 4096 65536}"
	"BENCH_BW_BYTES=${BENCH_BW_BYTES:-8388608}"
	"BENCH_LAT_ITERS=${BENCH_LAT_ITERS:-300}"
	"BENCH_REPEAT=${BENCH_REPEAT:-2}"
)

start=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "${BENCH_COMPARE_ONLY:-0}" = 1 ]; then
	[ -n "$base_kernel" ] || { log "BENCH_COMPARE_ONLY=1 without BENCH_BASE_UPTO or BENCH_BASE_KERNEL"; exit 2; }
	log "kernel comparison only: no bench VM"
	rm -rf "$logdir/bench"
	mkdir -p "$logdir/bench"
else
	log "booting the bench VM ($nsmall extra NVMe CMBs, 512 MiB ivshmem); raw results in $logdir/bench"
	P2PV_LOGDIR=$logdir bash "$repo/tests/vm/run-vm.sh" --name bench --topology rc \
		--timeout "${BENCH_TIMEOUT:-1800}" "${qargs[@]}" -- "$repo/bench/guest.sh" "${settings[@]}"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
vm_seconds=$(($(date +%s) - start))

# host ibv_reg_mr: the full series against the base kernel, ABBA
hostreg_dir=$logdir/bench/hostreg
if [ -n "$base_kernel" ]; then
	mkdir -p "$hostreg_dir"
	echo "round kernel name load_before load_after status" >"$hostreg_dir/runs.txt"
	boot=0
	for ((r = 1; r <= ${BENCH_BASE_ROUNDS:-1}; r++)); do
		# ABBA, then BAAB: neither kernel always takes the edges
		order="series base base series"
		[ $((r % 2)) = 1 ] || order="base series series base"
		for which in $order; do
			k=$series_kernel
			[ "$which" = series ] || k=$base_kernel
			name=r$r-$((++boot))-$which
			lb=$(cut -d' ' -f1 /proc/loadavg)
			log "host ibv_reg_mr on the $which kernel (round $r, $name)"
			# a failed boot leaves its row out of the comparison, not the report
			rc=0
			P2PV_KERNEL=$k P2PV_LOGDIR=$hostreg_dir bash "$repo/tests/vm/run-vm.sh" \
				--name "$name" --topology rc --timeout 900 -- "$repo/bench/guest-hostreg.sh" \
				"BENCH_REGBENCH=$out/regbench" "BENCH_HOSTREG_REPS=${BENCH_HOSTREG_REPS:-101}" || rc=$?
			[ "$rc" = 0 ] || log "$name FAILED ($rc; see $hostreg_dir/$name/console.log)"
			echo "$r $which $name $lb $(cut -d' ' -f1 /proc/loadavg) $rc" >>"$hostreg_dir/runs.txt"
		done
	done
fi
{
	echo "{"
	echo "  \"host_cpus\": $(nproc),"
	echo "  \"host_cpu_model\": \"$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)\","
	echo "  \"host_loadavg_before\": \"$load_before\", \"host_loadavg_after\": \"$load_after\","
	echo "  \"qemu\": \"$(qemu-system-x86_64 --version | head -n1)\","
	echo "  \"accel\": \"tcg\","
	echo "  \"vm_seconds\": $vm_seconds,"
	echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
	echo "  \"base_kernel\": \"$base_desc\","
	echo "  \"git\": \"$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)\""
	echo "}"
} >"$logdir/bench/host-meta.json"

python3 "$repo/bench/report.py" "$logdir/bench" "$out"
