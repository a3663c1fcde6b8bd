#!/bin/bash
# Real device DMA into /dev/p2pmem dma-bufs: the edu device writes a pattern
# into memory allocated from each provider (NVMe CMB and ivshmem), in the mode
# the exporter picked at attach, and the CPU reads it back through mmap.  The
# query ioctl must predict that mode; MATRIX lines (also saved to
# $P2PV_RESULTS/matrix.txt) show the DMA address used per mode.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/p2pmem-lib.sh"

want=$(expected_mode)
[ ! -e "/dev/p2pmem/$edu" ] || fail "edu publishes no memory but has a node"
for prov in "$nvme" "$ivshmem"; do
	p2pmem_node "$prov"
	[ "$(readlink -f "/sys/class/p2pmem/$prov/device")" = "$(readlink -f "/sys/bus/pci/devices/$prov")" ] ||
		fail "/sys/class/p2pmem/$prov/device does not point at the PCI device"
	[ "$(stat -c %a "/dev/p2pmem/$prov")" = 600 ] || fail "/dev/p2pmem/$prov is not mode 0600"
	q=$("$P2PMEM_TEST" query "$prov" "$edu")
	echo "$q"
	grep -q " mode=$want " <<<"$q" || fail "query $prov -> $edu: expected $want"
	# Where QEMU cannot carry the DMA, the attachment is still made and
	# checked (refused pinned attach, ATTACH_QUERY); only the transfers go.
	dma=()
	qemu_can_dma || dma=(attach-only)
	out=$("$P2PMEM_TEST" edu "$prov" "$edu" "$want" "${dma[@]}") || { echo "$out"; fail "edu attach/DMA into $prov"; }
	echo "$out"
	grep -q '^ok: non-revocable attach' <<<"$out" || fail "$prov: the pinned attach was not tried"
	[ "$want" = refused ] || grep -q '^ok: ATTACH_QUERY reports' <<<"$out" || fail "$prov: ATTACH_QUERY was not checked"
	sed "s/^MATRIX /MATRIX topology=$P2PV_TOPOLOGY iommu=$P2PV_IOMMU cpu=$P2PV_CPU /" <<<"$out" |
		grep '^MATRIX' >>"$P2PV_RESULTS/matrix.txt"
	if [ ${#dma[@]} = 0 ]; then
		pass "edu -> $prov: $want"
	else
		pass "edu -> $prov: $want, attached and queried (QEMU routes this DMA through its IOMMU: no transfer)"
	fi
done
cat "$P2PV_RESULTS/matrix.txt"
