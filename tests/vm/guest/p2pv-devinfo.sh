#!/bin/bash
# p2pv_devinfo against the kernel, on the topology the guest was booted with
# (called from pci-matrix.sh, once per topology).
#
# p2pv_devinfo reports paths to RDMA devices (/sys/class/infiniband) only, and
# the guest's only PCI client is the edu device.  So it runs on a sysfs root
# (P2PV_SYSFS_ROOT) made of bind mounts of the real /sys/bus, /sys/devices and
# /sys/kernel plus a class/infiniband/edu0 entry whose "device" link is the
# edu function: every path is computed from the real topology, with edu as
# the client.  The library's kernel answer comes from <root>/../dev/p2pmem:
#  - kernel root:   dev/p2pmem -> /dev/p2pmem, answers marked "kernel";
#  - fallback root: no dev/p2pmem, answers derived from sysfs alone.
# For each provider, the mode of both must equal MAP_QUERY's answer
# (p2pmem-test query); a disagreement of the kernel with the harness's model
# (expected_mode) is only noted: p2pmem-dma.sh checks that.  Then the
# real root with a real rxe device (mode cpu), and a --dot sanity check.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/p2pmem-lib.sh"

command -v p2pv_devinfo >/dev/null || fail "p2pv_devinfo is not in $P2PV_PREFIX/bin"
command -v jq >/dev/null || fail "jq is needed"
for p in $nvme $ivshmem; do
	p2pmem_node "$p"
done

fk=$(mktemp -d /tmp/p2pv-devinfo.XXXXXX)
cleanup() {
	umount "$fk/sys/bus" "$fk/sys/devices" "$fk/sys/kernel" 2>/dev/null || true
	rdma link delete rxedi0 2>/dev/null || true
	ip link del dvi0 2>/dev/null || true
}
trap cleanup EXIT
mkdir -p "$fk/sys/bus" "$fk/sys/devices" "$fk/sys/kernel" "$fk/sys/class/infiniband/edu0" "$fk/proc" "$fk/dev"
for d in bus devices kernel; do
	mount --bind "/sys/$d" "$fk/sys/$d" || fail "bind mount of /sys/$d"
done
cp /proc/cpuinfo "$fk/proc/cpuinfo"
edu_dir=$(realpath "/sys/bus/pci/devices/$edu")
ln -s "$fk$edu_dir" "$fk/sys/class/infiniband/edu0/device"
[ -f "$fk/sys/class/infiniband/edu0/device/vendor" ] || fail "fake edu0 device link broken"

# use_root kernel|sysfs: with or without the provider nodes next to the root
use_root() {
	rm -f "$fk/dev/p2pmem"
	if [ "$1" = kernel ]; then
		ln -s /dev/p2pmem "$fk/dev/p2pmem"
	fi
}
# devinfo_json kernel|sysfs: p2pv_devinfo --json on the fake root
devinfo_json() {
	use_root "$1"
	P2PV_SYSFS_ROOT=$fk/sys p2pv_devinfo --json >"$fk/$1.json" ||
		fail "p2pv_devinfo --json ($1 root) failed"
	jq -e . "$fk/$1.json" >/dev/null || fail "p2pv_devinfo --json ($1 root): not valid JSON"
}
devinfo_json kernel
devinfo_json sysfs

expect=$(expected_mode)
checked=0
for kind in kernel sysfs; do
	j=$fk/$kind.json
	n=$(jq '.providers | length' "$j")
	[ "$n" = 2 ] || fail "$kind root: $n providers, expected 2 ($nvme $ivshmem)"
	[ "$(jq -r '.rdma_devices[] | select(.name == "edu0") | .pci_addr' "$j")" = "$edu" ] ||
		fail "$kind root: edu0 is not listed with PCI address $edu"
	for prov in $nvme $ivshmem; do
		kmode=$("$P2PMEM_TEST" query "$prov" "$edu" | sed -n 's/.* mode=\([a-z_]*\) .*/\1/p')
		[ -n "$kmode" ] || fail "p2pmem-test query $prov $edu gave no mode"
		# the kernel against the harness's model is p2pmem-dma.sh's check
		[ "$kmode" = "$expect" ] || echo "note: the kernel says $prov -> $edu is $kmode, expected_mode says $expect (not checked here)"
		path=$(jq -c --arg p "$prov" '.paths[] | select(.provider == $p and .device == "edu0")' "$j")
		[ -n "$path" ] || fail "$kind root: no path $prov -> edu0"
		lmode=$(jq -r .mode <<<"$path" | tr - _)
		src=$(jq -r .source <<<"$path")
		# the library labels what it derived from sysfs as an estimate
		want_src=$kind
		[ "$kind" = kernel ] || want_src=sysfs-estimate
		[ "$src" = "$want_src" ] || fail "$kind root: $prov -> edu0 answered by $src, expected $want_src"
		[ "$lmode" = "$kmode" ] ||
			fail "$kind root: p2pv_devinfo says $prov -> $edu is $lmode, the kernel says $kmode ($path)"
		if [ "$kmode" = refused ]; then
			[ "$(jq -r .distance <<<"$path")" = -1 ] || fail "$kind root: refused path with a distance: $path"
		fi
		pass "$P2PV_TOPOLOGY iommu=$P2PV_IOMMU cpu=$P2PV_CPU: $prov -> edu $edu: p2pv_devinfo ($kind) $lmode = kernel $kmode ($(jq -r '.class + ", " + .reason' <<<"$path"))"
		checked=$((checked + 1))
	done
done
[ "$checked" = 4 ] || fail "checked $checked paths, expected 4"

# The kernel's distance and reason bits, as the library reports them, against
# the sysfs derivation
for prov in $nvme $ivshmem; do
	kd=$(jq -r --arg p "$prov" '.paths[] | select(.provider == $p and .device == "edu0") | "\(.distance) \(.reasons)"' "$fk/kernel.json")
	sd=$(jq -r --arg p "$prov" '.paths[] | select(.provider == $p and .device == "edu0") | "\(.distance) \(.reasons)"' "$fk/sysfs.json")
	[ -n "$kd" ] && [ "$kd" = "$sd" ] ||
		fail "$prov -> edu: distance and reasons: kernel $kd, sysfs-derived $sd"
	pass "$prov -> edu: distance and reasons $kd from the kernel and from sysfs"
done
pass "kernel and sysfs-derived distances and reasons agree"

# Text output: the same modes, each with its source (class/mode/source)
use_root kernel
P2PV_SYSFS_ROOT=$fk/sys p2pv_devinfo >"$fk/kernel.txt" || fail "p2pv_devinfo (text) failed"
cat "$fk/kernel.txt"
for prov in $nvme $ivshmem; do
	cell=$(jq -r --arg p "$prov" '.paths[] | select(.provider == $p and .device == "edu0") | "\(.class)/\(.mode)/\(.source)"' "$fk/kernel.json")
	case $cell in */kernel) ;; *) fail "--json: $prov -> edu0 is not the kernel's answer: $cell" ;; esac
	grep -Eq "^$prov +$cell( |$)" "$fk/kernel.txt" || fail "text output: no \"$prov ... $cell\""
done
pass "text output shows the kernel's answers with their source"

# --dot: a digraph with every provider, the client and one labelled edge per path
P2PV_SYSFS_ROOT=$fk/sys p2pv_devinfo --dot >"$fk/dot" || fail "p2pv_devinfo --dot failed"
head -n 1 "$fk/dot" | grep -qx 'digraph p2pverbs {' || fail "--dot: no digraph header"
[ "$(tail -n 1 "$fk/dot")" = "}" ] || fail "--dot: not closed"
[ "$(grep -c '{' "$fk/dot")" = "$(grep -c '}' "$fk/dot")" ] || fail "--dot: unbalanced braces"
grep -Ev '^digraph p2pverbs \{$|^\}$|^  (rankdir=TB|node \[fontname="monospace"\]);$|^  "[^"]+"( -> "[^"]+")?( \[.*\])?;$' "$fk/dot" &&
	fail "--dot: lines that are not nodes or edges (above)"
grep -q "^  \"edu0\" \[shape=ellipse" "$fk/dot" || fail "--dot: no edu0 node"
grep -q "^  \"$edu\" -> \"edu0\" \[style=dotted" "$fk/dot" || fail "--dot: edu0 not attached to $edu"
for prov in $nvme $ivshmem; do
	grep -q "^  \"$prov\" \[shape=box3d" "$fk/dot" || fail "--dot: no node for $prov"
	label=$(jq -r --arg p "$prov" '.paths[] | select(.provider == $p and .device == "edu0") | "\(.class)/\(.mode) \\[\(.source)\\]"' "$fk/kernel.json")
	grep -q "^  \"$prov\" -> \"edu0\" \[style=dashed.*label=\"$label\"" "$fk/dot" ||
		fail "--dot: no edge $prov -> edu0 labelled $label"
	# every PCI function on the path is on an edge
	for h in $(jq -r --arg p "$prov" '.paths[] | select(.provider == $p and .device == "edu0") | .hops[].pci_addr' "$fk/kernel.json"); do
		grep -q -e "-> \"$h\"" -e "^  \"$h\" ->" "$fk/dot" || fail "--dot: hop $h of $prov -> edu0 has no edge"
	done
done
pass "--dot: well-formed digraph, providers, edu0 and labelled path edges, every hop linked"

# The real root: a real rxe device reaches every provider by CPU access
ip link add dvi0 type veth peer name dvi1
ip link set dvi0 up
ip link set dvi1 up
rdma link add rxedi0 type rxe netdev dvi0 || fail "cannot add rxedi0"
p2pv_devinfo --json -d rxedi0 >"$fk/rxe.json" || fail "p2pv_devinfo -d rxedi0 failed"
jq -e . "$fk/rxe.json" >/dev/null || fail "p2pv_devinfo -d rxedi0: not valid JSON"
[ "$(jq -r '.rdma_devices | map(.name) | join(" ")' "$fk/rxe.json")" = rxedi0 ] || fail "-d rxedi0 lists other devices"
[ "$(jq -r '.rdma_devices[0].pci_addr' "$fk/rxe.json")" = null ] || fail "rxedi0 has a PCI address"
for prov in $nvme $ivshmem; do
	[ "$(jq -r --arg p "$prov" '.paths[] | select(.provider == $p and .device == "rxedi0") | "\(.class) \(.mode)"' "$fk/rxe.json")" = "CPU cpu" ] ||
		fail "real root: $prov -> rxedi0 is not CPU/cpu"
done
pass "real root: rxe reaches both providers by CPU access"
echo "p2pv-devinfo.sh: all checks passed on $P2PV_TOPOLOGY iommu=$P2PV_IOMMU cpu=$P2PV_CPU"
