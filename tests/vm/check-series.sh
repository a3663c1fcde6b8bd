#!/bin/bash
# Check kernel-patches/series the way a maintainer applies it: every patch
# applies in order to Debian's linux-source-7.3, the kernel builds after each
# one (with the config fragment merged, so a patch's own options are on as
# soon as its Kconfig exists), checkpatch.pl --strict has nothing to say
# but checkpatch's generic question about MAINTAINERS for new files (and
# nothing at all about the ids in Fixes: tags, which it cannot look up here),
# and kernel-doc -Wall finds nothing in the C files a patch touches that it
# did not find there before the patch (mainline's own gaps are not ours).
# Not part of run-all.sh: a warm ccache makes it 8-15 minutes.
#
#   check-series.sh        (after tests/vm/build-kernel.sh fetched the source)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
patches="$repo/kernel-patches"
cache=${P2PV_CACHE:-/var/cache/p2pverbs}
tarball="$cache/downloads/linux-source-7.3/usr/src/linux-source-7.3.tar.xz"
top=$(mktemp -d /tmp/p2pv-series.XXXXXX)
src=$top/src out=$top/build

log() { echo "check-series: $*" >&2; }

[ -r "$tarball" ] || { log "no $tarball: run tests/vm/build-kernel.sh first"; exit 1; }
trap 'rm -rf "$top"' EXIT
mkdir -p "$src" "$out"
tar -xJf "$tarball" -C "$src" --strip-components=1

export CCACHE_DIR="$cache/ccache" CCACHE_BASEDIR="$top" CCACHE_NOHASHDIR=1
export KBUILD_BUILD_TIMESTAMP=p2pverbs KBUILD_BUILD_USER=p2pverbs KBUILD_BUILD_HOST=p2pverbs
mk() { make -s -C "$src" O="$out" CC="ccache gcc" "$@"; }
mk tinyconfig >/dev/null

# kernel-doc's remarks on the C files patch $1 touches, without line
# numbers (a patch moves the lines it does not touch)
kdoc_remarks() {
	local f files=()
	while read -r f; do
		if [ -f "$src/$f" ]; then files+=("$f"); fi
	done < <(sed -n 's|^+++ b/\(.*\.[ch]\)$|\1|p' "$patches/$1")
	[ ${#files[@]} -gt 0 ] || return 0
	# its exit status counts the remarks
	(cd "$src" && scripts/kernel-doc -none -Wall "${files[@]}" 2>&1 || true) |
		sed -E 's/:[0-9]+ / /' | sort
}

status=0
while read -r p; do
	kdoc_before=$(kdoc_remarks "$p")
	patch -d "$src" -p1 --quiet --forward --batch <"$patches/$p" ||
		{ log "$p does not apply"; exit 1; }
	KCONFIG_CONFIG="$out/.config" "$src/scripts/kconfig/merge_config.sh" -m -O "$out" \
		"$out/.config" "$patches/p2pverbs.config" >/dev/null 2>&1
	mk olddefconfig >/dev/null
	start=$(date +%s)
	mk -j"$(nproc)" bzImage >"$top/build.log" 2>&1 ||
		{ tail -n 30 "$top/build.log"; log "$p does not build"; exit 1; }
	# The ids of Fixes: tags are mainline commits: without the kernel's
	# git history checkpatch calls every one of them unknown.
	remarks=$("$src/scripts/checkpatch.pl" --strict -q --ignore UNKNOWN_COMMIT_ID \
		"$patches/$p" 2>/dev/null |
		grep -E '^(ERROR|WARNING|CHECK):' |
		grep -v 'added, moved or deleted file(s), does MAINTAINERS need updating' || true)
	if [ -n "$remarks" ]; then
		echo "$remarks"
		log "$p: checkpatch --strict remarks (above)"
		status=1
	fi
	kdoc_new=$(comm -13 <(echo "$kdoc_before") <(kdoc_remarks "$p"))
	if [ -n "$kdoc_new" ]; then
		echo "$kdoc_new"
		log "$p: new kernel-doc remarks (above)"
		status=1
	fi
	log "ok: $p applies and builds ($(($(date +%s) - start)) s)"
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$patches/series")
exit $status
