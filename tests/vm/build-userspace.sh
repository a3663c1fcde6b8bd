#!/bin/bash
# Build rdma-core 65.0 (Debian sid's source package) and perftest 25.01
# (Debian trixie's) with the patch series the repository keeps for them, into
# a prefix outside the repository, and this repository's libp2pverbs in
# between (perftest is configured against it for --use_p2p).  The prefix is
# keyed by the sources, the patches, the libp2pverbs sources and this script,
# so it is rebuilt only when one of them changes.  Prints the prefix on stdout.
#
# rdma-core is configured as Debian configures it (debian/rules): netlink
# neighbour resolution on (libibverbs then also asks the kernel over netlink
# whether it gives copy-on-fork, see ibv_fork_init(3)), and pyverbs built with
# the distribution's cython3, installed into <prefix>/lib/python3/dist-packages
# with rdma-core's own test suite in <prefix>/share/doc/rdma-core/tests
# (run_tests.py).  Man pages are left out (pandoc is not needed for anything
# the tests run).
#
# rdma-core is built with its static libraries too (ENABLE_STATIC=1): a
# program linked with -static and -DRDMA_STATIC_PROVIDERS=rxe against
# `pkg-config --static --libs libibverbs` of the prefix carries the rxe
# provider (checked below).  A second perftest, stock (the same orig tarball,
# no patches, no --enable-p2p), is installed in <prefix>/perftest-stock, so
# that tests can show an unmodified binary working on P2P memory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${P2PV_CACHE:-/var/cache/p2pverbs}
jobs=${P2PV_JOBS:-$(nproc)}

# name  upstream version  suite  orig tarball  sha256 of the orig tarball  patch dir
RDMA_CORE=(rdma-core 65.0 sid rdma-core_65.0.orig.tar.gz
	f6ba3d8b2c4aa334c5c883c1ad0772de339011123cff4fb1db32ae7a443fb7ca
	"$repo/providers/p2p/rdma-core-patches")
PERFTEST=(perftest 25.01.0+0.80 trixie perftest_25.01.0+0.80.orig.tar.gz
	54e86b131f0b06862b8b9cd692739737295463cfef467bdda5f5aa3dae8c5b05
	"$repo/tests/vm/perftest-patches")

log() { echo "build-userspace: $*" >&2; }

series_of() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1/series"; }

# The orig tarball of an upstream version is the same in every Debian
# revision of it (65.0-1, 65.0-1.1, ...), so whichever revision the deb-src
# entries of tests/setup.sh offer is asked for; its checksum is pinned above.
# "apt-get source --download-only" fetches the orig tarball even where the
# .dsc of that revision is already gone from the archive (404).
fetch() {
	local name=$1 upstream=$2 suite=$3 orig=$4 sum=$5 dl="$cache/downloads" version
	mkdir -p "$dl"
	if ! echo "$sum  $dl/$orig" | sha256sum -c --status 2>/dev/null; then
		# the first Debian revision of that upstream version, e.g. 65.0-1.1
		version=$(apt-cache showsrc "$name" 2>/dev/null | sed -n 's/^Version: //p' |
			awk -v up="$upstream" 'index($0, up "-") == 1 { print; exit }')
		[ -n "$version" ] ||
			{ log "no $name $upstream-* source package in the deb-src entries (looked for $orig, sha256 $sum, from Debian $suite): run tests/setup.sh; if Debian $suite no longer has $name $upstream, the pinned version must move"; exit 1; }
		log "fetching $name $version source ($orig)"
		(cd "$dl" && apt-get source --download-only "$name=$version" >/dev/null 2>&1 || true)
		echo "$sum  $dl/$orig" | sha256sum -c --quiet >&2 ||
			{ log "could not fetch $orig (sha256 $sum) of $name $version from Debian $suite"; exit 1; }
	fi
	echo "$dl/$orig"
}

# unpack NAME TARBALL PATCHDIR DEST: fresh tree with the series applied
# (PATCHDIR empty: the tarball as it is)
unpack() {
	local tarball=$2 pdir=$3 dest=$4
	rm -rf "$dest"
	mkdir -p "$dest"
	tar -xzf "$tarball" -C "$dest" --strip-components=1
	[ -n "$pdir" ] || return 0
	while read -r p; do
		log "applying $1 patch $p"
		patch -d "$dest" -p1 --quiet --forward --batch <"$pdir/$p" ||
			{ log "$1 patch $p does not apply"; exit 1; }
	done < <(series_of "$pdir")
}

rdma_tar=$(fetch "${RDMA_CORE[@]:0:5}")
perf_tar=$(fetch "${PERFTEST[@]:0:5}")

key=$( {
	sha256sum "$rdma_tar" "$perf_tar" | cut -d' ' -f1
	for d in "${RDMA_CORE[5]}" "${PERFTEST[5]}"; do
		cat "$d/series"
		series_of "$d" | while read -r p; do cat "$d/$p"; done
	done
	# libp2pverbs and the providers/p2p backends linked into it
	(cd "$repo" && find CMakeLists.txt libp2pverbs providers/p2p -type f |
		LC_ALL=C sort | xargs sha256sum)
	cat "$0"
} | sha256sum | cut -c1-16)

top="$cache/userspace/$key"
prefix="$top/install"
if [ -f "$top/done" ]; then
	echo "$prefix"
	exit 0
fi
# One build at a time: the CMake build of the in-guest programs asks for the
# prefix too (the static test program links against it), possibly while a
# VM test is building the same key.
mkdir -p "$cache/userspace"
exec 9>>"$cache/userspace/.lock"
flock 9
if [ -f "$top/done" ]; then
	echo "$prefix"
	exit 0
fi
rm -rf "$top"
mkdir -p "$top"
export CCACHE_DIR="$cache/ccache" CCACHE_BASEDIR="$top" CCACHE_NOHASHDIR=1

start=$(date +%s)
unpack rdma-core "$rdma_tar" "${RDMA_CORE[5]}" "$top/rdma-core"
log "building rdma-core into $prefix"
cmake -S "$top/rdma-core" -B "$top/rdma-core/build" -G Ninja \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX="$prefix" \
	-DCMAKE_C_COMPILER_LAUNCHER=ccache \
	-DNO_MAN_PAGES=1 -DENABLE_STATIC=1 \
	-DPYTHON_EXECUTABLE=/usr/bin/python3 -DCMAKE_INSTALL_PYTHON_ARCH_LIB="$prefix/lib/python3/dist-packages" \
	-DCMAKE_INSTALL_RUNDIR="$top/run" >"$top/rdma-core.log" 2>&1 ||
	{ tail -30 "$top/rdma-core.log" >&2; exit 1; }
ninja -C "$top/rdma-core/build" -j"$jobs" install >>"$top/rdma-core.log" 2>&1 ||
	{ tail -30 "$top/rdma-core.log" >&2; exit 1; }
log "rdma-core built in $(($(date +%s) - start)) s"
# rdma-core's CMake only warns when it cannot build pyverbs (no python3-dev
# or no cython3; a missing libnl fails the configure): the suite would then
# be missing.
ls "$prefix"/lib/python3/dist-packages/pyverbs/device.*.so >/dev/null 2>&1 ||
	{ log "pyverbs was not built (python3-dev and cython3 installed? run tests/setup.sh)"; exit 1; }
[ -f "$prefix/share/doc/rdma-core/tests/run_tests.py" ] ||
	{ log "rdma-core's test suite was not installed"; exit 1; }

# The static link line works and pulls in the rxe provider: the static
# libibverbs has no dynamic loader, a provider that is not linked in does not
# exist for the program.
log "checking a static link of libibverbs with the rxe provider"
mkdir -p "$top/static-check"
cat >"$top/static-check/t.c" <<'EOC'
#include <infiniband/verbs.h>
int main(void)
{
	struct ibv_device **l = ibv_get_device_list(NULL);

	if (l)
		ibv_free_device_list(l);
	return 0;
}
EOC
static_libs=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --static --libs libibverbs)
# shellcheck disable=SC2086 # a list of options
gcc -DRDMA_STATIC_PROVIDERS=rxe -I"$prefix/include" -static -o "$top/static-check/t" \
	"$top/static-check/t.c" $static_libs \
	>"$top/static-check/log" 2>&1 || { cat "$top/static-check/log" >&2; exit 1; }
grep -q ' verbs_provider_rxe$' <<<"$(nm "$top/static-check/t")" ||
	{ log "a static link with RDMA_STATIC_PROVIDERS=rxe has no rxe provider"; exit 1; }

# libp2pverbs against the rdma-core just installed.  Only the installed targets
# are built (not the unit tests); the VM tests are registered elsewhere.
log "building libp2pverbs into $prefix"
cmake -S "$repo" -B "$top/libp2pverbs-build" -G Ninja \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX="$prefix" \
	-DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_INSTALL_RPATH="$prefix/lib" -DCMAKE_PREFIX_PATH="$prefix" \
	-DIBVERBS_LIBRARY="$prefix/lib/libibverbs.so" -DIBVERBS_INCLUDE_DIR="$prefix/include" \
	-DCMAKE_C_COMPILER_LAUNCHER=ccache -DP2PV_VM_TESTS=OFF >"$top/libp2pverbs.log" 2>&1 ||
	{ tail -30 "$top/libp2pverbs.log" >&2; exit 1; }
ninja -C "$top/libp2pverbs-build" -j"$jobs" p2pverbs p2pv_devinfo p2pv_man \
	>>"$top/libp2pverbs.log" 2>&1 || { tail -30 "$top/libp2pverbs.log" >&2; exit 1; }
cmake --install "$top/libp2pverbs-build" >>"$top/libp2pverbs.log" 2>&1 ||
	{ tail -30 "$top/libp2pverbs.log" >&2; exit 1; }

unpack perftest "$perf_tar" "${PERFTEST[5]}" "$top/perftest"
log "building perftest into $prefix"
(
	cd "$top/perftest"
	./autogen.sh
	./configure --prefix="$prefix" --enable-p2p CC="ccache gcc" \
		CPPFLAGS="-I$prefix/include" LDFLAGS="-L$prefix/lib -Wl,-rpath,$prefix/lib"
	make -j"$jobs"
	make install
) >"$top/perftest.log" 2>&1 || { tail -30 "$top/perftest.log" >&2; exit 1; }

# Stock perftest: the same tarball, no patch, no --enable-p2p.
unpack perftest-stock "$perf_tar" "" "$top/perftest-stock"
log "building stock perftest into $prefix/perftest-stock"
(
	cd "$top/perftest-stock"
	./autogen.sh
	./configure --prefix="$prefix/perftest-stock" CC="ccache gcc" \
		CPPFLAGS="-I$prefix/include" LDFLAGS="-L$prefix/lib -Wl,-rpath,$prefix/lib"
	make -j"$jobs"
	make install
) >"$top/perftest-stock.log" 2>&1 || { tail -30 "$top/perftest-stock.log" >&2; exit 1; }
stock_help=$("$prefix/perftest-stock/bin/ib_write_bw" --help 2>&1 || true)
stock_dyn=$(readelf -d "$prefix/perftest-stock/bin/ib_write_bw")
if grep -q -- --use_p2p <<<"$stock_help" || grep -q 'NEEDED.*p2pverbs' <<<"$stock_dyn"; then
	log "the stock perftest has P2P support: it is not stock"
	exit 1
fi

log "built in $(($(date +%s) - start)) s"
touch "$top/done"
ls -1dt "$cache/userspace/"*/ 2>/dev/null | tail -n +13 | xargs -r rm -rf
echo "$prefix"
