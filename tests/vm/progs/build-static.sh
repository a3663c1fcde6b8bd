#!/bin/bash
# build-static.sh OUTPUT SOURCE COMPILER [FLAGS...]
#
# Compile SOURCE into a fully static executable OUTPUT against the static
# rdma-core of the userspace prefix (tests/vm/build-userspace.sh, built
# first if that prefix is not there yet), with the rxe provider linked in
# (RDMA_STATIC_PROVIDERS=rxe; the static libibverbs cannot load providers at
# run time).  The link line is the prefix's `pkg-config --static --libs
# libibverbs`.  The CMake target calling this runs on every build, since the
# prefix may change under it; OUTPUT is replaced only when it changed.
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: build-static.sh OUTPUT SOURCE COMPILER [FLAGS...]" >&2; exit 2; }
out=$1 src=$2 cc=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
prefix=$("$here/../build-userspace.sh")
libs=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --static --libs libibverbs)

tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# shellcheck disable=SC2086 # $libs is a list of options
"$cc" "$@" -DRDMA_STATIC_PROVIDERS=rxe -I"$prefix/include" -static \
	-o "$tmp" "$src" $libs
grep -q ' verbs_provider_rxe$' <<<"$(nm "$tmp")" ||
	{ echo "build-static.sh: $out has no rxe provider" >&2; exit 1; }
if ! cmp -s "$tmp" "$out"; then
	chmod 755 "$tmp"
	mv -f "$tmp" "$out"
fi
