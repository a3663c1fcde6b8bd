#!/bin/bash
# Removing a provider while one of its buffers is mapped revokes the buffer:
# no crash, the mapping gives SIGBUS, the node and the dma-buf report ENODEV,
# every descriptor closes, and the provider's node disappears.  Done for the
# generic BAR provider (ivshmem) and for the NVMe CMB.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/p2pmem-lib.sh"

for prov in "$ivshmem" "$nvme"; do
	p2pmem_node "$prov"
	timeout 120 "$P2PMEM_TEST" revoke "$prov" || fail "revoking $prov"
	[ ! -e "/sys/bus/pci/devices/$prov" ] || fail "$prov still present"
	[ ! -e "/dev/p2pmem/$prov" ] || fail "/dev/p2pmem/$prov survived removal"
	[ ! -e "/sys/class/p2pmem_dmabuf/$prov" ] || fail "/sys/class/p2pmem_dmabuf/$prov survived removal"
	pass "revocation on removal of $prov"
done

# The bus rescans cleanly and the providers come back.
echo 1 >/sys/bus/pci/rescan
for prov in "$ivshmem" "$nvme"; do
	p2pmem_node "$prov"
done
"$P2PMEM_TEST" zero "$ivshmem" || fail "allocation after rescan"
pass "providers are back after rescan"
dmesg | grep -E 'BUG|WARNING|Oops' && fail "kernel warnings during the test"
pass "no kernel warnings"
