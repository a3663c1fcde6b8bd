#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB)
# The library's exports: every defined dynamic symbol is in the version node
# P2PVERBS_1.0 (the only one), has a man page (a page or a link to one in the
# build's man directory), and is named in the NAME section of a page; every
# name a page gives is an export.
# usage: exports.sh <libp2pverbs.so> <built man dir> <man source dir>
set -eu
lib=$1 built=$2 src=$3
fail=0
syms=$(nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }')
[ -n "$syms" ] || { echo "no exports in $lib"; exit 1; }
nodes=$(nm -D --defined-only "$lib" | awk '$2 == "A" { print $3 }' | sort -u)
if [ "$nodes" != "P2PVERBS_1.0" ]; then
	echo "version nodes: $nodes (want P2PVERBS_1.0 only)"
	fail=1
fi
# the names of every page's NAME section: "a, b, c - what they do"
named=$(for f in "$src"/*.[0-9].md; do
	awk '/^# NAME/ { on = 1; next } /^# / { on = 0 } on && NF' "$f" |
		sed 's/ - .*//' | tr ',' '\n' | tr -d ' \\'
done | sort -u)
for s in $syms; do
	name=${s%@@*}
	ver=${s#*@@}
	if [ "$ver" != "P2PVERBS_1.0" ]; then
		echo "$name: version $ver, not P2PVERBS_1.0"
		fail=1
	fi
	if [ ! -f "$built/$name.3" ]; then
		echo "$name: no man page $built/$name.3"
		fail=1
	fi
	if ! printf '%s\n' "$named" | grep -qx "$name"; then
		echo "$name: not named in the NAME section of any page"
		fail=1
	fi
done
for n in $named; do
	case $n in p2pv_devinfo|p2pverbs) continue ;; esac
	if ! printf '%s\n' "$syms" | grep -q "^$n@@"; then
		echo "$n: named in a man page but not exported"
		fail=1
	fi
done
[ $fail = 0 ] && echo "$(printf '%s\n' "$syms" | wc -l) exports, all P2PVERBS_1.0, all with a man page"
exit $fail
