#!/bin/bash
# Smoke test: the guest sees the PCI topology it was booted with — NVMe with
# its CMB published as a P2PDMA provider, ivshmem-plain and edu — placed as the
# topology says, behind an IOMMU when asked, on the requested CPU vendor.
. "$(dirname "$0")/lib.sh"

nvme=$(pci_devs 1b36:0010)
ivshmem=$(pci_devs 1af4:1110)
edu=$(pci_devs 1234:11e8)
[ -n "$nvme" ] || fail "no NVMe controller: $(lspci -nn)"
[ -n "$ivshmem" ] || fail "no ivshmem-plain device: $(lspci -nn)"
[ -n "$edu" ] || fail "no edu device: $(lspci -nn)"
lspci -s "$nvme" -nn | grep -q 'Non-Volatile memory controller' || fail "lspci does not show $nvme as NVMe"
pass "lspci: nvme $nvme, ivshmem $ivshmem, edu $edu"

p2p=/sys/bus/pci/devices/$nvme/p2pmem
wait_for 30 test -r "$p2p/published" || fail "NVMe CMB is not a P2PDMA provider (no $p2p)"
[ "$(cat "$p2p/published")" = 1 ] || fail "NVMe CMB not published"
size=$(cat "$p2p/size")
[ "$size" = $((64 << 20)) ] || fail "NVMe CMB P2PDMA pool is $size bytes, QEMU offers 64 MiB"
pass "NVMe CMB published as P2PDMA provider: $size bytes"

# The chain of bridges above a device, nearest first.
bridges_above() {
	local path
	path=$(readlink -f "/sys/bus/pci/devices/$1")
	path=$(dirname "$path")
	while [ -e "$path/vendor" ]; do
		basename "$path"
		path=$(dirname "$path")
	done
}
for dev in "$nvme" "$ivshmem" "$edu"; do
	up=$(bridges_above "$dev" | tr '\n' ' ')
	case "$P2PV_TOPOLOGY" in
	rc) [ -z "$up" ] || fail "$dev should sit on the root complex, is below $up" ;;
	switch) [ "$(wc -w <<<"$up")" = 3 ] || fail "$dev should be below a switch (3 bridges), is below '$up'" ;;
	rootports) [ "$(wc -w <<<"$up")" = 1 ] || fail "$dev should be below one root port, is below '$up'" ;;
	esac
	echo "  $dev upstream: ${up:-(root complex)}"
done
if [ "$P2PV_TOPOLOGY" != rc ]; then
	a=$(bridges_above "$nvme" | tail -n 1)
	b=$(bridges_above "$edu" | tail -n 1)
	case "$P2PV_TOPOLOGY" in
	switch) [ "$a" = "$b" ] || fail "nvme and edu should share one root port" ;;
	rootports) [ "$a" != "$b" ] || fail "nvme and edu should be on different root ports" ;;
	esac
fi
pass "topology $P2PV_TOPOLOGY as expected"

if [ "$P2PV_IOMMU" = 1 ]; then
	[ -n "$(ls /sys/class/iommu)" ] || fail "no IOMMU registered"
	for dev in "$nvme" "$ivshmem" "$edu"; do
		[ -e "/sys/bus/pci/devices/$dev/iommu_group" ] || fail "$dev has no IOMMU group"
	done
	pass "intel-iommu translates: $(ls /sys/class/iommu)"
else
	[ -z "$(ls /sys/class/iommu 2>/dev/null)" ] || fail "an IOMMU is present without --iommu"
fi

vendor=$(awk -F': ' '/^vendor_id/ { print $2; exit }' /proc/cpuinfo)
case "$P2PV_CPU" in
amd) [ "$vendor" = AuthenticAMD ] || fail "CPU vendor $vendor, expected AMD" ;;
intel) [ "$vendor" = GenuineIntel ] || fail "CPU vendor $vendor, expected Intel" ;;
esac
pass "CPU vendor $vendor"
