# Helpers for the /dev/p2pmem tests; sourced after lib.sh.
# shellcheck shell=bash

# The test program, from the CMake build tree (P2PMEM_TEST overrides).
P2PMEM_TEST=${P2PMEM_TEST:-$P2PV_BUILD/tests/vm/progs/p2pmem-test}
[ -x "$P2PMEM_TEST" ] || P2PMEM_TEST=$(find "$P2PV_BUILD" -name p2pmem-test -type f -perm -u+x 2>/dev/null | head -n 1)
[ -n "$P2PMEM_TEST" ] && [ -x "$P2PMEM_TEST" ] || fail "p2pmem-test is not built under $P2PV_BUILD"

nvme=$(pci_devs 1b36:0010)
ivshmem=$(pci_devs 1af4:1110)
edu=$(pci_devs 1234:11e8)
[ -n "$nvme" ] && [ -n "$ivshmem" ] && [ -n "$edu" ] || fail "expected nvme, ivshmem and edu, have: $(ls /sys/bus/pci/devices)"

# p2pmem_node PCI-NAME: wait until the provider's device node exists
p2pmem_node() {
	wait_for 30 test -c "/dev/p2pmem/$1" || fail "no /dev/p2pmem/$1"
}

# The mode the P2PDMA core should pick between two devices of this machine
# (see docs/design.md, "The mapping decision"): below one switch the path
# stays in the switch, since QEMU's xio3130 downstream ports have no ACS
# capability that could redirect it, with or without an IOMMU; through the
# host bridge only AMD Zen (EPYC) is allowed.
expected_mode() {
	if [ "$P2PV_TOPOLOGY" = switch ]; then
		echo bus_addr
	elif [ "$P2PV_CPU" = amd ]; then
		echo host_bridge
	else
		echo refused
	fi
}

# Whether QEMU can carry the DMA of that mode.  On hardware a switch routes a
# bus-address request to its peer port, whatever the IOMMU; QEMU instead sends
# every DMA of a device below an emulated IOMMU through that IOMMU, where the
# bus address is not mapped.  That one case checks the decision, not the DMA.
qemu_can_dma() {
	! { [ "$P2PV_TOPOLOGY" = switch ] && [ "$P2PV_IOMMU" = 1 ]; }
}
