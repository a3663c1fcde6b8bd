#!/bin/bash
# Removing a provider while one of its buffers is mapped revokes the buffer:
# no crash, the mapping gives SIGBUS, the node and the dma-buf report ENODEV,
# every descriptor closes, and the provider's node disappears.  Done for the
# generic BAR provider (ivshmem) and for the NVMe CMB.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/p2pmem-lib.sh"

# The exporter waits for its importers: the edu maps a buffer revocably and
# unmaps only 0.5 s after it is told to.  An FLR of the NVMe controller
# through sysfs, and the removal of ivshmem, must take the mapping away and
# return only after the edu's unmap, which the kernel log shows before the
# exporter's "revoked" line.  After the reset the CMB serves new buffers.
unmap_before_revoke() { # provider, first dmesg line of the attempt
	local unmapped revoked
	unmapped=$(dmesg | tail -n +"$2" | grep -n 'slot [0-9]*: unmapping after invalidation' | tail -n 1 | cut -d: -f1)
	revoked=$(dmesg | tail -n +"$2" | grep -n "$1: revoked [0-9]* P2P memory dma-buf" | tail -n 1 | cut -d: -f1)
	[ -n "$unmapped" ] && [ -n "$revoked" ] && [ "$unmapped" -lt "$revoked" ] ||
		fail "$1: edu unmap (log line ${unmapped:-none}) not before the revocation (${revoked:-none})"
}
for how in "$nvme reset" "$ivshmem remove"; do
	set -- $how
	p2pmem_node "$1"
	mark=$(($(dmesg | wc -l) + 1))
	timeout 120 "$P2PMEM_TEST" revoke-dma "$1" "$edu" "$2" || fail "$2 of $1 under a live edu mapping"
	unmap_before_revoke "$1" "$mark"
	pass "$2 of $1 waits for the importer's unmap"
done
echo 1 >/sys/bus/pci/rescan

# Queued DMA bounds the reuse of the memory however late it completes: the
# edu's fence signals 15 s after the invalidation, and the CMB's pool gets
# the buffer back only after that, the FLR returning no earlier.
p2pmem_node "$nvme"
timeout 120 "$P2PMEM_TEST" late-fence "$nvme" || fail "reset of $nvme under a late importer fence"
pass "reset of $nvme: the memory returns only after the importer's fence"

for prov in "$ivshmem" "$nvme"; do
	p2pmem_node "$prov"
	timeout 120 "$P2PMEM_TEST" revoke "$prov" || fail "revoking $prov"
	[ ! -e "/sys/bus/pci/devices/$prov" ] || fail "$prov still present"
	[ ! -e "/dev/p2pmem/$prov" ] || fail "/dev/p2pmem/$prov survived removal"
	[ ! -e "/sys/class/p2pmem/$prov" ] || fail "/sys/class/p2pmem/$prov survived removal"
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
