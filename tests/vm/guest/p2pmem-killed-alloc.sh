#!/bin/bash
# A large allocation killed while it waits for zeroed memory: 256 MiB freed
# just before are being cleared by the exporter's zero worker, and less than
# that is zeroed, so the allocation waits; a MAP_QUERY and a one-page
# allocation from the same provider answer meanwhile; SIGKILL ends the wait
# at once (the kill-to-exit time is a fraction of an uninterrupted
# allocation's), and the pool and the accounting are whole afterwards.  Run
# with a 512 MiB ivshmem BAR (--ivshmem-mb 512) for a 256 MiB allocation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/p2pmem-lib.sh"

p2pmem_node "$ivshmem"
size=$(cat "/sys/bus/pci/devices/$ivshmem/p2pmem/size")
[ "$size" -ge $((512 << 20)) ] || fail "ivshmem pool is $size bytes, the test wants 512 MiB"
"$P2PMEM_TEST" kill-alloc "$ivshmem" "$edu" 256 || fail "256 MiB allocation killed while waiting for zeroed memory"
pass "256 MiB allocation killed while waiting for zeroed memory: pool whole, queries answered"
"$P2PMEM_TEST" zero "$ivshmem" || fail "allocation after the kill"
pass "the provider serves zeroed memory after the kill"
