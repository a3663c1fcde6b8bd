#!/bin/bash
# Build the p2pverbs guest kernel: Debian's linux-source-7.3 + kernel-patches/series
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
jobs=${P2PV_JOBS:-$(nproc)}

fragments=("$patches/p2pverbs.config")
flavour=release
if [ "${1:-}" = --debug ]; then
	fragments+=("$patches/debug.config")
	flavour=debug
fi

log() { echo "build-kernel: $*" >&2; }

# Linux 7.3 is packaged for Debian 13 only, in trixie-backports.  Its source
# package is architecture-independent and holds a plain tarball, so it is
# downloaded with an apt configuration of its own and unpacked into the cache:
# nothing from backports is installed into the host.  Whichever 7.3.x Debian
# serves is used; its version goes into the log and the cache key.  Without
# the archive (offline), the newest version downloaded before is used.
apt_dir="$cache/apt-trixie-backports"
apt_opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
	-o Debug::NoLocking=1 -o APT::Sandbox::User=root)
fetch_source() {
	local dl="$cache/downloads" version deb
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dl"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main" \
		>"$apt_dir/sources.list"
	if apt-get "${apt_opts[@]}" -q update >"$apt_dir/update.log" 2>&1; then
		version=$(apt-cache "${apt_opts[@]}" policy linux-source-7.3 |
			sed -n 's/^ *Candidate: *//p')
		[ -n "$version" ] && [ "$version" != "(none)" ] ||
			{ log "linux-source-7.3 is no longer in trixie-backports: nothing to build the guest kernel from"; exit 1; }
		deb="$dl/linux-source-7.3_${version//:/%3a}_all.deb"
		if [ ! -f "$deb.unpacked" ]; then
			(cd "$dl" && apt-get "${apt_opts[@]}" -q download "linux-source-7.3=$version" >&2) ||
				{ log "downloading linux-source-7.3 $version failed"; exit 1; }
			rm -rf "$dl/linux-source-7.3"
			dpkg-deb -x "$deb" "$dl/linux-source-7.3"
			rm -f "$deb"
			echo "$version" >"$dl/linux-source-7.3.version"
			touch "$deb.unpacked"
		fi
	else
		log "trixie-backports unreachable (see $apt_dir/update.log); using the source downloaded before"
	fi
	[ -r "$dl/linux-source-7.3/usr/src/linux-source-7.3.tar.xz" ] ||
		{ log "no linux-source-7.3 downloaded: the guest kernel cannot be built"; exit 1; }
}
fetch_source
tarball="$cache/downloads/linux-source-7.3/usr/src/linux-source-7.3.tar.xz"
src_version=$(cat "$cache/downloads/linux-source-7.3.version")
log "linux-source-7.3 $src_version"

# The key covers the source package, the series file, every patch it names
# (in order) and the fragments, so a change to any of them gets its own tree.
series_files() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$patches/series"
}
key=$( {
	echo "linux-source-7.3 $src_version"
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
