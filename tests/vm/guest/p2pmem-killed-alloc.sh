#!/bin/bash
# A large allocation killed while the exporter zeroes it: the zeroing runs
# without the provider's lock, so a MAP_QUERY and a one-page allocation from
# the same provider answer meanwhile; SIGKILL ends the ioctl at the next
# chunk (the kill-to-exit time is a fraction of an uninterrupted
# allocation's), and the pool and the accounting are whole afterwards.  Run
# with a 512 MiB ivshmem BAR (--ivshmem-mb 512) for a 256 MiB allocation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/p2pmem-lib.sh"

p2pmem_node "$ivshmem"
size=$(cat "/sys/bus/pci/devices/$ivshmem/p2pmem/size")
[ "$size" -ge $((512 << 20)) ] || fail "ivshmem pool is $size bytes, the test wants 512 MiB"
"$P2PMEM_TEST" kill-alloc "$ivshmem" "$edu" 256 || fail "256 MiB allocation killed while zeroing"
pass "256 MiB allocation killed while zeroing: pool whole, queries answered"
"$P2PMEM_TEST" zero "$ivshmem" || fail "allocation after the kill"
pass "the provider serves zeroed memory after the kill"
