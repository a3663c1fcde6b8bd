#!/bin/sh
# The installed libp2pverbs.pc must point at the install prefix chosen at
# install time (cmake --install --prefix), not at configure time.
# Usage: pkgconfig.sh <build dir>
set -eu
build=$1
prefix=$(mktemp -d "${TMPDIR:-/tmp}/p2pv-prefix-XXXXXX")
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name libp2pverbs.pc)
[ -n "$pc" ] || { echo "no libp2pverbs.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir libp2pverbs)
includedir=$(pkg-config --variable=includedir libp2pverbs)
[ -e "$libdir/libp2pverbs.so" ] || { echo "libdir $libdir has no libp2pverbs.so"; exit 1; }
[ -e "$includedir/infiniband/p2pverbs.h" ] || { echo "includedir $includedir has no p2pverbs.h"; exit 1; }
case "$(pkg-config --libs libp2pverbs)" in
*"-L$libdir"*) ;;
*) echo "--libs does not name $libdir"; exit 1 ;;
esac
echo "ok: $libdir, $includedir"
