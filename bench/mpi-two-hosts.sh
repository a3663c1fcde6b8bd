#!/bin/bash
# MPI bandwidth between the two guests of tests/vm/two-hosts.sh, P2P memory
# against host memory in the same run: Debian's Open MPI over UCX on rxe,
# one rank per guest, the settings of the vm.mpi.two-hosts test
# (guest/lib.sh mpirun_ucx).  Writes build/bench/mpi.md (medians and the
# P2P/host ratio per size) and prints it.  See docs/benchmark.md.
#
#   flock /tmp/p2pv-vm.lock bench/mpi-two-hosts.sh
#
# Environment: BENCH_OUT (default <repo>/build/bench), BENCH_MPI_SIZES
# ("4096 65536 262144 1048576"), BENCH_MPI_BYTES (bytes per measurement, 8388608),
# BENCH_REPEAT (3).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${BENCH_OUT:-$repo/build/bench}
sizes=${BENCH_MPI_SIZES:-4096 65536 262144 1048576}
bytes=${BENCH_MPI_BYTES:-8388608}
repeat=${BENCH_REPEAT:-3}
logdir=${P2PV_LOGDIR:-$repo/build/vm-logs}
mkdir -p "$out"

mpicc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$out/mpi-bw" "$repo/bench/mpi-bw.c"
start=$(date +%s)
P2PV_LOGDIR=$logdir "$repo/tests/vm/two-hosts.sh" --name bench-mpi --port-base 20800 --timeout 1800 \
	-- "$repo/bench/mpi-guest.sh" "$out/mpi-bw" "$sizes" "$bytes" "$repeat"
wall=$(($(date +%s) - start))

raw=$logdir/bench-mpi-server/mpi-bw.log
{
	echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) (git $(git -C "$repo" describe --always --dirty)), two TCG guests"
	echo "linked by a QEMU socket netdev, rxe0 on virtio-net in each; Debian Open MPI $(dpkg-query -W -f='${Version}' openmpi-bin),"
	echo "UCX $(dpkg-query -W -f='${Version}' libucx0); $repeat runs per cell, median; wall time $wall s;"
	echo "host load $(cut -d' ' -f1-3 /proc/loadavg) after."
	echo
	echo "| message size | host <-> host MB/s | P2P <-> P2P MB/s | P2P / host |"
	echo "| ---: | ---: | ---: | ---: |"
	awk '$1 == "bw" { v[$2 " " $3] = v[$2 " " $3] " " $4; if (!($2 in seen)) { seen[$2] = 1; order[n++] = $2 } }
	function median(s,   a, k, i, j, t) {
		k = split(s, a, " ")
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	END {
		for (i = 0; i < n; i++) {
			s = order[i]; h = median(v[s " host"]); p = median(v[s " p2p"])
			printf "| %d | %.2f | %.2f | %.3f |\n", s, h, p, (h > 0 ? p / h : 0)
		}
	}' "$raw"
} >"$out/mpi.md"
cat "$out/mpi.md"
