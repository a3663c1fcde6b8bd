#!/bin/bash
# Bad allocation requests fail with a clear errno and leak nothing: zero,
# huge, overflowing sizes, unknown flags, reserved fields, an exhausted pool;
# only published providers have nodes; memory is zeroed between owners.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/p2pmem-lib.sh"

p2pmem_node "$ivshmem"
p2pmem_node "$nvme"
[ ! -e "/dev/p2pmem/$edu" ] || fail "/dev/p2pmem/$edu exists, edu has no P2PDMA memory"
[ "$(ls /dev/p2pmem | wc -l)" = 2 ] || fail "expected exactly two providers: $(ls /dev/p2pmem)"
pass "only published providers have nodes"

start=$(cat "/sys/bus/pci/devices/$ivshmem/p2pmem/available")
"$P2PMEM_TEST" negative "$ivshmem" || fail "negative inputs"
[ "$(cat "/sys/bus/pci/devices/$ivshmem/p2pmem/available")" = "$start" ] || fail "pool did not return to $start"
pass "negative inputs on $ivshmem"

for prov in "$ivshmem" "$nvme"; do
	"$P2PMEM_TEST" zero "$prov" || fail "zeroing on $prov"
	pass "zeroing on $prov"
done
