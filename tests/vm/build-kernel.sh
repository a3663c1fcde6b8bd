#!/bin/bash
# Build the p2pverbs guest kernel: Debian's linux-source-6.12 + kernel-patches/series
# + the config fragment, in a build tree outside the repository keyed by everything
# that affects the result, with ccache.  Prints the path of the bzImage on stdout.
#
#   build-kernel.sh [--debug]      --debug adds kernel-patches/debug.config
#                                  (KASAN, lockdep, kmemleak) for reliability tests
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
patches="$repo/kernel-patches"
cache=${P2PV_CACHE:-/var/cache/p2pverbs}
tarball=/usr/src/linux-source-6.12.tar.xz
jobs=${P2PV_JOBS:-$(nproc)}

fragments=("$patches/p2pverbs.config")
flavour=release
if [ "${1:-}" = --debug ]; then
	fragments+=("$patches/debug.config")
	flavour=debug
fi

log() { echo "build-kernel: $*" >&2; }

[ -r "$tarball" ] || { log "$tarball missing: run tests/setup.sh"; exit 1; }

# The key covers the source package, the series file, every patch it names
# (in order) and the fragments, so a change to any of them gets its own tree.
series_files() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$patches/series"
}
key=$( {
	dpkg-query -W -f='${Version}\n' linux-source-6.12
	cat "$patches/series"
	series_files | while read -r p; do cat "$patches/$p"; done
	cat "${fragments[@]}"
} | sha256sum | cut -c1-16)

tree="$cache/kernel/$flavour-$key"
src="$tree/src"
out="$tree/build"
image="$out/arch/x86/boot/bzImage"

if [ -f "$tree/done" ]; then
	echo "$image"
	exit 0
fi

rm -rf "$tree"
mkdir -p "$src" "$out"
# A tree that did not finish is useless to the next run: don't leave 2 GiB behind.
trap 'rm -rf "$tree"' ERR
log "unpacking $(basename "$tarball") into $src"
tar -xJf "$tarball" -C "$src" --strip-components=1

n=0
while read -r p; do
	n=$((n + 1))
	log "applying $n: $p"
	patch -d "$src" -p1 --quiet --forward --batch <"$patches/$p" ||
		{ log "patch $p does not apply"; exit 1; }
done < <(series_files)

export CCACHE_DIR="$cache/ccache" CCACHE_BASEDIR="$tree" CCACHE_NOHASHDIR=1
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
export KBUILD_BUILD_TIMESTAMP="p2pverbs" KBUILD_BUILD_USER=p2pverbs KBUILD_BUILD_HOST=p2pverbs
mk() { make -s -C "$src" O="$out" CC="ccache gcc" -j"$jobs" "$@"; }

mk tinyconfig >/dev/null
KCONFIG_CONFIG="$out/.config" "$src/scripts/kconfig/merge_config.sh" -m -O "$out" \
	"$out/.config" "${fragments[@]}" >/dev/null
mk olddefconfig >/dev/null

# merge_config.sh only warns when Kconfig drops a request (an unmet dependency):
# that would silently produce a kernel without P2PDMA or rxe, so fail instead.
missing=0
for f in "${fragments[@]}"; do
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=n) opt=${line%%=*}
			grep -qx "$opt=y" "$out/.config" && { log "$opt is set, fragment wants it off"; missing=1; } ;;
		CONFIG_*=*) grep -qxF "$line" "$out/.config" || { log "$line did not stick"; missing=1; } ;;
		esac
	done <"$f"
done
[ "$missing" = 0 ] || { log "config fragment not satisfied (see above)"; exit 1; }

log "building $flavour kernel in $out (jobs=$jobs)"
start=$(date +%s)
mk bzImage
log "built in $(($(date +%s) - start)) s"
touch "$tree/done"

# Keep the three most recent trees of each flavour; a tree is ~2 GiB.
ls -1dt "$cache/kernel/$flavour-"* 2>/dev/null | tail -n +4 | xargs -r rm -rf
echo "$image"
