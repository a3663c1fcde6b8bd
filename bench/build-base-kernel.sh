#!/bin/bash
# Build the guest kernel with only a prefix of kernel-patches/series, for a
# benchmark that compares the full series with the same kernel without its
# later patches (bench/run.sh BENCH_BASE_UPTO=...).  Prints the bzImage path.
#
#   build-base-kernel.sh UPTO
#
# UPTO names the last patch kept: the start of its file name as the series
# lists it ("0014" or "0014-RDMA-rxe-Free").  Exactly one series entry must
# match.  tests/vm/build-kernel.sh builds from the repository's own
# kernel-patches/, so it runs from a copy (build-kernel.sh and kernel-patches/
# with the series cut after UPTO) under $BENCH_OUT/base-kernel; everything
# else it does (cache key, ccache, config fragment) is unchanged, so the
# prefix is built exactly as the series is.  Set P2PV_CACHE to a cache of your
# own if the shared one holds trees others are using: every build keeps only
# the three newest trees of its flavour.
set -euo pipefail

upto=${1:?usage: build-base-kernel.sh UPTO}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_OUT:-$repo/build/bench}/base-kernel

log() { echo "bench: $*" >&2; }

entries=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$repo/kernel-patches/series")
matches=$(grep -c -- "^$upto" <<<"$entries" || true)
[ "$matches" = 1 ] || { log "UPTO '$upto' matches $matches series entries, not one"; exit 2; }
last=$(grep -- "^$upto" <<<"$entries")

rm -rf "$work"
mkdir -p "$work/tests/vm" "$work/kernel-patches"
cp "$repo/tests/vm/build-kernel.sh" "$work/tests/vm/"
cp "$repo"/kernel-patches/*.patch "$repo"/kernel-patches/*.config "$work/kernel-patches/"
# the series up to and including UPTO (its comment lines kept)
awk -v last="$last" '{ print } $1 == last { exit }' "$repo/kernel-patches/series" \
	>"$work/kernel-patches/series"
log "base kernel: series through $last ($(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' \
	"$work/kernel-patches/series" | wc -l) of $(wc -l <<<"$entries") patches)"
bash "$work/tests/vm/build-kernel.sh"
